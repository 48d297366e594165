#!/usr/bin/env bash
# Held-out quality on the planted grammar (issue bar: within 0.05 of the noise ceiling):
# simulate the default grammar (20,000 × 200 bp, seed 7) and 2,000 fresh sequences (seed 8),
# train one model per seed in SEEDS (two at a time, one thread each), then `evaluate` each
# model with --average strands (both strands) on its own split of the training set (the `test` rows are held out;
# each seed draws its own split) and on the fresh sequences, and the ensemble of all of them
# on the fresh sequences, next to the noise ceiling.
# Usage: bench/quality.sh [WORKDIR]
# Env: N (20000), EPOCHS (8), N_EVAL (2000), SEEDS ("1"), TRAIN_ARGS (model/optimiser flags),
#   BIN (a cisformer binary to use instead of building target/release/cisformer).
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-target/bench-quality}
N=${N:-20000} EPOCHS=${EPOCHS:-8} N_EVAL=${N_EVAL:-2000}
TRAIN_ARGS=${TRAIN_ARGS:---k 1 --conv-kernel 21 --d-model 64 --heads 8 --layers 2 --ffn 128 --pooling mean --batch-size 16 --lr 1e-3 --relative-bias 200 --relative-bias-lr 10 --dropout 0}
B=${BIN:-target/release/cisformer}
[ -n "${BIN:-}" ] || cargo build --release --quiet
mkdir -p "$W"
$B simulate --out "$W/sim" --n "$N" --len 200 --seed 7 -q
$B simulate --out "$W/eval" --n "$N_EVAL" --len 200 --seed 8 -q
read -ra seeds <<< "${SEEDS:-1}"
train() {
  # shellcheck disable=SC2086
  $B train --fasta "$W/sim/seqs.fa" --labels "$W/sim/labels.tsv" --out "$W/model_s$1" --force \
    --epochs "$EPOCHS" --seed "$1" --no-baseline -j 1 -q $TRAIN_ARGS
}
for ((i = 0; i < ${#seeds[@]}; i += 2)); do
  train "${seeds[i]}" &
  if ((i + 1 < ${#seeds[@]})); then train "${seeds[i + 1]}" & fi
  wait
done
echo "noise ceiling: $(grep -o '"noise_ceiling": [0-9.]*' "$W/sim/summary.json" | cut -d' ' -f2)"
fresh() {
  echo "== $1: fresh sequences (seed 8), strand-averaged"; shift
  $B evaluate "$@" --fasta "$W/eval/seqs.fa" --labels "$W/eval/labels.tsv" --average strands
}
models=()
for s in "${seeds[@]}"; do
  M="$W/model_s$s"
  echo "== seed $s: its own split, strand-averaged"
  # evaluate draws the same random split as train from the same seed.
  $B evaluate --model "$M" --fasta "$W/sim/seqs.fa" --labels "$W/sim/labels.tsv" \
    --split random --seed "$s" --average strands
  fresh "seed $s" --model "$M"
  models+=(--model "$M")
done
if ((${#seeds[@]} > 1)); then fresh "ensemble of ${#seeds[@]}" "${models[@]}"; fi
