"""Conformance with the Raft paper, section by section, on single nodes and hand-built messages.

Modelled on etcd-io/raft's raft_paper_test.go. Node ids 1..3 unless stated.
"""

from __future__ import annotations

import pytest
from raft_helpers import MT, Net, drain, elect, make, msg, persist, storage_with

from raftlib.raft import Entry, MessageType, Node, NotLeader, ProposalDropped, Ready, Role

# ---------------------------------------------------------------- 5.1 basics


def test_5_1_starts_as_follower() -> None:
    n = make()
    assert (n.role, n.term, n.vote, n.lead) == (Role.FOLLOWER, 0, 0, 0)


@pytest.mark.parametrize("role", ["follower", "candidate", "leader"])
def test_5_1_higher_term_makes_anyone_a_follower(role: str) -> None:
    n = make()
    if role == "candidate":
        n.campaign()
    elif role == "leader":
        elect(n)
    assert n.role.value == role
    n.step(msg(MT.APP, 2, 1, term=5))
    assert (n.role, n.term, n.lead) == (Role.FOLLOWER, 5, 2)


RESPONSES = [t for t in MT if t.value.endswith("Resp")]


@pytest.mark.parametrize("kind", RESPONSES, ids=lambda t: t.value)
def test_5_1_a_leader_steps_down_on_any_response_of_a_higher_term(kind: MessageType) -> None:
    """Whatever answer carries the higher term (a refused vote or PreVote among them), the
    leader learns it is stale and becomes a follower of that term at once."""
    n = make()
    elect(n)
    n.step(msg(kind, 2, 1, term=n.term + 3, reject=True))
    assert (n.role, n.term) == (Role.FOLLOWER, 4)
    with pytest.raises(NotLeader):
        n.propose(b"x")


def test_5_1_stale_term_message_is_ignored() -> None:
    n = make(storage=storage_with(term=3))
    n.step(msg(MT.APP, 2, 1, term=2, entries=(Entry(1, 2, b"x"),)))
    assert n.term == 3 and n.log.last_index() == 0 and drain(n) == []


def test_5_1_stale_leader_is_told_the_new_term_with_check_quorum() -> None:
    n = make(storage=storage_with(term=3), check_quorum=True)
    n.step(msg(MT.HEARTBEAT, 2, 1, term=2))
    out = drain(n)
    assert [(m.type, m.to, m.term) for m in out] == [(MT.APP_RESP, 2, 3)]


def test_5_1_propose_on_follower_raises_not_leader_with_hint() -> None:
    n = make()
    with pytest.raises(NotLeader) as exc:
        n.propose(b"x")
    assert exc.value.leader is None
    n.step(msg(MT.HEARTBEAT, 3, 1, term=1))
    with pytest.raises(NotLeader) as exc:
        n.propose(b"x")
    assert exc.value.leader == 3


# ---------------------------------------------------------------- 5.2 election


def test_5_2_leader_broadcasts_heartbeats() -> None:
    n = make(heartbeat=2)
    elect(n)
    n.tick()
    assert drain(n) == []
    n.tick()
    beats = drain(n)
    assert sorted((m.type, m.to, m.term) for m in beats) == [
        (MT.HEARTBEAT, 2, 1), (MT.HEARTBEAT, 3, 1),
    ]


@pytest.mark.parametrize("role", ["follower", "candidate"])
def test_5_2_election_timeout_starts_election(role: str) -> None:
    n = make(storage=storage_with([(1, 1)], term=1))
    if role == "candidate":
        n.campaign()
        drain(n)
    term = n.term
    for _ in range(20):
        n.tick()
    assert n.role is Role.CANDIDATE and n.term == term + 1 and n.vote == 1
    votes = [m for m in drain(n) if m.type is MT.VOTE]
    assert sorted((m.to, m.term, m.index, m.log_term) for m in votes) == [
        (2, term + 1, 1, 1), (3, term + 1, 1, 1),
    ]


