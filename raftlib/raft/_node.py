"""The Raft state machine of one member, sans I/O (modelled on etcd-io/raft's ``raft.go``)."""

from __future__ import annotations

import itertools
import operator
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from . import _failpoints
from ._errors import CompactionError, LocalError, NotLeader, ProposalDropped, RemoteError
from ._log import RaftLog
from ._progress import Progress, ProgressState
from ._quorum import VoteResult, vote_result
from ._storage import MemoryStorage
from ._types import (
    NONE,
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    ReadState,
    Ready,
    Role,
    Snapshot,
)

MT = MessageType

# Enum members as module constants, for the hot paths: ``MT.APP`` is an attribute lookup
# through the enum's metaclass (about 70 ns in CPython 3.11), a module constant a cached
# global (a few ns), and every message compares several.
_E_CONF_CHANGE: Final = EntryType.CONF_CHANGE
_M_APP: Final = MT.APP
_M_APP_RESP: Final = MT.APP_RESP
_M_HEARTBEAT: Final = MT.HEARTBEAT
_M_HEARTBEAT_RESP: Final = MT.HEARTBEAT_RESP
_M_PRE_VOTE: Final = MT.PRE_VOTE
_M_PRE_VOTE_RESP: Final = MT.PRE_VOTE_RESP
_M_READ_INDEX: Final = MT.READ_INDEX
_M_READ_INDEX_RESP: Final = MT.READ_INDEX_RESP
_M_SNAP: Final = MT.SNAP
_M_TIMEOUT_NOW: Final = MT.TIMEOUT_NOW
_M_VOTE: Final = MT.VOTE
_M_VOTE_RESP: Final = MT.VOTE_RESP
_P_PROBE: Final = ProgressState.PROBE
_P_REPLICATE: Final = ProgressState.REPLICATE
_P_SNAPSHOT: Final = ProgressState.SNAPSHOT
_R_CANDIDATE: Final = Role.CANDIDATE
_R_FOLLOWER: Final = Role.FOLLOWER
_R_LEADER: Final = Role.LEADER
_R_PRE_CANDIDATE: Final = Role.PRE_CANDIDATE
_V_LOST: Final = VoteResult.LOST
_V_WON: Final = VoteResult.WON
_NO_PROGRESS: Final = itertools.repeat(Progress(0, 0))  # a voter without progress: match 0
_match_of: Final = operator.attrgetter("match")


@dataclass(slots=True)
class _ReadRequest:
    """A ReadIndex request waiting for a quorum of heartbeat acks (etcd's ``readIndexStatus``)."""

    index: int
    frm: int
    acks: set[int]


@dataclass(frozen=True, slots=True)
class Config:
    """Static parameters of a node. Times are in ticks; the driver decides what a tick is.

    The election timeout is drawn uniformly from
    ``[election_ticks, election_ticks + election_jitter_ticks)`` (etcd: jitter = base).
    ``bugs`` names failpoints from ``raftlib.raft.FAILPOINTS`` (tests only).
    """

    id: int
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    election_jitter_ticks: int | None = None
    prevote: bool = False
    check_quorum: bool = False
    max_msg_entries: int = 64
    bugs: frozenset[str] = field(default_factory=frozenset)


