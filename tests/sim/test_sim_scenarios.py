"""Cluster scenarios in the style of MIT 6.824's Raft lab, with the safety monitor on."""

from __future__ import annotations

import pytest

from raftlib.check import SafetyMonitor, check_liveness
from raftlib.raft import ETCD, PAPER, Role, Timing
from raftlib.sim import Simulation, message_counts

ELECTION_MS = PAPER.election_timeout_ms + PAPER.election_jitter_ms


def cluster(n: int = 5, seed: int = 1, timing: Timing = PAPER, **kw: object) -> Simulation:
    sim = Simulation(n=n, seed=seed, timing=timing, **kw)  # type: ignore[arg-type]
    SafetyMonitor().attach(sim)
    return sim


def wait_leader(sim: Simulation, within_ms: int = 5 * ELECTION_MS) -> int:
    assert sim.run_until(lambda: sim.leader() is not None, within_ms), "no leader elected"
    lead = sim.leader()
    assert lead is not None
    return lead


def one_leader_per_term(sim: Simulation) -> None:
    up = [s for s in sim.status().values() if s.up and s.role is Role.LEADER]
    assert len({s.term for s in up}) == len(up)


def commit(sim: Simulation, within_ms: int = 3000) -> int:
    h = sim.propose()
    assert sim.run_until(lambda: sim.committed(h), within_ms), "proposal not committed"
    return h


@pytest.mark.parametrize("timing", [PAPER, ETCD], ids=["paper", "etcd"])
def test_initial_election(timing: Timing) -> None:
    sim = cluster(timing=timing)
    lead = wait_leader(sim, 5 * (timing.election_timeout_ms + timing.election_jitter_ms))
    term = sim.status()[lead].term
    sim.run_for(10 * timing.election_timeout_ms)  # no failure, no new election
    assert sim.leader() == lead and sim.status()[lead].term == term
    assert all(s.term == term and s.leader == lead for s in sim.status().values())


def test_reelection_after_leader_crash_and_isolation() -> None:
    sim = cluster(n=3)
    old = wait_leader(sim)
    sim.crash(old)
    new = wait_leader(sim)
    assert new != old
    sim.restart(old)
    sim.run_for(ELECTION_MS)
    assert sim.leader() == new and sim.status()[old].role is Role.FOLLOWER
    sim.isolate(new)
    assert sim.run_until(lambda: sim.leader() not in (None, new), 5 * ELECTION_MS)
    sim.heal()
    sim.run_for(ELECTION_MS)
    one_leader_per_term(sim)
    assert sim.status()[new].role is Role.FOLLOWER


def test_many_elections_under_random_crashes() -> None:
    sim = cluster(n=7, seed=11)
    wait_leader(sim)
    for _ in range(10):
        down = sim.rng.sample(range(1, 8), 3)
        for i in down:
            sim.crash(i)
        wait_leader(sim, 10 * ELECTION_MS)
        one_leader_per_term(sim)
        for i in down:
            sim.restart(i)
    commit(sim)


def test_basic_agreement() -> None:
    sim = cluster()
    wait_leader(sim)
    hs = [commit(sim) for _ in range(10)]
    indexes = [sim.proposals[h].index for h in hs]
    assert indexes == sorted(indexes) and len(set(indexes)) == 10
    sim.run_for(2 * PAPER.heartbeat_ms)
    assert len({sim.members[i].digest for i in sim.members}) == 1


def test_follower_failures_and_no_commit_without_majority() -> None:
    sim = cluster()
    lead = wait_leader(sim)
    followers = [i for i in range(1, 6) if i != lead]
    sim.crash(followers[0])
    commit(sim)
    sim.crash(followers[1])
    commit(sim)  # 3 of 5 still a majority
    sim.crash(followers[2])
    h = sim.propose()
    sim.run_for(5 * ELECTION_MS)
    assert not sim.committed(h)
    for f in followers[:3]:
        sim.restart(f)
    assert check_liveness(sim, 10 * ELECTION_MS) is None


