"""Durable Raft storage: a write-ahead log with checksums, plus snapshot files.

:class:`DiskStorage` is a :class:`~raftlib.raft.MemoryStorage` whose every change is also
written to a directory, so a member survives ``kill -9`` (once ``save`` returns) and power loss
(once ``sync`` returns).

Layout of the directory:

- ``wal-<seq:016x>.log``: the write-ahead log, one *segment* at a time. A segment starts with a
  snapshot marker (index, term), then the hard state and the entries after that snapshot, then
  every later write.
- ``snap-<term:016x>-<index:016x>.snap``: snapshot data and membership, with its own CRC32.
- ``LOCK``: held with ``flock`` while the directory is open, so two processes never share it.
- ``SYNCED``: the *synced mark*, ``<segment seq:u64> <offset:u64> <crc32:u32>``: after every
  completed fsync, how far the live segment is known to be on disk. It is overwritten in place
  without an fsync of its own (it rides on the next one), so after power loss it may lag; it
  never runs ahead of the data.

A WAL record is a 9-byte header ``<length:u32> <crc32:u32> <type:u8>`` (little endian; the CRC
is ``zlib.crc32`` of the type byte followed by the payload) and a msgpack payload. Types: entries,
hard state, snapshot marker. One ``save`` is one ``os.write``: its entries record comes before
its hard-state record, so a torn save can lose the commit index but never record a commit
beyond the entries that reached the disk.

Compaction and snapshot installation *rotate* the log: the snapshot file is written atomically
(temporary file, fsync, rename, fsync of the directory), then a new segment holding the whole
state after the snapshot is written the same way, and only then are older segments and
snapshots deleted. The newest two segments and the snapshots they name are kept; the older one
lets recovery fall back when the newest snapshot file turns out to be damaged.

Recovery rules, applied when the directory is opened:

1. Only the segment with the highest sequence number is live; ``*.tmp`` files (a rotation that
   did not finish) are ignored and deleted, as are segments and snapshots older than the two
   newest segments need (a rotation that finished but had not cleaned up yet).
2. Records are read from the start of the live segment. The valid prefix ends at a *torn tail*,
   which is: a header cut short; a record whose length reaches past the end of the file; a
   record with a bad checksum that is the last thing in the file (only zero bytes, or nothing,
   follow it: a sector written in part); or a run of zero bytes up to the end of the file (space
   the file system allocated but whose data never arrived). The file is truncated at the start
   of that record and fsynced, and the number of bytes dropped is kept in ``recovered_tail``.
   Only unsynced writes can be torn: a "torn tail" that starts before the synced mark (a length
   field damaged in the middle of the log looks exactly like one), or a file shorter than the
   mark, is damage to fsynced data and raises :class:`WALCorruptError` instead; nothing is cut.
   ``raftlib wal repair DIR`` (:func:`repair`) says what a repair would cut, and cuts it when
   asked.
3. Anything else that is wrong is corruption and :class:`WALCorruptError` is raised, naming the
   file, the byte offset and the fault: a bad checksum with data after it, a record whose
   checksum is right but whose payload cannot be decoded (the bytes are what was written, so
   it is not a torn write, whatever its position), an unknown record type, a segment that does
   not start with a snapshot marker, or entries that do not follow the log.
4. The snapshot named by the live segment's marker is loaded and checked (length, CRC32, index
   and term against the file name). If it is damaged or missing, recovery falls back to the
   previous segment and its snapshot, provided both are sound and that log still holds the
   marker's entry with the marker's term (it then covers the newer snapshot). Otherwise
   :class:`WALCorruptError` names the snapshot file.

Threads: one thread writes (``save`` and everything built on it); ``sync`` may run at the same
time on another thread (for instance through ``trio.to_thread``). A ``sync`` covers the writes
that had returned before it started; writes made while it runs wait for the next one. Every
descriptor the storage needs is opened with it and kept: a ``sync`` or a write never needs a
new one, so a process that has run out of descriptors can still make its log durable.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import struct
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from ..raft import (
    CompactionError,
    ConfState,
    Entry,
    EntryType,
    HardState,
    LocalError,
    MemoryStorage,
    Snapshot,
)

__all__ = ["DiskStorage", "RepairPlan", "WALCorruptError", "repair"]

_HEADER = struct.Struct("<IIB")
_MARK = struct.Struct("<QQI")  # segment seq, synced offset, crc32 of the first 16 bytes
_MARK_FILE = "SYNCED"
_SNAP_HEADER = struct.Struct("<II")  # crc32 of the payload, payload length
_ENTRIES, _HARD_STATE, _MARKER = 1, 2, 3
_TYPES = {_ENTRIES: "entries", _HARD_STATE: "hard state", _MARKER: "snapshot marker"}


class WALCorruptError(LocalError):
    """The data directory holds damaged data that is not a torn write; the member must not start.

    ``path`` and ``offset`` say where (``offset`` is -1 for a whole snapshot file).
    """

    def __init__(self, path: str, offset: int, reason: str) -> None:
        self.path = path
        self.offset = offset
        self.reason = reason
        where = f"{path} at byte {offset}" if offset >= 0 else path
        super().__init__(f"corrupt data in {where}: {reason}")


def _record(kind: int, body: object) -> bytes:
    payload: bytes = msgpack.packb(body, use_bin_type=True)
    crc = zlib.crc32(payload, zlib.crc32(bytes((kind,))))
    return _HEADER.pack(len(payload), crc, kind) + payload


def _entries_record(entries: Sequence[Entry]) -> bytes:
    return _record(_ENTRIES, [[e.index, e.term, e.type.value, e.data] for e in entries])


def _hs_record(hs: HardState) -> bytes:
    return _record(_HARD_STATE, [hs.term, hs.vote, hs.commit])


def _decode(kind: int, body: Any) -> list[Entry] | HardState | tuple[int, int]:
    """The value a record holds; raises ValueError/TypeError/... when it has the wrong shape."""
    if kind == _ENTRIES:
        out = []
        for index, term, etype, data in body:
            if not (isinstance(index, int) and isinstance(term, int) and isinstance(data, bytes)):
                raise TypeError("entry fields have the wrong types")
            out.append(Entry(index, term, data, EntryType(etype)))
        if any(b.index != a.index + 1 for a, b in itertools.pairwise(out)):
            raise ValueError("entries are not contiguous")
        return out
    if kind == _HARD_STATE:
        term, vote, commit = body
        if not all(isinstance(x, int) for x in (term, vote, commit)):
            raise TypeError("hard state fields are not integers")
        return HardState(term, vote, commit)
    index, term = body
    if not (isinstance(index, int) and isinstance(term, int)):
        raise TypeError("marker fields are not integers")
    return (index, term)


def _all_zero(data: bytes, start: int) -> bool:
    return not data[start:].strip(b"\x00")


def _pack_mark(seq: int, offset: int) -> bytes:
    head = _MARK.pack(seq, offset, 0)[:16]
    return head + struct.pack("<I", zlib.crc32(head))


def _read_mark(directory: str) -> tuple[int, int] | None:
    """The synced mark (segment seq, offset), or None when absent or unreadable."""
    try:
        with open(os.path.join(directory, _MARK_FILE), "rb") as f:
            raw = f.read(_MARK.size)
    except OSError:
        return None
    if len(raw) != _MARK.size:
        return None
    seq, offset, crc = _MARK.unpack(raw)
    return (seq, offset) if zlib.crc32(raw[:16]) == crc else None


def _parse(path: str, data: bytes) -> tuple[list[tuple[int, int, Any]], int]:
    """Records of a segment as (offset, type, value), and where its valid prefix ends."""
    out: list[tuple[int, int, Any]] = []
    off, n = 0, len(data)
    while off < n:
        if n - off < _HEADER.size:
            return out, off
        # A run of zeros parses as a 0-byte record whose checksum fails with only zeros after
        # it, so the zero-tail rule needs no scan of its own (which would cost O(n) per record).
        length, crc, kind = _HEADER.unpack_from(data, off)
        end = off + _HEADER.size + length
        if end > n:
            return out, off
        payload = data[off + _HEADER.size : end]
        if zlib.crc32(payload, zlib.crc32(bytes((kind,)))) != crc:
            if _all_zero(data, end):
                return out, off
            raise WALCorruptError(path, off, f"checksum mismatch in a {length}-byte record")
        if kind not in _TYPES:
            raise WALCorruptError(path, off, f"unknown record type {kind}")
        try:
            body = msgpack.unpackb(payload, raw=False, use_list=True)
            value = _decode(kind, body)
        except (ValueError, TypeError, IndexError, KeyError, msgpack.UnpackException) as e:
            raise WALCorruptError(path, off, f"undecodable {_TYPES[kind]} record ({e})") from e
        out.append((off, kind, value))
        off = end
    return out, off


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_atomically(directory: str, name: str, data: bytes) -> None:
    """Write ``name`` so that after a crash it holds either nothing or all of ``data``."""
    final = os.path.join(directory, name)
    tmp = final + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    _fsync_dir(directory)


def _segment_name(seq: int) -> str:
    return f"wal-{seq:016x}.log"


def _snap_name(index: int, term: int) -> str:
    return f"snap-{term:016x}-{index:016x}.snap"


def _encode_snapshot(snap: Snapshot) -> bytes:
    body = [snap.index, snap.term, list(snap.conf.voters), list(snap.conf.learners), snap.data]
    payload: bytes = msgpack.packb(body, use_bin_type=True)
    return _SNAP_HEADER.pack(zlib.crc32(payload), len(payload)) + payload


def _load_snapshot(path: str, index: int, term: int) -> Snapshot:
    """Read and check a snapshot file; raises WALCorruptError naming it when it is unusable."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise WALCorruptError(path, -1, f"snapshot file unreadable ({e.strerror})") from e
    if len(data) < _SNAP_HEADER.size:
        raise WALCorruptError(path, -1, "snapshot file is shorter than its header")
    crc, length = _SNAP_HEADER.unpack_from(data)
    payload = data[_SNAP_HEADER.size :]
    if len(payload) != length:
        raise WALCorruptError(path, -1, f"snapshot has {len(payload)} bytes, header says {length}")
    if zlib.crc32(payload) != crc:
        raise WALCorruptError(path, -1, "snapshot checksum mismatch")
    try:
        i, t, voters, learners, blob = msgpack.unpackb(payload, raw=False, use_list=True)
        snap = Snapshot(i, t, ConfState(tuple(voters), tuple(learners)), blob)
        if not isinstance(blob, bytes) or not all(isinstance(x, int) for x in (i, t)):
            raise TypeError("snapshot fields have the wrong types")
    except (ValueError, TypeError, IndexError, msgpack.UnpackException) as e:
        raise WALCorruptError(path, -1, f"undecodable snapshot ({e})") from e
    if (snap.index, snap.term) != (index, term):
        raise WALCorruptError(path, -1, f"snapshot holds ({snap.index}, {snap.term})")
    return snap


