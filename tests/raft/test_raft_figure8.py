"""Raft paper section 5.4.2, Figure 8, scripted step by step on the simulator.

The script lives in ``raftlib.chapters.replication.figure8`` (the book plays it too); terms
are shifted by one against the figure because the simulation starts in term 0.
"""

from __future__ import annotations

from raftlib.chapters.replication import figure8
from raftlib.check import SafetyMonitor
from raftlib.raft import Role
from raftlib.sim import Simulation


def _log(sim: Simulation, mid: int) -> list[int]:
    node = sim.members[mid].node
    assert node is not None
    return [node.log.term(i) or 0 for i in range(1, node.log.last_index() + 1)]


def _play_d(sim: Simulation) -> None:
    sim.crash(1)
    sim.heal()
    sim.restart(5)
    for _ in range(5):
        sim.campaign(5)
        if sim.run_until(lambda: sim.leader() == 5, 50):
            break
    sim.run_for(200)


def test_figure8_c_previous_term_entry_on_majority_is_not_committed() -> None:
    mon = SafetyMonitor(raise_on_violation=False)
    sim = figure8(monitor=mon)
    assert _log(sim, 1) == [1, 1, 3] and _log(sim, 2) == [1, 1, 3] and _log(sim, 3) == [1, 1]
    assert _log(sim, 4) == [1] and sim.members[5].storage.term(2) == 2
    assert sim.status()[1].commit == 1  # index 2 is on S1, S2, S3 but from term 1
    _play_d(sim)  # (d) S5 wins with S3 and S4 and overwrites index 2 everywhere
    assert sim.leader() == 5
    assert _log(sim, 3)[1] == 2 and _log(sim, 2)[1] == 2
    assert mon.violations == [] and mon.final_check(sim) == []


def test_figure8_e_own_term_entry_commits_and_blocks_s5() -> None:
    mon = SafetyMonitor(raise_on_violation=False)
    sim = figure8(replicate_own_term=True, monitor=mon)
    assert sim.status()[1].commit == 3 and _log(sim, 3) == [1, 1, 3]
    sim.crash(1)
    sim.heal()
    sim.restart(5)
    for _ in range(5):
        sim.campaign(5)
        sim.run_for(50)
        assert sim.status()[5].role is not Role.LEADER
    assert mon.violations == []


def test_figure8_with_planted_bug_commits_then_loses_the_entry() -> None:
    mon = SafetyMonitor(raise_on_violation=False)
    sim = figure8(bugs=("commit_prev_term",), monitor=mon)
    assert sim.status()[1].commit == 2
    _play_d(sim)
    rules = {v.rule for v in mon.violations}
    assert {"commit_rule", "committed_durable"} <= rules
