"""One raftlib member as an OS process: the sans-I/O core driven by real timers, sockets and disk.

A single trio task owns the Ready loop. For each Ready it writes the batch to the write-ahead
log and fsyncs it (proposals arriving meanwhile pile up and share the next fsync), sends the
messages, applies the committed entries and advances the node. A leader sends its appends
before its own fsync, which then runs in a worker thread while the store applies and clients
are answered; a follower fsyncs in place and answers the leader before it applies (see
``_send_early`` for why both stay safe). Every other task (a timer calling ``tick``, peer
connections calling ``step``, HTTP handlers proposing) only feeds the node and wakes that
loop; trio runs them on one thread, so the node is never touched by two of them at once.
With ``RAFTLIB_STAGES=1`` in its environment a member times every stage of a write
(``_stages.py``; ``GET /raftlib/stages``).

Clients speak etcd 3.4's JSON gateway (``raftlib.gateway``). A write is proposed at the
leader (a follower forwards it) and answered when this member applies it: every member applies
the same entries, so the follower's answer is the leader's. A linearizable read waits for a
ReadIndex (batched: one round of heartbeats serves every read that arrived before it was
issued) and for this member to apply that index. The space quota is checked where etcd checks
it, on the member that receives the write, before proposing.

On start the state machine is rebuilt from the newest snapshot and the log: the SQLite file of
the store is recreated, since the Raft log, not the store, is the durable record.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import itertools
import json
import logging
import math
import os
import random
import secrets
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import trio

from .. import gateway as gw
from ..kv import (
    MAX_REQUEST_BYTES,
    AlarmAction,
    AlarmRequest,
    AlarmType,
    ErrBadLeaderTransferee,
    ErrDeadlineExceeded,
    ErrLearnerNotReady,
    ErrMemberNotFound,
    ErrMemberNotLearner,
    ErrNotEnoughStartedMembers,
    ErrNotLeader,
    ErrRequestTooLarge,
    ErrTimeout,
    ErrTimeoutLeaderTransfer,
    ErrUnhealthy,
    KVError,
    LeaseGrantRequest,
    LeaseIdGenerator,
    LeaseRevokeRequest,
    RangeRequest,
    Request,
    Response,
    TxnRequest,
    admit_write,
    min_lease_ttl,
)
from ..kv._replicated import KVResult, ReplicatedKV, encode_command
from ..raft import (
    ConfChange,
    ConfChangeType,
    Config,
    ConfState,
    EntryType,
    HardState,
    Message,
    Node,
    RaftError,
    ReadState,
    Ready,
    Role,
)
from ._codec import Proposal, Removed
from ._http import Reply, Stream, serve_http
from ._http import Request as HttpRequest
from ._launch import DEFAULT_PROGRESS_NOTIFY_MS, DEFAULT_SNAPSHOT_COUNT, MemberSpec
from ._stages import Stages, clock
from ._stages import from_env as stages_from_env
from ._transport import Transport
from ._wal import DiskStorage
from ._watchstream import json_line, watch_stream

__all__ = ["WATCH_BUFFER", "Member", "main"]

WATCH_BUFFER = 128
"""Responses a watch stream may have waiting for a client that does not read before its
watcher is moved aside and caught up later from the store (etcd's ``chanBufLen``)."""

DEFAULT_QUOTA = 2 * 1024**3


async def _let_senders_run() -> None:
    # Two passes of the scheduler: the sender tasks woken by the frames just queued have run
    # (each writes its frames to its socket at once), whatever order trio picked.
    await trio.sleep(0)
    await trio.sleep(0)


@dataclass(slots=True)
class _Waiter:
    event: trio.Event = field(default_factory=trio.Event)
    result: KVResult | None = None


@dataclass(slots=True)
class _ReadBatch:
    event: trio.Event = field(default_factory=trio.Event)
    index: int | None = None


@dataclass(frozen=True, slots=True)
class _Peer:
    peer: tuple[str, int]
    client: tuple[str, int] | None


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"not a host:port address: {text!r}")
    return host, int(port)


def _url(addr: tuple[str, int] | None) -> str:
    return "" if addr is None else f"http://{addr[0]}:{addr[1]}"


