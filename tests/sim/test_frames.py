"""What ``Simulation.frame()`` tells a player beyond roles and logs, checked against the core:
message contents, election and heartbeat timers, vote tallies and a leader's progress."""

from __future__ import annotations

from collections.abc import Iterator

from raftlib._trace import Frame, Record
from raftlib.raft import PAPER, MessageType, Role
from raftlib.sim import Faults, Nemesis, Simulation


def _stepped(sim: Simulation, until_ms: int) -> Iterator[tuple[Frame, list[Record]]]:
    """The frame after every event up to ``until_ms``, with the records that event made."""
    seen: list[Record] = []
    sim.observe(seen.append)
    while sim.now <= until_ms and sim.step():
        yield sim.frame(), seen[:]
        seen.clear()


def _faulty(seed: int, prevote: bool = False) -> Simulation:
    sim = Simulation(n=5, seed=seed, timing=PAPER, prevote=prevote, delay_ms=(1, 12),
                     compact_every=20, max_msg_entries=4)
    sim.workload(40, 3000)
    Nemesis(seed, Faults(gap_ms=(100, 600))).run(sim, 3000)
    return sim


def test_in_flight_messages_carry_what_the_core_sent() -> None:
    sim = _faulty(2)
    kinds: set[str] = set()
    for frame, _ in _stepped(sim, 4000):
        sent = sim._messages_in_flight()
        assert len(frame["in_flight"]) == len(sent)
        for shown, msg in zip(frame["in_flight"], sent, strict=True):
            t = msg.type
            kinds.add(t.value)
            assert (shown["from"], shown["to"], shown["type"], shown["term"]) == (
                msg.frm, msg.to, t.value, msg.term)
            if t in (MessageType.VOTE, MessageType.PRE_VOTE):
                assert (shown["last_index"], shown["last_term"]) == (msg.index, msg.log_term)
            elif t in (MessageType.VOTE_RESP, MessageType.PRE_VOTE_RESP):
                assert shown["granted"] is not msg.reject
            elif t is MessageType.APP:
                assert (shown["prev_index"], shown["prev_term"], shown["entries"],
                        shown["commit"]) == (msg.index, msg.log_term, len(msg.entries),
                                             msg.commit)
            elif t is MessageType.APP_RESP:
                assert (shown["reject"], shown["index"]) == (msg.reject, msg.index)
                if msg.reject:
                    assert (shown["reject_hint"], shown["hint_term"]) == (msg.reject_hint,
                                                                          msg.log_term)
                else:
                    assert "reject_hint" not in shown
            elif t is MessageType.HEARTBEAT:
                assert shown["commit"] == msg.commit
            elif t is MessageType.SNAP:
                assert msg.snapshot is not None
                assert (shown["snap_index"], shown["snap_term"]) == (msg.snapshot.index,
                                                                     msg.snapshot.term)
    assert {"MsgVote", "MsgVoteResp", "MsgApp", "MsgAppResp", "MsgHeartbeat"} <= kinds


def test_a_vote_response_shows_the_voters_decision() -> None:
    """Granted exactly when the voter, as it sends the answer, has voted for the candidate."""
    shown = {True: 0, False: 0}
    for seed in (1, 2, 3):
        sim = _faulty(seed)
        known: set[tuple[int, int, int]] = set()
        for frame, _ in _stepped(sim, 3000):
            for m in frame["in_flight"]:
                key = (m["from"], m["to"], m["term"])
                if m["type"] != "MsgVoteResp" or key in known:
                    continue
                known.add(key)  # just sent: the voter's state is the one it answered from
                node = sim.members[m["from"]].node
                assert node is not None
                voted = node.term == m["term"] and node.vote == m["to"]
                assert m["granted"] is voted, (m, node.term, node.vote)
                shown[m["granted"]] += 1
    assert shown[True] and shown[False], shown


