"""Live mode in CPython: a recorded run replays event for event up to any frame, the replay is
checked against the recorded frame, and a reader's actions and planted bugs work from there;
a keyspace player's store is rebuilt from its script and takes writes.
The browser runs the same code in Pyodide (tests/book/test_live_book.py compares the two)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from raftlib.chapters.elections import partition_story
from raftlib.chapters.opening import opening_run
from raftlib.chapters.quota import recovery_frames, run_writer
from raftlib.chapters.real_etcd import isolation_frames
from raftlib.chapters.replication import divergent_followers, figure8_frames
from raftlib.kv import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    MVCCStore,
    PutRequest,
)
from raftlib.kv._script import decode_request, encode
from raftlib.raft import PAPER, LocalError
from raftlib.sim import SimCluster, Simulation
from raftlib.viz import TracePlayer, keyspace_frames, record
from raftlib.viz._live import LiveSession, LiveStore, take
from raftlib.viz._panels import STORE_SCRIPT_BYTES
from raftlib.viz._player import _Encoder, pack_live, unpack_live


def _payload(frames: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(TracePlayer(frames).payload()))
    return data


STORIES = {
    "elections: partition": lambda: partition_story(5, 2).frames,
    "replication: divergent followers": lambda: divergent_followers().frames,
    "replication: Figure 8, buggy": lambda: figure8_frames(buggy=True),
    # A SimCluster with a client: its callbacks schedule calls in the middle of deliveries.
    "real etcd: isolation in the simulator": lambda: isolation_frames(1),
    # Five members under four clients' load (thousands of scheduled calls), two then a third
    # crashed and restarted, a frame every 100 ms.
    "opening: crash n3 + n4": lambda: opening_run((3, 4)).frames,
    "opening: crash n1 + n5": lambda: opening_run((1, 5)).frames,
}


@pytest.mark.parametrize("story", STORIES)
def test_every_sampled_frame_replays_exactly(story: str) -> None:
    payload = _payload(STORIES[story]())
    frames = payload["branches"][0]["frames"]
    picks = sorted({0, len(frames) - 1, *random.Random(story).sample(range(len(frames)), 6)})
    for index in picks:
        session = LiveSession(payload, 0, index, Simulation.replay)
        assert session.error is None, (story, index)
        # The take-over frame is the recorded one: same time and state, and the same timer and
        # progress changes from the frame before it.
        encoder = _Encoder.resume(payload, 0, index)
        t = frames[index - 1][0] if index else 0
        row = json.loads(json.dumps(encoder.frame(session.recorder.frames[-1], t)))
        assert [row[0], *row[2:]] == [frames[index][0], *frames[index][2:]]


def test_a_script_that_does_not_match_the_run_is_reported() -> None:
    payload = _payload(partition_story(5, 2).frames)
    live = unpack_live(payload["branches"][0]["live"])
    live["script"]["args"]["seed"] += 1  # another run than the recorded one
    payload["branches"][0]["live"] = pack_live(live)
    session = LiveSession(payload, 0, len(payload["branches"][0]["frames"]) - 1,
                          Simulation.replay)
    assert session.error is not None and "differs from the recorded frame" in session.error
    with pytest.raises(RuntimeError, match="differs"):
        session.act("crash", 1)


def test_replay_follows_the_whole_trace_byte_for_byte() -> None:
    c = SimCluster(3, seed=4)
    c.wait(2000)
    for i in range(3):
        c.client(1 + i).put(b"k", f"v{i}".encode())
    c.crash(c.leader() or 1)
    c.wait(1500)
    c.client(2).put(b"k", b"after")
    assert c.sim.script is not None
    script = json.loads(json.dumps(c.sim.script))
    again = Simulation.replay(script, (*c.sim.position()[:2], c.sim.now))
    assert again.trace_json() == c.sim.trace_json()
    # A different script leaves the run it claims: the replay says so.
    script["actions"] = script["actions"][1:]
    with pytest.raises(LocalError, match="left its script"):
        Simulation.replay(script, (*c.sim.position()[:2], c.sim.now))


def test_an_action_inside_a_delivery_makes_the_run_unreplayable() -> None:
    sim = Simulation(3, seed=1, timing=PAPER)
    frames = record(sim, 100)
    assert sim.script is not None and "live" in TracePlayer(frames).payload()["branches"][0]
    sim.on_applied(lambda mid, entry, result: sim.heal())  # acts inside the core's Ready
    sim.run_until(lambda: sim.leader() is not None, 3000)
    sim.propose(b"x")
    sim.run_for(200)
    assert sim.script is None
    assert "live" not in TracePlayer(frames).payload()["branches"][0]
    assert "live" not in TracePlayer(list(frames)).payload()["branches"][0]


def test_reader_actions_and_a_planted_bug_switched_on_live() -> None:
    payload = _payload(partition_story(5, 2).frames)
    frames = payload["branches"][0]["frames"]
    session = LiveSession(payload, 0, len(frames) // 3, Simulation.replay)
    start = session.start()
    assert start["violations"] == [] and "vote_before_persist" in start["bugs"]
    assert start["ids"] == ["1", "2", "3", "4", "5"] and start["planted"] == []
    for action in (("crash", 3), ("advance", 300), ("restart", 3), ("pause", 2),
                   ("resume", 2), ("isolate", 4), ("heal",), ("propose", "x=1"),
                   ("partition", [[1, 2], [3, 4, 5]]), ("heal",), ("campaign", 5),
                   ("advance", 1000)):
        delta = session.act(*action)
        assert delta["frames"], action
    assert delta["violations"] == []
    session.act("bugs", ["vote_before_persist"])
    lead = session.sim.leader()
    assert lead is not None
    session.act("crash", lead)
    delta = session.act("advance", 2000)
    assert {v["rule"] for v in delta["violations"]} == {"vote_durable"}


def test_players_carry_small_replay_scripts() -> None:
    story = partition_story(5, 2)
    html = TracePlayer(story.frames).to_html()
    live = TracePlayer(story.frames).payload()["branches"][0]["live"]
    size = len(json.dumps(live, separators=(",", ":")))
    assert size < 0.05 * len(html), (size, len(html))


def _store() -> MVCCStore:
    store = MVCCStore()
    for i in range(8):
        store.put(f"config/{i % 3}".encode(), f"v{i}".encode())
    store.txn([Compare(b"config/0", CompareTarget.VALUE, CompareResult.EQUAL, b"v6")],
              [PutRequest(b"config/x", b"\xff\x00"), DeleteRangeRequest(b"config/1")])
    store.compact(5)
    return store


def test_a_store_replays_from_its_script_exactly() -> None:
    store = _store()
    assert store.script is not None
    again = MVCCStore.replay(json.loads(json.dumps(store.script)))
    assert list(again.backend.rows()) == list(store.backend.rows())
    assert (again.revision, again.compact_revision) == (store.revision, store.compact_revision)
    assert MVCCStore.replay(store.script, 3).revision == 4
    store.load_bytes(store.to_bytes())  # a state from elsewhere cannot be replayed
    assert store.script is None


def test_keyspace_players_rebuild_their_store_and_take_writes() -> None:
    store = _store()
    payload = _payload(keyspace_frames(store))
    frames = payload["branches"][0]["frames"]
    for index in range(len(frames)):
        live = take(payload, 0, index, Simulation.replay)
        assert isinstance(live, LiveStore) and live.error is None, index
    start = live.start()
    assert start["kind"] == "store" and start["frames"] == []
    put = live.act("put", "config/new", "1")["frames"][0]
    assert put[1].startswith(f"you put config/new=1; revision {store.revision + 1}: PUT")
    refused = live.act("compact", 2)["frames"][0]
    assert refused[1].startswith("compact refused: etcdserver: mvcc: required revision")
    assert "compacted" in live.act("scrub", 3)["frames"][0][1]
    # A store that is not the recorded one is caught by the frame check.
    live = unpack_live(payload["branches"][0]["live"])
    live["script"]["requests"].pop(0)
    payload["branches"][0]["live"] = pack_live(live)
    assert take(payload, 0, len(frames) - 1, Simulation.replay).error is not None


def test_a_store_with_big_writes_gets_no_live_mode() -> None:
    store = MVCCStore()
    store.put(b"big", bytes(range(256)) * 160)  # not one byte repeated: no compact form
    assert "live" not in TracePlayer(keyspace_frames(store)).payload()["branches"][0]


def test_snapshots_of_a_changing_store_replay_each_at_its_moment() -> None:
    """The watch chapter collects frames while the store changes: each frame is rebuilt from
    the requests applied when it was taken; a chapter's annotation (a watcher's state) is kept
    but not replayed."""
    store = MVCCStore()
    frames = keyspace_frames(store, [])
    for i in range(4):
        store.put(b"k", f"v{i}".encode())
        frames += keyspace_frames(store, [store.revision])
        frames[-1]["kv"]["watcher"] = f"synced, next_rev {store.revision + 1}"
    assert frames.positions == [1, 2, 3, 4]
    payload = _payload(frames)
    assert unpack_live(payload["branches"][0]["live"])["at"] == [1, 2, 3, 4]
    for index in range(4):
        live = take(payload, 0, index, Simulation.replay)
        assert live.error is None and live.store.revision == index + 2
    # A frame that is not what the store showed then is caught.
    frames[0]["kv"]["keys"][0]["value"] = "forged"
    assert take(_payload(frames), 0, 0, Simulation.replay).error is not None


def test_repeated_bytes_encode_compactly_and_decode_exactly() -> None:
    for value in (b"", b"a", b"a" * 31, b"a" * 32, b"\xff" * 8192, b"ab" * 40, b"a" * 40 + b"b"):
        raw = encode(PutRequest(b"k", value))
        assert decode_request(json.loads(json.dumps(raw))) == PutRequest(b"k", value)
    assert encode(b"x" * 8192) == {"x": [120, 8192]} and encode(b"x" * 31) == {"b": "x" * 31}


QUOTA = 512 * 1024
ORDERS = {"disarm only": ["disarm"], "compact + disarm": ["compact", "disarm"],
          "compact + defrag + disarm": ["compact", "defrag", "disarm"]}


def _quota_payload() -> dict[str, Any]:
    """The quota chapter's player: a store filled to NOSPACE by 8 KiB heartbeats, then each
    recovery order."""
    def branch(steps: list[str]) -> Any:
        full = MVCCStore(quota_backend_bytes=QUOTA)
        run_writer(full, b"events/heartbeat", 8192, 1000)
        return recovery_frames(full, steps, (b"events/heartbeat", b"x" * 8192))
    data: dict[str, Any] = json.loads(json.dumps(TracePlayer.from_branches(
        {label: branch(steps) for label, steps in ORDERS.items()}).payload()))
    return data


def test_the_quota_player_replays_every_frame_exactly() -> None:
    payload = _quota_payload()
    for b, branch in enumerate(payload["branches"]):
        assert unpack_live(branch["live"])["view"] == "sizes"
        assert len(json.dumps(unpack_live(branch["live"]))) < STORE_SCRIPT_BYTES
        for index in range(len(branch["frames"])):
            live = take(payload, b, index, Simulation.replay)
            assert isinstance(live, LiveStore) and live.error is None, (branch["label"], index)
    # A recorded size that the store did not have is caught.
    payload["kvs"][payload["branches"][0]["frames"][0][5]]["db_size"] += 4096
    assert take(payload, 0, 0, Simulation.replay).error is not None


def _kv_of(rows: list[Any], kvs: list[Any]) -> list[tuple[str, Any]]:
    return [(row[1], kvs[row[5]]) for row in rows]


def test_a_readers_recovery_gives_the_chapters_frames_and_a_full_store_alarms() -> None:
    payload = _quota_payload()
    labels = [b["label"] for b in payload["branches"]]
    # From the NOSPACE frame of "disarm only", the reader takes the full recovery's steps:
    # the frames are those the chapter computed for that order, step for step.
    live = take(payload, labels.index("disarm only"), 0, Simulation.replay)
    assert live.start()["view"] == "sizes"
    kvs = list(payload["kvs"])
    rows = []
    for action in (("compact",), ("defrag",), ("disarm",), ("put", "events/heartbeat", "x", 8192),
                   ("put", "events/heartbeat", "x", 8192)):
        delta = live.act(*action)
        kvs += delta["tables"]["kvs"]
        rows += delta["frames"]
    full = payload["branches"][labels.index("compact + defrag + disarm")]["frames"][1:]
    assert [(f"you: {e}", kv) for e, kv in _kv_of(full, payload["kvs"])] == _kv_of(rows, kvs)
    # Writing on, the reader fills the quota again and sees the alarm.
    for _ in range(100):
        delta = live.act("put", "events/heartbeat", "y", 8192)
        kvs += delta["tables"]["kvs"]
        kv = kvs[delta["frames"][0][5]]
        if "error" in kv:
            break
    assert kv["alarms"] == "NOSPACE" and kv["error"].endswith("database space exceeded")
    assert "refused" in delta["frames"][0][1]
    delta = live.act("disarm")
    kvs += delta["tables"]["kvs"]
    assert kvs[delta["frames"][0][5]]["alarms"] == "none"
    with pytest.raises(ValueError, match="past revision"):
        live.act("scrub", 3)


def test_live_control_sends_every_table_of_the_player() -> None:
    """live-control.js hands the player's tables to the worker: all of those an encoder
    resumes from, or taking control fails in the browser."""
    js = (Path(__file__).parents[2] / "raftlib/viz/assets/live-control.js").read_text()
    match = re.search(r"var TABLES = \[([^\]]*)\]", js)
    assert match is not None
    assert re.findall(r'"(\w+)"', match.group(1)) == list(_Encoder().tables)
