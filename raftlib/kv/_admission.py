"""Write admission: the one rule every engine applies before it proposes a write.

etcd checks a put or txn against the backend quota in its gRPC layer (``quotaKVServer``),
before the write reaches Raft: a write whose cost would take the backend to the quota is
refused with NOSPACE, and the NOSPACE alarm is raised if it is not already. A write that puts
nothing (a delete, a txn of reads and deletes) costs nothing and always passes, so a full
cluster can still be cleaned up (etcd 3.4's ``backendQuota.Available``). Then the server
refuses a request whose Raft entry would exceed ``--max-request-bytes`` (1.5 MiB by default;
``processInternalRaftRequestOnce``). The standalone store, the simulator and the runtime all
call :func:`admit_write`, so the engines the book compares refuse the same write at the same
size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from raftlib.kv._errors import ErrNoSpace, ErrRequestTooLarge, KVError
from raftlib.kv._lease import LEASE_OVERHEAD
from raftlib.kv._size import raft_request_size
from raftlib.kv._types import (
    AlarmMember,
    AlarmType,
    LeaseGrantRequest,
    PutRequest,
    Request,
    TxnRequest,
)

__all__ = ["KV_OVERHEAD", "MAX_REQUEST_BYTES", "Refusal", "admit_write", "quota_cost"]

#: Bytes etcd's quota adds to every put's key and value length (``kvOverhead``).
KV_OVERHEAD = 256
#: etcd's default ``--max-request-bytes``: 1.5 MiB.
MAX_REQUEST_BYTES = 1572864


def _put_cost(p: PutRequest) -> int:
    return KV_OVERHEAD + len(p.key) + len(p.value)


def quota_cost(req: Request) -> int:
    """etcd's ``backendQuota.Cost``: a put's size, a txn's costlier branch (counting its own
    puts only), a lease grant's fixed overhead, 0 for anything else."""
    if isinstance(req, PutRequest):
        return _put_cost(req)
    if isinstance(req, LeaseGrantRequest):
        return LEASE_OVERHEAD
    if not isinstance(req, TxnRequest):
        return 0
    ok = sum(_put_cost(op) for op in req.success if isinstance(op, PutRequest))
    ko = sum(_put_cost(op) for op in req.failure if isinstance(op, PutRequest))
    return max(ok, ko)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a write is refused before it is proposed. ``raise_alarm``: the NOSPACE alarm is not
    raised yet, and the engine must raise it (in a cluster, through the log, as etcd does)."""

    error: KVError
    raise_alarm: bool


def admit_write(req: Request, backend_size: int, alarms: Iterable[AlarmMember],
                quota_bytes: int, max_request_bytes: int = MAX_REQUEST_BYTES) -> Refusal | None:
    """``None`` if ``req`` may be proposed, else the :class:`Refusal` etcd would answer."""
    cost = quota_cost(req)
    if cost > 0 and backend_size + cost >= quota_bytes:
        raised = any(a.alarm is AlarmType.NOSPACE for a in alarms)
        return Refusal(ErrNoSpace(), raise_alarm=not raised)
    if raft_request_size(req) > max_request_bytes:
        return Refusal(ErrRequestTooLarge(), raise_alarm=False)
    return None
