/**
 * Evaluation of pretrained encoders and of training runs.
 *
 * <ul>
 *   <li>{@link io.moco4j.eval.Knn} / {@link io.moco4j.eval.KnnEvaluation}: weighted kNN (InstDisc, the MoCo
 *       CIFAR-10 demo's {@code knn_predict}: k 200, t 0.1), chunked over queries;
 *       {@link io.moco4j.eval.KnnMonitor}: the same during pretraining (a {@code train.EpochEvaluator}).</li>
 *   <li>{@link io.moco4j.eval.LinearProbe}: main_lincls.py's linear classification on a frozen, eval-mode backbone,
 *       with a cached-feature fast mode and a checksum proving the backbone did not change.</li>
 *   <li>{@link io.moco4j.eval.Embedder} / {@link io.moco4j.eval.EmbeddingWriter}: features as float32 {@code .npy}
 *       plus a line-per-image index.</li>
 *   <li>{@link io.moco4j.eval.TrainingReport}: PNG charts and a text summary from a run's {@code metrics.jsonl}.</li>
 * </ul>
 * Features come from a {@link io.moco4j.eval.FeatureFunction} (the pooled backbone by default, or the head output;
 * see {@link io.moco4j.eval.FeatureLayer}); outputs record which one was used.
 */
package io.moco4j.eval;
