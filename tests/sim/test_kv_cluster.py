"""The replicated KV store in the simulator: SimCluster and its client (issue #4 item 5)."""

from __future__ import annotations

from itertools import pairwise

import pytest

from raftlib.check import History, check_linearizability, duplicate_writes
from raftlib.kv import ErrNoSpace, Indeterminate, KVError
from raftlib.kv._errors import ErrNoLeader, ErrTimeout
from raftlib.raft import Entry, EntryType
from raftlib.sim import SimCluster, Simulation, message_counts


def _ready(n: int = 5, seed: int = 1, **kw: object) -> SimCluster:
    c = SimCluster(n, seed=seed, **kw)  # type: ignore[arg-type]
    c.wait(3000)
    assert c.leader() is not None
    return c


def _settle(c: SimCluster) -> None:
    c.heal()
    for mid in c.members:
        c.restart(mid)
        c.resume(mid)
    c.wait(5000)


def _revisions(c: SimCluster) -> dict[int, list[tuple[int, bytes, bytes]]]:
    out = {}
    for mid in c.members:
        sm = c.store(mid)
        assert sm is not None
        out[mid] = [(kv.mod_revision, kv.key, kv.value) for _, kv, _ in sm.store.backend.rows()]
    return out


def test_all_members_agree_on_every_revision() -> None:
    c = _ready()
    cl = c.client()
    for i in range(20):
        cl.put(f"k{i % 4}".encode(), f"v{i}".encode())
    cl.delete(b"k1")
    assert cl.cas(b"k2", b"v18", b"swapped")
    c.wait(500)
    revs = _revisions(c)
    assert len({tuple(v) for v in revs.values()}) == 1
    assert {s.revision for s in c.status().values()} == {23}


def test_leader_crash_mid_write_client_retries_and_members_agree() -> None:
    c = _ready()
    cl = c.client()
    cl.put(b"x", b"0")
    lead = c.leader()
    assert lead is not None
    p = cl.put_async(b"x", b"1")
    c.sim.run_until(lambda: c.sim.proposals is not None and any(
        k[0] == lead for k in c._writes), 100)
    c.crash(lead)  # the proposal may or may not have reached a quorum
    c.sim.run_until(lambda: p.done, 10_000)
    assert p.done and p.error is None  # the client found the new leader and retried
    assert c.leader() not in (None, lead)
    c.restart(lead)
    c.wait(3000)
    assert len({tuple(v) for v in _revisions(c).values()}) == 1
    assert cl.get(b"x").kvs[0].value == b"1"
    assert duplicate_writes(c.store(1).store) == []  # type: ignore[union-attr]


def test_partitioned_old_leader_cannot_serve_writes_or_linearizable_reads() -> None:
    c = _ready()
    old = c.leader()
    assert old is not None
    cl = c.client()
    cl.put(b"k", b"before")
    c.isolate(old)
    c.wait(3000)
    new = c.leader()
    assert new not in (None, old)
    cl.put(b"k", b"after")
    stale = c.client(old, timeout_ms=3000)
    # The old leader stepped down (CheckQuorum); its local state is stale.
    assert stale.get(b"k", serializable=True).kvs[0].value == b"before"
    # A linearizable read attached to it moves on to members that can answer.
    assert stale.get(b"k").kvs[0].value == b"after"
    c.heal()
    c.wait(2000)
    assert stale.get(b"k", serializable=True).kvs[0].value == b"after"


def test_stale_serializable_read_versus_linearizable_read() -> None:
    c = _ready()
    lead = c.leader()
    follower = next(m for m in c.members if m != lead)
    writer = c.client(lead)
    writer.put(b"k", b"1")
    c.wait(300)  # the follower learns the commit with the next heartbeat
    c.partition([[follower], [m for m in c.members if m != follower]])
    writer.put(b"k", b"2")
    reader = c.client(follower)
    assert reader.get(b"k", serializable=True).kvs[0].value == b"1"  # stale, and fast
    assert reader.get(b"k").kvs[0].value == b"2"  # ReadIndex elsewhere
    assert message_counts(c.sim.trace).get("MsgReadIndex", 0) > 0  # followers forwarded


def _retry_scenario(dedup: bool, seed: int) -> list[tuple[bytes, bytes, int]]:
    """A leader that commits a write but crashes before answering: the client retries."""
    c = _ready(seed=seed, dedup=dedup)
    cl = c.client()
    for i in range(5):
        lead = c.leader()
        assert lead is not None
        p = cl.put_async(b"k", f"v{i}".encode())
        # Crash the leader right after it applied the write, before the answer leaves.
        def applied(lead: int = lead, rev: int = i + 2) -> bool:
            sm = c.store(lead)
            return sm is not None and sm.store.revision >= rev

        c.sim.run_until(applied, 2000)
        c.crash(lead)
        c.sim.run_until(lambda: p.done, 20_000)  # noqa: B023 (called before p changes)
        assert p.done and p.error is None
        c.restart(lead)
        c.wait(2000)
    sm = c.store(c.members[0])
    assert sm is not None
    return duplicate_writes(sm.store)


