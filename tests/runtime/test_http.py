"""The member's HTTP server: idle clients can never take the descriptors a member needs."""

from __future__ import annotations

import base64
import json
import logging
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftlib.backends._ports import reserve_port
from raftlib.runtime._http import Reply, Request, Stream, serve_http
from raftlib.runtime._launch import MemberSpec, member_command

LOG = logging.getLogger("test-http")


async def _handler(req: Request) -> Reply | Stream:
    if req.path == "/stream":
        async def forever() -> AsyncIterator[bytes]:
            yield b"first\n"
            await trio.sleep_forever()
        return Stream(forever())
    return Reply(200, b"ok")


def _too_large(n: int) -> Reply:
    return Reply(413, b"too large")


async def _get(stream: trio.SocketStream, path: str = "/") -> bytes:
    await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return await stream.receive_some(4096)


def test_beyond_the_cap_the_longest_idle_connection_makes_room(
        caplog: pytest.LogCaptureFixture) -> None:
    port = reserve_port()

    async def main() -> None:
        async with trio.open_nursery() as n:
            await n.start(lambda task_status: serve_http(
                "127.0.0.1", port, _handler, _too_large, 1024, LOG, max_connections=3,
                task_status=task_status))
            idle = []
            for _ in range(3):
                s = await trio.open_tcp_stream("127.0.0.1", port)
                assert (await _get(s)).endswith(b"ok")
                idle.append(s)
            newcomer = await trio.open_tcp_stream("127.0.0.1", port)
            assert (await _get(newcomer)).endswith(b"ok")
            with trio.fail_after(5):
                assert await idle[0].receive_some(10) == b""  # the oldest idle was closed
            assert (await _get(idle[1])).endswith(b"ok")  # the others still work
            # Three connections busy streaming: none is idle, so a newcomer is refused.
            for s in (*idle[1:], newcomer):
                await s.aclose()
            busy = []
            for _ in range(3):
                s = await trio.open_tcp_stream("127.0.0.1", port)
                got = await _get(s, "/stream")
                while b"first" not in got:
                    got += await s.receive_some(4096)
                busy.append(s)
            late = await trio.open_tcp_stream("127.0.0.1", port)
            assert (await _get(late)).startswith(b"HTTP/1.1 503")
            n.cancel_scope.cancel()

    with caplog.at_level(logging.WARNING, logger=LOG.name):
        trio.run(main)
    assert sum("connection cap of 3 reached" in r.getMessage() for r in caplog.records) >= 1


def test_a_member_out_of_descriptors_keeps_serving(tmp_path: Path) -> None:
    """With the common limit of open files and more idle clients than it allows, the next
    write is served and the member stays up (it used to exit with EMFILE)."""
    peer, client = reserve_port(), reserve_port()
    spec = MemberSpec(1, str(tmp_path / "data"), {1: ("127.0.0.1", peer)},
                      ("127.0.0.1", client), "t", heartbeat_ms=50, election_ms=500)
    log = open(tmp_path / "member.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(["prlimit", "--nofile=256:256", *member_command(spec)],
                            stdout=log, stderr=subprocess.STDOUT)
    clients: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 20
        while not _healthy(client):
            assert proc.poll() is None and time.monotonic() < deadline, (
                tmp_path / "member.log").read_text()
            time.sleep(0.05)
        for _ in range(400):  # far more than 256 descriptors' worth of idle clients
            s = socket.create_connection(("127.0.0.1", client), timeout=5)
            clients.append(s)
        for i in range(5):
            body = b'{"key": "a2V5", "value": "%s"}' % base64.b64encode(b"v%d" % i)
            assert b'"revision"' in _http(client, "POST", "/v3/kv/put", body)
        assert proc.poll() is None
        assert "connection cap of 128 reached" in (tmp_path / "member.log").read_text()
    finally:
        for s in clients:
            s.close()
        proc.kill()
        proc.wait()
        log.close()


def _healthy(port: int) -> bool:
    try:
        return b'"health":"true"' in _http(port, "GET", "/health")
    except OSError:
        return False


def _http(port: int, method: str, path: str, body: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                  "Connection: close\r\n\r\n".encode() + body)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out



# ------------------------------------------------------------------ raw requests, as etcd

DEEP_ARRAY = b'{"key":' + b"[" * 1000 + b"]" * 1000 + b"}"
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000


def _raw(body: bytes, *, host: bool = True, length: bytes | None = None,
         chunked: bytes | None = None) -> bytes:
    head = b"POST /v3/kv/range HTTP/1.1\r\n" + (b"Host: x\r\n" if host else b"")
    if chunked is not None:
        head += b"Transfer-Encoding: " + chunked + b"\r\n"
    else:
        head += b"Content-Length: " + (length or str(len(body)).encode()) + b"\r\n"
    return head + b"Connection: close\r\n\r\n" + body


