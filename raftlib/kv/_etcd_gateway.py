"""A small client for a real etcd's v3 JSON gateway (``POST /v3/kv/put`` and friends).

It speaks the same request and response types as :class:`raftlib.kv.MVCCStore`, so the same
operations can be run against both and compared field by field; etcd's errors are raised as
the store's exception classes when the message is one the store knows. Standard library only
(``urllib`` and ``http.client``): keys and values travel base64-encoded, int64s as strings.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

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

__all__ = ["EtcdError", "EtcdGateway"]

_Json = dict[str, Any]
_KNOWN: dict[str, type[KVError]] = {
    cls.message: cls
    for cls in (ErrCompacted, ErrDuplicateKey, ErrEmptyKey, ErrFutureRev, ErrKeyNotFound,
                ErrLeaseProvided, ErrNoSpace, ErrTooManyOps, ErrValueProvided)
}


class EtcdError(KVError):
    """An etcd error the store has no class for; ``message`` and ``code`` are etcd's."""

    def __init__(self, message: str, code: int) -> None:
        self.message = message
        self.code = code
        super().__init__()


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


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


def _rev(j: _Json) -> int:
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


def _op_json(op: RequestOp) -> _Json:
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
    return {name: _op_json(op)}


def _response(op: RequestOp, j: _Json) -> ResponseOp:
    if isinstance(op, PutRequest):
        return PutResponse(_rev(j), _kv(j.get("prev_kv")))
    if isinstance(op, RangeRequest):
        return RangeResponse(_rev(j), _kvs(j.get("kvs")), bool(j.get("more", False)),
                             int(j.get("count", 0)))
    if isinstance(op, DeleteRangeRequest):
        return DeleteRangeResponse(_rev(j), int(j.get("deleted", 0)), _kvs(j.get("prev_kvs")))
    ok = bool(j.get("succeeded", False))
    branch = op.success if ok else op.failure
    subs = []
    for sub_op, sub in zip(branch, j.get("responses", []), strict=True):
        ((_, body),) = sub.items()
        subs.append(_response(sub_op, body))
    return TxnResponse(_rev(j), ok, tuple(subs))


def _event(j: _Json) -> Event:
    kv = _kv(j.get("kv"))
    assert kv is not None
    return Event("DELETE" if j.get("type") == "DELETE" else "PUT", kv, _kv(j.get("prev_kv")))


class EtcdGateway:
    """Client of the etcd JSON gateway at ``endpoint`` (e.g. ``"http://127.0.0.1:2379"``)."""

    def __init__(self, endpoint: str, timeout: float = 10.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout

    def call(self, path: str, body: _Json) -> _Json:
        """POST ``body`` to ``/v3/<path>``; raise the store's error class on an etcd error."""
        req = urllib.request.Request(f"{self.endpoint}/v3/{path}", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                out: _Json = json.loads(r.read())
        except urllib.error.HTTPError as e:
            out = json.loads(e.read())
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
            return _response(req, self.call(path, _op_json(req)))
        if isinstance(req, CompactionRequest):
            j = self.call("kv/compaction", {"revision": str(req.revision), "physical": True})
            return CompactionResponse(_rev(j))
        if isinstance(req, AlarmRequest):
            j = self.call("maintenance/alarm", {"action": req.action.value,
                                                "memberID": str(req.member_id),
                                                "alarm": req.alarm.value})
            return AlarmResponse(_rev(j), tuple(
                AlarmMember(int(a.get("memberID", 0)), AlarmType(a.get("alarm", "NONE")))
                for a in j.get("alarms", [])))
        assert isinstance(req, DefragmentRequest)
        return DefragmentResponse(_rev(self.call("maintenance/defragment", {})))

    def status(self) -> StatusResponse:
        """Revision and sizes (``/v3/maintenance/status``); ``compact_revision`` is unknown
        to the gateway's status and reported as -1."""
        j = self.call("maintenance/status", {})
        return StatusResponse(_rev(j), -1, int(j.get("dbSize", 0)), int(j.get("dbSizeInUse", 0)),
                              -1)

    def watch(self, key: bytes, range_end: bytes = b"", *, start_revision: int = 0,
              prev_kv: bool = False, filters: frozenset[WatchFilter] = frozenset(),
              until_revision: int = 0, timeout: float = 5.0) -> list[WatchResponse]:
        """Open a watch stream, and collect its responses until one carries an event at
        ``until_revision`` or later, the watch is cancelled, or ``timeout`` seconds pass
        without a message. The creation notice is left out."""
        url = urlsplit(self.endpoint)
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=timeout)
        create: _Json = {"key": _b64(key), "range_end": _b64(range_end),
                         "start_revision": str(start_revision), "prev_kv": prev_kv,
                         "filters": sorted(filters)}
        out: list[WatchResponse] = []
        try:
            conn.request("POST", "/v3/watch", json.dumps({"create_request": create}),
                         {"Content-Type": "application/json"})
            resp = conn.getresponse()
            while True:
                try:
                    line = resp.readline()
                except TimeoutError:
                    break
                if not line:
                    break
                r = json.loads(line).get("result", {})
                evs = tuple(_event(e) for e in r.get("events", []))
                canceled = bool(r.get("canceled", False))
                if r.get("created") and not evs and not canceled:
                    continue
                out.append(WatchResponse(int(r.get("watch_id", 0)), _rev(r), evs,
                                         int(r.get("compact_revision", 0)), canceled))
                if canceled or (evs and evs[-1].kv.mod_revision >= until_revision):
                    break
        finally:
            conn.close()
        return out
