"""The shared experiments on every engine: the simulator, real etcd 3.4, raftlib's runtime.

This is the differential suite: every scenario runs on all three engines. Real etcd runs on
loopback, except for the partition scenario, which needs its members in network namespaces
(``EtcdCluster(netns=True)``, root only).

Each engine-neutral story of ``raftlib.chapters`` runs on each engine; the comparable part of every
result must equal the simulator's, except for the differences listed in ``KNOWN`` (each with
its reason), which must show up exactly as listed. What legitimately varies (times, sizes) is
checked against bounds instead.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterator
from typing import Any

import pytest

from raftlib import Cluster
from raftlib.backends import ETCD_BINARY, EtcdCluster, RaftlibCluster, netns_problem
from raftlib.chapters import EtcdMissing, comparable, compare, etcd_available, on_etcd, varies
from raftlib.chapters.closing import strict_reconfig_check, take_leader_out
from raftlib.chapters.elections import time_to_new_leader
from raftlib.chapters.mvcc import revisions_and_compaction
from raftlib.chapters.opening import CANNOT_COMMIT, IN_FLIGHT, NO_LEADER, opening
from raftlib.chapters.operations import handover_vs_crash, lock_holder_crash
from raftlib.chapters.quota import quota_alarm
from raftlib.chapters.real_etcd import (
    etcd_flag_check,
    etcd_timing,
    isolate_leader,
    leader_time_check,
)
from raftlib.chapters.watch import watch_from_revision
from raftlib.kv import (
    DEFAULT_QUOTA_BYTES,
    ErrEmptyWatcherRange,
    KVError,
    PutRequest,
    prefix_end,
)
from raftlib.raft import ETCD, PAPER, Timing
from raftlib.sim import SimCluster
from raftlib.viz import Table

SEED = 1
# etcd refuses an election timeout below 5 heartbeats, so the paper's 50 ms / 150 ms cannot be
# passed as is; 30 ms heartbeats keep the paper's election range, [150, 300) ms.
PAPER_FLAGS = {"heartbeat_ms": 30, "election_timeout_ms": 150}
ETCD_FLAGS = {"heartbeat_ms": 100, "election_timeout_ms": 1000}
TRIALS = 3

# (engine, scenario, field) -> (what that engine gives instead of the simulator, why).
KNOWN: dict[tuple[str, str, str], tuple[object, str]] = {
    # The write right after the third crash goes through a survivor that still names the dead
    # leader (IN_FLIGHT): etcd forwards it there and, at its request timeout (5 s + 2 election
    # timeouts), answers 'request timed out' (parseProposeCtxErr in etcdserver/server.go);
    # raftlib's simulated client, which hands writes to leaders only, reports 'no leader'.
    ("etcd", "opening", "failed_write"): (
        "ErrTimeout: etcdserver: request timed out",
        "etcd forwarded the write to the leader it still named, which had died; raftlib's "
        "simulated client reports a write it could not hand to any leader as 'no leader'"),
    # The later write meets a survivor that knows no leader (NO_LEADER): etcd's raft refuses
    # the proposal until one is known (propc = nil in raft/node.go), so the request's context
    # ends and the JSON gateway answers with its text, 'context deadline exceeded'.
    ("raftlib", "opening", "failed_write"): (
        "ErrTimeout: etcdserver: request timed out",
        "raftlib's runtime server does what etcd does: it waits for a leader until its request "
        "timeout, 5 s + 2 election timeouts (raftlib/runtime/_member.py, _write), and answers "
        "'request timed out'; only the simulated client reports 'no leader'"),
}
# The later write meets a survivor that knows no leader (NO_LEADER): etcd's raft refuses the
# proposal until one is known (propc = nil in raft/node.go), so the request's context ends and
# the gateway answers with its text; raftlib's runtime answers the same.
for _engine in ("etcd", "raftlib"):
    KNOWN[(_engine, "opening", "later_write")] = (
        "ErrDeadlineExceeded: context deadline exceeded",
        "with no leader known, the server holds the proposal until its request timeout and "
        "answers 'context deadline exceeded'; the simulated client reports 'no leader'")
# A simulated client that gets no answer from its member tries the others; EtcdClient is bound
# to its one endpoint, like etcdctl with one --endpoints. So on the isolated member the
# simulated read succeeds elsewhere, while on real processes it waits for a ReadIndex that the
# isolated member cannot get, until the server's request timeout.
for _engine in ("etcd", "raftlib"):
    KNOWN[(_engine, "isolation", "linearizable_read_on_isolated")] = (
        "ErrTimeout: etcdserver: request timed out",
        "the simulated client fails over to another member; a real client bound to the "
        "isolated member's endpoint waits for a ReadIndex it cannot get")


ENGINES = [pytest.param("etcd", marks=pytest.mark.etcd), "raftlib"]


class Engine:
    """Makes clusters of one engine and closes them all at the end of a test."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started: list[Any] = []

    def make(self, n: int = 3, timing: Timing = ETCD, quota: int = 0,
             partitionable: bool = False) -> Cluster:
        if self.name == "sim":
            return SimCluster(n, seed=SEED, timing=timing,
                              quota_backend_bytes=quota or DEFAULT_QUOTA_BYTES)
        flags: dict[str, Any] = dict(PAPER_FLAGS if timing is PAPER else ETCD_FLAGS)
        if self.name == "etcd" and partitionable:
            problem = netns_problem()
            if problem is not None:
                pytest.fail(f"partitioning real etcd needs network namespaces: {problem}")
            flags["netns"] = True
        cls: type[Any] = EtcdCluster if self.name == "etcd" else RaftlibCluster
        c = cls(n, quota_backend_bytes=quota, **flags)
        self.started.append(c)
        return c  # type: ignore[no-any-return]

    def close(self) -> None:
        for c in self.started:
            c.close()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    name = request.param
    if name == "etcd" and not os.path.exists(ETCD_BINARY):
        pytest.fail(f"{ETCD_BINARY} is missing: install etcd 3.4 (apt-get install etcd-server)")
    e = Engine(name)
    try:
        yield e
    finally:
        e.close()


