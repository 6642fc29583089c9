"""A deterministic discrete-event simulation of a Raft cluster."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import heapq
import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

from .._trace import Frame, InFlight, MemberFrame, Record
from ..raft import (
    ETCD,
    ConfChange,
    ConfChangeType,
    Config,
    ConfState,
    Entry,
    EntryType,
    HardState,
    LocalError,
    MemoryStorage,
    Message,
    MessageType,
    Node,
    RaftError,
    ReadState,
    Ready,
    Role,
    Snapshot,
    Timing,
)
from ._tracelog import APPLY, DELIVER, PERSIST, PROPOSE, SEND, TICK, Trace, decode

_TICK, _DELIVER, _SYNC = 0, 1, 2
_ONCE = (0,)
#: Most actions (and, apart, scheduled calls) a ``Simulation.script`` holds; a longer run has
#: no script, so that long runs spend no memory on it.
SCRIPT_ENTRIES = 100_000
_FRAME_LOG = 8  # entries per member shown by frame()
_blake2b = hashlib.blake2b


class Monitor(Protocol):
    """Hooks a checker implements to watch a simulation event by event (see raftlib.check)."""

    def on_state(self, sim: Simulation, member: int, old_term: int) -> None:
        """``member`` changed role, term or leader (its previous term is ``old_term``)."""

    def on_send(self, sim: Simulation, msg: Message) -> None:
        """``msg`` leaves its sender (after the sender persisted what it depends on)."""

    def on_persist(self, sim: Simulation, member: int, rd: Ready, lost: Entry | None) -> None:
        """``member`` made ``rd`` durable; ``lost`` is the first stored entry it overwrote."""

    def on_apply(self, sim: Simulation, member: int, entry: Entry) -> None:
        """``member`` applied ``entry`` to its state machine."""

    def on_restore(self, sim: Simulation, member: int, index: int) -> None:
        """``member``'s state machine was reset to a snapshot at ``index`` (restart/install)."""

    def on_panic(self, sim: Simulation, member: int, error: Exception) -> None:
        """``member`` stopped because its node raised ``error`` (it found its log corrupt)."""


class StateMachine(Protocol):
    """The application a member replicates: what ``Simulation(state_machine=...)`` builds.

    It is volatile: a crash loses it, and a restart builds a new one, restores the member's
    last durable snapshot into it and replays the committed log after that snapshot.
    """

    def apply(self, entry: Entry) -> object:
        """Apply one committed entry (no-ops and membership changes included); the result
        goes to the ``on_applied`` callbacks."""

    def snapshot(self) -> bytes:
        """The state as bytes, taken when the member compacts its log."""

    def restore(self, data: bytes) -> None:
        """Replace the state by a snapshot's ``data`` (restart, or a snapshot from the leader)."""


StateMachineFactory = Callable[[int], StateMachine]
"""Builds the state machine of member ``id`` (called at boot and at every restart)."""


@dataclass(frozen=True, slots=True)
class MemberStatus:
    """What ``Simulation.status()`` reports per member. ``role`` is ``None`` when down."""

    role: Role | None
    term: int
    vote: int
    commit: int
    applied: int
    last_index: int
    leader: int
    up: bool
    paused: bool


@dataclass(slots=True)
class Proposal:
    """A client proposal: ``index``/``committed_at`` stay ``None`` until known."""

    handle: int
    data: bytes
    t: int
    leader: int | None
    index: int | None = None
    committed_at: int | None = None


class Member:
    """Per-member driver state: the node, its durable storage and its state machine."""

    __slots__ = (
        "applied", "config", "digest", "durable_hard_state", "epoch", "id", "inbox", "lead",
        "node", "paused", "pending", "role", "sm", "storage", "sync_due", "term", "ticked_at",
        "undo", "up",
    )

    def __init__(self, mid: int, config: Config, storage: MemoryStorage) -> None:
        self.id = mid
        self.config = config
        self.storage = storage
        # What an fsync has made durable; writes since then can be lost with the power.
        self.durable_hard_state = storage.hard_state
        self.undo: list[tuple[HardState, Snapshot, list[Entry] | None]] = []
        self.node: Node | None = None
        self.up = False
        self.paused = False
        self.epoch = 0
        self.pending: Ready | None = None
        self.sync_due = False
        self.inbox: list[Message] = []
        self.applied = 0
        self.digest = b""
        self.sm: StateMachine | None = None
        self.role: Role | None = None
        self.term = 0
        self.lead = 0
        self.ticked_at = 0  # virtual time of the node's last tick (frames draw its timers)


