"""The book's tables and exercises: HTML without JavaScript, text that never gives an answer."""

from __future__ import annotations

import pytest

from raftlib.viz import Quiz, quiz, table


def test_a_table_renders_as_an_html_table_with_escaped_cells() -> None:
    t = table(["pair", "safe", "ms"], [("n1 + n2", True, 1230.4), ("<b>", False, 0.5)])
    h = t._repr_html_()
    assert h.count("<tr>") == 3 and "<th>pair</th>" in h
    assert "<td>yes</td>" in h and "<td>&lt;b&gt;</td>" in h and "<td>0.50</td>" in h
    assert repr(t).splitlines()[1] == "n1 + n2  yes   1230"


def test_a_row_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match="2 cells, the header 3"):
        table(["a", "b", "c"], [(1, 2)])


def test_a_verdict_column_emphasises_what_is_not_ok() -> None:
    from raftlib.viz import Table

    t = Table(("field", "a", "b", ""), (("x", "1", "1", "same"), ("y", "1", "2", "differs")),
              mark=3)
    assert "<td><strong>differs</strong></td>" in t._repr_html_()
    assert "<strong>same</strong>" not in t._repr_html_()


def test_a_quiz_reveals_its_answer_only_inside_a_choice() -> None:
    q = quiz("How many crashes does a seven-member cluster survive?", [1, 2, 3, 4], 3,
             "A majority of seven is four.")
    assert "3" in q.choices and q.answer == "3"
    assert "Right" not in repr(q) and "majority" not in repr(q)
    h = q._repr_html_()
    assert h.count("<details") == 4 and h.count("Right.") == 1
    right = h.split("<details")[3]
    assert "<summary>3</summary>" in right and "Right." in right


def test_a_quiz_whose_answer_is_no_choice_is_refused() -> None:
    with pytest.raises(ValueError, match="not among"):
        Quiz("?", ("a", "b"), "c", "")
