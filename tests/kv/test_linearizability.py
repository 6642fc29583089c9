"""The linearizability checker: hand-made histories, unknown outcomes, and a planted stale-read
bug in a simulated replicated store that it must catch."""

from __future__ import annotations

import random

import pytest

from raftlib.check.linearizability import Operation, check_linearizability, kv_step
from raftlib.kv import MVCCStore


def put(c: int, t0: float, t1: float | None, v: bytes, key: bytes = b"x") -> Operation:
    return Operation(c, key, "put", t0, t1, value=v)


def get(c: int, t0: float, t1: float | None, out: bytes | None, key: bytes = b"x") -> Operation:
    return Operation(c, key, "get", t0, t1, output=out)


def cas(c: int, t0: float, t1: float | None, exp: bytes | None, v: bytes, ok: bool | None,
        key: bytes = b"x") -> Operation:
    return Operation(c, key, "cas", t0, t1, value=v, expected=exp, output=ok)


def test_model() -> None:
    assert kv_step(b"1", get(0, 0, 1, b"1")) == (b"1",)
    assert kv_step(b"1", get(0, 0, 1, b"2")) == ()
    assert kv_step(b"1", cas(0, 0, 1, b"1", b"2", True)) == (b"2",)
    assert kv_step(b"1", cas(0, 0, 1, b"0", b"2", True)) == ()
    assert kv_step(b"1", cas(0, 0, 1, b"0", b"2", False)) == (b"1",)
    assert kv_step(None, Operation(0, b"x", "delete", 0, 1)) == (None,)


def test_sequential_and_concurrent_histories() -> None:
    assert check_linearizability([put(0, 0, 1, b"a"), get(1, 2, 3, b"a")]).ok
    # A read concurrent with a write may see either value.
    for seen in (None, b"a"):
        assert check_linearizability([put(0, 0, 10, b"a"), get(1, 2, 3, seen)]).ok
    # Real-time order: a read that starts after the write returned must see it.
    v = check_linearizability([put(0, 0, 1, b"a"), get(1, 2, 3, None)])
    assert not v.ok and v.key == b"x"
    assert [str(op) for op in v.stuck] == [str(get(1, 2, 3, None))]
    # Two reads must agree on the order of two concurrent writes.
    h = [put(0, 0, 10, b"a"), put(1, 0, 10, b"b"), get(2, 11, 12, b"a"), get(3, 13, 14, b"b")]
    assert not check_linearizability(h).ok
    h2 = [put(0, 0, 10, b"a"), put(1, 0, 10, b"b"), get(2, 5, 6, b"a"), get(3, 7, 8, b"b")]
    assert check_linearizability(h2).ok
    h3 = [*h2, get(4, 11, 12, b"a")]  # after both writes, a cannot come back
    assert not check_linearizability(h3).ok


def test_cas_and_delete() -> None:
    h = [cas(0, 0, 1, None, b"a", True), cas(1, 2, 3, None, b"b", False),
         Operation(2, b"x", "delete", 4, 5), get(3, 6, 7, None)]
    assert check_linearizability(h).ok
    # Two concurrent cas from absent cannot both succeed.
    h2 = [cas(0, 0, 5, None, b"a", True), cas(1, 0, 5, None, b"b", True)]
    assert not check_linearizability(h2).ok


def test_unknown_outcomes() -> None:
    # A write that timed out may take effect at any time after its call...
    assert check_linearizability([put(0, 0, None, b"a"), get(1, 100, 101, b"a")]).ok
    # ...or never.
    assert check_linearizability([put(0, 0, None, b"a"), get(1, 100, 101, None)]).ok
    # But not before it was invoked.
    assert not check_linearizability([get(1, 0, 1, b"a"), put(0, 5, None, b"a")]).ok
    # And once seen, it stays (no flip-flop).
    h = [put(0, 0, None, b"a"), get(1, 10, 11, b"a"), get(1, 12, 13, None)]
    assert not check_linearizability(h).ok
    # A cas of unknown outcome may or may not have swapped.
    for seen in (b"a", b"b"):
        h2 = [put(0, 0, 1, b"a"), cas(1, 2, None, b"a", b"b", None), get(2, 10, 11, seen)]
        assert check_linearizability(h2).ok


def test_keys_are_independent() -> None:
    h = [put(0, 0, 1, b"a", key=b"k1"), put(0, 2, 3, b"b", key=b"k2"),
         get(1, 4, 5, b"a", key=b"k1"), get(1, 6, 7, None, key=b"k2")]
    v = check_linearizability(h)
    assert not v.ok and v.key == b"k2"
    assert "not linearizable on key b'k2'" in v.explain()


