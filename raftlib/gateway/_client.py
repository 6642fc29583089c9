"""The one client of etcd 3.4's v3 JSON gateway: a raftlib member or a real etcd.

:class:`EtcdGateway` speaks the same request and response types as
:class:`raftlib.kv.MVCCStore`, so the same operations can be run against both and compared
field by field; etcd's errors are raised as the store's exception classes when the message is
one the store knows, :class:`EtcdError` otherwise. The pieces under it are shared with the
other clients (``raftlib.backends``' :class:`~raftlib.backends.EtcdClient` and the ``raftlib``
command line): :func:`dial` (a connection, or :class:`Unreachable` with Go's dial text),
:func:`send`, :class:`WatchStream` (a ``/v3/watch`` stream read line by line) and the
conversions between gateway JSON and ``raftlib.kv`` types. Standard library only
(``http.client``): keys and values travel base64-encoded, int64s as strings.
"""

from __future__ import annotations

import base64
import http.client
import json
from typing import Any
from urllib.parse import urlsplit

from raftlib.gateway._gojson import _b64
from raftlib.kv._errors import (
    ErrBadLeaderTransferee,
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
    ErrRequestTooLarge,
    ErrTooManyOps,
    ErrValueProvided,
    KVError,
)
from raftlib.kv._types import (
    AlarmMember,
    AlarmRequest,
    AlarmResponse,
    AlarmType,
    CompactionRequest,
    CompactionResponse,
    Compare,
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
    StatusResponse,
    TxnRequest,
    TxnResponse,
)
from raftlib.kv._watch import WatchFilter, WatchResponse

_Json = dict[str, Any]
_HEADERS = {"Content-Type": "application/json"}
_KNOWN: dict[str, type[KVError]] = {
    cls.message: cls
    for cls in (ErrBadLeaderTransferee, ErrCompacted, ErrDuplicateKey, ErrEmptyKey,
                ErrFutureRev, ErrKeyNotFound, ErrLeaseExists, ErrLeaseNotFound, ErrLeaseProvided,
                ErrLeaseTTLTooLarge, ErrNoSpace, ErrRequestTooLarge, ErrTooManyOps,
                ErrValueProvided)
}


class EtcdError(KVError):
    """An etcd error the store has no class for; ``message`` and ``code`` are etcd's."""

    def __init__(self, message: str, code: int) -> None:
        self.message = message
        self.code = code
        super().__init__()


class Unreachable(OSError):
    """The request never reached the server: no connection, or it could not be sent.
    ``str()`` is the text (Go's ``dial tcp ...`` when dialing failed), ``reason`` the OS's
    error (a :class:`TimeoutError` when it did not answer in time)."""

    def __init__(self, message: str, reason: OSError) -> None:
        super().__init__(message)
        self.reason = reason


# --------------------------------------------------------------------- HTTP


def dial(endpoint: str, timeout: float | None, dial_timeout: float | None = None
         ) -> http.client.HTTPConnection:
    """A connection to ``endpoint`` (``http://host:port``) made within ``dial_timeout``
    seconds (default: ``timeout``), whose reads then wait ``timeout`` (None: for ever)."""
    u = urlsplit(endpoint)
    host, port = u.hostname or "127.0.0.1", u.port or 2379
    conn = http.client.HTTPConnection(host, port,
                                      timeout=timeout if dial_timeout is None else dial_timeout)
    try:
        conn.connect()
    except ConnectionRefusedError as e:
        raise Unreachable(f"dial tcp {host}:{port}: connect: connection refused", e) from e
    except TimeoutError as e:
        raise Unreachable(f"dial tcp {host}:{port}: i/o timeout", e) from e
    except OSError as e:
        raise Unreachable(f"dial tcp {host}:{port}: {e.strerror or e}", e) from e
    assert conn.sock is not None
    conn.sock.settimeout(timeout)
    return conn


def _write(conn: http.client.HTTPConnection, method: str, path: str, body: _Json | None
           ) -> None:
    conn.request(method, path, None if body is None else json.dumps(body), _HEADERS)


