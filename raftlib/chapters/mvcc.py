"""Chapter 2, MVCC: staging revisions, versions and compaction on a store or any cluster.

The store helpers only read and drive an :class:`~raftlib.kv.MVCCStore` through its public
surface (and its backend's stored rows); :func:`revisions_and_compaction` is the chapter's
story on any engine of the :class:`raftlib.Cluster` interface.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from raftlib._cluster import Cluster
from raftlib.chapters._engines import _outcome, _poll
from raftlib.kv import KeyValue, KVError, MVCCStore
from raftlib.viz._panels import _text as _viz_text

__all__ = ["Change", "RevisionsResult", "attempt", "key_history", "kv_line",
           "revisions_and_compaction"]

def _text(b: bytes, limit: int = 24) -> str:
    return _viz_text(b, limit)


def kv_line(kv: KeyValue | None) -> str:
    """One key-value on one line, e.g. ``"a = 1 (create_revision=2, mod_revision=3,
    version=2)"``; ``"(no key)"`` for None. Values longer than 24 bytes show only their
    length."""
    if kv is None:
        return "(no key)"
    return (f"{_text(kv.key, limit=256)} = {_text(kv.value)} (create_revision={kv.create_revision},"
            f" mod_revision={kv.mod_revision}, version={kv.version})")


def attempt(action: Callable[[], object]) -> str:
    """Run ``action``: ``"ok"``, or the etcd error message of the :class:`KVError` it raised."""
    try:
        action()
    except KVError as exc:
        return exc.message
    return "ok"


@dataclass(frozen=True, slots=True)
class Change:
    """One stored change: a put or a delete (tombstone) of ``key`` at ``revision``."""

    revision: int
    key: str
    kind: Literal["PUT", "DELETE"]
    value: str


def key_history(store: MVCCStore) -> list[Change]:
    """Every change the store still holds, in revision order (after a compaction, superseded
    versions at or below the compacted revision are gone, so take it before compacting to
    draw what compaction erases)."""
    return [Change(rev[0], _text(kv.key), "DELETE" if tomb else "PUT", _text(kv.value))
            for rev, kv, tomb in store.backend.rows()]


@dataclass(frozen=True)
class RevisionsResult:
    """Revisions, versions, a past read, compaction (see :func:`revisions_and_compaction`)."""

    VARIES: ClassVar[tuple[str, ...]] = ()
    put_revisions: tuple[int, ...]
    delete_revision: int
    deleted: int
    a_now: tuple[bytes, int, int, int]
    a_at_3: bytes | None
    keys_at_4: tuple[bytes, ...]
    recreated: tuple[int, int, int]
    compact_to: int
    read_below_compaction: str
    read_at_compaction: tuple[bytes, ...]
    final_revision: int


def revisions_and_compaction(cluster: Cluster) -> RevisionsResult:
    """Puts and a delete on a fresh cluster; revision, version, create and mod revisions; a
    read at an old revision; compaction and the error a read below it gets."""
    _poll(cluster, cluster.leader, 20_000)
    c = cluster.client(cluster.members[0])
    puts = tuple(c.put(k, v).header_revision
                 for k, v in ((b"a", b"1"), (b"b", b"1"), (b"a", b"2"), (b"c", b"1"),
                              (b"a", b"3")))
    d = c.delete(b"b")
    kv = c.get(b"a").kvs[0]
    old = c.get(b"a", revision=3).kvs
    at4 = tuple(x.key for x in c.get(b"a", b"z", revision=4).kvs)
    c.delete(b"c")
    again = c.put(b"c", b"2").header_revision
    ckv = c.get(b"c").kvs[0]
    to = again - 1
    c.compact(to)
    below = _outcome(lambda: c.get(b"a", revision=to - 1))
    at = tuple(x.key for x in c.get(b"a", b"z", revision=to).kvs)
    return RevisionsResult(puts, d.header_revision, d.deleted,
                           (kv.value, kv.version, kv.create_revision, kv.mod_revision),
                           old[0].value if old else None, at4,
                           (ckv.version, ckv.create_revision, ckv.mod_revision), to, below, at,
                           c.get(b"a").header_revision)
