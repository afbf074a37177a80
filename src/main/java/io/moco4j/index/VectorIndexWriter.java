package io.moco4j.index;

import io.moco4j.api.EmbeddingIndex;
import io.moco4j.util.UserException;
import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.lucene.codecs.Codec;
import org.apache.lucene.codecs.KnnVectorsFormat;
import org.apache.lucene.codecs.lucene912.Lucene912Codec;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.KnnFloatVectorField;
import org.apache.lucene.document.StoredField;
import org.apache.lucene.document.StringField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.LeafReaderContext;
import org.apache.lucene.index.StoredFields;
import org.apache.lucene.index.Term;
import org.apache.lucene.index.VectorSimilarityFunction;
import org.apache.lucene.store.Directory;
import org.apache.lucene.store.FSDirectory;
import org.apache.lucene.util.Bits;

/**
 * Adds, replaces and deletes vectors of a Lucene index, one document per key (an image's relative path), and
 * commits them with metadata. Nothing is visible to a reader before {@link #commit}: a process that dies between
 * commits leaves the index at its last commit (Lucene writes new segment files and switches to them only by
 * writing a new {@code segments_N}), and closing without a commit throws the uncommitted changes away.
 */
public final class VectorIndexWriter implements Closeable {
    /** What the index holds for one key, to decide whether a file changed. */
    public record Entry(long size, long mtime) {}

    private final Directory directory;
    private final IndexWriter writer;
    private final IndexSettings settings;
    private final int dim;

    private VectorIndexWriter(Directory directory, IndexWriter writer, IndexSettings settings, int dim) {
        this.directory = directory;
        this.writer = writer;
        this.settings = settings;
        this.dim = dim;
    }

    /**
     * Opens (or creates) the index in {@code folder} for vectors of {@code dim} values.
     *
     * @param ramBufferMb memory for documents before they are flushed into a segment (bigger: fewer, larger segments)
     * @throws UserException when {@code dim} is above the format's limit (one line naming the choices)
     */
    public static VectorIndexWriter open(Path folder, IndexSettings settings, int dim, double ramBufferMb) {
        return open(folder, settings, dim, ramBufferMb, false);
    }

    /**
     * As {@link #open(Path, IndexSettings, int, double)}; {@code replace} starts an empty index whose first commit
     * replaces the old one (until then the old commit stays readable, so a crash loses nothing).
     */
    public static VectorIndexWriter open(Path folder, IndexSettings settings, int dim, double ramBufferMb, boolean replace) {
        DimensionLimit.check(dim, settings.maxDimensions());
        try {
            Directory dir = FSDirectory.open(folder);
            KnnVectorsFormat format = settings.format();
            Codec codec = new Lucene912Codec() {
                @Override
                public KnnVectorsFormat getKnnVectorsFormatForField(String field) {
                    return format;
                }
            };
            IndexWriterConfig config = new IndexWriterConfig()
                    .setCodec(codec)
                    .setOpenMode(replace ? IndexWriterConfig.OpenMode.CREATE : IndexWriterConfig.OpenMode.CREATE_OR_APPEND)
                    .setRAMBufferSizeMB(ramBufferMb)
                    .setCommitOnClose(false); // only an explicit commit publishes changes
            return new VectorIndexWriter(dir, new IndexWriter(dir, config), settings, dim);
        } catch (IOException e) {
            throw new UserException("cannot open an index in " + folder + " for writing (" + e.getMessage()
                    + "); check the folder and the free space, or pick another --out");
        }
    }

    /** Adds or replaces the vector of {@code key} (normalised here). */
    public void put(String key, long size, long mtime, String label, float[] vector) {
        if (vector.length != dim) {
            throw new IllegalArgumentException(key + " has " + vector.length + " values, the index " + dim);
        }
        Document doc = new Document();
        doc.add(new StringField(LuceneVectorIndex.PATH, key, Field.Store.YES));
        doc.add(new StoredField(LuceneVectorIndex.SIZE, size));
        doc.add(new StoredField(LuceneVectorIndex.MTIME, mtime));
        if (label != null) {
            doc.add(new StoredField(LuceneVectorIndex.LABEL, label));
        }
        doc.add(new KnnFloatVectorField(LuceneVectorIndex.VECTOR, EmbeddingIndex.normalised(vector), VectorSimilarityFunction.DOT_PRODUCT));
        try {
            writer.updateDocument(new Term(LuceneVectorIndex.PATH, key), doc);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot add " + key + " to the index", e);
        }
    }

    public void delete(String key) {
        try {
            writer.deleteDocuments(new Term(LuceneVectorIndex.PATH, key));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + key + " from the index", e);
        }
    }

    /** Publishes every change so far, atomically, with {@code metadata} (plus the settings). */
    public void commit(Map<String, String> metadata) {
        Map<String, String> data = new HashMap<>(metadata);
        data.putAll(settings.toUserData());
        data.put("dimension", Integer.toString(dim));
        writer.setLiveCommitData(data.entrySet());
        try {
            writer.commit();
        } catch (IOException e) {
            throw new UserException("cannot commit the index (" + e.getMessage() + "); check the free space and run again"
                    + " (the index stays at its previous commit)");
        }
    }

    /** Merges the index down to at most {@code segments} segments (faster search, costs a graph rebuild). */
    public void forceMerge(int segments) {
        try {
            writer.forceMerge(segments);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot merge the index", e);
        }
    }

    /** Path, size and modification time of every committed document (for an incremental update). */
    public static Map<String, Entry> committedEntries(Path folder) {
        Map<String, Entry> out = new HashMap<>();
        try (Directory dir = FSDirectory.open(folder)) {
            if (!DirectoryReader.indexExists(dir)) {
                return out;
            }
            try (DirectoryReader reader = DirectoryReader.open(dir)) {
                for (LeafReaderContext leaf : reader.leaves()) {
                    StoredFields stored = leaf.reader().storedFields();
                    Bits live = leaf.reader().getLiveDocs();
                    for (int doc = 0; doc < leaf.reader().maxDoc(); doc++) {
                        if (live == null || live.get(doc)) {
                            Document d = stored.document(doc, Set.of(LuceneVectorIndex.PATH, LuceneVectorIndex.SIZE, LuceneVectorIndex.MTIME));
                            out.put(d.get(LuceneVectorIndex.PATH), new Entry(
                                    d.getField(LuceneVectorIndex.SIZE).numericValue().longValue(),
                                    d.getField(LuceneVectorIndex.MTIME).numericValue().longValue()));
                        }
                    }
                }
            }
        } catch (IOException e) {
            throw new UserException("cannot read the index in " + folder + " (" + e.getMessage() + "); build it again with --rebuild");
        }
        return out;
    }

    /** The metadata of the last commit in {@code folder}, or null when there is no index yet. */
    public static Map<String, String> committedMetadata(Path folder) {
        try (Directory dir = FSDirectory.open(folder)) {
            if (!DirectoryReader.indexExists(dir)) {
                return null;
            }
            List<org.apache.lucene.index.IndexCommit> commits = DirectoryReader.listCommits(dir);
            return Map.copyOf(commits.get(commits.size() - 1).getUserData());
        } catch (IOException e) {
            throw new UserException("cannot read the index in " + folder + " (" + e.getMessage() + "); build it again with --rebuild");
        }
    }

    /** Closes without committing: whatever was not committed is dropped. */
    @Override
    public void close() {
        try {
            writer.rollback();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close the index writer", e);
        } finally {
            try {
                directory.close();
            } catch (IOException ignored) {
                // nothing left to save
            }
        }
    }
}
