package io.moco4j.eval;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.ViewTransform;
import io.moco4j.io.AtomicFiles;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Stand-alone kNN evaluation ({@code moco4j knn}): features of the whole training set (bank) and
 * validation set (queries) with the evaluation transform, then {@link Knn}. Optionally writes the result
 * as JSON (top-1, top-5, k, t, feature layer, sizes).
 */
public final class KnnEvaluation {
    private KnnEvaluation() {}

    /**
     * @param outJson where to write the result, or null
     */
    public static KnnResult run(FeatureFunction features, FeatureLayer layer, ImageDataset train, ImageDataset val,
                                ViewTransform evalTransform, int k, double t, int batchSize, int chunk,
                                NDManager manager, Path outJson) {
        KnnMonitor.requireLabels(train, "training (bank)");
        KnnMonitor.requireLabels(val, "validation");
        if (!train.classes().equals(val.classes())) {
            throw new UserException("training and validation sets have different classes (" + train.classes()
                    + " vs " + val.classes() + "); use the same class folders in both");
        }
        KnnResult r;
        try (NDManager m = manager.newSubManager();
             Features bank = FeatureBank.extract(train, evalTransform, features, layer, batchSize, m);
             Features queries = FeatureBank.extract(val, evalTransform, features, layer, batchSize, m)) {
            r = Knn.evaluate(bank.values(), bank.labels(), queries.values(), queries.labels(),
                    train.classes().size(), k, t, chunk);
        }
        if (outJson != null) {
            ObjectMapper json = new ObjectMapper();
            ObjectNode o = json.createObjectNode();
            o.put("knn_top1", r.top1());
            o.put("knn_top5", r.top5());
            o.put("k", r.k());
            o.put("t", r.temperature());
            o.put("layer", layer.id());
            o.put("bank_size", train.size());
            o.put("queries", val.size());
            o.put("classes", train.classes().size());
            try {
                AtomicFiles.write(outJson, out -> out.write(json.writerWithDefaultPrettyPrinter().writeValueAsBytes(o)));
            } catch (IOException e) {
                throw new UserException("cannot write " + outJson + " (" + e.getMessage() + "); check the folder and its permissions", e);
            }
        }
        return r;
    }
}
