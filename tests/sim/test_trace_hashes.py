"""Traces stay byte-identical: hashes of ``trace_json()`` for seeded scenarios.

The hashes were recorded from the simulator before the speed work of issue 17; any change to
the simulator or the core that alters a trace (order of events, random draws, record fields)
fails here. A deliberate change of trace format must update them (and the stored notebooks).
Run ``python -m tests.sim.test_trace_hashes`` to print the current hashes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import pytest

from raftlib.raft import ETCD, PAPER, ConfChange, ConfChangeType
from raftlib.sim import Faults, Nemesis, Record, SimCluster, Simulation


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _bench(timing: str) -> str:
    sim = Simulation(n=5, seed=3, timing=ETCD if timing == "etcd" else PAPER)
    sim.run_until(lambda: sim.leader() is not None, 10_000)
    sim.workload(100, 3000)
    sim.run_for(3000)
    return sim.trace_json()


def _faults(prevote: bool, seed: int) -> str:
    sim = Simulation(n=5, seed=seed, timing=PAPER, prevote=prevote, delay_ms=(1, 12),
                     disk_ms=(1, 4), max_msg_entries=4)
    sim.workload(60, 3000)
    Nemesis(seed).run(sim, 3000)
    sim.run_for(4000)
    return sim.trace_json()


def _etcd_faults() -> str:
    sim = Simulation(n=5, seed=11, timing=ETCD, loss=0.02, dup=0.05)
    sim.workload(50, 8000)
    Nemesis(11, Faults(gap_ms=(200, 1500))).run(sim, 8000)
    sim.run_for(10_000)
    return sim.trace_json()


def _membership(prevote: bool, seed: int) -> str:
    sim = Simulation(n=5, seed=seed, timing=PAPER, prevote=prevote, compact_every=20,
                     max_msg_entries=4)
    sim.workload(80, 4000)
    Nemesis(seed, Faults(transfer=1, membership=1)).run(sim, 4000)
    sim.run_for(5000)
    return sim.trace_json()


def _manual() -> str:
    sim = Simulation(n=3, seed=5, timing=PAPER, learners=1, compact_every=10)
    sim.run_until(lambda: sim.leader() is not None, 5000)
    lead = sim.leader()
    assert lead is not None
    for _ in range(30):
        sim.propose()
        sim.run_for(7)
    other = next(i for i in sorted(sim.members) if i != lead)
    sim.crash(other, lose_unsynced=True)
    sim.run_for(300)
    sim.restart(other)
    sim.pause(lead)
    sim.run_for(400)
    sim.resume(lead)
    sim.cut(lead, other)
    sim.run_for(300)
    sim.heal()
    sim.transfer_leader(other)
    sim.run_for(300)
    sim.change_conf(ConfChange(ConfChangeType.ADD_VOTER, 4))
    sim.change_conf(ConfChange(ConfChangeType.ADD_LEARNER, 5))
    sim.run_for(500)
    sim.campaign(1)
    sim.run_for(1000)
    for _ in range(20):
        sim.propose()
        sim.run_for(13)
    sim.run_for(500)
    return sim.trace_json() + json.dumps(sim.frame(), sort_keys=True)


def _observed() -> str:
    """trace=False with an observer: the observer sees every record."""
    seen: list[Record] = []
    sim = Simulation(n=5, seed=9, timing=PAPER, trace=False, loss=0.05)
    sim.observe(seen.append)
    sim.workload(40, 2000)
    Nemesis(9).run(sim, 2000)
    sim.run_for(2500)
    assert sim.trace == []
    return json.dumps(seen, sort_keys=True, separators=(",", ":"))


def _kv_cluster() -> str:
    c = SimCluster(n=3, seed=4)
    cl = c.client()
    for i in range(20):
        cl.put_async(b"k%d" % (i % 5), b"v%d" % i)
        c.wait(37)
    c.crash(1)
    c.wait(2500)
    c.restart(1)
    for i in range(10):
        cl.get_async(b"k%d" % i)
        c.wait(23)
    c.wait(3000)
    return c.sim.trace_json()


SCENARIOS: dict[str, Callable[[], str]] = {
    "bench-etcd": lambda: _bench("etcd"),
    "bench-paper": lambda: _bench("paper"),
    "faults-prevote-off": lambda: _faults(False, 1),
    "faults-prevote-on": lambda: _faults(True, 2),
    "etcd-faults-loss-dup": _etcd_faults,
    "membership-compaction": lambda: _membership(False, 3),
    "membership-compaction-prevote": lambda: _membership(True, 4),
    "manual": _manual,
    "observed-untraced": _observed,
    "kv-cluster": _kv_cluster,
}

EXPECTED: dict[str, str] = {
    'bench-etcd': 'd5c50e65c14f9af1213c0d39abe6724b',  # 768478 chars
    'bench-paper': '7260380dd3f3584beeb68c8de939aff1',  # 893343 chars
    'etcd-faults-loss-dup': 'b9e5712c07cafe8f1253370baddbdb32',  # 369125 chars
    'faults-prevote-off': 'c2750b5f157e4787aeadebe14ad0f096',  # 592378 chars
    'faults-prevote-on': '182076253017e12cb0b1e1fd53307a52',  # 615912 chars
    'kv-cluster': 'a2e1472a07d2dbfaf4eb107f8bc2312e',  # 71862 chars
    'manual': '65e37faf1a51f4ae02f05dd547ef4656',  # 231636 chars (with the frame)
    'membership-compaction': '5da5614447161980e5da3146108a445f',  # 463818 chars
    'membership-compaction-prevote': '44568a3394cfc09907c96d05cb6178e9',  # 680504 chars
    'observed-untraced': 'a2e6bc8414389e9384b7f0b4c5ddc9f4',  # 141611 chars
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_trace_hash(name: str) -> None:
    assert _h(SCENARIOS[name]()) == EXPECTED[name]


if __name__ == "__main__":
    for name in sorted(SCENARIOS):
        text = SCENARIOS[name]()
        print(f"    {name!r}: {_h(text)!r},  # {len(text)} chars")
