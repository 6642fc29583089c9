"""etcd 3.4's v3 JSON gateway, server side, as pure functions: HTTP bodies in,
``raftlib.kv`` types out, and back. No I/O: the HTTP server calls these and writes what they
return.

Bodies are decoded as etcd's gateway decodes them (:mod:`raftlib.gateway._gojson`). Responses
are rendered as grpc-gateway's marshaller does (``OrigName``, no defaults): fields with zero
values are left out, int64s are strings, bytes are base64 and enums are names.

Every shape and message here was checked against etcd 3.4.23 (``tests/gateway/test_server.py``
compares them with a live etcd); where etcd 3.4 is surprising (alarm and defragment answers
without a header, FailedPrecondition as HTTP 412), the docstrings say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from raftlib.gateway._gojson import (
    GatewayError,
    _b64,
    _bad,
    _bool,
    _bytes,
    _camel,
    _decode_first,
    _Enum,
    _enum,
    _enum_value,
    _Eof,
    _field,
    _int,
    _is_null,
    _Lit,
    _message,
    _Node,
    _Parser,
    _repeated,
    _Syntax,
    _type_error,
)
from raftlib.kv._errors import (
    ErrEmptyKey,
    ErrKeyNotFound,
    ErrLeaseProvided,
    ErrTooManyOps,
    ErrValueProvided,
    KVError,
)
from raftlib.kv._store import MAX_TXN_OPS
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
    DefragmentResponse,
    DeleteRangeRequest,
    DeleteRangeResponse,
    Event,
    KeyValue,
    LeaseGrantResponse,
    LeaseRevokeResponse,
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
    TxnRequest,
    TxnResponse,
)
from raftlib.kv._watch import WatchFilter

#: The server version ``GET /version`` reports (the etcd this module was checked against).
ETCD_VERSION: Final = "3.4.23"
#: The cluster version ``GET /version`` reports.
CLUSTER_VERSION: Final = "3.4.0"

_Json = dict[str, Any]


# grpc-gateway v1 (as vendored by etcd 3.4)'s HTTPStatusFromCode. FailedPrecondition is 412
# in this version (later versions answer 400).
_HTTP_STATUS = {0: 200, 1: 408, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429,
                9: 412, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401}


def grpc_http_status(code: int) -> int:
    """The HTTP status grpc-gateway answers for gRPC status ``code``."""
    return _HTTP_STATUS.get(code, 500)


def render_error(err: KVError | GatewayError) -> tuple[int, _Json]:
    """HTTP status and body etcd's gateway sends for ``err``."""
    status = err.status if isinstance(err, GatewayError) else grpc_http_status(err.code)
    return status, {"error": err.message, "message": err.message, "code": err.code}


# etcd's enums, by number, under the Go type names jsonpb's errors use.
_SORT_ORDER = _Enum("etcdserverpb.RangeRequest_SortOrder", ("NONE", "ASCEND", "DESCEND"))
_SORT_TARGET = _Enum("etcdserverpb.RangeRequest_SortTarget",
                     ("KEY", "VERSION", "CREATE", "MOD", "VALUE"))
_CMP_RESULT = _Enum("etcdserverpb.Compare_CompareResult",
                    ("EQUAL", "GREATER", "LESS", "NOT_EQUAL"))
_CMP_TARGET = _Enum("etcdserverpb.Compare_CompareTarget",
                    ("VERSION", "CREATE", "MOD", "VALUE", "LEASE"))
_ALARM_ACTION = _Enum("etcdserverpb.AlarmRequest_AlarmAction", ("GET", "ACTIVATE", "DEACTIVATE"))
_ALARM_TYPE = _Enum("etcdserverpb.AlarmType", ("NONE", "NOSPACE", "CORRUPT"))
_FILTER = _Enum("etcdserverpb.WatchCreateRequest_FilterType", ("NOPUT", "NODELETE"))


# --------------------------------------------------------------------- kv requests


def _parse_range(m: dict[str, Any]) -> tuple[RangeRequest, bool]:
    key, end = _bytes(m, "key"), _bytes(m, "range_end")
    limit, revision = _int(m, "limit"), _int(m, "revision")
    order = _enum(m, "sort_order", _SORT_ORDER, lenient=True)
    target = _enum(m, "sort_target", _SORT_TARGET)
    serializable = _bool(m, "serializable")
    keys_only, count_only = _bool(m, "keys_only"), _bool(m, "count_only")
    for name in ("min_mod_revision", "max_mod_revision", "min_create_revision",
                 "max_create_revision"):
        if _int(m, name):
            raise _bad(f"raftlib: range filter {name} is not supported")
    return RangeRequest(key, end, limit, revision, SortOrder(order), SortTarget(target),
                        keys_only, count_only), serializable


