package io.moco4j.data;

import ai.djl.ndarray.NDManager;
import java.util.List;

/**
 * Manual check on a real image folder (not a unit test): channel means of a split and loader throughput.
 * {@code FolderCheck DIR [workers] [batch]}; e.g. the unpacked CIFAR-10 JPEG copy from ../shared/data.
 */
final class FolderCheck {
    public static void main(String[] args) {
        int workers = args.length > 1 ? Integer.parseInt(args[1]) : 0;
        int batch = args.length > 2 ? Integer.parseInt(args[2]) : 256;
        long t0 = System.nanoTime();
        ImageDataset test = DataSources.open(args[0], DataSplit.TEST, false, false);
        ImageDataset train = DataSources.open(args[0], DataSplit.TRAIN, false, false);
        System.out.printf("scan: %d train + %d test images, classes %s (%.1f s)%n", train.size(), test.size(),
                train.classes(), (System.nanoTime() - t0) / 1e9);
        double[] sum = new double[3];
        try (NDManager m = NDManager.newBaseManager();
             ViewLoader l = ViewLoader.builder(test, List.of(TestTransforms.toTensor(32))).batchSize(batch)
                     .dropLast(false).shuffle(false).workers(workers).build()) {
            for (int epoch = 0; epoch < 2; epoch++) {
                try (ViewLoader.Epoch it = l.epoch(epoch, m)) {
                    while (it.hasNext()) {
                        try (ViewBatch b = it.next()) {
                            if (epoch == 0) {
                                float[] v = b.view(0).toFloatArray();
                                int plane = 32 * 32;
                                for (int i = 0; i < v.length; i++) {
                                    sum[(i / plane) % 3] += v[i];
                                }
                            }
                        }
                    }
                }
                System.out.printf("epoch %d: %.0f images/s with %d workers (consumer waited %.2f of %.2f s)%n", epoch,
                        l.imagesPerSecond(), l.workers(), l.stats().waitSeconds(), l.stats().seconds());
            }
        }
        double n = test.size() * 32.0 * 32.0;
        System.out.printf("test channel means: %.4f %.4f %.4f%n", sum[0] / n, sum[1] / n, sum[2] / n);
    }
}
