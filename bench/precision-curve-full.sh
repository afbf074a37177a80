#!/usr/bin/env bash
# Issue 21 equal-time curve on a quiet machine: fp32 and bf16 cpu-small at the same time, 1 libtorch thread and
# 1 loader thread each, full CIFAR-10 train, kNN every epoch (bank: 10,000 training images, queries: the 10,000 test images)
# JAR=/abs/path/moco4j.jar OUT=/tmp/curve CIFAR10=/path/to/cifar10 [SEED=0] [STOP_AFTER=epochs] bench/precision-curve-full.sh
# Without STOP_AFTER it runs the 15-epoch schedule; stop it with kill -TERM on the pids (each saves a checkpoint).
cd ${OUT:-.}
for p in fp32 bf16; do
  rm -rf run-$p
  java -Dai.djl.offline=true -Djava.awt.headless=true -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1 \
    -jar ${JAR:-target/moco4j.jar} pretrain --preset cpu-small --data ${CIFAR10:-/work/cifar10}/train --val ${CIFAR10:-/work/cifar10}/test --out run-$p \
    --precision $p --seed ${SEED:-0} --workers 1 --set train.knn_every=1 --set train.knn_train_subset=10000 > log-$p.txt 2>&1 &
  echo $! > pid-$p
done
while kill -0 $(cat pid-fp32) 2>/dev/null || kill -0 $(cat pid-bf16) 2>/dev/null; do
  echo "$(date +%T) $(cat /proc/loadavg)" >> load.txt
  for p in fp32 bf16; do  # SIGTERM = finish the step, save, exit
    if [ -n "$STOP_AFTER" ] && [ -f run-$p/metrics.jsonl ] && [ "$(grep -c '"knn_top1"' run-$p/metrics.jsonl)" -ge "$STOP_AFTER" ]; then
      kill -TERM $(cat pid-$p) 2>/dev/null
    fi
  done
  sleep 20; done
