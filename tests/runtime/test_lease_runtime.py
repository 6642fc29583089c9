"""Leases across restarts of a real 3-member raftlib cluster: they are in the snapshot and the
log, so a member restarted from a snapshot knows them, and a cluster restarted as a whole gives
every lease its full TTL again from the new leader's promotion (as etcd recovers leases)."""

from __future__ import annotations

import time

import pytest

from raftlib.backends import RaftlibCluster

pytestmark = pytest.mark.slow


def _leader(c: RaftlibCluster) -> int:
    deadline = time.monotonic() + 20
    while (lead := c.leader()) is None:
        assert time.monotonic() < deadline, "no leader"
        c.wait(50)
    return lead


def test_leases_survive_snapshots_and_a_restart_of_every_member() -> None:
    with RaftlibCluster(3, heartbeat_ms=50, election_timeout_ms=500, snapshot_count=5) as c:
        lead = _leader(c)
        cl = c.client(lead)
        long_lived = cl.lease_grant(600).id
        short = cl.lease_grant(3).id
        cl.put(b"l/long", b"v", lease=long_lived)
        cl.put(b"l/short", b"v", lease=short)
        for i in range(12):  # past snapshot_count: the leases are in a snapshot now
            cl.put(b"filler/%d" % i, b"x")
        follower = min(m for m in c.members if m != lead)
        c.crash(follower)
        c.restart(follower)  # rebuilt from its snapshot and the log after it
        c.wait(1000)
        assert c.metrics(follower)["snapshot_index"] > 0
        assert set(c.client(follower).leases().leases) == {long_lived, short}
        for m in c.members:
            c.crash(m)
        time.sleep(4)  # longer than the short lease's TTL: no member was running to expire it
        restarted = time.monotonic()
        for m in c.members:
            c.restart(m)
        lead = _leader(c)
        cl = c.client(lead)
        assert cl.get(b"l/short").count == 1  # recovered with its full TTL
        ttl = cl.lease_time_to_live(short, keys=True)
        assert ttl.granted_ttl == 3 and ttl.keys == (b"l/short",) and 1 <= ttl.ttl <= 4
        deadline = time.monotonic() + 10
        while cl.get(b"l/short").count:
            assert time.monotonic() < deadline, "the short lease never expired"
            time.sleep(0.1)
        # Expired no sooner than its full TTL plus an election timeout after the restart
        # began (the new leader's promotion came later still).
        assert time.monotonic() - restarted >= 3.5
        assert cl.get(b"l/long").kvs[0].lease == long_lived
        assert cl.lease_time_to_live(long_lived).granted_ttl == 600
