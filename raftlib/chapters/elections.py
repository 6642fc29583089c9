"""Chapter 1, elections: stories staged on a fresh, seeded :class:`Simulation`.

Each function stages one situation (same arguments, same result) and returns what the chapter
shows: player frames, a summary, or both. :func:`time_to_new_leader` also runs on any
:class:`raftlib.Cluster`, which is how the real-etcd chapter times etcd's elections.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar, overload

from raftlib._cluster import Cluster
from raftlib._trace import PlayerFrame
from raftlib.chapters._engines import _close, _crash_timed, _poll, _steady
from raftlib.check import check_liveness
from raftlib.raft import PAPER, Role, Timing
from raftlib.sim import Simulation
from raftlib.viz import Recorder

__all__ = [
    "LeaderTimes",
    "PartitionStory",
    "RejoinStory",
    "elect",
    "first_leader_terms",
    "partition_story",
    "rejoin_story",
    "roles_after_leader_crash",
    "survives",
    "time_to_new_leader",
    "tolerance_table",
]

Frames = list[PlayerFrame]


def _max_election_ms(timing: Timing) -> int:
    return timing.election_timeout_ms + timing.election_jitter_ms


def elect(sim: Simulation, within_ms: int | None = None) -> int | None:
    """Run ``sim`` until some member leads (default budget: ten maximal election timeouts)."""
    budget = within_ms if within_ms is not None else 10 * _max_election_ms(sim.timing)
    sim.run_until(lambda: sim.leader() is not None, budget)
    return sim.leader()


def first_leader_terms(
    n: int, timing: Timing, seeds: Iterable[int], *, prevote: bool = False
) -> list[int]:
    """For each seed, the term in which a fresh ``n``-member cluster elects its first leader.

    Term 1 means the first election succeeded; more means split votes forced new terms.
    A cluster that elects nobody within 100 maximal timeouts gives 0.
    """
    out = []
    for seed in seeds:
        sim = Simulation(n, seed=seed, timing=timing, prevote=prevote, check_quorum=False,
                         trace=False)
        lead = elect(sim, 100 * _max_election_ms(timing))
        out.append(sim.status()[lead].term if lead is not None else 0)
    return out


def _crash_settled_leader(timing: Timing, seed: int, n: int, prevote: bool,
                          trace: bool) -> tuple[Simulation, int]:
    sim = Simulation(n, seed=seed, timing=timing, prevote=prevote, trace=trace)
    lead = elect(sim)
    assert lead is not None
    sim.run_for(3 * timing.election_timeout_ms)  # settle: heartbeats flowing
    old = sim.leader()
    assert old is not None
    sim.crash(old)
    t0 = sim.now
    elect(sim, 100 * _max_election_ms(timing))
    return sim, t0


@dataclass(frozen=True)
class LeaderTimes:
    """How long a cluster went without a leader after its leader was killed, per trial."""

    VARIES: ClassVar[tuple[str, ...]] = ("samples_ms", "leaders")
    trials: int
    elected: int
    samples_ms: tuple[float, ...] = ()
    leaders: tuple[int, ...] = field(default=())


@overload
def time_to_new_leader(engine: Timing, runs: Iterable[int], *, n: int = 5,
                       prevote: bool = False) -> list[int]: ...


@overload
def time_to_new_leader(engine: Callable[[], Cluster], runs: int = 5, *,
                       timeout_ms: int = 20_000, step_ms: int = 5) -> LeaderTimes: ...


def time_to_new_leader(engine: Timing | Callable[[], Cluster], runs: Iterable[int] | int = 5,
                       *, n: int = 5, prevote: bool = False, timeout_ms: int = 20_000,
                       step_ms: int = 5) -> list[int] | LeaderTimes:
    """Kill a settled leader and time until a survivor leads, on the engine given.

    ``engine`` a :class:`Timing`: in the simulator, one fresh ``n``-member
    :class:`Simulation` per seed in ``runs``, timed exactly in virtual ms (CheckQuorum on,
    PreVote off unless ``prevote``, as etcd 3.4 runs by default); one value per seed.

    ``engine`` a factory of any :class:`raftlib.Cluster`: ``runs`` trials on the one cluster
    it makes (closed at the end if it can be), the old leader restarted between trials and
    each next trial waiting until every member is up and follows one leader. The time is the
    cluster's: virtual ms in the simulator, wall-clock ms on real engines, measured by polling
    ``leader()`` every ``step_ms`` (so a real engine's samples are late by up to one poll);
    a :class:`LeaderTimes`.
    """
    if isinstance(engine, Timing):
        if isinstance(runs, int):
            raise TypeError("give the simulator's seeds as an iterable")
        out = []
        for seed in runs:
            sim, crashed_at = _crash_settled_leader(engine, seed, n, prevote, trace=False)
            out.append(sim.now - crashed_at)
        return out
    if not isinstance(runs, int):
        raise TypeError("give the number of trials on a cluster as an int")
    cluster = engine()
    samples: list[float] = []
    leaders: list[int] = []
    try:
        for _ in range(runs):
            old = _poll(cluster, cluster.leader, timeout_ms)
            if old is None:
                break
            leaders.append(old)
            new, ms = _crash_timed(cluster, old, timeout_ms, step_ms)
            if new is None:
                break
            samples.append(ms)
            cluster.restart(old)
            _poll(cluster, lambda: _steady(cluster), timeout_ms, 50)
    finally:
        _close(cluster)
    return LeaderTimes(runs, len(samples), tuple(samples), tuple(leaders))

def roles_after_leader_crash(
    timing: Timing, seed: int, *, n: int = 5, prevote: bool = False
) -> list[tuple[int, int, str, int]]:
    """The run :func:`time_to_new_leader` measures for ``seed``, as its role changes after
    the crash: (ms since the crash, member, new role, term), until a new leader is elected."""
    sim, t0 = _crash_settled_leader(timing, seed, n, prevote, trace=True)
    return [(r["t"] - t0, r["id"], r["role"], r["term"]) for r in sim.trace
            if r["ev"] == "state" and r["t"] >= t0]


def survives(n: int, crashed: int, *, seed: int = 1, timing: Timing = PAPER) -> bool:
    """Whether an ``n``-member cluster with ``crashed`` members down (its leader first)
    elects a leader and commits a fresh proposal within twenty maximal election timeouts."""
    sim = Simulation(n, seed=seed, timing=timing, trace=False)
    lead = elect(sim)
    assert lead is not None
    victims = [lead] + [m for m in sorted(sim.members) if m != lead]
    for mid in victims[:crashed]:
        sim.crash(mid)
    return check_liveness(sim, 20 * _max_election_ms(timing)) is None


def tolerance_table(sizes: Iterable[int], *, seed: int = 1,
                    timing: Timing = PAPER) -> list[dict[str, int]]:
    """Per cluster size: the majority needed and the most crashes it survives, found by
    crashing 0, 1, 2, ... members until :func:`survives` fails."""
    rows = []
    for n in sizes:
        k = 0
        while k < n and survives(n, k, seed=seed, timing=timing):
            k += 1
        rows.append({"members": n, "majority": n // 2 + 1, "tolerates": k - 1})
    return rows


@dataclass
class PartitionStory:
    """What :func:`partition_story` saw. ``leaders`` maps each side (a tuple of member ids)
    to the members that were leaders there at the end of the partition (with their term);
    ``committed`` tells, per write, whether it was applied before the network healed, and
    ``committed_after_heal`` whether it was by the end."""

    frames: Frames
    sides: list[list[int]]
    leaders: dict[tuple[int, ...], list[tuple[int, int]]]
    committed: dict[str, bool]
    committed_after_heal: dict[str, bool]
    terms_after_heal: dict[int, int] = field(default_factory=dict)


def partition_story(
    n: int, minority: int, *, seed: int = 1, timing: Timing = PAPER, prevote: bool = False,
    check_quorum: bool = False, split_ms: int = 1500, heal_ms: int = 600,
) -> PartitionStory:
    """Elect a leader, then cut the network into the leader's side (``minority`` members,
    the leader and the next ids) and the rest. A write is sent to the old leader right after
    the cut and another to whichever leader is newest after ``split_ms``; then the network
    heals. Returns the recorded frames and a summary.
    """
    sim = Simulation(n, seed=seed, timing=timing, prevote=prevote, check_quorum=check_quorum)
    rec = Recorder(sim, max_frames=10**9)
    lead = elect(sim)
    assert lead is not None
    sim.run_for(timing.heartbeat_ms)
    rec.snap(f"member {lead} leads term {sim.status()[lead].term}")
    ring = sorted(sim.members)
    at = ring.index(lead)
    ordered = ring[at:] + ring[:at]
    a, b = sorted(ordered[:minority]), sorted(ordered[minority:])
    sim.partition([a, b])
    rec.snap(f"partition {a} | {b}")
    h_old = sim.propose(b"to-old")
    rec.snap(f"write 'to-old' sent to member {lead}")
    rec.run_for(split_ms)
    leaders: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    st = sim.status()
    for side in (a, b):
        leaders[tuple(side)] = [(m, st[m].term) for m in side if st[m].role is Role.LEADER]
    newest = sim.leader()
    h_new = sim.propose(b"to-new")
    rec.snap(f"write 'to-new' sent to member {newest}" if newest else "write: no leader")
    rec.run_for(timing.election_timeout_ms)
    during = {"to-old": sim.committed(h_old), "to-new": sim.committed(h_new)}
    sim.heal()
    rec.snap("heal the network")
    rec.run_for(heal_ms)
    return PartitionStory(
        frames=rec.frames, sides=[a, b], leaders=leaders,
        committed=during,
        committed_after_heal={"to-old": sim.committed(h_old), "to-new": sim.committed(h_new)},
        terms_after_heal={m: s.term for m, s in sim.status().items()},
    )


@dataclass
class RejoinStory:
    """What :func:`rejoin_story` counted after the isolated member came back."""

    frames: Frames
    term_before: int
    rejoiner_term: int
    term_after: int
    leader_changes: int
    no_leader_ms: int


def rejoin_story(
    *, prevote: bool, check_quorum: bool, n: int = 5, seed: int = 3, timing: Timing = PAPER,
    away_ms: int = 3000, after_ms: int = 2000,
) -> RejoinStory:
    """Isolate one follower for ``away_ms`` while the others commit ten writes a second, heal,
    and count the disruption it causes:
    its term on return, how many times a member became leader afterwards, and how many
    virtual ms the cluster spent with no leader."""
    sim = Simulation(n, seed=seed, timing=timing, prevote=prevote, check_quorum=check_quorum)
    rec = Recorder(sim, max_frames=10**9)
    lead = elect(sim)
    assert lead is not None
    sim.run_for(timing.heartbeat_ms)
    term_before = sim.status()[lead].term
    away = max(m for m in sim.members if m != lead)
    rec.snap(f"member {lead} leads term {term_before}")
    sim.isolate(away)
    sim.workload(10, away_ms - timing.election_timeout_ms)
    sim.run_for(away_ms)
    rejoiner_term = sim.status()[away].term
    rec.snap(f"member {away} was cut off for {away_ms} ms: its term is now {rejoiner_term}")
    sim.heal()
    rec.snap(f"member {away} rejoins")
    mark = len(sim.trace)
    no_leader = 0
    end = sim.now + after_ms
    step = timing.tick_ms
    while sim.now < end:
        rec.run_for(step)
        if sim.leader() is None:
            no_leader += step
    changes = sum(1 for r in sim.trace[mark:] if r["ev"] == "state" and r["role"] == "leader")
    final = sim.leader()
    return RejoinStory(
        frames=rec.frames, term_before=term_before, rejoiner_term=rejoiner_term,
        term_after=sim.status()[final].term if final is not None else -1,
        leader_changes=changes, no_leader_ms=no_leader,
    )
