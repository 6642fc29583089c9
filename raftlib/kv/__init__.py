"""An etcd 3.4-like MVCC key-value store: the state machine the book replicates over Raft.

Revisions, a key index with generations, range and txn, tombstones, compaction, a watch hub,
a SQLite backend with real sizes, the space quota and its NOSPACE alarm, the one write-admission
rule every engine calls, and defragmentation. No HTTP here (etcd's JSON gateway is
``raftlib.gateway``). Errors carry etcd's messages.

Example::

    from raftlib.kv import MVCCStore

    s = MVCCStore()                       # SQLite in memory; MVCCStore("kv.db") persists
    s.put(b"a", b"1")                     # revision 2
    s.put(b"a", b"2")                     # revision 3
    s.range(b"a", revision=2).kvs[0].value   # b"1"
    w = s.watch_hub.watch(b"a", start_revision=2)
    s.watch_hub.sync()                    # replay history, then live events
    [r.events for r in w.take()]
"""

from raftlib.kv._admission import (
    KV_OVERHEAD,
    MAX_REQUEST_BYTES,
    Refusal,
    admit_write,
    quota_cost,
)
from raftlib.kv._backend import BackendRow, SqliteBackend
from raftlib.kv._counting import CountingWatchHub, DispatchStats, counting_hub
from raftlib.kv._errors import (
    ErrBadLeaderTransferee,
    ErrCompacted,
    ErrDeadlineExceeded,
    ErrDuplicateKey,
    ErrEmptyKey,
    ErrFutureRev,
    ErrKeyNotFound,
    ErrLearnerNotReady,
    ErrLeaseProvided,
    ErrMemberNotFound,
    ErrMemberNotLearner,
    ErrNoLeader,
    ErrNoSpace,
    ErrNotEnoughStartedMembers,
    ErrNotLeader,
    ErrRequestTooLarge,
    ErrStopped,
    ErrTimeout,
    ErrTimeoutLeaderTransfer,
    ErrTooManyOps,
    ErrUnhealthy,
    ErrValueProvided,
    Indeterminate,
    KVError,
)
from raftlib.kv._index import KeyIndex, Revision, TreeIndex
from raftlib.kv._replicated import KVResult, ReplicatedKV
from raftlib.kv._size import pb_size
from raftlib.kv._store import DEFAULT_QUOTA_BYTES, MAX_TXN_OPS, MVCCStore
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
    prefix_end,
)
from raftlib.kv._watch import (
    MAX_WATCHERS_PER_SYNC,
    WATCH_BATCH_MAX_REVS,
    Watcher,
    WatchFilter,
    WatchHub,
    WatchResponse,
)

__all__ = [
    "DEFAULT_QUOTA_BYTES",
    "KV_OVERHEAD",
    "MAX_REQUEST_BYTES",
    "MAX_TXN_OPS",
    "MAX_WATCHERS_PER_SYNC",
    "WATCH_BATCH_MAX_REVS",
    "AlarmAction",
    "AlarmMember",
    "AlarmRequest",
    "AlarmResponse",
    "AlarmType",
    "BackendRow",
    "CompactionRequest",
    "CompactionResponse",
    "Compare",
    "CompareResult",
    "CompareTarget",
    "CountingWatchHub",
    "DefragmentRequest",
    "DefragmentResponse",
    "DeleteRangeRequest",
    "DeleteRangeResponse",
    "DispatchStats",
    "ErrBadLeaderTransferee",
    "ErrCompacted",
    "ErrDeadlineExceeded",
    "ErrDuplicateKey",
    "ErrEmptyKey",
    "ErrFutureRev",
    "ErrKeyNotFound",
    "ErrLearnerNotReady",
    "ErrLeaseProvided",
    "ErrMemberNotFound",
    "ErrMemberNotLearner",
    "ErrNoLeader",
    "ErrNoSpace",
    "ErrNotEnoughStartedMembers",
    "ErrNotLeader",
    "ErrRequestTooLarge",
    "ErrStopped",
    "ErrTimeout",
    "ErrTimeoutLeaderTransfer",
    "ErrTooManyOps",
    "ErrUnhealthy",
    "ErrValueProvided",
    "Event",
    "Indeterminate",
    "KVError",
    "KVResult",
    "KeyIndex",
    "KeyValue",
    "MVCCStore",
    "PutRequest",
    "PutResponse",
    "RangeRequest",
    "RangeResponse",
    "Refusal",
    "ReplicatedKV",
    "Request",
    "RequestOp",
    "Response",
    "ResponseOp",
    "Revision",
    "SortOrder",
    "SortTarget",
    "SqliteBackend",
    "StatusResponse",
    "TreeIndex",
    "TxnRequest",
    "TxnResponse",
    "WatchFilter",
    "WatchHub",
    "WatchResponse",
    "Watcher",
    "admit_write",
    "counting_hub",
    "pb_size",
    "prefix_end",
    "quota_cost",
]
