"""TCP between members on trio: one outgoing connection per peer, frames in both directions.

Every connection opens with a :class:`~raftlib.runtime._codec.Handshake`, checked before any
larger frame is accepted (so an unauthenticated connection can make this member buffer a few
kilobytes, not a snapshot's worth); a peer of another cluster (another token) or one that calls
the wrong member is refused and logged. Sending never
blocks the caller: each peer has a bounded queue, drained by its own task that (re)connects with
exponential backoff. Raft tolerates lost messages, so a full queue or a broken connection drops
frames instead of stalling the member. ``blocked`` holds peers cut off by a test partition:
frames to or from them are dropped here, as a network would.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

import trio

from ._codec import MAX_FRAME, MAX_HANDSHAKE, FrameError, Handshake, decode, encode, frame_length

__all__ = ["Transport"]

_QUEUE = 4096
_BACKOFF = (0.02, 1.0)


class Transport:
    """Peer connections of member ``me``; ``on_frame(frm, frame)`` receives decoded frames."""

    def __init__(self, me: int, token: str, peers: dict[int, tuple[str, int]],
                 on_frame: Callable[[int, object], None], log: logging.Logger) -> None:
        self.me = me
        self.token = token
        self.peers = dict(peers)
        self.on_frame = on_frame
        self.log = log
        self.blocked: set[int] = set()
        # Since when (trio clock) the connection to each peer has been up, as etcd's
        # transport.ActiveSince: the strict reconfiguration check reads it.
        self.active_since: dict[int, float] = {}
        self._out: dict[int, trio.MemorySendChannel[bytes]] = {}
        self._nursery: trio.Nursery | None = None

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                    ) -> None:
        """Listen on this member's peer address until cancelled."""
        host, port = self.peers[self.me]
        listeners = await trio.open_tcp_listeners(port, host=host)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.serve_listeners(self._incoming, listeners, handler_nursery=nursery)

    def send(self, to: int, frame: object) -> None:
        """Queue ``frame`` for peer ``to``; dropped if the peer is cut off or its queue full."""
        if to in self.blocked or to not in self.peers or self._nursery is None:
            return
        ch = self._out.get(to)
        if ch is None:
            ch, rx = trio.open_memory_channel[bytes](_QUEUE)
            self._out[to] = ch
            self._nursery.start_soon(self._sender, to, rx)
        with contextlib.suppress(trio.WouldBlock):
            ch.send_nowait(encode(frame))  # type: ignore[arg-type]

    def set_peer(self, member: int, addr: tuple[str, int]) -> None:
        """Learn a peer's address after a membership change."""
        self.peers[member] = addr

    async def _sender(self, to: int, rx: trio.MemoryReceiveChannel[bytes]) -> None:
        delay = _BACKOFF[0]
        async with rx:
            while to in self.peers:
                try:
                    stream = await trio.open_tcp_stream(*self.peers[to])
                except OSError:
                    await trio.sleep(delay)
                    delay = min(delay * 2, _BACKOFF[1])
                    continue
                delay = _BACKOFF[0]
                try:
                    async with stream:
                        if not await self._connected(to, rx, stream):
                            return  # the peer was forgotten: its channel is closed
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    continue

    async def _connected(self, to: int, rx: trio.MemoryReceiveChannel[bytes],
                         stream: trio.SocketStream) -> bool:
        """Send over one connection until it fails (True: reconnect) or the channel ends."""
        alive = True
        async with trio.open_nursery() as nursery:
            # A peer that died closed its end; a write would still "succeed" once and vanish.
            # Watching for the close makes the next frame go over a new connection.
            nursery.start_soon(_until_closed, stream, nursery.cancel_scope)
            try:
                await stream.send_all(encode(Handshake(self.token, self.me, to)))
                self.active_since[to] = trio.current_time()
                alive = await self._pump(to, rx, stream)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass  # errors stay inside: a nursery would wrap them in an ExceptionGroup
            finally:
                self.active_since.pop(to, None)
            nursery.cancel_scope.cancel()
        return alive

    async def _pump(self, to: int, rx: trio.MemoryReceiveChannel[bytes],
                    stream: trio.SocketStream) -> bool:
        """Send queued frames in batches until the connection fails; False at the channel's
        end."""
        while True:
            try:
                batch = [await rx.receive()]
            except trio.EndOfChannel:
                return False
            while len(batch) < 256:
                try:
                    batch.append(rx.receive_nowait())
                except trio.WouldBlock:
                    break
            if to not in self.blocked:
                await stream.send_all(b"".join(batch))

    async def _incoming(self, stream: trio.SocketStream) -> None:
        buf = bytearray()
        peer: int | None = None
        try:
            async with stream:
                while True:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    buf += data
                    while len(buf) >= 4:
                        n = frame_length(bytes(buf[:4]),
                                         MAX_HANDSHAKE if peer is None else MAX_FRAME)
                        if len(buf) < 4 + n:
                            break
                        frame = decode(bytes(buf[4 : 4 + n]))
                        del buf[: 4 + n]
                        if peer is None:
                            peer = self._accept(frame)
                            if peer is None:
                                return
                        elif peer not in self.blocked:
                            self.on_frame(peer, frame)
        except FrameError as e:
            self.log.warning("dropping connection from member %s: %s", peer, e)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        except Exception:  # one bad connection must never stop the member
            self.log.exception("dropping connection from member %s", peer)

    def _accept(self, frame: object) -> int | None:
        if not isinstance(frame, Handshake):
            self.log.warning("refusing a peer connection that did not start with a handshake")
            return None
        if frame.token != self.token:
            self.log.warning("refusing member %d of another cluster (token %r, ours %r)",
                             frame.frm, frame.token, self.token)
            return None
        if frame.to != self.me:
            self.log.warning("refusing a connection from member %d meant for member %d",
                             frame.frm, frame.to)
            return None
        return frame.frm


async def _until_closed(stream: trio.SocketStream, scope: trio.CancelScope) -> None:
    """Return (cancelling ``scope``) once the other end closes the connection; a peer never
    writes on a connection it accepted, so any end of input means it is gone."""
    try:
        while await stream.receive_some(4096):
            pass
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass
    scope.cancel()