def test_retries_are_applied_at_most_once() -> None:
    assert _retry_scenario(dedup=True, seed=3) == []


def test_planted_bug_without_dedup_a_retry_is_applied_twice() -> None:
    dups = _retry_scenario(dedup=False, seed=3)
    assert dups and all(n == 2 for _, _, n in dups)
    c = SimCluster(bugs={"skip_dedup"})
    assert not c.dedup


def test_indeterminate_when_the_leader_loses_its_quorum_after_the_proposal() -> None:
    c = _ready()
    lead = c.leader()
    assert lead is not None
    cl = c.client(lead, timeout_ms=600)
    cl.put(b"k", b"1")
    c.isolate(lead)
    with pytest.raises(Indeterminate, match="etcdserver: request timed out"):
        # The isolated leader proposes, then nothing: no new leader within the deadline
        # either. The client cannot know whether the write will be applied: here it is not.
        cl.put(b"k", b"2")
    c.heal()
    c.wait(3000)
    # Either outcome is possible: if no one else was elected, the healed leader commits it.
    assert cl.get(b"k").kvs[0].value in (b"1", b"2")


def test_no_leader_is_a_certain_failure() -> None:
    c = _ready(3)
    for mid in c.members:
        c.crash(mid)
    c.restart(1)
    cl = c.client(1, timeout_ms=2000)
    with pytest.raises(ErrNoLeader, match="etcdserver: no leader") as info:
        cl.put(b"k", b"v")
    assert not isinstance(info.value, Indeterminate)


def test_chapter0_crash_two_writes_go_on_crash_a_third_writes_stop() -> None:
    c = _ready(5, seed=1)
    cl = c.client()
    cl.put(b"greeting", b"hello")
    lead = c.leader()
    others = [m for m in c.members if m != lead]
    c.crash(others[0])
    c.crash(others[1])
    assert cl.put(b"greeting", b"still here").header_revision == 3
    c.crash(others[2])
    with pytest.raises(KVError) as info:
        cl.put(b"greeting", b"lost?")
    assert isinstance(info.value, ErrTimeout)
    assert str(info.value) == "etcdserver: request timed out"
    c.restart(others[2])
    c.wait(3000)
    value = cl.get(b"greeting").kvs[0].value
    assert value in (b"still here", b"lost?")  # indeterminate: either is possible


def test_quota_alarm_is_replicated_and_every_member_rejects_writes() -> None:
    c = _ready(quota_backend_bytes=64 * 1024)
    cl = c.client()
    with pytest.raises(ErrNoSpace, match="database space exceeded"):
        for i in range(1000):
            cl.put(f"k{i}".encode(), b"x" * 1000)
    c.wait(500)
    assert all(s.alarms == ("NOSPACE",) for s in c.status().values())
    cl.delete(b"k", b"l")  # deletes cost nothing: allowed under the alarm
    rev = cl.get(b"k0").header_revision
    cl.compact(rev)
    c.wait(200)  # followers apply the compaction with the next heartbeat
    for mid in c.members:
        cl.defragment(mid)
    assert all(s.db_size < 64 * 1024 for s in c.status().values())
    # Room again, but the alarm still stops writes on every member until disarmed.
    with pytest.raises(ErrNoSpace):
        cl.put(b"small", b"1")
    other = next(m for m in c.members if m != c.leader())
    cl.move_leader(other)
    with pytest.raises(ErrNoSpace):
        cl.put(b"small", b"1")
    assert cl.disarm() == ("NOSPACE",)
    c.wait(200)
    assert cl.put(b"small", b"1").header_revision == rev + 1
    assert all(s.alarms == () for s in c.status().values())


def test_restart_rebuilds_the_store_from_snapshot_and_log() -> None:
    c = _ready(compact_every=10)
    cl = c.client()
    for i in range(35):
        cl.put(b"k", f"v{i}".encode())
    c.crash(2)
    assert c.store(2) is None
    for i in range(35, 60):
        cl.put(b"k", f"v{i}".encode())
    c.restart(2)
    c.wait(2000)
    sm2, sm1 = c.store(2), c.store(1)
    assert sm2 is not None and sm1 is not None
    assert sm2.store.revision == sm1.store.revision == 61
    assert c.sim.snapshot_of(2).index > 0
    assert c.client(2).get(b"k", serializable=True).kvs[0].value == b"v59"


