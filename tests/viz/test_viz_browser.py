"""The trace player in a real headless Chromium: scrub, step, play, branch, details, isolation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import viz_frames as vf

from raftlib.viz import TracePlayer
from tests.browser import INSERT_LIKE_JUPYTERLAB, offline_page, serve

SCREENSHOT = Path(__file__).resolve().parents[2] / "_build" / "screenshots" / "viz-player.png"


@pytest.fixture
def page_url(tmp_path: Path) -> Iterator[str]:
    """A standalone page with three players (branches, partition, keyspace), served locally."""
    players = [
        TracePlayer.from_branches(vf.crash_branches(), default="crash n1+n2",
                                  title="Five members: which two crash?"),
        TracePlayer(vf.partitioned(), title="Three members, n1 partitioned away"),
        TracePlayer(vf.revisions(), title="Keyspace history"),
    ]
    body = "\n".join(p.to_html() for p in players)
    (tmp_path / "index.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>players</title>'
        '</head><body style="margin:16px;background:#fff">' + body + "</body></html>",
        encoding="utf-8")
    with serve(tmp_path) as url:
        yield f"{url}/index.html"


def _members(root: Any) -> dict[str, tuple[str, str, str]]:
    """member id -> (role, term, up) as the player currently shows them."""
    nodes = root.locator("g.rv-node")
    return {
        nodes.nth(k).get_attribute("data-member"): (
            nodes.nth(k).get_attribute("data-role"), nodes.nth(k).get_attribute("data-term"),
            nodes.nth(k).get_attribute("data-up"))
        for k in range(nodes.count())
    }


@pytest.mark.browser
def test_players_in_chromium(page_url: str) -> None:
    from playwright.sync_api import expect

    with offline_page(1000, 900) as (page, log):
        page.goto(page_url)

        roots = page.locator(".rv-player")
        expect(roots).to_have_count(3)
        a, b, kv = roots.nth(0), roots.nth(1), roots.nth(2)
        for root in (a, b, kv):
            expect(root).to_have_attribute("data-ready", "")
            expect(root.locator(".rv-fallback")).to_have_count(0)
        assert a.get_attribute("id") != b.get_attribute("id")
        n_a = len(vf.crash_branches()["crash n1+n2"])

        # Scrubbing: the slider moves the frame and what the members show.
        start = _members(a)
        assert set(start.values()) == {("follower", "1", "true")}
        a.locator("input.rv-slider").fill("4")
        expect(a).to_have_attribute("data-frame-index", "4")
        assert _members(a)["n1"] == ("leader", "2", "true")
        assert "n1 becomes leader" in a.locator(".rv-event").inner_text()

        # Step buttons and arrow keys.
        a.get_by_role("button", name="Step forward one event").click()
        expect(a).to_have_attribute("data-frame-index", "5")
        a.get_by_role("button", name="Step back one event").click()
        a.get_by_role("button", name="Step back one event").click()
        expect(a).to_have_attribute("data-frame-index", "3")
        assert _members(a)["n1"] == ("candidate", "2", "true")
        a.focus()
        page.keyboard.press("ArrowRight")
        expect(a).to_have_attribute("data-frame-index", "4")
        page.keyboard.press("ArrowLeft")
        expect(a).to_have_attribute("data-frame-index", "3")

        # Playing advances on its own, at the chosen speed; pausing stops it.
        a.get_by_label("Playback speed").select_option("4")
        a.get_by_role("button", name="Play").click()
        page.wait_for_function(
            "el => Number(el.getAttribute('data-frame-index')) >= 7", arg=a.element_handle(),
            timeout=5000)
        a.get_by_role("button", name="Pause").click()
        paused_at = a.get_attribute("data-frame-index")
        page.wait_for_timeout(400)
        assert a.get_attribute("data-frame-index") == paused_at

        # Branches: the same moment ends differently.
        a.focus()
        page.keyboard.press("End")
        expect(a).to_have_attribute("data-frame-index", str(n_a - 1))
        end_1 = _members(a)
        assert end_1["n1"][2] == "false" and end_1["n3"][0] == "leader"
        a.get_by_role("radio", name="crash n3+n4").check()
        expect(a).to_have_attribute("data-branch", "crash n3+n4")
        page.keyboard.press("End")
        end_2 = _members(a)
        assert end_2["n1"] == ("leader", "2", "true") and end_2["n3"][2] == "false"
        assert a.locator('g.rv-node[data-member="n5"]').get_attribute("data-paused") == "true"

        # Details on click: a member, then a message, then a log entry.
        a.locator('g.rv-node[data-member="n2"]').click()
        details = a.locator(".rv-details")
        expect(details).to_contain_text("Member n2")
        expect(details).to_contain_text("follower")
        a.locator("input.rv-slider").fill("2")
        a.locator(".rv-msg-item").first.click()
        expect(details).to_contain_text("MsgVote n1 → n2")
        a.locator("input.rv-slider").fill("8")
        a.locator('.rv-log-row[data-member="n1"] .rv-cell').first.click()
        expect(details).to_contain_text("Entry 1 of n1")

        # The other players did not move, and they work on their own.
        expect(b).to_have_attribute("data-frame-index", "0")
        expect(kv).to_have_attribute("data-frame-index", "0")
        b.locator("input.rv-slider").fill("10")
        expect(b).to_have_attribute("data-frame-index", "10")
        expect(b.locator(".rv-cut")).to_have_count(1)
        expect(a).to_have_attribute("data-frame-index", "8")
        b.get_by_role("button", name="Step forward one event").click()

        # The keyspace table follows the revision.
        expect(kv.locator(".rv-table tbody tr")).to_have_count(1)
        kv.locator("input.rv-slider").fill("2")
        expect(kv.locator(".rv-section").last).to_contain_text("revision 4")
        expect(kv.locator('tr[data-key="a"] td').nth(1)).to_have_text("2")

        # An output added later the way JupyterLab renders it: markup first (its scripts
        # inert), then each script re-created; a second copy of the player code is harmless.
        page.evaluate(INSERT_LIKE_JUPYTERLAB, TracePlayer(vf.election(3)).to_html())
        late = page.locator(".rv-player").nth(3)
        expect(late).to_have_attribute("data-ready", "")
        late.get_by_role("button", name="Step forward one event").click()
        expect(late).to_have_attribute("data-frame-index", "1")
        expect(a).to_have_attribute("data-frame-index", "8")

        a.locator("input.rv-slider").fill("6")
        a.locator('g.rv-node[data-member="n1"]').click()
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert log.problems() == []


# ----- legibility: terms spelled out, readable log windows, a narrow screen, crashed members

# Every ruler label's text box, and every cell's box and text, of one player's log grid.
_LOG_GEOMETRY = """root => {
    const box = node => {
        const range = document.createRange();
        range.selectNodeContents(node);
        const r = range.getBoundingClientRect();
        return { text: node.textContent, left: r.left, right: r.right };
    };
    return {
        ticks: [...root.querySelectorAll(".rv-ruler .rv-tick")].map(box),
        cells: [...root.querySelectorAll(".rv-log-row[data-member] .rv-cell")].map(c => ({
            member: c.closest(".rv-log-row").dataset.member, text: c.textContent,
            width: c.getBoundingClientRect().width })),
        gaps: root.querySelectorAll(".rv-log-row[data-member] .rv-gap").length,
    };
}"""


def _legibility_page(tmp_path: Path) -> Path:
    players = [
        TracePlayer.from_branches(vf.crash_branches(), default="crash n1+n2",
                                  title="Five members: which two crash?"),
        TracePlayer(vf.lagging(300), title="n5 far behind", start="last"),
        TracePlayer(vf.lagging(1200), title="thousands of entries", start="last"),
        TracePlayer(vf.long_trace(400, 5, 100), title="long, whole logs", start="last"),
    ]
    (tmp_path / "index.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>p</title>'
        '</head><body style="margin:16px;background:#fff">'
        + "\n".join(p.to_html() for p in players) + "</body></html>", encoding="utf-8")
    return tmp_path


def _assert_log_grid_readable(page: Any, root: Any, where: str) -> None:
    geo = page.evaluate(_LOG_GEOMETRY, root.element_handle())
    ticks = sorted(geo["ticks"], key=lambda t: t["left"])
    assert len(ticks) >= 2, where
    for a, b in pairwise(ticks):
        assert a["right"] <= b["left"], f"{where}: ruler labels {a} and {b} overlap"
    assert geo["cells"], where
    for cell in geo["cells"]:
        # Wide enough to carry its term number, and carrying it: no slivers.
        assert cell["width"] >= 15 and cell["text"].isdigit(), f"{where}: {cell}"


@pytest.mark.browser
def test_player_is_legible_in_chromium(tmp_path: Path) -> None:
    with serve(_legibility_page(tmp_path)) as url, offline_page(1000, 900) as (page, log):
        page.goto(f"{url}/index.html")
        roots = page.locator(".rv-player")
        crash, far, huge, whole = (roots.nth(k) for k in range(4))

        # Terms read "term 2", never "t2" (t is the clock's letter).
        crash.locator("input.rv-slider").fill("8")
        n1 = crash.locator('g.rv-node[data-member="n1"]')
        assert "term 2" in (n1.text_content() or "")
        crash.locator("input.rv-slider").fill("6")
        shown = (crash.locator("svg.rv-stage").text_content() or "") + " ".join(
            crash.locator(".rv-msg-item").all_text_contents())
        assert "term 2" in " ".join(crash.locator(".rv-msg-item").all_text_contents())
        assert re.search(r"\bt\d", shown) is None, shown

        # Far-apart logs: a window of readable cells around each tail, gaps marked, and ruler
        # labels that do not collide, also with four-digit indexes and with whole long logs.
        for root, where in ((far, "300"), (huge, "1200"), (whole, "whole logs")):
            _assert_log_grid_readable(page, root, where)
        for root in (far, huge):
            geo = page.evaluate(_LOG_GEOMETRY, root.element_handle())
            assert geo["gaps"] == 5  # one marked gap per member row
            # The crashed member far behind keeps its own entries in view.
            assert [c["text"] for c in geo["cells"] if c["member"] == "n5"] == ["2"] * 8

        # A crashed member's details do not claim it applied nothing.
        far.locator('g.rv-node[data-member="n5"]').click()
        details = far.locator(".rv-details")
        text = details.inner_text()
        assert "Member n5" in text and "crashed" in text
        applied = far.locator(".rv-details dt", has_text="applied")
        assert applied.count() == 1
        value = applied.locator("xpath=following-sibling::dd[1]").inner_text()
        assert value != "0" and "not running" in value
        assert "crashed" in (far.locator('g.rv-node[data-member="n5"]').text_content() or "")
    assert log.problems() == []


@pytest.mark.browser
def test_player_fits_a_phone_screen(tmp_path: Path) -> None:
    with serve(_legibility_page(tmp_path)) as url, offline_page(390, 800) as (page, log):
        page.goto(f"{url}/index.html")
        roots = page.locator(".rv-player")
        for k in range(roots.count()):
            assert roots.nth(k).get_attribute("data-ready") == ""
        # Nothing is wider than the screen: the control bar wraps instead.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        for k in range(roots.count()):
            root = roots.nth(k)
            bar = root.locator(".rv-bar")
            fit = bar.evaluate("b => [b.scrollWidth, b.clientWidth]")
            assert fit[0] <= fit[1], f"player {k}: control bar overflows {fit}"
            outer = bar.bounding_box()
            assert outer and outer["x"] >= 0 and outer["x"] + outer["width"] <= 390
            # The clock is whole, inside the bar, and at its normal size.
            clock = root.locator(".rv-clock")
            box = clock.bounding_box()
            assert box and outer["x"] <= box["x"] and box["x"] + box["width"] <= (
                outer["x"] + outer["width"])
            assert clock.evaluate("c => c.scrollWidth <= c.clientWidth")
            assert clock.evaluate("c => parseFloat(getComputedStyle(c).fontSize)") >= 12
            assert " ms · " in clock.inner_text()
        # The stage shrinks to the screen, its labels less so: about 9.5px, not 7.
        on_screen = roots.nth(1).locator("g.rv-node .rv-sub").first.evaluate(
            "t => parseFloat(getComputedStyle(t).fontSize)"
            " * t.ownerSVGElement.getBoundingClientRect().width"
            " / t.ownerSVGElement.viewBox.baseVal.width")
        assert on_screen >= 9, on_screen
        # The log windows stay readable on a narrow screen too.
        for k, where in ((1, "300 at 390px"), (2, "1200 at 390px"), (3, "whole at 390px")):
            _assert_log_grid_readable(page, roots.nth(k), where)
        page.screenshot(path=str(SCREENSHOT.with_name("viz-player-390.png")), full_page=True)
    assert log.problems() == []


# ----- what a recorded simulation adds: message contents, timers, tallies, progress


def _first(frames: list[Any], test: Any) -> int:
    return next(i for i, f in enumerate(frames) if test(f))


@pytest.mark.browser
def test_player_shows_what_messages_carry_timers_tallies_and_progress(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from raftlib.sim import Simulation
    from raftlib.viz import record

    sim = Simulation(5, seed=28)  # an election in which some votes are refused
    sim.workload(10, 3000)
    frames: list[Any] = record(sim, 3000)
    (tmp_path / "index.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>p</title></head>'
        '<body style="margin:16px;background:#fff">'
        + TracePlayer(frames, title="recorded").to_html() + "</body></html>", encoding="utf-8")
    with serve(tmp_path) as url, offline_page(1000, 900) as (page, log):
        page.goto(f"{url}/index.html")
        root = page.locator(".rv-player")
        slider, details = root.locator("input.rv-slider"), root.locator(".rv-details")

        # A candidate shows its tally; a refused vote in flight says so when clicked.
        i = _first(frames, lambda f: any(m.get("granted") is False for m in f["in_flight"]))
        slider.fill(str(i))
        for mid, st in frames[i]["members"].items():
            node = root.locator(f'g.rv-node[data-member="{mid}"]')
            if st["votes"]:
                v = st["votes"]
                counts = [len(v["granted"]), len(v["refused"]), len(v["voters"])]
                expect(node).to_have_attribute("data-votes", "/".join(map(str, counts)))
                expect(node.locator(".rv-tally")).to_have_text(
                    f"{counts[0]}\u2713 {counts[1]}\u2717 of {counts[2]}")
            else:
                expect(node.locator(".rv-tally")).to_have_count(0)
        assert any(st["votes"] for st in frames[i]["members"].values())
        k, refused = next((k, m) for k, m in enumerate(frames[i]["in_flight"])
                          if m.get("granted") is False)
        item = root.locator(".rv-msg-item").nth(k)
        expect(item).to_contain_text("MsgVoteResp")
        expect(item).to_contain_text("refused")
        item.click()
        expect(details).to_contain_text(f"MsgVoteResp {refused['from']} → {refused['to']}")
        vote = details.locator("dt", has_text="vote").locator("xpath=following-sibling::dd[1]")
        expect(vote).to_have_text("refused")

        # An append clicked on the stage: previous index and term, entries, commit.
        i = _first(frames, lambda f: any(m["type"] == "MsgApp" and m["entries"]
                                         for m in f["in_flight"]))
        slider.fill(str(i))
        k, app = next((k, m) for k, m in enumerate(frames[i]["in_flight"])
                      if m["type"] == "MsgApp" and m["entries"])
        root.locator("g.rv-msg").nth(k).dispatch_event("click")
        expect(details).to_contain_text(f"MsgApp {app['from']} → {app['to']}")
        shown = dict(zip(details.locator("dt").all_inner_texts(),
                         details.locator("dd").all_inner_texts(), strict=True))
        assert (shown["prev index"], shown["prev term"], shown["entries"], shown["commit"]) == (
            str(app["prev_index"]), str(app["prev_term"]), str(app["entries"]),
            str(app["commit"]))

        # The leader's details: matchIndex and nextIndex of every follower, as its core had
        # them; every member's timer arc as far through as its frame says.
        i = len(frames) - 1
        slider.fill(str(i))
        lead, st = next((mid, st) for mid, st in frames[i]["members"].items() if st["progress"])
        root.locator(f'g.rv-node[data-member="{lead}"]').click()
        rows = details.locator(".rv-progress tbody tr")
        expect(rows).to_have_count(len(st["progress"]))
        for p in st["progress"]:
            cells = details.locator(f'.rv-progress tr[data-peer="{p["id"]}"] td')
            assert cells.all_inner_texts() == [str(p["id"]), str(p["match"]), str(p["next"]),
                                               p["state"]]
        expect(details).to_contain_text(f"heartbeat {st['timer'][0]} of {st['timer'][1]} ms")
        for mid, m in frames[i]["members"].items():
            node = root.locator(f'g.rv-node[data-member="{mid}"]')
            expect(node).to_have_attribute("data-timer",
                                           f"{min(1, m['timer'][0] / m['timer'][1]):.3f}")
    assert log.problems() == []


@pytest.mark.browser
def test_take_control_is_offered_only_on_a_book_page(tmp_path: Path) -> None:
    """A replayable player offers "Take control" where the page has a ``_static/`` folder (a
    built book holds live mode there); in JupyterLab or a bare page it does not."""
    from raftlib.sim import Simulation
    from raftlib.viz import record

    player = TracePlayer(record(Simulation(3, seed=1), 300), title="Replayable").to_html()
    plain = TracePlayer(vf.partitioned(), title="Not replayable").to_html()
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "page.js").write_text("// a book page's script\n")
    for name, head in (("bare.html", ""), ("book.html", '<script src="_static/page.js"></script>')):
        (tmp_path / name).write_text(
            f'<!doctype html><html><head><meta charset="utf-8">{head}</head><body>'
            f"{player}{plain}</body></html>", encoding="utf-8")
    with serve(tmp_path) as url, offline_page() as (page, log):
        page.goto(f"{url}/bare.html")
        assert page.locator(".rv-player[data-ready]").count() == 2
        assert page.locator("button.rv-take").count() == 0
        page.goto(f"{url}/book.html")
        assert page.locator(".rv-player[data-ready]").count() == 2
        takes = page.locator("button.rv-take")
        assert takes.count() == 1
        assert page.locator('.rv-player[aria-label="Trace player: Replayable"] button.rv-take'
                            ).count() == 1
        page.goto(f"{url}/bare.html")
        page.evaluate(INSERT_LIKE_JUPYTERLAB, player)
        assert page.locator(".rv-player[data-ready]").count() == 3
        assert page.locator("button.rv-take").count() == 0
    assert log.problems() == []
