package io.moco4j.data;

import java.io.IOException;

/** The raw-pixel kNN baseline of the generated set, as a command (the unit test checks a small instance). */
final class RawPixelKnnReport {
    /** Prints raw-pixel kNN accuracy of the generated set: {@code RawPixelKnnReport [train] [test] [size]}. */
    public static void main(String[] args) throws IOException {
        int trainCount = args.length > 0 ? Integer.parseInt(args[0]) : 5000;
        int testCount = args.length > 1 ? Integer.parseInt(args[1]) : 1000;
        int size = args.length > 2 ? Integer.parseInt(args[2]) : 32;
        GeneratedScenes train = GeneratedScenes.train(trainCount, 0, size);
        GeneratedScenes test = GeneratedScenes.test(testCount, 0, size);
        long t0 = System.nanoTime();
        double acc = RawPixelKnn.accuracy(train, test, 20, 10);
        System.out.printf("raw-pixel kNN (cosine, k=20) on GeneratedScenes %d train / %d test, %dx%d: %.1f%% (%.1f s)%n",
                trainCount, testCount, size, size, acc, (System.nanoTime() - t0) / 1e9);
    }
}
