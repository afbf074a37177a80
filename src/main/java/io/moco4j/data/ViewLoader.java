package io.moco4j.data;

import ai.djl.ndarray.NDManager;
import io.moco4j.util.UserException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Multi-threaded loader of augmented views. Each epoch visits the data set in a permutation that depends only on
 * (seed, epoch) (or in order without shuffling), cuts it into batches (dropping the last partial batch unless
 * {@code dropLast} is off) and has a pool of worker threads prepare the batches ahead of the consumer. At most
 * {@code prefetch} batches are in preparation or waiting at any time, so memory is bounded whatever the data set
 * size. Each batch is split into sample ranges so that all workers help with the next batch.
 *
 * <p>Output does not depend on the number of workers: every sample's random stream comes from
 * (seed, epoch, index, view). An exception on a worker is rethrown to the consumer by {@code next()} (a
 * {@link UserException} unchanged, so the CLI can print its one line); closing the epoch or the loader cancels
 * pending work, and {@link #close()} stops the threads.
 */
public final class ViewLoader implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ViewLoader.class);
    /** Below this many samples per range, splitting a batch further costs more than it gains. */
    private static final int MIN_SAMPLES_PER_TASK = 4;

    private final ImageDataset dataset;
    private final BatchAssembler assembler;
    private final int batchSize;
    private final long seed;
    private final boolean dropLast;
    private final boolean shuffle;
    private final Shard shard;
    private final int workers;
    private final int prefetch;
    private final ExecutorService pool;
    private final AtomicInteger reportedUnreadable = new AtomicInteger();
    private volatile Stats lastStats = new Stats(0, 0, 0, 0);

    /** Images delivered, seconds since the epoch started, seconds the consumer waited for data, unreadable images. */
    public record Stats(long images, double seconds, double waitSeconds, int unreadableImages) {
        public double imagesPerSecond() {
            return seconds > 0 ? images / seconds : 0;
        }
    }

    private ViewLoader(Builder b) {
        this.dataset = b.dataset;
        this.batchSize = b.batchSize;
        this.seed = b.seed;
        this.dropLast = b.dropLast;
        this.shuffle = b.shuffle;
        this.shard = b.shard;
        this.workers = b.workers > 0 ? b.workers : Runtime.getRuntime().availableProcessors();
        this.prefetch = b.prefetch;
        this.assembler = b.assembler != null ? b.assembler : new CpuViewAssembler(b.dataset, b.views, b.seed);
        if (batchSize < 1) {
            throw new UserException("--batch-size must be at least 1, got " + batchSize);
        }
        if (prefetch < 1) {
            throw new IllegalArgumentException("prefetch must be at least 1, got " + prefetch);
        }
        if (dataset.size() == 0) {
            throw new UserException("the data set is empty; point --data at a folder of images");
        }
        if (shard.ranks() > 1 && !dropLast) {
            throw new IllegalArgumentException("a sharded loader drops the last partial batch (every rank the same steps)");
        }
        if (dropLast && dataset.size() < batchSize * shard.ranks()) {
            if (shard.ranks() > 1) {
                throw new UserException("the data set has " + dataset.size() + " images, fewer than the global batch "
                        + batchSize * shard.ranks() + " (" + shard.ranks() + " processes x " + batchSize
                        + "); lower the batch size or use more images");
            }
            throw new UserException("the data set has " + dataset.size() + " images, fewer than the batch size "
                    + batchSize + "; lower --batch-size or use more images");
        }
        AtomicInteger threadNumber = new AtomicInteger();
        ThreadPoolExecutor executor = new ThreadPoolExecutor(workers, workers, 30, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), r -> {
                    Thread t = new Thread(r, "moco4j-loader-" + threadNumber.incrementAndGet());
                    t.setDaemon(true); // never keep the JVM alive because a consumer forgot close()
                    return t;
                });
        executor.allowCoreThreadTimeOut(true);
        this.pool = executor;
    }

    public static Builder builder(ImageDataset dataset, List<ViewTransform> views) {
        return new Builder(dataset, views);
    }

    /** Options; defaults: batch 256, seed 0, dropLast on, shuffle on, all cores, prefetch 3 batches. */
    public static final class Builder {
        private final ImageDataset dataset;
        private final List<ViewTransform> views;
        private BatchAssembler assembler;
        private int batchSize = 256;
        private long seed;
        private boolean dropLast = true;
        private boolean shuffle = true;
        private Shard shard = Shard.WHOLE;
        private int workers;
        private int prefetch = 3;

        private Builder(ImageDataset dataset, List<ViewTransform> views) {
            this.dataset = dataset;
            this.views = List.copyOf(views);
        }

        public Builder batchSize(int v) { this.batchSize = v; return this; }
        public Builder seed(long v) { this.seed = v; return this; }
        /** Drop the last partial batch (training); keep it for evaluation. */
        public Builder dropLast(boolean v) { this.dropLast = v; return this; }
        public Builder shuffle(boolean v) { this.shuffle = v; return this; }
        /** Data-parallel: deliver only this rank's block of each global batch ({@link Shard}); batchSize is per rank. */
        public Builder shard(Shard v) { this.shard = v; return this; }
        /** Worker threads; 0 or less means one per available core. */
        public Builder workers(int v) { this.workers = v; return this; }
        /** Maximum number of batches prepared ahead of the consumer (bounds memory). */
        public Builder prefetch(int v) { this.prefetch = v; return this; }
        /** Replaces the default CPU augmentation strategy (the view list is then ignored). */
        public Builder assembler(BatchAssembler v) { this.assembler = v; return this; }

        public ViewLoader build() {
            return new ViewLoader(this);
        }
    }

    public int batchesPerEpoch() {
        int n = dataset.size();
        if (shard.ranks() > 1) {
            return shard.steps(n, batchSize);
        }
        return dropLast ? n / batchSize : (n + batchSize - 1) / batchSize;
    }

    public int batchSize() {
        return batchSize;
    }

    public int workers() {
        return workers;
    }

    public ImageDataset dataset() {
        return dataset;
    }

    /** Throughput of the current or last epoch. */
    public double imagesPerSecond() {
        return lastStats.imagesPerSecond();
    }

    /** Counters of the current or last epoch. */
    public Stats stats() {
        return lastStats;
    }

    /** The data set order of {@code epoch}: a permutation from (seed, epoch), or 0..n-1 without shuffling. */
    public int[] order(int epoch) {
        if (shuffle) {
            return SampleSeeds.permutation(dataset.size(), seed, epoch);
        }
        int[] p = new int[dataset.size()];
        for (int i = 0; i < p.length; i++) {
            p[i] = i;
        }
        return p;
    }

    /**
     * Starts {@code epoch}. The returned iterator yields {@link #batchesPerEpoch()} batches whose tensors are
     * created in {@code manager} (the caller closes each batch); close the iterator when leaving early.
     */
    public Epoch epoch(int epoch, NDManager manager) {
        if (pool.isShutdown()) {
            throw new IllegalStateException("loader is closed");
        }
        return new Epoch(epoch, manager);
    }

    @Override
    public void close() {
        pool.shutdownNow();
        try {
            if (!pool.awaitTermination(30, TimeUnit.SECONDS)) {
                LOG.warn("data loader threads did not stop within 30 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The batches of one epoch, produced ahead of time by the pool. */
    public final class Epoch implements Iterator<ViewBatch>, AutoCloseable {
        private final int epoch;
        private final NDManager manager;
        private final int[] order;
        private final int batches;
        private final ArrayDeque<InFlight> inFlight = new ArrayDeque<>();
        private final AtomicBoolean cancelled = new AtomicBoolean();
        private final long startNanos = System.nanoTime();
        private int submitted;
        private int delivered;
        private long images;
        private long waitNanos;
        private boolean closed;

        private record InFlight(BatchAssembler.PendingBatch batch, CompletableFuture<Void> done) {}

        private Epoch(int epoch, NDManager manager) {
            this.epoch = epoch;
            this.manager = manager;
            this.order = order(epoch);
            this.batches = batchesPerEpoch();
            fill();
        }

        private void fill() {
            while (submitted < batches && inFlight.size() < prefetch) {
                int[] indices = shard.batch(order, submitted, batchSize);
                BatchAssembler.PendingBatch batch = assembler.start(epoch, indices);
                int n = indices.length;
                int tasks = Math.max(1, Math.min(workers, n / MIN_SAMPLES_PER_TASK));
                List<CompletableFuture<Void>> parts = new ArrayList<>(tasks);
                for (int t = 0; t < tasks; t++) {
                    int a = (int) ((long) n * t / tasks);
                    int b = (int) ((long) n * (t + 1) / tasks);
                    parts.add(CompletableFuture.runAsync(() -> {
                        if (!cancelled.get()) {
                            batch.prepare(a, b);
                        }
                    }, pool));
                }
                inFlight.add(new InFlight(batch, CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new))));
                submitted++;
            }
        }

        @Override
        public boolean hasNext() {
            return !closed && delivered < batches;
        }

        @Override
        public ViewBatch next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            InFlight head = inFlight.poll();
            long t0 = System.nanoTime();
            try {
                awaitBatch(head.done());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                close();
                throw new CancellationException("interrupted while waiting for the data loader");
            } catch (ExecutionException e) {
                close();
                throw rethrow(e.getCause());
            }
            waitNanos += System.nanoTime() - t0;
            try {
                fill(); // keep the workers busy while the consumer materialises and trains
            } catch (RejectedExecutionException e) {
                close();
                throw new IllegalStateException("the data loader was closed while an epoch was running", e);
            }
            ViewBatch batch;
            try {
                batch = head.batch().materialize(manager);
            } catch (RuntimeException e) {
                close();
                throw e;
            }
            delivered++;
            images += batch.size();
            publishStats();
            if (delivered == batches) {
                reportUnreadable();
            }
            return batch;
        }

        /** Waits for a batch; fails instead of hanging when the loader was closed under a running epoch. */
        private void awaitBatch(CompletableFuture<Void> done) throws InterruptedException, ExecutionException {
            while (true) {
                try {
                    done.get(1, TimeUnit.SECONDS);
                    return;
                } catch (TimeoutException e) {
                    if (pool.isShutdown()) {
                        close();
                        throw new IllegalStateException("the data loader was closed while an epoch was running");
                    }
                }
            }
        }

        private void publishStats() {
            int unreadable = assembler instanceof CpuViewAssembler c ? c.unreadableCount() : 0;
            lastStats = new Stats(images, (System.nanoTime() - startNanos) / 1e9, waitNanos / 1e9, unreadable);
        }

        private void reportUnreadable() {
            if (assembler instanceof CpuViewAssembler c) {
                int now = c.unreadableCount();
                int before = reportedUnreadable.getAndSet(now);
                if (now > before) {
                    LOG.warn("epoch {}: {} unreadable image(s) so far were skipped and replaced by their neighbours "
                            + "(use --strict to stop at the first one)", epoch, now);
                }
            }
        }

        /** Cancels the batches still in preparation; the iterator then has no more elements. */
        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            cancelled.set(true);
            for (InFlight f : inFlight) {
                f.done().cancel(false);
            }
            inFlight.clear();
        }
    }

    private static RuntimeException rethrow(Throwable cause) {
        while ((cause instanceof CompletionException || cause instanceof ExecutionException) && cause.getCause() != null) {
            cause = cause.getCause();
        }
        if (cause instanceof Error error) {
            throw error;
        }
        if (cause instanceof RuntimeException re) {
            return re; // UserException keeps its type and one-line message
        }
        return new IllegalStateException("data loader worker failed: " + cause, cause);
    }
}
