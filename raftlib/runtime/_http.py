"""A small HTTP/1.1 server on trio: keep-alive, bounded requests, streamed responses.

The member gives it one handler; a handler returns either a complete :class:`Reply` or a
:class:`Stream` whose chunks are sent as they come (etcd's watch answers this way). Request
heads over 64 KiB and bodies over ``max_body`` are refused before they are read, so a client
cannot make the member buffer without bound. Bodies come with ``Content-Length`` or chunked;
``Expect: 100-continue`` is answered (curl asks for it before large bodies).

Open connections are capped (by default a little below the process's file limit): beyond the
cap the connection idle longest is closed to make room, since a keep-alive client reconnects
when it needs to, and when none is idle the newcomer gets a 503. So idle clients cannot take
every descriptor the member needs for its log, its store and its peers.

Requests are parsed by httptools (Node's llhttp): strict about what it accepts (chunk sizes,
Content-Length, Transfer-Encoding), and faster than a parser in Python, which matters because a
write costs the member a request parse and a reply on the leader. An HTTP/1.1 request without
Host is refused with 400, as Go's net/http (etcd's gateway) refuses it.
"""

from __future__ import annotations

import http
import json
import logging
import resource
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httptools
import trio

from ._stages import Stages, clock

__all__ = ["Reply", "Request", "Stream", "default_connection_cap", "serve_http"]


@dataclass(frozen=True, slots=True)
class Request:
    """One request: method, path (query string removed) and body."""

    method: str
    path: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete response."""

    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass(slots=True)
class Stream:
    """A response sent chunk by chunk (no Content-Length) until ``chunks`` ends."""

    chunks: AsyncIterator[bytes]
    status: int = 200
    content_type: str = "application/json"


Handler = Callable[[Request], Awaitable[Reply | Stream]]
TooLarge = Callable[[int], Reply]


MAX_HEAD = 64 * 1024


# Descriptors kept back from clients: the log, the store's files, peers, health checks.
_RESERVED_FDS = 128
_BUSY = Reply(503, b"too many client connections\n", "text/plain; charset=utf-8")


def default_connection_cap() -> int:
    """How many client connections a member keeps open: its file limit less a reserve."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    return max(16, soft - _RESERVED_FDS)


class _Connections:
    """The open client connections; those waiting for a request are kept oldest first."""

    def __init__(self, cap: int, log: logging.Logger) -> None:
        self.cap = cap
        self.log = log
        self.open = 0
        self.idle: dict[_Connection, None] = {}
        self.refusing = False

    def make_room(self) -> bool:
        """Close the longest-idle connection if the cap is reached; False if none can go."""
        if self.open < self.cap:
            self.refusing = False
            return True
        if not self.refusing:
            self.log.warning("client connection cap of %d reached: closing idle connections, "
                             "refusing new ones while none is idle (raise --max-connections "
                             "or the file limit)", self.cap)
            self.refusing = True
        for oldest in self.idle:
            del self.idle[oldest]
            oldest.scope.cancel()
            return True
        return False


