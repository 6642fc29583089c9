"""Unit tests of the MVCC store: revision rules, ranges, txns, compaction, persistence.

Expected values follow etcd 3.4's rules, worked out by hand in each test.
"""

from __future__ import annotations

import pytest

from raftlib.kv import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    ErrCompacted,
    ErrDuplicateKey,
    ErrEmptyKey,
    ErrFutureRev,
    ErrKeyNotFound,
    ErrLeaseProvided,
    ErrTooManyOps,
    ErrValueProvided,
    KeyValue,
    MVCCStore,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    SortOrder,
    SortTarget,
    TxnRequest,
    prefix_end,
)

EQ, NE, GT, LT = (CompareResult.EQUAL, CompareResult.NOT_EQUAL, CompareResult.GREATER,
                  CompareResult.LESS)


@pytest.fixture
def s() -> MVCCStore:
    return MVCCStore()


def test_fresh_store_is_at_revision_1(s: MVCCStore) -> None:
    assert s.revision == 1
    r = s.range(b"a")
    assert (r.header_revision, r.kvs, r.count, r.more) == (1, (), 0, False)


def test_put_revisions_versions_and_prev_kv(s: MVCCStore) -> None:
    assert s.put(b"a", b"1") == PutResponse(2, None)
    r = s.put(b"a", b"2", prev_kv=True)
    assert r == PutResponse(3, KeyValue(b"a", 2, 2, 1, b"1"))
    assert s.range(b"a").kvs == (KeyValue(b"a", 2, 3, 2, b"2"),)
    s.put(b"b", b"x")
    assert s.range(b"a").kvs[0].version == 2
    assert s.revision == 4


def test_delete_tombstone_and_recreation(s: MVCCStore) -> None:
    s.put(b"a", b"1")  # 2
    s.put(b"a", b"2")  # 3
    d = s.delete_range(b"a", prev_kv=True)  # 4
    assert (d.header_revision, d.deleted) == (4, 1)
    assert d.prev_kvs == (KeyValue(b"a", 2, 3, 2, b"2"),)
    assert s.range(b"a").kvs == ()
    s.put(b"a", b"3")  # 5: a new generation, version restarts at 1
    assert s.range(b"a").kvs == (KeyValue(b"a", 5, 5, 1, b"3"),)
    # Reads in the past see each generation.
    assert s.range(b"a", revision=3).kvs == (KeyValue(b"a", 2, 3, 2, b"2"),)
    assert s.range(b"a", revision=4).kvs == ()
    assert s.range(b"a", revision=1).kvs == ()


def test_delete_of_nothing_keeps_revision(s: MVCCStore) -> None:
    s.put(b"a", b"1")
    d = s.delete_range(b"zz")
    assert (d.header_revision, d.deleted) == (2, 0)
    assert s.revision == 2
    d = s.delete_range(b"a", prev_kv=True)
    assert (d.header_revision, d.deleted) == (3, 1)
    assert s.delete_range(b"a").deleted == 0  # already deleted
    assert s.revision == 3


def test_delete_range_is_one_revision_with_sub_revisions(s: MVCCStore) -> None:
    for k in (b"a", b"b", b"c", b"d"):
        s.put(k, k)  # 2..5
    d = s.delete_range(b"b", b"d")
    assert (d.header_revision, d.deleted) == (6, 2)
    rows = [(rev, kv.key, tomb) for rev, kv, tomb in s.backend.rows(6)]
    assert rows == [((6, 0), b"b", True), ((6, 1), b"c", True)]
    assert [kv.key for kv in s.range(b"a", b"\0").kvs] == [b"a", b"d"]


def test_range_forms(s: MVCCStore) -> None:
    for k in (b"a", b"ab", b"abc", b"b", b"c"):
        s.put(k, b"v" + k)
    keys = lambda r: [kv.key for kv in r.kvs]  # noqa: E731
    assert keys(s.range(b"ab")) == [b"ab"]
    assert keys(s.range(b"a", b"b")) == [b"a", b"ab", b"abc"]
    assert keys(s.range(b"ab", prefix_end(b"ab"))) == [b"ab", b"abc"]
    assert keys(s.range(b"ab", b"\0")) == [b"ab", b"abc", b"b", b"c"]
    assert keys(s.range(b"\0", b"\0")) == [b"a", b"ab", b"abc", b"b", b"c"]
    assert keys(s.range(b"x", b"\0")) == []
    assert keys(s.range(b"b", b"a")) == []  # an empty interval


def test_prefix_end() -> None:
    assert prefix_end(b"ab") == b"ac"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff\xff") == b"\0"


