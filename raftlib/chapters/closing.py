"""Chapter 6, closing: the measurements behind the rules of thumb, and a checklist.

Each simulator function stages one operational situation on a fresh, seeded simulation (same
arguments, same result) and returns the numbers a rule of thumb is about.
:func:`take_leader_out` and :func:`strict_reconfig_check` run on real processes too (etcd's
own ``etcdctl`` for the latter); they start nothing at import.
"""

from __future__ import annotations

import html
import os
import re
import signal
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from raftlib._cluster import Cluster
from raftlib._trace import PlayerFrame
from raftlib.chapters._engines import _new_leader, _now_ms, _poll, _settled_leader
from raftlib.chapters.elections import elect
from raftlib.chapters.operations import _move_to_lowest_follower
from raftlib.check import SafetyMonitor, SafetyViolation, check_liveness
from raftlib.kv import ErrTimeoutLeaderTransfer, KVError
from raftlib.raft import ETCD, PAPER, Timing
from raftlib.sim import Nemesis, SimCluster, Simulation
from raftlib.viz import Recorder

if TYPE_CHECKING:
    from raftlib.backends import EtcdCluster

__all__ = [
    "Checklist",
    "Churn",
    "Handover",
    "LeaderOutResult",
    "Practice",
    "ReconfigGuardResult",
    "RuleRow",
    "churn",
    "grow_cluster",
    "handover",
    "practice",
    "strict_reconfig_check",
    "take_leader_out",
]

Frames = list[PlayerFrame]


# ----------------------------------------------------------------------------- checklist


@dataclass(frozen=True, slots=True)
class RuleRow:
    """One checked rule: its name, whether the measurement agreed, and the numbers."""

    rule: str
    ok: bool
    measured: str


class Checklist:
    """Collects verdicts. ``check(rule, ok, measured)`` prints one line (✔ or ✘ with the
    numbers), records it, and raises ``AssertionError`` when ``ok`` is false, so a notebook
    cell fails loudly when a rule stops holding (the line wraps at 88 characters). The
    checklist shows as a table."""

    def __init__(self) -> None:
        self.rows: list[RuleRow] = []

    def __call__(self, rule: str, ok: bool, measured: str) -> None:
        row = RuleRow(rule, bool(ok), measured)
        self.rows = [r for r in self.rows if r.rule != rule] + [row]
        print(textwrap.fill(f"{'✔' if row.ok else '✘'} {rule}: {measured}", width=88,
                            subsequent_indent="  "))
        if not row.ok:
            raise AssertionError(f"rule of thumb not confirmed: {rule} ({measured})")

    @property
    def passed(self) -> int:
        """How many recorded rules were confirmed."""
        return sum(r.ok for r in self.rows)

    def __repr__(self) -> str:
        width = max((len(r.rule) for r in self.rows), default=4)
        lines = [f"{i:>2}. {'✔' if r.ok else '✘'} {r.rule:<{width}}  {r.measured}"
                 for i, r in enumerate(self.rows, 1)]
        lines.append(f"{self.passed} of {len(self.rows)} rules confirmed")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><td>{i}</td><td>{'✔' if r.ok else '✘'}</td><td>{html.escape(r.rule)}</td>"
            f"<td>{html.escape(r.measured)}</td></tr>"
            for i, r in enumerate(self.rows, 1))
        return ('<table class="raftlib-table"><thead><tr><th>#</th><th></th><th>rule</th>'
                "<th>measured</th></tr>"
                f"</thead><tbody>{body}</tbody></table>"
                f"<p>{self.passed} of {len(self.rows)} rules confirmed</p>")


# ----------------------------------------------------------------------------- timing


@dataclass(frozen=True, slots=True)
class Churn:
    """What :func:`churn` counted after the first leader was elected."""

    delay_ms: tuple[int, int]
    leader_changes: int
    no_leader_ms: int
    proposed: int
    committed: int


