#!/bin/bash
# fp32 vs bf16 (and channels_last) on the same seed and steps; one thread, one job at a time.
set -u
cd /work/main
export OMP_NUM_THREADS=1
G=".venv/bin/gankit"
COMMON="train.threads=1 log.tensorboard=false log.progress=false log.checkpoint_every=100000 log.samples_every=100000"
run() { # name preset steps metrics overrides...
  name=$1; preset=$2; steps=$3; metrics=$4; shift 4
  rm -rf runs/e6/q-$name
  t0=$(date +%s)
  nice -n 5 $G train $preset $COMMON train.steps=$steps seed=0 "$@" --out runs/e6/q-$name > runs/e6/q-$name.train.log 2>&1
  t1=$(date +%s)
  margs=""; for m in $metrics; do margs="$margs --metric $m"; done
  nice -n 5 $G eval runs/e6/q-$name $margs --seed 0 --out runs/e6/q-$name.eval.json > runs/e6/q-$name.eval.log 2>&1
  t2=$(date +%s)
  echo "$name train_s=$((t1-t0)) eval_s=$((t2-t1)) $(cat runs/e6/q-$name.eval.json | tr -d '\n ')" >> runs/e6/quality.txt
}
run mlp-fp32 goodfellow2014-fast 3000 parzen10k
run mlp-bf16 goodfellow2014-fast 3000 parzen10k train.precision=bf16
run dcgan-fp32 dcgan-mnist 1500 "classes10k cfd10k"
run dcgan-bf16 dcgan-mnist 1500 "classes10k cfd10k" train.precision=bf16
run dcgan-bf16-cl dcgan-mnist 1500 "classes10k cfd10k" train.precision=bf16 train.channels_last=true
run dcgan-cl dcgan-mnist 1500 "classes10k cfd10k" train.channels_last=true
echo done >> runs/e6/quality.txt
