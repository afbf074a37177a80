package io.moco4j.index;

import io.moco4j.api.EmbeddingIndex;
import io.moco4j.api.Neighbor;
import io.moco4j.api.NeighborSearch;
import io.moco4j.util.UserException;
import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.lucene.document.Document;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.FloatVectorValues;
import org.apache.lucene.index.IndexNotFoundException;
import org.apache.lucene.index.LeafReaderContext;
import org.apache.lucene.index.ReaderUtil;
import org.apache.lucene.index.StoredFields;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.KnnFloatVectorQuery;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.store.Directory;
import org.apache.lucene.store.FSDirectory;
import org.apache.lucene.util.Bits;

/**
 * Approximate nearest-neighbour search over a Lucene index written by {@link VectorIndexWriter}: HNSW graph search
 * ({@link KnnFloatVectorQuery}) on unit vectors with Lucene's {@code DOT_PRODUCT} similarity, which on unit vectors
 * is the cosine. Rows are the index's live documents in document order at the time it was opened (a point-in-time
 * view: later commits are not seen). Results are {@link Neighbor}s as from the exact {@code EmbeddingIndex}: row id
 * and cosine similarity. Thread-safe for searching.
 */
public final class LuceneVectorIndex implements NeighborSearch, Closeable {
    static final String PATH = "path";
    static final String SIZE = "size";
    static final String MTIME = "mtime";
    static final String LABEL = "label";
    static final String VECTOR = "vector";

    private final Directory directory;
    private final DirectoryReader reader;
    private final IndexSearcher searcher;
    private final List<LeafReaderContext> leaves;
    private final int[] docOfRow;
    private final int[] rowOfDoc;
    private final int dim;
    private final IndexSettings settings;
    private final Map<String, String> metadata;
    private final PcaProjection projection;

    private LuceneVectorIndex(Directory directory, DirectoryReader reader, int candidates, Path folder) throws IOException {
        this.directory = directory;
        this.reader = reader;
        this.searcher = new IndexSearcher(reader);
        this.leaves = reader.leaves();
        this.metadata = Map.copyOf(reader.getIndexCommit().getUserData());
        IndexSettings stored = IndexSettings.fromUserData(metadata);
        this.settings = candidates > 0 ? stored.withCandidates(candidates) : stored;
        this.rowOfDoc = new int[Math.max(reader.maxDoc(), 0)];
        Arrays.fill(rowOfDoc, -1);
        int[] rows = new int[reader.numDocs()];
        int n = 0;
        int d = 0;
        for (LeafReaderContext leaf : leaves) {
            FloatVectorValues values = leaf.reader().getFloatVectorValues(VECTOR);
            if (values == null) {
                continue;
            }
            d = values.dimension();
            Bits live = leaf.reader().getLiveDocs();
            for (int doc = values.nextDoc(); doc != FloatVectorValues.NO_MORE_DOCS; doc = values.nextDoc()) {
                if (live == null || live.get(doc)) {
                    rowOfDoc[leaf.docBase + doc] = n;
                    rows[n++] = leaf.docBase + doc;
                }
            }
        }
        this.docOfRow = Arrays.copyOf(rows, n);
        this.projection = ProjectingSink.stored(folder, metadata);
        this.dim = d == 0 && projection != null ? projection.outputDimension() : d;
    }

    /** Opens the last commit of the index in {@code folder} with its stored search settings. */
    public static LuceneVectorIndex open(Path folder) {
        return open(folder, 0);
    }

    /**
     * Opens the last commit of the index in {@code folder}; {@code candidates} > 0 overrides the stored number of
     * candidates a search collects.
     *
     * @throws UserException when there is no index (or no commit yet) in the folder, or it cannot be read
     */
    public static LuceneVectorIndex open(Path folder, int candidates) {
        if (!Files.isDirectory(folder)) {
            throw new UserException(folder + " does not exist; build an index with ./moco4j index --out " + folder + " first");
        }
        Directory dir = null;
        try {
            dir = FSDirectory.open(folder);
            return new LuceneVectorIndex(dir, DirectoryReader.open(dir), candidates, folder);
        } catch (UserException e) {
            closeQuietly(dir);
            throw e;
        } catch (IndexNotFoundException e) {
            closeQuietly(dir);
            throw new UserException(folder + " holds no committed index; build one with ./moco4j index --out " + folder);
        } catch (IOException | RuntimeException e) {
            closeQuietly(dir);
            throw new UserException("cannot read the index in " + folder + " (" + e.getMessage() + "); build it again with ./moco4j index --rebuild");
        }
    }

    private static void closeQuietly(Directory dir) {
        try {
            if (dir != null) {
                dir.close();
            }
        } catch (IOException ignored) {
            // already failing
        }
    }

    @Override
    public int size() {
        return docOfRow.length;
    }

    @Override
    public int dimension() {
        return dim;
    }

