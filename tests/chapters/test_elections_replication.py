"""The book's election and replication stories: each claim a chapter makes, checked here."""

from __future__ import annotations

from raftlib.chapters.elections import (
    first_leader_terms,
    partition_story,
    rejoin_story,
    roles_after_leader_crash,
    time_to_new_leader,
    tolerance_table,
)
from raftlib.chapters.replication import (
    divergent_followers,
    entry_journey,
    figure8_frames,
    snapshot_story,
)
from raftlib.check import SafetyMonitor
from raftlib.sim import ETCD, PAPER, Simulation, Timing


def test_tolerance_table_is_majority_arithmetic() -> None:
    rows = tolerance_table(range(1, 8))
    assert [r["tolerates"] for r in rows] == [(n - 1) // 2 for n in range(1, 8)]
    assert [r["majority"] for r in rows] == [n // 2 + 1 for n in range(1, 8)]


def test_partitions_never_give_two_committing_sides() -> None:
    for n, minority in ((5, 2), (5, 1)):
        s = partition_story(n, minority)
        assert s.committed == {"to-old": False, "to-new": True}
        assert [m for m, _ in s.leaders[tuple(s.sides[1])]] != []
        assert len(set(s.terms_after_heal.values())) == 1
    even = partition_story(4, 2)
    assert even.leaders[tuple(even.sides[1])] == []
    assert even.committed == {"to-old": False, "to-new": False}


def test_split_votes_need_narrow_jitter_and_still_resolve() -> None:
    narrow = first_leader_terms(5, Timing(50, 150, 0, 10), range(20))
    assert 0 not in narrow and max(narrow) > 1
    assert set(first_leader_terms(5, PAPER, range(20))) == {1}


def test_etcd_timing_elects_slower_than_paper_timing() -> None:
    paper = time_to_new_leader(PAPER, range(5))
    etcd = time_to_new_leader(ETCD, range(5))
    assert max(paper) < min(etcd)


def test_etcd_defaults_can_split_a_vote_after_a_crash_and_prevote_avoids_it() -> None:
    # etcd 3.4's defaults (PreVote off, CheckQuorum on): on seed 5 two members campaign in
    # term 2, neither gets a majority, and term 3 decides more than 2 s after the crash.
    assert time_to_new_leader(ETCD, [5]) == [2274]
    roles = roles_after_leader_crash(ETCD, 5)
    assert [m for _, m, role, term in roles if role == "candidate" and term == 2] == [4, 1]
    assert roles[-1][2:] == ("leader", 3)
    # with --pre-vote the same seed elects in term 2, in about one election timeout
    assert time_to_new_leader(ETCD, [5], prevote=True)[0] < 2000
    assert roles_after_leader_crash(ETCD, 5, prevote=True)[-1][2:] == ("leader", 2)


def test_prevote_stops_a_rejoining_member_from_disrupting() -> None:
    bare = rejoin_story(prevote=False, check_quorum=False)
    assert bare.rejoiner_term > bare.term_before and bare.leader_changes >= 1
    pv = rejoin_story(prevote=True, check_quorum=True)
    assert pv.rejoiner_term == pv.term_before == pv.term_after and pv.leader_changes == 0


def test_divergent_followers_are_repaired() -> None:
    d = divergent_followers()
    logs = {m: v["log"] for m, v in d.after["members"].items()}
    assert all(log == logs[3] for log in logs.values())
    assert d.before["members"][1]["log"][3][1] == 1  # the conflicting term-1 tail
    assert set(d.probes) == {1, 4}


def test_figure8_frames_safe_and_buggy() -> None:
    safe = SafetyMonitor(raise_on_violation=False)
    frames = figure8_frames(monitor=safe)
    assert safe.violations == []
    assert "commit index is 1" in frames[2]["event"]
    bug = SafetyMonitor(raise_on_violation=False)
    frames = figure8_frames(buggy=True, monitor=bug)
    assert "commit index is 2" in frames[2]["event"]
    assert {"commit_rule", "committed_durable"} <= {v.rule for v in bug.violations}


def test_snapshot_catches_up_a_lagging_follower() -> None:
    s = snapshot_story()
    assert s.snaps_sent and s.caught_up
    assert s.first_index == s.snapshot_index + 1 > 1


def test_entry_journey_tells_the_commit_story() -> None:
    sim = Simulation(3, seed=1, timing=PAPER)
    sim.run_until(lambda: sim.leader() is not None, 3000)
    lead = sim.leader()
    assert lead is not None
    h = sim.propose(b"x")
    sim.run_for(100)
    index = sim.proposals[h].index
    assert index is not None
    lines = entry_journey(sim.trace, index, lead)
    assert any("commit index reaches" in line for line in lines)
    assert sum("applies" in line for line in lines) == 3
