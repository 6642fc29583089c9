"""Live mode in the built book, in offline Chromium: take control of a chapter's player at an
arbitrary frame, crash a member no recorded branch crashes, and get the frames CPython gets for
the same actions from the same player data; a planted bug switched on is caught live; the MVCC
and watch chapters' keyspace players write, compact and scrub a store rebuilt in the browser;
the opening's player (a run under load) and the quota chapter's (sizes and alarms) too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from raftlib.sim import Simulation
from raftlib.viz._live import take
from raftlib.viz._player import _Encoder, pack_live, unpack_live
from tests.browser import offline_page

pytestmark = pytest.mark.browser

TABLES = tuple(_Encoder().tables)
# A cold start loads Pyodide and raftlib (a few seconds alone, more on a busy machine).
READY_MS = 120_000

# (page, player title, where to take control as a fraction of the branch's frames)
CASES = [
    ("book/01-elections.html", "Partitions: which side can write?", 0.37),
    ("book/01b-replication.html", "Divergent followers repaired by the leader", 0.55),
    ("book/07-real-etcd.html", "Cutting the leader off, in the simulator", 0.81),
]


def _player(page: Page, title: str) -> Locator:
    player = page.locator(f'.rv-player[aria-label="Trace player: {title}"]')
    expect(player).to_have_count(1)
    expect(player).to_have_attribute("data-ready", "")
    return player


def _payload(player: Locator) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(player.locator("script.rv-data").text_content() or "")
    return data


@contextmanager
def _chapter_player(book_url: str, page_path: str, title: str) -> Iterator[Opened]:
    """A chapter page opened offline with one of its players; on leaving, nothing went wrong
    in the page and nothing was requested outside the site."""
    with offline_page() as (page, log):
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{book_url}/{page_path}", wait_until="networkidle")
        player = _player(page, title)
        payload = _payload(player)
        yield Opened(player, payload, payload["default"], requests)
        assert log.problems() == []
        assert all(u.startswith(book_url) for u in requests), requests


@dataclass
class Opened:
    player: Locator
    payload: dict[str, Any]
    branch: int
    requests: list[str]


def _do(player: Locator, action: str) -> None:
    live = player.locator(".rv-live")
    player.locator(f'.rv-live button[data-action="{action}"]').click()
    expect(live).to_have_attribute("data-live-state", "ready", timeout=READY_MS)


# Every text the live panel's status line shows, kept as it changes.
WATCH_STATUS = """r => {
    r.statusSeen = [];
    new MutationObserver(() => {
        const s = r.querySelector(".rv-live-status, .rv-live-error");
        if (s && r.statusSeen[r.statusSeen.length - 1] !== s.textContent) {
            r.statusSeen.push(s.textContent);
        }
    }).observe(r, {subtree: true, childList: true, characterData: true});
}"""


def _take_control(player: Locator, index: int, state: str = "ready") -> list[str]:
    """Take control at frame ``index``; the status texts shown on the way."""
    player.locator("input.rv-slider").fill(str(index))
    assert player.get_attribute("data-frame-index") == str(index)
    player.evaluate(WATCH_STATUS)
    player.locator("button.rv-take").click()
    expect(player.locator(".rv-live")).to_have_attribute("data-live-state", state,
                                                         timeout=READY_MS)
    seen: list[str] = player.evaluate("r => r.statusSeen")
    return seen


def _browser_live(player: Locator) -> dict[str, Any]:
    out: dict[str, Any] = player.evaluate("""(r, names) => {
        const d = r.raftvizPlayer.data;
        const live = d.branches.find(b => b.label === "live" && !b.live);
        const tables = {};
        for (const name of names) tables[name] = d[name];
        return {frames: live.frames, tables, members: d.members};
    }""", list(TABLES))
    return out


def _cpython_live(payload: dict[str, Any], branch: int, index: int,
                  actions: list[tuple[Any, ...]]) -> tuple[dict[str, Any], list[Any]]:
    """The same take-over and actions in CPython, from the same player data: the data the
    player should then hold, and the last verdict."""
    session = take(payload, branch, index, Simulation.replay)
    deltas = [session.start(), *(session.act(*a) for a in actions)]
    frames = list(payload["branches"][branch]["frames"][:index + 1])
    tables = {name: list(payload[name]) for name in TABLES}
    members = list(payload["members"])
    for d in deltas:
        frames += d["frames"]
        members += d["members"]
        for name in TABLES:
            tables[name] += d["tables"][name]
    return ({"frames": frames, "tables": tables, "members": members},
            deltas[-1].get("violations", []))


@pytest.mark.parametrize(("page_path", "title", "where"), CASES)
def test_take_control_and_crash_a_member_as_cpython_does(
        book_url: str, page_path: str, title: str, where: float) -> None:
    with _chapter_player(book_url, page_path, title) as o:
        assert not any("/_static/live/" in u for u in o.requests), "live mode loaded at once"
        frames = o.payload["branches"][o.branch]["frames"]
        index = int(where * (len(frames) - 1))
        crashed = {a[3] for b in o.payload["branches"]
                   for a in unpack_live(b["live"])["script"]["actions"] if a[2] == "crash"}
        victim = next(m for m in o.payload["members"] if int(m) not in crashed)
        _crash_as_cpython(o, index, victim)


def _crash_as_cpython(o: Opened, index: int, victim: str) -> None:
    """Take control at ``index`` (a cold start), crash ``victim``, advance 1 s: the player
    holds what CPython computes for the same actions, the verdict included."""
    seen = _take_control(o.player, index)
    # The first use shows its progress: Pyodide's stages, then the replay.
    assert any(s.startswith("Live mode, first use: ") for s in seen), seen
    assert any(s.startswith("Replaying the chapter's run up to t = ") for s in seen), seen
    o.player.locator(".rv-live-member").select_option(victim)
    _do(o.player, "crash")
    _do(o.player, "advance-1000")
    expect(o.player.locator(f'g.rv-node[data-member="{victim}"]')).to_have_attribute(
        "data-up", "false")
    want, violations = _cpython_live(o.payload, o.branch, index,
                                     [("crash", victim), ("advance", 1000)])
    got = _browser_live(o.player)
    assert len(got["frames"]) > index + 2
    assert got == want
    assert o.player.locator(".rv-live-verdict").get_attribute("data-violations") == str(
        len(violations))
    assert any(u.endswith("/_static/live/pyodide/pyodide.asm.wasm") for u in o.requests)


def test_take_control_of_the_opening_under_load_as_cpython_does(book_url: str) -> None:
    """The opening's runs have four clients' load (thousands of scheduled calls): every
    member crashes in one of its ten branches, so the reader crashes one that the branch on
    screen keeps up, while two others are down."""
    with _chapter_player(book_url, "book/00-opening.html", "Which two of five crash?") as o:
        branch = o.payload["branches"][o.branch]
        index = int(0.3 * (len(branch["frames"]) - 1))
        crashed = {a[3] for a in unpack_live(branch["live"])["script"]["actions"]
                   if a[2] == "crash"}
        victim = next(m for m in o.payload["members"] if int(m) not in crashed)
        _crash_as_cpython(o, index, victim)


def test_live_quota_recovery_and_alarm_as_cpython_does(book_url: str) -> None:
    """The quota chapter's player, from its NOSPACE frame: the reader compacts,
    defragments, disarms and writes heartbeats again (the frames CPython gets, and those of
    the chapter's own full recovery), then fills the quota until the alarm is back."""
    with _chapter_player(book_url, "book/04-quota.html", "Recovering from NOSPACE") as o:
        player = o.player
        labels = [b["label"] for b in o.payload["branches"]]
        assert labels[o.branch] == "disarm only"
        _take_control(player, 0)
        steps: list[tuple[Any, ...]] = [("compact",), ("defrag",), ("disarm",)]
        for step in steps:
            _do(player, str(step[0]))
        player.locator(".rv-live-key").fill("events/heartbeat")
        player.locator(".rv-live-value").fill("x")
        player.locator(".rv-live-times").fill("8192")
        for _ in range(2):
            _do(player, "put")
            steps.append(("put", "events/heartbeat", "x", 8192))
        want, _ = _cpython_live(o.payload, o.branch, 0, steps)
        got = _browser_live(player)
        assert got == want
        kvs = got["tables"]["kvs"]
        full = o.payload["branches"][labels.index("compact + defrag + disarm")]["frames"]
        assert [(f"you: {f[1]}", o.payload["kvs"][f[5]]) for f in full[1:]] == [
            (f[1], kvs[f[5]]) for f in got["frames"][1:]]
        for _ in range(100):
            _do(player, "put")
            if "refused" in (player.locator(".rv-event").text_content() or ""):
                break
        expect(player.locator(".rv-kv")).to_contain_text("NOSPACE")
        expect(player.locator(".rv-kv")).to_contain_text("database space exceeded")


def test_a_planted_bug_switched_on_is_caught_live(book_url: str) -> None:
    page_path, title, _ = CASES[0]
    with _chapter_player(book_url, page_path, title) as o:
        player = o.player
        index = len(o.payload["branches"][o.branch]["frames"]) - 1
        _take_control(player, index)
        verdict = player.locator(".rv-live-verdict")
        expect(verdict).to_have_attribute("data-violations", "0")
        player.locator(".rv-live-bug").select_option("vote_before_persist")
        expect(player.locator(".rv-live")).to_have_attribute("data-live-state", "ready",
                                                             timeout=READY_MS)
        leader = player.locator('g.rv-node[data-role="leader"]').first.get_attribute(
            "data-member")
        assert leader is not None
        player.locator(".rv-live-member").select_option(leader)
        _do(player, "crash")
        _do(player, "advance-1000")
        _do(player, "advance-1000")
        want, violations = _cpython_live(
            o.payload, o.branch, index, [("bugs", ["vote_before_persist"]), ("crash", leader),
                                         ("advance", 1000), ("advance", 1000)])
        assert {v["rule"] for v in violations} == {"vote_durable"}
        expect(verdict).to_have_attribute("data-violations", str(len(violations)))
        expect(verdict).to_contain_text("vote_durable")
        assert _browser_live(player) == want


@pytest.mark.parametrize(("page_path", "title"), [
    ("book/02-mvcc.html", "config/ keyspace, revision by revision"),
    ("book/03-watch.html", "A prefix watch: replay, then live"),
])
def test_live_revision_history_as_cpython_does(book_url: str, page_path: str,
                                               title: str) -> None:
    with _chapter_player(book_url, page_path, title) as o:
        player = o.player
        frames = o.payload["branches"][o.branch]["frames"]
        index = len(frames) // 2
        shown = frames[index][0]  # the revision on screen
        _take_control(player, index)
        steps: list[tuple[Any, ...]] = [("put", "config/live", "on"), ("delete", "config/a"),
                                        ("compact", shown), ("compact", 1), ("defrag",),
                                        ("scrub", shown), ("scrub", 1)]
        for step in steps:
            if len(step) > 1:
                box = ".rv-live-revision" if step[0] in ("compact", "scrub") else ".rv-live-key"
                player.locator(box).fill(str(step[1]))
            if step[0] == "put":
                player.locator(".rv-live-value").fill(str(step[2]))
            _do(player, str(step[0]))
        want, _ = _cpython_live(o.payload, o.branch, index, steps)
        got = _browser_live(player)
        assert len(got["frames"]) == index + 1 + len(steps)
        assert got == want
        events = [f[1] for f in got["frames"][index + 1:]]
        assert events[0].startswith("you put config/live=on; revision")
        assert events[3].startswith("compact refused: etcdserver: mvcc: required revision")
        expect(player.locator(".rv-event")).to_contain_text("has been compacted")


def test_a_replay_that_differs_from_the_recording_is_shown_as_an_error(book_url: str) -> None:
    page_path, title, where = CASES[0]
    with _chapter_player(book_url, page_path, title) as o:
        # Another seed than the chapter's: the replay cannot reach the recorded frame.
        tampered = []
        for b in o.payload["branches"]:
            live = unpack_live(b["live"]) if "live" in b else None
            if live is not None:
                live["script"]["args"]["seed"] += 1
            tampered.append(None if live is None else pack_live(live))
        o.player.evaluate("(r, lives) => r.raftvizPlayer.data.branches.forEach("
                          "(b, k) => { if (lives[k]) b.live = lives[k]; })", tampered)
        frames = o.payload["branches"][o.branch]["frames"]
        seen = _take_control(o.player, int(where * (len(frames) - 1)), state="error")
        assert "differs from the recorded frame" in seen[-1], seen
        expect(o.player.locator(".rv-live-error")).to_be_visible()
        assert o.player.locator(".rv-live button").count() == 0  # no controls on a wrong run
