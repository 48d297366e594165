#!/usr/bin/env python3
"""Which planted motifs a trained model has learnt, on a simulated set.

Regresses the noise-free activity, and separately the model's predictions, on the presence
of each planted motif (sites.bed) by least squares. A motif whose predicted effect is far
below its true effect is one the model does not see; this is how the initialisation bug
(CTCF and TEAD1 never learnt) was found.

Usage: bench/motif_effects.py SIM_DIR PREDICTIONS_TSV   (needs numpy)
  SIM_DIR from `cisformer simulate`; PREDICTIONS_TSV from
  `cisformer predict --model DIR --fasta SIM_DIR/seqs.fa` (first output column is used).
"""
import sys

import numpy as np
from simdata import column, motif_names, truth_presence


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
    x = truth_presence(sim, idx, names, col, extra_cols=1)
    x[:, -1] = 1
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


if __name__ == "__main__":
    main()
