"""Random fault schedules against the replicated store with concurrent clients: every history
is linearizable and no acknowledged write is lost; planted bugs are caught."""

from __future__ import annotations

import random

import pytest

from raftlib.check import (
    History,
    Operation,
    SafetyMonitor,
    check_durability,
    check_linearizability,
    duplicate_writes,
)
from raftlib.raft import PAPER
from raftlib.sim import Faults, Nemesis, Pending, SimClient, SimCluster

SEEDS = 100
CHUNK = 25
KEYS = (b"a", b"b", b"c")
FAULTS = Faults(gap_ms=(30, 300), transfer=1, membership=1)


def _worker(c: SimCluster, cl: SimClient, rng: random.Random, until: int, tag: str) -> None:
    """Issue one random operation after another until ``until`` (virtual ms)."""
    n = 0
    seen: dict[bytes, bytes | None] = {}  # the last value this worker saw per key

    def observe(key: bytes, p: Pending) -> None:
        if p.error is None and hasattr(p.response, "kvs"):
            kvs = p.response.kvs
            seen[key] = kvs[0].value if kvs else None

    def next_op(_: Pending | None = None) -> None:
        nonlocal n
        if c.now >= until:
            return
        n += 1
        key = rng.choice(KEYS)
        value = f"{tag}-{n}".encode()
        r = rng.random()
        if r < 0.4:
            p = cl.put_async(key, value)
        elif r < 0.75:
            p = cl.get_async(key)
        elif r < 0.92:
            p = cl.cas_async(key, seen.get(key), value)
        else:
            p = cl.delete_async(key)
        p.callbacks.append(lambda p, key=key: observe(key, p))  # type: ignore[misc]
        p.callbacks.append(lambda _p: c.sim.at(c.now + rng.randint(0, 20), next_op))

    c.sim.at(c.now + rng.randint(0, 20), next_op)


def run_kv_seed(seed: int, bugs: tuple[str, ...] = (), clients: int = 4,
                duration_ms: int = 3000) -> str | None:
    """One random run; a description of what went wrong, or None."""
    c = SimCluster(5, seed=seed, timing=PAPER, bugs=bugs, request_timeout_ms=1000,
                   attempt_ms=300, compact_every=50 if seed % 2 else None)
    mon = SafetyMonitor(raise_on_violation=False).attach(c.sim)
    c.wait(600)
    h = History()
    rng = random.Random(seed)
    cls = [c.client(1 + i % 5, history=h) for i in range(clients)]
    end = c.now + duration_ms
    for i, cl in enumerate(cls):
        _worker(c, cl, rng, end, f"c{i}")
    Nemesis(seed, FAULTS).run(c.sim, duration_ms)
    c.wait(duration_ms + 1500)  # the nemesis repairs at the end; pending calls time out
    final = {}
    reader = c.client(1)
    for k in KEYS:
        kvs = reader.get(k).kvs
        final[k] = kvs[0].value if kvs else None
    problems = [f"safety: {v}" for v in mon.final_check(c.sim)]
    lin = check_linearizability(h.ops)
    if not lin.ok:
        problems.append(f"linearizability: {lin.explain()}")
    dur = check_durability(h.ops, final)
    if not dur.ok:
        problems.append(f"durability: {dur.explain()}")
    sm = c.store(1)
    assert sm is not None
    dups = duplicate_writes(sm.store)
    if dups:
        problems.append(f"duplicates: applied more than once: {dups}")
    return "\n".join(problems) or None


@pytest.mark.parametrize("start", range(0, SEEDS, CHUNK))
def test_random_kv_schedules_are_linearizable_and_lose_no_acknowledged_write(start: int) -> None:
    bad = [(s, p) for s in range(start, start + CHUNK) if (p := run_kv_seed(s)) is not None]
    assert bad == []


def test_random_runs_have_indeterminate_and_failed_operations() -> None:
    c = SimCluster(5, seed=5, timing=PAPER, request_timeout_ms=1000, attempt_ms=300)
    c.wait(600)
    h = History()
    rng = random.Random(5)
    for i in range(4):
        _worker(c, c.client(1 + i, history=h), rng, c.now + 3000, f"c{i}")
    Nemesis(5, FAULTS).run(c.sim, 3000)
    c.wait(4500)
    assert len(h) > 50
    assert h.indeterminate()


def _first_caught(bug: str, seeds: int = 40) -> tuple[int, str] | None:
    for s in range(seeds):
        found = run_kv_seed(s, (bug,))
        if found:
            return s, found
    return None


def test_planted_bug_local_linearizable_read_is_caught_by_the_linearizability_checker() -> None:
    caught = _first_caught("local_linearizable_read")
    assert caught is not None and caught[1].startswith("linearizability: not linearizable")


def test_planted_bug_read_index_without_quorum_is_caught_by_the_linearizability_checker(
) -> None:
    caught = _first_caught("read_index_without_quorum")
    assert caught is not None and caught[1].startswith("linearizability: not linearizable")


def test_a_one_member_cluster_serves_linearizable_reads_at_once() -> None:
    # As a one-member etcd: the leader is its own quorum. The answer used to be lost (it
    # came from inside read_index, before the cluster listened for it) and the read timed out.
    c = SimCluster(1, seed=1)
    c.wait(3000)
    cl = c.client()
    cl.put(b"k", b"v")
    t0 = c.now
    assert cl.get(b"k").kvs[0].value == b"v"
    assert c.now - t0 < c.sim.timing.heartbeat_ms


def test_planted_bug_skip_dedup_is_caught_as_a_write_applied_twice() -> None:
    caught = _first_caught("skip_dedup")
    assert caught is not None and caught[1].startswith("duplicates:")


def _op(client: int, kind: str, invoked: float, returned: float | None,
        value: bytes | None = None, output: bytes | bool | None = None) -> Operation:
    return Operation(client, b"k", kind, invoked, returned, value, None, output)  # type: ignore[arg-type]


def test_durability_flags_a_lost_acknowledged_put() -> None:
    h = [_op(1, "put", 0, 5, b"x")]
    v = check_durability(h, {b"k": None})
    assert not v.ok and v.lost[0][0].value == b"x" and "lost" in v.explain()
    assert check_durability(h, {b"k": b"x"}).ok


def test_durability_allows_later_or_concurrent_or_indeterminate_overwrites() -> None:
    put = _op(1, "put", 0, 5, b"x")
    assert check_durability([put, _op(2, "put", 3, 4, b"y")], {b"k": b"y"}).ok  # concurrent
    assert check_durability([put, _op(2, "delete", 6, 7)], {b"k": None}).ok  # later
    assert check_durability([put, _op(2, "put", 6, None, b"z")], {b"k": b"z"}).ok  # unknown
    # An overwrite that returned before the put was invoked cannot explain the loss.
    assert not check_durability([_op(2, "put", 0, 1, b"y"), _op(1, "put", 2, 5, b"x")],
                                {b"k": b"y"}).ok
    # A failed cas wrote nothing.
    assert not check_durability([put, _op(2, "cas", 6, 7, b"z", False)], {b"k": b"z"}).ok
