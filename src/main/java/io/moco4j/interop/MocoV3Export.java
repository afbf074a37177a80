package io.moco4j.interop;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.moco4j.config.MocoConfig;
import io.moco4j.io.HostTensor;
import io.moco4j.io.TorchCheckpointWriter;
import io.moco4j.method.Encoders;
import io.moco4j.method.MocoV3;
import io.moco4j.model.Network;
import io.moco4j.optim.LossScaler;
import io.moco4j.train.Checkpoints;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes a MoCo v3 run in the layout of facebookresearch/moco-v3 {@code main_moco.py}'s {@code save_checkpoint}:
 * {@code {epoch, arch, state_dict, optimizer, scaler}} with {@code module.base_encoder.*},
 * {@code module.momentum_encoder.*}, {@code module.predictor.*} and a LARS state dict whose positions run over
 * {@code model.parameters()} (base encoder, momentum encoder without state, predictor), so that
 * {@code main_moco.py --resume} and {@code main_lincls.py --pretrained} take it.
 */
final class MocoV3Export {
    private MocoV3Export() {}

    static void write(Path out, Checkpoints.Loaded ckpt, NDManager manager, List<String> lines) {
        MocoConfig cfg = ckpt.config();
        Map<String, NDArray> base = ckpt.tensors(Checkpoints.Q, manager);
        Map<String, NDArray> momentum = ckpt.tensors(Checkpoints.K, manager);
        Map<String, NDArray> predictor = ckpt.tensors(Checkpoints.PREDICTOR, manager);
        LinkedHashMap<String, HostTensor> sd = new LinkedHashMap<>();
        base.forEach((k, v) -> sd.put("module.base_encoder." + k, HostTensor.fromNDArray(v)));
        momentum.forEach((k, v) -> sd.put("module.momentum_encoder." + k, HostTensor.fromNDArray(v)));
        predictor.forEach((k, v) -> sd.put("module.predictor." + k, HostTensor.fromNDArray(v)));

        // Parameter order as model.parameters() lists them; our optimizer state is keyed by the same names.
        List<String> positions = new ArrayList<>();
        try (NDManager shapes = manager.newSubManager();
             Network q = Encoders.create(cfg, shapes, 0);
             Network p = Encoders.predictor(cfg, shapes, 0)) {
            positions.addAll(q.parameters().keySet());
            q.parameters().keySet().forEach(k -> positions.add(null)); // the momentum encoder's: never stepped
            p.parameters().keySet().forEach(k -> positions.add(MocoV3.PREDICTOR + k));
        }
        Map<String, HostTensor> saved = StateDictFiles.toHost(ckpt.tensors(Checkpoints.OPTIMIZER, manager));
        boolean adamw = cfg.optim().name().equals("adamw");
        LinkedHashMap<String, Object> group = new LinkedHashMap<>();
        group.put("lr", cfg.optim().effectiveLr(cfg.train().batchSize()));
        if (adamw) {
            // torch.optim.AdamW's defaults (main_moco.py passes only lr and weight_decay); load_state_dict keeps the
            // saved group as it is, so every key its step() reads must be there.
            group.put("betas", List.of(0.9, 0.999));
            group.put("eps", 1e-8);
            group.put("weight_decay", cfg.optim().weightDecay());
            group.put("amsgrad", false);
            group.put("maximize", false);
            group.put("foreach", null);
            group.put("capturable", false);
        } else {
            group.put("weight_decay", cfg.optim().weightDecay());
            group.put("momentum", cfg.optim().momentum());
            group.put("trust_coefficient", 0.001);
        }
        // AdamW's step is saved as a 0-dim float tensor, as torch 1.12+ saves it
        Map<String, Object> optimizer = TorchOptimizerState.write(positions, saved,
                adamw ? TorchOptimizerState.Slots.ADAMW : TorchOptimizerState.Slots.LARS, group);
        int stepped = ((Map<?, ?>) optimizer.get("state")).size();

        LinkedHashMap<String, Object> file = new LinkedHashMap<>();
        file.put("epoch", (long) ckpt.progress().epoch());
        file.put("arch", cfg.model().arch());
        file.put("state_dict", sd);
        file.put("optimizer", optimizer);
        // main_moco.py always builds an enabled GradScaler, whose load_state_dict refuses an empty state on a GPU: a run
        // that did not train in fp16 hands over a fresh scaler's state (what main_moco.py itself starts from).
        Map<String, Object> scaler = ckpt.scalerState();
        file.put("scaler", scaler != null ? scaler : new LossScaler().stateDict());
        TorchCheckpointWriter.write(out, file);
        lines.add(String.format(Locale.ROOT, "Wrote %s: official MoCo v3 checkpoint (epoch %d, arch %s; module.base_encoder,"
                        + " module.momentum_encoder, module.predictor, %s state of %d parameters)", out,
                ckpt.progress().epoch(), cfg.model().arch(), adamw ? "AdamW" : "LARS", stepped));
        lines.add(scaler != null ? "GradScaler state: the run's fp16 loss scale " + scaler.get("scale")
                : "GradScaler state: a fresh one (scale 65536; the run did not train in fp16)");
        lines.add(String.format(Locale.ROOT, "Continue in PyTorch: python main_moco.py -a %s --moco-dim %d --moco-mlp-dim %d"
                        + " --moco-t %s --resume %s [--epochs, --lr, data and distributed options]", cfg.model().arch(),
                cfg.model().dim(), cfg.model().predictorHidden(), cfg.moco().temperature(), out));
    }
}
