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

The parser is written for this server rather than taken from h11: a write costs the member a
request parse and a reply on the leader, and at thousands of writes per second h11's generality
was a third of the leader's time.
"""

from __future__ import annotations

import http
import logging
import resource
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import trio

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


class _BadRequest(Exception):
    """The bytes on the connection are not an HTTP/1.1 request this server takes."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


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
                     task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``handler`` on ``host:port`` until cancelled, with at most ``max_connections``
    client connections open (0: :func:`default_connection_cap`)."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    conns = _Connections(max_connections or default_connection_cap(), log)
    task_status.started()

    async def connection(stream: trio.SocketStream) -> None:
        try:
            async with stream:
                conn = _Connection(stream, handler, too_large, max_body, conns)
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


def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Connection:
    def __init__(self, stream: trio.SocketStream, handler: Handler, too_large: TooLarge,
                 max_body: int, conns: _Connections) -> None:
        self.stream = stream
        self.handler = handler
        self.too_large = too_large
        self.max_body = max_body
        self.conns = conns
        self.scope = trio.CancelScope()
        self.buf = bytearray()

    async def _fill(self) -> None:
        data = await self.stream.receive_some(65536)
        if not data:
            raise EOFError
        self.buf += data

    async def _line(self) -> bytes:
        while (i := self.buf.find(b"\r\n")) < 0:
            if len(self.buf) > MAX_HEAD:
                raise _BadRequest(400, "line too long")
            await self._fill()
        line = bytes(self.buf[:i])
        del self.buf[: i + 2]
        return line

    async def _exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            await self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def _wait_for_request(self) -> None:
        """Wait for the next request's first bytes, closable as idle meanwhile."""
        self.conns.idle[self] = None
        try:
            await self._fill()
        finally:
            self.conns.idle.pop(self, None)

    async def serve(self) -> None:
        while True:
            try:
                if not self.buf:
                    await self._wait_for_request()
                while (end := self.buf.find(b"\r\n\r\n")) < 0:
                    if len(self.buf) > MAX_HEAD:
                        raise _BadRequest(431, "request head too large")
                    await self._fill()
                head = bytes(self.buf[:end]).decode("latin-1")
                del self.buf[: end + 4]
                request, keep_alive = await self._request(head)
            except EOFError:
                return
            except _BadRequest as e:
                await self._send(Reply(e.status, f"{e}\n".encode(), "text/plain"), close=True)
                return
            if request is None:
                return  # refused as too large; the reply is sent
            result = await self.handler(request)
            if isinstance(result, Stream):
                await self._stream(result)
                return
            await self._send(result, close=not keep_alive)
            if not keep_alive:
                return

    async def _request(self, head: str) -> tuple[Request | None, bool]:
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400, "malformed request line")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise _BadRequest(400, "malformed header")
            name, value = name.lower(), value.strip()
            if name in headers and name == "content-length" and headers[name] != value:
                raise _BadRequest(400, "conflicting content-length")
            headers[name] = value
        conn = headers.get("connection", "").lower()
        keep_alive = conn != "close" and (version == "HTTP/1.1" or conn == "keep-alive")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit():
            raise _BadRequest(400, "bad content-length")
        length = int(length_text)
        if length > self.max_body:
            await self._send(self.too_large(length), close=True)
            return None, False
        if headers.get("expect", "").lower() == "100-continue":
            await self.stream.send_all(b"HTTP/1.1 100 Continue\r\n\r\n")
        if chunked:
            body = bytearray()
            while True:
                size_text = (await self._line()).split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise _BadRequest(400, "bad chunk size") from None
                if len(body) + size > self.max_body:
                    await self._send(self.too_large(len(body) + size), close=True)
                    return None, False
                if size == 0:
                    while await self._line():  # trailers, up to the empty line
                        pass
                    break
                body += await self._exactly(size)
                if await self._exactly(2) != b"\r\n":
                    raise _BadRequest(400, "bad chunk end")
            data = bytes(body)
        else:
            data = await self._exactly(length)
        path = target.split("?", 1)[0]
        return Request(method, path, data), keep_alive

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
