"""The README's examples run as written, so the documented API cannot drift from the code."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


SHELL = re.findall(r"```sh\n(\. \.venv/bin/activate\n.*?)```", README.read_text(encoding="utf-8"),
                   re.S)


def test_the_readme_has_examples() -> None:
    assert len(EXAMPLES) >= 4
    assert len(SHELL) == 1


@pytest.mark.slow
def test_the_readme_cluster_session_runs(tmp_path: Path) -> None:
    """The shell session in the README, line by line, in a fresh directory: every command
    must succeed and the reads must print what the comments promise."""
    venv = README.parent / ".venv" / "bin"
    script = SHELL[0].replace(". .venv/bin/activate", f". {venv}/activate")
    try:
        out = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, capture_output=True,
                             text=True, timeout=180)
    finally:  # never leave members running, whatever happened
        subprocess.run([str(venv / "raftlib"), "cluster", "stop"], cwd=tmp_path,
                       capture_output=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines.count("OK") == 2
    assert lines[lines.index("OK") + 1:lines.index("OK") + 3] == ["greeting", "hello"]
    assert '"value":"YWdhaW4="' in out.stdout  # curl read "again" from the restarted member


@pytest.mark.parametrize("code", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_readme_example_runs(code: str) -> None:
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})
