#!/usr/bin/env bash
# Calibration of every call the analysis makes: train on data with no interaction at all
# (`simulate --grammar null`, one model per seed in NULL_SEEDS) and on the default grammar
# (cooperative pairs, a long-range pair, decoys with main effects); run `heads`,
# `interactions` (the table and --per-pair) and `validate --top 20` with defaults on
# fresh sequences (`heads` also scans six JASPAR motifs the grammars never plant, so that
# focus calls on motifs without an effect can be counted); then bench/calibration.py counts the calls at q < 0.05, the share not
# planted, AUPRC in each table's own order, and writes the null p-values' QQ plot.
# Usage: bench/calibration.sh [WORKDIR]
# Env: N (20000), N_FRESH (3000), EPOCHS (the preset's), NULL_SEEDS ("1 2 3"),
#   DEFAULT_SEEDS ("1"; several measure how stable the default grammar's calls are; either may be set empty), TRAIN_ARGS
#   (model flags; none: `train`'s default preset), BIN (a cisformer binary instead of building one), JOBS
#   (models trained, and runs analysed, at once, one thread each; 2), KEEP=1 (keep what an
#   earlier run of the same WORKDIR finished: data, trained models, analyses, and resume a
#   model stopped part-way from its last epoch; the run can then be split over several
#   sittings).
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-target/bench-calibration}
N=${N:-20000} N_FRESH=${N_FRESH:-3000} JOBS=${JOBS:-2}
TRAIN_ARGS=${TRAIN_ARGS:-}
[ -z "${EPOCHS:-}" ] || TRAIN_ARGS="--epochs $EPOCHS $TRAIN_ARGS"
B=${BIN:-target/release/cisformer}
[ -n "${BIN:-}" ] || cargo build --release --quiet
mkdir -p "$W"
read -ra null_seeds <<< "${NULL_SEEDS-1 2 3}"
read -ra default_seeds <<< "${DEFAULT_SEEDS-1}"
# The default grammar first: its models are the ones whose power is in question.
runs=()
for s in "${default_seeds[@]}"; do runs+=("default:$s"); done
for s in "${null_seeds[@]}"; do runs+=("null:$s"); done
# The grammar's motifs plus six it never plants (none resembles a planted one).
unplanted="GATA1 FOXA2 SOX2 TP53 REST MAX"
focus_motifs="$W/focus_motifs.meme"
{
  cat data/motifs/sim_motifs.meme
  awk -v want="$unplanted" 'BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) ok[w[i]] = 1 }
    /^MOTIF/ { keep = ($3 in ok) } keep' data/motifs/JASPAR2024_CORE_vertebrates_nr.meme
} > "$focus_motifs"
# Each run: its own training set (seed 100 + s) and fresh sequences (seed 200 + s).
KEEP=${KEEP:-0}
prepare() {
  local g=${1%%:*} s=${1##*:} d="$W/${1/:/_}"
  if [ "$KEEP" = 1 ] && [ -s "$d/train/labels.tsv" ] && [ -s "$d/fresh/labels.tsv" ]; then return; fi
  rm -rf "$d" && mkdir -p "$d"
  $B simulate -q --grammar "$g" --n "$N" --seed $((100 + s)) --out "$d/train"
  $B simulate -q --grammar "$g" --n "$N_FRESH" --seed $((200 + s)) --out "$d/fresh"
}
train() {
  local s=${1##*:} d="$W/${1/:/_}" again=--force
  if [ "$KEEP" = 1 ] && [ -s "$d/model/metrics.tsv" ]; then return; fi
  # A model stopped part-way continues from its last epoch.
  if [ "$KEEP" = 1 ] && [ -d "$d/model/checkpoint" ]; then again=--resume; fi
  # shellcheck disable=SC2086
  $B train -q -j 1 --fasta "$d/train/seqs.fa" --labels "$d/train/labels.tsv" --out "$d/model" \
    $again --seed "$s" --no-baseline $TRAIN_ARGS
}
analyse() {
  local d="$W/${1/:/_}" f
  if [ "$KEEP" = 1 ] && [ -s "$d/validation.tsv" ]; then return; fi
  f="$d/fresh/seqs.fa"
  $B heads -q -j 1 --model "$d/model" --fasta "$f" --motifs "$focus_motifs" \
    --out "$d/heads.tsv" --focus "$d/focus.tsv"
  $B interactions -q -j 1 --model "$d/model" --fasta "$f" --out "$d/interactions.tsv" \
    --per-pair "$d/pairs.tsv"
  $B validate -q -j 1 --model "$d/model" --fasta "$f" --interactions "$d/interactions.tsv" \
    --top 20 --out "$d/validation.tsv"
}
for r in "${runs[@]}"; do prepare "$r"; done
# Runs $1 (a function) on every run, JOBS at a time; any failure stops the script.
each() {
  local i j pids
  for ((i = 0; i < ${#runs[@]}; i += JOBS)); do
    pids=()
    for ((j = i; j < i + JOBS && j < ${#runs[@]}; j++)); do "$1" "${runs[j]}" & pids+=($!); done
    for j in "${pids[@]}"; do wait "$j"; done
  done
}
each train
each analyse
python3 bench/calibration.py "$W" "${runs[@]}"
