"""etcd 3.4's lease calls in its JSON gateway, server side: ``/v3/lease/grant``,
``/v3/lease/revoke``, ``/v3/lease/keepalive`` (a stream: one ``{"result": ...}`` line per
request object in the body), ``/v3/lease/timetolive``, ``/v3/lease/leases``, and the
``/v3/kv/lease/...`` aliases etcd serves for revoke, time-to-live and leases.

Shapes as grpc-gateway renders them (compared with etcd 3.4.23 by
``tests/runtime/test_lease_parity.py``): ``ID`` and ``TTL`` as int64 strings, zeros left out,
so an unknown lease's keep-alive answer has no ``TTL`` and its time-to-live ``"TTL": "-1"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from raftlib.gateway._gojson import (
    GatewayError,
    _b64,
    _bool,
    _Eof,
    _int,
    _message,
    _Parser,
    _Syntax,
)
from raftlib.gateway._server import Header, _header, _top
from raftlib.kv._types import (
    LeaseGrantRequest,
    LeaseKeepAliveResponse,
    LeaseLeasesResponse,
    LeaseRevokeRequest,
    LeaseTimeToLiveResponse,
)

_Json = dict[str, Any]

#: Every lease path under ``/v3/``, and the call it names.
LEASE_PATHS = {"lease/grant": "grant", "lease/revoke": "revoke", "kv/lease/revoke": "revoke",
               "lease/timetolive": "timetolive", "kv/lease/timetolive": "timetolive",
               "lease/leases": "leases", "kv/lease/leases": "leases",
               "lease/keepalive": "keepalive"}


@dataclass(frozen=True, slots=True)
class LeaseQuery:
    """A time-to-live request (``keys``: list the attached keys), or a leases list
    (``lease_id`` None)."""

    lease_id: int | None
    keys: bool = False


def parse_lease(call: str, body: bytes) -> LeaseGrantRequest | LeaseRevokeRequest | LeaseQuery:
    """The request of a unary lease call (``call`` as in :data:`LEASE_PATHS`)."""
    m = _top(body)
    if call == "grant":
        ttl = _int(m, "TTL")
        return LeaseGrantRequest(ttl, _int(m, "ID"))
    if call == "revoke":
        return LeaseRevokeRequest(_int(m, "ID"))
    if call == "timetolive":
        lid = _int(m, "ID")
        return LeaseQuery(lid, _bool(m, "keys"))
    return LeaseQuery(None)


def parse_keepalive_stream(body: bytes) -> list[int]:
    """The lease ids of a ``/v3/lease/keepalive`` body, a stream of JSON objects. A bad first
    object fails the call (HTTP 500, code 2, as any gateway stream); a bad later one ends the
    stream, what came before it answered."""
    p = _Parser(body)
    out: list[int] = []
    while True:
        try:
            p.peek()
            lid = _int(_message(p.value()), "ID")
        except _Eof:
            return out
        except (_Syntax, GatewayError) as e:
            if not out:
                raise GatewayError(500, 2, str(e)) from None
            return out
        out.append(lid)


def _with(out: _Json, **fields: int) -> _Json:
    for name, value in fields.items():
        if value:
            out[name] = str(value)
    return out


def render_keepalive(resp: LeaseKeepAliveResponse, header: Header) -> _Json:
    """One line of a keep-alive stream (``header.revision`` is not used: the response's)."""
    return {"result": _with({"header": _header(header, resp.header_revision)},
                            ID=resp.id, TTL=resp.ttl)}


def render_lease_ttl(resp: LeaseTimeToLiveResponse, header: Header) -> _Json:
    """``/v3/lease/timetolive``'s answer."""
    out = _with({"header": _header(header, resp.header_revision)}, ID=resp.id, TTL=resp.ttl,
                grantedTTL=resp.granted_ttl)
    if resp.keys:
        out["keys"] = [_b64(k) for k in resp.keys]
    return out


def render_lease_leases(resp: LeaseLeasesResponse, header: Header) -> _Json:
    """``/v3/lease/leases``'s answer."""
    out: _Json = {"header": _header(header, resp.header_revision)}
    if resp.leases:
        out["leases"] = [_with({}, ID=lid) for lid in resp.leases]
    return out
