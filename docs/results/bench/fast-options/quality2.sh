#!/bin/bash
# seed 1: the seed-to-seed spread of the same comparison
set -u
cd /work/main
export OMP_NUM_THREADS=1
G=".venv/bin/gankit"
COMMON="train.threads=1 log.tensorboard=false log.progress=false log.checkpoint_every=100000 log.samples_every=100000"
run() {
  name=$1; preset=$2; steps=$3; metrics=$4; shift 4
  rm -rf runs/e6/q-$name
  t0=$(date +%s)
  nice -n 5 $G train $preset $COMMON train.steps=$steps "$@" --out runs/e6/q-$name > runs/e6/q-$name.train.log 2>&1
  t1=$(date +%s)
  margs=""; for m in $metrics; do margs="$margs --metric $m"; done
  nice -n 5 $G eval runs/e6/q-$name $margs --seed 0 --out runs/e6/q-$name.eval.json > runs/e6/q-$name.eval.log 2>&1
  t2=$(date +%s)
  echo "$name train_s=$((t1-t0)) eval_s=$((t2-t1)) $(cat runs/e6/q-$name.eval.json | tr -d '\n ')" >> runs/e6/quality.txt
}
run mlp-fp32-s1 goodfellow2014-fast 3000 parzen10k seed=1
run mlp-bf16-s1 goodfellow2014-fast 3000 parzen10k seed=1 train.precision=bf16
echo done2 >> runs/e6/quality.txt
