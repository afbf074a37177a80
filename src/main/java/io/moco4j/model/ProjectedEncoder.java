package io.moco4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A backbone with a projection head attached under a state-dict prefix, as the official MoCo v3 builds its
 * encoders: {@code base_encoder.fc = projector} for a ResNet (prefix {@code fc.}), {@code base_encoder.head =
 * projector} for a ViT (prefix {@code head.}). State keys are the backbone's own followed by the head's with
 * the prefix, which is exactly the official {@code base_encoder.state_dict()} order.
 *
 * <p>Closing closes both parts.
 */
public final class ProjectedEncoder implements Encoder {
    private final Encoder backbone;
    private final String headPrefix;
    private final Network head;
    private final int outputDim;

    /**
     * @param backbone an encoder without a head of its own ({@code forward == features})
     * @param headPrefix e.g. {@code "fc."}
     * @param head maps (N, backbone.featureDim()) to (N, outputDim)
     */
    public ProjectedEncoder(Encoder backbone, String headPrefix, Network head, int outputDim) {
        if (backbone.outputDim() != backbone.featureDim()) {
            throw new IllegalArgumentException("the backbone of a ProjectedEncoder must have no head of its own");
        }
        this.backbone = backbone;
        this.headPrefix = headPrefix;
        this.head = head;
        this.outputDim = outputDim;
    }

    public Encoder backbone() {
        return backbone;
    }

    public Network head() {
        return head;
    }

    public String headPrefix() {
        return headPrefix;
    }

    @Override
    public NDArray forward(NDArray input, boolean training) {
        NDArray h = backbone.features(input, training);
        NDArray out = head.forward(h, training);
        if (out != h) {
            h.close();
        }
        return out;
    }

    @Override
    public NDArray features(NDArray x, boolean training) {
        return backbone.features(x, training);
    }

    @Override
    public int featureDim() {
        return backbone.featureDim();
    }

    @Override
    public int outputDim() {
        return outputDim;
    }

    @Override
    public LinkedHashMap<String, NDArray> parameters() {
        return merge(backbone.parameters(), head.parameters());
    }

    @Override
    public LinkedHashMap<String, NDArray> trainableParameters() {
        return merge(backbone.trainableParameters(), head.parameters());
    }

    @Override
    public LinkedHashMap<String, NDArray> buffers() {
        return merge(backbone.buffers(), head.buffers());
    }

    @Override
    public LinkedHashMap<String, NDArray> stateDict() {
        return merge(backbone.stateDict(), head.stateDict());
    }

    @Override
    public void loadStateDict(Map<String, NDArray> source, boolean strict) {
        Map<String, NDArray> own = new LinkedHashMap<>();
        Map<String, NDArray> ofHead = new LinkedHashMap<>();
        for (Map.Entry<String, NDArray> e : source.entrySet()) {
            if (e.getKey().startsWith(headPrefix)) {
                ofHead.put(e.getKey().substring(headPrefix.length()), e.getValue());
            } else {
                own.put(e.getKey(), e.getValue());
            }
        }
        backbone.loadStateDict(own, strict);
        head.loadStateDict(ofHead, strict);
    }

    private LinkedHashMap<String, NDArray> merge(Map<String, NDArray> ofBackbone, Map<String, NDArray> ofHead) {
        LinkedHashMap<String, NDArray> out = new LinkedHashMap<>(ofBackbone);
        ofHead.forEach((k, v) -> out.put(headPrefix + k, v));
        return out;
    }

    @Override
    public NDManager manager() {
        return backbone.manager();
    }

    @Override
    public String describe() {
        return backbone.describe() + " with a projector " + backbone.featureDim() + "-...-" + outputDim;
    }

    @Override
    public void close() {
        head.close();
        backbone.close();
    }
}
