"""What the reader sees: a kernel-free HTML trace player and matplotlib figures of traces.

In a chapter, the last expression of a cell is shown::

    from raftlib.viz import TracePlayer, timeline

    TracePlayer.from_branches(
        {"crash n1+n2": frames_a, "crash n3+n4": frames_b}, title="Which two crash?"
    )
    timeline(frames_a)

Both work in the static book (no kernel) and in JupyterLab (trusted notebook).
"""

from raftlib.viz._figures import log_grid, timeline
from raftlib.viz._player import Frame, TracePlayer

__all__ = ["Frame", "TracePlayer", "log_grid", "timeline"]
