package io.moco4j.model;

/** TEMPORARY placeholder until the v3core branch lands (replaced by its MlpSpec). */
public record MlpSpec(int inDim, int hiddenDim, int outDim, int layers, boolean lastBn) {}
