package io.moco4j.api;

import io.moco4j.io.Npy;
import io.moco4j.util.UserException;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntPredicate;
import java.util.stream.IntStream;

/**
 * Exact nearest-neighbour search by cosine similarity over a fixed set of embeddings.
 *
 * <p>Rows are L2-normalised once when the index is built and stored in chunks of {@link #chunkRows()} rows, so no
 * single Java array grows with the index and a search needs memory for its k best only (a bounded heap per chunk
 * group), whatever the index size. A search scans every row (exact, no approximation); large indices are scanned
 * by several threads of the common pool, each over whole chunks, and their k best are merged. Ties are broken by
 * the lower row id, so results do not depend on the chunking or the number of threads.
 *
 * <p>Immutable once built and safe to search from any number of threads.
 *
 * <pre>{@code
 * EmbeddingIndex index = EmbeddingIndex.of(encoder.embed(files));
 * List<Neighbor> top = index.search(encoder.embed(query), 10);
 * }</pre>
 */
public final class EmbeddingIndex implements NeighborSearch {
    /** Rows per chunk unless told otherwise: 4096 rows of 512 floats are 8 MB. */
    public static final int DEFAULT_CHUNK_ROWS = 4096;
    /** Below this many stored floats a search runs on the calling thread (forking would cost more than it saves). */
    private static final long PARALLEL_FLOATS = 1L << 21;

    private final int dim;
    private final int size;
    private final int chunkRows;
    private final float[][] chunks;

    private EmbeddingIndex(int dim, int size, int chunkRows, float[][] chunks) {
        this.dim = dim;
        this.size = size;
        this.chunkRows = chunkRows;
        this.chunks = chunks;
    }

    /** An index over {@code rows} (copied), in chunks of {@link #DEFAULT_CHUNK_ROWS}. */
    public static EmbeddingIndex of(float[][] rows) {
        return of(rows, DEFAULT_CHUNK_ROWS);
    }

    /** An index over {@code rows} (copied), in chunks of {@code chunkRows} rows. */
    public static EmbeddingIndex of(float[][] rows, int chunkRows) {
        if (rows.length == 0) {
            throw new IllegalArgumentException("an embedding index needs at least one row");
        }
        Builder b = builder(rows[0].length, chunkRows);
        for (float[] row : rows) {
            b.add(row);
        }
        return b.build();
    }

    /**
     * Reads an (N, D) float32 {@code .npy} (as {@code ./moco4j embed} writes) chunk by chunk, so the file is never
     * held twice in memory.
     *
     * @throws UserException when the file is missing, not a .npy, not 2-D float32, or truncated
     */
    public static EmbeddingIndex load(Path npy) {
        try (InputStream in = new BufferedInputStream(Files.newInputStream(npy), 1 << 20)) {
            Npy.Header h = Npy.readHeader(in, npy.toString());
            if (!h.dtype().equals("<f4") || h.shape().length != 2 || h.shape()[0] < 1 || h.shape()[1] < 1) {
                throw new UserException(npy + " holds a " + h.dtype() + " array of shape " + Arrays.toString(h.shape())
                        + "; an embedding index needs a non-empty 2-D float32 (N, D) array, as ./moco4j embed writes");
            }
            int n = Math.toIntExact(h.shape()[0]);
            int d = Math.toIntExact(h.shape()[1]);
            Builder b = builder(d, DEFAULT_CHUNK_ROWS);
            byte[] bytes = new byte[d * 4];
            float[] row = new float[d];
            for (int i = 0; i < n; i++) {
                if (in.readNBytes(bytes, 0, bytes.length) != bytes.length) {
                    throw new UserException(npy + " is truncated after " + i + " of " + n + " rows; write it again");
                }
                ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(row);
                b.add(row);
            }
            return b.build();
        } catch (NoSuchFileException e) {
            throw new UserException(npy + " does not exist; write embeddings with ./moco4j embed first");
        } catch (IOException e) {
            throw new UserException("cannot read " + npy + " (" + e.getMessage() + "); is it an .npy file?", e);
        }
    }

