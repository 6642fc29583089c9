"""Helpers for driving single nodes with hand-built messages (like etcd's raft_paper_test)."""

from __future__ import annotations

import random
from collections.abc import Iterable

from raftlib.raft import (
    Config,
    ConfState,
    Entry,
    HardState,
    MemoryStorage,
    Message,
    MessageType,
    Node,
    Ready,
)

MT = MessageType


def storage_with(
    entries: Iterable[tuple[int, int]] = (),
    term: int = 0,
    vote: int = 0,
    commit: int = 0,
    voters: tuple[int, ...] = (1, 2, 3),
    learners: tuple[int, ...] = (),
) -> MemoryStorage:
    """A storage holding entries given as (index, term) and the given hard state."""
    st = MemoryStorage(ConfState(voters, learners))
    ents = [Entry(i, t, f"e{i}".encode()) for i, t in entries]
    if ents:
        st.append(ents)
    st.hard_state = HardState(term, vote, commit)
    return st


def make(
    node_id: int = 1,
    storage: MemoryStorage | None = None,
    election: int = 10,
    heartbeat: int = 1,
    seed: int = 0,
    **kw: object,
) -> Node:
    """A node over ``storage`` (default: empty, voters 1..3)."""
    cfg = Config(id=node_id, election_ticks=election, heartbeat_ticks=heartbeat, **kw)  # type: ignore[arg-type]
    return Node(cfg, storage if storage is not None else storage_with(), random.Random(seed))


def persist(node: Node, rd: Ready) -> None:
    """Write a Ready to the node's storage, as a driver would."""
    st = node.log.storage
    if rd.snapshot is not None:
        st.apply_snapshot(rd.snapshot)
    if rd.entries:
        st.append(rd.entries)
    if rd.hard_state is not None:
        st.hard_state = rd.hard_state


def drain(node: Node) -> list[Message]:
    """Run the Ready loop until idle; returns the messages the node sent."""
    out: list[Message] = []
    while node.has_ready():
        rd = node.ready()
        persist(node, rd)
        out.extend(rd.messages)
        node.advance(rd)
    return out


def msg(kind: MessageType, frm: int, to: int, term: int, **kw: object) -> Message:
    """Build a message."""
    return Message(kind, frm, to, term, **kw)  # type: ignore[arg-type]


def elect(node: Node) -> list[Message]:
    """Make ``node`` leader with votes from every peer; returns the other messages it sent."""
    node.campaign()
    out: list[Message] = []
    for _ in range(3):  # PreVote round (if any), the election, then what the leader sends
        for m in drain(node):
            if m.type is MT.PRE_VOTE:
                node.step(msg(MT.PRE_VOTE_RESP, m.to, node.id, m.term))
            elif m.type is MT.VOTE:
                node.step(msg(MT.VOTE_RESP, m.to, node.id, m.term))
            else:
                out.append(m)
    return out


class Net:
    """Routes messages between nodes built over their own storages; supports drops."""

    def __init__(self, nodes: dict[int, Node]) -> None:
        self.nodes = nodes
        self.queue: list[Message] = []
        self.down: set[int] = set()
        self.sent: list[Message] = []

    def pump(self, max_rounds: int = 1000) -> None:
        """Deliver until no message is left (messages to or from down nodes are dropped)."""
        for _ in range(max_rounds):
            for nid in sorted(self.nodes):
                if nid not in self.down:
                    out = drain(self.nodes[nid])
                    self.sent.extend(out)
                    self.queue.extend(out)
            if not self.queue:
                return
            batch, self.queue = self.queue, []
            for m in batch:
                if m.to in self.down or m.frm in self.down or m.to not in self.nodes:
                    continue
                self.nodes[m.to].step(m)
        raise AssertionError("network did not settle")
