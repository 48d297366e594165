#!/usr/bin/env bash
# cisformer extract -s vs bedtools getfasta -s on a 200 Mbp genome and 1M intervals.
# Run from the repository root:  bash bench/extract.sh
# Needs: cargo, python3, bedtools (and samtools, optional, to cross-check the .fai).
# Inputs are generated once (deterministic) into bench/out/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out/extract
mkdir -p "$out"
cargo build --release --quiet
bin=target/release/cisformer

if [[ ! -s $out/intervals.bed ]]; then
  echo "generating 200 Mbp genome + 1M intervals in $out ..." >&2
  python3 bench/make_extract_data.py "$out"
fi
G=$out/genome.fa B=$out/intervals.bed
# Index once, before timing (both tools read GENOME.fai); check it against samtools.
"$bin" index "$G"
if command -v samtools >/dev/null; then
  samtools faidx "$G" --fai-idx "$out/samtools.fai"
  cmp "$G.fai" "$out/samtools.fai" && echo "index: identical to samtools faidx" >&2
fi
cat "$G" "$B" > /dev/null   # warm the page cache for both tools

# Wall time of one run writing to $2 through stdout (as bedtools does). The previous output
# is deleted and dirty pages flushed first, so one run's writeback never lands in another's.
run() {
  local cmd=$1 dest=$2 t0 t1
  rm -f "$dest"; sync
  t0=$(date +%s.%N); sh -c "$cmd > '$dest'"; t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
best_of_3() {
  local best= t
  for _ in 1 2 3; do
    t=$(run "$1" "$2")
    if [[ -z $best ]] || (( $(echo "$t < $best" | bc -l) )); then best=$t; fi
  done
  echo "$best"
}

bt=$(best_of_3 "bedtools getfasta -fi '$G' -bed '$B' -s" "$out/bedtools.fa")
cf=$(best_of_3 "'$bin' extract -f '$G' -b '$B' -s" "$out/cisformer.fa")
cmp "$out/bedtools.fa" "$out/cisformer.fa"
echo "outputs identical ($(wc -c < "$out/cisformer.fa") bytes)" >&2
# -o FILE goes through the atomic writer (temp file, fsync, rename): durable, so slower.
rm -f "$out/cisformer_o.fa"; sync
t0=$(date +%s.%N); "$bin" extract -f "$G" -b "$B" -s -o "$out/cisformer_o.fa"; t1=$(date +%s.%N)
cf_o=$(echo "$t1 - $t0" | bc -l)
cmp "$out/bedtools.fa" "$out/cisformer_o.fa"

cores=$(nproc)
printf '| intervals | genome | bedtools getfasta -s > file (s) | cisformer extract -s > file (s) | speed-up | cisformer -o file, fsync'"'"'d (s) | cores |\n'
printf '|---|---|---|---|---|---|---|\n'
printf '| %s | 200 Mbp | %.2f | %.2f | %.1fx | %.2f | %s |\n' "$(wc -l < "$B")" "$bt" "$cf" "$(echo "$bt / $cf" | bc -l)" "$cf_o" "$cores"
echo "(best of 3 runs each, page cache warm; output $(wc -c < "$out/cisformer.fa") bytes)"