    /** A builder that adds rows one at a time (e.g. batch by batch from {@link Encoder#embedAll}). */
    public static Builder builder(int dim, int chunkRows) {
        return new Builder(dim, chunkRows);
    }

    /** Adds rows to a new index; {@link #build()} once. Not thread-safe. */
    public static final class Builder {
        private final int dim;
        private final int chunkRows;
        private final List<float[]> chunks = new ArrayList<>();
        private int size;

        private Builder(int dim, int chunkRows) {
            if (dim < 1 || chunkRows < 1) {
                throw new IllegalArgumentException("dimension and chunk rows must be positive, got " + dim + " and " + chunkRows);
            }
            if ((long) dim * chunkRows > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException(chunkRows + " rows of " + dim + " floats do not fit one Java array; use smaller chunks");
            }
            this.dim = dim;
            this.chunkRows = chunkRows;
        }

        /** Adds one row (copied and L2-normalised; an all-zero row stays zero and scores 0 against everything). */
        public Builder add(float[] row) {
            if (row.length != dim) {
                throw new IllegalArgumentException("row " + size + " has " + row.length + " values, the index " + dim);
            }
            int within = size % chunkRows;
            if (within == 0) {
                chunks.add(new float[chunkRows * dim]);
            }
            float[] chunk = chunks.get(chunks.size() - 1);
            double norm = 0;
            for (float v : row) {
                norm += (double) v * v;
            }
            float inv = norm > 0 ? (float) (1.0 / Math.sqrt(norm)) : 0f;
            int off = within * dim;
            for (int j = 0; j < dim; j++) {
                chunk[off + j] = row[j] * inv;
            }
            size++;
            return this;
        }

        public EmbeddingIndex build() {
            if (size == 0) {
                throw new IllegalArgumentException("an embedding index needs at least one row");
            }
            float[][] c = chunks.toArray(new float[0][]);
            int last = size - (c.length - 1) * chunkRows;
            if (last < chunkRows) {
                c[c.length - 1] = Arrays.copyOf(c[c.length - 1], last * dim); // no unused tail
            }
            return new EmbeddingIndex(dim, size, chunkRows, c);
        }
    }

    public int size() {
        return size;
    }

    public int dimension() {
        return dim;
    }

    public int chunkRows() {
        return chunkRows;
    }

    /** Row {@code id} as stored: L2-normalised (a copy). */
    public float[] vector(int id) {
        checkId(id);
        int off = (id % chunkRows) * dim;
        return Arrays.copyOfRange(chunks[id / chunkRows], off, off + dim);
    }

    /**
     * The {@code k} rows most similar to {@code query} (any scale; it is normalised here), best first; fewer when
     * the index has fewer than k rows.
     */
    public List<Neighbor> search(float[] query, int k) {
        return search(query, k, id -> true);
    }

    /** The {@code k} nearest rows of row {@code id} itself, leaving that row out. */
    public List<Neighbor> neighborsOf(int id, int k) {
        checkId(id);
        return search(vector(id), k, other -> other != id);
    }

    /** As {@link #search(float[], int)}, over the rows whose id {@code accept} accepts only. */
    public List<Neighbor> search(float[] query, int k, IntPredicate accept) {
        if (query.length != dim) {
            throw new IllegalArgumentException("the query has " + query.length + " values but the index holds " + dim + "-d rows");
        }
        if (k < 1) {
            throw new IllegalArgumentException("k must be at least 1, got " + k);
        }
        float[] q = normalised(query);
        int want = Math.min(k, size);
        TopK top;
        if ((long) size * dim < PARALLEL_FLOATS || chunks.length == 1) {
            top = new TopK(want);
            for (int c = 0; c < chunks.length; c++) {
                scan(c, q, accept, top);
            }
        } else {
            top = IntStream.range(0, chunks.length).parallel()
                    .mapToObj(c -> scan(c, q, accept, new TopK(want)))
                    .reduce(TopK::merge).orElseGet(() -> new TopK(want));
        }
        return top.sorted();
    }

