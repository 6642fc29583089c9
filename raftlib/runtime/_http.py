"""A small HTTP/1.1 server on trio and h11: keep-alive, bounded bodies, streamed responses.

The member gives it one handler; a handler returns either a complete :class:`Reply` or a
:class:`Stream` whose chunks are sent as they come (etcd's watch answers this way). Bodies
larger than ``max_body`` are refused before they are read, so a client cannot make the
member buffer without bound.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import h11
import trio

__all__ = ["Reply", "Request", "Stream", "serve_http"]


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
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Awaitable[Reply | Stream]]
TooLarge = Callable[[int], Reply]


async def serve_http(host: str, port: int, handler: Handler, too_large: TooLarge,
                     max_body: int, log: logging.Logger, *,
                     task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``handler`` on ``host:port`` until cancelled."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    task_status.started()

    async def connection(stream: trio.SocketStream) -> None:
        try:
            async with stream:
                await _serve_connection(stream, handler, too_large, max_body)
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError,
                OSError) as e:
            log.debug("client connection closed: %s", e)

    await trio.serve_listeners(connection, listeners)


async def _send(stream: trio.SocketStream, conn: h11.Connection, event: h11.Event) -> None:
    data = conn.send(event)
    if data:
        await stream.send_all(data)


async def _next_event(stream: trio.SocketStream, conn: h11.Connection) -> object:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
            continue
        return event


async def _serve_connection(stream: trio.SocketStream, handler: Handler, too_large: TooLarge,
                            max_body: int) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
    while True:
        event = await _next_event(stream, conn)
        if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return
        if not isinstance(event, h11.Request):
            return
        length = next((int(v) for k, v in event.headers if k == b"content-length"
                       and v.isdigit()), None)
        if length is not None and length > max_body:
            await _reply(stream, conn, too_large(length), close=True)
            return
        body = bytearray()
        while True:
            ev = await _next_event(stream, conn)
            if isinstance(ev, h11.Data):
                body += ev.data
                if len(body) > max_body:
                    await _reply(stream, conn, too_large(len(body)), close=True)
                    return
            elif isinstance(ev, h11.EndOfMessage):
                break
            else:
                return
        path = event.target.decode("latin-1").split("?", 1)[0]
        result = await handler(Request(event.method.decode("ascii"), path, bytes(body)))
        if isinstance(result, Reply):
            await _reply(stream, conn, result)
        else:
            await _stream(stream, conn, result)
            return
        if conn.our_state is h11.MUST_CLOSE:
            return
        conn.start_next_cycle()


async def _reply(stream: trio.SocketStream, conn: h11.Connection, r: Reply,
                 close: bool = False) -> None:
    headers = [("content-type", r.content_type), ("content-length", str(len(r.body)))]
    if close:
        headers.append(("connection", "close"))
    await _send(stream, conn, h11.Response(status_code=r.status, headers=headers))
    await _send(stream, conn, h11.Data(data=r.body))
    await _send(stream, conn, h11.EndOfMessage())


async def _stream(stream: trio.SocketStream, conn: h11.Connection, s: Stream) -> None:
    headers = [("content-type", s.content_type), ("connection", "close"), *s.headers]
    await _send(stream, conn, h11.Response(status_code=s.status, headers=headers))
    async for chunk in s.chunks:
        await _send(stream, conn, h11.Data(data=chunk))
    await _send(stream, conn, h11.EndOfMessage())
