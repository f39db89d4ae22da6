"""Figures of the code's shape: import circles, arrows against the layers, function-local
imports, the biggest modules, lines in deploys/.

    python benchmarks/architecture.py                 # this checkout
    python benchmarks/architecture.py --tree /tmp/old # another checkout (a git worktree)

Read from the source (ast), nothing imported. LAYERS is the rule docs/architecture.md
draws and tests/unit/test_layers.py keeps: a module never imports one of a higher layer,
and the tools on top never import each other. A measurement: it asserts nothing.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("edgewasm", "facts", "operations", "deploys", "templates")
# Lowest first. A module's layer is that of the longest prefix listed.
LAYERS = {
    "edgewasm": 0,              # decisions without a host: settings, catalogue, plan, K3s/Wasm/policy logic
    "templates": 0,             # edgewasm.templates: the Jinja2 files and their renderer
    "facts": 1,                 # reading a host
    "operations": 2,            # changing a host (and the run's plumbing around pyinfra)
    "deploys": 3,               # one deploy per component, full_stack composes them
    "edgewasm.bundle": 4,       # tools: the bundle builder, the test bed, the compliance checker, the bench
    "edgewasm.testbed": 4,
    "edgewasm.compliance": 4,
    "edgewasm.bench": 4,
}


def modules(root: Path = ROOT) -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def layer_of(module: str) -> str:
    return max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)


def graph(root: Path = ROOT) -> tuple[dict[str, set[str]], Counter]:
    """(module -> project modules it imports, module -> its function-local imports)."""
    mods = modules(root)
    edges, local = defaultdict(set), Counter()
    for name, path in mods.items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            edges[name] |= {t for t in targets if t in mods and t != name}
        for func in ast.walk(tree):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                local[name] += sum(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(func))
    return edges, local


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected sets of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = []
            while True:
                w = stack.pop()
                on.discard(w)
                members.append(w)
                if w == v:
                    break
            if len(members) > 1:
                found.append(sorted(members))

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def against_layers(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports that point up a layer, or across between the tools on top."""
    bad = []
    for src, targets in edges.items():
        for dst in targets:
            a, b = layer_of(src), layer_of(dst)
            if LAYERS[b] > LAYERS[a] or (LAYERS[a] == LAYERS[b] == 4 and a != b):
                bad.append((src, dst))
    return sorted(bad)


def figures(root: Path = ROOT) -> dict:
    edges, local = graph(root)
    mods = modules(root)
    sizes = sorted(((len(p.read_text().splitlines()), n) for n, p in mods.items()), reverse=True)
    return {
        "import_circles": circles(edges),
        "against_layers": against_layers(edges),
        "function_local_imports": sum(local.values()),
        "function_local_by_module": {m: n for m, n in local.most_common() if n},
        "biggest_modules": sizes[:8],
        "deploys_lines": sum(n for n, m in sizes if layer_of(m) == "deploys"),
        "deploys_modules": sorted(m for m in mods if layer_of(m) == "deploys"),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to measure")
    f = figures(parser.parse_args(argv).tree.resolve())
    print(f"import circles: {len(f['import_circles'])}")
    for members in f["import_circles"]:
        print(f"  {' <-> '.join(members)}")
    print(f"imports against the layers: {len(f['against_layers'])}")
    for src, dst in f["against_layers"]:
        print(f"  {src} -> {dst}")
    print(f"function-local imports: {f['function_local_imports']} {f['function_local_by_module']}")
    print("biggest modules: " + ", ".join(f"{m} {n}" for n, m in f["biggest_modules"]))
    print(f"deploys/: {f['deploys_lines']} lines in {len(f['deploys_modules'])} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
