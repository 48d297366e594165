#!/usr/bin/env bash
# Times `cisformer simulate --n 20000 --len 200` (issue goal: under 5 s on a 2-core machine).
# Usage: bash bench/simulate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for i in 1 2 3; do
  s=$(date +%s.%N)
  ./target/release/cisformer simulate -q --n 20000 --len 200 --seed 7 --out "$out/sim"
  e=$(date +%s.%N)
  printf 'run %d: %.2f s\n' "$i" "$(echo "$e - $s" | bc)"
done
grep -A1 noise_ceiling "$out/sim/summary.json" | head -2
