"""Raft safety invariants, checked online as a simulation runs, and at the end of a run."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Sized
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from .._trace import Record
from ..raft import (
    ConfChange,
    ConfChangeType,
    Entry,
    EntryType,
    HardState,
    MemoryStorage,
    Message,
    MessageType,
    Node,
    Ready,
    Role,
    Timing,
)

# What the monitor reads from a run, as protocols: check does not import the simulator that
# produces the run (raftlib.sim.Simulation satisfies them, as mypy proves where the explorer
# attaches a monitor).


class Replica(Protocol):
    """One member as the monitor sees it: its node (``None`` while down), its storage (what
    was written), the hard state an fsync made durable, and the index its state machine has
    applied."""

    @property
    def node(self) -> Node | None: ...
    @property
    def storage(self) -> MemoryStorage: ...
    @property
    def durable_hard_state(self) -> HardState: ...
    @property
    def applied(self) -> int: ...


class Submitted(Protocol):
    """A client proposal: its log index and commit time, ``None`` until known."""

    @property
    def index(self) -> int | None: ...
    @property
    def committed_at(self) -> int | None: ...


class Run(Protocol):
    """A running cluster the monitor is attached to, and that liveness checks drive."""

    @property
    def members(self) -> Mapping[int, Replica]: ...
    @property
    def now(self) -> int: ...
    @property
    def events(self) -> int: ...
    @property
    def trace(self) -> Sized: ...
    @property
    def timing(self) -> Timing: ...
    @property
    def proposals(self) -> Sequence[Submitted]: ...

    def attach(self, monitor: SafetyMonitor) -> None: ...
    def leader(self) -> int | None: ...
    def propose(self, data: bytes | None = None) -> int: ...
    def run_for(self, ms: int) -> None: ...
    def run_until(self, predicate: Callable[[], bool], timeout_ms: int) -> bool: ...



@dataclass(frozen=True, slots=True)
class Violation:
    """A broken invariant: which ``rule``, what happened, who, where in the log and when.

    ``t`` is the virtual time (ms), ``trace_pos`` the length of the trace at detection
    (records before it led here; 0 with the trace off) and ``event`` the number of events
    the simulation had processed (``Simulation.events``).
    """

    rule: str
    message: str
    members: tuple[int, ...]
    index: int | None
    term: int | None
    t: int
    trace_pos: int
    event: int = 0

    def __str__(self) -> str:
        return (
            f"[{self.rule}] t={self.t}ms event#{self.event} trace#{self.trace_pos} "
            f"members={list(self.members)} index={self.index} term={self.term}: {self.message}"
        )


class SafetyViolation(AssertionError):
    """Raised by a :class:`SafetyMonitor` in raising mode; carries the :class:`Violation`."""

    def __init__(self, violation: Violation) -> None:
        self.violation = violation
        super().__init__(str(violation))


RULES = (
    "election_safety",
    "election_quorum",
    "vote_durable",
    "term_provenance",
    "leader_append_only",
    "log_matching",
    "leader_completeness",
    "commit_rule",
    "commit_quorum",
    "committed_durable",
    "apply_durable",
    "state_machine_safety",
    "node_panic",
    "liveness",
)
"""Names of the rules a :class:`Violation` can report."""


class SafetyMonitor:
    """Checks Raft's safety properties after every event of a run (a
    :class:`raftlib.sim.Simulation`).

    Election safety (one leader per term, elected by a quorum of durable votes), terms only
    born from a campaign (what PreVote guarantees), leader append-only and log matching on
    persisted entries, leader completeness at election, the commit rule (a leader commits by
    counting only entries of its own term, and only what a quorum stores durably), committed
    entries never removed, entries applied only once durable, and state machine safety (the
    same entry at each index everywhere, applied in order). Each check costs O(1) per entry
    or message. By default the first violation raises :class:`SafetyViolation`.
    """

    def __init__(self, raise_on_violation: bool = True) -> None:
        self.raise_on_violation = raise_on_violation
        self.violations: list[Violation] = []
        self._leaders: dict[int, int] = {}
        self._campaigns: set[int] = set()
        self._grants: dict[tuple[int, int], set[int]] = {}
        self._entries: dict[tuple[int, int], bytes] = {}
        self._committed: dict[int, int] = {}
        self._commit_by_term: dict[int, int] = {}
        self._applied_global: dict[int, tuple[int, bytes]] = {}
        self._applied: dict[int, int] = {}
        self._commit_seen: dict[int, int] = {}
        # The voters in force from each index on, from the configuration entries applied (the
        # checker's own reading of the log: it trusts neither the nodes' views nor their
        # quorum arithmetic, so a bug there cannot blind it).
        self._conf_from: list[tuple[int, frozenset[int]]] = []

    def attach(self, sim: Run) -> SafetyMonitor:
        """Watch ``sim`` from now on; returns ``self``."""
        sim.attach(self)
        for mid in sorted(sim.members):
            self._applied[mid] = sim.members[mid].applied
        self._first_look(sim)
        return self

    def _first_look(self, sim: Run) -> None:
        """Start the configuration history from the members' stored snapshots (also when the
        monitor was handed to the run directly, without :meth:`attach`)."""
        if not self._conf_from:
            for mid in sorted(sim.members):
                snap = sim.members[mid].storage.snapshot()
                self._record_conf(snap.index, frozenset(snap.conf.voters))

    def _record_conf(self, index: int, voters: frozenset[int]) -> None:
        if all(i != index for i, _ in self._conf_from):
            self._conf_from.append((index, voters))
            self._conf_from.sort(key=lambda c: c[0])

    def _voters_at(self, index: int) -> frozenset[int]:
        """The voters of the last configuration entry at or before ``index``."""
        return next((v for i, v in reversed(self._conf_from) if i <= index), frozenset())

    def _voters_of(self, sim: Run, member: int) -> frozenset[int]:
        """The configuration ``member`` runs under: the one in force at its applied index."""
        self._first_look(sim)
        return self._voters_at(self._applied.get(member, 0))

    def _fail(
        self, sim: Run, rule: str, message: str, members: tuple[int, ...],
        index: int | None = None, term: int | None = None,
    ) -> None:
        v = Violation(rule, message, members, index, term, sim.now, len(sim.trace), sim.events)
        self.violations.append(v)
        if self.raise_on_violation:
            raise SafetyViolation(v)

    # ----------------------------------------------------------------- hooks

    def on_state(self, sim: Run, member: int, old_term: int) -> None:
        """Election safety, election quorum, term provenance, leader completeness."""
        node = sim.members[member].node
        assert node is not None
        term, role = node.term, node.role
        if term > old_term:
            if role is Role.CANDIDATE or role is Role.LEADER:
                self._campaigns.add(term)
            elif term not in self._campaigns:
                self._fail(sim, "term_provenance",
                           f"member {member} moved to term {term} that nobody campaigned in",
                           (member,), term=term)
        if role is not Role.LEADER:
            return
        first = self._leaders.setdefault(term, member)
        if first != member:
            self._fail(sim, "election_safety", f"two leaders in term {term}",
                       (first, member), term=term)
        votes = self._grants.get((term, member), set()) | {member}
        voters = sorted(self._voters_of(sim, member))
        if len(votes & set(voters)) < _majority(len(voters)):
            self._fail(sim, "election_quorum",
                       f"member {member} leads term {term} with votes {sorted(votes)} "
                       f"of voters {list(voters)}", (member,), term=term)
        # Entries committed in earlier terms must be in this leader's log (section 5.4).
        c = max((i for t, i in self._commit_by_term.items() if t < term), default=0)
        if c > node.log.snapshot().index and node.log.term(c) != self._committed.get(c):
            self._fail(sim, "leader_completeness",
                       f"leader {member} of term {term} lacks committed entry {c}",
                       (member,), index=c, term=self._committed.get(c))

    def on_send(self, sim: Run, msg: Message) -> None:
        """Record vote grants; a vote must be durable before it is granted."""
        if msg.type is MessageType.VOTE_RESP and not msg.reject:
            self._grants.setdefault((msg.term, msg.to), set()).add(msg.frm)
            hs = sim.members[msg.frm].durable_hard_state
            # A durable later term also rules out voting again in msg.term.
            if hs.term < msg.term or (hs.term == msg.term and hs.vote != msg.to):
                self._fail(sim, "vote_durable",
                           f"member {msg.frm} granted its term-{msg.term} vote to {msg.to} "
                           f"before persisting it (durable: term {hs.term} vote {hs.vote})",
                           (msg.frm, msg.to), term=msg.term)

    def on_persist(self, sim: Run, member: int, rd: Ready, lost: Entry | None) -> None:
        """Log matching, leader append-only, committed entries kept, commit rule and quorum."""
        if lost is not None:
            if rd.role is Role.LEADER:
                self._fail(sim, "leader_append_only",
                           f"leader {member} overwrote entry {lost.index}", (member,),
                           lost.index, lost.term)
            if self._committed.get(lost.index) == lost.term:
                self._fail(sim, "committed_durable",
                           f"member {member} removed committed entry {lost.index}",
                           (member,), lost.index, lost.term)
        seen = self._entries
        for e in rd.entries:
            data = seen.setdefault((e.index, e.term), e.data)
            if data != e.data:
                self._fail(sim, "log_matching",
                           f"two different entries at index {e.index} in term {e.term}",
                           (member,), e.index, e.term)
        hs = rd.hard_state
        if hs is not None and hs.commit > 0:
            self._on_commit(sim, member, rd, hs.commit, hs.term)

    def _on_commit(self, sim: Run, member: int, rd: Ready, commit: int, term: int) -> None:
        m = sim.members[member]
        st = m.storage
        lo = max(st.first_index(), self._commit_seen.get(member, 0) + 1)
        hi = min(commit, st.last_index())
        self._commit_seen[member] = max(self._commit_seen.get(member, 0), hi)
        for i in range(lo, hi + 1):
            t = st.term(i)
            known = self._committed.setdefault(i, t or 0)
            if t is not None and known != t:
                self._fail(sim, "state_machine_safety",
                           f"member {member} committed term {t} at index {i}, others term "
                           f"{known}", (member,), i, t)
        if commit > self._commit_by_term.get(term, 0):
            self._commit_by_term[term] = commit
        if rd.role is not Role.LEADER or m.node is None:
            return
        ct = st.term(commit)
        if ct is None:
            return
        if ct != term:
            self._fail(sim, "commit_rule",
                       f"leader {member} of term {term} committed index {commit} of term {ct} "
                       f"by counting replicas", (member,), commit, ct)
        # The leader decided this commit under the configuration it had applied before this
        # Ready's entries (a configuration takes effect once applied, as in etcd).
        decided_at = rd.committed[0].index - 1 if rd.committed else self._applied.get(member, 0)
        self._first_look(sim)
        voters = sorted(self._voters_at(decided_at))
        have = [
            v for v in voters
            if v in sim.members and (
                sim.members[v].storage.snapshot().index >= commit
                or sim.members[v].storage.term(commit) == ct
            )
        ]
        if len(have) < _majority(len(voters)):
            self._fail(sim, "commit_quorum",
                       f"leader {member} committed index {commit} stored only on {have}",
                       tuple(have), commit, ct)

    def on_apply(self, sim: Run, member: int, entry: Entry) -> None:
        """State machine safety, in-order application, applied entries durable."""
        i = entry.index
        prev = self._applied.get(member, 0)
        if i != prev + 1:
            self._fail(sim, "state_machine_safety",
                       f"member {member} applied {i} after {prev}", (member,), i, entry.term)
        self._applied[member] = i
        if entry.type is EntryType.CONF_CHANGE:
            self._first_look(sim)
            self._record_conf(i, _changed(self._voters_at(i - 1), ConfChange.decode(entry.data)))
        got = self._applied_global.setdefault(i, (entry.term, entry.data))
        if got != (entry.term, entry.data):
            self._fail(sim, "state_machine_safety",
                       f"member {member} applied term {entry.term} at index {i}, "
                       f"another member applied term {got[0]}", (member,), i, entry.term)
        st = sim.members[member].storage
        if st.term(i) != entry.term and st.snapshot().index < i:
            self._fail(sim, "apply_durable",
                       f"member {member} applied entry {i} before persisting it",
                       (member,), i, entry.term)
        if self._committed.setdefault(i, entry.term) != entry.term:
            self._fail(sim, "state_machine_safety",
                       f"member {member} applied entry {i} of term {entry.term} but term "
                       f"{self._committed[i]} was committed there", (member,), i, entry.term)

    def on_restore(self, sim: Run, member: int, index: int) -> None:
        """The state machine restarted from a snapshot at ``index``."""
        self._applied[member] = index

    def on_panic(self, sim: Run, member: int, error: Exception) -> None:
        """A correct node never finds its own log corrupt."""
        self._fail(sim, "node_panic", f"member {member} stopped: {error}", (member,))

    # ----------------------------------------------------------------- end of run

    def final_check(self, sim: Run) -> list[Violation]:
        """Log matching across all durable logs, pairwise (O(members² × log length))."""
        before = len(self.violations)
        ids = sorted(sim.members)
        for k, a in enumerate(ids):
            for b in ids[k + 1 :]:
                self._match_pair(sim, a, b)
        return self.violations[before:]

    def _match_pair(self, sim: Run, a: int, b: int) -> None:
        sa, sb = sim.members[a].storage, sim.members[b].storage
        lo = max(sa.first_index(), sb.first_index())
        hi = min(sa.last_index(), sb.last_index())
        top = next((i for i in range(hi, lo - 1, -1) if sa.term(i) == sb.term(i)), None)
        if top is None:
            return
        ea, eb = sa.entries(lo, top + 1), sb.entries(lo, top + 1)
        for x, y in zip(ea, eb, strict=True):
            if x != y:
                self._fail(sim, "log_matching",
                           f"logs of {a} and {b} agree at {top} but differ at {x.index}",
                           (a, b), x.index, x.term)
                return


def _majority(n: int) -> int:
    return n // 2 + 1


def _changed(voters: frozenset[int], cc: ConfChange) -> frozenset[int]:
    """The voters after ``cc`` (adding an existing learner as a voter promotes it)."""
    if cc.type is ConfChangeType.ADD_VOTER:
        return voters | {cc.node}
    if cc.type is ConfChangeType.REMOVE:
        return voters - {cc.node}
    return voters  # a learner added: not a voter


def check_election_safety(trace: Sequence[Record]) -> list[Violation]:
    """Offline check of a recorded trace: at most one leader per term."""
    leaders: dict[int, int] = {}
    out = []
    for pos, rec in enumerate(trace):
        if rec["ev"] == "state" and rec["role"] == Role.LEADER.value:
            first = leaders.setdefault(rec["term"], rec["id"])
            if first != rec["id"]:
                out.append(Violation("election_safety", f"two leaders in term {rec['term']}",
                                     (first, rec["id"]), None, rec["term"], rec["t"], pos))
    return out


def check_liveness(sim: Run, within_ms: int) -> Violation | None:
    """Run ``sim`` until a leader commits a fresh proposal and every running member of the
    leader's configuration has applied it; a Violation if not within budget.

    A proposal stranded on a deposed leader is retried after two maximal election timeouts.
    """
    end = sim.now + within_ms
    retry = 2 * (sim.timing.election_timeout_ms + sim.timing.election_jitter_ms)
    while sim.now < end:
        if not sim.run_until(lambda: sim.leader() is not None, end - sim.now):
            break
        p = sim.proposals[sim.propose()]
        if p.index is None:
            sim.run_for(min(sim.timing.tick_ms, end - sim.now))
            continue
        if sim.run_until(partial(_committed, p), min(retry, end - sim.now)):
            index = p.index
            if sim.run_until(partial(_caught_up, sim, index), end - sim.now):
                return None
            return Violation("liveness", f"members {_behind(sim, index)} did not apply "
                             f"index {index} within {within_ms} ms", tuple(_behind(sim, index)),
                             index, None, sim.now, len(sim.trace), sim.events)
    return Violation("liveness", f"no proposal committed within {within_ms} ms", (),
                     None, None, sim.now, len(sim.trace), sim.events)


def _caught_up(sim: Run, index: int) -> bool:
    return not _behind(sim, index)


def _behind(sim: Run, index: int) -> list[int]:
    """Running members of the leader's configuration that have not applied ``index``."""
    lead = sim.leader()
    node = sim.members[lead].node if lead is not None else None
    if node is None:
        return []
    ids = (*node.voters, *node.learners)
    return [i for i in sorted(ids) if i in sim.members and sim.members[i].node is not None
            and sim.members[i].applied < index]


def _committed(p: Submitted) -> bool:
    return p.committed_at is not None
