#!/usr/bin/env python3
"""Compares the TSVs two runs of the same pipeline wrote (bench/gpu.sh: CPU vs GPU).

Same rule as tests/device_cli.rs: the same header, rows and text cells; numbers within
1e-3 of max(|a|, |b|, 1), so relative above 1 and absolute below: the in-silico effects
are differences of predictions, whose rounding is that of the predictions, not of the
small difference. P- and q-values of rank tests (Mann-Whitney over thousands of attention
values) move when near-equal values swap order, and far more in the tail than their
z-scores do, so they are compared as z = -Phi^-1(p): within 0.02 + 1e-3 |z|. Prints, per
file, the largest relative difference and every cell outside the rule; exits 1 if any.

Usage: compare_tables.py DIR_A DIR_B FILE...
"""
import math
import statistics
import sys

Z = statistics.NormalDist()


def number(s):
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def compare(a, b):
    la, lb = open(a).read().splitlines(), open(b).read().splitlines()
    if len(la) != len(lb) or len(la) < 2:
        return [f"{len(la)} vs {len(lb)} lines"], 0.0, 0.0
    header = la[0].split("\t")
    bad, worst, worst_z = [], 0.0, 0.0
    for i, (ra, rb) in enumerate(zip(la, lb)):
        for name, x, y in zip(header, ra.split("\t"), rb.split("\t")):
            u, v = number(x), number(y)
            if u is None or v is None:
                if x != y:
                    bad.append(f"line {i + 1}, {name}: {x} vs {y}")
                continue
            big = max(abs(u), abs(v))
            if name.endswith(("_p", "_q")) or name in ("p", "q"):
                za, zb = (-Z.inv_cdf(min(max(p, 1e-300), 1 - 1e-16)) for p in (u, v))
                worst_z = max(worst_z, abs(za - zb))
                off = abs(za - zb) > 0.02 + 1e-3 * max(abs(za), abs(zb))
            else:
                d = abs(u - v) / max(big, 1.0)
                worst = max(worst, d)
                off = d > 1e-3
            if off:
                bad.append(f"line {i + 1}, {name}: {x} vs {y}")
    return bad, worst, worst_z


def main():
    da, db, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    failed = False
    for f in files:
        bad, worst, worst_z = compare(f"{da}/{f}", f"{db}/{f}")
        print(f"{f}: {'same' if not bad else f'{len(bad)} cells differ'}; largest difference "
              f"{worst:.2e} of max(|x|, 1), largest z difference of p and q {worst_z:.3f}")
        for line in bad[:20]:
            print(f"  {line}")
        failed |= bool(bad)
    sys.exit(1 if failed else 0)


main()
