"""Every chapter, executed afresh, shows exactly the outputs stored in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.book.notebooks import BOOK, chapters, regression_fixture

pytestmark = pytest.mark.notebook


def test_the_book_has_chapters() -> None:
    assert BOOK / "intro.ipynb" in chapters()


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.relative_to(BOOK).as_posix())
def test_chapter_outputs_match_the_stored_ones(path: Path) -> None:
    regression_fixture().check(str(path))
