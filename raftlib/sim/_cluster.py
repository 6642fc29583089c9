"""The replicated KV store in the simulator: ``SimCluster`` and its client (``raftlib.Cluster``).

Every member runs a :class:`raftlib.kv.ReplicatedKV` (an MVCC store fed by committed entries).
A client call runs virtual time until it has an answer or its deadline passes. Client requests
travel outside the Raft network: each hop takes ``rpc_ms`` (drawn from the cluster's own seeded
generator, so the simulation's trace stays deterministic) and a client reaches every running
member, whatever the partitions between members.

Writes go to the leader: the client follows "not leader" hints, tries members in order, and
retries with the same (client id, sequence number), which the state machine's session table
turns into at-most-once application. Linearizable reads go to the attached member, which asks
for a ReadIndex (forwarded to the leader if it is a follower), waits until it has applied that
index and reads its own store. Serializable reads read the attached member's store at once.

A write that reached a leader but got no answer before the deadline raises
:class:`raftlib.kv.ErrTimeout` (an :class:`~raftlib.kv.Indeterminate`): it may yet be applied.
One that never reached a leader raises :class:`~raftlib.kv.ErrNoLeader`.

Leases are timed by virtual time. Grants and revokes are writes; the leader's lessor expires
leases (checked every 500 virtual ms once a lease has been granted, as etcd's lessor loop) and
proposes their revokes; keep-alive and time-to-live are answered by the leader.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from .._cluster import Client, Cluster, MemberInfo
from ..kv import (
    DEFAULT_QUOTA_BYTES,
    AlarmAction,
    AlarmRequest,
    AlarmType,
    CompactionRequest,
    CompactionResponse,
    Compare,
    CompareResult,
    CompareTarget,
    DefragmentRequest,
    DeleteRangeRequest,
    DeleteRangeResponse,
    ErrBadLeaderTransferee,
    KVError,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseIdGenerator,
    LeaseKeepAliveResponse,
    LeaseLeasesResponse,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    LeaseTimeToLiveResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    Request,
    RequestOp,
    Response,
    TxnRequest,
    TxnResponse,
    Watcher,
    admit_write,
    min_lease_ttl,
)
from ..kv._errors import (
    ErrLearnerNotReady,
    ErrMemberNotFound,
    ErrMemberNotLearner,
    ErrNoLeader,
    ErrStopped,
    ErrTimeout,
    ErrTimeoutLeaderTransfer,
    Indeterminate,
)
from ..kv._replicated import KVResult, ReplicatedKV, encode_command
from ..raft import ETCD, FAILPOINTS, ConfChange, ConfChangeType, RaftError, ReadState, Role, Timing
from ._sim import Simulation

__all__ = ["CLUSTER_BUGS", "HistorySink", "Pending", "SimClient", "SimCluster"]

LOCAL_LINEARIZABLE_READ = "local_linearizable_read"
"""Planted bug: a linearizable read is served from the member's store without ReadIndex."""
SKIP_DEDUP = "skip_dedup"
"""Planted bug: the state machine ignores its session table (etcd's own behaviour)."""
CLUSTER_BUGS: frozenset[str] = frozenset({LOCAL_LINEARIZABLE_READ, SKIP_DEDUP})
"""Failpoints of the service layer (``SimCluster(bugs=...)`` also takes Raft's)."""

_Kind = Literal["write", "read", "serial"]


class HistorySink(Protocol):
    """What a client records operations into (``raftlib.check.History`` is one)."""

    def record(self, client: int, key: bytes, kind: Literal["get", "put", "delete", "cas"],
               invoked: float, returned: float | None, value: bytes | None = None,
               expected: bytes | None = None, output: bytes | bool | None = None) -> None:
        """Record one operation (``returned=None``: outcome unknown)."""


@dataclass(slots=True)
class Pending:
    """A request in flight; ``done`` once answered or given up."""

    done: bool = False
    response: object = None
    error: KVError | None = None
    callbacks: list[Callable[[Pending], None]] = field(default_factory=list)

    def result(self) -> object:
        """The response, or raise the error."""
        if not self.done:
            raise ErrTimeout()
        if self.error is not None:
            raise self.error
        return self.response


