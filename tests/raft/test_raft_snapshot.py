"""Raft paper section 7: log compaction and InstallSnapshot."""

from __future__ import annotations

import pytest
from raft_helpers import MT, drain, make, msg, storage_with

from raftlib.check import SafetyMonitor
from raftlib.raft import PAPER, CompactionError, ConfState, Snapshot
from raftlib.sim import Simulation, message_counts


def test_7_compact_requires_applied_and_not_yet_compacted() -> None:
    n = make(storage=storage_with([(1, 1), (2, 1), (3, 1)], term=1, commit=3))
    with pytest.raises(CompactionError):
        n.compact(2, b"s")  # not applied yet
    drain(n)
    assert n.applied == 3
    snap = n.compact(2, b"state@2")
    assert (snap.index, snap.term, snap.conf.voters) == (2, 1, (1, 2, 3))
    assert n.log.first_index() == 3 and n.log.storage.snapshot() == snap
    with pytest.raises(CompactionError):
        n.compact(2, b"again")


def test_7_follower_installs_snapshot_and_never_moves_back() -> None:
    n = make(2, storage_with([(1, 1)], term=1))
    snap = Snapshot(10, 2, ConfState((1, 2, 3)), b"s10")
    n.step(msg(MT.SNAP, 1, 2, term=2, snapshot=snap))
    (resp,) = drain(n)
    assert (resp.type, resp.index, resp.reject) == (MT.APP_RESP, 10, False)
    assert n.commit == 10 and n.applied == 10 and n.log.storage.snapshot() == snap
    old = Snapshot(5, 1, ConfState((1, 2, 3)), b"s5")
    n.step(msg(MT.SNAP, 1, 2, term=2, snapshot=old))
    (resp,) = drain(n)
    assert resp.index == 10 and n.commit == 10 and n.log.first_index() == 11


def test_7_leader_sends_snapshot_to_follower_behind_its_first_index() -> None:
    sim = Simulation(n=3, seed=7, timing=PAPER, compact_every=10)
    mon = SafetyMonitor().attach(sim)
    assert sim.run_until(lambda: sim.leader() is not None, 2000)
    lead = sim.leader()
    assert lead is not None
    lagger = next(i for i in (1, 2, 3) if i != lead)
    sim.crash(lagger)
    hs = [sim.propose() for _ in range(40)]
    sim.run_for(500)
    assert all(sim.committed(h) for h in hs)
    assert sim.snapshot_of(lead).index >= 30
    sim.restart(lagger)
    assert sim.run_until(
        lambda: sim.members[lagger].applied == sim.members[lead].applied >= 41, 2000
    )
    assert message_counts(sim.trace).get("MsgSnap", 0) >= 1
    assert sim.members[lagger].digest == sim.members[lead].digest
    assert mon.final_check(sim) == []


def test_7_installing_a_snapshot_restores_the_membership_it_carries() -> None:
    """The snapshot carries the configuration at its index: a follower that missed the
    configuration entries (here: 4 added as a voter, 5 as a learner) takes it from there,
    and so does the node restarted from its storage."""
    n = make(2, storage_with([(1, 1)], term=1, voters=(1, 2, 3)))
    snap = Snapshot(10, 2, ConfState((1, 2, 3, 4), (5,)), b"s10")
    n.step(msg(MT.SNAP, 1, 2, term=2, snapshot=snap))
    drain(n)
    assert (n.voters, n.learners) == ((1, 2, 3, 4), (5,))
    again = make(2, n.log.storage)
    assert (again.voters, again.learners) == ((1, 2, 3, 4), (5,))
    # With five voters, an election needs three votes: two are no longer enough.
    again.campaign()
    drain(again)
    again.step(msg(MT.VOTE_RESP, 1, 2, term=again.term))
    assert again.role.value == "candidate"
    again.step(msg(MT.VOTE_RESP, 3, 2, term=again.term))
    assert again.role.value == "leader"
