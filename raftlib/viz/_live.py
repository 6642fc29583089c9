"""Live mode's Python side: a player's recorded run replayed up to a frame, then driven by the
reader, its new frames encoded as additions to the player's own data.

The browser runs this in Pyodide (``live-control.js`` calls it through the worker); tests run
it in CPython and compare. A cluster branch is a simulation (:class:`LiveSession`; viz does not
import the simulator: the caller passes ``Simulation.replay``), a keyspace branch an MVCC store
(:class:`LiveStore`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from raftlib.check import SafetyMonitor
from raftlib.kv import KVError, MVCCStore
from raftlib.raft import LOG_SAFETY_FAILPOINTS, LocalError
from raftlib.viz._panels import _kv_frame, _sizes_frame, sizes_step
from raftlib.viz._player import _Encoder, unpack_live
from raftlib.viz._recorder import Recorder, Simulated, unpack_calls

__all__ = ["LiveSession", "LiveStore", "Replay", "take"]

Replay = Callable[..., Simulated]
"""``Simulation.replay``: ``(script, (events, actions, t), monitor=...)`` -> a simulation."""

# What a reader can do to a member, as the simulation's method and the label of its frame.
_MEMBER_ACTIONS = {
    "crash": "you crash {}", "restart": "you restart {}", "pause": "you pause {}",
    "resume": "you resume {}", "isolate": "you isolate {}", "campaign": "{} times out",
}


class _Live:
    """What both kinds share: the player's tables continued, and the frame check.

    ``error`` is set (and the session refuses actions) when the replayed frame differs from
    the recorded one: then the run was not what its script says.
    """

    kind = ""

    def __init__(self, payload: Mapping[str, Any], branch: int, index: int) -> None:
        data = payload["branches"][branch]
        self.live: Mapping[str, Any] = unpack_live(data["live"])
        self.recorded: list[Any] = data["frames"][index]
        self.index = index
        self.encoder = _Encoder.resume(payload, branch, index)
        self._sent = {name: len(table) for name, table in self.encoder.tables.items()}
        self._members = len(self.encoder.members)
        self._t = int(self.recorded[0])
        self.error: str | None = None

    def _differs(self, why: str = "") -> None:
        self.error = (f"the replay of frame {self.index + 1} differs from the recorded frame: "
                      "the live run would not be the chapter's" + (f" ({why})" if why else ""))

    def _check(self, frame: Mapping[str, Any]) -> None:
        row = self._encode(frame)
        if [row[0], *row[2:]] != [self.recorded[0], *self.recorded[2:]]:
            self._differs()

    def _encode(self, frame: Mapping[str, Any]) -> list[Any]:
        row = self.encoder.frame(frame, self._t)
        self._t = row[0]
        return list(json.loads(json.dumps(row)))

    def _refuse(self) -> None:
        if self.error is not None:
            raise RuntimeError(self.error)

    def start(self) -> dict[str, Any]:
        """The take-over: its kind and, unless ``error``, what :meth:`delta` gives with no
        frames (the recorded frame stands)."""
        if self.error is not None:
            return {"kind": self.kind, "error": self.error}
        return {"kind": self.kind, **self.delta([])}

    def delta(self, frames: list[Any]) -> dict[str, Any]:
        """What the player must add: new table rows and members, the new frames' rows and
        their log index span."""
        rows = [self._encode(f) for f in frames]
        tables = {name: table[self._sent[name]:] for name, table in self.encoder.tables.items()}
        self._sent = {name: len(table) for name, table in self.encoder.tables.items()}
        members = self.encoder.members[self._members:]
        self._members = len(self.encoder.members)
        out: dict[str, Any] = json.loads(json.dumps({
            "tables": tables, "members": members, "frames": rows,
            "span": self.encoder.span or [1, 0], "error": self.error}))
        return out


class LiveSession(_Live):
    """Branch ``branch`` of a player's ``payload``, a recorded simulation, replayed up to
    frame ``index`` and then driven by :meth:`act`. The safety monitor watches the whole run,
    replay included."""

    kind = "cluster"

    def __init__(self, payload: Mapping[str, Any], branch: int, index: int,
                 replay: Replay) -> None:
        super().__init__(payload, branch, index)
        events = actions = 0
        for k in range(index + 1):
            events += self.live["at"][2 * k]
            actions += self.live["at"][2 * k + 1]
        self.monitor = SafetyMonitor(raise_on_violation=False)
        try:
            script = {**self.live["script"], "calls": unpack_calls(self.live["script"]["calls"])}
            self.sim = replay(script, (events, actions, self._t),
                              monitor=self.monitor)
        except LocalError as e:  # it left its script on the way
            self._differs(str(e))
            return
        self.recorder = Recorder(self.sim, max_frames=10**6)
        self._check(self.recorder.snap(f"you take control at t = {self._t} ms"))

    def act(self, action: str, *args: Any) -> dict[str, Any]:
        """Do ``action`` (a member action of ``_MEMBER_ACTIONS`` with the member id,
        ``partition`` with a list of groups, ``heal``, ``propose`` with a text, ``bugs``
        with failpoint names, ``advance`` with virtual ms) and return :meth:`delta`."""
        self._refuse()
        rec, sim = self.recorder, self.sim
        before = len(rec.frames)
        if action in _MEMBER_ACTIONS:
            getattr(sim, action)(int(args[0]))
            rec.snap(_MEMBER_ACTIONS[action].format(args[0]))
        elif action == "partition":
            groups = [[int(m) for m in g] for g in args[0]]
            sim.partition(groups)  # type: ignore[attr-defined]
            rec.snap("you partition " + " | ".join(",".join(map(str, g)) for g in groups))
        elif action == "heal":
            sim.heal()  # type: ignore[attr-defined]
            rec.snap("you heal the network")
        elif action == "propose":
            sim.propose(str(args[0]).encode())  # type: ignore[attr-defined]
            rec.snap(f"you propose {args[0]!r}")
        elif action == "bugs":
            sim.set_bugs(args[0])  # type: ignore[attr-defined]
            rec.snap("planted bugs: " + (", ".join(args[0]) or "none"))
        elif action == "advance":
            rec.run_for(int(args[0]))
        else:
            raise ValueError(f"unknown live action {action!r}")
        return self.delta(rec.frames[before:])

    def start(self) -> dict[str, Any]:
        """:meth:`_Live.start`, with the planted bugs a reader may switch on (those the
        safety monitor is for), those on now, and the members' ids."""
        out = super().start()
        if self.error is None:
            out.update(bugs=sorted(LOG_SAFETY_FAILPOINTS),
                       planted=sorted(getattr(self.sim, "bugs", ())),
                       ids=[str(m) for m in sorted(self.sim.members)])
        return out

    def delta(self, frames: list[Any]) -> dict[str, Any]:
        """:meth:`_Live.delta` and the safety monitor's verdict so far."""
        return {**super().delta(frames),
                "violations": [{"rule": v.rule, "t": v.t, "message": v.message}
                               for v in self.monitor.violations]}