def churn(delay_ms: tuple[int, int], *, timing: Timing = PAPER, seed: int = 1, n: int = 5,
          duration_ms: int = 10_000, writes_per_s: float = 10) -> Churn:
    """Run an ``n``-member cluster whose messages take ``delay_ms`` (one way, uniform) for
    ``duration_ms`` after its first election, proposing ``writes_per_s`` writes a second.
    Counts how often a member became leader, the ms with no leader, and the writes committed."""
    sim = Simulation(n, seed=seed, timing=timing, delay_ms=delay_ms)
    elect(sim, 100 * (timing.election_timeout_ms + timing.election_jitter_ms))
    mark, first = len(sim.trace), len(sim.proposals)
    sim.workload(writes_per_s, duration_ms)
    end = sim.now + duration_ms
    no_leader = 0
    while sim.now < end:
        sim.run_for(timing.tick_ms)
        if sim.leader() is None:
            no_leader += timing.tick_ms
    sim.run_for(timing.election_timeout_ms)  # let writes in flight land
    changes = sum(1 for r in sim.trace[mark:] if r["ev"] == "state" and r["role"] == "leader")
    handles = range(first, len(sim.proposals))
    return Churn(delay_ms, changes, no_leader, len(handles),
                 sum(1 for h in handles if sim.committed(h)))


# ----------------------------------------------------------------------------- handover


@dataclass(frozen=True, slots=True)
class Handover:
    """What :func:`handover` measured: ``gap_ms`` from taking the leader out (by moving
    leadership away, by stopping it gracefully, or by killing it) to the next acknowledged
    write, and the frames."""

    how: str
    old_leader: int
    new_leader: int | None
    gap_ms: int
    frames: Frames


def _hand_over_in_sim(cluster: SimCluster, leader: int) -> int | None:
    """The simulator's model of a leader handing over, on ``etcdctl move-leader`` or as etcd
    3.4's graceful stop does: to the lowest other member (etcd picks the longest-connected
    voter; every simulated link came up together). The target, or None if it was refused."""
    target = min(m for m in cluster.members if m != leader)
    return target if cluster.sim.transfer_leader(target) else None


def handover(how: Literal["move", "stop", "crash"], *, seed: int = 1, n: int = 3,
             timing: Timing = ETCD) -> Handover:
    """Take the leader of a settled ``n``-member :class:`SimCluster` out of service, then
    write through a client; the gap is the virtual ms from the first action until that write
    is acknowledged. The ways:

    - ``"move"``: the operator moves leadership to the lowest other member
      (``etcdctl move-leader``), then stops the old leader once the target leads;
    - ``"stop"``: a graceful stop (SIGTERM), modelled on etcd 3.4's ``EtcdServer.Stop``: the
      stopping leader itself transfers leadership to a voter (etcd picks the longest-connected
      one; here every link came up together, so the lowest other member) and exits when the
      transfer is done or has timed out;
    - ``"crash"``: SIGKILL, ``kill -9``, a power cut: no handover."""
    c = SimCluster(n, seed=seed, timing=timing)
    cl = c.client(1)
    c.wait(3 * (timing.election_timeout_ms + timing.election_jitter_ms))
    cl.put(b"k", b"before")
    c.wait(timing.heartbeat_ms)
    old = c.leader()
    assert old is not None
    rec = Recorder(c.sim, max_frames=10**6)
    rec.snap(f"member {old} leads; the operator takes it out ({how})")
    t0 = c.now
    if how in ("move", "stop"):
        target = _hand_over_in_sim(c, old)
        if target is None:
            raise ErrTimeoutLeaderTransfer()
        rec.snap(f"etcdctl move-leader {target}: member {old} hands over" if how == "move"
                 else f"SIGTERM: member {old} hands over to {target} before it exits")
        while c.leader() != target:
            if c.now - t0 > timing.election_timeout_ms:
                raise ErrTimeoutLeaderTransfer()
            rec.run_for(1)  # 1 ms steps: the gap is exact
        c.crash(old)
        rec.snap(f"member {target} leads; member {old} has stopped")
    elif how == "crash":
        c.crash(old)
        rec.snap(f"member {old} crashes")
    else:
        raise ValueError(f"unknown way {how!r}: use 'move', 'stop' or 'crash'")
    pending = cl.put_async(b"k", b"after")
    while not pending.done:
        rec.run_for(1)  # 1 ms steps: the gap is exact
    pending.result()
    gap = c.now - t0
    rec.snap(f"write acknowledged {gap} ms after the leader was taken out")
    return Handover(how, old, c.leader(), gap, rec.frames)


