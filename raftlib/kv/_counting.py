"""A watch hub that counts its work: what dispatching an event to its watchers costs.

:class:`CountingWatchHub` is the store's :class:`~raftlib.kv.WatchHub` with counters: index
probes, watchers matched and responses delivered per event, and how many watchers a hub
without indexes would have had to examine. Install it with :func:`counting_hub`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import cast

from raftlib.kv._store import MVCCStore
from raftlib.kv._types import Event
from raftlib.kv._watch import MAX_WATCHERS_PER_SYNC, WATCH_BATCH_MAX_REVS, WatchHub, _Group

__all__ = ["CountingWatchHub", "DispatchStats", "counting_hub"]


@dataclass(frozen=True, slots=True)
class DispatchStats:
    """What a :class:`CountingWatchHub` did since its counters were last reset.

    ``events``: events notified; ``probes``: index lookups made to find their watchers (one in
    the key dict, one per prefix of the key, one interval-tree query); ``matched``: watchers the
    indexes returned; ``delivered``: responses appended to watchers by live notification;
    ``naive_examined``: watchers a hub without indexes would have examined (every synced
    watcher, for every event); ``replayed``: responses delivered by :meth:`WatchHub.sync` from
    history; ``moved``: watchers moved from unsynced to synced; ``cancelled``: watchers
    cancelled by sync because their start revision was compacted.
    """

    events: int = 0
    probes: int = 0
    matched: int = 0
    delivered: int = 0
    naive_examined: int = 0
    replayed: int = 0
    moved: int = 0
    cancelled: int = 0


class CountingWatchHub(WatchHub):
    """A :class:`WatchHub` that counts its work (see :class:`DispatchStats`)."""

    def __init__(self, store: MVCCStore) -> None:
        super().__init__(store)
        self._stats = DispatchStats()
        self._before: dict[int, int] = {}

    @property
    def stats(self) -> DispatchStats:
        """The counters since the last :meth:`reset`."""
        return self._stats

    def reset(self) -> DispatchStats:
        """Return the counters and start again from zero."""
        out, self._stats = self._stats, DispatchStats()
        return out

    @property
    def synced(self) -> int:
        """Number of watchers in the synced group."""
        return len(self._watchers) - len(self._unsynced)

    def _matching(self, key: bytes, out: list[_Group]) -> None:
        start = len(out)
        super()._matching(key, out)
        matched = 0
        for g in out[start:]:
            matched += len(g.members)
            for wid, w in g.members.items():
                if wid not in self._before:
                    self._before[wid] = w._held()
        s = self._stats
        self._stats = replace(s, events=s.events + 1, probes=s.probes + len(key) + 3,
                              matched=s.matched + matched,
                              naive_examined=s.naive_examined + self.synced)

    def notify(self, revision: int, events: tuple[Event, ...]) -> None:
        self._before = {}
        super().notify(revision, events)
        got = sum(1 for wid, n in self._before.items()
                  if self._watchers[wid]._held() > n)
        self._before = {}
        self._stats = replace(self._stats, delivered=self._stats.delivered + got)

    def sync(self, max_watchers: int = MAX_WATCHERS_PER_SYNC,
             max_revs: int = WATCH_BATCH_MAX_REVS) -> int:
        chosen = sorted(self._unsynced)[:max_watchers]
        before = {wid: self._unsynced[wid]._held() for wid in chosen}
        ws = {wid: self._unsynced[wid] for wid in chosen}
        left = super().sync(max_watchers, max_revs)
        s = self._stats
        cancelled = sum(1 for w in ws.values() if w.canceled)
        replayed = sum(w._held() - before[wid] for wid, w in ws.items() if not w.canceled)
        moved = sum(1 for wid, w in ws.items() if not w.canceled and wid not in self._unsynced)
        self._stats = replace(s, replayed=s.replayed + replayed, moved=s.moved + moved,
                              cancelled=s.cancelled + cancelled)
        return left


def counting_hub(store: MVCCStore) -> CountingWatchHub:
    """Give ``store`` a :class:`CountingWatchHub` as its watch hub (before any watch is made)
    and return it; ``store.watch_hub`` is then that hub."""
    try:
        return cast(CountingWatchHub, store.use_watch_hub(CountingWatchHub))
    except ValueError:
        if isinstance(store.watch_hub, CountingWatchHub):
            return store.watch_hub
        raise