def send(conn: http.client.HTTPConnection, method: str, path: str, body: _Json | None = None
         ) -> http.client.HTTPResponse:
    """Send one request on ``conn`` and return the response (its body not read yet)."""
    _write(conn, method, path, body)
    return conn.getresponse()


class WatchStream:
    """A ``POST /v3/watch`` stream on ``conn``: the create request is sent at once, then
    :meth:`next` reads the server's messages, one JSON object per line. The connection is
    closed if the request fails."""

    def __init__(self, conn: http.client.HTTPConnection, create: _Json) -> None:
        self.conn = conn
        try:
            self.response = send(conn, "POST", "/v3/watch", {"create_request": create})
        except BaseException:
            conn.close()
            raise

    def next(self) -> _Json | None:
        """The next message, None once the server has closed the stream."""
        line = self.response.readline()
        return json.loads(line) if line else None

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------- JSON and kv types


def _unb64(s: str | None) -> bytes:
    return base64.b64decode(s) if s else b""


def _kv(j: _Json | None) -> KeyValue | None:
    if j is None:
        return None
    return KeyValue(_unb64(j.get("key")), int(j.get("create_revision", 0)),
                    int(j.get("mod_revision", 0)), int(j.get("version", 0)),
                    _unb64(j.get("value")), int(j.get("lease", 0)))


def _kvs(js: list[_Json] | None) -> tuple[KeyValue, ...]:
    out = []
    for j in js or ():
        kv = _kv(j)
        assert kv is not None
        out.append(kv)
    return tuple(out)


def header_revision(j: _Json) -> int:
    """The revision in a gateway answer's header (0 when it has none)."""
    return int(j.get("header", {}).get("revision", 0))


def _compare_json(c: Compare) -> _Json:
    j: _Json = {"key": _b64(c.key), "target": c.target.value, "result": c.result.value}
    if c.range_end:
        j["range_end"] = _b64(c.range_end)
    if c.target is CompareTarget.VALUE:
        j["value"] = _b64(c.value if isinstance(c.value, bytes) else b"")
    else:
        field = {CompareTarget.VERSION: "version", CompareTarget.CREATE: "create_revision",
                 CompareTarget.MOD: "mod_revision", CompareTarget.LEASE: "lease"}[c.target]
        j[field] = str(c.value)
    return j


def op_json(op: RequestOp) -> _Json:
    """The gateway body of one request (also used inside txns)."""
    if isinstance(op, PutRequest):
        return {"key": _b64(op.key), "value": _b64(op.value), "lease": str(op.lease),
                "prev_kv": op.prev_kv, "ignore_value": op.ignore_value,
                "ignore_lease": op.ignore_lease}
    if isinstance(op, RangeRequest):
        return {"key": _b64(op.key), "range_end": _b64(op.range_end), "limit": str(op.limit),
                "revision": str(op.revision), "sort_order": op.sort_order.value,
                "sort_target": op.sort_target.value, "keys_only": op.keys_only,
                "count_only": op.count_only}
    if isinstance(op, DeleteRangeRequest):
        return {"key": _b64(op.key), "range_end": _b64(op.range_end), "prev_kv": op.prev_kv}
    return {"compare": [_compare_json(c) for c in op.compare],
            "success": [_wrap(o) for o in op.success],
            "failure": [_wrap(o) for o in op.failure]}


def _wrap(op: RequestOp) -> _Json:
    name = {PutRequest: "request_put", RangeRequest: "request_range",
            DeleteRangeRequest: "request_delete_range", TxnRequest: "request_txn"}[type(op)]
    return {name: op_json(op)}


def op_response(op: RequestOp, j: _Json) -> ResponseOp:
    """The store's response type for the gateway's answer ``j`` to ``op``."""
    rev = header_revision(j)
    if isinstance(op, PutRequest):
        return PutResponse(rev, _kv(j.get("prev_kv")))
    if isinstance(op, RangeRequest):
        return RangeResponse(rev, _kvs(j.get("kvs")), bool(j.get("more", False)),
                             int(j.get("count", 0)))
    if isinstance(op, DeleteRangeRequest):
        return DeleteRangeResponse(rev, int(j.get("deleted", 0)), _kvs(j.get("prev_kvs")))
    ok = bool(j.get("succeeded", False))
    branch = op.success if ok else op.failure
    subs = []
    for sub_op, sub in zip(branch, j.get("responses", []), strict=True):
        ((_, body),) = sub.items()
        subs.append(op_response(sub_op, body))
    return TxnResponse(rev, ok, tuple(subs))


