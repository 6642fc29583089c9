"""The live panels: each control changes the simulation or store as it says, quickly and
deterministically; the recorded frames play in the kernel-free player."""

from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from raftlib.kv import ErrCompacted, MVCCStore
from raftlib.sim import Simulation
from raftlib.viz import TracePlayer, record
from raftlib.viz._panels import ClusterPanel, RevisionScrubber, keyspace_frames, parse_groups
from tests.browser import INSERT_LIKE_JUPYTERLAB, offline_page

ROOT = Path(__file__).resolve().parents[2]


def _panel(seed: int = 1) -> ClusterPanel:
    return ClusterPanel(Simulation(5, seed=seed))


def _elected(panel: ClusterPanel) -> int:
    """Advance with the 2000 ms button until a leader exists (etcd timing: 1-2 s timeouts)."""
    for _ in range(5):
        if panel.sim.leader() is not None:
            break
        panel.advance_buttons[2000].click()
    lead = panel.sim.leader()
    assert lead is not None
    return lead


def _player_html(panel: ClusterPanel) -> str:
    (out,) = panel.view.outputs
    html: str = out["data"]["text/html"]
    return html


def test_advancing_elects_a_leader_and_records_frames() -> None:
    panel = _panel()
    assert panel.sim.now == 0 and len(panel.recorder.frames) == 1
    panel.advance_buttons[100].click()
    assert panel.sim.now == 100
    lead = _elected(panel)
    assert panel.sim.now % 100 == 0
    frames = panel.recorder.frames
    assert [f["t"] for f in frames] == sorted(f["t"] for f in frames)
    assert any(f"{lead} becomes leader" in f["event"] for f in frames)
    assert frames[-1]["members"][lead]["role"] == "leader"
    assert f"leader {lead}" in panel.status.value
    assert "advance 2000 ms" in panel.actions[-1]


def test_member_buttons_crash_restart_pause_resume() -> None:
    panel = _panel()
    lead = _elected(panel)
    members = panel.sim.members
    panel.member_buttons[("crash", lead)].click()
    assert not members[lead].up
    assert panel.member_buttons[("crash", lead)].disabled
    assert not panel.member_buttons[("restart", lead)].disabled
    assert panel.recorder.frames[-1]["event"] == f"crash {lead}"
    assert panel.recorder.frames[-1]["members"][lead]["up"] is False
    panel.advance_buttons[2000].click()
    new = panel.sim.leader()
    assert new is not None and new != lead  # four of five still elect a leader
    panel.member_buttons[("restart", lead)].click()
    assert members[lead].up
    other = next(m for m in panel.ids if m not in (lead, new))
    panel.member_buttons[("pause", other)].click()
    assert members[other].paused and panel.member_buttons[("resume", other)].disabled is False
    panel.member_buttons[("resume", other)].click()
    assert not members[other].paused


def test_refused_actions_are_logged_not_raised() -> None:
    panel = _panel()
    panel.crash(1)
    frames = len(panel.recorder.frames)
    assert panel.crash(1) == "refused: member 1 is already down"
    assert panel.resume(2) == "refused: member 2 is not paused"
    panel.partition_text.value = "1,2 | 9"
    panel.partition_button.click()
    assert panel.actions[-1].endswith("refused: no member 9 (members: [1, 2, 3, 4, 5])")
    assert panel.advance(0).startswith("refused")
    assert len(panel.recorder.frames) == frames  # a refused action changes nothing


def test_partition_isolate_and_heal() -> None:
    panel = _panel()
    lead = _elected(panel)
    minority = [lead, next(m for m in panel.ids if m != lead)]
    majority = [m for m in panel.ids if m not in minority]
    panel.partition_text.value = " | ".join(",".join(f"n{m}" for m in g)
                                            for g in (minority, majority))
    panel.partition_button.click()
    assert panel.recorder.frames[-1]["partition"] == sorted([sorted(minority), sorted(majority)])
    assert "partition" in panel.status.value
    panel.advance_buttons[2000].click()
    panel.advance_buttons[2000].click()
    new = panel.sim.leader()
    assert new in majority  # CheckQuorum: the old leader stepped down, the majority elected
    panel.heal_button.click()
    assert panel.recorder.frames[-1]["partition"] is None
    panel.member_buttons[("isolate", new)].click()
    groups = panel.recorder.frames[-1]["partition"]
    assert groups is not None and [new] in groups


