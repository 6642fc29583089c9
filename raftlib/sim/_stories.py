"""Scenario builders for the book's elections and replication chapters.

Each function stages one situation on a fresh :class:`Simulation` (fixed seed: same arguments,
same result) and returns what a chapter shows: player frames, a summary, or both. They use
only the simulator's public surface; nothing here changes how Raft behaves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..raft import PAPER, Role, Timing
from ._scenarios import SLOW, _win
from ._sim import Monitor, Record, Simulation

__all__ = [
    "DivergenceStory",
    "PartitionStory",
    "RejoinStory",
    "SnapshotStory",
    "divergent_followers",
    "elect",
    "entry_journey",
    "figure8_frames",
    "first_leader_terms",
    "partition_story",
    "rejoin_story",
    "roles_after_leader_crash",
    "snapshot_story",
    "survives",
    "time_to_new_leader",
    "tolerance_table",
]

Frames = list[dict[str, Any]]


def _max_election_ms(timing: Timing) -> int:
    return timing.election_timeout_ms + timing.election_jitter_ms


def elect(sim: Simulation, within_ms: int | None = None) -> int | None:
    """Run ``sim`` until some member leads (default budget: ten maximal election timeouts)."""
    budget = within_ms if within_ms is not None else 10 * _max_election_ms(sim.timing)
    sim.run_until(lambda: sim.leader() is not None, budget)
    return sim.leader()


class _Rec:
    """A thin recorder: labelled snapshots plus one frame per busy instant while running."""

    def __init__(self, sim: Simulation) -> None:
        from ..viz._panels import Recorder  # viz imports sim: import lazily, never at load

        self.rec = Recorder(sim, max_frames=10**9)

    def snap(self, label: str) -> None:
        self.rec.snap(label)

    def run(self, ms: int) -> None:
        self.rec.run_for(ms)

    @property
    def frames(self) -> Frames:
        return self.rec.frames


# ----------------------------------------------------------------------------- elections


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


def time_to_new_leader(
    timing: Timing, seeds: Iterable[int], *, n: int = 5, prevote: bool = False
) -> list[int]:
    """Virtual ms from crashing a settled leader to the next leader, one value per seed.

    CheckQuorum is on and PreVote off unless ``prevote``, as etcd 3.4 runs by default."""
    out = []
    for seed in seeds:
        sim, t0 = _crash_settled_leader(timing, seed, n, prevote, trace=False)
        out.append(sim.now - t0)
    return out


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
    from ..check import check_liveness  # check imports sim: import lazily

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
    rec = _Rec(sim)
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
    rec.run(split_ms)
    leaders: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    st = sim.status()
    for side in (a, b):
        leaders[tuple(side)] = [(m, st[m].term) for m in side if st[m].role is Role.LEADER]
    newest = sim.leader()
    h_new = sim.propose(b"to-new")
    rec.snap(f"write 'to-new' sent to member {newest}" if newest else "write: no leader")
    rec.run(timing.election_timeout_ms)
    during = {"to-old": sim.committed(h_old), "to-new": sim.committed(h_new)}
    sim.heal()
    rec.snap("heal the network")
    rec.run(heal_ms)
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
    rec = _Rec(sim)
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
        rec.run(step)
        if sim.leader() is None:
            no_leader += step
    changes = sum(1 for r in sim.trace[mark:] if r["ev"] == "state" and r["role"] == "leader")
    final = sim.leader()
    return RejoinStory(
        frames=rec.frames, term_before=term_before, rejoiner_term=rejoiner_term,
        term_after=sim.status()[final].term if final is not None else -1,
        leader_changes=changes, no_leader_ms=no_leader,
    )


# ----------------------------------------------------------------------------- replication


def entry_journey(trace: Sequence[Record], index: int, leader: int) -> list[str]:
    """The life of log entry ``index`` in a trace, one line per step: the leader appends and
    persists it, sends it, followers persist and acknowledge it, the commit index passes it,
    members apply it. Heartbeats and ticks are left out, and so are repeats (a resent append,
    a second acknowledgement)."""
    lines: list[str] = []
    committed_seen: set[int] = set()
    for r in trace:
        ev, t = r["ev"], r["t"]
        if ev == "persist" and r.get("last") is not None and r["last"] >= index > \
                r["last"] - r["entries"]:
            lines.append(f"t={t:>3} ms  member {r['id']} writes entry {index} to its disk")
        elif ev == "send" and r["type"] == "MsgApp" and r["from"] == leader:
            if r["n"] and r["index"] < index <= r["index"] + r["n"]:
                lines.append(f"t={t:>3} ms  leader sends MsgApp(prev index {r['index']}, "
                             f"{r['n']} entries, commit {r['commit']}) to {r['to']}")
            elif r["commit"] >= index and r["to"] not in committed_seen:
                committed_seen.add(r["to"])
                lines.append(f"t={t:>3} ms  leader tells {r['to']}: commit index "
                             f"{r['commit']}")
        elif ev == "send" and r["type"] == "MsgAppResp" and r["to"] == leader and \
                not r["reject"] and r["index"] >= index:
            lines.append(f"t={t:>3} ms  member {r['from']} acknowledges up to index "
                         f"{r['index']}")
        elif ev == "send" and r["type"] == "MsgHeartbeat" and r["from"] == leader and \
                r["commit"] >= index and r["to"] not in committed_seen:
            committed_seen.add(r["to"])
            lines.append(f"t={t:>3} ms  leader's heartbeat tells {r['to']}: commit index "
                         f"{r['commit']}")
        elif ev == "persist" and r["id"] == leader and r["hs"] and r["hs"][2] >= index and \
                leader not in committed_seen:
            committed_seen.add(leader)
            lines.append(f"t={t:>3} ms  leader's commit index reaches {r['hs'][2]}")
        elif ev == "apply" and r["index"] == index:
            lines.append(f"t={t:>3} ms  member {r['id']} applies entry {index}")
    out: list[str] = []
    seen: set[str] = set()
    for line in lines:  # a resent message or a repeated acknowledgement adds nothing
        what = line.split("  ", 1)[1]
        if what not in seen:
            seen.add(what)
            out.append(line)
    return out


@dataclass
class DivergenceStory:
    """Frames of :func:`divergent_followers`; ``before``/``after`` are the frames to draw as
    log grids, ``probes`` the rejected appends (consistency-check failures) per follower."""

    frames: Frames
    before: dict[str, Any]
    after: dict[str, Any]
    probes: dict[int, int]


def divergent_followers(*, max_msg_entries: int = 1) -> DivergenceStory:
    """Five members. Member 1 leads term 1 and commits two entries; cut off, it appends two
    more that nobody else gets, and crashes. Member 4 crashes too. Member 2 wins term 2 and
    commits three entries on 2, 3 and 5. Then 1 (extra, conflicting entries) and 4 (missing
    entries) restart, still cut off, while 3 wins term 3: a fresh leader that knows nothing of
    their logs. The network heals and 3's AppendEntries find and repair both logs.
    """
    sim = Simulation(5, seed=7, timing=SLOW, prevote=False, check_quorum=False,
                     delay_ms=(1, 1), disk_ms=(1, 1), max_msg_entries=max_msg_entries)
    rec = _Rec(sim)
    _win(sim, 1)
    for data in (b"x=1", b"y=2"):
        sim.propose(data)
    sim.run_for(60)
    rec.snap("member 1 leads term 1; x=1 and y=2 are committed")
    for peer in (2, 3, 4, 5):
        sim.cut(1, peer)
    for data in (b"z=3", b"w=4"):
        sim.propose(data)
    sim.run_for(10)
    sim.crash(1)
    sim.crash(4)
    sim.heal()
    rec.snap("1 appended z=3, w=4 alone, then 1 and 4 crashed")
    _win(sim, 2)
    for data in (b"a=5", b"b=6", b"c=7"):
        sim.propose(data)
    sim.run_for(60)
    rec.snap("member 2 leads term 2; commits a=5, b=6, c=7 on 2, 3, 5")
    sim.partition([[1], [4], [2, 3, 5]])
    sim.restart(1)
    sim.restart(4)
    _win(sim, 3)
    sim.run_for(20)
    rec.snap("1 and 4 restart, cut off; 3 wins term 3 with the votes of 2 and 5")
    sim.heal()
    rec.snap("heal: 1 has a conflicting tail, 4 is missing entries")
    before = rec.frames[-1]
    mark = len(sim.trace)
    rec.run(200)
    probes: dict[int, int] = {}
    for r in sim.trace[mark:]:
        if r["ev"] == "send" and r["type"] == "MsgAppResp" and r["reject"]:
            probes[r["from"]] = probes.get(r["from"], 0) + 1
    rec.snap("repaired: every log matches the leader's")
    return DivergenceStory(frames=rec.frames, before=before, after=rec.frames[-1],
                           probes=dict(sorted(probes.items())))


def figure8_frames(*, buggy: bool = False, monitor: Monitor | None = None) -> Frames:
    """The Raft paper's Figure 8 as labelled frames, (a) to (d), then the state after.

    The same script as :func:`raftlib.sim.figure8` (terms one lower than in the figure); with
    ``buggy`` every member runs the planted ``commit_prev_term`` bug and S1 commits index 2 in
    (c) by counting replicas, which (d) then overwrites. Pass a SafetyMonitor as ``monitor``
    (non-raising) to collect what it catches.
    """
    sim = Simulation(n=5, seed=8, timing=SLOW, prevote=False, check_quorum=False,
                     delay_ms=(1, 1), disk_ms=(1, 1), max_msg_entries=1,
                     bugs=("commit_prev_term",) if buggy else ())
    if monitor is not None:
        sim.attach(monitor)
    rec = _Rec(sim)
    _win(sim, 1)
    sim.run_for(50)
    for peer in (3, 4, 5):
        sim.cut(1, peer)
    sim.propose(b"a")
    sim.run_for(20)
    rec.snap("(a) S1 leads term 1 and gets index 2 onto S2 only")
    sim.crash(1)
    sim.heal()
    sim.campaign(5)
    sim.run_until(lambda: sim.leader() == 5, 50)
    for peer in (1, 2, 3, 4):
        sim.cut(5, peer)
    sim.propose(b"b")
    sim.run_for(20)
    rec.snap("(b) S1 crashed; S5 won term 2 (votes of S3, S4) and appended its own index 2")
    sim.crash(5)
    sim.heal()
    sim.restart(1)
    sim.cut(1, 4)
    _win(sim, 1)
    sim.run_until(lambda: _last(sim, 3) >= 2, 100)
    sim.cut(1, 3)
    sim.run_for(30)
    c = sim.status()[1].commit
    rec.snap(f"(c) S5 crashed; S1 leads term 3, index 2 (term 1) is on S1, S2, S3; "
             f"S1's commit index is {c}")
    sim.crash(1)
    sim.heal()
    sim.restart(5)
    rec.snap("(d) S1 crashes, S5 restarts and campaigns")
    for _ in range(5):
        sim.campaign(5)
        if sim.run_until(lambda: sim.leader() == 5, 50):
            break
    rec.run(200)
    rec.snap(f"(d) S5 leads term {sim.status()[5].term}: its index 2 (term 2) replaces "
             "index 2 everywhere")
    return rec.frames


def _last(sim: Simulation, mid: int) -> int:
    node = sim.members[mid].node
    return node.log.last_index() if node is not None else 0


@dataclass
class SnapshotStory:
    """What :func:`snapshot_story` recorded: frames, the MsgSnap sends and installs, and the lagging
    member's first log index and snapshot index after it caught up."""

    frames: Frames
    snaps_sent: list[Record]
    follower: int
    first_index: int
    snapshot_index: int
    caught_up: bool


