"""What the leader knows about each follower's log."""

from __future__ import annotations

import enum
from typing import Final


class ProgressState(enum.Enum):
    """How the leader replicates to a follower.

    PROBE: one append per heartbeat until the match point is found. REPLICATE: stream
    entries optimistically. SNAPSHOT: wait for a snapshot to be installed.
    """

    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


# Module constants for the enum members (a metaclass lookup each time otherwise).
_P_PROBE: Final = ProgressState.PROBE
_P_REPLICATE: Final = ProgressState.REPLICATE
_P_SNAPSHOT: Final = ProgressState.SNAPSHOT


class Progress:
    """Match and next index of one follower, as seen by the leader."""

    __slots__ = ("match", "next", "pending_snapshot", "probe_sent", "recent_active", "state")

    def __init__(self, match: int, next_index: int) -> None:
        self.match = match
        self.next = next_index
        self.state = _P_PROBE
        self.probe_sent = False
        self.pending_snapshot = 0
        self.recent_active = False

    def become_probe(self) -> None:
        """Fall back to probing from just after the match (or the snapshot being sent)."""
        if self.state is _P_SNAPSHOT:
            self.next = max(self.match + 1, self.pending_snapshot + 1)
        else:
            self.next = self.match + 1
        self.state = _P_PROBE
        self.probe_sent = False
        self.pending_snapshot = 0

    def become_replicate(self) -> None:
        """Stream entries from just after the match."""
        self.state = _P_REPLICATE
        self.next = self.match + 1
        self.probe_sent = False

    def become_snapshot(self, index: int) -> None:
        """Stop appends until the follower reports a match at or beyond ``index``."""
        self.state = _P_SNAPSHOT
        self.pending_snapshot = index
        self.probe_sent = False

    def maybe_update(self, n: int) -> bool:
        """Record an acknowledgement of ``n``; False if it is stale."""
        updated = n > self.match
        if updated:
            self.match = n
            self.probe_sent = False
        self.next = max(self.next, n + 1)
        return updated

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """Move ``next`` back after a rejection of ``rejected``; False if the rejection is stale."""
        if self.state is _P_REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.probe_sent = False
        return True

    def is_paused(self) -> bool:
        """Whether the leader should hold back appends to this follower."""
        if self.state is _P_PROBE:
            return self.probe_sent
        return self.state is _P_SNAPSHOT
