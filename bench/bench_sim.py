"""Simulator throughput: a 5-member cluster under 100 proposals per virtual second.

Prints virtual seconds simulated per wall second (trace on and off) and messages delivered per
wall second, as the median of several runs. Run: ``python bench/bench_sim.py [--seconds N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from raftlib.raft import ETCD, PAPER, Timing
from raftlib.sim import Simulation


def run_once(timing: Timing, trace: bool, seconds: int, seed: int) -> tuple[float, float, int]:
    """(virtual/wall speed-up, delivered messages per wall second, committed proposals)."""
    sim = Simulation(n=5, seed=seed, timing=timing, trace=trace)
    sim.run_until(lambda: sim.leader() is not None, 10_000)
    sim.workload(100, seconds * 1000)
    sent0 = sim.messages_sent
    t0 = time.perf_counter()
    sim.run_for(seconds * 1000)
    wall = time.perf_counter() - t0
    committed = sum(1 for p in sim.proposals if p.committed_at is not None)
    return seconds / wall, (sim.messages_sent - sent0) / wall, committed


def main() -> None:
    """Print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=20, help="virtual seconds per run")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    print(f"5 members, 100 proposals/virtual s, {args.seconds} virtual s per run, "
          f"median of {args.runs} runs")
    for name, timing in (("ETCD", ETCD), ("PAPER", PAPER)):
        for trace in (True, False):
            runs = [run_once(timing, trace, args.seconds, seed) for seed in range(args.runs)]
            speed = statistics.median(r[0] for r in runs)
            msgs = statistics.median(r[1] for r in runs)
            done = min(r[2] for r in runs)
            print(f"{name:5} trace={'on ' if trace else 'off'}: {speed:7.1f}x real time, "
                  f"{msgs:9.0f} messages/wall s, >= {done} proposals committed per run")


if __name__ == "__main__":
    main()
