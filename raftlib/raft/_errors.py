"""Errors of the Raft core, split like h11's: local misuse versus remote protocol faults."""

from __future__ import annotations


class RaftError(Exception):
    """Base class of every error raised by ``raftlib.raft``."""


class LocalError(RaftError):
    """The caller used the node wrongly (a bug or a race in the driver or the application)."""


class RemoteError(RaftError):
    """A peer sent something that violates the protocol; the node's state is unchanged."""


class NotLeader(LocalError):
    """A proposal or leader-only request reached a node that is not the leader.

    ``leader`` is the node's best guess of the current leader, or ``None`` if it knows none.
    """

    def __init__(self, leader: int | None) -> None:
        self.leader = leader
        hint = f"try node {leader}" if leader is not None else "no leader known"
        super().__init__(f"not the leader ({hint})")


class ProposalDropped(LocalError):
    """The leader refused a proposal for now (leadership transfer, or a pending config change)."""


class CompactionError(LocalError):
    """``compact`` was asked for an index that is already compacted or not yet applied."""