def test_a_leaders_progress_is_its_cores() -> None:
    sim = _faulty(3)
    checked = 0
    for frame, _ in _stepped(sim, 3000):
        for mid, st in frame["members"].items():
            node = sim.members[mid].node
            if node is None or node.role is not Role.LEADER:
                assert st["progress"] is None
                continue
            assert st["progress"] is not None
            rows = {p["id"]: (p["match"], p["next"], p["state"]) for p in st["progress"]}
            want = {}
            for peer in sorted(sim.members):
                pr = node.progress(peer)
                if peer != mid and pr is not None:
                    want[peer] = (pr.match, pr.next, pr.state.value)
            assert rows == want
            checked += 1
    assert checked > 100


def test_a_candidates_tally_counts_the_answers_it_got() -> None:
    """Granted: itself and every voter whose granting answer (this term) it received; refused:
    every refusal received; all out of the voters it asked."""
    sim = _faulty(1, prevote=True)
    answers: dict[tuple[int, int], dict[int, bool]] = {}  # (candidate, term) -> voter -> granted
    in_flight: dict[tuple[int, int, str, int], bool] = {}
    tallies = 0
    for frame, records in _stepped(sim, 3000):
        for rec in records:
            if rec["ev"] == "deliver" and rec["type"] in ("MsgVoteResp", "MsgPreVoteResp"):
                key = (rec["from"], rec["to"], rec["type"], rec["term"])
                if key in in_flight:
                    answers.setdefault((rec["to"], rec["term"]), {}).setdefault(
                        rec["from"], in_flight[key])
        in_flight = {(m["from"], m["to"], m["type"], m["term"]): m["granted"]
                     for m in frame["in_flight"] if "granted" in m}
        for mid, st in frame["members"].items():
            votes = st["votes"]
            if st["role"] not in ("candidate", "pre_candidate"):
                assert votes is None
                continue
            assert votes is not None
            term = st["term"] + (1 if st["role"] == "pre_candidate" else 0)
            got = answers.get((mid, term), {})
            assert set(votes["granted"]) <= {mid} | {v for v, g in got.items() if g}
            assert mid in votes["granted"]
            assert set(votes["refused"]) <= {v for v, g in got.items() if not g}
            node = sim.members[mid].node
            assert node is not None and votes["voters"] == list(node.voters)
            tallies += 1
    assert tallies > 10


def test_timers_run_between_zero_and_their_timeout_and_a_heartbeat_resets_them() -> None:
    sim = _faulty(4)
    tick = sim.timing.tick_ms
    resets = 0
    last: dict[int, list[int]] = {}
    ticked = dict.fromkeys(sim.members, 0)  # when each node last ticked (or booted)
    for frame, records in _stepped(sim, 3000):
        beat_to = {r["to"] for r in records
                   if r["ev"] == "deliver" and r["type"] == "MsgHeartbeat"}
        for r in records:
            if r["ev"] == "tick" or r["ev"] == "restart":
                ticked[r["id"]] = r["t"]
        for mid, st in frame["members"].items():
            node = sim.members[mid].node
            timer = st["timer"]
            if node is None:
                assert timer is None
                continue
            assert timer is not None
            elapsed, timeout = timer
            assert 0 <= elapsed <= timeout
            # Whole ticks as the node counts them, then the time since its last tick (at most
            # a tick: a paused member's timer stands still).
            since = min(sim.now - ticked[mid], tick)
            if node.role is Role.LEADER:
                assert timeout == sim.timing.heartbeat_ms
                assert elapsed == node.heartbeat_elapsed * tick + since
            else:
                assert timeout == node.election_timeout * tick
                assert elapsed == node.election_elapsed * tick + since
                if mid in beat_to and node.role is Role.FOLLOWER:
                    # Reset: less than a tick since, however far it had run.
                    assert elapsed <= tick
                    if last.get(mid, [0])[0] > 2 * tick:
                        resets += 1
            last[mid] = timer
    assert resets > 20
