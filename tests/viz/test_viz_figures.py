"""The matplotlib figures: built without pyplot, deterministic, in the player's colors."""

from __future__ import annotations

import io

import pytest
import viz_frames as vf
from matplotlib.figure import Figure

from raftlib.viz import log_grid, timeline


def _png(fig: Figure) -> bytes:
    """What a notebook stores for a figure (the inline backend's PNG)."""
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def test_timeline_shows_terms_and_roles() -> None:
    frames = vf.crash_branches()["crash n1+n2"]
    fig = timeline(frames)
    top, bottom = fig.axes[:2]
    assert [t.get_text() for t in bottom.get_yticklabels()] == ["n1", "n2", "n3", "n4", "n5"]
    assert len(top.get_lines()) == 5
    assert round(max(max(line.get_ydata()) for line in top.get_lines())) == 3  # n3 new term
    assert _png(fig) == _png(timeline(frames))


def test_log_grid_draws_every_entry_and_commit() -> None:
    frame = vf.partitioned()[-1]
    fig = log_grid(frame)
    ax = fig.axes[0]
    entries = sum(len(m["log"]) for m in frame["members"].values())
    assert len(ax.patches) == entries
    assert len(ax.get_lines()) == 3  # one commit bar per member
    assert "n1 (leader, term 2)" in [t.get_text() for t in ax.get_yticklabels()]
    assert _png(fig) == _png(log_grid(frame))


def test_figures_do_not_touch_pyplot() -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    timeline(vf.election())
    log_grid(vf.election()[-1])
    assert plt.get_fignums() == before


def test_figures_show_in_a_notebook_without_pyplot() -> None:
    fig = timeline(vf.election())
    assert isinstance(fig, Figure)
    assert fig._repr_png_().startswith(b"\x89PNG")  # type: ignore[attr-defined]
    assert repr(fig).startswith("<Figure size ")


def test_timeline_needs_members() -> None:
    with pytest.raises(ValueError, match="no frame has members"):
        timeline(vf.revisions())
