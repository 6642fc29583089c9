"""The simulator's trace: records kept compact as they happen, turned into dicts when read.

A busy simulation writes about 30 records per proposal. Building each as a dict of up to ten
keys, and keeping them all alive, cost about a third of the simulator's time (issue 17). The
frequent records (sends, deliveries, persists, applies, ticks, proposals) are therefore kept
as a tuple of their values: ints, strings and ``None`` only, so that the garbage collector
stops tracking the tuple (one holding the message itself would keep the message alive and be
scanned at every collection). A record becomes the very same dict it always was the first
time anyone reads it, and the dict then replaces the tuple, so reading twice yields the same
object. Rare records are stored as dicts from the start. ``Simulation.trace_json()`` is byte
for byte what it was.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

from .._trace import Record

# The first item of a compact record: what it records (the rest is listed by ``decode``).
SEND, DELIVER, PERSIST, APPLY, TICK, PROPOSE = range(6)


def decode(item: Any) -> Record:
    """The dict of one stored record (a dict already, or a compact tuple)."""
    if type(item) is dict:
        return item  # type: ignore[return-value]
    kind = item[0]
    if kind == SEND:  # (SEND, t, from, to, type, term, index, n, commit, reject)
        _, t, frm, to, typ, term, index, n, commit, reject = item
        return {"t": t, "ev": "send", "from": frm, "to": to, "type": typ, "term": term,
                "index": index, "n": n, "commit": commit, "reject": reject}
    if kind == DELIVER:  # (DELIVER, t, from, to, type, term)
        _, t, frm, to, typ, term = item
        return {"t": t, "ev": "deliver", "from": frm, "to": to, "type": typ, "term": term}
    if kind == PERSIST:  # (PERSIST, t, id, entries, last, hs term or None, vote, commit, snap)
        _, t, mid, n, last, hs_term, vote, commit, snap = item
        return {"t": t, "ev": "persist", "id": mid, "entries": n, "last": last,
                "hs": None if hs_term is None else [hs_term, vote, commit], "snap": snap}
    if kind == APPLY:  # (APPLY, t, id, index, term)
        _, t, mid, index, term = item
        return {"t": t, "ev": "apply", "id": mid, "index": index, "term": term}
    if kind == TICK:  # (TICK, t, id)
        return {"t": item[1], "ev": "tick", "id": item[2]}
    if kind == PROPOSE:  # (PROPOSE, t, handle, leader)
        return {"t": item[1], "ev": "propose", "handle": item[2], "leader": item[3]}
    raise TypeError(f"not a trace record: {item!r}")


class Trace(Sequence[Record]):
    """The records of a simulation in order, read like a list of :data:`Record` dicts
    (``len``, indexing, slices as lists, iteration, ``==`` with a list)."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        # What the simulator appends: a record dict, or a compact tuple (see ``decode``).
        self.items: list[Any] = []

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, i: int) -> Record: ...

    @overload
    def __getitem__(self, i: slice) -> list[Record]: ...

    def __getitem__(self, i: int | slice) -> Record | list[Record]:
        items = self.items
        if isinstance(i, slice):
            return [self._at(k) for k in range(*i.indices(len(items)))]
        if i < 0:
            i += len(items)
        if not 0 <= i < len(items):
            raise IndexError("trace index out of range")
        return self._at(i)

    def _at(self, i: int) -> Record:
        item = self.items[i]
        if type(item) is dict:
            return item  # type: ignore[return-value]
        rec = self.items[i] = decode(item)
        return rec

    def __iter__(self) -> Iterator[Record]:
        for i in range(len(self.items)):
            yield self._at(i)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Trace):
            other = list(other)
        return isinstance(other, list) and list(self) == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Trace({list(self)!r})"

    def append(self, rec: Record) -> None:
        """Add a record (a dict) at the end."""
        self.items.append(rec)