async def serve_http(host: str, port: int, handler: Handler, too_large: TooLarge,
                     max_body: int, log: logging.Logger, *, max_connections: int = 0,
                     stages: Stages | None = None,
                     task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``handler`` on ``host:port`` until cancelled, with at most ``max_connections``
    client connections open (0: :func:`default_connection_cap`); ``stages``, when given, is
    told when each request was received and when its reply was sent."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    conns = _Connections(max_connections or default_connection_cap(), log)
    task_status.started()

    async def connection(stream: trio.SocketStream) -> None:
        try:
            async with stream:
                conn = _Connection(stream, handler, too_large, max_body, conns, stages)
                if not conns.make_room():
                    await conn._send(_BUSY, close=True)
                    return
                conns.open += 1
                try:
                    with conn.scope:
                        await conn.serve()
                finally:
                    conns.open -= 1
                    conns.idle.pop(conn, None)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
            log.debug("client connection closed: %s", e)
        except Exception:  # one bad request must never stop the member
            log.exception("client connection failed")

    await trio.serve_listeners(connection, listeners)


def _bad(e: Exception) -> Reply:
    reason = str(e).split(":", 1)[-1].strip() or "malformed request"
    if "Transfer-Encoding" in reason:  # Go's net/http: only chunked is implemented
        return Reply(501, b"Unsupported transfer encoding\n", "text/plain; charset=utf-8")
    if "chunk" in reason:  # Go reads the head fine; the gateway fails reading the body
        message = "invalid byte in chunk length"
        body = json.dumps({"error": message, "message": message, "code": 3})
        return Reply(400, body.encode())
    return Reply(400, f"400 Bad Request: {reason}\n".encode(), "text/plain; charset=utf-8")


_FAILED = Reply(500, b"internal server error\n", "text/plain; charset=utf-8")


def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Parsed:
    """httptools' callbacks: the requests of one connection as they complete."""

    def __init__(self, max_body: int, too_large: TooLarge) -> None:
        self.max_body = max_body
        self.too_large = too_large
        self.ready: list[tuple[Request, bool]] = []
        self.head_bytes = 0  # bytes received since the current request's head began
        self.in_head = False
        self.in_body = False
        self.continue_wanted = False
        self.parser = httptools.HttpRequestParser(self)
        self._reset()

    def _reset(self) -> None:
        self.refusal: Reply | None = None  # the answer that ends the connection
        self.url = bytearray()
        self.host = False
        self.length: int | None = None
        self.body = bytearray()
        self.expect = False

    def on_message_begin(self) -> None:
        self._reset()
        self.in_head = True

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"host":
            self.host = True
        elif name == b"expect" and value.lower() == b"100-continue":
            self.expect = True
        elif name == b"content-length":
            self.length = int(value)  # llhttp has checked it is digits

    # httptools turns an exception in a callback into a bare "User callback error": a
    # callback records its refusal instead, and serve() acts on it.
    def on_headers_complete(self) -> None:
        self.in_head, self.in_body, self.head_bytes = False, True, 0
        if self.parser.get_http_version() == "1.1" and not self.host:
            self.refusal = Reply(400, b"400 Bad Request: missing required Host header\n",
                                 "text/plain; charset=utf-8")  # as Go's net/http
        elif self.length is not None and self.length > self.max_body:
            self.refusal = self.too_large(self.length)
        self.continue_wanted = self.expect and self.refusal is None

    def on_body(self, body: bytes) -> None:
        if self.refusal is None:
            self.body += body
            if len(self.body) > self.max_body:
                self.refusal = self.too_large(len(self.body))

    def on_message_complete(self) -> None:
        if self.refusal is not None:
            return
        path = bytes(self.url).split(b"?", 1)[0].decode("latin-1")
        method = self.parser.get_method().decode("latin-1")
        self.ready.append((Request(method, path, bytes(self.body)),
                           self.parser.should_keep_alive()))
        self.in_body = self.continue_wanted = False


class _Connection:
    def __init__(self, stream: trio.SocketStream, handler: Handler, too_large: TooLarge,
                 max_body: int, conns: _Connections, stages: Stages | None) -> None:
        self.stream = stream
        self.stages = stages
        self.handler = handler
        self.conns = conns
        self.scope = trio.CancelScope()
        self.parsed = _Parsed(max_body, too_large)

    async def _receive(self) -> bytes:
        """The next bytes from the client; while no request has begun, the connection is
        idle and may be closed to make room for another."""
        p = self.parsed
        idle = not p.in_head and not p.in_body
        if idle:
            self.conns.idle[self] = None
        try:
            return await self.stream.receive_some(65536)
        finally:
            if idle:
                self.conns.idle.pop(self, None)

    async def _refuse(self, r: Reply) -> None:
        await self._send(r, close=True)

    async def serve(self) -> None:
        p = self.parsed
        stages = self.stages
        received = 0.0
        while True:
            while not p.ready:
                data = await self._receive()
                if not data:
                    return
                if stages is not None:
                    received = clock()
                try:
                    p.parser.feed_data(data)
                except httptools.HttpParserError as e:
                    return await self._refuse(_bad(e))
                if p.refusal is not None:
                    return await self._refuse(p.refusal)
                if p.in_head:
                    p.head_bytes += len(data)
                    if p.head_bytes > MAX_HEAD:
                        return await self._refuse(
                            Reply(431, b"request head too large\n", "text/plain"))
                if p.continue_wanted:
                    p.continue_wanted = False
                    await self.stream.send_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            request, keep_alive = p.ready.pop(0)
            if stages is not None:
                stages.begin(received)
            try:
                result = await self.handler(request)
            except Exception:  # a bug: the client still gets an answer, the log the trace
                self.conns.log.exception("request %s %s failed", request.method, request.path)
                return await self._refuse(_FAILED)
            if isinstance(result, Stream):
                await self._stream(result)
                return
            await self._send(result, close=not keep_alive)
            if stages is not None:
                stages.end()
            if not keep_alive:
                return

    async def _send(self, r: Reply, close: bool = False) -> None:
        headers = [("content-type", r.content_type), ("content-length", str(len(r.body)))]
        if close:
            headers.append(("connection", "close"))
        # One write per reply: a request/response round trip is dominated by syscalls.
        await self.stream.send_all(_head(r.status, headers) + r.body)

    async def _stream(self, s: Stream) -> None:
        headers = [("content-type", s.content_type), ("transfer-encoding", "chunked"),
                   ("connection", "close")]
        await self.stream.send_all(_head(s.status, headers))
        async with trio.open_nursery() as nursery:
            # A quiet stream (a watch with no events) would never notice a client that went
            # away; this task does, and ends the stream so that its watcher is cancelled.
            nursery.start_soon(self._until_closed, nursery.cancel_scope)
            try:
                async for chunk in s.chunks:
                    if chunk:
                        await self.stream.send_all(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await self.stream.send_all(b"0\r\n\r\n")
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass  # the client left; errors stay inside the nursery (no ExceptionGroup)
            finally:
                nursery.cancel_scope.cancel()

    async def _until_closed(self, scope: trio.CancelScope) -> None:
        try:
            while await self.stream.receive_some(4096):
                pass  # nothing more is expected from the client of a stream
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        scope.cancel()
