package io.moco4j.onnx;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A small builder of an ONNX graph (float32 tensors, default domain, one fixed opset) on the ONNX protobuf messages:
 * named inputs and outputs, initializers from float arrays, and nodes whose outputs get unique value names. The
 * exporters ({@link ResNetOnnx}, {@link VitOnnx}, {@link MlpOnnx}) name values after the state_dict keys they come
 * from, so a graph viewer shows {@code layer1.0.bn1} where torchvision has that module.
 */
public final class OnnxGraph {
    /** The operator set every exported model uses (LayerNormalization is there from 17 on). */
    public static final int OPSET = 17;
    /** The IR version that goes with opset 17 (ONNX 1.12). */
    public static final long IR_VERSION = 8;
    /** The symbolic name of the dynamic batch dimension. */
    public static final String BATCH = "batch";

    private final GraphProto.Builder graph = GraphProto.newBuilder();
    private final Set<String> names = new HashSet<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();
    private int nodes;

    public OnnxGraph(String name) {
        graph.setName(name);
    }

    /** A float32 graph input; a dimension of -1 is the dynamic batch. Returns its value name. */
    public String input(String name, long... dims) {
        graph.addInput(valueInfo(claim(name), dims));
        return name;
    }

    /** Declares {@code value} as a float32 graph output with these dimensions (-1: the dynamic batch). */
    public void output(String value, long... dims) {
        graph.addOutput(valueInfo(value, dims));
    }

    /** A float32 initializer (weights are copied). Returns its value name. */
    public String weights(String name, float[] values, long... dims) {
        long n = Arrays.stream(dims).reduce(1, (a, b) -> a * b);
        if (n != values.length) {
            throw new IllegalArgumentException(name + ": " + values.length + " values for shape " + Arrays.toString(dims));
        }
        ByteBuffer raw = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        raw.asFloatBuffer().put(values);
        return initializer(name, TensorProto.DataType.FLOAT, raw.array(), dims);
    }

    /** A float32 scalar (rank 0) initializer, e.g. a constant factor. */
    public String scalar(String name, float value) {
        return weights(name, new float[] {value});
    }

    /** A 1-D int64 initializer (shapes, indices). */
    public String longs(String name, long... values) {
        ByteBuffer raw = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        raw.asLongBuffer().put(values);
        return initializer(name, TensorProto.DataType.INT64, raw.array(), values.length);
    }

    /** A rank-0 int64 initializer (a Gather index that drops the axis). */
    public String longScalar(String name, long value) {
        ByteBuffer raw = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        raw.putLong(value);
        return initializer(name, TensorProto.DataType.INT64, raw.array());
    }

    private String initializer(String name, TensorProto.DataType type, byte[] raw, long... dims) {
        TensorProto.Builder t = TensorProto.newBuilder().setName(claim(name)).setDataType(type.getNumber())
                .setRawData(ByteString.copyFrom(raw));
        for (long d : dims) {
            t.addDims(d);
        }
        graph.addInitializer(t);
        return name;
    }

    /**
     * Adds one node with one output and returns the output's value name ({@code name}, made unique).
     *
     * @param inputs value names; an empty string is an omitted optional input
     */
    public String node(String op, String name, String[] inputs, AttributeProto... attributes) {
        String out = unique(name);
        NodeProto.Builder n = NodeProto.newBuilder().setOpType(op).setName(op + "_" + (nodes++) + "_" + out).addOutput(out);
        for (String in : inputs) {
            n.addInput(in);
        }
        for (AttributeProto a : attributes) {
            n.addAttribute(a);
        }
        graph.addNode(n);
        return out;
    }

    /** {@link #node} with the inputs as varargs and no attributes. */
    public String op(String op, String name, String... inputs) {
        return node(op, name, inputs);
    }

    public static String[] in(String... values) {
        return values;
    }

    public static AttributeProto ints(String name, long... values) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long v : values) {
            a.addInts(v);
        }
        return a.build();
    }

    public static AttributeProto integer(String name, long value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(value).build();
    }

    public static AttributeProto real(String name, float value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(value).build();
    }

    /** A key/value pair stored in the model's {@code metadata_props} (ONNX Runtime reads them as custom metadata). */
    public void metadata(String key, String value) {
        metadata.put(key, value);
    }

    /** The model: this graph at {@link #OPSET}, with the metadata. */
    public ModelProto model(String producerVersion, String docString) {
        ModelProto.Builder m = ModelProto.newBuilder().setIrVersion(IR_VERSION).setProducerName("moco4j")
                .setProducerVersion(producerVersion).setDocString(docString)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET)).setGraph(graph);
        metadata.forEach((k, v) -> m.addMetadataProps(StringStringEntryProto.newBuilder().setKey(k).setValue(v)));
        return m.build();
    }

    private String claim(String name) {
        if (!names.add(name)) {
            throw new IllegalArgumentException("value name " + name + " is used twice");
        }
        return name;
    }

    private String unique(String base) {
        String name = base;
        for (int i = 1; names.contains(name); i++) {
            name = base + "_" + i;
        }
        names.add(name);
        return name;
    }

    private static ValueInfoProto valueInfo(String name, long... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (long d : dims) {
            shape.addDim(d < 0 ? TensorShapeProto.Dimension.newBuilder().setDimParam(BATCH)
                    : TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        TypeProto type = TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder()
                .setElemType(TensorProto.DataType.FLOAT.getNumber()).setShape(shape)).build();
        return ValueInfoProto.newBuilder().setName(name).setType(type).build();
    }
}
