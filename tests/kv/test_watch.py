"""The watch hub, and the watch checker (including planted bugs it must catch)."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import replace

import pytest

from raftlib.check.watch import WatchSpec, check_watch, history_from_store
from raftlib.kv import (
    DeleteRangeRequest,
    ErrEmptyWatcherRange,
    Event,
    KeyValue,
    MVCCStore,
    PutRequest,
    Watcher,
    WatchHub,
    WatchResponse,
    prefix_end,
)
from raftlib.kv._watch import _IntervalIndex, _IntervalTreap


def _writes(s: MVCCStore) -> None:
    s.put(b"a", b"1")  # 2
    s.put(b"ab", b"1")  # 3
    s.txn([], [PutRequest(b"a", b"2"), PutRequest(b"b", b"1")])  # 4
    s.delete_range(b"a", b"b")  # 5: deletes a and ab
    s.put(b"c", b"1")  # 6


def test_live_events_key_prefix_range_from_key() -> None:
    s = MVCCStore()
    hub = s.watch_hub
    w_key = hub.watch(b"a")
    w_prefix = hub.watch(b"a", prefix_end(b"a"), prev_kv=True)
    w_range = hub.watch(b"ab", b"c", filters=frozenset({"NODELETE"}))
    w_from = hub.watch(b"b", b"\0", filters=frozenset({"NOPUT"}))
    _writes(s)
    revs = lambda w: [[(e.type, e.kv.key) for e in r.events] for r in w.take()]  # noqa: E731
    assert revs(w_key) == [[("PUT", b"a")], [("PUT", b"a")], [("DELETE", b"a")]]
    got = w_prefix.take()
    assert [r.header_revision for r in got] == [2, 3, 4, 5]
    assert [(e.type, e.kv.key) for e in got[3].events] == [("DELETE", b"a"), ("DELETE", b"ab")]
    assert got[3].events[0].prev_kv == KeyValue(b"a", 2, 4, 2, b"2")
    assert got[3].events[0].kv == KeyValue(b"a", 0, 5, 0, b"")
    assert revs(w_range) == [[("PUT", b"ab")], [("PUT", b"b")]]
    assert revs(w_from) == []
    assert w_key.take() == []


def test_history_replay_then_live_and_prev_kv() -> None:
    s = MVCCStore()
    _writes(s)
    hub = s.watch_hub
    w = hub.watch(b"a", start_revision=3, prev_kv=True)
    assert hub.unsynced == 1 and w.take() == []
    s.put(b"a", b"3")  # 7: not delivered yet, the watcher is unsynced
    assert w.take() == []
    assert hub.sync() == 0
    s.put(b"a", b"4")  # 8: live
    got = w.take()
    # The replay is one response (header: the store's revision at the sync), then one per
    # live write, as etcd's syncWatchers and notify.
    assert [r.header_revision for r in got] == [7, 8]
    assert [[e.kv.mod_revision for e in r.events] for r in got] == [[4, 5, 7], [8]]
    assert got[0].events[0].prev_kv == KeyValue(b"a", 2, 2, 1, b"1")
    assert got[0].events[2].prev_kv is None  # re-created after the delete at 5
    hist = history_from_store(s)
    assert check_watch(hist, WatchSpec(b"a", start_revision=3, prev_kv=True), got,
                       synced_through=s.revision).ok


def test_unsynced_watchers_do_not_hold_up_synced_ones() -> None:
    s = MVCCStore()
    for i in range(50):
        s.put(b"k", str(i).encode())
    hub = s.watch_hub
    slow = [hub.watch(b"k", start_revision=2) for _ in range(3)]
    live = hub.watch(b"k")
    s.put(b"k", b"new")
    assert [r.header_revision for r in live.take()] == [s.revision]
    assert all(w.take() == [] for w in slow)
    assert hub.sync(max_watchers=2) == 1  # one sync step catches up two of them
    assert [[len(r.events) for r in w.take()] for w in slow] == [[51], [51], []]
    hub.sync()
    assert [len(r.events) for r in slow[2].take()] == [51]


def test_watch_below_compaction_is_cancelled() -> None:
    s = MVCCStore()
    for i in range(5):
        s.put(b"k", str(i).encode())  # 2..6
    s.compact(4)
    hub = s.watch_hub
    early, at = hub.watch(b"k", start_revision=3), hub.watch(b"k", start_revision=4)
    hub.sync()
    # As etcd 3.4: no header revision on the cancellation.
    assert early.take() == [WatchResponse(early.id, 0, compact_revision=4, canceled=True)]
    assert [[e.kv.mod_revision for e in r.events] for r in at.take()] == [[4, 5, 6]]
    assert hub.watcher(early.id) is None
    s.put(b"k", b"x")
    assert early.take() == []


def test_replay_is_cut_after_max_revs_whole_revisions() -> None:
    s = MVCCStore()
    for i in range(5):  # revisions 2..6, two events each
        s.txn([], [PutRequest(b"k1", b"%d" % i), PutRequest(b"k2", b"%d" % i)])
    hub = s.watch_hub
    w = hub.watch(b"k", b"l", start_revision=2)
    other = hub.watch(b"k1", start_revision=2, filters=frozenset({"NOPUT"}))
    # Both have more history than 2 revisions (etcd counts before filtering): both stay
    # unsynced.
    assert hub.sync(max_revs=2) == 2
    (r,) = w.take()
    assert r.header_revision == 6
    assert [e.kv.mod_revision for e in r.events] == [2, 2, 3, 3]  # never half a revision
    assert other.take() == []  # filtered empty: nothing sent
    s.put(b"k1", b"live")  # 7: `w` is unsynced and gets it from a later sync
    assert w.take() == []
    assert hub.sync(max_revs=2) == 2
    assert [[e.kv.mod_revision for e in r.events] for r in w.take()] == [[4, 4, 5, 5]]
    assert hub.sync(max_revs=2) == 0
    assert other.take() == [] and hub.watcher(other.id) is not None
    assert [[e.kv.mod_revision for e in r.events] for r in w.take()] == [[6, 6, 7]]
    s.put(b"k2", b"live")  # 8: synced now
    assert [r.header_revision for r in w.take()] == [8]
    spec = WatchSpec(b"k", b"l", 2)
    hist = history_from_store(s)
    # The same stream without the cut, for comparison with the default limit.
    whole = hub.watch(b"k", b"l", start_revision=2)
    assert hub.sync() == 0
    (all_of_it,) = whole.take()
    assert len({e.kv.mod_revision for e in all_of_it.events}) == 7
    assert check_watch(hist, spec, [all_of_it], synced_through=s.revision).ok


def test_cancel() -> None:
    s = MVCCStore()
    hub = s.watch_hub
    w = hub.watch(b"a", b"c")
    other = hub.watch(b"a", b"c")
    hub.cancel(w.id)
    s.put(b"b", b"1")
    assert w.take() == [WatchResponse(w.id, 1, canceled=True)]
    assert len(other.take()) == 1


def test_interval_treap_against_brute_force() -> None:
    rnd = random.Random(7)
    treap: _IntervalTreap[int] = _IntervalTreap()
    live: dict[int, tuple[bytes, tuple[int, bytes]]] = {}
    alphabet = [bytes([c]) for c in b"abcde"]
    for step in range(3000):
        if live and rnd.random() < 0.4:
            wid = rnd.choice(sorted(live))
            treap.remove(live.pop(wid)[0], wid)
        else:
            a = b"".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 3)))
            end = (1, b"") if rnd.random() < 0.2 else (0, a + rnd.choice(alphabet))
            treap.insert(a, end, step, step)
            live[step] = (a, end)
        probe = b"".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 3)))
        out: list[int] = []
        treap.stab(probe, out)
        want = [w for w, (a, e) in live.items() if a <= probe and (0, probe) < e]
        assert sorted(out) == sorted(want)


def test_interval_index_against_brute_force() -> None:
    """Layers of disjoint intervals, then the treap: nested, overlapping, equal-start, empty
    and endless intervals, added and removed at random."""
    alphabet = [bytes([c]) for c in b"abcde"]

    def word(rnd: random.Random) -> bytes:
        return b"".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 3)))

    for seed in range(5):
        rnd = random.Random(seed)
        index: _IntervalIndex[int] = _IntervalIndex()
        live: dict[int, tuple[bytes, tuple[int, bytes]]] = {}
        for step in range(1500):
            if live and rnd.random() < 0.4:
                wid = rnd.choice(sorted(live))
                index.remove(live.pop(wid)[0], wid)
            else:
                a, r = word(rnd), rnd.random()
                end = ((1, b"") if r < 0.1 else (0, a + rnd.choice(alphabet)) if r < 0.8
                       else (0, word(rnd)))  # possibly empty: at or before its start
                index.insert(a, end, step, step)
                live[step] = (a, end)
            probe = word(rnd)
            out: list[int] = []
            index.stab(probe, out)
            want = [w for w, (a, e) in live.items() if a <= probe and (0, probe) < e]
            assert sorted(out) == sorted(want)


def test_random_watchers_satisfy_the_guarantees() -> None:
    """Many watchers of every shape, created at random times and revisions, checked by the
    watch checker against the full history."""
    rnd = random.Random(11)
    s = MVCCStore()
    hub = s.watch_hub
    keys = [b"a", b"ab", b"abc", b"b", b"ba", b"c", b"\xff"]
    watchers = []
    for _ in range(300):
        r = rnd.random()
        if r < 0.5:
            s.put(rnd.choice(keys), bytes([rnd.randint(0, 255)]))
        elif r < 0.6:
            s.delete_range(rnd.choice(keys), rnd.choice([b"", b"\0", b"b"]))
        elif r < 0.7:
            s.txn([], [PutRequest(k, b"t") for k in rnd.sample(keys, 2)]
                  + [DeleteRangeRequest(b"zz")])
        elif r < 0.85:
            k = rnd.choice(keys)
            end = rnd.choice([b"", prefix_end(k), b"\0", b"c", k + b"\0"])
            start = rnd.choice([0, rnd.randint(1, s.revision + 2)])
            filters = rnd.choice([frozenset(), frozenset({"NOPUT"}), frozenset({"NODELETE"})])
            prev = rnd.random() < 0.5
            if end not in (b"", b"\0") and end <= k:
                continue  # an empty range: refused (test_an_empty_range_is_refused)
            w = hub.watch(k, end, start_revision=start, prev_kv=prev, filters=filters)
            spec = WatchSpec(k, end, start if start > 0 else s.revision + 1, prev, filters)
            watchers.append((w, spec))
        else:
            hub.sync(max_watchers=rnd.randint(1, 5))
    hub.sync(max_watchers=10_000)
    hist = history_from_store(s)
    total = 0
    for w, spec in watchers:
        got = w.take()
        total += sum(len(r.events) for r in got)
        v = check_watch(hist, spec, got, synced_through=s.revision)
        assert v.ok, (spec, v.violations[:3])
    assert total > 1000


# ------------------------------------------------------------------ planted bugs


class _DroppingHub(WatchHub):
    """A broken hub that loses the live events of every fifth revision."""

    def notify(self, revision: int, events: tuple[Event, ...]) -> None:
        if revision % 5:
            super().notify(revision, events)


def _recorded(hub_cls: type[WatchHub] = WatchHub) -> tuple[MVCCStore, list[WatchResponse]]:
    s = MVCCStore()
    s._hub = hub_cls(s)
    w = s.watch_hub.watch(b"k", b"l")
    for i in range(20):
        s.txn([], [PutRequest(b"k1", b"%d" % i), PutRequest(b"k2", b"%d" % i)])
    return s, w.take()


def test_checker_passes_the_real_hub() -> None:
    s, got = _recorded()
    assert check_watch(history_from_store(s), WatchSpec(b"k", b"l", 2), got,
                       synced_through=s.revision).ok


def test_checker_catches_a_hub_that_drops_events() -> None:
    s, got = _recorded(_DroppingHub)
    v = check_watch(history_from_store(s), WatchSpec(b"k", b"l", 2), got,
                    synced_through=s.revision)
    assert {x.guarantee for x in v.violations} == {"reliable"}
    assert [x.revision for x in v.violations] == [5, 10, 15, 20]


def test_checker_catches_mutated_streams() -> None:
    s, got = _recorded()
    hist = history_from_store(s)
    spec = WatchSpec(b"k", b"l", 2)

    def broken(responses: list[WatchResponse]) -> set[str]:
        v = check_watch(hist, spec, responses, synced_through=s.revision)
        return {x.guarantee for x in v.violations}

    assert broken([*got[:3], got[2], *got[3:]]) == {"unique", "atomic"}  # duplicated
    assert "ordered" in broken([got[1], got[0], *got[2:]])  # swapped
    first = got[0].events
    split = [replace(got[0], events=first[:1]), replace(got[0], events=first[1:])]
    assert broken(split + got[1:]) == {"atomic"}  # one revision in two responses
    half = [replace(got[0], events=got[0].events[:1]), *got[1:]]
    assert broken(half) == {"atomic"}  # half a revision lost
    wrong = replace(got[0], events=(replace(got[0].events[0], kv=replace(
        got[0].events[0].kv, value=b"forged")), got[0].events[1]))
    assert "valid" in broken([wrong, *got[1:]])
    assert broken(got[:-1]) == {"reliable"}  # the last revision never arrived
    assert broken([WatchResponse(0, 21, compact_revision=3, canceled=True)]) >= {"resumable"}


def test_watch_from_a_future_revision_waits_for_it() -> None:
    s = MVCCStore()
    w = s.watch_hub.watch(b"k", start_revision=4)  # the store is at 1
    for v in (b"1", b"2", b"3", b"4"):
        s.put(b"k", v)  # revisions 2..5
    assert [r.header_revision for r in w.take()] == [4, 5]


def test_resuming_after_cancel_loses_and_repeats_nothing() -> None:
    s = MVCCStore()
    hub = s.watch_hub
    w = hub.watch(b"k", prefix_end(b"k"))
    for i in range(10):
        s.put(b"k%d" % (i % 3), b"%d" % i)
    first = w.take()
    hub.cancel(w.id)
    for i in range(10, 20):
        s.put(b"k%d" % (i % 3), b"%d" % i)  # missed while disconnected
    last = max(e.kv.mod_revision for r in first for e in r.events)
    again = hub.watch(b"k", prefix_end(b"k"), start_revision=last + 1)
    hub.sync()
    s.put(b"k0", b"live")
    stream = [r for r in first + w.take() + again.take() if not r.canceled]
    v = check_watch(history_from_store(s), WatchSpec(b"k", prefix_end(b"k"), 2), stream,
                    synced_through=s.revision)
    assert v.ok and sum(len(r.events) for r in stream) == 21


def test_a_watcher_whose_consumer_falls_behind_is_moved_aside_then_caught_up() -> None:
    s = MVCCStore()
    s.watch_max_pending = 3
    hub = s.watch_hub
    slow, brisk = hub.watch(b"k"), hub.watch(b"k")
    for i in range(10):
        s.put(b"k", str(i).encode())  # revisions 2..11
        brisk.take()
        assert len(slow.responses) <= 3 and hub.pending <= 3  # never more held than that
    assert slow.slow and hub.unsynced == 1
    assert hub.sync() == 0  # it waits for its consumer, however often sync runs
    assert slow.responses == deque()
    assert slow.take() == []  # the consumer takes: it may be caught up now
    assert hub.sync() == 0
    got = slow.take()
    assert [[e.kv.mod_revision for e in r.events] for r in got] == [list(range(2, 12))]
    s.put(b"k", b"live")
    assert [r.events[0].kv.value for r in slow.take()] == [b"live"]  # synced again


def test_a_watcher_moved_aside_past_a_compaction_is_cancelled() -> None:
    s = MVCCStore()
    s.watch_max_pending = 2
    w = s.watch_hub.watch(b"k")
    for i in range(5):
        s.put(b"k", str(i).encode())  # 2..6; moved aside at the third
    s.compact(5)
    w.take()
    s.watch_hub.sync()
    assert w.take() == [WatchResponse(w.id, 0, compact_revision=5, canceled=True)]


def test_grouped_watchers_receive_what_each_would_receive_alone() -> None:
    """Many watchers sharing ranges, filters and prev_kv (so grouped), some starting in the past,
    taken, cancelled and moved aside at random: each receives exactly what the same watcher
    receives as the only watcher of a store given the same writes."""
    rnd = random.Random(5)
    keys = [b"a", b"ab", b"b", b"ba", b"c"]
    shapes = [(b"a", b""), (b"a", prefix_end(b"a")), (b"ab", b"c"), (b"b", b"\0"),
              (b"", b"\0")]
    filters = [frozenset(), frozenset({"NOPUT"}), frozenset({"NODELETE"})]
    shared = MVCCStore()
    shared.watch_max_pending = 3
    pairs: list[tuple[Watcher, MVCCStore, Watcher]] = []  # watcher, solo store, solo watcher

    def write(s: MVCCStore, op: tuple[str, list[bytes]]) -> None:
        kind, ks = op
        if kind == "put":
            s.put(ks[0], b"v")
        elif kind == "delete":
            s.delete_range(ks[0], prefix_end(ks[0]))
        else:
            s.txn([], [PutRequest(k, b"t") for k in ks])

    ops: list[tuple[str, list[bytes]]] = []
    for step in range(400):
        r = rnd.random()
        if r < 0.15 and len(pairs) < 60:
            key, end = rnd.choice(shapes)
            prev_kv, fs = rnd.random() < 0.5, rnd.choice(filters)
            start = rnd.choice([0, 0, max(1, shared.revision - 3)])
            solo = MVCCStore()
            solo.watch_max_pending = 3
            for op in ops:
                write(solo, op)
            pairs.append((shared.watch_hub.watch(key, end, start_revision=start, prev_kv=prev_kv,
                                                 filters=fs), solo,
                          solo.watch_hub.watch(key, end, start_revision=start, prev_kv=prev_kv,
                                               filters=fs)))
        elif r < 0.2 and pairs:
            w, solo, sw = rnd.choice(pairs)
            shared.watch_hub.cancel(w.id)
            solo.watch_hub.cancel(sw.id)
        else:
            op = (rnd.choice(["put", "put", "delete", "txn"]), rnd.sample(keys, 2))
            ops.append(op)
            write(shared, op)
            for _, solo, _ in pairs:
                write(solo, op)
        if step % 7 == 0:
            shared.watch_hub.sync()
            for _, solo, _ in pairs:
                solo.watch_hub.sync()
        for w, _, sw in pairs:
            if rnd.random() < 0.3:
                got = w.take()
                want = sw.take()
                assert got == [replace(x, watch_id=w.id) for x in want]
    assert len(shared.watch_hub._groups) < len(shared.watch_hub) - 10  # groups were shared
    assert any(w.slow for w, _, _ in pairs)  # and some watchers were moved aside
    for w, _, sw in pairs:
        assert len(w.responses) == len(sw.responses)
        assert list(w.responses) == [replace(x, watch_id=w.id) for x in sw.responses]


def test_a_write_filtered_out_still_moves_aside_a_watcher_holding_too_much() -> None:
    """Replays may leave a synced watcher holding more than max_pending; the next write that
    reaches it moves it aside even when its filters drop every event of that write."""
    s = MVCCStore()
    for _ in range(3):
        s.put(b"a", b"1")
        s.delete_range(b"a")  # deletes at revisions 3, 5, 7
    hub = s.watch_hub
    hub.max_pending = 2
    w = hub.watch(b"a", start_revision=2, filters=frozenset({"NOPUT"}))
    while hub.sync(max_revs=2):
        pass
    assert len(w.responses) == 3 and not w.slow
    s.put(b"a", b"2")  # revision 8, dropped by NOPUT
    assert w.slow and w.responses == deque() and hub.unsynced == 1
    assert w.take() == []
    hub.sync()
    assert [[e.kv.mod_revision for e in r.events] for r in w.take()] == [[3, 5, 7]]


def test_progress_goes_to_synced_watchers_only() -> None:
    """etcd's watchableStore.progress: a synced watcher gets an empty response headed by
    the store's revision; an unsynced one (still replaying) gets nothing, since it has not
    seen that revision."""
    s = MVCCStore()
    _writes(s)
    hub = s.watch_hub
    live = hub.watch(b"a")
    old = hub.watch(b"a", start_revision=2)
    hub.progress(live.id)
    hub.progress(old.id)
    hub.progress(12345)  # no such watcher: nothing
    assert live.take() == [WatchResponse(live.id, s.revision)]
    assert old.take() == []
    hub.sync()
    hub.progress(old.id)
    assert [(r.header_revision, len(r.events)) for r in old.take()] == [
        (s.revision, 3), (s.revision, 0)]


def test_a_progress_notification_held_does_not_break_moving_aside() -> None:
    s = MVCCStore()
    hub = WatchHub(s, max_pending=2)
    w = hub.watch(b"k")
    hub.progress(w.id)
    for i in range(3):  # held: the notification, then events; the third write is one too many
        s.put(b"k", b"%d" % i)
        hub.notify(s.revision, (Event("PUT", s.range(b"k").kvs[0]),))
    assert w.slow and hub.unsynced == 1
    w.take()
    hub.sync()
    # Caught up from the first event it had not taken, not from the notification.
    assert [e.kv.value for r in w.take() for e in r.events] == [b"0", b"1", b"2"]


def test_an_empty_range_is_refused() -> None:
    hub = MVCCStore().watch_hub
    for key, end in ((b"b", b"a"), (b"a", b"a")):
        with pytest.raises(ErrEmptyWatcherRange, match="mvcc: watcher range is empty"):
            hub.watch(key, end)
    hub.watch(b"a", b"\0")  # every key from a on
    hub.watch(b"a", b"a\0")
    assert len(hub) == 2


def test_checker_holds_progress_notifications_to_their_promise() -> None:
    """The hub's notifications are bookmarks (every event up to their revision came before
    them); one sent ahead of an event still to come is caught."""
    s = MVCCStore()
    _writes(s)
    hub = s.watch_hub
    w = hub.watch(b"a", prefix_end(b"a"), start_revision=2)
    hub.progress(w.id)  # unsynced: ignored
    hub.sync()
    hub.progress(w.id)
    got = w.take()
    assert not got[-1].events
    spec = WatchSpec(b"a", prefix_end(b"a"), 2)
    hist = history_from_store(s)
    assert check_watch(hist, spec, got).ok
    early = [WatchResponse(w.id, s.revision), *got]
    v = check_watch(hist, spec, early)
    assert [x.guarantee for x in v.violations] == ["bookmarkable"]
