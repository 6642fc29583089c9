"""The built book, opened page by page in a real browser with the internet out of reach."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Locator, Request, expect

from tests.browser import offline_page
from tests.conftest import BOOK_HTML

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "_build" / "screenshots"


def book_pages() -> list[str]:
    return sorted(
        p.relative_to(BOOK_HTML).as_posix()
        for p in BOOK_HTML.rglob("*.html")
        if not p.relative_to(BOOK_HTML).parts[0].startswith("_")
    )


def test_the_book_has_pages() -> None:
    assert "book/intro.html" in book_pages()


MAX_PAGE_BYTES = 5 * 1024 * 1024


@pytest.mark.parametrize("page_path", book_pages())
def test_page_loads_everything_from_the_site(book_url: str, page_path: str) -> None:
    """Every request stays on the site, and the page with all it loads (HTML, scripts,
    styles, fonts, images) transfers under 5 MB."""
    with offline_page() as (page, log):
        done: list[Request] = []
        page.on("requestfinished", lambda r: done.append(r))
        page.goto(f"{book_url}/{page_path}", wait_until="networkidle")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # A picture for people to look at, not checked: the whole page unless it is very tall
        # (the API reference: a full shot of it takes Chromium over 15 s).
        tall = page.evaluate("document.documentElement.scrollHeight") > 40_000
        page.screenshot(path=SCREENSHOTS / (page_path.replace("/", "__") + ".png"),
                        full_page=not tall)
        weights = {r.url: r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"]
                   for r in done}
    assert log.problems() == []
    assert f"{book_url}/{page_path}" in weights, "the page itself was not counted"
    total = sum(weights.values())
    heaviest = sorted(weights.items(), key=lambda kv: -kv[1])[:3]
    assert total < MAX_PAGE_BYTES, f"{page_path}: {total / 1e6:.1f} MB, most in {heaviest}"


def test_no_page_carries_widget_state_or_the_widget_runtime() -> None:
    """Live panels need a kernel and are hidden in HTML: no page may pay for their state or
    for the multi-megabyte widget runtime."""
    for path in book_pages():
        html = (BOOK_HTML / path).read_text(encoding="utf-8")
        assert "application/vnd.jupyter.widget-state+json" not in html, path
        assert "embed-amd.js" not in html and "html-manager" not in html, path


def test_part_map_lists_every_chapter_with_working_links(book_url: str) -> None:
    from tests.viz.test_parts import heading, toc_chapters

    with offline_page() as (page, log):
        page.goto(f"{book_url}/book/intro.html", wait_until="networkidle")
        rows = page.locator("table.raftlib-part-map tbody tr")
        expect(rows).to_have_count(len(toc_chapters()))
        links = page.locator("table.raftlib-part-map a")
        targets = []
        for i, chapter in enumerate(toc_chapters()):
            link = links.nth(i)
            expect(link).to_be_visible()
            text = link.inner_text()
            assert text.endswith(heading(chapter)), (text, chapter)
            # the whole label shows: nothing clipped or cut off with an ellipsis
            assert link.evaluate("a => a.scrollWidth <= a.clientWidth + 1"), text
            targets.append((link.evaluate("a => a.href"), heading(chapter)))
        for url, title in targets:
            page.goto(url, wait_until="domcontentloaded")
            assert page.locator("h1").first.inner_text().startswith(title), url
    assert log.problems() == []


def chapters() -> list[str]:
    return [p for p in book_pages() if p.startswith("book/") and p[5].isdigit()]


def _shown(player: Locator) -> str:
    """What a trace player shows now: event text, members' state, logs and keyspace table."""
    return "|".join(
        [player.locator(".rv-event").inner_text()]
        + [
            f"{n.get_attribute('data-member')}:{n.get_attribute('data-role')}:"
            f"{n.get_attribute('data-term')}:{n.get_attribute('data-up')}"
            for n in player.locator("g.rv-node").all()
        ]
        + [t.inner_text() for t in player.locator(".rv-logs, .rv-kv").all()]
    )


@pytest.mark.parametrize("page_path", chapters())
def test_chapter_interactives_work_without_a_kernel(book_url: str, page_path: str) -> None:
    with offline_page() as (page, log):
        page.goto(f"{book_url}/{page_path}", wait_until="networkidle")
        # Live panels need a kernel: the static page must not show their controls.
        assert page.locator(".jupyter-widgets button, .jupyter-widgets input").count() == 0
        players = page.locator(".rv-player").all()
        assert players, f"{page_path} has no trace player"
        for player in players:
            expect(player).to_have_attribute("data-ready", "")
            slider = player.locator("input.rv-slider")
            last = slider.get_attribute("max") or "0"
            if last != "0":
                before = _shown(player)
                start = player.get_attribute("data-frame-index")
                slider.fill("0" if start == last else last)
                assert player.get_attribute("data-frame-index") != start
                assert _shown(player) != before, "scrubbing changed nothing on screen"
            radios = player.locator(".rv-branch input").all()
            if radios:
                outcomes = set()
                for radio in radios:
                    radio.check()
                    player.locator("input.rv-slider").fill(
                        player.locator("input.rv-slider").get_attribute("max") or "0"
                    )
                    outcomes.add(_shown(player))
                assert len(outcomes) > 1, "every branch ends the same way"
    assert log.problems() == []
