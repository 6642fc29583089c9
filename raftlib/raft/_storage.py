"""The durable state a driver keeps for a node: hard state, a snapshot and the log after it."""

from __future__ import annotations

from ._errors import CompactionError, LocalError
from ._types import ConfState, Entry, HardState, Snapshot


class MemoryStorage:
    """In-memory storage. Whatever the driver writes here counts as durable.

    A fresh storage holds only the bootstrap membership ``conf`` (as an empty snapshot at
    index 0). Entries are kept after ``snapshot().index``.
    """

    __slots__ = ("_entries", "_snapshot", "hard_state")

    def __init__(self, conf: ConfState | None = None) -> None:
        self.hard_state = HardState()
        self._snapshot = Snapshot(conf=conf or ConfState())
        self._entries: list[Entry] = []

    def snapshot(self) -> Snapshot:
        """The latest snapshot (index 0 before any compaction)."""
        return self._snapshot

    def first_index(self) -> int:
        """Index of the first entry still in the log."""
        return self._snapshot.index + 1

    def last_index(self) -> int:
        """Index of the last entry, or the snapshot index if the log is empty."""
        return self._snapshot.index + len(self._entries)

    def term(self, index: int) -> int | None:
        """Term of the entry at ``index``; the snapshot's term at its index; else ``None``."""
        off = index - self._snapshot.index
        if off == 0:
            return self._snapshot.term
        if off < 0 or off > len(self._entries):
            return None
        return self._entries[off - 1].term

    def entries(self, lo: int, hi: int) -> list[Entry]:
        """Entries with ``lo <= index < hi``; the caller keeps within the stored range."""
        base = self._snapshot.index + 1
        return self._entries[lo - base : hi - base]

    def append(self, entries: tuple[Entry, ...] | list[Entry]) -> Entry | None:
        """Write ``entries``, replacing any stored entries from the first one's index on.

        Returns the first stored entry that was lost (removed, or overwritten by an entry of
        another term), or ``None``.
        """
        if not entries:
            return None
        first = entries[0].index
        if first <= self._snapshot.index:
            raise LocalError(f"append at {first} overlaps the snapshot at {self._snapshot.index}")
        if first > self.last_index() + 1:
            raise LocalError(f"append at {first} leaves a gap after {self.last_index()}")
        keep = first - self._snapshot.index - 1
        if keep == len(self._entries):  # appending after the last entry: nothing is lost
            self._entries.extend(entries)
            return None
        removed = None
        for i, old in enumerate(self._entries[keep:]):
            if i >= len(entries) or entries[i].term != old.term:
                removed = old
                break
        del self._entries[keep:]
        self._entries.extend(entries)
        return removed

    def apply_snapshot(self, snap: Snapshot) -> None:
        """Replace the whole log by ``snap`` (a snapshot received from the leader)."""
        if snap.index < self._snapshot.index:
            raise LocalError(f"snapshot {snap.index} is older than {self._snapshot.index}")
        self._snapshot = snap
        self._entries = []

    def reset(self, hard_state: HardState, snap: Snapshot, entries: list[Entry] | None) -> None:
        """Put back an earlier state: ``hard_state``, and unless ``entries`` is ``None``,
        ``snap`` and the log after it (for a driver modelling a disk that loses what was
        written but not fsynced)."""
        self.hard_state = hard_state
        if entries is not None:
            self._snapshot = snap
            self._entries = list(entries)

    def compact(self, snap: Snapshot) -> None:
        """Keep ``snap`` and drop the entries it covers (application-driven compaction)."""
        if snap.index <= self._snapshot.index:
            raise CompactionError(f"index {snap.index} is already compacted")
        if snap.index > self.last_index():
            raise CompactionError(f"index {snap.index} is beyond the last index")
        del self._entries[: snap.index - self._snapshot.index]
        self._snapshot = snap
