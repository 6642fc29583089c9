"""The Cluster interface: one shape for the simulator, the trio runtime and real etcd.

A chapter written against :class:`Cluster` and :class:`Client` runs on any of them. Members are
named by integer ids ``1..n`` (the simulator's ids, which the figures and the trace player show;
a backend over real etcd maps them to its member ids). Times are milliseconds: virtual in the
simulator (``wait`` makes them pass), wall-clock elsewhere.

Errors are ``raftlib.kv`` errors carrying etcd's messages. A client raises
``raftlib.kv.Indeterminate`` (etcd's "etcdserver: request timed out") when a write may or may
not have been applied, and another ``KVError`` when it certainly was not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from raftlib.kv import (
    CompactionResponse,
    Compare,
    DeleteRangeResponse,
    LeaseGrantResponse,
    LeaseKeepAliveResponse,
    LeaseLeasesResponse,
    LeaseRevokeResponse,
    LeaseTimeToLiveResponse,
    PutResponse,
    RangeResponse,
    RequestOp,
    TxnResponse,
    Watcher,
)

__all__ = ["Client", "Cluster", "MemberInfo"]


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """What ``Cluster.status()`` reports for one member (etcd's endpoint status, plus liveness).

    ``role`` is ``"leader"``, ``"follower"``, ``"candidate"``, ``"pre_candidate"`` or ``None``
    when the member is down; ``leader`` is 0 when unknown. Sizes are in bytes; ``alarms`` names
    the raised alarms as etcd prints them (``"NOSPACE"``).
    """

    id: int
    up: bool
    paused: bool
    role: str | None
    term: int
    leader: int
    commit: int
    applied: int
    revision: int
    db_size: int
    db_size_in_use: int
    alarms: tuple[str, ...]
    learner: bool = False


class Client(Protocol):
    """A synchronous etcd client attached to one member (its endpoint).

    Writes go to the leader (the client follows "not leader" hints and retries with the same
    request id, so a retried write is applied at most once where the cluster supports it).
    ``get`` is linearizable unless ``serializable=True``, which reads the attached member's
    local state (fast, possibly stale).
    """

    def put(self, key: bytes, value: bytes, *, prev_kv: bool = False,
            lease: int = 0) -> PutResponse:
        """Set ``key`` to ``value`` (attached to ``lease`` if given)."""
        ...

    def get(self, key: bytes, range_end: bytes = b"", *, revision: int = 0, limit: int = 0,
            serializable: bool = False) -> RangeResponse:
        """Read ``key`` (or ``[key, range_end)``) at ``revision`` (0: the latest)."""
        ...

    def delete(self, key: bytes, range_end: bytes = b"", *,
               prev_kv: bool = False) -> DeleteRangeResponse:
        """Delete ``key`` (or ``[key, range_end)``)."""
        ...

    def txn(self, compare: Sequence[Compare] = (), success: Sequence[RequestOp] = (),
            failure: Sequence[RequestOp] = ()) -> TxnResponse:
        """If every compare holds apply ``success``, else ``failure``, atomically."""
        ...

    def compact(self, revision: int) -> CompactionResponse:
        """Discard the history below ``revision``."""
        ...

    def watch(self, key: bytes, range_end: bytes = b"", *, start_revision: int = 0,
              prev_kv: bool = False) -> Watcher:
        """Watch ``key`` (or a range) on the attached member; ``Watcher.take()`` drains it."""
        ...

    def defragment(self, member: int) -> None:
        """Defragment one member's backend (not replicated, as in etcd)."""
        ...

    def lease_grant(self, ttl: int, lease_id: int = 0) -> LeaseGrantResponse:
        """Grant a lease of ``ttl`` seconds (``lease_id`` 0: the member picks an id)."""
        ...

    def lease_revoke(self, lease_id: int) -> LeaseRevokeResponse:
        """Revoke a lease; its keys are deleted in one revision."""
        ...

    def lease_keep_alive(self, lease_id: int) -> LeaseKeepAliveResponse:
        """Renew a lease at the leader (TTL 0 in the answer: no such lease)."""
        ...

    def lease_time_to_live(self, lease_id: int, keys: bool = False) -> LeaseTimeToLiveResponse:
        """Seconds left, as the leader sees them (-1: no such lease), and the keys if asked."""
        ...

    def leases(self) -> LeaseLeasesResponse:
        """Every lease the attached member knows."""
        ...

    def alarms(self) -> tuple[str, ...]:
        """The raised alarms, e.g. ``("NOSPACE",)``."""
        ...

    def disarm(self) -> tuple[str, ...]:
        """Disarm every alarm (through the log); returns those disarmed."""
        ...

    def member_add(self, learner: bool = False) -> int:
        """Add a new member (a learner if asked) and start it; returns its id."""
        ...

    def member_remove(self, member: int) -> None:
        """Remove ``member`` from the cluster."""
        ...

    def member_promote(self, member: int) -> None:
        """Make learner ``member`` a voter (it must have caught up)."""
        ...

    def move_leader(self, member: int) -> None:
        """Hand leadership to ``member``."""
        ...

    def status(self) -> MemberInfo:
        """Status of the attached member."""
        ...


class Cluster(Protocol):
    """A running cluster: its members, faults to inject, virtual or real time, and clients."""

    @property
    def members(self) -> tuple[int, ...]:
        """Ids of every member, voters and learners, up or down."""
        ...

    def crash(self, member: int) -> None:
        """Kill ``member`` (volatile state lost, disk kept)."""
        ...

    def restart(self, member: int) -> None:
        """Start a crashed member again from its disk."""
        ...

    def pause(self, member: int) -> None:
        """Freeze ``member`` (SIGSTOP)."""
        ...

    def resume(self, member: int) -> None:
        """Unfreeze ``member`` (SIGCONT)."""
        ...

    def partition(self, groups: Sequence[Sequence[int]]) -> None:
        """Let members talk only within their group (an unlisted member is alone)."""
        ...

    def isolate(self, member: int) -> None:
        """Cut ``member`` off from every other member."""
        ...

    def heal(self) -> None:
        """Remove every partition."""
        ...

    def wait(self, ms: int) -> None:
        """Let ``ms`` milliseconds pass."""
        ...

    def leader(self) -> int | None:
        """The current leader, if any."""
        ...

    def status(self) -> dict[int, MemberInfo]:
        """Status of every member."""
        ...

    def client(self, member: int | None = None) -> Client:
        """A client attached to ``member`` (default: the first)."""
        ...