class Simulation:
    """A cluster of ``n`` members on a virtual network, driven by one seeded ``random.Random``.

    Time is an integer number of virtual milliseconds. Network defaults: each message takes
    ``delay_ms`` (uniform, inclusive), is lost with probability ``loss`` and duplicated with
    probability ``dup``; random delays reorder messages. Each persist takes ``disk_ms``.
    ``compact_every`` makes members snapshot their state machine every that many entries.
    ``bugs`` enables failpoints on every member (see ``raftlib.raft.FAILPOINTS``).
    ``prevote`` and ``check_quorum`` default to what etcd 3.4 runs: ``--pre-vote`` is off
    unless asked for, and CheckQuorum is always on.
    By default each member's state machine folds the entries it applies into
    ``members[id].digest`` (snapshots carry the digest); ``state_machine`` plugs in another
    one per member (``members[id].sm``, see :class:`StateMachine`), whose apply results go to
    the ``on_applied`` callbacks and whose ReadIndex answers go to ``on_read_state``.
    A member's Ready is handled as etcd's loop does: committed entries are applied at once,
    then the writes take ``disk_ms`` (a crash in between may lose them), then messages are
    sent. Same arguments, same trace, byte for byte.
    ``script`` (plain JSON, see :class:`Script`) records the arguments and every action from
    outside, so that :meth:`replay` can run this simulation again event for event (live mode in
    the built book); it is None for a run that cannot be replayed.
    """

    # Slots: with more than 30 attributes, an instance dict stops sharing its keys and every
    # attribute access on the hot paths becomes a slower hinted dict lookup (CPython 3.11).
    __slots__ = (
        "_applied_cbs", "_blocked", "_by_data", "_calls", "_groups", "_heap", "_in_event",
        "_internal", "_links", "_observers", "_read_cbs", "_record", "_recording", "_reserved",
        "_seq", "_sm_factory", "_tracing", "bugs", "check_quorum", "compact_every", "delay_ms",
        "disk_ms",
        "dup", "events", "loss", "max_msg_entries", "members", "messages_sent", "monitor", "now",
        "prevote", "proposals", "rng", "script", "seed", "timing", "trace",
    )

    def __init__(
        self,
        n: int = 5,
        seed: int = 1,
        timing: Timing = ETCD,
        prevote: bool = False,
        check_quorum: bool = True,
        delay_ms: tuple[int, int] = (1, 5),
        loss: float = 0.0,
        dup: float = 0.0,
        disk_ms: tuple[int, int] = (1, 2),
        learners: int = 0,
        compact_every: int | None = None,
        max_msg_entries: int = 64,
        bugs: Iterable[str] = (),
        trace: bool = True,
        state_machine: StateMachineFactory | None = None,
    ) -> None:
        self.seed = seed
        self._sm_factory = state_machine
        self._applied_cbs: list[Callable[[int, Entry, object], None]] = []
        self._read_cbs: list[Callable[[int, ReadState], None]] = []
        self.timing = timing
        self.prevote = prevote
        self.check_quorum = check_quorum
        self.delay_ms = delay_ms
        self.loss = loss
        self.dup = dup
        self.disk_ms = disk_ms
        self.compact_every = compact_every
        self.max_msg_entries = max_msg_entries
        self.bugs = frozenset(bugs)
        self.now = 0
        self.rng = random.Random(seed)
        self.trace = Trace()
        self._tracing = trace
        self._recording = trace
        self._observers: list[Callable[[Record], None]] = []
        # Where hot paths hand a record as a row (see ``Trace``) when ``_recording``: the
        # trace's own list of rows while nobody observes (the common case: no call through
        # ``_emit``), else ``_emit``. Records built as dicts go to ``_emit``.
        self._record: Callable[[tuple[Any, ...]], None] = (
            self.trace.rows.extend if trace else self._emit)
        self.monitor: Monitor | None = None
        # The events, as heaps ordered by (time, sequence number): what the cluster does
        # (deliveries, ticks, fsyncs: a few dozen at a time) and the calls scheduled by ``at``
        # (a workload schedules thousands at once; kept apart, they do not make every
        # push and pop of the busy heap go through a deep one).
        self._heap: list[tuple[int, int, int, Any, int]] = []
        self._calls: list[tuple[int, int, Callable[[], object]]] = []
        self._seq = 0
        self._links: dict[tuple[int, int], tuple[tuple[int, int], float, float]] = {}
        self._blocked: set[tuple[int, int]] = set()
        self._groups: list[list[int]] | None = None
        self.proposals: list[Proposal] = []
        self._by_data: dict[bytes, Proposal] = {}
        self.messages_sent = 0
        self.events = 0
        # What replays this run (see ``script``): the arguments, then every action from outside
        # with its position, and the sequence number of every ``at`` (``calls``).
        self.script: Script | None = {
            "args": {"n": n, "seed": seed, "timing": dataclasses.asdict(timing),
                     "prevote": prevote, "check_quorum": check_quorum,
                     "delay_ms": list(delay_ms), "loss": loss, "dup": dup,
                     "disk_ms": list(disk_ms), "learners": learners,
                     "compact_every": compact_every, "max_msg_entries": max_msg_entries,
                     "bugs": sorted(self.bugs)},
            "actions": [], "calls": []}
        self._in_event = False  # inside a delivery, tick or sync: what happens is the core's
        self._internal = False  # the simulator itself acts (a panic crashes its member)
        self._reserved: dict[int, int] = {}  # replay: seq -> time of each recorded ``at``
        voters = tuple(range(1, n + 1))
        conf = ConfState(voters, tuple(range(n + 1, n + learners + 1)))
        self.members: dict[int, Member] = {}
        for mid in voters + conf.learners:
            self.members[mid] = Member(mid, self._config(mid), MemoryStorage(conf))
        for mid in sorted(self.members):
            self._boot(mid)

    # ----------------------------------------------------------------- setup

    def _config(self, mid: int) -> Config:
        t = self.timing
        return Config(
            id=mid,
            election_ticks=t.election_ticks,
            heartbeat_ticks=t.heartbeat_ticks,
            election_jitter_ticks=t.election_jitter_ticks,
            prevote=self.prevote,
            check_quorum=self.check_quorum,
            max_msg_entries=self.max_msg_entries,
            bugs=self.bugs,
        )

    def _boot(self, mid: int) -> None:
        m = self.members[mid]
        node = Node(m.config, m.storage, random.Random(self.rng.getrandbits(64)))
        m.node = node
        m.up = True
        m.paused = False
        m.sync_due = False
        m.inbox = []
        m.pending = None
        snap = m.storage.snapshot()
        m.applied = snap.index
        if self._sm_factory is None:
            m.digest = snap.data
        else:
            # The state machine is volatile: rebuild it from the snapshot; the node then hands
            # out the committed entries after it again (replay).
            m.sm = self._sm_factory(mid)
            if snap.index > 0:
                m.sm.restore(snap.data)
        m.role, m.term, m.lead = node.role, node.term, node.lead
        m.ticked_at = self.now
        if self.monitor is not None:
            self.monitor.on_restore(self, mid, snap.index)
        # A random phase keeps members from ticking in lockstep.
        self._push(self.now + 1 + self.rng.randrange(self.timing.tick_ms), _TICK, mid, m.epoch)
        self._after_input(m)

    def on_applied(self, callback: Callable[[int, Entry, object], None]) -> None:
        """Call ``callback(member, entry, result)`` after a plugged-in state machine applies."""
        self._applied_cbs.append(callback)

    def on_read_state(self, callback: Callable[[int, ReadState], None]) -> None:
        """Call ``callback(member, read_state)`` when a member's ReadIndex is answered."""
        self._read_cbs.append(callback)

    def attach(self, monitor: Monitor) -> None:
        """Install ``monitor``; it sees every later event (attach before running)."""
        self.monitor = monitor

    def observe(self, callback: Callable[[Record], None]) -> None:
        """Call ``callback`` with every trace record as it happens (even with ``trace=False``)."""
        self._observers.append(callback)
        self._recording = True
        self._record = self._emit

    def set_link(
        self,
        a: int,
        b: int,
        delay_ms: tuple[int, int] | None = None,
        loss: float | None = None,
        dup: float | None = None,
    ) -> None:
        """Override delay, loss or duplication on the one-way link ``a -> b``."""
        self._note("set_link", a, b, None if delay_ms is None else list(delay_ms), loss, dup)
        old = self._links.get((a, b), (self.delay_ms, self.loss, self.dup))
        self._links[(a, b)] = (
            delay_ms if delay_ms is not None else old[0],
            loss if loss is not None else old[1],
            dup if dup is not None else old[2],
        )

    # ----------------------------------------------------------------- events

    def _next_seq(self) -> int:
        seq = self._seq + 1
        if self._reserved:
            seq = self._skip_reserved(seq)
        self._seq = seq
        return seq

    def _push(self, t: int, kind: int, a: Any, b: int) -> None:
        seq = self._seq + 1  # _next_seq(), inlined
        if self._reserved:
            seq = self._skip_reserved(seq)
        self._seq = seq
        heapq.heappush(self._heap, (t, seq, kind, a, b))

    def _next_time(self) -> int | None:
        """When the next event happens (None: nothing is scheduled)."""
        heap, calls = self._heap, self._calls
        if calls and (not heap or calls[0] < heap[0]):
            return calls[0][0]
        return heap[0][0] if heap else None

    def _skip_reserved(self, seq: int) -> int:
        # A replay has pushed every recorded ``at`` with its own sequence number already.
        while seq in self._reserved:
            del self._reserved[seq]
            seq += 1
        return seq

    def _emit(self, item: Record | tuple[Any, ...]) -> None:
        """Record ``item``: a record dict, or a row (see ``Trace``)."""
        if isinstance(item, tuple):
            if not self._observers:
                if self._tracing:
                    self.trace.rows.extend(item)
                return
            row, rec = item, decode(item)
            if self._tracing:
                self.trace.add(row, rec)  # the trace keeps the dict the observers see
        else:
            rec = item
            if self._tracing:
                self.trace.append(rec)
        for cb in self._observers:
            cb(rec)

    def at(self, t: int, action: Callable[[], object]) -> None:
        """Run ``action()`` at virtual time ``t`` (ms), in order with the other events.

        A replay (see ``script``) runs what ``action`` did to the simulation through its
        methods, not ``action`` itself."""
        t = max(t, self.now)
        seq = self._next_seq()
        heapq.heappush(self._calls, (t, seq, action))
        script = self.script
        if script is not None:
            script["calls"].append([seq, t])
            if len(script["calls"]) > SCRIPT_ENTRIES:
                self.script = None  # a long run: no replay, and no memory spent on it

    def step(self) -> bool:
        """Process the next event; False if nothing is scheduled."""
        t = self._next_time()
        if t is None:
            return False
        self._run(t, 1)
        return True

    def _run(self, end: int, limit: int) -> None:
        """Process the events due at or before ``end``, at most ``limit`` of them (the loop of
        ``step`` and ``run_for``, with the dispatch inlined: it runs once per event)."""
        heap, calls = self._heap, self._calls
        pop = heapq.heappop
        members = self.members
        deliver, tick, sync = self._deliver, self._tick, self._sync
        self._in_event = True
        try:
            while limit:
                if calls and (not heap or calls[0] < heap[0]):
                    if calls[0][0] > end:
                        break
                    t, _, action = pop(calls)
                    self.now = t
                    self.events += 1
                    limit -= 1
                    self._in_event = False  # a scheduled call acts from outside
                    action()
                    self._in_event = True
                    continue
                if not heap or heap[0][0] > end:
                    break
                t, _, kind, a, b = pop(heap)
                self.now = t
                self.events += 1  # before the event: a monitor reports it with a violation
                limit -= 1
                if kind == _DELIVER:
                    deliver(a)
                elif kind == _TICK:
                    tick(a, b)
                else:  # _SYNC
                    m = members[a]
                    if m.epoch == b:
                        if m.paused:
                            m.sync_due = True
                        else:
                            sync(m)
        finally:
            self._in_event = False

    def run_for(self, ms: int) -> None:
        """Process every event in the next ``ms`` milliseconds."""
        end = self.now + ms
        self._run(end, 1 << 62)
        self.now = end

    def run_until(self, predicate: Callable[[], bool], timeout_ms: int) -> bool:
        """Run until ``predicate()`` holds (checked after each event); False on timeout."""
        end = self.now + timeout_ms
        if predicate():
            return True
        run, next_time = self._run, self._next_time
        while (t := next_time()) is not None and t <= end:
            run(end, 1)
            if predicate():
                return True
        self.now = end
        return False

    # ----------------------------------------------------------------- members

    def _tick(self, mid: int, epoch: int) -> None:
        m = self.members[mid]
        if m.epoch != epoch:
            return
        self._push(self.now + self.timing.tick_ms, _TICK, mid, epoch)
        if m.paused or m.node is None:
            return
        if self._recording:
            self._record((TICK, self.now, mid, 0, 0, 0, 0, 0, 0, 0))  # rows are WIDTH wide
        m.ticked_at = self.now
        try:
            m.node.tick()
        except RaftError as exc:
            self._panic(m, exc)
            return
        self._after_input(m)

    def _after_input(self, m: Member) -> None:
        node = m.node
        assert node is not None
        if node.role is not m.role or node.term != m.term or node.lead != m.lead:
            old_term = m.term
            m.role, m.term, m.lead = node.role, node.term, node.lead
            if self._recording:
                self._emit(
                    {"t": self.now, "ev": "state", "id": m.id, "role": node.role.value,
                     "term": node.term, "lead": node.lead}
                )
            if self.monitor is not None:
                self.monitor.on_state(self, m.id, old_term)
        if m.pending is None and node.has_ready():
            rd = node.ready()
            if rd.committed:
                self._apply(m, rd.committed)
            for rs in rd.read_states:
                for rcb in self._read_cbs:
                    rcb(m.id, rs)
            m.pending = rd
            if rd.must_sync:
                lo, hi = self.disk_ms
                self._push(self.now + lo + int(self.rng.random() * (hi - lo + 1)), _SYNC, m.id,
                           m.epoch)
                return
            self._sync(m)  # which ends with _after_input(m) again, for what is left

    def _persist(self, m: Member, rd: Ready, synced: bool) -> None:
        """Write ``rd`` to ``m``'s disk; ``synced``: with an fsync, which also makes every
        earlier write durable. Without one, remember how to undo the write, for a crash that
        loses what was not fsynced (a correct core only ever skips the fsync for a new commit
        index: the log is copied only when a faulty core skips it for entries)."""
        st = m.storage
        hs, ents, snap = rd.hard_state, rd.entries, rd.snapshot
        if synced:
            if m.undo:
                m.undo.clear()
        elif ents or snap:
            m.undo.append((st.hard_state, st.snapshot(),
                           st.entries(st.first_index(), st.last_index() + 1)))
        elif hs is not None:
            m.undo.append((st.hard_state, st.snapshot(), None))
        # else nothing is written (a Ready with only entries to apply or messages): no undo
        lost = None
        if snap is not None:
            st.apply_snapshot(snap)
        if ents:
            lost = st.append(ents)
        if hs is not None:
            st.hard_state = hs
            if self._recording:
                self._record((PERSIST, self.now, m.id, len(ents),
                              ents[-1].index if ents else None, hs.term, hs.vote, hs.commit,
                              snap.index if snap else None, 0))
        elif self._recording and (ents or snap):
            self._record((PERSIST, self.now, m.id, len(ents), ents[-1].index if ents else None,
                          None, 0, 0, snap.index if snap else None, 0))
        if synced:
            m.durable_hard_state = st.hard_state
        if self.monitor is not None:
            self.monitor.on_persist(self, m.id, rd, lost)

    def _sync(self, m: Member) -> None:
        rd = m.pending
        node = m.node
        assert rd is not None and node is not None
        m.sync_due = False
        self._persist(m, rd, rd.must_sync)
        if rd.snapshot is not None:
            m.applied = rd.snapshot.index
            if m.sm is not None:
                m.sm.restore(rd.snapshot.data)
            else:
                m.digest = rd.snapshot.data
            if self.monitor is not None:
                self.monitor.on_restore(self, m.id, rd.snapshot.index)
        if rd.messages:
            self._send(rd.messages)
        node.advance(rd)
        m.pending = None
        every = self.compact_every
        if every is not None and node.applied - m.storage.snapshot().index >= every:
            with contextlib.suppress(RaftError):  # not persisted yet: compact later
                node.compact(node.applied, m.digest if m.sm is None else m.sm.snapshot())
                # Saving a snapshot fsyncs the log too (etcd's WAL.SaveSnapshot).
                m.undo.clear()
                m.durable_hard_state = m.storage.hard_state
        self._after_input(m)

    def _apply(self, m: Member, entries: tuple[Entry, ...]) -> None:
        """Apply ``entries`` (committed, in order) to ``m``'s state machine."""
        rec, monitor, cbs, by_data = self._recording, self.monitor, self._applied_cbs, self._by_data
        mid, now = m.id, self.now
        result: object = None
        for e in entries:
            m.applied = e.index
            sm = m.sm
            if sm is None:
                m.digest = _blake2b(m.digest + e.data, digest_size=8).digest()
            else:
                result = sm.apply(e)
            if rec:
                self._record((APPLY, now, mid, e.index, e.term, 0, 0, 0, 0, 0))
            if monitor is not None:
                monitor.on_apply(self, mid, e)
            for cb in cbs:
                cb(mid, e, result)
            p = by_data.get(e.data) if e.data else None
            if p is not None and p.committed_at is None:
                p.committed_at = now
                p.index = e.index

    # ----------------------------------------------------------------- network

    def _send(self, msgs: tuple[Message, ...]) -> None:
        """Put ``msgs`` on the network (the loop runs once per message: locals hoisted)."""
        now, rng, heap, links, blocked = self.now, self.rng, self._heap, self._links, self._blocked
        rec, monitor, push, reserved = self._recording, self.monitor, heapq.heappush, self._reserved
        (lo, hi), loss, dup = self.delay_ms, self.loss, self.dup  # the default link
        self.messages_sent += len(msgs)
        for msg in msgs:
            if monitor is not None:
                monitor.on_send(self, msg)
            frm, to = msg.frm, msg.to
            if links:
                (lo, hi), loss, dup = links.get((frm, to), (self.delay_ms, self.loss, self.dup))
            if rec:
                self._record((SEND, now, frm, to, msg.type, msg.term, msg.index,
                              len(msg.entries), msg.commit, msg.reject))
            if blocked and (frm, to) in blocked:
                if rec:
                    self._emit({"t": now, "ev": "drop", "from": frm, "to": to, "why": "partition"})
                continue
            if loss and rng.random() < loss:
                if rec:
                    self._emit({"t": now, "ev": "drop", "from": frm, "to": to, "why": "loss"})
                continue
            # A duplicated message is two deliveries, each with its own delay.
            for _ in range(2) if dup and rng.random() < dup else _ONCE:
                seq = self._seq + 1
                if reserved:
                    seq = self._skip_reserved(seq)
                self._seq = seq
                push(heap, (now + lo + int(rng.random() * (hi - lo + 1)), seq, _DELIVER, msg, 0))

    def _deliver(self, msg: Message) -> None:
        m = self.members.get(msg.to)
        why = None
        if m is None or not m.up:
            why = "down"
        elif self._blocked and (msg.frm, msg.to) in self._blocked:
            why = "partition"
        if why is not None:
            if self._recording:
                self._emit({"t": self.now, "ev": "drop", "from": msg.frm, "to": msg.to,
                            "why": why})
            return
        assert m is not None
        if m.paused:
            m.inbox.append(msg)
            return
        # _step, inlined (once per delivered message)
        if self._recording:
            self._record((DELIVER, self.now, msg.frm, msg.to, msg.type, msg.term,
                          0, 0, 0, 0))
        node = m.node
        assert node is not None
        try:
            node.step(msg)
        except RaftError as exc:
            self._panic(m, exc)
            return
        self._after_input(m)

    def _step(self, m: Member, msg: Message) -> None:
        if self._recording:
            self._record((DELIVER, self.now, msg.frm, msg.to, msg.type, msg.term,
                          0, 0, 0, 0))
        assert m.node is not None
        try:
            m.node.step(msg)
        except RaftError as exc:
            self._panic(m, exc)
            return
        self._after_input(m)

    def _panic(self, m: Member, exc: RaftError) -> None:
        # A node that detects a corrupt log stops, as etcd panics; the member crashes.
        self._emit({"t": self.now, "ev": "panic", "id": m.id, "error": str(exc)})
        if self.monitor is not None:
            self.monitor.on_panic(self, m.id, exc)
        self._internal = True
        try:
            self.crash(m.id)
        finally:
            self._internal = False

    # ----------------------------------------------------------------- faults

    def crash(self, mid: int, lose_unsynced: bool = False) -> None:
        """Stop ``mid``: volatile state is lost, storage kept.

        A write still waiting for fsync survives unless ``lose_unsynced``.
        """
        self._note("crash", mid, lose_unsynced)
        m = self.members[mid]
        if not m.up:
            return
        if lose_unsynced:
            for hs, snap, log in reversed(m.undo):
                m.storage.reset(hs, snap, log)
        elif m.pending is not None:
            self._persist(m, m.pending, synced=True)  # the OS writes it out after the crash
        m.undo.clear()
        m.durable_hard_state = m.storage.hard_state
        m.node = None
        m.sm = None  # volatile, like the node: rebuilt from snapshot + log on restart
        m.up = False
        m.paused = False
        m.pending = None
        m.inbox = []
        m.epoch += 1
        m.role = None
        self._emit({"t": self.now, "ev": "crash", "id": mid, "lose_unsynced": lose_unsynced})

    def restart(self, mid: int) -> None:
        """Bring a crashed member back from its storage."""
        self._note("restart", mid)
        m = self.members[mid]
        if m.up:
            return
        self._emit({"t": self.now, "ev": "restart", "id": mid})
        self._boot(mid)

    def pause(self, mid: int) -> None:
        """Freeze ``mid`` (like SIGSTOP): no ticks, incoming messages queue up."""
        self._note("pause", mid)
        m = self.members[mid]
        if m.up and not m.paused:
            m.paused = True
            self._emit({"t": self.now, "ev": "pause", "id": mid})

    def resume(self, mid: int) -> None:
        """Unfreeze ``mid``; it handles its queued messages at once."""
        self._note("resume", mid)
        m = self.members[mid]
        if not (m.up and m.paused):
            return
        m.paused = False
        self._emit({"t": self.now, "ev": "resume", "id": mid})
        if m.sync_due:
            self._sync(m)
        inbox, m.inbox = m.inbox, []
        for msg in inbox:
            if m.up and not m.paused:
                self._step(m, msg)

    def partition(self, groups: list[list[int]]) -> None:
        """Split the network: members talk only within their group (unlisted: alone)."""
        self._note("partition", [list(g) for g in groups])
        listed = {i for g in groups for i in g}
        full = [sorted(g) for g in groups] + [[i] for i in sorted(self.members) if i not in listed]
        where = {i: k for k, g in enumerate(full) for i in g}
        self._blocked = {(a, b) for a in where for b in where if where[a] != where[b]}
        self._groups = sorted(full)
        self._emit({"t": self.now, "ev": "partition", "groups": self._groups})

    def isolate(self, mid: int) -> None:
        """Cut ``mid`` off from everyone else."""
        self.partition([[mid], [i for i in sorted(self.members) if i != mid]])

    def cut(self, a: int, b: int) -> None:
        """Drop every message from ``a`` to ``b`` (one way)."""
        self._note("cut", a, b)
        self._blocked.add((a, b))
        self._emit({"t": self.now, "ev": "cut", "from": a, "to": b})

    def heal(self) -> None:
        """Remove every partition and cut."""
        self._note("heal")
        self._blocked = set()
        self._groups = None
        self._emit({"t": self.now, "ev": "heal"})

    def set_bugs(self, bugs: Iterable[str]) -> None:
        """Switch the planted bugs (``raftlib.raft.FAILPOINTS``) of every member to ``bugs``
        from now on, running members included (a live player's bug switch)."""
        self.bugs = frozenset(bugs)
        self._note("set_bugs", sorted(self.bugs))
        for m in self.members.values():
            m.config = dataclasses.replace(m.config, bugs=self.bugs)
            if m.node is not None:
                m.node.set_bugs(self.bugs)

    # ----------------------------------------------------------------- clients

    def leader(self) -> int | None:
        """The running leader with the highest term, if any."""
        best: tuple[int, int] | None = None
        leader = Role.LEADER  # once: an enum member lookup goes through its metaclass
        for mid in sorted(self.members):
            m = self.members[mid]
            if m.up and not m.paused and m.role is leader and (
                best is None or m.term > best[0]
            ):
                best = (m.term, mid)
        return best[1] if best else None

    def propose(self, data: bytes | None = None) -> int:
        """Submit ``data`` to the current leader now; returns a handle for ``committed``.

        Proposals that find no leader (or one that refuses) are simply never committed.
        """
        self._note("propose", None if data is None else data.decode("latin-1"))
        handle = len(self.proposals)
        payload = data if data is not None else f"p{handle}".encode()
        lead = self.leader()
        p = Proposal(handle, payload, self.now, lead)
        self.proposals.append(p)
        self._by_data.setdefault(payload, p)
        self._emit((PROPOSE, self.now, handle, lead, 0, 0, 0, 0, 0, 0))
        if lead is not None:
            m = self.members[lead]
            assert m.node is not None
            try:
                p.index = m.node.propose(payload)
            except RaftError:
                return handle
            self._after_input(m)
        return handle

    def propose_at(self, mid: int, data: bytes) -> int:
        """Propose ``data`` on member ``mid``; its log index. Raises the node's ``RaftError``
        (``NotLeader`` with a hint, ``ProposalDropped``) or ``LocalError`` if it is down."""
        self._note("propose_at", mid, data.decode("latin-1"))
        node = self._live_node(mid)
        index = node.propose(data)
        self._after_input(self.members[mid])
        return index

    def _live_node(self, mid: int) -> Node:
        m = self.members[mid]
        if m.node is None or m.paused:
            raise LocalError(f"member {mid} is not running")
        return m.node

    def read_index(self, mid: int, ctx: bytes) -> bool:
        """Ask member ``mid`` for a ReadIndex with context ``ctx`` (see ``on_read_state``).

        False if the member is down or paused, or knows no leader to ask.
        """
        self._note("read_index", mid, ctx.decode("latin-1"))
        m = self.members[mid]
        if m.node is None or m.paused:
            return False
        ok = m.node.read_index(ctx)
        self._after_input(m)
        return ok

    def committed(self, handle: int) -> bool:
        """Whether the proposal ``handle`` has been applied by some member."""
        return self.proposals[handle].committed_at is not None

    def workload(self, per_second: float, duration_ms: int) -> None:
        """Schedule one proposal every ``1000/per_second`` ms for ``duration_ms`` from now."""
        gap = 1000.0 / per_second
        start = self.now
        k = 1
        while k * gap <= duration_ms:
            self.at(start + round(k * gap), self.propose)
            k += 1

    def campaign(self, mid: int) -> None:
        """Make ``mid`` start an election now, as if its election timer had fired."""
        self._note("campaign", mid)
        m = self.members[mid]
        if m.node is not None and not m.paused:
            self._emit({"t": self.now, "ev": "campaign", "id": mid})
            m.node.campaign()
            self._after_input(m)

    def transfer_leader(self, to: int) -> bool:
        """Ask the current leader to hand over to ``to`` (etcd's move-leader)."""
        self._note("transfer_leader", to)
        lead = self.leader()
        if lead is None:
            return False
        m = self.members[lead]
        assert m.node is not None
        try:
            m.node.transfer_leader(to)
        except RaftError:
            return False
        self._after_input(m)
        return True

    def change_conf(self, change: ConfChange) -> int | None:
        """Propose a membership change at the leader; the entry index, or ``None`` if refused.

        Adding a member that does not exist yet starts it with an empty log.
        """
        self._note("change_conf", change.type.value, change.node, change.context.decode("latin-1"))
        lead = self.leader()
        if lead is None:
            return None
        m = self.members[lead]
        assert m.node is not None
        try:
            index = m.node.propose_conf_change(change)
        except RaftError:
            return None
        if change.node not in self.members:
            # Like etcd's member add: the newcomer starts knowing the current membership.
            conf = ConfState(m.node.voters, m.node.learners)
            new = Member(change.node, self._config(change.node), MemoryStorage(conf))
            self.members[change.node] = new
            self._boot(change.node)
        self._after_input(m)
        return index

    # ----------------------------------------------------------------- replay

    def _note(self, name: str, *args: Any) -> None:
        """Add an action from outside to ``script``. One made in the middle of a delivery,
        tick or sync (a callback of the core's) cannot be replayed at an event boundary: the
        run is then not replayable and ``script`` becomes None."""
        if self.script is None or self._internal:
            return
        if self._in_event:
            self.script = None
            return
        self.script["actions"].append([self.events, self.now, name, *args])
        if len(self.script["actions"]) > SCRIPT_ENTRIES:
            self.script = None

    def position(self) -> tuple[int, int, int]:
        """Where this run is, for :meth:`replay`: events processed, actions from outside
        recorded in ``script``, and sequence numbers given out."""
        return self.events, len(self.script["actions"]) if self.script else 0, self._seq

    @classmethod
    def replay(cls, script: Script, until: tuple[int, int, int] | None = None, *,
               monitor: Monitor | None = None) -> Simulation:
        """A new simulation that runs ``script`` (another run's ``script``) again, event for
        event, up to ``until`` = ``(events, actions, t)`` (a :meth:`position`'s first two
        numbers and the virtual time then), or to its last action. ``monitor`` is attached
        first. The calls ``at`` scheduled run as no-ops: what they did through this class's
        methods is in the script. Raises ``LocalError`` if the run does not follow its script
        (it changed the simulation some other way)."""
        args = dict(script["args"])
        sim = cls(**{**args, "timing": Timing(**args["timing"]),
                     "delay_ms": tuple(args["delay_ms"]), "disk_ms": tuple(args["disk_ms"])})
        if monitor is not None:
            sim.attach(monitor)
        for seq, t in script["calls"]:
            sim._reserved[seq] = t
            heapq.heappush(sim._calls, (t, seq, _no_op))
        actions = script["actions"]
        stop = len(actions) if until is None else until[1]
        for events, t, name, *rest in actions[:stop]:
            sim._advance(events, t)
            sim._act(name, rest)
        if until is not None:
            sim._advance(until[0], until[2])
        return sim

    def _advance(self, events: int, t: int) -> None:
        self._run(t, events - self.events)
        if self.events != events or self.now > t:
            raise LocalError(f"the replay left its script at event {self.events}, "
                             f"t={self.now} ms (expected event {events}, t={t} ms)")
        self.now = t

    def _act(self, name: str, args: list[Any]) -> None:
        if name == "propose":
            self.propose(None if args[0] is None else args[0].encode("latin-1"))
        elif name == "propose_at":
            with contextlib.suppress(RaftError, LocalError):  # refused then too
                self.propose_at(args[0], args[1].encode("latin-1"))
        elif name == "read_index":
            self.read_index(args[0], args[1].encode("latin-1"))
        elif name == "change_conf":
            self.change_conf(ConfChange(ConfChangeType(args[0]), args[1],
                                        args[2].encode("latin-1")))
        elif name == "set_link":
            self.set_link(args[0], args[1], None if args[2] is None else tuple(args[2]),
                          args[3], args[4])
        elif name in _ACTIONS:
            getattr(self, name)(*args)
        else:
            raise LocalError(f"unknown action in a script: {name!r}")

    # ----------------------------------------------------------------- views

    def status(self) -> dict[int, MemberStatus]:
        """Role, term, vote, commit, applied, last index, leader and liveness per member."""
        out = {}
        for mid in sorted(self.members):
            m = self.members[mid]
            node = m.node
            if node is None:
                hs = m.storage.hard_state
                out[mid] = MemberStatus(
                    None, hs.term, hs.vote, hs.commit, 0, m.storage.last_index(), 0, False, False
                )
            else:
                out[mid] = MemberStatus(
                    node.role, node.term, node.vote, node.commit, m.applied,
                    node.log.last_index(), node.lead, True, m.paused,
                )
        return out

    def frame(self) -> Frame:
        """A compact JSON-serializable picture of the cluster for a trace player: every
        member's state, log tail, timer, vote tally or replication progress, and every message
        in flight with what it carries (see :class:`Frame`). Deterministic, like the trace."""
        members: dict[int, MemberFrame] = {}
        for mid in sorted(self.members):
            m = self.members[mid]
            node = m.node
            if node is None:
                st = m.storage
                hs = st.hard_state
                first, last = st.first_index(), st.last_index()
                lo = max(first, last - _FRAME_LOG + 1)
                ents = st.entries(lo, last + 1)
                role, term, vote, commit = "down", hs.term, hs.vote, hs.commit
            else:
                lg = node.log
                first, last = lg.first_index(), lg.last_index()
                lo = max(first, last - _FRAME_LOG + 1)
                ents = list(lg.entries(lo, _FRAME_LOG))
                role, term, vote, commit = node.role.value, node.term, node.vote, node.commit
                if mid in node.learners:
                    role = "learner"  # it follows, but the player should show it cannot vote
            members[mid] = {
                "role": role, "term": term, "vote": vote, "commit": commit,
                "applied": m.applied if m.up else 0, "first": first,
                "log": [[e.index, e.term, _label(e)] for e in ents],
                "up": m.up, "paused": m.paused, "timer": None, "votes": None, "progress": None,
            }
            if node is not None:
                self._frame_node(m, node, members[mid])
        in_flight = [_in_flight(msg) for msg in self._messages_in_flight()]
        return {"t": self.now, "members": members, "in_flight": in_flight,
                "partition": self._groups}

    def _messages_in_flight(self) -> list[Message]:
        """The messages sent and not yet delivered (or dropped), in sending order: the
        deliveries waiting in the event queue (no separate record of them is kept, as that
        cost a dict insertion and deletion per message)."""
        return [msg for _, msg in
                sorted((seq, msg) for _, seq, kind, msg, _ in self._heap if kind == _DELIVER)]

    def _frame_node(self, m: Member, node: Node, out: MemberFrame) -> None:
        """The running node's timer, vote tally or replication progress, for ``frame()``."""
        tick = self.timing.tick_ms
        # A tick is due every tick_ms: more since the last one only while paused (frozen).
        since = min(self.now - m.ticked_at, tick)
        role = node.role
        if role is Role.LEADER:
            out["timer"] = [node.heartbeat_elapsed * tick + since, self.timing.heartbeat_ms]
            out["progress"] = [
                {"id": peer, "match": pr.match, "next": pr.next, "state": pr.state.value}
                for peer in sorted(self.members)
                if peer != m.id and (pr := node.progress(peer)) is not None
            ]
        elif m.id in node.voters:
            out["timer"] = [node.election_elapsed * tick + since, node.election_timeout * tick]
        if role is Role.CANDIDATE or role is Role.PRE_CANDIDATE:
            votes = node.votes
            voters = list(node.voters)
            out["votes"] = {"granted": [v for v in voters if votes.get(v) is True],
                            "refused": [v for v in voters if votes.get(v) is False],
                            "voters": voters}

    def trace_json(self) -> str:
        """The trace as canonical JSON (sorted keys, no spaces): identical for the same seed."""
        return json.dumps(list(self.trace), sort_keys=True, separators=(",", ":"))

    def snapshot_of(self, mid: int) -> Snapshot:
        """The latest durable snapshot of ``mid``."""
        return self.members[mid].storage.snapshot()