def test_proposal_commits_and_is_logged() -> None:
    panel = _panel()
    lead = _elected(panel)
    panel.propose_button.click()
    assert panel.actions[-1].endswith(f"propose p0 to leader {lead} at index 2")
    panel.advance_buttons[100].click()
    assert panel.sim.committed(0)
    assert any(re.search(r"p0 committed at index 2$", a) for a in panel.actions)
    last = panel.recorder.frames[-1]["members"][lead]
    assert last["commit"] >= 2 and [2, last["term"], "p0"] in last["log"]


def test_proposal_without_leader_never_commits() -> None:
    panel = _panel()
    assert panel.propose() == "propose p0: no leader, it will never commit"


def test_view_is_a_player_at_the_latest_frame() -> None:
    panel = _panel()
    _elected(panel)
    html = _player_html(panel)
    embedded = re.search(r'class="rv-data">(.*?)</script>', html, re.S)
    assert embedded
    data = json.loads(embedded.group(1))
    assert len(data["branches"][0]["frames"]) == len(panel.recorder.frames)
    assert data["start"] == "last"


def test_max_frames_keeps_the_latest() -> None:
    panel = ClusterPanel(Simulation(5, seed=1), max_frames=50)
    for _ in range(3):
        panel.advance(2000)
    rec = panel.recorder
    assert len(rec.frames) == 50 and rec.dropped > 0
    assert rec.frames[-1]["t"] == 6000
    assert "latest 50 frames" in panel.player().title


def test_changes_outside_the_panel_get_their_own_frame() -> None:
    panel = _panel()
    _elected(panel)
    panel.sim.crash(2)  # a cell driving the simulation directly
    panel.pause(3)
    events = [f["event"] for f in panel.recorder.frames[-2:]]
    assert events == ["outside the panel: 2 crashes", "pause 3"]


def test_first_display_is_deterministic() -> None:
    one, two = _panel(7), _panel(7)
    for p in (one, two):
        p.advance(2000)
        p.crash(1)
        p.propose()
        p.advance(500)
    assert _player_html(one) == _player_html(two)
    assert one.status.value == two.status.value and one.log.value == two.log.value
    bundle = one._repr_mimebundle_()
    assert bundle["text/plain"] == "ClusterPanel('Cluster', members=[1, 2, 3, 4, 5], seed=7)"
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_every_ms_records_at_a_fixed_granularity() -> None:
    frames = record(Simulation(5, seed=1), 1000, every_ms=100)
    assert [f["t"] for f in frames] == list(range(0, 1001, 100))
    assert frames[0]["event"] == "start"


def test_record_plays_in_the_player() -> None:
    frames = record(Simulation(3, seed=2), 3000)
    assert frames[0]["t"] == 0 and frames[-1]["t"] <= 3000
    assert all(f["event"] for f in frames)
    html = TracePlayer(frames, title="Election").to_html()
    assert html == TracePlayer(record(Simulation(3, seed=2), 3000), title="Election").to_html()


def test_parse_groups() -> None:
    assert parse_groups("n1, n2 | 3 4 5", range(1, 6)) == [[1, 2], [3, 4, 5]]
    for bad, why in (("1,2", "at least two"), ("1 | x", "not a member"),
                     ("1 | 1", "two groups"), ("1 | 7", "no member 7")):
        with pytest.raises(ValueError, match=why):
            parse_groups(bad, range(1, 6))


