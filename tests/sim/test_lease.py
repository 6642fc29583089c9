"""Leases in the simulator: only the leader expires them, keys go in one revision on every
member, keep-alives are answered by the leader, and a new leader extends every lease by its TTL
plus an election timeout (etcd's Promote), so a lease outlives a leader change."""

from __future__ import annotations

import pytest

from raftlib.kv import ErrLeaseNotFound
from raftlib.sim import SimCluster


def _cluster(seed: int = 3) -> SimCluster:
    c = SimCluster(3, seed=seed)
    c.wait(3000)
    assert c.leader() is not None
    return c


def _keys(c: SimCluster, mid: int) -> list[bytes]:
    sm = c.store(mid)
    assert sm is not None
    return [kv.key for kv in sm.store.range(b"k/", b"k0").kvs]


def test_only_the_leader_expires_and_keys_go_in_one_revision_everywhere() -> None:
    c = _cluster()
    cl = c.client(1)
    lid = cl.lease_grant(5).id
    for k in (b"k/b", b"k/a"):
        cl.put(k, b"v", lease=lid)
    granted = c.now
    lead = c.leader()
    assert lead is not None
    followers = [m for m in c.members if m != lead]
    for m in followers:
        sm = c.store(m)
        assert sm is not None and not sm.store.lessor.primary
    c.wait(granted + 4_800 - c.now)
    assert all(_keys(c, m) == [b"k/a", b"k/b"] for m in c.members)
    c.wait(1_000)  # 5 s, found by the next 500 ms check, then committed
    revs = set()
    for m in c.members:
        sm = c.store(m)
        assert sm is not None
        assert _keys(c, m) == [] and sm.store.leases().leases == ()
        deleted = [kv.mod_revision for kv in sm.store.range(b"k/", b"k0",
                                                            revision=sm.store.revision).kvs]
        assert deleted == []
        revs.add(sm.store.revision)
    assert len(revs) == 1  # every member at the same revision: one for both deletes
    assert cl.lease_time_to_live(lid).ttl == -1
    with pytest.raises(ErrLeaseNotFound):
        cl.put(b"k/c", b"v", lease=lid)


def test_keep_alive_at_the_leader_keeps_the_keys() -> None:
    c = _cluster()
    cl = c.client(2)
    lid = cl.lease_grant(3).id
    cl.put(b"k/x", b"v", lease=lid)
    for _ in range(6):  # 12 s of renewals every 2 s
        c.wait(2_000)
        assert cl.lease_keep_alive(lid).ttl == 3
    assert _keys(c, 1) == [b"k/x"]
    assert 1 <= cl.lease_time_to_live(lid).ttl <= 3
    c.wait(4_000)
    assert all(_keys(c, m) == [] for m in c.members)
    assert cl.lease_keep_alive(lid).ttl == 0


def test_a_new_leader_extends_every_lease_by_an_election_timeout() -> None:
    c = _cluster()
    cl = c.client(1)
    lid = cl.lease_grant(10).id
    cl.put(b"k/held", b"v", lease=lid)
    expiry = c.now + 10_000
    c.wait(8_000)
    old = c.leader()
    assert old is not None
    c.crash(old)  # the old leader's lessor dies with it
    c.sim.run_until(lambda: c.leader() not in (None, old), 5_000)
    new = c.leader()
    assert new is not None and new != old
    sm = c.store(new)
    assert sm is not None and not sm.store.lessor.primary
    # Promoted when it applies the first entry of its term.
    assert c.sim.run_until(lambda: sm.store.lessor.primary, 1_000)
    promoted = c.now
    # Not expired at its old time: the new leader gave it 10 s + 1 s from its promotion.
    c.wait(expiry + 1_000 - c.now)
    assert _keys(c, new) == [b"k/held"]
    assert cl.lease_time_to_live(lid).ttl in range(1, 11)
    c.wait(promoted + 10_900 - c.now)
    assert _keys(c, new) == [b"k/held"]
    c.wait(1_200)
    assert _keys(c, new) == []


def test_same_seed_same_trace_with_leases() -> None:
    def run() -> str:
        c = _cluster(seed=9)
        cl = c.client(1)
        lid = cl.lease_grant(2).id
        cl.put(b"k/a", b"v", lease=lid)
        c.crash(c.leader() or 1)
        c.wait(6_000)
        return c.sim.trace_json()

    assert run() == run()