    /** Settings the index was built with (candidates possibly overridden at open). */
    public IndexSettings settings() {
        return settings;
    }

    /** What the writer stored with the last commit (checkpoint, features, image folder, settings). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** The PCA the rows went through (stored with the index), or null when they are the encoder's embeddings as they are. */
    public PcaProjection projection() {
        return projection;
    }

    /** The width of the encoder's embeddings this index takes as queries (wider than {@link #dimension()} with a PCA). */
    public int queryDimension() {
        return projection != null ? projection.inputDimension() : dim;
    }

    /** Number of Lucene segments (each is searched separately; fewer is faster). */
    public int segments() {
        return leaves.size();
    }

    @Override
    public float[] vector(int id) {
        checkRow(id);
        int doc = docOfRow[id];
        LeafReaderContext leaf = leaves.get(ReaderUtil.subIndex(doc, leaves));
        try {
            FloatVectorValues values = leaf.reader().getFloatVectorValues(VECTOR);
            if (values.advance(doc - leaf.docBase) != doc - leaf.docBase) {
                throw new IllegalStateException("row " + id + " has no vector");
            }
            return values.vectorValue().clone();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read vector " + id + " of the index", e);
        }
    }

    /** The stored path of row {@code id} (relative to the indexed folder, '/' separated; or a synthetic key). */
    public String path(int id) {
        return field(id, PATH);
    }

    /** The stored class (first sub-folder) of row {@code id}, or null for an image in a flat folder. */
    public String label(int id) {
        return field(id, LABEL);
    }

    private String field(int id, String name) {
        checkRow(id);
        try {
            Document doc = reader.storedFields().document(docOfRow[id], Set.of(name));
            return doc.get(name);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read row " + id + " of the index", e);
        }
    }

    /** Paths and labels of every row in one pass (what a gallery needs at start). */
    public List<String[]> pathsAndLabels() {
        List<String[]> out = new ArrayList<>(size());
        try {
            StoredFields stored = reader.storedFields();
            for (int doc : docOfRow) {
                Document d = stored.document(doc, Set.of(PATH, LABEL));
                out.add(new String[] {d.get(PATH), d.get(LABEL)});
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the index's stored paths", e);
        }
        return out;
    }

    /**
     * The k rows most similar to {@code query}: an embedding of the encoder ({@link #queryDimension()} values, put
     * through the index's PCA here) or a vector already in the index's space ({@link #dimension()} values).
     */
    @Override
    public List<Neighbor> search(float[] query, int k) {
        if (projection != null && query.length == projection.inputDimension()) {
            return search(projection.projectUnit(query), k, -1);
        }
        return search(query, k, -1);
    }

    @Override
    public List<Neighbor> neighborsOf(int id, int k) {
        checkRow(id);
        return search(vector(id), k, id);
    }

    private List<Neighbor> search(float[] query, int k, int leaveOut) {
        if (query.length != dim) {
            throw new IllegalArgumentException("the query has " + query.length + " values but the index holds " + dim + "-d rows"
                    + (projection != null ? " (PCA of " + projection.inputDimension() + "-d embeddings)" : ""));
        }
        if (k < 1) {
            throw new IllegalArgumentException("k must be at least 1, got " + k);
        }
        if (size() == 0) {
            return List.of();
        }
        float[] q = EmbeddingIndex.normalised(query);
        int want = k + (leaveOut >= 0 ? 1 : 0);
        int fetch = Math.min(Math.max(want, settings.candidates()), size());
        TopDocs top;
        try {
            top = searcher.search(new KnnFloatVectorQuery(VECTOR, q, fetch), fetch);
        } catch (IOException e) {
            throw new UncheckedIOException("the index search failed", e);
        }
        boolean quantised = settings.quantization() != IndexSettings.Quantization.NONE;
        List<Neighbor> found = new ArrayList<>(top.scoreDocs.length);
        for (ScoreDoc sd : top.scoreDocs) {
            int row = rowOfDoc[sd.doc];
            if (row < 0 || row == leaveOut) {
                continue;
            }
            // Lucene scores a dot product d as (1 + d) / 2; quantised scores are approximate, so re-score those exactly.
            float cosine = quantised ? VectorMath.dot(q, vector(row)) : 2f * sd.score - 1f;
            found.add(new Neighbor(row, cosine));
        }
        found.sort((a, b) -> a.score() != b.score() ? Float.compare(b.score(), a.score()) : Integer.compare(a.id(), b.id()));
        return found.size() > k ? List.copyOf(found.subList(0, k)) : found;
    }

    private void checkRow(int id) {
        if (id < 0 || id >= docOfRow.length) {
            throw new IndexOutOfBoundsException("row " + id + " is not in an index of " + docOfRow.length + " rows");
        }
    }

    @Override
    public void close() throws IOException {
        reader.close();
        directory.close();
    }
}
