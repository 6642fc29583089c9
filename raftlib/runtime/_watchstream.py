"""One ``POST /v3/watch`` stream, served as etcd 3.4's watch server serves a gRPC watch stream
(``etcdserver/api/v3rpc/watch.go``) behind its JSON gateway.

The gateway answers nothing before the request body is complete, so a stream's requests are
all known when it starts: they are answered first, in order (a ``create_request`` with the
watch's id, a ``cancel_request`` with the cancellation, a ``progress_request`` with the
store's revision and watch id -1), and then the watches' responses follow as the store
produces them. Watch ids are the stream's own (0, 1, ...; a create may ask for an id), as in
etcd, and map to watchers of the member's :class:`~raftlib.kv.WatchHub`. A watch created with
``progress_notify`` gets a progress notification at every tick of the stream's progress
timer (etcd's ``--experimental-watch-progress-notify-interval``, 10 minutes by default, plus
up to a tenth of it as jitter) unless it received events since the previous tick, and only
while it is synced. A watch created with ``fragment`` gets a response larger than etcd's
request limit (``--max-request-bytes`` plus gRPC's 512 KiB) in pieces marked ``fragment``,
as etcd's ``sendFragments`` cuts it. A watch cancelled by the server (its start revision
compacted) leaves the stream open, as in etcd: the stream ends when the client goes away.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import trio

from .. import gateway as gw
from ..kv import (
    MAX_REQUEST_BYTES,
    ErrEmptyWatcherRange,
    ErrWatcherDuplicateID,
    Event,
    Watcher,
    WatchHub,
    pb_size,
)
from ..kv._replicated import ReplicatedKV
from ..kv._size import GRPC_PREFIX
from ._launch import DEFAULT_PROGRESS_NOTIFY_MS

__all__ = ["MAX_RESPONSE_BYTES", "MIN_PROGRESS_NOTIFY_MS", "fragments", "watch_stream"]

MIN_PROGRESS_NOTIFY_MS = 100
"""etcd raises a shorter interval to this (``minWatchProgressInterval``)."""

_Json = dict[str, object]

#: The largest response etcd sends unfragmented: ``--max-request-bytes`` plus gRPC's overhead
#: (``grpcOverheadBytes``).
MAX_RESPONSE_BYTES = MAX_REQUEST_BYTES + 512 * 1024
_FRAGMENT_FIELD = 2  # the bytes of ``fragment: true`` in a response


def fragments(events: Sequence[Event], revision: int, watch_id: int
              ) -> list[tuple[Event, ...]]:
    """``events`` cut as etcd's ``sendFragments`` cuts a response of a watch created with
    ``fragment``: whole if it is smaller than :data:`MAX_RESPONSE_BYTES` or holds one event;
    otherwise into pieces each as large as fits below that size (at least one event)."""
    def size(evs: Sequence[Event], extra: int = 0) -> int:
        return pb_size("watch_events", revision=revision, events=tuple(evs),
                       watch_id=watch_id) - GRPC_PREFIX + extra

    if size(events) < MAX_RESPONSE_BYTES:
        return [tuple(events)]
    out: list[tuple[Event, ...]] = []
    cur: list[Event] = []
    for ev in events:
        cur.append(ev)
        if len(cur) > 1 and size(cur, _FRAGMENT_FIELD) >= MAX_RESPONSE_BYTES:
            out.append(tuple(cur[:-1]))
            cur = [ev]
    out.append(tuple(cur))
    return out


@dataclass(slots=True)
class _Watch:
    """A watch of the stream: what was asked, and the hub watcher serving it."""

    create: gw.WatchCreate
    hub: WatchHub
    watcher: Watcher
    # etcd's per-watch progress flag: notify at the next tick; cleared by a response with
    # events, set again by each tick.
    progress: bool = True


def json_line(obj: object) -> bytes:
    """One line of a gateway stream (watch, keep-alive): compact JSON and a newline."""
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def _hub_watch(kv: ReplicatedKV, c: gw.WatchCreate, start: int) -> tuple[WatchHub, Watcher]:
    hub = kv.store.watch_hub
    kv.watched = True
    return hub, hub.watch(c.key, c.range_end, start_revision=start, prev_kv=c.prev_kv,
                          filters=c.filters)


def _answer(kv: ReplicatedKV, header: gw.Header, requests: Sequence[gw.WatchRequest],
            watches: dict[int, _Watch]) -> list[_Json]:
    """The answers to the stream's requests, in order, creating and cancelling ``watches``
    (by stream id) as etcd's ``recvLoop`` and ``watchStream`` do."""
    out: list[_Json] = []
    next_id = 0
    for req in requests:
        if isinstance(req, gw.WatchProgress):
            out.append(gw.render_watch_progress(header))
        elif isinstance(req, gw.WatchCancel):
            # An id the stream does not hold gets no answer.
            w = watches.pop(req.watch_id, None)
            if w is not None:
                w.hub.cancel(w.watcher.id)
                out.append(gw.render_watch_events(req.watch_id, header, (), canceled=True))
        else:
            try:
                hub, watcher = _hub_watch(kv, req, req.start_revision)
            except ErrEmptyWatcherRange as e:  # etcd checks the range before the id
                out.append(gw.render_watch_refused(header, e.message))
                continue
            sid = req.watch_id
            if sid == 0:  # etcd's AutoWatchID: the next id no watch of the stream holds
                while next_id in watches:
                    next_id += 1
                sid = next_id
                next_id += 1
            elif sid in watches:
                hub.cancel(watcher.id)
                out.append(gw.render_watch_refused(header, ErrWatcherDuplicateID.message))
                continue
            watches[sid] = _Watch(req, hub, watcher)
            out.append(gw.render_watch_created(sid, header))
    return out