def assert_same(scenario: str, engine: str, want: object, got: object) -> None:
    """The comparable fields agree, except the known differences, which must appear as known."""
    w, g = comparable(want), comparable(got)
    assert w.keys() == g.keys()
    problems = []
    for k in w:
        expected, why = KNOWN.get((engine, scenario, k), (w[k], ""))
        if g[k] != expected:
            what = f"known difference ({why}) expected {expected!r}" if why else f"sim {w[k]!r}"
            problems.append(f"{scenario}.{k}: {engine} gave {g[k]!r}; {what}")
    assert not problems, "\n".join(problems)


def sim() -> Engine:
    return Engine("sim")


# ----------------------------------------------------------------------------- the scenarios


def test_opening(engine: Engine) -> None:
    want = opening(sim().make(5))
    got = opening(engine.make(5))
    assert_same("opening", engine.name, want, got)
    # What the story promises, whatever the engine: two of five down, writes go on; every
    # acknowledged write is read back; all five members end at the same revision. The write
    # made at once meets a survivor still naming the dead leader; the later one, a survivor
    # that knows no leader; neither is applied.
    for r in (want, got):
        assert r.acked_with_three == 10 and r.readable_after_restart == 15
        assert len(set(r.member_revisions)) == 1 and r.member_revisions[0] == 16
        assert r.failed_write != "ok" and not r.failed_write_applied
        assert r.later_write != "ok" and not r.later_write_applied
        assert (r.failed_write_case, r.later_write_case) == (IN_FLIGHT, NO_LEADER)
    # Varying, but bounded: at least an election timeout minus a heartbeat without a leader;
    # both failed writes waited out etcd's request timeout (5 s + 2 x 1 s).
    assert got.no_leader_ms >= ETCD.election_timeout_ms - ETCD.heartbeat_ms
    if engine.name != "sim":
        assert 6500 <= got.failed_write_ms <= 9000, got.failed_write_ms
        assert 6500 <= got.later_write_ms <= 9000, got.later_write_ms


