"""Planted bugs: each failpoint is caught by the checkers in a scripted scenario and in the
random schedules, and the same scenarios pass without the bug."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from raftlib.chapters.replication import figure8
from raftlib.check import RULES, SafetyMonitor, SafetyViolation
from raftlib.raft import LOG_SAFETY_FAILPOINTS, PAPER
from raftlib.sim import Simulation
from raftlib.sim.explore import first_failure

RANDOM_BUDGET = 50
"""Seeds of the random test run that each bug must be caught within."""


def _leader(sim: Simulation) -> int:
    assert sim.run_until(lambda: sim.leader() is not None, 3000)
    lead = sim.leader()
    assert lead is not None
    return lead


def _figure8(bugs: tuple[str, ...], mon: SafetyMonitor) -> None:
    sim = figure8(bugs=bugs, monitor=mon)
    sim.crash(1)
    sim.heal()
    sim.restart(5)
    for _ in range(5):
        sim.campaign(5)
        sim.run_for(50)


def _stale_voter(bugs: tuple[str, ...], mon: SafetyMonitor) -> None:
    # A member that missed committed entries asks for votes after the leader dies.
    sim = Simulation(n=3, seed=2, timing=PAPER, bugs=bugs, prevote=False, check_quorum=False)
    sim.attach(mon)
    lead = _leader(sim)
    stale = min(i for i in (1, 2, 3) if i != lead)
    sim.crash(stale)
    for _ in range(5):
        sim.propose()
    sim.run_for(100)
    sim.crash(lead)
    sim.restart(stale)
    sim.campaign(stale)
    sim.run_for(1000)


def _first_election(n: int, **kw: object) -> Callable[[tuple[str, ...], SafetyMonitor], None]:
    def play(bugs: tuple[str, ...], mon: SafetyMonitor) -> None:
        sim = Simulation(n=n, seed=1, timing=PAPER, bugs=bugs, **kw)  # type: ignore[arg-type]
        sim.attach(mon)
        _leader(sim)
        for _ in range(10):
            sim.propose()
            sim.run_for(20)
        sim.run_for(500)
    return play


def _busy(bugs: tuple[str, ...], mon: SafetyMonitor) -> None:
    # Slow disks and a steady stream of proposals: commits often outrun local fsyncs.
    sim = Simulation(n=3, seed=4, timing=PAPER, bugs=bugs, disk_ms=(1, 20))
    sim.attach(mon)
    _leader(sim)
    sim.workload(400, 300)
    sim.run_for(800)


def _lonely_candidate(bugs: tuple[str, ...], mon: SafetyMonitor) -> None:
    # Member 1 reaches only member 2, over a link that duplicates every message.
    sim = Simulation(n=5, seed=1, timing=PAPER, bugs=bugs, dup=1.0, delay_ms=(1, 1))
    sim.attach(mon)
    for peer in (3, 4, 5):
        sim.cut(1, peer)
        sim.cut(peer, 1)
    sim.campaign(1)
    sim.run_for(50)


def _reordered_appends(bugs: tuple[str, ...], mon: SafetyMonitor) -> None:
    # Duplicated, reordered appends: a late copy of an old append reaches a longer log.
    sim = Simulation(n=3, seed=3, timing=PAPER, bugs=bugs, delay_ms=(1, 30), dup=0.5)
    sim.attach(mon)
    _leader(sim)
    for _ in range(40):
        sim.propose()
        sim.run_for(5)
    sim.run_for(1000)


SCENARIOS: dict[str, tuple[Callable[[tuple[str, ...], SafetyMonitor], None], set[str]]] = {
    "commit_prev_term": (_figure8, {"commit_rule"}),
    "vote_without_up_to_date": (_stale_voter, {"leader_completeness"}),
    "vote_before_persist": (_first_election(3), {"vote_durable"}),
    "truncate_on_stale_append": (
        _reordered_appends, {"committed_durable", "commit_quorum", "node_panic"}
    ),
    "ack_log_length": (_first_election(3), {"commit_quorum"}),
    "double_count_vote": (_lonely_candidate, {"election_quorum"}),
    "prevote_changes_term": (_first_election(3, prevote=True), {"term_provenance"}),
    "apply_before_durable": (_busy, {"apply_durable"}),
}


def test_every_failpoint_has_a_scenario() -> None:
    assert set(SCENARIOS) == LOG_SAFETY_FAILPOINTS


@pytest.mark.parametrize("bug", sorted(SCENARIOS))
def test_scenario_passes_without_the_bug(bug: str) -> None:
    play, _ = SCENARIOS[bug]
    mon = SafetyMonitor(raise_on_violation=False)
    play((), mon)
    assert mon.violations == []


@pytest.mark.parametrize("bug", sorted(SCENARIOS))
def test_scenario_catches_the_bug(bug: str) -> None:
    play, rules = SCENARIOS[bug]
    with pytest.raises(SafetyViolation) as exc:
        play((bug,), SafetyMonitor())
    assert exc.value.violation.rule in rules and rules <= set(RULES)


@pytest.mark.parametrize("bug", sorted(LOG_SAFETY_FAILPOINTS))
def test_random_schedules_catch_the_bug(bug: str) -> None:
    found = first_failure(range(RANDOM_BUDGET), [bug])
    assert found is not None, f"{bug} not caught in {RANDOM_BUDGET} seeds"
