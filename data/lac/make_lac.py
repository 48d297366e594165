#!/usr/bin/env python3
"""Regenerates data/lac/lac.fa.gz and data/lac/labels.tsv.gz from the Kinney et al. (2010)
lac promoter Sort-Seq table (see data/README.md, section "lac promoter Sort-Seq").

    python3 data/lac/make_lac.py ../shared/data/activity/kinney2010_lac_sortseq.tsv

Python standard library only; gzip headers carry no name or time, so reruns are
byte-identical. Rows keep the input order and the mavenn `set` split.
"""
import csv
import gzip
import io
import os
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/activity/kinney2010_lac_sortseq.tsv"
out_dir = os.path.dirname(os.path.abspath(__file__))


def write_gz(name, text):
    path = os.path.join(out_dir, name)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(text.encode("ascii"))


fa, tsv = io.StringIO(), io.StringIO()
tsv.write("id\tactivity\tset\n")
n = 0
with open(src, newline="") as f:
    for row in csv.DictReader(f, delimiter="\t"):
        seq = row["sequence"]
        assert set(seq) <= set("ACGT") and len(seq) == 75, row["id"]
        assert row["set"] in ("training", "validation", "test"), row["set"]
        fa.write(f">{row['id']}\n{seq}\n")
        tsv.write(f"{row['id']}\t{row['activity']}\t{row['set']}\n")
        n += 1
write_gz("lac.fa.gz", fa.getvalue())
write_gz("labels.tsv.gz", tsv.getvalue())
print(f"wrote {n} sequences to {out_dir}")
