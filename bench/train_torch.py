#!/usr/bin/env python3
"""PyTorch side of bench/train.sh: the cisformer architecture (pre-LN, explicit softmax
attention that also returns the probabilities, exact GELU, final LN, mean pooling, MSE,
AdamW) trained on random sequences; prints training and inference sequences/s.

Configs (as benches/train.rs):
  encoder  d_model 128, 8 heads, 4 layers, 200 tokens of a 4,101-token vocabulary, learned
           positions, ffn 512, batch 32, no clipping;
  recipe   `cisformer train --preset default`: one token per base, a 15-wide convolution
           stem (residual, GELU), max-pooling 4 bases into one attention position, a
           learned relative-position bias of ±50 positions per head (learning 30x faster),
           d_model 128, 8 heads, 2 layers, ffn 256, 200 bp, batch 64, clipping at 1.

Usage: train_torch.py CONFIG STEPS THREADS [cpu|cuda]
"""
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

config, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
dev = sys.argv[4] if len(sys.argv) > 4 else "cpu"
sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
torch.set_num_threads(threads)
torch.manual_seed(0)
if config == "encoder":
    d, h, n, ffn, B, L, V, R, conv, pool, clip = 128, 8, 4, 512, 32, 200, 4101, 0, 0, 1, 0.0
elif config == "recipe":
    # 200 bases between [CLS] and [SEP]; 5 special tokens + 4 bases
    d, h, n, ffn, B, L, V, R, conv, pool, clip = 128, 8, 2, 256, 64, 202, 9, 50, 15, 4, 1.0
else:
    sys.exit(f"unknown config {config!r}: encoder or recipe")


class Attn(nn.Module):
    def __init__(s, L):
        super().__init__()
        s.q, s.k, s.v, s.o = (nn.Linear(d, d) for _ in range(4))
        s.dh = d // h
        if R:
            s.rel = nn.Parameter(torch.zeros(h, 2 * R + 1))
            pos = torch.arange(L)
            s.register_buffer("off", (pos[None, :] - pos[:, None]).clamp(-R, R) + R)

    def forward(s, x):
        b, l, _ = x.shape
        sh = lambda t: t.view(b, l, h, s.dh).transpose(1, 2)
        q, k, v = sh(s.q(x)), sh(s.k(x)), sh(s.v(x))
        sc = q @ k.transpose(-1, -2) / s.dh ** 0.5
        if R:
            sc = sc + s.rel[:, s.off][None]
        p = torch.softmax(sc, -1)
        return s.o((p @ v).transpose(1, 2).reshape(b, l, d)), p


class Block(nn.Module):
    def __init__(s, L):
        super().__init__()
        s.ln1, s.ln2, s.at = nn.LayerNorm(d), nn.LayerNorm(d), Attn(L)
        s.up, s.down = nn.Linear(d, ffn), nn.Linear(ffn, d)

    def forward(s, x):
        x = x + s.at(s.ln1(x))[0]
        return x + s.down(F.gelu(s.up(s.ln2(x))))


class M(nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = nn.Embedding(V, d)
        s.pos = nn.Parameter(torch.randn(1024, d) * 0.02) if not conv else None
        s.conv = nn.Conv1d(d, d, conv, padding=conv // 2) if conv else None
        s.pl = 2 + (L - 2) // pool if pool > 1 else L
        s.bs = nn.ModuleList(Block(s.pl) for _ in range(n))
        s.ln = nn.LayerNorm(d)
        s.head = nn.Linear(d, 1)

    def forward(s, ids):
        x = s.emb(ids)
        if s.pos is not None:
            x = x + s.pos[: ids.shape[1]]
        if s.conv is not None:
            x = x + F.gelu(s.conv(x.transpose(1, 2)).transpose(1, 2))
        if pool > 1:
            w = (L - 2) // pool
            body = x[:, 1:1 + w * pool].reshape(x.shape[0], w, pool, d).amax(2)
            x = torch.cat([x[:, :1], body, x[:, L - 1:L]], 1)
        for b in s.bs:
            x = b(x)
        return s.head(s.ln(x).mean(1))


m = M().to(dev)
rel = [p for name, p in m.named_parameters() if name.endswith(".rel")]
rest = [p for name, p in m.named_parameters() if not name.endswith(".rel")]
groups = [{"params": rest}] + ([{"params": rel, "lr": 30e-3}] if rel else [])
opt = torch.optim.AdamW(groups, lr=1e-3, weight_decay=0.01)
ids = torch.randint(5, V, (B, L))
if config == "recipe":
    ids[:, 0], ids[:, -1] = 2, 3  # [CLS], [SEP]
y = torch.randn(B, 1)
ids, y = ids.to(dev), y.to(dev)
tr, inf = [], []
for i in range(steps + 2):
    t = time.perf_counter()
    opt.zero_grad()
    loss = F.mse_loss(m(ids), y)
    loss.backward()
    if clip:
        nn.utils.clip_grad_norm_(m.parameters(), clip)
    opt.step()
    sync()
    if i >= 2:
        tr.append(time.perf_counter() - t)
    t = time.perf_counter()
    with torch.no_grad():
        m(ids)
    sync()
    if i >= 2:
        inf.append(time.perf_counter() - t)
tr.sort()
inf.sort()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"torch {torch.__version__} {config} on {dev} [d {d} h {h} n {n} ffn {ffn} conv {conv} pool {pool} rel {R} b {B}]: train {B / tr[len(tr) // 2]:.1f} seq/s, "
      f"infer {B / inf[len(inf) // 2]:.1f} seq/s, peak RSS {peak:.0f} MiB")
