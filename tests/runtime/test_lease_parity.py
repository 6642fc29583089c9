"""Leases over etcd's JSON gateway, compared field by field between a real 3-member etcd 3.4
and a 3-member raftlib cluster, both started by the test with etcd's default timing (so both
have a minimum TTL of 2 s): grant, revoke, keep-alive, time-to-live, the list, a put naming an
unknown lease, and keys deleted in one revision when their lease expires, seen by a watcher
as deletes. Requests go to a follower too (keep-alive and time-to-live are the leader's)."""

from __future__ import annotations

import base64
import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from raftlib.backends import ProcessCluster
from tests.runtime.test_parity import cluster

__all__ = ["cluster"]  # the fixture: a 3-member etcd, then a 3-member raftlib cluster


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def _call(endpoint: str, path: str, body: object) -> tuple[int, Any]:
    url = urlsplit(endpoint)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=15)
    try:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn.request("POST", path, raw, {"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
    finally:
        conn.close()
    lines = [json.loads(x) for x in data.splitlines() if x.strip()]
    return r.status, lines if path.endswith("keepalive") else lines[0]


def _masked(j: Any) -> Any:
    """The answer without the ids of cluster and member, which differ between engines."""
    if isinstance(j, list | tuple):
        return type(j)(_masked(x) for x in j)
    if isinstance(j, dict):
        return {k: _masked(v) for k, v in j.items() if k not in ("cluster_id", "member_id")}
    return j


def _ends(c: ProcessCluster) -> tuple[str, str]:
    lead = c.leader()
    assert lead is not None
    follower = min(m for m in c.members if m != lead)
    return c.endpoint(lead), c.endpoint(follower)


def _rev(j: dict[str, Any]) -> int:
    return int(j["header"]["revision"])


def test_grant_revoke_keepalive_timetolive_and_leases(cluster: ProcessCluster) -> None:
    lead, follower = _ends(cluster)
    rev = _rev(_call(lead, "/v3/kv/range", {"key": _b64("x")})[1])
    term = _call(lead, "/v3/kv/range", {"key": _b64("x")})[1]["header"]["raft_term"]
    hdr = {"revision": str(rev), "raft_term": term}
    # A TTL below the minimum is raised to it (2 s with 100 ms heartbeats, 10 ticks).
    assert _masked(_call(follower, "/v3/lease/grant", {"TTL": 1, "ID": 7001})) == (
        200, {"header": hdr, "ID": "7001", "TTL": "2"})
    assert _masked(_call(lead, "/v3/lease/grant", {"TTL": 60, "ID": 7002})) == (
        200, {"header": hdr, "ID": "7002", "TTL": "60"})
    err = "etcdserver: lease already exists"
    assert _call(lead, "/v3/lease/grant", {"TTL": 60, "ID": 7002}) == (
        412, {"error": err, "message": err, "code": 9})
    err = "etcdserver: too large lease TTL"
    assert _call(lead, "/v3/lease/grant", {"TTL": 9000000001, "ID": 7003}) == (
        400, {"error": err, "message": err, "code": 11})
    status, j = _call(lead, "/v3/lease/grant", {"TTL": 60})  # the server picks the id
    assert status == 200 and int(j["ID"]) > 0 and j["TTL"] == "60"
    picked = j["ID"]
    # A put or a txn naming an unknown lease is refused; with a known one it attaches.
    err = "etcdserver: requested lease not found"
    notfound = (404, {"error": err, "message": err, "code": 5})
    assert _call(lead, "/v3/kv/put", {"key": _b64("a"), "lease": "7999"}) == notfound
    assert _call(lead, "/v3/kv/txn", {"success": [
        {"request_put": {"key": _b64("a"), "lease": "7999"}}]}) == notfound
    for k in ("l/b", "l/a"):
        assert _call(follower, "/v3/kv/put", {"key": _b64(k), "lease": "7002"})[0] == 200
    _call(lead, "/v3/kv/put", {"key": _b64("l/c"), "lease": "7002"})
    _call(lead, "/v3/kv/put", {"key": _b64("l/c")})  # a put without the lease detaches it
    rev += 4
    hdr = {"revision": str(rev), "raft_term": term}
    for end in (lead, follower):
        status, j = _call(end, "/v3/lease/timetolive", {"ID": 7002, "keys": True})
        assert status == 200 and j["TTL"] in ("59", "60")
        # etcd lists the keys in its map's order (random); raftlib sorts them.
        assert sorted(j.pop("keys")) == [_b64("l/a"), _b64("l/b")]
        assert _masked(j) == {"header": hdr, "ID": "7002", "TTL": j["TTL"], "grantedTTL": "60"}
        assert _masked(_call(end, "/v3/kv/lease/timetolive", {"ID": 7002}))[1].keys() == {
            "header", "ID", "TTL", "grantedTTL"}
        assert _masked(_call(end, "/v3/lease/timetolive", {"ID": 7999})) == (
            200, {"header": hdr, "ID": "7999", "TTL": "-1"})
        # Keep-alive is a stream: one result line per request object in the body.
        status, lines = _call(end, "/v3/lease/keepalive", b'{"ID": 7002} {"ID": 7999}')
        assert (status, _masked(lines)) == (200, [
            {"result": {"header": hdr, "ID": "7002", "TTL": "60"}},
            {"result": {"header": hdr, "ID": "7999"}}])
        for path in ("/v3/lease/leases", "/v3/kv/lease/leases"):
            status, j = _call(end, path, {})
            assert status == 200 and _masked(j)["header"] == hdr
            assert sorted(x["ID"] for x in j["leases"]) == sorted(["7001", "7002", picked])
    bad = "invalid character 'x' looking for beginning of value"
    assert _call(lead, "/v3/lease/keepalive", b'{"ID": x}') == (
        500, [{"error": bad, "message": bad, "code": 2}])
    # A revoke deletes the lease's keys in one revision; a second revoke finds nothing.
    assert _masked(_call(follower, "/v3/lease/revoke", {"ID": 7002})) == (
        200, {"header": {"revision": str(rev + 1), "raft_term": term}})
    assert _call(lead, "/v3/kv/lease/revoke", {"ID": 7002}) == notfound
    assert _call(lead, "/v3/kv/range", {"key": _b64("l/"), "range_end": _b64("l0"),
                                        "keys_only": True})[1]["kvs"] == [
        {"key": _b64("l/c"), "create_revision": str(rev - 1), "mod_revision": str(rev),
         "version": "2"}]
    for lid in (7001, int(picked)):
        assert _call(lead, "/v3/lease/revoke", {"ID": lid})[0] == 200


def test_keys_of_an_expired_lease_go_in_one_revision_and_watchers_see_deletes(
        cluster: ProcessCluster) -> None:
    lead, follower = _ends(cluster)
    assert _call(lead, "/v3/lease/grant", {"TTL": 2, "ID": 7100})[0] == 200
    for k in ("e/2", "e/1", "e/3"):
        _call(follower, "/v3/kv/put", {"key": _b64(k), "value": _b64("v"), "lease": "7100"})
    start = _rev(_call(lead, "/v3/kv/range", {"key": _b64("e/")})[1]) + 1
    url = urlsplit(follower)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=15)
    conn.request("POST", "/v3/watch", json.dumps({"create_request": {
        "key": _b64("e/"), "range_end": _b64("e0"), "start_revision": str(start),
        "prev_kv": True}}).encode())
    r = conn.getresponse()
    try:
        created = json.loads(r.readline())["result"]
        assert created.get("created") is True
        # The leader finds the lease expired (2 s, checked every 500 ms) and revokes it.
        got = json.loads(r.readline())["result"]
    finally:
        conn.close()
    events = got["events"]
    assert [e["type"] for e in events] == ["DELETE"] * 3
    assert [e["kv"] for e in events] == [
        {"key": _b64(k), "mod_revision": str(start)} for k in ("e/1", "e/2", "e/3")]
    assert all(e["prev_kv"]["lease"] == "7100" for e in events)
    assert _rev(got) == start
    for end in (lead, follower):
        assert _call(end, "/v3/lease/timetolive", {"ID": 7100})[1]["TTL"] == "-1"
        assert "kvs" not in _call(end, "/v3/kv/range", {"key": _b64("e/"),
                                                       "range_end": _b64("e0")})[1]


def test_etcd3gw_leases_and_locks_work_as_on_etcd(cluster: ProcessCluster) -> None:
    import etcd3gw
    from etcd3gw.lease import Lease

    url = urlsplit(_ends(cluster)[1])  # a follower
    client = etcd3gw.client(host=url.hostname, port=url.port)
    lease = client.lease(ttl=30)
    assert lease.id > 0
    assert client.put("gw/leased", "v", lease=lease)
    assert client.get("gw/leased", metadata=True)[0][1]["lease"] == str(lease.id)
    assert lease.ttl() in (29, 30)
    assert lease.keys() == [b"gw/leased"]
    assert lease.refresh() == 30
    lock = client.lock("gw-lock", ttl=30)
    assert lock.acquire() and lock.is_acquired()
    assert not client.lock("gw-lock", ttl=30).acquire()  # held
    assert lock.refresh() == 30
    assert lock.release() and not lock.is_acquired()
    assert lease.revoke()
    assert client.get("gw/leased") == []
    gone = Lease(lease.id, client)
    assert gone.ttl() == -1 and gone.refresh() == -1 and gone.keys() == []
    with pytest.raises(etcd3gw.exceptions.Etcd3Exception, match=r"^Not Found$"):
        client.put("gw/leased", "v", lease=gone)
    # A lock whose holder stops refreshing is freed when its lease expires.
    held = client.lock("gw-crash", ttl=2)
    assert held.acquire()
    deadline = time.monotonic() + 10
    while held.is_acquired() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not held.is_acquired() and client.lock("gw-crash", ttl=2).acquire()


def _go_error(message: str) -> tuple[int, dict[str, Any]]:
    return 400, {"error": message, "message": message, "code": 3}


@pytest.mark.parametrize(("path", "body", "answer"), [
    ("/v3/lease/grant", b'{"TTL":"x"}',
     _go_error("invalid character 'x' looking for beginning of value")),
    ("/v3/lease/grant", b'{"TTL":1.5}',
     _go_error("json: cannot unmarshal number 1.5 into Go value of type int64")),
    ("/v3/lease/grant", b'{"TTL":"9223372036854775808"}', _go_error(
        "json: cannot unmarshal number 9223372036854775808 into Go value of type int64")),
    ("/v3/lease/timetolive", b'{"ID":true}',
     _go_error("json: cannot unmarshal bool into Go value of type int64")),
    ("/v3/lease/timetolive", b'{"ID":1,"keys":"yes"}',
     _go_error("json: cannot unmarshal string into Go value of type bool")),
    ("/v3/lease/revoke", b'{"ID":[1]}',
     _go_error("json: cannot unmarshal array into Go value of type int64")),
    ("/v3/lease/leases", b"nope",
     _go_error("invalid character 'o' in literal null (expecting 'u')")),
])
def test_bad_lease_bodies_are_refused_as_etcd_refuses_them(
        cluster: ProcessCluster, path: str, body: bytes, answer: object) -> None:
    assert _call(cluster.endpoint(cluster.members[0]), path, body) == answer


def test_a_keepalive_without_an_id_answers_a_bare_header(cluster: ProcessCluster) -> None:
    status, lines = _call(_ends(cluster)[0], "/v3/lease/keepalive", b"{}")
    assert status == 200 and [list(x["result"]) for x in lines] == [["header"]]


def test_keep_alive_and_time_to_live_through_a_follower_reach_the_leader(
        cluster: ProcessCluster) -> None:
    lead, follower = _ends(cluster)
    assert _call(lead, "/v3/lease/grant", {"TTL": 3, "ID": 7200})[0] == 200
    _call(lead, "/v3/kv/put", {"key": _b64("f/k"), "lease": "7200"})
    time.sleep(1.2)
    # Counting down at the leader: a follower's own lessor never expires anything.
    assert int(_call(follower, "/v3/lease/timetolive", {"ID": 7200})[1]["TTL"]) in (0, 1, 2)
    for _ in range(8):  # 4 s of renewals through the follower, past the TTL
        status, lines = _call(follower, "/v3/lease/keepalive", {"ID": 7200})
        assert status == 200 and lines[0]["result"]["TTL"] == "3"
        time.sleep(0.5)
    assert "kvs" in _call(lead, "/v3/kv/range", {"key": _b64("f/k")})[1]
    assert _call(lead, "/v3/lease/revoke", {"ID": 7200})[0] == 200