def test_returns_before_invocation_are_rejected() -> None:
    with pytest.raises(ValueError):
        check_linearizability([put(0, 5, 1, b"a")])


def _simulate(seed: int, stale_reads: bool, n_ops: int = 300) -> list[Operation]:
    """Clients on a store that applies each operation at one instant inside its interval.
    With ``stale_reads`` some reads are served as a lagging follower without a read index
    would: at the revision before a write that had already returned when the read was
    invoked (the planted bug)."""
    rnd = random.Random(seed)
    store = MVCCStore()
    keys = [b"a", b"b"]
    # (apply time, client, op skeleton); each client has one operation in flight.
    pending: list[tuple[float, int, Operation]] = []
    history: list[Operation] = []
    now = 0.0
    free_at = [0.0] * 5
    for _ in range(n_ops):
        client = min(range(5), key=lambda c: (free_at[c], c))
        now = max(now, free_at[client])
        invoked = now + rnd.random()
        applied = invoked + rnd.random() * 3
        returned = applied + rnd.random() * 3
        free_at[client] = returned + rnd.random()
        kind = rnd.choice(["get", "get", "put", "cas"])
        op = Operation(client, rnd.choice(keys), kind, invoked, returned,  # type: ignore[arg-type]
                       value=b"v%d" % rnd.randint(0, 99), expected=b"v%d" % rnd.randint(0, 99))
        pending.append((applied, client, op))
    pending.sort(key=lambda p: (p[0], p[1]))
    # Per key: (return time, revision before the write) of every applied write.
    writes: dict[bytes, list[tuple[float, int]]] = {k: [] for k in keys}
    stale = 0
    for _, _, op in pending:
        cur = store.range(op.key).kvs
        value = cur[0].value if cur else None
        before = store.revision
        if op.kind == "get":
            out: bytes | bool | None = value
            done = [r for t, r in writes[op.key] if t < op.invoked]
            if stale_reads and done and rnd.random() < 0.3:
                old = store.range(op.key, revision=done[-1]).kvs
                out = old[0].value if old else None
                stale += out != value
        elif op.kind == "put":
            store.put(op.key, op.value or b"")
            out = None
        else:
            out = value == op.expected
            if out:
                store.put(op.key, op.value or b"")
        if store.revision != before:
            assert op.returned is not None
            writes[op.key].append((op.returned, before))
        timed_out = op.kind != "get" and rnd.random() < 0.05
        history.append(Operation(op.client, op.key, op.kind, op.invoked,
                                 None if timed_out else op.returned, op.value, op.expected,
                                 None if timed_out else out))
    assert stale > 0 or not stale_reads
    return history


def test_correct_simulated_store_is_linearizable() -> None:
    for seed in range(5):
        v = check_linearizability(_simulate(seed, stale_reads=False))
        assert v.ok, v.explain()
        assert v.explored >= 300


def test_planted_stale_read_is_caught() -> None:
    caught = 0
    for seed in range(5):
        v = check_linearizability(_simulate(seed, stale_reads=True))
        if not v.ok:
            caught += 1
            assert any(op.kind == "get" for op in v.stuck)
            assert len(v.linearized) > 0
    assert caught == 5, caught


def _brute_force(ops: list[Operation]) -> bool:
    """Try every order that respects real time, every possible point for unknown outcomes."""
    import itertools

    for order in itertools.permutations(range(len(ops))):
        pos = {op_id: i for i, op_id in enumerate(order)}
        if any(ops[a].returned is not None and ops[a].returned < ops[b].invoked  # type: ignore[operator]
               and pos[a] > pos[b] for a in range(len(ops)) for b in range(len(ops))):
            continue
        states: set[bytes | None] = {None}
        for i in order:
            states = {s for st in states for s in kv_step(st, ops[i])}
        if states:
            return True
    return False


def test_agrees_with_brute_force_on_small_histories() -> None:
    rnd = random.Random(3)
    verdicts = set()
    for _ in range(400):
        ops = []
        for c in range(rnd.randint(1, 6)):
            t0 = rnd.randint(0, 10)
            t1 = None if rnd.random() < 0.15 else t0 + rnd.randint(0, 4)
            kind = rnd.choice(["get", "put", "cas", "delete"])
            v = rnd.choice([b"a", b"b"])
            e = rnd.choice([None, b"a", b"b"])
            out: bytes | bool | None = (rnd.choice([None, b"a", b"b"]) if kind == "get"
                                        else rnd.random() < 0.5 if kind == "cas" else None)
            ops.append(Operation(c, b"x", kind, t0, t1, v, e, out))  # type: ignore[arg-type]
        want = _brute_force(ops)
        assert check_linearizability(ops).ok == want, ops
        verdicts.add(want)
    assert verdicts == {True, False}
