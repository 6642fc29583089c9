"""The live panels in a real JupyterLab: every chapter with a panel, run and clicked in Chromium.

One headless ``jupyter lab`` serves a temporary copy of ``book/`` (running cells never touches
the repository's notebooks). For each chapter with a :class:`~raftlib.viz.ClusterPanel` or a
:class:`~raftlib.viz.RevisionScrubber`, the test opens it, runs all cells from the Run menu,
waits for the kernel to go idle, then works the panel as a reader would: on a cluster panel
advance, crash, restart, partition, heal and propose; on a scrubber move the slider. After each
action the panel's view must change as the action says, and at the end no output area, no
log-console entry and no browser console message may hold a traceback or an error.

JupyterLab 4 sends widget messages over a kernel subshell, which ipykernel 7 runs on its own
thread: this is the test that catches a store that only works on the thread that made it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from raftlib.backends._ports import reserve_port
from tests.browser import PageLog, offline_page

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
JUPYTER = Path(sys.executable).parent / "jupyter"
RUN_ALL_TIMEOUT_S = 300
ACTION_TIMEOUT_MS = 30_000


def live_chapters() -> list[str]:
    """The chapters whose cells make a live panel."""
    return sorted(
        p.name for p in BOOK.glob("*.ipynb")
        if re.search(r"\b(ClusterPanel|RevisionScrubber)\(", p.read_text(encoding="utf-8"))
    )


class Lab:
    """A running ``jupyter lab`` on 127.0.0.1: its base URL, token and REST calls."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token

    def api(self, method: str, path: str) -> object:
        req = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self) -> None:
        kernels = self.api("GET", "kernels")
        assert isinstance(kernels, list)
        for k in kernels:
            self.api("DELETE", f"kernels/{k['id']}")


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """One JupyterLab for every chapter, on a copy of the book, with its own settings and
    runtime directories and nothing fetched from the internet (news, update checks, PyPI)."""
    with tempfile.TemporaryDirectory(prefix="raftlib-lab-") as tmp:
        home = Path(tmp)
        shutil.copytree(BOOK, home / "book")
        env = {**os.environ,
               "JUPYTER_CONFIG_DIR": str(home / "config"),
               "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
               "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
               "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
               "IPYTHONDIR": str(home / "ipython"),
               "MPLBACKEND": "Agg"}
        token, port = secrets.token_hex(16), reserve_port()
        log = open(home / "lab.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [str(JUPYTER), "lab", "--no-browser", f"--ServerApp.token={token}",
             "--port", str(port), "--ip", "127.0.0.1", "--allow-root",
             "--ServerApp.port_retries=0", f"--ServerApp.root_dir={home / 'book'}",
             "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
             "--LabApp.extension_manager=readonly"],
            cwd=home / "book", env=env, stdout=log, stderr=subprocess.STDOUT)
        lab = Lab(f"http://127.0.0.1:{port}", token)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    lab.api("GET", "status")
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        pytest.fail("jupyter lab did not start:\n"
                                    + (home / "lab.log").read_text(errors="replace")[-3000:])
                    time.sleep(0.3)
            yield lab
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


@pytest.fixture(scope="module")
def browser_page() -> Iterator[tuple[Page, PageLog]]:
    with offline_page(width=1400, height=1000) as (page, log):
        yield page, log


# The open notebook's kernel state, read through the application JupyterLab exposes.
_RUN_STATE = """() => {
    const nb = window.jupyterapp.shell.currentWidget;
    const kernel = nb.sessionContext.session?.kernel;
    const cells = nb.content.widgets.filter(c => c.model.type === "code");
    return {
        status: kernel ? kernel.status : "none",
        pending: cells.filter(c => c.model.executionCount === null).length,
        errors: cells.flatMap(c => c.model.outputs.toJSON())
            .filter(o => o.output_type === "error").map(o => `${o.ename}: ${o.evalue}`),
    };
}"""


def _open(page: Page, lab: Lab, chapter: str) -> None:
    page.goto(f"{lab.url}/lab/tree/{chapter}?reset&token={lab.token}")
    page.wait_for_function("() => window.jupyterapp?.shell?.currentWidget?.sessionContext",
                           timeout=60_000)
    page.evaluate("async () => { const nb = window.jupyterapp.shell.currentWidget;"
                  " await nb.context.ready; await nb.sessionContext.ready; }")
    page.wait_for_function(f"() => ({_RUN_STATE})().status === 'idle'", timeout=60_000)


def _menu(page: Page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).click()


def _run_all(page: Page, chapter: str) -> None:
    _menu(page, "Run", "Run All Cells")
    deadline = time.monotonic() + RUN_ALL_TIMEOUT_S
    while True:
        state = page.evaluate(_RUN_STATE)
        assert state["errors"] == [], f"{chapter}: a cell failed"
        if state["pending"] == 0 and state["status"] == "idle":
            return
        assert time.monotonic() < deadline, f"{chapter}: cells still running: {state}"
        time.sleep(0.5)