def _parse_put(m: dict[str, Any]) -> PutRequest:
    return PutRequest(_bytes(m, "key"), _bytes(m, "value"), _int(m, "lease"),
                      _bool(m, "prev_kv"), _bool(m, "ignore_value"), _bool(m, "ignore_lease"))


def _parse_delete(m: dict[str, Any]) -> DeleteRangeRequest:
    return DeleteRangeRequest(_bytes(m, "key"), _bytes(m, "range_end"), _bool(m, "prev_kv"))


_UNION_FIELDS = {"VERSION": "version", "CREATE": "create_revision", "MOD": "mod_revision",
                 "VALUE": "value", "LEASE": "lease"}


def _parse_compare(node: _Node) -> Compare:
    m = _message(node)
    result = _enum(m, "result", _CMP_RESULT)
    target = _enum(m, "target", _CMP_TARGET)
    key, end = _bytes(m, "key"), _bytes(m, "range_end")
    # The target_union oneof: every member present is decoded (for its errors), but etcd
    # compares only against the one matching the target (zero if that one is absent).
    union: dict[str, bytes | int] = {}
    for name in ("version", "create_revision", "mod_revision", "value", "lease"):
        if _field(m, name) is not None:
            union[name] = _bytes(m, name) if name == "value" else _int(m, name)
    default: bytes | int = b"" if target == "VALUE" else 0
    return Compare(key, CompareTarget(target), CompareResult(result),
                   union.get(_UNION_FIELDS[target], default), end)


def _parse_op(node: _Node) -> RequestOp | None:
    """One txn operation; None for an empty one (refused later, as etcd's checks do)."""
    m = _message(node)
    for name in ("request_range", "request_put", "request_delete_range", "request_txn"):
        sub = _field(m, name)
        if sub is None:
            continue
        body = _message(sub)
        if name == "request_range":
            return _parse_range(body)[0]
        if name == "request_put":
            return _parse_put(body)
        if name == "request_delete_range":
            return _parse_delete(body)
        return _parse_txn(body)
    return None


def _parse_txn(m: dict[str, Any]) -> TxnRequest:
    # jsonpb decodes field by field: every compare before the success branch is looked at.
    compare = tuple(_parse_compare(c) for c in _repeated(m, "compare"))
    success = tuple(_parse_op(o) for o in _repeated(m, "success"))
    failure = tuple(_parse_op(o) for o in _repeated(m, "failure"))
    return TxnRequest(compare, success, failure)  # type: ignore[arg-type]  # None: see below


def _check_txn(t: TxnRequest, max_ops: int) -> None:
    """etcd 3.4's ``checkTxnRequest``, which runs before the request reaches Raft: too many
    operations (a nested txn gets what its parent left), compares and operations without a
    key, an empty operation, a put with a value or lease it says to ignore."""
    ops = max(len(t.compare), len(t.success), len(t.failure))
    if ops > max_ops:
        raise ErrTooManyOps()
    if any(not c.key for c in t.compare):
        raise ErrEmptyKey()
    for op in (*t.success, *t.failure):
        if op is None:
            raise ErrKeyNotFound()
        if isinstance(op, TxnRequest):
            _check_txn(op, max_ops - ops)
        elif not op.key:
            raise ErrEmptyKey()
        elif isinstance(op, PutRequest) and op.ignore_value and op.value:
            raise ErrValueProvided()
        elif isinstance(op, PutRequest) and op.ignore_lease and op.lease:
            raise ErrLeaseProvided()


def _top(body: bytes) -> dict[str, Any]:
    return _message(_decode_first(body))


