"""The folder tree is the architecture: imports point only down the pipeline, never in a circle.

Every import counts, including those inside functions and under ``TYPE_CHECKING``: a cycle
hidden in a function is still a cycle for a reader. Stages, lowest first::

    errors, times  ->  inputs  ->  capture  ->  tcp  ->  tls  ->  pipeline (+ the Rust _core)
    ->  certificates  ->  logs  ->  correlate  ->  report  ->  commands  ->  cli, __main__, api
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "pcaptls"

STAGES = [
    {"errors", "times"},
    {"inputs"},
    {"capture"},
    {"tcp"},
    {"tls"},
    {"pipeline", "_core"},
    {"certificates"},
    {"logs"},
    {"correlate"},
    {"report"},
    {"commands"},
    {"cli", "__main__", "__init__", "api", "dask"},
]
RANK = {name: i for i, names in enumerate(STAGES) for name in names}

# Modules allowed past ~600 lines, and why.
LONG_MODULES: dict[str, str] = {
    "pcaptls.certificates.lenient": "one concern: reading what OpenSSL reads and cryptography refuses, "
    "a walk over the certificate's ASN.1 with a repair per quirk; split, the repairs would lose their "
    "shared decoded view",
}
MAX_LINES = 600


def _module(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _exists(module: str) -> bool:
    p = PKG.parent.joinpath(*module.split("."))
    return p.with_suffix(".py").exists() or p.with_suffix(".pyi").exists() or (p / "__init__.py").exists()


def _imports(path: Path) -> set[str]:
    """The pcaptls modules ``path`` imports (``from pkg import mod`` counts as the module)."""
    mod = _module(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "pcaptls")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "pcaptls":
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.add(sub if _exists(sub) else target)
    out.discard(mod)
    return out


def _graph() -> dict[str, set[str]]:
    return {_module(p): _imports(p) for p in sorted(PKG.rglob("*.py"))}


def _stage(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def test_every_module_has_a_stage() -> None:
    unplaced = sorted({_stage(m) for m in _graph()} - set(RANK))
    assert not unplaced, f"modules outside every stage: {unplaced} (add them to STAGES, or move them)"


def test_imports_point_down_the_pipeline() -> None:
    upward = []
    for mod, deps in _graph().items():
        for dep in deps:
            if dep == "pcaptls":  # the package itself, for its __version__: see the test below
                continue
            if RANK[_stage(dep)] > RANK[_stage(mod)]:
                upward.append(f"{mod} -> {dep}")
    assert not upward, "imports up the pipeline:\n" + "\n".join(sorted(upward))


def test_the_package_root_imports_nothing_eagerly() -> None:
    """Any module may read ``pcaptls.__version__``: so the package's ``__init__`` must import no
    stage at module level (its public API loads on first use)."""
    tree = ast.parse((PKG / "__init__.py").read_text())
    eager = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
             and not (isinstance(n, ast.ImportFrom) and n.module == "__future__")]
    assert not eager, [ast.unparse(n) for n in eager]


def test_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1 visiting, 2 done
    cycles: list[list[str]] = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if d not in graph:
                continue
            if state.get(d) == 1:
                cycles.append(path[path.index(d):] + [d] if d in path else [m, d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    # A package's __init__ that re-exports its own modules is not a cycle of meaning; any other is.
    real = [c for c in cycles if not all(x == c[0] or x.startswith(c[0] + ".") for x in c)]
    assert not real, "import cycles:\n" + "\n".join(" -> ".join(c) for c in real)


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(PKG)))
def test_modules_stay_readable_in_size(path: Path) -> None:
    n = len(path.read_text().splitlines())
    mod = _module(path)
    assert n <= MAX_LINES or mod in LONG_MODULES, f"{mod} has {n} lines: split it by concern, or say why in LONG_MODULES"


def test_the_checker_sees_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    """The walker itself: function-level imports count (a cycle hidden in a function is found)."""
    src = "def f():\n    from ..report.records import iso\n"
    p = PKG / "correlate" / "findings.py"
    tree_deps = _imports(p)
    assert "pcaptls.tls.model" in tree_deps  # a plain module-level import is seen
    fake = tmp_path / "x.py"
    fake.write_text(src)
    deps = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.ImportFrom):
            deps.add((node.level, node.module))
    assert (2, "report.records") in deps
