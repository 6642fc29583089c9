"""The Raft log as a node sees it: durable entries in storage plus an unstable tail."""

from __future__ import annotations

from ._errors import LocalError
from ._storage import MemoryStorage
from ._types import Entry, Snapshot


class RaftLog:
    """Stable entries live in the storage; ``unstable`` holds entries not yet persisted.

    ``unstable[0]`` has index ``offset``; every storage entry from ``offset`` on is about to
    be overwritten. A snapshot received from the leader waits in ``unstable_snapshot``.
    """

    __slots__ = ("applied", "committed", "offset", "storage", "unstable", "unstable_snapshot")

    def __init__(self, storage: MemoryStorage) -> None:
        self.storage = storage
        self.unstable: list[Entry] = []
        self.offset = storage.last_index() + 1
        self.unstable_snapshot: Snapshot | None = None
        self.committed = storage.first_index() - 1
        self.applied = self.committed

    def snapshot(self) -> Snapshot:
        """The newest snapshot, pending or stored."""
        return self.unstable_snapshot or self.storage.snapshot()

    def first_index(self) -> int:
        """Index of the first entry held."""
        if self.unstable_snapshot is not None:
            return self.unstable_snapshot.index + 1
        return self.storage.first_index()

    def last_index(self) -> int:
        """Index of the last entry (or of the snapshot, if no entry follows it).

        ``offset - 1`` is the last index persisted (the storage's, or a pending snapshot's:
        ``restore`` and ``stable_to`` keep it so), hence no call into the storage.
        """
        return self.offset + len(self.unstable) - 1

    def stable_index(self) -> int:
        """Last index known to be persisted."""
        if self.unstable_snapshot is not None:
            return 0
        return self.offset - 1

    def term(self, index: int) -> int | None:
        """Term at ``index``, the snapshot term at the snapshot index, else ``None``."""
        if index >= self.offset:
            off = index - self.offset
            return self.unstable[off].term if off < len(self.unstable) else None
        snap = self.unstable_snapshot
        if snap is not None:
            return snap.term if index == snap.index else None
        return self.storage.term(index)

    def last_term(self) -> int:
        """Term of the last entry."""
        t = self.term(self.last_index())
        assert t is not None
        return t

    def match_term(self, index: int, term: int) -> bool:
        """Whether the entry at ``index`` has ``term``."""
        return self.term(index) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """The election restriction: a log ending at (last_index, last_term) is at least ours."""
        mine = self.last_term()
        return last_term > mine or (last_term == mine and last_index >= self.last_index())

    def entries(self, lo: int, limit: int) -> tuple[Entry, ...]:
        """Up to ``limit`` entries from ``lo``; ``lo`` must be at or after ``first_index()``."""
        unstable, offset = self.unstable, self.offset
        end = offset + len(unstable) if unstable else self.last_index() + 1
        hi = lo + limit
        if end < hi:
            hi = end  # min(), without the call
        if lo >= hi:
            return ()
        if lo >= offset:  # all unstable (a leader sending what it just appended)
            return tuple(unstable[lo - offset : hi - offset])
        out = self.storage.entries(lo, min(hi, offset))
        if hi > offset:
            out.extend(unstable[: hi - offset])
        return tuple(out)

    def find_conflict(self, entries: tuple[Entry, ...]) -> int:
        """Index of the first entry that is missing or has another term here; 0 if none."""
        for e in entries:
            if self.term(e.index) != e.term:
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """Largest index at or below ``index`` whose term is at most ``term``, with its term."""
        while index > 0:
            t = self.term(index)
            if t is None or t <= term:
                return index, t or 0
            index -= 1
        return 0, 0

    def append(self, entries: tuple[Entry, ...] | list[Entry], check: bool = True) -> None:
        """Append, replacing anything from the first entry's index on."""
        after = entries[0].index
        if check and after <= self.committed:
            raise LocalError(f"append at {after} would overwrite committed {self.committed}")
        if after == self.offset + len(self.unstable):
            self.unstable.extend(entries)
        elif after <= self.offset:
            self.offset = after
            self.unstable = list(entries)
        else:
            del self.unstable[after - self.offset :]
            self.unstable.extend(entries)

    def maybe_append(
        self, prev_index: int, prev_term: int, commit: int, entries: tuple[Entry, ...],
        truncate_always: bool = False,
    ) -> int | None:
        """The AppendEntries consistency check and append; the last new index or ``None``.

        Entries that already match are kept, so a stale or duplicated append never truncates.
        """
        if self.term(prev_index) != prev_term:  # match_term, inlined
            return None
        last_new = prev_index + len(entries)
        if truncate_always and entries:
            self.committed = min(self.committed, last_new)
            self.append(entries, check=False)
        elif entries:
            # Entries past our last index conflict at once (the common case: skip the scan).
            if prev_index >= self.last_index():
                self.append(entries)
            else:
                ci = self.find_conflict(entries)
                if ci:
                    self.append(entries[ci - prev_index - 1 :])
        self.commit_to(min(commit, last_new))
        return last_new

    def commit_to(self, index: int) -> None:
        """Raise the commit index (never lowers it)."""
        if index > self.committed:
            if index > self.last_index():
                raise LocalError(f"commit {index} is beyond the last index {self.last_index()}")
            self.committed = index

    def maybe_commit(self, index: int, term: int) -> bool:
        """Commit up to ``index`` if that entry has ``term``."""
        if index > self.committed and self.term(index) == term:
            self.committed = index
            return True
        return False

    def next_committed(self, allow_unstable: bool = False) -> tuple[Entry, ...]:
        """Committed, durable, not yet applied entries."""
        if self.committed <= self.applied:
            return ()  # nothing to apply (the common case)
        hi = self.committed
        if not allow_unstable:
            stable = 0 if self.unstable_snapshot is not None else self.offset - 1  # stable_index()
            if stable < hi:
                hi = stable
        lo = max(self.applied + 1, self.first_index())
        if hi < lo:
            return ()
        return self.entries(lo, hi - lo + 1)

    def stable_to(self, index: int, term: int) -> None:
        """Entries up to ``index`` (of ``term``) are now persisted."""
        off = index - self.offset
        unstable = self.unstable
        if 0 <= off < len(unstable) and unstable[off].term == term:  # term(), inlined
            del unstable[: off + 1]
            self.offset = index + 1

    def stable_snap_to(self, index: int) -> None:
        """The pending snapshot at ``index`` is now persisted."""
        if self.unstable_snapshot is not None and self.unstable_snapshot.index == index:
            self.unstable_snapshot = None

    def restore(self, snap: Snapshot) -> None:
        """Replace the whole log by a snapshot from the leader."""
        self.committed = snap.index
        self.unstable = []
        self.offset = snap.index + 1
        self.unstable_snapshot = snap
