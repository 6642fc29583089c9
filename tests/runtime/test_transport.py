"""Frames between members and the TCP transport that carries them."""

from __future__ import annotations

import contextlib
import logging
import random

import pytest
import trio

from raftlib.backends._ports import reserve_port
from raftlib.raft import ConfState, Entry, EntryType, Message, MessageType, Snapshot
from raftlib.runtime._codec import FrameError, Handshake, Proposal, Removed, decode, encode
from raftlib.runtime._transport import Transport

LOG = logging.getLogger("test-transport")


def _roundtrip(frame: object) -> object:
    data = encode(frame)  # type: ignore[arg-type]
    assert int.from_bytes(data[:4], "big") == len(data) - 4
    return decode(data[4:])


def test_every_kind_of_frame_round_trips() -> None:
    snap = Snapshot(7, 2, ConfState((1, 2, 3), (4,)), b"state")
    frames: list[object] = [
        Message(MessageType.APP, 1, 2, 3, 2, 6, (Entry(7, 3, b"x"), Entry(8, 3, b"cc:1",
                                                                  EntryType.CONF_CHANGE)),
                5, False, 0, None, False, b""),
        Message(MessageType.APP_RESP, 2, 1, 3, 1, 4, reject=True, reject_hint=3),
        Message(MessageType.SNAP, 1, 2, 3, snapshot=snap),
        Message(MessageType.HEARTBEAT, 1, 2, 3, commit=5, context=b"read-7"),
        Message(MessageType.TIMEOUT_NOW, 1, 2, 3, transfer=True),
        Proposal(b"command"), Handshake("token", 1, 2), Removed(),
    ]
    for f in frames:
        assert _roundtrip(f) == f


@pytest.mark.parametrize("payload", [
    b"", b"\x00", b"\xc1", b"\x92\x05\x01",  # empty, int, reserved byte, unknown kind
    b"\x92\x01\x05",  # a proposal whose data is not bytes
    b"\x94\x02\xa1t\x01\xff",  # a handshake with a negative id
])
def test_malformed_frames_raise_frame_error(payload: bytes) -> None:
    with pytest.raises(FrameError):
        decode(payload)


def test_random_bytes_never_raise_anything_but_frame_error() -> None:
    rng = random.Random(5)
    good = encode(Message(MessageType.APP, 1, 2, 3, entries=(Entry(1, 1, b"abc"),)))[4:]
    for _ in range(2000):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        with contextlib.suppress(FrameError):
            decode(bytes(data[: rng.randint(0, len(data))]))


def test_the_first_frame_after_a_peer_restarts_is_not_lost() -> None:
    """A connection to a peer that died looks open until written to; the sender must notice
    the close and reconnect, or the first message to the restarted peer vanishes (a vote
    response, say, which then costs a whole election timeout)."""
    peers = {1: ("127.0.0.1", reserve_port()), 2: ("127.0.0.1", reserve_port())}
    got: list[int] = []

    async def main() -> None:
        a = Transport(1, "t", peers, lambda f, fr: None, LOG)
        async with trio.open_nursery() as outer:
            await outer.start(a.serve)
            for round_ in range(3):
                b = Transport(2, "t", peers, lambda f, fr: got.append(fr.term), LOG)
                async with trio.open_nursery() as inner:
                    await inner.start(b.serve)
                    a.send(2, Message(MessageType.HEARTBEAT, 1, 2, round_ + 1))
                    with trio.fail_after(5):
                        while len(got) < round_ + 1:
                            await trio.sleep(0.01)
                    inner.cancel_scope.cancel()  # member 2 "dies": its sockets close
                await trio.sleep(0.1)
            outer.cancel_scope.cancel()

    trio.run(main)
    assert got == [1, 2, 3]


def test_a_peer_with_another_token_is_refused() -> None:
    peers = {1: ("127.0.0.1", reserve_port()), 2: ("127.0.0.1", reserve_port())}
    got: list[object] = []

    async def main() -> None:
        a = Transport(1, "ours", peers, lambda f, fr: got.append(fr), LOG)
        b = Transport(2, "theirs", peers, lambda f, fr: None, LOG)
        async with trio.open_nursery() as n:
            await n.start(a.serve)
            await n.start(b.serve)
            b.send(1, Message(MessageType.VOTE, 2, 1, 9))
            await trio.sleep(0.3)
            n.cancel_scope.cancel()

    trio.run(main)
    assert got == []


def test_a_peer_resetting_the_connection_mid_send_does_not_stop_the_sender() -> None:
    """A write can fail outright when the peer dies in the middle of it (connection reset).
    That error must stay inside the sender: in a trio nursery it would come out as an
    ExceptionGroup and take the whole member down (it did, before this test)."""
    import socket
    import struct

    port = reserve_port()
    peers = {1: ("127.0.0.1", reserve_port()), 2: ("127.0.0.1", port)}
    resets = 0

    async def rude_peer(stream: trio.SocketStream) -> None:
        nonlocal resets
        await stream.receive_some(10)  # the connection is up; now drop it with an RST
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        resets += 1
        await stream.aclose()

    async def main() -> None:
        a = Transport(1, "t", peers, lambda f, fr: None, LOG)
        listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
        async with trio.open_nursery() as n:
            await n.start(a.serve)
            n.start_soon(trio.serve_listeners, rude_peer, listeners)
            big = Message(MessageType.APP, 1, 2, 1, entries=(Entry(1, 1, b"x" * 60_000),))
            for _ in range(300):
                a.send(2, big)
                await trio.sleep(0.005)
            n.cancel_scope.cancel()

    trio.run(main)  # raises if the sender's error escaped
    assert resets >= 2


def test_a_connection_must_authenticate_before_sending_a_large_frame(
        caplog: pytest.LogCaptureFixture) -> None:
    """An unauthenticated peer announcing a snapshot-sized frame is cut off at once, before
    this member buffers it (three such connections once took a member from 135 to 598 MB)."""
    port = reserve_port()
    peers = {1: ("127.0.0.1", port), 2: ("127.0.0.1", reserve_port())}
    closed_after: list[int] = []

    async def main() -> None:
        a = Transport(1, "t", peers, lambda f, fr: None, LOG)
        async with trio.open_nursery() as n:
            await n.start(a.serve)
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            sent = 0
            with trio.move_on_after(5):
                try:
                    await stream.send_all((200 * 1024 * 1024).to_bytes(4, "big"))
                    while sent < 64 * 1024 * 1024:
                        await stream.send_all(b"\0" * 65536)
                        sent += 65536
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
            closed_after.append(sent)
            await stream.aclose()
            n.cancel_scope.cancel()

    with caplog.at_level(logging.WARNING, logger=LOG.name):
        trio.run(main)
    assert closed_after[0] < 16 * 1024 * 1024, "the member kept reading the unauthenticated frame"
    assert any("over the 4096-byte limit" in r.getMessage() for r in caplog.records)
