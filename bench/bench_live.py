"""Live mode's costs: raftlib in Pyodide in a Web Worker, in headless Chromium, offline.

Prints, as medians of several runs:

- cold start: from inserting the loader into a page to the worker's answer that Python is up
  and every packed raftlib module is imported (each run in a fresh browser, so nothing is
  cached), with the time of each stage (download, python, raftlib, ready) as the worker saw it;
- bytes transferred on first use (every file live mode fetched, headers included);
- a warm live action: advance a 5-member simulation by 100 virtual ms and return its frame as
  JSON (what a live player asks for per step), timed in the page round trip to the worker,
  and the same action in CPython, with the ratio;
- a player's "Take control", cold (a fresh browser: live-control.js, Pyodide, raftlib, then
  the replay of the partition story up to its middle frame, drawn), and a warm reader action
  through the player's buttons ("+100 ms" and "crash": worker round trip, new frames added
  to the player and drawn).

The site is built by scripts/build_live.py into a temporary folder, as test_live does.
Run: ``python bench/bench_live.py [--cold N] [--warm N]`` (about a minute).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _results import Figure, record  # noqa: E402
from playwright.sync_api import Request  # noqa: E402

from tests import live  # noqa: E402
from tests.browser import offline_page, serve  # noqa: E402

SETUP = """
import json
from raftlib.sim import Simulation
sim = Simulation(n=5, seed=7)
sim.run_until(lambda: sim.leader() is not None, 10_000)
sim.propose(b"x")
"""
ACTION = "sim.run_for(100)\njson.dumps(sim.frame())"


def _bytes(r: Request) -> int:
    # A module worker's own script reports a body size of 0; its Content-Length does not lie.
    sizes = r.sizes()
    response = r.response()
    length = int(response.headers.get("content-length", 0)) if response else 0
    return max(sizes["responseBodySize"], length) + sizes["responseHeadersSize"]


def cold_start(url: str) -> tuple[float, dict[str, int], int, list[str]]:
    """(ms to ready, stage -> ms in the worker, bytes fetched on first use, problems)."""
    with offline_page() as (page, log):
        done: list[Request] = []
        page.goto(f"{url}/index.html", wait_until="load")
        page.on("requestfinished", lambda r: done.append(r))
        started: dict[str, Any] = page.evaluate(live.START)
        stages = {p["stage"]: int(p["ms"]) for p in started["stages"]}
        return float(started["ms"]), stages, sum(_bytes(r) for r in done), log.problems()


def warm_actions(url: str, runs: int) -> tuple[list[float], str]:
    """In-page ms of ``runs`` actions on a started worker, and the last frame."""
    with offline_page() as (page, log):
        live.start(page, url)
        live.run_browser(page, SETUP)
        times, frame = [], ""
        for _ in range(runs):
            out = page.evaluate(live.RUN_TIMED, ACTION)
            times.append(float(out["ms"]))
            frame = out["result"]
        if log.problems():
            sys.exit(f"problems in the page: {log.problems()}")
        return times, frame


def take_control(url: str, warm: int) -> tuple[float, list[float], list[float]]:
    """(cold Take control ms, warm "+100 ms" ms, warm "crash"/"restart" ms) on a player page."""
    with offline_page() as (page, log):
        page.goto(f"{url}/player.html", wait_until="load")
        slider = page.locator("input.rv-slider")
        slider.fill(str(int(slider.get_attribute("max") or 0) // 2))
        cold = float(page.evaluate(live.CLICK_TO_READY, "button.rv-take"))
        advance = [float(page.evaluate(live.CLICK_TO_READY, '[data-action="advance-100"]'))
                   for _ in range(warm)]
        faults = []
        for k in range(warm):
            action = "restart" if k % 2 else "crash"
            faults.append(float(page.evaluate(live.CLICK_TO_READY,
                                              f'[data-action="{action}"]')))
        if log.problems():
            sys.exit(f"problems in the page: {log.problems()}")
        return cold, advance, faults


def cpython_actions(runs: int) -> tuple[list[float], str]:
    """ms of ``runs`` actions here, and the last frame."""
    ns: dict[str, Any] = {}
    exec(SETUP, ns)
    code = compile(f"_frame = ({ACTION.replace(chr(10), ', ')})[-1]", "<action>", "exec")
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        exec(code, ns)
        times.append((time.perf_counter() - t0) * 1000)
    return times, str(ns["_frame"])


def main() -> None:
    """Print the figures."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cold", type=int, default=5, help="cold starts, each in a fresh browser")
    ap.add_argument("--warm", type=int, default=50, help="warm actions")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        site = live.build_site(Path(tmp))
        with serve(site) as url:
            colds = [cold_start(url) for _ in range(args.cold)]
            problems = [p for c in colds for p in c[3]]
            if problems:
                sys.exit(f"problems in the page: {problems}")
            warm, frame = warm_actions(url, args.warm)
            live.player_page(site)
            takes = [take_control(url, args.warm // 5) for _ in range(args.cold)]
    cpython, cpython_frame = cpython_actions(args.warm)
    cold_ms = statistics.median(c[0] for c in colds)
    stages = {s: statistics.median(c[1][s] for c in colds) for s in colds[0][1]}
    fetched = colds[0][2]
    print(f"live mode in headless Chromium, Pyodide from the site, offline; "
          f"medians of {args.cold} cold starts and {args.warm} warm actions")
    print(f"cold start (loader inserted -> raftlib imported): {cold_ms / 1000:6.2f} s   "
          f"worker stages at " + ", ".join(f"{s} {ms / 1000:.2f} s" for s, ms in stages.items()))
    print(f"bytes on first use: {fetched / 1e6:6.2f} MB "
          f"(same in every run: {len({c[2] for c in colds}) == 1})")
    w, c = statistics.median(warm), statistics.median(cpython)
    print(f"warm action (run_for(100) + frame as JSON, {len(frame.encode())} bytes): "
          f"{w:6.2f} ms in the page, {c:6.2f} ms in CPython, {w / c:4.1f}x "
          f"(last frames identical: {frame == cpython_frame})")
    cold_take = statistics.median(t[0] for t in takes)
    advance = statistics.median(ms for t in takes for ms in t[1])
    faults = statistics.median(ms for t in takes for ms in t[2])
    print(f"player, Take control cold (load, replay to the middle frame, draw): "
          f"{cold_take / 1000:6.2f} s")
    print(f"player, warm action (click to drawn): +100 ms {advance:6.2f} ms, "
          f"crash/restart {faults:6.2f} ms")
    record("live", [Figure("cold start", cold_ms / 1000, "s", 10.0, "<="),
                    Figure("bytes on first use", fetched / 1e6, "MB"),
                    Figure("warm action in the page", w, "ms"),
                    Figure("warm action, page / CPython", w / c, "x"),
                    Figure("Take control, cold", cold_take / 1000, "s", 10.0, "<="),
                    Figure("player +100 ms, warm", advance, "ms", 200.0, "<="),
                    Figure("player crash/restart, warm", faults, "ms", 200.0, "<=")],
           cold_runs=args.cold, warm_runs=args.warm, stages_s={k: v / 1000
                                                               for k, v in stages.items()})


if __name__ == "__main__":
    main()
