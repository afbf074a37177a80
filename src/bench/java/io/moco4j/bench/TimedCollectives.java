package io.moco4j.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import io.moco4j.dist.Collectives;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Delegates to real collectives and adds up the seconds spent in each kind of call, named by what a MoCo v3 step uses
 * it for (told apart by the call: SyncBN's forward statistics are the only float64 gathers, its backward sums the
 * only NDArray sums, gradients go through allReduceMean). Waiting for the slower rank counts as communication.
 */
final class TimedCollectives implements Collectives {
    private final Collectives c;
    private final Map<String, Double> seconds = new LinkedHashMap<>();

    TimedCollectives(Collectives c) {
        this.c = c;
    }

    Map<String, Double> seconds() {
        return seconds;
    }

    private void add(String what, long t0) {
        seconds.merge(what, (System.nanoTime() - t0) / 1e9, Double::sum);
    }

    @Override
    public int rank() {
        return c.rank();
    }

    @Override
    public int size() {
        return c.size();
    }

    @Override
    public int localRank() {
        return c.localRank();
    }

    @Override
    public int localSize() {
        return c.localSize();
    }

    @Override
    public void allReduceSum(float[] values) {
        long t0 = System.nanoTime();
        c.allReduceSum(values);
        add("other", t0);
    }

    @Override
    public void allReduceMean(float[] values) {
        long t0 = System.nanoTime();
        c.allReduceMean(values);
        add("other", t0);
    }

    @Override
    public void allReduceSum(NDArray array) {
        long t0 = System.nanoTime();
        c.allReduceSum(array);
        add("syncbn backward sums", t0);
    }

    @Override
    public void allReduceMean(NDArray array) {
        long t0 = System.nanoTime();
        c.allReduceMean(array);
        add("gradient all-reduce", t0);
    }

    @Override
    public float[] allGather(float[] local) {
        long t0 = System.nanoTime();
        float[] r = c.allGather(local);
        add("other", t0);
        return r;
    }

    @Override
    public long[] allGather(long[] local) {
        long t0 = System.nanoTime();
        long[] r = c.allGather(local);
        add("other", t0);
        return r;
    }

    @Override
    public NDArray allGather(NDArray local) {
        long t0 = System.nanoTime();
        NDArray r = c.allGather(local);
        add(local.getDataType() == DataType.FLOAT64 ? "syncbn forward statistics" : "key gather", t0);
        return r;
    }

    @Override
    public void broadcast(float[] values, int root) {
        long t0 = System.nanoTime();
        c.broadcast(values, root);
        add("other", t0);
    }

    @Override
    public void broadcast(long[] values, int root) {
        long t0 = System.nanoTime();
        c.broadcast(values, root);
        add("other", t0);
    }

    @Override
    public void broadcast(NDArray array, int root) {
        long t0 = System.nanoTime();
        c.broadcast(array, root);
        add("buffer broadcast", t0);
    }

    @Override
    public void barrier() {
        c.barrier();
    }

    @Override
    public void close() {}
}
