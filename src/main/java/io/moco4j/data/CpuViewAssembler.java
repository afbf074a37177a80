package io.moco4j.data;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The CPU strategy: workers decode each image and run every view's {@link ViewTransform} into one float array per
 * view; the consumer makes one tensor per view with a single {@code manager.create}. The random generator of view
 * {@code v} of image {@code i} in epoch {@code e} is seeded from (seed, e, i, v) only, where {@code i} is the
 * index scheduled by the loader (also when an unreadable image was replaced by a neighbour).
 */
public final class CpuViewAssembler implements BatchAssembler {
    private final ImageDataset dataset;
    private final FallbackLoader images;
    private final List<ViewTransform> views;
    private final long seed;

    public CpuViewAssembler(ImageDataset dataset, List<ViewTransform> views, long seed) {
        if (views.isEmpty()) {
            throw new IllegalArgumentException("at least one view transform is needed");
        }
        this.dataset = dataset;
        this.images = new FallbackLoader(dataset);
        this.views = List.copyOf(views);
        this.seed = seed;
    }

    @Override
    public int viewCount() {
        return views.size();
    }

    /** Distinct images found unreadable so far (replaced by neighbours). */
    public int unreadableCount() {
        return images.unreadableCount();
    }

    ImageDataset dataset() {
        return dataset;
    }

    @Override
    public PendingBatch start(int epoch, int[] indices) {
        return new Pending(epoch, indices);
    }

    private final class Pending implements PendingBatch {
        final int epoch;
        final int[] scheduled;
        final int[] actual;
        final int[] labels;
        final float[][] data;

        Pending(int epoch, int[] scheduled) {
            this.epoch = epoch;
            this.scheduled = scheduled.clone();
            this.actual = new int[scheduled.length];
            this.labels = new int[scheduled.length];
            this.data = new float[views.size()][];
            for (int v = 0; v < views.size(); v++) {
                ViewTransform t = views.get(v);
                data[v] = new float[Math.multiplyExact(scheduled.length, 3 * t.height() * t.width())];
            }
        }

        @Override
        public void prepare(int from, int to) {
            for (int s = from; s < to; s++) {
                FallbackLoader.Loaded loaded = images.load(scheduled[s]);
                actual[s] = loaded.index();
                labels[s] = dataset.label(loaded.index());
                for (int v = 0; v < views.size(); v++) {
                    ViewTransform t = views.get(v);
                    int stride = 3 * t.height() * t.width();
                    t.apply(loaded.image(), SampleSeeds.forSample(seed, epoch, scheduled[s], v), data[v], s * stride);
                }
            }
        }

        @Override
        public ViewBatch materialize(NDManager manager) {
            List<NDArray> tensors = new ArrayList<>(views.size());
            try {
                for (int v = 0; v < views.size(); v++) {
                    ViewTransform t = views.get(v);
                    Shape shape = new Shape(scheduled.length, 3, t.height(), t.width());
                    tensors.add(manager.create(FloatBuffer.wrap(data[v]), shape));
                    data[v] = null; // let the host copy go as soon as the tensor holds it
                }
            } catch (RuntimeException e) {
                tensors.forEach(NDArray::close);
                throw e;
            }
            return new ViewBatch(List.copyOf(tensors), actual, labels);
        }
    }
}
