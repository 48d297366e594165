#!/usr/bin/env bash
# Spacing rules: does `validate`'s spacing scan find each interacting pair's planted window?
# Simulates bench/spacing_grammar.toml (the default grammar, plus every interacting pair
# also planted outside its window with no effect, so spacing is learnable), trains the
# recovery model on 20,000 sequences (seed 7), runs `interactions` and `validate` on 2,000
# fresh ones (seed 8) for the five pairs of truth.tsv, then prints per pair the best gap,
# and the best cooperativity inside and outside the planted window (orientations the
# grammar admits). Usage: bench/spacing.sh [WORKDIR]   Env: N, EPOCHS, TRAIN_ARGS, and
# CISFORMER (a binary to use instead of building target/release/cisformer).
# Takes about 45 minutes on 2 idle cores.
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-bench/out/spacing}
N=${N:-20000} EPOCHS=${EPOCHS:-10}
TRAIN_ARGS=${TRAIN_ARGS:---k 4 --d-model 64 --heads 4 --layers 2 --ffn 128 --pooling mean --batch-size 16 --lr 1e-3 --conv-kernel 9 --relative-bias 200 --relative-bias-lr 30}
B=${CISFORMER:-target/release/cisformer}
[[ -n ${CISFORMER:-} ]] || cargo build --release --quiet
G=bench/spacing_grammar.toml
mkdir -p "$W"
[[ -s $W/sim/seqs.fa ]] || $B simulate -q --grammar $G --out "$W/sim" --n "$N" --len 200 --seed 7
[[ -s $W/eval/seqs.fa ]] || $B simulate -q --grammar $G --out "$W/eval" --n 2000 --len 200 --seed 8
# shellcheck disable=SC2086
[[ -s $W/model/model.safetensors ]] || $B train -q --fasta "$W/sim/seqs.fa" \
  --labels "$W/sim/labels.tsv" --out "$W/model" --epochs "$EPOCHS" $TRAIN_ARGS
tail -n 1 "$W/model/train_log.tsv" | cut -f1,5 | sed 's/^/epoch, val_pearson: /'
$B interactions -q --model "$W/model" --fasta "$W/eval/seqs.fa" --motifs "$W/eval/motifs.meme" \
  -o "$W/interactions.tsv"
pairs=()
while IFS=$'\t' read -r kind _ _ a b _; do
  [[ $kind == kind || $kind == single ]] && continue
  pairs+=(--pair "$a,$b")
done < "$W/eval/truth.tsv"
/usr/bin/time -f "validate: %e s wall" $B validate -q --model "$W/model" --fasta "$W/eval/seqs.fa" \
  --motifs "$W/eval/motifs.meme" --interactions "$W/interactions.tsv" --top 1 "${pairs[@]}" \
  --draws 5 --max-seqs 200 --spacing-n 16 --spacing-max 150 --spacing-step 3 \
  --spacing-out "$W/spacing.tsv" -o "$W/validation.tsv"
cut -f1,2,6-9,12-18 "$W/validation.tsv" | column -t
# Inside vs outside the window, per pair, over the orientations the grammar admits
# (scan orientation = strands of A then B: ++/-- tandem, +- convergent, -+ divergent).
awk -F'\t' '
  FNR == 1 { next }
  FILENAME == ARGV[1] {
    if ($1 == "single") next
    key = $4 "\t" $5; kind[key] = $1; lo[key] = $9; hi[key] = $10; ori[key] = $11; next
  }
  {
    key = $1 "\t" $2; if (!(key in kind)) key = $2 "\t" $1; if (!(key in kind)) next
    o = $3; want = ori[key]
    okay = want == "any" || (want == "tandem" && (o == "++" || o == "--")) ||
           (want == "convergent" && o == "+-") || (want == "divergent" && o == "-+")
    if (!okay) next
    d = $4 + 0; c = $5 + 0
    if (d >= lo[key] && d <= hi[key]) { if (!(key in bin) || c > bin[key]) bin[key] = c }
    else { if (!(key in bout) || c > bout[key]) bout[key] = c }
    if (!(key in best) || c > best[key]) { best[key] = c; bestd[key] = d }
  }
  END {
    print "motif_a\tmotif_b\tkind\twindow_bp\tbest_gap_bp\tbest_inside\tbest_outside\toptimum_in_window"
    for (k in kind) if (k in best)
      printf "%s\t%s\t%d-%d\t%d\t%.3f\t%.3f\t%s\n", k, kind[k], lo[k], hi[k], bestd[k], bin[k], bout[k],
        (bestd[k] >= lo[k] && bestd[k] <= hi[k]) ? "yes" : "no"
  }' "$W/eval/truth.tsv" "$W/spacing.tsv" | column -t -s $'\t'
# Does the model itself tell in-window from off-window pairs? On the held-out sequences that
# carry a pair planted in its window, or only outside it (no pair effect there), the mean
# prediction and the mean noise-free activity; `reproduced` = the prediction gap over the
# true gap. A flat spacing curve with a small `reproduced` is the model's limit, not the scan's.
$B predict -q --model "$W/model" --fasta "$W/eval/seqs.fa" -o "$W/eval_pred.tsv"
awk -F'\t' '
  FNR == 1 && FILENAME != ARGV[3] { next }
  FILENAME == ARGV[1] { pred[$1] = $2; next }
  FILENAME == ARGV[2] { truth[$1] = $2; next }
  {
    t = $7; off = sub(/^off_window:/, "", t)
    if (t == "single" || t ~ /^decoy:/) next
    if (off) offw[$1 "\t" t] = 1; else inw[$1 "\t" t] = 1
    tags[t] = 1
  }
  END {
    for (t in tags) {
      ni = no = pi = po = ti = to = 0
      for (s in pred) {
        if ((s "\t" t) in inw) { ni++; pi += pred[s]; ti += truth[s] }
        else if ((s "\t" t) in offw) { no++; po += pred[s]; to += truth[s] }
      }
      if (ni == 0 || no == 0) continue
      printf "%s\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.2f\n", t, ni, no, pi / ni, po / no, ti / ni,
        to / no, (pi / ni - po / no) / (ti / ni - to / no)
    }
  }' "$W/eval_pred.tsv" "$W/eval/noise_free.tsv" "$W/eval/sites.bed" |
  sort | sed '1i pair\tn_in\tn_off\tpred_in\tpred_off\ttrue_in\ttrue_off\treproduced' |
  column -t -s $'\t'
