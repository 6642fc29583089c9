"""Frames between members: a 4-byte length, then msgpack (data only, never pickle).

A frame is a list whose first element says what it is: a Raft :class:`~raftlib.raft.Message`,
a proposal forwarded by a follower to its leader, the handshake that opens a connection, or
the notice that tells a removed member it is no longer part of the cluster.
Decoding checks shapes and raises :class:`FrameError` on anything else, so a stray or hostile
peer cannot crash a member.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import msgpack

from ..raft import ConfState, Entry, EntryType, Message, MessageType, Snapshot

__all__ = ["MAX_FRAME", "MAX_HANDSHAKE", "FrameError", "Handshake", "Proposal", "Removed",
           "decode", "encode"]

MAX_FRAME = 256 * 1024 * 1024
# A handshake is a token and two ids: a peer must prove it belongs to the cluster before it
# may send a frame the size of a snapshot (and make this member buffer it).
MAX_HANDSHAKE = 4096
"""Largest frame accepted (a snapshot of a large store travels in one frame)."""

_LEN = struct.Struct(">I")
_MSG, _PROP, _HELLO, _REMOVED = 0, 1, 2, 3


class FrameError(ValueError):
    """A frame that is not one this protocol sends."""


@dataclass(frozen=True, slots=True)
class Handshake:
    """The first frame on a connection: who is calling whom, in which cluster."""

    token: str
    frm: int
    to: int


@dataclass(frozen=True, slots=True)
class Proposal:
    """A command a follower forwards to the leader it knows."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Removed:
    """Sent to a member that still talks after the cluster removed it (etcd answers such a
    peer the same way), so that it stops instead of campaigning forever."""


Frame = Message | Proposal | Handshake | Removed


def _entry(e: Entry) -> list[Any]:
    return [e.index, e.term, e.data, e.type.value]


def _message(m: Message) -> list[Any]:
    s = m.snapshot
    snap = None if s is None else [s.index, s.term, list(s.conf.voters), list(s.conf.learners),
                                   s.data]
    return [_MSG, m.type.value, m.frm, m.to, m.term, m.log_term, m.index,
            [_entry(e) for e in m.entries], m.commit, m.reject, m.reject_hint, snap, m.transfer,
            m.context]


def encode(frame: Frame) -> bytes:
    """The bytes of ``frame``, length prefix included."""
    if isinstance(frame, Message):
        body: list[Any] = _message(frame)
    elif isinstance(frame, Proposal):
        body = [_PROP, frame.data]
    elif isinstance(frame, Removed):
        body = [_REMOVED]
    else:
        body = [_HELLO, frame.token, frame.frm, frame.to]
    data: bytes = msgpack.packb(body, use_bin_type=True)
    return _LEN.pack(len(data)) + data


def frame_length(prefix: bytes, limit: int = MAX_FRAME) -> int:
    """The payload length announced by a 4-byte prefix; refuses one over ``limit``."""
    (n,) = _LEN.unpack(prefix)
    if n > limit:
        raise FrameError(f"frame of {n} bytes is over the {limit}-byte limit")
    return int(n)


def decode(payload: bytes) -> Frame:
    """Parse one frame's payload (without its length prefix)."""
    try:
        body = msgpack.unpackb(payload, raw=False, use_list=True, strict_map_key=True)
        kind = body[0]
        if kind == _MSG:
            (_, typ, frm, to, term, log_term, index, entries, commit, reject, hint, snap,
             transfer, context) = body
            s = None
            if snap is not None:
                si, st, voters, learners, sdata = snap
                s = Snapshot(_int(si), _int(st), ConfState(tuple(map(_int, voters)),
                                                           tuple(map(_int, learners))),
                             _bytes(sdata))
            return Message(
                MessageType(typ), _int(frm), _int(to), _int(term), _int(log_term), _int(index),
                tuple(Entry(_int(i), _int(t), _bytes(d), EntryType(k)) for i, t, d, k in entries),
                _int(commit), bool(reject), _int(hint), s, bool(transfer), _bytes(context))
        if kind == _PROP:
            return Proposal(_bytes(body[1]))
        if kind == _REMOVED:
            return Removed()
        if kind == _HELLO:
            _, token, frm, to = body
            if not isinstance(token, str):
                raise FrameError("handshake token is not a string")
            return Handshake(token, _int(frm), _int(to))
    except FrameError:
        raise
    except (ValueError, TypeError, IndexError, KeyError, msgpack.UnpackException) as e:
        raise FrameError(f"malformed frame: {e}") from e
    raise FrameError(f"unknown frame kind {kind!r}")


def _int(x: object) -> int:
    if not isinstance(x, int) or isinstance(x, bool) or x < 0:
        raise FrameError(f"expected a non-negative integer, got {x!r}")
    return x


def _bytes(x: object) -> bytes:
    if not isinstance(x, bytes):
        raise FrameError(f"expected bytes, got {type(x).__name__}")
    return x
