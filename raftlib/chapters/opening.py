"""Chapter 0, the opening: five members under client load lose two, then a third.

:func:`opening_run` drives a :class:`SimCluster` through one fixed story and returns what the
chapter shows: player frames around each step, every acknowledged write with its time, the
error a fresh write gets once three members are down, and the checkers' verdicts. Same
arguments, same run.

The story (virtual ms, etcd's default timing): a leader is elected; four clients start a
steady load of puts and linearizable gets on three keys; at ``t_pair`` the two chosen members
crash at once; at ``t_third`` the lowest-numbered survivor crashes too, and a probe client
writes right away and again ``probe_later_ms`` later; clients stop starting operations a little
after that; at ``t_restart`` (after every pending call has timed out) the three crashed members
restart; the run ends ``settle_ms`` later with a final linearizable read of every key.

:func:`opening` is the same loss of two then a third, without the load, written against the
:class:`raftlib.Cluster` interface so that the chapter reruns it on real etcd; both judge a
write with :func:`write_situation`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from raftlib._cluster import Client, Cluster
from raftlib.chapters._engines import _new_leader, _now_ms, _poll, _raw
from raftlib.check import (
    DurabilityVerdict,
    History,
    LinearizabilityVerdict,
    SafetyMonitor,
    Violation,
    check_durability,
    check_linearizability,
)
from raftlib.kv import Indeterminate, KVError
from raftlib.sim import Pending, SimClient, SimCluster
from raftlib.viz import RecordedFrames, Recorder

__all__ = ["CANNOT_COMMIT", "IN_FLIGHT", "KEYS", "NO_LEADER", "OpeningResult", "OpeningRun",
           "Probe", "opening", "opening_run", "survivable_crashes", "write_situation"]

KEYS = (b"a", b"b", b"c")
"""The keys the clients write and read."""


# The situation a write met with too few members up, judged from the view of the member it
# went through just before it was made; it decides etcd 3.4's answer (see the opening chapter).
IN_FLIGHT = "leader lost in flight"
"""The member still names a leader that has died: etcd forwards the write there and answers
``etcdserver: request timed out`` at its request timeout."""


CANNOT_COMMIT = "leader cannot commit"
"""The member names a running member as leader, with no majority behind it (it may already have
stepped down): etcd's answer is ``etcdserver: request timed out``, and the write may be
applied later."""


NO_LEADER = "no leader known"
"""The member knows no leader: etcd never proposes the write and answers ``context deadline
exceeded`` at its request timeout."""


def write_situation(leader_seen: int | None, down: tuple[int, ...] | list[int]) -> str:
    """:data:`IN_FLIGHT`, :data:`CANNOT_COMMIT` or :data:`NO_LEADER` for a write through a
    member that names ``leader_seen`` (0 or None: none) while the members ``down`` are down."""
    if not leader_seen:
        return NO_LEADER
    return IN_FLIGHT if leader_seen in down else CANNOT_COMMIT


@dataclass(frozen=True, slots=True)
class Probe:
    """A single write made while three members are down, and what the client got back."""

    at: int  # virtual ms when the write was made
    leader: int | None  # the running leader at that moment, if any
    error: str  # the error class name, e.g. "ErrTimeout"
    message: str  # etcd's text, e.g. "etcdserver: request timed out"
    indeterminate: bool  # the client cannot know whether the write will be applied
    waited_ms: int  # how long the client waited for that answer
    situation: str = ""  # IN_FLIGHT, CANNOT_COMMIT or NO_LEADER


@dataclass(slots=True)
class OpeningRun:
    """Everything one run produced (see :func:`opening_run`)."""

    crashed: tuple[int, ...]
    third: int
    seed: int
    t_pair: int
    t_third: int
    t_restart: int
    t_end: int
    leader_at_pair: int
    leader_at_third: int | None
    frames: RecordedFrames  # they carry the run's replay script: the player's live mode
    history: History
    acked: list[int]  # return time of every acknowledged put, sorted
    probes: tuple[Probe, ...]
    final: dict[bytes, bytes | None]
    revisions: dict[int, int]  # member -> revision after the restart
    agree: bool  # every member holds the same rows (revision, key, value) after the restart
    durability: DurabilityVerdict
    linearizability: LinearizabilityVerdict
    safety: list[Violation] = field(default_factory=list)

    def acked_between(self, start: int, end: int) -> int:
        """Acknowledged puts that returned in ``[start, end)``."""
        return sum(1 for t in self.acked if start <= t < end)

    @property
    def acked_after_third(self) -> int:
        """Acknowledged puts invoked after the third crash and before the restart."""
        return sum(1 for op in self.history.ops
                   if op.kind == "put" and op.returned is not None
                   and self.t_third < op.invoked < self.t_restart)

    @property
    def ok(self) -> bool:
        """Every verdict passed and the members agree."""
        return (self.durability.ok and self.linearizability.ok and not self.safety
                and self.agree)


def _worker(c: SimCluster, cl: SimClient, rng: random.Random, stop: list[int],
            tag: str) -> None:
    """Puts (unique values) and linearizable gets, one after another, until ``stop[0]``."""
    n = 0

    def next_op(_: Pending | None = None) -> None:
        nonlocal n
        if c.now >= stop[0]:
            return
        n += 1
        key = rng.choice(KEYS)
        p = (cl.put_async(key, f"{tag}-{n}".encode()) if rng.random() < 0.6
             else cl.get_async(key))
        p.callbacks.append(lambda _p: c.sim.at(c.now + rng.randint(20, 80), next_op))

    c.sim.at(c.now + rng.randint(0, 50), next_op)


def _run_frames(c: SimCluster, rec: Recorder, ms: int, every_ms: int) -> None:
    """Run ``ms`` of virtual time with a frame every ``every_ms``, labelled with the leader."""
    end = c.now + ms
    while c.now < end:
        c.wait(min(every_ms, end - c.now))
        lead = c.leader()
        if lead is None:
            rec.snap("no leader")
        else:
            st = c.member_status(lead)
            rec.snap(f"n{lead} leads term {st.term}, revision {st.revision}")


def _rows(c: SimCluster, mid: int) -> tuple[tuple[int, bytes, bytes], ...]:
    sm = c.store(mid)
    assert sm is not None
    return tuple((kv.mod_revision, kv.key, kv.value) for _, kv, _ in sm.store.backend.rows())


def opening_run(crashed: tuple[int, ...] = (1, 2), seed: int = 1, *, n: int = 5,
                clients: int = 4, third: int | None = None, load_ms: int = 1500,
                pair_ms: int = 3000, probe_later_ms: int = 2500, settle_ms: int = 4000,
                frame_ms: int = 100) -> OpeningRun:
    """Crash ``crashed`` (any members, at once) under load, then ``third`` (default: the
    lowest-numbered survivor), then restart them all; see the module docstring.

    Frames (one every ``frame_ms``) cover the 2.5 s after the first crash, the 2 s after the
    third and the 2.5 s after the restart, with a labelled frame at each step.
    """
    if len(set(crashed)) != len(crashed) or not set(crashed) <= set(range(1, n + 1)):
        raise ValueError(f"crashed must be distinct members of 1..{n}: {crashed}")
    c = SimCluster(n, seed=seed)
    monitor = SafetyMonitor(raise_on_violation=False).attach(c.sim)
    rec = Recorder(c.sim, max_frames=10**9)
    c.sim.run_until(lambda: c.leader() is not None, 10_000)
    c.wait(200)
    history = History()
    rng = random.Random(seed)
    stop = [1 << 60]
    for i in range(clients):
        _worker(c, c.client(1 + i % n, history=history), rng, stop, f"c{i + 1}")
    c.wait(load_ms)

    def names(ms: tuple[int, ...] | list[int]) -> str:
        return ", ".join(f"n{m}" for m in ms)

    leader_at_pair = c.leader()
    assert leader_at_pair is not None
    rec.snap(f"steady load; n{leader_at_pair} leads")
    t_pair = c.now
    for m in crashed:
        c.crash(m)
    rec.snap(f"crash {names(crashed)}")
    _run_frames(c, rec, 2500, frame_ms)
    c.wait(max(0, t_pair + pair_ms - c.now))
    survivors = [m for m in c.members if m not in crashed]
    victim = third if third is not None else survivors[0]
    if victim in crashed or victim not in c.members:
        raise ValueError(f"third must be a running member: {victim}")
    leader_at_third = c.leader()
    rec.snap(f"{len(survivors)} members up; n{leader_at_third} leads")
    t_third = c.now
    c.crash(victim)
    down = (*crashed, victim)
    rec.snap(f"crash {names([victim])}: {names(sorted(down))} down")

    probes: list[Probe] = []
    via = next(m for m in c.members if m not in down)
    prober = c.client(via, history=history)

    def probe(i: int) -> None:
        at, lead = c.now, c.leader()
        seen = _write_case(c, via, down)
        p = prober.put_async(b"probe", f"probe-{i}".encode())
        p.callbacks.append(lambda p: probes.append(_probe(at, lead, p, c.now, seen)))

    c.sim.at(t_third + 1, lambda: probe(1))
    c.sim.at(t_third + probe_later_ms, lambda: probe(2))
    stop[0] = t_third + probe_later_ms
    _run_frames(c, rec, 2000, frame_ms)
    # Wait for every pending call to give up (the client's deadline), then restart.
    c.wait(max(0, t_third + probe_later_ms + c.request_timeout_ms + 500 - c.now))
    rec.snap("every pending call has given up")
    t_restart = c.now
    for m in sorted(down):
        c.restart(m)
    rec.snap(f"restart {names(sorted(down))}")
    _run_frames(c, rec, 2500, frame_ms)
    c.wait(max(0, t_restart + settle_ms - c.now))
    reader = c.client(survivors[-1])
    final: dict[bytes, bytes | None] = {}
    for k in (*KEYS, b"probe"):
        kvs = reader.get(k).kvs
        final[k] = kvs[0].value if kvs else None
    c.wait(500)  # followers learn the last commit with the next heartbeat
    rec.snap(f"every member at revision {c.member_status(1).revision}")
    rows = {m: _rows(c, m) for m in c.members}
    safety = [*monitor.violations, *monitor.final_check(c.sim)]
    ops = history.ops
    acked = sorted(int(op.returned) for op in ops
                   if op.kind == "put" and op.returned is not None and op.key != b"probe")
    return OpeningRun(
        crashed=tuple(crashed), third=victim, seed=seed, t_pair=t_pair, t_third=t_third,
        t_restart=t_restart, t_end=c.now, leader_at_pair=leader_at_pair,
        leader_at_third=leader_at_third, frames=rec.frames, history=history, acked=acked,
        probes=tuple(sorted(probes, key=lambda p: p.at)), final=final,
        revisions={m: c.member_status(m).revision for m in c.members},
        agree=len(set(rows.values())) == 1,
        durability=check_durability(ops, final),
        linearizability=check_linearizability(ops), safety=safety,
    )


def _probe(at: int, leader: int | None, p: Pending, now: int, situation: str) -> Probe:
    err = p.error
    if err is None:
        return Probe(at, leader, "", "ok", False, now - at, situation)
    return Probe(at, leader, type(err).__name__, str(err), isinstance(err, Indeterminate),
                 now - at, situation)


def survivable_crashes(n: int, seed: int = 1, *, timeout_ms: int = 4000) -> int:
    """The largest number of crashed members (lowest ids first) with which an ``n``-member
    cluster still acknowledges a new write within ``timeout_ms``."""
    best = 0
    for k in range(n):
        c = SimCluster(n, seed=seed)
        c.sim.run_until(lambda c=c: c.leader() is not None, 10_000)  # type: ignore[misc]
        for m in range(1, k + 1):
            c.crash(m)
        cl = c.client(n, timeout_ms=timeout_ms)
        try:
            cl.put(b"k", b"v")
        except KVError:
            break
        best = k
    return best


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
    if isinstance(cluster, SimCluster):
        seen = cluster.member_status(member).leader
    else:
        from raftlib.backends import ProcessCluster  # here: a browser runs the simulator only

        if isinstance(cluster, ProcessCluster):
            seen = cluster.member_status(member, alarms={}).leader
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
