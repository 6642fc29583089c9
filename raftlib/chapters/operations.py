"""Chapter 5, operations: early-warning metrics, a scripted member replacement, handovers.

``MetricsProbe`` samples, at a fixed virtual period, the numbers an etcd operator watches:
leader changes seen (``etcd_server_leader_changes_seen_total``), failed and successful client
writes (``etcd_server_proposals_failed_total``), apply lag (``committed - applied``) and each
member's database size (``etcd_mvcc_db_total_size_in_bytes``). ``Workload`` writes at a steady
pace meanwhile. ``replace_member`` runs etcd's procedure for a broken member (remove, wipe, add
as a learner, catch up, promote) and returns its steps with virtual timestamps.
:func:`handover_vs_crash` compares a handover with a crash on any :class:`raftlib.Cluster`,
and :func:`lock_holder_crash` frees a lock by its lease when the holder stops renewing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from raftlib._cluster import Client, Cluster
from raftlib.chapters._engines import _crash_timed, _now_ms, _poll
from raftlib.kv import (
    Compare,
    CompareResult,
    CompareTarget,
    ErrLearnerNotReady,
    PutRequest,
    RangeRequest,
)
from raftlib.sim import HistorySink, Pending, Record, SimCluster

__all__ = [
    "HandoverResult",
    "LockResult",
    "MetricSample",
    "MetricsProbe",
    "ReplacementStep",
    "Workload",
    "handover_vs_crash",
    "leader_changes_seen",
    "leaderless_ms",
    "lock_holder_crash",
    "replace_member",
    "run_schedule",
]


def leader_changes_seen(trace: Sequence[Record]) -> dict[int, int]:
    """Per member, how often it saw a new, known leader: etcd's
    ``etcd_server_leader_changes_seen_total`` (which counts a change whenever the Raft soft
    state names a leader other than the previous one, including the first after a start).
    Unlike a real counter it is not reset when a member restarts."""
    seen: dict[int, int] = {}
    last: dict[int, int] = {}
    for rec in trace:
        _count_leader(rec, seen, last)
    return dict(sorted(seen.items()))


def _count_leader(rec: Record, seen: dict[int, int], last: dict[int, int]) -> None:
    if rec["ev"] == "state":
        mid, lead = rec["id"], rec["lead"]
        seen.setdefault(mid, 0)
        if lead and lead != last.get(mid, 0):
            seen[mid] += 1
        last[mid] = lead
    elif rec["ev"] == "crash":
        last[rec["id"]] = 0


def leaderless_ms(trace: Sequence[Record], start: int, end: int) -> int:
    """Virtual ms in ``[start, end)`` during which no running member was leader.

    Read from the trace's ``state``, ``crash`` and ``restart`` records (a member that believes
    it still leads counts as a leader, as the cluster's own ``leader()`` does)."""
    leaders: set[int] = set()
    total = 0
    empty_from = 0  # no leader before the first election

    def overlap(a: int, b: int) -> int:
        return max(0, min(b, end) - max(a, start))

    for rec in trace:
        t = rec["t"]
        if t >= end:
            break
        was_empty = not leaders
        if rec["ev"] == "state" and rec["role"] == "leader":
            leaders.add(rec["id"])
        elif rec["ev"] == "state" or rec["ev"] == "crash":
            leaders.discard(rec["id"])
        else:
            continue
        if was_empty and leaders:
            total += overlap(empty_from, t)
        elif not was_empty and not leaders:
            empty_from = t
    if not leaders:
        total += overlap(empty_from, end)
    return total


@dataclass(frozen=True, slots=True)
class MetricSample:
    """The metrics at virtual time ``t`` (ms).

    ``leader`` is 0 when there is none; ``leader_changes`` the largest per-member count of
    leader changes seen so far; ``writes_ok``/``writes_failed`` the workload's answered writes
    so far (a failure is an error or a timeout, as etcd counts a failed proposal);
    ``apply_lag`` the largest ``commit - applied`` over running members; ``behind`` per
    running member, how many entries it has applied fewer than the leader has committed;
    ``db_size`` per running member, in bytes.
    """

    t: int
    leader: int
    leader_changes: int
    writes_ok: int
    writes_failed: int
    apply_lag: int
    behind: tuple[tuple[int, int], ...]
    db_size: tuple[tuple[int, int], ...]


