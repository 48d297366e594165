#!/usr/bin/env python3
"""Summarise bench/calibration.sh: calls at q < 0.05 per table, the share of calls that
were not planted, AUPRC in each table's own order, validation calls, head focus calls,
and a QQ plot of the p-values of the null runs (qq.tsv, qq.svg).

Usage: calibration.py WORKDIR RUN... (RUN = grammar:seed, e.g. null:1 default:1)
Standard library only.
"""
import csv
import math
import os
import sys

ALPHA = 0.05


def read_tsv(path):
    with open(path) as f:
        rows = [r for r in csv.reader(f, delimiter="\t") if r and not r[0].startswith("#")]
    if not rows:
        return []
    head = rows[0]
    return [dict(zip(head, r)) for r in rows[1:]]


def num(x):
    try:
        return float(x)
    except ValueError:
        return float("nan")


def key(a, b):
    return tuple(sorted((a, b)))


def truth(path):
    inter, decoys, effects = set(), set(), set()
    for r in read_tsv(path):
        if r["kind"] == "single":
            if num(r["effect"]) != 0:
                effects.add(r["name_a"])
        elif r["kind"] in ("cooperative", "long_range") and num(r["effect"]) != 0:
            inter.add(key(r["name_a"], r["name_b"]))
        else:
            decoys.add(key(r["name_a"], r["name_b"]))
    long_range = {
        key(r["name_a"], r["name_b"]) for r in read_tsv(path) if r["kind"] == "long_range"
    }
    return inter, decoys, effects, long_range


def pairs_in_order(rows):
    """Distinct motif pairs in the table's own order, each with its smallest q."""
    order, best = [], {}
    for r in rows:
        k = key(r["motif_a"], r["motif_b"])
        if k not in best:
            order.append(k)
            best[k] = num(r["q_value"])
        else:
            best[k] = min(best[k], num(r["q_value"]))
    return order, best


def auprc(order, positives):
    if not positives:
        return float("nan")
    hits, total = 0, 0.0
    for i, k in enumerate(order, 1):
        if k in positives:
            hits += 1
            total += hits / i
    return total / len(positives)


def summarise(name, order, best, inter, decoys, long_range):
    calls = [k for k in order if best[k] < ALPHA]
    wrong = [k for k in calls if k not in inter]
    out = {
        "calls": len(calls),
        "not_planted": len(wrong),
        "share_not_planted": (len(wrong) / len(calls)) if calls else 0.0,
        "first_wrong": "+".join(wrong[0]) if wrong else "",
    }
    if inter:
        rank = {k: i for i, k in enumerate(order)}
        worst_coop = max(rank.get(k, len(order)) for k in inter)
        best_decoy = min((rank.get(k, len(order)) for k in decoys), default=len(order))
        out["auprc"] = auprc(order, inter)
        out["decoy_above_coop"] = best_decoy < worst_coop
        out["long_range_called"] = all(k in calls for k in long_range)
    return out