def test_limit_more_count_keys_only_count_only(s: MVCCStore) -> None:
    for k in (b"a", b"b", b"c", b"d"):
        s.put(k, k * 2)
    r = s.range(b"a", b"\0", limit=2)
    assert ([kv.key for kv in r.kvs], r.more, r.count) == ([b"a", b"b"], True, 4)
    r = s.range(b"a", b"\0", limit=4)
    assert (len(r.kvs), r.more, r.count) == (4, False, 4)
    r = s.range(b"a", b"\0", keys_only=True, limit=1)
    assert r.kvs == (KeyValue(b"a", 2, 2, 1, b""),)
    r = s.range(b"a", b"\0", count_only=True)
    assert (r.kvs, r.count, r.more) == ((), 4, False)


def test_sort_orders_and_targets(s: MVCCStore) -> None:
    s.put(b"a", b"3")  # 2
    s.put(b"b", b"1")  # 3
    s.put(b"c", b"2")  # 4
    s.put(b"a", b"4")  # 5: a has mod 5, version 2
    keys = lambda r: [kv.key for kv in r.kvs]  # noqa: E731
    assert keys(s.range(b"a", b"\0", sort_order=SortOrder.DESCEND)) == [b"c", b"b", b"a"]
    assert keys(s.range(b"a", b"\0", sort_target=SortTarget.VALUE)) == [b"b", b"c", b"a"]
    r = s.range(b"a", b"\0", sort_order=SortOrder.DESCEND, sort_target=SortTarget.MOD, limit=2)
    assert (keys(r), r.more, r.count) == ([b"a", b"c"], True, 3)
    r = s.range(b"a", b"\0", sort_order=SortOrder.ASCEND, sort_target=SortTarget.CREATE)
    assert keys(r) == [b"a", b"b", b"c"]
    r = s.range(b"a", b"\0", sort_order=SortOrder.DESCEND, sort_target=SortTarget.VERSION,
                limit=1)
    assert keys(r) == [b"a"]


def test_future_and_compacted_revisions(s: MVCCStore) -> None:
    for v in (b"1", b"2", b"3", b"4"):
        s.put(b"k", v)  # 2..5
    with pytest.raises(ErrFutureRev) as e:
        s.range(b"k", revision=6)
    assert str(e.value) == "etcdserver: mvcc: required revision is a future revision"
    assert s.compact(4).header_revision == 5
    with pytest.raises(ErrCompacted) as e2:
        s.range(b"k", revision=3)
    assert str(e2.value) == "etcdserver: mvcc: required revision has been compacted"
    assert s.range(b"k", revision=4).kvs[0].value == b"3"  # the compacted revision stays
    with pytest.raises(ErrCompacted):
        s.compact(4)  # already compacted
    with pytest.raises(ErrCompacted):
        s.compact(2)
    with pytest.raises(ErrFutureRev):
        s.compact(6)
    s.compact(5)  # the current revision may be compacted
    assert s.range(b"k").kvs[0].value == b"4"


def test_compaction_drops_old_revisions_and_tombstones(s: MVCCStore) -> None:
    s.put(b"a", b"1")  # 2
    s.put(b"a", b"2")  # 3
    s.put(b"b", b"1")  # 4
    s.delete_range(b"b")  # 5
    s.put(b"a", b"3")  # 6
    s.compact(5)
    # a keeps its version visible at 5 (rev 3) and later ones; b (deleted at 5) is gone.
    assert [rev for rev, _, _ in s.backend.rows()] == [(3, 0), (6, 0)]
    assert s.range(b"a", revision=5).kvs == (KeyValue(b"a", 2, 3, 2, b"2"),)
    assert s.range(b"b", revision=5).kvs == ()
    assert s.range(b"a").kvs == (KeyValue(b"a", 2, 6, 3, b"3"),)


def test_compaction_keeps_tombstone_above_compact_revision(s: MVCCStore) -> None:
    s.put(b"a", b"1")  # 2
    s.put(b"x", b"1")  # 3
    s.delete_range(b"a")  # 4
    s.compact(3)
    assert [rev for rev, _, _ in s.backend.rows()] == [(2, 0), (3, 0), (4, 0)]
    assert s.range(b"a", revision=3).kvs[0].value == b"1"
    assert s.range(b"a", revision=4).kvs == ()


def _cmp(key: bytes, target: CompareTarget, result: CompareResult,
         value: bytes | int) -> Compare:
    return Compare(key, target, result, value)


