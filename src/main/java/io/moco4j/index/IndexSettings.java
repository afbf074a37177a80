package io.moco4j.index;

import io.moco4j.util.UserException;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import org.apache.lucene.codecs.KnnVectorsFormat;
import org.apache.lucene.codecs.lucene99.Lucene99HnswScalarQuantizedVectorsFormat;
import org.apache.lucene.codecs.lucene99.Lucene99HnswVectorsFormat;

/**
 * How the HNSW graph of a {@link LuceneVectorIndex} is built and searched.
 *
 * @param maxConn neighbours per node in the graph (Lucene's M, default 16); more is higher recall and a bigger graph
 * @param beamWidth candidates kept while inserting (Lucene's efConstruction, default 100)
 * @param quantization how vectors are held for graph search: {@code none} (float32), {@code int7} or {@code int4}
 *     (Lucene's scalar quantisation; the float vectors stay on disk and results are re-scored with them)
 * @param candidates candidates a search collects before the top k are taken (efSearch; at least k)
 */
public record IndexSettings(int maxConn, int beamWidth, Quantization quantization, int candidates) {
    /** Lucene's scalar quantisation options. */
    public enum Quantization {
        NONE(0), INT7(7), INT4(4);

        final int bits;

        Quantization(int bits) {
            this.bits = bits;
        }

        public String id() {
            return name().toLowerCase(Locale.ROOT);
        }

        public static Quantization parse(String s) {
            for (Quantization q : values()) {
                if (q.id().equals(s == null ? "" : s.trim().toLowerCase(Locale.ROOT))) {
                    return q;
                }
            }
            throw new UserException("--quantization " + s + " is not known; use none, int7 or int4");
        }
    }

    public IndexSettings {
        if (maxConn < 2 || maxConn > Lucene99HnswVectorsFormat.MAXIMUM_MAX_CONN) {
            throw new UserException("--max-conn " + maxConn + " is not valid; use 2.." + Lucene99HnswVectorsFormat.MAXIMUM_MAX_CONN);
        }
        if (beamWidth < 1 || beamWidth > Lucene99HnswVectorsFormat.MAXIMUM_BEAM_WIDTH) {
            throw new UserException("--beam-width " + beamWidth + " is not valid; use 1.." + Lucene99HnswVectorsFormat.MAXIMUM_BEAM_WIDTH);
        }
        if (candidates < 1 || candidates > 10_000) {
            throw new UserException("--candidates " + candidates + " is not valid; use 1..10000");
        }
    }

    public static IndexSettings defaults() {
        return new IndexSettings(Lucene99HnswVectorsFormat.DEFAULT_MAX_CONN, Lucene99HnswVectorsFormat.DEFAULT_BEAM_WIDTH,
                Quantization.NONE, 100);
    }

    public IndexSettings withCandidates(int c) {
        return new IndexSettings(maxConn, beamWidth, quantization, c);
    }

    /** The vector format these settings write (a reader finds it again by the name Lucene stores per field). */
    KnnVectorsFormat format() {
        if (quantization == Quantization.NONE) {
            return new Lucene99HnswVectorsFormat(maxConn, beamWidth);
        }
        // compress only applies to 4 bits (two values a byte); null confidence interval = Lucene's default for the dimension
        return new Lucene99HnswScalarQuantizedVectorsFormat(maxConn, beamWidth, 1, quantization.bits,
                quantization == Quantization.INT4, null, null);
    }

    /** The widest vector the format accepts (1024 for Lucene's HNSW formats). */
    public int maxDimensions() {
        return format().getMaxDimensions(LuceneVectorIndex.VECTOR);
    }

    Map<String, String> toUserData() {
        Map<String, String> m = new HashMap<>();
        m.put("hnsw.max_conn", Integer.toString(maxConn));
        m.put("hnsw.beam_width", Integer.toString(beamWidth));
        m.put("hnsw.quantization", quantization.id());
        m.put("hnsw.candidates", Integer.toString(candidates));
        return m;
    }

    static IndexSettings fromUserData(Map<String, String> m) {
        IndexSettings d = defaults();
        return new IndexSettings(
                Integer.parseInt(m.getOrDefault("hnsw.max_conn", Integer.toString(d.maxConn))),
                Integer.parseInt(m.getOrDefault("hnsw.beam_width", Integer.toString(d.beamWidth))),
                Quantization.parse(m.getOrDefault("hnsw.quantization", "none")),
                Integer.parseInt(m.getOrDefault("hnsw.candidates", Integer.toString(d.candidates))));
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "HNSW M %d, beam width %d, %s vectors, %d candidates a search",
                maxConn, beamWidth, quantization == Quantization.NONE ? "float32" : quantization.id() + "-quantised", candidates);
    }
}
