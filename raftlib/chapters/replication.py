"""Chapter 1b, replication: scripted stories on a fresh, seeded :class:`Simulation`.

Figure 8 of the Raft paper (as a script and as frames), followers whose logs diverged and get
repaired, the life of one entry, and a follower brought back by a snapshot. Each function
returns what the chapter shows; nothing here changes how Raft behaves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from raftlib._trace import PlayerFrame
from raftlib.chapters.elections import elect
from raftlib.raft import PAPER, Timing
from raftlib.sim import Monitor, Record, Simulation
from raftlib.viz import Recorder

__all__ = [
    "SLOW",
    "DivergenceStory",
    "SnapshotStory",
    "divergent_followers",
    "entry_journey",
    "figure8",
    "figure8_frames",
    "snapshot_story",
]

Frames = list[PlayerFrame]

SLOW = Timing(heartbeat_ms=50, election_timeout_ms=100_000, election_jitter_ms=0, tick_ms=10)
"""Timing whose election timeout never fires in a short script: elections are forced."""


def _log_len(sim: Simulation, mid: int) -> int:
    node = sim.members[mid].node
    return node.log.last_index() if node is not None else 0


def _win(sim: Simulation, mid: int) -> None:
    for _ in range(5):
        sim.campaign(mid)
        if sim.run_until(lambda: sim.leader() == mid, 50):
            return
    raise RuntimeError(f"member {mid} could not win an election")


def figure8(
    bugs: Iterable[str] = (), replicate_own_term: bool = False, monitor: Monitor | None = None
) -> Simulation:
    """Play Figure 8 of the Raft paper (5 members) up to step (c), or (e).

    Terms are one lower than in the figure, as the simulation starts at term 0 (S1 leads
    term 1 in (a)). (a) S1 leads and replicates index 2 to S2 only.
    (b) S1 crashes; S5 wins with S3 and S4 and appends index 2 locally. S5 crashes.
    (c) S1 restarts, wins without S4, and gets its index 2 onto S3: a majority stores it.
    With ``replicate_own_term`` S3 also gets S1's own-term entry at index 3, as in (e).
    Play (d) next by crashing S1, restarting S5 and calling ``campaign(5)``.
    """
    sim = Simulation(n=5, seed=8, timing=SLOW, prevote=False, check_quorum=False,
                     delay_ms=(1, 1), disk_ms=(1, 1), max_msg_entries=1, bugs=bugs)
    if monitor is not None:
        sim.attach(monitor)
    _win(sim, 1)  # (a)
    sim.run_for(50)
    for peer in (3, 4, 5):
        sim.cut(1, peer)
    sim.propose(b"a")
    sim.run_for(20)
    sim.crash(1)  # (b)
    sim.heal()
    sim.campaign(5)
    sim.run_until(lambda: sim.leader() == 5, 50)
    for peer in (1, 2, 3, 4):
        sim.cut(5, peer)
    sim.run_for(20)
    sim.crash(5)
    sim.heal()  # (c)
    sim.restart(1)
    sim.cut(1, 4)
    _win(sim, 1)
    sim.run_until(lambda: _log_len(sim, 3) >= 2, 100)
    if not replicate_own_term:
        sim.cut(1, 3)
    sim.run_for(30)
    return sim


def entry_journey(trace: Sequence[Record], index: int, leader: int) -> list[str]:
    """The life of log entry ``index`` in a trace, one line per step: the leader appends and
    persists it, sends it, followers persist and acknowledge it, the commit index passes it,
    members apply it. Heartbeats and ticks are left out, and so are repeats (a resent append,
    a second acknowledgement)."""
    lines: list[str] = []
    committed_seen: set[int] = set()
    for r in trace:
        t = r["t"]
        if r["ev"] == "persist" and r["last"] is not None and r["last"] >= index > \
                r["last"] - r["entries"]:
            lines.append(f"t={t:>3} ms  member {r['id']} writes entry {index} to its disk")
        elif r["ev"] == "send" and r["type"] == "MsgApp" and r["from"] == leader:
            if r["n"] and r["index"] < index <= r["index"] + r["n"]:
                lines.append(f"t={t:>3} ms  leader sends MsgApp(prev index {r['index']}, "
                             f"{r['n']} entries, commit {r['commit']}) to {r['to']}")
            elif r["commit"] >= index and r["to"] not in committed_seen:
                committed_seen.add(r["to"])
                lines.append(f"t={t:>3} ms  leader tells {r['to']}: commit index "
                             f"{r['commit']}")
        elif r["ev"] == "send" and r["type"] == "MsgAppResp" and r["to"] == leader and \
                not r["reject"] and r["index"] >= index:
            lines.append(f"t={t:>3} ms  member {r['from']} acknowledges up to index "
                         f"{r['index']}")
        elif r["ev"] == "send" and r["type"] == "MsgHeartbeat" and r["from"] == leader and \
                r["commit"] >= index and r["to"] not in committed_seen:
            committed_seen.add(r["to"])
            lines.append(f"t={t:>3} ms  leader's heartbeat tells {r['to']}: commit index "
                         f"{r['commit']}")
        elif r["ev"] == "persist" and r["id"] == leader and r["hs"] and r["hs"][2] >= index and \
                leader not in committed_seen:
            committed_seen.add(leader)
            lines.append(f"t={t:>3} ms  leader's commit index reaches {r['hs'][2]}")
        elif r["ev"] == "apply" and r["index"] == index:
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
    before: PlayerFrame
    after: PlayerFrame
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
    rec = Recorder(sim, max_frames=10**9)
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
    rec.run_for(200)
    probes: dict[int, int] = {}
    for r in sim.trace[mark:]:
        if r["ev"] == "send" and r["type"] == "MsgAppResp" and r["reject"]:
            probes[r["from"]] = probes.get(r["from"], 0) + 1
    rec.snap("repaired: every log matches the leader's")
    return DivergenceStory(frames=rec.frames, before=before, after=rec.frames[-1],
                           probes=dict(sorted(probes.items())))


def figure8_frames(*, buggy: bool = False, monitor: Monitor | None = None) -> Frames:
    """The Raft paper's Figure 8 as labelled frames, (a) to (d), then the state after.

    The same script as :func:`figure8` (terms one lower than in the figure); with
    ``buggy`` every member runs the planted ``commit_prev_term`` bug and S1 commits index 2 in
    (c) by counting replicas, which (d) then overwrites. Pass a SafetyMonitor as ``monitor``
    (non-raising) to collect what it catches.
    """
    sim = Simulation(n=5, seed=8, timing=SLOW, prevote=False, check_quorum=False,
                     delay_ms=(1, 1), disk_ms=(1, 1), max_msg_entries=1,
                     bugs=("commit_prev_term",) if buggy else ())
    if monitor is not None:
        sim.attach(monitor)
    rec = Recorder(sim, max_frames=10**9)
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
    sim.run_until(lambda: _log_len(sim, 3) >= 2, 100)
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
    rec.run_for(200)
    rec.snap(f"(d) S5 leads term {sim.status()[5].term}: its index 2 (term 2) replaces "
             "index 2 everywhere")
    return rec.frames


@dataclass
class SnapshotStory:
    """What :func:`snapshot_story` recorded: frames, the MsgSnap sends and installs, and the lagging
    member's first log index and snapshot index after it caught up."""

    frames: Frames
    snaps_sent: Sequence[Record]
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
    rec = Recorder(sim, max_frames=10**9)
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
    rec.run_for(300)
    for k in range(2):
        sim.propose(f"after{k}".encode())
    rec.run_for(200)
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
