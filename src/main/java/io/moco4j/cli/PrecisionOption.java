package io.moco4j.cli;

import io.moco4j.api.Encoder;
import io.moco4j.precision.Precision;
import java.util.Optional;
import picocli.CommandLine.Option;

/**
 * {@code --precision fp32|bf16|fp16|auto}, declared once for every command that takes it (a picocli mixin):
 * {@code pretrain} and {@code bench} (where it overrides {@code train.precision}) and the inference commands
 * {@code knn}, {@code lincls}, {@code embed}, {@code index} and {@code serve} (default fp32). The value is parsed by
 * {@link Precision#parse}, so a bad value is the same one line ({@code UserException}) in every command.
 */
final class PrecisionOption {
    @Option(names = "--precision", paramLabel = "P",
            description = "fp32, bf16, fp16 or auto (bf16 where the hardware computes it natively): the encoder forward passes"
                    + " under libtorch's autocast; weights, optimizer state, losses, metrics and embeddings stay float32."
                    + " Default: fp32 (pretrain, bench: the config's train.precision).")
    String value;

    /** The precision given on the command line, if any (parsed: a bad value throws the one-line UserException). */
    Optional<Precision> given() {
        return value == null ? Optional.empty() : Optional.of(Precision.parse(value));
    }

    /** One line when {@code encoder} computes in a reduced precision (nothing for fp32, the default). */
    static void announce(Encoder encoder) {
        if (encoder.precision().mixed()) {
            System.out.println("Precision " + encoder.precision() + ": the encoder's forward passes under libtorch's autocast;"
                    + " features and everything computed from them are float32");
        }
    }

    /** The given precision, else fp32 (the inference commands' default). */
    Precision orFp32() {
        return given().orElse(Precision.FP32);
    }
}
