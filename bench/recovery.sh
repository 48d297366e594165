#!/usr/bin/env bash
# Recovery of the planted grammar: simulate (default grammar, seed 7), train, then run
# `heads` and `interactions --score both` on fresh sequences of the same grammar (seed 8)
# and score the tables against truth.tsv (AUPRC and precision@k of the interacting pairs
# among all motif pairs, planted above decoys, planted motifs named by heads), for the three
# rankings (joint, auc, auc-lower, p-value). Usage: bench/recovery.sh [WORKDIR]
# Env: N (20000), EPOCHS (8), N_EVAL (2000), TRAIN_ARGS (model/optimiser flags),
#   SEEDS (training seeds, one model each; "1"; the README reports seeds 1 and 2).
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
for seed in ${SEEDS:-1}; do
  M="$W/model_s$seed"
  echo "== training seed $seed"
  # shellcheck disable=SC2086
  $B train --fasta "$W/sim/seqs.fa" --labels "$W/sim/labels.tsv" --out "$M" --force \
    --epochs "$EPOCHS" --seed "$seed" $TRAIN_ARGS -q
  tail -n 1 "$M/train_log.tsv"
  $B heads --model "$M" --fasta "$W/eval/seqs.fa" --motifs "$W/eval/motifs.meme" -o "$M/heads.tsv" -q
  for rank in joint auc auc-lower p-value; do
    $B interactions --model "$M" --fasta "$W/eval/seqs.fa" --motifs "$W/eval/motifs.meme" \
      --score both --rank-by "$rank" --per-pair "$M/pairs_$rank.tsv" -o "$M/interactions_$rank.tsv" -q
    echo "== seed $seed, ranked by $rank"
    $R "$W/eval/truth.tsv" "$M/pairs_$rank.tsv" "$M/heads.tsv"
  done
done