def _act(page: Page, panel: Locator, what: Locator, expected: str | re.Pattern[str]) -> None:
    """Click ``what``; the panel's player must then show ``expected`` as its latest event,
    and its status line must be redrawn."""
    def shown() -> str:
        # text_content, not inner_text: JupyterLab skips rendering cells out of view.
        return (panel.locator("code").first.text_content() or "") + (
            panel.locator(".rv-event").last.text_content() or "")

    before = shown()
    what.scroll_into_view_if_needed()
    what.click()
    expect(panel.locator(".rv-event").last).to_have_text(expected, timeout=ACTION_TIMEOUT_MS)
    assert shown() != before, f"the view did not change after {expected}"


def _work_cluster_panel(page: Page, panel: Locator) -> None:
    def button(name: str) -> Locator:
        return panel.get_by_role("button", name=name, exact=True)

    expect(panel.locator(".rv-event").last).to_contain_text("panel opened",
                                                            timeout=ACTION_TIMEOUT_MS)
    _act(page, panel, button("+2000 ms").first, re.compile(r"^advance 2000 ms"))
    # The first member that is up: its crash button is enabled.
    crash = panel.locator("button[title^='crash member']:not([disabled])").first
    mid = (crash.get_attribute("title") or "").rsplit(" ", 1)[-1]
    _act(page, panel, crash, f"crash {mid}")
    _act(page, panel, panel.locator(f"button[title='restart member {mid}']"), f"restart {mid}")
    _act(page, panel, button("Partition"), re.compile(r"^partition "))
    _act(page, panel, button("Heal"), "heal")
    _act(page, panel, button("+2000 ms").first, re.compile(r"^advance 2000 ms"))
    _act(page, panel, button("Propose write"), re.compile(r"^propose p\d+ "))
    _act(page, panel, button("+500 ms").first, re.compile(r"^advance 500 ms"))


def _work_scrubber(page: Page, scrubber: Locator) -> None:
    """Move the slider three ways (arrow key, then typed revisions) and check each view. The
    first widget message of a kernel may still reach its main thread; later ones come over
    the widget subshell, on another thread."""
    view = scrubber.locator(".widget-html-content").last
    expect(view).to_contain_text("revision", timeout=ACTION_TIMEOUT_MS)
    first = view.text_content() or ""
    found = re.search(r"revision (\d+) of (\d+)", first)
    assert found, first
    shown, last = int(found.group(1)), int(found.group(2))
    handle = scrubber.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    page.keyboard.press("ArrowLeft")
    expect(view).to_contain_text(f"revision {shown - 1} of {last}", timeout=ACTION_TIMEOUT_MS)
    for rev in (1, last):
        readout = scrubber.locator(".widget-readout").first
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.type(str(rev))
        page.keyboard.press("Enter")
        expect(view).to_contain_text(f"revision {rev} of {last}", timeout=ACTION_TIMEOUT_MS)


def _log_console_text(page: Page) -> str:
    """What the notebook's log console holds (View > Show Log Console)."""
    _menu(page, "View", "Show Log Console")
    console = page.locator(".jp-LogConsolePanel")
    expect(console).to_be_visible()
    return console.text_content() or ""


def _output_problems(page: Page) -> list[str]:
    outputs = page.locator(".jp-OutputArea-output")
    # text contents, not inner texts: cells out of view are not rendered.
    problems = [f"stderr or error output: {t[:300]}" for t in page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    ).all_text_contents()]
    problems += [f"traceback in an output: {t[:300]}" for t in outputs.all_text_contents()
                 if "Traceback" in t]
    return problems


@pytest.mark.timeout(600)
@pytest.mark.parametrize("chapter", live_chapters())
def test_live_panel_works_in_jupyterlab(lab: Lab, browser_page: tuple[Page, PageLog],
                                        chapter: str) -> None:
    page, log = browser_page
    start = len(log.console)
    try:
        _open(page, lab, chapter)
        _run_all(page, chapter)
        clusters = page.locator(".widget-vbox").filter(
            has=page.get_by_role("button", name="Propose write", exact=True))
        scrubbers = page.locator(".widget-vbox").filter(has=page.locator(".noUi-handle"))
        assert clusters.count() + scrubbers.count() > 0, "no live panel shown"
        for i in range(clusters.count()):
            _work_cluster_panel(page, clusters.nth(i))
        for i in range(scrubbers.count()):
            _work_scrubber(page, scrubbers.nth(i))
        logged = _log_console_text(page)
    finally:
        lab.shut_down_kernels()
    problems = _output_problems(page)
    problems += [f"log console: {logged[:2000]}"
                 for word in ("Traceback", "Error") if word in logged][:1]
    problems += [m for m in log.console[start:] if "Traceback" in m or "Error" in m]
    problems += [p for p in log.problems() if not p.startswith("console ")]
    assert problems == []


def test_every_live_chapter_is_tried() -> None:
    chapters = live_chapters()
    assert "02-mvcc.ipynb" in chapters and "06-closing.ipynb" in chapters
