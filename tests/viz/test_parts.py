"""The opening page's map of the book: every chapter of the table of contents, linked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from raftlib.viz import PARTS, part_map

ROOT = Path(__file__).resolve().parents[2]


def toc_chapters() -> list[str]:
    """The numbered chapters of ``_toc.yml`` in reading order, as ``NN-name``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [f.removeprefix("book/") for f in files if re.match(r"book/\d", f)]


def heading(chapter: str) -> str:
    cells = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    first = "".join(cells["cells"][0]["source"]).splitlines()[0]
    return first.removeprefix("# ")


def test_the_map_lists_every_chapter_of_the_toc_in_order() -> None:
    assert [p.file for p in PARTS] == toc_chapters()
    assert "07-real-etcd" in toc_chapters()


def test_each_entry_carries_its_chapters_own_title() -> None:
    for p in PARTS:
        assert p.title == heading(p.file)
        assert p.file.startswith(("0" + p.number + "-", p.number + "-"))


def test_the_map_is_plain_html_with_a_working_link_per_chapter() -> None:
    html = part_map()._repr_html_()
    assert "<script" not in html and "widget" not in html
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', html)
    assert [href for href, _ in links] == [f"{c}.html" for c in toc_chapters()]
    for href, _ in links:
        assert (ROOT / "book" / href.replace(".html", ".ipynb")).is_file()
    for p in PARTS:
        assert f">{p.number}. {p.title}</a>" in html
        assert p.question.replace("'", "&#x27;") in html


def test_the_text_form_names_every_chapter_within_the_column() -> None:
    text = repr(part_map())
    assert len(text.splitlines()) == len(toc_chapters())
    assert all(len(line) <= 88 for line in text.splitlines())
