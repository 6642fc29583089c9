"""Scenarios that run unchanged on every engine of the :class:`raftlib.Cluster` interface.

The engines:

- :class:`raftlib.sim.SimCluster`: the simulator, virtual time, deterministic for a seed;
- :class:`raftlib.backends.EtcdCluster`: real etcd 3.4 processes on 127.0.0.1, wall-clock;
- :class:`raftlib.backends.RaftlibCluster`: raftlib's own runtime, one real process per
  member (same constructor as ``EtcdCluster``), wall-clock.

Each scenario returns a frozen dataclass whose fields fall in two groups. The *comparable*
fields (revisions, values, error classes and messages, counts that the scenario fixes, the
order of watch events) must agree between engines, except for a few documented, deliberate
differences; :func:`comparable` returns them. The fields named in the class's ``VARIES``
legitimately differ from engine to engine and from run to run: times (virtual or wall-clock
milliseconds), database sizes (SQLite pages in raftlib, bbolt pages in etcd), the number of
writes that fit in a quota (it follows from the sizes), which member happened to lead, and raw
server messages behind a mapped error; :func:`varies` returns them.

:func:`on_etcd` runs a scenario on real etcd clusters and stops them afterwards; where
``/usr/bin/etcd`` is missing it returns :class:`EtcdMissing`, a note that says so visibly in a
notebook instead of skipping in silence.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar, TypeVar

from raftlib._cluster import Client, Cluster
from raftlib.backends import (
    ETCD_BINARY,
    BackendError,
    EtcdCluster,
    ProcessCluster,
    netns_problem,
)
from raftlib.kv import Event, KVError, RangeRequest, Watcher, prefix_end
from raftlib.raft import Timing
from raftlib.sim import SimCluster
from raftlib.sim._opening import CANNOT_COMMIT, IN_FLIGHT, NO_LEADER, write_situation
from raftlib.viz import Table
from raftlib.viz._figures import _NotebookFigure  # shows itself without pyplot

__all__ = [
    "CANNOT_COMMIT",
    "IN_FLIGHT",
    "NO_LEADER",
    "EtcdMissing",
    "HandoverResult",
    "IsolationResult",
    "LeaderOutResult",
    "LeaderTimes",
    "OpeningResult",
    "QuotaResult",
    "ReconfigGuardResult",
    "RevisionsResult",
    "WatchResult",
    "comparable",
    "compare",
    "etcd_available",
    "etcd_flag_check",
    "etcd_missing_note",
    "etcd_timing",
    "etcd_version",
    "handover_vs_crash",
    "isolate_leader",
    "isolation_frames",
    "leader_time_check",
    "on_etcd",
    "opening",
    "plot_leader_times",
    "quota_alarm",
    "revisions_and_compaction",
    "show_varies",
    "strict_reconfig_check",
    "take_leader_out",
    "time_to_new_leader",
    "varies",
    "watch_from_revision",
]

R = TypeVar("R")
T = TypeVar("T")

INSTALL_HINT = "apt-get install etcd-server"


# ----------------------------------------------------------------------------- plumbing


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


def _settled_leader(cluster: Cluster) -> int | None:
    """The leader, when every member is up and reports it in the same term (a member just
    restarted has heard from it, so it will not campaign and disturb what is timed next)."""
    status = cluster.status().values()
    seen = {(s.term, s.leader) for s in status}
    if len(seen) != 1 or not all(s.up and not s.paused for s in status):
        return None
    (_, lead), = seen
    return lead or None


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


# ----------------------------------------------------------------------------- etcd


def etcd_available() -> bool:
    """Whether the etcd server that :class:`EtcdCluster` runs is installed here."""
    return os.path.exists(ETCD_BINARY)


@dataclass(frozen=True)
class EtcdMissing:
    """What an etcd cell shows where etcd is not installed: a visible note, never silence."""

    binary: str = ETCD_BINARY
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


def etcd_version() -> str | EtcdMissing:
    """The first line ``etcd --version`` prints (``"etcd Version: 3.4.23"``), or the note."""
    if not etcd_available():
        return etcd_missing_note()
    out = subprocess.run([ETCD_BINARY, "--version"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    return out.splitlines()[0]


def etcd_flag_check(heartbeat_ms: int, election_timeout_ms: int) -> str | EtcdMissing:
    """Start a one-member etcd with these timing flags: ``"accepted"``, or etcd's own reason
    for refusing them (the line it prints, without its timestamp)."""
    if not etcd_available():
        return etcd_missing_note()
    try:
        EtcdCluster(1, heartbeat_ms=heartbeat_ms, election_timeout_ms=election_timeout_ms,
                    start_timeout=10.0).close()
    except BackendError as e:
        lines = [ln for ln in str(e).splitlines() if "etcdmain:" in ln]
        return lines[0].split("etcdmain: ", 1)[1] if lines else str(e)
    return "accepted"


# ----------------------------------------------------------------------------- tables


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


# ----------------------------------------------------------------------------- the opening


@dataclass(frozen=True)
class OpeningResult:
    """Losing two of five members, then a third (see :func:`opening`).

    ``failed_write`` and ``later_write`` are the answers to the two writes made with two of
    five members up; ``failed_write_case`` and ``later_write_case`` name the situation each
    met (:data:`IN_FLIGHT`, :data:`CANNOT_COMMIT` or :data:`NO_LEADER`), which decides etcd's
    answer: ``etcdserver: request timed out`` for a write handed to a leader, ``context
    deadline exceeded`` for one that found no leader to hand it to.
    """

    VARIES: ClassVar[tuple[str, ...]] = ("killed", "third", "no_leader_ms", "failed_write_ms",
                                         "later_write_ms", "raw_error", "raw_later_error")
    members: int
    killed_roles: tuple[str, ...]
    acked_before: int
    acked_with_three: int
    revisions_with_three: tuple[int, ...]
    third_role: str
    failed_write_case: str
    failed_write: str
    later_write_case: str
    later_write: str
    readable_after_restart: int
    failed_write_applied: bool
    later_write_applied: bool
    member_revisions: tuple[int, ...]
    killed: tuple[int, ...] = ()
    third: int = 0
    no_leader_ms: float = 0.0
    failed_write_ms: float = 0.0
    later_write_ms: float = 0.0
    raw_error: str = ""
    raw_later_error: str = ""


def _write_case(cluster: Cluster, member: int, down: Sequence[int]) -> str:
    """The situation a write through ``member`` meets now (see :class:`OpeningResult`)."""
    # Only this member's own view, and fast: etcd's full status also lists alarms, a request
    # through Raft that waits while there is no leader.
    if isinstance(cluster, ProcessCluster):
        seen = cluster.member_status(member, alarms={}).leader
    elif isinstance(cluster, SimCluster):
        seen = cluster.member_status(member).leader
    else:
        seen = cluster.status()[member].leader
    return write_situation(seen, list(down))


def _try_put(cluster: Cluster, c: Client, key: bytes) -> tuple[str, str, float]:
    """A put's outcome (``"ok"`` or class and message), the server's raw message and the ms
    it took."""
    t = _now_ms(cluster)
    try:
        c.put(key, b"two up")
        out, raw = "ok", ""
    except KVError as e:
        out, raw = f"{type(e).__name__}: {e.message}", _raw(e)
    return out, raw, _now_ms(cluster) - t


def opening(cluster: Cluster, *, before: int = 5, after: int = 10, third: str = "leader",
            timeout_ms: int = 20_000) -> OpeningResult:
    """The opening chapter's story on any engine, on a 5-member ``cluster``.

    ``before`` writes; kill the leader and the lowest-numbered follower; wait for a new leader
    (timed) and make ``after`` writes through a survivor (each acknowledged one counted); kill
    a third member, the new leader (``third="leader"``) or the other follower
    (``"follower"``), leaving two of five. At once, write ``probe`` through the survivor; once
    the survivor knows no leader (an election timeout later), write ``later`` through it. Each
    answer is recorded with the situation it met. Restart the three, then read back every
    acknowledged write and each member's revision.
    """
    if third not in ("leader", "follower"):
        raise ValueError(f"third must be 'leader' or 'follower': {third!r}")
    lead = _poll(cluster, cluster.leader, timeout_ms)
    if lead is None:
        raise RuntimeError("no leader was elected")
    writes: dict[bytes, bytes] = {}
    first = cluster.client(lead)
    acked_before = 0
    for i in range(before):
        first.put(f"k{i:02}".encode(), b"before")
        writes[f"k{i:02}".encode()] = b"before"
        acked_before += 1
    follower = min(m for m in cluster.members if m != lead)
    killed = [lead, follower]
    for m in killed:
        cluster.crash(m)
    t0 = _now_ms(cluster)
    new = _poll(cluster, lambda: _new_leader(cluster, killed), timeout_ms)
    if new is None:
        raise RuntimeError("the three survivors elected no leader")
    no_leader_ms = _now_ms(cluster) - t0
    others = sorted(m for m in cluster.members if m not in killed and m != new)
    victim = new if third == "leader" else others[0]
    survivor = others[0] if third == "leader" else others[1]
    c = cluster.client(survivor)
    revs: list[int] = []
    for i in range(after):
        key = f"k{before + i:02}".encode()
        try:
            revs.append(c.put(key, b"three up").header_revision)
        except KVError:
            continue
        writes[key] = b"three up"
    cluster.crash(victim)
    killed.append(victim)
    failed_case = _write_case(cluster, survivor, killed)
    failed, raw, failed_ms = _try_put(cluster, c, b"probe")
    _poll(cluster, lambda: _write_case(cluster, survivor, killed) == NO_LEADER, timeout_ms, 50)
    later_case = _write_case(cluster, survivor, killed)
    later, raw_later, later_ms = _try_put(cluster, c, b"later")
    for m in killed:
        cluster.restart(m)
    if _poll(cluster, cluster.leader, timeout_ms) is None:
        raise RuntimeError("no leader after the restart")
    reader = cluster.client(survivor)
    got = _read_all(cluster, reader, timeout_ms)
    readable = sum(1 for k, v in writes.items() if got.get(k) == v)
    want = max(r.revision for r in cluster.status().values())
    st = _poll(cluster, lambda: _all_at(cluster, want), timeout_ms, 50)
    revisions = tuple(i.revision for i in (st or cluster.status()).values())
    return OpeningResult(
        members=len(cluster.members), killed_roles=("leader", "follower"),
        acked_before=acked_before, acked_with_three=len(revs),
        revisions_with_three=tuple(revs), third_role=third, failed_write_case=failed_case,
        failed_write=failed, later_write_case=later_case, later_write=later,
        readable_after_restart=readable, failed_write_applied=b"probe" in got,
        later_write_applied=b"later" in got, member_revisions=revisions,
        killed=tuple(killed[:2]), third=victim, no_leader_ms=no_leader_ms,
        failed_write_ms=failed_ms, later_write_ms=later_ms, raw_error=raw,
        raw_later_error=raw_later)


def _read_all(cluster: Cluster, c: Client, timeout_ms: int) -> dict[bytes, bytes]:
    """Every key (a linearizable range read, retried while the cluster settles)."""
    def read() -> dict[bytes, bytes] | None:
        try:
            return {kv.key: kv.value for kv in c.get(b"\0", b"\0").kvs} or None
        except KVError:
            return None
    return _poll(cluster, read, timeout_ms, 50) or {}


def _all_at(cluster: Cluster, revision: int) -> dict[int, Any] | None:
    st = cluster.status()
    return st if all(i.up and i.revision == revision for i in st.values()) else None


# ----------------------------------------------------------------------------- elections


@dataclass(frozen=True)
class LeaderTimes:
    """How long a cluster went without a leader after its leader was killed, per trial."""

    VARIES: ClassVar[tuple[str, ...]] = ("samples_ms", "leaders")
    trials: int
    elected: int
    samples_ms: tuple[float, ...] = ()
    leaders: tuple[int, ...] = field(default=())


def time_to_new_leader(make_cluster: Callable[[], Cluster], trials: int = 5, *,
                       timeout_ms: int = 20_000, step_ms: int = 5) -> LeaderTimes:
    """Kill the leader, time until a survivor leads, restart the old leader; ``trials`` times.

    The time is the cluster's: virtual ms in the simulator, wall-clock ms on real engines,
    measured by polling ``leader()`` every ``step_ms`` (so a real engine's samples are late by
    up to one poll). Between trials the old leader restarts and the next trial waits until
    every member is up and follows one leader. One cluster is made, and closed at the end if
    it can be.
    """
    cluster = make_cluster()
    samples: list[float] = []
    leaders: list[int] = []
    try:
        for _ in range(trials):
            old = _poll(cluster, cluster.leader, timeout_ms)
            if old is None:
                break
            leaders.append(old)
            cluster.crash(old)
            t0 = _now_ms(cluster)
            if _poll(cluster, partial(_new_leader, cluster, [old]), timeout_ms,
                     step_ms) is None:
                break
            samples.append(_now_ms(cluster) - t0)
            cluster.restart(old)
            _poll(cluster, lambda: _steady(cluster), timeout_ms, 50)
    finally:
        _close(cluster)
    return LeaderTimes(trials, len(samples), tuple(samples), tuple(leaders))


@dataclass(frozen=True, slots=True)
class HandoverResult:
    """Leadership handed over on purpose, then lost to a crash (see :func:`handover_vs_crash`).
    """

    VARIES: ClassVar[tuple[str, ...]] = ("handover_ms", "crash_ms", "leaders")
    moved_to_target: bool
    writes_after_handover: int
    new_leader_after_crash: bool
    crash_slower_than_handover: bool
    handover_ms: float = 0.0
    crash_ms: float = 0.0
    leaders: tuple[int, ...] = ()


def _move_to_lowest_follower(cluster: Cluster, timeout_ms: int, step_ms: int
                             ) -> tuple[int, int, bool, float]:
    """Once a leader is elected, ``move_leader`` to the lowest other member: the old leader,
    the target, whether it came to lead, and how long that took (the cluster's own time)."""
    lead = _poll(cluster, cluster.leader, timeout_ms)
    if lead is None:
        raise RuntimeError("no leader was elected")
    target = min(m for m in cluster.members if m != lead)
    t0 = _now_ms(cluster)
    cluster.client(lead).move_leader(target)
    moved = _poll(cluster, lambda: cluster.leader() == target, timeout_ms, step_ms)
    return lead, target, bool(moved), _now_ms(cluster) - t0


def handover_vs_crash(cluster: Cluster, *, writes: int = 5, step_ms: int = 5,
                      timeout_ms: int = 20_000) -> HandoverResult:
    """The operations chapter's first lesson on any engine: ``move_leader`` to the lowest
    follower (timed until the cluster reports the target as leader), ``writes`` writes through
    it, then a crash of that leader (timed until another member leads). Times are the
    cluster's own: virtual ms in the simulator, wall-clock ms (polled every ``step_ms``) on
    real processes."""
    lead, target, moved, handover_ms = _move_to_lowest_follower(cluster, timeout_ms, step_ms)
    c = cluster.client(target)
    done = 0
    for i in range(writes):
        c.put(f"after-handover/{i}".encode(), b"v")
        done += 1
    cluster.crash(target)
    t1 = _now_ms(cluster)
    new = _poll(cluster, lambda: _new_leader(cluster, [target]), timeout_ms, step_ms)
    crash_ms = _now_ms(cluster) - t1
    cluster.restart(target)
    return HandoverResult(bool(moved), done, new is not None, crash_ms > handover_ms,
                          handover_ms, crash_ms, (lead, target, new or 0))


@dataclass(frozen=True, slots=True)
class LeaderOutResult:
    """The leader taken out of service three ways (see :func:`take_leader_out`)."""

    VARIES: ClassVar[tuple[str, ...]] = ("move_ms", "stop_ms", "kill_ms", "leaders")
    move_reached_target: bool
    stop_handed_over: bool
    kill_waited_election_timeout: bool
    move_ms: float = 0.0
    stop_ms: float = 0.0
    kill_ms: float = 0.0
    leaders: tuple[int, ...] = ()


def _timing_ms(cluster: Cluster) -> tuple[int, int]:
    """(heartbeat, election timeout) in ms: the simulator's timing or the engine's flags."""
    if isinstance(cluster, SimCluster):
        t = cluster.sim.timing
        return t.heartbeat_ms, t.election_timeout_ms
    return (int(getattr(cluster, "heartbeat_ms", 100)),
            int(getattr(cluster, "election_timeout_ms", 1000)))


def _begin_graceful_stop(cluster: Cluster, member: int) -> None:
    """Start stopping ``member`` the way SIGTERM stops etcd 3.4. On a process engine, send
    SIGTERM (etcd's ``EtcdServer.Stop``: a leader first hands leadership to its
    longest-connected voter, then the process exits). In the simulator the same, modelled: a
    leader asks the lowest other member to take over (every simulated link came up together);
    :func:`_end_graceful_stop` stops it."""
    if isinstance(cluster, SimCluster):
        if cluster.leader() == member:
            cluster.sim.transfer_leader(min(m for m in cluster.members if m != member))
        return
    if not isinstance(cluster, ProcessCluster):
        raise TypeError(f"no graceful stop on {type(cluster).__name__}")
    pid = cluster.pid(member)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)


