#!/usr/bin/env bash
# Pruning: train a model on simulated data (default grammar), build its head table with
# masking importance, prune by entropy-redundancy within a metric drop, and print the
# validation metric before/after, parameters and the predict speed-up (same run, same
# machine; `prune` times both models alternately, best of three).
# Usage: bash bench/prune.sh   (env: N, EPOCHS, MAX_DROP, BY, BIN)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-4000} EPOCHS=${EPOCHS:-6} MAX_DROP=${MAX_DROP:-0.01} BY=${BY:-entropy-redundancy}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=./target/release/cisformer
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$BIN" simulate -q --n "$N" --len 200 --seed 7 --out "$out/sim"
"$BIN" train -q --fasta "$out/sim/seqs.fa" --labels "$out/sim/labels.tsv" --out "$out/m" \
  --k 3 --d-model 64 --heads 8 --layers 2 --ffn 128 --epochs "$EPOCHS" --batch-size 64 \
  --lr 1e-3 --seed 5 --no-baseline
# Validation rows of the split for importance and pruning.
awk -F'\t' '$2 == "validation" { print $1 }' "$out/m/split.tsv" > "$out/val.ids"
awk -F'\t' 'NR == FNR { keep[$1] = 1; next } FNR == 1 || ($1 in keep)' \
  "$out/val.ids" "$out/sim/labels.tsv" > "$out/val.tsv"
awk 'NR == FNR { keep[$1] = 1; next } /^>/ { p = (substr($1, 2) in keep) } p' \
  "$out/val.ids" "$out/sim/seqs.fa" > "$out/val.fa"
"$BIN" heads -q --model "$out/m" --fasta "$out/val.fa" --labels "$out/val.tsv" \
  --importance-n 100000 -o "$out/heads.tsv"
echo "heads flagged as prune candidates: $(awk -F'\t' 'NR > 1 && $14 == 1' "$out/heads.tsv" | wc -l) of $(($(wc -l < "$out/heads.tsv") - 1))"
"$BIN" prune --model "$out/m" --fasta "$out/val.fa" --labels "$out/val.tsv" \
  --heads "$out/heads.tsv" --by "$BY" --max-drop "$MAX_DROP" --out "$out/pruned"
grep '^#' "$out/pruned/prune.tsv"