def test_txn_compares(s: MVCCStore) -> None:
    s.put(b"a", b"v1")  # 2
    s.put(b"a", b"v2")  # 3: create 2, mod 3, version 2
    cases = [
        (_cmp(b"a", CompareTarget.VALUE, EQ, b"v2"), True),
        (_cmp(b"a", CompareTarget.VALUE, LT, b"v3"), True),
        (_cmp(b"a", CompareTarget.VALUE, GT, b"v3"), False),
        (_cmp(b"a", CompareTarget.VERSION, EQ, 2), True),
        (_cmp(b"a", CompareTarget.VERSION, NE, 2), False),
        (_cmp(b"a", CompareTarget.CREATE, EQ, 2), True),
        (_cmp(b"a", CompareTarget.MOD, GT, 2), True),
        (_cmp(b"a", CompareTarget.MOD, LT, 3), False),
        # A missing key has version, create and mod 0, and every value compare fails.
        (_cmp(b"zz", CompareTarget.VERSION, EQ, 0), True),
        (_cmp(b"zz", CompareTarget.CREATE, EQ, 0), True),
        (_cmp(b"zz", CompareTarget.VALUE, EQ, b""), False),
        (_cmp(b"zz", CompareTarget.VALUE, NE, b"x"), False),
    ]
    for c, want in cases:
        assert s.txn([c]).succeeded is want, c
    assert s.revision == 3  # read-only txns do not move the revision
    # A compare over a range holds only if it holds for every key.
    s.put(b"b", b"v1")
    rng = Compare(b"a", CompareTarget.VERSION, GT, 0, range_end=b"c")
    assert s.txn([rng]).succeeded
    rng2 = Compare(b"a", CompareTarget.VALUE, EQ, b"v1", range_end=b"c")
    assert not s.txn([rng2]).succeeded


def test_txn_branches_one_revision(s: MVCCStore) -> None:
    s.put(b"a", b"1")  # 2
    r = s.txn(
        [_cmp(b"a", CompareTarget.VALUE, EQ, b"1")],
        [PutRequest(b"b", b"x"), PutRequest(b"c", b"y", prev_kv=True),
         RangeRequest(b"a", b"\0"), DeleteRangeRequest(b"a")],
        [PutRequest(b"fail", b"1")],
    )
    assert r.succeeded and r.header_revision == 3
    put_b, put_c, rng, dele = r.responses
    assert dele.header_revision == 3
    assert put_b == PutResponse(3, None) and put_c == PutResponse(3, None)
    # Reads inside a txn see its earlier writes, at the pending revision.
    assert isinstance(rng, RangeResponse)
    assert rng.header_revision == 3
    assert [(kv.key, kv.mod_revision) for kv in rng.kvs] == [(b"a", 2), (b"b", 3), (b"c", 3)]
    assert [rev for rev, _, _ in s.backend.rows(3)] == [(3, 0), (3, 1), (3, 2)]
    assert s.range(b"fail").kvs == ()
    r = s.txn([_cmp(b"a", CompareTarget.VERSION, GT, 0)], [], [PutRequest(b"fail", b"1")])
    assert not r.succeeded and r.header_revision == 4
    assert s.range(b"fail").kvs[0].mod_revision == 4


def test_txn_header_revisions_of_sub_responses(s: MVCCStore) -> None:
    s.put(b"a", b"1")  # 2
    # Seen on etcd 3.4: a delete of nothing before any write answers the old revision, after
    # a write the new one; a nested txn's header is left empty.
    r = s.txn([], [DeleteRangeRequest(b"zz"), TxnRequest((), (PutRequest(b"n", b"1"),)),
                   DeleteRangeRequest(b"zz")])
    d1, nested, d2 = r.responses
    assert (d1.header_revision, nested.header_revision, d2.header_revision) == (2, 0, 3)


def test_nested_txn_decided_before_writes(s: MVCCStore) -> None:
    # The nested compare sees the state before the outer txn's put (etcd's txnPath).
    r = s.txn([], [PutRequest(b"a", b"1"),
                   TxnRequest((_cmp(b"a", CompareTarget.VERSION, EQ, 0),),
                              (PutRequest(b"seen-missing", b"1"),),
                              (PutRequest(b"seen-present", b"1"),))])
    assert r.succeeded
    assert s.range(b"seen-missing").count == 1 and s.range(b"seen-present").count == 0


