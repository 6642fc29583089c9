"""The closing chapter's rules of thumb: each measurement, checked here with fixed seeds."""

from __future__ import annotations

import pytest

from raftlib.chapters.closing import Checklist, churn, grow_cluster, handover, practice
from raftlib.sim import ETCD, PAPER


def test_checklist_records_prints_and_fails_loudly(capsys: pytest.CaptureFixture[str]) -> None:
    check = Checklist()
    check("rule a", True, "1 < 2")
    check("rule a", True, "2 < 3")  # re-running a cell replaces its row
    assert capsys.readouterr().out.splitlines() == ["✔ rule a: 1 < 2", "✔ rule a: 2 < 3"]
    with pytest.raises(AssertionError, match="rule b"):
        check("rule b", False, "3 < 2")
    assert [(r.rule, r.ok) for r in check.rows] == [("rule a", True), ("rule b", False)]
    assert check.passed == 1
    assert repr(check).endswith("1 of 2 rules confirmed")
    assert "<td>rule b</td>" in check._repr_html_()


def test_election_timeout_near_the_message_delay_causes_churn() -> None:
    fast = churn((1, 5), timing=PAPER)
    slow = churn((50, 150), timing=PAPER)
    assert fast.leader_changes == 0 and fast.committed == fast.proposed == 100
    assert slow.leader_changes > 0 and slow.committed < slow.proposed
    assert churn((50, 150), timing=ETCD).leader_changes == 0
    assert churn((50, 150), timing=PAPER) == slow  # deterministic


def test_move_leader_and_graceful_stop_gaps_are_much_shorter_than_a_crash() -> None:
    moved, stopped, crashed = handover("move"), handover("stop"), handover("crash")
    for h in (moved, stopped, crashed):
        assert h.new_leader != h.old_leader and h.frames
    assert moved.gap_ms < ETCD.election_timeout_ms <= crashed.gap_ms
    assert stopped.gap_ms < ETCD.election_timeout_ms  # the stopping leader handed over
    assert "SIGTERM" in stopped.frames[1]["event"]
    with pytest.raises(ValueError):
        handover("reboot")  # type: ignore[arg-type]


def test_a_failed_new_voter_costs_the_quorum_a_learner_does_not() -> None:
    for fail in ("after", "before"):  # the simulator has no strict reconfiguration check
        assert grow_cluster(learner=True, fail=fail) == "ok"
        assert grow_cluster(learner=False, fail=fail) == "etcdserver: request timed out"
        assert grow_cluster(learner=False, n=5, fail=fail) == "ok"  # 4 of 6 up: a majority


def test_practice_passes_a_correct_build_and_catches_a_planted_bug() -> None:
    clean = practice(range(1, 11))
    assert (clean.runs, clean.unsafe, clean.stuck, clean.first) == (10, 0, 0, "")
    buggy = practice(range(1, 11), bugs=["vote_without_up_to_date"])
    assert buggy.unsafe > 0 and buggy.first.startswith("seed ")
