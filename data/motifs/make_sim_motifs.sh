#!/usr/bin/env bash
# Extract the simulator's default motif subset from the JASPAR 2024 MEME file.
# Usage (from the repo root): bash data/motifs/make_sim_motifs.sh ../shared/data/motifs/JASPAR2024_CORE_vertebrates_nr.meme > data/motifs/sim_motifs.meme
set -euo pipefail
ids="MA0080.7 MA0050.4 MA0102.5 MA0105.4 MA0154.5 MA0002.3 MA0046.3 MA0506.3 MA0090.4 MA0497.2 MA0139.2 MA0112.4"
awk -v ids="$ids" '
  BEGIN { n = split(ids, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
  /^MOTIF / { keep = ($2 in want); started = 1 }
  !started { print; next }
  keep { print }
' "$1"
