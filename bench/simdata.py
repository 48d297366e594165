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


def truth_presence(sim, idx, names, col, extra_cols=0):
    """0/1 matrix: row idx[seq] has a planted site (sites.bed) of the motif in column col[name].

    Sequences not in `idx` are skipped; `extra_cols` zero columns are appended."""
    x = np.zeros((len(idx), len(col) + extra_cols))
    for r in csv.reader(open(f"{sim}/sites.bed"), delimiter="\t"):
        if r[0] in idx:
            x[idx[r[0]], col[names[r[3]]]] = 1
    return x
