"""The watch hub: watchers of a key, a range or a prefix, after etcd's ``watchable_store.go``.

A watcher that starts at a past revision is *unsynced*: :meth:`WatchHub.sync` replays its
history from the backend and then moves it to the *synced* group, which receives live events as
the store applies writes. Live delivery therefore never waits for a historical or slow watcher.
Synced watchers are kept in groups of like watchers (same range, filters and ``prev_kv``), and
the groups are indexed by key (a dict), by prefix (a dict probed with every prefix of the
event's key) and, for other ranges, by an interval index (layers of disjoint ranges, one
bisection each, and an interval treap for the rest), so one event costs time in proportion
to the groups it matches (and the length of its key) plus one append per member, not to the
number of watchers. A group's events are filtered once into one shared, immutable ``(header
revision, events)`` pair, which each member only queues; it becomes the member's own
:class:`WatchResponse` when the member's responses are read, so every watcher receives what it
would receive alone.

A response never splits a revision. A live response holds the events of one write (one
revision), as etcd's ``notify``; a replay gathers the watcher's events of up to
:data:`WATCH_BATCH_MAX_REVS` revisions into one response, as etcd's ``syncWatchers``, and a
watcher with more history stays unsynced for the next :meth:`WatchHub.sync`. A progress
notification (:meth:`WatchHub.progress`) is a response with no events, headed by the store's
revision, and only a synced watcher gets one, as etcd's ``watchableStore.progress``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Generic, TypeVar

from raftlib.kv._errors import ErrCompacted, KVError
from raftlib.kv._types import Event, KeyValue, prefix_end

if TYPE_CHECKING:
    from raftlib.kv._store import MVCCStore

__all__ = ["MAX_WATCHERS_PER_SYNC", "WATCH_BATCH_MAX_REVS", "ErrEmptyWatcherRange",
           "ErrWatcherDuplicateID", "WatchFilter", "WatchHub", "WatchResponse", "Watcher"]

#: Unsynced watchers caught up by one :meth:`WatchHub.sync` call (etcd's
#: ``maxWatchersPerSync``).
MAX_WATCHERS_PER_SYNC = 512

#: Distinct revisions one replay response may hold (etcd's ``watchBatchMaxRevs``,
#: ``mvcc/watcher_group.go``).
WATCH_BATCH_MAX_REVS = 1000

#: A watch filter: "NOPUT" drops put events, "NODELETE" drops delete events.
WatchFilter = str


class ErrEmptyWatcherRange(KVError):
    """A watch of ``[key, range_end)`` with ``range_end <= key`` (etcd's ``mvcc`` error; a
    client sees it as the ``cancel_reason`` of a refused watch)."""

    message = "mvcc: watcher range is empty"


class ErrWatcherDuplicateID(KVError):
    """A watch asked for the id of a watch already on its stream (etcd's ``mvcc`` error,
    likewise a ``cancel_reason``)."""

    message = "mvcc: duplicate watch ID provided on the WatchStream"


@dataclass(frozen=True, slots=True)
class WatchResponse:
    """What a watcher receives: events, a progress notification, or its cancellation.

    A live response holds one revision's events and ``header_revision`` is that revision. A
    replay response holds whole revisions, up to :data:`WATCH_BATCH_MAX_REVS` of them, and
    ``header_revision`` is the store's revision when it was read, as in etcd. A watcher
    cancelled because its start revision was compacted gets ``canceled=True``,
    ``compact_revision`` set and no header revision (0), as in etcd 3.4. A progress
    notification has no events and ``header_revision`` the store's revision: the watcher has
    seen every event up to it.
    """

    watch_id: int
    header_revision: int
    events: tuple[Event, ...] = ()
    compact_revision: int = 0
    canceled: bool = False


class Watcher:
    """One watch: its range, options, next revision to deliver, and pending responses."""

    __slots__ = ("_responses", "canceled", "filters", "id", "key", "next_rev",
                 "prev_kv", "range_end", "slow")

    def __init__(self, watch_id: int, key: bytes, range_end: bytes, next_rev: int,
                 prev_kv: bool, filters: frozenset[WatchFilter]) -> None:
        self.id = watch_id
        self.key = key
        self.range_end = range_end
        self.next_rev = next_rev
        self.prev_kv = prev_kv
        self.filters = filters
        self.canceled = False
        # Responses in order; a live delivery is queued as a shared ``(header_revision,
        # events)`` pair (one per group of like watchers, see :class:`_Group`) and becomes this
        # watcher's :class:`WatchResponse` when read. No deque until the first response: an
        # idle watcher stays small.
        self._responses: deque[WatchResponse | _Live] | None = None
        self.slow = False  # its consumer fell behind: it waits for take() to catch up

    @property
    def responses(self) -> deque[WatchResponse]:
        """The responses delivered and not yet taken, oldest first."""
        q = self._queue()
        if any(type(r) is tuple for r in q):
            wid = self.id
            for _ in range(len(q)):  # in place: the deque stays the same object
                r = q.popleft()
                q.append(WatchResponse(wid, r[0], r[1]) if type(r) is tuple else r)
        return q  # type: ignore[return-value]  # every entry is a WatchResponse now

    def take(self) -> list[WatchResponse]:
        """Remove and return the responses delivered so far."""
        q = self._responses
        self.slow = False
        if q is None:
            return []
        wid = self.id
        out = [WatchResponse(wid, r[0], r[1]) if type(r) is tuple else r for r in q]
        q.clear()
        return out  # type: ignore[return-value]  # every entry is a WatchResponse

    def _queue(self) -> deque[WatchResponse | _Live]:
        """The deque of responses, made on first use."""
        q = self._responses
        if q is None:
            q = self._responses = deque()
        return q

    def _held(self) -> int:
        """Responses held, not yet taken."""
        q = self._responses
        return 0 if q is None else len(q)

    def _deliver(self, header_revision: int, events: list[Event], next_rev: int) -> None:
        """Append one response of ``events`` (after this watcher's filters and ``prev_kv``)
        and expect ``next_rev`` next."""
        kept = _kept(events, self.prev_kv, self.filters)
        if kept:  # etcd sends nothing when filters removed every event
            self._queue().append(WatchResponse(self.id, header_revision, kept))
        self.next_rev = next_rev


#: A live response shared by the watchers of a group: ``(header_revision, events)``.
_Live = tuple[int, tuple[Event, ...]]


def _kept(events: list[Event], prev_kv: bool, filters: frozenset[WatchFilter]
          ) -> tuple[Event, ...]:
    """``events`` as a watcher with ``prev_kv`` and ``filters`` receives them."""
    return tuple(
        e if prev_kv or e.prev_kv is None else replace(e, prev_kv=None)
        for e in events
        if not (e.type == "PUT" and "NOPUT" in filters)
        and not (e.type == "DELETE" and "NODELETE" in filters)
    )


class _Group:
    """Synced watchers with the same range, filters and ``prev_kv``: they match the same
    events and receive the same events, so a write computes their response once (as etcd
    encodes an event once per stream) and each member only queues it."""

    __slots__ = ("filters", "gid", "key", "members", "prev_kv", "range_end")

    def __init__(self, gid: int, w: Watcher) -> None:
        self.gid = gid
        self.key = w.key
        self.range_end = w.range_end
        self.filters = w.filters
        self.prev_kv = w.prev_kv
        self.members: dict[int, Watcher] = {}


_GroupKey = tuple[bytes, bytes, frozenset[WatchFilter], bool]


# An end key that sorts after every key: (1, b"") for "no end", (0, end) otherwise.
_End = tuple[int, bytes]

_T = TypeVar("_T")

#: Layers of pairwise disjoint ranges an :class:`_IntervalIndex` keeps before it puts a range
#: in its treap.
_MAX_LAYERS = 3


def _end_bytes(end: _End) -> bytes:
    """``end`` as the treap compares it, bytes being faster to compare than tuples: b"\1" +
    end, or b"\2" (after every such end) for "no end"; a key is compared as b"\1" + key."""
    return b"\2" if end[0] else b"\1" + end[1]


def _mix(x: int) -> int:
    """splitmix64's finaliser: a deterministic, well-spread treap priority for an id."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


class _Node(Generic[_T]):
    __slots__ = ("end", "item", "left", "max_end", "prio", "right", "start", "wid")

    def __init__(self, start: bytes, end: bytes, wid: int, item: _T) -> None:
        self.start = start
        self.end = end
        self.item = item
        self.wid = wid
        self.prio = _mix(wid)
        self.left: _Node[_T] | None = None
        self.right: _Node[_T] | None = None
        self.max_end = end


def _fix(n: _Node[_T]) -> _Node[_T]:
    m = n.end
    if n.left is not None and n.left.max_end > m:
        m = n.left.max_end
    if n.right is not None and n.right.max_end > m:
        m = n.right.max_end
    n.max_end = m
    return n


def _split(n: _Node[_T] | None, k: tuple[bytes, int]
           ) -> tuple[_Node[_T] | None, _Node[_T] | None]:
    """Split into nodes ordered before ``k`` and the rest."""
    if n is None:
        return None, None
    if (n.start, n.wid) < k:
        n.right, right = _split(n.right, k)
        return _fix(n), right
    left, n.left = _split(n.left, k)
    return left, _fix(n)


def _merge(a: _Node[_T] | None, b: _Node[_T] | None) -> _Node[_T] | None:
    if a is None:
        return b
    if b is None:
        return a
    if a.prio > b.prio:
        a.right = _merge(a.right, b)
        return _fix(a)
    b.left = _merge(a, b.left)
    return _fix(b)


class _IntervalTreap(Generic[_T]):
    """Intervals ``[start, end)``, each with an id and an item, with stabbing queries, as a
    treap ordered by (start, id) and augmented with the largest end of each subtree: O(log n)
    updates, O(log n + matches) expected queries."""

    def __init__(self) -> None:
        self._root: _Node[_T] | None = None

    def insert(self, start: bytes, end: _End, wid: int, item: _T) -> None:
        """Add the interval ``[start, end)`` with id ``wid`` (unique) and ``item``."""
        left, right = _split(self._root, (start, wid))
        self._root = _merge(_merge(left, _Node(start, _end_bytes(end), wid, item)), right)

    def remove(self, start: bytes, wid: int) -> None:
        left, rest = _split(self._root, (start, wid))
        _, right = _split(rest, (start, wid + 1))
        self._root = _merge(left, right)

    def stab(self, key: bytes, out: list[_T]) -> None:
        """Append the items of the intervals holding ``key``."""
        point = b"\1" + key
        stack: list[_Node[_T]] = []
        n = self._root
        while True:
            # Walk down the left spine of subtrees that may hold the point; right subtrees
            # only qualify below a node starting at or before it.
            while n is not None and n.max_end > point:
                if n.start <= key:
                    if point < n.end:
                        out.append(n.item)
                    r = n.right
                    if r is not None and r.max_end > point:
                        stack.append(r)
                n = n.left
            if not stack:
                return
            n = stack.pop()


class _Layer(Generic[_T]):
    """Pairwise disjoint, non-empty intervals sorted by start: a key is in at most one of
    them, the last that starts at or before it, which one bisection finds (in C)."""

    __slots__ = ("ends", "items", "starts")

    def __init__(self) -> None:
        self.starts: list[bytes] = []
        self.ends: list[bytes] = []  # as _end_bytes
        self.items: list[_T] = []

    def place(self, start: bytes, end: bytes) -> int:
        """Where ``[start, end)`` would go, or -1 if it overlaps an interval here."""
        starts = self.starts
        i = bisect_right(starts, start)
        if i and self.ends[i - 1] > b"\1" + start:
            return -1
        if i < len(starts) and b"\1" + starts[i] < end:
            return -1
        return i


class _IntervalIndex(Generic[_T]):
    """Intervals ``[start, end)``, each with a unique id and an item, with stabbing queries.

    Up to :data:`_MAX_LAYERS` layers of pairwise disjoint intervals answer a query with one
    bisection each (watched ranges rarely overlap much); an interval that overlaps one in every
    layer goes to an :class:`_IntervalTreap`, so a query costs at most the layers' bisections
    plus the treap's O(log n + matches)."""

    def __init__(self) -> None:
        self._layers: list[_Layer[_T]] = []
        self._treap: _IntervalTreap[_T] = _IntervalTreap()
        self._where: dict[int, int] = {}  # id -> its layer, or -1: in the treap

    def insert(self, start: bytes, end: _End, wid: int, item: _T) -> None:
        """Add the interval ``[start, end)`` with id ``wid`` (unique) and ``item``."""
        e = _end_bytes(end)
        if e > b"\1" + start:  # an empty interval holds no key: the treap keeps it
            layers = self._layers
            for n, layer in enumerate(layers):
                i = layer.place(start, e)
                if i >= 0:
                    self._add(n, i, start, e, wid, item)
                    return
            if len(layers) < _MAX_LAYERS:
                layers.append(_Layer())
                self._add(len(layers) - 1, 0, start, e, wid, item)
                return
        self._treap.insert(start, end, wid, item)
        self._where[wid] = -1

    def _add(self, n: int, i: int, start: bytes, end: bytes, wid: int, item: _T) -> None:
        layer = self._layers[n]
        layer.starts.insert(i, start)
        layer.ends.insert(i, end)
        layer.items.insert(i, item)
        self._where[wid] = n

    def remove(self, start: bytes, wid: int) -> None:
        """Remove the interval with id ``wid``, which starts at ``start``."""
        n = self._where.pop(wid)
        if n < 0:
            self._treap.remove(start, wid)
            return
        layer = self._layers[n]
        i = bisect_left(layer.starts, start)  # starts in a layer are distinct
        del layer.starts[i], layer.ends[i], layer.items[i]

    def stab(self, key: bytes, out: list[_T]) -> None:
        """Append the items of the intervals holding ``key``."""
        point = b"\1" + key
        for layer in self._layers:
            i = bisect_right(layer.starts, key) - 1
            if i >= 0 and point < layer.ends[i]:
                out.append(layer.items[i])
        self._treap.stab(key, out)


class WatchHub:
    """Watchers of one :class:`MVCCStore`, fed by the store after every write."""

    def __init__(self, store: MVCCStore, max_pending: int = 0) -> None:
        self._store = store
        #: Responses a synced watcher may hold untaken before it is moved aside (0: no bound).
        self.max_pending = max_pending
        self._next_id = 0
        self._watchers: dict[int, Watcher] = {}
        self._unsynced: dict[int, Watcher] = {}
        # The synced watchers, in groups of like watchers, and the indexes of the groups.
        self._groups: dict[_GroupKey, _Group] = {}
        self._next_gid = 0
        self._by_key: dict[bytes, dict[int, _Group]] = {}
        self._by_prefix: dict[bytes, dict[int, _Group]] = {}
        self._ranges: _IntervalIndex[_Group] = _IntervalIndex()

    @property
    def store(self) -> MVCCStore:
        """The store whose writes this hub delivers."""
        return self._store

    def watch(self, key: bytes, range_end: bytes = b"", *, start_revision: int = 0,
              prev_kv: bool = False, filters: frozenset[WatchFilter] = frozenset()) -> Watcher:
        """Watch ``key`` or ``[key, range_end)`` (``b"\\0"``: every key from ``key`` on) from
        ``start_revision`` (0: the next revision). A past start makes the watcher unsynced
        until :meth:`sync` replays its history. A range that holds no key (``range_end <=
        key``) is refused with :class:`ErrEmptyWatcherRange`, as etcd refuses it."""
        if range_end not in (b"", b"\0") and key >= range_end:
            raise ErrEmptyWatcherRange()
        w = Watcher(self._next_id, key, range_end,
                    start_revision if start_revision > 0 else self._store.revision + 1,
                    prev_kv, frozenset(filters))
        self._next_id += 1
        self._watchers[w.id] = w
        if w.next_rev <= self._store.revision:
            self._unsynced[w.id] = w
        else:
            self._add_synced(w)
        return w

    def cancel(self, watch_id: int) -> None:
        """Stop a watcher; it receives a final ``canceled`` response."""
        w = self._watchers.pop(watch_id, None)
        if w is None:
            return
        self._unlink(w)
        w.canceled = True
        w._queue().append(WatchResponse(w.id, self._store.revision, canceled=True))

    def progress(self, watch_id: int) -> None:
        """Queue a progress notification for the watcher: a response with no events headed by
        the store's revision, for a synced watcher only (an unsynced one has not seen that
        revision yet), as etcd's ``watchableStore.progress``."""
        w = self._watchers.get(watch_id)
        if w is not None and watch_id not in self._unsynced:
            w._queue().append(WatchResponse(watch_id, self._store.revision))

    def __len__(self) -> int:
        """Number of live watchers."""
        return len(self._watchers)

    @property
    def unsynced(self) -> int:
        """Number of watchers still catching up."""
        return len(self._unsynced)

    @property
    def pending(self) -> int:
        """Responses delivered but not yet taken, over every watcher."""
        return sum(w._held() for w in self._watchers.values())

    def watcher(self, watch_id: int) -> Watcher | None:
        """The live watcher with this id, if any."""
        return self._watchers.get(watch_id)

    def _add_synced(self, w: Watcher) -> None:
        gk = (w.key, w.range_end, w.filters, w.prev_kv)
        g = self._groups.get(gk)
        if g is None:
            g = self._groups[gk] = _Group(self._next_gid, w)
            self._next_gid += 1
            if not w.range_end:
                self._by_key.setdefault(w.key, {})[g.gid] = g
            elif w.range_end == prefix_end(w.key):
                self._by_prefix.setdefault(w.key, {})[g.gid] = g
            else:
                end: _End = (1, b"") if w.range_end == b"\0" else (0, w.range_end)
                self._ranges.insert(w.key, end, g.gid, g)
        g.members[w.id] = w

    def _unlink(self, w: Watcher) -> None:
        if self._unsynced.pop(w.id, None) is not None:
            return
        gk = (w.key, w.range_end, w.filters, w.prev_kv)
        g = self._groups[gk]
        del g.members[w.id]
        if g.members:
            return
        del self._groups[gk]
        if not w.range_end:
            index = self._by_key
        elif w.range_end == prefix_end(w.key):
            index = self._by_prefix
        else:
            self._ranges.remove(w.key, g.gid)
            return
        groups = index[w.key]
        del groups[g.gid]
        if not groups:
            del index[w.key]

    def _matching(self, key: bytes, out: list[_Group]) -> None:
        """Append the groups whose range holds ``key``."""
        groups = self._by_key.get(key)
        if groups:
            out.extend(groups.values())
        by_prefix = self._by_prefix
        if by_prefix:
            for i in range(len(key) + 1):
                groups = by_prefix.get(key[:i])
                if groups:
                    out.extend(groups.values())
        self._ranges.stab(key, out)

    def notify(self, revision: int, events: tuple[Event, ...]) -> None:
        """Deliver the events of one revision to the synced watchers that match them
        (called by the store after each write).

        The work is per group of like watchers: their events are matched, filtered and put
        in one shared response once; each member whose next revision has come only queues
        it (and becomes its own :class:`WatchResponse` when read)."""
        batches: dict[int, tuple[_Group, list[Event]]] = {}
        groups: list[_Group] = []
        for ev in events:
            groups.clear()
            self._matching(ev.kv.key, groups)
            for g in groups:
                batch = batches.get(g.gid)
                if batch is None:
                    batches[g.gid] = (g, [ev])
                else:
                    batch[1].append(ev)
        after = revision + 1
        max_pending = self.max_pending
        slow: list[Watcher] = []
        for g, evs in batches.values():
            kept = _kept(evs, g.prev_kv, g.filters)
            if not kept:  # etcd sends nothing when filters removed every event
                for w in g.members.values():
                    if w.next_rev <= revision:
                        w.next_rev = after
                        if max_pending and w._held() > max_pending:
                            slow.append(w)  # it may hold replayed responses past the bound
                continue
            live: _Live = (revision, kept)
            for w in g.members.values():
                if w.next_rev <= revision:
                    q = w._responses
                    if q is None:
                        q = w._responses = deque()
                    q.append(live)
                    w.next_rev = after
                    if max_pending and len(q) > max_pending:
                        slow.append(w)
        if slow:
            slow.sort(key=lambda w: w.id)
            for w in slow:
                self._move_aside(w)

    def _move_aside(self, w: Watcher) -> None:
        """A consumer that does not keep up must not make the hub buffer without bound: as
        etcd does with a slow watcher, drop what it holds and make it unsynced from the first
        revision it has not taken; once its consumer takes again, :meth:`sync` catches it up
        from the store (or cancels it, if that history was compacted meanwhile)."""
        q = w._queue()
        first = w.next_rev
        for r in q:  # the first held response with events (not a progress notification)
            evs = r.events if isinstance(r, WatchResponse) else r[1]
            if evs:
                first = evs[0].kv.mod_revision
                break
        q.clear()
        self._unlink(w)
        w.next_rev = first
        w.slow = True
        self._unsynced[w.id] = w

    def sync(self, max_watchers: int = MAX_WATCHERS_PER_SYNC,
             max_revs: int = WATCH_BATCH_MAX_REVS) -> int:
        """Catch up to ``max_watchers`` unsynced watchers (lowest ids first) from the backend
        and move them to the synced group; return how many are still unsynced (leaving out
        slow watchers, which wait for their consumer to take what they hold).

        Each watcher gets one response with its events of up to ``max_revs`` revisions (whole
        revisions; its header revision is the store's current one). A watcher with more
        history left stays unsynced, and the next call continues from there. A watcher whose
        start revision is below the compacted revision is cancelled with ``compact_revision``
        set instead. All as etcd's ``syncWatchers``.
        """
        store = self._store
        chosen = sorted(wid for wid, w in self._unsynced.items() if not w.slow)[:max_watchers]
        for wid in chosen:
            w = self._unsynced.pop(wid)
            if w.next_rev < store.compact_revision:
                del self._watchers[wid]
                w.canceled = True
                w._queue().append(WatchResponse(wid, 0,
                                                 compact_revision=store.compact_revision,
                                                 canceled=True))
                continue
            batch: list[Event] = []
            revs = 0
            more = 0  # the first revision left for the next sync, if any
            for rev, kv, tomb in store.backend.rows(w.next_rev, store.revision,
                                                    w.key, w.range_end):
                if not batch or rev[0] != batch[-1].kv.mod_revision:
                    revs += 1
                    if revs > max_revs:
                        more = rev[0]
                        break
                batch.append(self._history_event(kv, tomb, w.prev_kv))
            if batch:
                w._deliver(store.revision, batch, more or store.revision + 1)
            w.next_rev = more or store.revision + 1
            if more:
                self._unsynced[wid] = w
            else:
                self._add_synced(w)
        return sum(not w.slow for w in self._unsynced.values())

    def _history_event(self, kv: KeyValue, tomb: bool, want_prev: bool) -> Event:
        prev = None
        if want_prev:
            # As etcd's watch server: the key at the revision before, if still readable.
            try:
                r = self._store.range(kv.key, revision=kv.mod_revision - 1)
                prev = r.kvs[0] if r.kvs else None
            except ErrCompacted:
                prev = None
        if tomb:
            return Event("DELETE", KeyValue(kv.key, 0, kv.mod_revision, 0, b""), prev)
        return Event("PUT", kv, prev)
