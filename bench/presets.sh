#!/usr/bin/env bash
# Held-out r of each `train --preset` with no model flags, against the noise ceiling, and its
# wall time: on the default grammar (`simulate --n 20000 --seed 7`) and on the 24-motif
# grammar of bench/grammar24.toml (same size and seed). One model at a time, all cores.
# Appends to WORKDIR/presets.tsv (grammar, preset, epochs run, best epoch, test r, fresh r,
# ridge r, ceiling, seconds) and prints it; fresh r is `evaluate` on 2,000 new sequences
# (seed 8) of the same grammar.
# Usage: bench/presets.sh [WORKDIR]
# Env: PRESETS ("fast default large"), GRAMMARS ("default g24"), N (20000),
#   BIN (a cisformer binary to use instead of building target/release/cisformer),
#   MOTIFS (the JASPAR MEME file the 24-motif grammar names motifs from).
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-target/bench-presets}
N=${N:-20000}
MOTIFS=${MOTIFS:-../shared/data/motifs/JASPAR2024_CORE_vertebrates_nr.meme}
B=${BIN:-target/release/cisformer}
[ -n "${BIN:-}" ] || cargo build --release --quiet
mkdir -p "$W"
read -ra presets <<< "${PRESETS:-fast default large}"
read -ra grammars <<< "${GRAMMARS:-default g24}"
sim() { # grammar, dir, n, seed
  if [ "$1" = g24 ]; then
    $B simulate -q --grammar bench/grammar24.toml --motifs "$MOTIFS" --out "$2" --n "$3" --seed "$4"
  else
    $B simulate -q --grammar "$1" --out "$2" --n "$3" --seed "$4"
  fi
}
metric() { # metrics.tsv, model, set -> pearson
  awk -F'\t' -v m="$2" -v s="$3" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    $c["model"] == m && $c["set"] == s { print $c["pearson"]; exit }' "$1"
}
out="$W/presets.tsv"
# Rows of earlier runs in the same WORKDIR (other grammars or presets) are kept.
[ -s "$out" ] || printf 'grammar\tpreset\tepochs\tbest_epoch\ttest_r\tfresh_r\tridge_r\tceiling\tseconds\n' > "$out"
for g in "${grammars[@]}"; do
  [ -s "$W/$g/sim/labels.tsv" ] || sim "$g" "$W/$g/sim" "$N" 7
  [ -s "$W/$g/fresh/labels.tsv" ] || sim "$g" "$W/$g/fresh" 2000 8
  ceiling=$(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['outputs'][0]['noise_ceiling'], 3))" "$W/$g/sim/summary.json")
  for p in "${presets[@]}"; do
    m="$W/$g/$p"
    t0=$(date +%s)
    $B train -q --preset "$p" --fasta "$W/$g/sim/seqs.fa" --labels "$W/$g/sim/labels.tsv" --out "$m" --force
    secs=$(( $(date +%s) - t0 ))
    $B evaluate -q --model "$m" --fasta "$W/$g/fresh/seqs.fa" --labels "$W/$g/fresh/labels.tsv" -o "$m/fresh.tsv"
    fresh=$(awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } { print $c["pearson"]; exit }' "$m/fresh.tsv")
    epochs=$(( $(wc -l < "$m/train_log.tsv") - 1 ))
    best=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['extra'].get('best_epoch', '-'))" "$m/meta.json" 2>/dev/null || echo -)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$g" "$p" "$epochs" "$best" \
      "$(metric "$m/metrics.tsv" transformer test)" "$fresh" "$(metric "$m/metrics.tsv" ridge test)" \
      "$ceiling" "$secs" >> "$out"
  done
done
column -t -s $'\t' "$out"
