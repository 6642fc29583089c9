"""Leases in the store, on a clock the test turns: grants, keys attached and detached, expiry
(one revision, deletes seen by watchers), keep-alive, the leader-only lessor and its promotion,
and leases surviving a reopen and a snapshot."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import pytest

from raftlib.kv import (
    EXPIRED_RETRY_S,
    ErrLeaseNotFound,
    LeaseGrantRequest,
    LeaseRevokeRequest,
    Lessor,
    MVCCStore,
    ReplicatedKV,
    min_lease_ttl,
)
from raftlib.kv._replicated import decode_command, encode_command


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_min_ttl_is_etcds() -> None:
    # etcd: (3*ElectionTicks)/2 heartbeats, rounded up to seconds.
    assert min_lease_ttl(10, 100) == 2
    assert min_lease_ttl(5, 50) == 1  # 7 ticks of 50 ms
    assert min_lease_ttl(10, 500) == 8  # 7.5 s


def test_grant_picks_ids_and_raises_ttl_to_the_minimum(clock: Clock) -> None:
    s = MVCCStore(clock=clock, min_lease_ttl=3)
    a, b = s.lease_grant(1), s.lease_grant(10)
    assert a.ttl == 3 and b.ttl == 10
    assert 0 < a.id < b.id < 2**63
    with pytest.raises(ErrLeaseNotFound):  # an id of 0 reaching the store: etcd's lessor
        s.apply(LeaseGrantRequest(10, 0))
    assert s.revision == 1  # grants make no revision


def test_keys_attach_detach_and_expire_in_one_revision(clock: Clock) -> None:
    s = MVCCStore(clock=clock)
    lid = s.lease_grant(5).id
    other = s.lease_grant(50).id
    for k in (b"k/c", b"k/a", b"k/b", b"k/d"):
        s.put(k, b"v", lease=lid)
    s.put(b"k/b", b"moved", lease=other)  # re-leased
    s.put(b"k/d", b"kept")  # a put without a lease detaches
    s.put(b"k/e", b"kept", lease=lid)
    s.delete_range(b"k/e")  # a deleted key is no longer the lease's
    assert s.lease_time_to_live(lid, keys=True).keys == (b"k/a", b"k/c")
    w = s.watch_hub.watch(b"k/", b"k0", start_revision=s.revision + 1, prev_kv=True)
    clock.now += 4.9
    assert s.expire_leases() == [] and s.lease_time_to_live(lid).ttl == 0
    clock.now += 0.1
    before = s.revision
    assert s.expire_leases() == [lid]
    assert s.revision == before + 1
    s.watch_hub.sync()
    [resp] = w.take()
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in resp.events] == [
        ("DELETE", b"k/a", before + 1), ("DELETE", b"k/c", before + 1)]
    assert all(e.prev_kv is not None and e.prev_kv.lease == lid for e in resp.events)
    assert [kv.key for kv in s.range(b"k/", b"k0").kvs] == [b"k/b", b"k/d"]
    assert s.lease_time_to_live(lid).ttl == -1
    assert s.leases().leases == (other,)


def test_keep_alive_renews_to_the_full_ttl(clock: Clock) -> None:
    s = MVCCStore(clock=clock)
    lid = s.lease_grant(10).id
    clock.now += 7.5
    assert s.lease_time_to_live(lid).ttl == 2  # whole seconds, truncated
    assert s.lease_keep_alive(lid).ttl == 10
    clock.now += 9.9
    assert s.expire_leases() == []
    clock.now += 0.1
    # Expired but not yet revoked: a keep-alive finds nothing, as etcd answers after the revoke.
    assert s.lease_keep_alive(lid).ttl == 0
    assert s.lease_keep_alive(12345).ttl == 0
    assert s.expire_leases() == [lid]


def test_an_expired_lease_is_reported_again_only_after_the_retry_interval(clock: Clock) -> None:
    lessor = Lessor(clock, primary=True)
    lessor.granted(1, 5)
    lessor.granted(2, 3)
    clock.now += 6
    assert lessor.expired() == [2, 1]  # soonest first
    assert lessor.expired() == []
    clock.now += EXPIRED_RETRY_S
    assert lessor.expired() == [2, 1]  # the revokes were lost: propose them again


def test_only_a_primary_expires_and_promotion_extends_every_lease(clock: Clock) -> None:
    s = MVCCStore(clock=clock, lease_primary=False)  # a follower's lessor
    lid = s.lease_grant(5).id
    clock.now += 1000
    assert s.expire_leases() == []
    assert s.lease_time_to_live(lid).ttl == 5  # forever here: the granted TTL is shown
    s.lessor.promote(s.lease_ttls(), extend=1.0)  # this member now leads
    clock.now += 5.9
    assert s.expire_leases() == []
    clock.now += 0.1
    assert s.expire_leases() == [lid]
    s.lessor.demote()
    assert not s.lessor.primary and s.lessor.expired() == []


def test_leases_survive_a_reopen_and_a_snapshot(clock: Clock) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "kv.db")
        s = MVCCStore(path, clock=clock)
        lid = s.lease_grant(30, 77).id
        s.put(b"a", b"1", lease=lid)
        s.put(b"b", b"1", lease=lid)
        s.put(b"c", b"1", lease=lid)
        s.put(b"c", b"2")  # detached: its old version must not count on reopening
        s.put(b"d", b"1", lease=lid)
        s.delete_range(b"d")
        s.close()
        clock.now += 29
        s = MVCCStore(path, clock=clock)
        # Recovered with its full TTL again, as etcd's lessor recovers (and promotes) leases.
        got = s.lease_time_to_live(lid, keys=True)
        assert (got.ttl, got.granted_ttl, got.keys) == (30, 30, (b"a", b"b"))
        s.close()
    s = MVCCStore(clock=clock)
    lid = s.lease_grant(30, 77).id
    s.put(b"a", b"1", lease=lid)
    copy = MVCCStore(clock=clock, lease_primary=False)
    copy.load_bytes(s.to_bytes())  # a snapshot installed
    assert copy.lease_time_to_live(lid, keys=True).keys == (b"a",)
    rev = copy.lease_revoke(lid).header_revision
    assert rev == s.revision + 1 and copy.range(b"a", b"c").kvs == ()


@dataclass(frozen=True)
class _Entry:
    data: bytes
    type: str = "normal"


def test_the_replicated_state_machine_promotes_when_its_leader_applies_its_first_entry(
        clock: Clock) -> None:
    leading = [False]
    sm = ReplicatedKV(1, clock=clock, leading=lambda: leading[0], lease_extend=1.0)
    grant = encode_command(7, 1, LeaseGrantRequest(4, 9))
    assert decode_command(grant)[3] == LeaseGrantRequest(4, 9)
    result = sm.apply(_Entry(grant))
    assert result is not None and result.error is None
    clock.now += 100
    assert sm.expired_leases() == []  # a follower never expires leases
    leading[0] = True
    sm.apply(_Entry(b""))  # the empty entry of the new leader's term
    clock.now += 4.9  # the TTL and the election timeout's extension
    assert sm.expired_leases() == []
    clock.now += 0.2
    assert sm.expired_leases() == [9]
    result = sm.apply(_Entry(encode_command(7, 2, LeaseRevokeRequest(9))))
    assert result is not None and result.error is None
    leading[0] = False
    assert sm.expired_leases() == [] and not sm.store.lessor.primary
