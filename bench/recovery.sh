#!/usr/bin/env bash
# Recovery of the planted grammar: simulate (default grammar, seed 7), train, then run
# `heads` and `interactions --score both` on fresh sequences of the same grammar (seed 8)
# and score the tables against truth.tsv (AUPRC and precision@k of the interacting pairs
# among all motif pairs, planted above decoys, planted motifs named by heads), for the three
# rankings (joint, auc, auc-lower, p-value). Usage: bench/recovery.sh [WORKDIR]
# Env: N (20000), EPOCHS (8), N_EVAL (2000), TRAIN_ARGS (model/optimiser flags).
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-target/bench-recovery}
N=${N:-20000} EPOCHS=${EPOCHS:-8} N_EVAL=${N_EVAL:-2000}
TRAIN_ARGS=${TRAIN_ARGS:---k 4 --d-model 64 --heads 8 --layers 2 --ffn 128 --pooling mean --batch-size 16 --lr 1e-3 --conv-kernel 9 --relative-bias 200 --relative-bias-lr 10}
cargo build --release --quiet && cargo build --release --quiet --example recovery
B=target/release/cisformer R=target/release/examples/recovery
mkdir -p "$W"
$B simulate --out "$W/sim" --n "$N" --len 200 --seed 7 -q
$B simulate --out "$W/eval" --n "$N_EVAL" --len 200 --seed 8 -q
# shellcheck disable=SC2086
$B train --fasta "$W/sim/seqs.fa" --labels "$W/sim/labels.tsv" --out "$W/model" --force \
  --epochs "$EPOCHS" $TRAIN_ARGS -q
tail -n 1 "$W/model/train_log.tsv"
$B heads --model "$W/model" --fasta "$W/eval/seqs.fa" --motifs "$W/eval/motifs.meme" -o "$W/heads.tsv" -q
for rank in joint auc auc-lower p-value; do
  $B interactions --model "$W/model" --fasta "$W/eval/seqs.fa" --motifs "$W/eval/motifs.meme" \
    --score both --rank-by "$rank" --per-pair "$W/pairs_$rank.tsv" -o "$W/interactions_$rank.tsv" -q
  echo "== ranked by $rank"
  $R "$W/eval/truth.tsv" "$W/pairs_$rank.tsv" "$W/heads.tsv"
done