@pytest.mark.parametrize(
    ("size", "grants", "rejects", "role"),
    [
        (1, (), (), Role.LEADER),
        (3, (2, 3), (), Role.LEADER),
        (3, (2,), (), Role.LEADER),
        (5, (2, 3, 4, 5), (), Role.LEADER),
        (5, (2, 3), (), Role.LEADER),
        (5, (2,), (), Role.CANDIDATE),
        (3, (), (2,), Role.CANDIDATE),
        (3, (), (2, 3), Role.FOLLOWER),
        (5, (2,), (3, 4, 5), Role.FOLLOWER),
    ],
)
def test_5_2_election_in_one_round(
    size: int, grants: tuple[int, ...], rejects: tuple[int, ...], role: Role
) -> None:
    n = make(storage=storage_with(voters=tuple(range(1, size + 1))))
    n.campaign()
    for g in grants:
        n.step(msg(MT.VOTE_RESP, g, 1, term=1))
    for r in rejects:
        n.step(msg(MT.VOTE_RESP, r, 1, term=1, reject=True))
    assert n.role is role and n.term == 1


def test_5_2_one_vote_per_term() -> None:
    n = make()
    n.step(msg(MT.VOTE, 2, 1, term=1))
    n.step(msg(MT.VOTE, 3, 1, term=1))
    n.step(msg(MT.VOTE, 2, 1, term=1))  # a retransmission is granted again
    out = [(m.to, m.reject) for m in drain(n)]
    assert out == [(2, False), (3, True), (2, False)]
    assert n.vote == 2


def test_5_2_vote_is_persisted_in_the_same_ready_as_the_response() -> None:
    n = make()
    n.step(msg(MT.VOTE, 2, 1, term=1))
    rd = n.ready()
    assert rd.hard_state is not None and (rd.hard_state.term, rd.hard_state.vote) == (1, 2)
    assert [(m.type, m.reject) for m in rd.messages] == [(MT.VOTE_RESP, False)]


def test_5_2_candidate_falls_back_on_append_of_same_term() -> None:
    n = make()
    n.campaign()
    n.step(msg(MT.APP, 2, 1, term=1))
    assert (n.role, n.lead, n.term) == (Role.FOLLOWER, 2, 1)


def test_5_2_election_timeouts_are_randomized_in_range() -> None:
    seen = set()
    for seed in range(40):
        n = make(seed=seed)
        ticks = 0
        while n.role is Role.FOLLOWER:
            n.tick()
            ticks += 1
        seen.add(ticks)
    assert min(seen) >= 10 and max(seen) < 20 and len(seen) > 5


def test_5_2_split_vote_times_out_into_a_new_term() -> None:
    n = make(storage=storage_with(voters=(1, 2, 3, 4)))
    n.campaign()
    n.step(msg(MT.VOTE_RESP, 2, 1, term=1))
    n.step(msg(MT.VOTE_RESP, 3, 1, term=1, reject=True))
    assert n.role is Role.CANDIDATE
    for _ in range(20):
        n.tick()
    assert n.role is Role.CANDIDATE and n.term == 2


# ---------------------------------------------------------------- 5.3 replication


def test_5_3_leader_appends_noop_and_replicates_proposals() -> None:
    n = make()
    sent = elect(n)
    assert n.log.last_index() == 1 and n.log.term(1) == 1
    assert sorted((m.type, m.to, m.index, m.log_term, len(m.entries)) for m in sent) == [
        (MT.APP, 2, 0, 0, 1), (MT.APP, 3, 0, 0, 1),
    ]
    for peer in (2, 3):
        n.step(msg(MT.APP_RESP, peer, 1, term=1, index=1))
    drain(n)
    assert n.propose(b"x") == 2
    apps = [m for m in drain(n) if m.type is MT.APP]
    assert sorted((m.to, m.index, m.log_term, m.commit) for m in apps) == [
        (2, 1, 1, 1), (3, 1, 1, 1),
    ]
    assert all(m.entries == (Entry(2, 1, b"x"),) for m in apps)


