#!/usr/bin/env python3
"""Compares the TSVs two runs of the same pipeline wrote (bench/gpu.sh: CPU vs GPU).

Same rule as tests/device_cli.rs: the same header, rows and text cells, and numbers equal
within 1e-3 relative to the larger (or 1e-6 absolute near zero); p- and q-value columns
of rank tests move in steps when two near-equal attention values swap order, so they get
1e-2. Prints, per file, the largest relative difference and every cell outside the rule;
exits 1 if any.

Usage: compare_tables.py DIR_A DIR_B FILE...
"""
import math
import sys


def number(s):
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def compare(a, b):
    la, lb = open(a).read().splitlines(), open(b).read().splitlines()
    if len(la) != len(lb) or len(la) < 2:
        return [f"{len(la)} vs {len(lb)} lines"], 0.0
    header = la[0].split("\t")
    bad, worst = [], 0.0
    for i, (ra, rb) in enumerate(zip(la, lb)):
        for name, x, y in zip(header, ra.split("\t"), rb.split("\t")):
            u, v = number(x), number(y)
            if u is None or v is None:
                if x != y:
                    bad.append(f"line {i + 1}, {name}: {x} vs {y}")
                continue
            rel = 1e-2 if name.endswith(("_p", "_q")) or name in ("p", "q") else 1e-3
            big = max(abs(u), abs(v))
            if big > 1e-6:
                worst = max(worst, abs(u - v) / big)
            if abs(u - v) > rel * big + 1e-6:
                bad.append(f"line {i + 1}, {name}: {x} vs {y}")
    return bad, worst


def main():
    da, db, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    failed = False
    for f in files:
        bad, worst = compare(f"{da}/{f}", f"{db}/{f}")
        print(f"{f}: {'same' if not bad else f'{len(bad)} cells differ'}, largest relative difference {worst:.2e}")
        for line in bad[:20]:
            print(f"  {line}")
        failed |= bool(bad)
    sys.exit(1 if failed else 0)


main()
