"""Random fault schedules with the safety monitor on, and the checkers' own behaviour."""

from __future__ import annotations

import pytest

from raftlib.check import SafetyMonitor, Violation, check_election_safety, check_liveness
from raftlib.raft import PAPER, Entry
from raftlib.sim import Faults, Nemesis, Record, Simulation
from raftlib.sim.explore import main as explore_main
from raftlib.sim.explore import run_seed

SEEDS = 1000
CHUNK = 100


@pytest.mark.parametrize("start", range(0, SEEDS, CHUNK))
def test_random_schedules_are_safe_and_live(start: int) -> None:
    bad = [(s, v) for s in range(start, start + CHUNK) if (v := run_seed(s)) is not None]
    assert bad == []


def test_random_schedules_do_inject_faults() -> None:
    sim = Simulation(n=5, seed=3, timing=PAPER)
    nem = Nemesis(3, Faults(gap_ms=(10, 50)))
    nem.run(sim, 2000)
    sim.run_for(2000)
    kinds = {line.split()[1] for line in nem.log}
    assert {"crash", "restart", "partition", "heal"} <= kinds
    assert any("lose_unsynced=True" in line for line in nem.log)
    assert any(r["ev"] == "crash" for r in sim.trace) and any(r["ev"] == "drop" for r in sim.trace)


def test_monitor_reports_what_where_and_when() -> None:
    sim = Simulation(n=3, seed=1, timing=PAPER)
    mon = SafetyMonitor(raise_on_violation=False).attach(sim)
    assert sim.run_until(lambda: sim.leader() is not None, 2000)
    sim.propose(b"x")
    sim.run_for(100)
    assert mon.final_check(sim) == []
    # Corrupt member 3's durable log behind the cluster's back.
    st = sim.members[3].storage
    e = st.entries(2, 3)[0]
    st.append([Entry(e.index, e.term, b"forged")])
    found = mon.final_check(sim)
    assert found and found[0].rule == "log_matching" and 3 in found[0].members
    assert found[0].index == 2 and found[0].t == sim.now and found[0].trace_pos == len(sim.trace)
    assert "log_matching" in str(found[0])


def test_offline_election_safety_on_a_trace() -> None:
    trace: list[Record] = [
        {"t": 1, "ev": "state", "id": 1, "role": "leader", "term": 2, "lead": 1},
        {"t": 2, "ev": "state", "id": 2, "role": "leader", "term": 3, "lead": 2},
        {"t": 3, "ev": "state", "id": 3, "role": "leader", "term": 3, "lead": 3},
    ]
    (v,) = check_election_safety(trace)
    assert v == Violation("election_safety", "two leaders in term 3", (2, 3), None, 3, 3, 2)
    assert check_election_safety(trace[:2]) == []


def test_liveness_checker_fails_without_a_majority() -> None:
    sim = Simulation(n=3, seed=1, timing=PAPER)
    sim.crash(1)
    sim.crash(2)
    v = check_liveness(sim, 3000)
    assert v is not None and v.rule == "liveness"
    sim.restart(1)
    assert check_liveness(sim, 3000) is None


def test_explore_command_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert explore_main(["--seeds", "4", "--every", "2"]) == 0
    out = capsys.readouterr()
    assert "4 seeds, 0 violations" in out.out and "2 seeds, 0 failures" in out.err
    assert explore_main(["--seeds", "2", "--bug", "ack_log_length"]) == 1
    assert "[commit_quorum]" in capsys.readouterr().out