def _event(j: _Json) -> Event:
    kv = _kv(j.get("kv"))
    assert kv is not None
    return Event("DELETE" if j.get("type") == "DELETE" else "PUT", kv, _kv(j.get("prev_kv")))


def watch_create(key: bytes, range_end: bytes = b"", *, start_revision: int = 0,
                 prev_kv: bool = False, filters: frozenset[WatchFilter] | None = None) -> _Json:
    """A watch's ``create_request``; ``filters`` None leaves the field out."""
    create: _Json = {"key": _b64(key), "range_end": _b64(range_end),
                     "start_revision": str(start_revision), "prev_kv": prev_kv}
    if filters is not None:
        create["filters"] = sorted(filters)
    return create


def watch_response(r: _Json, watch_id: int) -> WatchResponse:
    """The store's watch response for a stream message's ``result`` ``r``."""
    events = tuple(_event(e) for e in r.get("events", []))
    return WatchResponse(watch_id, header_revision(r), events, int(r.get("compact_revision", 0)),
                         bool(r.get("canceled", False)))


# --------------------------------------------------------------------- the client


class EtcdGateway:
    """Client of the etcd JSON gateway at ``endpoint`` (e.g. ``"http://127.0.0.1:2379"``)."""

    def __init__(self, endpoint: str, timeout: float = 10.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout

    def exchange(self, method: str, path: str, body: _Json | None = None
                 ) -> tuple[int, bytes]:
        """HTTP status and body of one request. :class:`Unreachable` if it could not be
        sent (the server never saw it); errors after that are raised as they are."""
        conn = dial(self.endpoint, self.timeout)
        try:
            try:
                _write(conn, method, path, body)
            except OSError as e:
                raise Unreachable(f"{self.endpoint}: {e}", e) from e
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def call(self, path: str, body: _Json) -> _Json:
        """POST ``body`` to ``/v3/<path>``; raise the store's error class on an etcd error."""
        out: _Json = json.loads(self.exchange("POST", f"/v3/{path}", body)[1])
        if "error" in out:
            msg = str(out.get("message") or out["error"])
            cls = _KNOWN.get(msg)
            raise cls() if cls is not None else EtcdError(msg, int(out.get("code", 2)))
        return out

    def apply(self, req: Request) -> Response:
        """Run one request against etcd and return the store's response type."""
        if isinstance(req, PutRequest | RangeRequest | DeleteRangeRequest | TxnRequest):
            path = {PutRequest: "kv/put", RangeRequest: "kv/range",
                    DeleteRangeRequest: "kv/deleterange", TxnRequest: "kv/txn"}[type(req)]
            return op_response(req, self.call(path, op_json(req)))
        if isinstance(req, CompactionRequest):
            j = self.call("kv/compaction", {"revision": str(req.revision), "physical": True})
            return CompactionResponse(header_revision(j))
        if isinstance(req, AlarmRequest):
            j = self.call("maintenance/alarm", {"action": req.action.value,
                                                "memberID": str(req.member_id),
                                                "alarm": req.alarm.value})
            return AlarmResponse(header_revision(j), tuple(
                AlarmMember(int(a.get("memberID", 0)), AlarmType(a.get("alarm", "NONE")))
                for a in j.get("alarms", [])))
        if isinstance(req, LeaseGrantRequest):
            j = self.call("lease/grant", {"TTL": str(req.ttl), "ID": str(req.id)})
            return LeaseGrantResponse(header_revision(j), int(j.get("ID", 0)),
                                      int(j.get("TTL", 0)))
        if isinstance(req, LeaseRevokeRequest):
            return LeaseRevokeResponse(header_revision(self.call("lease/revoke",
                                                                 {"ID": str(req.id)})))
        assert isinstance(req, DefragmentRequest)
        return DefragmentResponse(header_revision(self.call("maintenance/defragment", {})))

    def lease_grant(self, ttl: int, lease_id: int = 0) -> LeaseGrantResponse:
        """``/v3/lease/grant`` (``lease_id`` 0: the server picks one)."""
        r = self.apply(LeaseGrantRequest(ttl, lease_id))
        assert isinstance(r, LeaseGrantResponse)
        return r

    def lease_revoke(self, lease_id: int) -> LeaseRevokeResponse:
        """``/v3/lease/revoke``."""
        r = self.apply(LeaseRevokeRequest(lease_id))
        assert isinstance(r, LeaseRevokeResponse)
        return r

    def lease_keep_alive(self, lease_id: int) -> LeaseKeepAliveResponse:
        """One renewal through the ``/v3/lease/keepalive`` stream (TTL 0: no such lease)."""
        status, body = self.exchange("POST", "/v3/lease/keepalive", {"ID": str(lease_id)})
        j = json.loads(body.split(b"\n", 1)[0] or b"{}")
        if "error" in j or "result" not in j:
            raise EtcdError(str(j.get("message", f"keep-alive answered HTTP {status}")),
                            int(j.get("code", 2)))
        r = j["result"]
        return LeaseKeepAliveResponse(header_revision(r), int(r.get("ID", 0)),
                                      int(r.get("TTL", 0)))

    def lease_time_to_live(self, lease_id: int, keys: bool = False) -> LeaseTimeToLiveResponse:
        """``/v3/lease/timetolive`` (TTL -1: no such lease)."""
        j = self.call("lease/timetolive", {"ID": str(lease_id), "keys": keys})
        return LeaseTimeToLiveResponse(
            header_revision(j), int(j.get("ID", 0)), int(j.get("TTL", 0)),
            int(j.get("grantedTTL", 0)), tuple(_unb64(k) for k in j.get("keys", [])))

    def leases(self) -> LeaseLeasesResponse:
        """``/v3/lease/leases``, in the server's order."""
        j = self.call("lease/leases", {})
        return LeaseLeasesResponse(header_revision(j),
                                   tuple(int(x.get("ID", 0)) for x in j.get("leases", [])))

    def status(self) -> StatusResponse:
        """Revision and sizes (``/v3/maintenance/status``); ``compact_revision`` is unknown
        to the gateway's status and reported as -1."""
        j = self.call("maintenance/status", {})
        return StatusResponse(header_revision(j), -1, int(j.get("dbSize", 0)),
                              int(j.get("dbSizeInUse", 0)), -1)

    def watch_stream(self, create: _Json, timeout: float | None) -> WatchStream:
        """Open a watch stream for the ``create_request`` ``create``; its reads wait
        ``timeout`` seconds (None: for ever)."""
        u = urlsplit(self.endpoint)
        return WatchStream(http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port,
                                                      timeout=timeout), create)

    def watch(self, key: bytes, range_end: bytes = b"", *, start_revision: int = 0,
              prev_kv: bool = False, filters: frozenset[WatchFilter] = frozenset(),
              until_revision: int = 0, timeout: float = 5.0) -> list[WatchResponse]:
        """Open a watch stream, and collect its responses until one carries an event at
        ``until_revision`` or later, the watch is cancelled, or ``timeout`` seconds pass
        without a message. The creation notice is left out."""
        stream = self.watch_stream(watch_create(key, range_end, start_revision=start_revision,
                                                prev_kv=prev_kv, filters=filters), timeout)
        out: list[WatchResponse] = []
        try:
            while True:
                try:
                    msg = stream.next()
                except TimeoutError:
                    break
                if msg is None:
                    break
                r = msg.get("result", {})
                resp = watch_response(r, int(r.get("watch_id", 0)))
                if r.get("created") and not resp.events and not resp.canceled:
                    continue
                out.append(resp)
                if resp.canceled or (resp.events
                                     and resp.events[-1].kv.mod_revision >= until_revision):
                    break
        finally:
            stream.close()
        return out
