"""The store's persistent backend: SQLite from the standard library, standing in for bbolt.

As in etcd, every version of every key is a row keyed by its revision (main, sub), holding the
whole key-value; the key index is not stored but rebuilt from these rows on open. Sizes are real:
``size`` is the file size (``page_count * page_size``), ``size_in_use`` leaves out the free
pages. Deleting rows (compaction) frees pages without shrinking the file; only
:meth:`SqliteBackend.defragment` (``VACUUM``) gives them back, like ``etcdctl defrag``.

Threads: a backend may be used from any thread, one call at a time. A notebook creates a store
on the kernel's main thread, and JupyterLab's widget messages arrive on another one (a kernel
subshell), so the connection is opened with ``check_same_thread=False`` and every use of it holds
:attr:`SqliteBackend.lock`. There is one connection, not one per thread: an in-memory database
exists only inside its connection, and a store request is one transaction on it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Concatenate, ParamSpec, TypeVar

from raftlib.kv._index import Revision
from raftlib.kv._types import AlarmMember, AlarmType, KeyValue

__all__ = ["BackendRow", "SqliteBackend"]

#: A stored version: its revision, its key-value, and whether it is a tombstone.
BackendRow = tuple[Revision, KeyValue, bool]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    main INTEGER NOT NULL, sub INTEGER NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,
    create_revision INTEGER NOT NULL, version INTEGER NOT NULL, lease INTEGER NOT NULL,
    tombstone INTEGER NOT NULL, PRIMARY KEY (main, sub)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alarm (member_id INTEGER NOT NULL, alarm TEXT NOT NULL,
    PRIMARY KEY (member_id, alarm)) WITHOUT ROWID;
"""
# Created with the first lease, so that a store that never uses leases keeps its size.
_LEASE_SCHEMA = ("CREATE TABLE IF NOT EXISTS lease (id INTEGER PRIMARY KEY, ttl INTEGER NOT NULL) "
                 "WITHOUT ROWID")

_COLUMNS = "main, sub, key, value, create_revision, version, lease, tombstone"


