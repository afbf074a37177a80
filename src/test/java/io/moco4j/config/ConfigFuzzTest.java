package io.moco4j.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.moco4j.cli.Main;
import io.moco4j.util.UserException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every setting of defaults.yaml (walked, so new keys are covered) given a wrong type, a negative, zero, NaN
 * and huge values: each is refused with one line naming the setting and what it accepts, or accepted
 * only inside its documented range.
 */
class ConfigFuzzTest {
    static final List<String> HOSTILE = List.of("-1", "0", ".nan", "-.inf", "1.0e+300", "99999999999999999999", "1e300", "0.5");

    static List<Map.Entry<String, JsonNode>> settings() throws Exception {
        JsonNode defaults;
        try (InputStream in = ConfigLoader.class.getResourceAsStream("/presets/defaults.yaml")) {
            defaults = new ObjectMapper(new YAMLFactory()).readTree(in);
        }
        List<Map.Entry<String, JsonNode>> out = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> s = defaults.fields(); s.hasNext(); ) {
            Map.Entry<String, JsonNode> section = s.next();
            section.getValue().fields().forEachRemaining(k -> out.add(Map.entry(section.getKey() + "." + k.getKey(), k.getValue())));
        }
        return out;
    }

    /** A value of the wrong type for the setting's default. */
    static String wrongType(JsonNode def) {
        return def.isTextual() ? "[1, 2]" : def.isArray() ? "abc" : "abc";
    }

    @Test
    void everySettingRefusesHostileValuesWithOneLineNamingItAndItsRange() throws Exception {
        int refused = 0;
        int accepted = 0;
        List<String> settings = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : settings()) {
            String key = e.getKey();
            settings.add(key);
            JsonNode def = e.getValue();
            if (def.isNumber() || def.isArray()) {
                assertTrue(SettingRanges.RANGES.containsKey(key), key + " is numeric but has no row in SettingRanges.RANGES");
            }
            List<String> values = new ArrayList<>(HOSTILE);
            values.add(wrongType(def));
            if (def.isBoolean()) {
                values.add("maybe");
            }
            for (String v : values) {
                String assignment = key + "=" + (def.isArray() && !v.equals("abc") ? "[" + v + "]" : v);
                try {
                    MocoConfig c = ConfigLoader.defaults().preset("cpu-small").set("train.batch_size=1").set("moco.bn_splits=1")
                            .set(assignment).build();
                    accepted++;
                    assertFalse(v.equals("abc") || v.equals("[1, 2]") || v.equals("maybe"), assignment + " has the wrong type but was accepted");
                    assertFalse(v.equals(".nan") || v.equals("-.inf") || v.equals("1.0e+300"), assignment + " was accepted");
                    assertTrue(c != null);
                } catch (UserException ex) {
                    refused++;
                    String m = ex.getMessage();
                    assertTrue(m.contains(key), assignment + ": the message must name the setting: " + m);
                    assertTrue(m.contains("must be") || m.contains("choose") || m.contains("not a multiple") || m.contains("not divisible") || m.contains("needs"),
                            assignment + ": the message must say what is valid: " + m);
                    assertEquals(1, m.lines().count(), m);
                } catch (RuntimeException ex) {
                    fail(assignment + " failed with " + ex + " instead of one line naming the setting");
                }
            }
        }
        System.out.printf("config fuzz: %d settings, %d values refused with one line, %d accepted in range%n",
                settings.size(), refused, accepted);
        assertTrue(settings.contains("data.max_pixels"));
        assertTrue(refused > 5 * settings.size(), "most hostile values are refused: " + refused);
    }

    @Test
    void rangesInMessagesAreReadable() {
        assertEquals("optim.lr is '.nan', which is not readable; it must be a number in (0, 1000] (quote strings, write lists as [a, b])",
                assertThrowsUser(() -> ConfigLoader.defaults().set("optim.lr=.nan").build()));
        assertEquals("optim.lr is 'NaN'; it must be a number in (0, 1000]",
                assertThrowsUser(() -> ConfigLoader.defaults().set("optim.lr=NaN").build()));
        assertEquals("train.epochs is 'abc'; it must be an integer in 1..1000000",
                assertThrowsUser(() -> ConfigLoader.defaults().set("train.epochs=abc").build()));
        assertEquals("moco.momentum is 1.0; it must be a number in [0, 1)",
                assertThrowsUser(() -> ConfigLoader.defaults().set("moco.momentum=1.0").build()));
        assertEquals("data.strict is 1; it must be true or false",
                assertThrowsUser(() -> ConfigLoader.defaults().set("data.strict=1").build()));
        assertEquals("optim.milestones is [120,-5]; it must be a list like [120, 160] of integer in 1..1000000s",
                assertThrowsUser(() -> ConfigLoader.defaults().set("optim.milestones=[120, -5]").build()));
    }

    static String assertThrowsUser(Runnable r) {
        try {
            r.run();
        } catch (UserException e) {
            return e.getMessage();
        }
        throw new AssertionError("no UserException");
    }

    @Test
    void theCliRefusesBeforeCreatingTheRun(@TempDir Path tmp) {
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(err, true), "pretrain", "--out", tmp.resolve("run").toString(),
                "--set", "optim.gamma=-1");
        assertEquals(2, code);
        assertEquals("error: optim.gamma is -1; it must be a number in (0, 1]", err.toString().trim());
        assertFalse(Files.exists(tmp.resolve("run")), "nothing was created");
    }
}
