"""What the safety monitor reads from a run, as protocols: check does not import the
simulator that produces the run (``raftlib.sim.Simulation`` satisfies them, which mypy
proves where the explorer attaches a monitor)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Sized
from typing import TYPE_CHECKING, Protocol

from ..raft import MemoryStorage, Node, Timing

if TYPE_CHECKING:
    from ._safety import SafetyMonitor


class Replica(Protocol):
    """One member as the monitor sees it: its node (``None`` while down), durable storage,
    and the index its state machine has applied."""

    @property
    def node(self) -> Node | None: ...
    @property
    def storage(self) -> MemoryStorage: ...
    @property
    def applied(self) -> int: ...


class Submitted(Protocol):
    """A client proposal: its log index and commit time, ``None`` until known."""

    @property
    def index(self) -> int | None: ...
    @property
    def committed_at(self) -> int | None: ...


class Run(Protocol):
    """A running cluster the monitor is attached to, and that liveness checks drive."""

    @property
    def members(self) -> Mapping[int, Replica]: ...
    @property
    def now(self) -> int: ...
    @property
    def events(self) -> int: ...
    @property
    def trace(self) -> Sized: ...
    @property
    def timing(self) -> Timing: ...
    @property
    def proposals(self) -> Sequence[Submitted]: ...

    def attach(self, monitor: SafetyMonitor) -> None: ...
    def leader(self) -> int | None: ...
    def propose(self, data: bytes | None = None) -> int: ...
    def run_for(self, ms: int) -> None: ...
    def run_until(self, predicate: Callable[[], bool], timeout_ms: int) -> bool: ...
