"""What the reader sees: a kernel-free HTML trace player and matplotlib figures of traces.

In a chapter, the last expression of a cell is shown::

    from raftlib.viz import TracePlayer, timeline

    TracePlayer.from_branches(
        {"crash n1+n2": frames_a, "crash n3+n4": frames_b}, title="Which two crash?"
    )
    timeline(frames_a)

Both work in the static book (no kernel) and in JupyterLab (trusted notebook). With a kernel,
``ClusterPanel(Simulation(5, seed=1))`` drives a simulation with buttons and
``RevisionScrubber(store)`` slides through an MVCC store's revisions; ``record(sim, ms)`` and
``keyspace_frames(store)`` give the same pictures as frames for the static book.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from raftlib._trace import PlayerFrame
from raftlib.viz._parts import PARTS, Part, part_map
from raftlib.viz._player import Frame, TracePlayer
from raftlib.viz._recorder import RecordedFrames, Recorder, Simulated, record
from raftlib.viz._table import Quiz, Table, quiz, table

if TYPE_CHECKING:
    from raftlib.viz._figures import log_grid, plot_key_history, plot_sizes, timeline
    from raftlib.viz._panels import (
        ClusterPanel,
        LiveSimulation,
        RevisionScrubber,
        keyspace_frames,
    )

# Imported on first use (PEP 562): matplotlib and ipywidgets are not in the browser's
# Pyodide, which loads the player and the recorder for live mode.
_LAZY = {
    "log_grid": "_figures", "plot_key_history": "_figures", "plot_sizes": "_figures",
    "timeline": "_figures", "ClusterPanel": "_panels", "LiveSimulation": "_panels",
    "RevisionScrubber": "_panels", "keyspace_frames": "_panels",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'raftlib.viz' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"raftlib.viz.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "PARTS",
    "ClusterPanel",
    "Frame",
    "LiveSimulation",
    "Part",
    "PlayerFrame",
    "Quiz",
    "RecordedFrames",
    "Recorder",
    "RevisionScrubber",
    "Simulated",
    "Table",
    "TracePlayer",
    "keyspace_frames",
    "log_grid",
    "part_map",
    "plot_key_history",
    "plot_sizes",
    "quiz",
    "record",
    "table",
    "timeline",
]
