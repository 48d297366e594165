#!/usr/bin/env python3
"""PyTorch reference for cisformer's encoder: writes the model goldens in tests/data/model/.

For each configuration below it
  1. initialises the weights with torch (seeded) and writes a cisformer model directory
     (config.json, model.safetensors, meta.json),
  2. runs the same architecture in PyTorch on fixed variable-length token batches and writes
     the outputs and every layer's and head's attention probabilities (unpadded),
  3. takes one AdamW step (same weights and batch; clipping, weight decay, attention
     regularisers as configured) and writes the loss and all updated parameters.

cisformer's tests/model_golden.rs loads these files and must agree within 1e-5 (forward) and
1e-4 (after the step). Regenerate with:

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch
    /tmp/torchvenv/bin/python tests/oracle/torch_reference.py tests/data/model [NAME...]
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

torch.set_num_threads(1)

CONFIGS = {
    # MHA, mean pooling, learned positions, regression, clipping active.
    "mha": dict(
        model=dict(k=3, stride=1, vocab_size=5 + 64, d_model=32, n_heads=4, n_kv_heads=4,
                   n_layers=2, ffn_dim=64, dropout=0.0, max_tokens=64, pooling="mean",
                   positional="learned", task="regression", n_outputs=1, layer_norm_eps=1e-5),
        optim=dict(lr=1e-3, min_lr=0.0, warmup_steps=0, total_steps=100, beta1=0.9,
                   beta2=0.999, eps=1e-8, weight_decay=0.01, clip_norm=0.5,
                   regularizers=dict(diversity=0.0, orthogonality=0.0, entropy=0.0)),
        seed=1, gate=None,
    ),
    # GQA (4 query heads share 2 K/V heads), CLS pooling, sinusoidal positions, two binary
    # labels, all three attention regularisers, one head gated to 0.
    "gqa": dict(
        model=dict(k=2, stride=1, vocab_size=5 + 16, d_model=24, n_heads=4, n_kv_heads=2,
                   n_layers=2, ffn_dim=48, dropout=0.0, max_tokens=64, pooling="cls",
                   positional="sinusoidal", task="binary", n_outputs=2, layer_norm_eps=1e-5),
        optim=dict(lr=2e-3, min_lr=0.0, warmup_steps=0, total_steps=100, beta1=0.9,
                   beta2=0.99, eps=1e-8, weight_decay=0.05, clip_norm=0.0,
                   regularizers=dict(diversity=0.3, orthogonality=0.2, entropy=0.1)),
        seed=2, gate=(1, 2),
    ),
    # The convolution stem over token embeddings (width 5), mean pooling over unequal
    # lengths, so padding must not leak into real tokens through the convolution.
    "conv": dict(
        model=dict(k=3, stride=1, vocab_size=5 + 64, d_model=16, n_heads=2, n_kv_heads=2,
                   n_layers=1, ffn_dim=32, dropout=0.0, max_tokens=64, pooling="mean",
                   positional="learned", task="regression", n_outputs=1, layer_norm_eps=1e-5,
                   conv_kernel=5),
        optim=dict(lr=1e-3, min_lr=0.0, warmup_steps=0, total_steps=100, beta1=0.9,
                   beta2=0.999, eps=1e-8, weight_decay=0.01, clip_norm=1.0,
                   regularizers=dict(diversity=0.0, orthogonality=0.0, entropy=0.0)),
        seed=3, gate=None,
    ),
    # Relative-position attention bias (offsets clipped at ±5 tokens, so the 23-token sequence
    # exercises the clipping), GQA, one head gated to 0, the entropy regulariser.
    "relbias": dict(
        model=dict(k=3, stride=1, vocab_size=5 + 64, d_model=24, n_heads=4, n_kv_heads=2,
                   n_layers=2, ffn_dim=48, dropout=0.0, max_tokens=64, pooling="mean",
                   positional="learned", task="regression", n_outputs=1, layer_norm_eps=1e-5,
                   relative_bias=5),
        optim=dict(lr=1e-3, min_lr=0.0, warmup_steps=0, total_steps=100, beta1=0.9,
                   beta2=0.999, eps=1e-8, weight_decay=0.01, clip_norm=1.0,
                   regularizers=dict(diversity=0.0, orthogonality=0.0, entropy=0.1)),
        seed=4, gate=(0, 1),
    ),
    # Max pooling over unequal lengths (padding must never be the maximum), with the conv
    # stem and relative bias of the recipes that use it, and one head gated to 0.
    "maxpool": dict(
        model=dict(k=3, stride=1, vocab_size=5 + 64, d_model=16, n_heads=4, n_kv_heads=4,
                   n_layers=2, ffn_dim=32, dropout=0.0, max_tokens=64, pooling="max",
                   positional="learned", task="regression", n_outputs=2, layer_norm_eps=1e-5,
                   conv_kernel=3, relative_bias=4),
        optim=dict(lr=1e-3, min_lr=0.0, warmup_steps=0, total_steps=100, beta1=0.9,
                   beta2=0.999, eps=1e-8, weight_decay=0.01, clip_norm=1.0,
                   regularizers=dict(diversity=0.0, orthogonality=0.0, entropy=0.0)),
        seed=5, gate=(1, 3),
    ),
    # No absolute positions: order enters only through the conv stem's zero padding and the
    # relative bias, as in the translation-invariant recipe.
    "nopos": dict(
        model=dict(k=3, stride=1, vocab_size=5 + 64, d_model=16, n_heads=2, n_kv_heads=2,
                   n_layers=2, ffn_dim=32, dropout=0.0, max_tokens=64, pooling="mean",
                   positional="none", task="regression", n_outputs=1, layer_norm_eps=1e-5,
                   conv_kernel=3, relative_bias=6),
        optim=dict(lr=1e-3, min_lr=0.0, warmup_steps=0, total_steps=100, beta1=0.9,
                   beta2=0.999, eps=1e-8, weight_decay=0.01, clip_norm=1.0,
                   regularizers=dict(diversity=0.0, orthogonality=0.0, entropy=0.0)),
        seed=6, gate=None,
    ),
    # Max-pooling 3 tokens into one attention position after the stem (no absolute
    # positions, so the stem runs as a table sum), over lengths that leave remainders and
    # one sequence with no whole window; relative bias on the pooled positions, max output.
    "pooled": dict(
        model=dict(k=2, stride=1, vocab_size=5 + 16, d_model=16, n_heads=2, n_kv_heads=2,
                   n_layers=2, ffn_dim=32, dropout=0.0, max_tokens=64, pooling="max",
                   positional="none", task="regression", n_outputs=1, layer_norm_eps=1e-5,
                   conv_kernel=5, relative_bias=3, pool=3),
        optim=dict(lr=1e-3, min_lr=0.0, warmup_steps=0, total_steps=100, beta1=0.9,
                   beta2=0.999, eps=1e-8, weight_decay=0.01, clip_norm=1.0,
                   regularizers=dict(diversity=0.0, orthogonality=0.0, entropy=0.1)),
        seed=7, gate=(1, 0),
    ),
}


def pooled_len(n, c):
    p = max(c.get("pool", 0), 1)
    return n if p == 1 else 2 + (n - 2) // p


def param_shapes(c):
    d, dh = c["d_model"], c["d_model"] // c["n_heads"]
    shapes = {"embeddings.tokens.weight": (c["vocab_size"], d)}
    if c["positional"] == "learned":
        shapes["embeddings.positions.weight"] = (c["max_tokens"], d)
    if c.get("conv_kernel", 0):
        shapes["embeddings.conv.weight"] = (d, d, c["conv_kernel"])
        shapes["embeddings.conv.bias"] = (d,)
    for i in range(c["n_layers"]):
        p = f"layers.{i}."
        for ln in ("ln1", "ln2"):
            shapes[p + ln + ".weight"] = (d,)
            shapes[p + ln + ".bias"] = (d,)
        for name, out, inp in (("q", c["n_heads"] * dh, d), ("k", c["n_kv_heads"] * dh, d),
                               ("v", c["n_kv_heads"] * dh, d), ("o", d, c["n_heads"] * dh)):
            shapes[p + f"attn.{name}.weight"] = (out, inp)
            if name != "k":  # a key bias cannot change softmax: cisformer has none
                shapes[p + f"attn.{name}.bias"] = (out,)
        if c.get("relative_bias", 0):
            shapes[p + "attn.rel.bias"] = (c["n_heads"], 2 * c["relative_bias"] + 1)
        shapes[p + "ffn.up.weight"] = (c["ffn_dim"], d)
        shapes[p + "ffn.up.bias"] = (c["ffn_dim"],)
        shapes[p + "ffn.down.weight"] = (d, c["ffn_dim"])
        shapes[p + "ffn.down.bias"] = (d,)
    shapes["final_ln.weight"] = (d,)
    shapes["final_ln.bias"] = (d,)
    shapes["head.weight"] = (c["n_outputs"], d)
    shapes["head.bias"] = (c["n_outputs"],)
    return shapes


def init_params(c, seed):
    g = torch.Generator().manual_seed(seed)
    params = {}
    for name, shape in sorted(param_shapes(c).items()):
        # Non-trivial biases and norms so the test exercises every parameter.
        if name.endswith(".weight") and ("ln" in name.split(".")[-2]):
            t = 1.0 + 0.1 * torch.randn(shape, generator=g)
        elif name.endswith("rel.bias"):
            t = 0.5 * torch.randn(shape, generator=g)
        elif name.endswith(".bias"):
            t = 0.05 * torch.randn(shape, generator=g)
        else:
            t = 0.2 * torch.randn(shape, generator=g)
        params[name] = t.float().requires_grad_(True)
    return params


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().float()
        data = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def sinusoidal(L, d):
    pe = torch.zeros(L, d, dtype=torch.float64)
    for pos in range(L):
        for i in range(d // 2):
            a = pos / 10000.0 ** (2.0 * i / d)
            pe[pos, 2 * i] = math.sin(a)
            pe[pos, 2 * i + 1] = math.cos(a)
    return pe.float()


def forward(P, c, seqs, gate=None, probe=None):
    B, L = len(seqs), max(len(s) for s in seqs)
    H, KV, d = c["n_heads"], c["n_kv_heads"], c["d_model"]
    dh = d // H
    ids = torch.zeros(B, L, dtype=torch.long)
    valid = torch.zeros(B, L, dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        valid[i, : len(s)] = True
    x = P["embeddings.tokens.weight"][ids]
    if c["positional"] == "learned":
        x = x + P["embeddings.positions.weight"][:L]
    elif c["positional"] == "sinusoidal":
        x = x + sinusoidal(L, d)
    if c.get("conv_kernel", 0):
        kw = c["conv_kernel"]
        xm = (x * valid.float()[:, :, None]).transpose(1, 2)
        y = F.conv1d(xm, P["embeddings.conv.weight"], P["embeddings.conv.bias"], padding=kw // 2)
        x = x + F.gelu(y.transpose(1, 2))
    p = max(c.get("pool", 0), 1)
    if p > 1:
        # [CLS], the maximum over each whole window of p content tokens, [SEP].
        rows = []
        for i, s in enumerate(seqs):
            n = len(s)
            w = (n - 2) // p
            body = x[i, 1:1 + w * p].reshape(w, p, d).amax(1)
            rows.append(torch.cat([x[i, :1], body, x[i, n - 1:n]]))
        L = max(r.shape[0] for r in rows)
        valid = torch.zeros(B, L, dtype=torch.bool)
        for i, r in enumerate(rows):
            valid[i, : r.shape[0]] = True
        x = torch.stack([torch.cat([r, torch.zeros(L - r.shape[0], d)]) for r in rows])
    ln = lambda x, p: F.layer_norm(x, (d,), P[p + ".weight"], P[p + ".bias"], c["layer_norm_eps"])
    lin = lambda x, p: x @ P[p + ".weight"].T + (P[p + ".bias"] if p + ".bias" in P else 0.0)
    probs = []
    for i in range(c["n_layers"]):
        p = f"layers.{i}."
        h = ln(x, p + "ln1")
        q = lin(h, p + "attn.q").view(B, L, H, dh).transpose(1, 2)
        k = lin(h, p + "attn.k").view(B, L, KV, dh).transpose(1, 2).repeat_interleave(H // KV, 1)
        v = lin(h, p + "attn.v").view(B, L, KV, dh).transpose(1, 2).repeat_interleave(H // KV, 1)
        s = q @ k.transpose(-1, -2) / math.sqrt(dh)
        if c.get("relative_bias", 0):
            R = c["relative_bias"]
            pos = torch.arange(L)
            off = (pos[None, :] - pos[:, None]).clamp(-R, R) + R  # [query, key]
            s = s + P[p + "attn.rel.bias"][:, off][None]
        s = s.masked_fill(~valid[:, None, None, :], float("-inf"))
        pr = torch.softmax(s, -1)
        if probe is not None:
            pr = probe(i, pr)
        probs.append(pr)
        o = pr @ v
        if gate is not None and gate[0] == i:
            g = torch.ones(H)
            g[gate[1]] = 0.0
            o = o * g[None, :, None, None]
        x = x + lin(o.transpose(1, 2).reshape(B, L, H * dh), p + "attn.o")
        x = x + lin(F.gelu(lin(ln(x, p + "ln2"), p + "ffn.up")), p + "ffn.down")
    if c["pooling"] == "max":
        # max over real tokens first, then the final norm
        return lin(ln((x + (valid.float()[:, :, None] - 1.0) * 1e9).amax(1), "final_ln"),
                   "head"), probs, valid
    x = ln(x, "final_ln")
    if c["pooling"] == "cls":
        pooled = x[:, 0]
    else:
        m = valid.float()[:, :, None]
        pooled = (x * m).sum(1) / m.sum(1)
    return lin(pooled, "head"), probs, valid


def regularisers(probs, valid, H):
    qm = valid.float()[:, None, :, None]
    div, orth, ent = 0.0, 0.0, 0.0
    for p in probs:
        B, _, L, _ = p.shape
        a = (p * qm).reshape(B, H, L * L)
        an = a / ((a ** 2).sum(-1, keepdim=True) + 1e-12).sqrt()
        div = div + ((an @ an.transpose(1, 2)).sum() - (an ** 2).sum()) / (B * H * (H - 1))
        a = p * qm
        gr = (a.transpose(-1, -2) @ a).reshape(B, H, L * L)
        inner = gr @ gr.transpose(1, 2)
        off = 1.0 - torch.eye(H)
        orth = orth + ((inner.relu() + 1e-12).sqrt() * off).sum() / (B * H * (H - 1))
        plogp = (p * torch.log(p + 1e-12)).sum(-1, keepdim=True)
        ent = ent - (plogp * qm).sum() / (qm.sum() * H)
    n = len(probs)
    return div / n, orth / n, ent / n


def lr_at(o, t):
    if t < o["warmup_steps"]:
        return o["lr"] * (t + 1) / o["warmup_steps"]
    span = max(o["total_steps"] - o["warmup_steps"], 1)
    prog = min((t - o["warmup_steps"]) / span, 1.0)
    return o["min_lr"] + (o["lr"] - o["min_lr"]) * 0.5 * (1 + math.cos(math.pi * prog))


def make_batch(c, seed, lengths):
    g = torch.Generator().manual_seed(seed + 100)
    seqs = []
    for n in lengths:
        body = torch.randint(5, c["vocab_size"], (n - 2,), generator=g).tolist()
        if n > 6:
            body[3] = 1  # one [UNK]
        seqs.append([2] + body + [3])
    y = torch.randn(len(seqs), c["n_outputs"], generator=g)
    if c["task"] == "binary":
        y = (y > 0).float()
    return seqs, y


def main(out_dir, only=None):
    for name, spec in CONFIGS.items():
        if only and name not in only:
            continue
        c, o = spec["model"], spec["optim"]
        P = init_params(c, spec["seed"])
        mdir = os.path.join(out_dir, name)
        os.makedirs(mdir, exist_ok=True)
        with open(os.path.join(mdir, "config.json"), "w") as f:
            json.dump(c, f, indent=2)
        with open(os.path.join(mdir, "meta.json"), "w") as f:
            json.dump({"format_version": 1, "crate_version": "torch-reference",
                       "seed": spec["seed"]}, f, indent=2)
        write_safetensors(os.path.join(mdir, "model.safetensors"), P)

        seqs, y = make_batch(c, spec["seed"], [17, 9, 23, 4])
        with torch.no_grad():
            out, probs, _ = forward(P, c, seqs, spec["gate"])
        attention = []
        for b, s in enumerate(seqs):
            n = pooled_len(len(s), c)
            attention.append([[probs[l][b, h, :n, :n].flatten().tolist()
                               for h in range(c["n_heads"])] for l in range(c["n_layers"])])

        # d output[0] / d attention (total derivative: later layers recomputed): a zero
        # leaf added to each layer's probabilities collects it.
        leaves = {}
        def grab(l, pr):
            z = torch.zeros_like(pr, requires_grad=True)
            leaves[l] = z
            return pr + z
        out_g, _, _ = forward(P, c, seqs, spec["gate"], probe=grab)
        out_g[:, 0].sum().backward()
        for p in P.values():
            p.grad = None
        attention_grad = []
        for b, s in enumerate(seqs):
            n = pooled_len(len(s), c)
            attention_grad.append([[leaves[l].grad[b, h, :n, :n].flatten().tolist()
                                    for h in range(c["n_heads"])] for l in range(c["n_layers"])])

        out, probs, valid = forward(P, c, seqs, spec["gate"])
        output = out.detach().tolist()
        if c["task"] == "regression":
            task = F.mse_loss(out, y)
        else:
            task = F.binary_cross_entropy_with_logits(out, y)
        r = o["regularizers"]
        loss = task
        if r["diversity"] or r["orthogonality"] or r["entropy"]:
            div, orth, ent = regularisers(probs, valid, c["n_heads"])
            loss = loss + r["diversity"] * div + r["orthogonality"] * orth + r["entropy"] * ent
        params = [P[k] for k in sorted(P)]
        opt = torch.optim.AdamW(params, lr=lr_at(o, 0), betas=(o["beta1"], o["beta2"]),
                                eps=o["eps"], weight_decay=o["weight_decay"], foreach=False)
        opt.zero_grad()
        loss.backward()
        gnorm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params)).item()
        if o["clip_norm"] > 0:
            torch.nn.utils.clip_grad_norm_(params, o["clip_norm"])
        opt.step()
        write_safetensors(os.path.join(out_dir, f"{name}_after_step.safetensors"), P)
        golden = {
            "optim": o, "gate": spec["gate"], "ids": seqs, "targets": y.tolist(),
            "output": output,
            "attention": attention, "attention_grad": attention_grad, "loss": loss.item(), "task_loss": task.item(),
            "grad_norm": gnorm, "torch_version": torch.__version__,
        }
        with open(os.path.join(out_dir, f"{name}_golden.json"), "w") as f:
            json.dump(golden, f)
        print(f"{name}: loss {loss.item():.6f}, grad norm {gnorm:.4f}")


if __name__ == "__main__":
    # Optional further arguments name the configurations to (re)write; default all.
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/model", sys.argv[2:])
