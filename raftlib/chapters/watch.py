"""Chapter 3, watch: what a watch costs, and a watch from an old revision on any engine.

All deterministic, counting operations rather than timing them:

* :class:`WatchProxy` serves many downstream clients from one upstream watcher per key range,
  as etcd's gRPC proxy coalesces watchers (https://etcd.io/docs/v3.4/op-guide/grpc_proxy/).
  It counts upstream events against downstream deliveries.
* :func:`poll_vs_watch` counts the requests, responses and payload bytes of ``clients`` that
  poll one key every ``poll_ms`` against the same clients watching it, for a seeded stream of
  writes over a virtual duration. :func:`measure_on_store` runs the same schedule against a
  real :class:`~raftlib.kv.MVCCStore` (ranges and watchers) to show the model counts what
  happens.

Sizes are protobuf payload sizes of etcd 3.4's messages (``RangeRequest``, ``RangeResponse``,
``WatchRequest``, ``WatchResponse``) plus gRPC's 5-byte message prefix; HTTP/2 frames, HPACK
headers and TCP are not counted (each unary poll pays a HEADERS frame and trailers on top, so
the byte counts favour polling). The sizes come from :func:`raftlib.kv.pb_size`; the hub's own
counters are :func:`raftlib.kv.counting_hub`.

:func:`watch_from_revision` is the chapter's replay story on any :class:`raftlib.Cluster`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import ClassVar

from raftlib._cluster import Cluster
from raftlib.chapters._engines import _now_ms, _poll
from raftlib.kv import (
    Event,
    KeyValue,
    MVCCStore,
    Watcher,
    WatchFilter,
    WatchHub,
    WatchResponse,
    pb_size,
    prefix_end,
)

__all__ = [
    "PollVsWatch",
    "ProxyStats",
    "Traffic",
    "WatchProxy",
    "WatchResult",
    "measure_on_store",
    "poll_vs_watch",
    "watch_from_revision",
    "write_times",
]


@dataclass(frozen=True, slots=True)
class ProxyStats:
    """Counters of a :class:`WatchProxy`.

    ``upstream_watchers``: watchers the proxy holds on the store (live); ``upstream_created``:
    all it ever created; ``upstream_responses``/``upstream_events``: what the store sent the
    proxy; ``downstream_responses``/``downstream_events``: what the proxy sent its clients.
    """

    clients: int
    upstream_watchers: int
    upstream_created: int
    upstream_responses: int
    upstream_events: int
    downstream_responses: int
    downstream_events: int


class WatchProxy:
    """Many client watches served by one upstream watcher per key range.

    Like etcd's gRPC proxy, a client that watches a range from the current revision joins the
    upstream watcher already open on exactly that range (``key``, ``range_end``); the upstream
    watcher asks for ``prev_kv``, and the proxy applies each client's filters and ``prev_kv``
    choice itself. A client that starts at a past revision gets an upstream watcher of its own
    (the shared one is already past that revision). Call :meth:`pump` to move what the store
    delivered upstream to the clients.
    """

    def __init__(self, hub: WatchHub) -> None:
        self._hub = hub
        self._next_id = 0
        self._clients: dict[int, Watcher] = {}
        # upstream watcher id -> (upstream watcher, ids of its clients); and the shared one of
        # each range.
        self._groups: dict[int, tuple[Watcher, dict[int, Watcher]]] = {}
        self._shared: dict[tuple[bytes, bytes], int] = {}
        self._created = 0
        self._up_resp = self._up_ev = self._down_resp = self._down_ev = 0

    def watch(self, key: bytes, range_end: bytes = b"", *, start_revision: int = 0,
              prev_kv: bool = False,
              filters: frozenset[WatchFilter] = frozenset()) -> Watcher:
        """A client watch of ``key`` or ``[key, range_end)`` (as :meth:`WatchHub.watch`)."""
        current = self._hub.store.revision + 1
        past = 0 < start_revision < current
        c = Watcher(self._next_id, key, range_end,
                         start_revision if past else current, prev_kv, frozenset(filters))
        self._next_id += 1
        shared = None if past else self._shared.get((key, range_end))
        if shared is None:
            up = self._hub.watch(key, range_end, start_revision=c.next_rev, prev_kv=True)
            self._created += 1
            self._groups[up.id] = (up, {})
            if not past:
                self._shared[(key, range_end)] = up.id
            shared = up.id
        self._groups[shared][1][c.id] = c
        self._clients[c.id] = c
        return c

    def cancel(self, client_id: int) -> None:
        """Stop one client's watch; the upstream watcher closes with its last client."""
        c = self._clients.pop(client_id, None)
        if c is None:
            return
        c.canceled = True
        c.responses.append(WatchResponse(c.id, self._hub.store.revision, canceled=True))
        for uid, (up, members) in list(self._groups.items()):
            if members.pop(client_id, None) is not None and not members:
                self._close(uid, up)

    def _close(self, uid: int, up: Watcher) -> None:
        del self._groups[uid]
        if self._shared.get((up.key, up.range_end)) == uid:
            del self._shared[(up.key, up.range_end)]
        if not up.canceled:
            self._hub.cancel(uid)

    def pump(self) -> int:
        """Forward every upstream response to the clients; return the responses sent."""
        sent = 0
        for uid in sorted(self._groups):
            up, members = self._groups[uid]
            for resp in up.take():
                self._up_resp += 1
                self._up_ev += len(resp.events)
                for cid in sorted(members):
                    sent += self._forward(members[cid], resp)
            if up.canceled:
                for cid in sorted(members):
                    self._clients.pop(cid, None)
                self._close(uid, up)
        return sent

    def _forward(self, c: Watcher, resp: WatchResponse) -> int:
        if resp.canceled:
            c.canceled = True
            c.responses.append(replace(resp, watch_id=c.id))
            self._down_resp += 1
            return 1
        # A replay holds several revisions: pass on those the client has not had yet.
        events = [e for e in resp.events if e.kv.mod_revision >= c.next_rev]
        if not events:
            return 0
        before = len(c.responses)
        # The client's filters and prev_kv are applied here.
        c._deliver(resp.header_revision, events, events[-1].kv.mod_revision + 1)
        if len(c.responses) == before:
            return 0
        self._down_resp += 1
        self._down_ev += len(c.responses[-1].events)
        return 1

    @property
    def stats(self) -> ProxyStats:
        """The proxy's counters."""
        return ProxyStats(len(self._clients), len(self._groups), self._created, self._up_resp,
                          self._up_ev, self._down_resp, self._down_ev)