def _row(r: tuple[int, int, bytes, bytes, int, int, int, int]) -> BackendRow:
    main, sub, key, value, create, version, lease, tomb = r
    return (main, sub), KeyValue(key, create, main, version, value, lease), bool(tomb)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _locked(method: Callable[Concatenate[SqliteBackend, _P], _R],
            ) -> Callable[Concatenate[SqliteBackend, _P], _R]:
    """Run the method holding the backend's lock."""

    @functools.wraps(method)
    def locked(self: SqliteBackend, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self.lock:
            return method(self, *args, **kwargs)

    return locked


class SqliteBackend:
    """Revisions, metadata and alarms in one SQLite database (``":memory:"`` by default).

    Writes go into an open SQLite transaction that :meth:`commit` ends, so that one store
    request is one atomic backend transaction, as one etcd apply is one bbolt batch.

    Every method holds :attr:`lock` (re-entrant) while it uses the connection, so any thread
    may call them; a caller that makes several calls one unit (a store request) holds it too.
    """

    #: Rows :meth:`rows` reads per query, each query under the lock.
    ROWS_CHUNK = 512

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self.lock = threading.RLock()
        self._in_txn = False
        self._batch = False
        self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves. check_same_thread=False: the
        # connection moves between threads, and self.lock makes its users take turns.
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if self.path != ":memory:":
            # Durability is the Raft log's job, as bbolt batches commits behind etcd's WAL.
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        self._page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
        # Cached until the next write, or inside a batch until the batch ends: like etcd's
        # bbolt size, which changes when the backend commits, the quota check of a batch's
        # writes sees the size from before the batch (one PRAGMA per batch, not per write).
        self._size: int | None = None
        self._alarms: tuple[AlarmMember, ...] | None = None
        return db

    @_locked
    def close(self) -> None:
        """Commit what is pending and close the database."""
        self.commit()
        self._db.close()

    def _begin(self) -> None:
        if not self._batch:
            self._size = None
        if not self._in_txn:
            self._db.execute("SAVEPOINT w" if self._batch else "BEGIN")
            self._in_txn = True

    @_locked
    def commit(self) -> None:
        """End the current write transaction, if any."""
        if self._in_txn:
            self._db.execute("RELEASE w" if self._batch else "COMMIT")
            self._in_txn = False

    @_locked
    def rollback(self) -> None:
        """Abandon the current write transaction, if any."""
        self._size = None
        self._alarms = None
        if self._in_txn:
            self._db.execute("ROLLBACK TO w" if self._batch else "ROLLBACK")
            if self._batch:
                self._db.execute("RELEASE w")
            self._in_txn = False

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group the writes made inside into one SQLite transaction. Each ``commit`` and
        ``rollback`` inside still ends its own write (a savepoint), so a failed request undoes
        only itself; the database file is written once, at the end. The runtime applies a
        whole batch of log entries this way: the Raft log, not the store, makes them durable.
        """
        with self.lock:  # the whole batch: another thread's writes must not join it
            self.commit()
            self._db.execute("BEGIN")
            self._batch = True
            try:
                yield
            finally:
                self.commit()
                self._batch = False
                self._size = None
                self._db.execute("COMMIT")

    @_locked
    def put(self, rev: Revision, kv: KeyValue, tombstone: bool = False) -> None:
        """Store one version (or tombstone) at ``rev``."""
        self._begin()
        self._db.execute(
            f"INSERT INTO kv ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (rev[0], rev[1], kv.key, kv.value, kv.create_revision, kv.version, kv.lease,
             int(tombstone)),
        )

    @_locked
    def put_many(self, rows: Iterable[BackendRow]) -> None:
        """Store many versions in one statement (bulk loading for benchmarks and restores)."""
        self._begin()
        self._db.executemany(
            f"INSERT INTO kv ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ((r[0], r[1], kv.key, kv.value, kv.create_revision, kv.version, kv.lease, int(t))
             for r, kv, t in rows),
        )

    @_locked
    def get(self, rev: Revision) -> KeyValue:
        """The key-value stored at ``rev`` (which must exist)."""
        cur = self._db.execute(f"SELECT {_COLUMNS} FROM kv WHERE main = ? AND sub = ?", rev)
        return _row(cur.fetchone())[1]

    def rows(self, min_main: int = 0, max_main: int | None = None,
             key: bytes = b"", range_end: bytes = b"") -> Iterator[BackendRow]:
        """Stored versions with ``min_main <= main <= max_main`` in revision order, restricted
        to ``key`` (or ``[key, range_end)``, ``b"\\0"``: unbounded) when ``key`` is given.

        Read :attr:`ROWS_CHUNK` rows per query, each under the lock, so that no cursor stays
        open between the caller's steps (another thread may use the backend meanwhile)."""
        sql = f"SELECT {_COLUMNS} FROM kv WHERE main >= ?"
        args: list[object] = [min_main]
        if max_main is not None:
            sql += " AND main <= ?"
            args.append(max_main)
        if key:
            if not range_end:
                sql += " AND key = ?"
                args.append(key)
            else:
                sql += " AND key >= ?"
                args.append(key)
                if range_end != b"\0":
                    sql += " AND key < ?"
                    args.append(range_end)
        sql += " AND (main, sub) > (?, ?) ORDER BY main, sub LIMIT ?"
        after: tuple[int, int] = (-1, -1)
        while True:
            with self.lock:
                chunk = self._db.execute(sql, [*args, *after, self.ROWS_CHUNK]).fetchall()
            for r in chunk:
                yield _row(r)
            if len(chunk) < self.ROWS_CHUNK:
                return
            after = (chunk[-1][0], chunk[-1][1])

    @_locked
    def delete_compacted(self, at_main: int, keep: set[Revision]) -> None:
        """Delete every version with ``main <= at_main`` except those in ``keep``."""
        self._begin()
        doomed = [
            (m, s) for m, s in self._db.execute("SELECT main, sub FROM kv WHERE main <= ?",
                                               (at_main,))
            if (m, s) not in keep
        ]
        self._db.executemany("DELETE FROM kv WHERE main = ? AND sub = ?", doomed)

    @_locked
    def get_meta(self, name: str, default: int = 0) -> int:
        """An integer kept in the meta table (current and compacted revisions)."""
        r = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return default if r is None else int(r[0])

    @_locked
    def set_meta(self, name: str, value: int) -> None:
        """Set an integer in the meta table."""
        self._begin()
        self._db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    @_locked
    def alarms(self) -> tuple[AlarmMember, ...]:
        """The raised alarms, ordered by member and type."""
        if self._alarms is None:
            cur = self._db.execute("SELECT member_id, alarm FROM alarm ORDER BY member_id, alarm")
            self._alarms = tuple(AlarmMember(m, AlarmType(a)) for m, a in cur)
        return self._alarms

    @_locked
    def set_alarm(self, member: AlarmMember, raised: bool) -> None:
        """Raise or clear one alarm."""
        self._begin()
        self._alarms = None
        if raised:
            self._db.execute("INSERT OR IGNORE INTO alarm VALUES (?, ?)",
                             (member.member_id, member.alarm.value))
        else:
            self._db.execute("DELETE FROM alarm WHERE member_id = ? AND alarm = ?",
                             (member.member_id, member.alarm.value))

    @_locked
    def leases(self) -> dict[int, int]:
        """Every lease's id and granted TTL (etcd's ``lease`` bucket)."""
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'lease'").fetchone() is None:
            return {}
        return {int(i): int(t) for i, t in self._db.execute("SELECT id, ttl FROM lease")}

    @_locked
    def leased(self) -> list[tuple[Revision, bytes, int]]:
        """Revision, key and lease of every stored version attached to a lease (the store
        keeps those still current: the keys each lease holds)."""
        cur = self._db.execute("SELECT main, sub, key, lease FROM kv WHERE lease != 0 "
                               "AND tombstone = 0")
        return [((m, s), k, lease) for m, s, k, lease in cur]

    @_locked
    def set_lease(self, lid: int, ttl: int | None) -> None:
        """Store a granted lease, or delete it (``ttl`` None)."""
        self._begin()
        self._db.execute(_LEASE_SCHEMA)
        if ttl is None:
            self._db.execute("DELETE FROM lease WHERE id = ?", (lid,))
        else:
            self._db.execute("INSERT INTO lease (id, ttl) VALUES (?, ?)", (lid, ttl))

    @_locked
    def dump(self) -> bytes:
        """The whole database as bytes (SQLite's serialize): a snapshot of the backend."""
        self.commit()
        return self._db.serialize()

    @_locked
    def load(self, data: bytes) -> None:
        """Replace the whole database by ``data`` from :meth:`dump` (page for page, so the
        sizes come back too). A file-backed database becomes that file, as etcd swaps in the
        bbolt file of a snapshot."""
        self.commit()
        self._size = None
        self._alarms = None
        if self.path == ":memory:":
            self._db.deserialize(data)
            self._page_size = self._pragma("page_size")
            return
        self._db.close()
        for stale in (self.path + "-wal", self.path + "-shm"):
            if os.path.exists(stale):
                os.remove(stale)
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, self.path)
        self._db = self._connect()

    @_locked
    def _pragma(self, name: str) -> int:
        return int(self._db.execute(f"PRAGMA {name}").fetchone()[0])

    @_locked
    def size(self) -> int:
        """Size of the database file in bytes (etcd's ``dbSize``)."""
        if self._size is None:
            self._size = self._pragma("page_count") * self._page_size
        return self._size

    @_locked
    def size_in_use(self) -> int:
        """Bytes of the file holding live pages (etcd's ``dbSizeInUse``)."""
        return (self._pragma("page_count") - self._pragma("freelist_count")) * self._page_size

    @_locked
    def defragment(self) -> None:
        """Rewrite the database without its free pages (``VACUUM``)."""
        self.commit()
        self._size = None
        self._db.execute("VACUUM")
