"""A chapter module loads no process layer at import, so the browser build can load it (the
layer rules themselves are tests/test_layers.py). Each import runs in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHAPTERS = ("opening", "elections", "replication", "mvcc", "watch", "quota", "operations",
            "closing", "real_etcd")
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


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_chapter_module_starts_no_process_at_import(chapter: str) -> None:
    loaded = {_layer(m) for m in _loaded(f"raftlib.chapters.{chapter}")}
    assert not loaded & set(PROCESS_LAYERS)