def snapshot_story(*, compact_every: int = 5, writes: int = 13, seed: int = 2,
                   timing: Timing = PAPER) -> SnapshotStory:
    """Three members compacting every ``compact_every`` applied entries. A follower crashes,
    ``writes`` entries are committed without it (the leader compacts them away), and it
    restarts: the leader can only send a snapshot (MsgSnap), then the entries after it; two
    more writes follow. ``snaps_sent`` holds the MsgSnap sends and the follower's persisting
    of the snapshot (``snap`` is its index)."""
    sim = Simulation(3, seed=seed, timing=timing, compact_every=compact_every)
    rec = _Rec(sim)
    lead = elect(sim)
    assert lead is not None
    for k in range(2):
        sim.propose(f"k{k}".encode())
    sim.run_for(100)
    follower = max(m for m in sim.members if m != lead)
    rec.snap(f"member {lead} leads; two writes committed everywhere")
    sim.crash(follower)
    rec.snap(f"member {follower} crashes")
    for k in range(writes):
        sim.propose(f"w{k}".encode())
        sim.run_for(20)
    sim.run_for(100)
    rec.snap(f"{writes} more writes committed by {lead} and the third member; logs compacted")
    mark = len(sim.trace)
    sim.restart(follower)
    rec.snap(f"member {follower} restarts")
    rec.run(300)
    for k in range(2):
        sim.propose(f"after{k}".encode())
    rec.run(200)
    snaps = [r for r in sim.trace[mark:] if (r["ev"] == "send" and r["type"] == "MsgSnap")
             or (r["ev"] == "persist" and r["snap"] is not None and r["id"] == follower)]
    node = sim.members[follower].node
    assert node is not None
    st = sim.status()
    return SnapshotStory(
        frames=rec.frames, snaps_sent=snaps, follower=follower,
        first_index=node.log.first_index(),
        snapshot_index=sim.snapshot_of(follower).index,
        caught_up=st[follower].applied == st[lead].applied,
    )
