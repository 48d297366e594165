#!/usr/bin/env python3
"""PyTorch side of bench/train.sh: the cisformer encoder architecture (pre-LN, explicit
softmax attention that also returns the probabilities, exact GELU, final LN, mean pooling,
MSE, AdamW) trained on random tokens; prints training and inference sequences/s.

Usage: train_torch.py D HEADS LAYERS TOKENS BATCH STEPS THREADS
"""
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

d, h, n, L, B, steps, threads = map(int, sys.argv[1:8])
torch.set_num_threads(threads)
torch.manual_seed(0)
V = 4101


class Attn(nn.Module):
    def __init__(s):
        super().__init__()
        s.q, s.k, s.v, s.o = (nn.Linear(d, d) for _ in range(4))
        s.dh = d // h

    def forward(s, x):
        b, l, _ = x.shape
        sh = lambda t: t.view(b, l, h, s.dh).transpose(1, 2)
        q, k, v = sh(s.q(x)), sh(s.k(x)), sh(s.v(x))
        p = torch.softmax(q @ k.transpose(-1, -2) / s.dh ** 0.5, -1)
        return s.o((p @ v).transpose(1, 2).reshape(b, l, d)), p


class Block(nn.Module):
    def __init__(s):
        super().__init__()
        s.ln1, s.ln2, s.at = nn.LayerNorm(d), nn.LayerNorm(d), Attn()
        s.up, s.down = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(s, x):
        x = x + s.at(s.ln1(x))[0]
        return x + s.down(F.gelu(s.up(s.ln2(x))))


class M(nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = nn.Embedding(V, d)
        s.pos = nn.Parameter(torch.randn(1024, d) * 0.02)
        s.bs = nn.ModuleList(Block() for _ in range(n))
        s.ln = nn.LayerNorm(d)
        s.head = nn.Linear(d, 1)

    def forward(s, ids):
        x = s.emb(ids) + s.pos[: ids.shape[1]]
        for b in s.bs:
            x = b(x)
        return s.head(s.ln(x).mean(1))


m = M()
opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.01)
ids = torch.randint(5, V, (B, L))
y = torch.randn(B, 1)
tr, inf = [], []
for i in range(steps + 2):
    t = time.perf_counter()
    opt.zero_grad()
    loss = F.mse_loss(m(ids), y)
    loss.backward()
    opt.step()
    if i >= 2:
        tr.append(time.perf_counter() - t)
    t = time.perf_counter()
    with torch.no_grad():
        m(ids)
    if i >= 2:
        inf.append(time.perf_counter() - t)
tr.sort()
inf.sort()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"torch {torch.__version__}: train {B / tr[len(tr) // 2]:.1f} seq/s, "
      f"infer {B / inf[len(inf) // 2]:.1f} seq/s, peak RSS {peak:.0f} MiB")
