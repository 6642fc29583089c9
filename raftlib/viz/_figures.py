"""Static matplotlib figures of traces, in the player's colors.

Figures are built without pyplot: nothing is registered globally, so a figure is shown once
(when a cell evaluates it) and never leaks between cells.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any, Protocol

from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from raftlib.viz._player import ROLE_COLORS, TERM_COLORS, Frame


class Change(Protocol):
    """A stored change to draw (``raftlib.chapters.mvcc.Change``)."""

    @property
    def revision(self) -> int: ...

    @property
    def key(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def value(self) -> str: ...


class SizeSample(Protocol):
    """A store's sizes after a step (``raftlib.chapters.quota.SizeSample``)."""

    @property
    def step(self) -> int: ...

    @property
    def db_size(self) -> int: ...

    @property
    def db_size_in_use(self) -> int: ...

    @property
    def note(self) -> str: ...

__all__ = ["log_grid", "plot_key_history", "plot_sizes", "timeline"]

_DOWN = "#d0d4d9"
_PUT_COLOR = "#3f6fb0"
_DELETE_COLOR = "#b00020"
_COMPACTED = "#d0d4d9"


class _NotebookFigure(Figure):
    """A Figure that shows itself in a notebook even if pyplot was never imported.

    IPython learns to draw plain Figures only when pyplot loads the inline backend; without it a
    cell showing one would print "<Figure size ...>". The PNG matches the inline backend's.
    """

    def _repr_png_(self) -> bytes:
        out = io.BytesIO()
        self.savefig(out, format="png", bbox_inches="tight")
        return out.getvalue()

    def __repr__(self) -> str:
        # The notebook's text/plain twin of the image: read as a plain matplotlib Figure.
        return super().__repr__().replace(type(self).__name__, "Figure", 1)


def _members(frames: Sequence[Frame]) -> list[str]:
    seen: dict[str, None] = {}
    for frame in frames:
        seen.update(dict.fromkeys(str(m) for m in frame.get("members") or {}))
    return list(seen)


def _state(frame: Frame, member: str) -> dict[str, Any] | None:
    for key, value in (frame.get("members") or {}).items():
        if str(key) == member:
            return dict(value)
    return None


def _term_color(term: int) -> str:
    """The color of ``term``, as the player draws it."""
    return TERM_COLORS[(term - 1) % len(TERM_COLORS)]