def test_5_3_a_batch_of_proposals_travels_in_one_append_per_follower() -> None:
    n = make()
    elect(n)
    for peer in (2, 3):
        n.step(msg(MT.APP_RESP, peer, 1, term=1, index=1))
    drain(n)
    assert n.propose_batch([b"a", b"b", b"c"]) == 4
    apps = [m for m in drain(n) if m.type is MT.APP]
    assert sorted(m.to for m in apps) == [2, 3]  # one each, not one per proposal
    assert all(m.entries == (Entry(2, 1, b"a"), Entry(3, 1, b"b"), Entry(4, 1, b"c"))
               for m in apps)
    n.transfer_leader(2)
    with pytest.raises(ProposalDropped):
        n.propose_batch([b"d"])
    follower = make(node_id=2)
    with pytest.raises(NotLeader):
        follower.propose_batch([b"e"])
    assert follower.log.last_index() == 0


@pytest.mark.parametrize(
    ("size", "acks", "committed"),
    [(3, (), False), (3, (2,), True), (5, (2,), False), (5, (2, 3), True)],
)
def test_5_3_leader_commits_on_majority(size: int, acks: tuple[int, ...], committed: bool) -> None:
    n = make(storage=storage_with(voters=tuple(range(1, size + 1))))
    elect(n)
    drain(n)
    for a in acks:
        n.step(msg(MT.APP_RESP, a, 1, term=1, index=1))
    assert (n.commit == 1) is committed


def test_5_3_committed_entries_are_applied_only_once_durable() -> None:
    n = make(storage=storage_with(voters=(1,)))
    n.campaign()
    rd = n.ready()
    assert n.commit == 1 and rd.entries and rd.committed == ()
    persist(n, rd)
    n.advance(rd)
    rd = n.ready()
    assert [e.index for e in rd.committed] == [1]


def test_5_3_follower_commits_up_to_last_new_entry() -> None:
    n = make()
    ents = (Entry(1, 1, b"a"), Entry(2, 1, b"b"))
    n.step(msg(MT.APP, 2, 1, term=1, entries=ents, commit=5))
    assert n.commit == 2
    assert [(m.type, m.index, m.reject) for m in drain(n)] == [(MT.APP_RESP, 2, False)]


FIGURE_7_FOLLOWERS = {
    "a": [1, 1, 1, 4, 4, 5, 5, 6, 6],
    "b": [1, 1, 1, 4],
    "c": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    "d": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    "e": [1, 1, 1, 4, 4, 4, 4],
    "f": [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
}
FIGURE_7_LEADER = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]


@pytest.mark.parametrize("name", sorted(FIGURE_7_FOLLOWERS))
def test_5_3_follower_commits_only_what_it_knows_matches_the_leader(name: str) -> None:
    """An append that matches at index 3 tells a follower nothing about its entries after 3:
    however far the leader's commit index is, the follower commits up to 3 (the last entry
    of the append), never its own possibly divergent suffix (Figure 7's e and f would apply
    entries of terms 2, 3 and 4 the leader never committed)."""
    terms = FIGURE_7_FOLLOWERS[name]
    n = make(2, storage_with(list(enumerate(terms, 1)), term=7))
    n.step(msg(MT.APP, 1, 2, term=8, index=3, log_term=1, commit=7))
    applied = [e for rd in _readies(n) for e in rd.committed]
    assert n.commit == 3 and [e.index for e in applied] == [1, 2, 3]
    # One entry of the leader's own: now the follower knows index 4 matches, and no further.
    n.step(msg(MT.APP, 1, 2, term=8, index=3, log_term=1, commit=7,
               entries=(Entry(4, 4, b"e4"),)))
    applied = [e for rd in _readies(n) for e in rd.committed]
    assert n.commit == 4 and [(e.index, e.term) for e in applied] == [(4, 4)]


def _readies(n: Node) -> list[Ready]:
    out = []
    while n.has_ready():
        rd = n.ready()
        persist(n, rd)
        n.advance(rd)
        out.append(rd)
    return out


