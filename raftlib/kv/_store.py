"""The MVCC store: a deterministic state machine, ``apply(request) -> response``, with etcd 3.4's
revision rules (``mvcc/kvstore*.go``, ``etcdserver/apply.go``, ``etcdserver/quota.go``).

There is no thread and no clock of its own: compaction happens inside the request that asks for
it, watchers are served by :class:`raftlib.kv.WatchHub` when the caller asks, and leases expire
by the ``clock`` the caller gives (see :mod:`raftlib.kv._lease`). The same sequence of
requests on the same store gives the same responses, sizes included.

A store may still be handed from thread to thread (a notebook's cell makes it on the kernel's
main thread, a widget's click uses it from a subshell thread): each request holds
:attr:`MVCCStore.lock`, so requests from several threads take turns, each one whole.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from raftlib.kv._admission import admit_write, quota_cost
from raftlib.kv._backend import SqliteBackend
from raftlib.kv._errors import (
    ErrCompacted,
    ErrDuplicateKey,
    ErrEmptyKey,
    ErrFutureRev,
    ErrKeyNotFound,
    ErrLeaseExists,
    ErrLeaseNotFound,
    ErrLeaseProvided,
    ErrLeaseTTLTooLarge,
    ErrNoSpace,
    ErrTooManyOps,
    ErrValueProvided,
    KVError,
)
from raftlib.kv._index import Revision, TreeIndex
from raftlib.kv._lease import MAX_LEASE_TTL, LeaseIdGenerator, Lessor, min_lease_ttl
from raftlib.kv._script import decode_request, encode
from raftlib.kv._types import (
    AlarmAction,
    AlarmMember,
    AlarmRequest,
    AlarmResponse,
    AlarmType,
    CompactionRequest,
    CompactionResponse,
    Compare,
    CompareResult,
    CompareTarget,
    DefragmentRequest,
    DefragmentResponse,
    DeleteRangeRequest,
    DeleteRangeResponse,
    Event,
    KeyValue,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseKeepAliveResponse,
    LeaseLeasesResponse,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    LeaseTimeToLiveResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    Request,
    RequestOp,
    Response,
    ResponseOp,
    SortOrder,
    SortTarget,
    StatusResponse,
    TxnRequest,
    TxnResponse,
)

if TYPE_CHECKING:
    from raftlib.kv._watch import WatchHub

_T = TypeVar("_T")

__all__ = [
    "DEFAULT_MIN_LEASE_TTL", "DEFAULT_QUOTA_BYTES", "MAX_TXN_OPS", "SCRIPT_REQUESTS", "MVCCStore",
]

#: etcd's default ``--quota-backend-bytes``: 2 GiB.
DEFAULT_QUOTA_BYTES = 2 * 1024**3
#: Most operations in one txn branch (etcd's ``--max-txn-ops`` default).
MAX_TXN_OPS = 128
#: The minimum lease TTL of an etcd with its default timing (heartbeat 100 ms, election 1 s).
DEFAULT_MIN_LEASE_TTL = min_lease_ttl(10, 100)
#: Most write requests a store keeps for its ``script`` (replay in live mode).
SCRIPT_REQUESTS = 10_000

_INT_TARGETS = {
    CompareTarget.VERSION: "version",
    CompareTarget.CREATE: "create_revision",
    CompareTarget.MOD: "mod_revision",
    CompareTarget.LEASE: "lease",
}
_SORT_KEYS: dict[SortTarget, Callable[[KeyValue], bytes | int]] = {
    SortTarget.KEY: lambda kv: kv.key,
    SortTarget.VERSION: lambda kv: kv.version,
    SortTarget.CREATE: lambda kv: kv.create_revision,
    SortTarget.MOD: lambda kv: kv.mod_revision,
    SortTarget.VALUE: lambda kv: kv.value,
}


def _in_interval(point: bytes, key: bytes, end: bytes) -> bool:
    """Whether ``point`` lies in ``key`` alone (``end`` empty) or in ``[key, end)`` taken
    literally, as etcd's affine string intervals do: a from-key delete (``end == b"\0"``) is
    an empty interval there, so it never conflicts with a put."""
    if not end:
        return point == key
    return key <= point < end


def _check_ops(ops: Sequence[RequestOp]) -> tuple[set[bytes], list[tuple[bytes, bytes]]]:
    """etcd 3.4's ``checkIntervals``, rule for rule: reject a branch that puts a key twice or
    puts a key that it deletes (nested txns included); return its puts and delete intervals."""
    dels = [(op.key, op.range_end) for op in ops if isinstance(op, DeleteRangeRequest)]

    def deleted(k: bytes) -> bool:
        return any(_in_interval(k, a, b) for a, b in dels)

    puts: set[bytes] = set()
    for op in ops:
        if not isinstance(op, TxnRequest):
            continue
        puts_then, dels_then = _check_ops(op.success)
        puts_else, dels_else = _check_ops(op.failure)
        for k in sorted(puts_then):
            if k in puts or deleted(k):
                raise ErrDuplicateKey()
            puts.add(k)
        for k in sorted(puts_else):
            # The same key in both branches of one txn is fine: only one branch runs.
            if (k in puts and k not in puts_then) or deleted(k):
                raise ErrDuplicateKey()
            puts.add(k)
        dels += dels_then + dels_else
    for op in ops:
        if isinstance(op, PutRequest):
            if op.key in puts or deleted(op.key):
                raise ErrDuplicateKey()
            puts.add(op.key)
    return puts, dels


def _validate(req: RequestOp) -> None:
    """The checks etcd's gRPC layer makes before a request reaches Raft."""
    if isinstance(req, PutRequest):
        if not req.key:
            raise ErrEmptyKey()
        if req.ignore_value and req.value:
            raise ErrValueProvided()
        if req.ignore_lease and req.lease:
            raise ErrLeaseProvided()
    elif isinstance(req, RangeRequest | DeleteRangeRequest):
        if not req.key:
            raise ErrEmptyKey()
    else:
        if max(len(req.compare), len(req.success), len(req.failure)) > MAX_TXN_OPS:
            raise ErrTooManyOps()
        for op in (*req.success, *req.failure):
            _validate(op)
        _check_ops(req.success)
        _check_ops(req.failure)


