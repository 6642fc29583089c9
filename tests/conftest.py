"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import serve

ROOT = Path(__file__).resolve().parent.parent
BOOK_HTML = ROOT / "_build" / "html"


@pytest.fixture(scope="session")
def book_url() -> Iterator[str]:
    """The built book served on 127.0.0.1; fails (never skips) when the book was not built."""
    if not (BOOK_HTML / "index.html").is_file():
        pytest.fail(f"{BOOK_HTML} holds no built book: run `make book` first (make test does)")
    with serve(BOOK_HTML) as url:
        yield url
