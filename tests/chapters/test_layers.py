"""The layers import downward only, and a chapter module starts nothing at import.

Each import runs in a fresh interpreter, so what one test loads cannot hide another's.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

CHAPTERS = ("opening", "elections", "replication", "mvcc", "watch", "quota", "operations",
            "closing", "real_etcd")
# What each layer may load of raftlib, besides itself (check reads sim traces for now).
ALLOWED = {
    "raftlib.raft": (),
    "raftlib.kv": ("raftlib.raft",),
    "raftlib.sim": ("raftlib.raft", "raftlib.kv", "raftlib._cluster"),
    "raftlib.viz": ("raftlib.raft", "raftlib.kv", "raftlib._cluster"),
}
PROCESS_LAYERS = ("raftlib.backends", "raftlib.runtime")


def _loaded(module: str) -> set[str]:
    """The raftlib modules a fresh interpreter holds after ``import module``."""
    code = (f"import sys, {module}\n"
            "print('\\n'.join(m for m in sys.modules if m.startswith('raftlib.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return set(out.split())


def _layer(module: str) -> str:
    return ".".join(module.split(".")[:2])


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    # ``import raftlib`` itself loads the Cluster interface and the types it names.
    package = _loaded("raftlib")
    above = {_layer(m) for m in _loaded(layer) - package} - {layer, *ALLOWED[layer]}
    assert not above, f"{layer} loads {sorted(above)}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_chapter_module_starts_no_process_at_import(chapter: str) -> None:
    loaded = {_layer(m) for m in _loaded(f"raftlib.chapters.{chapter}")}
    assert not loaded & set(PROCESS_LAYERS)