def test_actions_answer_within_200_ms() -> None:
    """The one wall-clock measurement of the suite: the panel must feel live."""
    panel = _panel()
    lead = _elected(panel)
    others = [m for m in panel.ids if m != lead]
    actions: list[Any] = [
        panel.propose_button.click,
        panel.advance_buttons[500].click,
        panel.member_buttons[("crash", others[0])].click,
        panel.advance_buttons[2000].click,
        panel.member_buttons[("restart", others[0])].click,
        panel.member_buttons[("pause", others[1])].click,
        panel.advance_buttons[100].click,
        panel.member_buttons[("resume", others[1])].click,
        panel.partition_button.click,
        panel.advance_buttons[2000].click,
        panel.heal_button.click,
        panel.advance_buttons[2000].click,
    ]
    took = []
    for act in actions * 3:
        start = time.perf_counter()
        act()
        took.append(time.perf_counter() - start)
    assert statistics.median(took) < 0.2, took


@pytest.mark.browser
def test_player_opens_at_the_latest_frame_in_chromium() -> None:
    from playwright.sync_api import expect

    panel = _panel()
    _elected(panel)
    panel.crash(1)
    last = len(panel.recorder.frames) - 1
    with offline_page() as (page, log):
        page.set_content("<!doctype html><html><body></body></html>")
        page.evaluate(INSERT_LIKE_JUPYTERLAB, _player_html(panel))
        root = page.locator(".rv-player")
        expect(root).to_have_attribute("data-frame-index", str(last))
        expect(root.locator(".rv-event")).to_have_text("crash 1")
        root.locator("input.rv-slider").fill("0")  # the reader can still scrub back
        expect(root).to_have_attribute("data-frame-index", "0")
    assert log.problems() == []


# --------------------------------------------------------------------- MVCC


@pytest.fixture
def store() -> MVCCStore:
    s = MVCCStore()
    s.put(b"a", b"1")  # 2
    s.put(b"b", b"x")  # 3
    s.put(b"a", b"2")  # 4
    s.delete_range(b"b")  # 5
    s.put(b"c", b"3")  # 6
    s.put(b"b", b"y")  # 7: a new generation of b
    return s


def _rows(html: str) -> list[list[str]]:
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html)
            if "<td>" in row]


def test_scrubber_shows_past_revisions(store: MVCCStore) -> None:
    scrub = RevisionScrubber(store)
    assert (scrub.slider.min, scrub.slider.max, scrub.revision) == (1, 7, 7)
    scrub.slider.value = 3
    assert _rows(scrub.view.value) == [["a", "1", "2", "2", "1"], ["b", "x", "3", "3", "1"]]
    assert "events: PUT b = x" in scrub.view.value
    scrub.slider.value = 5
    assert _rows(scrub.view.value) == [["a", "2", "2", "4", "2"]]
    assert "events: DELETE b" in scrub.view.value
    scrub.slider.value = 7
    assert ["b", "y", "7", "7", "1"] in _rows(scrub.view.value)
    scrub.slider.value = 1
    assert "no keys" in scrub.view.value and "events: none" in scrub.view.value


def test_scrubber_shows_etcds_error_below_the_compacted_revision(store: MVCCStore) -> None:
    scrub = RevisionScrubber(store)
    store.compact(5)
    store.put(b"d", b"4")  # 8
    scrub.show(4)
    assert ErrCompacted.message in scrub.view.value
    assert ErrCompacted.message == "etcdserver: mvcc: required revision has been compacted"
    scrub.show(5)  # the compacted revision itself is still readable
    assert ErrCompacted.message not in scrub.view.value
    assert _rows(scrub.view.value) == [["a", "2", "2", "4", "2"]]
    scrub.show(8)
    assert scrub.slider.max == 8 and ["d", "4", "8", "8", "1"] in _rows(scrub.view.value)


