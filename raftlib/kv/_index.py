"""The in-memory key index of the MVCC store, after etcd's ``mvcc/key_index.go`` and
``mvcc/index.go``.

Every key has a :class:`KeyIndex`: a list of generations, each the revisions of one life of the
key from its creation to its deletion (the tombstone closes the generation). The last generation
is the live one and may be empty. Revisions within a key are strictly increasing in their main
part (etcd never lets one revision put a key twice), so a read at an old revision is two binary
searches: one over generations, one inside the generation. :class:`TreeIndex` keeps the keys in
a sorted list (``bisect``) for ranges and a dict for point lookups.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator

__all__ = ["KeyIndex", "Revision", "TreeIndex"]

#: A revision (main, sub): ``main`` is the store revision of a write, ``sub`` its position
#: inside that revision (a txn can change several keys at one main revision).
Revision = tuple[int, int]


class _Generation:
    """One life of a key: the revisions of its puts, and its tombstone if it was deleted."""

    __slots__ = ("mains", "subs")

    def __init__(self) -> None:
        self.mains: list[int] = []
        self.subs: list[int] = []

    def append(self, rev: Revision) -> None:
        self.mains.append(rev[0])
        self.subs.append(rev[1])

    def trim(self, start: int) -> None:
        del self.mains[:start]
        del self.subs[:start]


class KeyIndex:
    """The revisions of one key, grouped in generations as in etcd's ``keyIndex``."""

    __slots__ = ("_starts", "generations", "key")

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.generations: list[_Generation] = [_Generation()]
        # First main revision of every non-empty generation, for the binary search.
        self._starts: list[int] = []

    def put(self, rev: Revision) -> None:
        """Record a put at ``rev`` in the live generation."""
        live = self.generations[-1]
        if not live.mains:
            self._starts.append(rev[0])
        live.append(rev)

    def tombstone(self, rev: Revision) -> None:
        """Record a delete at ``rev``: it closes the live generation and opens an empty one."""
        self.put(rev)
        self.generations.append(_Generation())

    def get(self, at_rev: int) -> Revision | None:
        """Revision of the version visible at ``at_rev``, or None if the key did not exist."""
        gi = bisect_right(self._starts, at_rev) - 1
        if gi < 0:
            return None
        g = self.generations[gi]
        closed = gi < len(self.generations) - 1
        if closed and g.mains[-1] <= at_rev:
            return None  # deleted at or before at_rev
        i = bisect_right(g.mains, at_rev) - 1
        return g.mains[i], g.subs[i]

    def is_empty(self) -> bool:
        """True if nothing of the key is left (every generation compacted away)."""
        return len(self.generations) == 1 and not self.generations[0].mains

    def compact(self, at_rev: int, available: set[Revision]) -> None:
        """Drop what a read at ``at_rev`` or later can no longer see; add the revisions that
        must stay in the backend to ``available`` (etcd's ``keyIndex.compact``)."""
        gens = self.generations
        gi = 0
        # The first generation that holds at_rev or was created after it.
        while gi < len(gens) - 1 and gens[gi].mains[-1] <= at_rev:
            gi += 1
        g = gens[gi]
        i = bisect_right(g.mains, at_rev) - 1
        if i >= 0:
            available.add((g.mains[i], g.subs[i]))
        if g.mains:
            if i > 0:
                g.trim(i)
            # A closed generation left with its tombstone only is dropped too.
            if len(g.mains) == 1 and gi != len(gens) - 1:
                available.discard((g.mains[0], g.subs[0]))
                gi += 1
        del gens[:gi]
        self._starts = [g.mains[0] for g in gens if g.mains]


class TreeIndex:
    """Every key's :class:`KeyIndex`, ordered by key (etcd's ``treeIndex``)."""

    __slots__ = ("_index", "_keys")

    def __init__(self) -> None:
        self._keys: list[bytes] = []
        self._index: dict[bytes, KeyIndex] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def key_index(self, key: bytes) -> KeyIndex | None:
        """The index of ``key``, if the key has any history left."""
        return self._index.get(key)

    def put(self, key: bytes, rev: Revision) -> None:
        """Record a put of ``key`` at ``rev``."""
        ki = self._index.get(key)
        if ki is None:
            ki = self._index[key] = KeyIndex(key)
            insort(self._keys, key)
        ki.put(rev)

    def tombstone(self, key: bytes, rev: Revision) -> None:
        """Record a delete of ``key`` at ``rev``; a key without history is ignored."""
        ki = self._index.get(key)
        if ki is not None:
            ki.tombstone(rev)

    def keys_in(self, key: bytes, range_end: bytes) -> Iterator[bytes]:
        """Keys of ``[key, range_end)`` in order; ``range_end`` empty: ``key`` alone;
        ``b"\\0"``: every key from ``key`` on."""
        if not range_end:
            if key in self._index:
                yield key
            return
        lo = bisect_left(self._keys, key)
        hi = len(self._keys) if range_end == b"\0" else bisect_left(self._keys, range_end)
        # Slicing copies, so writes while the caller iterates cannot shift positions.
        yield from self._keys[lo:hi]

    def revisions(self, key: bytes, range_end: bytes, at_rev: int) -> list[tuple[bytes, Revision]]:
        """(key, revision) of every key of the range that exists at ``at_rev``, in key order."""
        out: list[tuple[bytes, Revision]] = []
        for k in self.keys_in(key, range_end):
            rev = self._index[k].get(at_rev)
            if rev is not None:
                out.append((k, rev))
        return out

    def compact(self, at_rev: int) -> set[Revision]:
        """Compact every key at ``at_rev``; return the revisions the backend must keep."""
        available: set[Revision] = set()
        emptied: list[bytes] = []
        for k in self._keys:
            ki = self._index[k]
            ki.compact(at_rev, available)
            if ki.is_empty():
                emptied.append(k)
        if emptied:
            gone = set(emptied)
            self._keys = [k for k in self._keys if k not in gone]
            for k in emptied:
                del self._index[k]
        return available