def _end_graceful_stop(cluster: Cluster, member: int, timeout_ms: int) -> None:
    """Wait until ``member``'s graceful stop is over (in the simulator: stop it now)."""
    if isinstance(cluster, SimCluster):
        cluster.crash(member)
        return
    if isinstance(cluster, ProcessCluster):
        _poll(cluster, lambda: cluster.pid(member) is None, timeout_ms)


def take_leader_out(cluster: Cluster, *, step_ms: int = 5,
                    timeout_ms: int = 20_000) -> LeaderOutResult:
    """Take the leader out of service three ways in turn, each timed from the operator's
    action until another member leads, the member restarted before the next:
    ``etcdctl move-leader`` to the lowest follower; a graceful stop of that new leader
    (SIGTERM, which in etcd 3.4 transfers leadership before exiting); ``kill -9`` (SIGKILL)
    of the leader after that. For the simulator and the process engines (etcd, and raftlib's
    runtime, which hands over on SIGTERM as etcd does). Times are virtual ms in the
    simulator, wall-clock ms (polled every ``step_ms``) on real processes."""
    heartbeat, election = _timing_ms(cluster)
    lead, target, moved, move_ms = _move_to_lowest_follower(cluster, timeout_ms, step_ms)

    t1 = _now_ms(cluster)
    _begin_graceful_stop(cluster, target)
    after_stop = _poll(cluster, lambda: _new_leader(cluster, [target]), timeout_ms, step_ms)
    stop_ms = _now_ms(cluster) - t1
    _end_graceful_stop(cluster, target, timeout_ms)
    cluster.restart(target)
    cluster.wait(2 * election)
    killed = _poll(cluster, lambda: _settled_leader(cluster), timeout_ms, step_ms)
    if killed is None:
        raise RuntimeError("the members did not agree on a leader after the graceful stop")
    t2 = _now_ms(cluster)
    cluster.crash(killed)
    after_kill = _poll(cluster, lambda: _new_leader(cluster, [killed]), timeout_ms, step_ms)
    kill_ms = _now_ms(cluster) - t2
    cluster.restart(killed)
    return LeaderOutResult(
        bool(moved), after_stop is not None and stop_ms < election,
        after_kill is not None and kill_ms + heartbeat >= election,
        move_ms, stop_ms, kill_ms, (lead, target, after_stop or 0, after_kill or 0))


