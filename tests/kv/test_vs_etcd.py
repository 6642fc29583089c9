"""Differential tests: the same operations against a real etcd 3.4 and against MVCCStore,
compared field by field (responses, revisions, errors, watch events, the NOSPACE alarm)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from raftlib.gateway import EtcdGateway
from raftlib.kv import (
    AlarmType,
    CompactionRequest,
    Compare,
    CompareResult,
    CompareTarget,
    DefragmentRequest,
    DeleteRangeRequest,
    ErrNoSpace,
    Event,
    KVError,
    LeaseGrantRequest,
    LeaseRevokeRequest,
    MVCCStore,
    PutRequest,
    RangeRequest,
    Request,
    RequestOp,
    Response,
    SortOrder,
    SortTarget,
    TxnRequest,
    WatchResponse,
    prefix_end,
)

pytestmark = pytest.mark.etcd

Target = MVCCStore | EtcdGateway


def run(target: Target, req: Request) -> Response | str:
    """The response, or the error's class and etcd message."""
    try:
        return target.apply(req)
    except KVError as e:
        return f"{type(e).__name__}: {e.message}"


def same(store: MVCCStore, etcd: EtcdGateway, req: Request) -> Response | str:
    want = run(etcd, req)
    got = run(store, req)
    assert got == want, req
    return want


KEYS = [b"a", b"ab", b"abc", b"a\xff", b"b", b"ba", b"c", b"\xff", b"\xff\xff"]


def _key_range(rnd: random.Random) -> tuple[bytes, bytes]:
    k = rnd.choice(KEYS)
    return k, rnd.choice([b"", b"", prefix_end(k), b"\0", rnd.choice(KEYS)])


def _random_op(rnd: random.Random, rev: int, in_txn: bool = False) -> RequestOp:
    kind = rnd.choice(["put", "put", "put", "del", "range", "txn"] if not in_txn
                      else ["put", "del", "range"])
    if kind == "put":
        return PutRequest(rnd.choice(KEYS), rnd.choice([b"", b"x", b"y", b"zz"]),
                          prev_kv=rnd.random() < 0.5)
    if kind == "del":
        k, e = _key_range(rnd)
        return DeleteRangeRequest(k, e, prev_kv=rnd.random() < 0.5)
    if kind == "range":
        k, e = _key_range(rnd)
        target = rnd.choice(list(SortTarget))
        limit = rnd.choice([0, 1, 2])
        if target is not SortTarget.KEY:
            limit = 0  # ties on other targets are ordered differently (see the report)
        revision = rnd.choice([0, 0, rnd.randint(0, rev), rev + 1])
        return RangeRequest(k, e, limit=limit, revision=revision,
                            sort_order=rnd.choice(list(SortOrder)), sort_target=target,
                            keys_only=rnd.random() < 0.2, count_only=rnd.random() < 0.1)
    compares = []
    for _ in range(rnd.randint(0, 2)):
        target_c = rnd.choice(list(CompareTarget))
        value: bytes | int = (rnd.choice([b"", b"x", b"y"]) if target_c is CompareTarget.VALUE
                              else rnd.randint(0, rev))
        compares.append(Compare(rnd.choice(KEYS), target_c, rnd.choice(list(CompareResult)),
                                value, rnd.choice([b"", b"", b"\0"])))
    branches = ([_random_op(rnd, rev, True) for _ in range(rnd.randint(0, 3))],
                [_random_op(rnd, rev, True) for _ in range(rnd.randint(0, 3))])
    return TxnRequest(tuple(compares), tuple(branches[0]), tuple(branches[1]))


