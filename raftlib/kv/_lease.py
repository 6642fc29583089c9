"""Lease expiry on one member: etcd 3.4's lessor (``lease/lessor.go``), its clock part.

Which leases exist, their TTLs and their keys are replicated state: the store keeps them,
every member alike, and grants and revokes arrive through the log. When a lease runs out is
not: only the leader (the *primary* lessor) keeps expiry times, finds expired leases and
proposes their revocation; a follower's leases never expire (etcd's ``forever``). A new
leader, once it has applied an entry of its own term, extends every lease to its full TTL plus
an election timeout (``Promote``), so that a lease the old leader was about to renew does not
expire in the handover. A restarted member starts with no expiry at all, as etcd's lessor
recovers its leases without one.

Time comes from ``clock`` (seconds): virtual in the simulator, monotonic in the runtime.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

__all__ = [
    "EXPIRED_RETRY_S",
    "LEASE_OVERHEAD",
    "MAX_LEASE_TTL",
    "LeaseIdGenerator",
    "Lessor",
    "min_lease_ttl",
]

#: etcd's ``MaxLeaseTTL``: a grant above it is refused.
MAX_LEASE_TTL = 9_000_000_000
#: What a grant costs against the backend quota (etcd's ``leaseOverhead``).
LEASE_OVERHEAD = 64
#: An expired lease whose revoke has not come through is reported again after this long
#: (etcd's ``defaultExpiredleaseRetryInterval``).
EXPIRED_RETRY_S = 3.0


def min_lease_ttl(election_ticks: int, heartbeat_ms: int) -> int:
    """etcd's minimum TTL, in seconds: 1.5 election timeouts, rounded up
    (``etcdserver/server.go``: ``(3*ElectionTicks)/2`` heartbeats). A grant below it is given
    this TTL. 2 with etcd's defaults (10 ticks of 100 ms)."""
    return math.ceil((3 * election_ticks) // 2 * heartbeat_ms / 1000)


class LeaseIdGenerator:
    """Ids for grants that name none, as etcd's ``idutil.Generator``: the member's id in the
    top 16 bits, then the boot time in milliseconds (40 bits) and a counter (8 bits), kept
    positive. Different members, and boots of one member, draw from different ranges."""

    def __init__(self, member_id: int, boot_ms: int) -> None:
        self._prefix = (member_id & 0xFFFF) << 48
        self._suffix = (boot_ms & (2**40 - 1)) << 8

    def next(self) -> int:
        """A fresh nonzero id."""
        while True:
            self._suffix = (self._suffix + 1) & (2**48 - 1)
            lid = (self._prefix | self._suffix) & (2**63 - 1)
            if lid:
                return lid


class Lessor:
    """Expiry times of leases on one member. ``primary``: this member leads and expires
    leases; otherwise every lease lasts forever here."""

    def __init__(self, clock: Callable[[], float], primary: bool = False) -> None:
        self.clock = clock
        self.primary = primary
        self._expiry: dict[int, float] = {}
        self._retry: dict[int, float] = {}  # when an expired lease may be reported again

    def promote(self, ttls: dict[int, int], extend: float) -> None:
        """Become primary: every lease expires its TTL plus ``extend`` seconds from now."""
        now = self.clock()
        self.primary = True
        self._expiry = {lid: now + extend + ttl for lid, ttl in ttls.items()}
        self._retry = {}

    def demote(self) -> None:
        """Stop being primary: no lease expires here any more."""
        self.primary = False
        self._expiry = {}
        self._retry = {}

    def granted(self, lid: int, ttl: int) -> None:
        """A grant was applied."""
        if self.primary:
            self._expiry[lid] = self.clock() + ttl

    def forget(self, lid: int) -> None:
        """A revoke was applied."""
        self._expiry.pop(lid, None)
        self._retry.pop(lid, None)

    def remaining(self, lid: int) -> float:
        """Seconds left (``math.inf`` on a follower, which never expires leases)."""
        at = self._expiry.get(lid)
        return math.inf if at is None else at - self.clock()

    def renew(self, lid: int, ttl: int) -> None:
        """A keep-alive: the lease runs ``ttl`` seconds from now (primary only)."""
        if self.primary:
            self._expiry[lid] = self.clock() + ttl
            self._retry.pop(lid, None)

    def expired(self) -> list[int]:
        """Leases past their expiry, soonest first, for the leader to revoke. Each is
        reported again only after :data:`EXPIRED_RETRY_S`, in case its revoke is lost."""
        if not self.primary:
            return []
        now = self.clock()
        out = sorted((at, lid) for lid, at in self._expiry.items()
                     if at <= now and self._retry.get(lid, at) <= now)
        for _, lid in out:
            self._retry[lid] = now + EXPIRED_RETRY_S
        return [lid for _, lid in out]

    def by_expiry(self, ids: Iterable[int]) -> list[int]:
        """``ids`` soonest to expire first (ties by id), as etcd lists leases."""
        return sorted(ids, key=lambda lid: (self.remaining(lid), lid))
