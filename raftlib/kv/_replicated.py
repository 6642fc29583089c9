"""The MVCC store as a replicated state machine: requests as Raft entries, applied in log order.

A command is JSON (never pickle: a log entry is data, not code) holding the request, the id of
the client that sent it and its sequence number. Every member applies the same commands in the
same order to its own :class:`MVCCStore`, so all members agree on every revision.

Client retries: with ``dedup`` (the default) the state machine keeps, per client, the answers to
the commands the client may still be waiting for (the Raft dissertation's client sessions,
section 6.3), so a retried command is applied at most once and answered from the table. A
client may have several commands in flight; each command carries the lowest sequence number
the client still waits for, and answers below it are dropped. The table is part of the
snapshot. etcd 3.4 has no such table (a retried put can be applied twice); ``dedup=False``
behaves like etcd.

The space quota is checked where etcd checks it: before proposing, on the leader (see
``raftlib.sim.SimCluster``). The apply path only enforces the replicated NOSPACE alarm, which is
the same on every member; a size check at apply time would depend on each member's file layout
and could make members disagree.

Leases: grants and revokes are commands like any write; their expiry is the leader's alone.
``leading`` tells the state machine whether its member leads: when a leader applies the empty
entry of its term it promotes its lessor (every lease extended by ``lease_extend`` seconds, an
election timeout, as etcd's ``Promote``), and :meth:`ReplicatedKV.expired_leases` gives the
driver the leases to propose revokes for (none on a follower, whose lessor is demoted).
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from raftlib.kv import _types as T
from raftlib.kv._errors import KVError
from raftlib.kv._store import DEFAULT_MIN_LEASE_TTL, MVCCStore

__all__ = ["KVResult", "LogEntry", "ReplicatedKV", "decode_command", "decode_value",
           "encode_command", "encode_value"]

# Classes the codec knows, by name: only these can come out of a log entry.
_CLASSES: dict[str, type] = {
    c.__name__: c
    for c in (
        T.KeyValue, T.Event, T.PutRequest, T.RangeRequest, T.DeleteRangeRequest, T.Compare,
        T.TxnRequest, T.CompactionRequest, T.AlarmRequest, T.DefragmentRequest, T.PutResponse,
        T.RangeResponse, T.DeleteRangeResponse, T.TxnResponse, T.CompactionResponse,
        T.AlarmMember, T.AlarmResponse, T.DefragmentResponse, T.LeaseGrantRequest,
        T.LeaseRevokeRequest, T.LeaseGrantResponse, T.LeaseRevokeResponse,
    )
}
_ENUMS: dict[str, type[enum.Enum]] = {
    c.__name__: c
    for c in (T.SortOrder, T.SortTarget, T.CompareTarget, T.CompareResult, T.AlarmType,
              T.AlarmAction)
}


def _kv_errors() -> dict[str, type[KVError]]:
    from raftlib.kv import _errors

    return {n: c for n, c in vars(_errors).items()
            if isinstance(c, type) and issubclass(c, KVError)}


def encode_value(obj: object) -> Any:
    """A JSON-ready form of a request, response, error or plain value (tagged, lossless)."""
    if isinstance(obj, bytes):
        return {"$b": base64.b64encode(obj).decode()}
    if isinstance(obj, enum.Enum):
        return {"$e": type(obj).__name__, "v": obj.value}
    if isinstance(obj, KVError):
        return {"$err": type(obj).__name__}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {"$t": type(obj).__name__}
        for f in dataclasses.fields(obj):
            out[f.name] = encode_value(getattr(obj, f.name))
        return out
    if isinstance(obj, tuple | list):
        return [encode_value(x) for x in obj]
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    raise TypeError(f"cannot encode {type(obj).__name__}")


def decode_value(data: Any) -> Any:
    """Inverse of :func:`encode_value`; unknown tags raise ``ValueError``."""
    if isinstance(data, list):
        return tuple(decode_value(x) for x in data)
    if not isinstance(data, dict):
        return data
    if "$b" in data:
        return base64.b64decode(data["$b"])
    if "$e" in data:
        return _ENUMS[data["$e"]](data["v"])
    if "$err" in data:
        return _kv_errors()[data["$err"]]()
    cls = _CLASSES.get(data.get("$t", ""))
    if cls is None:
        raise ValueError(f"unknown type tag {data.get('$t')!r}")
    return cls(**{k: decode_value(v) for k, v in data.items() if k != "$t"})


def encode_command(client: int, seq: int, req: T.Request, waiting_from: int = 0) -> bytes:
    """The bytes of a log entry carrying ``req`` from ``client`` (0: no session) as ``seq``;
    ``waiting_from`` is the lowest sequence number the client still waits for (``seq`` when
    it has no other command in flight)."""
    return json.dumps({"c": client, "s": seq, "w": waiting_from or seq, "r": encode_value(req)},
                      sort_keys=True, separators=(",", ":")).encode()


def decode_command(data: bytes) -> tuple[int, int, int, T.Request]:
    """Parse a log entry made by :func:`encode_command`: client, seq, waiting_from, request."""
    d = json.loads(data)
    return int(d["c"]), int(d["s"]), int(d["w"]), decode_value(d["r"])


@dataclass(slots=True)
class _Session:
    """One client's remembered answers: ``answers[seq]`` for every seq from ``waiting_from``
    on that was applied; anything below ``waiting_from`` was answered and forgotten."""

    waiting_from: int = 0
    answers: dict[int, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KVResult:
    """What applying one command gave: its response, or the error it failed with.

    ``duplicate`` marks a command already applied (the answer is the remembered one).
    """

    client: int
    seq: int
    response: T.Response | None
    error: KVError | None
    duplicate: bool = False


class LogEntry(Protocol):
    """What the state machine reads of a ``raftlib.raft.Entry`` (kv does not import raft)."""

    @property
    def data(self) -> bytes:
        """The command bytes."""

    @property
    def type(self) -> str:
        """``"normal"`` for application data (a ``raftlib.raft.EntryType``, a str enum)."""


_NO_QUOTA = sys.maxsize  # the apply path never checks sizes (see the module docstring)


class ReplicatedKV:
    """The state machine of one member: an :class:`MVCCStore` fed by committed entries.

    Implements ``raftlib.sim.StateMachine``. ``path`` is the store's SQLite file (the runtime
    keeps it on disk; the simulator in memory). Any thread may call it (a notebook's widget
    clicks arrive on another thread than its cells): each call holds the store's lock, so the
    session table always matches the store.
    """

    def __init__(self, member_id: int, dedup: bool = True, path: str = ":memory:", *,
                 clock: Callable[[], float] | None = None,
                 leading: Callable[[], bool] = lambda: False, lease_extend: float = 0.0,
                 min_lease_ttl: int = DEFAULT_MIN_LEASE_TTL) -> None:
        self.member_id = member_id
        self.dedup = dedup
        self.store = MVCCStore(path, quota_backend_bytes=_NO_QUOTA, member_id=member_id,
                               clock=clock, min_lease_ttl=min_lease_ttl, lease_primary=False)
        self.sessions: dict[int, _Session] = {}
        self.watched = False
        self.leading = leading
        self.lease_extend = lease_extend

    def apply(self, entry: LogEntry) -> KVResult | None:
        """Apply a committed entry; no-ops and membership changes answer ``None``."""
        if entry.type == "normal" and not entry.data and self.leading():
            # The leader's first entry of its term: it expires leases from now on.
            self.store.lessor.promote(self.store.lease_ttls(), self.lease_extend)
        if entry.type != "normal" or not entry.data:
            return None
        with self.store.lock:
            return self._apply(entry)

    def _apply(self, entry: LogEntry) -> KVResult:
        client, seq, waiting_from, req = decode_command(entry.data)
        session = self.sessions.setdefault(client, _Session()) if self.dedup and client else None
        if session is not None:
            if waiting_from > session.waiting_from:
                session.waiting_from = waiting_from
                session.answers = {s: a for s, a in session.answers.items() if s >= waiting_from}
            if seq in session.answers or seq < session.waiting_from:
                # Applied before; below waiting_from the client has its answer already.
                answer = decode_value(session.answers[seq]) if seq in session.answers else None
                if isinstance(answer, KVError):
                    return KVResult(client, seq, None, answer, duplicate=True)
                return KVResult(client, seq, answer, None, duplicate=True)
        resp: T.Response | None = None
        err: KVError | None = None
        try:
            resp = self.store.apply(req)
        except KVError as exc:
            err = exc
        if session is not None:
            session.answers[seq] = encode_value(err if err is not None else resp)
        if self.watched:
            self.store.watch_hub.sync()
        return KVResult(client, seq, resp, err)

    def expired_leases(self) -> list[int]:
        """The leases the leader should propose revokes for now (see :class:`raftlib.kv.Lessor`);
        a member that no longer leads demotes its lessor and answers none."""
        with self.store.lock:
            lessor = self.store.lessor
            if not self.leading():
                if lessor.primary:
                    lessor.demote()
                return []
            return lessor.expired()

    def snapshot(self) -> bytes:
        """The store's database and the session table, as JSON."""
        with self.store.lock:
            return self._snapshot()

    def _snapshot(self) -> bytes:
        return json.dumps(
            {"db": base64.b64encode(self.store.to_bytes()).decode(),
             "sessions": [[c, v.waiting_from, sorted(v.answers.items())]
                          for c, v in sorted(self.sessions.items())]},
            sort_keys=True, separators=(",", ":"),
        ).encode()

    def restore(self, data: bytes) -> None:
        """Replace the state by a :meth:`snapshot`'s bytes (watchers do not survive)."""
        d = json.loads(data)
        with self.store.lock:
            self.store.load_bytes(base64.b64decode(d["db"]))
            self.sessions = {int(c): _Session(int(w), {int(s): a for s, a in answers})
                             for c, w, answers in d["sessions"]}
            self.watched = False
