"""Readers shared by the bench scripts that score models against a `cisformer simulate` set."""
import csv

import numpy as np


def column(path):
    """First value column of an `id`-keyed TSV (labels, noise_free, predictions), in file order."""
    out = {}
    for r in csv.reader(open(path), delimiter="\t"):
        if r and r[0] != "id":
            out[r[0]] = float(r[1])
    return out


def motif_names(sim):
    """(motif id -> name, sorted names, name -> column) from SIM_DIR/motifs.meme."""
    names = {}
    for line in open(f"{sim}/motifs.meme"):
        f = line.split()
        if f and f[0] == "MOTIF":
            names[f[1]] = f[2] if len(f) > 2 else f[1]
    motifs = sorted(set(names.values()))
    return names, motifs, {m: j for j, m in enumerate(motifs)}


def presence(sites, col):
    """0/1 matrix: row i has a site (start, end, motif name, plus) of the motif in column
    col[name] among sites[i]."""
    x = np.zeros((len(sites), len(col)))
    for i, st in enumerate(sites):
        for s in st:
            x[i, col[s[2]]] = 1
    return x


def planted_sites(sim, idx, names):
    """Per row of `idx`: its planted sites (start, end, motif name, plus strand), 0-based."""
    out = [[] for _ in range(len(idx))]
    for r in csv.reader(open(f"{sim}/sites.bed"), delimiter="\t"):
        if r[0] in idx:
            out[idx[r[0]]].append((int(r[1]), int(r[2]), names[r[3]], r[5] == "+"))
    return out


def interacting_pairs(path):
    """(a, b, min_gap, max_gap, orientation) of every non-decoy pair in truth.tsv."""
    rows = list(csv.DictReader(open(path), delimiter="\t"))
    return [
        (r["name_a"], r["name_b"], int(r["min_gap"]), int(r["max_gap"]), r["orientation"])
        for r in rows
        if r["kind"] not in ("single", "decoy")
    ]


def orientation(up_plus, down_plus):
    if up_plus == down_plus:
        return "tandem"
    return "convergent" if up_plus else "divergent"


def grammar(sites, rules):
    """0/1 per sequence and rule: two sites of the pair's motifs in its window and
    orientation, as the simulator decides it (upstream site first, gap = start - end)."""
    x = np.zeros((len(sites), len(rules)))
    for i, st in enumerate(sites):
        for k, (a, b, lo, hi, ori) in enumerate(rules):
            for u in st:
                for v in st:
                    if u is v or u[0] > v[0] or v[0] < u[1] or {u[2], v[2]} != {a, b}:
                        continue
                    if a != b and u[2] == v[2]:
                        continue
                    ok = lo <= v[0] - u[1] <= hi
                    if ok and (ori == "any" or orientation(u[3], v[3]) == ori):
                        x[i, k] = 1
    return x