def test_random_operations_match_etcd(etcd: EtcdGateway) -> None:
    rnd = random.Random(20240501)
    store = MVCCStore()
    outcomes: dict[str, int] = {}
    for _ in range(800):
        req: Request
        if rnd.random() < 0.05:
            req = CompactionRequest(rnd.randint(0, store.revision + 1))
        else:
            req = _random_op(rnd, store.revision)
        r = same(store, etcd, req)
        name = r if isinstance(r, str) else type(r).__name__
        outcomes[name.split(":")[0]] = outcomes.get(name.split(":")[0], 0) + 1
    # The sequence exercised errors as well as successes.
    assert {"ErrDuplicateKey", "ErrCompacted", "ErrFutureRev", "TxnResponse"} <= set(outcomes)
    assert store.revision > 100
    # Watches replaying that history from the compacted revision on.
    hub = store.watch_hub
    seen = 0
    for key, end, prev in [(b"a", prefix_end(b"a"), True), (b"\0", b"\0", True),
                           (b"ab", b"", False), (b"b", b"\xff", True)]:
        w = hub.watch(key, end, start_revision=max(store.compact_revision, 1), prev_kv=prev)
        hub.sync()
        got = _flatten(w.take())  # type: ignore[arg-type]
        # With nothing to wait for, etcd is given half a second to (wrongly) send something.
        until = got[-1].kv.mod_revision if got else store.revision + 1
        want = _flatten(etcd.watch(key, end, start_revision=max(store.compact_revision, 1),
                                   prev_kv=prev, until_revision=until,
                                   timeout=3 if got else 0.5))  # type: ignore[arg-type]
        assert got == want, key
        seen += len(got)
    assert seen > 20


def test_revisions_versions_and_errors(etcd: EtcdGateway) -> None:
    store = MVCCStore()
    steps: list[Request] = [
        RangeRequest(b"a"), CompactionRequest(0), CompactionRequest(0), CompactionRequest(1),
        RangeRequest(b"a", revision=1), RangeRequest(b"a", revision=2),
        PutRequest(b"a", b"1"), PutRequest(b"a", b"2", prev_kv=True),
        DeleteRangeRequest(b"nothing"), DeleteRangeRequest(b"a", prev_kv=True),
        PutRequest(b"a", b"3", prev_kv=True), RangeRequest(b"a", revision=3),
        RangeRequest(b"a", revision=4), RangeRequest(b"a", revision=7),
        PutRequest(b"", b"x"), RangeRequest(b""), DeleteRangeRequest(b""),
        PutRequest(b"q", ignore_value=True), PutRequest(b"a", b"v", ignore_value=True),
        PutRequest(b"a", ignore_value=True, prev_kv=True), PutRequest(b"a", lease=5,
                                                                     ignore_lease=True),
        CompactionRequest(4), CompactionRequest(4), CompactionRequest(3),
        CompactionRequest(99), RangeRequest(b"a", revision=3), RangeRequest(b"a", revision=4),
        CompactionRequest(store.revision + 10),
        TxnRequest((), (PutRequest(b"d", b"1"), PutRequest(b"d", b"2"))),
        TxnRequest((), (DeleteRangeRequest(b"c", b"e"), PutRequest(b"d", b"2"))),
        TxnRequest((), (RangeRequest(b"a"),) * 129),
        TxnRequest((), (RangeRequest(b"a", revision=2),)),
        TxnRequest((), (PutRequest(b"d", b"1"), RangeRequest(b"a", revision=50))),
        TxnRequest((), (PutRequest(b"nokey", ignore_value=True),)),
        TxnRequest((), (PutRequest(b"a", ignore_value=True, prev_kv=True),
                        RangeRequest(b"a"))),
        PutRequest(b"a", b"5", lease=0, ignore_lease=True, prev_kv=True),
    ]
    for req in steps:
        same(store, etcd, req)
    assert store.revision == 8


def test_range_limit_sort_count(etcd: EtcdGateway) -> None:
    store = MVCCStore()
    # Distinct values, versions and revisions, so that no sort has ties.
    puts = [(b"k1", b"d"), (b"k2", b"b"), (b"k3", b"e"), (b"k2", b"c"), (b"k4", b"a"),
            (b"k3", b"f"), (b"k3", b"g"), (b"k5", b"h")]
    for k, v in puts:
        same(store, etcd, PutRequest(k, v))
    same(store, etcd, DeleteRangeRequest(b"k5"))
    for order in SortOrder:
        for target in (SortTarget.KEY, SortTarget.MOD, SortTarget.VALUE, SortTarget.CREATE):
            for limit in (0, 1, 3, 4, 5):
                for rev in (0, 6):
                    same(store, etcd, RangeRequest(b"k", b"l", limit=limit, revision=rev,
                                                   sort_order=order, sort_target=target))
    for limit in (0, 2):
        same(store, etcd, RangeRequest(b"k1", b"\0", limit=limit, keys_only=True))
        same(store, etcd, RangeRequest(b"k1", b"\0", limit=limit, count_only=True))
        same(store, etcd, RangeRequest(b"\0", b"\0", limit=limit))
        same(store, etcd, RangeRequest(b"k2", b"k4", limit=limit, revision=3))