def test_opening_names_the_situation_each_failed_write_met() -> None:
    # The third crash hits a follower: the write reaches a running leader with no majority,
    # which appends it (so it is applied after the restart), and the client hears
    # 'request timed out'; the later write finds no leader (CheckQuorum made it step down).
    r = opening(sim().make(5), third="follower")
    assert r.third_role == "follower" and r.third not in (r.killed[0], 0)
    assert (r.failed_write_case, r.later_write_case) == (CANNOT_COMMIT, NO_LEADER)
    assert r.failed_write == "ErrTimeout: etcdserver: request timed out"
    assert r.failed_write_applied and not r.later_write_applied
    with pytest.raises(ValueError):
        opening(sim().make(5), third="nobody")


def test_revisions_and_compaction(engine: Engine) -> None:
    want = revisions_and_compaction(sim().make())
    got = revisions_and_compaction(engine.make())
    assert_same("revisions", engine.name, want, got)
    assert want.put_revisions == (2, 3, 4, 5, 6)
    assert want.read_below_compaction.startswith("ErrCompacted: ")


def test_watch_from_revision(engine: Engine) -> None:
    want = watch_from_revision(sim().make())
    got = watch_from_revision(engine.make())
    assert_same("watch", engine.name, want, got)
    assert [e[0] for e in want.events] == ["PUT", "PUT", "DELETE", "PUT"]
    assert want.compacted_watch == (True, want.history[-1])


def _led(cluster: Cluster) -> Cluster:
    """``cluster`` once it has a leader (at most 20 s)."""
    for _ in range(400):
        if cluster.leader() is not None:
            break
        cluster.wait(50)
    return cluster


def _replay_shape(cluster: Cluster) -> list[tuple[int, list[int]]]:
    """Write a transaction of two puts and 1,003 puts, watch them all from the transaction
    on, and return each response's header revision and the revisions of its events."""
    _led(cluster)
    c = cluster.client(cluster.members[0])
    start = c.txn((), (PutRequest(b"r/1", b"t"), PutRequest(b"r/2", b"t"))).header_revision
    for i in range(1003):
        c.put(b"r/%d" % (i % 3), b"%d" % i)
    w = c.watch(b"r/", prefix_end(b"r/"), start_revision=start)
    out: list[tuple[int, list[int]]] = []
    for _ in range(200):
        out += [(r.header_revision, [e.kv.mod_revision for e in r.events]) for r in w.take()]
        if sum(len(revs) for _, revs in out) >= 1005:
            break
        cluster.wait(50)
    return out


def test_a_watch_replay_is_batched_alike(engine: Engine) -> None:
    """etcd 3.4 replays up to 1,000 whole revisions a response (watchBatchMaxRevs): every
    engine's client sees the same responses, the transaction's two events together."""
    want = _replay_shape(sim().make(1))
    got = _replay_shape(engine.make(1))
    assert got == want
    assert [len(set(revs)) for _, revs in want] == [1000, 4]
    assert want[0][1][:2] == [want[0][1][0]] * 2


def test_an_empty_watch_range_is_refused_alike(engine: Engine) -> None:
    """A watch of a range that holds no key: etcd creates and cancels it at once ("mvcc:
    watcher range is empty"); every engine's client raises that error."""
    for c in (sim().make(1), engine.make(1)):
        with pytest.raises(ErrEmptyWatcherRange):
            _led(c).client(1).watch(b"b", b"a")


