#!/usr/bin/env bash
# Fuzzes every parser target in fuzz/ for SECONDS each (default 600) and prints a Markdown
# table: target, minutes run, executions, crashes. Exits 1 if any target crashed, hung or
# ran out of memory (the input is then in fuzz/artifacts/TARGET/: make it a regression test).
# Run from anywhere:  bash bench/fuzz.sh [SECONDS]
# Env: TARGETS (a space-separated subset, default every target; two runs with disjoint
#   subsets can share a machine, one core each).
# Needs: a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# The working corpus grows in fuzz/corpus/ (git-ignored), seeded from fuzz/seeds/; logs go
# to bench/out/fuzz/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
logs=bench/out/fuzz
mkdir -p "$logs"
cargo +nightly fuzz build
targets=${TARGETS:-$(cargo +nightly fuzz list)}

rows=()
failed=0
for t in $targets; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  before=$(find "fuzz/artifacts/$t" -type f | wc -l)
  t0=$(date +%s)
  # -timeout: one input taking 10 s counts as a hang; -rss_limit_mb: so does runaway memory.
  cargo +nightly fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$logs/$t.log" 2>&1 || true
  t1=$(date +%s)
  crashes=$(( $(find "fuzz/artifacts/$t" -type f | wc -l) - before ))
  # libFuzzer's final statistics, or the `#N DONE` line when they are missing.
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$logs/$t.log" | tail -1 | grep -o '[0-9]*$' || true)
  if [[ -z $execs ]]; then
    execs=$(grep -oE '^#[0-9]+[[:space:]]+DONE' "$logs/$t.log" | tail -1 | grep -oE '[0-9]+' || true)
  fi
  if [[ -z $execs ]]; then
    # Stopped early (a crash): the last progress line has the count so far.
    execs=$(grep -oE '^#[0-9]+' "$logs/$t.log" | tail -1 | tr -d '#' || true)
  fi
  if (( crashes > 0 )) || ! grep -qE 'Done [0-9]+ runs|DONE' "$logs/$t.log"; then
    failed=1
    crashes=$(( crashes > 0 ? crashes : 1 ))
  fi
  rows+=("| \`$t\` | $(awk "BEGIN { printf \"%.1f\", ($t1 - $t0) / 60 }") | ${execs:-?} | $crashes |")
done

echo "| target | minutes | executions | crashes |"
echo "|---|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
if (( failed )); then
  echo "crashes: see fuzz/artifacts/ and $logs/" >&2
fi
exit "$failed"