@dataclass(frozen=True, slots=True)
class ReconfigGuardResult:
    """``etcdctl member add`` against etcd 3.4's strict reconfiguration check (see
    :func:`strict_reconfig_check`): etcdctl's answer to each attempt."""

    VARIES: ClassVar[tuple[str, ...]] = ("accepted_after_ms",)
    voter_while_down: str
    learner_while_down: str
    voter_when_healthy: str
    accepted_after_ms: float = 0.0


ETCDCTL_BINARY = "/usr/bin/etcdctl"


def _etcdctl(cluster: EtcdCluster, member: int, *args: str) -> tuple[int, str]:
    """Run etcdctl (v3 API) against ``member``: its exit code and the line that matters (the
    ``Error: ...`` line, or the first line of the answer), with member ids as ``<ID>``."""
    r = subprocess.run([ETCDCTL_BINARY, "--endpoints", cluster.endpoint(member), *args],
                       capture_output=True, text=True, timeout=60, check=False,
                       env={**os.environ, "ETCDCTL_API": "3"})
    lines = [ln for ln in (r.stdout + "\n" + r.stderr).splitlines()
             if ln.strip() and not ln.startswith("{")]
    errors = [ln for ln in lines if ln.startswith("Error:")]
    line = (errors or lines or [""])[0]
    return r.returncode, re.sub(r"\b[0-9a-f]{12,16}\b", "<ID>", " ".join(line.split()))