def test_quota_alarm(engine: Engine) -> None:
    want = quota_alarm(lambda q: sim().make(quota=q))
    got = quota_alarm(lambda q: engine.make(quota=q))
    assert_same("quota", engine.name, want, got)
    assert want.alarms == ("NOSPACE",) and dict(want.recovery)["put after disarm"] == "ok"
    # Sizes differ (SQLite pages against bbolt's) but both filled up to about the quota, and
    # defragmentation shrank both files far below it. bbolt grows its file ahead of use, by
    # doubling its mapping, so etcd's file may end up to twice the quota: the check is on the
    # size before a write, and the write that passes it can grow the file by a whole step.
    for r in (want, got):
        sizes = dict(r.db_sizes)
        assert 0.75 * r.quota <= sizes["full"] <= 2.5 * r.quota, r.db_sizes
        assert sizes["defragmented"] < 0.25 * r.quota, r.db_sizes
        assert r.accepted > 0 and r.alarm_entries >= 1


@pytest.mark.parametrize("timing", [ETCD, PAPER], ids=["etcd-defaults", "paper"])
def test_time_to_new_leader(engine: Engine, timing: Timing) -> None:
    want = time_to_new_leader(lambda: sim().make(timing=timing), TRIALS)
    got = time_to_new_leader(lambda: engine.make(timing=timing), TRIALS)
    assert_same("leader", engine.name, want, got)
    assert got.elected == TRIALS
    # The engine runs on its own flags: etcd ticks once per heartbeat interval.
    real = etcd_timing(**(PAPER_FLAGS if timing is PAPER else ETCD_FLAGS))
    for r, t in ((want, timing), (got, real)):
        assert leader_time_check(r, t) == f"{TRIALS} of {TRIALS} trials elected a new leader; " \
            f"median no sooner than {t.election_timeout_ms - t.heartbeat_ms - t.tick_ms} ms: " \
            "True", r.samples_ms
        # The randomized timeout is below 2x the base; one more base covers a split vote or a
        # loaded machine.
        assert statistics.median(r.samples_ms) <= 3 * t.election_timeout_ms, r.samples_ms


def test_handover_vs_crash(engine: Engine) -> None:
    want = handover_vs_crash(sim().make())
    got = handover_vs_crash(engine.make())
    assert_same("handover", engine.name, want, got)
    assert want.moved_to_target and want.crash_slower_than_handover
    # A handover is one MsgTimeoutNow and one election; a crash waits out an election timeout.
    assert got.handover_ms < ETCD.election_timeout_ms <= got.crash_ms + ETCD.heartbeat_ms


def test_lock_freed_by_its_lease_when_the_holder_dies(engine: Engine) -> None:
    want = lock_holder_crash(sim().make())
    got = lock_holder_crash(engine.make())
    assert_same("lock", engine.name, want, got)
    assert want.holder_acquired and want.rival_refused and want.held_while_renewed
    assert want.freed_by_expiry and want.rival_saw == ("DELETE",) and want.rival_acquired
    # Freed at the TTL (2 s), once the leader's 500 ms check has found the lease expired
    # (real processes: plus the polling of a loaded machine).
    assert 2000 <= want.freed_after_ms < 2600 and 2000 <= got.freed_after_ms < 6000, got


