/**
 * ONNX export of MoCo4J encoders ({@code ./moco4j export --format onnx}): {@link io.moco4j.onnx.OnnxGraph}, a small
 * graph builder on the ONNX protobuf messages ({@code ai.onnx.proto.OnnxMl}), one small class per network kind
 * walking the network's own state_dict keys ({@code ResNetOnnx}, {@code VitOnnx}, {@code MlpOnnx} for the moco-v3
 * projector), and {@link io.moco4j.onnx.OnnxExport}, which chooses them and records the preprocessing in the model's
 * metadata. {@code api.OnnxEncoder} runs the result with ONNX Runtime.
 */
package io.moco4j.onnx;