def strict_reconfig_check(cluster: EtcdCluster, *,
                          timeout_ms: int = 30_000) -> ReconfigGuardResult:
    """etcd 3.4's ``--strict-reconfig-check`` (on by default), met through ``etcdctl member
    add`` on a running cluster of three or more: with one follower down, add a voter, then a
    learner; then restart that follower and add a voter (one that will never start), retried
    every 500 ms until accepted. ``accepted_after_ms`` is the wall-clock time from the
    restart to the acceptance."""
    lead = _poll(cluster, cluster.leader, timeout_ms)
    if lead is None:
        raise RuntimeError("no leader was elected")
    down = max(m for m in cluster.members if m != lead)
    cluster.crash(down)
    peer = "--peer-urls=http://127.0.0.1:9"  # nothing listens there: it never starts
    _, voter = _etcdctl(cluster, lead, "member", "add", "newcomer", peer)
    _, learner = _etcdctl(cluster, lead, "member", "add", "newcomer", peer, "--learner")
    cluster.restart(down)
    t0 = _now_ms(cluster)
    while True:
        code, healthy = _etcdctl(cluster, lead, "member", "add", "newcomer", peer)
        if code == 0 or _now_ms(cluster) - t0 > timeout_ms:
            break
        cluster.wait(500)
    return ReconfigGuardResult(voter, learner, healthy, _now_ms(cluster) - t0)


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


