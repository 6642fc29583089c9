"""Deterministic discrete-event simulation of a Raft cluster: virtual time, seeded faults.

``Simulation`` drives ``raftlib.raft.Node`` instances over a virtual network with delay, loss,
duplication, reordering and partitions, with crashes that keep (or lose) unsynced writes.
``Nemesis`` draws random fault schedules. Same seed, same trace, byte for byte.
"""

from ..raft import ETCD, PAPER, Timing
from ._cluster import CLUSTER_BUGS, HistorySink, Pending, SimClient, SimCluster
from ._nemesis import Faults, Nemesis
from ._scenarios import SLOW, figure8
from ._sim import (
    MemberStatus,
    Monitor,
    Proposal,
    Record,
    Simulation,
    StateMachine,
    StateMachineFactory,
    message_counts,
)
from ._stories import (
    DivergenceStory,
    PartitionStory,
    RejoinStory,
    SnapshotStory,
    divergent_followers,
    elect,
    entry_journey,
    figure8_frames,
    first_leader_terms,
    partition_story,
    rejoin_story,
    snapshot_story,
    survives,
    time_to_new_leader,
    tolerance_table,
)

__all__ = [
    "CLUSTER_BUGS",
    "ETCD",
    "PAPER",
    "SLOW",
    "DivergenceStory",
    "Faults",
    "HistorySink",
    "MemberStatus",
    "Monitor",
    "Nemesis",
    "PartitionStory",
    "Pending",
    "Proposal",
    "Record",
    "RejoinStory",
    "SimClient",
    "SimCluster",
    "Simulation",
    "SnapshotStory",
    "StateMachine",
    "StateMachineFactory",
    "Timing",
    "divergent_followers",
    "elect",
    "entry_journey",
    "figure8",
    "figure8_frames",
    "first_leader_terms",
    "message_counts",
    "partition_story",
    "rejoin_story",
    "snapshot_story",
    "survives",
    "time_to_new_leader",
    "tolerance_table",
]
