"""Timing profiles: how many milliseconds a tick, a heartbeat and an election timeout last."""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import LocalError


@dataclass(frozen=True, slots=True)
class Timing:
    """Wall-clock (or virtual) timing of a cluster; all values in milliseconds.

    The election timeout of each election is uniform in
    ``[election_timeout_ms, election_timeout_ms + election_jitter_ms)``. Every value must be a
    multiple of ``tick_ms``, the period at which the driver calls ``Node.tick()``.
    """

    heartbeat_ms: int
    election_timeout_ms: int
    election_jitter_ms: int
    tick_ms: int

    def __post_init__(self) -> None:
        for name in ("heartbeat_ms", "election_timeout_ms", "election_jitter_ms"):
            value = getattr(self, name)
            if value < 0 or value % self.tick_ms:
                raise LocalError(f"{name}={value} is not a multiple of tick_ms={self.tick_ms}")
        if not 0 < self.heartbeat_ms < self.election_timeout_ms:
            raise LocalError("need 0 < heartbeat_ms < election_timeout_ms")

    @property
    def heartbeat_ticks(self) -> int:
        """Heartbeat interval in ticks."""
        return self.heartbeat_ms // self.tick_ms

    @property
    def election_ticks(self) -> int:
        """Minimum election timeout in ticks (also the CheckQuorum and lease period)."""
        return self.election_timeout_ms // self.tick_ms

    @property
    def election_jitter_ticks(self) -> int:
        """Width of the randomized part of the election timeout, in ticks."""
        return self.election_jitter_ms // self.tick_ms


PAPER = Timing(heartbeat_ms=50, election_timeout_ms=150, election_jitter_ms=150, tick_ms=10)
"""The Raft paper's suggestion: heartbeats every 50 ms, election timeout in 150–300 ms."""

ETCD = Timing(heartbeat_ms=100, election_timeout_ms=1000, election_jitter_ms=1000, tick_ms=100)
"""etcd's defaults: 100 ms ticks and heartbeats, election timeout in [1000, 2000) ms."""
