"""The built book, opened page by page in a real browser with the internet out of reach."""

from __future__ import annotations

from pathlib import Path

import pytest

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
