"""Value types of the Raft core: messages, entries, hard state, snapshots and the Ready batch."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import TypeVar

_T = TypeVar("_T")


def _fast_init(cls: type[_T]) -> type[_T]:
    """Give the frozen, slotted dataclass ``cls`` a fast ``__init__`` doing the same.

    A frozen dataclass refuses assignment through its own ``__setattr__``, so its generated
    ``__init__`` sets each field with ``object.__setattr__`` (about 80 ns a field in CPython
    3.11). These are the values the simulator builds per message and per Ready (several per
    proposal, issue 17), so ``cls`` keeps every dataclass feature (fields, defaults, repr,
    equality, hashing) but drops the ``__setattr__``/``__delattr__`` that refuse assignment,
    and its ``__init__`` stores the slots directly (about 10 ns a field). Nothing assigns
    them afterwards: mypy still treats ``cls`` as frozen and rejects any assignment.
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    ns: dict[str, object] = {}
    params, body = [], []
    for f in fields:
        if f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: a default_factory needs the dataclass's "
                            "own __init__")
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            ns[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        body.append(f"    self.{f.name} = {f.name}\n")
    exec(f"def __init__(self, {', '.join(params)}):\n{''.join(body)}", ns)
    init = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
    cls.__init__ = init  # type: ignore[assignment]
    del cls.__setattr__, cls.__delattr__
    return cls


NONE = 0
"""The node id that means "nobody" (no vote, no known leader). Real ids start at 1."""


class MessageType(enum.StrEnum):
    """Kinds of message exchanged between members (names follow etcd-io/raft's ``MsgXxx``)."""

    APP = "MsgApp"
    APP_RESP = "MsgAppResp"
    VOTE = "MsgVote"
    VOTE_RESP = "MsgVoteResp"
    PRE_VOTE = "MsgPreVote"
    PRE_VOTE_RESP = "MsgPreVoteResp"
    HEARTBEAT = "MsgHeartbeat"
    HEARTBEAT_RESP = "MsgHeartbeatResp"
    SNAP = "MsgSnap"
    TIMEOUT_NOW = "MsgTimeoutNow"
    READ_INDEX = "MsgReadIndex"
    READ_INDEX_RESP = "MsgReadIndexResp"


class Role(enum.StrEnum):
    """The role a node plays in its current term."""

    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre_candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


class EntryType(enum.StrEnum):
    """What a log entry carries: application data or a membership change."""

    NORMAL = "normal"
    CONF_CHANGE = "conf_change"


class ConfChangeType(enum.StrEnum):
    """Single-server membership changes (etcd's ConfChange v1)."""

    ADD_VOTER = "add_voter"
    ADD_LEARNER = "add_learner"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class ConfChange:
    """One membership change; adding an existing learner as a voter promotes it.

    ``context`` is opaque to Raft: a runtime can carry the new member's addresses in it (as
    etcd's ConfChange carries the member's URLs), so every member learns them from the log.
    """

    type: ConfChangeType
    node: int
    context: bytes = b""

    def encode(self) -> bytes:
        """The bytes stored in a ``CONF_CHANGE`` entry."""
        head = f"{self.type.value}:{self.node}".encode()
        return head + b":" + self.context if self.context else head

    @staticmethod
    def decode(data: bytes) -> ConfChange:
        """Parse the payload of a ``CONF_CHANGE`` entry."""
        kind, _, rest = data.partition(b":")
        node, _, context = rest.partition(b":")
        return ConfChange(ConfChangeType(kind.decode()), int(node), context)


@_fast_init
@dataclass(frozen=True, slots=True)
class Entry:
    """A log entry. Index and term are assigned by the leader that appends it."""

    index: int
    term: int
    data: bytes = b""
    type: EntryType = EntryType.NORMAL


@_fast_init
@dataclass(frozen=True, slots=True)
class HardState:
    """The state a node must persist before it sends the messages that depend on it."""

    term: int = 0
    vote: int = NONE
    commit: int = 0


@dataclass(frozen=True, slots=True)
class ConfState:
    """Cluster membership: voting members and non-voting learners (sorted ids)."""

    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()


@_fast_init
@dataclass(frozen=True, slots=True)
class Snapshot:
    """Application state up to and including ``index``, with the membership at that point."""

    index: int = 0
    term: int = 0
    conf: ConfState = ConfState()
    data: bytes = b""


@_fast_init
@dataclass(frozen=True, slots=True)
class Message:
    """A message between members.

    ``index``/``log_term`` are the previous entry for ``APP``, the last entry for votes, and
    the matched (or rejected) index for ``APP_RESP``. A rejecting ``APP_RESP`` carries a hint
    (``reject_hint``, ``log_term``) so the leader can skip a whole conflicting term at once.
    ``transfer`` marks a campaign started by leadership transfer: it overrides the lease.
    ``context`` is a ReadIndex request's id: carried by ``READ_INDEX``/``READ_INDEX_RESP`` and
    by the heartbeats (and their responses) that confirm leadership for it. A forwarded
    ``READ_INDEX`` has term 0: like etcd, the leader treats it as a local request.
    """

    type: MessageType
    frm: int
    to: int
    term: int
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    snapshot: Snapshot | None = None
    transfer: bool = False
    context: bytes = b""


@_fast_init
@dataclass(frozen=True, slots=True)
class ReadState:
    """The answer to ``Node.read_index(ctx)`` (etcd-io/raft's ``ReadState``).

    ``index`` was the leader's commit index when the request reached it, and the leader then
    confirmed with a quorum that it was still the leader. Serving a read from a state machine
    that has applied at least ``index`` is linearizable (Raft dissertation, section 6.4).
    """

    index: int
    ctx: bytes


@_fast_init
@dataclass(frozen=True, slots=True)
class Ready:
    """A batch of work for the driver.

    The driver must, in this order: apply ``committed`` (already durable), persist
    ``snapshot``, ``entries`` and ``hard_state``, then send ``messages``, then call
    ``Node.advance(ready)``. Messages may depend on the state persisted in the same batch.
    ``must_sync`` (etcd's MustSync) is False when only the commit index changed: that write
    need not be fsynced, since a lost commit index is learned again from the leader.
    ``read_states`` answers ``Node.read_index`` calls; they need no persistence.
    """

    hard_state: HardState | None
    entries: tuple[Entry, ...]
    snapshot: Snapshot | None
    committed: tuple[Entry, ...]
    messages: tuple[Message, ...]
    role: Role
    leader: int
    must_sync: bool = True
    read_states: tuple[ReadState, ...] = ()
