"""The explorer never stops early: a violation, an exception or a hang fails one seed, which is
reported with the command that replays it, and the next seeds still run."""

from __future__ import annotations

import pytest

from raftlib.check import Violation
from raftlib.check.explore import SeedFailure, explore
from raftlib.sim import explore as sim_explore


def _run(seed: int) -> Violation | None:
    if seed == 2:
        return Violation("commit_rule", "planted", (1,), 3, 1, 10, 0)
    if seed == 3:
        raise KeyError("planted")
    if seed == 5:
        while True:  # a hang
            pass
    return None


def test_every_seed_gets_a_verdict_whatever_happens() -> None:
    ran: list[SeedFailure] = list(explore(range(8), _run, lambda s: f"replay {s}", limit_s=0.5))
    assert [f.seed for f in ran] == [2, 3, 5]
    planted, crashed, hung = ran
    assert planted.violation is not None and planted.violation.rule == "commit_rule"
    assert crashed.error is not None and crashed.error.startswith("KeyError: 'planted'")
    assert hung.error is not None and hung.error.startswith("hang:")
    assert all(f.replay == f"replay {f.seed}" for f in ran)
    assert "replay: replay 5" in str(hung)


def test_the_command_line_reports_a_crashing_seed_with_its_replay_and_goes_on(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real = sim_explore.run_seed
    seen: list[int] = []

    def flaky(seed: int, *args: object, **kw: object) -> Violation | None:
        seen.append(seed)
        if seed == 11:
            raise RuntimeError("planted crash")
        return real(seed, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(sim_explore, "run_seed", flaky)
    assert sim_explore.main(["--start", "10", "--seeds", "3", "--bug", "ack_log_length"]) == 1
    out = capsys.readouterr().out
    assert seen == [10, 11, 12]
    assert "seed 11: RuntimeError: planted crash" in out
    assert "replay: python -m raftlib.sim.explore --start 11 --seeds 1 --bug ack_log_length" \
        in out