def test_txn_compares_and_branches(etcd: EtcdGateway) -> None:
    store = MVCCStore()
    for k, v in [(b"a", b"1"), (b"a", b"2"), (b"b", b"1")]:
        same(store, etcd, PutRequest(k, v))
    ops_ok = (PutRequest(b"c", b"1", prev_kv=True), RangeRequest(b"a", b"\0"),
              DeleteRangeRequest(b"b", prev_kv=True), DeleteRangeRequest(b"zz"))
    ops_ko = (RangeRequest(b"a"), PutRequest(b"f", b"1"))
    for target, values in [(CompareTarget.VALUE, [b"1", b"2", b"3", b""]),
                           (CompareTarget.VERSION, [0, 1, 2, 3]),
                           (CompareTarget.CREATE, [0, 2, 3]),
                           (CompareTarget.MOD, [2, 3, 4]),
                           (CompareTarget.LEASE, [0, 1])]:
        for result in CompareResult:
            for v in values:
                for key, end in [(b"a", b""), (b"missing", b""), (b"a", b"c"), (b"a", b"\0")]:
                    same(store, etcd, TxnRequest((Compare(key, target, result, v, end),),
                                                 (RangeRequest(b"a", b"\0"),),
                                                 (RangeRequest(b"b"),)))
    same(store, etcd, TxnRequest((Compare(b"a", CompareTarget.VALUE, CompareResult.EQUAL,
                                          b"2"),), ops_ok, ops_ko))
    same(store, etcd, TxnRequest((Compare(b"a", CompareTarget.VALUE, CompareResult.EQUAL,
                                          b"2"),), ops_ok, ops_ko))
    nested = TxnRequest((), (PutRequest(b"n", b"1"), TxnRequest(
        (Compare(b"n", CompareTarget.VERSION, CompareResult.EQUAL, 0),),
        (PutRequest(b"m", b"1"), DeleteRangeRequest(b"zz")), (RangeRequest(b"n"),)),
        DeleteRangeRequest(b"q")))
    same(store, etcd, nested)
    same(store, etcd, nested)
    same(store, etcd, RangeRequest(b"\0", b"\0"))


def _flatten(responses: list[object]) -> list[Event]:
    return [e for r in responses for e in r.events]  # type: ignore[attr-defined]


def test_watch_history_matches_etcd(etcd: EtcdGateway) -> None:
    store = MVCCStore()
    reqs: list[Request] = [
        PutRequest(b"a", b"1"), PutRequest(b"ab", b"1"), PutRequest(b"b", b"1"),
        TxnRequest((), (PutRequest(b"a", b"2"), PutRequest(b"abc", b"1"),
                        DeleteRangeRequest(b"b"))),
        DeleteRangeRequest(b"a", b"b"), PutRequest(b"a", b"3"), PutRequest(b"c", b"1"),
    ]
    for req in reqs:
        same(store, etcd, req)
    last = store.revision
    hub = store.watch_hub
    cases = [(b"a", b"", 1, False, frozenset()), (b"a", prefix_end(b"a"), 2, True, frozenset()),
             (b"a", b"\0", 4, True, frozenset({"NOPUT"})),
             (b"ab", b"c", 1, False, frozenset({"NODELETE"})), (b"b", b"", 3, True, frozenset())]
    for key, end, start, prev, filters in cases:
        w = hub.watch(key, end, start_revision=start, prev_kv=prev, filters=filters)
        hub.sync()
        got = w.take()
        assert _flatten(got)  # every case sees some events  # type: ignore[arg-type]
        # Wait for etcd up to the store's last event; a later etcd event in the same batch
        # would still show up as a difference.
        until = _flatten(got)[-1].kv.mod_revision  # type: ignore[arg-type]
        assert until <= last
        want = etcd.watch(key, end, start_revision=start, prev_kv=prev, filters=filters,
                          until_revision=until, timeout=3)
        assert _flatten(got) == _flatten(want), (key, end, start)  # type: ignore[arg-type]
        # Grouped the same way: a replay is one response, headed by the current revision.
        assert _shape(got) == _shape(want) == [(last, _revs(got[0]))], (key, end, start)


