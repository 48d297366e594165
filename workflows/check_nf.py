#!/usr/bin/env python3
"""Static checks of workflows/main.nf (Nextflow cannot run in CI: its launcher downloads itself).

1. Every `params.X` used in main.nf or nextflow.config is declared with a default
   (`params.X = ...` in either file).
2. main.nf declares every key of config.yaml (the two workflows share their settings' names).
3. Inside each process's script, every `${...}` names a declared input, a `def` of that
   script, `task` or `params`; and a process never reads a file through `params`: the params
   it uses must be values (VALUE_PARAMS below), so files arrive as `path` inputs (staged,
   cached, relative paths resolved by Nextflow).
4. Every process is called in the workflow block with as many arguments as it has inputs.

Usage: python3 workflows/check_nf.py [workflows/main.nf]   (exit 1 with a list of problems)
"""
import re
import sys
from pathlib import Path

# Parameters that are values, not files: a process script may interpolate these.
VALUE_PARAMS = {
    "cisformer",  # the binary, a tool on the PATH or an absolute path, not data
    "outdir", "simulate", "sim_n", "sim_len", "seed", "shards", "threads", "epochs",
    "train_args", "heads_args", "validate_args", "queue",
}
# Parameters that name input files: only the workflow block may read them (file(...)).
FILE_PARAMS = {"fasta", "labels", "motifs", "train_config"}


def strip_comments(text):
    out = []
    for line in text.splitlines():
        # `//` outside a string: good enough for these files (no URLs inside strings).
        in_s = None
        for i, c in enumerate(line):
            if in_s:
                if c == in_s and line[i - 1] != "\\":
                    in_s = None
            elif c in "'\"":
                in_s = c
            elif line.startswith("//", i):
                line = line[:i]
                break
        out.append(line)
    return "\n".join(out)


def block(text, start):
    """Text between the `{` at or after `start` and its matching `}`."""
    i = text.index("{", start)
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    raise ValueError("unbalanced braces")


def sections(body):
    """A process body split at `input:`, `output:`, `script:` (and other labels)."""
    parts, cur = {"head": []}, "head"
    for line in body.splitlines():
        m = re.match(r"\s*(input|output|script|shell|exec|when|stub):\s*$", line)
        if m:
            cur = m.group(1)
            parts[cur] = []
        else:
            parts[cur].append(line)
    return {k: "\n".join(v) for k, v in parts.items()}


def input_names(inp):
    names, count = set(), 0
    for line in inp.splitlines():
        line = line.strip()
        if not line:
            continue
        kind = line.split()[0].split("(")[0]
        if kind not in {"path", "val", "tuple", "each", "env", "stdin", "file"}:
            continue
        count += 1
        # path(x), val(x) inside tuples; `path x`, `each i`, `val x` (optionally `, stageAs: ...`)
        names.update(re.findall(r"\b(?:path|val|file|env)\(\s*(\w+)\s*\)", line))
        m = re.match(r"(?:path|val|each|file)\s+(\w+)", line)
        if m:
            names.add(m.group(1))
    return names, count


def split_args(s):
    args, depth, cur = [], 0, ""
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            args.append(cur)
            cur = ""
        else:
            cur += c
    if cur.strip():
        args.append(cur)
    return [a for a in args if a.strip()]


def main():
    nf = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("main.nf"))
    here = nf.parent
    conf = here / "nextflow.config"
    yaml = here / "config.yaml"
    text = strip_comments(nf.read_text())
    conf_text = strip_comments(conf.read_text()) if conf.exists() else ""
    problems = []

    declared = set(re.findall(r"^\s*params\.(\w+)\s*=", text, re.M))
    declared |= set(re.findall(r"^\s*params\.(\w+)\s*=", conf_text, re.M))
    for m in re.finditer(r"\bparams\s*\{", conf_text):
        declared |= set(re.findall(r"^\s*(\w+)\s*=", block(conf_text, m.start()), re.M))
    used = set(re.findall(r"\bparams\.(\w+)", text)) | set(re.findall(r"\bparams\.(\w+)", conf_text))
    for p in sorted(used - declared):
        problems.append(f"params.{p} is used but never declared with a default")
    for p in sorted(declared - VALUE_PARAMS - FILE_PARAMS):
        problems.append(
            f"params.{p}: classify it in check_nf.py (VALUE_PARAMS or FILE_PARAMS)")

    if yaml.exists():
        keys = set(re.findall(r"^(\w+):", yaml.read_text(), re.M))
        for k in sorted(keys - declared):
            problems.append(f"config.yaml key '{k}' has no params.{k} in main.nf")

    inputs_count = {}
    for m in re.finditer(r"^process\s+(\w+)\s*\{", text, re.M):
        name = m.group(1)
        secs = sections(block(text, m.start()))
        names, count = input_names(secs.get("input", ""))
        inputs_count[name] = count
        script = secs.get("script", "") + secs.get("shell", "")
        defs = set(re.findall(r"\bdef\s+(\w+)", script))
        allowed = names | defs | {"task", "params"}
        exprs = re.findall(r"\$\{([^}]*)\}", script) + re.findall(r"\$(\w+)", script)
        for e in exprs:
            for ident in re.findall(r"(?<![\w.'\"])([A-Za-z_]\w*)", e):
                if ident not in allowed:
                    problems.append(
                        f"process {name}: '${{{e}}}' uses '{ident}', which is not an input,"
                        " a def of the script, task or params")
        for p in sorted(set(re.findall(r"\bparams\.(\w+)", script))):
            if p not in VALUE_PARAMS:
                problems.append(
                    f"process {name}: reads params.{p} in its script; a file must be a"
                    " declared `path` input (pass file(params.X) from the workflow block)")
    if not inputs_count:
        problems.append("no process found")

    wf = re.search(r"^workflow\s*\{", text, re.M)
    if not wf:
        problems.append("no workflow block")
    else:
        body = block(text, wf.start())
        for name, count in inputs_count.items():
            calls = [c for c in re.finditer(rf"\b{name}\s*\(", body)]
            if not calls:
                problems.append(f"process {name} is never called")
            for c in calls:
                i = c.end()
                depth, j = 1, i
                while depth:
                    depth += {"(": 1, ")": -1}.get(body[j], 0)
                    j += 1
                n = len(split_args(body[i : j - 1]))
                if n != count:
                    problems.append(f"process {name}: called with {n} arguments, has {count} inputs")

    for p in problems:
        print(f"check_nf: {nf}: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"check_nf: {nf}: {len(inputs_count)} processes, {len(declared)} params: ok")


if __name__ == "__main__":
    main()
