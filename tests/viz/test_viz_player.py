"""TracePlayer's HTML: deterministic, compact, lossless, and safe to embed."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import viz_frames as vf

from raftlib.viz import TracePlayer


def _decode_logs(payload: dict[str, Any]) -> list[list[list[Any]]]:
    """The browser's log decoding, in Python: every log of the table, in full."""
    out: list[list[list[Any]]] = []
    for parent, keep, appended in payload["logs"]:
        base = out[parent][:keep] if parent >= 0 else []
        out.append(base + [payload["entries"][e] for e in appended])
    return out


def _embedded(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" class="rv-data">(.*?)</script>', html,
                      re.S)
    assert match
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_same_input_same_bytes_and_ids_follow_content() -> None:
    one = TracePlayer(vf.election(3), title="Election").to_html()
    assert one == TracePlayer(vf.election(3), title="Election").to_html()
    other = TracePlayer(vf.election(5), title="Election").to_html()
    ids = [re.search(r'id="(rv-[0-9a-f]{12})"', h) for h in (one, other)]
    assert ids[0] and ids[1] and ids[0].group(1) != ids[1].group(1)
    assert one.count(ids[0].group(1)) == 3  # id, data-rv-root, and the mount call


def test_round_trip_is_lossless() -> None:
    branches = vf.crash_branches()
    payload = TracePlayer.from_branches(branches).payload()
    logs = _decode_logs(payload)
    for encoded, frames in zip(payload["branches"], branches.values(), strict=True):
        assert len(encoded["frames"]) == len(frames)
        for row, frame in zip(encoded["frames"], frames, strict=True):
            t, event, slots, msgs, _part, _kv = row
            assert (t, event) == (frame["t"], frame["event"])
            for member, slot in zip(payload["members"], slots, strict=True):
                role, term, vote, commit, _applied, up, paused, log, _extra = (
                    payload["states"][slot])
                want = frame["members"][member]
                assert (role, term, vote, commit, up, paused) == (
                    want["role"], want["term"], want["vote"], want["commit"], want["up"],
                    want["paused"])
                assert logs[log] == want["log"]
            assert [payload["msgs"][m][:4] for m in msgs] == [
                [m["from"], m["to"], m["type"], m["term"]] for m in frame["in_flight"]]


def test_repeated_logs_and_states_are_stored_once() -> None:
    frames = vf.long_trace(2000, 5, 100)
    payload = TracePlayer(frames).payload()
    # 100 distinct entries, each stored once, and each distinct log costs only what it appends.
    assert len(payload["entries"]) == 100
    distinct_logs = {json.dumps(m["log"]) for f in frames for m in f["members"].values()}
    assert len(payload["logs"]) == len(distinct_logs)
    assert sum(len(appended) for _, _, appended in payload["logs"]) <= 2 * 100
    assert len(payload["states"]) < 2000


def test_size_stays_small_for_a_long_trace() -> None:
    html = TracePlayer(vf.long_trace(2000, 5, 100), title="long").to_html()
    assert len(html.encode()) < 1_000_000, len(html)


def test_labels_cannot_break_out_of_the_script() -> None:
    evil = "</script><script>alert(1)</script><!-- & é"
    frames = vf.election(3, writes=1)
    frames[-1]["members"]["n1"]["log"].append([99, 2, evil])
    frames[-1]["event"] = evil
    html = TracePlayer(frames, title=evil).to_html()
    assert html.count("</script>") == 2  # only the player's own two scripts end
    assert "<!--" not in html and "<script>alert" not in html
    data = _embedded(html)
    assert data["title"] == evil and [99, 2, evil] in data["entries"]
    assert 'aria-label="Trace player: &lt;/script&gt;' in html


def test_output_is_self_contained() -> None:
    html = TracePlayer(vf.partitioned()).to_html()
    assert html.startswith('<div class="rv-player"') and html.endswith("</div>")
    without_svg_ns = html.replace("http://www.w3.org/2000/svg", "")
    for needle in ("http:", "https:", "src=", "href=", "@import", "url(", "fetch(", "XMLHttp"):
        assert needle not in without_svg_ns, needle


def test_missing_optional_fields_are_tolerated() -> None:
    frames: list[dict[str, Any]] = [
        {"members": {1: {"role": "Leader"}, 2: {}}},
        {"t": 5, "members": {1: {"log": [[1, 1]]}, 2: {"up": False}, 3: {"role": "learner"}},
         "in_flight": [{"from": 1, "to": 3}], "partition": [[1, 2], [3]]},
        {"event": "kv only", "kv": {"revision": 1, "keys": []}},
    ]
    payload = TracePlayer(frames).payload()
    rows = payload["branches"][0]["frames"]
    assert [r[0] for r in rows] == [0, 5, 5]  # a missing time repeats the previous one
    assert payload["members"] == ["1", "2", "3"]
    assert rows[0][2][0] >= 0 and payload["states"][rows[0][2][0]][0] == "leader"
    assert rows[0][2] == rows[0][2][:2]  # member 3 joined later
    assert payload["entries"] == [[1, 1, ""]]
    assert payload["msgs"][0][:4] == ["1", "3", "Msg", 0]
    assert payload["parts"] == [[["1", "2"], ["3"]]]
    assert rows[2][2] == [-1, -1, -1] and rows[2][5] == 0


def test_branches_keep_order_and_default() -> None:
    branches = vf.crash_branches()
    player = TracePlayer.from_branches(branches, default="crash n3+n4")
    payload = player.payload()
    assert [b["label"] for b in payload["branches"]] == list(branches)
    assert payload["default"] == 1
    assert 'data-branch="crash n3+n4"' in player.to_html()
    assert player._repr_html_() == player.to_html()
    direct = TracePlayer(branches["crash n1+n2"], label="crash n1+n2",
                         branches={"crash n3+n4": branches["crash n3+n4"]})
    assert direct.payload()["default"] == 0
    assert direct.payload()["branches"] == payload["branches"]


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="no frames"):
        TracePlayer([])
    with pytest.raises(ValueError, match="not among"):
        TracePlayer.from_branches({"a": vf.election()}, default="b")
    with pytest.raises(ValueError, match="no branches"):
        TracePlayer.from_branches({})
    with pytest.raises(ValueError, match="used twice"):
        TracePlayer(vf.election(), label="x", branches={"x": vf.election()})


def test_plain_repr_is_deterministic() -> None:
    player = TracePlayer.from_branches(vf.crash_branches(), title="Crash")
    assert repr(player) == (
        "TracePlayer('Crash', branches=['crash n1+n2', 'crash n3+n4'], frames=30)")


def test_embedded_script_cannot_end_early() -> None:
    html = TracePlayer(vf.election()).to_html()
    script = html[html.rindex("<script>") + len("<script>"):html.rindex("</script>")]
    assert "</script" not in script.lower() and "<!--" not in script


def test_embedded_code_leaves_out_comments_and_indentation() -> None:
    from importlib import resources

    assets = resources.files("raftlib.viz") / "assets"
    source = sum(len((assets / n).read_text(encoding="utf-8")) for n in ("player.js",
                                                                        "player.css"))
    html = TracePlayer(vf.election()).to_html()
    style = html[html.index("<style>") + 7:html.index("</style>")]
    script = html[html.rindex("<script>") + 8:html.rindex("</script>")]
    assert "/*" not in style and "\n" not in style
    assert not any(line.startswith((" ", "//")) for line in script.splitlines())
    assert len(style) + len(script) < 0.85 * source  # what the browser tests run, smaller
