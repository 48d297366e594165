#!/usr/bin/env bash
# Two-task forgetting: train on task 1 (data/sim/task1.toml), fine-tune on task 2
# (data/sim/task2.toml, disjoint motifs) with and without --orthogonal (same seed, same
# steps; `orthogonal-all` also anchors the FFN and output head), then print per run the
# mean forgetting index over heads and the old-task (task 1 held-out) Pearson r drop.
# One run, one machine.
# Usage: bash bench/forgetting.sh   (env: N, EPOCHS, TUNE_EPOCHS, LR, WEIGHT, MODES, BIN)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-4000} EPOCHS=${EPOCHS:-8} TUNE_EPOCHS=${TUNE_EPOCHS:-4} LR=${LR:-1e-3} WEIGHT=${WEIGHT:-1}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=./target/release/cisformer
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$BIN" simulate -q --n "$N" --seed 7 --grammar data/sim/task1.toml --out "$out/t1"
"$BIN" simulate -q --n "$N" --seed 8 --grammar data/sim/task2.toml --out "$out/t2"
"$BIN" train -q --fasta "$out/t1/seqs.fa" --labels "$out/t1/labels.tsv" --out "$out/m1" \
  --k 3 --d-model 64 --heads 4 --layers 2 --ffn 128 --epochs "$EPOCHS" --batch-size 64 \
  --lr 1e-3 --seed 5 --no-baseline
# Task 1 held-out rows (the test set of its split) for the old-task metric.
awk -F'\t' '$2 == "test" { print $1 }' "$out/m1/split.tsv" > "$out/test.ids"
awk -F'\t' 'NR == FNR { keep[$1] = 1; next } FNR == 1 || ($1 in keep)' \
  "$out/test.ids" "$out/t1/labels.tsv" > "$out/t1_test.tsv"
awk 'NR == FNR { keep[$1] = 1; next } /^>/ { p = (substr($1, 2) in keep) } p' \
  "$out/test.ids" "$out/t1/seqs.fa" > "$out/t1_test.fa"
echo "task 1: $(grep -c '^>' "$out/t1_test.fa") held-out sequences"
for mode in ${MODES:-plain orthogonal orthogonal-all}; do
  flag=()
  [ "$mode" = orthogonal ] && flag=(--orthogonal --ortho-weight "$WEIGHT")
  [ "$mode" = orthogonal-all ] && flag=(--orthogonal --ortho-weight "$WEIGHT" --ortho-scope all)
  s=$(date +%s.%N)
  "$BIN" finetune -q --model "$out/m1" --fasta "$out/t2/seqs.fa" --labels "$out/t2/labels.tsv" \
    --out "$out/$mode" --epochs "$TUNE_EPOCHS" --lr "$LR" --batch-size 64 --seed 5 "${flag[@]}"
  e=$(date +%s.%N)
  new_r=$(awk -F'\t' '$1 == "transformer" && $2 == "test" { print $5 }' "$out/$mode/metrics.tsv")
  "$BIN" forgetting --before "$out/m1" --after "$out/$mode" --fasta "$out/t1_test.fa" \
    --labels "$out/t1_test.tsv" -o "$out/$mode.tsv" 2> "$out/$mode.log"
  mean=$(awk -F'\t' 'NR > 1 { s += $3; n++ } END { printf "%.4f", s / n }' "$out/$mode.tsv")
  drop=$(sed -nE 's/.*old-task mean pearson ([-0-9.]+) before, ([-0-9.]+) after, drop ([-0-9.]+).*/\1 -> \2 (drop \3)/p' "$out/$mode.log")
  printf '%-14s mean forgetting %s nats | old-task r %s | new-task test r %s | %.0f s\n' \
    "$mode" "$mean" "$drop" "$new_r" "$(echo "$e - $s" | bc)"
done