def parse_kv(path: str, body: bytes) -> tuple[Request, bool]:
    """The ``raftlib.kv`` request for a body POSTed to ``/v3/<path>`` (``kv/put``,
    ``kv/range``, ``kv/deleterange``, ``kv/txn`` or ``kv/compaction``), and whether a range
    asked to be ``serializable`` (False for the others).

    Raises :class:`GatewayError` for a body etcd refuses before the request reaches its
    server, with etcd's status, code and message, including the txn checks of etcd's gRPC
    layer that raftlib's store does not make. The store's own checks (an empty key, a txn
    with duplicate keys...) surface from ``MVCCStore.apply`` as :class:`raftlib.kv.KVError`.
    A ``physical`` compaction is accepted; the store always compacts at once.
    """
    path = path.strip("/")
    if path == "kv/range":
        return _parse_range(_top(body))
    if path == "kv/put":
        return _parse_put(_top(body)), False
    if path == "kv/deleterange":
        return _parse_delete(_top(body)), False
    if path == "kv/txn":
        txn = _parse_txn(_top(body))
        try:
            _check_txn(txn, MAX_TXN_OPS)
        except KVError as e:
            raise GatewayError(grpc_http_status(e.code), e.code, e.message) from None
        return txn, False
    if path == "kv/compaction":
        m = _top(body)
        revision = _int(m, "revision")
        _bool(m, "physical")
        return CompactionRequest(revision), False
    raise GatewayError(404, 5, "Not Found")


# --------------------------------------------------------------------- rendering


@dataclass(frozen=True, slots=True)
class Header:
    """etcd's ``ResponseHeader``: which cluster and member answered, at which revision and
    Raft term."""

    cluster_id: int
    member_id: int
    revision: int
    raft_term: int


def render_header(header: Header) -> _Json:
    """A ``header`` object as etcd renders it: uint64s as strings, zeros left out."""
    return _header(header)


def _header(h: Header, revision: int | None = None) -> _Json:
    rev = h.revision if revision is None else revision
    out: _Json = {}
    for name, value in (("cluster_id", h.cluster_id), ("member_id", h.member_id),
                        ("revision", rev), ("raft_term", h.raft_term)):
        if value:
            out[name] = str(value)
    return out


def _kv(kv: KeyValue) -> _Json:
    out: _Json = {}
    if kv.key:
        out["key"] = _b64(kv.key)
    for name in ("create_revision", "mod_revision", "version"):
        if getattr(kv, name):
            out[name] = str(getattr(kv, name))
    if kv.value:
        out["value"] = _b64(kv.value)
    if kv.lease:
        out["lease"] = str(kv.lease)
    return out


def _body(resp: ResponseOp, header: _Json) -> _Json:
    out: _Json = {"header": header}
    if isinstance(resp, PutResponse):
        if resp.prev_kv is not None:
            out["prev_kv"] = _kv(resp.prev_kv)
    elif isinstance(resp, RangeResponse):
        if resp.kvs:
            out["kvs"] = [_kv(kv) for kv in resp.kvs]
        if resp.more:
            out["more"] = True
        if resp.count:
            out["count"] = str(resp.count)
    elif isinstance(resp, DeleteRangeResponse):
        if resp.deleted:
            out["deleted"] = str(resp.deleted)
        if resp.prev_kvs:
            out["prev_kvs"] = [_kv(kv) for kv in resp.prev_kvs]
    else:
        if resp.succeeded:
            out["succeeded"] = True
        if resp.responses:
            out["responses"] = [_sub(r) for r in resp.responses]
    return out


_RESPONSE_NAMES = {PutResponse: "response_put", RangeResponse: "response_range",
                   DeleteRangeResponse: "response_delete_range", TxnResponse: "response_txn"}


def _sub(resp: ResponseOp) -> _Json:
    # etcd fills only the revision of a txn's inner headers (and none of a nested txn's).
    inner = {"revision": str(resp.header_revision)} if resp.header_revision else {}
    return {_RESPONSE_NAMES[type(resp)]: _body(resp, inner)}


def render(resp: Response, header: Header) -> _Json:
    """The JSON body etcd sends for a kv, compaction, alarm, defragment, lease grant or lease
    revoke response.

    The revision shown is the response's own (``header.revision`` is not used); the rest of
    ``header`` names the cluster, member and term. Alarm and defragment responses carry no
    header in etcd 3.4's gateway, so none is rendered.
    """
    if isinstance(resp, AlarmResponse):
        return render_alarm(resp.alarms)
    if isinstance(resp, DefragmentResponse):
        return {}
    top = _header(header, resp.header_revision)
    if isinstance(resp, CompactionResponse | LeaseRevokeResponse):
        return {"header": top}
    if isinstance(resp, LeaseGrantResponse):
        out: _Json = {"header": top}
        for name, value in (("ID", resp.id), ("TTL", resp.ttl)):
            if value:
                out[name] = str(value)
        return out
    return _body(resp, top)


# --------------------------------------------------------------------- watch