RAW = {
    "invalid UTF-8 (a lone surrogate)": _raw(b'{"key": "\xed\xa0\x80"}'),
    "an escaped lone surrogate": _raw(b'{"key": "\\ud800"}'),
    "arrays nested 1,000 deep": _raw(DEEP_ARRAY),
    "objects nested 1,000 deep": _raw(DEEP_OBJECT),
    "a Content-Length in Arabic digits": _raw(b"{}", length="١٢".encode()),
    "a chunk size of 0x2": _raw(b"0x2\r\n{}\r\n0\r\n\r\n", chunked=b"chunked"),
    "chunked named inside another coding": _raw(b"2\r\n{}\r\n0\r\n\r\n", chunked=b"xchunkedx"),
    "no Host": _raw(b'{"key": "YQ=="}', host=False),
}


def _answer(port: int, raw: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.") else 0
    if b"transfer-encoding: chunked" in head.lower():  # etcd's gateway chunks its errors
        body = body.split(b"\r\n", 1)[1].rsplit(b"\r\n0\r\n", 1)[0]
    return status, body


@pytest.mark.etcd
def test_every_odd_request_gets_the_answer_etcd_gives() -> None:
    """These once got no answer at all (a traceback in the log), or were accepted where
    etcd's gateway refuses them."""
    from raftlib.backends import EtcdCluster, RaftlibCluster

    with EtcdCluster(1) as etcd, RaftlibCluster(1) as ours:
        ports = [int(c.endpoint(1).rsplit(":", 1)[1]) for c in (etcd, ours)]
        for what, raw in RAW.items():
            theirs, mine = (_answer(p, raw) for p in ports)
            assert mine[0] == theirs[0], (what, theirs, mine)
            if theirs[1].startswith(b"{"):  # a gateway error: the same JSON
                assert json.loads(mine[1]) == json.loads(theirs[1]), (what, theirs, mine)
        assert ours.client(1).put(b"k", b"v") is not None  # and the member is fine


# ------------------------------------------------------------------------ fuzzing

_PATHS = ["/v3/kv/put", "/v3/kv/range", "/v3/kv/deleterange", "/v3/kv/txn",
          "/v3/kv/compaction", "/v3/maintenance/status", "/v3/maintenance/alarm",
          "/v3/cluster/member/list", "/v3/lease/grant", "/health", "/nowhere"]
_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20) | st.sampled_from(["YQ==", "a2V5", "", "*", "\ud800"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["key", "value", "range_end", "revision", "limit",
                                       "compare", "success", "failure", "request_put",
                                       "target", "result", "sort_order", "ID", "TTL"]),
                      inner, max_size=5),
    max_leaves=20)


def _body(doc: object, raw: bytes, shape: str, depth: int) -> bytes:
    """A body from a JSON document, made odd in one way: raw bytes inside a string (invalid
    UTF-8 among them) or after the document, or the document nested ``depth`` deep."""
    text = json.dumps(doc).encode()
    if shape == "raw string":
        return b'{"key": "' + raw + b'", "value": "YQ=="}'
    if shape == "deep":
        return b'{"key": ' + b"[" * depth + text + b"]" * depth + b"}"
    return text + raw


@pytest.fixture(scope="module")
def member() -> Iterator[int]:
    from raftlib.backends import RaftlibCluster

    with RaftlibCluster(1) as c:
        yield int(c.endpoint(1).rsplit(":", 1)[1])


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["POST", "GET", "PUT", "DELETE"]), path=st.sampled_from(_PATHS),
       doc=_JSONISH, raw=st.binary(max_size=8),
       shape=st.sampled_from(["plain", "raw string", "deep"]), depth=st.integers(0, 3000),
       chunked=st.booleans())
def test_any_whole_request_gets_an_etcd_shaped_answer(
        member: int, method: str, path: str, doc: object, raw: bytes, shape: str, depth: int,
        chunked: bool) -> None:
    """Whatever the body, a complete request gets a status and no server error; the member
    stays up. (An unanswered request, a 500 or a dead member fails here.)"""
    body = _body(doc, raw, shape, depth)
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode()
    if chunked:
        request = head + b"Transfer-Encoding: chunked\r\n\r\n" + (
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n")
    else:
        request = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    status, _ = _answer(member, request)
    assert status in {200, 400, 404, 405, 412, 413, 429, 503}, (status, request[:300])
