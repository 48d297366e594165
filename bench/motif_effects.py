#!/usr/bin/env python3
"""Which planted motifs a trained model has learnt, on a simulated set.

Regresses the noise-free activity, and separately the model's predictions, on the presence
of each planted motif (sites.bed) and on each interacting pair's rule (two planted sites in
its gap window and orientation, truth.tsv) by least squares. A motif whose predicted effect is far
below its true effect is one the model does not see; this is how the initialisation bug
(CTCF and TEAD1 never learnt) was found. Then, per interacting pair, the mean and SD of
prediction minus noise-free activity in three groups of sequences: rule met, both motifs
planted but the rule not met (a model that ignores spacing or orientation overshoots
here), and the rest.

Usage: bench/motif_effects.py SIM_DIR PREDICTIONS_TSV   (needs numpy)
  With a `set` column (train's DIR/predictions.tsv), also test r with those shortfalls fixed.
  SIM_DIR from `cisformer simulate`; PREDICTIONS_TSV from
  `cisformer predict --model DIR --fasta SIM_DIR/seqs.fa` (first output column is used).
"""
import csv
import sys

import numpy as np
from simdata import column, grammar, interacting_pairs, motif_names, planted_sites, presence


def main():
    sim, pred_path = sys.argv[1], sys.argv[2]
    free, observed, pred = (
        column(f"{sim}/noise_free.tsv"),
        column(f"{sim}/labels.tsv"),
        column(pred_path),
    )
    ids = [i for i in free if i in pred]
    if not ids:
        sys.exit(f"no sequence of {sim} is in {pred_path}")
    idx = {s: i for i, s in enumerate(ids)}
    names, motifs, col = motif_names(sim)
    rules = interacting_pairs(f"{sim}/truth.tsv")
    planted = planted_sites(sim, idx, names)
    rule, present = grammar(planted, rules), presence(planted, col)
    x = np.hstack([present, rule, np.ones((len(ids), 1))])
    y = np.array([free[i] for i in ids])
    p = np.array([pred[i] for i in ids])
    o = np.array([observed[i] for i in ids])
    w_true = np.linalg.lstsq(x, y, rcond=None)[0]
    # Predictions are on the label scale, so the two fits are directly comparable.
    w_pred = np.linalg.lstsq(x, p, rcond=None)[0]
    print(f"{len(ids)} sequences; Pearson r of predictions with observed "
          f"{np.corrcoef(p, o)[0, 1]:.3f}, with noise-free {np.corrcoef(p, y)[0, 1]:.3f}; "
          f"noise ceiling {np.corrcoef(o, y)[0, 1]:.3f}")
    print("motif\tsites\ttrue_effect\tlearnt_effect\tlearnt_fraction")
    for m, j in col.items():
        n = int(x[:, j].sum())
        if n == 0:
            continue
        frac = w_pred[j] / w_true[j] if abs(w_true[j]) > 1e-9 else float("nan")
        print(f"{m}\t{n}\t{w_true[j]:.3f}\t{w_pred[j]:.3f}\t{frac:.2f}")
    m = len(col)
    for k, (a, b, *_) in enumerate(rules):
        j = m + k
        print(f"{a}+{b} rule\t{int(rule[:, k].sum())}\t{w_true[j]:.3f}\t{w_pred[j]:.3f}\t"
              f"{w_pred[j] / w_true[j]:.2f}")
    res = p - y
    held = test_rows(pred_path, ids)
    if held.any():
        fixed = p - x @ (w_pred - w_true)
        print(f"\ntest rows {int(held.sum())}: Pearson r with observed {np.corrcoef(p[held], o[held])[0, 1]:.3f}; "
              f"with every linear shortfall above fixed {np.corrcoef(fixed[held], o[held])[0, 1]:.3f}")
    print("\npair\tgroup\tsequences\tmean(pred - noise_free)\tsd")
    for k, (a, b, *_) in enumerate(rules):
        both = (present[:, col[a]] > 0) & (present[:, col[b]] > 0)
        met = rule[:, k] > 0
        for name, g in (("rule met", met), ("both, rule not met", both & ~met), ("rest", ~both)):
            print(f"{a}+{b}\t{name}\t{int(g.sum())}\t{res[g].mean():.3f}\t{res[g].std():.3f}")


def test_rows(pred_path, ids):
    """0/1 per id: marked `test` in the predictions' `set` column (train's predictions.tsv)."""
    sets = {}
    for r in csv.reader(open(pred_path), delimiter="\t"):
        if r and r[0] != "id" and r[-1] in ("training", "validation", "test"):
            sets[r[0]] = r[-1]
    return np.array([sets.get(i) == "test" for i in ids])


if __name__ == "__main__":
    main()
