"""The simulator itself: determinism, trace, frames, faults and timing profiles."""

from __future__ import annotations

import json

import pytest

from raftlib.raft import ETCD, PAPER, LocalError, Role, Timing
from raftlib.sim import Nemesis, Simulation, message_counts


def _run(seed: int, trace: bool = True) -> Simulation:
    sim = Simulation(n=5, seed=seed, timing=PAPER, loss=0.05, dup=0.05, trace=trace)
    sim.workload(50, 1000)
    Nemesis(seed).run(sim, 1000)
    sim.run_for(1500)
    return sim


def test_same_seed_same_trace_byte_for_byte() -> None:
    a, b = _run(3), _run(3)
    assert a.trace and a.trace_json() == b.trace_json()
    assert a.frame() == b.frame()
    assert _run(4).trace_json() != a.trace_json()


def test_trace_off_changes_nothing_but_the_trace() -> None:
    on, off = _run(5), _run(5, trace=False)
    assert off.trace == [] and on.status() == off.status() and on.events == off.events


def test_every_record_has_time_and_kind_and_is_json() -> None:
    sim = _run(6)
    kinds = {r["ev"] for r in sim.trace}
    assert {"send", "deliver", "tick", "state", "persist", "apply"} <= kinds
    assert all(isinstance(r["t"], int) for r in sim.trace)
    ts = [r["t"] for r in sim.trace]
    assert ts == sorted(ts)
    json.loads(sim.trace_json())


def test_frame_shape() -> None:
    sim = Simulation(n=3, seed=1, timing=PAPER)
    sim.run_until(lambda: sim.leader() is not None, 2000)
    sim.propose(b"hello")
    sim.run_for(3)
    sim.crash(3)
    sim.partition([[1], [2, 3]])
    f = json.loads(json.dumps(sim.frame()))
    assert set(f) == {"t", "members", "in_flight", "partition"}
    assert f["partition"] == [[1], [2, 3]]
    m = f["members"][str(sim.leader())]
    assert set(m) == {"role", "term", "vote", "commit", "applied", "log", "first", "up",
                      "paused", "timer", "votes", "progress"}
    assert m["role"] == "leader" and m["log"][-1][2] == "hello"
    assert f["members"]["3"]["up"] is False and f["members"]["3"]["role"] == "down"


def test_observe_sees_each_record_as_it_happens() -> None:
    sim = Simulation(n=3, seed=2, timing=PAPER, trace=False)
    seen: list[dict[str, object]] = []
    sim.observe(seen.append)
    assert sim.run_until(lambda: sim.leader() is not None, 2000)
    assert any(r["ev"] == "state" and r["role"] == "leader" for r in seen)
    assert sim.trace == []


def test_step_processes_one_event_at_a_time() -> None:
    sim = Simulation(n=3, seed=2, timing=PAPER)
    before = sim.events
    assert sim.step() and sim.events == before + 1


def test_pause_and_resume_a_stale_leader() -> None:
    sim = Simulation(n=3, seed=9, timing=PAPER)
    assert sim.run_until(lambda: sim.leader() is not None, 2000)
    old = sim.leader()
    assert old is not None
    sim.pause(old)
    assert sim.run_until(lambda: sim.leader() not in (None, old), 2000)
    sim.resume(old)
    sim.run_for(100)
    assert sim.status()[old].role is Role.FOLLOWER
    assert sim.status()[old].term == sim.status()[sim.leader() or 0].term


def test_one_way_cut_and_link_settings() -> None:
    sim = Simulation(n=3, seed=3, timing=PAPER)
    sim.cut(1, 2)
    sim.set_link(1, 3, loss=1.0)
    sim.run_for(1000)
    sent = [r for r in sim.trace if r["ev"] == "drop" and r["from"] == 1]
    assert {r["why"] for r in sent} == {"partition", "loss"}
    assert not any(r["ev"] == "deliver" and r["from"] == 1 for r in sim.trace)


def test_crash_loses_volatile_state_and_keeps_storage() -> None:
    sim = Simulation(n=3, seed=4, timing=PAPER)
    assert sim.run_until(lambda: sim.leader() is not None, 2000)
    hs = [sim.propose() for _ in range(5)]
    sim.run_for(200)
    before = sim.status()
    for i in (1, 2, 3):
        sim.crash(i)
    assert all(not s.up for s in sim.status().values())
    for i in (1, 2, 3):
        sim.restart(i)
    after = sim.status()
    assert all(after[i].term == before[i].term for i in (1, 2, 3))
    assert all(after[i].last_index == before[i].last_index for i in (1, 2, 3))
    assert all(after[i].role is Role.FOLLOWER and after[i].leader == 0 for i in (1, 2, 3))
    assert all(sim.committed(h) for h in hs)


def test_timing_profiles() -> None:
    p, e = PAPER, ETCD
    assert (p.heartbeat_ms, p.election_timeout_ms, p.election_jitter_ms) == (50, 150, 150)
    assert (e.heartbeat_ms, e.election_timeout_ms, e.election_jitter_ms) == (100, 1000, 1000)
    assert (ETCD.heartbeat_ticks, ETCD.election_ticks, ETCD.election_jitter_ticks) == (1, 10, 10)
    with pytest.raises(LocalError):
        Timing(heartbeat_ms=55, election_timeout_ms=150, election_jitter_ms=150, tick_ms=10)
    with pytest.raises(LocalError):
        Timing(heartbeat_ms=200, election_timeout_ms=150, election_jitter_ms=0, tick_ms=10)


def test_message_counts_counts_sends_by_type() -> None:
    trace = [{"t": 0, "ev": "send", "type": "MsgApp"}, {"t": 1, "ev": "send", "type": "MsgApp"},
             {"t": 1, "ev": "drop"}]
    assert message_counts(trace) == {"MsgApp": 2}
