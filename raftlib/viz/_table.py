"""Tables and exercises as the book shows them: HTML in pages and JupyterLab, text elsewhere.

Both render without JavaScript, so they work in the static book, in an untrusted notebook and
in a terminal alike.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Quiz", "Table", "quiz", "table"]


@dataclass(frozen=True)
class Table:
    """Rows of cells under a header. ``mark`` names the column whose non-empty cells other
    than ``ok`` are emphasised (a verdict column such as ``same``/``differs``)."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    mark: int | None = None
    ok: str = "same"
    caption: str = ""

    def __repr__(self) -> str:
        cols = [self.header, *self.rows]
        widths = [max(len(r[i]) for r in cols) for i in range(len(self.header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                 for r in cols]
        return "\n".join([self.caption, *lines] if self.caption else lines)

    def _repr_html_(self) -> str:
        def td(i: int, s: str) -> str:
            text = html.escape(s)
            if i == self.mark and s and s != self.ok:
                return f"<td><strong>{text}</strong></td>"
            return f"<td>{text}</td>"

        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(td(i, c) for i, c in enumerate(r)) + "</tr>"
                       for r in self.rows)
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return (f'<table class="raftlib-table">{cap}<thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>")


def _cell(v: object) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.0f}" if v.is_integer() or abs(v) >= 100 else f"{v:.2f}"
    if isinstance(v, bytes):
        return repr(v)
    return str(v)


def table(header: Sequence[str], rows: Iterable[Sequence[object]], *,
          caption: str = "") -> Table:
    """A :class:`Table` from any values: booleans read yes/no, floats are rounded."""
    head = tuple(header)
    body = tuple(tuple(_cell(v) for v in r) for r in rows)
    for r in body:
        if len(r) != len(head):
            raise ValueError(f"row {r} has {len(r)} cells, the header {len(head)}")
    return Table(head, body, caption=caption)


@dataclass(frozen=True)
class Quiz:
    """An exercise the reader answers before seeing the result: one button per choice, each
    revealing whether it is right and why, computed by the cell that built it.

    ``answer`` must be one of ``choices``; ``why`` explains the answer (shown with every
    choice once opened). The plain-text form names the choices, never the answer.
    """

    question: str
    choices: tuple[str, ...]
    answer: str
    why: str

    def __post_init__(self) -> None:
        if self.answer not in self.choices:
            raise ValueError(f"the answer {self.answer!r} is not among {self.choices}")

    def __repr__(self) -> str:
        return f"{self.question}\nchoices: {', '.join(self.choices)} (open one to check)"

    def _repr_html_(self) -> str:
        def choice(c: str) -> str:
            right = c == self.answer
            verdict = "Right." if right else "Not this one."
            cls = "right" if right else "wrong"
            return (f'<details class="raftlib-choice {cls}"><summary>{html.escape(c)}'
                    f"</summary><p><strong>{verdict}</strong> {html.escape(self.why)}</p>"
                    "</details>")

        return (f'<div class="raftlib-quiz"><p>{html.escape(self.question)}</p>'
                + "".join(choice(c) for c in self.choices) + "</div>")


def quiz(question: str, choices: Iterable[object], answer: object, why: str) -> Quiz:
    """A :class:`Quiz` from any values (``answer`` is compared as text with the choices)."""
    return Quiz(question, tuple(_cell(c) for c in choices), _cell(answer), why)