def test_leader_failure_then_agreement() -> None:
    sim = cluster()
    lead = wait_leader(sim)
    commit(sim)
    sim.crash(lead)
    assert wait_leader(sim) != lead
    commit(sim)
    sim.restart(lead)
    h = commit(sim)
    sim.run_for(2 * PAPER.heartbeat_ms)
    assert sim.members[lead].applied >= (sim.proposals[h].index or 0)


def test_agreement_with_a_minority_partitioned() -> None:
    sim = cluster()
    lead = wait_leader(sim)
    others = [i for i in range(1, 6) if i != lead]
    sim.partition([[lead, *others[:2]], others[2:]])
    hs = [commit(sim) for _ in range(5)]
    assert sim.leader() == lead
    sim.heal()
    sim.run_for(ELECTION_MS)
    idx = max(sim.proposals[h].index or 0 for h in hs)
    assert all(sim.members[i].applied >= idx for i in others[2:])


def test_concurrent_proposals_all_commit_in_one_order() -> None:
    sim = cluster()
    wait_leader(sim)
    hs = [sim.propose() for _ in range(50)]
    assert sim.run_until(lambda: all(sim.committed(h) for h in hs), 2000)
    assert sorted(sim.proposals[h].index or 0 for h in hs) == [
        sim.proposals[h].index for h in hs
    ]
    sim.run_for(2 * PAPER.heartbeat_ms)
    assert len({sim.members[i].digest for i in sim.members}) == 1


def test_partitioned_old_leader_rejoins_and_its_entries_are_discarded() -> None:
    sim = cluster(prevote=False, check_quorum=False)
    old = wait_leader(sim)
    commit(sim)
    sim.isolate(old)
    lost = [sim.propose() for _ in range(5)]  # accepted by the old leader only
    assert all(sim.proposals[h].leader == old for h in lost)
    new = wait_leader(sim)
    while new == old:
        sim.run_for(ELECTION_MS)
        new = wait_leader(sim)
    kept = [commit(sim) for _ in range(5)]
    sim.heal()
    sim.run_for(2 * ELECTION_MS)
    assert sim.status()[old].role is Role.FOLLOWER
    assert not any(sim.committed(h) for h in lost) and all(sim.committed(h) for h in kept)
    assert len({sim.members[i].digest for i in sim.members}) == 1


def test_fast_repair_of_long_divergent_logs() -> None:
    # A fixed delay keeps pipelined appends in order, so every rejection is a real conflict.
    sim = cluster(prevote=False, check_quorum=False, max_msg_entries=64, delay_ms=(2, 2))
    old = wait_leader(sim)
    sim.isolate(old)
    for _ in range(300):
        sim.propose()  # uncommitted entries on the isolated leader
    lead = wait_leader(sim)
    while lead == old:
        sim.run_for(ELECTION_MS)
        lead = wait_leader(sim)
    for _ in range(300):
        sim.propose()
    sim.run_for(2000)
    start = len(sim.trace)
    sim.heal()
    assert sim.run_until(lambda: sim.members[old].applied >= sim.members[lead].applied, 2000)
    rejects = [r for r in sim.trace[start:] if r["ev"] == "send" and r["from"] == old
               and r["type"] == "MsgAppResp" and r["reject"]]
    assert len(rejects) <= 2  # the conflict hint skips a whole term per round trip
    node = sim.members[old].node
    assert node is not None and node.log.term(2) == sim.status()[lead].term


def test_message_budget_for_an_election_and_idle_heartbeats() -> None:
    sim = cluster(timing=ETCD)
    lead = wait_leader(sim, 10_000)
    counts = message_counts(sim.trace)
    votes = sum(counts.get(k, 0) for k in ("MsgPreVote", "MsgPreVoteResp", "MsgVote",
                                           "MsgVoteResp"))
    assert votes <= 2 * 4 * 4  # at most two rounds of PreVote + Vote to 4 peers
    sim.run_for(1000)
    start = len(sim.trace)
    sim.run_for(10_000)
    counts = message_counts(sim.trace[start:])
    per_s = counts.get("MsgHeartbeat", 0) / 10
    assert 4 * 9 <= per_s <= 4 * 11  # one heartbeat per follower per 100 ms
    assert set(counts) == {"MsgHeartbeat", "MsgHeartbeatResp"}
    assert sim.leader() == lead


