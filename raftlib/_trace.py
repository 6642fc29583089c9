"""The simulator's trace records and player frames, as typed dictionaries.

They stay plain dicts at run time (a trace is canonical JSON, byte for byte the same for the
same seed, and the player reads frames as JSON), but every reader is checked by mypy: a
record's ``ev`` names its kind, and comparing ``rec["ev"]`` with a kind narrows the record to
that kind's fields. The simulator writes them; the checkers, the frame recorder and the
chapters read them. Keys that are Python keywords (``from``) force the functional syntax.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class Tick(TypedDict):
    t: int
    ev: Literal["tick"]
    id: int


class State(TypedDict):
    """A member changed role, term or leader."""

    t: int
    ev: Literal["state"]
    id: int
    role: str
    term: int
    lead: int


class Persist(TypedDict):
    """A member made a Ready durable: ``entries`` new entries up to ``last``, a hard state
    ``[term, vote, commit]`` and a snapshot index, each ``None`` when absent."""

    t: int
    ev: Literal["persist"]
    id: int
    entries: int
    last: int | None
    hs: list[int] | None
    snap: int | None


class Apply(TypedDict):
    t: int
    ev: Literal["apply"]
    id: int
    index: int
    term: int


Send = TypedDict("Send", {
    "t": int, "ev": Literal["send"], "from": int, "to": int, "type": str, "term": int,
    "index": int, "n": int, "commit": int, "reject": bool,
})
"""A message leaves its sender: ``n`` entries after ``index``."""

Deliver = TypedDict("Deliver", {
    "t": int, "ev": Literal["deliver"], "from": int, "to": int, "type": str, "term": int,
})

Drop = TypedDict("Drop", {
    "t": int, "ev": Literal["drop"], "from": int, "to": int, "why": str,
})
"""A message lost: ``why`` is ``"partition"``, ``"loss"`` or why its receiver could not take
it."""

Cut = TypedDict("Cut", {"t": int, "ev": Literal["cut"], "from": int, "to": int})


class Panic(TypedDict):
    t: int
    ev: Literal["panic"]
    id: int
    error: str


class Crash(TypedDict):
    t: int
    ev: Literal["crash"]
    id: int
    lose_unsynced: bool


class Member(TypedDict):
    """``restart``, ``pause``, ``resume`` and ``campaign``: something done to one member."""

    t: int
    ev: Literal["restart", "pause", "resume", "campaign"]
    id: int


class Partition(TypedDict):
    t: int
    ev: Literal["partition"]
    groups: list[list[int]]


class Heal(TypedDict):
    t: int
    ev: Literal["heal"]


class Propose(TypedDict):
    t: int
    ev: Literal["propose"]
    handle: int
    leader: int | None


Record = (Tick | State | Persist | Apply | Send | Deliver | Drop | Cut | Panic | Crash
          | Member | Partition | Heal | Propose)
"""One trace record."""


class VoteTally(TypedDict):
    """A (pre-)candidate's election so far: who granted and who refused its vote (itself
    included), out of the ``voters`` it asked."""

    granted: list[int]
    refused: list[int]
    voters: list[int]


class PeerProgress(TypedDict):
    """What a leader knows of one follower (etcd's Progress): its ``match`` index, the ``next``
    index to send, and ``state``: ``"probe"``, ``"replicate"`` or ``"snapshot"``."""

    id: int
    match: int
    next: int
    state: str


class MemberFrame(TypedDict):
    """One member in a frame: ``log`` holds its last entries as ``[index, term, label]``.

    ``timer`` is ``[elapsed_ms, timeout_ms]``: for a leader its heartbeat interval, for any
    other voter its randomized election timeout, counted as the node counts it (whole ticks
    since the last reset) plus the virtual ms since its last tick, so the timer fires when
    ``elapsed_ms`` reaches ``timeout_ms``; ``None`` when down or unable to campaign (a
    learner). ``votes`` is set while it is a (pre-)candidate, ``progress`` (one row per peer,
    by id) while it is the leader; otherwise both are ``None``.
    """

    role: str
    term: int
    vote: int
    commit: int
    applied: int
    first: int
    log: list[list[int | str]]
    up: bool
    paused: bool
    timer: list[int] | None
    votes: VoteTally | None
    progress: list[PeerProgress] | None


InFlight = TypedDict("InFlight", {
    "from": int, "to": int, "type": str, "term": int,
    "last_index": NotRequired[int], "last_term": NotRequired[int], "granted": NotRequired[bool],
    "prev_index": NotRequired[int], "prev_term": NotRequired[int], "entries": NotRequired[int],
    "commit": NotRequired[int], "reject": NotRequired[bool], "index": NotRequired[int],
    "reject_hint": NotRequired[int], "hint_term": NotRequired[int],
    "snap_index": NotRequired[int], "snap_term": NotRequired[int],
})
"""A message on its way, with what it carries for its type (the other keys are absent):
``MsgVote``/``MsgPreVote``: the candidate's ``last_index`` and ``last_term``;
``MsgVoteResp``/``MsgPreVoteResp``: ``granted``; ``MsgApp``: ``prev_index``, ``prev_term``,
``entries`` (how many) and ``commit``; ``MsgAppResp``: ``reject`` and ``index`` (the match
index, or the rejected ``prev_index``), and when rejecting ``reject_hint`` and ``hint_term``
(etcd-io/raft's hint: the follower's best guess of where the logs agree);
``MsgHeartbeat``: ``commit``; ``MsgSnap``: ``snap_index`` and ``snap_term``;
``MsgReadIndexResp``: ``index``."""


class Frame(TypedDict):
    """What a trace player draws at one moment (``Simulation.frame()``): the virtual time,
    every member (:class:`MemberFrame`: role, term, log, and its timer, vote tally or
    replication progress), the messages on their way with what they carry
    (:class:`InFlight`), and the partition. Only frames carry timers, tallies, progress and
    message contents; trace records stay lean (the simulator writes one per event, the
    recorder takes a frame only per instant it shows)."""

    t: int
    members: dict[int, MemberFrame]
    in_flight: list[InFlight]
    partition: list[list[int]] | None


class PlayerFrame(Frame):
    """A frame as a recorder hands it to the trace player: labelled with what happened."""

    event: str