@dataclass(slots=True)
class _Op:
    client: SimClient
    kind: _Kind
    req: Request
    seq: int
    deadline: int
    invoked: int
    record: Callable[[Response], tuple[bytes, str, bytes | None, bytes | None,
                                       bytes | bool | None]] | None
    data: bytes = b""
    attempt: int = 0
    proposed: bool = False
    asked: bool = False
    target: int | None = None
    pending: Pending = field(default_factory=Pending)


class SimCluster:
    """A simulated etcd cluster of ``n`` members (ids ``1..n``) running the replicated store.

    ``quota_backend_bytes`` is etcd's ``--quota-backend-bytes``, checked on the leader before
    it proposes a write. ``dedup`` keeps the client session table (etcd has none; see
    ``raftlib.kv.ReplicatedKV``). ``bugs`` takes Raft failpoints and :data:`CLUSTER_BUGS`.
    ``request_timeout_ms`` is a client's deadline per call (etcd: 5 s + 2 election timeouts);
    ``attempt_ms`` how long it waits on one member before trying again. Other keyword
    arguments go to :class:`Simulation` (``sim`` is the simulation itself).
    """

    def __init__(self, n: int = 5, seed: int = 1, timing: Timing = ETCD,
                 quota_backend_bytes: int = DEFAULT_QUOTA_BYTES, *, dedup: bool = True,
                 bugs: Iterable[str] = (), rpc_ms: tuple[int, int] = (1, 3),
                 request_timeout_ms: int = 7000, attempt_ms: int = 1000,
                 **sim_kwargs: object) -> None:
        names = set(bugs)
        unknown = names - FAILPOINTS - CLUSTER_BUGS
        if unknown:
            raise ValueError(f"unknown failpoints: {sorted(unknown)}")
        self.bugs = frozenset(names & CLUSTER_BUGS)
        self.dedup = dedup and SKIP_DEDUP not in self.bugs
        self.quota_backend_bytes = quota_backend_bytes
        self.rpc_ms = rpc_ms
        self.request_timeout_ms = request_timeout_ms
        self.attempt_ms = attempt_ms
        # The client side draws from its own generator so the Raft trace keeps its randomness.
        self.rng = random.Random(seed * 1_000_003 + 17)
        self._writes: dict[tuple[int, int, int], _Op] = {}
        self._reads: dict[tuple[int, bytes], _Op] = {}
        self._index_waits: dict[int, list[tuple[int, _Op, int]]] = {}
        self._next_client = 1
        self._lease_timer = False
        self._timing = timing  # for the state machines, made before self.sim exists
        self.sim = Simulation(n, seed, timing, bugs=names & FAILPOINTS,
                              state_machine=self._make_sm, **sim_kwargs)  # type: ignore[arg-type]
        self.sim.on_applied(self._applied)
        self.sim.on_read_state(self._read_state)

    def _make_sm(self, mid: int) -> ReplicatedKV:
        t = self._timing

        def leading() -> bool:
            node = self.sim.members[mid].node
            return node is not None and node.role is Role.LEADER

        sm = ReplicatedKV(mid, dedup=self.dedup, clock=lambda: self.sim.now / 1000,
                          leading=leading, lease_extend=t.election_timeout_ms / 1000,
                          min_lease_ttl=min_lease_ttl(t.election_timeout_ms // t.heartbeat_ms,
                                                      t.heartbeat_ms))
        # The Simulation boots its first members before self.sim is set: time 0.
        sm.store.lease_ids = LeaseIdGenerator(mid, self.sim.now if hasattr(self, "sim") else 0)
        return sm

    def _expire_leases(self) -> None:
        """Every 500 ms, as etcd's lessor loop: the leader proposes a revoke (a command of no
        client session) for each lease its lessor finds expired."""
        for mid in self.members:
            sm = self.store(mid)
            if sm is None or self.sim.members[mid].paused:
                continue
            for lid in sm.expired_leases():
                with contextlib.suppress(RaftError):  # no longer leader: the next one will
                    self.sim.propose_at(mid, encode_command(0, 0, LeaseRevokeRequest(lid)))
        self.sim.at(self.sim.now + 500, self._expire_leases)

    def _use_leases(self) -> None:
        # The loop starts with the first lease call, so that runs without leases keep their
        # event queue (and traces) unchanged.
        if not self._lease_timer:
            self._lease_timer = True
            self.sim.at(self.sim.now + 500, self._expire_leases)

    # ----------------------------------------------------------------- Cluster interface

    @property
    def members(self) -> tuple[int, ...]:
        """Every member id (voters and learners, up or down)."""
        return tuple(sorted(self.sim.members))

    @property
    def now(self) -> int:
        """Virtual time in ms."""
        return self.sim.now

    def crash(self, member: int) -> None:
        """Kill ``member``: its node and store are lost, its Raft storage kept."""
        self.sim.crash(member)

    def restart(self, member: int) -> None:
        """Restart ``member``: its store is rebuilt from its snapshot and log."""
        self.sim.restart(member)

    def pause(self, member: int) -> None:
        """Freeze ``member``."""
        self.sim.pause(member)

    def resume(self, member: int) -> None:
        """Unfreeze ``member``."""
        self.sim.resume(member)

    def partition(self, groups: Sequence[Sequence[int]]) -> None:
        """Split the members' network (clients still reach every member)."""
        self.sim.partition([list(g) for g in groups])

    def isolate(self, member: int) -> None:
        """Cut ``member`` off from the other members."""
        self.sim.isolate(member)

    def heal(self) -> None:
        """Remove every partition and cut."""
        self.sim.heal()

    def wait(self, ms: int) -> None:
        """Run ``ms`` of virtual time."""
        self.sim.run_for(ms)

    def leader(self) -> int | None:
        """The running leader of the highest term, if any."""
        return self.sim.leader()

    def store(self, member: int) -> ReplicatedKV | None:
        """The replicated state machine of ``member`` (``None`` while down)."""
        sm = self.sim.members[member].sm
        assert sm is None or isinstance(sm, ReplicatedKV)
        return sm

    def status(self) -> dict[int, MemberInfo]:
        """Role, term, leader, indexes, revision, sizes and alarms of every member."""
        return {mid: self.member_status(mid) for mid in self.members}

    def member_status(self, mid: int) -> MemberInfo:
        """Status of one member."""
        m = self.sim.members[mid]
        st = self.sim.status()[mid]
        sm = self.store(mid)
        learner = m.node is not None and mid in m.node.learners
        if sm is None:
            return MemberInfo(mid, False, False, None, st.term, 0, st.commit, 0, 0, 0, 0, (),
                              learner)
        s = sm.store.status()
        alarms = tuple(sorted({a.alarm.value for a in sm.store.alarms()}))
        return MemberInfo(mid, True, st.paused, st.role.value if st.role else None, st.term,
                          st.leader, st.commit, st.applied, s.header_revision, s.db_size,
                          s.db_size_in_use, alarms, learner)

    def client(self, member: int | None = None, history: HistorySink | None = None,
               timeout_ms: int | None = None) -> SimClient:
        """A new client (its own id and sequence numbers) attached to ``member``."""
        cid = self._next_client
        self._next_client += 1
        return SimClient(self, cid, member if member is not None else self.members[0],
                         history, timeout_ms or self.request_timeout_ms)

    # ----------------------------------------------------------------- request machinery

    def _latency(self) -> int:
        lo, hi = self.rpc_ms
        return self.rng.randint(lo, hi)

    def _start(self, op: _Op) -> Pending:
        self._attempt(op)
        return op.pending

    def _attempt(self, op: _Op) -> None:
        if op.pending.done:
            return
        if self.sim.now >= op.deadline:
            self._give_up(op)
            return
        op.attempt += 1
        a = op.attempt
        target = op.client._target(op)
        op.target = target
        self.sim.at(self.sim.now + self._latency(), lambda: self._arrive(op, a, target))

    def _retry(self, op: _Op, a: int, delay: int) -> None:
        if op.attempt != a or op.pending.done:
            return
        op.attempt += 1  # the old attempt's late events are ignored from now on
        # At least 1 ms, so that virtual time moves even with rpc_ms=(0, 0).
        self.sim.at(min(self.sim.now + max(1, delay), op.deadline), lambda: self._attempt(op))

    def _arrive(self, op: _Op, a: int, mid: int) -> None:
        if op.attempt != a or op.pending.done:
            return
        m = self.sim.members.get(mid)
        node = None if m is None else m.node
        if m is None or node is None:
            op.client._failed(mid)  # connection refused
            self._retry(op, a, self._latency())
            return
        started = self.sim.now
        if m.paused:
            self._watchdog(op, a, mid, None, started)  # the request just hangs
            return
        sm = self.store(mid)
        assert sm is not None
        if op.kind == "serial" or (op.kind == "read" and LOCAL_LINEARIZABLE_READ in self.bugs):
            self._serve_read(mid, op, a)
            return
        if op.kind == "read":
            ctx = f"{op.client.id}:{op.seq}:{a}".encode()
            op.asked = True
            # Registered first: a single voter answers at once, from inside read_index.
            self._reads[(mid, ctx)] = op
            if not self.sim.read_index(mid, ctx):
                del self._reads[(mid, ctx)]
                op.client._failed(mid)  # this member knows no leader: try another
                self._retry(op, a, self.sim.timing.heartbeat_ms)
                return
            self._watchdog(op, a, mid, None, started)
            return
        if node.role is not Role.LEADER:
            op.client._not_leader(mid, node.lead)
            self._retry(op, a, self._latency() if node.lead else self.sim.timing.heartbeat_ms)
            return
        # etcd admits a write before proposing it: one that would not fit raises the NOSPACE
        # alarm through the log and fails (certainly) with NOSPACE; one too large, too.
        refusal = admit_write(op.req, sm.store.backend.size(), sm.store.alarms(),
                              self.quota_backend_bytes)
        if refusal is not None:
            if refusal.raise_alarm:
                alarm = AlarmRequest(AlarmAction.ACTIVATE, mid, AlarmType.NOSPACE)
                with contextlib.suppress(RaftError):  # no longer leader: the next one checks
                    self.sim.propose_at(mid, encode_command(0, 0, alarm))
            self._reply(op, a, None, refusal.error)
            return
        try:
            self.sim.propose_at(mid, op.data)
        except RaftError:
            self._retry(op, a, self.sim.timing.heartbeat_ms)  # e.g. leadership moving
            return
        op.proposed = True
        self._writes[(mid, op.client.id, op.seq)] = op
        self._watchdog(op, a, mid, node.term, started)

    def _watchdog(self, op: _Op, a: int, mid: int, term: int | None, started: int) -> None:
        def check() -> None:
            if op.attempt != a or op.pending.done:
                return
            now = self.sim.now
            if now >= op.deadline:
                self._give_up(op)
                return
            m = self.sim.members[mid]
            node = m.node
            lost = node is None or (
                term is not None and (node.term != term or node.role is not Role.LEADER)
            )
            if lost or now - started >= self.attempt_ms:
                op.client._failed(mid)
                self._retry(op, a, 0)
                return
            self.sim.at(now + self.sim.timing.tick_ms, check)

        self.sim.at(self.sim.now + self.sim.timing.tick_ms, check)

    def _give_up(self, op: _Op) -> None:
        if op.kind == "write":
            err: KVError = ErrTimeout() if op.proposed else ErrNoLeader()
        else:
            err = ErrTimeout() if op.asked else ErrNoLeader()
        self._finish(op, None, err)

    def _applied(self, mid: int, entry: object, result: object) -> None:
        if isinstance(result, KVResult) and result.client:
            op = self._writes.pop((mid, result.client, result.seq), None)
            if op is not None and not op.pending.done:
                self._reply(op, op.attempt, result.response, result.error, check=False,
                            mid=mid)
        waits = self._index_waits.get(mid)
        if waits:
            applied = self.sim.members[mid].applied
            ready = [w for w in waits if w[0] <= applied]
            if ready:
                self._index_waits[mid] = [w for w in waits if w[0] > applied]
                for _, rop, a in ready:
                    self._serve_read(mid, rop, a)

    def _read_state(self, mid: int, rs: ReadState) -> None:
        op = self._reads.pop((mid, rs.ctx), None)
        if op is None or op.pending.done:
            return
        a = int(rs.ctx.decode().rsplit(":", 1)[1])
        if self.sim.members[mid].applied >= rs.index:
            self._serve_read(mid, op, a)
        else:
            self._index_waits.setdefault(mid, []).append((rs.index, op, a))

    def _serve_read(self, mid: int, op: _Op, a: int) -> None:
        if op.attempt != a or op.pending.done:
            return
        sm = self.store(mid)
        if sm is None:
            return
        try:
            resp = sm.store.apply(op.req)
        except KVError as exc:
            self._reply(op, a, None, exc, mid=mid)
            return
        self._reply(op, a, resp, None, mid=mid)

    def _reply(self, op: _Op, a: int, resp: object, err: KVError | None,
               check: bool = True, mid: int | None = None) -> None:
        if check and op.attempt != a:
            return
        epoch = -1 if mid is None else self.sim.members[mid].epoch

        def arrive() -> None:
            # An answer still in flight when its member crashes is lost with the connection.
            if mid is not None and self.sim.members[mid].epoch != epoch:
                return
            self._finish(op, resp, err)

        self.sim.at(self.sim.now + self._latency(), arrive)

    def _finish(self, op: _Op, resp: object, err: KVError | None) -> None:
        p = op.pending
        if p.done:
            return
        p.done, p.response, p.error = True, resp, err
        op.client._waiting.discard(op.seq)
        h = op.client.history
        if h is not None and op.record is not None:
            if err is None:
                assert resp is not None
                key, kind, value, expected, output = op.record(resp)  # type: ignore[arg-type]
                h.record(op.client.id, key, kind, op.invoked, self.sim.now,  # type: ignore[arg-type]
                         value, expected, output)
            elif isinstance(err, Indeterminate) and op.kind == "write":
                key, kind, value, expected, _ = op.record(None)  # type: ignore[arg-type]
                h.record(op.client.id, key, kind, op.invoked, None,  # type: ignore[arg-type]
                         value, expected, None)
        for cb in p.callbacks:
            cb(p)


