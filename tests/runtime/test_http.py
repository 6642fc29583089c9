"""The member's HTTP server: idle clients can never take the descriptors a member needs."""

from __future__ import annotations

import base64
import logging
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

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

