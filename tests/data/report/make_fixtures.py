#!/usr/bin/env python3
"""Regenerates the small, realistic report fixtures in this folder (python3, no packages).

Run from this folder: python3 make_fixtures.py. Seeded, so the output is stable.
"""
import json
import math
import random

rng = random.Random(7)
LAYERS, HEADS = 3, 4
MOTIFS = ["GATA1", "TAL1", "SP1", "CTCF", "KLF1", "NFE2", "YY1", "ETS1"]


def fmt(v, d=4):
    return f"{v:.{d}g}"


def write(path, header, rows):
    with open(path, "w") as f:
        f.write("\t".join(header) + "\n")
        for r in rows:
            f.write("\t".join(str(x) for x in r) + "\n")


config = {
    "model": {"n_layers": LAYERS, "n_heads": HEADS, "d_model": 64, "d_ff": 128, "dropout": 0.1,
              "max_len": 512},
    "tokenizer": {"k": 6, "stride": 1, "specials": ["CLS", "SEP", "PAD", "MASK", "UNK"]},
    "train": {"epochs": 10, "batch_size": 32, "lr": 3e-4, "warmup_steps": 50, "weight_decay": 0.01,
              "loss": "mse", "seed": 42},
}
meta = {
    "format_version": 1, "crate_version": "0.1.0", "seed": 42,
    "label_names": ["activity_k562", "activity_hepg2"],
    "normalisation": {"activity_k562": {"mean": 1.21, "sd": 0.84},
                      "activity_hepg2": {"mean": 0.93, "sd": 0.77}},
    "train_digest": "sha256:5f1c0e7d9a", "metrics": {"val_pearson": 0.81, "val_spearman": 0.78},
    "split": {"train": 2400, "val": 300, "test": 300},
}
with open("model/config.json", "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
with open("model/meta.json", "w") as f:
    json.dump(meta, f, indent=2)
    f.write("\n")

rows = []
for epoch in range(1, 11):
    step = epoch * 75
    secs = 11.5 + rng.random()  # per epoch, as train writes it
    tl = 0.35 + 0.9 * math.exp(-epoch / 2.5) + rng.gauss(0, 0.01)
    vl = 0.42 + 0.8 * math.exp(-epoch / 3.0) + rng.gauss(0, 0.015)
    vp = 0.82 - 0.55 * math.exp(-epoch / 2.8) + rng.gauss(0, 0.01)
    vs = vp - 0.03 + rng.gauss(0, 0.01)
    lr = 3e-4 * min(1.0, step / 50) * 0.5 * (1 + math.cos(math.pi * step / 750))
    rows.append([epoch, step, fmt(tl), fmt(lr, 3), fmt(secs, 5), fmt(vl), fmt(vl, 4), fmt(vp), fmt(vs),
                 fmt(vp * vp - 0.02)])
write("model/train_log.tsv",
      ["epoch", "step", "train_loss", "lr", "seconds", "val_loss", "val_mse", "val_pearson", "val_spearman",
       "val_r2"], rows)

# Predictions and labels for 120 test sequences (labels list 130 ids: some are not predicted).
pred, lab = [], []
for i in range(130):
    a = rng.gauss(1.2, 0.85)
    b = 0.6 * a + rng.gauss(0.2, 0.6)
    lab.append([f"seq{i:04d}", fmt(a), fmt(b)])
    if i < 120:
        pred.append([f"seq{i:04d}", fmt(0.8 * a + rng.gauss(0.25, 0.35)), fmt(0.7 * b + rng.gauss(0.3, 0.4)),
                     fmt(rng.random())])
write("labels.tsv", ["id", "activity_k562", "activity_hepg2"], lab)
write("predictions.tsv", ["id", "activity_k562", "activity_hepg2", "uncertainty"], pred)

heads = []
for layer in range(LAYERS):
    for h in range(HEADS):
        ent = (1.2 + 0.5 * layer + rng.random() * 1.5) / math.log(200)  # normalised, as heads writes it
        dist = 8 + 25 * layer + rng.random() * 40
        local = max(0.02, 0.8 - 0.2 * layer - rng.random() * 0.3)
        bnd = rng.random() * (0.15 if layer < 2 else 0.6)
        focus = layer > 0 and rng.random() < 0.7
        motif = rng.choice(MOTIFS) if focus else "NA"
        enr = fmt(1.5 + rng.random() * 6) if focus else "NA"
        p = fmt(10 ** -(2 + rng.random() * 8), 3) if focus else "NA"
        red = rng.random() * 0.9
        sim = f"L{rng.randrange(LAYERS)}H{rng.randrange(HEADS)}"
        dm = rng.gauss(0.01, 0.02)
        heads.append([layer, h, fmt(ent), fmt(dist), fmt(local), fmt(bnd), motif, enr, p, fmt(red), sim,
                      fmt(dm, 3), fmt(abs(dm) * 1.7, 3), "true" if abs(dm) < 0.004 and red > 0.5 else "false",
                      rng.choice(["q", "k", "qk"])])
write("heads.tsv",
      ["layer", "head", "entropy", "mean_distance_bp", "local_fraction", "boundary_fraction", "top_motif",
       "top_motif_enrichment", "top_motif_p", "redundancy", "most_similar_head", "importance_dmetric",
       "importance_dpred", "prune_candidate", "notes"], heads)

red = []
ids = [(l, h) for l in range(LAYERS) for h in range(HEADS)]
for i, a in enumerate(ids):
    for b in ids[i:]:
        s = 1.0 if a == b else max(0.0, min(1.0, 0.15 + 0.5 * (a[0] == b[0]) * rng.random() + rng.random() * 0.3))
        red.append([a[0], a[1], b[0], b[1], fmt(s, 3)])
write("redundancy.tsv", ["layer_a", "head_a", "layer_b", "head_b", "similarity"], red)

pairs = [("GATA1", "TAL1"), ("KLF1", "NFE2"), ("SP1", "YY1"), ("GATA1", "KLF1"), ("ETS1", "GATA1"),
         ("CTCF", "SP1"), ("TAL1", "NFE2"), ("YY1", "ETS1")]
inter = []
for rank in range(1, 31):
    a, b = pairs[(rank - 1) % len(pairs)] if rank <= 8 else rng.sample(MOTIFS, 2)
    co = 0.08 * math.exp(-rank / 10) + 0.01 + rng.random() * 0.004
    bg = 0.01 + rng.random() * 0.004
    pv = 10 ** -(12 - rank * 0.35 + rng.random())
    inter.append([rank, a, b, 1 + rank % 2, rng.randrange(HEADS), 40 + rng.randrange(400), 30 + rng.randrange(200),
                  fmt(co), fmt(bg), fmt(co / bg), fmt(pv, 3), fmt(min(1, pv * 30 / rank), 3),
                  10 + rng.randrange(80), rng.choice(["++", "+-", "-+", "--"]), fmt(rng.random(), 3)])
write("interactions.tsv",
      ["rank", "motif_a", "motif_b", "layer", "head", "n_pairs", "n_seqs", "co_attention", "background",
       "effect", "p_value", "q_value", "median_distance_bp", "orientation", "stability"], inter)

val = []
for i, (a, b) in enumerate(pairs[:6]):
    e = 0.6 - 0.1 * i + rng.gauss(0, 0.05)
    w = 0.08 + rng.random() * 0.05
    verdict = "confirmed" if e - w > 0.15 else ("weak" if e > 0.1 else "not_confirmed")
    val.append([a, b, i + 1, fmt(e, 3), fmt(e - w, 3), fmt(e + w, 3), 10 + 5 * rng.randrange(8),
                fmt(0.3 - 0.05 * i + rng.gauss(0, 0.03), 3), verdict, 200])
write("validation.tsv",
      ["motif_a", "motif_b", "coattention_rank", "epistasis", "epistasis_ci_low", "epistasis_ci_high",
       "best_spacing_bp", "head_ablation_effect", "verdict", "n_seqs"], val)

spacing = []
for i, (a, b) in enumerate(pairs[:3]):
    best = 20 + 10 * i
    for orient in ["same", "opposite"]:
        amp = 0.5 - 0.1 * i if orient == "same" else 0.25 - 0.05 * i
        for d in range(5, 101, 5):
            coop = amp * math.exp(-((d - best) / 12) ** 2) + rng.gauss(0, 0.02)
            co = 0.02 + amp * 0.12 * math.exp(-((d - best) / 15) ** 2) + rng.gauss(0, 0.002)
            spacing.append([a, b, orient, d, fmt(coop, 3), fmt(co, 3)])
write("spacing.tsv", ["motif_a", "motif_b", "orientation", "distance_bp", "cooperativity", "co_attention"],
      spacing)

prune = []
for n in [0, 2, 4, 6, 8]:
    prune.append([n, fmt(n / 12, 3), fmt(0.81 - 0.002 * n * n / 2, 3), fmt(-0.001 * n * n, 3),
                  fmt(1 - n / 14, 3)])
write("pruning.tsv", ["n_pruned", "fraction_pruned", "val_pearson", "delta_pearson", "relative_flops"], prune)

forget = []
for task in ["activity_k562", "activity_hepg2"]:
    before = 0.8 + rng.random() * 0.05
    after = before - rng.random() * 0.08
    forget.append([task, "hepg2_finetune", fmt(before, 3), fmt(after, 3), fmt(before - after, 3)])
write("forgetting.tsv", ["task", "after", "val_pearson_before", "val_pearson_after", "forgetting"], forget)

# Activation patching (no random draws, so the fixtures above stay the same): one head
# restores most of the difference, layer 2 head 3 has no value.
patch = []
clean, corrupt = 1.84, 1.12
for layer in range(LAYERS):
    for head in range(HEADS):
        r = 0.72 if (layer, head) == (1, 2) else 0.05 * ((layer * HEADS + head) % 5) - 0.04
        na = (layer, head) == (2, 3)
        patched = corrupt + r * (clean - corrupt)
        patch.append([layer, head, "NA" if na else fmt(r, 3), clean, corrupt,
                      "NA" if na else fmt(patched, 4), 120])
write("patch.tsv", ["layer", "head", "restored", "mean_clean", "mean_corrupt", "mean_patched", "n"], patch)

# The model folder's metrics.tsv and split.tsv as train writes them, a simulate summary.json
# beside labels.tsv, and a null run's tables (own random stream, so the fixtures above stay
# the same). Split: ids ending in 8 are validation, in 9 test, the rest training.
metrics = []
for model, shift in [("transformer", 0.0), ("ridge", -0.08)]:
    for set_, base in [("training", 0.9), ("validation", 0.8), ("test", 0.78)]:
        for out, o in [("activity_k562", 0.0), ("activity_hepg2", -0.02)]:
            r = base + shift + o
            metrics.append([model, set_, out, {"training": 2400, "validation": 300, "test": 300}[set_],
                            fmt(r), fmt(r - 0.02), fmt(r * r - 0.03), fmt(1 - r * r + 0.1), "NA", "NA"])
write("model/metrics.tsv", ["model", "set", "output", "n", "pearson", "spearman", "r2", "mse", "auroc", "auprc"],
      metrics)
write("model/split.tsv", ["id", "set"],
      [[f"seq{i:04d}", {8: "validation", 9: "test"}.get(i % 10, "training")] for i in range(130)])
with open("summary.json", "w") as f:
    json.dump({"length": 200, "n": 3000, "seed": 7,
               "outputs": [{"name": "activity_k562", "noise_ceiling": 0.93},
                           {"name": "activity_hepg2", "noise_ceiling": 0.91}]}, f, indent=2)
    f.write("\n")

import os
nrng = random.Random(11)
os.makedirs("null", exist_ok=True)
null_pairs = [(a, b) for i, a in enumerate(MOTIFS) for b in MOTIFS[i:]]
pp = sorted((nrng.random() ** 0.8, a, b) for a, b in null_pairs)
write("null/pairs.tsv", ["rank", "motif_a", "motif_b", "p_value", "q_value"],
      [[i + 1, a, b, fmt(p, 4), fmt(min(1.0, p * len(pp) / (i + 1)), 4)] for i, (p, a, b) in enumerate(pp)])
rows_p = sorted((nrng.random(), a, b, h) for a, b in null_pairs for h in range(HEADS))
write("null/interactions.tsv", ["rank", "motif_a", "motif_b", "layer", "head", "p_value", "q_value"],
      [[i + 1, a, b, 0, h, fmt(p, 4), fmt(min(1.0, p * len(rows_p) / (i + 1)), 4)]
       for i, (p, a, b, h) in enumerate(rows_p)])
# One false call (q < 0.05) in the validation table, to be counted.
vp = [0.0004] + [nrng.random() for _ in range(9)]
write("null/validation.tsv", ["motif_a", "motif_b", "verdict", "effect_p", "effect_q"],
      [[a, b, "effect-only" if i == 0 else "neither", fmt(p, 4), fmt(0.004 if i == 0 else 1.0, 4)]
       for i, ((a, b), p) in enumerate(zip(null_pairs, vp))])
