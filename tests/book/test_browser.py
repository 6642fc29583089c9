"""The built book, opened page by page in a real browser with the internet out of reach."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, expect

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


@pytest.mark.parametrize("page_path", book_pages())
def test_page_loads_everything_from_the_site(book_url: str, page_path: str) -> None:
    with offline_page() as (page, log):
        page.goto(f"{book_url}/{page_path}", wait_until="networkidle")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / (page_path.replace("/", "__") + ".png"), full_page=True)
    assert log.problems() == []


def test_part_map_widget_renders_and_switches_tabs(book_url: str) -> None:
    with offline_page() as (page, log):
        page.goto(f"{book_url}/book/intro.html", wait_until="networkidle")
        tabs = page.locator(".jupyter-widgets .lm-TabBar-tab")
        tabs.first.wait_for(state="visible", timeout=15_000)
        assert tabs.count() == 8
        panel = page.locator(".jupyter-widgets .widget-tab-contents")
        first = panel.inner_text()
        assert "lose two members" in first
        tabs.nth(3).click()
        page.wait_for_function(
            "() => document.querySelector('.widget-tab-contents').innerText.includes('revision')"
        )
        assert panel.inner_text() != first
        assert "lm-mod-current" in (tabs.nth(3).get_attribute("class") or "")
    assert log.problems() == []


def chapters() -> list[str]:
    return [p for p in book_pages() if p.startswith("book/") and p[5].isdigit()]


@pytest.mark.parametrize("page_path", chapters())
def test_chapter_page_weighs_under_5_mb(page_path: str) -> None:
    html = (BOOK_HTML / page_path).read_text(encoding="utf-8")
    images = set(re.findall(r'src="((?:\.\./)*_images/[^"]+)"', html))
    size = len(html.encode()) + sum(
        (BOOK_HTML / page_path).parent.joinpath(src).resolve().stat().st_size for src in images
    )
    assert size < 5 * 1024 * 1024, f"{page_path}: {size / 1e6:.1f} MB"


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
