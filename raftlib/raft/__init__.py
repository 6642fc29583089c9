"""The sans-I/O Raft core, modelled on etcd-io/raft.

A :class:`Node` is a deterministic state machine: feed it ``tick()``, ``step(message)`` and
``propose(data)``; take a :class:`Ready` with ``ready()``; persist, send and apply it; then
``advance(ready)``. It never reads a clock, opens a socket or draws unseeded randomness.
"""

from ._errors import (
    CompactionError,
    LocalError,
    NotLeader,
    ProposalDropped,
    RaftError,
    RemoteError,
)
from ._failpoints import ALL as FAILPOINTS
from ._failpoints import LOG_SAFETY as LOG_SAFETY_FAILPOINTS
from ._log import RaftLog
from ._node import Config, Node
from ._progress import Progress, ProgressState
from ._quorum import VoteResult, committed_index, majority, vote_result
from ._storage import MemoryStorage
from ._timing import ETCD, PAPER, Timing
from ._types import (
    NONE,
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    ReadState,
    Ready,
    Role,
    Snapshot,
)

__all__ = [
    "ETCD",
    "FAILPOINTS",
    "LOG_SAFETY_FAILPOINTS",
    "NONE",
    "PAPER",
    "CompactionError",
    "ConfChange",
    "ConfChangeType",
    "ConfState",
    "Config",
    "Entry",
    "EntryType",
    "HardState",
    "LocalError",
    "MemoryStorage",
    "Message",
    "MessageType",
    "Node",
    "NotLeader",
    "Progress",
    "ProgressState",
    "ProposalDropped",
    "RaftError",
    "RaftLog",
    "ReadState",
    "Ready",
    "RemoteError",
    "Role",
    "Snapshot",
    "Timing",
    "VoteResult",
    "committed_index",
    "majority",
    "vote_result",
]
