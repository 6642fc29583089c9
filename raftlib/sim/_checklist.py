"""Measurements behind the closing chapter's rules of thumb, and a checklist that records them.

Each function stages one operational situation on a fresh, seeded simulation (same arguments,
same result) and returns the numbers a rule of thumb is about. Nothing here changes how Raft
or the store behave.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ..kv import ErrTimeoutLeaderTransfer, KVError
from ..raft import ETCD, PAPER, Timing
from ._cluster import SimCluster
from ._nemesis import Nemesis
from ._sim import Simulation
from ._stories import elect

__all__ = [
    "Checklist",
    "Churn",
    "Handover",
    "Practice",
    "RuleRow",
    "churn",
    "grow_cluster",
    "handover",
    "practice",
]

Frames = list[dict[str, Any]]


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
    from ..viz._panels import Recorder  # viz imports sim: import lazily, never at load

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
        target = min(m for m in c.members if m != old)
        if not c.sim.transfer_leader(target):
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
    from ..check import SafetyMonitor, SafetyViolation, check_liveness  # check imports sim

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
