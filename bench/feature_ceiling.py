#!/usr/bin/env python3
"""What a perfect reader of motif *presence* could reach on a simulated set.

Fits least squares on the first 80% of the sequences and reports held-out Pearson r for:
  presence     one 0/1 feature per motif: any `cisformer scan` hit at p <= THRESH
  +pairs       the same plus every pairwise product (co-presence, no spacing/orientation)
  truth+pairs  presence of the planted sites themselves (sites.bed) plus products
  grammar      presence plus one 0/1 feature per interacting pair of truth.tsv: two scan
               hits of its motifs in its gap window and orientation (the true rules)
  truth+grammar the same rules on the planted sites: the noise-free activity exactly
The gap between these and the noise ceiling is what spacing and orientation rules add; the
gap between `grammar` and `truth+grammar` is the cost of finding motifs in sequence at all:
chance matches of the background look like planted sites, but only planted sites count.

Usage: bench/feature_ceiling.py SIM_DIR SCAN_TSV [THRESH]   (needs numpy)
  SIM_DIR from `cisformer simulate`; SCAN_TSV from
  `cisformer scan -m SIM_DIR/motifs.meme -f SIM_DIR/seqs.fa --thresh 1e-3`.
"""
import csv
import sys

import numpy as np
from simdata import column, grammar, interacting_pairs, motif_names, planted_sites, presence


def main():
    sim, scan = sys.argv[1], sys.argv[2]
    thresh = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-4
    labels = column(f"{sim}/labels.tsv")
    ids, y = list(labels), np.array(list(labels.values()))
    idx = {s: i for i, s in enumerate(ids)}
    names, motifs, col = motif_names(sim)
    n, m = len(y), len(motifs)
    hits = [[] for _ in range(n)]
    for r in csv.reader(open(scan), delimiter="\t"):
        if not r or r[0] == "motif_id" or r[0].startswith("#") or float(r[7]) > thresh:
            continue
        # scan rows are 1-based inclusive; sites are kept 0-based half-open like sites.bed
        hits[idx[r[2]]].append((int(r[3]) - 1, int(r[4]), names[r[0]], r[5] == "+"))
    planted = planted_sites(sim, idx, names)
    scanned, truth = presence(hits, col), presence(planted, col)
    rules = interacting_pairs(f"{sim}/truth.tsv")

    def with_pairs(x):
        prods = [x[:, a] * x[:, b] for a in range(m) for b in range(a + 1, m)]
        return np.hstack([x, np.array(prods).T])

    def held_out_r(x):
        x = np.hstack([x, np.ones((n, 1))])
        cut = int(0.8 * n)
        w = np.linalg.lstsq(x[:cut], y[:cut], rcond=None)[0]
        return np.corrcoef(x[cut:] @ w, y[cut:])[0, 1]

    print(f"scan p <= {thresh:g}, {n} sequences, {m} motifs, held-out Pearson r:")
    print(f"presence\t{held_out_r(scanned):.3f}")
    print(f"presence+pairs\t{held_out_r(with_pairs(scanned)):.3f}")
    print(f"truth+pairs\t{held_out_r(with_pairs(truth)):.3f}")
    print(f"grammar\t{held_out_r(np.hstack([scanned, grammar(hits, rules)])):.3f}")
    print(f"truth+grammar\t{held_out_r(np.hstack([truth, grammar(planted, rules)])):.3f}")


if __name__ == "__main__":
    main()
