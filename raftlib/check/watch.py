"""Verdicts on watch streams: etcd's watch guarantees checked against the store's history.

etcd promises (docs, "KV API guarantees", watch): events are **ordered** by revision,
**unique** (never twice), **atomic** (a revision's events are never split across responses),
**reliable** (no event is skipped between two delivered ones) and **resumable** (a watch
restarted from any revision not yet compacted gets exactly the events from there; one started
below the compacted revision is cancelled with ``compact_revision``); and, since etcd 3.5's
docs name it, **bookmarkable**: a progress notification (a response with no events) promises
that every event up to its header revision was delivered before it. :func:`check_watch`
compares what one watcher received with the events of every revision, taken from a source of
truth such as :func:`history_from_store`, and says which guarantee broke and where.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from raftlib.kv import Event, MVCCStore, WatchResponse

__all__ = ["WatchSpec", "WatchVerdict", "WatchViolation", "check_watch", "history_from_store"]

#: The events of each revision, in revision order: ``(revision, events)``.
History = Sequence[tuple[int, Sequence[Event]]]


@dataclass(frozen=True, slots=True)
class WatchSpec:
    """What a watcher asked for (as in :meth:`raftlib.kv.WatchHub.watch`)."""

    key: bytes
    range_end: bytes = b""
    start_revision: int = 1
    prev_kv: bool = False
    filters: frozenset[str] = field(default_factory=frozenset)

    def wants(self, ev: Event) -> bool:
        """Whether an event is in the watched range and passes the filters."""
        k = ev.kv.key
        if not self.range_end:
            inside = k == self.key
        else:
            inside = self.key <= k and (self.range_end == b"\0" or k < self.range_end)
        kind = "NOPUT" if ev.type == "PUT" else "NODELETE"
        return inside and kind not in self.filters


@dataclass(frozen=True, slots=True)
class WatchViolation:
    """One broken guarantee: which, at which revision, and what was seen."""

    guarantee: str
    revision: int
    detail: str


@dataclass(frozen=True, slots=True)
class WatchVerdict:
    """The outcome of :func:`check_watch`; ``ok`` when nothing was violated."""

    violations: tuple[WatchViolation, ...]

    @property
    def ok(self) -> bool:
        """True when every guarantee held."""
        return not self.violations


def history_from_store(store: MVCCStore, since: int = 1) -> list[tuple[int, tuple[Event, ...]]]:
    """Every revision's events from ``since`` on, read from the store's backend, with the
    previous key-values attached (the history must not have been compacted past ``since``)."""
    out: list[tuple[int, tuple[Event, ...]]] = []
    for rev, kv, tomb in store.backend.rows(since):
        prev = store.kv_at(kv.key, rev[0] - 1)
        ev = (Event("DELETE", kv, prev) if tomb else Event("PUT", kv, prev))
        if out and out[-1][0] == rev[0]:
            out[-1] = (rev[0], (*out[-1][1], ev))
        else:
            out.append((rev[0], (ev,)))
    return out


def _strip(ev: Event, keep_prev: bool) -> Event:
    return ev if keep_prev else Event(ev.type, ev.kv, None)


def check_watch(history: History, spec: WatchSpec, responses: Sequence[WatchResponse], *,
                synced_through: int | None = None, compact_revision: int = 0) -> WatchVerdict:
    """Check one watcher's ``responses`` against ``history``.

    ``synced_through``: the revision the watcher is known to have caught up to (every wanted
    event up to it must have arrived); without it only gaps before the last delivered event
    count. ``compact_revision``: the store's compacted revision, to judge a cancellation.
    """
    bad: list[WatchViolation] = []
    expected: dict[int, list[Event]] = {}
    for rev, evs in history:
        if rev >= spec.start_revision:
            wanted = [_strip(e, spec.prev_kv) for e in evs if spec.wants(e)]
            if wanted:
                expected[rev] = wanted
    delivered: dict[int, int] = {}  # revision -> index of the response that carried it
    seen: set[tuple[int, bytes]] = set()
    last_rev = 0
    for i, resp in enumerate(responses):
        if resp.canceled:
            if resp.compact_revision and not spec.start_revision < resp.compact_revision:
                bad.append(WatchViolation("resumable", resp.compact_revision,
                                          f"cancelled as compacted at {resp.compact_revision}, "
                                          f"but it started at {spec.start_revision}"))
            if resp.compact_revision and resp.compact_revision > max(compact_revision, 0):
                bad.append(WatchViolation("resumable", resp.compact_revision,
                                          "cancelled at a revision that was not compacted"))
            continue
        if not resp.events:  # a progress notification
            missed = [r for r in expected if r <= resp.header_revision and r not in delivered]
            if missed:
                bad.append(WatchViolation("bookmarkable", resp.header_revision,
                                          f"progress notified before revision {missed[0]}"))
            continue
        revs_here: list[int] = []
        for ev in resp.events:
            rev = ev.kv.mod_revision
            # A revision seen again in a later response is a split (atomic) or a repeat
            # (unique), reported below; going back in revisions breaks the order.
            if rev < last_rev:
                bad.append(WatchViolation("ordered", rev, f"after revision {last_rev}"))
            last_rev = max(last_rev, rev)
            if (rev, ev.kv.key) in seen:
                bad.append(WatchViolation("unique", rev, f"{ev.kv.key!r} delivered again"))
            seen.add((rev, ev.kv.key))
            if ev not in expected.get(rev, ()):
                bad.append(WatchViolation("valid", rev, f"unexpected event {ev}"))
            if not revs_here or revs_here[-1] != rev:
                revs_here.append(rev)
        for rev in revs_here:
            if delivered.get(rev, i) != i:
                bad.append(WatchViolation("atomic", rev, "split across responses"))
            delivered[rev] = i
            got = [e for e in resp.events if e.kv.mod_revision == rev]
            if rev in expected and len(got) < len(expected[rev]):
                bad.append(WatchViolation("atomic", rev, "only part of the revision"))
    horizon = last_rev if synced_through is None else max(last_rev, synced_through)
    for rev in sorted(expected):
        if rev <= horizon and rev not in delivered:
            bad.append(WatchViolation("reliable", rev, f"{len(expected[rev])} event(s) missed"))
    return WatchVerdict(tuple(bad))