class Node:
    """One Raft member. Feed it ``tick``, ``step`` and ``propose``; drain ``ready``/``advance``.

    The node never performs I/O: the driver persists and sends what each :class:`Ready` holds.
    Membership is bootstrapped through the storage (``MemoryStorage(ConfState(voters=...))``);
    a restarted node is rebuilt from the same storage. ``rng`` is the only source of
    randomness (election timeouts), so a seeded driver is fully deterministic.
    """

    def __init__(self, config: Config, storage: MemoryStorage, rng: random.Random) -> None:
        if config.id <= NONE:
            raise LocalError("node ids start at 1")
        if config.heartbeat_ticks >= config.election_ticks:
            raise LocalError("election_ticks must exceed heartbeat_ticks")
        self.id = config.id
        self._cfg = config
        self._fp = _failpoints.failpoints(config.bugs)
        self._rng = rng
        self._jitter = (
            config.election_ticks
            if config.election_jitter_ticks is None
            else config.election_jitter_ticks
        )
        self._log = RaftLog(storage)
        hs = storage.hard_state
        snap = storage.snapshot()
        if hs.commit > self._log.last_index():
            raise LocalError(f"stored commit {hs.commit} is beyond the stored log")
        self._log.commit_to(hs.commit)
        self._voters: tuple[int, ...] = ()
        self._learners: tuple[int, ...] = ()
        self._conf_history: list[tuple[int, ConfState]] = []
        self._set_conf(snap.index, snap.conf)
        self.term = hs.term
        self.vote = hs.vote
        self.lead = NONE
        self.role = _R_FOLLOWER
        self._prev_hs = hs
        self._msgs: list[Message] = []
        self._outstanding = False
        self._progress: dict[int, Progress] = {}
        self._peer_ids: tuple[int, ...] = ()
        self._votes: dict[int, bool] = {}
        self._grants_seen = 0
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._timeout = config.election_ticks
        self._transferee = NONE
        self._pending_conf_index = 0
        # ReadIndex (etcd's readOnly, ReadOnlySafe): requests in arrival order, by context.
        self._reads: dict[bytes, _ReadRequest] = {}
        self._deferred_reads: list[Message] = []
        self._read_states: list[ReadState] = []
        self._become_follower(self.term, NONE)

    # ----------------------------------------------------------------- inspection

    def set_bugs(self, bugs: frozenset[str]) -> None:
        """Switch this node's planted bugs to ``bugs`` (tests and live demos only)."""
        self._cfg = replace(self._cfg, bugs=bugs)
        self._fp = _failpoints.failpoints(bugs)

    @property
    def commit(self) -> int:
        """Highest index known to be committed."""
        return self._log.committed

    @property
    def applied(self) -> int:
        """Highest index handed to the application and acknowledged by ``advance``."""
        return self._log.applied

    @property
    def log(self) -> RaftLog:
        """The node's log (read it, do not modify it)."""
        return self._log

    @property
    def voters(self) -> tuple[int, ...]:
        """Current voting members, sorted."""
        return self._voters

    @property
    def learners(self) -> tuple[int, ...]:
        """Current learners (non-voting members), sorted."""
        return self._learners

    @property
    def transferee(self) -> int:
        """The member leadership is being transferred to, or 0."""
        return self._transferee

    @property
    def election_elapsed(self) -> int:
        """Ticks since the election timer was last reset (a leader counts them for CheckQuorum)."""
        return self._election_elapsed

    @property
    def election_timeout(self) -> int:
        """This term's randomized election timeout, in ticks (drawn again at every reset)."""
        return self._timeout

    @property
    def heartbeat_elapsed(self) -> int:
        """A leader's ticks since its last heartbeat round."""
        return self._heartbeat_elapsed

    @property
    def votes(self) -> dict[int, bool]:
        """A (pre-)candidate's answers so far, its own included: voter -> granted (a copy)."""
        return dict(self._votes)

    def progress(self, peer: int) -> Progress | None:
        """The leader's replication progress for ``peer`` (``None`` unless leader)."""
        return self._progress.get(peer) if self.role is _R_LEADER else None

    def hard_state(self) -> HardState:
        """The current term, vote and commit index (what a Ready would ask to persist)."""
        vote = self.vote
        if self._fp.vote_before_persist and vote != self.id:
            # The planted bug: a vote for another member is never written down.
            prev = self._prev_hs
            vote = prev.vote if prev.term == self.term else NONE
        return HardState(self.term, vote, self._log.committed)

    # ----------------------------------------------------------------- inputs

    def tick(self) -> None:
        """Advance logical time by one tick."""
        if self.role is _R_LEADER:
            self._tick_heartbeat()
        else:
            self._tick_election()

    def campaign(self) -> None:
        """Start an election now (PreVote first if enabled), as if the timeout had fired."""
        self._hup(transfer=False)

    def propose(self, data: bytes) -> int:
        """Append ``data`` to the log; returns its index. Raises :class:`NotLeader`."""
        return self._propose(data)

    def propose_batch(self, datas: Sequence[bytes]) -> int:
        """Append every one of ``datas`` and send the followers one append for all of them
        (a driver collects the proposals that arrive together); returns the last index."""
        self._require_leader()
        if self._transferee != NONE:
            raise ProposalDropped(f"leadership is moving to {self._transferee}")
        index = self._log.last_index()
        for data in datas:
            index = self._append(data)
        for peer in self._peers():
            self._send_append(peer, send_if_empty=False)
        return index

    def propose_conf_change(self, change: ConfChange) -> int:
        """Propose a single-server membership change; returns the entry index.

        Refused while another change is not yet applied, or before the leader has committed
        an entry of its own term.
        """
        self._require_leader()
        if self._pending_conf_index > self._log.applied:
            raise ProposalDropped("a configuration change is still pending")
        if self._log.term(self._log.committed) != self.term:
            raise ProposalDropped("the leader has not committed an entry of its term yet")
        if change.node <= NONE:
            raise LocalError("node ids start at 1")
        index = self._propose(change.encode(), _E_CONF_CHANGE)
        self._pending_conf_index = index
        return index

    def read_index(self, ctx: bytes) -> bool:
        """Ask for a linearizable read point (etcd-io/raft's ``ReadIndex``).

        ``ctx`` identifies the request (make it unique). The answer comes as a
        :class:`ReadState` in a later ``Ready.read_states``: on the leader once a quorum has
        acknowledged a heartbeat sent after the request, on a follower once the leader's
        ``READ_INDEX_RESP`` arrives. No answer may ever come (leader lost, message dropped):
        the caller times out and retries. Returns False if the request was dropped at once
        because this node knows no leader.
        """
        if not ctx:
            raise LocalError("read_index needs a non-empty context")
        m = Message(_M_READ_INDEX, self.id, self.id, 0, context=ctx)
        if self.role is _R_LEADER:
            self._leader_read_index(m)
            return True
        if self.lead == NONE or self.role is not _R_FOLLOWER:
            return False  # etcd drops it too: "no leader at term; dropping index reading msg"
        # Term 0: the leader handles a forwarded read like a local one (as etcd's MsgReadIndex).
        self._send(Message(_M_READ_INDEX, self.id, self.lead, 0, context=ctx))
        return True

    def transfer_leader(self, to: int) -> None:
        """Hand leadership to voter ``to`` (etcd's move-leader); proposals pause meanwhile."""
        self._require_leader()
        if to not in self._voters:
            raise LocalError(f"node {to} is not a voter")
        if to == self.id or to == self._transferee:
            return
        self._election_elapsed = 0
        self._transferee = to
        if self._progress[to].match == self._log.last_index():
            self._send(Message(_M_TIMEOUT_NOW, self.id, to, self.term))
        else:
            self._send_append(to)

    def compact(self, index: int, data: bytes) -> Snapshot:
        """Replace the log up to ``index`` (at most ``applied``) by a snapshot holding ``data``.

        Writes the snapshot to the storage and returns it.
        """
        if index > self._log.applied:
            raise CompactionError(f"index {index} is not applied yet ({self._log.applied})")
        storage = self._log.storage
        if index <= storage.snapshot().index or index >= self._log.offset:
            raise CompactionError(f"index {index} is compacted already or not persisted")
        term = self._log.term(index)
        if term is None:
            raise CompactionError(f"index {index} is not in the log")
        conf = next(c for i, c in reversed(self._conf_history) if i <= index)
        snap = Snapshot(index, term, conf, data)
        storage.compact(snap)
        return snap

    def step(self, m: Message) -> None:
        """Process one message from a peer."""
        if m.to != self.id:
            raise LocalError(f"message for {m.to} delivered to {self.id}")
        t = m.type
        if m.term == self.term:
            # The common cases, as the general dispatch below handles them: an append at a
            # follower and its answer at the leader (nine messages in ten under load).
            if t is _M_APP and self.role is _R_FOLLOWER:
                self._election_elapsed = 0
                self.lead = m.frm
                self._handle_append(m)
                return
            if t is _M_APP_RESP and self.role is _R_LEADER:
                pr = self._progress.get(m.frm)
                if pr is not None:
                    pr.recent_active = True
                    self._handle_append_resp(m, pr)
                return
        if t is _M_READ_INDEX:
            if m.term == 0 and self.role is _R_LEADER:
                self._leader_read_index(m)
            elif m.term == 0 and self.role is _R_FOLLOWER and self.lead not in (NONE, m.frm):
                self._send(Message(_M_READ_INDEX, m.frm, self.lead, 0, context=m.context))
            return
        if m.term > self.term:
            if t is _M_VOTE or t is _M_PRE_VOTE:
                in_lease = (
                    self._cfg.check_quorum
                    and self.lead != NONE
                    and self._election_elapsed < self._cfg.election_ticks
                )
                if in_lease and not m.transfer:
                    return
            if m.type is _M_PRE_VOTE and not self._fp.prevote_changes_term:
                pass  # never change the term in response to a PreVote
            elif m.type is _M_PRE_VOTE_RESP and not m.reject:
                pass  # a granted PreVote carries the future term we asked for
            elif m.type is _M_APP or m.type is _M_HEARTBEAT or m.type is _M_SNAP:
                self._become_follower(m.term, m.frm)
            else:
                self._become_follower(m.term, NONE)
        elif m.term < self.term:
            if (self._cfg.check_quorum or self._cfg.prevote) and (
                m.type is _M_APP or m.type is _M_HEARTBEAT
            ):
                # Tell a stale leader about the newer term, or it may never step down.
                self._send(Message(_M_APP_RESP, self.id, m.frm, self.term))
            elif m.type is _M_PRE_VOTE:
                self._send(Message(_M_PRE_VOTE_RESP, self.id, m.frm, self.term, reject=True))
            return

        if t is _M_VOTE or t is _M_PRE_VOTE:
            self._handle_vote(m)
        elif (role := self.role) is _R_LEADER:
            self._step_leader(m)
        elif role is _R_FOLLOWER:
            self._step_follower(m)
        else:
            self._step_candidate(m)

    # ----------------------------------------------------------------- Ready loop

    def has_ready(self) -> bool:
        """Whether :meth:`ready` would return any work."""
        if self._outstanding:
            return False
        lg = self._log
        if self._msgs or lg.unstable or lg.unstable_snapshot is not None or self._read_states:
            return True
        prev = self._prev_hs
        if self._fp.vote_before_persist:
            if self.hard_state() != prev:
                return True
        elif self.term != prev.term or self.vote != prev.vote or lg.committed != prev.commit:
            return True
        if lg.committed <= lg.applied:
            return False
        return bool(lg.next_committed(self._fp.apply_before_durable))

    def ready(self) -> Ready:
        """Take the pending work. Call :meth:`advance` with it before the next ``ready``."""
        if self._outstanding:
            raise LocalError("advance() the previous Ready first")
        lg = self._log
        prev = self._prev_hs
        term, vote = self.term, self.vote
        if term == prev.term and vote == prev.vote and lg.committed == prev.commit:
            hs = prev  # unchanged (most Readies): no new HardState to build and compare
            new_hs = None
        elif self._fp.vote_before_persist:
            hs = self.hard_state()
            new_hs = hs if hs != prev else None
        else:
            hs = new_hs = HardState(term, vote, lg.committed)  # hard_state(), inlined
        unstable, msgs, reads = lg.unstable, self._msgs, self._read_states
        rd = Ready(
            new_hs,
            tuple(unstable) if unstable else (),
            lg.unstable_snapshot,
            lg.next_committed(self._fp.apply_before_durable) if lg.committed > lg.applied
            else (),
            tuple(msgs) if msgs else (),
            self.role,
            self.lead,
            bool(unstable)
            or lg.unstable_snapshot is not None
            or hs.term != prev.term
            or hs.vote != prev.vote,
            tuple(reads) if reads else (),
        )
        if msgs:
            self._msgs = []
        if reads:
            self._read_states = []
        self._prev_hs = hs
        self._outstanding = True
        return rd

    def advance(self, rd: Ready) -> None:
        """Report that ``rd`` was persisted, sent and applied."""
        if not self._outstanding:
            raise LocalError("advance() without a Ready")
        self._outstanding = False
        lg = self._log
        if rd.snapshot is not None:
            lg.stable_snap_to(rd.snapshot.index)
            lg.applied = max(lg.applied, rd.snapshot.index)
        if rd.entries:
            last = rd.entries[-1]
            lg.stable_to(last.index, last.term)
        for e in rd.committed:
            if e.index <= lg.applied:
                continue
            lg.applied = e.index
            if e.type is _E_CONF_CHANGE:
                self._apply_conf_change(e.index, ConfChange.decode(e.data))

    # ----------------------------------------------------------------- transitions

    def _reset(self, term: int) -> None:
        if self.term != term:
            self.term = term
            self.vote = NONE
        self.lead = NONE
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._timeout = self._cfg.election_ticks + (
            self._rng.randrange(self._jitter) if self._jitter > 0 else 0
        )
        self._transferee = NONE
        self._votes = {}
        self._grants_seen = 0
        self._progress = {}
        self._peer_ids = ()
        self._pending_conf_index = 0
        # Pending reads die with the term or role: their clients time out and retry.
        self._reads = {}
        self._deferred_reads = []

    def _become_follower(self, term: int, lead: int) -> None:
        self._reset(term)
        self.lead = lead
        self.role = _R_FOLLOWER

    def _become_pre_candidate(self) -> None:
        # Neither the term nor the vote changes: that is the point of PreVote.
        self._votes = {}
        self._grants_seen = 0
        self.lead = NONE
        self.role = _R_PRE_CANDIDATE

    def _become_candidate(self) -> None:
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = _R_CANDIDATE

    def _become_leader(self) -> None:
        self._reset(self.term)
        self.lead = self.id
        self.role = _R_LEADER
        last = self._log.last_index()
        for peer in self._voters + self._learners:
            self._progress[peer] = Progress(0, last + 1)
        self._peer_ids = tuple(p for p in sorted(self._progress) if p != self.id)
        me = self._progress.get(self.id)
        if me is not None:
            me.match = last
            me.become_replicate()
            me.recent_active = True
        # No conf change until everything up to here (and the no-op) is applied.
        self._pending_conf_index = last
        self._append(b"")
        self._bcast_append()

    # ----------------------------------------------------------------- elections

    def _promotable(self) -> bool:
        return self.id in self._voters

    def _tick_election(self) -> None:
        self._election_elapsed += 1
        if self._promotable() and self._election_elapsed >= self._timeout:
            self._election_elapsed = 0
            self._hup(transfer=False)

    def _hup(self, transfer: bool) -> None:
        if self.role is _R_LEADER or not self._promotable():
            return
        lg = self._log
        if any(e.type is _E_CONF_CHANGE for e in lg.next_committed(True)):
            return  # apply pending membership changes before campaigning
        if self._cfg.prevote and not transfer:
            self._campaign(pre=True, transfer=False)
        else:
            self._campaign(pre=False, transfer=transfer)

    def _campaign(self, pre: bool, transfer: bool) -> None:
        if pre:
            self._become_pre_candidate()
            term, kind = self.term + 1, _M_PRE_VOTE
        else:
            self._become_candidate()
            term, kind = self.term, _M_VOTE
        if self._poll(self.id, True) is _V_WON:
            if pre:
                self._campaign(pre=False, transfer=False)
            else:
                self._become_leader()
            return
        last, last_term = self._log.last_index(), self._log.last_term()
        for peer in self._voters:
            if peer != self.id:
                self._send(Message(kind, self.id, peer, term, last_term, last, transfer=transfer))

    def _poll(self, peer: int, granted: bool) -> VoteResult:
        if peer not in self._votes:
            self._votes[peer] = granted
        if granted:
            self._grants_seen += 1
        yes = sum(1 for v in self._votes.values() if v)
        if self._fp.double_count_vote:
            yes = self._grants_seen
        no = len(self._votes) - sum(1 for v in self._votes.values() if v)
        return vote_result(self._voters, yes, no)

    def _handle_vote(self, m: Message) -> None:
        pre = m.type is _M_PRE_VOTE
        resp = _M_PRE_VOTE_RESP if pre else _M_VOTE_RESP
        can_vote = (
            self.vote == m.frm
            or (self.vote == NONE and self.lead == NONE)
            or (pre and m.term > self.term)
        )
        up_to_date = self._fp.vote_without_up_to_date or self._log.is_up_to_date(
            m.index, m.log_term
        )
        if can_vote and up_to_date:
            # A granted vote carries the candidate's term, so a PreVote grant never lowers it.
            self._send(Message(resp, self.id, m.frm, m.term))
            if not pre:
                self._election_elapsed = 0
                self.vote = m.frm
        else:
            self._send(Message(resp, self.id, m.frm, self.term, reject=True))

    def _step_candidate(self, m: Message) -> None:
        t = m.type
        if t is _M_APP:
            self._become_follower(m.term, m.frm)
            self._handle_append(m)
        elif t is _M_HEARTBEAT:
            self._become_follower(m.term, m.frm)
            self._handle_heartbeat(m)
        elif t is _M_SNAP:
            self._become_follower(m.term, m.frm)
            self._handle_snapshot(m)
        elif (t is _M_PRE_VOTE_RESP) == (self.role is _R_PRE_CANDIDATE) and (
            t is _M_PRE_VOTE_RESP or t is _M_VOTE_RESP
        ):
            result = self._poll(m.frm, not m.reject)
            if result is _V_WON:
                if self.role is _R_PRE_CANDIDATE:
                    self._campaign(pre=False, transfer=False)
                else:
                    self._become_leader()
            elif result is _V_LOST:
                self._become_follower(self.term, NONE)

    # ----------------------------------------------------------------- followers

    def _step_follower(self, m: Message) -> None:
        t = m.type
        if t is _M_APP:
            self._election_elapsed = 0
            self.lead = m.frm
            self._handle_append(m)
        elif t is _M_HEARTBEAT:
            self._election_elapsed = 0
            self.lead = m.frm
            self._handle_heartbeat(m)
        elif t is _M_SNAP:
            self._election_elapsed = 0
            self.lead = m.frm
            self._handle_snapshot(m)
        elif t is _M_TIMEOUT_NOW:
            self._hup(transfer=True)
        elif t is _M_READ_INDEX_RESP:
            self._read_states.append(ReadState(m.index, m.context))

    def _handle_append(self, m: Message) -> None:
        lg = self._log
        ents, index = m.entries, m.index
        if ents and ents[0].index != index + 1:
            raise RemoteError(f"append from {m.frm} does not start after index {index}")
        if index < lg.committed:
            self._send(Message(_M_APP_RESP, self.id, m.frm, self.term, 0, lg.committed))
            return
        last_new = lg.maybe_append(
            index, m.log_term, m.commit, ents, self._fp.truncate_on_stale_append
        )
        if last_new is not None:
            self._msgs.append(Message(_M_APP_RESP, self.id, m.frm, self.term, 0, last_new))
            return
        hint, hint_term = lg.find_conflict_by_term(min(m.index, lg.last_index()), m.log_term)
        self._send(
            Message(
                _M_APP_RESP, self.id, m.frm, self.term, hint_term, m.index,
                reject=True, reject_hint=hint,
            )
        )

    def _handle_heartbeat(self, m: Message) -> None:
        self._log.commit_to(m.commit)
        self._send(Message(_M_HEARTBEAT_RESP, self.id, m.frm, self.term, 0, 0, (), 0, False, 0,
                           None, False, m.context))

    def _handle_snapshot(self, m: Message) -> None:
        snap = m.snapshot
        if snap is None:
            raise RemoteError(f"MsgSnap from {m.frm} without a snapshot")
        lg = self._log
        if snap.index > lg.committed:
            if lg.match_term(snap.index, snap.term):
                lg.commit_to(snap.index)  # we have it all already: just fast-forward
            else:
                lg.restore(snap)
                self._set_conf(snap.index, snap.conf, reset_history=True)
                index = lg.last_index()
                self._send(Message(_M_APP_RESP, self.id, m.frm, self.term, index=index))
                return
        self._send(Message(_M_APP_RESP, self.id, m.frm, self.term, index=lg.committed))

    # ----------------------------------------------------------------- leaders

    def _tick_heartbeat(self) -> None:
        self._heartbeat_elapsed += 1
        self._election_elapsed += 1
        if self._election_elapsed >= self._cfg.election_ticks:
            self._election_elapsed = 0
            if self._cfg.check_quorum and not self._quorum_active():
                self._become_follower(self.term, NONE)
                return
            self._transferee = NONE  # a transfer that did not finish in time is abandoned
        if self._heartbeat_elapsed >= self._cfg.heartbeat_ticks:
            self._heartbeat_elapsed = 0
            # As etcd, a heartbeat carries the newest pending read, so a lost round is retried.
            self._bcast_heartbeat(next(reversed(self._reads)) if self._reads else b"")

    def _bcast_heartbeat(self, ctx: bytes) -> None:
        for peer in self._peers():
            pr = self._progress[peer]
            commit = min(pr.match, self._log.committed)
            self._send(Message(_M_HEARTBEAT, self.id, peer, self.term, commit=commit, context=ctx))

    def _leader_read_index(self, m: Message) -> None:
        """etcd's stepLeader for MsgReadIndex with ReadOnlySafe."""
        if ((len(self._voters) == 1 and self.id in self._voters)
                or self._fp.read_index_without_quorum):
            self._answer_read(m.frm, m.context, self._log.committed)
            return
        if self._log.term(self._log.committed) != self.term:
            # A new leader's commit index may lag the true one until an entry of its own term
            # commits (dissertation 6.4, step 1): hold the read until then.
            self._deferred_reads.append(m)
            return
        if m.context in self._reads:
            return  # the same request again: the pending one answers it
        self._reads[m.context] = _ReadRequest(self._log.committed, m.frm, {self.id})
        self._bcast_heartbeat(m.context)

    def _answer_read(self, to: int, ctx: bytes, index: int) -> None:
        if to == self.id:
            self._read_states.append(ReadState(index, ctx))
        else:
            self._send(Message(_M_READ_INDEX_RESP, self.id, to, self.term, index=index,
                               context=ctx))

    def _read_acked(self, frm: int, ctx: bytes) -> None:
        req = self._reads.get(ctx)
        if req is None:
            return
        req.acks.add(frm)
        if sum(1 for v in self._voters if v in req.acks) < len(self._voters) // 2 + 1:
            return
        # A quorum acked a heartbeat sent after this request, hence after every earlier one:
        # answer all of them, in order (etcd's readOnly.advance).
        while self._reads:
            key = next(iter(self._reads))
            done = self._reads.pop(key)
            self._answer_read(done.frm, key, done.index)
            if key == ctx:
                break

    def _release_deferred_reads(self) -> None:
        if self._deferred_reads and self._log.term(self._log.committed) == self.term:
            pending, self._deferred_reads = self._deferred_reads, []
            for m in pending:
                self._leader_read_index(m)

    def _quorum_active(self) -> bool:
        active = sum(
            1 for v in self._voters if v == self.id or self._progress[v].recent_active
        )
        for peer in self._peers():
            self._progress[peer].recent_active = False
        return active >= len(self._voters) // 2 + 1

    def _peers(self) -> tuple[int, ...]:
        return self._peer_ids

    def _step_leader(self, m: Message) -> None:
        pr = self._progress.get(m.frm)
        if pr is None:
            return
        t = m.type
        if t is _M_APP_RESP:
            pr.recent_active = True
            self._handle_append_resp(m, pr)
        elif t is _M_HEARTBEAT_RESP:
            pr.recent_active = True
            if pr.state is _P_SNAPSHOT:
                pr.become_probe()
            pr.probe_sent = False
            if pr.match < self._log.last_index():
                self._send_append(m.frm)
            if m.context:
                self._read_acked(m.frm, m.context)

    def _handle_append_resp(self, m: Message, pr: Progress) -> None:
        lg = self._log
        if m.reject:
            hint = m.reject_hint
            if m.log_term > 0:
                hint, _ = lg.find_conflict_by_term(m.reject_hint, m.log_term)
            if pr.maybe_decr_to(m.index, hint):
                if pr.state is _P_REPLICATE:
                    pr.become_probe()
                self._send_append(m.frm)
            return
        acked = lg.last_index() if self._fp.ack_log_length else m.index
        # pr.maybe_update(acked), inlined
        if acked > pr.match:
            pr.match = acked
            pr.probe_sent = False
            if pr.next <= acked:
                pr.next = acked + 1
        elif pr.match == acked and pr.state is _P_PROBE:
            if pr.next <= acked:
                pr.next = acked + 1
        else:
            if pr.next <= acked:
                pr.next = acked + 1
            return
        state = pr.state
        if state is _P_PROBE:
            pr.become_replicate()
        elif state is _P_SNAPSHOT and pr.match >= pr.pending_snapshot:
            pr.become_probe()
            pr.become_replicate()
        if pr.match > lg.committed:  # an ack at or below the commit index commits nothing new
            self._maybe_commit()
        if pr.next != lg.last_index() + 1:  # else all is sent already (the common case)
            while self._send_append(m.frm, send_if_empty=False):
                pass
        if m.frm == self._transferee and pr.match == lg.last_index():
            self._send(Message(_M_TIMEOUT_NOW, self.id, m.frm, self.term))

    def _maybe_commit(self) -> bool:
        # committed_index(voters, matches), inlined: it runs on every acknowledgement.
        acked = sorted(map(_match_of, map(self._progress.get, self._voters, _NO_PROGRESS)),
                       reverse=True)
        index = acked[len(acked) // 2] if acked else 0
        if self._fp.commit_prev_term and index > self._log.committed:
            self._log.commit_to(index)
            self._release_deferred_reads()
            return True
        # Only entries of the current term are committed by counting replicas (section 5.4.2).
        if self._log.maybe_commit(index, self.term):
            self._release_deferred_reads()
            return True
        return False

    def _send_append(self, to: int, send_if_empty: bool = True) -> bool:
        pr = self._progress[to]
        state = pr.state
        if state is _P_SNAPSHOT or (state is _P_PROBE and pr.probe_sent):
            return False  # pr.is_paused(), inlined
        lg = self._log
        nxt = pr.next
        if not send_if_empty and nxt == lg.last_index() + 1:
            return False  # the follower is sent everything already (the common case: skip work)
        prev = nxt - 1
        prev_term = lg.term(prev)
        # The log knows the term at ``prev`` only from the snapshot's index on, so a known
        # term also means ``nxt`` is at or after ``first_index()``.
        if prev_term is None:
            if not pr.recent_active:
                return False
            snap = lg.snapshot()
            pr.become_snapshot(snap.index)
            self._send(Message(_M_SNAP, self.id, to, self.term, snapshot=snap))
            return False
        ents = lg.entries(nxt, self._cfg.max_msg_entries)
        if not ents and not send_if_empty:
            return False
        self._msgs.append(  # _send(), inlined
            Message(_M_APP, self.id, to, self.term, prev_term, prev, ents, lg.committed)
        )
        if pr.state is _P_REPLICATE:
            if ents:
                pr.next = ents[-1].index + 1
        else:
            pr.probe_sent = True
        return pr.state is _P_REPLICATE and bool(ents)

    def _bcast_append(self) -> None:
        for peer in self._peers():
            self._send_append(peer)

    def _append(self, data: bytes, kind: EntryType = EntryType.NORMAL) -> int:
        lg = self._log
        index = lg.last_index() + 1
        lg.append([Entry(index, self.term, data, kind)])
        me = self._progress.get(self.id)
        if me is not None:
            me.maybe_update(index)
            if len(self._voters) == 1:
                # Only a lone voter commits by its own append: with others, the leader's match
                # is the highest before and after, so the quorum's match does not move.
                self._maybe_commit()
        return index

    def _propose(self, data: bytes, kind: EntryType = EntryType.NORMAL) -> int:
        self._require_leader()
        if self._transferee != NONE:
            raise ProposalDropped(f"leadership is moving to {self._transferee}")
        index = self._append(data, kind)
        for peer in self._peers():
            self._send_append(peer, send_if_empty=False)
        return index

    def _require_leader(self) -> None:
        if self.role is not _R_LEADER:
            raise NotLeader(self.lead or None)

    # ----------------------------------------------------------------- membership

    def _set_conf(self, index: int, conf: ConfState, reset_history: bool = False) -> None:
        self._voters = tuple(sorted(conf.voters))
        self._learners = tuple(sorted(conf.learners))
        if reset_history:
            self._conf_history = []
        self._conf_history.append((index, ConfState(self._voters, self._learners)))

    def _apply_conf_change(self, index: int, cc: ConfChange) -> None:
        voters, learners = set(self._voters), set(self._learners)
        if cc.type is ConfChangeType.ADD_VOTER:
            learners.discard(cc.node)
            voters.add(cc.node)
        elif cc.type is ConfChangeType.ADD_LEARNER:
            if cc.node not in voters:
                learners.add(cc.node)
        else:
            voters.discard(cc.node)
            learners.discard(cc.node)
        self._set_conf(index, ConfState(tuple(voters), tuple(learners)))
        if self.role is not _R_LEADER:
            return
        if self.id not in voters:
            self._become_follower(self.term, NONE)  # a removed leader steps down
            return
        last = self._log.last_index()
        for peer in self._voters + self._learners:
            if peer not in self._progress:
                self._progress[peer] = Progress(0, last + 1)
        for peer in [p for p in self._progress if p not in voters and p not in learners]:
            del self._progress[peer]
        self._peer_ids = tuple(p for p in sorted(self._progress) if p != self.id)
        if self._transferee not in voters:
            self._transferee = NONE
        if self._maybe_commit():
            self._bcast_append()

    # ----------------------------------------------------------------- output

    def _send(self, m: Message) -> None:
        self._msgs.append(m)
