"""Random fault schedules with the safety monitor on: ``python -m raftlib.sim.explore``.

Each seed builds a cluster (3 or 5 members, PreVote/CheckQuorum on or off, optional
compaction), runs a client workload under a :class:`~raftlib.sim.Nemesis` (on half of the
seeds also with leadership transfers and membership changes), repairs everything, then
demands liveness and checks the logs. Exit status 1 if any seed fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable

from ..check import SafetyMonitor, SafetyViolation, Violation, check_liveness
from ..raft import PAPER
from ._nemesis import Faults, Nemesis
from ._sim import Simulation

__all__ = ["first_failure", "main", "run_seed"]

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


def first_failure(
    seeds: Iterable[int], bugs: Iterable[str] = (), faults: Faults | None = None
) -> tuple[int, Violation] | None:
    """The first seed (in order) whose run violates an invariant, with the violation."""
    bug_set = frozenset(bugs)
    for seed in seeds:
        v = run_seed(seed, bug_set, faults)
        if v is not None:
            return seed, v
    return None


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=1000, help="number of seeds to run")
    ap.add_argument("--start", type=int, default=0, help="first seed")
    ap.add_argument("--every", type=int, default=500, help="progress line every N seeds")
    ap.add_argument("--bug", action="append", default=[], help="enable a failpoint")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    failures = 0
    for k, seed in enumerate(range(args.start, args.start + args.seeds), 1):
        v = run_seed(seed, args.bug)
        if v is not None:
            failures += 1
            print(f"seed {seed}: {v}", flush=True)
        if k % args.every == 0:
            print(f"{k} seeds, {failures} violations, {time.perf_counter() - t0:.1f}s",
                  file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    print(f"{args.seeds} seeds, {failures} violations, {wall:.1f}s wall", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
