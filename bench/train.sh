#!/usr/bin/env bash
# CPU training and inference throughput, cisformer against PyTorch on the same architecture,
# the two sides alternated (pair i runs cisformer first when i is odd, PyTorch first when
# even), so a load that comes and goes moves both sides alike. Prints, per configuration,
# each pair's seq/s, and the median of the pairwise ratios with their min–max, and the load
# average before and after: a run whose load average is well above 0 was not on an idle
# machine.
#
# Usage: bench/train.sh [PYTHON]   (a Python with torch; default: python3)
# Env: CONFIGS ("encoder recipe": see benches/train.rs), PAIRS (5), STEPS (7 timed steps
#      per run, after 2 warm-up steps), THREADS (2: RAYON_NUM_THREADS / torch threads),
#      DEVICE (cpu; cuda for both sides on the GPU), BENCH_BIN (a prebuilt benches/train.rs
#      binary instead of `cargo bench`, as bench/gpu.sh carries to a machine without Rust).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python3}
CONFIGS=${CONFIGS:-"encoder recipe"} PAIRS=${PAIRS:-5} STEPS=${STEPS:-7} THREADS=${THREADS:-2}
DEVICE=${DEVICE:-cpu} BENCH_BIN=${BENCH_BIN:-}
if [ -z "$BENCH_BIN" ]; then
  cargo bench --bench train --quiet --no-run >/dev/null 2>&1 || cargo bench --bench train --no-run
fi
ours() {
  if [ -n "$BENCH_BIN" ]; then RAYON_NUM_THREADS=$THREADS "$BENCH_BIN" "$1" "$STEPS" "$DEVICE"
  else RAYON_NUM_THREADS=$THREADS cargo bench --bench train --quiet -- "$1" "$STEPS" "$DEVICE"; fi
}
theirs() { OMP_NUM_THREADS=$THREADS "$PY" bench/train_torch.py "$1" "$STEPS" "$THREADS" "$DEVICE"; }
num() { sed -E "s/.* $1 ([0-9.]+) seq.*/\1/" <<<"$2"; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores, $THREADS threads, device $DEVICE"
echo "torch: $("$PY" -c 'import torch; print(torch.__version__)')"
for c in $CONFIGS; do
  rows=""
  for i in $(seq "$PAIRS"); do
    if [ $((i % 2)) = 1 ]; then a=$(ours "$c"); b=$(theirs "$c"); else b=$(theirs "$c"); a=$(ours "$c"); fi
    echo "  $c pair $i: $a | $b" >&2
    shape() { grep -o '\[d [^]]*\]' <<<"$1"; }
    [ "$(shape "$a")" = "$(shape "$b")" ] || { echo "the two sides differ: $a | $b" >&2; exit 1; }
    rows+="$(num train "$a") $(num train "$b") $(num infer "$a") $(num infer "$b")"$'\n'
  done
  printf '%s' "$rows" | awk -v c="$c" '
    function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
        if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    { n++; ot[n] = $1; tt[n] = $2; oi[n] = $3; ti[n] = $4; rt[n] = $1 / $2; ri[n] = $3 / $4 }
    END {
      mot = med(ot, n); mtt = med(tt, n); mrt = med(rt, n)
      moi = med(oi, n); mti = med(ti, n); mri = med(ri, n)
      printf "%s: train %.1f vs %.1f seq/s, ratio %.2fx [%.2f-%.2f]; ", c, mot, mtt, mrt, rt[1], rt[n]
      printf "infer %.1f vs %.1f seq/s, ratio %.2fx [%.2f-%.2f] (%d pairs)\n", moi, mti, mri, ri[1], ri[n], n }'
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