@dataclass(frozen=True, slots=True)
class Traffic:
    """Messages and bytes of one way to follow a key, for all clients together.

    ``changes_seen``: (client, write) pairs in which the client learned that write's value
    (polling learns at most one write per poll: the latest); ``mean_delay_ms``: how long a
    client's copy stayed stale, on average: from the first write it had not seen to the poll
    that saw the key change (0 for a watch in this model, which counts no network delay).
    """

    requests: int
    responses: int
    bytes: int
    changes_seen: int
    mean_delay_ms: float

    @property
    def messages(self) -> int:
        """Requests plus responses."""
        return self.requests + self.responses


@dataclass(frozen=True, slots=True)
class PollVsWatch:
    """The cost of polling against watching one key, and their ratios (poll / watch)."""

    clients: int
    poll_ms: int
    writes_per_hour: float
    duration_ms: int
    writes: int
    poll: Traffic
    watch: Traffic

    @property
    def message_ratio(self) -> float:
        """Polling's messages divided by watching's."""
        return self.poll.messages / self.watch.messages

    @property
    def byte_ratio(self) -> float:
        """Polling's bytes divided by watching's."""
        return self.poll.bytes / self.watch.bytes


def write_times(writes_per_hour: float, duration_ms: int, seed: int) -> list[int]:
    """Write instants (virtual ms, sorted, distinct) of a Poisson stream with the given rate."""
    rng = random.Random(seed)
    out: list[int] = []
    if writes_per_hour <= 0:
        return out
    mean = 3_600_000 / writes_per_hour
    t = 0.0
    while True:
        t += rng.expovariate(1 / mean)
        ms = int(t)
        if ms >= duration_ms:
            return out
        if not out or ms > out[-1]:
            out.append(ms)


