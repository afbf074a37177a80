/**
 * Contrastive losses: {@link io.moco4j.loss.InfoNce} (MoCo v1/v2, queue of negatives, one key per row)
 * and {@link io.moco4j.loss.InBatchContrastive} (MoCo v3), plus top-k contrastive accuracy.
 */
package io.moco4j.loss;
