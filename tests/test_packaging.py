"""``pip install .`` gives a raftlib whose every public module imports, and the declared
dependencies agree with the pinned lock in requirements.txt."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

# Every module whose dotted name has no private part, imported in a fresh interpreter.
IMPORT_ALL = """
import importlib, pkgutil, raftlib
names = sorted(m.name for m in pkgutil.walk_packages(raftlib.__path__, "raftlib.")
               if not any(p.startswith("_") for p in m.name.split(".")))
for name in names:
    importlib.import_module(name)
print(len(names), "modules:", " ".join(names))
"""


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[_name(name)] = version.strip()
    return pins


def test_every_declared_dependency_is_pinned_in_the_lock() -> None:
    declared = [*PYPROJECT["dependencies"],
                *(r for extra in PYPROJECT["optional-dependencies"].values() for r in extra)]
    names = {_name(r) for r in declared} - {"raftlib"}
    missing = sorted(names - set(_pins()))
    assert not missing, f"declared in pyproject.toml but not pinned in requirements.txt: {missing}"


@pytest.mark.slow
def test_pip_install_in_a_fresh_venv_imports_every_public_module(tmp_path: Path) -> None:
    # Build from a copy, so the build leaves nothing in the work tree.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "raftlib", src / "raftlib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    str(src)], check=True, capture_output=True, text=True, timeout=600)
    r = subprocess.run([python, "-c", IMPORT_ALL], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    count = int(r.stdout.split()[0])
    assert count >= 10 and "raftlib.runtime" in r.stdout and "raftlib.viz" in r.stdout, r.stdout
