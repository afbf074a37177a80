#!/usr/bin/env bash
# Issue 21 equal-time curve: fp32 and bf16 cpu-small at the same time, 1 libtorch thread each, same data, same seed.
set -u
D=${OUT:-/tmp/precision-curve}
S=${SUBSET:-/tmp/precision-c10sub}  # 1000 images per class of /work/cifar10/train (symlinks)
cd $D
for p in fp32 bf16; do
  rm -rf $D/run-$p
  nohup java -Dai.djl.offline=true -Djava.awt.headless=true -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1 \
    -jar $D/moco4j.jar pretrain --preset cpu-small --data $S/train --val /work/cifar10/test --out $D/run-$p \
    --precision $p --seed 0 --workers 1 --set train.knn_every=1 --set train.knn_train_subset=5000 \
    --set train.knn_val_subset=1000 --set train.log_every=5 > $D/log-$p.txt 2>&1 &
  echo $! > $D/pid-$p
done
( while kill -0 $(cat $D/pid-fp32) 2>/dev/null || kill -0 $(cat $D/pid-bf16) 2>/dev/null; do
    echo "$(date +%T) $(cat /proc/loadavg)" >> $D/load.txt; sleep 60; done ) > /dev/null 2>&1 &
echo $! > $D/pid-load
