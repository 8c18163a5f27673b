#!/usr/bin/env python3
"""Dependencies point down: each module of the responder includes only modules of its own
layer or of the layers below it, as the README's module table orders them.

    scripts/check-layers.py [README] [SRC]     (default README.md, fcgi-app/src)
    scripts/check-layers.py --self-test        the check fails on a tree that breaks it

The table is the one under "The responder's modules" in README.md, rows top (process) to
bottom (leaves): | layer | `mod`, `mod` | concern |. Checked:
  - every module (NAME.c or NAME.h in SRC) is in exactly one row, and every row's module
    exists;
  - every #include "x.h" of a module names a module of the same or a lower layer, and no
    two modules include each other, directly or not;
  - libraries stay in their one module: libfcgi only in fastcgi, libcurl only in
    cluster_poll, iniparser only in config and ini_strict.
Prints one line per violation and exits 1 if there is any.
"""

import os
import re
import shutil
import sys
import tempfile

LIBRARIES = {  # header prefix -> the modules that may include it
    "fcgiapp.h": {"fastcgi"}, "fastcgi.h": {"fastcgi"}, "fcgi_stdio.h": set(),
    "curl/": {"cluster_poll"},
    "iniparser.h": {"config", "ini_strict"},
}


def read_table(readme):
    rows, in_table = [], False
    with open(readme, encoding="utf-8") as f:
        for line in f:
            if re.match(r"\|\s*layer\s*\|\s*modules\s*\|", line):
                in_table = True
                continue
            if in_table:
                if not line.startswith("|"):
                    break
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                if set(cells[0]) <= set("-: "):
                    continue
                rows.append((cells[0], re.findall(r"`([a-z_0-9]+)`", cells[1])))
    return rows


def modules_of(src):
    return sorted({os.path.splitext(n)[0] for n in os.listdir(src)
                   if n.endswith((".c", ".h"))})


def includes(src, module):
    local, system = set(), set()
    for ext in (".c", ".h"):
        path = os.path.join(src, module + ext)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = re.match(r'\s*#\s*include\s*([<"])([^>"]+)[>"]', line)
                if m and m.group(1) == '"':
                    local.add(os.path.splitext(os.path.basename(m.group(2)))[0])
                elif m:
                    system.add(m.group(2))
    local.discard(module)
    return local, system


def check(readme, src):
    problems = []
    rows = read_table(readme)
    if not rows:
        return [f"{readme}: no module table (| layer | modules | concern |)"]
    layer = {}
    for depth, (name, mods) in enumerate(rows):
        for m in mods:
            if m in layer:
                problems.append(f"{m}: listed in two layers of {readme}")
            layer[m] = (depth, name)
    present = modules_of(src)
    for m in present:
        if m not in layer:
            problems.append(f"{m}: in {src} but not in {readme}'s module table")
    for m in layer:
        if m not in present:
            problems.append(f"{m}: in {readme}'s module table but not in {src}")
    graph = {}
    for m in present:
        local, system = includes(src, m)
        graph[m] = local
        for dep in sorted(local):
            if m in layer and dep in layer and layer[dep][0] < layer[m][0]:
                problems.append(f"{m} ({layer[m][1]}) includes {dep}.h ({layer[dep][1]}): "
                                f"an edge up")
        for h in sorted(system):
            for prefix, allowed in LIBRARIES.items():
                if h.startswith(prefix) and m not in allowed:
                    problems.append(f"{m} includes <{h}>: only {', '.join(sorted(allowed)) or 'no module'} may")
    problems += cycles(graph)
    return problems


def cycles(graph):
    found, state = [], {}

    def visit(m, path):
        state[m] = 1
        for dep in sorted(graph.get(m, ())):
            if state.get(dep) == 1:
                found.append("an include cycle: " + " -> ".join(path[path.index(dep):] + [dep]))
            elif dep in graph and not state.get(dep):
                visit(dep, path + [dep])
        state[m] = 2

    for m in sorted(graph):
        if not state.get(m):
            visit(m, [m])
    return found


def self_test():
    """A tree that breaks each rule once: the check must name each break."""
    d = tempfile.mkdtemp(prefix="layers-")
    try:
        src = os.path.join(d, "src")
        os.mkdir(src)
        files = {"main.c": '#include "store.h"\n', "store.h": '#include "leaf.h"\n',
                 "leaf.h": '#include "store.h"\n#include <curl/curl.h>\n',
                 "stray.c": ""}
        for name, text in files.items():
            with open(os.path.join(src, name), "w") as f:
                f.write(text)
        with open(os.path.join(d, "README.md"), "w") as f:
            f.write("| layer | modules | concern |\n|---|---|---|\n| process | `main` | x |\n"
                    "| state | `store`, `gone` | x |\n| leaves | `leaf` | x |\n")
        got = check(os.path.join(d, "README.md"), src)
        want = ["leaf (leaves) includes store.h (state): an edge up",
                "leaf includes <curl/curl.h>", "stray: in", "gone: in", "an include cycle"]
        missing = [w for w in want if not any(w in g for g in got)]
        if missing:
            print("self-test: the check missed: " + "; ".join(missing))
            print("it said: " + "; ".join(got))
            return 1
        return 0
    finally:
        shutil.rmtree(d)


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    readme = argv[1] if len(argv) > 1 else os.path.join(top, "README.md")
    src = argv[2] if len(argv) > 2 else os.path.join(top, "fcgi-app", "src")
    problems = check(readme, src)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
