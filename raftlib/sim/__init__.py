"""Deterministic discrete-event simulation of a Raft cluster: virtual time, seeded faults.

``Simulation`` drives ``raftlib.raft.Node`` instances over a virtual network with delay, loss,
duplication, reordering and partitions, with crashes that keep (or lose) unsynced writes.
``Nemesis`` draws random fault schedules. Same seed, same trace, byte for byte. No stories
here: the book's are in :mod:`raftlib.chapters`.
"""

from .._trace import Frame, InFlight, MemberFrame, PeerProgress, Record, VoteTally
from ..raft import ETCD, PAPER, Timing
from ._cluster import CLUSTER_BUGS, HistorySink, Pending, SimClient, SimCluster
from ._nemesis import Faults, Nemesis
from ._sim import (
    MemberStatus,
    Monitor,
    Proposal,
    Script,
    Simulation,
    StateMachine,
    StateMachineFactory,
    message_counts,
)
from ._tracelog import Trace

__all__ = [
    "CLUSTER_BUGS",
    "ETCD",
    "PAPER",
    "Faults",
    "Frame",
    "HistorySink",
    "InFlight",
    "MemberFrame",
    "MemberStatus",
    "Monitor",
    "Nemesis",
    "PeerProgress",
    "Pending",
    "Proposal",
    "Record",
    "Script",
    "SimClient",
    "SimCluster",
    "Simulation",
    "StateMachine",
    "StateMachineFactory",
    "Timing",
    "Trace",
    "VoteTally",
    "message_counts",
]