def _lease_answers(cluster: Cluster) -> dict[str, object]:
    """Every lease call through the Client interface, with the answers a client sees."""
    while cluster.leader() is None:
        cluster.wait(100)
    c = cluster.client(cluster.members[0])

    def outcome(f: Any) -> str:
        try:
            f()
        except KVError as e:
            return f"{type(e).__name__}: {e.message}"
        return "ok"

    out: dict[str, object] = {}
    g = c.lease_grant(1, 7001)
    out["grant below the minimum"] = (g.id, g.ttl)
    out["grant an existing id"] = outcome(lambda: c.lease_grant(5, 7001))
    out["grant too long"] = outcome(lambda: c.lease_grant(9_000_000_001, 7002))
    lid = c.lease_grant(60, 7003).id
    out["put with an unknown lease"] = outcome(lambda: c.put(b"q/x", b"v", lease=999))
    first = c.put(b"q/a", b"1", lease=lid).header_revision
    c.put(b"q/b", b"1", lease=lid)
    c.put(b"q/c", b"1", lease=lid)
    c.put(b"q/c", b"2")  # detached from the lease
    t = c.lease_time_to_live(lid, keys=True)
    out["time to live"] = (t.id, t.granted_ttl, tuple(sorted(t.keys)), t.ttl in (59, 60))
    out["time to live, unknown"] = c.lease_time_to_live(999).ttl
    out["keep-alive, known and unknown"] = (c.lease_keep_alive(lid).ttl,
                                            c.lease_keep_alive(999).ttl)
    out["leases"] = tuple(sorted(c.leases().leases))
    out["revisions to the revoke"] = c.lease_revoke(lid).header_revision - first
    out["keys left"] = [kv.key for kv in c.get(b"q/", b"q0").kvs]
    out["revoke again"] = outcome(lambda: c.lease_revoke(lid))
    c.lease_revoke(7001)
    return out


def test_lease_answers_are_etcds(engine: Engine) -> None:
    want = _lease_answers(sim().make())
    assert want == _lease_answers(engine.make())
    assert want["grant below the minimum"] == (7001, 2)
    assert want["revisions to the revoke"] == 4  # two keys deleted in one revision


def test_take_leader_out_a_graceful_stop_hands_over_a_kill_does_not() -> None:
    want = take_leader_out(sim().make())
    assert want == take_leader_out(sim().make())  # deterministic, times included
    assert want.move_reached_target and want.stop_handed_over
    assert want.kill_waited_election_timeout
    # The simulated graceful stop transfers leadership (etcd's EtcdServer.Stop); a kill waits
    # out an election timeout.
    assert want.stop_ms < ETCD.heartbeat_ms < ETCD.election_timeout_ms \
        <= want.kill_ms + ETCD.heartbeat_ms


@pytest.mark.etcd
def test_take_leader_out_on_etcd_sigterm_hands_over() -> None:
    got = on_etcd(lambda make: take_leader_out(make(3)))
    assert not isinstance(got, EtcdMissing), got
    assert comparable(got) == comparable(take_leader_out(sim().make()))
    # etcd 3.4 transfers leadership on SIGTERM: far quicker than any election timeout.
    assert got.stop_ms < ETCD.election_timeout_ms / 2 <= got.kill_ms, varies(got)


def test_take_leader_out_on_raftlib_sigterm_hands_over_as_etcd() -> None:
    with RaftlibCluster(3, **ETCD_FLAGS) as c:
        got = take_leader_out(c)
    assert comparable(got) == comparable(take_leader_out(sim().make()))
    # Before the runtime handed over on SIGTERM, the stop cost an election timeout.
    assert got.stop_ms < ETCD.election_timeout_ms / 2 <= got.kill_ms, varies(got)


@pytest.mark.etcd
def test_strict_reconfig_check_refuses_adds_while_a_member_is_down() -> None:
    got = on_etcd(lambda make: strict_reconfig_check(make(3)))
    assert not isinstance(got, EtcdMissing), got
    assert got.voter_while_down == got.learner_while_down == \
        "Error: etcdserver: unhealthy cluster"
    assert got.voter_when_healthy == "Member <ID> added to cluster <ID>"
    # Every voter must have been connected for 5 s (etcdserver.HealthInterval).
    assert 4500 <= got.accepted_after_ms < 15_000


def test_isolate_leader(engine: Engine) -> None:
    want = isolate_leader(sim().make())
    got = isolate_leader(engine.make(partitionable=True))
    assert_same("isolation", engine.name, want, got)
    assert want.majority_elected and want.caught_up_after_heal
    assert want.stale_read_on_isolated == b"1" and want.majority_write_revision == 3


