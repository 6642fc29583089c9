"""Client histories and the "no acknowledged write lost" verdict.

:class:`History` collects what clients saw as ``linearizability.Operation`` records (a client
of ``raftlib.sim.SimCluster`` fills one when given it), so ``check_linearizability`` can run
over a run of a replicated store. :func:`check_durability` asks a simpler question of the same
history and the final state: is every acknowledged put still there, unless some other write
could have replaced it? :func:`duplicate_writes` finds writes applied more than once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from raftlib.kv import MVCCStore

from .linearizability import Operation, OpKind, Value

__all__ = ["DurabilityVerdict", "History", "check_durability", "duplicate_writes"]


class History:
    """An append-only list of client operations (what each client invoked and saw)."""

    def __init__(self) -> None:
        self.ops: list[Operation] = []

    def record(self, client: int, key: bytes, kind: OpKind, invoked: float,
               returned: float | None, value: Value = None, expected: Value = None,
               output: Value | bool = None) -> None:
        """Add one operation; ``returned=None`` means its outcome is unknown (indeterminate).

        Operations that certainly failed are not recorded: they had no effect.
        """
        self.ops.append(Operation(client, key, kind, invoked, returned, value, expected, output))

    def __len__(self) -> int:
        return len(self.ops)

    def indeterminate(self) -> list[Operation]:
        """The operations whose outcome the client never learned."""
        return [op for op in self.ops if op.returned is None]


@dataclass(frozen=True, slots=True)
class DurabilityVerdict:
    """``ok`` unless some acknowledged put is missing; ``lost`` lists them with the final value
    seen for their key."""

    ok: bool
    lost: tuple[tuple[Operation, Value], ...] = ()

    def explain(self) -> str:
        """A readable account of the lost writes."""
        if self.ok:
            return "every acknowledged write survived"
        return "\n".join(f"lost: {op} (final value {final!r})" for op, final in self.lost)


def _writes(op: Operation) -> bool:
    if op.kind in ("put", "delete"):
        return True
    # A cas writes if it succeeded or might have.
    return op.kind == "cas" and (op.returned is None or op.output is True)


def check_durability(history: Iterable[Operation],
                     final: Mapping[bytes, Value]) -> DurabilityVerdict:
    """Every acknowledged put of ``value`` on ``key`` must leave ``final[key] == value``,
    unless another acknowledged or indeterminate write of ``key`` could come after it in
    real time (it did not return before the put was invoked). Keys missing from ``final``
    count as absent."""
    ops = list(history)
    by_key: dict[bytes, list[Operation]] = {}
    for op in ops:
        if _writes(op):
            by_key.setdefault(op.key, []).append(op)
    lost: list[tuple[Operation, Value]] = []
    for key, writes in sorted(by_key.items()):
        now = final.get(key)
        for p in writes:
            if p.kind != "put" or p.returned is None or now == p.value:
                continue
            overwritten = any(
                w is not p and (w.returned is None or w.returned >= p.invoked) for w in writes
            )
            if not overwritten:
                lost.append((p, now))
    return DurabilityVerdict(not lost, tuple(lost))


def duplicate_writes(store: MVCCStore) -> list[tuple[bytes, bytes, int]]:
    """``(key, value, count)`` for every put whose (key, value) the store holds at more than
    one revision. With unique values per put, any hit is a write applied twice (a retried
    request that was not deduplicated). Needs the uncompacted history."""
    seen: dict[tuple[bytes, bytes], int] = {}
    for _rev, kv, tomb in store.backend.rows():
        if not tomb:
            seen[(kv.key, kv.value)] = seen.get((kv.key, kv.value), 0) + 1
    return [(k, v, n) for (k, v), n in sorted(seen.items()) if n > 1]