def test_txn_duplicate_keys(s: MVCCStore) -> None:
    bad = [
        [PutRequest(b"a", b"1"), PutRequest(b"a", b"2")],
        [PutRequest(b"a", b"1"), DeleteRangeRequest(b"a")],
        [DeleteRangeRequest(b"a", b"c"), PutRequest(b"b", b"1")],
        [PutRequest(b"a", b"1"), TxnRequest((), (PutRequest(b"a", b"2"),))],
        [TxnRequest((), (DeleteRangeRequest(b"a"),)), PutRequest(b"a", b"1")],
    ]
    for ops in bad:
        with pytest.raises(ErrDuplicateKey) as e:
            s.txn([], ops)
        assert str(e.value) == "etcdserver: duplicate key given in txn request"
        with pytest.raises(ErrDuplicateKey):
            s.txn([], [], ops)  # the failure branch is checked too
    # Fine: two deletes of one key, a put in each branch, the same key in nested branches.
    s.txn([], [DeleteRangeRequest(b"a"), DeleteRangeRequest(b"a")])
    s.txn([], [PutRequest(b"a", b"1")], [PutRequest(b"a", b"2")])
    s.txn([], [TxnRequest((), (PutRequest(b"a", b"1"),), (PutRequest(b"a", b"2"),))])
    assert s.revision == 3


def test_txn_too_many_ops(s: MVCCStore) -> None:
    with pytest.raises(ErrTooManyOps):
        s.txn([], [RangeRequest(b"a")] * 129)
    s.txn([], [RangeRequest(b"a")] * 128)


def test_put_options_and_validation(s: MVCCStore) -> None:
    with pytest.raises(ErrEmptyKey) as e:
        s.put(b"", b"1")
    assert str(e.value) == "etcdserver: key is not provided"
    with pytest.raises(ErrEmptyKey):
        s.range(b"")
    with pytest.raises(ErrKeyNotFound):
        s.put(b"a", ignore_value=True)
    with pytest.raises(ErrKeyNotFound):
        s.txn([], [PutRequest(b"a", ignore_value=True)])
    assert s.revision == 1
    s.lease_grant(60, 7)
    s.lease_grant(60, 9)
    s.put(b"a", b"keep", lease=7)
    with pytest.raises(ErrValueProvided):
        s.put(b"a", b"x", ignore_value=True)
    with pytest.raises(ErrLeaseProvided):
        s.put(b"a", lease=3, ignore_lease=True)
    s.put(b"a", ignore_value=True)
    assert s.range(b"a").kvs == (KeyValue(b"a", 2, 3, 2, b"keep", 0),)
    s.put(b"a", b"new", ignore_lease=True)
    s.put(b"a", b"l", lease=9)
    s.put(b"a", b"m", ignore_lease=True)
    assert s.range(b"a").kvs[0].lease == 9


def test_failed_txn_changes_nothing(s: MVCCStore) -> None:
    s.put(b"a", b"1")
    with pytest.raises(ErrFutureRev):
        s.txn([], [PutRequest(b"b", b"1"), RangeRequest(b"a", revision=99)])
    assert s.revision == 2 and s.range(b"b").kvs == ()


def test_restart_restores_data(tmp_path: pytest.TempPathFactory) -> None:
    path = str(tmp_path) + "/kv.db"  # type: ignore[operator]
    s = MVCCStore(path)
    s.put(b"a", b"1")  # 2
    s.put(b"a", b"2")  # 3
    s.put(b"b", b"1")  # 4
    s.delete_range(b"b")  # 5
    s.compact(3)
    s.close()
    t = MVCCStore(path)
    assert (t.revision, t.compact_revision) == (5, 3)
    assert t.range(b"a", revision=3).kvs == (KeyValue(b"a", 2, 3, 2, b"2"),)
    assert t.range(b"b", revision=4).kvs == (KeyValue(b"b", 4, 4, 1, b"1"),)
    assert t.range(b"b").kvs == ()
    with pytest.raises(ErrCompacted):
        t.range(b"a", revision=2)
    assert t.put(b"b", b"again").header_revision == 6
    assert t.range(b"b").kvs[0].version == 1


def test_restart_after_compacting_a_trailing_delete(tmp_path: pytest.TempPathFactory) -> None:
    # The newest revision is a tombstone that compaction removes; the revision must survive.
    path = str(tmp_path) + "/kv.db"  # type: ignore[operator]
    s = MVCCStore(path)
    s.put(b"a", b"1")
    s.delete_range(b"a")  # 3
    s.compact(3)
    s.close()
    t = MVCCStore(path)
    assert t.revision == 3 and t.range(b"a").kvs == ()


def test_read_at_old_revision_of_long_history(s: MVCCStore) -> None:
    for i in range(300):
        if i % 50 == 49:
            s.delete_range(b"k")
        else:
            s.put(b"k", str(i).encode())
    # Revision r is the write of i = r - 2.
    for r in range(2, s.revision + 1):
        i = r - 2
        kvs = s.range(b"k", revision=r).kvs
        if i % 50 == 49:
            assert kvs == ()
        else:
            born = i - i % 50 + 2
            assert kvs == (KeyValue(b"k", born, r, i % 50 + 1, str(i).encode()),)
