#!/usr/bin/env bash
# Cheap screen of training variants before a full 20k run: the first N sequences of the
# planted-grammar set (default grammar, seed 7), EPOCHS epochs of the recovery recipe, one
# variant per extra flag set, two at a time on one thread each. Prints each variant's last
# validation Pearson r and the mean of (prediction − label) over all N sequences, on the
# raw output scale (--no-calibration): a model whose evaluation differs from its training
# (dropout) shows a shift there.
# Usage: bench/screen.sh [WORKDIR]   Env: N (4000), EPOCHS (5), BASE (recipe flags),
#   VARIANTS (';'-separated extra flags, each a variant; "" is the recipe itself).
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-target/bench-screen}
N=${N:-4000} EPOCHS=${EPOCHS:-5}
BASE=${BASE:---k 4 --d-model 64 --heads 8 --layers 2 --ffn 128 --pooling mean --batch-size 16 --lr 1e-3 --conv-kernel 9 --relative-bias 200 --relative-bias-lr 10 --seed 1}
VARIANTS=${VARIANTS:-;--pooling max;--conv-kernel 15;--dropout 0}
cargo build --release --quiet
B=target/release/cisformer
mkdir -p "$W"
$B simulate --out "$W/sim" --n "$N" --len 200 --seed 7 -q
IFS=';' read -ra VS <<< "$VARIANTS"
run() {
  local i=$1 extra=$2
  # shellcheck disable=SC2086
  $B train -q -j 1 --fasta "$W/sim/seqs.fa" --labels "$W/sim/labels.tsv" --out "$W/v$i" \
    --force --no-baseline --no-calibration --epochs "$EPOCHS" $BASE $extra
}
for ((i = 0; i < ${#VS[@]}; i += 2)); do
  run "$i" "${VS[i]}" &
  if ((i + 1 < ${#VS[@]})); then run "$((i + 1))" "${VS[i + 1]}" & fi
  wait
done
printf 'variant\tval_pearson\tmean(pred - label)\n'
for i in "${!VS[@]}"; do
  r=$(tail -n 1 "$W/v$i/train_log.tsv" | cut -f5)
  shift_=$(awk -F'\t' 'NR==FNR { if (FNR > 1) y[$1] = $2; next }
    FNR > 1 { s += $2 - y[$1]; n++ } END { printf "%.3f", s / n }' \
    "$W/sim/labels.tsv" "$W/v$i/predictions.tsv")
  printf '%s\t%s\t%s\n' "${VS[i]:-(recipe)}" "$r" "$shift_"
done
