#!/usr/bin/env bash
# Runs workflows/Snakefile for real (small simulated data, 2 shards) and checks that the
# merged interaction table equals the unsharded CLI run, byte for byte.
# Usage: bash workflows/test.sh [path/to/cisformer]   (needs python3 and network to PyPI once)
set -euo pipefail
cd "$(dirname "$0")/.."
cis=${1:-$PWD/target/debug/cisformer}
venv=${SNAKEMAKE_VENV:-$PWD/target/snakemake-venv}
if [ ! -x "$venv/bin/snakemake" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q snakemake
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$venv/bin/snakemake" -q -c2 -s workflows/Snakefile --configfile workflows/config.yaml \
  --directory "$out" \
  --config cisformer="$cis" outdir=results shards=2 sim_n=300 sim_len=120 epochs=1 \
  train_args="--k 3 --d-model 16 --heads 2 --layers 1 --ffn 32" \
  validate_args="--top 2 --draws 2 --max-seqs 20 --bootstrap 200 --spacing-n 4 --spacing-max 20 --spacing-step 5"
r="$out/results"
for f in report.html interactions.tsv validation.tsv spacing.tsv heads.tsv sites.tsv model/model.safetensors; do
  [ -s "$r/$f" ] || { echo "workflow test: $f missing" >&2; exit 1; }
done
"$cis" interactions -q --model "$r/model" --fasta "$r/data/seqs.fa" --motifs "$r/data/motifs.meme" \
  --sites "$r/sites.tsv" -o "$out/unsharded.tsv"
cmp "$r/interactions.tsv" "$out/unsharded.tsv"
echo "workflow test: Snakefile ran with 2 shards; merged table = unsharded run ($(wc -l < "$out/unsharded.tsv") lines)"
