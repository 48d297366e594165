#!/usr/bin/env python3
"""Scan benchmark: cisformer scan vs FIMO 5.4.1, MOODS and memelite in one run.

Usage: python3 bench/scan_peers.py CISFORMER MOTIFS.meme GENOME.fa [--fimo-bp N] [--fimo PATH]
Prints one table per input size: wall and CPU seconds, hits at p < 1e-4, and each
peer's CPU time divided by cisformer's (single thread each; cisformer also with all
threads). CPU time (user+sys) is reported because the machine may be shared.
FIMO is run on the first --fimo-bp bases only (it needs minutes per megabase).
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_self():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_cmd(cmd, out_path):
    c0, t0 = cpu_children(), time.perf_counter()
    with open(out_path, "w") as out:
        subprocess.run(cmd, stdout=out, stderr=subprocess.DEVNULL, check=True)
    wall, cpu = time.perf_counter() - t0, cpu_children() - c0
    with open(out_path) as f:
        hits = sum(1 for _ in f) - 1
    return wall, cpu, max(hits, 0)


def read_meme(path):
    motifs, cur = [], None
    for line in open(path):
        t = line.split()
        if line.startswith("MOTIF"):
            cur = {"id": t[1], "nsites": 20.0, "rows": []}
            motifs.append(cur)
        elif line.startswith("letter-probability") and cur is not None:
            if "nsites=" in t:
                cur["nsites"] = float(t[t.index("nsites=") + 1])
        elif cur is not None and len(t) == 4 and t[0][0] in "0123456789.":
            cur["rows"].append([float(x) for x in t])
    return motifs


def read_fasta(path):
    seqs, name, buf = [], None, []
    for line in open(path):
        if line.startswith(">"):
            if name is not None:
                seqs.append((name, "".join(buf)))
            name, buf = line[1:].split()[0], []
        else:
            buf.append(line.strip())
    if name is not None:
        seqs.append((name, "".join(buf)))
    return seqs


def bench_moods(motifs, fasta, p):
    import MOODS.scan
    import MOODS.tools
    c0, t0 = cpu_self(), time.perf_counter()
    bg = MOODS.tools.flat_bg(4)
    mats = []
    for m in motifs:
        counts = [[r[b] * m["nsites"] for r in m["rows"]] for b in range(4)]
        lo = MOODS.tools.log_odds(counts, bg, 0.1)
        mats.append(lo)
        mats.append(MOODS.tools.reverse_complement(lo))
    thr = [MOODS.tools.threshold_from_p(m, bg, p) for m in mats]
    scanner = MOODS.scan.Scanner(7)
    scanner.set_motifs(mats, bg, thr)
    hits = 0
    for _, s in read_fasta(fasta):
        for r in scanner.scan(s):
            hits += len(r)
    return time.perf_counter() - t0, cpu_self() - c0, hits


def bench_memelite(meme, fasta, p, warm_fa):
    from memelite import fimo
    fimo(meme, warm_fa, threshold=p)  # numba JIT compile, not timed
    c0, t0 = cpu_self(), time.perf_counter()
    res = fimo(meme, fasta, threshold=p)
    hits = sum(len(df) for df in res)
    return time.perf_counter() - t0, cpu_self() - c0, hits


def write_prefix(genome, n, path):
    seqs = read_fasta(genome)
    with open(path, "w") as f:
        for name, s in seqs:
            f.write(f">{name}\n{s[:n]}\n")
            n -= min(n, len(s))
            if n == 0:
                break


def table(title, rows):
    base = next(r for r in rows if r[0] == "cisformer" and r[1] == "1")[3]
    print(f"\n{title}")
    print(f"| tool | threads | wall s | CPU s | hits (p<1e-4) | CPU ratio peer/cisformer |")
    print("|---|---|---|---|---|---|")
    for tool, thr, wall, cpu, hits in rows:
        ratio = "1.0" if tool == "cisformer" else f"{cpu / base:.1f}x"
        if tool == "cisformer" and thr != "1":
            ratio = "-"
        print(f"| {tool} | {thr} | {wall:.2f} | {cpu:.2f} | {hits} | {ratio} |")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cisformer")
    ap.add_argument("motifs")
    ap.add_argument("genome")
    ap.add_argument("--fimo", default=os.environ.get("FIMO", "../shared/tools/bin/fimo"))
    ap.add_argument("--fimo-bp", type=int, default=100_000)
    ap.add_argument("--skip-genome", action="store_true")
    a = ap.parse_args()
    p = 1e-4
    motifs = read_meme(a.motifs)
    tmp = tempfile.mkdtemp(prefix="scanbench.")
    small = os.path.join(tmp, "small.fa")
    warm = os.path.join(tmp, "warm.fa")
    write_prefix(a.genome, a.fimo_bp, small)
    write_prefix(a.genome, 2000, warm)
    os.environ["NUMBA_NUM_THREADS"] = "1"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    inputs = [(small, f"{len(motifs)} JASPAR motifs x {a.fimo_bp:,} bp (both strands)", True)]
    if not a.skip_genome:
        n = sum(len(s) for _, s in read_fasta(a.genome))
        inputs.append((a.genome, f"{len(motifs)} JASPAR motifs x whole genome, {n:,} bp (both strands)", False))
    for fa, title, with_fimo in inputs:
        rows = []
        out = os.path.join(tmp, "out.tsv")
        w, c, h = run_cmd([a.cisformer, "scan", "-q", "-j", "1", "-m", a.motifs, "-f", fa], out)
        rows.append(("cisformer", "1", w, c, h))
        w, c, h = run_cmd([a.cisformer, "scan", "-q", "-m", a.motifs, "-f", fa], out)
        rows.append(("cisformer", str(os.cpu_count()), w, c, h))
        same = None
        if with_fimo and os.path.exists(a.fimo):
            fout = os.path.join(tmp, "fimo.tsv")
            w, c, h = run_cmd([a.fimo, "--text", "--verbosity", "1", "--bfile", "--uniform--",
                               "--thresh", "1e-4", a.motifs, fa], fout)
            rows.append(("FIMO 5.4.1", "1", w, c, h))
            same = open(fout, "rb").read() == open(out, "rb").read()
        try:
            rows.append(("MOODS 1.9.4.1", "1", *bench_moods(motifs, fa, p)))
        except ImportError:
            print("(MOODS not installed)")
        try:
            rows.append(("memelite 0.5.0", "1", *bench_memelite(a.motifs, fa, p, warm)))
        except ImportError:
            print("(memelite not installed)")
        table(title, rows)
        if same is not None:
            print(f"cisformer output byte-identical to FIMO's: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