# ----------------------------------------------------------------------------- membership


def grow_cluster(learner: bool, *, n: int = 3, seed: int = 1, timing: Timing = ETCD,
                 fail: Literal["before", "after"] = "after") -> str:
    """``n`` healthy members; add one more (as a voter, or as a learner) which never comes up,
    and one of the old members fails, ``"after"`` the add (etcd 3.4's strict reconfiguration
    check accepts this add) or ``"before"`` it (etcd refuses that add as "unhealthy cluster";
    the simulator has no such check and makes the change). Returns ``"ok"`` if a write still
    commits, else etcd's error message."""
    c = SimCluster(n, seed=seed, timing=timing, request_timeout_ms=3000)
    cl = c.client(1)
    c.wait(3 * (timing.election_timeout_ms + timing.election_jitter_ms))
    cl.put(b"k", b"v")
    lead = c.leader()
    down = max(m for m in c.members if m != lead)
    if fail == "before":
        c.crash(down)
    new = cl.member_add(learner=learner)
    c.crash(new)  # the new member never comes up (wrong flags, full disk, ...)
    if fail == "after":
        c.wait(timing.heartbeat_ms)
        c.crash(down)
    try:
        cl.put(b"k", b"after")
    except KVError as exc:
        return exc.message
    return "ok"


# ----------------------------------------------------------------------------- practice


@dataclass(frozen=True, slots=True)
class Practice:
    """What :func:`practice` found: runs, runs with a broken safety rule or no recovery, and
    the first finding as text (empty if none)."""

    runs: int
    unsafe: int
    stuck: int
    first: str


def practice(seeds: Iterable[int], *, bugs: Iterable[str] = (), n: int = 5,
             faults_ms: int = 5_000, timing: Timing = PAPER) -> Practice:
    """For each seed, a random :class:`Nemesis` fault schedule of ``faults_ms`` on an
    ``n``-member simulation (with failpoints ``bugs``), then the safety checkers and a
    liveness check after repair."""
    runs = unsafe = stuck = 0
    first = ""
    for seed in seeds:
        runs += 1
        sim = Simulation(n, seed=seed, timing=timing, bugs=tuple(bugs), trace=False)
        monitor = SafetyMonitor().attach(sim)
        budget = 20 * (timing.election_timeout_ms + timing.election_jitter_ms)
        try:
            elect(sim)
            sim.workload(20, faults_ms)
            Nemesis(seed).run(sim, faults_ms)
            sim.run_for(faults_ms)
            live = check_liveness(sim, budget) is None
            found = monitor.final_check(sim)
        except SafetyViolation as exc:
            live, found = True, [exc.violation]
        if found:
            unsafe += 1
            first = first or f"seed {seed}: {found[0].rule}: {found[0].message}"
        elif not live:
            stuck += 1
            first = first or f"seed {seed}: no progress after repair"
    return Practice(runs, unsafe, stuck, first)


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
            _hand_over_in_sim(cluster, member)  # etcd stops anyway if the transfer fails
        return
    from raftlib.backends import ProcessCluster

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
    from raftlib.backends import ProcessCluster

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
    import subprocess

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
