"""Data types of the MVCC store: key-values, events, requests and responses.

Field names follow etcd 3.4's protobuf messages (``mvccpb.KeyValue``, ``etcdserverpb``) so that
the store, the etcd gateway client and the book speak about the same things.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "AlarmAction",
    "AlarmMember",
    "AlarmRequest",
    "AlarmResponse",
    "AlarmType",
    "CompactionRequest",
    "CompactionResponse",
    "Compare",
    "CompareResult",
    "CompareTarget",
    "DefragmentRequest",
    "DefragmentResponse",
    "DeleteRangeRequest",
    "DeleteRangeResponse",
    "Event",
    "KeyValue",
    "LeaseGrantRequest",
    "LeaseGrantResponse",
    "LeaseKeepAliveResponse",
    "LeaseLeasesResponse",
    "LeaseRevokeRequest",
    "LeaseRevokeResponse",
    "LeaseTimeToLiveResponse",
    "PutRequest",
    "PutResponse",
    "RangeRequest",
    "RangeResponse",
    "Request",
    "RequestOp",
    "Response",
    "ResponseOp",
    "SortOrder",
    "SortTarget",
    "StatusResponse",
    "TxnRequest",
    "TxnResponse",
    "prefix_end",
]


def prefix_end(prefix: bytes) -> bytes:
    """Return the ``range_end`` that selects every key starting with ``prefix`` (etcd's
    ``clientv3.GetPrefixRangeEnd``); ``b"\\0"`` (every key from ``prefix`` on) if none exists."""
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\0"


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One version of a key, as etcd's ``mvccpb.KeyValue``.

    ``create_revision`` is the revision of the put that created the current generation of the
    key, ``mod_revision`` that of its last change, ``version`` the number of puts since
    creation (a delete resets it to 0). A tombstone has only ``key`` and ``mod_revision`` set.
    """

    key: bytes
    create_revision: int
    mod_revision: int
    version: int
    value: bytes
    lease: int = 0


@dataclass(frozen=True, slots=True)
class Event:
    """A change seen by a watcher: ``kv`` after the change, ``prev_kv`` before it if asked."""

    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    prev_kv: KeyValue | None = None


class SortOrder(enum.Enum):
    """Order of a range's results (``RangeRequest.SortOrder``)."""

    NONE = "NONE"
    ASCEND = "ASCEND"
    DESCEND = "DESCEND"


class SortTarget(enum.Enum):
    """Field a range is sorted on (``RangeRequest.SortTarget``)."""

    KEY = "KEY"
    VERSION = "VERSION"
    CREATE = "CREATE"
    MOD = "MOD"
    VALUE = "VALUE"


class CompareTarget(enum.Enum):
    """Field a txn compare looks at (``Compare.CompareTarget``)."""

    VERSION = "VERSION"
    CREATE = "CREATE"
    MOD = "MOD"
    VALUE = "VALUE"
    LEASE = "LEASE"


class CompareResult(enum.Enum):
    """Relation a txn compare checks (``Compare.CompareResult``)."""

    EQUAL = "EQUAL"
    GREATER = "GREATER"
    LESS = "LESS"
    NOT_EQUAL = "NOT_EQUAL"


class AlarmType(enum.Enum):
    """Kind of alarm (``AlarmType``); only NOSPACE is raised by the store."""

    NONE = "NONE"
    NOSPACE = "NOSPACE"
    CORRUPT = "CORRUPT"


class AlarmAction(enum.Enum):
    """What an alarm request does (``AlarmRequest.AlarmAction``)."""

    GET = "GET"
    ACTIVATE = "ACTIVATE"
    DEACTIVATE = "DEACTIVATE"


@dataclass(frozen=True, slots=True)
class PutRequest:
    """Set ``key`` to ``value`` at a new revision."""

    key: bytes
    value: bytes = b""
    lease: int = 0
    prev_kv: bool = False
    ignore_value: bool = False
    ignore_lease: bool = False


@dataclass(frozen=True, slots=True)
class RangeRequest:
    """Read ``key``, or the keys in ``[key, range_end)`` (``range_end=b"\\0"``: every key from
    ``key`` on), at ``revision`` (0: the current one)."""

    key: bytes
    range_end: bytes = b""
    limit: int = 0
    revision: int = 0
    sort_order: SortOrder = SortOrder.NONE
    sort_target: SortTarget = SortTarget.KEY
    keys_only: bool = False
    count_only: bool = False


@dataclass(frozen=True, slots=True)
class DeleteRangeRequest:
    """Delete ``key`` or the keys in ``[key, range_end)``."""

    key: bytes
    range_end: bytes = b""
    prev_kv: bool = False


@dataclass(frozen=True, slots=True)
class Compare:
    """A txn guard: ``target`` of ``key`` (every key of ``[key, range_end)`` if given) stands
    in relation ``result`` to ``value`` (an int for revisions, versions and leases)."""

    key: bytes
    target: CompareTarget
    result: CompareResult
    value: bytes | int
    range_end: bytes = b""


