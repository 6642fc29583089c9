"""raftlib's layers as drawn in the README: data flows down, nothing imports upward, no loops.

Every import counts, also one made inside a function or only for type checking: a lazy import
upward is still an upward dependency, and it is how the loops this test guards against began.
"""

from __future__ import annotations

import ast
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "raftlib"

# What each layer may import besides itself. The chapters sit on top and may use everything.
ALLOWED: dict[str, frozenset[str]] = {
    "raft": frozenset(),
    "kv": frozenset(),
    "_trace": frozenset(),
    "_cluster": frozenset({"kv"}),
    "check": frozenset({"raft", "kv", "_trace"}),
    "sim": frozenset({"raft", "kv", "_trace", "_cluster", "check"}),
    "viz": frozenset({"raft", "kv", "_trace", "_cluster", "check"}),
    "gateway": frozenset({"raft", "kv"}),
    "runtime": frozenset({"raft", "kv", "gateway"}),
    "backends": frozenset({"raft", "kv", "_cluster", "gateway", "runtime"}),
    "__init__": frozenset({"_cluster"}),
}
CHAPTERS = "chapters"

# etcd's store and its watch hub know each other (store.watch(), the hub reads the store);
# that pair is the one loop the layout keeps.
ALLOWED_LOOPS = {frozenset({"raftlib.kv._store", "raftlib.kv._watch"})}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports_of(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """The raftlib modules ``path`` imports, with line numbers: ``from . import x`` names the
    submodule ``x`` when there is one, else the package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")
                up = up[: len(up) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for t in targets:
            if t == "raftlib" or t.startswith("raftlib."):
                yield t, node.lineno


def layer(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def graph() -> dict[str, dict[str, int]]:
    known = modules()
    return {name: {t: line for t, line in imports_of(name, path, known) if t != name}
            for name, path in known.items()}


def test_every_module_belongs_to_a_drawn_layer() -> None:
    layers = {layer(m) for m in modules()}
    assert layers <= {*ALLOWED, CHAPTERS}, sorted(layers - {*ALLOWED, CHAPTERS})


def test_nothing_imports_upward() -> None:
    upward = []
    for mod, targets in graph().items():
        own = layer(mod)
        if own == CHAPTERS:
            continue
        for t, line in targets.items():
            if layer(t) != own and layer(t) not in ALLOWED.get(own, frozenset()):
                upward.append(f"{mod}:{line} imports {t}")
    assert not upward, "\n".join(upward)


def test_no_import_loops() -> None:
    g = graph()
    loops: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for t in sorted(g.get(m, {})):
            if state.get(t) == 1:
                loop = path[path.index(t):]
                if frozenset(loop) not in ALLOWED_LOOPS:
                    loops.append([*loop, t])
            elif t not in state:
                visit(t)
        path.pop()
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m)
    assert not loops, "\n".join(" -> ".join(loop) for loop in loops)


@pytest.mark.parametrize("planted", ["upward", "loop"])
def test_the_checks_catch_a_planted_violation(planted: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Copy the package, plant an upward import (kv importing viz) or a loop (raft's quorum
    module importing the node module that imports it), and see the checks fail."""
    copy = tmp_path / "raftlib"
    shutil.copytree(ROOT, copy)
    target = copy / ("kv/_types.py" if planted == "upward" else "raft/_quorum.py")
    line = ("from raftlib.viz import table\n" if planted == "upward"
            else "from raftlib.raft import _node\n")
    target.write_text(line + target.read_text())
    monkeypatch.setattr(sys.modules[__name__], "ROOT", copy)
    check = test_nothing_imports_upward if planted == "upward" else test_no_import_loops
    with pytest.raises(AssertionError):
        check()
