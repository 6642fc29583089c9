"""Random fault schedules."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..raft import ConfChange, ConfChangeType
from ._sim import Simulation


@dataclass(frozen=True, slots=True)
class Faults:
    """Relative weights of the fault kinds a :class:`Nemesis` draws, and their parameters.

    ``transfer`` asks the leader to hand over to a random voter; ``membership`` adds a fresh
    member as a learner, promotes a learner, or removes a voter (keeping at least three).
    ``gap_ms`` bounds the time between two faults. ``lose_unsynced`` is the chance that a
    crash also loses writes not yet fsynced; ``burst_loss``/``burst_dup`` bound the loss and
    duplication probabilities of a network burst.
    """

    crash: int = 3
    restart: int = 3
    partition: int = 2
    isolate_leader: int = 2
    heal: int = 2
    cut: int = 1
    pause: int = 1
    loss_burst: int = 1
    dup_burst: int = 1
    transfer: int = 0
    membership: int = 0
    gap_ms: tuple[int, int] = (20, 400)
    lose_unsynced: float = 0.5
    burst_loss: float = 0.3
    burst_dup: float = 0.5


class Nemesis:
    """Draws a random fault schedule from its own seeded generator and plays it on a simulation.

    Faults are chosen when they fire (so "isolate the leader" hits the actual leader).
    At ``end_ms`` everything is repaired: network healed, members restarted and resumed.
    """

    def __init__(self, seed: int, faults: Faults | None = None) -> None:
        self.rng = random.Random(seed)
        self.faults = faults or Faults()
        self.log: list[str] = []

    def run(self, sim: Simulation, duration_ms: int) -> None:
        """Schedule faults over the next ``duration_ms`` and a full repair at its end."""
        end = sim.now + duration_ms
        self._next(sim, end)
        sim.at(end, lambda: self._repair(sim))

    def _next(self, sim: Simulation, end: int) -> None:
        lo, hi = self.faults.gap_ms
        t = sim.now + self.rng.randint(lo, hi)
        if t < end:
            sim.at(t, lambda: self._fire(sim, end))

    def _fire(self, sim: Simulation, end: int) -> None:
        f = self.faults
        kinds = [
            ("crash", f.crash), ("restart", f.restart), ("partition", f.partition),
            ("isolate_leader", f.isolate_leader), ("heal", f.heal), ("cut", f.cut),
            ("pause", f.pause), ("loss_burst", f.loss_burst), ("dup_burst", f.dup_burst),
            ("transfer", f.transfer), ("membership", f.membership),
        ]
        names = [k for k, w in kinds if w > 0]
        kind = self.rng.choices(names, weights=[w for _, w in kinds if w > 0])[0]
        getattr(self, "_" + kind)(sim)
        self._next(sim, end)

    def _pick(self, ids: list[int]) -> int | None:
        return self.rng.choice(ids) if ids else None

    def _crash(self, sim: Simulation) -> None:
        up = [i for i in sorted(sim.members) if sim.members[i].up]
        mid = self._pick(up)
        if mid is not None:
            lose = self.rng.random() < self.faults.lose_unsynced
            self.log.append(f"{sim.now} crash {mid} lose_unsynced={lose}")
            sim.crash(mid, lose_unsynced=lose)

    def _restart(self, sim: Simulation) -> None:
        mid = self._pick([i for i in sorted(sim.members) if not sim.members[i].up])
        if mid is not None:
            self.log.append(f"{sim.now} restart {mid}")
            sim.restart(mid)

    def _partition(self, sim: Simulation) -> None:
        ids = sorted(sim.members)
        self.rng.shuffle(ids)
        k = self.rng.randint(1, len(ids) // 2)
        groups = [sorted(ids[:k]), sorted(ids[k:])]
        self.log.append(f"{sim.now} partition {groups}")
        sim.partition(groups)

    def _isolate_leader(self, sim: Simulation) -> None:
        lead = sim.leader()
        if lead is not None:
            self.log.append(f"{sim.now} isolate {lead}")
            sim.isolate(lead)

    def _heal(self, sim: Simulation) -> None:
        self.log.append(f"{sim.now} heal")
        sim.heal()
        sim.loss = 0.0
        sim.dup = 0.0

    def _cut(self, sim: Simulation) -> None:
        a, b = self.rng.sample(sorted(sim.members), 2)
        self.log.append(f"{sim.now} cut {a}->{b}")
        sim.cut(a, b)

    def _pause(self, sim: Simulation) -> None:
        mid = self._pick([i for i in sorted(sim.members) if sim.members[i].up])
        if mid is not None:
            hold = self.rng.randint(*self.faults.gap_ms)
            self.log.append(f"{sim.now} pause {mid} for {hold}")
            sim.pause(mid)
            sim.at(sim.now + hold, lambda: sim.resume(mid))

    def _loss_burst(self, sim: Simulation) -> None:
        sim.loss = self.rng.uniform(0.0, self.faults.burst_loss)
        self.log.append(f"{sim.now} loss {sim.loss:.2f}")

    def _dup_burst(self, sim: Simulation) -> None:
        sim.dup = self.rng.uniform(0.0, self.faults.burst_dup)
        self.log.append(f"{sim.now} dup {sim.dup:.2f}")

    def _transfer(self, sim: Simulation) -> None:
        lead = sim.leader()
        node = sim.members[lead].node if lead is not None else None
        if node is not None:
            to = self.rng.choice(node.voters)
            self.log.append(f"{sim.now} transfer {lead}->{to}")
            sim.transfer_leader(to)

    def _membership(self, sim: Simulation) -> None:
        lead = sim.leader()
        node = sim.members[lead].node if lead is not None else None
        if node is None:
            return
        choice = self.rng.random()
        if node.learners and choice < 0.4:
            change = ConfChange(ConfChangeType.ADD_VOTER, self.rng.choice(node.learners))
        elif len(node.voters) > 3 and choice < 0.7:
            change = ConfChange(ConfChangeType.REMOVE, self.rng.choice(node.voters))
        else:
            change = ConfChange(ConfChangeType.ADD_LEARNER, max(sim.members) + 1)
        index = sim.change_conf(change)
        self.log.append(f"{sim.now} {change.type.value} {change.node} -> {index}")

    def _repair(self, sim: Simulation) -> None:
        self.log.append(f"{sim.now} repair")
        sim.heal()
        sim.loss = 0.0
        sim.dup = 0.0
        for mid in sorted(sim.members):
            if not sim.members[mid].up:
                sim.restart(mid)
            sim.resume(mid)