def isolation_frames(seed: int = 1) -> list[dict[str, Any]]:
    """Player frames of :func:`isolate_leader`'s story in the simulator (3 members), step by
    step, for a chapter's kernel-free trace player."""
    from raftlib.viz import Recorder

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


def _steady(cluster: Cluster) -> bool:
    st = cluster.status().values()
    leaders = {i.leader for i in st}
    return all(i.up for i in st) and len(leaders) == 1 and 0 not in leaders


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


# ----------------------------------------------------------------------------- MVCC


@dataclass(frozen=True)
class RevisionsResult:
    """Revisions, versions, a past read, compaction (see :func:`revisions_and_compaction`)."""

    VARIES: ClassVar[tuple[str, ...]] = ()
    put_revisions: tuple[int, ...]
    delete_revision: int
    deleted: int
    a_now: tuple[bytes, int, int, int]
    a_at_3: bytes | None
    keys_at_4: tuple[bytes, ...]
    recreated: tuple[int, int, int]
    compact_to: int
    read_below_compaction: str
    read_at_compaction: tuple[bytes, ...]
    final_revision: int


def revisions_and_compaction(cluster: Cluster) -> RevisionsResult:
    """Puts and a delete on a fresh cluster; revision, version, create and mod revisions; a
    read at an old revision; compaction and the error a read below it gets."""
    _poll(cluster, cluster.leader, 20_000)
    c = cluster.client(cluster.members[0])
    puts = tuple(c.put(k, v).header_revision
                 for k, v in ((b"a", b"1"), (b"b", b"1"), (b"a", b"2"), (b"c", b"1"),
                              (b"a", b"3")))
    d = c.delete(b"b")
    kv = c.get(b"a").kvs[0]
    old = c.get(b"a", revision=3).kvs
    at4 = tuple(x.key for x in c.get(b"a", b"z", revision=4).kvs)
    c.delete(b"c")
    again = c.put(b"c", b"2").header_revision
    ckv = c.get(b"c").kvs[0]
    to = again - 1
    c.compact(to)
    below = _outcome(lambda: c.get(b"a", revision=to - 1))
    at = tuple(x.key for x in c.get(b"a", b"z", revision=to).kvs)
    return RevisionsResult(puts, d.header_revision, d.deleted,
                           (kv.value, kv.version, kv.create_revision, kv.mod_revision),
                           old[0].value if old else None, at4,
                           (ckv.version, ckv.create_revision, ckv.mod_revision), to, below, at,
                           c.get(b"a").header_revision)