def _check_against_mark(path: str, seq: int, end: int, size: int, mark: tuple[int, int]
                        ) -> None:
    """Refuse to treat as torn what a completed fsync had covered."""
    mseq, synced = mark
    if mseq > seq:
        raise WALCorruptError(path, -1, f"segment {_segment_name(mseq)}, which holds fsynced "
                                        "data, is missing")
    if mseq < seq:
        return  # a rotation's mark that never reached the disk: nothing to check against
    if size < synced:
        raise WALCorruptError(path, size, f"the file is {size} bytes but its first {synced} "
                                          "were fsynced: it was truncated")
    if end < synced:
        raise WALCorruptError(path, end, f"a damaged record inside the fsynced part of the log "
                                         f"(its first {synced} bytes were synced), not a torn "
                                         f"write; `raftlib wal repair {os.path.dirname(path)}` "
                                         "shows what a repair would cut")


def _replay(path: str, records: list[tuple[int, int, Any]], st: MemoryStorage) -> None:
    """Apply a segment's records after its leading marker to ``st``."""
    for off, kind, value in records[1:]:
        if kind == _MARKER:
            raise WALCorruptError(path, off, "snapshot marker in the middle of a segment")
        if kind == _HARD_STATE:
            st.hard_state = value
            continue
        try:
            MemoryStorage.append(st, value)
        except LocalError as e:
            raise WALCorruptError(path, off, f"entries do not follow the log ({e})") from e


