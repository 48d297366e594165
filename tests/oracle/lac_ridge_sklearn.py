#!/usr/bin/env python3
"""Peer check for `cisformer baseline` on data/lac: the same k-mer ridge model in
numpy/scikit-learn (canonical 1..5-mer counts, StandardScaler, Ridge, alpha chosen by
validation R² from the same grid), printing held-out Pearson r and wall time.

    /tmp/pyvenv/bin/python tests/oracle/lac_ridge_sklearn.py
    /usr/bin/time cisformer baseline --fasta data/lac/lac.fa.gz --labels data/lac/labels.tsv.gz --k 1-5
"""
import gzip
import time

import numpy as np
from scipy import sparse
from scipy.stats import pearsonr
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.preprocessing import StandardScaler

t0 = time.perf_counter()
seqs = [l.strip() for l in gzip.open("data/lac/lac.fa.gz", "rt") if not l.startswith(">")]
rows = [l.rstrip("\n").split("\t") for l in gzip.open("data/lac/labels.tsv.gz", "rt")][1:]
y = np.array([float(r[1]) for r in rows], dtype=np.float32).astype(np.float64)
sets = np.array([r[2] for r in rows])
codes = np.frombuffer("".join(seqs).encode(), dtype=np.uint8).reshape(len(seqs), -1)
lut = np.zeros(256, dtype=np.int64)
lut[[ord(c) for c in "ACGT"]] = [0, 1, 2, 3]
codes = lut[codes]
blocks = []
for k in range(1, 6):
    n = 4 ** k
    rc = np.zeros(n, dtype=np.int64)
    for c in range(n):
        x, r = c, 0
        for _ in range(k):
            r = (r << 2) | (3 - (x & 3))
            x >>= 2
        rc[c] = r
    canon = np.minimum(np.arange(n), rc)
    keep = np.unique(canon)
    col = np.full(n, -1)
    col[keep] = np.arange(len(keep))
    win = np.zeros((codes.shape[0], codes.shape[1] - k + 1), dtype=np.int64)
    for j in range(k):
        win = (win << 2) | codes[:, j:j + win.shape[1]]
    feat = col[canon[win]]
    r = np.repeat(np.arange(codes.shape[0]), feat.shape[1])
    m = sparse.coo_matrix((np.ones(r.size), (r, feat.ravel())), shape=(codes.shape[0], len(keep))).tocsr()
    blocks.append(m)
X = sparse.hstack(blocks).toarray()
tr, va, te = sets == "training", sets == "validation", sets == "test"
sc = StandardScaler().fit(X[tr])
Xtr, Xva, Xte = sc.transform(X[tr]), sc.transform(X[va]), sc.transform(X[te])
best = None
for a in [0.1, 1, 10, 100, 1e3, 1e4, 1e5]:
    m = Ridge(alpha=a, solver="cholesky").fit(Xtr, y[tr])
    s = r2_score(y[va], m.predict(Xva))
    if best is None or s > best[0]:
        best = (s, a, m)
s, a, m = best
print(f"features {X.shape[1]}, alpha {a}, val R2 {s:.6f}, test r {pearsonr(m.predict(Xte), y[te])[0]:.6f}, "
      f"{time.perf_counter() - t0:.2f} s")
