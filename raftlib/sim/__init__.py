"""Deterministic discrete-event simulation of a Raft cluster: virtual time, seeded faults.

``Simulation`` drives ``raftlib.raft.Node`` instances over a virtual network with delay, loss,
duplication, reordering and partitions, with crashes that keep (or lose) unsynced writes.
``Nemesis`` draws random fault schedules. Same seed, same trace, byte for byte.
"""

from ..raft import ETCD, PAPER, Timing
from ._nemesis import Faults, Nemesis
from ._scenarios import SLOW, figure8
from ._sim import MemberStatus, Monitor, Proposal, Record, Simulation, message_counts

__all__ = [
    "ETCD",
    "PAPER",
    "SLOW",
    "Faults",
    "MemberStatus",
    "Monitor",
    "Nemesis",
    "Proposal",
    "Record",
    "Simulation",
    "Timing",
    "figure8",
    "message_counts",
]