class Member:
    """A running member. :meth:`run` serves until cancelled (SIGTERM/SIGINT in :func:`main`)."""

    def __init__(self, spec: MemberSpec, log: logging.Logger) -> None:
        self.spec = spec
        self.log = log
        os.makedirs(spec.data_dir, exist_ok=True)
        others = tuple(sorted(i for i in spec.peers if i != spec.id))
        # A joining member starts knowing the members before it (as in the simulator); the
        # change that adds it reaches it through the log.
        voters = others if spec.join else tuple(sorted(spec.peers))
        self.storage = DiskStorage.open(os.path.join(spec.data_dir, "wal"), ConfState(voters))
        if (not spec.join and self.storage.hard_state == HardState()
                and self.storage.last_index() == 0):
            # A new cluster starts at term 1, as etcd's raft.Bootstrap does, so its first
            # leader's term is 2 in every header, as on etcd.
            self.storage.save(hard_state=HardState(1, 0, 0))
            self.storage.sync()
        if self.storage.recovered_tail:
            log.warning("write-ahead log: dropped a torn tail of %d bytes",
                        self.storage.recovered_tail)
        if self.storage.skipped_snapshot is not None:
            log.warning("write-ahead log: %s; recovered from the previous snapshot and its log",
                        self.storage.skipped_snapshot)
        db = os.path.join(spec.data_dir, "db.sqlite")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.remove(db + suffix)
        ticks = max(2, math.ceil(spec.election_ms / spec.heartbeat_ms))
        # Leases are timed by the monotonic clock and expired by the leader alone.
        self.kv = ReplicatedKV(spec.id, path=db, clock=time.monotonic,
                               leading=lambda: self.node.role is Role.LEADER,
                               lease_extend=spec.election_ms / 1000,
                               min_lease_ttl=min_lease_ttl(ticks, spec.heartbeat_ms))
        self.kv.store.lease_ids = LeaseIdGenerator(spec.id, time.time_ns() // 1_000_000)
        self.kv.store.watch_max_pending = WATCH_BUFFER
        snap = self.storage.snapshot()
        if snap.index:
            self.kv.restore(snap.data)
        self.applied = snap.index
        self.quota = spec.quota_backend_bytes or DEFAULT_QUOTA
        config = Config(spec.id, election_ticks=ticks, heartbeat_ticks=1, check_quorum=True,
                        prevote=spec.pre_vote)
        # Outside the simulator there is no replay to keep: the OS seeds the election jitter.
        self.node = Node(config, self.storage, random.Random())
        self.registry: dict[int, _Peer] = {
            i: _Peer(a, spec.client if i == spec.id else spec.clients.get(i))
            for i, a in spec.peers.items()}
        self.cluster_id = int.from_bytes(
            hashlib.blake2b(spec.token.encode(), digest_size=8).digest(), "big") >> 1
        self.transport = Transport(spec.id, spec.token, dict(spec.peers), self._on_frame, log)
        self._wake = trio.Event()
        self._applied = trio.Event()
        self._leader_known = trio.Event()
        self._waiters: dict[int, _Waiter] = {}
        self._proposals: list[bytes] = []
        # This member is a client of the replicated store with a session of its own (Raft
        # dissertation, 6.3): a write it proposes again after a leader change is applied at
        # most once. A random id per boot keeps sessions of different boots apart.
        self._client = secrets.randbits(62) | 1
        self._seq = itertools.count(1)
        self._in_flight: set[int] = set()
        self._read_next: _ReadBatch | None = None
        self._read_asked = trio.Event()
        self._reads: dict[bytes, _ReadBatch] = {}
        self._read_ctx = 0
        self._removed = False
        self._seen: tuple[Role, int, int] | None = None  # last role, term, leader logged
        self._gone: set[int] = set()  # members removed from the cluster
        self.stages = stages_from_env()  # None unless RAFTLIB_STAGES asks for the breakdown
        self.request_timeout = 5.0 + 2 * spec.election_ms / 1000

    # ----------------------------------------------------------------- running

    async def run(self) -> None:
        """Serve peers and clients until cancelled or removed from the cluster."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.transport.serve)
            host, port = self.spec.client
            await nursery.start(partial(
                serve_http, host, port, self._handle, self._too_large,
                MAX_REQUEST_BYTES * 2, self.log, max_connections=self.spec.max_connections,
                stages=self.stages))
            nursery.start_soon(self._ticker)
            nursery.start_soon(self._ready_loop, nursery)
            nursery.start_soon(self._read_issuer)
            nursery.start_soon(self._expire_leases, nursery)
            self.log.info("member %d serving clients on %s:%d, peers on %s:%d",
                          self.spec.id, host, port, *self.spec.peers[self.spec.id])
            self._poke()

    def _poke(self) -> None:
        self._wake.set()

    def metrics(self) -> dict[str, int]:
        """raftlib's own counters (``GET /raftlib/metrics``): fsyncs of the log, applied
        index, snapshot index, waiting requests, live watchers, the watch responses waiting
        for their clients, and the process's garbage collections (:class:`GcPauses`)."""
        hub = self.kv.store.watch_hub
        return {"wal_syncs": self.storage.syncs, "applied": self.applied,
                "snapshot_index": self.storage.snapshot().index,
                "pending_writes": len(self._waiters),
                "watchers": len(hub), "watch_pending": hub.pending,
                "gc_collections": GC_PAUSES.collections,
                "gc_full_collections": GC_PAUSES.full_collections,
                "gc_longest_pause_us": round(GC_PAUSES.longest * 1e6)}

    async def _ticker(self) -> None:
        period = self.spec.heartbeat_ms / 1000
        next_at = trio.current_time()
        while True:
            next_at += period
            await trio.sleep_until(next_at)
            self.node.tick()
            self._poke()

    async def _expire_leases(self, nursery: trio.Nursery) -> None:
        """The leader proposes a revoke for each expired lease (etcd's lessor checks every
        500 ms); a lost revoke is proposed again when the lessor reports the lease again."""
        async def revoke(lid: int) -> None:
            with contextlib.suppress(KVError):
                await self._write(LeaseRevokeRequest(lid))

        while True:
            await trio.sleep(0.5)
            for lid in self.kv.expired_leases():
                nursery.start_soon(revoke, lid)

    def _on_frame(self, frm: int, frame: object) -> None:
        if isinstance(frame, Message) and frm in self._gone:
            self.transport.send(frm, Removed())
            return
        if isinstance(frame, Removed):
            self._removed = True
        elif isinstance(frame, Message):
            st = self.stages
            if st is None:
                try:
                    self.node.step(frame)
                except RaftError as e:
                    self.log.warning("dropping %s from %d: %s", frame.type, frm, e)
            else:
                self._step_timed(st, frame)
        elif isinstance(frame, Proposal):
            self._propose_here(frame.data)
        self._poke()

    def _step_timed(self, st: Stages, m: Message) -> None:
        """``node.step`` with the stages' stamps (``RAFTLIB_STAGES``)."""
        commit = self.node.commit
        if m.entries and not st.frame_in:
            st.frame_in = clock()
        try:
            self.node.step(m)
        except RaftError as e:
            self.log.warning("dropping %s from %d: %s", m.type, m.frm, e)
        if self.node.commit > commit:
            st.committed(self.node.commit)

    async def _ready_loop(self, nursery: trio.Nursery) -> None:
        node = self.node
        st = self.stages
        stamp = clock if st is not None else float  # float() is 0.0: no clock reads when off
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            self._flush_proposals()
            while node.has_ready():
                rd = node.ready()
                taken = stamp()
                self._note_leader(rd)
                early = self._send_early(rd)
                if early:
                    self._send(rd)
                sent = stamp()
                self.storage.save(rd.hard_state, rd.entries, rd.snapshot)
                written = stamp()
                applied = False
                if rd.snapshot is not None:
                    if rd.must_sync:
                        await trio.to_thread.run_sync(self.storage.sync)
                    self.kv.restore(rd.snapshot.data)
                    self.applied = rd.snapshot.index
                    self._broadcast_applied()
                elif early and rd.must_sync:
                    # The appends are on their way; the store applies (entries durable since
                    # earlier Readys) and clients are answered while the log is fsynced.
                    await self._sync_while(partial(self._apply, rd))
                    applied = True
                elif rd.must_sync:
                    # Here the answers wait for this fsync alone, and there is nothing to do
                    # meanwhile: no worker thread (two wake-ups less).
                    self.storage.sync()
                synced = stamp()
                if not early:
                    self._send(rd)
                    sent = stamp()
                if not applied:
                    if rd.messages:
                        await _let_senders_run()  # before the store's work delays them
                    self._apply(rd)
                if st is not None and rd.entries:
                    if rd.role is Role.LEADER:
                        st.leader_ready(rd.entries[-1].index, sent, written, synced)
                    else:
                        st.follower_ready(taken, written, synced, sent)
                for rs in rd.read_states:
                    self._read_answered(rs)
                node.advance(rd)
                self._maybe_snapshot()
            if self._removed:
                self.log.warning("member %d was removed from the cluster; stopping",
                                 self.spec.id)
                nursery.cancel_scope.cancel()
                return

    def _send_early(self, rd: Ready) -> bool:
        """Whether ``rd``'s messages may leave before its entries are durable here.

        A leader sends its appends first and writes its own log while the followers write
        theirs (Raft dissertation 10.2.1; etcd's raftNode does the same): one fsync less on
        a write's path. Not for a Ready that changes the term or the vote, nor one holding a
        snapshot: those must be durable before anything is said on their strength.

        The leader's acknowledgements still count only once durable everywhere they matter:
        every commit index in ``rd`` or known before it was reached by followers' answers to
        appends sent in earlier Readys, which this loop fsynced before taking ``rd`` (the
        entries of ``rd`` cannot have been answered before they are sent); and what commits
        while this Ready's fsync runs is applied, answered, persisted or sent only in a later
        Ready, taken after that fsync.
        """
        if rd.role is not Role.LEADER or rd.snapshot is not None:
            return False
        hs, saved = rd.hard_state, self.storage.hard_state
        return hs is None or (hs.term == saved.term and hs.vote == saved.vote)

    async def _sync_while(self, work: Callable[[], None]) -> None:
        """fsync the log in a worker thread and, once the queued frames are sent, do ``work``
        here meanwhile."""
        token = trio.lowlevel.current_trio_token()
        done = trio.Event()
        failed: list[BaseException] = []

        def sync() -> None:  # in the worker thread
            try:
                self.storage.sync()
            except BaseException as e:
                failed.append(e)
            token.run_sync_soon(done.set)

        trio.lowlevel.start_thread_soon(sync, lambda _: None)
        try:
            await _let_senders_run()
            work()
        finally:
            with trio.CancelScope(shield=True):  # as to_thread: the fsync is not abandoned
                await done.wait()
        if failed:
            raise failed[0]

    def _send(self, rd: Ready) -> None:
        for m in rd.messages:
            self.transport.send(m.to, m)

    def _note_leader(self, rd: Ready) -> None:
        seen = (rd.role, self.node.term, rd.leader)
        if seen != self._seen:
            self._seen = seen
            self.log.info("%s at term %d, leader %s", rd.role.value, self.node.term,
                          rd.leader or "unknown")
        if rd.leader and not self._leader_known.is_set():
            self._leader_known.set()
        elif not rd.leader and self._leader_known.is_set():
            self._leader_known = trio.Event()

    def _apply(self, rd: Ready) -> None:
        if not rd.committed:
            return
        with self.kv.store.backend.batch():  # one SQLite commit for the whole batch
            for e in rd.committed:
                if e.index <= self.applied:
                    continue
                self.applied = e.index
                if e.type is EntryType.CONF_CHANGE:
                    self._apply_conf_change(ConfChange.decode(e.data))
                    continue
                result = self.kv.apply(e)
                if result is not None and result.client == self._client:
                    w = self._waiters.get(result.seq)
                    if w is not None:
                        w.result = result
                        w.event.set()
                        if self.stages is not None:
                            self.stages.applied(result.seq, e.index)
        self._broadcast_applied()

    def _broadcast_applied(self) -> None:
        self._applied.set()
        self._applied = trio.Event()

    def _apply_conf_change(self, cc: ConfChange) -> None:
        if cc.type is ConfChangeType.REMOVE:
            # Its address stays known to the transport, to tell it that it was removed.
            self.registry.pop(cc.node, None)
            self._gone.add(cc.node)
            if cc.node == self.spec.id:
                self._removed = True
            return
        if cc.context:
            ctx = json.loads(cc.context)
            peer = _addr(ctx["peer"])
            client = _addr(ctx["client"]) if ctx.get("client") else None
            self.registry[cc.node] = _Peer(peer, client)
            self.transport.set_peer(cc.node, peer)

    def _maybe_snapshot(self) -> None:
        if self.node.applied - self.storage.snapshot().index < self.spec.snapshot_count:
            return
        try:
            self.node.compact(self.node.applied, self.kv.snapshot())
        except RaftError as e:  # not yet persisted: the next batch will do
            self.log.debug("snapshot postponed: %s", e)

    # ----------------------------------------------------------------- proposals and reads

    def _propose_here(self, data: bytes) -> bool:
        """Propose at this member if it leads, else forward to the leader it knows.

        The leader queues proposals and the Ready loop appends them as one batch, so that
        the proposals of a busy moment travel to the followers in one append."""
        node = self.node
        if node.role is Role.LEADER:
            self._proposals.append(data)
            self._poke()
            return True
        if node.lead:
            self.transport.send(node.lead, Proposal(data))
            return True
        return False

    def _flush_proposals(self) -> None:
        batch, self._proposals = self._proposals, []
        if not batch:
            return
        try:
            last = self.node.propose_batch(batch)
            if self.stages is not None:
                self.stages.proposed(last)
        except RaftError as e:  # e.g. no longer leader, or a transfer under way
            self.log.debug("dropped %d proposals: %s", len(batch), e)  # clients time out

    async def _write(self, req: Request) -> Response:
        self._admit(req)
        seq = next(self._seq)
        self._in_flight.add(seq)
        data = encode_command(self._client, seq, req, min(self._in_flight))
        w = _Waiter()
        self._waiters[seq] = w
        tick = self.spec.heartbeat_ms / 1000
        proposed = False
        try:
            with trio.move_on_after(self.request_timeout):
                while True:
                    while not self._propose_here(data):
                        with trio.move_on_after(tick):
                            await self._leader_known.wait()
                        await trio.sleep(0)
                    proposed = True
                    if self.stages is not None:
                        self.stages.queued(seq)
                    sent_to = (self.node.term, self.node.lead)
                    # The leader it went to may die with it: propose it again to the next
                    # leader (the session table drops the copy if both get committed).
                    while not w.event.is_set() and sent_to == (self.node.term, self.node.lead):
                        with trio.move_on_after(tick):
                            await w.event.wait()
                    if w.event.is_set():
                        break
        finally:
            self._waiters.pop(seq, None)
            self._in_flight.discard(seq)
            if self.stages is not None:
                self.stages.woken(seq)
        if w.result is None:
            # As etcd: a write that never found a leader to take it is answered with the
            # context's error; one that was proposed, with etcd's timeout.
            raise ErrTimeout() if proposed else ErrDeadlineExceeded()
        if w.result.error is not None:
            raise w.result.error
        assert w.result.response is not None
        return w.result.response

    def _admit(self, req: Request) -> None:
        store = self.kv.store
        refusal = admit_write(req, store.backend.size(), store.alarms(), self.quota)
        if refusal is not None:
            if refusal.raise_alarm:
                alarm = AlarmRequest(AlarmAction.ACTIVATE, self.spec.id, AlarmType.NOSPACE)
                self._propose_here(encode_command(0, next(self._seq), alarm))
            raise refusal.error

    async def _read_barrier(self) -> None:
        """Return once this member has applied everything committed before the call."""
        with trio.move_on_after(self.request_timeout):
            while True:
                if self._read_next is None:
                    self._read_next = _ReadBatch()
                    self._read_asked.set()
                batch = self._read_next
                await batch.event.wait()
                if batch.index is not None:
                    while self.applied < batch.index:
                        await self._applied.wait()
                    return
        raise ErrTimeout()

    async def _read_issuer(self) -> None:
        # One ReadIndex round serves every read that joined the batch before it was issued.
        while True:
            await self._read_asked.wait()
            self._read_asked = trio.Event()
            batch, self._read_next = self._read_next, None
            if batch is None:
                continue
            self._read_ctx += 1
            ctx = f"{self._read_ctx}".encode()
            if self.node.read_index(ctx):
                self._reads[ctx] = batch
                self._poke()
                with trio.move_on_after(self.spec.election_ms / 1000):
                    await batch.event.wait()
                self._reads.pop(ctx, None)
            else:
                with trio.move_on_after(self.spec.heartbeat_ms / 1000):
                    await self._leader_known.wait()
            batch.event.set()  # with index None when unanswered: the readers ask again

    def _read_answered(self, rs: ReadState) -> None:
        batch = self._reads.pop(rs.ctx, None)
        if batch is not None:
            batch.index = rs.index
            batch.event.set()

    async def _kv(self, req: Request, serializable: bool) -> Response:
        read_only = isinstance(req, RangeRequest) or (
            isinstance(req, TxnRequest) and _read_only(req))
        if not read_only:
            return await self._write(req)
        if not serializable:
            await self._read_barrier()
        return self.kv.store.apply(req)

    # ----------------------------------------------------------------- HTTP

    def _header(self) -> gw.Header:
        return gw.Header(self.cluster_id, self.spec.id, self.kv.store.revision, self.node.term)

    def _json(self, body: object, status: int = 200) -> Reply:
        return Reply(status, json.dumps(body, separators=(",", ":")).encode())

    def _too_large(self, size: int) -> Reply:
        status, body = gw.render_error(ErrRequestTooLarge())
        return self._json(body, status)

    async def _handle(self, req: HttpRequest) -> Reply | Stream:
        try:
            return await self._route(req)
        except (KVError, gw.GatewayError) as e:
            status, body = gw.render_error(e)
            return self._json(body, status)

    async def _route(self, req: HttpRequest) -> Reply | Stream:
        path = req.path.rstrip("/")
        if req.method == "GET" and path == "/health":
            # As etcd's checkHealth: unhealthy without a leader or with any alarm raised.
            ok = self.node.lead != 0 and not self.kv.store.alarms()
            return self._json(gw.render_health(ok), 200 if ok else 503)
        if req.method == "GET" and path == "/version":
            return self._json(gw.render_version())
        if req.method == "GET" and path == "/raftlib/metrics":
            return self._json(self.metrics())
        if path == "/raftlib/stages" and self.stages is not None:
            if req.method == "POST":
                self.stages.clear()
            return self._json(self.stages.report())
        for prefix in ("/v3/", "/v3beta/"):
            if path.startswith(prefix):
                sub = path[len(prefix):]
                break
        else:
            if path == "/raftlib/partition" and req.method == "POST":
                return self._partition(req.body)
            return _NO_PAGE
        if req.method != "POST":
            return _NOT_ALLOWED
        if sub.startswith("kv/") and sub[3:] in _KV_CALLS:
            request, serializable = gw.parse_kv(sub, req.body)
            resp = await self._kv(request, serializable)
            return self._json(gw.render(resp, self._header()))
        if sub == "watch":
            return self._watch(req.body)
        if sub in gw.LEASE_PATHS:
            return await self._lease(gw.LEASE_PATHS[sub], req.body)
        if sub == "maintenance/status":
            return self._json(self._status())
        if sub == "maintenance/defragment":
            resp = self.kv.store.defragment()
            return self._json(gw.render(resp, self._header()))
        if sub == "maintenance/alarm":
            return await self._alarm(req.body)
        if sub == "maintenance/transfer-leadership":
            await self._move_leader(gw.parse_transfer(req.body))
            return self._json(gw.render_transfer())
        if sub.startswith("cluster/member/"):
            return await self._membership(sub, req.body)
        return _NOT_FOUND

    def _partition(self, body: bytes) -> Reply:
        """raftlib's own test hook: drop traffic to and from the listed members."""
        try:
            blocked = json.loads(body or b"{}").get("blocked", [])
            self.transport.blocked = {int(x) for x in blocked}
        except (ValueError, TypeError, AttributeError) as e:
            raise gw.GatewayError(400, 3, f"bad partition request: {e}") from e
        return self._json({"blocked": sorted(self.transport.blocked)})

    def _status(self) -> dict[str, object]:
        st = self.kv.store.status()
        return gw.render_status(
            self._header(), version=gw.ETCD_VERSION, db_size=st.db_size,
            leader=self.node.lead, raft_index=self.node.commit, raft_term=self.node.term,
            raft_applied_index=self.applied, db_size_in_use=st.db_size_in_use,
            is_learner=self.spec.id in self.node.learners,
            errors=[gw.alarm_text(a) for a in self.kv.store.alarms()])

    def _watch(self, body: bytes) -> Stream:
        return Stream(watch_stream(self.kv, self._header, lambda: self._applied.wait(),
                                   gw.parse_watch_stream(body),
                                   self.spec.watch_progress_notify_ms))

    async def _lease(self, call: str, body: bytes) -> Reply | Stream:
        """Grants and revokes go through the log; keep-alives and time-to-live are answered
        by the leader (a follower asks it, as etcd forwards them); the list is this member's."""
        if call == "keepalive":
            ids = gw.parse_keepalive_stream(body)
            # The first answer before the stream starts: its error is the call's error.
            first = json_line(await self._keep_alive(ids[0])) if ids else b""

            async def lines() -> AsyncIterator[bytes]:
                yield first
                for lid in ids[1:]:
                    try:
                        answer = await self._keep_alive(lid)
                    except (KVError, gw.GatewayError) as e:  # etcd ends the stream too
                        self.log.info("keep-alive stream ended: %s", e)
                        return
                    yield json_line(answer)
            return Stream(lines())
        req = gw.parse_lease(call, body)
        if isinstance(req, LeaseGrantRequest):
            lid = req.id or self.kv.store.lease_ids.next()
            resp = await self._write(LeaseGrantRequest(req.ttl, lid))
            return self._json(gw.render(resp, self._header()))
        if isinstance(req, LeaseRevokeRequest):
            return self._json(gw.render(await self._write(req), self._header()))
        if req.lease_id is None:
            return self._json(gw.render_lease_leases(self.kv.store.leases(), self._header()))
        if self.node.role is not Role.LEADER:
            return await self._relay("lease/timetolive", body)
        await self._read_barrier()  # as etcd's waitAppliedIndex
        return self._json(gw.render_lease_ttl(
            self.kv.store.lease_time_to_live(req.lease_id, req.keys), self._header()))

    async def _keep_alive(self, lid: int) -> dict[str, object]:
        if self.node.role is not Role.LEADER:
            status, data = await self._ask_leader("lease/keepalive", json_line({"ID": str(lid)}))
            answer = json.loads(data.split(b"\n", 1)[0] or b"{}")
            if status != 200 or "result" not in answer:
                raise gw.GatewayError(status, int(answer.get("code", 2)),
                                      str(answer.get("message", "keep-alive failed")))
            answer["result"]["header"]["member_id"] = str(self.spec.id)
            return dict(answer)
        await self._read_barrier()
        return gw.render_keepalive(self.kv.store.lease_keep_alive(lid), self._header())

    async def _alarm(self, body: bytes) -> Reply:
        req = gw.parse_alarm(body)
        if req.action is AlarmAction.GET:
            resp = self.kv.store.apply(req)
        else:
            resp = await self._write(req)
        return self._json(gw.render(resp, self._header()))

    async def hand_over(self) -> None:
        """Before a graceful stop, as etcd 3.4's ``EtcdServer.Stop``: a leader hands leadership
        to a voter (etcd: the longest-connected; here the most caught-up, which can take over
        soonest) and waits for it to lead; if that fails it stops anyway."""
        node = self.node
        others = [v for v in node.voters if v != self.spec.id]
        if node.role is not Role.LEADER or not others:
            return

        def caught_up(v: int) -> tuple[int, int]:
            pr = node.progress(v)
            return (pr.match if pr is not None else -1, -v)

        target = max(others, key=caught_up)
        try:
            await self._move_leader(target)
            self.log.info("handed leadership to member %d before stopping", target)
        except KVError as e:
            self.log.warning("stopping without handing leadership over: %s", e)

    async def _move_leader(self, target: int) -> None:
        node = self.node
        if node.role is not Role.LEADER:
            raise ErrNotLeader()
        if target not in node.voters:
            raise ErrBadLeaderTransferee()
        node.transfer_leader(target)
        self._poke()
        with trio.move_on_after(self.spec.election_ms * 2 / 1000):
            while node.lead != target:
                await trio.sleep(self.spec.heartbeat_ms / 4000)
            return
        raise ErrTimeoutLeaderTransfer()

    # ----------------------------------------------------------------- membership

    def _members(self) -> list[gw.MemberJSON]:
        node = self.node
        out = []
        for i in sorted({*node.voters, *node.learners}):
            p = self.registry.get(i)
            out.append(gw.MemberJSON(
                i, f"n{i}", (_url(p.peer),) if p else (),
                (_url(p.client),) if p and p.client else (), i in node.learners))
        return out

    async def _membership(self, sub: str, body: bytes) -> Reply:
        if sub == "cluster/member/list":
            return self._json(gw.render_member_list(self._members(), self._header()))
        node = self.node
        if node.role is not Role.LEADER:
            # Membership changes are proposed by the leader: relay the request to it.
            return await self._relay(sub, body)
        if sub == "cluster/member/add":
            peer_urls, learner = gw.parse_member_add(body)
            self._may_add(learner)
            new = max([*self.registry, *node.voters, *node.learners]) + 1
            peer = peer_urls[0].split("://", 1)[-1]
            ctx = json.dumps({"peer": peer, "client": ""}).encode()
            kind = ConfChangeType.ADD_LEARNER if learner else ConfChangeType.ADD_VOTER
            await self._change(ConfChange(kind, new, ctx))
            added = next(m for m in self._members() if m.id == new)
            return self._json(gw.render_member_add(added, self._members(), self._header()))
        target = gw.parse_member_id(body)
        if target not in node.voters and target not in node.learners:
            raise ErrMemberNotFound()
        if sub == "cluster/member/remove":
            await self._change(ConfChange(ConfChangeType.REMOVE, target))
        elif sub == "cluster/member/promote":
            if target not in node.learners:
                raise ErrMemberNotLearner()
            pr = node.progress(target)
            # etcd promotes a learner only once it holds 90% of the leader's log.
            if pr is None or pr.match * 10 < node.commit * 9:
                raise ErrLearnerNotReady()
            await self._change(ConfChange(ConfChangeType.ADD_VOTER, target))
            return self._json(gw.render_member_promote(self._members(), self._header()))
        else:
            return _NOT_FOUND
        return self._json(gw.render_member_remove(self._members(), self._header()))

    async def _change(self, cc: ConfChange) -> None:
        with trio.move_on_after(self.request_timeout):
            while True:
                try:
                    index = self.node.propose_conf_change(cc)
                    break
                except RaftError:  # another change still pending, or no entry of our term
                    await trio.sleep(self.spec.heartbeat_ms / 1000)
            self._poke()
            while self.applied < index:
                await self._applied.wait()
            return
        raise ErrTimeout()

    def _may_add(self, learner: bool) -> None:
        """etcd 3.4's strict reconfiguration check (``mayAddMember``), on by default there."""
        voters = self.node.voters
        if not learner:
            started = [v for v in voters if v == self.spec.id
                       or ((p := self.registry.get(v)) is not None and p.client)]
            grown = len(voters) + 1
            if not (len(started) == 1 and grown == 2) and len(started) < grown // 2 + 1:
                raise ErrNotEnoughStartedMembers()
        # Every voter connected to this member for etcd's HealthInterval (5 s).
        since = trio.current_time() - _HEALTH_INTERVAL
        for v in voters:
            up = self.transport.active_since.get(v)
            if v != self.spec.id and (up is None or up > since):
                raise ErrUnhealthy()

    async def _relay(self, sub: str, body: bytes) -> Reply:
        status, data = await self._ask_leader(sub, body)
        try:
            answer = json.loads(data)
        except ValueError:
            return Reply(status, data)
        if isinstance(answer, dict) and isinstance(answer.get("header"), dict):
            # As etcd: the member that took the request answers in its own name.
            answer["header"]["member_id"] = str(self.spec.id)
            return self._json(answer, status)
        return Reply(status, data)

    async def _ask_leader(self, sub: str, body: bytes) -> tuple[int, bytes]:
        """POST ``body`` to ``/v3/<sub>`` at the leader; its status and body."""
        lead = self.registry.get(self.node.lead)
        if lead is None or lead.client is None:
            raise ErrNotLeader()
        url = f"{_url(lead.client)}/v3/{sub}"

        def post() -> tuple[int, bytes]:
            rq = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(rq, timeout=self.request_timeout) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()

        try:
            return await trio.to_thread.run_sync(post)
        except OSError as e:
            raise ErrTimeout() from e


# etcd's gateway answers these in plain text: an unknown call under /v3/ (grpc-gateway's
# mux), and any other path (Go's http.NotFound; /v3alpha/ too, which etcd 3.4 does not serve).
_NOT_FOUND = Reply(404, b"Not Found\n", "text/plain; charset=utf-8")
_NO_PAGE = Reply(404, b"404 page not found\n", "text/plain; charset=utf-8")
_KV_CALLS = frozenset({"range", "put", "deleterange", "txn", "compaction"})
_HEALTH_INTERVAL = 5.0  # etcdserver.HealthInterval
_NOT_ALLOWED = Reply(405, b"Method Not Allowed\n", "text/plain; charset=utf-8")


def _read_only(req: TxnRequest) -> bool:
    def ok(ops: Sequence[object]) -> bool:
        return all(isinstance(op, RangeRequest)
                   or (isinstance(op, TxnRequest) and _read_only(op)) for op in ops)
    return ok(req.success) and ok(req.failure)


# --------------------------------------------------------------------- command line

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


def _duration_ms(text: str) -> int:
    """A Go duration of one unit (``10m``, ``1s``, ``500ms``) in milliseconds."""
    num = text.rstrip("smh")
    unit = text[len(num):]
    try:
        ms = float(num) * _UNITS_MS[unit]
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r}") from None
    return round(ms)


