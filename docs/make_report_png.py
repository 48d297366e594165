#!/usr/bin/env python3
"""Regenerates docs/report.png: a report rendered by headless Chromium, the header plus the
training, prediction and head-atlas sections, scaled to 65 %, 256 colours.

Needs chromium and python3-pil (Debian packages). Run from the repository root:
    python3 docs/make_report_png.py [REPORT.html]
With a report (e.g. cisformer_demo/report.html from `cisformer demo`) it shoots that one;
without, it builds the fixture report with target/debug/cisformer.
"""
import shutil
import sys
import os
import subprocess
import tempfile

from PIL import Image

D = "tests/data/report"
with tempfile.TemporaryDirectory() as tmp:
    html = os.path.join(tmp, "report.html")
    args = ["target/debug/cisformer", "report", "-q", "--model", f"{D}/model", "--title", "Fixture report",
            "-o", html]
    for flag in ["heads", "interactions", "validation", "spacing", "redundancy", "predictions", "labels",
                 "pruning", "forgetting"]:
        args += [f"--{flag}", f"{D}/{flag}.tsv"]
    if len(sys.argv) > 1:
        shutil.copy(sys.argv[1], html)
    else:
        subprocess.run(args, check=True)
    shot = os.path.join(tmp, "full.png")
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--user-data-dir={tmp}/profile", f"--screenshot={shot}", "--window-size=1280,9000",
                    "file://" + html], check=True, capture_output=True)
    im = Image.open(shot).convert("RGB")
px = im.load()
# Panels are framed by full-width border rows; a panel top follows the previous bottom
# after the 18 px gap. Panel tops after the first: parameters, training, ...
rows = [y for y in range(im.height) if all(px[x, y] == (217, 221, 229) for x in (200, 640, 1000))]
edges = [y for i, y in enumerate(rows) if i == 0 or y - rows[i - 1] > 3]
tops = [b for a, b in zip(edges, edges[1:]) if 15 <= b - a <= 25]
start = tops[1] - 14
top = im.crop((0, 0, 1280, 155))
band = im.crop((0, start, 1280, min(start + 2700, im.height)))
out = Image.new("RGB", (1280, top.height + band.height), (246, 247, 249))
out.paste(top, (0, 0))
out.paste(band, (0, top.height))
out = out.resize((832, int(out.height * 0.65)), Image.LANCZOS)
out = out.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
out.save("docs/report.png", optimize=True)
print("docs/report.png", out.size, os.path.getsize("docs/report.png"), "bytes")