def _revs(r: WatchResponse) -> list[int]:
    return [e.kv.mod_revision for e in r.events]


def _shape(responses: list[WatchResponse]) -> list[tuple[int, list[int]]]:
    """Each response's header revision and the revisions of its events."""
    return [(r.header_revision, _revs(r)) for r in responses]


@pytest.mark.parametrize("writes", [3, 1004])
def test_watch_replay_is_grouped_as_in_etcd(etcd: EtcdGateway, writes: int) -> None:
    """etcd replays history in responses of up to 1000 whole revisions (watchBatchMaxRevs),
    headed by its current revision; a transaction's events stay in one response."""
    store = MVCCStore()
    same(store, etcd, TxnRequest((), (PutRequest(b"k1", b"t"), PutRequest(b"k2", b"t"))))
    for i in range(writes):
        same(store, etcd, PutRequest(b"k%d" % (i % 3), b"%d" % i))
    hub = store.watch_hub
    w = hub.watch(b"k", prefix_end(b"k"), start_revision=2)
    got: list[WatchResponse] = []
    while True:
        left = hub.sync()
        got += w.take()
        if not left:
            break
    want = etcd.watch(b"k", prefix_end(b"k"), start_revision=2,
                      until_revision=store.revision, timeout=5)
    assert _shape(got) == _shape(want)
    assert _flatten(got) == _flatten(want)  # type: ignore[arg-type]
    assert [len(set(_revs(r))) for r in got] == ([writes + 1] if writes < 1000
                                                 else [1000, writes + 1 - 1000])
    assert _revs(got[0])[:2] == [2, 2]  # the transaction's two events together


def test_watch_from_compacted_revision_is_cancelled(etcd: EtcdGateway) -> None:
    store = MVCCStore()
    for i in range(5):
        same(store, etcd, PutRequest(b"k", str(i).encode()))  # revisions 2..6
    same(store, etcd, CompactionRequest(4))
    hub = store.watch_hub
    for start in (3, 4, 5):
        want = etcd.watch(b"k", start_revision=start, until_revision=6, timeout=1.5)
        w = hub.watch(b"k", start_revision=start)
        hub.sync()
        got = w.take()
        # The whole cancellation, header included: etcd 3.4 sends it with no revision.
        assert [replace(r, watch_id=0) for r in got if r.canceled] == [
            r for r in want if r.canceled], start
        assert _flatten(got) == _flatten(want)  # type: ignore[arg-type]


QUOTA_STEPS: list[tuple[str, Callable[[int], Request]]] = [
    ("put after the alarm", lambda i: PutRequest(b"small", b"x")),
    ("lease grant", lambda i: LeaseGrantRequest(60, 500 + i)),  # etcd's quota covers grants
    ("range", lambda i: RangeRequest(b"big", b"\0", count_only=True)),
    ("read-only txn", lambda i: TxnRequest((), (RangeRequest(b"big0"),))),
    ("txn with a put", lambda i: TxnRequest((), (PutRequest(b"small", b"x"),))),
    ("txn with a put in the other branch", lambda i: TxnRequest(
        (), (RangeRequest(b"a"),), (PutRequest(b"small", b"x"),))),
    ("txn with a delete", lambda i: TxnRequest((), (DeleteRangeRequest(b"big0"),))),
    ("delete", lambda i: DeleteRangeRequest(b"big", b"\0")),
    ("put after deleting", lambda i: PutRequest(b"small", b"x")),
    ("compact", lambda i: CompactionRequest(i)),
    ("put after compacting", lambda i: PutRequest(b"small", b"x")),
    ("defragment", lambda i: DefragmentRequest()),
    ("put after defragmenting", lambda i: PutRequest(b"small", b"x")),
]