async def watch_stream(kv: ReplicatedKV, header: Callable[[], gw.Header],
                       applied: Callable[[], Awaitable[None]],
                       requests: Sequence[gw.WatchRequest],
                       progress_notify_ms: int = DEFAULT_PROGRESS_NOTIFY_MS
                       ) -> AsyncIterator[bytes]:
    """The lines of one watch stream on the member whose state machine is ``kv``: ``header``
    gives the current response header, ``applied()`` returns once the member applied more
    entries. Every watcher it made is cancelled when the stream ends."""
    watches: dict[int, _Watch] = {}
    try:
        # Answered before anything is sent: a write meanwhile cannot come between them.
        for answer in _answer(kv, header(), requests, watches):
            yield json_line(answer)
        interval = max(progress_notify_ms, MIN_PROGRESS_NOTIFY_MS) / 1000
        interval += random.uniform(0, interval / 10)  # etcd's jitter, drawn once per stream
        tick = trio.current_time() + interval
        while True:
            hub = kv.store.watch_hub
            for w in watches.values():
                if w.hub is not hub and not w.watcher.canceled:
                    # A snapshot replaced the store: watch on from the next revision in the
                    # new one, as etcd's restored store keeps its watchers (if that history
                    # is gone, the new hub cancels with the compact revision).
                    untaken = [r for r in w.watcher.take() if r.events]
                    start = (untaken[0].events[0].kv.mod_revision if untaken
                             else w.watcher.next_rev)
                    w.hub.cancel(w.watcher.id)
                    w.hub, w.watcher = _hub_watch(kv, w.create, start)
            if hub.unsynced:
                hub.sync()
            for sid, w in watches.items():
                for r in w.watcher.take():
                    h = header()
                    if r.header_revision:  # the revision the response was made at
                        h = dataclasses.replace(h, revision=r.header_revision)
                    pieces = (fragments(r.events, h.revision, sid) if w.create.fragment
                              else [r.events])
                    for i, evs in enumerate(pieces):
                        yield json_line(gw.render_watch_events(
                            sid, h, evs, r.compact_revision, r.canceled,
                            fragment=i < len(pieces) - 1))
                    if r.events:
                        w.progress = False  # etcd elides the next notification
            now = trio.current_time()
            if now >= tick:
                while tick <= now:  # as Go's ticker, missed ticks are dropped
                    tick += interval
                for w in watches.values():
                    if w.create.progress_notify:
                        if w.progress and not w.watcher.canceled:
                            w.hub.progress(w.watcher.id)
                        w.progress = True
                continue  # send the notifications now
            with trio.move_on_at(min(tick, now + (0.1 if hub.unsynced else 1.0))):
                await applied()
    finally:
        for w in watches.values():
            w.hub.cancel(w.watcher.id)