def test_keyspace_frames_match_the_scrubber(store: MVCCStore) -> None:
    store.compact(3)
    frames = keyspace_frames(store)
    assert [f["t"] for f in frames] == list(range(1, 8))
    assert frames[0]["kv"]["error"] == ErrCompacted.message and frames[0]["kv"]["keys"] == []
    assert frames[3]["event"] == "revision 4: PUT a = 2"
    assert frames[3]["kv"]["keys"][0] == {"key": "a", "value": "2", "create_revision": 2,
                                          "mod_revision": 4, "version": 2}
    assert frames[3]["kv"]["compact_revision"] == 3
    assert RevisionScrubber(store).frames() == frames
    html = TracePlayer(frames, title="Revisions").to_html()
    assert ErrCompacted.message in html


def test_scrubber_text_is_deterministic(store: MVCCStore) -> None:
    bundle = RevisionScrubber(store)._repr_mimebundle_()
    assert bundle["text/plain"] == "RevisionScrubber('Revisions', revisions=1..7)"


# --------------------------------------------------------------------- in a kernel


def test_panel_runs_in_a_notebook(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    cells = [
        f"import sys\nsys.path.insert(0, {str(ROOT)!r})",
        "from raftlib.sim import Simulation\n"
        "from raftlib.viz._panels import ClusterPanel\n"
        "panel = ClusterPanel(Simulation(5, seed=1))\npanel",
        "panel.advance_buttons[2000].click()\npanel.crash(1)\nprint(panel.status_line())",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"]
    shown = nb.cells[1].outputs[0]["data"]
    assert shown["text/plain"] == "ClusterPanel('Cluster', members=[1, 2, 3, 4, 5], seed=1)"
    assert "application/vnd.jupyter.widget-view+json" in shown
    assert "1: down" in nb.cells[2].outputs[0]["text"]


def test_panel_on_a_replicated_cluster_writes_through_the_stores() -> None:
    from raftlib.sim import SimCluster

    cluster = SimCluster(5, seed=1)
    panel = ClusterPanel(cluster, title="KV")
    panel.advance(2000)
    panel.propose()
    panel.advance(500)
    values = set()
    for mid in cluster.members:
        sm = cluster.store(mid)
        assert sm is not None
        values.add(sm.store.range(b"panel").kvs[0].value)
    assert values == {b"w0"}


# --------------------------------------------------------------------- widget threads


def _on_another_thread(fn: Any) -> None:
    """Call ``fn`` on a new thread, as ipykernel 7 runs a widget's click when JupyterLab sends
    comm messages over a kernel subshell; re-raise what it raised."""
    import threading

    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # handed back to the test's thread
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if errors:
        raise errors[0]


def test_clicks_from_another_thread_drive_a_replicated_cluster() -> None:
    from raftlib.sim import SimCluster

    cluster = SimCluster(5, seed=1)  # made here, on the "cell" thread
    panel = ClusterPanel(cluster, title="KV")
    _on_another_thread(panel.advance_buttons[2000].click)
    lead = panel.sim.leader()
    assert lead is not None
    _on_another_thread(panel.member_buttons[("crash", lead)].click)
    _on_another_thread(panel.advance_buttons[2000].click)
    _on_another_thread(panel.member_buttons[("restart", lead)].click)
    _on_another_thread(panel.partition_button.click)
    _on_another_thread(panel.heal_button.click)
    _on_another_thread(panel.advance_buttons[2000].click)
    _on_another_thread(panel.propose_button.click)
    _on_another_thread(panel.advance_buttons[500].click)
    values = set()
    for mid in cluster.members:  # read back on the thread that made the stores
        sm = cluster.store(mid)
        assert sm is not None
        values.add(sm.store.range(b"panel").kvs[0].value)
    assert values == {b"w0"}
    assert not any("refused" in a for a in panel.actions)


def test_scrubber_slider_moved_from_another_thread(store: MVCCStore) -> None:
    scrub = RevisionScrubber(store)

    def move() -> None:
        scrub.slider.value = 3

    _on_another_thread(move)
    assert _rows(scrub.view.value) == [["a", "1", "2", "2", "1"], ["b", "x", "3", "3", "1"]]
