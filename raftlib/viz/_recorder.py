"""The frame recorder: a running simulation turned into frames for the trace player.

:class:`Recorder` and :func:`record` read a simulation through :class:`Simulated`, the little
of :class:`raftlib.sim.Simulation` they need, so that viz does not import the simulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from raftlib._trace import Frame, PlayerFrame, Record

__all__ = ["RecordedFrames", "Recorder", "Simulated", "describe", "record"]


class Simulated(Protocol):
    """What a recorder reads of a simulation (:class:`raftlib.sim.Simulation` offers it)."""

    @property
    def now(self) -> int: ...

    @property
    def members(self) -> Mapping[int, Any]: ...

    def observe(self, callback: Callable[[Record], None]) -> None: ...

    def frame(self) -> Frame: ...

    def leader(self) -> int | None: ...

    def run_for(self, ms: int) -> None: ...

    def run_until(self, predicate: Callable[[], bool], timeout_ms: int) -> bool: ...

    @property
    def script(self) -> Mapping[str, Any] | None: ...

    def position(self) -> tuple[int, int, int]: ...


class RecordedFrames(list[PlayerFrame]):
    """A recorder's frames, with where the simulation was at each (``positions``, see
    ``Simulation.position``), so a player can replay the run up to any frame (live mode)."""

    def __init__(self, sim: Simulated) -> None:
        super().__init__()
        self.sim = sim
        self.positions: list[tuple[int, int, int]] = []

    def live(self) -> dict[str, Any] | None:
        """What a player needs to replay this run up to each frame: the simulation's script
        cut at the last frame (its calls packed, see :func:`unpack_calls`), and each frame's
        position as deltas of ``[events, actions]`` (its time is the frame's own); None when
        the run cannot be replayed."""
        script = self.sim.script
        if script is None or not self:
            return None
        _, actions, seq = self.positions[-1]
        at: list[int] = []
        last = (0, 0)
        for events, done, _ in self.positions:
            at += [events - last[0], done - last[1]]
            last = (events, done)
        return {"script": {"args": script["args"], "actions": script["actions"][:actions],
                           "calls": _pack_calls(c for c in script["calls"] if c[0] <= seq)},
                "at": at}


def _pack_calls(calls: Iterable[Sequence[int]]) -> list[int]:
    # A run with clients schedules thousands of calls: as deltas, flat, a third of the bytes.
    flat: list[int] = []
    last = (0, 0)
    for seq, t in calls:
        flat += [seq - last[0], t - last[1]]
        last = (seq, t)
    return flat


def unpack_calls(flat: Sequence[int]) -> list[list[int]]:
    """A live script's packed calls as ``Simulation.script`` lists them: ``[seq, t]``."""
    calls: list[list[int]] = []
    seq = t = 0
    for k in range(0, len(flat), 2):
        seq, t = seq + flat[k], t + flat[k + 1]
        calls.append([seq, t])
    return calls


# Records that change nothing a frame shows: a tick only matters through what it causes (a send
# or a state change), which has its own record.
_QUIET = frozenset({"tick"})
# Most telling first: a frame label lists the most important things that happened at its instant.
_RANK = {
    "crash": 0, "restart": 0, "pause": 0, "resume": 0, "partition": 0, "heal": 0, "cut": 0,
    "panic": 0, "propose": 1, "state": 2, "apply": 3, "drop": 4, "deliver": 5, "send": 6,
    "persist": 7,
}
_LABEL_PARTS = 3


def describe(rec: Record) -> str:
    """One trace record of the simulator in words, e.g. ``"3 becomes leader (term 2)"``."""
    if rec["ev"] == "state":
        who, lead, term = rec["id"], rec["lead"], rec["term"]
        if rec["role"] == "follower":
            return (f"{who} follows {lead} (term {term})" if lead
                    else f"{who} is follower at term {term}")
        return f"{who} becomes {rec['role']} (term {term})"
    if rec["ev"] == "send" or rec["ev"] == "deliver":
        verb = "sends" if rec["ev"] == "send" else "delivered"
        return f"{rec['from']}→{rec['to']} {rec['type']} {verb}"
    if rec["ev"] == "drop":
        return f"{rec['from']}→{rec['to']} dropped ({rec['why']})"
    if rec["ev"] == "apply":
        return f"{rec['id']} applies index {rec['index']}"
    if rec["ev"] == "persist":
        what = [f"{rec['entries']} entries"] if rec["entries"] else []
        what += ["term/vote/commit"] if rec["hs"] else []
        what += [f"snapshot at {rec['snap']}"] if rec["snap"] is not None else []
        return f"{rec['id']} persists {' and '.join(what) or 'nothing'}"
    if rec["ev"] == "propose":
        target = "no leader" if rec["leader"] is None else f"leader {rec['leader']}"
        return f"client proposes p{rec['handle']} to {target}"
    if rec["ev"] == "partition":
        return "partition " + " | ".join(",".join(map(str, g)) for g in rec["groups"])
    if rec["ev"] == "cut":
        return f"link {rec['from']}→{rec['to']} cut"
    if rec["ev"] == "heal":
        return "network healed"
    if rec["ev"] == "panic":
        return f"{rec['id']} panics: {rec['error']}"
    if rec["ev"] == "crash":
        return f"{rec['id']} crashes"
    if rec["ev"] == "restart":
        return f"{rec['id']} restarts"
    if rec["ev"] == "pause" or rec["ev"] == "resume":
        return f"{rec['id']} {rec['ev']}d"
    return rec["ev"]


def _merged(records: Sequence[Record]) -> list[tuple[int, str]]:
    """(rank, text) of each distinct happening; one message type sent by one member to several
    peers at once reads as one line (``3→1,2,4,5 MsgVote sends``), as do deliveries and applies.
    """
    groups: dict[tuple[Any, ...], list[Any]] = {}
    order: list[tuple[Any, ...]] = []
    for i, rec in enumerate(records):
        key: tuple[Any, ...]
        who: int | None
        if rec["ev"] == "send" or rec["ev"] == "deliver":
            key, who = (rec["ev"], rec["from"], rec["type"]), rec["to"]
        elif rec["ev"] == "apply":
            key, who = (rec["ev"], rec["index"]), rec["id"]
        else:
            key, who = ("one", i), None
        if key not in groups:
            groups[key] = []
            order.append(key)
        if who is not None and who not in groups[key]:
            groups[key].append(who)
    out = []
    for key in order:
        ev, whom = key[0], groups[key]
        if ev in ("send", "deliver"):
            verb = "sends" if ev == "send" else "delivered"
            text = f"{key[1]}→{','.join(map(str, whom))} {key[2]} {verb}"
        elif ev == "apply":
            text = (f"{','.join(map(str, whom))} appl{'y' if len(whom) > 1 else 'ies'} "
                    f"index {key[1]}")
        else:
            rec = records[key[1]]
            ev, text = rec["ev"], describe(rec)
        out.append((_RANK.get(str(ev), 8), text))
    return out


def _label(records: Sequence[Record]) -> str:
    """A short frame label: the most important distinct happenings, then how many more."""
    seen: list[str] = []
    for _rank, text in sorted(_merged(records), key=lambda rt: rt[0]):  # stable: keeps order
        if text not in seen:
            seen.append(text)
    shown = "; ".join(seen[:_LABEL_PARTS])
    more = len(seen) - _LABEL_PARTS
    return f"{shown} (+{more} more)" if more > 0 else shown


def _roles_as_listed(sim: Simulated, frame: Frame) -> None:
    """Draw learners as the cluster lists them (``etcdctl member list``, IS LEARNER): from the
    leader's configuration. A newcomer's own node learns that it is a learner only when it
    applies the entry that added it, and that it was promoted only when it applies that one."""
    lead = sim.leader()
    node = sim.members[lead].node if lead is not None else None
    if node is None:
        return
    for mid, st in frame["members"].items():
        if mid in node.learners and st["role"] in ("follower", "candidate", "pre_candidate"):
            st["role"] = "learner"
        elif st["role"] == "learner" and mid in node.voters:
            st["role"] = "follower"


class Recorder:
    """Turns a running simulation (:class:`Simulated`) into player frames.

    With ``every_ms=None`` it takes one frame per virtual instant at which something other than
    a tick happened (several events at the same millisecond share a frame, labelled with the
    most important of them); with ``every_ms=k`` one frame every ``k`` virtual ms. ``snap``
    adds a frame for an action made from outside (crash, partition, ...). At most
    ``max_frames`` are kept, the oldest dropped first, so a long session stays quick to show.

    The simulator offers no way to detach an observer: a recorder stays subscribed for the
    simulation's lifetime and only notes what happens between its own frames.
    """

    def __init__(self, sim: Simulated, *, every_ms: int | None = None,
                 max_frames: int = 1000) -> None:
        if every_ms is not None and every_ms <= 0:
            raise ValueError("every_ms must be positive")
        self.sim = sim
        self.every_ms = every_ms
        self.max_frames = max_frames
        self.frames = RecordedFrames(sim)
        self.dropped = 0  # frames dropped from the front by max_frames
        self._pending: list[Record] = []
        self._merge_t: int | None = None  # instant of the last frame that may still absorb events
        self._merge_records: list[Record] = []
        sim.observe(self._on_record)

    def _on_record(self, rec: Record) -> None:
        if rec["ev"] not in _QUIET and len(self._pending) < 10_000:
            # Bounded: a long run outside the recorder only needs a summary, not every record.
            self._pending.append(rec)

    def _append(self, event: str) -> None:
        frame = self.sim.frame()
        _roles_as_listed(self.sim, frame)
        self.frames.append(PlayerFrame(**frame, event=event))
        self.frames.positions.append(self.sim.position())
        if len(self.frames) > self.max_frames:
            cut = len(self.frames) - self.max_frames
            del self.frames[:cut]
            del self.frames.positions[:cut]
            self.dropped += cut

    def snap(self, event: str) -> PlayerFrame:
        """A frame of the cluster now, labelled ``event`` (what the action did)."""
        self._pending.clear()
        self._merge_t = None
        self._append(event)
        return self.frames[-1]

    def catch_up(self) -> bool:
        """Take a frame for changes made to the simulation outside this recorder, if any."""
        if not self._pending:
            return False
        recs, self._pending = self._pending, []
        self._merge_t = None
        self._append("outside the panel: " + _label(recs))
        return True

    def _after_event(self) -> bool:
        # Called by Simulation.run_until after every event; never stops the run.
        if not self._pending:
            return False
        now = self.sim.now
        if self._merge_t == now and self.frames:
            # Same instant as the previous frame: it becomes the state after all of them.
            self.frames.pop()
            self.frames.positions.pop()
            self._merge_records.extend(self._pending)
        else:
            self._merge_records = list(self._pending)
        self._pending = []
        self._merge_t = now
        self._append(_label(self._merge_records))
        return False

    def run_for(self, ms: int) -> int:
        """Advance the simulation ``ms`` virtual ms, recording; returns the frames added."""
        if ms < 0:
            raise ValueError("cannot advance by a negative time")
        before = len(self.frames) + self.dropped
        self.catch_up()
        sim = self.sim
        end = sim.now + ms
        if self.every_ms is None:
            sim.run_until(self._after_event, ms)
        else:
            while sim.now < end:
                sim.run_for(min(self.every_ms, end - sim.now))
                recs, self._pending = self._pending, []
                self._append(_label(recs) if recs else "quiet")
        self._merge_t = None
        return len(self.frames) + self.dropped - before


def record(sim: Simulated, run_ms: int, every_ms: int | None = None,
           *, first: str = "start") -> RecordedFrames:
    """Frames of ``sim`` now (labelled ``first``) and while it runs ``run_ms`` virtual ms.

    One frame per instant with activity, or every ``every_ms`` ms (see :class:`Recorder`).
    For the static book: ``TracePlayer(record(Simulation(5, seed=1), 3000))``.
    """
    rec = Recorder(sim, every_ms=every_ms, max_frames=10**9)
    rec.snap(first)
    rec.run_for(run_ms)
    return rec.frames
