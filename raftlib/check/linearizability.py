"""Linearizability of client histories against a key-value model (WGL search, as in
Porcupine and Knossos).

A history is a list of :class:`Operation`: who called what, when it was invoked and when it
returned, and what it answered, or ``returned=None`` when the client never learned the outcome
(a timeout: the operation may or may not have taken effect, at any time after its call). The
history is split by key (linearizability is local, so keys are checked independently) and each
part is searched with the Wing & Gong / Lowe algorithm: repeatedly linearize a pending operation
whose call precedes every pending return, backtracking on a dead end, and memoise the pairs
(set of linearized operations, model state) already explored. The model state is a set of
possible register values, which makes operations of unknown outcome deterministic to search.

A failure comes with a counterexample: the longest linearizable prefix found, the state it
leaves, and the operations none of which could come next.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["LinearizabilityVerdict", "Operation", "check_linearizability", "kv_step"]

#: What a client asked: ``get`` reads, ``put`` writes ``value``, ``delete`` removes the key,
#: ``cas`` writes ``value`` if the key holds ``expected``.
OpKind = Literal["get", "put", "delete", "cas"]
#: A register value; None means the key is absent.
Value = bytes | None
_INF = float("inf")


@dataclass(frozen=True, slots=True)
class Operation:
    """One client operation on one key.

    ``output`` is what the client saw: the value read for ``get`` (None: key absent), whether
    the swap happened for ``cas``, ignored for ``put`` and ``delete``. ``returned=None`` marks
    an operation of unknown outcome. Invocation and return times come from one clock; an
    operation that returned at the time another was invoked is taken as concurrent with it.
    """

    client: int
    key: bytes
    kind: OpKind
    invoked: float
    returned: float | None
    value: Value = None
    expected: Value = None
    output: Value | bool = None

    def __str__(self) -> str:
        arg = {"get": "", "put": f"{self.value!r}", "delete": "",
               "cas": f"{self.expected!r} -> {self.value!r}"}[self.kind]
        out = "?" if self.returned is None else repr(self.output)
        end = "inf" if self.returned is None else f"{self.returned:g}"
        return (f"client {self.client} [{self.invoked:g}, {end}] "
                f"{self.kind}({self.key!r}{', ' if arg else ''}{arg}) -> {out}")


def kv_step(state: Value, op: Operation) -> tuple[Value, ...]:
    """The sequential model of one key: the states ``op`` can leave from ``state`` while
    answering what it answered (none if it could not have answered that)."""
    unknown = op.returned is None
    if op.kind == "get":
        return (state,) if unknown or op.output == state else ()
    if op.kind == "put":
        return (op.value,)
    if op.kind == "delete":
        return (None,)
    swapped = state == op.expected
    if unknown:
        return (op.value,) if swapped else (state,)
    if op.output is True:
        return (op.value,) if swapped else ()
    return () if swapped else (state,)


@dataclass(frozen=True, slots=True)
class LinearizabilityVerdict:
    """The outcome of :func:`check_linearizability`.

    On failure: ``key`` whose sub-history is not linearizable, ``linearized`` the longest
    linearizable prefix found (in linearization order), ``states`` the possible values after
    it, and ``stuck`` the pending operations none of which can be linearized next.
    ``explored`` counts the search states visited over all keys.
    """

    ok: bool
    explored: int
    key: bytes | None = None
    linearized: tuple[Operation, ...] = ()
    states: tuple[Value, ...] = ()
    stuck: tuple[Operation, ...] = ()

    def explain(self) -> str:
        """A human-readable account of the verdict."""
        if self.ok:
            return f"linearizable ({self.explored} search states)"
        lines = [f"not linearizable on key {self.key!r}; longest linearizable prefix:"]
        lines += [f"  {i + 1}. {op}" for i, op in enumerate(self.linearized)]
        lines.append(f"leaves the key at {sorted(self.states, key=repr)}; none of these can "
                     "come next:")
        lines += [f"  - {op}" for op in self.stuck]
        return "\n".join(lines)


class _Entry:
    """A call or return event in the doubly linked list the search lifts entries out of."""

    __slots__ = ("id", "is_call", "match", "next", "op", "prev", "time")

    def __init__(self, op_id: int, op: Operation, is_call: bool, time: float) -> None:
        self.id = op_id
        self.op = op
        self.is_call = is_call
        self.time = time
        self.match: _Entry | None = None
        self.prev: _Entry | None = None
        self.next: _Entry | None = None


def _build(ops: Sequence[Operation]) -> _Entry:
    entries: list[_Entry] = []
    for i, op in enumerate(ops):
        call = _Entry(i, op, True, op.invoked)
        ret = _Entry(i, op, False, _INF if op.returned is None else op.returned)
        call.match = ret
        entries += [call, ret]
    # Calls before returns at equal times (so such operations count as concurrent); ties
    # broken by operation index for a deterministic search.
    entries.sort(key=lambda e: (e.time, not e.is_call, e.id))
    head = _Entry(-1, ops[0], False, -_INF)
    prev = head
    for e in entries:
        prev.next, e.prev = e, prev
        prev = e
    return head


def _lift(call: _Entry) -> None:
    for e in (call, call.match):
        assert e is not None and e.prev is not None
        e.prev.next = e.next
        if e.next is not None:
            e.next.prev = e.prev


def _unlift(call: _Entry) -> None:
    for e in (call.match, call):
        assert e is not None and e.prev is not None
        e.prev.next = e
        if e.next is not None:
            e.next.prev = e


def _step(states: frozenset[Value], op: Operation) -> frozenset[Value]:
    return frozenset(s for st in states for s in kv_step(st, op))


def _check_key(ops: Sequence[Operation], init: Value
               ) -> tuple[bool, int, list[int], frozenset[Value], list[int]]:
    """WGL on one key: (ok, explored, deepest dead-end prefix ids, its states, stuck ids)."""
    head = _build(ops)
    states: frozenset[Value] = frozenset([init])
    linearized = 0  # bitset of the linearized operations
    cache: set[tuple[int, frozenset[Value]]] = {(0, states)}
    stack: list[tuple[_Entry, frozenset[Value]]] = []
    best: tuple[list[int], frozenset[Value], list[int]] | None = None
    explored = 0
    entry = head.next
    while head.next is not None:
        assert entry is not None
        if entry.is_call:
            after = _step(states, entry.op)
            bits = linearized | (1 << entry.id)
            if after and (bits, after) not in cache:
                explored += 1
                cache.add((bits, after))
                stack.append((entry, states))
                states, linearized = after, bits
                _lift(entry)
                entry = head.next
            else:
                entry = entry.next
            continue
        # A return reached: no operation called before it can be linearized next here.
        if best is None or len(stack) > len(best[0]):
            pending = []
            e: _Entry | None = head.next
            while e is not None and e is not entry:
                if e.is_call:
                    pending.append(e.id)
                e = e.next
            best = ([c.id for c, _ in stack], states, pending)
        if not stack:
            assert best is not None
            return False, explored, *best
        call, states = stack.pop()
        linearized &= ~(1 << call.id)
        _unlift(call)
        entry = call.next
    return True, explored, [], states, []


def check_linearizability(history: Iterable[Operation],
                          initial: Value = None) -> LinearizabilityVerdict:
    """Check a history of key-value operations; every key starts at ``initial``."""
    by_key: dict[bytes, list[Operation]] = {}
    for op in history:
        if op.returned is not None and op.returned < op.invoked:
            raise ValueError(f"operation returns before it is invoked: {op}")
        by_key.setdefault(op.key, []).append(op)
    explored = 0
    for key in sorted(by_key):
        ops = by_key[key]
        ok, n, prefix, states, stuck = _check_key(ops, initial)
        explored += n
        if not ok:
            return LinearizabilityVerdict(
                False, explored, key, tuple(ops[i] for i in prefix),
                tuple(sorted(states, key=repr)), tuple(ops[i] for i in stuck))
    return LinearizabilityVerdict(True, explored)
