"""Live mode outside the book: build its files into a folder, open a harness page in offline
Chromium, start the worker on first use and run Python in Pyodide; run the same code in CPython.

Shared by tests/book/test_live.py and bench/bench_live.py.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[1]

# The harness loads nothing: like a book page, it pays for live mode only on first use.
HARNESS = """<!doctype html>
<html><head><meta charset="utf-8"><title>live harness</title></head>
<body><p>live mode harness</p></body></html>
"""

# First use, as a player will do it: insert the loader, then start the worker.
START = """async () => {
    const t0 = performance.now();
    await new Promise((ok, fail) => {
        const s = document.createElement("script");
        s.src = "_static/live/live.js";
        s.onload = ok;
        s.onerror = () => fail(new Error("live.js did not load"));
        document.head.appendChild(s);
    });
    const stages = [];
    const info = await RaftlibLive.start((p) => stages.push(p));
    return {info, stages, ms: performance.now() - t0};
}"""

RUN = "code => RaftlibLive.run(code)"

# The same, timed in the page: the round trip to the worker and back, without Playwright's.
RUN_TIMED = """async code => {
    const t0 = performance.now();
    const result = await RaftlibLive.run(code);
    return {result, ms: performance.now() - t0};
}"""

# One deterministic action script: an election, a leader crash, writes, a partition, a heal
# and a restart, with the safety monitor watching. Its last expression is its result.
TRACE_SCRIPT = """
import hashlib, json
from raftlib.check import SafetyMonitor
from raftlib.sim import Simulation

sim = Simulation(n=5, seed=7)
mon = SafetyMonitor(raise_on_violation=False).attach(sim)
sim.run_until(lambda: sim.leader() is not None, 10_000)
first = sim.leader()
sim.crash(first)
sim.run_until(lambda: sim.leader() is not None, 10_000)
for i in range(5):
    sim.propose(f"w{i}".encode())
    sim.run_for(30)
sim.partition([[1, 2], [3, 4, 5]])
for i in range(5):
    sim.propose(f"x{i}".encode())
    sim.run_for(30)
sim.run_for(2000)
sim.heal()
sim.restart(first)
sim.run_for(3000)
trace = sim.trace_json().encode()
json.dumps({
    "sha256": hashlib.sha256(trace).hexdigest(),
    "bytes": len(trace),
    "trace": trace.decode(),
    "committed": sum(p.committed_at is not None for p in sim.proposals),
    "crashed": first,
    "leader": sim.leader(),
    "violations": [[v.rule, v.t, list(v.members)] for v in mon.violations],
})
"""

# A planted bug (votes sent before they are durable) that the monitor catches at once.
BUG_SCRIPT = """
import json
from raftlib.check import SafetyMonitor
from raftlib.raft import PAPER
from raftlib.sim import Simulation

def violations(bugs):
    sim = Simulation(n=3, seed=1, timing=PAPER, bugs=bugs)
    mon = SafetyMonitor(raise_on_violation=False).attach(sim)
    sim.run_until(lambda: sim.leader() is not None, 3000)
    for _ in range(10):
        sim.propose()
        sim.run_for(20)
    sim.run_for(500)
    return [[v.rule, v.t, list(v.members), v.message] for v in mon.violations]

json.dumps({"clean": violations(()), "planted": violations(("vote_before_persist",))})
"""


def build_site(dest: Path) -> Path:
    """Build live mode's files into ``dest/_static/live`` with the build's own command, and
    the harness page into ``dest/index.html``; returns ``dest``."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_live.py"),
                           str(dest / "_static")], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/build_live.py failed:\n{done.stderr}")
    (dest / "index.html").write_text(HARNESS, encoding="utf-8")
    return dest


def player_page(dest: Path) -> str:
    """Write a page holding one cluster player (the elections chapter's partition story), as a
    book page holds it, to ``dest/player.html``; returns its name. A book page loads scripts
    from ``_static/``: the player finds the live folder from them."""
    from raftlib.chapters.elections import partition_story
    from raftlib.viz import TracePlayer

    player = TracePlayer(partition_story(5, 2).frames, title="Partition").to_html()
    (dest / "_static" / "page.js").write_text("// a book page's own script\n")
    (dest / "player.html").write_text(
        '<!doctype html><html><head><meta charset="utf-8"><title>player</title>'
        f'<script src="_static/page.js"></script></head><body>{player}</body></html>',
        encoding="utf-8")
    return "player.html"


# Milliseconds from a click on a player's button to its live panel being ready again, in the
# page (Take control: the panel appears after live-control.js loads, then starts Pyodide).
CLICK_TO_READY = """async selector => {
    const t0 = performance.now();
    document.querySelector(selector).click();
    await new Promise((ok, fail) => {
        const check = () => {
            const live = document.querySelector(".rv-live");
            const state = live && live.getAttribute("data-live-state");
            if (state === "ready") ok();
            else if (state === "error") fail(new Error(live.textContent));
            else setTimeout(check, 2);
        };
        check();
    });
    return performance.now() - t0;
}"""


def start(page: Page, site_url: str) -> dict[str, Any]:
    """Open the harness and start live mode; returns ``{info, stages, ms}`` (``ms`` from
    inserting the loader to the worker's answer that raftlib is imported)."""
    page.goto(f"{site_url}/index.html", wait_until="load")
    result: dict[str, Any] = page.evaluate(START)
    return result


def run_browser(page: Page, code: str) -> Any:
    """Run ``code`` in the page's Pyodide; its last expression's value."""
    return page.evaluate(RUN, code)


def run_cpython(code: str) -> Any:
    """Run ``code`` here as the worker does in Pyodide: in a fresh namespace, the value of its
    last expression (None when it does not end with one)."""
    tree = ast.parse(code)
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr):
        tree.body.pop()
    ns: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(tree, "<live>", "exec"), ns)
    if not isinstance(last, ast.Expr):
        return None
    return eval(compile(ast.Expression(last.value), "<live>", "eval"), ns)
