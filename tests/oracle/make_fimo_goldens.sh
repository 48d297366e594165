#!/usr/bin/env bash
# Regenerates the FIMO goldens in tests/data/motif/ with the real MEME-suite fimo 5.4.1
# (tests/oracle/fimo_oracle.py finds it via $FIMO, tests/oracle/bin/fimo or PATH, or builds
# it with build_fimo.sh from the pymemesuite sdist on PyPI, ~40 s).
# Run from the repository root:  bash tests/oracle/make_fimo_goldens.sh
# Inputs: data/motifs/JASPAR2024_CORE_vertebrates_nr.meme, ../shared/data/oracle/fimo_input.fa
# (12 genome intervals + the lac promoter in upper/lower/soft-masked/N spellings + a 3-bp
# sequence), and mixed.fa, made here: 3 kb of E. coli 536 with 30 random positions set to
# N/IUPAC/lower-case letters, plus its first 500 bp in lower case.
set -euo pipefail
shared=../shared
out=tests/data/motif
m=data/motifs/JASPAR2024_CORE_vertebrates_nr.meme
oracle=tests/oracle/fimo_oracle.py
if [ -z "${FIMO:-}" ] && [ -x "$shared/tools/bin/fimo" ]; then export FIMO="$shared/tools/bin/fimo"; fi
mkdir -p "$out"
cat "$shared/data/oracle/fimo_input.fa" > "$out/fimo_input.fa"
{ zcat "$shared/data/genomes/NC_008253.1_Ecoli536.fa.gz" || true; } | head -c 3000 | python3 -c '
import random, sys
random.seed(1)
s = list("".join(l.strip() for l in sys.stdin if not l.startswith(">")))
for i in random.sample(range(len(s)), 30):
    s[i] = random.choice("NRYnkwacgt")
print(">mix desc\n" + "".join(s) + "\n>second\n" + "".join(s[:500]).lower())
' > "$out/mixed.fa"
printf 'A 0.3\nC 0.2\nG 0.2\nT 0.3\n' > "$out/bg_at.txt"

run() { local name=$1 fa=$2; shift 2; python3 "$oracle" "$m" "$fa" "$@" 2>/dev/null | gzip -9n > "$out/$name.tsv.gz"; }
run fimo_p1e-4 "$out/fimo_input.fa"
run mixed_p1e-3 "$out/mixed.fa" --thresh 1e-3
run mixed_norc "$out/mixed.fa" --norc
run mixed_bg "$out/mixed.fa" --bfile "$out/bg_at.txt"
run mixed_bg_norc "$out/mixed.fa" --bfile "$out/bg_at.txt" --norc
run mixed_pseudo0 "$out/mixed.fa" --motif-pseudo 0
run mixed_pseudo1_sel "$out/mixed.fa" --thresh 1e-2 --motif-pseudo 1 --motif MA0004.1 --motif MA0002.3

# The shared golden must agree with what we just produced.
cmp <(zcat "$out/fimo_p1e-4.tsv.gz") "$shared/data/oracle/fimo_out_p1e-4.tsv"
echo "goldens written to $out"