def test_5_3_follower_rejects_mismatch_with_conflict_hint() -> None:
    n = make(storage=storage_with([(1, 1), (2, 2), (3, 2), (4, 2)], term=3))
    n.step(msg(MT.APP, 2, 1, term=3, index=5, log_term=3))
    (resp,) = drain(n)
    assert resp.reject and resp.index == 5 and (resp.reject_hint, resp.log_term) == (4, 2)
    n.step(msg(MT.APP, 2, 1, term=3, index=4, log_term=3))
    (resp,) = drain(n)
    assert resp.reject and (resp.reject_hint, resp.log_term) == (4, 2)
    n.step(msg(MT.APP, 2, 1, term=3, index=3, log_term=1))
    (resp,) = drain(n)
    assert resp.reject and (resp.reject_hint, resp.log_term) == (1, 1)


def test_5_3_follower_truncates_conflicting_suffix() -> None:
    n = make(storage=storage_with([(1, 1), (2, 2), (3, 2)], term=3))
    n.step(msg(MT.APP, 2, 1, term=3, index=1, log_term=1, entries=(Entry(2, 3, b"n"),)))
    drain(n)
    assert n.log.last_index() == 2 and n.log.term(2) == 3
    assert n.log.storage.last_index() == 2 and n.log.storage.term(2) == 3


def test_5_3_stale_append_never_truncates() -> None:
    n = make(storage=storage_with([(1, 1), (2, 1), (3, 1), (4, 1)], term=1))
    n.step(msg(MT.APP, 2, 1, term=1, index=1, log_term=1, entries=(Entry(2, 1, b"e2"),)))
    (resp,) = drain(n)
    assert n.log.last_index() == 4 and not resp.reject and resp.index == 2


def test_5_3_leader_repairs_figure_7_logs() -> None:
    leader_log = list(enumerate(FIGURE_7_LEADER, 1))
    for terms in FIGURE_7_FOLLOWERS.values():
        lead = make(1, storage_with(leader_log, term=7, voters=(1, 2, 3)))
        foll = make(2, storage_with(list(enumerate(terms, 1)), term=7, voters=(1, 2, 3)))
        lead.campaign()
        drain(lead)
        lead.step(msg(MT.VOTE_RESP, 3, 1, term=8))
        net = Net({1: lead, 2: foll})
        net.pump()
        want = [lead.log.term(i) for i in range(1, lead.log.last_index() + 1)]
        got = [foll.log.term(i) for i in range(1, foll.log.last_index() + 1)]
        assert got == want
        rejects = sum(1 for m in net.sent if m.type is MT.APP_RESP and m.reject)
        assert rejects <= 3  # one per conflicting term at most, not one per entry


# ---------------------------------------------------------------- 5.4.1 election restriction


@pytest.mark.parametrize(
    ("cand_index", "cand_term", "granted"),
    [
        (2, 1, False), (3, 1, False), (3, 2, True), (4, 2, True), (1, 3, True),
        (2, 2, False), (1, 2, False),
    ],
)
def test_5_4_1_vote_only_for_up_to_date_logs(
    cand_index: int, cand_term: int, granted: bool
) -> None:
    n = make(storage=storage_with([(1, 1), (2, 1), (3, 2)], term=2))
    n.step(msg(MT.VOTE, 2, 1, term=3, index=cand_index, log_term=cand_term))
    (resp,) = drain(n)
    assert resp.reject is not granted


# ---------------------------------------------------------------- 5.4.2 previous terms


def test_5_4_2_leader_does_not_commit_previous_term_entries_by_counting() -> None:
    n = make(storage=storage_with([(1, 1), (2, 1)], term=1))
    elect(n)  # term 2, no-op at index 3
    n.step(msg(MT.APP_RESP, 2, 1, term=2, index=2))
    assert n.commit == 0  # index 2 is on a majority but from term 1
    n.step(msg(MT.APP_RESP, 2, 1, term=2, index=3))
    assert n.commit == 3  # the no-op of term 2 commits everything before it


# ---------------------------------------------------------------- 9.6 PreVote


def test_9_6_prevote_keeps_term_and_vote() -> None:
    n = make(storage=storage_with([(1, 1)], term=1), prevote=True)
    n.campaign()
    assert (n.role, n.term, n.vote) == (Role.PRE_CANDIDATE, 1, 0)
    pre = drain(n)
    assert {(m.type, m.term) for m in pre} == {(MT.PRE_VOTE, 2)}
    n.step(msg(MT.PRE_VOTE_RESP, 2, 1, term=2))
    assert (n.role, n.term, n.vote) == (Role.CANDIDATE, 2, 1)