# ----------------------------------------------------------------------------- watch


EventRow = tuple[str, bytes, bytes, int, bytes | None]


@dataclass(frozen=True)
class WatchResult:
    """Events a watch from an old revision receives (see :func:`watch_from_revision`)."""

    VARIES: ClassVar[tuple[str, ...]] = ("delivery_ms", "responses")
    history: tuple[int, ...]
    start_revision: int
    events: tuple[EventRow, ...]
    compacted_watch: tuple[bool, int]
    delivery_ms: float = 0.0
    responses: int = 0


def _row(e: Event) -> EventRow:
    return (e.type, e.kv.key, e.kv.value, e.kv.mod_revision,
            e.prev_kv.value if e.prev_kv is not None else None)


def _drain(cluster: Cluster, w: Watcher, n: int, timeout_ms: int
           ) -> tuple[list[Event], int, bool, int]:
    """Poll ``w`` until ``n`` events (or a cancellation) arrived or the deadline passed.

    Real engines deliver on a background stream, so events come in whenever they come; the
    simulator delivers during ``wait``. Returns events, responses, canceled, compact revision.
    """
    events: list[Event] = []
    state = {"responses": 0, "canceled": False, "compact": 0}

    def more() -> bool:
        for r in w.take():
            state["responses"] += 1
            events.extend(r.events)
            if r.canceled:
                state["canceled"], state["compact"] = True, r.compact_revision
        return len(events) >= n or bool(state["canceled"])

    _poll(cluster, more, timeout_ms, 10)
    return events, int(state["responses"]), bool(state["canceled"]), int(state["compact"])


