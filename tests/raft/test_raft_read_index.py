"""Linearizable reads: etcd-io/raft's ReadIndex (Raft dissertation, section 6.4)."""

from __future__ import annotations

from raft_helpers import MT, Net, drain, elect, make, msg, persist

from raftlib.raft import Message, Node, ReadState


def _take(node: Node) -> tuple[list[Message], list[ReadState]]:
    """Run the Ready loop; return the messages sent and the read states answered."""
    out: list[Message] = []
    reads: list[ReadState] = []
    while node.has_ready():
        rd = node.ready()
        persist(node, rd)
        out.extend(rd.messages)
        reads.extend(rd.read_states)
        node.advance(rd)
    return out, reads


def _leader_with_committed_noop() -> Node:
    n = make()
    elect(n)
    n.step(msg(MT.APP_RESP, 2, 1, term=1, index=1))
    drain(n)
    assert n.commit == 1
    return n


def test_6_4_leader_answers_after_a_quorum_acks_a_heartbeat() -> None:
    n = _leader_with_committed_noop()
    assert n.read_index(b"r1")
    sent, reads = _take(n)
    beats = [m for m in sent if m.type is MT.HEARTBEAT]
    assert {m.to for m in beats} == {2, 3} and all(m.context == b"r1" for m in beats)
    assert reads == []  # not before leadership is confirmed
    n.step(msg(MT.HEARTBEAT_RESP, 2, 1, term=1, context=b"r1"))
    _, reads = _take(n)
    assert reads == [ReadState(1, b"r1")]


def test_6_4_read_index_is_the_commit_index_at_request_time() -> None:
    n = _leader_with_committed_noop()
    n.read_index(b"r1")
    _take(n)
    n.propose(b"x")  # index 2, committed after the read was registered
    n.step(msg(MT.APP_RESP, 2, 1, term=1, index=2))
    drain(n)
    assert n.commit == 2
    n.step(msg(MT.HEARTBEAT_RESP, 3, 1, term=1, context=b"r1"))
    _, reads = _take(n)
    assert reads == [ReadState(1, b"r1")]


def test_6_4_an_ack_answers_every_earlier_pending_read_in_order() -> None:
    n = _leader_with_committed_noop()
    for ctx in (b"a", b"b", b"c"):
        n.read_index(ctx)
    _take(n)
    n.step(msg(MT.HEARTBEAT_RESP, 2, 1, term=1, context=b"b"))
    _, reads = _take(n)
    assert [r.ctx for r in reads] == [b"a", b"b"]
    n.step(msg(MT.HEARTBEAT_RESP, 2, 1, term=1, context=b"c"))
    assert [r.ctx for r in _take(n)[1]] == [b"c"]


def test_6_4_new_leader_defers_reads_until_an_entry_of_its_term_commits() -> None:
    n = make()
    elect(n)
    assert n.commit == 0
    n.read_index(b"early")
    sent, reads = _take(n)
    assert reads == [] and not any(m.context for m in sent)
    n.step(msg(MT.APP_RESP, 2, 1, term=1, index=1))  # the no-op commits
    sent, _ = _take(n)
    assert any(m.type is MT.HEARTBEAT and m.context == b"early" for m in sent)
    n.step(msg(MT.HEARTBEAT_RESP, 2, 1, term=1, context=b"early"))
    assert _take(n)[1] == [ReadState(1, b"early")]


def test_6_4_leader_that_loses_its_quorum_never_answers() -> None:
    n = _leader_with_committed_noop()
    n.read_index(b"r1")
    _take(n)
    n.step(msg(MT.APP, 3, 1, term=2, index=1, log_term=1, commit=1))  # a newer leader
    _, reads = _take(n)
    n.step(msg(MT.HEARTBEAT_RESP, 2, 1, term=2, context=b"r1"))
    assert reads == [] and _take(n)[1] == []


def test_6_4_single_voter_answers_at_once() -> None:
    from raft_helpers import storage_with

    n = make(storage=storage_with(voters=(1,)))
    n.campaign()
    drain(n)
    n.read_index(b"solo")
    assert _take(n)[1] == [ReadState(n.commit, b"solo")]


def test_6_4_follower_forwards_and_gets_the_leaders_answer() -> None:
    nodes = {i: make(i) for i in (1, 2, 3)}
    net = Net(nodes)
    nodes[1].campaign()
    net.pump()
    assert nodes[2].lead == 1
    assert nodes[2].read_index(b"f1")
    reads: list[ReadState] = []
    kinds: list[MT] = []
    for _ in range(10):
        for nid in (1, 2, 3):
            sent, rs = _take(nodes[nid])
            net.queue.extend(sent)
            kinds.extend(m.type for m in sent)
            if nid == 2:
                reads.extend(rs)
        batch, net.queue = net.queue, []
        for m in batch:
            nodes[m.to].step(m)
    assert reads == [ReadState(nodes[1].commit, b"f1")]
    assert MT.READ_INDEX in kinds and MT.READ_INDEX_RESP in kinds


def test_6_4_follower_without_leader_drops_the_request() -> None:
    n = make(2)
    assert not n.read_index(b"x")
    assert _take(n) == ([], [])
