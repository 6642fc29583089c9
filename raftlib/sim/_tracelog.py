"""The simulator's trace: records kept compact as they happen, turned into dicts when read.

A busy simulation writes about 30 records per proposal. Building each as a dict of up to ten
keys and keeping them all alive cost up to a fifth of the simulator's time (issue 17). The
frequent records (sends, deliveries, persists, applies, ticks, proposals) are therefore
written as rows of ``WIDTH`` plain values (ints, ``None``, the message type) into one flat
list, which holds no object per record (a tuple per record, or the message itself, would be
one more container for the garbage collector to scan as the trace grows); rare records keep
their dict. A record becomes the very same dict it always was the first time anyone reads
it, and is kept, so reading it twice yields the same object. Reading the whole trace once
therefore costs about what building its dicts used to cost during the run.
``Simulation.trace_json()`` is byte for byte what it was.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

from .._trace import Record
from ..raft import MessageType

_NAME = {t: t.value for t in MessageType}  # a dict lookup is cheaper than ``.value``

WIDTH = 10
"""Values per row: the widest record (a send); shorter rows are padded with zeros."""

# The first value of a row: what it records (the rest is listed by ``decode``; a message's type
# is its ``MessageType``, the record holds its name).
SEND, DELIVER, PERSIST, APPLY, TICK, PROPOSE, DICT = range(7)
_DICT_ROW = (DICT,) + (0,) * (WIDTH - 1)


def decode(row: Sequence[Any]) -> Record:
    """The record dict of one row (not a ``DICT`` row: that record is kept as it came)."""
    kind = row[0]
    if kind == SEND:  # (SEND, t, from, to, type, term, index, n, commit, reject)
        _, t, frm, to, typ, term, index, n, commit, reject = row
        return {"t": t, "ev": "send", "from": frm, "to": to, "type": _NAME[typ], "term": term,
                "index": index, "n": n, "commit": commit, "reject": reject}
    if kind == DELIVER:  # (DELIVER, t, from, to, type, term, ...)
        return {"t": row[1], "ev": "deliver", "from": row[2], "to": row[3], "type": _NAME[row[4]],
                "term": row[5]}
    if kind == PERSIST:  # (PERSIST, t, id, entries, last, hs term or None, vote, commit, snap)
        hs_term = row[5]
        return {"t": row[1], "ev": "persist", "id": row[2], "entries": row[3], "last": row[4],
                "hs": None if hs_term is None else [hs_term, row[6], row[7]], "snap": row[8]}
    if kind == APPLY:  # (APPLY, t, id, index, term, ...)
        return {"t": row[1], "ev": "apply", "id": row[2], "index": row[3], "term": row[4]}
    if kind == TICK:  # (TICK, t, id, ...)
        return {"t": row[1], "ev": "tick", "id": row[2]}
    if kind == PROPOSE:  # (PROPOSE, t, handle, leader, ...)
        return {"t": row[1], "ev": "propose", "handle": row[2], "leader": row[3]}
    raise TypeError(f"not a trace row: {row!r}")


class Trace(Sequence[Record]):
    """The records of a simulation in order, read like a list of :data:`Record` dicts
    (``len``, indexing, slices as lists, iteration, ``==`` with a list)."""

    __slots__ = ("_recs", "rows")

    def __init__(self) -> None:
        # What the simulator extends by one row of WIDTH values per record (see ``decode``).
        self.rows: list[Any] = []
        # The record dicts read (or kept as dicts) so far, by position; None: not yet built.
        self._recs: list[Record | None] = []

    def __len__(self) -> int:
        return len(self.rows) // WIDTH

    @overload
    def __getitem__(self, i: int) -> Record: ...

    @overload
    def __getitem__(self, i: slice) -> list[Record]: ...

    def __getitem__(self, i: int | slice) -> Record | list[Record]:
        n = len(self)
        if isinstance(i, slice):
            lo, hi, step = i.indices(n)
            if step == 1:
                return self._read(lo, hi)
            return [self._read(k, k + 1)[0] for k in range(lo, hi, step)]
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("trace index out of range")
        return self._read(i, i + 1)[0]

    def _read(self, lo: int, hi: int) -> list[Record]:
        """The records ``lo`` to ``hi`` (excluded), built where not built yet."""
        recs, rows = self._recs, self.rows
        if len(recs) < hi:
            recs.extend([None] * (hi - len(recs)))
        out = recs[lo:hi]
        for k, rec in enumerate(out):
            if rec is None:
                i = lo + k
                out[k] = recs[i] = decode(rows[i * WIDTH : i * WIDTH + WIDTH])
        return out  # type: ignore[return-value]

    def __iter__(self) -> Iterator[Record]:
        return iter(self._read(0, len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Trace):
            other = list(other)
        return isinstance(other, list) and list(self) == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Trace({list(self)!r})"

    def append(self, rec: Record) -> None:
        """Add a record dict at the end."""
        self.add(_DICT_ROW, rec)

    def add(self, row: tuple[Any, ...], rec: Record) -> None:
        """Add a row whose record dict is ``rec`` already (someone observed it)."""
        n = len(self)
        recs = self._recs
        if len(recs) < n:
            recs.extend([None] * (n - len(recs)))
        recs.append(rec)
        self.rows.extend(row)
