"""Simulator throughput: a 5-member cluster under 100 proposals per virtual second.

Prints virtual seconds simulated per wall second (trace on and off) and messages delivered per
wall second, as the median of several runs; the goal (issue 17) is 200x real time with the
trace on and etcd timing. ``--baseline DIR`` measures another checkout's ``raftlib`` (for
example ``git archive <commit> raftlib | tar -x -C DIR``) in the same run, run for run
interleaved with this one, and prints the speed-up against it.
Run: ``python bench/bench_sim.py [--seconds N] [--runs N] [--baseline DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from _results import Figure, record

import raftlib
from raftlib.raft import ETCD, PAPER, Timing
from raftlib.sim import Simulation

GOAL = 200.0  # x real time, etcd timing, trace on
TIMINGS = {"ETCD": ETCD, "PAPER": PAPER}


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


def run_in(path: str | None, name: str, trace: bool, seconds: int, seed: int) -> tuple[float, ...]:
    """``run_once`` in a fresh interpreter importing ``raftlib`` from ``path`` (None: the
    directory this process imported it from)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(raftlib.__file__)))
    env = dict(os.environ, PYTHONPATH=os.path.abspath(path) if path is not None else here)
    out = subprocess.run(
        [sys.executable, __file__, "--one", json.dumps([name, trace, seconds, seed])],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    return tuple(json.loads(out))


def main() -> None:
    """Print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=20, help="virtual seconds per run")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline", metavar="DIR", help="a directory holding another raftlib")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        name, trace, seconds, seed = json.loads(args.one)
        print(json.dumps(run_once(TIMINGS[name], trace, seconds, seed)))
        return
    figures = []
    print(f"5 members, 100 proposals/virtual s, {args.seconds} virtual s per run, "
          f"median of {args.runs} runs; goal >= {GOAL:.0f}x with the trace on (ETCD)")
    for name, timing in TIMINGS.items():
        for trace in (True, False):
            if args.baseline:
                runs, base = [], []
                for seed in range(args.runs):
                    runs.append(run_in(None, name, trace, args.seconds, seed))
                    base.append(run_in(args.baseline, name, trace, args.seconds, seed))
            else:
                runs = [run_once(timing, trace, args.seconds, seed) for seed in range(args.runs)]
            speed = statistics.median(r[0] for r in runs)
            msgs = statistics.median(r[1] for r in runs)
            done = min(r[2] for r in runs)
            line = (f"{name:5} trace={'on ' if trace else 'off'}: {speed:7.1f}x real time, "
                    f"{msgs:9.0f} messages/wall s, >= {done} proposals committed per run")
            if args.baseline:
                b = statistics.median(r[0] for r in base)
                line += f"; baseline {b:6.1f}x, speed-up {speed / b:.2f}"
            if name == "ETCD" and trace:
                line += f" (goal >= {GOAL:.0f}x: {speed / GOAL:.2f} of it)"
            print(line)
            figures.append(Figure(f"{name} timing, trace {'on' if trace else 'off'}", speed,
                                  "x real time", GOAL if name == "ETCD" and trace else None))
    record("sim", figures, seconds=args.seconds, runs=args.runs)


if __name__ == "__main__":
    main()
