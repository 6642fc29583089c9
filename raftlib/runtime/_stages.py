"""Where a write's time goes: per-stage latency from receipt to answer (``RAFTLIB_STAGES=1``).

Off by default: the member then holds ``None`` instead of a :class:`Stages` and every hook is
one ``is not None`` test. On, every stage of a write taken by the leader is stamped with
``time.perf_counter`` and the medians are served at ``GET /raftlib/stages`` (``POST`` clears
them), so a benchmark can read them after a run.

A write's stages on the leader (each figure is the time from the previous stamp to the one that
ends the stage; ``send``, ``wal_write`` and ``wal_fsync`` are taken in the order they happened,
so the first of them also holds the building of the Ready):

- ``http_parse``: the request's last bytes received until the handler runs (llhttp, routing);
- ``prepare``: quota check and command encoding until the proposal is queued;
- ``to_loop``: queued until the Ready loop proposes it (a task switch, or a wait for the
  previous Ready's fsync to end);
- ``wal_write``: until the WAL's ``os.write`` returns;
- ``wal_fsync``: until the leader's fsync returns (a worker thread, so with two thread hops);
- ``send``: until the appends to the followers are queued;
- ``quorum``: until the commit index covers the entry (a follower's append, fsync and answer;
  0 when the answer came before the leader's own fsync ended);
- ``to_apply``: until the entry is applied (the leader's next Ready after its own fsync);
- ``to_wake``: until the waiting handler runs again;
- ``answer``: rendering and sending the reply.

Per Ready that appends entries on a follower: ``f_to_loop`` (append received until its Ready
is taken), ``f_wal_write``, ``f_wal_fsync`` and ``f_to_send`` (until the answers are queued).
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass

import trio

__all__ = ["ENV", "STAGES", "Stages", "from_env"]

ENV = "RAFTLIB_STAGES"
STAGES = ("http_parse", "prepare", "to_loop", "send", "wal_write", "wal_fsync", "quorum",
          "to_apply", "to_wake", "answer")
FOLLOWER_STAGES = ("f_to_loop", "f_wal_write", "f_wal_fsync", "f_to_send")
_KEEP = 4096  # Ready records and commit steps kept for lookups (far more than are in flight)
_SAMPLES = 200_000

clock = time.perf_counter


def from_env() -> Stages | None:
    """A recorder when ``RAFTLIB_STAGES`` is set to a non-empty value other than 0."""
    return Stages() if os.environ.get(ENV, "") not in ("", "0") else None


@dataclass(slots=True)
class _Write:
    received: float
    handler: float
    queued: float = 0.0
    index: int = 0
    applied: float = 0.0
    woken: float = 0.0


class _Steps:
    """Increasing log indexes each stamped with the time(s) they were reached."""

    def __init__(self) -> None:
        self.index: deque[int] = deque(maxlen=_KEEP)
        self.times: deque[tuple[float, ...]] = deque(maxlen=_KEEP)

    def add(self, index: int, *times: float) -> None:
        self.index.append(index)
        self.times.append(times)

    def at(self, index: int) -> tuple[float, ...] | None:
        """The times of the first step that reached ``index``."""
        i = bisect_left(self.index, index)
        return self.times[i] if i < len(self.index) else None


class Stages:
    """The recorder; the member calls its hooks, :meth:`report` gives the medians in ms."""

    def __init__(self) -> None:
        self._live: dict[object, _Write] = {}  # by the connection's trio task
        self._by_seq: dict[int, _Write] = {}
        self._proposed = _Steps()  # last index of each proposed batch: when
        self._readies = _Steps()  # last index of each leader Ready: sent, written, synced
        self._commits = _Steps()  # each commit index reached: when
        self._samples: dict[str, deque[float]] = {
            s: deque(maxlen=_SAMPLES) for s in STAGES + FOLLOWER_STAGES}
        self.frame_in = 0.0  # a follower's first unhandled append since its last Ready

    # ----------------------------------------------------------- hooks (all cheap)

    def begin(self, received: float) -> None:
        """The HTTP layer calls this as it hands a request to the handler."""
        self._live[trio.lowlevel.current_task()] = _Write(received, clock())

    def queued(self, seq: int) -> None:
        w = self._live.get(trio.lowlevel.current_task())
        if w is not None and not w.queued:
            w.queued = clock()
            self._by_seq[seq] = w

    def proposed(self, last_index: int) -> None:
        self._proposed.add(last_index, clock())

    def leader_ready(self, last_index: int, sent: float, written: float, synced: float) -> None:
        self._readies.add(last_index, sent, written, synced)

    def committed(self, index: int) -> None:
        self._commits.add(index, clock())

    def applied(self, seq: int, index: int) -> None:
        w = self._by_seq.get(seq)
        if w is not None:
            w.index, w.applied = index, clock()

    def woken(self, seq: int) -> None:
        w = self._by_seq.pop(seq, None)
        if w is not None:
            w.woken = clock()

    def end(self) -> None:
        """The HTTP layer calls this once the reply is sent."""
        w = self._live.pop(trio.lowlevel.current_task(), None)
        if w is None or not w.woken:
            return  # not a write, or one answered without being applied here
        proposed = self._proposed.at(w.index)
        ready = self._readies.at(w.index)
        commit = self._commits.at(w.index)
        if proposed is None or ready is None or commit is None:
            return
        sent, written, synced = ready
        # Each stage is named by the stamp that ends it. A commit reached before the fsync
        # ended counts as 0 here: the entry is applied only after the leader's own fsync.
        io = sorted([(sent, "send"), (written, "wal_write"), (synced, "wal_fsync")])
        stamps = [(w.received, ""), (w.handler, "http_parse"), (w.queued, "prepare"),
                  (proposed[0], "to_loop"), *io, (max(commit[0], synced), "quorum"),
                  (w.applied, "to_apply"), (w.woken, "to_wake"), (clock(), "answer")]
        for (a, _), (b, name) in itertools.pairwise(stamps):
            self._samples[name].append(b - a)

    def follower_ready(self, taken: float, written: float, synced: float, sent: float
                       ) -> None:
        if self.frame_in:
            stamps = (self.frame_in, taken, written, synced, sent)
            for name, (a, b) in zip(FOLLOWER_STAGES, itertools.pairwise(stamps), strict=True):
                self._samples[name].append(b - a)
            self.frame_in = 0.0

    # ----------------------------------------------------------- reading

    def report(self) -> dict[str, object]:
        """Median ms per stage (stages without samples left out) and the sample counts."""
        med = {k: statistics.median(v) * 1e3 for k, v in self._samples.items() if v}
        return {"median_ms": med, "samples": {k: len(v) for k, v in self._samples.items()}}

    def clear(self) -> None:
        for v in self._samples.values():
            v.clear()
