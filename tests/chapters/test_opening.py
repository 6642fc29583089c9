"""The opening chapter's run: lose two of five, then a third (raftlib.chapters.opening)."""

from __future__ import annotations

import pytest

from raftlib.chapters.opening import (
    CANNOT_COMMIT,
    IN_FLIGHT,
    NO_LEADER,
    opening_run,
    survivable_crashes,
)


def test_two_crashes_keep_writes_going_and_lose_nothing() -> None:
    r = opening_run((1, 2), seed=1)
    assert r.acked_between(r.t_pair, r.t_third) > 0  # writes went on with three members
    assert r.acked_after_third == 0  # and stopped with two
    assert r.durability.ok and r.linearizability.ok and r.safety == [] and r.agree
    assert len(set(r.revisions.values())) == 1


def test_third_crash_errors_depend_on_where_the_leader_is() -> None:
    # Member 3 leads at the first crash (seed 1); crashing 1 and 2 makes it the third victim.
    no_leader = opening_run((1, 2), seed=1)
    assert no_leader.third == no_leader.leader_at_third == 3
    assert [p.message for p in no_leader.probes] == ["etcdserver: no leader"] * 2
    assert not any(p.indeterminate for p in no_leader.probes)
    # The first probe's member still named the dead leader; by the second it knew none.
    assert [p.situation for p in no_leader.probes] == [IN_FLIGHT, NO_LEADER]
    # The leader survives: the first probe reaches it and times out, indeterminate; after
    # an election timeout CheckQuorum makes it step down and the next probe finds no leader.
    alive = opening_run((4, 5), seed=1)
    assert alive.third != alive.leader_at_third
    first, later = alive.probes
    assert first.indeterminate and first.message == "etcdserver: request timed out"
    assert first.leader == alive.leader_at_third and later.leader is None
    assert later.message == "etcdserver: no leader"
    assert first.situation == CANNOT_COMMIT  # its member named the running leader
    # Indeterminate means it: here the timed-out write was applied after the restart.
    assert alive.final[b"probe"] == b"probe-1"
    assert alive.ok


def test_same_arguments_same_run() -> None:
    a, b = opening_run((2, 4), seed=3), opening_run((2, 4), seed=3)
    assert a.frames == b.frames
    assert [str(op) for op in a.history.ops] == [str(op) for op in b.history.ops]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        opening_run((1, 1))
    with pytest.raises(ValueError):
        opening_run((1, 2), third=2)


def test_survivable_crashes_is_a_minority() -> None:
    assert [survivable_crashes(n) for n in (3, 5)] == [1, 2]