def test_9_6_prevote_rejected_by_majority_returns_to_follower() -> None:
    n = make(storage=storage_with([(1, 1)], term=1), prevote=True)
    n.campaign()
    drain(n)
    n.step(msg(MT.PRE_VOTE_RESP, 2, 1, term=1, reject=True))
    n.step(msg(MT.PRE_VOTE_RESP, 3, 1, term=1, reject=True))
    assert (n.role, n.term) == (Role.FOLLOWER, 1)


def test_9_6_receiving_prevote_does_not_change_term() -> None:
    n = make(storage=storage_with([(1, 1)], term=1), prevote=True)
    n.step(msg(MT.PRE_VOTE, 2, 1, term=5, index=1, log_term=1))
    (resp,) = drain(n)
    assert n.term == 1 and n.vote == 0
    assert (resp.type, resp.term, resp.reject) == (MT.PRE_VOTE_RESP, 5, False)


# ---------------------------------------------------------------- CheckQuorum and lease


def test_check_quorum_leader_steps_down_without_quorum() -> None:
    n = make(check_quorum=True)
    elect(n)
    for _ in range(10):
        n.tick()
    assert n.role is Role.FOLLOWER and n.term == 1


def test_check_quorum_leader_stays_with_active_quorum() -> None:
    n = make(check_quorum=True)
    elect(n)
    for _ in range(3):
        for _ in range(9):
            n.tick()
        n.step(msg(MT.HEARTBEAT_RESP, 2, 1, term=1))
        n.tick()
    assert n.role is Role.LEADER


def test_lease_follower_ignores_votes_while_leader_is_alive() -> None:
    n = make(check_quorum=True)
    n.step(msg(MT.HEARTBEAT, 2, 1, term=1))
    n.step(msg(MT.VOTE, 3, 1, term=2))
    assert n.term == 1 and [m.type for m in drain(n)] == [MT.HEARTBEAT_RESP]
    for _ in range(10):
        n.tick()
    n.step(msg(MT.VOTE, 3, 1, term=2))
    assert n.term == 2 and n.vote == 3


# ---------------------------------------------------------------- leadership transfer


def test_transfer_to_up_to_date_follower_sends_timeout_now() -> None:
    n = make()
    elect(n)
    n.step(msg(MT.APP_RESP, 2, 1, term=1, index=1))
    drain(n)
    n.transfer_leader(2)
    assert [(m.type, m.to) for m in drain(n)] == [(MT.TIMEOUT_NOW, 2)]
    with pytest.raises(Exception, match="leadership is moving"):
        n.propose(b"x")


def test_transfer_to_lagging_follower_catches_it_up_first() -> None:
    n = make()
    elect(n)
    drain(n)
    n.transfer_leader(3)
    assert [m.type for m in drain(n)] == []  # probe already in flight
    n.step(msg(MT.APP_RESP, 3, 1, term=1, index=1))
    assert (MT.TIMEOUT_NOW, 3) in [(m.type, m.to) for m in drain(n)]


def test_timeout_now_campaigns_through_the_lease() -> None:
    n = make(2, check_quorum=True, prevote=True)
    n.step(msg(MT.HEARTBEAT, 1, 2, term=1))
    drain(n)
    n.step(msg(MT.TIMEOUT_NOW, 1, 2, term=1))
    assert n.role is Role.CANDIDATE and n.term == 2  # no PreVote for a transfer
    votes = [m for m in drain(n) if m.type is MT.VOTE]
    assert votes and all(m.transfer for m in votes)
    voter = make(3, check_quorum=True)
    voter.step(msg(MT.HEARTBEAT, 1, 3, term=1))
    drain(voter)
    voter.step(votes[-1])
    assert voter.vote == 2


def test_transfer_is_abandoned_after_an_election_timeout() -> None:
    n = make()
    elect(n)
    drain(n)
    n.transfer_leader(3)
    for _ in range(10):
        n.tick()
    assert n.transferee == 0 and n.role is Role.LEADER
    n.propose(b"ok")