class LiveStore(_Live):
    """Branch ``branch`` of a player's ``payload``, an MVCC store rebuilt from its script;
    :meth:`act` writes to it, compacts, defragments or shows a revision. Its frames show the
    keyspace at a revision, or (``view`` ``"sizes"``, the quota chapter's) the store's sizes
    and alarms, and then the reader can also disarm."""

    kind = "store"

    def __init__(self, payload: Mapping[str, Any], branch: int, index: int) -> None:
        super().__init__(payload, branch, index)
        self.store = MVCCStore.replay(self.live["script"], self.live["at"][index])
        self.view = str(self.live.get("view", "keyspace"))
        # A chapter may annotate its frames (a watcher's state, a step's error): what the
        # store shows must match, the annotations are the chapter's.
        shown = (_sizes_frame(self.store, self._t, "") if self.view == "sizes"
                 else _kv_frame(self.store, self._t))["kv"]
        kv_id = self.recorded[5]
        recorded = payload["kvs"][kv_id] if kv_id >= 0 else {}
        if json.loads(json.dumps(shown)) != {k: recorded.get(k) for k in shown}:
            self._differs()

    def start(self) -> dict[str, Any]:
        """:meth:`_Live.start` and the view, which decides the controls."""
        return {**super().start(), "view": self.view}

    def act(self, action: str, *args: Any) -> dict[str, Any]:
        """``put`` key value, ``delete`` key, ``compact`` revision, ``defrag``, or ``scrub``
        revision (keys are text); returns :meth:`delta` with one frame. In the sizes view:
        ``put`` key value times (the value repeated), ``delete`` key, ``compact`` (at a
        revision, default the current one), ``defrag`` and ``disarm``."""
        self._refuse()
        store = self.store
        if self.view == "sizes":
            if action in ("put", "delete"):
                value = [str(args[1]).encode() * int(args[2])] if action == "put" else []
                args = (str(args[0]).encode(), *value)
            elif action == "scrub":
                raise ValueError("the sizes view shows the store now, not a past revision")
            frame = sizes_step(store, self._t + 1, action, *args)
            return self.delta([{**frame, "event": "you: " + frame["event"]}])
        shown = store.revision
        try:
            if action == "put":
                store.put(str(args[0]).encode(), str(args[1]).encode())
                did, shown = f"you put {args[0]}={args[1]}", store.revision
            elif action == "delete":
                deleted = store.delete_range(str(args[0]).encode()).deleted
                did, shown = f"you delete {args[0]} ({deleted} deleted)", store.revision
            elif action == "compact":
                store.compact(int(args[0]))
                did = f"you compact at {int(args[0])}"
            elif action == "defrag":
                size = store.status().db_size
                store.defragment()
                did = f"you defragment: db_size {size} B -> {store.status().db_size} B"
            elif action == "scrub":
                did, shown = "you look back", int(args[0])
            else:
                raise ValueError(f"unknown live action {action!r}")
        except KVError as e:
            did = f"{action} refused: {e}"
        frame = _kv_frame(store, max(1, min(shown, store.revision)))
        return self.delta([{**frame, "event": f"{did}; {frame['event']}"}])


def take(payload: Mapping[str, Any], branch: int, index: int, replay: Replay) -> _Live:
    """The live session for ``payload``'s branch: a store's or a simulation's."""
    if unpack_live(payload["branches"][branch]["live"]).get("kind") == "store":
        return LiveStore(payload, branch, index)
    return LiveSession(payload, branch, index, replay)