def timeline(frames: Sequence[Frame], *, title: str = "Terms and roles over time") -> Figure:
    """Each member's term (top) and role (bottom, gray while crashed) against virtual time."""
    members = _members(frames)
    if not members:
        raise ValueError("no frame has members")
    times: list[int] = []
    for frame in frames:  # a frame without a time happened at the previous one, as in the player
        t = frame.get("t")
        times.append(int(t) if t is not None else times[-1] if times else 0)
    # The last state lasts as long as an average step, so it stays visible.
    tail = max(1, (times[-1] - times[0]) // max(1, len(times) - 1))
    ends = [*times[1:], times[-1] + tail]
    fig = _NotebookFigure(figsize=(8, 1.2 + 0.55 * len(members) + 1.6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1.6, 0.55 * len(members)])
    for row, member in enumerate(members):
        xs: list[int] = []
        terms: list[int] = []
        bands: list[tuple[int, int, str]] = []
        for t, end, frame in zip(times, ends, frames, strict=True):
            state = _state(frame, member)
            if state is None:
                continue
            xs.append(t)
            terms.append(int(state.get("term") or 0))
            color = (ROLE_COLORS.get(str(state.get("role")), "#666666")
                     if state.get("up", True) else _DOWN)
            if bands and bands[-1][2] == color and bands[-1][1] == t:
                bands[-1] = (bands[-1][0], end, color)  # one patch per run of one role
            else:
                bands.append((t, end, color))
        if xs:
            # Members usually share a term: a small offset per member keeps every line visible.
            lift = (row - (len(members) - 1) / 2) * 0.04
            top.step([*xs, ends[-1]], [v + lift for v in [*terms, terms[-1]]], where="post",
                     label=member, linewidth=1.6)
        for start, end, color in bands:
            down = color == _DOWN
            bottom.broken_barh([(start, end - start)], (row - 0.38, 0.76), facecolors=color,
                               hatch="///" if down else None,
                               edgecolor="#9aa0a6" if down else "none", linewidth=0)
    top.set_ylabel("term")
    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    top.legend(loc="upper left", fontsize="small", ncols=min(len(members), 5), frameon=False)
    top.set_title(title)
    bottom.set_yticks(range(len(members)), members)
    bottom.set_ylim(len(members) - 0.5, -0.5)
    bottom.set_xlabel("virtual time (ms)")
    fig.legend(handles=[Patch(color=c, label=r) for r, c in ROLE_COLORS.items()]
               + [Patch(facecolor=_DOWN, edgecolor="#9aa0a6", hatch="///", label="crashed")],
               loc="outside lower center", ncols=6, fontsize="small", frameon=False)
    return fig


def log_grid(frame: Frame, *, title: str | None = None) -> Figure:
    """Every member's log as cells colored and numbered by term; a bar marks the commit index."""
    members = _members([frame])
    states = [_state(frame, m) or {} for m in members]
    indexes = [int(e[0]) for s in states for e in s.get("log") or ()]
    lo, hi = (min(indexes), max(indexes)) if indexes else (1, 1)
    width = max(5.0, min(12.0, 2.5 + 0.3 * (hi - lo + 1)))
    fig = _NotebookFigure(figsize=(width, 0.9 + 0.5 * len(members)), layout="constrained")
    ax = fig.subplots()
    show_text = hi - lo < 40  # numbers in narrower cells would be unreadable
    for row, state in enumerate(states):
        commit = int(state.get("commit") or 0)
        up = bool(state.get("up", True))
        for index, term, *_ in state.get("log") or ():
            ax.add_patch(Rectangle((index - 0.5, row - 0.4), 0.94, 0.8,
                                   facecolor=_term_color(int(term)),
                                   alpha=1.0 if index <= commit else 0.45,
                                   edgecolor="none" if index <= commit else "#7d848c",
                                   linestyle="--"))
            if show_text:
                ax.text(index - 0.03, row, str(term), ha="center", va="center", fontsize=8)
        if commit >= lo:
            ax.plot([commit + 0.5] * 2, [row - 0.48, row + 0.48], color="#1f2328", linewidth=2.5)
        if not up:
            ax.text(hi + 0.8, row, "crashed", va="center", color="#c0392b", fontsize=8)
    labels = [f"{m} ({s.get('role', 'follower')}, term {s.get('term', 0)})"
              for m, s in zip(members, states, strict=True)]
    ax.set_yticks(range(len(members)), labels)
    ax.set_ylim(len(members) - 0.5, -0.5)
    ax.set_xlim(lo - 0.6, hi + (2.2 if any(not s.get("up", True) for s in states) else 0.6))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("log index (bar: commit index; faded: not committed)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(title if title is not None else f"Logs at t={frame.get('t', 0)} ms")
    return fig


# --------------------------------------------------------------------- MVCC and quota


def _erased(changes: Sequence[Change], compact_revision: int) -> set[int]:
    """Positions in ``changes`` of the versions a compaction at ``compact_revision`` removes:
    per key, every change at or below it except the last one, and that one too if it is a
    tombstone (etcd keeps a key's latest version at the compacted revision, not deletions)."""
    out: set[int] = set()
    last: dict[str, int] = {}
    for i, c in enumerate(changes):
        if c.revision <= compact_revision:
            if c.key in last:
                out.add(last[c.key])
            last[c.key] = i
    out.update(i for i in last.values() if changes[i].kind == "DELETE")
    return out


def plot_key_history(changes: Sequence[Change], *, compact_revision: int = 0,
                     current_revision: int | None = None,
                     title: str = "Revision history per key") -> Figure:
    """Keys on the y axis, revisions on the x axis: a dot per put (labelled with its value), a
    cross per delete, and a line while the key exists. With ``compact_revision``, revisions
    below it (unreadable after the compaction) are shaded and the versions the compaction
    removed are drawn faded. ``current_revision`` sets the right end of the axis."""
    keys = sorted({c.key for c in changes}, reverse=True)
    row = {k: i for i, k in enumerate(keys)}
    last = max([c.revision for c in changes] + [current_revision or 1])
    erased = _erased(changes, compact_revision) if compact_revision > 0 else set()
    fig = _NotebookFigure(figsize=(8, 1.1 + 0.6 * max(len(keys), 2)))
    ax = fig.add_subplot()
    if compact_revision > 1:
        ax.axvspan(0.5, compact_revision - 0.5, color=_COMPACTED, zorder=0,
                   label=f"reads fail (below {compact_revision})")
    for key in keys:
        y = row[key]
        alive_from: int | None = None
        for i, c in ((i, c) for i, c in enumerate(changes) if c.key == key):
            alpha = 0.3 if i in erased else 1.0
            if c.kind == "PUT":
                ax.plot([c.revision], [y], "o", color=_PUT_COLOR, alpha=alpha, zorder=3)
                ax.annotate(c.value, (c.revision, y), textcoords="offset points",
                            xytext=(0, 7), ha="center", fontsize=8, alpha=alpha)
                if alive_from is None:
                    alive_from = c.revision
            else:
                ax.plot([c.revision], [y], "x", color=_DELETE_COLOR, ms=9, mew=2, alpha=alpha,
                        zorder=3)
                if alive_from is not None:
                    ax.plot([alive_from, c.revision], [y, y], color=_PUT_COLOR, lw=1, zorder=2)
                alive_from = None
        if alive_from is not None:
            ax.plot([alive_from, last + 0.5], [y, y], color=_PUT_COLOR, lw=1, zorder=2)
    ax.set_yticks(range(len(keys)), keys)
    ax.set_ylim(-0.6, len(keys) - 0.2)
    ax.set_xlim(0.5, last + 0.5)
    ax.set_xticks(range(1, last + 1))
    ax.set_xlabel("revision")
    ax.set_title(title)
    ax.plot([], [], "o", color=_PUT_COLOR, label="put")
    ax.plot([], [], "x", color=_DELETE_COLOR, mew=2, label="delete (tombstone)")
    if erased:
        ax.plot([], [], "o", color=_PUT_COLOR, alpha=0.3, label="removed by compaction")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_sizes(samples: Sequence[SizeSample], quota: int, *, warn_fraction: float = 0.8,
               title: str = "Backend size versus size in use") -> Figure:
    """``db_size`` and ``db_size_in_use`` (KiB) per step, with the quota and a warning
    threshold at ``warn_fraction`` of it drawn across; samples with a note get a labelled
    vertical marker (a compaction, a defragmentation)."""
    kib = 1024
    fig = _NotebookFigure(figsize=(8, 3.5))
    ax = fig.add_subplot()
    xs = [s.step for s in samples]
    ax.step(xs, [s.db_size / kib for s in samples], where="post", color="#3f6fb0", lw=2,
            label="db_size (file)")
    ax.step(xs, [s.db_size_in_use / kib for s in samples], where="post", color="#1f7a4d",
            lw=2, ls="--", label="db_size_in_use")
    ax.axhline(quota / kib, color=_DELETE_COLOR, lw=1.5, label="quota")
    ax.axhline(quota * warn_fraction / kib, color="#c8590a", lw=1, ls=":",
               label=f"warn at {warn_fraction:.0%} of quota")
    top = max([quota] + [s.db_size for s in samples]) / kib
    for i, s in enumerate(x for x in samples if x.note):
        ax.axvline(s.step, color="#8a8f98", lw=0.8)
        ax.text(s.step, top * (1.02 + 0.07 * (i % 2)), s.note, ha="center", va="bottom",
                fontsize=8)
    ax.set_ylim(0, top * 1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("KiB")
    ax.set_title(title, pad=16)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig
