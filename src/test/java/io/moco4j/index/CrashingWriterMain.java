package io.moco4j.index;

import java.nio.file.Path;
import java.util.Map;

/**
 * Child process of {@link CrashRecoveryTest}: commits {@code committed} rows, then keeps adding rows with a small
 * RAM buffer (so uncommitted segments reach the disk), says so on stdout and waits to be killed.
 */
public final class CrashingWriterMain {
    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        int committed = Integer.parseInt(args[1]);
        int extra = Integer.parseInt(args[2]);
        float[][] rows = LuceneVectorIndexTest.clustered(committed + extra, 64, 11);
        VectorIndexWriter w = VectorIndexWriter.open(dir, IndexSettings.defaults(), 64, 1); // 1 MB: flush often
        for (int i = 0; i < committed; i++) {
            w.put("r" + i, 0, 0, null, rows[i]);
        }
        w.commit(Map.of("rows", Integer.toString(committed)));
        System.out.println("COMMITTED");
        for (int i = committed; i < committed + extra; i++) {
            w.put("r" + i, 0, 0, null, rows[i]);
            if (i % 500 == 0) {
                w.delete("r" + (i - committed)); // deletions of committed rows, never committed either
            }
        }
        System.out.println("WRITTEN");
        System.out.flush();
        Thread.sleep(600_000); // killed here, writer open, nothing committed since
    }
}
