"""Scripted scenarios from the Raft paper, played on the simulator."""

from __future__ import annotations

from collections.abc import Iterable

from ..raft import Timing
from ._sim import Monitor, Simulation

SLOW = Timing(heartbeat_ms=50, election_timeout_ms=100_000, election_jitter_ms=0, tick_ms=10)
"""Timing whose election timeout never fires in a short script: elections are forced."""


def _log_len(sim: Simulation, mid: int) -> int:
    node = sim.members[mid].node
    return node.log.last_index() if node is not None else 0


def _win(sim: Simulation, mid: int) -> None:
    for _ in range(5):
        sim.campaign(mid)
        if sim.run_until(lambda: sim.leader() == mid, 50):
            return
    raise RuntimeError(f"member {mid} could not win an election")


def figure8(
    bugs: Iterable[str] = (), replicate_own_term: bool = False, monitor: Monitor | None = None
) -> Simulation:
    """Play Figure 8 of the Raft paper (5 members) up to step (c), or (e).

    Terms are one lower than in the figure, as the simulation starts at term 0 (S1 leads
    term 1 in (a)). (a) S1 leads and replicates index 2 to S2 only.
    (b) S1 crashes; S5 wins with S3 and S4 and appends index 2 locally. S5 crashes.
    (c) S1 restarts, wins without S4, and gets its index 2 onto S3: a majority stores it.
    With ``replicate_own_term`` S3 also gets S1's own-term entry at index 3, as in (e).
    Play (d) next by crashing S1, restarting S5 and calling ``campaign(5)``.
    """
    sim = Simulation(n=5, seed=8, timing=SLOW, prevote=False, check_quorum=False,
                     delay_ms=(1, 1), disk_ms=(1, 1), max_msg_entries=1, bugs=bugs)
    if monitor is not None:
        sim.attach(monitor)
    _win(sim, 1)  # (a)
    sim.run_for(50)
    for peer in (3, 4, 5):
        sim.cut(1, peer)
    sim.propose(b"a")
    sim.run_for(20)
    sim.crash(1)  # (b)
    sim.heal()
    sim.campaign(5)
    sim.run_until(lambda: sim.leader() == 5, 50)
    for peer in (1, 2, 3, 4):
        sim.cut(5, peer)
    sim.run_for(20)
    sim.crash(5)
    sim.heal()  # (c)
    sim.restart(1)
    sim.cut(1, 4)
    _win(sim, 1)
    sim.run_until(lambda: _log_len(sim, 3) >= 2, 100)
    if not replicate_own_term:
        sim.cut(1, 3)
    sim.run_for(30)
    return sim
