"""Mutation testing of the Raft core: single-point bugs nobody planted as failpoints.

Each mutation edits one place in a copy of ``raftlib`` (the working tree is never touched),
then asks two judges whether they notice: the random-schedule explorer (``raftlib.sim.explore``
with the safety monitor) and the core's unit tests (``tests/raft``). A mutation is caught when
either fails. The score is the share caught.

    python scripts/mutate.py                 # every mutation, 300 explorer seeds
    python scripts/mutate.py --seeds 100     # what the test suite runs
    python scripts/mutate.py --only NAME ...

Exit status 1 if a mutation goes unnoticed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # inside raftlib/
    old: str
    new: str
    what: str


MUTATIONS = (
    Mutation("follower_commit_unclamped", "raft/_log.py",
             "self.commit_to(min(commit, last_new))",
             "self.commit_to(min(commit, self.last_index()))",
             "a follower commits up to its own last entry, not the last one the append matched"),
    Mutation("leader_ignores_higher_term_heartbeat_resp", "raft/_node.py",
             "        if m.term > self.term:\n",
             "        if m.term > self.term and not (self.role is Role.LEADER"
             " and m.type is MT.HEARTBEAT_RESP):\n",
             "a leader ignores the higher term of a heartbeat response"),
    Mutation("snapshot_keeps_old_membership", "raft/_node.py",
             "                self._set_conf(snap.index, snap.conf, reset_history=True)\n",
             "                pass\n",
             "installing a snapshot keeps the old membership"),
    Mutation("vote_not_fsynced", "raft/_node.py",
             "            or hs.term != prev.term\n            or hs.vote != prev.vote,",
             "            or hs.term != prev.term,",
             "a Ready that only records a vote does not ask for an fsync"),
    Mutation("quorum_off_by_one", "raft/_quorum.py",
             "    return n // 2 + 1", "    return (n + 1) // 2",
             "a majority of an even number of voters is taken as half of them"),
    Mutation("heartbeat_commit_unclamped", "raft/_node.py",
             "commit = min(pr.match, self._log.committed)",
             "commit = self._log.committed",
             "a heartbeat tells a follower the leader's commit index beyond what it matched"),
    Mutation("up_to_date_ignores_index", "raft/_log.py",
             "last_index >= self.last_index()", "last_index >= 0",
             "the election restriction compares last terms only, not lengths"),
    Mutation("reject_counted_as_grant", "raft/_quorum.py",
             "    if granted >= need:", "    if granted + rejected >= need:",
             "a candidate counts refusals towards its majority"),
    Mutation("removed_leader_stays", "raft/_node.py",
             "            self._become_follower(self.term, NONE)  # a removed leader steps down\n"
             "            return\n",
             "            return\n",
             "a leader removed from the configuration keeps leading"),
    Mutation("stale_term_append_accepted", "raft/_node.py",
             "        elif m.term < self.term:\n",
             "        elif m.term < self.term and m.type is not MT.APP:\n",
             "a follower accepts appends from a leader of an older term"),
)


def mutated_copy(m: Mutation, into: Path) -> Path:
    """A copy of the package and its tests with ``m`` applied; the edit must match exactly
    once. Everything runs from the copy: Python puts the working directory (and pytest the
    tests' root) first on the import path, which would otherwise be the unmutated tree."""
    skip = shutil.ignore_patterns("__pycache__")
    for tree in ("raftlib", "tests"):
        shutil.copytree(REPO / tree, into / tree, ignore=skip)
    shutil.copy(REPO / "pyproject.toml", into / "pyproject.toml")
    pkg = into / "raftlib"
    target = pkg / m.path
    text = target.read_text()
    if text.count(m.old) != 1:
        raise SystemExit(f"{m.name}: the text to mutate occurs {text.count(m.old)} times in "
                         f"raftlib/{m.path}; update the mutation to match the code")
    target.write_text(text.replace(m.old, m.new))
    return into


def _run(cmd: list[str], root: Path, timeout: int) -> tuple[bool, str]:
    """(caught, last line): a failure, a crash or a hang all count as caught."""
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        r = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True,
                           timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return True, f"hung past {timeout} s"
    lines = (r.stdout + r.stderr).strip().splitlines() or [""]
    return r.returncode != 0, lines[-1]


def judge(m: Mutation, seeds: int) -> dict[str, tuple[bool, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = mutated_copy(m, Path(tmp))
        verdicts = {"explorer": _run([sys.executable, "-m", "raftlib.sim.explore", "--seeds",
                                      str(seeds), "--every", str(seeds + 1)], root, 600)}
        verdicts["tests/raft"] = _run([sys.executable, "-m", "pytest", "-q", "-x",
                                       "-p", "no:cacheprovider", "tests/raft"], root, 600)
        return verdicts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=300, help="explorer seeds per mutation")
    ap.add_argument("--only", nargs="*", default=[], help="mutation names to run")
    args = ap.parse_args(argv)
    known = {m.name for m in MUTATIONS}
    if unknown := set(args.only) - known:
        ap.error(f"unknown mutations {sorted(unknown)}; known: {sorted(known)}")
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    seeds = args.seeds
    missed = []
    t0 = time.perf_counter()
    for k, m in enumerate(chosen, 1):
        verdicts = judge(m, seeds)
        caught = any(c for c, _ in verdicts.values())
        if not caught:
            missed.append(m.name)
        by = ", ".join(f"{j}: {'caught' if c else 'missed'}" for j, (c, _) in verdicts.items())
        print(f"[{k}/{len(chosen)}] {m.name}: {'CAUGHT' if caught else 'MISSED'} ({by})",
              flush=True)
        print(f"    {m.what}", flush=True)
        for j, (c, line) in verdicts.items():
            if c:
                print(f"    {j}: {line[:160]}", flush=True)
    n = len(chosen)
    print(f"mutation score: {n - len(missed)}/{n} caught ({seeds} explorer seeds and "
          f"tests/raft), {time.perf_counter() - t0:.0f} s"
          + (f"; missed: {', '.join(missed)}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