    private TopK scan(int c, float[] q, IntPredicate accept, TopK top) {
        float[] chunk = chunks[c];
        int rows = chunk.length / dim;
        int base = c * chunkRows;
        for (int r = 0; r < rows; r++) {
            int id = base + r;
            if (accept.test(id)) {
                top.offer(id, dot(chunk, r * dim, q, dim));
            }
        }
        return top;
    }

    /** Dot product with four partial sums (lets the CPU overlap the multiply-adds). */
    private static float dot(float[] a, int off, float[] b, int n) {
        float s0 = 0;
        float s1 = 0;
        float s2 = 0;
        float s3 = 0;
        int j = 0;
        for (; j + 3 < n; j += 4) {
            s0 += a[off + j] * b[j];
            s1 += a[off + j + 1] * b[j + 1];
            s2 += a[off + j + 2] * b[j + 2];
            s3 += a[off + j + 3] * b[j + 3];
        }
        for (; j < n; j++) {
            s0 += a[off + j] * b[j];
        }
        return (s0 + s1) + (s2 + s3);
    }

    /** A unit-length copy of {@code v} (a zero vector stays zero and scores 0 against everything); the Lucene index uses it too. */
    public static float[] normalised(float[] v) {
        double norm = 0;
        for (float x : v) {
            norm += (double) x * x;
        }
        float inv = norm > 0 ? (float) (1.0 / Math.sqrt(norm)) : 0f;
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i] * inv;
        }
        return out;
    }

    private void checkId(int id) {
        if (id < 0 || id >= size) {
            throw new IndexOutOfBoundsException("row " + id + " is not in an index of " + size + " rows");
        }
    }

    /** The k best (score, id) pairs seen, in a binary min-heap whose root is the worst kept. */
    private static final class TopK {
        private final float[] scores;
        private final int[] ids;
        private int n;

        TopK(int k) {
            scores = new float[k];
            ids = new int[k];
        }

        /** True when (sa, ia) ranks below (sb, ib): lower score, or the same score and a higher id. */
        private static boolean worse(float sa, int ia, float sb, int ib) {
            return sa < sb || (sa == sb && ia > ib);
        }

        void offer(int id, float score) {
            if (n < scores.length) {
                scores[n] = score;
                ids[n] = id;
                siftUp(n++);
            } else if (worse(scores[0], ids[0], score, id)) {
                scores[0] = score;
                ids[0] = id;
                siftDown(0);
            }
        }

        TopK merge(TopK other) {
            for (int i = 0; i < other.n; i++) {
                offer(other.ids[i], other.scores[i]);
            }
            return this;
        }

        private void siftUp(int i) {
            while (i > 0) {
                int p = (i - 1) / 2;
                if (!worse(scores[i], ids[i], scores[p], ids[p])) {
                    return;
                }
                swap(i, p);
                i = p;
            }
        }

        private void siftDown(int i) {
            while (true) {
                int l = 2 * i + 1;
                int r = l + 1;
                int m = i;
                if (l < n && worse(scores[l], ids[l], scores[m], ids[m])) {
                    m = l;
                }
                if (r < n && worse(scores[r], ids[r], scores[m], ids[m])) {
                    m = r;
                }
                if (m == i) {
                    return;
                }
                swap(i, m);
                i = m;
            }
        }

        private void swap(int a, int b) {
            float s = scores[a];
            scores[a] = scores[b];
            scores[b] = s;
            int t = ids[a];
            ids[a] = ids[b];
            ids[b] = t;
        }

        List<Neighbor> sorted() {
            Integer[] order = new Integer[n];
            for (int i = 0; i < n; i++) {
                order[i] = i;
            }
            Arrays.sort(order, (a, b) -> worse(scores[a], ids[a], scores[b], ids[b]) ? 1
                    : worse(scores[b], ids[b], scores[a], ids[a]) ? -1 : 0);
            List<Neighbor> out = new ArrayList<>(n);
            for (int i : order) {
                out.add(new Neighbor(ids[i], scores[i]));
            }
            return out;
        }
    }
}