class DiskStorage(MemoryStorage):
    """A :class:`~raftlib.raft.MemoryStorage` kept durable in a directory (see the module doc).

    Read it like ``MemoryStorage``. Every change (``save``, ``append``, ``apply_snapshot``,
    ``compact``, assigning ``hard_state``) is written to the WAL before it becomes visible, and
    survives the process being killed. ``sync`` makes writes survive power loss; changes that
    rotate the log (snapshots, compaction) are fully durable when they return. After an I/O
    error the storage refuses further writes: its disk state is unknown, reopen it.

    ``syncs`` counts the fsyncs ``sync`` performed (rotation fsyncs are not counted), so a
    driver can show how many Readys one fsync covered. ``recovered_tail`` is the number of torn
    bytes dropped when the directory was opened; ``skipped_snapshot`` the damage that made
    recovery fall back to the previous snapshot (None when it did not): both for the log.
    """

    __slots__ = (
        "_dir",
        "_failed",
        "_fd",
        "_hs",
        "_lock",
        "_lockfd",
        "_marker",
        "_markfd",
        "_prev_marker",
        "_retired",
        "_seg_start",
        "_seq",
        "_sync_fds",
        "_synced",
        "_written",
        "recovered_tail",
        "skipped_snapshot",
        "syncs",
    )

    def __init__(self, path: str, conf: ConfState | None = None) -> None:
        self._fd = -1  # no WAL yet: MemoryStorage.__init__'s hard-state write stays in memory
        super().__init__(conf)
        self._dir = os.path.abspath(path)
        self._failed: BaseException | None = None
        self._lock = threading.Lock()
        self._seq = 0
        self._marker: tuple[int, int] | None = None
        self._prev_marker: tuple[int, int] | None = None
        self._written = self._synced = self._seg_start = 0
        self._sync_fds: list[int] = []  # descriptors an fsync is using right now
        self._retired: list[int] = []  # replaced by a rotation, closed when no fsync uses them
        self._markfd = -1
        self.recovered_tail = 0
        self.skipped_snapshot: WALCorruptError | None = None
        self.syncs = 0
        os.makedirs(self._dir, exist_ok=True)
        self._lockfd = os.open(os.path.join(self._dir, "LOCK"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(self._lockfd)
            raise LocalError(f"{self._dir} is in use by another storage") from e
        try:
            self._markfd = os.open(os.path.join(self._dir, _MARK_FILE), os.O_RDWR | os.O_CREAT,
                                   0o644)
            self._recover()
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, path: str, conf: ConfState | None = None) -> DiskStorage:
        """Recover the storage kept in ``path``, or create one holding only membership ``conf``.

        When ``path`` already holds a log, ``conf`` is ignored: the stored state wins.
        """
        return cls(path, conf)

    # ---------------------------------------------------------------- the durable view

    @property
    def hard_state(self) -> HardState:
        """The stored hard state; assigning it writes a record (like ``save(hard_state=...)``)."""
        return self._hs

    @hard_state.setter
    def hard_state(self, hs: HardState) -> None:
        if self._fd < 0:
            self._hs = hs
        else:
            self.save(hard_state=hs)

    @property
    def path(self) -> str:
        """The data directory."""
        return self._dir

    @property
    def segment_path(self) -> str:
        """The live WAL segment."""
        return os.path.join(self._dir, _segment_name(self._seq))

    @property
    def synced_offset(self) -> int:
        """How many leading bytes of the live segment a completed fsync covers."""
        with self._lock:
            return self._synced - self._seg_start

    def append(self, entries: tuple[Entry, ...] | list[Entry]) -> Entry | None:
        """``MemoryStorage.append``, written to the WAL first."""
        return self.save(entries=entries)

    def apply_snapshot(self, snap: Snapshot) -> None:
        """``MemoryStorage.apply_snapshot``, made durable (and the log rotated) before return."""
        self.save(snapshot=snap)

    def compact(self, snap: Snapshot) -> None:
        """``MemoryStorage.compact``: the snapshot is durable before any entry is dropped."""
        self._check_usable()
        if snap.index <= self._snapshot.index:
            raise CompactionError(f"index {snap.index} is already compacted")
        if snap.index > self.last_index():
            raise CompactionError(f"index {snap.index} is beyond the last index")
        self._guard(self._write_snapshot, snap)
        MemoryStorage.compact(self, snap)
        self._guard(self._rotate)

    def save(
        self,
        hard_state: HardState | None = None,
        entries: Sequence[Entry] = (),
        snapshot: Snapshot | None = None,
    ) -> Entry | None:
        """Persist a Ready's parts in the driver's order: snapshot, entries, hard state.

        Returns the first stored entry the entries replaced (as ``append`` does). Without a
        snapshot this is one ``os.write`` and no fsync: call ``sync`` before acting on it in
        ways that must survive power loss. With a snapshot the log is rotated, fully durable.
        """
        self._check_usable()
        base = self._snapshot if snapshot is None else snapshot
        if snapshot is not None and snapshot.index < self._snapshot.index:
            raise LocalError(f"snapshot {snapshot.index} is older than {self._snapshot.index}")
        if entries:
            last = base.index if snapshot is not None else self.last_index()
            first = entries[0].index
            if first <= base.index:
                raise LocalError(f"append at {first} overlaps the snapshot at {base.index}")
            if first > last + 1:
                raise LocalError(f"append at {first} leaves a gap after {last}")
        if hard_state == self._hs:
            hard_state = None  # nothing new: save the WAL a record
        if snapshot is not None:
            self._guard(self._write_snapshot, snapshot)
            MemoryStorage.apply_snapshot(self, snapshot)
            lost = MemoryStorage.append(self, list(entries))
            if hard_state is not None:
                self._hs = hard_state
            self._guard(self._rotate)
            return lost
        buf = b""
        if entries:
            buf += _entries_record(entries)
        if hard_state is not None:
            buf += _hs_record(hard_state)
        if not buf:
            return None
        with self._lock:
            self._guard(_write_all, self._fd, buf)
            self._written += len(buf)
        lost = MemoryStorage.append(self, list(entries))
        if hard_state is not None:
            self._hs = hard_state
        return lost

    def sync(self) -> None:
        """fsync the WAL: every write that returned before this call survives power loss.

        A no-op when nothing was written since the last sync. Safe to call from another thread
        while the writer thread keeps saving.
        """
        with self._lock:
            self._check_usable()
            if self._synced >= self._written:
                return
            target, fd, seq, start = self._written, self._fd, self._seq, self._seg_start
            # A rotation meanwhile retires this descriptor instead of closing it.
            self._sync_fds.append(fd)
        try:
            self._guard(os.fsync, fd)
        finally:
            with self._lock:
                self._sync_fds.remove(fd)
                if fd in self._retired and fd not in self._sync_fds:
                    self._retired.remove(fd)
                    os.close(fd)
        with self._lock:
            if target > self._synced:
                self._synced = target
                if seq == self._seq:
                    self._write_mark(seq, target - start)
            self.syncs += 1

    def close(self) -> None:
        """Close the files (without fsync: unsynced writes stay in the page cache)."""
        with self._lock:
            for fd in self._retired:
                os.close(fd)
            self._retired.clear()
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            if self._markfd >= 0:
                os.close(self._markfd)
                self._markfd = -1
            if self._lockfd >= 0:
                os.close(self._lockfd)
                self._lockfd = -1

    def __enter__(self) -> DiskStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- writing

    def _check_usable(self) -> None:
        if self._failed is not None:
            raise LocalError(f"storage {self._dir} failed earlier ({self._failed}); reopen it")
        if self._fd < 0:
            raise LocalError(f"storage {self._dir} is closed")

    def _guard(self, fn: Callable[..., object], *args: Any) -> None:
        """Run an I/O step; any failure poisons the storage (the disk state is unknown)."""
        try:
            fn(*args)
        except OSError as e:
            self._failed = e
            raise

    def _write_mark(self, seq: int, offset: int) -> None:
        """Record that ``offset`` bytes of segment ``seq`` are fsynced (caller holds the lock).

        No fsync of its own: a lagging mark only makes recovery less strict, never wrong, and
        a failed write leaves it lagging."""
        with contextlib.suppress(OSError):
            os.pwrite(self._markfd, _pack_mark(seq, offset), 0)

    def _write_snapshot(self, snap: Snapshot) -> None:
        _write_atomically(self._dir, _snap_name(snap.index, snap.term), _encode_snapshot(snap))

    def _rotate(self) -> None:
        """Start a new segment holding the current state, fsynced, then delete what it replaces.

        The snapshot file it names must already be durable.
        """
        snap = self._snapshot
        buf = _record(_MARKER, [snap.index, snap.term]) + _hs_record(self._hs)
        if self._entries:
            buf += _entries_record(self._entries)
        seq = self._seq + 1
        _write_atomically(self._dir, _segment_name(seq), buf)
        fd = os.open(os.path.join(self._dir, _segment_name(seq)), os.O_WRONLY | os.O_APPEND)
        with self._lock:
            old, self._fd = self._fd, fd
            if old >= 0:
                self._prev_marker = self._marker
                if old in self._sync_fds:
                    self._retired.append(old)
                else:
                    os.close(old)
            self._seq = seq
            self._seg_start = self._written
            self._written += len(buf)
            self._synced = self._written
            self._write_mark(seq, len(buf))
        self._marker = (snap.index, snap.term)
        self._cleanup()

    def _cleanup(self) -> None:
        """Delete segments and snapshots the two newest segments do not need, and temp files."""
        keep = {_snap_name(*m) for m in (self._marker, self._prev_marker) if m is not None}
        removed = False
        for name in os.listdir(self._dir):
            gone = name.endswith(".tmp")
            if name.startswith("wal-") and name.endswith(".log") and len(name) == 24:
                gone = int(name[4:-4], 16) < self._seq - 1
            elif name.startswith("snap-") and name.endswith(".snap"):
                gone = name not in keep
            if gone:
                os.unlink(os.path.join(self._dir, name))
                removed = True
        if removed:
            _fsync_dir(self._dir)

    # ---------------------------------------------------------------- recovery

    def _recover(self) -> None:
        segs = sorted(
            int(n[4:-4], 16)
            for n in os.listdir(self._dir)
            if n.startswith("wal-") and n.endswith(".log") and len(n) == 24
        )
        if not segs:
            # New directory (or a first rotation that never finished): bootstrap.
            self._guard(self._write_snapshot, self._snapshot)
            self._guard(self._rotate)
            return
        seq = segs[-1]
        path = os.path.join(self._dir, _segment_name(seq))
        with open(path, "rb") as f:
            data = f.read()
        records, end = _parse(path, data)
        if not records or records[0][1] != _MARKER:
            raise WALCorruptError(path, 0, "segment does not start with a snapshot marker")
        marker: tuple[int, int] = records[0][2]
        st = MemoryStorage()
        prev_marker: tuple[int, int] | None = None
        try:
            st._snapshot = _load_snapshot(os.path.join(self._dir, _snap_name(*marker)), *marker)
            if seq - 1 in segs:
                prev_marker = self._previous_marker(seq - 1)
        except WALCorruptError as e:
            prev_marker = self._fall_back(seq - 1, marker, st) if seq - 1 in segs else None
            if prev_marker is None:
                raise
            self.skipped_snapshot = e
        _replay(path, records, st)
        mark = _read_mark(self._dir)
        if mark is not None:
            _check_against_mark(path, seq, end, len(data), mark)
        if end < len(data):
            with open(path, "r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())
            self.recovered_tail = len(data) - end
        self._snapshot, self._entries, self._hs = st._snapshot, st._entries, st.hard_state
        self._seq, self._marker, self._prev_marker = seq, marker, prev_marker
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._written = self._synced = self._seg_start = end
        self._cleanup()

    def _previous_marker(self, seq: int) -> tuple[int, int] | None:
        """The marker at the start of segment ``seq``, or None if unreadable (it is optional)."""
        try:
            with open(os.path.join(self._dir, _segment_name(seq)), "rb") as f:
                head = f.read(4096)
            records, _ = _parse("", head[: _HEADER.size + _HEADER.unpack_from(head)[0]])
        except (OSError, LocalError, struct.error):
            return None
        return records[0][2] if records and records[0][1] == _MARKER else None

    def _fall_back(
        self, seq: int, marker: tuple[int, int], st: MemoryStorage
    ) -> tuple[int, int] | None:
        """Rebuild ``st`` from segment ``seq`` and its snapshot when they cover ``marker``.

        Returns the older segment's marker, or None when the fallback is impossible.
        """
        path = os.path.join(self._dir, _segment_name(seq))
        try:
            with open(path, "rb") as f:
                records, _ = _parse(path, f.read())
            if not records or records[0][1] != _MARKER:
                return None
            old: tuple[int, int] = records[0][2]
            st._snapshot = _load_snapshot(os.path.join(self._dir, _snap_name(*old)), *old)
            st._entries = []
            _replay(path, records, st)
        except (OSError, LocalError):
            return None
        index, term = marker
        if st.term(index) != term or index < st.snapshot().index:
            return None
        # The newer segment rewrites everything after its marker: drop the old tail.
        del st._entries[index - st.snapshot().index :]
        return old


# -------------------------------------------------------------------------------- repair


@dataclass(frozen=True)
class RepairPlan:
    """What :func:`repair` cuts from a damaged live segment: everything from ``offset`` on.

    ``synced`` is the synced mark's offset in that segment (None: unknown); when ``offset`` is
    below it, the cut drops data that had been fsynced, and so possibly acknowledged.
    ``last_index`` is the last log index the kept prefix holds.
    """

    path: str
    offset: int
    size: int
    synced: int | None
    last_index: int
    reason: str

    @property
    def cuts_synced_data(self) -> bool:
        """Whether bytes a completed fsync had covered are among those cut."""
        return self.synced is not None and self.offset < self.synced

    def __str__(self) -> str:
        lines = [f"{self.path}: {self.reason} at byte {self.offset}",
                 f"a repair keeps bytes 0..{self.offset} (the log up to index "
                 f"{self.last_index}) and cuts {self.size - self.offset} bytes"]
        if self.synced is not None and self.offset < self.synced:
            lines.append(f"{self.synced - self.offset} of the cut bytes had been fsynced "
                         "(writes acknowledged to clients may be among them): prefer removing "
                         "this member and adding it back with an empty data directory")
        return "\n".join(lines)


def repair(directory: str, apply: bool = False) -> RepairPlan | None:
    """Find the damage that stops ``directory``'s live segment from opening, and what cutting
    it would drop; with ``apply``, cut it (truncate, fsync, move the synced mark). None when
    the segment has no damage a cut can remove. ``directory`` is a WAL directory or a member's
    data directory holding one (``wal/``)."""
    if os.path.isdir(os.path.join(directory, "wal")):
        directory = os.path.join(directory, "wal")
    segs = sorted(n for n in os.listdir(directory)
                  if n.startswith("wal-") and n.endswith(".log") and len(n) == 24)
    if not segs:
        raise LocalError(f"{directory} holds no WAL segment")
    path = os.path.join(directory, segs[-1])
    seq = int(segs[-1][4:-4], 16)
    with open(path, "rb") as f:
        data = f.read()
    try:
        records, end = _parse(path, data)
        reason = "a record runs past the end of the file"
    except WALCorruptError as e:
        if e.offset < 0:
            return None
        end, reason = e.offset, e.reason
        records, _ = _parse(path, data[:end])
    if end >= len(data):
        return None
    if not records or records[0][1] != _MARKER:
        raise LocalError(f"{path}: nothing before the damage at byte {end} can be kept")
    last = records[0][2][0]
    for _, kind, value in records:
        if kind == _ENTRIES and value:
            last = value[-1].index
    mark = _read_mark(directory)
    synced = mark[1] if mark is not None and mark[0] == seq else None
    plan = RepairPlan(path, end, len(data), synced, last, reason)
    if apply:
        with open(path, "r+b") as f:
            f.truncate(end)
            os.fsync(f.fileno())
        fd = os.open(os.path.join(directory, _MARK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, _pack_mark(seq, end), 0)
            os.fsync(fd)
        finally:
            os.close(fd)
    return plan
