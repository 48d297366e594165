#!/usr/bin/env bash
# Cost of the attention analysis next to a plain prediction, same model, same FASTA, one run:
# wall time of `predict`, `interactions` (attention) and `interactions --score attn-grad`,
# their ratios (goals: <= 2x and <= 4x predict), and peak RSS of `interactions` on N_SMALL
# and N_LARGE sequences (goal: equal within 10%; memory must not grow with the input).
# Both RSS runs use --score attention, so they compare like with like.
# Usage: bench/analysis.sh MODEL_DIR [WORKDIR]   Env: N_SMALL (10000), N_LARGE (100000),
#   BIN (a cisformer binary to measure instead of building target/release/cisformer)
set -euo pipefail
cd "$(dirname "$0")/.."
M=${1:?usage: bench/analysis.sh MODEL_DIR [WORKDIR]}
W=${2:-target/bench-analysis}
N_SMALL=${N_SMALL:-10000} N_LARGE=${N_LARGE:-100000}
B=${BIN:-target/release/cisformer}
[ -n "${BIN:-}" ] || cargo build --release --quiet
mkdir -p "$W"
$B simulate --out "$W/small" --n "$N_SMALL" --len 200 --seed 11 -q
$B simulate --out "$W/large" --n "$N_LARGE" --len 200 --seed 12 -q
run() { # label, command...: prints "label seconds max_rss_kb"
  local label=$1; shift
  /usr/bin/time -f "$label %e %M" "$@" -q 2>&1 >/dev/null | tail -n 1
}
S=$W/small
p=$(run predict $B predict --model "$M" --fasta "$S/seqs.fa" -o "$W/pred.tsv")
a=$(run interactions $B interactions --model "$M" --fasta "$S/seqs.fa" --motifs "$S/motifs.meme" --score attention -o "$W/i.tsv")
g=$(run attn_grad $B interactions --model "$M" --fasta "$S/seqs.fa" --motifs "$S/motifs.meme" --score attn-grad -o "$W/g.tsv")
l=$(run interactions_large $B interactions --model "$M" --fasta "$W/large/seqs.fa" --motifs "$W/large/motifs.meme" --score attention -o "$W/il.tsv")
printf '%s\n' "$p" "$a" "$g" "$l"
awk -v p="$p" -v a="$a" -v g="$g" -v l="$l" 'BEGIN {
  split(p, P, " "); split(a, A, " "); split(g, G, " "); split(l, L, " ");
  printf "interactions / predict: %.2fx (goal <= 2x); attn-grad / predict: %.2fx (goal <= 4x)\n", A[2] / P[2], G[2] / P[2];
  printf "peak RSS: %.0f MiB at small, %.0f MiB at large: %+.1f%% (goal within 10%%)\n", A[3] / 1024, L[3] / 1024, 100 * (L[3] - A[3]) / A[3] }'