def _phase(i: int, clients: int, poll_ms: int) -> int:
    # Clients are spread evenly over one poll interval, so their polls do not all coincide.
    return i * poll_ms // clients


def poll_vs_watch(clients: int, poll_ms: int, writes_per_hour: float, *,
                  duration_ms: int = 3_600_000, seed: int = 0, key: bytes = b"/config/feature",
                  value_size: int = 64) -> PollVsWatch:
    """Count polling against watching for ``clients`` following ``key``.

    The key exists before the run; writes follow :func:`write_times`, each overwriting the key
    with ``value_size`` bytes.
    Polling: client ``i`` sends a range request every ``poll_ms`` from ``i * poll_ms //
    clients`` on, and every poll gets the whole key-value back, changed or not. Watching: each
    client sends one create request and gets one created response, then one response per write.
    A poll at the instant of a write sees it. Message sizes use the revision reached at the end
    of the run (at most 2 bytes per message more than the exact size; see :func:`pb_size`).
    """
    if clients < 1 or poll_ms < 1:
        raise ValueError("need at least one client and a positive poll interval")
    writes = write_times(writes_per_hour, duration_ms, seed)
    rev = 2 + len(writes)  # the key was created at revision 2, before the run
    kv = KeyValue(key, 2, rev, 1 + len(writes), b"x" * value_size)
    req_b = pb_size("range_request", key=key)
    resp_b = pb_size("range_response", revision=rev, kvs=(kv,))
    polls = seen = 0
    delay = 0
    for i in range(clients):
        ph = _phase(i, clients, poll_ms)
        n = 0 if ph >= duration_ms else (duration_ms - 1 - ph) // poll_ms + 1
        polls += n
        last_poll = -1
        for w in writes:
            k = -((ph - w) // poll_ms)  # ceil((w - ph) / poll_ms): first poll at or after w
            k = max(k, 0)
            if k >= n:
                break
            if k != last_poll:
                seen += 1
                last_poll = k
                delay += ph + k * poll_ms - w
    poll = Traffic(polls, polls, polls * (req_b + resp_b), seen,
                   delay / seen if seen else 0.0)
    ev = Event("PUT", kv)
    watch_b = (pb_size("watch_create", key=key) + pb_size("watch_created", revision=2)
               + len(writes) * pb_size("watch_events", revision=rev, events=(ev,)))
    watch = Traffic(clients, clients * (1 + len(writes)), clients * watch_b,
                    clients * len(writes), 0.0)
    return PollVsWatch(clients, poll_ms, writes_per_hour, duration_ms, len(writes), poll, watch)


def measure_on_store(clients: int, poll_ms: int, writes_per_hour: float, *,
                     duration_ms: int = 3_600_000, seed: int = 0,
                     key: bytes = b"/config/feature", value_size: int = 64) -> PollVsWatch:
    """The schedule of :func:`poll_vs_watch`, run against a real :class:`MVCCStore`: every
    poll is a ``range`` and every watcher a hub watcher. Counts come from what the store
    returned; bytes are exact for each message. Meant for small runs (one step per poll)."""
    store = MVCCStore()
    hub = store.watch_hub
    writes = write_times(writes_per_hour, duration_ms, seed)
    store.put(key, b"x" * value_size)  # the key exists before the run: revision 2
    watchers = [hub.watch(key) for _ in range(clients)]
    w_req = clients * pb_size("watch_create", key=key)
    # Each client has a stream of its own, where its watch gets id 0.
    w_bytes = w_req + clients * pb_size("watch_created", revision=store.revision)
    # Every poll instant, merged with the writes; a write at the same instant goes first.
    polls: list[tuple[int, int]] = []
    for i in range(clients):
        polls.extend((t, i) for t in range(_phase(i, clients, poll_ms), duration_ms, poll_ms))
    polls.sort()
    seen_rev = [2] * clients  # every client starts knowing the initial value
    seen = delay = p_bytes = 0
    wi = 0
    for t, i in polls:
        while wi < len(writes) and writes[wi] <= t:
            store.put(key, b"x" * value_size)
            wi += 1
        r = store.range(key)
        p_bytes += (pb_size("range_request", key=key)
                    + pb_size("range_response", revision=r.header_revision, kvs=r.kvs))
        if r.kvs and r.kvs[0].mod_revision != seen_rev[i]:
            seen += 1
            delay += t - writes[seen_rev[i] + 1 - 3]  # revision 3 is the first write
            seen_rev[i] = r.kvs[0].mod_revision
    while wi < len(writes):
        store.put(key, b"x" * value_size)
        wi += 1
    w_resp = w_events = 0
    for w in watchers:
        for resp in w.take():
            w_resp += 1
            w_events += len(resp.events)
            w_bytes += pb_size("watch_events", revision=resp.header_revision,
                               events=resp.events)
    poll = Traffic(len(polls), len(polls), p_bytes, seen, delay / seen if seen else 0.0)
    watch = Traffic(clients, clients + w_resp, w_bytes, w_events, 0.0)
    store.close()
    return PollVsWatch(clients, poll_ms, writes_per_hour, duration_ms, len(writes), poll, watch)


EventRow = tuple[str, bytes, bytes, int, bytes | None]


@dataclass(frozen=True)
class WatchResult:
    """Events a watch from an old revision receives (see :func:`watch_from_revision`)."""

    VARIES: ClassVar[tuple[str, ...]] = ("delivery_ms", "responses")
    history: tuple[int, ...]
    start_revision: int
    events: tuple[EventRow, ...]
    compacted_watch: tuple[bool, int]
    delivery_ms: float = 0.0
    responses: int = 0


def _row(e: Event) -> EventRow:
    return (e.type, e.kv.key, e.kv.value, e.kv.mod_revision,
            e.prev_kv.value if e.prev_kv is not None else None)


def _drain(cluster: Cluster, w: Watcher, n: int, timeout_ms: int
           ) -> tuple[list[Event], int, bool, int]:
    """Poll ``w`` until ``n`` events (or a cancellation) arrived or the deadline passed.

    Real engines deliver on a background stream, so events come in whenever they come; the
    simulator delivers during ``wait``. Returns events, responses, canceled, compact revision.
    """
    events: list[Event] = []
    state = {"responses": 0, "canceled": False, "compact": 0}

    def more() -> bool:
        for r in w.take():
            state["responses"] += 1
            events.extend(r.events)
            if r.canceled:
                state["canceled"], state["compact"] = True, r.compact_revision
        return len(events) >= n or bool(state["canceled"])

    _poll(cluster, more, timeout_ms, 10)
    return events, int(state["responses"]), bool(state["canceled"]), int(state["compact"])


def watch_from_revision(cluster: Cluster, *, timeout_ms: int = 10_000) -> WatchResult:
    """Write a history under ``/cfg/``, watch the prefix from an old revision (with previous
    values) and collect the replayed events plus one live event; then compact, and watch
    from below the compaction: the watch is cancelled with the compact revision."""
    _poll(cluster, cluster.leader, 20_000)
    c = cluster.client(cluster.members[0])
    hist = [c.put(b"/cfg/a", b"1"), c.put(b"/cfg/b", b"1"), c.put(b"/cfg/a", b"2")]
    revs = [r.header_revision for r in hist]
    revs.append(c.delete(b"/cfg/b").header_revision)
    revs.append(c.put(b"/other", b"x").header_revision)
    start = revs[1]
    w = c.watch(b"/cfg/", prefix_end(b"/cfg/"), start_revision=start, prev_kv=True)
    revs.append(c.put(b"/cfg/a", b"3").header_revision)  # live, after the watch exists
    t0 = _now_ms(cluster)
    events, responses, _, _ = _drain(cluster, w, 4, timeout_ms)
    ms = _now_ms(cluster) - t0
    c.compact(revs[-1])
    # A compaction is acknowledged once applied where the engine answers from (the leader in
    # the simulator); a linearizable read makes the watching member catch up with it.
    c.get(b"/cfg/a")
    late = c.watch(b"/cfg/", prefix_end(b"/cfg/"), start_revision=start)
    _, _, canceled, compact = _drain(cluster, late, 1, timeout_ms)
    return WatchResult(tuple(revs), start, tuple(_row(e) for e in events), (canceled, compact),
                       ms, responses)
