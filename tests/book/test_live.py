"""Live mode's infrastructure: the build's live files, and the same raftlib giving the same trace
in Pyodide in offline Chromium as in CPython.

The site is built by scripts/build_live.py (what ``make book`` runs) into a temporary folder
with a harness page, so these tests do not need the book's notebook build.
"""

from __future__ import annotations

import importlib.util
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from tests import live
from tests.browser import PageLog, offline_page, serve

ROOT = Path(__file__).resolve().parents[2]


def _load_build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_live", ROOT / "scripts/build_live.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_live = _load_build_script()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return live.build_site(tmp_path_factory.mktemp("live-site"))
    except RuntimeError as e:
        pytest.fail(str(e))


# ------------------------------------------------------------------ the build, no browser


def test_archive_holds_the_pure_layers_and_nothing_else(site: Path) -> None:
    names = zipfile.ZipFile(site / "_static/live/raftlib.zip").namelist()
    tops = {n.split("/")[1].removesuffix(".py") for n in names}
    assert tops == {"__init__", "_cluster", "_trace", "raft", "kv", "sim", "check", "viz"}
    assert "raftlib/sim/_sim.py" in names
    # viz: what live players need, not the figures (matplotlib)
    assert "raftlib/viz/_live.py" in names and "raftlib/viz/_figures.py" not in names
    assert all(n.endswith(".py") and "__pycache__" not in n for n in names)


def test_archive_is_reproducible(tmp_path: Path, site: Path) -> None:
    again = build_live.pack_raftlib(tmp_path / "raftlib.zip")
    assert again.read_bytes() == (site / "_static/live/raftlib.zip").read_bytes()


