"""What a chapter shows fits the page: no code or text output line wider than the column.

The book's content column holds about 88 monospace characters at a 1280 px window; wider lines
scroll sideways. Cells tagged ``remove-output`` (hidden in HTML) still count for their code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.book.notebooks import chapters

WIDTH = 88


def _too_wide(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if len(ln) > WIDTH]


def _wide_lines(path: Path) -> list[str]:
    found: list[str] = []
    for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
        if cell["cell_type"] != "code":
            continue
        found += [f"cell {i} code: {ln}" for ln in _too_wide("".join(cell["source"]))]
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = "".join(out["text"])
            else:
                data = out.get("data", {})
                if "text/html" in data or "image/png" in data or "text/markdown" in data:
                    continue  # the page shows the rich form, which wraps
                text = "".join(data.get("text/plain", ""))
            found += [f"cell {i} output: {ln}" for ln in _too_wide(text)]
    return found


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.name)
def test_no_line_is_wider_than_the_column(path: Path) -> None:
    assert _wide_lines(path) == []


def test_a_wide_line_is_found() -> None:
    assert _too_wide("x" * (WIDTH + 1)) and not _too_wide("x" * WIDTH)
