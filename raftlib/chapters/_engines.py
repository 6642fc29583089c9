"""Running one chapter story on every engine of the :class:`raftlib.Cluster` interface.

The engines:

- :class:`raftlib.sim.SimCluster`: the simulator, virtual time, deterministic for a seed;
- :class:`raftlib.backends.EtcdCluster`: real etcd 3.4 processes on 127.0.0.1, wall-clock;
- :class:`raftlib.backends.RaftlibCluster`: raftlib's own runtime, one real process per
  member (same constructor as ``EtcdCluster``), wall-clock.

A story that runs on any engine returns a frozen dataclass whose fields fall in two groups.
The *comparable* fields (revisions, values, error classes and messages, counts that the story
fixes, the order of watch events) must agree between engines, except for a few documented,
deliberate differences; :func:`comparable` returns them. The fields named in the class's
``VARIES`` legitimately differ from engine to engine and from run to run: times (virtual or
wall-clock milliseconds), database sizes (SQLite pages in raftlib, bbolt pages in etcd), the
number of writes that fit in a quota (it follows from the sizes), which member happened to
lead, and raw server messages behind a mapped error; :func:`varies` returns them.

:func:`on_etcd` runs a story on real etcd clusters and stops them afterwards; where
``/usr/bin/etcd`` is missing it returns :class:`EtcdMissing`, a note that says so visibly in a
notebook instead of skipping in silence. Nothing here starts a process at import: the
backends are imported inside the functions that start one, so the browser can load this.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from raftlib._cluster import Cluster
from raftlib.kv import KVError
from raftlib.sim import SimCluster
from raftlib.viz import Table

if TYPE_CHECKING:
    from raftlib.backends import EtcdCluster

__all__ = [
    "EtcdMissing",
    "comparable",
    "compare",
    "etcd_available",
    "etcd_missing_note",
    "on_etcd",
    "show_varies",
    "varies",
]

R = TypeVar("R")
T = TypeVar("T")

INSTALL_HINT = "apt-get install etcd-server"


def _etcd_binary() -> str:
    from raftlib.backends import ETCD_BINARY

    return ETCD_BINARY


def _now_ms(cluster: Cluster) -> float:
    """The cluster's clock: virtual ms in the simulator, wall-clock ms elsewhere."""
    if isinstance(cluster, SimCluster):
        return float(cluster.now)
    return time.monotonic() * 1000


def _poll(cluster: Cluster, cond: Callable[[], T | None], timeout_ms: int,
          step_ms: int = 10) -> T | None:
    """Let time pass in steps of ``step_ms`` until ``cond()`` is truthy or the deadline."""
    deadline = _now_ms(cluster) + timeout_ms
    while True:
        v = cond()
        if v:
            return v
        if _now_ms(cluster) >= deadline:
            return None
        cluster.wait(step_ms)


def _new_leader(cluster: Cluster, old: Sequence[int]) -> int | None:
    lead = cluster.leader()
    return lead if lead is not None and lead not in old else None


def _crash_timed(cluster: Cluster, member: int, timeout_ms: int, step_ms: int
                 ) -> tuple[int | None, float]:
    """Crash ``member`` and time, from then, until another member leads (polled every
    ``step_ms``): that leader (None at the deadline) and the ms it took."""
    cluster.crash(member)
    t0 = _now_ms(cluster)
    new = _poll(cluster, partial(_new_leader, cluster, [member]), timeout_ms, step_ms)
    return new, _now_ms(cluster) - t0


def _settled_leader(cluster: Cluster) -> int | None:
    """The leader, when every member is up and reports it in the same term (a member just
    restarted has heard from it, so it will not campaign and disturb what is timed next)."""
    status = cluster.status().values()
    seen = {(s.term, s.leader) for s in status}
    if len(seen) != 1 or not all(s.up and not s.paused for s in status):
        return None
    (_, lead), = seen
    return lead or None


def _steady(cluster: Cluster) -> bool:
    st = cluster.status().values()
    leaders = {i.leader for i in st}
    return all(i.up for i in st) and len(leaders) == 1 and 0 not in leaders


def _outcome(f: Callable[[], object]) -> str:
    """``"ok"``, or the error's class and etcd's message."""
    try:
        f()
    except KVError as e:
        return f"{type(e).__name__}: {e.message}"
    return "ok"


def _raw(e: KVError) -> str:
    """The server's own message behind an error a client mapped to a raftlib class."""
    cause = e.__cause__
    return str(getattr(cause, "message", cause)) if cause is not None else e.message


def _close(cluster: object) -> None:
    close = getattr(cluster, "close", None)
    if callable(close):
        close()


def comparable(result: object) -> dict[str, Any]:
    """The fields of a scenario's result that must agree between engines."""
    skip = set(getattr(result, "VARIES", ()))
    return {f.name: getattr(result, f.name) for f in dataclasses.fields(result)  # type: ignore[arg-type]
            if f.name not in skip}