@dataclass(frozen=True, slots=True)
class WatchCreate:
    """A ``create_request`` of ``POST /v3/watch``, in the terms of
    :meth:`raftlib.kv.WatchHub.watch`; ``watch_id`` 0 lets the stream choose the id."""

    key: bytes
    range_end: bytes = b""
    start_revision: int = 0
    prev_kv: bool = False
    filters: frozenset[WatchFilter] = field(default_factory=frozenset)
    progress_notify: bool = False
    fragment: bool = False
    watch_id: int = 0


@dataclass(frozen=True, slots=True)
class WatchCancel:
    """A ``cancel_request``: stop the stream's watch ``watch_id``."""

    watch_id: int


@dataclass(frozen=True, slots=True)
class WatchProgress:
    """A ``progress_request``: ask for the store's revision on the stream."""


#: One request of a watch stream.
WatchRequest = WatchCreate | WatchCancel | WatchProgress

_UNION = ("create_request", "cancel_request", "progress_request")


def _watch_error(e: GatewayError) -> GatewayError:
    # A watch is a gRPC stream: the gateway reports a bad first message as code 2 (Unknown).
    return GatewayError(500, 2, e.message)


def _parse_create(create: _Node) -> WatchCreate:
    c = _message(create)
    key, end = _bytes(c, "key"), _bytes(c, "range_end")
    start = _int(c, "start_revision")
    progress_notify = _bool(c, "progress_notify")
    filters: set[str] = set()
    for f in _repeated(c, "filters"):
        if _is_null(f):
            continue
        n = _enum_value(f, _FILTER)
        if 0 <= n < len(_FILTER.names):  # etcd ignores filters it does not know
            filters.add(_FILTER.names[n])
    prev_kv = _bool(c, "prev_kv")
    watch_id = _int(c, "watch_id")
    fragment = _bool(c, "fragment")
    return WatchCreate(key, end, start, prev_kv, frozenset(filters), progress_notify, fragment,
                       watch_id)


def _parse_request(node: _Node) -> WatchRequest | None:
    m = _message(node)
    cancel = _field(m, "cancel_request")
    progress = _field(m, "progress_request")
    create = _field(m, "create_request")
    reqs: dict[str, WatchRequest] = {}
    if cancel is not None:
        reqs["cancel_request"] = WatchCancel(_int(_message(cancel), "watch_id"))
    if progress is not None:
        _message(progress)
        reqs["progress_request"] = WatchProgress()
    if create is not None:
        reqs["create_request"] = _parse_create(create)
    # The request is a oneof. Given several, etcd 3.4 keeps one at random (jsonpb walks a Go
    # map; checked with curl); here the one written last.
    named = [n for k in m for n in _UNION if k in (n, _camel(n)) and not _is_null(m[k])]
    return reqs[named[-1]] if named else None


def parse_watch_stream(body: bytes) -> list[WatchRequest]:
    """Every request of a ``/v3/watch`` body, in order.

    The gateway reads the body as a stream of JSON objects, one watch request each, and
    answers nothing before the body is complete (etcd 3.4 does the same: a client cannot
    send a request after reading an answer). An error in the first object fails the call
    (HTTP 500, gRPC code 2, Go's message); an error in a later one only ends the stream of
    requests, as in etcd. An object with none of the three requests is skipped.
    """
    p = _Parser(body)
    out: list[WatchRequest] = []
    first = True
    while True:
        try:
            p.peek()
            node = p.value()
            req = _parse_request(node)
        except _Eof:
            if first and p.i < len(body):
                raise GatewayError(500, 2, "unexpected EOF") from None
            return out
        except (_Syntax, GatewayError) as e:
            if first:
                raise _watch_error(_bad(str(e))) from None
            return out
        first = False
        if req is not None:
            out.append(req)


def _event(ev: Event) -> _Json:
    out: _Json = {}
    if ev.type == "DELETE":
        out["type"] = "DELETE"
    out["kv"] = _kv(ev.kv)
    if ev.prev_kv is not None:
        out["prev_kv"] = _kv(ev.prev_kv)
    return out