def _parse(argv: Sequence[str]) -> MemberSpec:
    p = argparse.ArgumentParser(
        prog="raftlib member", description="Run one raftlib member in the foreground.")
    p.add_argument("--id", type=int, required=True, help="this member's id (1, 2, ...)")
    p.add_argument("--data-dir", required=True, help="write-ahead log, snapshots and store")
    p.add_argument("--peers", required=True,
                   help="every member's peer address: 1=127.0.0.1:2380,2=127.0.0.1:2390,...")
    p.add_argument("--clients", default="",
                   help="other members' client addresses, same form (for member list)")
    p.add_argument("--listen-client", default="127.0.0.1:2379",
                   help="where to serve etcd's JSON gateway (default 127.0.0.1:2379)")
    p.add_argument("--cluster-token", default="raftlib",
                   help="members of another cluster (another token) are refused")
    p.add_argument("--heartbeat-ms", type=int, default=100)
    p.add_argument("--election-ms", type=int, default=1000)
    p.add_argument("--quota-backend-bytes", type=int, default=0, help="0: 2 GiB, as etcd")
    p.add_argument("--pre-vote", action="store_true", help="campaign with PreVote")
    p.add_argument("--snapshot-count", type=int, default=DEFAULT_SNAPSHOT_COUNT,
                   help="applied entries between snapshots (default %(default)s)")
    p.add_argument("--join", action="store_true",
                   help="this member was just added to a running cluster")
    p.add_argument("--experimental-watch-progress-notify-interval", type=_duration_ms,
                   default=DEFAULT_PROGRESS_NOTIFY_MS, metavar="DURATION",
                   help="between progress notifications to watches that asked for them "
                        "(Go's form: 10m, 1s, 500ms; default 10m, at least 100ms, as etcd)")
    p.add_argument("--max-connections", type=int, default=0,
                   help="open client connections at most; beyond it the longest idle is "
                        "closed (default 0: the file limit less a reserve of 128)")
    a = p.parse_args(list(argv))

    def table(text: str) -> dict[int, tuple[str, int]]:
        out = {}
        for item in filter(None, text.split(",")):
            k, _, v = item.partition("=")
            out[int(k)] = _addr(v)
        return out

    try:
        peers = table(a.peers)
        clients = table(a.clients)
        client = _addr(a.listen_client)
    except ValueError as e:
        p.error(str(e))
    if a.id not in peers:
        p.error(f"--peers does not name member {a.id}")
    if a.heartbeat_ms <= 0 or a.election_ms <= a.heartbeat_ms:
        p.error("--election-ms must exceed --heartbeat-ms > 0")
    if a.snapshot_count < 1:
        p.error("--snapshot-count must be at least 1")
    if a.max_connections < 0:
        p.error("--max-connections must not be negative")
    return MemberSpec(a.id, a.data_dir, peers, client, a.cluster_token, a.heartbeat_ms,
                      a.election_ms, a.quota_backend_bytes, a.join, a.pre_vote, clients,
                      a.snapshot_count, a.max_connections,
                      a.experimental_watch_progress_notify_interval)