def varies(result: object) -> dict[str, Any]:
    """The fields that legitimately differ between engines and runs (times, sizes, ids)."""
    return {name: getattr(result, name) for name in getattr(result, "VARIES", ())}


def etcd_available() -> bool:
    """Whether the etcd server that :class:`EtcdCluster` runs is installed here."""
    return os.path.exists(_etcd_binary())


@dataclass(frozen=True)
class EtcdMissing:
    """What an etcd cell shows where etcd is not installed: a visible note, never silence."""

    binary: str = field(default_factory=_etcd_binary)
    reason: str = ""  # set when etcd is installed but something else is missing

    @property
    def text(self) -> str:
        """The note as plain text."""
        if self.reason:
            return f"This cell did not run on a real etcd: {self.reason}."
        return (f"etcd is not installed here ({self.binary} is missing), so this cell did not "
                f"run on a real etcd. Install etcd 3.4 with `{INSTALL_HINT}` (Debian's "
                "package) and run the chapter again.")

    def __repr__(self) -> str:
        return f"Note: {self.text}"

    def _repr_markdown_(self) -> str:
        return f"**Note:** {self.text}"


def etcd_missing_note() -> EtcdMissing:
    """The note shown in place of an etcd result where etcd is not installed."""
    return EtcdMissing()


def on_etcd(run: Callable[[Callable[..., EtcdCluster]], R], *,
            netns: bool = False) -> R | EtcdMissing:
    """Run ``run(make)`` where ``make(n, **flags)`` starts an :class:`EtcdCluster`; every
    cluster started is stopped when ``run`` returns or raises. Without etcd, the note.
    ``netns`` starts the members in network namespaces, so that they can be partitioned; where
    that is impossible (not root), the note says why."""
    if not etcd_available():
        return etcd_missing_note()
    from raftlib.backends import EtcdCluster, netns_problem

    if netns and (problem := netns_problem()) is not None:
        return EtcdMissing(reason=f"partitioning real etcd needs network namespaces: {problem}")
    started: list[EtcdCluster] = []

    def make(n: int = 3, **flags: Any) -> EtcdCluster:
        c = EtcdCluster(n, netns=netns, **flags)
        started.append(c)
        return c

    try:
        return run(make)
    finally:
        for c in started:
            c.close()


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.0f}"
    if isinstance(v, tuple) and v and all(isinstance(x, float) for x in v):
        return "(" + ", ".join(f"{x:.0f}" for x in v) + ")"
    return str(v)


def compare(ours: object, theirs: object, names: tuple[str, str] = ("raftlib", "etcd")
            ) -> Table | EtcdMissing:
    """The comparable fields of two results of one scenario side by side, with a verdict."""
    if isinstance(theirs, EtcdMissing):
        return theirs
    a, b = comparable(ours), comparable(theirs)
    rows: list[tuple[str, ...]] = []
    for k in a:
        x, y = a[k], b[k]
        if _is_rows(x) and _is_rows(y):
            # A sequence of records (events, steps): one line each, so the table stays narrow.
            for i in range(max(len(x), len(y))):
                u, v = (x[i] if i < len(x) else None), (y[i] if i < len(y) else None)
                rows.append((_label(k, i, u, v), _item(u), _item(v),
                             "same" if u == v else "differs"))
        else:
            rows.append((k, _fmt(x), _fmt(y), "same" if x == y else "differs"))
    return Table(("field", *names, ""), tuple(rows), mark=len(names) + 1)


def _is_rows(v: object) -> bool:
    return isinstance(v, tuple) and bool(v) and all(isinstance(x, tuple) for x in v)


def _named(v: object) -> bool:
    return isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str)


def _label(k: str, i: int, u: object, v: object) -> str:
    """``field: name`` for (name, outcome) pairs that agree on the name, else ``field[i]``."""
    if _named(u) and _named(v) and u[0] == v[0]:  # type: ignore[index]
        return f"{k}: {u[0]}"  # type: ignore[index]
    return f"{k}[{i}]"


def _item(v: object) -> str:
    if v is None:
        return "-"
    return str(v[1]) if _named(v) else _fmt(v)  # type: ignore[index]


def show_varies(*results: tuple[str, object]) -> Table | EtcdMissing:
    """The fields that vary (times, sizes, ids) of named results, one column each."""
    for _, r in results:
        if isinstance(r, EtcdMissing):
            return r
    first = results[0][1]
    names = tuple(name for name, _ in results)
    rows = tuple((k, *(_fmt(getattr(r, k)) for _, r in results)) for k in varies(first))
    return Table(("field", *names), rows)


if TYPE_CHECKING:  # mypy proves that the simulator offers what viz draws (viz cannot import it)
    from raftlib.sim import Simulation
    from raftlib.viz import LiveSimulation

    def _is_live(s: Simulation) -> LiveSimulation:
        return s