@pytest.mark.etcd
def test_etcd_on_loopback_refuses_partitions_and_says_how() -> None:
    from raftlib.backends import Unsupported

    with EtcdCluster(1) as c, pytest.raises(Unsupported, match=r"netns=True"):
        c.isolate(1)


def test_etcd_timing_is_raftlibs_etcd_profile() -> None:
    assert etcd_timing(100, 1000) == ETCD
    assert etcd_timing(30, 150) == Timing(30, 150, 150, 30)
    with pytest.raises(Exception, match="multiple of tick_ms"):
        etcd_timing(30, 100)  # 100 ms is not a whole number of 30 ms ticks


# ----------------------------------------------------------------------------- the module


def test_the_simulator_is_deterministic() -> None:
    assert opening(sim().make(5)) == opening(sim().make(5))
    a = time_to_new_leader(lambda: sim().make(timing=PAPER), 4)
    assert a == time_to_new_leader(lambda: sim().make(timing=PAPER), 4)
    assert varies(a) == {"samples_ms": a.samples_ms, "leaders": a.leaders}
    assert "samples_ms" not in comparable(a)


def test_a_planted_difference_is_reported_by_field_and_engine() -> None:
    want = revisions_and_compaction(sim().make())
    bad = type(want)(**{**comparable(want), "compact_to": 99})
    with pytest.raises(AssertionError, match=r"revisions\.compact_to: etcd gave 99; sim 8"):
        assert_same("revisions", "etcd", want, bad)
    # A known difference that fails to show up is reported too.
    o = opening(sim().make(5))
    with pytest.raises(AssertionError, match="known difference"):
        assert_same("opening", "etcd", o, o)


def test_compare_table_and_missing_etcd_note(monkeypatch: pytest.MonkeyPatch) -> None:
    r = revisions_and_compaction(sim().make())
    t = compare(r, r)
    assert isinstance(t, Table) and "differs" not in repr(t)
    assert repr(t).splitlines()[0].split() == ["field", "raftlib", "etcd"]
    monkeypatch.setattr("raftlib.backends.ETCD_BINARY", "/nonexistent/etcd")
    assert not etcd_available()
    note = on_etcd(lambda make: pytest.fail("ran without etcd"))
    assert isinstance(note, EtcdMissing)
    assert "apt-get install etcd-server" in note._repr_markdown_()
    assert "not installed" in repr(note)
    assert compare(r, note) is note
    assert etcd_flag_check(50, 150) == note


@pytest.mark.etcd
def test_etcd_refuses_the_papers_exact_flags() -> None:
    if not etcd_available():
        pytest.fail(f"{ETCD_BINARY} is missing: install etcd-server")
    assert "at least as 5 times as --heartbeat-interval[50ms]" in str(etcd_flag_check(50, 150))
    assert etcd_flag_check(30, 150) == "accepted"


def test_only_tagged_cells_of_the_chapter_show_what_varies() -> None:
    # The chapter's stored outputs are compared byte for byte except in cells tagged
    # real-engine-output; a cell showing times or sizes without the tag would make the
    # notebook test fail at random, and a tag on the wrong cell would hide a real regression.
    import json

    from tests.book.notebooks import BOOK, REAL_ENGINE_TAG, real_engine_outputs

    path = BOOK / "07-real-etcd.ipynb"
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    shows_varying = [i for i, c in enumerate(cells) if c["cell_type"] == "code"
                     and any(f in "".join(c["source"]) for f in ("show_varies(",
                                                                  "plot_leader_times("))]
    tagged = [i for i, c in enumerate(cells)
              if REAL_ENGINE_TAG in c.get("metadata", {}).get("tags", [])]
    assert shows_varying and tagged == shows_varying
    assert real_engine_outputs(path) == tuple(f"/cells/{i}/outputs" for i in tagged)
