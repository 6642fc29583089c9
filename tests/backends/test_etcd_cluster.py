"""EtcdCluster: the Cluster interface over three real etcd processes (etcd 3.4 on loopback)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from raftlib import Client, Cluster, MemberInfo
from raftlib.backends import ETCD_BINARY, BackendError, EtcdClient, EtcdCluster, Unsupported
from raftlib.kv import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    ErrCompacted,
    ErrStopped,
    Event,
    KVError,
    PutRequest,
    RangeRequest,
    Watcher,
)
from raftlib.sim import SimCluster

pytestmark = pytest.mark.etcd

T = TypeVar("T")
HEARTBEAT_MS, ELECTION_MS = 50, 500  # short timings keep the tests fast


def poll(what: str, f: Callable[[], T | None], timeout: float = 15.0) -> T:
    """Call ``f`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = f()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # EtcdCluster reaps its children (Popen.wait), so a PID that still answers is running.
    return True


@pytest.fixture
def cluster() -> Iterator[EtcdCluster]:
    if not os.path.exists(ETCD_BINARY):
        pytest.fail(f"{ETCD_BINARY} is missing: install Debian's etcd-server package "
                    "(apt-get install etcd-server) to run the EtcdCluster tests")
    c = EtcdCluster(3, heartbeat_ms=HEARTBEAT_MS, election_timeout_ms=ELECTION_MS)
    try:
        yield c
    finally:
        pids = c.pids()
        c.close()
        assert not [p for p in pids if alive(p)], "close() left etcd processes behind"
        assert not os.path.exists(c.dir), "close() left the data directory behind"


def test_elects_a_leader_and_serves_put_get(cluster: EtcdCluster) -> None:
    assert cluster.members == (1, 2, 3)
    lead = poll("a leader", cluster.leader)
    assert lead in cluster.members
    c = cluster.client(1)
    r = c.put(b"k", b"v1")
    assert r.header_revision == 2
    got = c.get(b"k")
    assert [(kv.key, kv.value, kv.mod_revision) for kv in got.kvs] == [(b"k", b"v1", 2)]
    # A serializable read on another member sees the write once it has applied it.
    other = cluster.client(3)
    poll("member 3 to apply", lambda: other.get(b"k", serializable=True).kvs)


def test_status_fields(cluster: EtcdCluster) -> None:
    poll("a leader", cluster.leader)
    cluster.client(1).put(b"a", b"1")
    # Every member at revision 2 and agreeing on one leader (polled: leadership may move on a
    # loaded machine).
    st = poll("every member at revision 2 under one leader", lambda: _status_if(
        cluster, lambda s: all(i.revision == 2 for i in s.values())
        and len({i.leader for i in s.values()}) == 1))
    lead = st[1].leader
    assert set(st) == {1, 2, 3} and lead in (1, 2, 3)
    for mid, info in st.items():
        assert info.id == mid and info.up and not info.paused and not info.learner
        assert info.role == ("leader" if mid == lead else "follower")
        assert info.term >= 2
        assert info.commit >= info.applied > 0
        assert info.db_size >= info.db_size_in_use > 0
        assert info.alarms == ()
    assert cluster.client(2).status().id == 2


def test_leader_crash_new_leader_and_rejoin(cluster: EtcdCluster) -> None:
    old = poll("a leader", cluster.leader)
    survivor = next(m for m in cluster.members if m != old)
    c = cluster.client(survivor)
    for i in range(5):
        c.put(f"k{i}".encode(), str(i).encode())
    pid = cluster.pid(old)
    assert pid is not None
    cluster.crash(old)
    assert not alive(pid) and cluster.pid(old) is None
    t0 = time.monotonic()
    new = poll("a new leader", lambda: _leader_other_than(cluster, old))
    assert new != old and time.monotonic() - t0 < 10
    assert cluster.status()[old].up is False
    assert cluster.status()[old].role is None
    with pytest.raises(ErrStopped):
        cluster.client(old).get(b"k0")
    # Earlier writes are still there; new writes work with two of three members.
    assert [kv.value for kv in c.get(b"k", b"l").kvs] == [b"0", b"1", b"2", b"3", b"4"]
    rev = poll("a write on the new leader", lambda: _try_put(c, b"after", b"crash"))
    cluster.restart(old)
    back = cluster.client(old)
    poll("the restarted member to catch up",
         lambda: _serial_rev(back) >= rev)
    assert back.get(b"after", serializable=True).kvs[0].value == b"crash"
    st = poll("equal revisions", lambda: _status_if(
        cluster, lambda s: len({i.revision for i in s.values()}) == 1))
    assert {i.revision for i in st.values()} == {rev}


def _status_if(cluster: EtcdCluster, ok: Callable[[dict[int, MemberInfo]], bool]
               ) -> dict[int, MemberInfo] | None:
    s = cluster.status()
    return s if ok(s) else None


def _leader_other_than(cluster: EtcdCluster, old: int) -> int | None:
    x = cluster.leader()
    return x if x not in (None, old) else None


def _try_put(c: Client, key: bytes, value: bytes) -> int | None:
    try:
        return c.put(key, value).header_revision
    except KVError:
        return None


def _serial_rev(c: Client) -> int:
    """The revision the member ``c`` is attached to has applied (read locally)."""
    try:
        return c.get(b"x", serializable=True).header_revision
    except KVError:
        return 0


def test_pause_resume(cluster: EtcdCluster) -> None:
    lead = poll("a leader", cluster.leader)
    follower = next(m for m in cluster.members if m != lead)
    cluster.pause(follower)
    info = cluster.status()[follower]
    assert info.up and info.paused and info.role is None
    # The two others still make progress.
    c = cluster.client(lead)
    rev = c.put(b"p", b"1").header_revision
    cluster.resume(follower)
    back = cluster.client(follower)
    poll("the resumed member to catch up", lambda: _serial_rev(back) >= rev)
    assert not cluster.status()[follower].paused
    # Pausing the leader makes the others elect a new one; resuming it lets it rejoin.
    cluster.pause(lead)
    other = cluster.client(follower)
    new = poll("a leader other than the paused one", lambda: _leader_other_than(cluster, lead))
    assert new != lead
    rev = poll("a write", lambda: _try_put(other, b"p", b"2"))
    cluster.resume(lead)
    poll("the old leader to catch up", lambda: _serial_rev(cluster.client(lead)) >= rev)


def test_partitions_are_not_supported(cluster: EtcdCluster) -> None:
    calls: list[Callable[[], None]] = [lambda: cluster.partition([[1], [2, 3]]),
                                       lambda: cluster.isolate(1), cluster.heal]
    for call in calls:
        with pytest.raises(BackendError, match="network namespaces") as e:
            call()
        assert isinstance(e.value, Unsupported) and isinstance(e.value, NotImplementedError)


def _scenario(cluster: Cluster) -> list[object]:
    """A short Cluster-level scenario; the observations to compare between engines."""
    c = cluster.client(1)
    out: list[object] = []
    for k in (b"a", b"b", b"c"):
        out.append(("put", k, c.put(k, k + b"1").header_revision))
    d = c.delete(b"b", prev_kv=True)
    out.append(("delete", d.header_revision, d.deleted, [kv.value for kv in d.prev_kvs]))
    t = c.txn([Compare(b"a", CompareTarget.VALUE, CompareResult.EQUAL, b"a1")],
              [PutRequest(b"a", b"a2"), DeleteRangeRequest(b"c"), RangeRequest(b"a", b"z")],
              [PutRequest(b"a", b"nope")])
    out.append(("txn", t.header_revision, t.succeeded, [type(r).__name__ for r in t.responses]))
    past = c.get(b"a", b"z", revision=4)
    out.append(("get@4", past.header_revision, past.count,
                [(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version)
                 for kv in past.kvs]))
    now = c.get(b"a", b"z")
    out.append(("get", now.header_revision,
                [(kv.key, kv.value, kv.mod_revision, kv.version) for kv in now.kvs]))
    out += [d, t, past, now]  # and the whole responses, field by field
    out.append(("compact", c.compact(5).header_revision))
    for rev in (3, 5):
        try:
            r = c.get(b"a", b"z", revision=rev)
            out.append((f"get@{rev}", r.header_revision, [kv.value for kv in r.kvs]))
        except KVError as e:
            out.append((f"get@{rev}", type(e).__name__, e.message, e.code))
    return out


def test_same_scenario_as_the_simulator(cluster: EtcdCluster) -> None:
    poll("a leader", cluster.leader)
    sim = SimCluster(3, seed=1)
    sim.wait(3000)
    assert sim.leader() is not None
    expected = _scenario(sim)
    got = _scenario(cluster)
    for e, g in zip(expected, got, strict=True):
        assert g == e
    assert ("get@3", "ErrCompacted", ErrCompacted.message, 11) in got


def test_watch_streams_events(cluster: EtcdCluster) -> None:
    poll("a leader", cluster.leader)
    c = cluster.client(2)
    c.put(b"w", b"0")
    w = c.watch(b"w", prev_kv=True)
    r1 = cluster.client(1).put(b"w", b"1").header_revision
    c.delete(b"w")
    acc: list[Event] = []
    got = poll("two watch events", lambda: _events(w, acc, 2))
    assert [(e.type, e.kv.mod_revision, e.prev_kv.value if e.prev_kv else None)
            for e in got] == [("PUT", r1, b"0"), ("DELETE", r1 + 1, b"1")]


def _events(w: Watcher, acc: list[Event], n: int) -> list[Event] | None:
    for r in w.take():
        acc.extend(r.events)
    return acc if len(acc) >= n else None


def test_member_add_promote_remove(cluster: EtcdCluster) -> None:
    lead = poll("a leader", cluster.leader)
    c = cluster.client(lead)
    rev = c.put(b"m", b"1").header_revision
    new = c.member_add(learner=True)
    assert new == 4 and cluster.members == (1, 2, 3, 4)
    learner = cluster.client(new)
    poll("the learner to catch up", lambda: _serial_rev(learner) >= rev)
    assert cluster.status()[new].learner
    poll("the promotion", lambda: _try(lambda: c.member_promote(new)))
    assert not cluster.status()[new].learner
    victim = next(m for m in (1, 2, 3) if m != lead)
    c.member_remove(victim)
    poll("member 4 to serve writes", lambda: _try_put(cluster.client(new), b"m", b"2"))


def _try(f: Callable[[], object]) -> bool:
    try:
        f()
    except KVError:
        return False
    return True


def test_failed_start_cleans_up(tmp_path: Path) -> None:
    if not os.path.exists(ETCD_BINARY):
        pytest.fail(f"{ETCD_BINARY} is missing: install etcd-server")
    with pytest.raises(BackendError, match="exited"):
        # An election timeout below 5 heartbeats is refused by etcd at start.
        EtcdCluster(3, heartbeat_ms=100, election_timeout_ms=100, data_dir=str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n1", "n2", "n3"]  # kept: not ours
    # No process is left running on that data directory.
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            assert str(tmp_path).encode() not in cmd, f"process {proc.name} left behind"


def test_context_manager_stops_everything() -> None:
    if not os.path.exists(ETCD_BINARY):
        pytest.fail(f"{ETCD_BINARY} is missing: install etcd-server")
    one = EtcdCluster(1, heartbeat_ms=HEARTBEAT_MS, election_timeout_ms=ELECTION_MS)
    with pytest.raises(RuntimeError, match="boom"), one as c:
        pids, d = c.pids(), c.dir
        c.pause(1)  # a paused member is stopped too
        raise RuntimeError("boom")
    assert not [p for p in pids if alive(p)] and not os.path.exists(d)


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_in_network_namespaces_partitions_cut_real_etcd_and_close_removes_them() -> None:
    from raftlib.backends._netns import netns_problem

    problem = netns_problem()
    if problem is not None:
        pytest.fail(f"this test partitions real etcd in network namespaces: {problem}")
    before = _namespaces()
    with EtcdCluster(3, heartbeat_ms=HEARTBEAT_MS, election_timeout_ms=ELECTION_MS,
                     netns=True) as c:
        assert len(_namespaces() - before) == 3
        assert c._netns is not None
        bridge = c._netns.bridge
        assert not c.endpoint(1).startswith("http://127.")
        c.partition([[1], [2, 3]])
        poll("a leader in the majority", lambda: c.member_status(2).leader in (2, 3))
        c.client(2).put(b"side", b"majority")
        # Member 1 is cut off: a linearizable read there cannot be confirmed.
        with pytest.raises(KVError):
            EtcdClient(c, 1, timeout=3).get(b"side")
        c.heal()
        poll("member 1 to catch up", lambda: c.client(1).get(b"side", serializable=True).kvs)
    assert _namespaces() == before
    # Only this cluster's bridge: another test's cluster may be alive at the same time.
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f" {bridge}:" not in links
