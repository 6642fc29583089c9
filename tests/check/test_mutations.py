"""The mutation script (scripts/mutate.py) as a test: every single-point bug in its list is
caught by the explorer or the core's unit tests (100 seeds here; `make mutate` runs 300)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "mutate.py"


@pytest.mark.slow
def test_every_mutation_of_the_core_is_caught() -> None:
    r = subprocess.run([sys.executable, str(SCRIPT), "--seeds", "100"], capture_output=True,
                       text=True, timeout=1200, check=False)
    score = re.search(r"mutation score: (\d+)/(\d+) caught", r.stdout)
    assert score is not None, r.stdout + r.stderr
    assert r.returncode == 0 and score[1] == score[2], r.stdout


def test_a_mutation_that_no_longer_matches_the_code_is_an_error() -> None:
    r = subprocess.run([sys.executable, str(SCRIPT), "--only", "no_such_mutation"],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2 and "unknown mutations" in r.stderr