class Workload:
    """One client writing ``value_bytes`` to one of ``keys`` keys every ``every_ms`` (async).

    Each write has its own deadline ``timeout_ms``; ``ok``, ``failed`` and ``in_flight`` count
    the outcomes. Values are unique (the write's number, padded), so a ``history`` (e.g.
    ``raftlib.check.History``) can be judged. ``start(duration_ms)`` schedules the writes.
    """

    def __init__(self, cluster: SimCluster, *, member: int = 1, every_ms: int = 50,
                 keys: int = 8, value_bytes: int = 64, timeout_ms: int = 1500,
                 history: HistorySink | None = None) -> None:
        self.cluster = cluster
        self.every_ms = every_ms
        self.keys = keys
        self.value_bytes = value_bytes
        self.ok = 0
        self.failed = 0
        self.sent = 0
        self._client = cluster.client(member, history=history, timeout_ms=timeout_ms)

    @property
    def in_flight(self) -> int:
        """Writes started and not yet answered."""
        return self.sent - self.ok - self.failed

    def _done(self, p: Pending) -> None:
        if p.error is None:
            self.ok += 1
        else:
            self.failed += 1

    def _write(self) -> None:
        key = f"w/{self.sent % self.keys}".encode()
        self.sent += 1
        value = str(self.sent).encode().ljust(self.value_bytes, b".")
        p = self._client.put_async(key, value)
        if p.done:
            self._done(p)
        else:
            p.callbacks.append(self._done)

    def start(self, duration_ms: int) -> None:
        """Schedule one write every ``every_ms`` for the next ``duration_ms``."""
        sim = self.cluster.sim
        t = sim.now + self.every_ms
        while t <= sim.now + duration_ms:
            sim.at(t, self._write)
            t += self.every_ms


class MetricsProbe:
    """Samples :class:`MetricSample` from a running :class:`SimCluster` (see ``sample``).

    It subscribes to the simulation's records when built, so leader changes count from then.
    """

    def __init__(self, cluster: SimCluster, workload: Workload | None = None) -> None:
        self.cluster = cluster
        self.workload = workload
        self.samples: list[MetricSample] = []
        self._seen: dict[int, int] = {}
        self._last: dict[int, int] = {}
        cluster.sim.observe(self._on_record)

    def _on_record(self, rec: Record) -> None:
        _count_leader(rec, self._seen, self._last)

    def sample(self) -> MetricSample:
        """Take a sample now and keep it in ``samples``."""
        c = self.cluster
        status = c.status()
        lead = c.leader() or 0
        up = [s for _, s in sorted(status.items()) if s.up]
        lead_commit = status[lead].commit if lead else max((s.commit for s in up), default=0)
        w = self.workload
        s = MetricSample(
            t=c.now,
            leader=lead,
            leader_changes=max(self._seen.values(), default=0),
            writes_ok=w.ok if w else 0,
            writes_failed=w.failed if w else 0,
            apply_lag=max((s.commit - s.applied for s in up), default=0),
            behind=tuple((s.id, max(0, lead_commit - s.applied)) for s in up),
            db_size=tuple((s.id, s.db_size) for s in up),
        )
        self.samples.append(s)
        return s

    def every(self, every_ms: int, duration_ms: int) -> None:
        """Schedule a sample every ``every_ms`` for the next ``duration_ms`` (and one now)."""
        sim = self.cluster.sim
        self.sample()
        t = sim.now + every_ms
        while t <= sim.now + duration_ms:
            sim.at(t, self.sample)
            t += every_ms


Action = tuple[int, str, Callable[[SimCluster], object]]
"""``(offset_ms, label, action)``: run ``action(cluster)`` ``offset_ms`` after the start."""