@dataclass(frozen=True, slots=True)
class TxnRequest:
    """If every compare holds, apply ``success``, else ``failure``, atomically."""

    compare: tuple[Compare, ...] = ()
    success: tuple[RequestOp, ...] = ()
    failure: tuple[RequestOp, ...] = ()


#: An operation inside a txn branch.
RequestOp = PutRequest | RangeRequest | DeleteRangeRequest | TxnRequest


@dataclass(frozen=True, slots=True)
class CompactionRequest:
    """Discard the history below ``revision``."""

    revision: int


@dataclass(frozen=True, slots=True)
class AlarmRequest:
    """List (GET), raise (ACTIVATE) or disarm (DEACTIVATE) alarms."""

    action: AlarmAction = AlarmAction.GET
    member_id: int = 0
    alarm: AlarmType = AlarmType.NONE


@dataclass(frozen=True, slots=True)
class DefragmentRequest:
    """Rewrite the backend so that its file shrinks to the pages in use."""


@dataclass(frozen=True, slots=True)
class LeaseGrantRequest:
    """Grant a lease of ``ttl`` seconds with id ``id``. The member taking the request picks
    an id when the client gives 0 (a 0 reaching the store is refused, as etcd's lessor
    refuses it)."""

    ttl: int
    id: int = 0


@dataclass(frozen=True, slots=True)
class LeaseRevokeRequest:
    """Revoke lease ``id`` and delete every key attached to it, in one revision."""

    id: int


#: Every request :meth:`raftlib.kv.MVCCStore.apply` accepts.
Request = (RequestOp | CompactionRequest | AlarmRequest | DefragmentRequest | LeaseGrantRequest
           | LeaseRevokeRequest)


@dataclass(frozen=True, slots=True)
class PutResponse:
    """Answer to a put: the new revision, and the previous key-value if asked for."""

    header_revision: int
    prev_kv: KeyValue | None = None


@dataclass(frozen=True, slots=True)
class RangeResponse:
    """Answer to a range: ``count`` keys matched, ``kvs`` holds at most ``limit`` of them."""

    header_revision: int
    kvs: tuple[KeyValue, ...] = ()
    more: bool = False
    count: int = 0


@dataclass(frozen=True, slots=True)
class DeleteRangeResponse:
    """Answer to a delete: how many keys went, and their last values if asked for."""

    header_revision: int
    deleted: int = 0
    prev_kvs: tuple[KeyValue, ...] = ()


@dataclass(frozen=True, slots=True)
class TxnResponse:
    """Answer to a txn: which branch ran and one response per operation of it."""

    header_revision: int
    succeeded: bool
    responses: tuple[ResponseOp, ...] = ()


#: The answer to one txn operation.
ResponseOp = PutResponse | RangeResponse | DeleteRangeResponse | TxnResponse


@dataclass(frozen=True, slots=True)
class CompactionResponse:
    """Answer to a compaction."""

    header_revision: int


@dataclass(frozen=True, slots=True)
class AlarmMember:
    """An alarm raised on one member."""

    member_id: int
    alarm: AlarmType


@dataclass(frozen=True, slots=True)
class AlarmResponse:
    """Answer to an alarm request: the alarms it listed or changed."""

    header_revision: int
    alarms: tuple[AlarmMember, ...] = ()


@dataclass(frozen=True, slots=True)
class DefragmentResponse:
    """Answer to a defragmentation."""

    header_revision: int


@dataclass(frozen=True, slots=True)
class StatusResponse:
    """Sizes and revisions of a store, as in etcd's maintenance status."""

    header_revision: int
    compact_revision: int
    db_size: int
    db_size_in_use: int
    quota_backend_bytes: int


@dataclass(frozen=True, slots=True)
class LeaseGrantResponse:
    """Answer to a grant: the lease's id and its TTL (raised to the minimum TTL if below)."""

    header_revision: int
    id: int
    ttl: int


@dataclass(frozen=True, slots=True)
class LeaseRevokeResponse:
    """Answer to a revoke (the revision after its keys were deleted)."""

    header_revision: int


@dataclass(frozen=True, slots=True)
class LeaseKeepAliveResponse:
    """Answer to a keep-alive: the TTL the lease was renewed to, 0 if there is no such lease."""

    header_revision: int
    id: int
    ttl: int


@dataclass(frozen=True, slots=True)
class LeaseTimeToLiveResponse:
    """A lease's remaining seconds (``ttl``, -1 if there is no such lease), the TTL it was
    granted with and, if asked, its keys."""

    header_revision: int
    id: int
    ttl: int
    granted_ttl: int = 0
    keys: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class LeaseLeasesResponse:
    """Every lease's id."""

    header_revision: int
    leases: tuple[int, ...] = ()


#: Every response :meth:`raftlib.kv.MVCCStore.apply` returns.
Response = (ResponseOp | CompactionResponse | AlarmResponse | DefragmentResponse
            | LeaseGrantResponse | LeaseRevokeResponse)
