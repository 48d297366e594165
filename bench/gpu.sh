#!/usr/bin/env bash
# GPU checks of the `cuda` build, in two steps on two machines:
#
#   bash bench/gpu.sh build       # on a Rust machine (no GPU needed): cuda binaries into gpu-bin/
#   bash bench/gpu.sh run [OUT]   # on the GPU machine (no Rust needed), from the repository root
#
# `run`, one pass that writes OUT/gpu.log (default OUT: gpu-out):
#  1. the GPU and driver (nvidia-smi), and the CUDA libraries the binary loads;
#  2. the same seed and data (simulate --n 2000 --len 200) through `train --preset default
#     --epochs 1`, `predict`, `heads` and `interactions`, once with --device cpu and once
#     with --device cuda; bench/compare_tables.py then checks the GPU's tables against the
#     CPU's (same rows in the same order, numbers within 1e-3 of max(|x|, 1), p- and
#     q-values through their z-scores: see that script);
#  3. the test binary of tests/device_cli.rs, its GPU test included;
#  4. training and inference throughput on the encoder (d 128, 8 heads, 4 layers, 200
#     tokens) and the recipe: cisformer CUDA against PyTorch eager on the same GPU
#     (bench/train.sh with DEVICE=cuda), then both on the CPU's cores.
# Exits 1 if a table differs or a test fails; the throughput numbers are printed, not judged.
set -euo pipefail
cd "$(dirname "$0")/.."

# The executable named NAME-<hash> that a cargo --no-run command (the rest) builds.
executable() {
  local name=$1 exe
  shift
  exe=$("$@" --message-format=json 2>/dev/null |
    grep -o "\"executable\":\"[^\"]*/$name-[^\"]*\"" | tail -n 1 | cut -d'"' -f4)
  [ -x "$exe" ] || { echo "gpu.sh: '$*' built no $name binary" >&2; exit 1; }
  echo "$exe"
}

build() {
  # shellcheck source=../scripts/cuda-env.sh
  source scripts/cuda-env.sh
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/cuda}
  cargo build --release --features cuda
  local bench test
  bench=$(executable train cargo bench --bench train --features cuda --no-run)
  test=$(executable device_cli cargo test --release --features cuda --test device_cli --no-run)
  mkdir -p gpu-bin
  cp "$CARGO_TARGET_DIR/release/cisformer" gpu-bin/cisformer
  cp "$bench" gpu-bin/train-bench
  cp "$test" gpu-bin/device-test
  strip gpu-bin/cisformer gpu-bin/train-bench gpu-bin/device-test
  ls -l gpu-bin
  echo "carry gpu-bin/ (and the working tree) to the GPU machine; run: bash bench/gpu.sh run"
}

# The CUDA 13 libraries of the machine's Python packages (PyTorch's), then a system toolkit.
libdirs() {
  local py
  py=$(python3 -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13", "lib"))' 2>/dev/null || true)
  printf '%s' "${py:+$py:}/usr/local/cuda/lib64"
}

ms() { echo $((($(date +%s%N) - $1) / 1000000)); }

run() {
  # GPU_DEVICE=cpu runs the whole script on a machine without a GPU (a dry run: its
  # second pass runs the GPU's formulations of the model's ops on the CPU).
  local out=${1:-gpu-out} bin=gpu-bin/cisformer gpu=${GPU_DEVICE:-cuda}
  mkdir -p "$out"
  exec > >(tee "$out/gpu.log") 2>&1
  [ -x "$bin" ] || { echo "gpu.sh: no $bin: run 'bash bench/gpu.sh build' first" >&2; exit 1; }
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || [ "$gpu" = cpu ]
  export LD_LIBRARY_PATH="$(libdirs)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if ldd "$bin" | grep 'not found'; then echo "gpu.sh: libraries missing" >&2; exit 1; fi
  ldd "$bin" | grep -E 'libcuda|libcublas|libcurand' || true
  "$bin" --version

  local w
  w=$(mktemp -d)
  "$bin" simulate -q --seed 4 --n 2000 --len 200 --out "$w/sim"
  local sim=$w/sim pass dev
  for pass in cpu:cpu "gpu:$gpu"; do
    local d=$w/${pass%%:*} t0
    dev=${pass#*:}
    mkdir -p "$d"
    # A dry run's second pass takes the GPU's ops (candle's own) on the CPU.
    if [ "${pass%%:*}" = gpu ] && [ "$dev" = cpu ]; then export CISFORMER_PORTABLE_OPS=1; fi
    t0=$(date +%s%N)
    "$bin" train -q --device "$dev" --preset default --epochs 1 --fasta "$sim/seqs.fa" \
      --labels "$sim/labels.tsv" --out "$d/model"
    echo "${pass%%:*} ($dev): train (1 epoch, 2,000 x 200 bp) $(ms "$t0") ms"
    "$bin" predict -q --device "$dev" --model "$d/model" --fasta "$sim/seqs.fa" -o "$d/pred.tsv"
    t0=$(date +%s%N)
    "$bin" heads -q --device "$dev" --model "$d/model" --fasta "$sim/seqs.fa" \
      --motifs "$sim/motifs.meme" -o "$d/heads.tsv"
    "$bin" interactions -q --device "$dev" --model "$d/model" --fasta "$sim/seqs.fa" \
      --motifs "$sim/motifs.meme" -o "$d/pairs.tsv"
    echo "${pass%%:*} ($dev): heads + interactions $(ms "$t0") ms"
  done
  echo "top pairs, cpu | cuda:"
  paste <(cut -f1-5 "$w/cpu/pairs.tsv" | head -n 6) <(cut -f2-5 "$w/gpu/pairs.tsv" | head -n 6)
  local same=0
  python3 bench/compare_tables.py "$w/cpu" "$w/gpu" pred.tsv heads.tsv pairs.tsv || same=1
  cp -r "$w/cpu" "$w/gpu" "$out/"

  unset CISFORMER_PORTABLE_OPS
  echo "tests/device_cli.rs, its GPU test included:"
  local skip=()
  [ "$gpu" != cpu ] || skip=(--skip the_gpu_gives)
  CARGO_BIN_EXE_cisformer="$PWD/$bin" gpu-bin/device-test --include-ignored "${skip[@]}" || same=1
  echo "throughput, GPU:"
  DEVICE=$gpu BENCH_BIN=gpu-bin/train-bench PAIRS=3 STEPS=20 THREADS="$(nproc)" bash bench/train.sh "${PYTHON:-python3}"
  echo "throughput, CPU ($(nproc) cores):"
  DEVICE=cpu BENCH_BIN=gpu-bin/train-bench PAIRS=1 STEPS=7 THREADS="$(nproc)" bash bench/train.sh "${PYTHON:-python3}"
  return $same
}

case "${1:-}" in
  build) build ;;
  run) shift; run "$@" ;;
  *) echo "usage: bench/gpu.sh build | run [OUT]" >&2; exit 2 ;;
esac
