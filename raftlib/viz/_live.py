"""Live mode's Python side: a player's recorded run replayed up to a frame, then driven by the
reader, its new frames encoded as additions to the player's own data.

The browser runs this in Pyodide (``live-control.js`` calls it through the worker); tests run
it in CPython and compare. viz does not import the simulator: the caller passes
``Simulation.replay`` as ``replay``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from raftlib.check import SafetyMonitor
from raftlib.raft import LOG_SAFETY_FAILPOINTS, LocalError
from raftlib.viz._player import _Encoder
from raftlib.viz._recorder import Recorder, Simulated

__all__ = ["LiveSession", "Replay"]

Replay = Callable[..., Simulated]
"""``Simulation.replay``: ``(script, (events, actions, t), monitor=...)`` -> a simulation."""

# What a reader can do, as the simulation's method and the label of the frame it adds.
_MEMBER_ACTIONS = {
    "crash": "you crash {}", "restart": "you restart {}", "pause": "you pause {}",
    "resume": "you resume {}", "isolate": "you isolate {}", "campaign": "{} times out",
}


class LiveSession:
    """Branch ``branch`` of a player's ``payload``, replayed up to frame ``index`` and then
    driven by :meth:`act`. The safety monitor watches the whole run, replay included.

    ``error`` is set (and the session refuses actions) when the replayed frame differs from
    the recorded one: then the run was not what its script says.
    """

    def __init__(self, payload: Mapping[str, Any], branch: int, index: int,
                 replay: Replay) -> None:
        data = payload["branches"][branch]
        live = data["live"]
        events = actions = 0
        for k in range(index + 1):
            events += live["at"][2 * k]
            actions += live["at"][2 * k + 1]
        recorded = data["frames"][index]
        self.monitor = SafetyMonitor(raise_on_violation=False)
        self.encoder = _Encoder.resume(payload)
        self._sent = {name: len(table) for name, table in self.encoder.tables.items()}
        self._members = len(self.encoder.members)
        self._t = int(recorded[0])
        self.error: str | None = None
        differs = (f"the replay of frame {index + 1} differs from the recorded frame: the live "
                   "run would not be the chapter's")
        try:
            self.sim = replay(live["script"], (events, actions, recorded[0]),
                              monitor=self.monitor)
        except LocalError as e:  # it left its script on the way
            self.error = f"{differs} ({e})"
            return
        self.recorder = Recorder(self.sim, max_frames=10**6)
        row = self._encode(self.recorder.snap(f"you take control at t = {self._t} ms"))
        if [row[0], *row[2:]] != [recorded[0], *recorded[2:]]:
            self.error = differs

    def _encode(self, frame: Mapping[str, Any]) -> list[Any]:
        row = self.encoder.frame(frame, self._t)
        self._t = row[0]
        return list(json.loads(json.dumps(row)))

    def act(self, action: str, *args: Any) -> dict[str, Any]:
        """Do ``action`` (a member action of ``_MEMBER_ACTIONS`` with the member id,
        ``partition`` with a list of groups, ``heal``, ``propose`` with a text, ``bugs``
        with failpoint names, ``advance`` with virtual ms) and return :meth:`delta`."""
        if self.error is not None:
            raise RuntimeError(self.error)
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
        """The delta of the take-over itself (no frames: the recorded frame stands), with the
        planted bugs a reader may switch on (those the safety monitor is for) and the
        members' ids."""
        if self.error is not None:
            return {"error": self.error}
        return {**self.delta([]), "bugs": sorted(LOG_SAFETY_FAILPOINTS),
                "planted": sorted(getattr(self.sim, "bugs", ())),
                "ids": [str(m) for m in sorted(self.sim.members)]}

    def delta(self, frames: list[Any]) -> dict[str, Any]:
        """What the player must add: new table rows and members, the new frames' rows, their
        index span, and the safety monitor's verdict so far."""
        rows = [self._encode(f) for f in frames]
        tables = {name: table[self._sent[name]:] for name, table in self.encoder.tables.items()}
        self._sent = {name: len(table) for name, table in self.encoder.tables.items()}
        members = self.encoder.members[self._members:]
        self._members = len(self.encoder.members)
        out: dict[str, Any] = json.loads(json.dumps({
            "tables": tables, "members": members, "frames": rows,
            "span": self.encoder.span or [1, 0], "error": self.error,
            "violations": [{"rule": v.rule, "t": v.t, "message": v.message}
                           for v in self.monitor.violations],
        }))
        return out
