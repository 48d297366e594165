#!/usr/bin/env bash
# validate + patch on planted-grammar data: the README's "Measured once" run.
# Run from the repository root:  bash bench/validate.sh
# Trains a deliberately small model (early stop after the first epoch without improvement),
# then checks the five planted pairs of truth.tsv (cooperative, long-range, decoys).
# Outputs go to bench/out/validate/ (git-ignored). Takes tens of minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out/validate
mkdir -p "$out"
cargo build --release --quiet
bin=target/release/cisformer

[[ -s $out/sim/seqs.fa ]] || "$bin" simulate -q --n 10000 --len 200 --seed 7 --out "$out/sim"
[[ -s $out/model/model.safetensors ]] || "$bin" train -q --fasta "$out/sim/seqs.fa" \
  --labels "$out/sim/labels.tsv" --out "$out/model" --k 4 --d-model 32 --heads 4 --layers 2 \
  --ffn 64 --epochs 6 --patience 1 --no-baseline
tail -n +2 "$out/model/train_log.tsv" | cut -f1,5 | sed 's/^/epoch, val_pearson: /' >&2
"$bin" interactions -q --model "$out/model" --fasta "$out/sim/seqs.fa" \
  --motifs "$out/sim/motifs.meme" -o "$out/interactions.tsv"
pairs=()
while IFS=$'\t' read -r kind _ _ a b _; do
  [[ $kind == kind || $kind == single ]] && continue
  pairs+=(--pair "$a,$b")
done < "$out/sim/truth.tsv"
/usr/bin/time -f "validate: %e s wall, %M KiB peak" "$bin" validate --model "$out/model" \
  --fasta "$out/sim/seqs.fa" --motifs "$out/sim/motifs.meme" \
  --interactions "$out/interactions.tsv" --top 1 "${pairs[@]}" --draws 5 --max-seqs 200 \
  --spacing-n 16 --spacing-max 150 --spacing-step 3 --spacing-out "$out/spacing.tsv" \
  -o "$out/validation.tsv"
cut -f1,2,3,6-9,12-18 "$out/validation.tsv" | column -t
/usr/bin/time -f "patch: %e s wall" "$bin" patch --model "$out/model" --fasta "$out/sim/seqs.fa" \
  --motifs "$out/sim/motifs.meme" --pair Spi1,Irf1 --max-seqs 200 -o "$out/patch.tsv"
column -t "$out/patch.tsv"
"$bin" report -q --model "$out/model" --validation "$out/validation.tsv" \
  --spacing "$out/spacing.tsv" --patch "$out/patch.tsv" -o "$out/report.html"
echo "report: $out/report.html" >&2