def _watch_result(watch_id: int, header: _Json, *, created: bool = False,
                  canceled: bool = False, compact_revision: int = 0, cancel_reason: str = "",
                  fragment: bool = False, events: Sequence[Event] = ()) -> _Json:
    r: _Json = {"header": header}
    if watch_id:
        r["watch_id"] = str(watch_id)
    if created:
        r["created"] = True
    if canceled:
        r["canceled"] = True
    if compact_revision:
        r["compact_revision"] = str(compact_revision)
    if cancel_reason:
        r["cancel_reason"] = cancel_reason
    if fragment:
        r["fragment"] = True
    if events:
        r["events"] = [_event(e) for e in events]
    return {"result": r}


def render_watch_created(watch_id: int, header: Header) -> _Json:
    """The answer to a ``create_request``: the watch exists (``header.revision``: the store's
    current revision). Each line of a stream is such an object as compact JSON plus a newline.

    etcd numbers watches per gRPC stream, and every ``POST /v3/watch`` is a stream of its
    own: the first watch it creates has id 0 (rendered as no ``watch_id`` at all), the next
    1, and so on, skipping ids a ``create_request`` asked for itself."""
    return _watch_result(watch_id, _header(header), created=True)


def render_watch_refused(header: Header, reason: str) -> _Json:
    """The answer to a ``create_request`` etcd refuses (an empty range, a duplicate id):
    created and cancelled at once, with watch id -1 and the reason
    (:class:`raftlib.kv.ErrEmptyWatcherRange`, :class:`raftlib.kv.ErrWatcherDuplicateID`)."""
    return _watch_result(-1, _header(header), created=True, canceled=True,
                         cancel_reason=reason)


def render_watch_progress(header: Header) -> _Json:
    """The answer to a ``progress_request``: no events, the store's revision, and watch id -1
    (it concerns every watch of the stream). etcd 3.4 answers at once, even while a watch
    is still replaying history."""
    return _watch_result(-1, _header(header))


def render_watch_events(watch_id: int, header: Header, events: Sequence[Event],
                        compact_revision: int = 0, canceled: bool = False,
                        fragment: bool = False) -> _Json:
    """A line of a watch stream: ``events`` (a live write's, or whole revisions of a replay,
    as :class:`raftlib.kv.WatchResponse`), a progress notification (no events), or the
    cancellation (also the answer to a ``cancel_request``). ``header.revision`` should be
    the response's own ``header_revision``. A watch cancelled because its start was
    compacted (``compact_revision`` set) has no revision in its header and no
    ``cancel_reason`` in etcd 3.4, so none is rendered. ``fragment``: more of the same
    response follows (a watch created with ``fragment`` gets a large response in pieces)."""
    h = _header(header, 0) if compact_revision else _header(header)
    return _watch_result(watch_id, h, canceled=canceled, compact_revision=compact_revision,
                         fragment=fragment, events=events)


# --------------------------------------------------------------------- maintenance


def render_status(header: Header, *, db_size: int, leader: int, raft_index: int,
                  raft_term: int, raft_applied_index: int, db_size_in_use: int,
                  is_learner: bool = False, errors: Sequence[str] = (),
                  version: str = ETCD_VERSION) -> _Json:
    """``/v3/maintenance/status`` (the header's revision is ``header.revision``)."""
    out: _Json = {"header": _header(header), "version": version}
    for name, value in (("dbSize", db_size), ("leader", leader), ("raftIndex", raft_index),
                        ("raftTerm", raft_term), ("raftAppliedIndex", raft_applied_index)):
        if value:
            out[name] = str(value)
    if errors:
        out["errors"] = list(errors)
    if db_size_in_use:
        out["dbSizeInUse"] = str(db_size_in_use)
    if is_learner:
        out["isLearner"] = True
    return out


def parse_alarm(body: bytes) -> AlarmRequest:
    """The request of ``/v3/maintenance/alarm`` (``action``, ``memberID``, ``alarm``)."""
    m = _top(body)
    action = _enum(m, "action", _ALARM_ACTION)
    member = _int(m, "memberID", "uint64")
    alarm = _enum(m, "alarm", _ALARM_TYPE)
    return AlarmRequest(AlarmAction(action), member, AlarmType(alarm))


def render_alarm(alarms: Sequence[AlarmMember]) -> _Json:
    """``/v3/maintenance/alarm``'s answer: etcd 3.4 sends no header, and no ``alarm`` for
    NONE (the zero value)."""
    if not alarms:
        return {}
    out = []
    for a in alarms:
        j: _Json = {}
        if a.member_id:
            j["memberID"] = str(a.member_id)
        if a.alarm is not AlarmType.NONE:
            j["alarm"] = a.alarm.value
        out.append(j)
    return {"alarms": out}


