#!/usr/bin/env bash
# Tests of workflows/ (run by .ci/run with the debug binary):
# 1. main.nf lint (Nextflow itself cannot run here): workflows/check_nf.py.
# 2. The Snakefile for real on a small simulated data set with 2 shards: the merged tables equal
#    one unsharded `interactions` run as the demo calls it (no --sites), byte for byte.
# 3. Own-data mode: `simulate=false` (also False/0/no) selects it, and a real run on a separate
#    200-sequence FASTA + labels uses those files and simulates nothing.
# Usage: bash workflows/test.sh [path/to/cisformer]   (needs python3 and network to PyPI once)
set -euo pipefail
cd "$(dirname "$0")/.."
cis=${1:-$PWD/target/debug/cisformer}
fail() { echo "workflow test: $*" >&2; exit 1; }

python3 workflows/check_nf.py workflows/main.nf

venv=${SNAKEMAKE_VENV:-$PWD/target/snakemake-venv}
if [ ! -x "$venv/bin/snakemake" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q snakemake
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
smk() {   # smk WORKDIR ARGS...
  local dir=$1
  shift
  "$venv/bin/snakemake" -q -c2 -s workflows/Snakefile --configfile workflows/config.yaml \
    --directory "$dir" "$@"
}
# Tiny settings: a one-layer model, one epoch, a few validation draws.
tiny=(cisformer="$cis" shards=2 epochs=1
  train_args="--k 3 --d-model 16 --heads 2 --layers 1 --ffn 32"
  heads_args="--importance-n 32"
  validate_args="--top 2 --draws 2 --max-seqs 20 --bootstrap 200 --spacing-n 4 --spacing-max 20 --spacing-step 5")

# --- simulated data (the default) ---
smk "$out" --config "${tiny[@]}" outdir=results sim_n=300 sim_len=120
r="$out/results"
for f in report.html interactions.tsv pairs.tsv validation.tsv spacing.tsv heads.tsv focus.tsv \
  sites.tsv model/model.safetensors data/summary.json; do
  [ -s "$r/$f" ] || fail "$f missing"
done
grep -q 'Predicted vs observed' "$r/report.html" || fail "report lacks the predicted-vs-observed section"
grep -q 'No predictions were given' "$r/report.html" && fail "report was not given predictions and labels"
"$cis" interactions -q --model "$r/model" --fasta "$r/data/seqs.fa" --motifs "$r/data/motifs.meme" \
  --per-pair "$out/unsharded_pairs.tsv" -o "$out/unsharded.tsv"
cmp "$r/interactions.tsv" "$out/unsharded.tsv"
cmp "$r/pairs.tsv" "$out/unsharded_pairs.tsv"
echo "workflow test: Snakefile ran with 2 shards; merged table = unsharded run ($(wc -l < "$out/unsharded.tsv") lines)"

# --- own data: simulate=false (its own working directory, so its job records stand alone) ---
wd="$out/ownwd"
"$cis" simulate -q --out "$wd/own_src" --n 200 --len 120 --seed 11
own=(fasta=own_src/seqs.fa labels=own_src/labels.tsv motifs=own_src/motifs.meme)   # relative to --directory
for v in false False 0 no; do
  rules=$(smk "$wd" --list-rules --config "${tiny[@]}" simulate="$v" "${own[@]}" outdir=own)
  grep -qx own_data <<< "$rules" && ! grep -qx simulate <<< "$rules" \
    || fail "simulate=$v did not select own-data mode (rules: $(echo $rules))"
done
rules=$(smk "$wd" --list-rules --config "${tiny[@]}" simulate=true)
grep -qx simulate <<< "$rules" || fail "simulate=true did not select the simulation"
smk "$wd" --config "${tiny[@]}" simulate=false "${own[@]}" outdir=own
o="$wd/own"
for f in report.html interactions.tsv pairs.tsv validation.tsv heads.tsv model/model.safetensors; do
  [ -s "$o/$f" ] || fail "own-data run: $f missing"
done
# It used the given files and simulated nothing.
cmp "$o/data/seqs.fa" "$wd/own_src/seqs.fa" || fail "own-data run: data/seqs.fa is not the given FASTA"
cmp "$o/data/labels.tsv" "$wd/own_src/labels.tsv" || fail "own-data run: labels differ from the given ones"
for f in summary.json truth.tsv sites.bed noise_free.tsv; do
  [ ! -e "$o/data/$f" ] || fail "own-data run simulated: data/$f exists"
done
n=$(($(wc -l < "$o/model/split.tsv") - 1))
[ "$n" = 200 ] || fail "own-data model saw $n sequences, not the 200 given"
# Snakemake's job records (one JSON per output file) name the rule that made each file.
ran=$(cat "$wd"/.snakemake/metadata/* | grep -o '"rule": *"[a-z_]*"' | sort -u | tr -d '" ' | tr '\n' ' ')
grep -q 'rule:own_data' <<< "$ran" || fail "own-data run: rule own_data did not run (ran: $ran)"
grep -q 'rule:simulate' <<< "$ran" && fail "own-data run executed rule simulate (ran: $ran)"
echo "workflow test: own-data mode (simulate=false/False/0/no) used the given 200 sequences and simulated nothing"
