#!/usr/bin/env bash
# Scan benchmark: cisformer scan vs FIMO 5.4.1 (../shared/tools/bin/fimo), MOODS and
# memelite (pip, in bench/.venv) in one run; prints tables with CPU-time ratios.
# Run from the repository root:  bash bench/scan.sh [--fimo-bp N] [--skip-genome]
set -euo pipefail
cargo build --release --quiet
if [ ! -x bench/.venv/bin/python ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q moods-python==1.9.4.1 memelite==0.5.0 || echo "peers not installable; timing cisformer/FIMO only" >&2
fi
genome=$(mktemp /tmp/scanbench.XXXXXX.fa)
trap 'rm -f "$genome"' EXIT
zcat ../shared/data/genomes/NC_008253.1_Ecoli536.fa.gz > "$genome"
bench/.venv/bin/python bench/scan_peers.py target/release/cisformer \
  data/motifs/JASPAR2024_CORE_vertebrates_nr.meme "$genome" "$@"