def run_schedule(cluster: SimCluster, schedule: Sequence[Action], duration_ms: int, *,
                 every_ms: int = 100, workload: Workload | None = None,
                 ) -> tuple[list[MetricSample], list[tuple[int, str]]]:
    """Run ``duration_ms`` of virtual time with the workload (if any) writing, the scheduled
    faults firing and a :class:`MetricsProbe` sampling every ``every_ms``.

    Returns the samples and the fired actions as ``(virtual time, label)``."""
    sim = cluster.sim
    probe = MetricsProbe(cluster, workload)
    fired: list[tuple[int, str]] = []
    start = sim.now
    for offset, label, action in schedule:
        def fire(label: str = label, action: Callable[[SimCluster], object] = action) -> None:
            fired.append((sim.now, label))
            action(cluster)
        sim.at(start + offset, fire)
    if workload is not None:
        workload.start(duration_ms)
    probe.every(every_ms, duration_ms)
    cluster.wait(duration_ms)
    return probe.samples, fired


@dataclass(frozen=True, slots=True)
class ReplacementStep:
    """One step of a member replacement: virtual time ``t`` (ms) when it finished, what the
    simulator did, the etcd operator's equivalent, and what came of it."""

    t: int
    step: str
    etcd: str
    result: str


def replace_member(cluster: SimCluster, broken: int, *, learner: bool = True,
                   timeout_ms: int = 20_000) -> list[ReplacementStep]:
    """Replace ``broken`` (usually crashed) by a fresh member, as etcd's runtime-configuration
    guide does: ``member remove``, wipe its data directory, ``member add`` (as a learner when
    ``learner``), start it with ``--initial-cluster-state existing``, wait until it has caught
    up, then ``member promote``. The newcomer gets the next free id and an empty log, so when
    the leader has compacted its log it first receives a snapshot (``MsgSnap``).

    Raises ``TimeoutError`` if the newcomer does not catch up within ``timeout_ms``."""
    sim = cluster.sim
    lead = cluster.leader()
    healthy = lead if lead is not None else next(
        m for m in cluster.members if m != broken and cluster.store(m) is not None)
    client = cluster.client(healthy)
    steps: list[ReplacementStep] = []
    t0 = sim.now
    steps.append(ReplacementStep(t0, f"member {broken} found broken", "etcdctl endpoint health",
                                 "up" if sim.members[broken].up else "down"))
    client.member_remove(broken)
    sim.crash(broken)  # a removed member is stopped for good; its disk is wiped next
    steps.append(ReplacementStep(sim.now, f"remove member {broken}",
                                 "etcdctl member remove <ID>",
                                 f"voters now {_voters(cluster)}"))
    steps.append(ReplacementStep(sim.now, f"wipe member {broken}'s data", "rm -rf <data-dir>",
                                 "its log, snapshot and database are gone"))
    new = client.member_add(learner=learner)
    what = "learner" if learner else "voter"
    add = "etcdctl member add <name> --peer-urls=<url>" + (" --learner" if learner else "")
    steps.append(ReplacementStep(sim.now, f"add member {new} as a {what} and start it",
                                 add + "; etcd --initial-cluster-state existing ...",
                                 f"voters {_voters(cluster)}, learners {_learners(cluster)}"))
    mark = len(sim.trace)

    def caught_up() -> bool:
        lead_now = cluster.leader()
        if lead_now is None:
            return False
        return sim.members[new].applied >= sim.status()[lead_now].commit

    if not sim.run_until(caught_up, timeout_ms):
        raise TimeoutError(f"member {new} did not catch up within {timeout_ms} ms")
    snaps = [r["snap"] for r in sim.trace[mark:] if r["ev"] == "persist" and r["id"] == new
             and r["snap"] is not None]
    how = (f"from a snapshot at index {snaps[0]} (MsgSnap), then entries"
           if snaps else "from log entries alone (MsgApp)")
    steps.append(ReplacementStep(sim.now, f"member {new} caught up",
                                 "etcdctl endpoint status (compare raft index)",
                                 f"applied {sim.members[new].applied}, {how}"))
    if learner:
        end = sim.now + timeout_ms
        while True:
            try:
                client.member_promote(new)
                break
            except ErrLearnerNotReady:
                if sim.now >= end:
                    raise TimeoutError(f"learner {new} not ready within {timeout_ms} ms") \
                        from None
                sim.run_for(sim.timing.heartbeat_ms)
        # The newcomer learns of its promotion when it applies the change itself.
        sim.run_until(lambda: not cluster.member_status(new).learner, timeout_ms)
        steps.append(ReplacementStep(sim.now, f"promote member {new}",
                                     "etcdctl member promote <ID>",
                                     f"voters {_voters(cluster)}"))
    return steps