_M = MessageType


def _in_flight(msg: Message) -> InFlight:
    """A message as a frame shows it: the fields its type carries, by name (see InFlight)."""
    t = msg.type
    out = InFlight({"from": msg.frm, "to": msg.to, "type": t.value, "term": msg.term})
    if t is _M.VOTE or t is _M.PRE_VOTE:
        out["last_index"], out["last_term"] = msg.index, msg.log_term
    elif t is _M.VOTE_RESP or t is _M.PRE_VOTE_RESP:
        out["granted"] = not msg.reject
    elif t is _M.APP:
        out["prev_index"], out["prev_term"] = msg.index, msg.log_term
        out["entries"], out["commit"] = len(msg.entries), msg.commit
    elif t is _M.APP_RESP:
        out["reject"], out["index"] = msg.reject, msg.index
        if msg.reject:
            out["reject_hint"], out["hint_term"] = msg.reject_hint, msg.log_term
    elif t is _M.HEARTBEAT:
        out["commit"] = msg.commit
    elif t is _M.SNAP and msg.snapshot is not None:
        out["snap_index"], out["snap_term"] = msg.snapshot.index, msg.snapshot.term
    elif t is _M.READ_INDEX_RESP:
        out["index"] = msg.index
    return out


class Script(TypedDict):
    """A run as :meth:`Simulation.replay` replays it (plain JSON): the constructor's
    arguments; every action from outside as ``[events, t, name, *arguments]`` (events
    processed before it, virtual ms); and ``[seq, t]`` of every scheduled call."""

    args: dict[str, Any]
    actions: list[list[Any]]
    calls: list[list[int]]


# Actions replayed by calling the method of that name with the recorded arguments.
_ACTIONS = frozenset({"crash", "restart", "pause", "resume", "partition", "cut", "heal",
                      "campaign", "transfer_leader", "set_bugs"})


def _no_op() -> None:
    pass


def _label(e: Entry) -> str:
    if e.type is EntryType.CONF_CHANGE:
        return e.data.decode()
    if not e.data:
        return "noop"
    return e.data[:8].decode(errors="replace")


def message_counts(trace: Sequence[Record]) -> dict[str, int]:
    """Number of sent messages per type in ``trace``."""
    out: dict[str, int] = {}
    for rec in trace:
        if rec["ev"] == "send":
            out[rec["type"]] = out.get(rec["type"], 0) + 1
    return dict(sorted(out.items()))

