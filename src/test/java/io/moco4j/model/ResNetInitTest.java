package io.moco4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.moco4j.util.UserException;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Initialisation statistics (torchvision's rules, checked against the formulas), determinism, validation. */
class ResNetInitTest {

    @Test
    void convsAreKaimingNormalFanOutAndLinearsAndTheCifarStemAreTorchDefaultUniform() {
        ResNetSpec spec = new ResNetSpec(18, true, 0.5, false, HeadSpec.mlp(0, 128), 1);
        try (NDManager root = NDManager.newBaseManager(); ResNet net = ResNet.create(spec, root, 42)) {
            int convs = 0;
            int linears = 0;
            for (Map.Entry<String, NDArray> e : net.parameters().entrySet()) {
                NDArray p = e.getValue();
                long[] s = p.getShape().getShape();
                float[] v = p.toFloatArray();
                if (e.getKey().equals("conv1.weight")) {
                    convs++; // the CIFAR stem's conv1 keeps torch.nn.Conv2d's default, as in the MoCo CIFAR demo
                    assertUniform(e.getKey(), v, 1 / Math.sqrt(s[1] * s[2] * s[3]));
                } else if (s.length == 4) {
                    convs++;
                    double std = Math.sqrt(2.0 / (s[0] * s[2] * s[3]));
                    assertNormal(e.getKey(), v, std);
                } else if (e.getKey().startsWith("fc.")) {
                    linears++;
                    long fanIn = 256; // fc.0 reads the 256 features, fc.2 the 256 hidden units (hidden 0 = feature dim)
                    assertUniform(e.getKey(), v, 1 / Math.sqrt(fanIn));
                }
            }
            assertEquals(20, convs, "ResNet-18 has 17 main convs and 3 downsample convs");
            assertEquals(4, linears);
        }
    }

    @Test
    void batchNormStartsAtOneZeroAndZeroInitResidualZeroesTheLastBnOfEachBlock() {
        for (int depth : new int[] {18, 50}) {
            for (boolean zero : new boolean[] {false, true}) {
                ResNetSpec spec = new ResNetSpec(depth, false, 1.0 / 16, zero, HeadSpec.linear(3), 1);
                String last = depth == 50 ? ".bn3.weight" : ".bn2.weight";
                try (NDManager root = NDManager.newBaseManager(); ResNet net = ResNet.create(spec, root, 3)) {
                    int zeroed = 0;
                    for (Map.Entry<String, NDArray> e : net.stateDict().entrySet()) {
                        String k = e.getKey();
                        NDArray a = e.getValue();
                        if (k.endsWith("num_batches_tracked")) {
                            assertEquals(DataType.INT64, a.getDataType());
                            assertEquals(0L, a.getLong());
                        } else if (k.endsWith("running_mean") || k.endsWith(".bias") && !k.startsWith("fc")) {
                            assertAll(k, a.toFloatArray(), 0f);
                        } else if (k.endsWith("running_var")) {
                            assertAll(k, a.toFloatArray(), 1f);
                        } else if (a.getShape().dimension() == 1 && k.endsWith(".weight")) {
                            boolean lastBn = k.startsWith("layer") && k.endsWith(last);
                            assertAll(k, a.toFloatArray(), zero && lastBn ? 0f : 1f);
                            zeroed += zero && lastBn ? 1 : 0;
                        }
                    }
                    assertEquals(zero ? (depth == 50 ? 16 : 8) : 0, zeroed, "blocks with zero-init gamma");
                }
            }
        }
    }

    @Test
    void sameSeedSameWeightsOtherSeedOtherWeights() {
        ResNetSpec spec = new ResNetSpec(18, true, 0.125, false, HeadSpec.linear(10), 1);
        try (NDManager root = NDManager.newBaseManager();
             ResNet a = ResNet.create(spec, root, 7);
             ResNet b = ResNet.create(spec, root, 7);
             ResNet c = ResNet.create(spec, root, 8);
             ResNet otherHead = ResNet.create(spec.withHead(HeadSpec.mlp(0, 5)), root, 7)) {
            for (String k : a.stateDict().keySet()) {
                assertArrayEquals(a.stateDict().get(k).toByteArray(), b.stateDict().get(k).toByteArray(), k);
            }
            assertFalse(Arrays.equals(a.stateDict().get("conv1.weight").toFloatArray(),
                    c.stateDict().get("conv1.weight").toFloatArray()));
            assertFalse(Arrays.equals(a.stateDict().get("fc.weight").toFloatArray(),
                    c.stateDict().get("fc.weight").toFloatArray()));
            assertArrayEquals(a.stateDict().get("layer4.1.conv2.weight").toFloatArray(),
                    otherHead.stateDict().get("layer4.1.conv2.weight").toFloatArray(),
                    "the backbone does not depend on the head");
        }
    }

    @Test
    void invalidSpecsAreUserErrors() {
        assertThrows(UserException.class, () -> new ResNetSpec(101, false, 1, false, HeadSpec.none(), 1));
        assertThrows(UserException.class, () -> new ResNetSpec(18, false, 0, false, HeadSpec.none(), 1));
        assertThrows(UserException.class, () -> new ResNetSpec(18, false, Double.NaN, false, HeadSpec.none(), 1));
        assertThrows(UserException.class, () -> new ResNetSpec(18, false, 1, false, HeadSpec.none(), 0));
        assertThrows(UserException.class, () -> new ResNetSpec(18, false, 1, false, null, 1));
        assertThrows(UserException.class, () -> HeadSpec.linear(0));
        assertThrows(UserException.class, () -> HeadSpec.mlp(-1, 8));
        assertThrows(UserException.class, () -> new HeadSpec(HeadSpec.Kind.NONE, 0, 5));
        assertThrows(UserException.class, () -> new HeadSpec(HeadSpec.Kind.LINEAR, 4, 5));
        ResNetSpec tiny = new ResNetSpec(18, true, 0.001, false, HeadSpec.none(), 1);
        assertArrayEquals(new int[] {1, 1, 1, 1}, tiny.stageWidths(), "scaled widths are at least 1");
        assertArrayEquals(new int[] {32, 64, 128, 256}, new ResNetSpec(50, true, 0.5, false, HeadSpec.none(), 1).stageWidths());
        assertEquals(1024, new ResNetSpec(50, true, 0.5, false, HeadSpec.none(), 1).featureDim());
        try (NDManager root = NDManager.newBaseManager(); ResNet net = ResNet.create(tiny, root, 1)) {
            assertThrows(UserException.class, () -> net.setBatchNormSplits(0));
            net.setBatchNormSplits(4);
            assertEquals(4, net.spec().bnSplits());
        }
    }

    /** Mean, standard deviation and (for large tensors) the one-sigma mass of N(0, std^2), within 6 standard errors. */
    private static void assertNormal(String key, float[] v, double std) {
        int n = v.length;
        double sum = 0;
        double sq = 0;
        int within = 0;
        for (float x : v) {
            sum += x;
            sq += (double) x * x;
            within += Math.abs(x) <= std ? 1 : 0;
        }
        double mean = sum / n;
        double sampleStd = Math.sqrt(sq / n - mean * mean);
        assertTrue(Math.abs(mean) <= 6 * std / Math.sqrt(n), key + ": mean " + mean);
        assertTrue(Math.abs(sampleStd / std - 1) <= 6 / Math.sqrt(2.0 * n), key + ": std " + sampleStd + " vs " + std);
        double p = 0.6826894921370859;
        assertTrue(Math.abs((double) within / n - p) <= 6 * Math.sqrt(p * (1 - p) / n), key + ": not normal-shaped");
    }

    /** Inside [-bound, bound], variance bound^2/3 within 6 standard errors, and reaching near the bound. */
    private static void assertUniform(String key, float[] v, double bound) {
        int n = v.length;
        double sq = 0;
        double max = 0;
        for (float x : v) {
            assertTrue(Math.abs(x) <= bound, key + ": " + x + " outside +-" + bound);
            sq += (double) x * x;
            max = Math.max(max, Math.abs(x));
        }
        double var = sq / n;
        double expected = bound * bound / 3;
        double se = Math.sqrt(4.0 / 45) * bound * bound / Math.sqrt(n); // sd of x^2 for U(-b, b) is b^2 sqrt(4/45)
        assertTrue(Math.abs(var - expected) <= 6 * se, key + ": variance " + var + " vs " + expected);
        assertTrue(max >= bound * (1 - 10.0 / n), key + ": max " + max + " never approaches " + bound);
    }

    private static void assertAll(String key, float[] v, float expected) {
        for (float x : v) {
            assertEquals(expected, x, 0f, key);
        }
    }
}
