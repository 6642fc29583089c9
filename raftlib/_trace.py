"""The simulator's trace records and player frames, as typed dictionaries.

They stay plain dicts at run time (a trace is canonical JSON, byte for byte the same for the
same seed, and the player reads frames as JSON), but every reader is checked by mypy: a
record's ``ev`` names its kind, and comparing ``rec["ev"]`` with a kind narrows the record to
that kind's fields. The simulator writes them; the checkers, the frame recorder and the
chapters read them. Keys that are Python keywords (``from``) force the functional syntax.
"""

from __future__ import annotations

from typing import Literal, TypedDict


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


class MemberFrame(TypedDict):
    """One member in a frame: ``log`` holds its last entries as ``[index, term, label]``."""

    role: str
    term: int
    vote: int
    commit: int
    applied: int
    first: int
    log: list[list[int | str]]
    up: bool
    paused: bool


InFlight = TypedDict("InFlight", {"from": int, "to": int, "type": str, "term": int})


class Frame(TypedDict):
    """What a trace player draws at one moment."""

    t: int
    members: dict[int, MemberFrame]
    in_flight: list[InFlight]
    partition: list[list[int]] | None


class PlayerFrame(Frame):
    """A frame as a recorder hands it to the trace player: labelled with what happened."""

    event: str
