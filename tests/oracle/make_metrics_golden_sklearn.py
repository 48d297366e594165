#!/usr/bin/env python3
"""Golden values for cisformer's metrics and k-mer ridge baseline, from scipy and scikit-learn.

Writes tests/data/train/sklearn_golden.json (read by tests/train_metrics.rs and
tests/train_baseline.rs). Run from the repository root in a virtual environment
outside the repo:

    python3 -m venv /tmp/pyvenv && /tmp/pyvenv/bin/pip install numpy scipy scikit-learn
    /tmp/pyvenv/bin/python tests/oracle/make_metrics_golden_sklearn.py

Checked with numpy 2.4.6, scipy 1.17.1, scikit-learn 1.9.1. Everything is drawn
from a fixed seed, so reruns give the same file.
"""
import json
import os

import numpy as np
import scipy
import sklearn
from scipy.stats import pearsonr, spearmanr
from sklearn.linear_model import Ridge
from sklearn.metrics import average_precision_score, mean_squared_error, r2_score, roc_auc_score
from sklearn.preprocessing import StandardScaler

OUT = os.path.join("tests", "data", "train", "sklearn_golden.json")
rng = np.random.default_rng(20100518)


def metric_case(name, pred, target, binary):
    pred = [float(v) for v in pred]
    target = [float(v) for v in target]
    exp = {
        "pearson": float(pearsonr(pred, target)[0]),
        "spearman": float(spearmanr(pred, target)[0]),
        "r2": float(r2_score(target, pred)),
        "mse": float(mean_squared_error(target, pred)),
    }
    if binary:
        exp["auroc"] = float(roc_auc_score(target, pred))
        exp["auprc"] = float(average_precision_score(target, pred))
    return {"name": name, "pred": pred, "target": target, "binary": binary, "expected": exp}


cases = []
x = rng.normal(size=500)
y = 0.6 * x + rng.normal(size=500)
cases.append(metric_case("gaussian_n500", x, y, False))
# Heavy ties on both sides (integer bins, as in the Sort-Seq data).
t = rng.integers(0, 10, size=300)
p = np.round(t * 0.3 + rng.normal(size=300), 1)
cases.append(metric_case("tied_bins_n300", p, t, False))
# Binary targets, continuous scores.
lab = (rng.random(400) < 0.3).astype(float)
sc = lab * 0.8 + rng.normal(size=400)
cases.append(metric_case("binary_n400", sc, lab, True))
# Binary targets, heavily tied scores.
lab = (rng.random(250) < 0.5).astype(float)
sc = np.round(lab * 0.5 + rng.random(250), 1)
cases.append(metric_case("binary_tied_n250", sc, lab, True))
# Rare positives.
lab = np.zeros(100)
lab[[3, 50, 97]] = 1.0
sc = rng.random(100)
cases.append(metric_case("binary_rare_n100", sc, lab, True))
cases.append(metric_case("tiny_n5", [0.1, 0.5, 0.2, 0.9, 0.4], [1.0, 3.0, 2.0, 5.0, 3.0], False))


# k-mer ridge: canonical k-mers (both strands summed), standardised, sklearn Ridge.
def canonical(kmer):
    rc = kmer[::-1].translate(str.maketrans("ACGT", "TGCA"))
    return min(kmer, rc)


def features(seqs, kmin, kmax):
    names = sorted({canonical("".join(c)) for k in range(kmin, kmax + 1)
                    for c in np.array(np.meshgrid(*[list("ACGT")] * k)).T.reshape(-1, k)})
    index = {n: i for i, n in enumerate(names)}
    X = np.zeros((len(seqs), len(names)))
    for r, s in enumerate(seqs):
        for k in range(kmin, kmax + 1):
            for i in range(len(s) - k + 1):
                w = s[i:i + k]
                if set(w) <= set("ACGT"):
                    X[r, index[canonical(w)]] += 1
    return X


n, length = 160, 24
seqs = ["".join(rng.choice(list("ACGT"), size=length)) for _ in range(n)]
seqs[7] = seqs[7][:10] + "N" + seqs[7][11:]
y = np.array([s.count("GATA") + s.count("TATC") + 0.3 * s.count("C") for s in seqs]) + rng.normal(scale=0.5, size=n)
y2 = np.array([s.count("A") - s.count("T") for s in seqs], dtype=float)
# cisformer keeps targets as f32: round them the same way so both sides fit identical data.
y = y.astype(np.float32).astype(np.float64)
y2 = y2.astype(np.float32).astype(np.float64)
train, test = list(range(120)), list(range(120, n))
kmin, kmax, alpha = 1, 3, 10.0
X = features(seqs, kmin, kmax)
scaler = StandardScaler().fit(X[train])
preds = []
for target in (y, y2):
    model = Ridge(alpha=alpha, fit_intercept=True, solver="cholesky").fit(scaler.transform(X[train]), target[train])
    preds.append(model.predict(scaler.transform(X[test])).tolist())
ridge = {
    "kmin": kmin,
    "kmax": kmax,
    "alpha": alpha,
    "seqs": seqs,
    "targets": [[float(a), float(b)] for a, b in zip(y, y2)],
    "train": train,
    "test": test,
    "test_predictions": [[a, b] for a, b in zip(*preds)],
}

doc = {
    "generator": "tests/oracle/make_metrics_golden_sklearn.py",
    "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__},
    "metrics": cases,
    "ridge": ridge,
}
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump(doc, f, indent=1)
    f.write("\n")
print(f"wrote {OUT}")