def qq_svg(series, path):
    """A QQ plot of -log10 p against its uniform expectation, one polyline per series."""
    size, pad = 360, 40
    top = 1.0
    for ps in series.values():
        if ps:
            top = max(top, -math.log10(max(min(ps), 1e-300)), math.log10(len(ps)))
    top = math.ceil(top)
    sx = lambda v: pad + v / top * (size - 2 * pad)
    sy = lambda v: size - pad - v / top * (size - 2 * pad)
    colours = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e"]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size + 20 * len(series)}">',
        f'<line x1="{sx(0)}" y1="{sy(0)}" x2="{sx(top)}" y2="{sy(top)}" stroke="#999" stroke-dasharray="4"/>',
        f'<line x1="{sx(0)}" y1="{sy(0)}" x2="{sx(top)}" y2="{sy(0)}" stroke="#000"/>',
        f'<line x1="{sx(0)}" y1="{sy(0)}" x2="{sx(0)}" y2="{sy(top)}" stroke="#000"/>',
        f'<text x="{size / 2}" y="{size - 8}" font-size="11" text-anchor="middle">expected -log10 p</text>',
        f'<text x="12" y="{size / 2}" font-size="11" transform="rotate(-90 12 {size / 2})" text-anchor="middle">observed -log10 p</text>',
    ]
    for i, (label, ps) in enumerate(series.items()):
        ps = sorted(ps)
        n = len(ps)
        pts = " ".join(
            f"{sx(-math.log10((j + 0.5) / n)):.1f},{sy(min(top, -math.log10(max(p, 1e-300)))):.1f}"
            for j, p in enumerate(ps)
        )
        c = colours[i % len(colours)]
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="1.5"/>')
        parts.append(
            f'<text x="{pad}" y="{size + 14 + 20 * i}" font-size="11" fill="{c}">{label} ({n} p-values)</text>'
        )
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def main():
    w, runs = sys.argv[1], sys.argv[2:]
    lines = [
        "| run | table | calls (q < 0.05) | not planted | AUPRC | decoy above a cooperative pair | long-range called |",
        "|---|---|---|---|---|---|---|",
    ]
    vlines = [
        "| run | validate: effect calls | of them planted | confirmed | confirmed decoys or null pairs | heads: focus calls on motifs without effect |",
        "|---|---|---|---|---|---|",
    ]
    qq = {"per-pair p (null runs)": [], "row p (null runs)": [], "validate specific_p (null runs)": []}
    for run in runs:
        d = os.path.join(w, run.replace(":", "_"))
        inter, decoys, effects, long_range = truth(os.path.join(d, "train", "truth.tsv"))
        for label, f in (("rows", "interactions.tsv"), ("per-pair", "pairs.tsv")):
            rows = read_tsv(os.path.join(d, f))
            order, best = pairs_in_order(rows)
            s = summarise(run, order, best, inter, decoys, long_range)
            fmt = lambda k: (f"{s[k]:.3f}" if isinstance(s.get(k), float) else str(s.get(k, "—")))
            lines.append(
                f"| {run} | {label} | {s['calls']} | {s['not_planted']} ({100 * s['share_not_planted']:.0f} %)"
                f"{' first: ' + s['first_wrong'] if s['first_wrong'] else ''} | {fmt('auprc')} | "
                f"{fmt('decoy_above_coop')} | {fmt('long_range_called')} |"
            )
            if run.startswith("null"):
                key_p = "p_value"
                qq["per-pair p (null runs)" if label == "per-pair" else "row p (null runs)"] += [
                    num(r[key_p]) for r in rows if not math.isnan(num(r[key_p]))
                ]
        val = read_tsv(os.path.join(d, "validation.tsv"))
        eff = [r for r in val if num(r.get("specific_q", "nan")) <= ALPHA]
        conf = [r for r in val if r["verdict"] == "confirmed"]
        conf_bad = [r for r in conf if key(r["motif_a"], r["motif_b"]) not in inter]
        if run.startswith("null"):
            qq["validate specific_p (null runs)"] += [
                num(r["specific_p"]) for r in val if not math.isnan(num(r["specific_p"]))
            ]
        focus = read_tsv(os.path.join(d, "focus.tsv"))
        off = sorted({r["motif"] for r in focus if num(r["q_value"]) <= ALPHA and r["motif"] not in effects})
        vlines.append(
            f"| {run} | {len(eff)} | {sum(key(r['motif_a'], r['motif_b']) in inter for r in eff)} | "
            f"{len(conf)} | {len(conf_bad)} | {len(off)}{' (' + ', '.join(off) + ')' if off else ''} |"
        )
    with open(os.path.join(w, "qq.tsv"), "w") as f:
        f.write("series\tp_value\texpected\n")
        for label, ps in qq.items():
            ps = sorted(ps)
            for j, p in enumerate(ps):
                f.write(f"{label}\t{p:.6g}\t{(j + 0.5) / len(ps):.6g}\n")
    qq_svg(qq, os.path.join(w, "qq.svg"))
    text = "\n".join(lines + [""] + vlines) + "\n"
    with open(os.path.join(w, "results.md"), "w") as f:
        f.write(text)
    print(text)
    for label, ps in qq.items():
        if ps:
            frac = sum(p < ALPHA for p in ps) / len(ps)
            print(f"{label}: {len(ps)} p-values, {100 * frac:.1f} % below {ALPHA}")


if __name__ == "__main__":
    main()
