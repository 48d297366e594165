#!/usr/bin/env python3
"""Deterministic benchmark inputs for bench/extract.sh.

genome.fa: 200 Mbp in 8 contigs (25 Mbp each), 60 bases per line, mostly ACGT with
~3% soft-masked (lowercase) bases and N runs; intervals.bed: 1,000,000 BED6 lines,
lengths 1-1000, half `+` half `-`, random contigs and positions, random order.
"""
import random
import sys

out_dir = sys.argv[1]
n_contigs, contig_len, width = 8, 25_000_000, 60
n_intervals, max_len = 1_000_000, 1000
rng = random.Random(20261125)

# 256-entry table: 248 values -> ACGT, 8 -> acgt (byte-wise random soft-masking).
table = bytes((b"ACGT" * 62 + b"acgt" * 2)[i] for i in range(256))
with open(f"{out_dir}/genome.fa", "wb") as f:
    for c in range(n_contigs):
        seq = bytearray(rng.randbytes(contig_len).translate(table))
        for _ in range(20):  # N runs of 100-5000 bp
            at = rng.randrange(contig_len - 5000)
            n = rng.randrange(100, 5000)
            seq[at:at + n] = b"N" * n
        f.write(f">chr{c + 1} synthetic contig {c + 1}\n".encode())
        f.write(b"\n".join(seq[i:i + width] for i in range(0, contig_len, width)))
        f.write(b"\n")

with open(f"{out_dir}/intervals.bed", "w") as f:
    lines = []
    for i in range(n_intervals):
        c = rng.randrange(n_contigs)
        length = rng.randrange(1, max_len + 1)
        start = rng.randrange(contig_len - length + 1)
        strand = "+" if rng.random() < 0.5 else "-"
        lines.append(f"chr{c + 1}\t{start}\t{start + length}\tr{i}\t{rng.randrange(1000)}\t{strand}\n")
    f.write("".join(lines))
