"""Protobuf sizes of etcd 3.4's messages, computed from raftlib.kv's types (no encoding).

One estimator for two users: :func:`raft_request_size` is what etcd compares with
``--max-request-bytes`` (the gateway's request-size check), :func:`pb_size` the payload of
one gRPC message (the watch chapter's polling-versus-watching counts). Pure arithmetic over
protobuf's wire format: a field is a tag (one byte for field numbers below 16, two below 2048),
then a varint, or a varint length and that many bytes; zero values are not sent.
"""

from __future__ import annotations

from raftlib.kv._types import (
    AlarmAction,
    AlarmRequest,
    AlarmType,
    CompactionRequest,
    CompareResult,
    CompareTarget,
    DefragmentRequest,
    DeleteRangeRequest,
    Event,
    KeyValue,
    LeaseGrantRequest,
    LeaseRevokeRequest,
    PutRequest,
    RangeRequest,
    Request,
    RequestOp,
    SortOrder,
    SortTarget,
    TxnRequest,
)

__all__ = ["CLUSTER_ID", "GRPC_PREFIX", "MEMBER_ID", "pb_size", "raft_request_size"]

#: Member and cluster ids in response headers (a single-member etcd's defaults).
MEMBER_ID = 0x8E9E05C52164694D
CLUSTER_ID = 0xCDF818194E3A8C32
#: gRPC's length prefix on every message: 1 byte of flags, 4 of length.
GRPC_PREFIX = 5


def _varint_len(n: int) -> int:
    n &= 2**64 - 1  # negative int64s are ten bytes, as their uint64 form
    size = 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return size


def _len_field(length: int, tag_bytes: int = 1) -> int:
    """A length-delimited field (bytes or a nested message), sent even when empty."""
    return tag_bytes + _varint_len(length) + length


def _int_field(n: int) -> int:
    return 1 + _varint_len(n) if n else 0


def _bytes_field(b: bytes) -> int:
    return _len_field(len(b)) if b else 0


# --------------------------------------------------------------------- Raft requests


def _op_size(op: RequestOp) -> int:
    if isinstance(op, PutRequest):
        return (_bytes_field(op.key) + _bytes_field(op.value) + _int_field(op.lease)
                + 2 * op.prev_kv + 2 * op.ignore_value + 2 * op.ignore_lease)
    if isinstance(op, RangeRequest):
        return (_bytes_field(op.key) + _bytes_field(op.range_end) + _int_field(op.limit)
                + _int_field(op.revision)
                + _int_field(list(SortOrder).index(op.sort_order))
                + _int_field(list(SortTarget).index(op.sort_target))
                + 2 * op.keys_only + 2 * op.count_only)
    if isinstance(op, DeleteRangeRequest):
        return _bytes_field(op.key) + _bytes_field(op.range_end) + 2 * op.prev_kv
    size = 0
    for c in op.compare:
        value = c.value
        union = _len_field(len(value)) if isinstance(value, bytes) else 1 + _varint_len(value)
        body = (_int_field(list(CompareResult).index(c.result))
                + _int_field(list(CompareTarget).index(c.target)) + _bytes_field(c.key)
                + union + (_len_field(len(c.range_end), 2) if c.range_end else 0))
        size += _len_field(body)
    for sub in (*op.success, *op.failure):
        size += _len_field(_len_field(_op_size(sub)))
    return size


def raft_request_size(req: Request) -> int:
    """Bytes of etcd's encoded ``InternalRaftRequest`` for ``req``, the size etcd compares with
    ``--max-request-bytes``. The request id is counted at its largest (ten bytes), so the
    result can exceed etcd's by one byte. Reads never go through Raft: 0."""
    if isinstance(req, RangeRequest | DefragmentRequest):
        return 0
    if isinstance(req, PutRequest | DeleteRangeRequest | TxnRequest):
        inner = _op_size(req)
    elif isinstance(req, CompactionRequest):
        inner = _int_field(req.revision) + 2
    elif isinstance(req, LeaseGrantRequest):
        inner = _int_field(req.ttl) + _int_field(req.id)
    elif isinstance(req, LeaseRevokeRequest):
        inner = _int_field(req.id)
    else:
        inner = (_int_field(list(AlarmAction).index(req.action)) + _int_field(req.member_id)
                 + _int_field(list(AlarmType).index(req.alarm)))
    # InternalRaftRequest{header (field 100: two tag bytes) {ID}, <the request's field>}.
    header = _len_field(1 + 10, 2)
    return header + _len_field(inner, 2 if isinstance(req, AlarmRequest) else 1)


# --------------------------------------------------------------------- gRPC messages


def _header(revision: int, raft_term: int = 2) -> int:
    return (_int_field(CLUSTER_ID) + _int_field(MEMBER_ID) + _int_field(revision)
            + _int_field(raft_term))


def _kv(kv: KeyValue) -> int:
    return (_bytes_field(kv.key) + _int_field(kv.create_revision)
            + _int_field(kv.mod_revision) + _int_field(kv.version)
            + _bytes_field(kv.value) + _int_field(kv.lease))


def _event(ev: Event) -> int:
    return (_int_field(0 if ev.type == "PUT" else 1) + _len_field(_kv(ev.kv))
            + (0 if ev.prev_kv is None else _len_field(_kv(ev.prev_kv))))


def pb_size(kind: str, *, key: bytes = b"", revision: int = 1,
            kvs: tuple[KeyValue, ...] = (), events: tuple[Event, ...] = (),
            watch_id: int = 0) -> int:
    """Payload bytes of one etcd 3.4 message plus the gRPC prefix.

    ``kind``: ``"range_request"`` (a get of ``key``), ``"range_response"`` (``kvs``, count),
    ``"watch_create"`` (a create request for ``key``), ``"watch_created"`` (the created
    response), ``"watch_events"`` (a response carrying ``events``).
    """
    if kind == "range_request":
        body = _bytes_field(key)
    elif kind == "range_response":
        body = (_len_field(_header(revision)) + sum(_len_field(_kv(kv)) for kv in kvs)
                + _int_field(len(kvs)))
    elif kind == "watch_create":
        body = _len_field(_bytes_field(key))
    elif kind == "watch_created":
        body = _len_field(_header(revision)) + _int_field(watch_id) + _int_field(1)
    elif kind == "watch_events":
        body = (_len_field(_header(revision)) + _int_field(watch_id)
                + sum(_len_field(_event(ev)) for ev in events))
    else:
        raise ValueError(f"unknown message kind {kind!r}")
    return GRPC_PREFIX + body