def test_manifest_lists_every_file_with_its_size(site: Path) -> None:
    folder = site / "_static/live"
    manifest = json.loads((folder / "manifest.json").read_text())
    on_disk = {p.relative_to(folder).as_posix(): p.stat().st_size
               for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"}
    assert {k: v["bytes"] for k, v in manifest["files"].items()} == on_disk
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert manifest["pyodide"] == lock["packages"]["node_modules/pyodide"]["version"]
    assert {f"pyodide/{n}" for n in build_live.PYODIDE_FILES} <= set(on_disk)


def test_build_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(build_live.BuildError, match=r"pyodide/package.json is missing.*npm ci"):
        build_live.build(tmp_path / "_static", node_modules=tmp_path / "node_modules")


# ------------------------------------------------------------------ in Chromium


@pytest.mark.browser
def test_a_missing_file_is_named(tmp_path: Path) -> None:
    # Before the module's page opens: Playwright's sync API runs one instance at a time.
    broken = live.build_site(tmp_path)
    wasm = broken / "_static/live/pyodide/pyodide.asm.wasm"
    saved = wasm.read_bytes()
    wasm.unlink()
    with serve(broken) as url, offline_page() as (page, log):
        with pytest.raises(PlaywrightError, match=r"pyodide/pyodide\.asm\.wasm is missing"):
            live.start(page, url)
        missing = [e.split("/", 3)[-1] for e in log.http_errors]
        assert missing == ["_static/live/pyodide/pyodide.asm.wasm"]
        # A failed start leaves nothing behind: once the file is back, the next start works.
        wasm.write_bytes(saved)
        lock = json.loads((broken / "_static/live/pyodide/pyodide-lock.json").read_text())
        assert page.evaluate("() => RaftlibLive.start().then(info => info.python)") == (
            lock["info"]["python"])


@dataclass
class Live:
    site: Path
    page: Page
    log: PageLog
    requests: list[str]
    started: dict[str, Any]


@pytest.fixture(scope="module")
def browser_live(site: Path) -> Iterator[Live]:
    """One offline page with live mode started once (the cold start takes seconds)."""
    with serve(site) as url, offline_page() as (page, log):
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        started = live.start(page, url)
        yield Live(site, page, log, requests, started)


@pytest.mark.browser
def test_live_mode_loads_on_first_use_in_stages(browser_live: Live) -> None:
    """The harness page loads nothing; the first start fetches the loader, the worker,
    Pyodide and raftlib from the site, reporting each stage, and imports every packed module."""
    first = browser_live.requests[0]
    assert first.endswith("/index.html")
    assert "/_static/live/live.js" in browser_live.requests[1], browser_live.requests[:3]
    stages = [p["stage"] for p in browser_live.started["stages"]]
    assert stages == ["download", "python", "raftlib", "ready"]
    info = browser_live.started["info"]
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert info["pyodide"] == lock["packages"]["node_modules/pyodide"]["version"]
    archive = zipfile.ZipFile(browser_live.site / "_static/live/raftlib.zip").namelist()
    packed = sorted(n.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
                    for n in archive)
    assert sorted(info["modules"]) == packed and "raftlib.sim._sim" in packed
    assert browser_live.log.problems() == []


@pytest.mark.browser
def test_same_script_same_trace_in_pyodide_and_cpython(browser_live: Live) -> None:
    """Election, leader crash, writes, partition, heal, restart: byte for byte the same."""
    here = json.loads(live.run_cpython(live.TRACE_SCRIPT))
    there = json.loads(live.run_browser(browser_live.page, live.TRACE_SCRIPT))
    assert here["committed"] > 0 and here["violations"] == []
    assert (there["sha256"], there["bytes"]) == (here["sha256"], here["bytes"]), (
        "traces diverge at byte "
        + str(next((i for i, (a, b) in enumerate(zip(here["trace"], there["trace"], strict=False))
                    if a != b), min(len(here["trace"]), len(there["trace"])))))
    assert there == here
    assert browser_live.log.problems() == []


@pytest.mark.browser
def test_planted_bug_is_caught_in_pyodide_as_in_cpython(browser_live: Live) -> None:
    here = json.loads(live.run_cpython(live.BUG_SCRIPT))
    there = json.loads(live.run_browser(browser_live.page, live.BUG_SCRIPT))
    assert there["clean"] == []
    assert {v[0] for v in there["planted"]} == {"vote_durable"}
    assert there == here
    assert browser_live.log.problems() == []


@pytest.mark.browser
def test_python_errors_reach_the_caller_and_the_worker_goes_on(browser_live: Live) -> None:
    with pytest.raises(PlaywrightError, match="ZeroDivisionError"):
        live.run_browser(browser_live.page, "1 / 0")
    assert live.run_browser(browser_live.page, "x = 20\nx + 1") == 21
    assert live.run_browser(browser_live.page, "x * 2") == 40  # one namespace across calls
    assert browser_live.log.problems() == []


@pytest.mark.browser
def test_nothing_was_requested_outside_the_site(browser_live: Live) -> None:
    assert browser_live.log.aborted == []
    assert all(u.startswith("http://127.0.0.1:") for u in browser_live.requests)


# ------------------------------------------------------------------ the built book


def test_the_built_book_ships_live_mode_but_no_page_loads_it() -> None:
    """``make book`` writes the live files; no page names them, so they cost nothing until
    a reader asks for live mode."""
    from tests.conftest import BOOK_HTML

    if not (BOOK_HTML / "index.html").is_file():
        pytest.fail(f"{BOOK_HTML} holds no built book: run `make book` first (make test does)")
    manifest = json.loads((BOOK_HTML / "_static/live/manifest.json").read_text())
    for name, entry in manifest["files"].items():
        assert (BOOK_HTML / "_static/live" / name).stat().st_size == entry["bytes"], name
    pages = sorted(BOOK_HTML.rglob("*.html"))
    assert pages
    for page in pages:
        html = page.read_text(encoding="utf-8")
        for needle in ("live.js", "live-worker.js", "pyodide", "raftlib.zip"):
            assert needle not in html, (page, needle)
