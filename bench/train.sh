#!/usr/bin/env bash
# CPU training/inference throughput: cisformer vs PyTorch on the same encoder, same run.
# Usage: bench/train.sh [PYTHON] (a Python with torch; default: python3)
# Config: d_model 128, 8 heads, 4 layers, 200 tokens, batch 32, 2 threads, median of STEPS.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python3}
D=128 H=8 N=4 L=200 B=32 STEPS=${STEPS:-7} THREADS=${THREADS:-2}
cargo bench --bench train --quiet --no-run >/dev/null 2>&1 || cargo bench --bench train --no-run
ours=$(RAYON_NUM_THREADS=$THREADS cargo bench --bench train --quiet -- $D $H $N $L $B $STEPS)
echo "$ours"
theirs=$(OMP_NUM_THREADS=$THREADS "$PY" bench/train_torch.py $D $H $N $L $B $STEPS $THREADS)
echo "$theirs"
num() { sed -E "s/.*$1 ([0-9.]+) seq.*/\1/" <<<"$2"; }
awk -v a="$(num train "$ours")" -v b="$(num train "$theirs")" \
    -v c="$(num infer "$ours")" -v d="$(num infer "$theirs")" \
    'BEGIN { printf "ratio cisformer/torch: train %.2fx, infer %.2fx\n", a / b, c / d }'
