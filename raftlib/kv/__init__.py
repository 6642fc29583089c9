"""An etcd 3.4-like MVCC key-value store: the state machine the book replicates over Raft.

Revisions, a key index with generations, range and txn, tombstones, compaction, a watch hub,
a SQLite backend with real sizes, the space quota and its NOSPACE alarm, defragmentation, and
a small client for a real etcd's JSON gateway to compare with. Errors carry etcd's messages.

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

from raftlib.kv._backend import BackendRow, SqliteBackend
from raftlib.kv._errors import (
    ErrCompacted,
    ErrDuplicateKey,
    ErrEmptyKey,
    ErrFutureRev,
    ErrKeyNotFound,
    ErrLeaseProvided,
    ErrNoSpace,
    ErrTooManyOps,
    ErrValueProvided,
    KVError,
)
from raftlib.kv._etcd_gateway import EtcdError, EtcdGateway
from raftlib.kv._fanout import (
    CountingWatchHub,
    DispatchStats,
    PollVsWatch,
    ProxyStats,
    ProxyWatcher,
    Traffic,
    WatchProxy,
    counting_hub,
    measure_on_store,
    pb_size,
    poll_vs_watch,
    write_times,
)
from raftlib.kv._index import KeyIndex, Revision, TreeIndex
from raftlib.kv._store import DEFAULT_QUOTA_BYTES, KV_OVERHEAD, MAX_TXN_OPS, MVCCStore
from raftlib.kv._stories import (
    RECOVERY_STEPS,
    Change,
    SizeSample,
    attempt,
    key_history,
    kv_line,
    recovery_frames,
    run_writer,
    size_sample,
)
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
    Watcher,
    WatchFilter,
    WatchHub,
    WatchResponse,
)

__all__ = [
    "DEFAULT_QUOTA_BYTES",
    "KV_OVERHEAD",
    "MAX_TXN_OPS",
    "MAX_WATCHERS_PER_SYNC",
    "RECOVERY_STEPS",
    "AlarmAction",
    "AlarmMember",
    "AlarmRequest",
    "AlarmResponse",
    "AlarmType",
    "BackendRow",
    "Change",
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
    "ErrCompacted",
    "ErrDuplicateKey",
    "ErrEmptyKey",
    "ErrFutureRev",
    "ErrKeyNotFound",
    "ErrLeaseProvided",
    "ErrNoSpace",
    "ErrTooManyOps",
    "ErrValueProvided",
    "EtcdError",
    "EtcdGateway",
    "Event",
    "KVError",
    "KeyIndex",
    "KeyValue",
    "MVCCStore",
    "PollVsWatch",
    "ProxyStats",
    "ProxyWatcher",
    "PutRequest",
    "PutResponse",
    "RangeRequest",
    "RangeResponse",
    "Request",
    "RequestOp",
    "Response",
    "ResponseOp",
    "Revision",
    "SizeSample",
    "SortOrder",
    "SortTarget",
    "SqliteBackend",
    "StatusResponse",
    "Traffic",
    "TreeIndex",
    "TxnRequest",
    "TxnResponse",
    "WatchFilter",
    "WatchHub",
    "WatchProxy",
    "WatchResponse",
    "Watcher",
    "attempt",
    "counting_hub",
    "key_history",
    "kv_line",
    "measure_on_store",
    "pb_size",
    "poll_vs_watch",
    "prefix_end",
    "recovery_frames",
    "run_writer",
    "size_sample",
    "write_times",
]