@dataclass(slots=True)
class _Path:
    """The branches a txn takes, decided before it writes anything (etcd's ``txnPath``)."""

    succeeded: bool
    nested: list[_Path] = field(default_factory=list)


class MVCCStore:
    """An etcd 3.4-like multi-version key-value store over a :class:`SqliteBackend`.

    ``path`` is the SQLite file (``":memory:"`` by default); reopening a file restores the data
    and rebuilds the key index. ``quota_backend_bytes`` is etcd's ``--quota-backend-bytes``;
    ``member_id`` names this member in alarms.

    Leases: ``clock`` (seconds) times them; without one, time stands still and no lease
    expires. A standalone store is its own leader (``lease_primary``): :meth:`expire_leases`
    revokes what has expired. In a cluster only the leader's lessor is primary (see
    :class:`raftlib.kv.ReplicatedKV`). Grants below ``min_lease_ttl`` get that TTL.

    Any thread may use the store; requests from several threads are applied one at a time
    (each holds :attr:`lock`, the backend's re-entrant lock).
    """

    def __init__(self, path: str = ":memory:", *, quota_backend_bytes: int = DEFAULT_QUOTA_BYTES,
                 member_id: int = 1, clock: Callable[[], float] | None = None,
                 min_lease_ttl: int = DEFAULT_MIN_LEASE_TTL, lease_primary: bool = True) -> None:
        self.quota_backend_bytes = quota_backend_bytes
        self.member_id = member_id
        self.min_lease_ttl = min_lease_ttl
        #: Expiry of this member's leases (not replicated: only a primary expires them).
        self.lessor = Lessor(clock or (lambda: 0.0), lease_primary)
        #: Ids for grants that name none.
        self.lease_ids = LeaseIdGenerator(member_id, 0)
        self._backend = SqliteBackend(path)
        self._index = TreeIndex()
        self._leases: dict[int, int] = {}  # id -> granted TTL
        self._lease_keys: dict[int, set[bytes]] = {}
        with self.lock:
            self._load()
        self._hub: WatchHub | None = None
        #: Responses a watcher may hold untaken before its hub moves it aside (0: no bound;
        #: a server with slow clients sets it, as etcd bounds each watch stream's buffer).
        self.watch_max_pending = 0
        # State of the write being applied: its main revision, sub counter and events.
        self._sub = 0
        self._events: list[Event] = []
        # Every write request applied, for ``script``: only for a store that starts empty (in
        # memory), and only up to a bound, so that a long run costs no memory for it.
        self._requests: list[Request] | None = [] if path == ":memory:" else None

    def _load(self) -> None:
        """Read the revisions from the backend and rebuild the key index from its rows."""
        self._index = TreeIndex()
        self._rev = self._backend.get_meta("current_rev", 1)
        self._compact_rev = self._backend.get_meta("compact_rev", -1)
        for rev, kv, tomb in self._backend.rows():
            if tomb:
                self._index.tombstone(kv.key, rev)
            else:
                self._index.put(kv.key, rev)
        # Leases and their keys, from the lease table and the live keys (etcd's Recover):
        # expiry starts afresh, at the full TTL.
        self._leases = self._backend.leases()
        self._lease_keys = {lid: set() for lid in self._leases}
        for rev, key, lid in self._backend.leased() if self._leases else ():
            ki = self._index.key_index(key)
            if lid in self._lease_keys and ki is not None and ki.get(self._rev) == rev:
                self._lease_keys[lid].add(key)
        if self.lessor.primary:
            self.lessor.promote(self._leases, 0.0)
        else:
            self.lessor.demote()

    def to_bytes(self) -> bytes:
        """The store's whole state (its backend database) as bytes, for a Raft snapshot."""
        with self.lock:
            return self._backend.dump()

    def load_bytes(self, data: bytes) -> None:
        """Replace the store's state by ``data`` from :meth:`to_bytes` (installing a snapshot,
        as etcd swaps in the snapshot's bbolt file). Watchers are not carried over."""
        with self.lock:
            self._backend.load(data)
            self._load()
            self._hub = None
            self._requests = None  # a state from elsewhere: this run cannot be replayed

    # ----------------------------------------------------------------- public surface

    @property
    def lock(self) -> threading.RLock:
        """The re-entrant lock every request holds (the backend's). Hold it to make several
        reads one consistent view while other threads may write."""
        return self._backend.lock

    @property
    def revision(self) -> int:
        """The current revision (1 on an empty store)."""
        return self._rev

    @property
    def compact_revision(self) -> int:
        """The revision of the last compaction, -1 if none."""
        return self._compact_rev

    @property
    def backend(self) -> SqliteBackend:
        """The SQLite backend (sizes, raw revisions)."""
        return self._backend

    @property
    def watch_hub(self) -> WatchHub:
        """The store's watch hub, created on first use."""
        with self.lock:
            if self._hub is None:
                from raftlib.kv._watch import WatchHub

                self._hub = WatchHub(self, self.watch_max_pending)
            return self._hub

    def use_watch_hub(self, factory: Callable[[MVCCStore], WatchHub]) -> WatchHub:
        """Make the store's watch hub with ``factory`` (for instance a hub that counts its
        work) and return it. Only before the hub is first used: watchers cannot move."""
        with self.lock:
            if self._hub is not None:
                raise ValueError("the store already has a watch hub")
            self._hub = factory(self)
            return self._hub

    def close(self) -> None:
        """Close the backend."""
        with self.lock:
            self._backend.close()

    def status(self) -> StatusResponse:
        """Revisions and backend sizes (etcd's maintenance status)."""
        with self.lock:
            return StatusResponse(self._rev, self._compact_rev, self._backend.size(),
                                  self._backend.size_in_use(), self.quota_backend_bytes)

    def apply(self, req: Request) -> Response:
        """Apply one request and return its response; raise a :class:`KVError` on failure,
        in which case the store is unchanged (except that a failed quota check raises the
        NOSPACE alarm, as in etcd)."""
        with self.lock:
            requests = self._requests
            if isinstance(req, (LeaseGrantRequest, LeaseRevokeRequest)):
                # A lease runs on the engine's clock, which a replay does not have.
                self._requests = None
            elif requests is not None and not isinstance(req, RangeRequest):
                if len(requests) < SCRIPT_REQUESTS:
                    requests.append(req)
                else:
                    self._requests = None
            return self._apply(req)

    @property
    def script(self) -> dict[str, Any] | None:
        """What :meth:`replay` needs to rebuild this store as it is (plain JSON): the
        constructor's arguments and every write request applied (``raftlib.kv._script``
        encodes them). None for a store opened from a file or loaded from bytes, after more
        than ``SCRIPT_REQUESTS`` writes, or once a lease was granted or revoked."""
        with self.lock:
            if self._requests is None:
                return None
            return {"args": {"quota_backend_bytes": self.quota_backend_bytes,
                             "member_id": self.member_id},
                    "requests": [encode(r) for r in self._requests]}

    @property
    def script_length(self) -> int | None:
        """How many write requests ``script`` holds now (None: no script)."""
        with self.lock:
            return None if self._requests is None else len(self._requests)

    @classmethod
    def replay(cls, script: Mapping[str, Any], until: int | None = None) -> MVCCStore:
        """A new in-memory store with the first ``until`` (default: all) requests of a
        ``script`` applied; a request refused then is refused again."""
        store = cls(**script["args"])
        for raw in script["requests"][:until]:
            with contextlib.suppress(KVError):
                store.apply(decode_request(raw))
        return store

    def _apply(self, req: Request) -> Response:
        if isinstance(req, RangeRequest):
            _validate(req)
            return self._range(req, self._rev)
        if not isinstance(req, DefragmentRequest):
            self._admit(req)
        if isinstance(req, PutRequest | DeleteRangeRequest | TxnRequest):
            _validate(req)
            return self._write(req)
        if isinstance(req, CompactionRequest):
            return self._compact(req.revision)
        if isinstance(req, AlarmRequest):
            return self._alarm(req)
        if isinstance(req, LeaseGrantRequest):
            return self._grant(req)
        if isinstance(req, LeaseRevokeRequest):
            lid = req.id
            return self._in_revision(lambda: self._revoke(lid))
        self._backend.defragment()
        return DefragmentResponse(self._rev)

    # Convenience wrappers, typed by request.

    def put(self, key: bytes, value: bytes = b"", *, lease: int = 0, prev_kv: bool = False,
            ignore_value: bool = False, ignore_lease: bool = False) -> PutResponse:
        """Apply a :class:`PutRequest`."""
        r = self.apply(PutRequest(key, value, lease, prev_kv, ignore_value, ignore_lease))
        assert isinstance(r, PutResponse)
        return r

    def range(self, key: bytes, range_end: bytes = b"", *, limit: int = 0, revision: int = 0,
              sort_order: SortOrder = SortOrder.NONE, sort_target: SortTarget = SortTarget.KEY,
              keys_only: bool = False, count_only: bool = False) -> RangeResponse:
        """Apply a :class:`RangeRequest`."""
        r = self.apply(RangeRequest(key, range_end, limit, revision, sort_order, sort_target,
                                    keys_only, count_only))
        assert isinstance(r, RangeResponse)
        return r

    def delete_range(self, key: bytes, range_end: bytes = b"", *,
                     prev_kv: bool = False) -> DeleteRangeResponse:
        """Apply a :class:`DeleteRangeRequest`."""
        r = self.apply(DeleteRangeRequest(key, range_end, prev_kv))
        assert isinstance(r, DeleteRangeResponse)
        return r

    def txn(self, compare: Sequence[Compare] = (), success: Sequence[RequestOp] = (),
            failure: Sequence[RequestOp] = ()) -> TxnResponse:
        """Apply a :class:`TxnRequest`."""
        r = self.apply(TxnRequest(tuple(compare), tuple(success), tuple(failure)))
        assert isinstance(r, TxnResponse)
        return r

    def compact(self, revision: int) -> CompactionResponse:
        """Apply a :class:`CompactionRequest`."""
        r = self.apply(CompactionRequest(revision))
        assert isinstance(r, CompactionResponse)
        return r

    def defragment(self) -> DefragmentResponse:
        """Apply a :class:`DefragmentRequest`."""
        r = self.apply(DefragmentRequest())
        assert isinstance(r, DefragmentResponse)
        return r

    def alarms(self) -> tuple[AlarmMember, ...]:
        """The raised alarms (``etcdctl alarm list``)."""
        r = self.apply(AlarmRequest(AlarmAction.GET))
        assert isinstance(r, AlarmResponse)
        return r.alarms

    def disarm(self) -> tuple[AlarmMember, ...]:
        """Deactivate every raised alarm (``etcdctl alarm disarm``); return those disarmed."""
        out: list[AlarmMember] = []
        for m in self.alarms():
            r = self.apply(AlarmRequest(AlarmAction.DEACTIVATE, m.member_id, m.alarm))
            assert isinstance(r, AlarmResponse)
            out += r.alarms
        return tuple(out)

    # Leases. Grants and revokes are requests (replicated in a cluster); keep-alive,
    # time-to-live and the list read this member's lessor (a cluster asks its leader's).

    def lease_grant(self, ttl: int, lease_id: int = 0) -> LeaseGrantResponse:
        """Grant a lease of ``ttl`` seconds (``lease_id`` 0: the store picks the id)."""
        r = self.apply(LeaseGrantRequest(ttl, lease_id or self.lease_ids.next()))
        assert isinstance(r, LeaseGrantResponse)
        return r

    def lease_revoke(self, lease_id: int) -> LeaseRevokeResponse:
        """Revoke a lease; its keys are deleted in one revision."""
        r = self.apply(LeaseRevokeRequest(lease_id))
        assert isinstance(r, LeaseRevokeResponse)
        return r

    def lease_keep_alive(self, lease_id: int) -> LeaseKeepAliveResponse:
        """Renew a lease to its full TTL; TTL 0 in the answer if it does not exist (or has
        expired and awaits its revoke, as etcd answers once that revoke is through)."""
        with self.lock:
            ttl = self._leases.get(lease_id)
            if ttl is None or self.lessor.remaining(lease_id) <= 0:
                return LeaseKeepAliveResponse(self._rev, lease_id, 0)
            self.lessor.renew(lease_id, ttl)
            return LeaseKeepAliveResponse(self._rev, lease_id, ttl)

    def lease_time_to_live(self, lease_id: int, keys: bool = False) -> LeaseTimeToLiveResponse:
        """Whole seconds left (truncated, as etcd), the granted TTL, and the keys if asked
        (sorted; etcd's order is its map's). TTL -1 if there is no such lease. A lessor that
        is not primary never expires leases and shows the granted TTL."""
        with self.lock:
            ttl = self._leases.get(lease_id)
            if ttl is None:
                return LeaseTimeToLiveResponse(self._rev, lease_id, -1)
            left = self.lessor.remaining(lease_id)
            return LeaseTimeToLiveResponse(
                self._rev, lease_id, ttl if math.isinf(left) else int(left), ttl,
                tuple(sorted(self._lease_keys[lease_id])) if keys else ())

    def leases(self) -> LeaseLeasesResponse:
        """Every lease, soonest to expire first."""
        with self.lock:
            return LeaseLeasesResponse(self._rev, tuple(self.lessor.by_expiry(self._leases)))

    def lease_ttls(self) -> dict[int, int]:
        """Every lease's granted TTL, by id (what a new leader's lessor promotes)."""
        with self.lock:
            return dict(self._leases)

    def expire_leases(self) -> list[int]:
        """Revoke the leases this store's lessor finds expired (a standalone store is its own
        leader); return their ids."""
        with self.lock:
            out = self.lessor.expired()
            for lid in out:
                self.lease_revoke(lid)
            return out

    def kv_at(self, key: bytes, revision: int) -> KeyValue | None:
        """The version of ``key`` visible at ``revision``, None if absent (no bounds check)."""
        with self.lock:
            ki = self._index.key_index(key)
            rev = None if ki is None else ki.get(revision)
            return None if rev is None else self._backend.get(rev)

    # ----------------------------------------------------------------- reads

    def _range(self, req: RangeRequest, cur_rev: int) -> RangeResponse:
        at = self._check_rev(req.revision, cur_rev)
        revs = self._index.revisions(req.key, req.range_end, at)
        count = len(revs)
        if req.count_only:
            return RangeResponse(cur_rev, (), False, count)
        # As etcd: only an explicit sort order reads the whole range before sorting; otherwise
        # limit+1 keys are read in key order (the extra one sets `more`) and then sorted, so
        # NONE with a target other than KEY sorts only that prefix of the range.
        whole = req.sort_order is not SortOrder.NONE or req.limit <= 0
        kvs = [self._backend.get(rev) for _, rev in (revs if whole else revs[: req.limit + 1])]
        order = req.sort_order
        if req.sort_target is not SortTarget.KEY and order is SortOrder.NONE:
            order = SortOrder.ASCEND
        if order is not SortOrder.NONE:
            kvs.sort(key=_SORT_KEYS[req.sort_target], reverse=order is SortOrder.DESCEND)
        more = False
        if 0 < req.limit < len(kvs):
            kvs = kvs[: req.limit]
            more = True
        if req.keys_only:
            kvs = [KeyValue(kv.key, kv.create_revision, kv.mod_revision, kv.version, b"",
                            kv.lease) for kv in kvs]
        return RangeResponse(cur_rev, tuple(kvs), more, count)

    def _check_rev(self, revision: int, cur_rev: int) -> int:
        if revision > cur_rev:
            raise ErrFutureRev()
        at = cur_rev if revision <= 0 else revision
        if at < self._compact_rev:
            raise ErrCompacted()
        return at

    def _visible(self, key: bytes, range_end: bytes, at: int) -> list[KeyValue]:
        return [self._backend.get(rev) for _, rev in self._index.revisions(key, range_end, at)]

    def _compare(self, c: Compare) -> bool:
        kvs = self._visible(c.key, c.range_end, self._rev)
        if not kvs:
            if c.target is CompareTarget.VALUE:
                return False  # etcd: a value compare on a missing key always fails
            kvs = [KeyValue(c.key, 0, 0, 0, b"")]
        return all(self._compare_kv(c, kv) for kv in kvs)

    @staticmethod
    def _compare_kv(c: Compare, kv: KeyValue) -> bool:
        have: bytes | int
        want: bytes | int
        if c.target is CompareTarget.VALUE:
            have, want = kv.value, c.value if isinstance(c.value, bytes) else b""
        else:
            have, want = getattr(kv, _INT_TARGETS[c.target]), c.value
            if not isinstance(want, int):
                want = 0
        match c.result:
            case CompareResult.EQUAL:
                return have == want
            case CompareResult.NOT_EQUAL:
                return have != want
            case CompareResult.GREATER:
                return have > want  # type: ignore[operator]
            case CompareResult.LESS:
                return have < want  # type: ignore[operator]

    # ----------------------------------------------------------------- writes

    def _admit(self, req: Request) -> None:
        alarms = self._backend.alarms()
        refusal = admit_write(req, self._backend.size(), alarms, self.quota_backend_bytes)
        if refusal is not None:
            if refusal.raise_alarm:
                self._backend.set_alarm(AlarmMember(self.member_id, AlarmType.NOSPACE), True)
                self._backend.commit()
            raise refusal.error
        # etcd's capped applier while NOSPACE is raised: nothing that puts.
        if quota_cost(req) > 0 and any(a.alarm is AlarmType.NOSPACE for a in alarms):
            raise ErrNoSpace()

    def _plan(self, t: TxnRequest) -> _Path:
        """Decide every branch of ``t`` on the state before it, and check the puts and reads
        of those branches as etcd's ``checkRequests`` does, so that a failing txn writes
        nothing."""
        ok = all(self._compare(c) for c in t.compare)
        path = _Path(ok)
        for op in t.success if ok else t.failure:
            if isinstance(op, TxnRequest):
                path.nested.append(self._plan(op))
            elif (isinstance(op, PutRequest) and (op.ignore_value or op.ignore_lease)
                  and self.kv_at(op.key, self._rev) is None):
                raise ErrKeyNotFound()
            elif isinstance(op, PutRequest):
                self._check_lease(op)
            elif isinstance(op, RangeRequest):
                self._check_rev(op.revision, self._rev)
        return path

    def _check_lease(self, p: PutRequest) -> None:
        if p.lease and p.lease not in self._leases:
            raise ErrLeaseNotFound()

    def _write(self, req: PutRequest | DeleteRangeRequest | TxnRequest) -> ResponseOp:
        if isinstance(req, PutRequest):
            self._check_lease(req)  # etcd looks the lease up first
            if (req.ignore_value or req.ignore_lease) and self.kv_at(req.key, self._rev) is None:
                raise ErrKeyNotFound()
        if isinstance(req, TxnRequest):
            txn, path = req, self._plan(req)
            t = self._in_revision(lambda: self._txn(txn, path, nested=False))
            return TxnResponse(self._rev, t.succeeded, t.responses)
        op = req
        return self._in_revision(lambda: self._op(op))

    def _in_revision(self, body: Callable[[], _T]) -> _T:
        """Run ``body``'s writes as one backend transaction and at most one new revision,
        then tell the watch hub."""
        self._sub = 0
        self._events = []
        try:
            out = body()
            if self._sub:
                self._rev += 1
                self._backend.set_meta("current_rev", self._rev)
            self._backend.commit()
        except BaseException:
            self._backend.rollback()
            raise
        if self._events and self._hub is not None:
            self._hub.notify(self._rev, tuple(self._events))
        return out

    def _read_rev(self) -> int:
        """The revision reads inside a write see: the pending one once it has changed."""
        return self._rev + 1 if self._sub else self._rev

    def _txn(self, t: TxnRequest, path: _Path, nested: bool) -> TxnResponse:
        out: list[ResponseOp] = []
        inner = iter(path.nested)
        for op in t.success if path.succeeded else t.failure:
            if isinstance(op, TxnRequest):
                out.append(self._txn(op, next(inner), nested=True))
            else:
                out.append(self._op(op))
        # etcd leaves a nested txn's header empty; the outer one is set by the caller.
        return TxnResponse(0, path.succeeded, tuple(out))

    def _op(self, op: PutRequest | RangeRequest | DeleteRangeRequest) -> ResponseOp:
        if isinstance(op, RangeRequest):
            return self._range(op, self._read_rev())
        if isinstance(op, PutRequest):
            return self._put(op)
        return self._delete(op)

    def _next_rev(self) -> Revision:
        rev = (self._rev + 1, self._sub)
        self._sub += 1
        return rev

    def _put(self, p: PutRequest) -> PutResponse:
        prev = self.kv_at(p.key, self._read_rev())
        value = prev.value if p.ignore_value and prev is not None else p.value
        lease = prev.lease if p.ignore_lease and prev is not None else p.lease
        rev = self._next_rev()
        create = rev[0] if prev is None else prev.create_revision
        version = 1 if prev is None else prev.version + 1
        kv = KeyValue(p.key, create, rev[0], version, value, lease)
        self._backend.put(rev, kv)
        self._index.put(p.key, rev)
        if prev is not None and prev.lease != lease:
            self._detach(prev)
        if lease in self._lease_keys:
            self._lease_keys[lease].add(p.key)
        self._events.append(Event("PUT", kv, prev))
        return PutResponse(rev[0], prev if p.prev_kv else None)

    def _delete(self, d: DeleteRangeRequest) -> DeleteRangeResponse:
        victims = self._visible(d.key, d.range_end, self._read_rev())
        for prev in victims:
            rev = self._next_rev()
            tomb = KeyValue(prev.key, 0, rev[0], 0, b"")
            self._backend.put(rev, tomb, tombstone=True)
            self._index.tombstone(prev.key, rev)
            self._detach(prev)
            self._events.append(Event("DELETE", tomb, prev))
        return DeleteRangeResponse(self._read_rev(), len(victims),
                                   tuple(victims) if d.prev_kv else ())

    def _detach(self, kv: KeyValue) -> None:
        keys = self._lease_keys.get(kv.lease)
        if keys is not None:
            keys.discard(kv.key)

    # ----------------------------------------------------------------- leases

    def _grant(self, req: LeaseGrantRequest) -> LeaseGrantResponse:
        # etcd's lessor.Grant, check for check.
        if req.id == 0:
            raise ErrLeaseNotFound()
        if req.ttl > MAX_LEASE_TTL:
            raise ErrLeaseTTLTooLarge()
        if req.id in self._leases:
            raise ErrLeaseExists()
        ttl = max(req.ttl, self.min_lease_ttl)
        try:
            self._backend.set_lease(req.id, ttl)
            self._backend.commit()
        except BaseException:
            self._backend.rollback()
            raise
        self._leases[req.id] = ttl
        self._lease_keys[req.id] = set()
        self.lessor.granted(req.id, ttl)
        return LeaseGrantResponse(self._rev, req.id, ttl)

    def _revoke(self, lid: int) -> LeaseRevokeResponse:
        """Delete the lease's keys (sorted, as etcd, so every member writes the same) and the
        lease, inside the caller's one revision."""
        if lid not in self._leases:
            raise ErrLeaseNotFound()
        for key in sorted(self._lease_keys[lid]):
            self._delete(DeleteRangeRequest(key))
        self._backend.set_lease(lid, None)
        del self._leases[lid]
        del self._lease_keys[lid]
        self.lessor.forget(lid)
        return LeaseRevokeResponse(self._read_rev())

    # ----------------------------------------------------------------- maintenance

    def _compact(self, revision: int) -> CompactionResponse:
        if revision <= self._compact_rev:
            raise ErrCompacted()
        if revision > self._rev:
            raise ErrFutureRev()
        keep = self._index.compact(revision)
        try:
            self._backend.delete_compacted(revision, keep)
            self._backend.set_meta("compact_rev", revision)
            self._backend.commit()
        except BaseException:
            self._backend.rollback()
            raise
        self._compact_rev = revision
        return CompactionResponse(self._rev)

    def _alarm(self, req: AlarmRequest) -> AlarmResponse:
        if req.action is AlarmAction.GET:
            return AlarmResponse(self._rev, self._backend.alarms())
        member = AlarmMember(req.member_id, req.alarm)
        raised = member in self._backend.alarms()
        activate = req.action is AlarmAction.ACTIVATE
        self._backend.set_alarm(member, activate)
        self._backend.commit()
        # etcd answers with the alarm it changed; disarming one not raised answers nothing.
        return AlarmResponse(self._rev, (member,) if activate or raised else ())