def test_full_cluster_restart_from_persisted_state() -> None:
    sim = cluster()
    wait_leader(sim)
    hs = [commit(sim) for _ in range(20)]
    digest = sim.members[1].digest
    for i in range(1, 6):
        sim.crash(i, lose_unsynced=True)
    for i in range(1, 6):
        sim.restart(i)
    wait_leader(sim)
    commit(sim)
    assert all(sim.committed(h) for h in hs)
    node = sim.members[1].node
    assert node is not None and node.log.last_index() >= 22
    assert digest  # the state machine was rebuilt from the log
    sim.run_for(2 * PAPER.heartbeat_ms)
    assert len({sim.members[i].digest for i in sim.members}) == 1


def test_churn_on_an_unreliable_network() -> None:
    sim = cluster(seed=21, loss=0.1, dup=0.1, delay_ms=(1, 30))
    hs = []
    for _ in range(20):
        victim = sim.rng.randint(1, 5)
        sim.crash(victim, lose_unsynced=sim.rng.random() < 0.5)
        for _ in range(5):
            hs.append(sim.propose())
            sim.run_for(40)
        sim.restart(victim)
        sim.run_for(100)
    sim.loss = sim.dup = 0.0
    assert check_liveness(sim, 20 * ELECTION_MS) is None
    assert sum(sim.committed(h) for h in hs) > len(hs) // 2


@pytest.mark.parametrize("guards", [True, False], ids=["prevote+checkquorum", "plain"])
def test_partial_partition_and_leader_stability(guards: bool) -> None:
    sim = cluster(prevote=guards, check_quorum=guards, seed=5)
    lead = wait_leader(sim)
    term = sim.status()[lead].term
    victim = next(i for i in range(1, 6) if i != lead)
    sim.cut(lead, victim)
    sim.cut(victim, lead)
    sim.run_for(40 * ELECTION_MS)
    changes = sim.status()[sim.leader() or lead].term - term
    if guards:
        assert changes == 0 and sim.leader() == lead  # the cut follower cannot disrupt
    else:
        assert changes >= 1 and sim.leader() != lead  # without them it deposes the leader
    commit(sim)


def test_leadership_transfer_in_the_cluster() -> None:
    sim = cluster(timing=ETCD)
    lead = wait_leader(sim, 10_000)
    target = next(i for i in range(1, 6) if i != lead)
    commit(sim)
    assert sim.transfer_leader(target)
    assert sim.run_until(lambda: sim.leader() == target, 500)  # well under a timeout
    commit(sim)


def test_a_power_loss_loses_exactly_what_was_not_fsynced() -> None:
    """The core skips the fsync only where etcd's MustSync allows it (a new commit index
    alone). A crash that loses unsynced writes takes such a write back, and keeps whatever an
    fsync covered; a process crash keeps both (the operating system writes them out)."""
    sim = cluster()
    lead = wait_leader(sim)
    commit(sim)
    f = next(i for i in sim.members if i != lead)
    m = sim.members[f]
    synced = m.durable_hard_state
    commit(sim)  # the follower learns the new commit index: written, not fsynced
    sim.run_for(2 * PAPER.heartbeat_ms)
    written = m.storage.hard_state
    assert written.commit > synced.commit and m.durable_hard_state.commit < written.commit
    assert (written.term, written.vote) == (m.durable_hard_state.term,
                                           m.durable_hard_state.vote)
    last = m.storage.last_index()
    sim.crash(f, lose_unsynced=True)
    assert m.storage.hard_state == m.durable_hard_state
    assert m.storage.hard_state.commit < written.commit and m.storage.last_index() == last
    sim.restart(f)
    sim.run_for(2 * PAPER.heartbeat_ms)
    assert m.storage.hard_state.commit >= written.commit  # learned again from the leader
