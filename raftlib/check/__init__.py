"""Verdicts on runs: Raft safety invariants checked online and at the end, liveness,
linearizability of client histories, and etcd's watch guarantees."""

from ._durability import DurabilityVerdict, History, check_durability, duplicate_writes
from ._safety import (
    RULES,
    SafetyMonitor,
    SafetyViolation,
    Violation,
    check_election_safety,
    check_liveness,
)
from .linearizability import LinearizabilityVerdict, Operation, check_linearizability, kv_step
from .watch import WatchSpec, WatchVerdict, WatchViolation, check_watch, history_from_store

__all__ = [
    "RULES",
    "DurabilityVerdict",
    "History",
    "LinearizabilityVerdict",
    "Operation",
    "SafetyMonitor",
    "SafetyViolation",
    "Violation",
    "WatchSpec",
    "WatchVerdict",
    "WatchViolation",
    "check_durability",
    "check_election_safety",
    "check_linearizability",
    "check_liveness",
    "check_watch",
    "duplicate_writes",
    "history_from_store",
    "kv_step",
]