def parse_transfer(body: bytes) -> int:
    """The ``targetID`` of ``/v3/maintenance/transfer-leadership``."""
    return _int(_top(body), "targetID", "uint64")


def render_transfer() -> _Json:
    """A leadership transfer's answer: empty in etcd 3.4."""
    return {}


def render_version(server: str = ETCD_VERSION, cluster: str = CLUSTER_VERSION) -> _Json:
    """``GET /version``. etcd3gw picks its API prefix from ``etcdserver`` (3.4+: ``/v3/``)."""
    return {"etcdserver": server, "etcdcluster": cluster}


def alarm_text(a: AlarmMember) -> str:
    """An alarm as etcd lists it in a status response's ``errors`` (protobuf text form)."""
    return f"memberID:{a.member_id} alarm:{a.alarm.value} "


def render_health(ok: bool) -> _Json:
    """``GET /health``'s body; etcd answers it with HTTP 200 when ok, 503 otherwise."""
    return {"health": "true" if ok else "false"}


# --------------------------------------------------------------------- cluster


@dataclass(frozen=True, slots=True)
class MemberJSON:
    """A member as ``/v3/cluster/member/*`` lists it."""

    id: int
    name: str = ""
    peer_urls: tuple[str, ...] = ()
    client_urls: tuple[str, ...] = ()
    is_learner: bool = False


def _member(m: MemberJSON) -> _Json:
    out: _Json = {}
    if m.id:
        out["ID"] = str(m.id)
    if m.name:
        out["name"] = m.name
    if m.peer_urls:
        out["peerURLs"] = list(m.peer_urls)
    if m.client_urls:
        out["clientURLs"] = list(m.client_urls)
    if m.is_learner:
        out["isLearner"] = True
    return out


def _cluster_header(header: Header) -> _Json:
    # etcd's cluster service fills ids and term, never the revision.
    return _header(header, 0)


def _valid_peer_url(raw: str) -> bool:
    """etcd's ``types.NewURLs`` check: http(s) or unix(s), a ``host:port``, no path."""
    try:
        u = urlsplit(raw.strip())
    except ValueError:
        return False
    if u.scheme not in ("http", "https", "unix", "unixs") or u.path:
        return False
    host = u.netloc.rpartition("@")[2]
    if host.startswith("["):  # net.SplitHostPort's bracketed IPv6 form
        close = host.find("]")
        return close > 0 and host[close + 1:close + 2] == ":" and "]" not in host[close + 1:]
    return host.count(":") == 1


def parse_member_add(body: bytes) -> tuple[tuple[str, ...], bool]:
    """``peerURLs`` and ``isLearner`` of ``/v3/cluster/member/add``; refused as etcd does
    ("given member URLs are invalid") when there is none or one is not a peer URL."""
    m = _top(body)
    urls = []
    for node in _repeated(m, "peerURLs"):
        if _is_null(node):
            urls.append("")
        elif isinstance(node, _Lit) and node.kind == "string":
            urls.append(node.text.strip())
        else:
            raise _type_error(node, "string")
    learner = _bool(m, "isLearner")
    if not urls or not all(_valid_peer_url(u) for u in urls):
        raise _bad("etcdserver: given member URLs are invalid")
    return tuple(urls), learner


def parse_member_id(body: bytes) -> int:
    """The ``ID`` of ``/v3/cluster/member/remove`` or ``/promote``."""
    return _int(_top(body), "ID", "uint64")


def _members(members: Sequence[MemberJSON]) -> list[_Json]:
    return [_member(m) for m in sorted(members, key=lambda m: m.id)]  # etcd lists by id


def render_member_list(members: Sequence[MemberJSON], header: Header) -> _Json:
    """``/v3/cluster/member/list`` (members in order of id, as etcd lists them)."""
    return {"header": _cluster_header(header), "members": _members(members)}


def render_member_add(added: MemberJSON, members: Sequence[MemberJSON],
                      header: Header) -> _Json:
    """``/v3/cluster/member/add``: the new member, then every member."""
    return {"header": _cluster_header(header), "member": _member(added),
            "members": _members(members)}


def render_member_remove(members: Sequence[MemberJSON], header: Header) -> _Json:
    """``/v3/cluster/member/remove``: the members left."""
    return render_member_list(members, header)


def render_member_promote(members: Sequence[MemberJSON], header: Header) -> _Json:
    """``/v3/cluster/member/promote``: every member after the promotion."""
    return render_member_list(members, header)