def _leader_node_conf(cluster: SimCluster) -> tuple[tuple[int, ...], tuple[int, ...]]:
    lead = cluster.leader()
    node = cluster.sim.members[lead].node if lead is not None else None
    if node is None:
        return (), ()
    return tuple(sorted(node.voters)), tuple(sorted(node.learners))


def _voters(cluster: SimCluster) -> list[int]:
    return list(_leader_node_conf(cluster)[0])


def _learners(cluster: SimCluster) -> list[int]:
    return list(_leader_node_conf(cluster)[1])


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
    new, crash_ms = _crash_timed(cluster, target, timeout_ms, step_ms)
    cluster.restart(target)
    return HandoverResult(bool(moved), done, new is not None, crash_ms > handover_ms,
                          handover_ms, crash_ms, (lead, target, new or 0))


@dataclass(frozen=True, slots=True)
class LockResult:
    """A lock held through a lease, whose holder then stops renewing (see
    :func:`lock_holder_crash`)."""

    VARIES: ClassVar[tuple[str, ...]] = ("freed_after_ms",)
    holder_acquired: bool
    rival_refused: bool
    held_while_renewed: bool
    freed_by_expiry: bool
    rival_saw: tuple[str, ...]
    rival_acquired: bool
    freed_after_ms: float = 0.0


def _try_lock(client: Client, key: bytes, owner: bytes, lease: int) -> bool:
    """etcd's lock idiom: create the key, attached to the lease, only if it does not exist."""
    return client.txn([Compare(key, CompareTarget.CREATE, CompareResult.EQUAL, 0)],
                      [PutRequest(key, owner, lease)], [RangeRequest(key)]).succeeded


def lock_holder_crash(cluster: Cluster, *, ttl: int = 2, key: bytes = b"/lock/leader",
                      renewals: int = 3, step_ms: int = 100,
                      timeout_ms: int = 20_000) -> LockResult:
    """The lock (or leader election) of etcd's clients on any engine: a holder takes ``key``
    with a lease of ``ttl`` seconds and renews it ``renewals`` times, once a second, while a
    rival is refused; then the holder dies (it stops renewing). The leader expires the lease
    and deletes the key, the rival's watch sees the delete, and the rival takes the lock.
    ``freed_after_ms``: from the holder's last renewal to the rival seeing the key gone (the
    cluster's own clock, polled every ``step_ms``)."""
    lead = _poll(cluster, cluster.leader, timeout_ms)
    if lead is None:
        raise RuntimeError("no leader was elected")
    a, b = sorted(cluster.members)[:2]
    holder, rival = cluster.client(a), cluster.client(b)
    lease = holder.lease_grant(ttl).id
    acquired = _try_lock(holder, key, b"holder", lease)
    mine = rival.lease_grant(ttl).id
    refused = not _try_lock(rival, key, b"rival", mine)
    watch = rival.watch(key, start_revision=rival.get(key).header_revision + 1)
    for _ in range(renewals):
        cluster.wait(1000)
        holder.lease_keep_alive(lease)
        rival.lease_keep_alive(mine)
    held = rival.get(key).kvs[0].value == b"holder"
    last = _now_ms(cluster)  # the holder dies here: no renewal from now on
    events: list[str] = []

    def freed() -> bool:
        events.extend(e.type for r in watch.take() for e in r.events)
        if "DELETE" in events:
            return True
        rival.lease_keep_alive(mine)  # the rival stays alive
        return False

    gone = _poll(cluster, freed, timeout_ms, step_ms)
    freed_after = _now_ms(cluster) - last
    taken = bool(gone) and _try_lock(rival, key, b"rival", mine)
    rival.lease_revoke(mine)
    return LockResult(acquired, refused, held, bool(gone) and freed_after >= ttl * 1000,
                      tuple(events), taken, freed_after)