def _nospace_scenario(target: Target, value_size: int) -> list[str]:
    """Fill the backend until NOSPACE, then try every kind of operation, then recover."""
    outcomes: list[str] = []
    for i in range(200):
        r = run(target, PutRequest(b"big%d" % i, b"v" * value_size))
        if isinstance(r, str):
            outcomes.append(f"filled: {r}")
            break
    else:
        pytest.fail("the quota was never reached")
    outcomes.append(f"alarms: {[a.alarm.value for a in _alarms(target)]}")
    for name, make in QUOTA_STEPS:
        rev = target.apply(RangeRequest(b"x")).header_revision
        r = run(target, make(rev))
        outcomes.append(f"{name}: {r if isinstance(r, str) else 'ok'}")
    disarmed = _disarm(target)
    outcomes.append(f"disarmed: {[a.value for a in disarmed]}")
    r = run(target, PutRequest(b"small", b"x"))
    outcomes.append(f"put after disarming: {r if isinstance(r, str) else 'ok'}")
    r = run(target, LeaseGrantRequest(60, 499))
    outcomes.append(f"lease grant after disarming: {r if isinstance(r, str) else 'ok'}")
    outcomes.append(f"alarms: {[a.alarm.value for a in _alarms(target)]}")
    return outcomes


def _alarms(target: Target) -> list:  # type: ignore[type-arg]
    from raftlib.kv import AlarmAction, AlarmRequest, AlarmResponse

    r = target.apply(AlarmRequest(AlarmAction.GET))
    assert isinstance(r, AlarmResponse)
    return list(r.alarms)


def _disarm(target: Target) -> list[AlarmType]:
    from raftlib.kv import AlarmAction, AlarmRequest

    out = []
    for a in _alarms(target):
        target.apply(AlarmRequest(AlarmAction.DEACTIVATE, a.member_id, a.alarm))
        out.append(a.alarm)
    return out


def test_nospace_alarm_matches_etcd(etcd_factory: Callable[..., Any]) -> None:
    quota = 1024 * 1024
    etcd = etcd_factory(quota_backend_bytes=quota).client
    want = _nospace_scenario(etcd, 64 * 1024)
    got = _nospace_scenario(MVCCStore(quota_backend_bytes=quota), 64 * 1024)
    assert got == want
    assert want[0] == f"filled: ErrNoSpace: {ErrNoSpace.message}"


def test_leases_match_etcd(etcd: EtcdGateway) -> None:
    """Grants (the minimum TTL, an existing id, a TTL too large, id 0), puts naming leases,
    revokes deleting keys in one revision, and the answers about unknown leases."""
    store = MVCCStore()
    for req in [LeaseGrantRequest(1, 11), LeaseGrantRequest(60, 12), LeaseGrantRequest(60, 12),
                LeaseGrantRequest(9_000_000_001, 13), LeaseGrantRequest(-5, -14),
                PutRequest(b"a", b"1", lease=11), PutRequest(b"b", b"1", lease=11),
                PutRequest(b"c", b"1", lease=99), PutRequest(b"b", b"2", lease=12),
                TxnRequest((), (PutRequest(b"d", lease=99),)),
                TxnRequest((), (PutRequest(b"d", lease=12), PutRequest(b"e", lease=11))),
                PutRequest(b"e", b"3", ignore_lease=True), LeaseRevokeRequest(11),
                RangeRequest(b"a", b"\0"), LeaseRevokeRequest(11), LeaseRevokeRequest(-14),
                LeaseRevokeRequest(0), PutRequest(b"f", lease=-14)]:
        same(store, etcd, req)
    for lid in (12, 11, 99):
        want, got = etcd.lease_time_to_live(lid, keys=True), store.lease_time_to_live(lid, True)
        # etcd lists the keys in its map's order; a store without a clock has lost no time.
        want = replace(want, keys=tuple(sorted(want.keys)))
        assert replace(got, ttl=want.ttl) == want and got.ttl - want.ttl in (0, 1)
        assert store.lease_keep_alive(lid) == etcd.lease_keep_alive(lid)
    assert set(store.leases().leases) == set(etcd.leases().leases) == {12}
    assert store.leases().header_revision == etcd.leases().header_revision