def watch_from_revision(cluster: Cluster, *, timeout_ms: int = 10_000) -> WatchResult:
    """Write a history under ``/cfg/``, watch the prefix from an old revision (with previous
    values) and collect the replayed events plus one live event; then compact, and watch
    from below the compaction: the watch is cancelled with the compact revision."""
    _poll(cluster, cluster.leader, 20_000)
    c = cluster.client(cluster.members[0])
    hist = [c.put(b"/cfg/a", b"1"), c.put(b"/cfg/b", b"1"), c.put(b"/cfg/a", b"2")]
    revs = [r.header_revision for r in hist]
    revs.append(c.delete(b"/cfg/b").header_revision)
    revs.append(c.put(b"/other", b"x").header_revision)
    start = revs[1]
    w = c.watch(b"/cfg/", prefix_end(b"/cfg/"), start_revision=start, prev_kv=True)
    revs.append(c.put(b"/cfg/a", b"3").header_revision)  # live, after the watch exists
    t0 = _now_ms(cluster)
    events, responses, _, _ = _drain(cluster, w, 4, timeout_ms)
    ms = _now_ms(cluster) - t0
    c.compact(revs[-1])
    # A compaction is acknowledged once applied where the engine answers from (the leader in
    # the simulator); a linearizable read makes the watching member catch up with it.
    c.get(b"/cfg/a")
    late = c.watch(b"/cfg/", prefix_end(b"/cfg/"), start_revision=start)
    _, _, canceled, compact = _drain(cluster, late, 1, timeout_ms)
    return WatchResult(tuple(revs), start, tuple(_row(e) for e in events), (canceled, compact),
                       ms, responses)