class GcPauses:
    """Python's garbage collector, paced for a member, and its pauses measured.

    A member's state (log entries, the key index: about six tracked objects per stored key)
    is long-lived and free of cycles, yet with CPython's default thresholds (700, 10, 10) the
    collector scans it again and again: a member under 64 clients ran 150 to 350 collections
    in 13,700 puts, one or two of them full, and its longest pause was 51 to 96 ms. So at
    start (after recovery) the state is frozen out of collections (``gc.freeze``), and the
    thresholds below make the older generations' collections rare: in the same run, 4
    collections, none full, the longest pause 7 to 30 ms (``GET /raftlib/metrics``). Cycles
    are still collected, later; a member makes few (about 400 objects in cycles over 19,000
    puts, nearly all found young).
    """

    THRESHOLDS = (20_000, 50, 100)

    def __init__(self) -> None:
        self.collections = 0
        self.full_collections = 0
        self.longest = 0.0  # seconds
        self._started = 0.0

    def install(self) -> None:
        """Freeze what exists now, set the thresholds and time every collection."""
        gc.collect()
        gc.freeze()
        gc.set_threshold(*self.THRESHOLDS)
        gc.callbacks.append(self._on_collection)

    def _on_collection(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        self.collections += 1
        self.full_collections += info["generation"] == 2
        self.longest = max(self.longest, time.perf_counter() - self._started)


GC_PAUSES = GcPauses()


def main(argv: Sequence[str] | None = None) -> int:
    """``raftlib member ...``: run a member until SIGTERM or SIGINT; 1 if it cannot start."""
    spec = _parse(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s member {spec.id} %(levelname)s %(message)s")
    log = logging.getLogger(f"raftlib.member.{spec.id}")
    try:
        member = Member(spec, log)
    except (RaftError, OSError, ValueError) as e:
        log.error("cannot start: %s", e)
        return 1
    GC_PAUSES.install()

    async def serve() -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                async def stop_on_signal() -> None:
                    async for _ in signals:
                        await member.hand_over()
                        nursery.cancel_scope.cancel()
                        return
                nursery.start_soon(stop_on_signal)
                await member.run()
                nursery.cancel_scope.cancel()

    try:
        trio.run(serve)
    except OSError as e:
        log.error("cannot serve: %s", e)
        return 1
    log.info("stopped")
    return 0