def test_watch_and_membership_through_the_client() -> None:
    c = _ready(3)
    cl = c.client()
    w = cl.watch(b"w")
    cl.put(b"w", b"1")
    c.wait(100)
    assert [e.kv.value for r in w.take() for e in r.events] == [b"1"]
    new = cl.member_add(learner=True)
    c.wait(2000)
    assert c.status()[new].learner and c.status()[new].revision == 2
    cl.member_promote(new)
    c.wait(500)
    assert not c.status()[new].learner
    cl.member_remove(new)
    lead = c.leader()
    assert lead is not None
    target = next(m for m in (1, 2, 3) if m != lead)
    cl.move_leader(target)
    assert c.leader() == target


def test_history_records_and_checks() -> None:
    c = _ready(3)
    h = History()
    cl = c.client(history=h)
    cl.put(b"a", b"1")
    cl.get(b"a")
    cl.cas(b"a", b"1", b"2")
    cl.delete(b"a")
    assert [op.kind for op in h.ops] == ["put", "get", "cas", "delete"]
    assert check_linearizability(h.ops).ok


def test_default_simulation_is_unchanged_by_the_pluggable_state_machine() -> None:
    a = Simulation(seed=7)
    a.workload(20, 2000)
    a.run_for(3000)
    assert all(m.sm is None for m in a.members.values())
    assert len({m.digest for m in a.members.values()}) == 1

    class Count:
        def __init__(self) -> None:
            self.n = 0

        def apply(self, entry: Entry) -> object:
            self.n += entry.type is EntryType.NORMAL and bool(entry.data)
            return self.n

        def snapshot(self) -> bytes:
            return str(self.n).encode()

        def restore(self, data: bytes) -> None:
            self.n = int(data)

    b = Simulation(seed=7, state_machine=lambda mid: Count(), compact_every=5)
    b.workload(20, 2000)
    b.run_for(3000)
    assert a.trace_json() == b.trace_json()  # same events: the machine does not change them
    counts = {m.sm.n for m in b.members.values()}  # type: ignore[union-attr]
    assert counts == {sum(1 for p in a.proposals if p.committed_at is not None)}


def test_same_seed_same_run() -> None:
    def run() -> tuple[str, list[str]]:
        c = _ready(seed=11, compact_every=5)
        h = History()
        cl = c.client(2, history=h)
        for i in range(10):
            cl.put(b"k", f"v{i}".encode())
            if i == 4:
                c.crash(c.leader() or 1)
        cl.get(b"k")
        return c.sim.trace_json(), [str(op) for op in h.ops]

    assert run() == run()


def _pipelined_writes(seed: int) -> tuple[bool, list[tuple[bytes, bytes, int]]]:
    """One client with many writes in flight while leaders crash: retries of older commands
    can reach the log after newer ones. Returns whether that happened, and duplicates."""
    from raftlib.kv._replicated import decode_command

    c = _ready(seed=seed)
    cl = c.client()
    pending = []
    for round_ in range(4):
        pending += [cl.put_async(f"k{round_}-{i}".encode(), b"v") for i in range(6)]
        c.wait(3)
        lead = c.leader()
        if lead is not None:
            c.crash(lead)
        c.wait(1500)
        if lead is not None:
            c.restart(lead)
    c.wait(5000)
    assert all(p.done for p in pending)
    acked = [p for p in pending if p.error is None]
    assert acked, "no write succeeded"
    reader = c.client()
    mid = c.members[0]
    st = c.sim.members[mid].storage
    seqs = [decode_command(e.data)[1] for e in st.entries(st.first_index(), st.last_index() + 1)
            if e.type == "normal" and e.data and decode_command(e.data)[0] == cl.id]
    reordered = any(b < a for a, b in pairwise(seqs))
    sm = c.store(mid)
    assert sm is not None
    for i, p in enumerate(pending):
        if p.error is None:
            key = f"k{i // 6}-{i % 6}".encode()
            assert reader.get(key).kvs, f"acknowledged write {key!r} is missing"
    return reordered, duplicate_writes(sm.store)


def test_a_client_with_many_writes_in_flight_gets_each_applied_once() -> None:
    reordered_somewhere = False
    for seed in range(1, 9):
        reordered, dups = _pipelined_writes(seed)
        assert dups == [], f"seed {seed}: {dups}"
        reordered_somewhere |= reordered
    assert reordered_somewhere, "no seed let an older command reach the log after a newer one"


def test_move_leader_to_a_member_that_does_not_exist_is_refused_as_etcd_refuses_it() -> None:
    from raftlib.kv import ErrBadLeaderTransferee

    c = SimCluster(3, seed=1)
    c.wait(3000)
    with pytest.raises(ErrBadLeaderTransferee):
        c.client().move_leader(12345)
