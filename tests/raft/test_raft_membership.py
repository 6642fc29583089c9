"""Raft paper section 6 (membership, single-server changes) and learners."""

from __future__ import annotations

import pytest
from raft_helpers import MT, drain, elect, make, msg, storage_with

from raftlib.check import SafetyMonitor
from raftlib.raft import PAPER, ConfChange, ConfChangeType, ProposalDropped, Role
from raftlib.sim import Simulation

ADD, LEARNER, REMOVE = ConfChangeType.ADD_VOTER, ConfChangeType.ADD_LEARNER, ConfChangeType.REMOVE


def _leader_with_committed_noop() -> object:
    n = make()
    elect(n)
    n.step(msg(MT.APP_RESP, 2, 1, term=1, index=1))
    drain(n)
    return n


def test_6_no_change_before_an_entry_of_the_term_commits() -> None:
    n = make()
    elect(n)
    with pytest.raises(ProposalDropped, match="not committed an entry of its term"):
        n.propose_conf_change(ConfChange(ADD, 4))


def test_6_one_pending_change_at_a_time() -> None:
    n = make()
    elect(n)
    n.step(msg(MT.APP_RESP, 2, 1, term=1, index=1))
    drain(n)
    n.propose_conf_change(ConfChange(LEARNER, 4))
    with pytest.raises(ProposalDropped, match="pending"):
        n.propose_conf_change(ConfChange(ADD, 5))


def test_6_change_takes_effect_when_applied() -> None:
    n = make(storage=storage_with(voters=(1,)))
    n.campaign()
    drain(n)
    idx = n.propose_conf_change(ConfChange(ADD, 2))
    assert n.voters == (1,)
    drain(n)
    assert n.applied >= idx and n.voters == (1, 2)
    before = n.commit
    n.propose(b"x")
    drain(n)
    assert n.commit == before  # now needs node 2's acknowledgement


def test_6_learner_never_campaigns() -> None:
    n = make(4, storage_with(voters=(1, 2, 3), learners=(4,)))
    for _ in range(50):
        n.tick()
    assert n.role is Role.FOLLOWER and drain(n) == []


def test_6_removed_leader_steps_down() -> None:
    n = make(storage=storage_with(voters=(1, 2)))
    elect(n)
    n.step(msg(MT.APP_RESP, 2, 1, term=1, index=1))
    drain(n)
    n.propose_conf_change(ConfChange(REMOVE, 1))
    drain(n)
    n.step(msg(MT.APP_RESP, 2, 1, term=1, index=2))
    drain(n)
    assert n.role is Role.FOLLOWER and n.voters == (2,)


def test_6_learner_catches_up_is_promoted_and_a_voter_is_removed() -> None:
    sim = Simulation(n=3, seed=6, timing=PAPER)
    mon = SafetyMonitor().attach(sim)
    assert sim.run_until(lambda: sim.leader() is not None, 2000)
    handles = [sim.propose() for _ in range(20)]
    sim.run_for(200)
    idx = sim.change_conf(ConfChange(LEARNER, 4))
    assert idx is not None
    assert sim.run_until(lambda: sim.status()[4].applied >= sim.status()[sim.leader() or 1].commit
                         and sim.status()[4].applied >= idx, 2000)
    node4 = sim.members[4].node
    assert node4 is not None and node4.learners == (4,) and node4.voters == (1, 2, 3)
    # A learner does not count: with two voters down nothing commits.
    lead = sim.leader()
    assert lead is not None
    down = [v for v in (1, 2, 3) if v != lead]
    for v in down:
        sim.crash(v)
    h = sim.propose()
    sim.run_for(500)
    assert not sim.committed(h)
    for v in down:
        sim.restart(v)
    assert sim.run_until(lambda: sim.committed(h) or sim.leader() is None, 3000)
    assert sim.run_until(lambda: sim.change_conf(ConfChange(ADD, 4)) is not None, 3000)
    assert sim.run_until(lambda: all(
        m.node is not None and m.node.voters == (1, 2, 3, 4) for m in sim.members.values()
    ), 3000)
    assert sim.run_until(lambda: sim.change_conf(ConfChange(REMOVE, 2)) is not None, 3000)
    assert sim.run_until(lambda: all(
        m.node is not None and m.node.voters == (1, 3, 4)
        for i, m in sim.members.items() if i != 2
    ), 3000)
    h2 = sim.propose()
    assert sim.run_until(lambda: sim.committed(h2), 3000)
    assert all(sim.committed(x) for x in handles)
    assert mon.final_check(sim) == []
