"""Operations on a simulated cluster: metrics from a run and a scripted member replacement."""

from __future__ import annotations

from collections.abc import Callable

from raftlib.chapters.operations import (
    MetricsProbe,
    Workload,
    leader_changes_seen,
    leaderless_ms,
    replace_member,
    run_schedule,
)
from raftlib.sim import SimCluster, message_counts


def _ready(n: int = 3, seed: int = 5, **kw: object) -> SimCluster:
    c = SimCluster(n, seed=seed, **kw)  # type: ignore[arg-type]
    c.wait(3000)
    assert c.leader() is not None
    return c


def _each(action: Callable[[int], None], members: list[int]) -> None:
    for m in members:
        action(m)


def test_leader_changes_count_new_known_leaders_per_member() -> None:
    trace = [
        {"t": 1, "ev": "state", "id": 1, "role": "candidate", "term": 2, "lead": 0},
        {"t": 2, "ev": "state", "id": 1, "role": "leader", "term": 2, "lead": 1},
        {"t": 2, "ev": "state", "id": 2, "role": "follower", "term": 2, "lead": 1},
        {"t": 5, "ev": "crash", "id": 2},
        {"t": 6, "ev": "state", "id": 2, "role": "follower", "term": 2, "lead": 1},
    ]
    assert leader_changes_seen(trace) == {1: 1, 2: 2}


def test_leaderless_time_after_a_crash_and_a_transfer() -> None:
    c = _ready()
    cl = c.client(1)
    lead = c.leader()
    assert lead is not None
    to = min(m for m in c.members if m != lead)
    t0 = c.now
    cl.move_leader(to)
    assert c.leader() == to and c.now - t0 < 100
    assert leaderless_ms(c.sim.trace, t0, c.now) < 50
    t0 = c.now
    c.crash(to)
    c.wait(5000)
    gap = leaderless_ms(c.sim.trace, t0, c.now)
    assert c.sim.timing.election_timeout_ms // 2 < gap < 5000
    assert leaderless_ms(c.sim.trace, 0, 10) == 10  # nobody leads at boot


def test_probe_sees_a_leader_crash_and_failed_writes_without_quorum() -> None:
    c = _ready(n=3)
    w = Workload(c, member=1, every_ms=100, timeout_ms=800)
    lead = c.leader()
    assert lead is not None
    others = [m for m in c.members if m != lead]
    samples, fired = run_schedule(
        c, [(500, "crash two", lambda cc: _each(cc.crash, others)),
            (3000, "restart", lambda cc: _each(cc.restart, others))],
        8000, every_ms=250, workload=w)
    assert [label for _, label in fired] == ["crash two", "restart"]
    assert w.failed > 0 and w.ok > 0
    assert samples[-1].writes_failed == w.failed or w.in_flight > 0
    assert any(s.leader == 0 for s in samples) or samples[-1].leader_changes >= 1
    assert all(len(s.db_size) in (1, 3) for s in samples)
    assert samples[-1].leader != 0


def test_probe_counts_leader_changes_from_its_start() -> None:
    c = _ready()
    p = MetricsProbe(c)
    assert p.sample().leader_changes == 0
    lead = c.leader()
    assert lead is not None
    c.crash(lead)
    c.wait(5000)
    assert p.sample().leader_changes == 1


def test_replacement_catches_up_from_a_snapshot_and_is_promoted() -> None:
    c = _ready(compact_every=20)
    cl = c.client(1)
    for i in range(50):
        cl.put(f"k{i % 5}".encode(), b"v")
    broken = min(m for m in c.members if m != c.leader())
    c.crash(broken)
    mark = len(c.sim.trace)
    steps = replace_member(c, broken)
    assert [s.step.split()[0] for s in steps] == ["member", "remove", "wipe", "add", "member",
                                                  "promote"]
    assert "snapshot" in steps[4].result
    assert [s.t for s in steps] == sorted(s.t for s in steps)
    new = max(c.members)
    assert message_counts(c.sim.trace[mark:]).get("MsgSnap", 0) >= 1
    st = c.status()
    assert not st[new].learner and st[new].revision == st[c.leader() or 0].revision
    assert c.client(new).get(b"k0").kvs[0].value == b"v"


def test_replacement_without_compaction_uses_entries_alone() -> None:
    c = _ready()
    c.client(1).put(b"a", b"1")
    broken = min(m for m in c.members if m != c.leader())
    steps = replace_member(c, broken, learner=False)
    assert len(steps) == 5 and "entries alone" in steps[-1].result


def test_recorded_frames_draw_a_newcomer_as_the_membership_lists_it() -> None:
    from raftlib.raft import ConfChange, ConfChangeType
    from raftlib.viz import Recorder

    c = SimCluster(n=3, seed=3, compact_every=10)
    c.wait(3000)
    for i in range(25):
        c.client(1).put(f"k{i % 4}".encode(), b"v")
    rec = Recorder(c.sim)
    c.sim.change_conf(ConfChange(ConfChangeType.ADD_LEARNER, 4))
    rec.run_for(20)  # added at the leader; the newcomer's own node does not know it yet
    assert c.sim.members[4].node is not None and 4 not in c.sim.members[4].node.learners
    assert rec.frames[-1]["members"][4]["role"] == "learner"
    rec.run_for(200)
    c.sim.change_conf(ConfChange(ConfChangeType.ADD_VOTER, 4))
    rec.run_for(200)
    assert rec.frames[-1]["members"][4]["role"] == "follower"
