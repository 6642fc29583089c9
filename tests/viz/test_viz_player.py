"""TracePlayer's HTML: deterministic, compact, lossless, and safe to embed."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import viz_frames as vf

from raftlib.raft import PAPER
from raftlib.sim import Simulation
from raftlib.viz import TracePlayer, record


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


def _run_on(elapsed: int, dt: int, timeout: int) -> int:
    x = elapsed + dt
    return x % timeout if x > timeout > 0 else x


def _progress_row(row: list[Any], commit: int) -> dict[str, Any]:
    peer, m, dn, state = row
    match = m[0] if isinstance(m, list) else commit + m
    return {"id": peer, "match": match, "next": (commit if state == "r" else match) + 1 + dn,
            "state": {"p": "probe", "r": "replicate", "s": "snapshot"}[state]}


def _decode(payload: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The browser's decoder, in Python: every branch's frames in the simulator's format (ids
    as strings, as the player shows them)."""
    logs = _decode_logs(payload)
    names = payload["members"]
    out = []
    for branch in payload["branches"]:
        frames: list[dict[str, Any]] = []
        timers: dict[int, list[int]] = {}
        progress: dict[int, int] = {}
        for row in branch["frames"]:
            t = row[0]
            for change in payload["timers"][row[6]] if len(row) > 6 and row[6] >= 0 else ():
                if len(change) == 1:
                    del timers[change[0]]
                else:
                    timeout = change[2] if len(change) > 2 else timers[change[0]][2]
                    timers[change[0]] = [t, change[1], timeout]
            for slot, pid in row[7] if len(row) > 7 else ():
                if pid < 0:
                    del progress[slot]
                else:
                    progress[slot] = pid
            members = {}
            for slot, sid in enumerate(row[2]):
                if sid < 0:
                    continue
                st = payload["states"][sid]
                tally = payload["tallies"][st[9]] if len(st) > 9 else None
                timer = timers.get(slot)
                commit = st[3]
                members[names[slot]] = {
                    "role": st[0], "term": st[1], "vote": st[2], "commit": commit,
                    "applied": st[4], "up": st[5], "paused": st[6], "log": logs[st[7]],
                    "timer": timer and [_run_on(timer[1], t - timer[0], timer[2]), timer[2]],
                    "votes": tally and dict(zip(("granted", "refused", "voters"), tally,
                                                strict=True)),
                    "progress": None if slot not in progress else [
                        _progress_row(row, commit) for row in payload["progress"][progress[slot]]],
                }
            msgs = []
            for mid in row[3]:
                frm, to, term, shape, *values = payload["msgs"][mid]
                kind, *keys = payload["shapes"][shape]
                msgs.append({"from": names[frm], "to": names[to], "type": kind, "term": term,
                             **dict(zip(keys, values, strict=True))})
            frames.append({"t": t, "event": row[1], "members": members, "in_flight": msgs})
        out.append(frames)
    return out


def _as_shown(frame: Any) -> dict[str, Any]:
    """A frame as the player shows it: ids as strings, simulator-only keys left out."""
    def ids(xs: list[Any]) -> list[str]:
        return [str(x) for x in xs]

    members = {}
    for mid, st in frame["members"].items():
        votes, progress = st.get("votes"), st.get("progress")
        members[str(mid)] = {
            "role": st["role"], "term": st["term"],
            "vote": None if st["vote"] is None else str(st["vote"]),
            "commit": st["commit"], "applied": st["applied"], "up": st["up"],
            "paused": st["paused"], "log": st["log"], "timer": st.get("timer"),
            "votes": votes and {k: ids(v) for k, v in votes.items()},
            "progress": progress and [{**p, "id": str(p["id"])} for p in progress],
        }
    return {"t": frame["t"], "event": frame["event"], "members": members,
            "in_flight": [{**m, "from": str(m["from"]), "to": str(m["to"])}
                          for m in frame["in_flight"]]}


def _simulated() -> dict[str, list[Any]]:
    """Two recorded branches of one cluster under writes: a follower crashes and comes back
    to a compacted log (a snapshot is sent), or the leader is cut off and a follower paused."""
    out: dict[str, list[Any]] = {}
    for name in ("crash", "partition"):
        sim = Simulation(5, seed=2, timing=PAPER, prevote=name == "partition",
                         compact_every=15)
        sim.workload(30, 2000)
        frames = record(sim, 700)
        lead = sim.leader()
        assert lead is not None
        other = next(i for i in sim.members if i != lead)
        if name == "crash":
            sim.crash(other)
            frames += record(sim, 800)[1:]
            sim.restart(other)
        else:
            sim.isolate(lead)
            sim.pause(other)
        frames += record(sim, 1000)[1:]
        out[name] = frames
    return out


@pytest.mark.parametrize("source", ["hand-made", "simulated"])
def test_round_trip_is_lossless(source: str) -> None:
    branches = vf.crash_branches() if source == "hand-made" else _simulated()
    payload = TracePlayer.from_branches(branches).payload()
    decoded = _decode(payload)
    for got, frames in zip(decoded, branches.values(), strict=True):
        assert got == [_as_shown(f) for f in frames]
    if source == "simulated":  # the new fields were exercised, not just absent on both sides
        shown = [m for f in decoded[0] + decoded[1] for m in f["members"].values()]
        assert any(m["votes"] for m in shown) and any(m["progress"] for m in shown)
        assert any(m["paused"] and m["timer"] for m in shown)
        assert any(not m["up"] and m["timer"] is None for m in shown)
        kinds = {m["type"] for f in decoded[0] + decoded[1] for m in f["in_flight"]}
        assert {"MsgPreVote", "MsgVote", "MsgApp", "MsgAppResp", "MsgSnap"} <= kinds


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
    assert payload["msgs"][0] == [0, 2, 0, 0] and payload["shapes"] == [["Msg"]]
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