class SimClient:
    """A client of a :class:`SimCluster` (implements ``raftlib.Client``).

    Synchronous calls run virtual time until answered; ``*_async`` calls return a
    :class:`Pending` so that several clients can work concurrently (a test drives the
    simulation meanwhile). With a ``history`` every single-key get, put, delete and cas is
    recorded for the linearizability checker.
    """

    def __init__(self, cluster: SimCluster, cid: int, member: int,
                 history: HistorySink | None, timeout_ms: int) -> None:
        self.cluster = cluster
        self.id = cid
        self.member = member
        self.history = history
        self.timeout_ms = timeout_ms
        self._seq = 0
        self._waiting: set[int] = set()  # sequence numbers of this client's unanswered commands
        self._leader: int | None = None
        self._cursor = 0
        self._read_at: int | None = None

    # ----------------------------------------------------------------- routing

    def _order(self) -> list[int]:
        ms = list(self.cluster.members)
        if self.member in ms:
            i = ms.index(self.member)
            ms = ms[i:] + ms[:i]
        return ms

    def _target(self, op: _Op) -> int:
        order = self._order()
        if op.kind != "write":
            # The attached member first; after a failure, the next members in turn.
            if op.target is None:
                return order[0]
            return order[(order.index(op.target) + 1) % len(order)] if op.target in order \
                else order[0]
        if self._leader is not None and self._leader in self.cluster.sim.members:
            return self._leader
        t = order[self._cursor % len(order)]
        return t

    def _failed(self, mid: int) -> None:
        if self._leader == mid:
            self._leader = None
        self._cursor += 1

    def _not_leader(self, mid: int, hint: int) -> None:
        if hint and hint != mid:
            self._leader = hint
        else:
            self._leader = None
            self._cursor += 1

    # ----------------------------------------------------------------- plumbing

    def _op(self, kind: _Kind, req: Request,
            record: Callable[[Response], tuple[bytes, str, bytes | None, bytes | None,
                                               bytes | bool | None]] | None = None) -> Pending:
        self._seq += 1
        c = self.cluster
        op = _Op(self, kind, req, self._seq, c.sim.now + self.timeout_ms, c.sim.now,
                 record if self.history is not None else None)
        if kind == "write":
            self._waiting.add(self._seq)
            op.data = encode_command(self.id, self._seq, req, min(self._waiting))
        return c._start(op)

    def _wait(self, p: Pending) -> object:
        self.cluster.sim.run_until(lambda: p.done, self.timeout_ms + 1000)
        return p.result()

    # ----------------------------------------------------------------- async API

    def put_async(self, key: bytes, value: bytes, *, prev_kv: bool = False,
                  lease: int = 0) -> Pending:
        """Start a put; see :meth:`put`."""
        return self._op("write", PutRequest(key, value, lease, prev_kv=prev_kv),
                        lambda r: (key, "put", value, None, None))

    def get_async(self, key: bytes, range_end: bytes = b"", *, revision: int = 0,
                  limit: int = 0, serializable: bool = False) -> Pending:
        """Start a get; see :meth:`get`."""
        simple = not range_end and not revision

        def rec(r: Response) -> tuple[bytes, str, bytes | None, bytes | None,
                                      bytes | bool | None]:
            assert isinstance(r, RangeResponse)
            return key, "get", None, None, r.kvs[0].value if r.kvs else None

        req = RangeRequest(key, range_end, limit=limit, revision=revision)
        # A serializable read may be stale by design: it is not part of a linearizable history.
        return self._op("serial" if serializable else "read", req,
                        rec if simple and not serializable else None)

    def delete_async(self, key: bytes, range_end: bytes = b"", *,
                     prev_kv: bool = False) -> Pending:
        """Start a delete; see :meth:`delete`."""
        return self._op("write", DeleteRangeRequest(key, range_end, prev_kv),
                        None if range_end else (lambda r: (key, "delete", None, None, None)))

    def cas_async(self, key: bytes, expected: bytes | None, value: bytes) -> Pending:
        """Start a compare-and-swap; see :meth:`cas`."""
        cmp = (Compare(key, CompareTarget.CREATE, CompareResult.EQUAL, 0) if expected is None
               else Compare(key, CompareTarget.VALUE, CompareResult.EQUAL, expected))

        def rec(r: Response | None) -> tuple[bytes, str, bytes | None, bytes | None,
                                             bytes | bool | None]:
            return key, "cas", value, expected, (r.succeeded if isinstance(r, TxnResponse)
                                                 else None)

        return self._op("write", TxnRequest((cmp,), (PutRequest(key, value),)), rec)

    # ----------------------------------------------------------------- Client interface

    def put(self, key: bytes, value: bytes, *, prev_kv: bool = False,
            lease: int = 0) -> PutResponse:
        """Set ``key`` to ``value`` (through the leader; retried at most once applied),
        attached to ``lease`` if given."""
        r = self._wait(self.put_async(key, value, prev_kv=prev_kv, lease=lease))
        assert isinstance(r, PutResponse)
        return r

    def lease_grant(self, ttl: int, lease_id: int = 0) -> LeaseGrantResponse:
        """Grant a lease through the log; with ``lease_id`` 0 the attached member (or the
        next running one) picks the id, as etcd's member taking the request does."""
        self.cluster._use_leases()
        if not lease_id:
            sm = next((x for m in self._order() if (x := self.cluster.store(m)) is not None),
                      None)
            if sm is None:
                raise ErrStopped()
            lease_id = sm.store.lease_ids.next()
        r = self._wait(self._op("write", LeaseGrantRequest(ttl, lease_id)))
        assert isinstance(r, LeaseGrantResponse)
        return r

    def lease_revoke(self, lease_id: int) -> LeaseRevokeResponse:
        """Revoke a lease through the log; its keys go in one revision."""
        r = self._wait(self._op("write", LeaseRevokeRequest(lease_id)))
        assert isinstance(r, LeaseRevokeResponse)
        return r

    def _at_leader(self) -> ReplicatedKV:
        """The leader's state machine, one client hop away each way (etcd forwards
        keep-alives and time-to-live requests to the leader)."""
        lead = self._leader_node_wait()
        self.cluster.sim.run_for(self.cluster._latency())
        sm = self.cluster.store(lead)
        if sm is None:
            raise ErrStopped()
        return sm

    def lease_keep_alive(self, lease_id: int) -> LeaseKeepAliveResponse:
        """Renew a lease at the leader (TTL 0: no such lease)."""
        r = self._at_leader().store.lease_keep_alive(lease_id)
        self.cluster.sim.run_for(self.cluster._latency())
        return r

    def lease_time_to_live(self, lease_id: int, keys: bool = False) -> LeaseTimeToLiveResponse:
        """A lease's whole seconds left at the leader (-1: no such lease)."""
        r = self._at_leader().store.lease_time_to_live(lease_id, keys)
        self.cluster.sim.run_for(self.cluster._latency())
        return r

    def leases(self) -> LeaseLeasesResponse:
        """The leases the attached (or next running) member knows."""
        for mid in self._order():
            sm = self.cluster.store(mid)
            if sm is not None:
                return sm.store.leases()
        raise ErrStopped()

    def get(self, key: bytes, range_end: bytes = b"", *, revision: int = 0, limit: int = 0,
            serializable: bool = False) -> RangeResponse:
        """Read ``key`` or a range: linearizable (ReadIndex) unless ``serializable``."""
        r = self._wait(self.get_async(key, range_end, revision=revision, limit=limit,
                                      serializable=serializable))
        assert isinstance(r, RangeResponse)
        return r

    def delete(self, key: bytes, range_end: bytes = b"", *,
               prev_kv: bool = False) -> DeleteRangeResponse:
        """Delete ``key`` or a range."""
        r = self._wait(self.delete_async(key, range_end, prev_kv=prev_kv))
        assert isinstance(r, DeleteRangeResponse)
        return r

    def cas(self, key: bytes, expected: bytes | None, value: bytes) -> bool:
        """Set ``key`` to ``value`` if it holds ``expected`` (``None``: absent); a txn."""
        r = self._wait(self.cas_async(key, expected, value))
        assert isinstance(r, TxnResponse)
        return r.succeeded

    def txn(self, compare: Sequence[Compare] = (), success: Sequence[RequestOp] = (),
            failure: Sequence[RequestOp] = ()) -> TxnResponse:
        """A transaction, through the log (read-only ones too)."""
        r = self._wait(self._op("write", TxnRequest(tuple(compare), tuple(success),
                                                    tuple(failure))))
        assert isinstance(r, TxnResponse)
        return r

    def compact(self, revision: int) -> CompactionResponse:
        """Compact every member's history below ``revision`` (through the log)."""
        r = self._wait(self._op("write", CompactionRequest(revision)))
        assert isinstance(r, CompactionResponse)
        return r

    def watch(self, key: bytes, range_end: bytes = b"", *, start_revision: int = 0,
              prev_kv: bool = False) -> Watcher:
        """Watch on the attached member's store (or the next running one). The watcher ends
        with its member (a crash or a snapshot install); a real client would re-watch."""
        for mid in self._order():
            sm = self.cluster.store(mid)
            if sm is not None:
                sm.watched = True
                w = sm.store.watch_hub.watch(key, range_end, start_revision=start_revision,
                                             prev_kv=prev_kv)
                while sm.store.watch_hub.sync():  # a replay comes in batches of whole revisions
                    pass
                return w
        raise ErrStopped()

    def defragment(self, member: int) -> None:
        """Defragment ``member``'s backend now (local to it, not replicated, as in etcd)."""
        sm = self.cluster.store(member)
        if sm is None:
            raise ErrStopped()
        sm.store.apply(DefragmentRequest())

    def alarms(self) -> tuple[str, ...]:
        """Alarms raised, as the attached (or next running) member knows them."""
        for mid in self._order():
            sm = self.cluster.store(mid)
            if sm is not None:
                return tuple(sorted({a.alarm.value for a in sm.store.alarms()}))
        raise ErrStopped()

    def disarm(self) -> tuple[str, ...]:
        """Disarm every raised alarm through the log; returns the alarms disarmed."""
        out: list[str] = []
        for mid in self._order():
            sm = self.cluster.store(mid)
            if sm is None:
                continue
            for a in sm.store.alarms():
                r = self._wait(self._op("write", AlarmRequest(AlarmAction.DEACTIVATE,
                                                              a.member_id, a.alarm)))
                out += [x.alarm.value for x in getattr(r, "alarms", ())]
            return tuple(out)
        raise ErrStopped()

    def _leader_node_wait(self) -> int:
        sim = self.cluster.sim
        sim.run_until(lambda: sim.leader() is not None, self.timeout_ms)
        lead = sim.leader()
        if lead is None:
            raise ErrNoLeader()
        return lead

    def _conf_change(self, change: ConfChange) -> None:
        sim = self.cluster.sim
        end = sim.now + self.timeout_ms
        while True:
            lead = self._leader_node_wait()
            index = sim.change_conf(change)
            if index is not None:
                break
            if sim.now >= end:
                raise ErrTimeout()
            sim.run_for(sim.timing.tick_ms)
        if not sim.run_until(lambda: sim.members[lead].applied >= index,
                             max(0, end - sim.now)):
            raise ErrTimeout()

    def member_add(self, learner: bool = False) -> int:
        """Add a member (voter, or learner if asked) with the next free id and start it."""
        new = max(self.cluster.members) + 1
        kind = ConfChangeType.ADD_LEARNER if learner else ConfChangeType.ADD_VOTER
        self._conf_change(ConfChange(kind, new))
        return new

    def member_remove(self, member: int) -> None:
        """Remove ``member`` from the membership (it stays in ``members`` as a bystander)."""
        lead = self._leader_node_wait()
        node = self.cluster.sim.members[lead].node
        assert node is not None
        if member not in node.voters + node.learners:
            raise ErrMemberNotFound()
        self._conf_change(ConfChange(ConfChangeType.REMOVE, member))

    def member_promote(self, member: int) -> None:
        """Promote learner ``member`` to voter once it has caught up with the leader."""
        lead = self._leader_node_wait()
        node = self.cluster.sim.members[lead].node
        assert node is not None
        if member not in node.learners:
            if member in node.voters:
                raise ErrMemberNotLearner()
            raise ErrMemberNotFound()
        pr = node.progress(member)
        # etcd: the learner's match must be within 90% of the leader's commit index.
        if pr is None or pr.match < node.commit * 9 // 10:
            raise ErrLearnerNotReady()
        self._conf_change(ConfChange(ConfChangeType.ADD_VOTER, member))

    def move_leader(self, member: int) -> None:
        """Transfer leadership to ``member``; waits until it leads."""
        sim = self.cluster.sim
        self._leader_node_wait()
        lead = sim.leader()
        node = sim.members[lead].node if lead is not None else None
        if node is not None and member not in node.voters:
            raise ErrBadLeaderTransferee()
        if not sim.transfer_leader(member):
            raise ErrTimeoutLeaderTransfer()
        if not sim.run_until(lambda: sim.leader() == member, sim.timing.election_timeout_ms):
            raise ErrTimeoutLeaderTransfer()
        self._leader = member

    def status(self) -> MemberInfo:
        """Status of the attached member."""
        return self.cluster.member_status(self.member)


if TYPE_CHECKING:  # mypy proves that the simulator implements the Cluster interface
    def _is_cluster(c: SimCluster) -> Cluster:
        return c

    def _is_client(c: SimClient) -> Client:
        return c
