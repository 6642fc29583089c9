"""Backend size accounting, the space quota, the NOSPACE alarm and defragmentation."""

from __future__ import annotations

import pytest

from raftlib.kv import (
    KV_OVERHEAD,
    AlarmAction,
    AlarmMember,
    AlarmRequest,
    AlarmType,
    DeleteRangeRequest,
    ErrNoSpace,
    MVCCStore,
    PutRequest,
    RangeRequest,
    TxnRequest,
)


def test_compaction_frees_pages_and_defragment_shrinks_the_file() -> None:
    s = MVCCStore()
    for i in range(40):
        s.put(b"k", bytes([i]) * 20_000)  # 40 versions of ~20 kB
    before = s.status()
    assert before.db_size == before.db_size_in_use > 40 * 20_000
    s.compact(s.revision)  # keeps only the newest version
    mid = s.status()
    assert mid.db_size == before.db_size  # the file does not shrink
    assert mid.db_size_in_use < before.db_size / 10  # but its pages are free
    s.defragment()
    after = s.status()
    assert after.db_size == after.db_size_in_use == mid.db_size_in_use
    assert s.range(b"k").kvs[0].value == bytes([39]) * 20_000


def test_quota_uses_etcd_cost_estimate() -> None:
    s = MVCCStore()
    size = s.status().db_size
    # A put fits while size + 256 + len(key) + len(value) < quota (etcd's backendQuota).
    s.quota_backend_bytes = size + KV_OVERHEAD + 1 + 10 + 1
    s.put(b"k", b"v" * 10)
    assert s.alarms() == ()
    s.quota_backend_bytes = s.status().db_size + KV_OVERHEAD + 1 + 10
    with pytest.raises(ErrNoSpace) as e:
        s.put(b"k", b"v" * 10)
    assert str(e.value) == "etcdserver: mvcc: database space exceeded"
    assert s.alarms() == (AlarmMember(1, AlarmType.NOSPACE),)
    assert s.revision == 2  # the rejected put wrote nothing


def test_txn_cost_is_its_costlier_branch() -> None:
    s = MVCCStore()
    base = s.status().db_size
    big = PutRequest(b"b", b"x" * 1000)
    small = PutRequest(b"s", b"x")
    s.quota_backend_bytes = base + KV_OVERHEAD + 1 + 1000  # the big put does not fit
    with pytest.raises(ErrNoSpace):
        s.txn([], [small], [big])  # never runs the big put, still charged for it
    s.disarm()
    s.quota_backend_bytes = base + KV_OVERHEAD + 2 + 1000
    s.txn([], [small], [big])
    assert s.alarms() == ()


def test_nospace_alarm_blocks_puts_until_disarmed() -> None:
    s = MVCCStore()
    s.put(b"a", b"1")
    s.apply(AlarmRequest(AlarmAction.ACTIVATE, 1, AlarmType.NOSPACE))
    for req in (PutRequest(b"a", b"2"), TxnRequest((), (PutRequest(b"a", b"2"),))):
        with pytest.raises(ErrNoSpace):
            s.apply(req)
    # Reads, deletes, read-only and delete-only txns, compaction and defrag still work.
    s.apply(RangeRequest(b"a"))
    s.apply(TxnRequest((), (RangeRequest(b"a"),)))
    s.apply(TxnRequest((), (DeleteRangeRequest(b"zz"),)))
    assert s.delete_range(b"a").deleted == 1
    s.compact(s.revision)
    s.defragment()
    assert s.disarm() == (AlarmMember(1, AlarmType.NOSPACE),)
    assert s.alarms() == ()
    assert s.put(b"a", b"3").header_revision == 4


def test_alarm_survives_restart(tmp_path: object) -> None:
    path = f"{tmp_path}/kv.db"
    s = MVCCStore(path, quota_backend_bytes=1)
    with pytest.raises(ErrNoSpace):
        s.put(b"a", b"1")
    s.close()
    t = MVCCStore(path)
    assert t.alarms() == (AlarmMember(1, AlarmType.NOSPACE),)
    with pytest.raises(ErrNoSpace):
        t.put(b"a", b"1")
