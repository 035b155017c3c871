#!/usr/bin/env bash
# Re-runs the "Presets on MNIST" table of docs/results/objectives.md: every objectives
# preset trained on MNIST with one common budget (seed 0, STEPS generator steps, one torch
# thread), then its final G scored by parzen10k, cfd10k and classes10k (eval seed 0).
#
#   docs/results/objectives/scripts/mnist_table.sh [STEPS] [OUT_ROOT] [preset ...]
#
# Defaults: STEPS=3000, OUT_ROOT=runs/o5m, all 13 presets, then the control row: the
# non-saturating GAN of defaults.yaml (the recipe the fgan-*, hinge and lsgan presets are a
# delta over). Run from the repository root.
# Per preset it writes OUT_ROOT/<preset>/ (the run), OUT_ROOT/<preset>.train.log,
# OUT_ROOT/<preset>.eval.json and OUT_ROOT/<preset>.time (train and eval wall seconds,
# the training exit code: 3 = stopped on NaN/inf). A run that diverged is still scored
# from its newest good checkpoint, and the table says so.
set -u
STEPS=${1:-3000}
OUT=${2:-runs/o5m}
shift $(( $# > 2 ? 2 : $# ))
PRESETS=("$@")
if [ ${#PRESETS[@]} -eq 0 ]; then
  PRESETS=(wgan-gp hinge lsgan fgan-kl fgan-reverse-kl fgan-js fgan-gan wgan
           fgan-pearson fgan-hellinger fgan-jeffrey fgan-neyman fgan-tv
           src/gankit/presets/defaults.yaml)
fi
GANKIT=${GANKIT:-.venv/bin/gankit}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$OUT"
for preset in "${PRESETS[@]}"; do
  p=$(basename "$preset" .yaml)   # a preset name, or a YAML path (the control: src/gankit/presets/defaults.yaml)
  run="$OUT/$p"
  echo "== $p  $(date -u +%FT%TZ)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
  t0=$(date +%s.%N)
  nice -n 5 "$GANKIT" train "$preset" train.threads=1 "train.steps=$STEPS" seed=0 \
      --no-progress --resume never --out "$run" > "$OUT/$p.train.log" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  nice -n 5 "$GANKIT" eval "$run" --seed 0 --metric parzen10k --metric cfd10k \
      --metric classes10k --out "$OUT/$p.eval.json" > "$OUT/$p.eval.log" 2>&1
  erc=$?
  t2=$(date +%s.%N)
  printf '{"preset": "%s", "train_rc": %d, "train_s": %.1f, "eval_rc": %d, "eval_s": %.1f, "load_after": "%s"}\n' \
      "$p" "$rc" "$(echo "$t1 - $t0" | bc)" "$erc" "$(echo "$t2 - $t1" | bc)" \
      "$(cut -d' ' -f1-3 /proc/loadavg)" > "$OUT/$p.time"
  cat "$OUT/$p.time"
done
