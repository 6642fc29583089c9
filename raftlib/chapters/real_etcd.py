"""Chapter 7, real etcd: the book's claims rerun on etcd 3.4 processes.

The stories themselves live with their chapters (:func:`raftlib.chapters.opening.opening`,
:func:`raftlib.chapters.elections.time_to_new_leader`, ...); here are what only this chapter
needs: etcd's version and flags, the timing etcd runs on, a check and a figure of election
times, and a partition story. Nothing starts a process at import.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import ClassVar

from raftlib._cluster import Cluster
from raftlib._trace import PlayerFrame
from raftlib.chapters._engines import (
    EtcdMissing,
    _new_leader,
    _now_ms,
    _outcome,
    _poll,
    etcd_available,
    etcd_missing_note,
)
from raftlib.chapters.elections import LeaderTimes
from raftlib.raft import Timing
from raftlib.sim import SimCluster
from raftlib.viz import Recorder
from raftlib.viz._figures import _NotebookFigure  # shows itself without pyplot

__all__ = [
    "IsolationResult",
    "etcd_flag_check",
    "etcd_timing",
    "etcd_version",
    "isolate_leader",
    "isolation_frames",
    "leader_time_check",
    "plot_leader_times",
]

def etcd_version() -> str | EtcdMissing:
    """The first line ``etcd --version`` prints (``"etcd Version: 3.4.23"``), or the note."""
    if not etcd_available():
        return etcd_missing_note()
    import subprocess

    from raftlib.backends import ETCD_BINARY

    out = subprocess.run([ETCD_BINARY, "--version"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    return out.splitlines()[0]


def etcd_flag_check(heartbeat_ms: int, election_timeout_ms: int) -> str | EtcdMissing:
    """Start a one-member etcd with these timing flags: ``"accepted"``, or etcd's own reason
    for refusing them (the line it prints, without its timestamp)."""
    if not etcd_available():
        return etcd_missing_note()
    from raftlib.backends import BackendError, EtcdCluster

    try:
        EtcdCluster(1, heartbeat_ms=heartbeat_ms, election_timeout_ms=election_timeout_ms,
                    start_timeout=10.0).close()
    except BackendError as e:
        lines = [ln for ln in str(e).splitlines() if "etcdmain:" in ln]
        return lines[0].split("etcdmain: ", 1)[1] if lines else str(e)
    return "accepted"


def etcd_timing(heartbeat_ms: int = 100, election_timeout_ms: int = 1000) -> Timing:
    """The timing an etcd started with these flags runs on, as a raftlib :class:`Timing`:
    etcd's Raft ticks once per heartbeat interval and draws each election timeout from
    ``[election_timeout_ms, 2 * election_timeout_ms)`` in whole ticks."""
    return Timing(heartbeat_ms, election_timeout_ms, election_timeout_ms, heartbeat_ms)


def leader_time_check(r: LeaderTimes | EtcdMissing, timing: Timing) -> str | EtcdMissing:
    """What must hold on every engine, as one line: every trial elected a new leader, and the
    median trial took no less than the floor below which nobody can campaign. A follower last
    heard the leader at most a heartbeat before it died; its timeout counts ticks from the next
    tick on, so it runs out no sooner than the base election timeout minus one tick after that
    heartbeat. On real processes a busy machine can delay a heartbeat, which starts a
    follower's countdown early, so a single trial may come in under the floor; the median is
    checked, not the minimum."""
    if isinstance(r, EtcdMissing):
        return r
    floor = timing.election_timeout_ms - timing.heartbeat_ms - timing.tick_ms
    ok = bool(r.samples_ms) and statistics.median(r.samples_ms) >= floor
    return (f"{r.elected} of {r.trials} trials elected a new leader; "
            f"median no sooner than {floor} ms: {ok}")


def plot_leader_times(series: dict[str, LeaderTimes | EtcdMissing], *,
                      title: str = "Time to a new leader after the leader is killed"
                      ) -> _NotebookFigure:
    """Each run's samples as dots on one row, with its median marked; a run that could not
    happen (etcd missing) keeps its row, labelled so."""
    fig = _NotebookFigure(figsize=(8, 0.55 * len(series) + 1.2))
    ax = fig.subplots()
    labels = [k if isinstance(v, LeaderTimes) else f"{k} (etcd not installed)"
              for k, v in series.items()]
    for y, run in enumerate(series.values()):
        xs = sorted(run.samples_ms) if isinstance(run, LeaderTimes) else []
        ax.plot(xs, [y] * len(xs), "o", alpha=0.6, color="#3f6fb0")
        if xs:
            mid = xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2
            ax.plot([mid], [y], "|", markersize=18, color="black")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel("ms without a leader (dots: trials, bar: median)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


@dataclass(frozen=True, slots=True)
class IsolationResult:
    """The leader cut off from the others, then the network healed (see
    :func:`isolate_leader`)."""

    VARIES: ClassVar[tuple[str, ...]] = ("election_ms", "leaders")
    majority_elected: bool
    majority_write_revision: int
    stale_read_on_isolated: bytes | None
    linearizable_read_on_isolated: str
    caught_up_after_heal: bool
    election_ms: float = 0.0
    leaders: tuple[int, int] = (0, 0)


def isolate_leader(cluster: Cluster, *, timeout_ms: int = 20_000) -> IsolationResult:
    """A partition on any engine that can make one: write ``a=1``; isolate the leader; time
    until the majority elects another; write ``a=2`` there; read ``a`` on the isolated member,
    serializable (its own, stale state) and linearizable (it cannot confirm it is current, so
    the read fails when the request times out); heal, and check the old leader catches up."""
    old = _poll(cluster, cluster.leader, timeout_ms)
    if old is None:
        raise RuntimeError("no leader was elected")
    cluster.client(old).put(b"a", b"1")
    cluster.isolate(old)
    t0 = _now_ms(cluster)
    new = _poll(cluster, lambda: _new_leader(cluster, [old]), timeout_ms)
    election_ms = _now_ms(cluster) - t0
    rev = cluster.client(new).put(b"a", b"2").header_revision if new is not None else 0
    kvs = cluster.client(old).get(b"a", serializable=True).kvs
    stale = kvs[0].value if kvs else None
    linearizable = _outcome(lambda: cluster.client(old).get(b"a"))
    cluster.heal()

    def caught_up() -> bool:
        got = cluster.client(old).get(b"a", serializable=True).kvs
        return bool(got) and got[0].value == b"2"

    return IsolationResult(new is not None, rev, stale, linearizable,
                           bool(_poll(cluster, caught_up, timeout_ms)), election_ms,
                           (old, new or 0))


def isolation_frames(seed: int = 1) -> list[PlayerFrame]:
    """Player frames of :func:`isolate_leader`'s story in the simulator (3 members), step by
    step, for a chapter's kernel-free trace player."""
    c = SimCluster(3, seed=seed)
    c.wait(3000)
    rec = Recorder(c.sim)
    old = c.leader()
    if old is None:
        raise RuntimeError("no leader was elected")
    c.client(old).put(b"a", b"1")
    rec.snap(f"member {old} leads; a=1 is written")
    c.isolate(old)
    rec.snap(f"member {old} is cut off from the others")
    rec.run_for(2500)
    new = c.leader()
    c.client(new or 1).put(b"a", b"2")
    rec.snap(f"the majority's leader, member {new}, writes a=2")
    c.heal()
    rec.snap("the network is healed")
    rec.run_for(600)
    return rec.frames
