"""Simulator throughput: a 5-member cluster under 100 proposals per virtual second.

Prints virtual seconds simulated per wall second (trace on and off) and messages delivered per
wall second, as the median of several runs; the goal (issue 17) is 200x real time with the
trace on and etcd timing. ``--baseline DIR`` measures another checkout's ``raftlib`` (for
example ``git archive <commit> raftlib | tar -x -C DIR``) in the same run, run for run
interleaved with this one, and prints the speed-up against it.
The same runs are then measured in Pyodide, in a Web Worker of headless Chromium (live mode's
files, built as the book builds them, served on 127.0.0.1; the baseline's ``raftlib`` is sent
along and imported in its place run for run) and printed next to CPython's; ``--no-pyodide``
skips them (they need ``npm ci`` and Chromium).
Run: ``python bench/bench_sim.py [--seconds N] [--runs N] [--baseline DIR] [--no-pyodide]``.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

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


ROOT = Path(__file__).resolve().parents[1]
LIVE, BASE = "/raftlib-live", "/raftlib-base"  # where the worker finds each raftlib

# One run in the worker: import raftlib from ``path`` afresh, then ``run_once`` as here.
PYODIDE_RUN = """
import importlib, json, sys, time
for _k in [k for k in sys.modules if k == "raftlib" or k.startswith("raftlib.")]:
    del sys.modules[_k]
sys.path[:] = [PATH] + [p for p in sys.path if p not in (LIVE, BASE)]
importlib.invalidate_caches()
from raftlib.raft import ETCD, PAPER, Timing
from raftlib.sim import Simulation
TIMINGS = {"ETCD": ETCD, "PAPER": PAPER}
"""


Runner = Callable[[str, str, bool, int, int], tuple[float, ...]]


@contextmanager
def pyodide_runner(baseline: str | None) -> Iterator[Runner]:
    """Yields ``run(path, name, trace, seconds, seed)``: ``run_once`` in Pyodide, with ``path``
    either ``LIVE`` (this raftlib) or ``BASE`` (the baseline's)."""
    sys.path.insert(0, str(ROOT))
    from tests import live
    from tests.browser import offline_page, serve

    spec = importlib.util.spec_from_file_location("build_live", ROOT / "scripts" / "build_live.py")
    assert spec is not None and spec.loader is not None
    build_live = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_live)
    with tempfile.TemporaryDirectory() as tmp:
        site = live.build_site(Path(tmp))
        with serve(site) as url, offline_page() as (page, log):
            live.start(page, url)
            if baseline is not None:
                archive = build_live.pack_raftlib(Path(tmp) / "base.zip", Path(baseline))
                data = base64.b64encode(archive.read_bytes()).decode()
                live.run_browser(page, "import base64, io, zipfile\n"
                                 f"zipfile.ZipFile(io.BytesIO(base64.b64decode('{data}')))"
                                 f".extractall({BASE!r})")

            def run(path: str, name: str, trace: bool, seconds: int,
                    seed: int) -> tuple[float, ...]:
                code = (f"PATH, LIVE, BASE = {path!r}, {LIVE!r}, {BASE!r}\n" + PYODIDE_RUN
                        + inspect.getsource(run_once)
                        + f"json.dumps(run_once(TIMINGS[{name!r}], {trace!r}, {seconds!r}, "
                        f"{seed!r}))\n")
                out = tuple(json.loads(live.run_browser(page, code)))
                if log.problems():
                    sys.exit(f"problems in the page: {log.problems()}")
                return out

            for path in (LIVE, BASE) if baseline is not None else (LIVE,):
                run(path, "ETCD", True, 2, 0)  # warm-up, not counted
            yield run


def measure(one: Callable[[str | None, str, bool, int, int], tuple[float, ...]],
            baseline: str | None, name: str, trace: bool, seconds: int,
            runs: int) -> tuple[list[tuple[float, ...]], list[tuple[float, ...]]]:
    """``runs`` runs of this raftlib (``one(None, ...)``) and, with a baseline, as many of it
    (``one(baseline, ...)``), interleaved run for run."""
    mine, base = [], []
    for seed in range(runs):
        mine.append(one(None, name, trace, seconds, seed))
        if baseline is not None:
            base.append(one(baseline, name, trace, seconds, seed))
    return mine, base


def main() -> None:
    """Print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=20, help="virtual seconds per run")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline", metavar="DIR", help="a directory holding another raftlib")
    ap.add_argument("--no-pyodide", dest="pyodide", action="store_false",
                    help="skip the runs in Pyodide in headless Chromium")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        name, trace, seconds, seed = json.loads(args.one)
        print(json.dumps(run_once(TIMINGS[name], trace, seconds, seed)))
        return
    figures = []
    print(f"5 members, 100 proposals/virtual s, {args.seconds} virtual s per run, "
          f"median of {args.runs} runs; goal >= {GOAL:.0f}x with the trace on (ETCD); "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    cpython: dict[tuple[str, bool], float] = {}

    def one(path: str | None, name: str, trace: bool, seconds: int,
            seed: int) -> tuple[float, ...]:
        if args.baseline:
            return run_in(path, name, trace, seconds, seed)
        return run_once(TIMINGS[name], trace, seconds, seed)

    for name in TIMINGS:
        for trace in (True, False):
            runs, base = measure(one, args.baseline, name, trace, args.seconds, args.runs)
            speed = statistics.median(r[0] for r in runs)
            cpython[(name, trace)] = speed
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
    if args.pyodide:
        figures += pyodide_figures(args, cpython)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    record("sim", figures, seconds=args.seconds, runs=args.runs, pyodide=args.pyodide)


def pyodide_figures(args: argparse.Namespace,
                    cpython: dict[tuple[str, bool], float]) -> list[Figure]:
    """The same runs in Pyodide (printed next to CPython's medians); their figures."""
    figures = []
    print("in Pyodide (headless Chromium, Web Worker):")
    with pyodide_runner(args.baseline) as run:
        def one(path: str | None, name: str, trace: bool, seconds: int,
                seed: int) -> tuple[float, ...]:
            return run(LIVE if path is None else BASE, name, trace, seconds, seed)

        for name in TIMINGS:
            for trace in (True, False):
                runs, base = measure(one, args.baseline, name, trace, args.seconds, args.runs)
                speed = statistics.median(r[0] for r in runs)
                line = (f"{name:5} trace={'on ' if trace else 'off'}: {speed:7.1f}x real time "
                        f"in Pyodide, CPython / Pyodide {cpython[(name, trace)] / speed:.2f}")
                if base:
                    b = statistics.median(r[0] for r in base)
                    line += f"; baseline {b:6.1f}x, speed-up {speed / b:.2f}"
                print(line)
                figures.append(Figure(f"Pyodide, {name} timing, trace {'on' if trace else 'off'}",
                                      speed, "x real time"))
    return figures


if __name__ == "__main__":
    main()
