"""Random fault schedules with the safety monitor on: ``python -m raftlib.sim.explore``.

Each seed builds a cluster (3 or 5 members, PreVote/CheckQuorum on or off, optional
compaction), runs a client workload under a :class:`~raftlib.sim.Nemesis` (on half of the
seeds also with leadership transfers and membership changes), repairs everything, then
demands liveness (every running member catches up) and checks the logs. The run never stops
early: a violation, an exception or a hang (past ``--seed-limit`` seconds) fails that seed,
which is reported with the command that replays it (see :mod:`raftlib.check.explore`).
Exit status 1 if any seed fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable

from ..check import SafetyMonitor, SafetyViolation, Violation, check_liveness
from ..check.explore import SeedFailure, explore, judge
from ..raft import PAPER
from ._nemesis import Faults, Nemesis
from ._sim import Simulation

__all__ = ["first_failure", "main", "replay_command", "run_seed"]


def run_seed(
    seed: int,
    bugs: Iterable[str] = (),
    faults: Faults | None = None,
    duration_ms: int = 2000,
    liveness_ms: int = 5000,
) -> Violation | None:
    """Run one random schedule; the first violation found, or ``None``."""
    rng_pick = seed * 2654435761 % 2**32
    if faults is None and rng_pick % 2 == 0:
        faults = Faults(transfer=1, membership=1)
    sim = Simulation(
        n=3 if rng_pick % 4 == 0 else 5,
        seed=seed,
        timing=PAPER,
        prevote=rng_pick % 5 != 1,
        check_quorum=rng_pick % 7 != 2,
        delay_ms=(1, 12),
        disk_ms=(1, 4),
        compact_every=20 if rng_pick % 3 == 0 else None,
        max_msg_entries=4,
        bugs=bugs,
        trace=False,
    )
    mon = SafetyMonitor().attach(sim)
    try:
        sim.workload(60, duration_ms)
        Nemesis(seed, faults).run(sim, duration_ms)
        sim.run_for(duration_ms)
        if not bugs:
            v = check_liveness(sim, liveness_ms)
            if v is not None:
                return v
        else:
            sim.run_for(500)
        found = mon.final_check(sim)
    except SafetyViolation as exc:
        return exc.violation
    return found[0] if found else None


def replay_command(seed: int, bugs: Iterable[str] = ()) -> str:
    """The command that runs ``seed`` alone, with the same failpoints."""
    return " ".join(["python -m raftlib.sim.explore --start", str(seed), "--seeds 1",
                     *(f"--bug {b}" for b in sorted(bugs))])


def first_failure(
    seeds: Iterable[int], bugs: Iterable[str] = (), faults: Faults | None = None,
    limit_s: float | None = 60.0,
) -> SeedFailure | None:
    """The first seed (in order) whose run fails: a violation, an exception or a hang."""
    bug_set = frozenset(bugs)
    for seed in seeds:
        found = judge(seed, lambda s: run_seed(s, bug_set, faults), replay_command(seed, bug_set),
                      limit_s)
        if found is not None:
            return found
    return None


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=1000, help="number of seeds to run")
    ap.add_argument("--start", type=int, default=0, help="first seed")
    ap.add_argument("--every", type=int, default=500, help="progress line every N seeds")
    ap.add_argument("--bug", action="append", default=[], help="enable a failpoint")
    ap.add_argument("--seed-limit", type=float, default=60.0,
                    help="seconds one seed may run before it counts as a hang")
    args = ap.parse_args(argv)
    bugs = frozenset(args.bug)
    failures = 0
    t0 = time.perf_counter()
    for failure in explore(range(args.start, args.start + args.seeds),
                           lambda s: run_seed(s, bugs), lambda s: replay_command(s, bugs),
                           limit_s=args.seed_limit, every=args.every,
                           progress=lambda line: print(line, file=sys.stderr, flush=True)):
        failures += 1
        print(failure, flush=True)
    print(f"{args.seeds} seeds, {failures} violations, {time.perf_counter() - t0:.1f}s wall",
          flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
