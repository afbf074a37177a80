package io.moco4j.index;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.api.EmbeddingIndex;
import io.moco4j.api.Encoder;
import io.moco4j.api.Neighbor;
import io.moco4j.api.TinyEncoders;
import io.moco4j.serve.EmbeddingCache;
import io.moco4j.util.UserException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An index built through a PCA answers raw queries as the exact search does in the projected space. */
class PcaIndexTest {
    @TempDir
    Path tmp;

    /** Rows of a 40-cluster mixture in 48 dimensions. */
    static List<float[]> mixture(int n, int d, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        SplittableRandom c = new SplittableRandom(1);
        float[][] centres = new float[40][d];
        for (float[] centre : centres) {
            for (int j = 0; j < d; j++) {
                centre[j] = (float) PcaProjectionTest.gaussian(c);
            }
        }
        List<float[]> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            float[] centre = centres[r.nextInt(centres.length)];
            float[] x = new float[d];
            for (int j = 0; j < d; j++) {
                x[j] = centre[j] + (float) (0.5 * PcaProjectionTest.gaussian(r));
            }
            rows.add(x);
        }
        return rows;
    }

    @Test
    void rawQueriesFindTheExactNeighboursOfTheProjectedSpace() throws Exception {
        int n = 1500;
        List<float[]> rows = mixture(n, 48, 2);
        Path out = tmp.resolve("idx");
        Files.createDirectories(out);
        try (VectorIndexWriter w = VectorIndexWriter.open(out, IndexSettings.defaults(), 8, 64)) {
            // fit on the first 1000 (held until then), the other 500 go through the fitted PCA as they come
            ProjectingSink sink = new ProjectingSink(w, out, null, null, 8, 1000);
            for (int i = 0; i < n; i++) {
                sink.put("v" + i, 0, 0, null, rows.get(i));
                assertEquals(i < 999, sink.holding(), "row " + i);
            }
            sink.flush();
            java.util.Map<String, String> meta = new java.util.HashMap<>(sink.metadata());
            w.commit(meta);
        }
        // candidates = all rows: the graph search is exhaustive, so any difference is the projection's, not HNSW's
        try (LuceneVectorIndex lucene = LuceneVectorIndex.open(out, n)) {
            PcaProjection pca = lucene.projection();
            assertNotNull(pca, "the index found its PCA");
            assertEquals(8, lucene.dimension());
            assertEquals(48, lucene.queryDimension());
            assertEquals(1000, pca.fitRows());
            EmbeddingIndex.Builder b = EmbeddingIndex.builder(8, EmbeddingIndex.DEFAULT_CHUNK_ROWS);
            for (float[] x : rows) {
                b.add(pca.projectUnit(x));
            }
            EmbeddingIndex exact = b.build();
            List<float[]> queries = mixture(30, 48, 77);
            for (float[] q : queries) {
                List<Neighbor> approx = lucene.search(q, 10);
                List<Neighbor> truth = exact.search(pca.projectUnit(q), 11);
                for (int i = 0; i < 10; i++) {
                    int got = Integer.parseInt(lucene.path(approx.get(i).id()).substring(1));
                    if (got != truth.get(i).id()) {
                        // only a tie within float rounding of an 8-value dot product (~1e-7) may swap two rows
                        assertEquals(truth.get(i).score(), approx.get(i).score(), 1e-6, "rank " + i);
                    }
                    assertEquals(truth.get(i).score(), approx.get(i).score(), 1e-5, "cosine at rank " + i);
                }
            }
        }
    }

    @Test
    void folderIndexWithPcaIsReusedOnTheNextRunAndFindsAnImageFromItsRawEmbedding() throws Exception {
        Path ckpt = TinyEncoders.checkpoint(tmp, 5);
        try (Encoder encoder = Encoder.load(ckpt, Encoder.Options.defaults().withDevice("cpu").withBatchSize(4))) {
            FolderIndexer.Origin origin = new FolderIndexer.Origin(ckpt, EmbeddingCache.sha256(ckpt), "backbone");
            Path images = tmp.resolve("img");
            List<Path> files = TinyEncoders.sceneFolder(images, 10, 4);
            Path out = tmp.resolve("idx");
            int components = 3;
            assertTrue(encoder.dimension() > components, "the tiny encoder is " + encoder.dimension() + "-d");
            FolderIndexer.sync(images, out, encoder, origin, IndexSettings.defaults(), components, false, 4, (d, t) -> { });
            String file = VectorIndexWriter.committedMetadata(out).get("pca.file");
            assertNotNull(file);
            Files.move(files.get(0), tmp.resolve("moved.png"));
            TinyEncoders.sceneFolder(tmp.resolve("more"), 1, 9).forEach(p -> {
                try {
                    Files.copy(p, files.get(1).getParent().resolve("new-" + p.getFileName())); // into a class folder
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            FolderIndexer.Result second = FolderIndexer.sync(images, out, encoder, origin, IndexSettings.defaults(), components,
                    false, 4, (d, t) -> { });
            assertEquals(1, second.added());
            assertEquals(1, second.removed());
            assertEquals(file, VectorIndexWriter.committedMetadata(out).get("pca.file"), "the second run keeps the fitted PCA");
            try (LuceneVectorIndex lucene = LuceneVectorIndex.open(out)) {
                assertEquals(components, lucene.dimension());
                for (int row = 0; row < lucene.size(); row++) {
                    float[] raw = encoder.embed(images.resolve(lucene.path(row)));
                    Neighbor top = lucene.search(raw, 1).get(0);
                    assertEquals(lucene.path(row), lucene.path(top.id()), "an image's own embedding finds it first");
                    assertEquals(1.0, top.score(), 1e-5);
                }
            }
            UserException wide = org.junit.jupiter.api.Assertions.assertThrows(UserException.class,
                    () -> FolderIndexer.sync(images, tmp.resolve("idx2"), encoder, origin, IndexSettings.defaults(),
                            encoder.dimension(), false, 4, (d, t) -> { }));
            assertTrue(wide.getMessage().contains("--pca " + encoder.dimension() + " is not below"), wide.getMessage());
        }
    }
}
