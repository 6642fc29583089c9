"""The counting watch hub, the fan-out watch proxy and the polling-versus-watching model."""

from __future__ import annotations

import pytest

from raftlib.chapters.watch import WatchProxy, measure_on_store, poll_vs_watch, write_times
from raftlib.check.watch import WatchSpec, check_watch, history_from_store
from raftlib.kv import (
    CountingWatchHub,
    MVCCStore,
    PutRequest,
    counting_hub,
    pb_size,
    prefix_end,
)


def test_counting_hub_counts_matches_deliveries_and_naive_work() -> None:
    s = MVCCStore()
    hub = counting_hub(s)
    assert s.watch_hub is hub and counting_hub(s) is hub
    ws = [hub.watch(b"k%03d" % i) for i in range(100)]
    same = [hub.watch(b"hot") for _ in range(10)]
    s.put(b"k007", b"v")
    st = hub.reset()
    assert (st.events, st.matched, st.delivered, st.naive_examined) == (1, 1, 1, 110)
    assert st.probes == len(b"k007") + 3
    assert [len(w.take()) for w in ws].count(1) == 1
    s.put(b"hot", b"v")
    assert hub.stats.delivered == 10 and all(len(w.take()) == 1 for w in same)


def test_counting_hub_counts_replay_moves_and_compaction_cancels() -> None:
    s = MVCCStore()
    hub = counting_hub(s)
    for i in range(5):
        s.put(b"a", b"%d" % i)  # revisions 2..6
    s.compact(4)
    ok = hub.watch(b"a", start_revision=4)
    gone = hub.watch(b"a", start_revision=3)
    assert hub.unsynced == 2
    assert hub.sync() == 0
    st = hub.stats
    assert (st.replayed, st.moved, st.cancelled) == (1, 1, 1)  # one replay response
    assert [[e.kv.mod_revision for e in r.events] for r in ok.take()] == [[4, 5, 6]]
    (c,) = gone.take()
    assert c.canceled and c.compact_revision == 4


def test_counting_hub_refuses_a_store_with_a_plain_hub() -> None:
    s = MVCCStore()
    _ = s.watch_hub
    with pytest.raises(ValueError):
        counting_hub(s)


def test_proxy_coalesces_one_upstream_for_many_clients() -> None:
    s = MVCCStore()
    hub = counting_hub(s)
    proxy = WatchProxy(hub)
    clients = [proxy.watch(b"cfg/", prefix_end(b"cfg/")) for _ in range(50)]
    quiet = proxy.watch(b"cfg/", prefix_end(b"cfg/"), filters=frozenset({"NOPUT"}))
    with_prev = proxy.watch(b"cfg/", prefix_end(b"cfg/"), prev_kv=True)
    assert isinstance(hub, CountingWatchHub) and hub.synced == 1
    s.put(b"cfg/a", b"1")
    s.txn([], [PutRequest(b"cfg/a", b"2"), PutRequest(b"cfg/b", b"1")])
    s.delete_range(b"cfg/b")
    assert proxy.pump() == 50 * 3 + 1 + 3
    st = proxy.stats
    assert (st.upstream_watchers, st.upstream_responses, st.upstream_events) == (1, 3, 4)
    assert st.downstream_events == 50 * 4 + 1 + 4
    got = clients[0].take()
    assert [len(r.events) for r in got] == [1, 2, 1]
    assert all(e.prev_kv is None for r in got for e in r.events)
    assert [e.type for r in quiet.take() for e in r.events] == ["DELETE"]
    evs = [e for r in with_prev.take() for e in r.events]
    assert evs[1].prev_kv is not None and evs[1].prev_kv.value == b"1"
    # What each client saw passes etcd's watch guarantees.
    hist = history_from_store(s)
    spec = WatchSpec(b"cfg/", prefix_end(b"cfg/"), start_revision=2)
    assert check_watch(hist, spec, got, synced_through=s.revision).ok


def test_proxy_late_joiner_sees_only_new_revisions_and_past_start_gets_own_upstream() -> None:
    s = MVCCStore()
    proxy = WatchProxy(s.watch_hub)
    early = proxy.watch(b"k")
    s.put(b"k", b"1")  # 2, not pumped yet
    late = proxy.watch(b"k")
    replay = proxy.watch(b"k", start_revision=2)
    s.put(b"k", b"2")  # 3
    s.watch_hub.sync()
    proxy.pump()
    assert [r.header_revision for r in early.take()] == [2, 3]
    assert [r.header_revision for r in late.take()] == [3]
    # Its own upstream watcher replays 2..3 in one response (header: revision 3).
    assert [[e.kv.mod_revision for e in r.events] for r in replay.take()] == [[2, 3]]
    assert proxy.stats.upstream_watchers == 2 and proxy.stats.upstream_created == 2
    proxy.cancel(replay.id)
    assert proxy.stats.upstream_watchers == 1
    proxy.cancel(early.id)
    proxy.cancel(late.id)
    assert proxy.stats.upstream_watchers == 0 and proxy.stats.clients == 0


def test_proxy_forwards_compaction_cancel() -> None:
    s = MVCCStore()
    for i in range(4):
        s.put(b"k", b"%d" % i)  # 2..5
    s.compact(4)
    proxy = WatchProxy(s.watch_hub)
    c = proxy.watch(b"k", start_revision=2)
    s.watch_hub.sync()
    proxy.pump()
    (r,) = c.take()
    assert r.canceled and r.compact_revision == 4 and r.watch_id == c.id
    assert proxy.stats.upstream_watchers == 0


def test_pb_sizes_match_hand_encoding() -> None:
    assert pb_size("range_request", key=b"abc") == 5 + 1 + 1 + 3
    assert pb_size("watch_create", key=b"abc") == 5 + 2 + 5


def test_write_times_are_seeded_sorted_and_distinct() -> None:
    a = write_times(3600, 3_600_000, seed=1)
    assert a == write_times(3600, 3_600_000, seed=1) != write_times(3600, 3_600_000, seed=2)
    assert a == sorted(set(a)) and 3300 < len(a) < 3900
    assert write_times(0, 1000, seed=1) == []


@pytest.mark.parametrize(("clients", "poll_ms", "per_hour"),
                         [(3, 1000, 600), (4, 250, 7200), (2, 5000, 60), (5, 700, 0)])
def test_model_counts_match_a_run_on_the_store(clients: int, poll_ms: int,
                                               per_hour: float) -> None:
    model = poll_vs_watch(clients, poll_ms, per_hour, duration_ms=600_000, seed=3)
    real = measure_on_store(clients, poll_ms, per_hour, duration_ms=600_000, seed=3)
    assert model.writes == real.writes
    for m, r in ((model.poll, real.poll), (model.watch, real.watch)):
        assert (m.requests, m.responses, m.changes_seen) == (r.requests, r.responses,
                                                             r.changes_seen)
        assert m.mean_delay_ms == pytest.approx(r.mean_delay_ms)
        assert r.bytes <= m.bytes <= r.bytes + 2 * m.messages


def test_ratio_is_large_for_a_quiet_key_and_small_for_a_busy_one() -> None:
    quiet = poll_vs_watch(10, 1000, 1, seed=0)
    busy = poll_vs_watch(10, 30_000, 36_000, seed=0)
    assert quiet.message_ratio > 1000
    assert busy.message_ratio < 0.1
    assert busy.poll.changes_seen < busy.watch.changes_seen
