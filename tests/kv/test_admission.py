"""One write-admission rule (``raftlib.kv.admit_write``) for every engine: the standalone store,
the simulator and the runtime refuse the same write at the same size, as real etcd 3.4 does."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from raftlib import Client, Cluster
from raftlib.backends import ETCD_BINARY, EtcdCluster, RaftlibCluster
from raftlib.kv import (
    DEFAULT_QUOTA_BYTES,
    KV_OVERHEAD,
    MAX_REQUEST_BYTES,
    AlarmMember,
    AlarmType,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    ErrNoSpace,
    ErrRequestTooLarge,
    MVCCStore,
    PutRequest,
    RangeRequest,
    TxnRequest,
    admit_write,
    quota_cost,
)
from raftlib.kv._size import raft_request_size
from raftlib.sim import SimCluster

# Small enough that a probe of this cost fits etcd's request limit (1.5 MiB).
QUOTA = 1024 * 1024
KEY = b"probe"


def test_cost_is_etcds_a_put_or_the_costlier_branch_of_puts() -> None:
    put = PutRequest(b"k", b"v" * 10)
    assert quota_cost(put) == KV_OVERHEAD + 11
    txn = TxnRequest((), (put,), (PutRequest(b"k", b"v" * 100), TxnRequest((), (put,))))
    assert quota_cost(txn) == KV_OVERHEAD + 101  # a nested txn's puts are not counted
    assert quota_cost(DeleteRangeRequest(b"k")) == quota_cost(RangeRequest(b"k")) == 0


def test_the_rule_at_its_edges() -> None:
    put = PutRequest(b"k", b"v")
    fits = QUOTA - quota_cost(put) - 1
    assert admit_write(put, fits, (), QUOTA) is None
    refused = admit_write(put, fits + 1, (), QUOTA)
    assert refused is not None and isinstance(refused.error, ErrNoSpace) and refused.raise_alarm
    nospace = (AlarmMember(1, AlarmType.NOSPACE),)
    again = admit_write(put, fits + 1, nospace, QUOTA)
    assert again is not None and not again.raise_alarm  # raised once, not again
    # A write that puts nothing passes even over the quota (etcd 3.4: checked on a real etcd
    # restarted with a quota below its database size, where a delete-only txn succeeded).
    assert admit_write(TxnRequest((), (DeleteRangeRequest(b"k"),)), 10 * QUOTA, nospace,
                       QUOTA) is None


def _probe(cost: int) -> TxnRequest:
    """A txn of the given quota cost that writes nothing: its compare holds (the key does not
    exist) and its success branch is empty; the cost is in the failure branch."""
    absent = Compare(KEY, CompareTarget.CREATE, CompareResult.EQUAL, 0)
    return TxnRequest((absent,), (), (PutRequest(KEY, b"x" * (cost - KV_OVERHEAD - len(KEY))),))


class _StoreClient:
    """The standalone store behind the two calls the probe needs."""

    def __init__(self, store: MVCCStore) -> None:
        self.store = store

    def txn(self, req: TxnRequest) -> object:
        return self.store.apply(req)

    def put(self, key: bytes, value: bytes) -> object:
        return self.store.apply(PutRequest(key, value))

    def lease_grant(self, ttl: int) -> object:
        return self.store.lease_grant(ttl)

    def size(self) -> int:
        return self.store.backend.size()

    def alarms(self) -> tuple[str, ...]:
        return tuple(a.alarm.value for a in self.store.alarms())


class _ClusterClient:
    def __init__(self, cluster: Cluster, member: int) -> None:
        self.cluster, self.member = cluster, member
        self.client: Client = cluster.client(member)

    def txn(self, req: TxnRequest) -> object:
        return self.client.txn(req.compare, req.success, req.failure)

    def put(self, key: bytes, value: bytes) -> object:
        return self.client.put(key, value)

    def lease_grant(self, ttl: int) -> object:
        return self.client.lease_grant(ttl)

    def size(self) -> int:
        return self.cluster.status()[self.member].db_size

    def settled_size(self) -> int:
        """The size once it stops moving: a new etcd cluster still writes its cluster version
        and commits its backend batches for a while after electing a leader, so a size read
        too early is stale by the time the probe arrives."""
        size = self.size()
        for _ in range(20):
            self.cluster.wait(300)
            if (now := self.size()) == size:
                return size
            size = now
        raise AssertionError(f"the database size never settled (last {size})")

    def alarms(self) -> tuple[str, ...]:
        self.cluster.wait(200)  # an alarm is raised through the log
        return self.client.alarms()

    def raised_alarms(self) -> tuple[str, ...]:
        """The alarms once one is up (on a loaded machine the log can take seconds)."""
        for _ in range(25):
            if alarms := self.alarms():
                return alarms
        return ()


@contextmanager
def _engine(name: str, quota: int = QUOTA) -> Iterator[_StoreClient | _ClusterClient]:
    if name == "store":
        yield _StoreClient(MVCCStore(quota_backend_bytes=quota))
        return
    if name == "etcd" and not os.path.exists(ETCD_BINARY):
        pytest.skip("etcd is not installed")
    make = {"sim": SimCluster, "raftlib": RaftlibCluster, "etcd": EtcdCluster}[name]
    cluster = make(3, quota_backend_bytes=quota)
    try:
        lead = None
        for _ in range(100):
            if (lead := cluster.leader()) is not None:
                break
            cluster.wait(100)
        assert lead is not None
        yield _ClusterClient(cluster, lead)
    finally:
        if not isinstance(cluster, SimCluster):
            cluster.close()


@pytest.mark.parametrize("name", ["store", "sim", "raftlib",
                                  pytest.param("etcd", marks=pytest.mark.etcd)])
def test_every_engine_refuses_the_same_write_at_the_same_size(name: str) -> None:
    with _engine(name) as e:
        size = e.settled_size() if isinstance(e, _ClusterClient) else e.size()
        e.txn(_probe(QUOTA - size - 1))  # size + cost < quota: admitted, writes nothing
        assert e.size() == size and not e.alarms()
        with pytest.raises(ErrNoSpace):
            e.txn(_probe(QUOTA - size))  # size + cost == quota: refused
        alarms = e.raised_alarms() if isinstance(e, _ClusterClient) else e.alarms()
        assert alarms == ("NOSPACE",)
        with pytest.raises(ErrNoSpace):  # etcd's quota covers lease grants too
            e.lease_grant(60)


def _largest_value(key: bytes) -> int:
    """The longest value whose put still fits ``--max-request-bytes`` by raftlib's count."""
    n = MAX_REQUEST_BYTES - 200
    while raft_request_size(PutRequest(key, b"x" * (n + 1))) <= MAX_REQUEST_BYTES:
        n += 1
    return n


@pytest.mark.parametrize("name", ["store", "sim", "raftlib",
                                  pytest.param("etcd", marks=pytest.mark.etcd)])
def test_every_engine_refuses_a_request_too_large_at_the_same_size(name: str) -> None:
    n = _largest_value(KEY)
    # raftlib counts etcd's request id at its longest (ten bytes): etcd's own count of the
    # same request can be one byte shorter, so etcd is asked one byte further out.
    over = n + (2 if name == "etcd" else 1)
    with _engine(name, quota=DEFAULT_QUOTA_BYTES) as e:
        e.put(KEY, b"x" * n)
        with pytest.raises(ErrRequestTooLarge):
            e.put(KEY, b"x" * over)