# ----------------------------------------------------------------------------- quota


@dataclass(frozen=True)
class QuotaResult:
    """Filling a small quota and recovering (see :func:`quota_alarm`)."""

    VARIES: ClassVar[tuple[str, ...]] = ("accepted", "db_sizes", "alarm_entries")
    quota: int
    fill_error: str
    alarms: tuple[str, ...]
    while_alarmed: tuple[tuple[str, str], ...]
    recovery: tuple[tuple[str, str], ...]
    alarms_after: tuple[str, ...]
    accepted: int = 0
    db_sizes: tuple[tuple[str, int], ...] = ()
    alarm_entries: int = 0


def quota_alarm(make_cluster: Callable[[int], Cluster], quota: int = 1024 * 1024, *,
                value_bytes: int = 32 * 1024, limit: int = 1000) -> QuotaResult:
    """Fill a cluster made by ``make_cluster(quota)`` until ``NOSPACE``, try what still works,
    then recover in etcd's order: compact, defragment every member, disarm; a put after each
    step. The cluster is closed at the end if it can be."""
    cluster = make_cluster(quota)
    try:
        return _quota(cluster, quota, value_bytes, limit)
    finally:
        _close(cluster)


def _db_size(cluster: Cluster) -> int:
    return max(i.db_size for i in cluster.status().values() if i.up)


def _quota(cluster: Cluster, quota: int, value_bytes: int, limit: int) -> QuotaResult:
    _poll(cluster, cluster.leader, 20_000)
    c = cluster.client(cluster.members[0])
    c.put(b"old", b"x")
    sizes = [("start", _db_size(cluster))]
    accepted, error = 0, "no error"
    value = b"v" * value_bytes
    for _ in range(limit):
        try:
            c.put(b"log", value)
        except KVError as e:
            error = f"{type(e).__name__}: {e.message}"
            break
        accepted += 1
    sizes.append(("full", _db_size(cluster)))
    # The alarm is raised through the log: wait until the members have applied it.
    alarms = _poll(cluster, c.alarms, 5000, 20) or ()
    checks: dict[str, Callable[[], object]] = {
        "get log": lambda: c.get(b"log"),
        "put 1 byte": lambda: c.put(b"tiny", b"x"),
        "read-only txn": lambda: c.txn([], [RangeRequest(b"log")]),
        "delete old": lambda: c.delete(b"old"),
    }
    during = tuple((name, _outcome(f)) for name, f in checks.items())
    rev = c.get(b"log").header_revision
    steps: list[tuple[str, str]] = []

    def put_after(step: str) -> None:
        steps.append((f"put after {step}", _outcome(lambda: c.put(b"log", b"small"))))

    steps.append(("compact", _outcome(lambda: c.compact(rev))))
    sizes.append(("compacted", _db_size(cluster)))
    put_after("compact")
    for m in cluster.members:
        steps.append((f"defragment member {m}", _outcome(partial(c.defragment, m))))
    sizes.append(("defragmented", _db_size(cluster)))
    put_after("defragment")
    # etcd raises one NOSPACE entry per member that hit the quota first (a race): compare
    # the kinds disarmed, keep the entry count among what varies.
    disarmed = c.disarm()
    steps.append(("disarm", ", ".join(sorted(set(disarmed))) or "nothing"))
    # A disarm is applied through the log too; wait until no alarm remains.
    _poll(cluster, lambda: not c.alarms(), 5000, 20)
    put_after("disarm")
    return QuotaResult(quota, error, tuple(alarms), during, tuple(steps), c.alarms(),
                       accepted, tuple(sizes), len(disarmed))
