#!/usr/bin/env python3
"""Where a model's per-sequence error comes from, on a simulated set: chance motif matches in
the background, or weak planted sites.

The simulator's activity counts planted sites only, so a model that reads a chance match of a
motif in the background as a site errs by that motif's effect, and one that misses a weakly
matching planted instance errs the other way. With a `scan` of the set at a loose threshold
this script splits every hit into planted (overlapping a planted site of its motif) or
background, and regresses the model's error (a least-squares line from predictions to the
noise-free activity, minus the activity) on, per motif:
  * bg_strong / bg_weak: a background hit at p <= 1e-4 / in (1e-4, 1e-3], no planted site of
    the motif in the sequence (what the simulator ignores);
  * weak_site: every planted site of the motif scores p > 1e-5 (barely past the planting
    threshold; present in the activity).
It prints each motif's coefficients next to its single effect, and the share of the error
variance each group of features explains. Then the error's mean and SD by how many
interacting pairs' rules a sequence meets and by how many sites were planted in it: a model
whose pair effects do not add up (each read in part when several pairs meet their rules)
under-predicts more the more rules are met.

Usage: bench/residuals.py SIM_DIR PREDICTIONS_TSV SCAN_TSV   (needs numpy)
  SCAN_TSV: `cisformer scan -m SIM_DIR/motifs.meme -f SIM_DIR/seqs.fa --thresh 1e-3`.
"""
import csv
import sys

import numpy as np
from simdata import column, grammar, interacting_pairs, motif_names, planted_sites


def main():
    sim, pred_path, scan_path = sys.argv[1:4]
    free, pred = column(f"{sim}/noise_free.tsv"), column(pred_path)
    ids = [i for i in free if i in pred]
    if not ids:
        sys.exit(f"no sequence of {sim} is in {pred_path}")
    idx = {s: i for i, s in enumerate(ids)}
    names, motifs, col = motif_names(sim)
    planted = planted_sites(sim, idx, names)
    n, m = len(ids), len(motifs)
    bg_strong, bg_weak = np.zeros((n, m)), np.zeros((n, m))
    best_site = np.ones((n, m))  # best p of a hit on a planted site, per motif (1: none)
    has_site = np.zeros((n, m), bool)
    for i, st in enumerate(planted):
        for s in st:
            has_site[i, col[s[2]]] = True
    for r in csv.reader(open(scan_path), delimiter="\t"):
        if not r or r[0].startswith("#") or r[0] == "motif_id" or r[2] not in idx:
            continue
        i, name = idx[r[2]], names[r[0]]
        j, start, end, p = col[name], int(r[3]) - 1, int(r[4]), float(r[7])
        on_site = any(s[2] == name and start < s[1] and s[0] < end for s in planted[i])
        if on_site:
            best_site[i, j] = min(best_site[i, j], p)
        elif not has_site[i, j]:
            if p <= 1e-4:
                bg_strong[i, j] = 1
            else:
                bg_weak[i, j] = 1
    weak_site = (has_site & (best_site > 1e-5)).astype(float)
    y = np.array([free[i] for i in ids])
    p = np.array([pred[i] for i in ids])
    a = np.vstack([p, np.ones(n)]).T
    err = a @ np.linalg.lstsq(a, y, rcond=None)[0] - y
    print(f"{n} sequences; Pearson r of predictions with noise-free {np.corrcoef(p, y)[0, 1]:.3f}; "
          f"error SD {err.std():.3f} on the activity scale")
    groups = {"bg_strong": bg_strong, "bg_weak": bg_weak, "weak_site": weak_site}
    x = np.hstack(list(groups.values()) + [np.ones((n, 1))])
    w = np.linalg.lstsq(x, err, rcond=None)[0]
    total = err.var()
    print(f"error variance explained by all features: {1 - (err - x @ w).var() / total:.3f}")
    for g, f in groups.items():
        xg = np.hstack([f, np.ones((n, 1))])
        wg = np.linalg.lstsq(xg, err, rcond=None)[0]
        print(f"  by {g} alone: {1 - (err - xg @ wg).var() / total:.3f}")
    effects = single_effects(sim)
    print("\nmotif\teffect\tbg_strong_n\tbg_strong_coef\tbg_weak_n\tbg_weak_coef\tweak_site_n\tweak_site_coef")
    for name, j in col.items():
        cells = [name, f"{effects.get(name, float('nan')):.2f}"]
        for k, f in enumerate(groups.values()):
            cells += [str(int(f[:, j].sum())), f"{w[k * m + j]:+.3f}"]
        print("\t".join(cells))
    rules_met = grammar(planted, interacting_pairs(f"{sim}/truth.tsv")).sum(1)
    sites = np.array([len(s) for s in planted])
    for what, v in (("interacting-pair rules met", rules_met), ("planted sites", sites)):
        print(f"\n{what}\tsequences\tmean error\terror SD")
        for k in np.unique(v):
            g = v == k
            print(f"{int(k)}\t{int(g.sum())}\t{err[g].mean():+.3f}\t{err[g].std():.3f}")


def single_effects(sim):
    """motif name -> single effect, from truth.tsv."""
    out = {}
    for r in csv.DictReader(open(f"{sim}/truth.tsv"), delimiter="\t"):
        if r["kind"] == "single":
            out[r["name_a"]] = float(r["effect"])
    return out


if __name__ == "__main__":
    main()
