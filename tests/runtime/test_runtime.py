"""The trio runtime as real processes: the Cluster interface, faults, disks and bad clients."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from raftlib.backends import BackendError, EtcdClient, RaftlibCluster
from raftlib.backends._ports import reserve_port
from raftlib.check import History, check_durability, check_linearizability
from raftlib.kv import ErrCompacted, Indeterminate, KVError
from raftlib.runtime._member import WATCH_BUFFER

pytestmark = pytest.mark.slow


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _post(url: str, body: bytes, timeout: float = 10.0) -> tuple[int, dict[str, object]]:
    """POST ``body``; the status and the JSON answer (``{"text": ...}`` for plain text)."""
    rq = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(rq, timeout=timeout) as r:
            status, data = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, data = e.code, e.read()
    try:
        return status, json.loads(data)
    except ValueError:
        return status, {"text": data.decode(errors="replace")}


def _wait_for(cond, timeout: float = 15.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RaftlibCluster]:
    with RaftlibCluster(3) as c:
        yield c


def test_a_cluster_elects_one_leader_and_every_member_serves_writes(
        cluster: RaftlibCluster) -> None:
    lead = cluster.leader()
    assert lead in cluster.members
    for m in cluster.members:
        cluster.client(m).put(b"from", f"member {m}".encode())
        assert cluster.client(m).get(b"from").kvs[0].value == f"member {m}".encode()
    st = cluster.status()
    assert [s.role for s in st.values()].count("leader") == 1
    assert len({s.term for s in st.values()}) == 1


def test_writes_through_a_follower_are_applied_everywhere(cluster: RaftlibCluster) -> None:
    lead = cluster.leader()
    follower = next(m for m in cluster.members if m != lead)
    r = cluster.client(follower).put(b"via-follower", b"1")
    _wait_for(lambda: all(cluster.client(m).get(b"via-follower", serializable=True).kvs
                          for m in cluster.members), what="the write on every member")
    for m in cluster.members:
        kv = cluster.client(m).get(b"via-follower", serializable=True).kvs[0]
        assert kv.mod_revision == r.header_revision


def test_history_compaction_and_errors_follow_etcd(cluster: RaftlibCluster) -> None:
    c = cluster.client()
    first = c.put(b"h", b"v1").header_revision
    c.put(b"h", b"v2")
    assert c.get(b"h", revision=first).kvs[0].value == b"v1"
    c.compact(first + 1)
    with pytest.raises(ErrCompacted):
        c.get(b"h", revision=first)


def test_watch_from_an_old_revision_replays_then_follows(cluster: RaftlibCluster) -> None:
    c = cluster.client()
    start = c.put(b"w/a", b"1").header_revision
    c.put(b"w/b", b"2")
    w = c.watch(b"w/", b"w0", start_revision=start)
    c.put(b"w/c", b"3")
    seen: list[bytes] = []

    def got() -> bool:
        for r in w.take():
            seen.extend(e.kv.key for e in r.events)
        return len(seen) >= 3

    _wait_for(got, what="three watch events")
    assert seen == [b"w/a", b"w/b", b"w/c"]


def test_etcd3gw_from_pypi_talks_to_the_runtime(cluster: RaftlibCluster) -> None:
    import etcd3gw

    host, port = cluster.endpoint(1).split("://")[1].split(":")
    client = etcd3gw.client(host=host, port=int(port))
    assert client.put("gw-key", "gw-value")
    assert client.get("gw-key") == [b"gw-value"]
    client.put("gw-dir/1", "a")
    client.put("gw-dir/2", "b")
    by_key = {meta["key"]: value for value, meta in client.get_prefix("gw-dir/")}
    assert by_key == {b"gw-dir/1": b"a", b"gw-dir/2": b"b"}
    assert client.replace("gw-dir/1", "a", "a2")
    assert not client.replace("gw-dir/1", "a", "a3")
    assert client.get("gw-dir/1") == [b"a2"]
    assert client.delete("gw-key")
    assert client.get("gw-key") == []
    assert client.status()["leader"]
    assert len(client.members()) == 3
    events = []

    def watch_one() -> None:
        events.append(client.watch_once("gw-watched", timeout=10))

    t = threading.Thread(target=watch_one)
    t.start()
    _wait_for(lambda: t.is_alive(), 5, "the watch to start")
    time.sleep(0.3)  # the watch request must reach the member before the put
    client.put("gw-watched", "seen")
    t.join(15)
    assert events and events[0]["kv"]["value"] == b"seen"


def test_many_concurrent_puts_share_fsyncs(cluster: RaftlibCluster) -> None:
    lead = cluster.leader()
    assert lead is not None
    before = cluster.metrics(lead)["wal_syncs"]
    n = 200

    def put(i: int) -> None:
        cluster.client(lead).put(f"batch/{i % 50}".encode(), b"x" * 100)

    threads = [threading.Thread(target=lambda k=k: [put(k * 10 + j) for j in range(10)])
               for k in range(n // 10)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    syncs = cluster.metrics(lead)["wal_syncs"] - before
    assert 0 < syncs < n, f"{syncs} fsyncs for {n} puts: no batching"


def test_a_lagging_member_catches_up_from_a_snapshot_and_defrag_shrinks_the_file() -> None:
    with RaftlibCluster(3, heartbeat_ms=50, election_timeout_ms=500, snapshot_count=40) as c:
        lead = c.leader()
        assert lead is not None
        lagging = next(m for m in c.members if m != lead)
        c.crash(lagging)
        cl = c.client(lead)
        for i in range(150):
            cl.put(f"s/{i}".encode(), b"v" * 2000)
        assert c.metrics(lead)["snapshot_index"] > 0, "the leader never took a snapshot"
        c.restart(lagging)
        _wait_for(lambda: c.client(lagging).get(b"s/149", serializable=True).kvs != (), 15,
                  "the lagging member to install the snapshot")
        assert c.metrics(lagging)["snapshot_index"] > 0
        assert c.client(lagging).get(b"s/", b"s0", serializable=True).count == 150
        cl.delete(b"s/", b"s0")
        cl.compact(cl.get(b"s/0").header_revision)
        before = c.status()[lead].db_size
        cl.defragment(lead)
        after = c.status()[lead].db_size
        assert after < before / 2, (before, after)


def test_a_watch_whose_client_went_away_is_cancelled() -> None:
    with RaftlibCluster(1) as c:  # its own cluster: no other test's watchers
        port = int(c.endpoint(1).rsplit(":", 1)[1])
        body = json.dumps({"create_request": {"key": _b64(b"quiet")}}).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"POST /v3/watch HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                      b"%s" % (len(body), body))
            got = b""
            while b'"created":true' not in got:  # the head and the first line may be split
                data = s.recv(4096)
                assert data, got
                got += data
            assert c.metrics(1)["watchers"] == 1
        # No event ever comes for "quiet": only the closed connection can end the watch.
        _wait_for(lambda: c.metrics(1)["watchers"] == 0, 5, "the watch to end")


def test_a_member_of_another_cluster_is_refused(cluster: RaftlibCluster,
                                                tmp_path: Path) -> None:
    from raftlib.runtime import MemberSpec, member_command

    target = cluster.members[0]
    peer = cluster._member(target).peer_url.split("://")[1]
    host, port = peer.rsplit(":", 1)
    spec = MemberSpec(9, str(tmp_path / "stranger"),
                      {9: ("127.0.0.1", reserve_port()), target: (host, int(port))},
                      ("127.0.0.1", reserve_port()), "another-cluster")
    with open(tmp_path / "stranger.log", "wb") as log:
        p = subprocess.Popen(member_command(spec), stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_for(lambda: "refusing member 9 of another cluster" in cluster.logs(target),
                      15, "member 1 to refuse the stranger")
        finally:
            p.kill()
            p.wait()
    assert 9 not in cluster.status()
    cluster.client(target).put(b"after-stranger", b"ok")


def test_members_bind_loopback_only(cluster: RaftlibCluster) -> None:
    port = int(cluster.endpoint(1).rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    # 127.0.0.2 is loopback too on Linux, but a socket bound to 127.0.0.1 does not answer it.
    with pytest.raises(OSError), socket.create_connection(("127.0.0.2", port), timeout=2):
        pass


def test_a_partitioned_leader_loses_its_place_and_the_majority_goes_on() -> None:
    with RaftlibCluster(3, heartbeat_ms=50, election_timeout_ms=500) as c:
        old = c.leader()
        assert old is not None
        c.isolate(old)
        _wait_for(lambda: (lead := c.leader()) is not None and lead != old, 10,
                  "a new leader in the majority")
        other = next(m for m in c.members if m != old)
        c.client(other).put(b"majority", b"yes")
        with pytest.raises(Indeterminate):
            EtcdClient(c, old, timeout=1.5).put(b"minority", b"no")
        # The minority side cannot commit anything: the majority never sees the write.
        assert c.client(other).get(b"minority").kvs == ()
        c.heal()
        _wait_for(lambda: c.client(old).get(b"majority", serializable=True).kvs != (), 10,
                  "the old leader to catch up")
        # Its outcome was indeterminate: the old member may propose it again once it knows
        # the new leader. Either way every member ends up agreeing.
        _wait_for(lambda: c.metrics(old)["pending_writes"] == 0
                  and len({s.revision for s in c.status().values()}) == 1, 15,
                  "the old member's write to settle and every member at one revision")
        seen = {m: c.client(m).get(b"minority", serializable=True).kvs for m in c.members}
        assert len({repr(v) for v in seen.values()}) == 1, seen


def test_membership_learner_promote_remove_and_move_leader() -> None:
    with RaftlibCluster(3, heartbeat_ms=50, election_timeout_ms=500) as c:
        c.client().put(b"before", b"join")
        new = c.client().member_add(learner=True)
        assert new == 4
        _wait_for(lambda: c.client(new).get(b"before", serializable=True).kvs != (), 15,
                  "the learner to catch up")
        assert c.status()[new].learner
        c.client().member_promote(new)
        _wait_for(lambda: not c.status()[new].learner, 10, "the promotion")
        c.client().move_leader(new)
        _wait_for(lambda: c.leader() == new, 10, "leadership on the new member")
        c.client(new).member_remove(1)
        _wait_for(lambda: not c.status()[1].up, 10, "the removed member to stop")
        c.client(2).put(b"after", b"remove")
        assert c.client(new).get(b"after").kvs[0].value == b"remove"


# --------------------------------------------------------------------- crashes and disks

def _worker(c: RaftlibCluster, h: History, cid: int, keys: list[bytes],
            stop: threading.Event, rng: random.Random) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        key = rng.choice(keys)
        member = rng.choice(c.members)
        if c.pid(member) is None:
            time.sleep(0.01)
            continue
        client = EtcdClient(c, member, timeout=3.0)
        t0 = time.monotonic()
        try:
            if rng.random() < 0.6:
                value = f"c{cid}-{n}".encode()
                try:
                    client.put(key, value)
                    h.record(cid, key, "put", t0, time.monotonic(), value=value)
                except Indeterminate:
                    h.record(cid, key, "put", t0, None, value=value)
            else:
                kvs = client.get(key).kvs
                h.record(cid, key, "get", t0, time.monotonic(),
                         output=kvs[0].value if kvs else None)
        except KVError:
            pass  # certainly failed (e.g. the attached member is down): no effect


def test_kill_9_under_load_loses_no_acknowledged_write_and_stays_linearizable() -> None:
    rng = random.Random(7)
    keys = [f"k{i}".encode() for i in range(6)]
    h = History()
    with RaftlibCluster(3, heartbeat_ms=50, election_timeout_ms=500) as c:
        stop = threading.Event()
        workers = [threading.Thread(target=_worker, args=(c, h, i, keys, stop,
                                                          random.Random(100 + i)))
                   for i in range(4)]
        for w in workers:
            w.start()
        killed_leader = 0
        try:
            for cycle in range(8):
                time.sleep(0.4)
                victim = c.leader() if cycle % 2 == 0 else rng.choice(c.members)
                if victim is None:
                    victim = rng.choice(c.members)
                killed_leader += victim == c.leader()
                c.crash(victim)
                time.sleep(0.6)
                c.restart(victim)
        finally:
            stop.set()
            for w in workers:
                w.join()
        _wait_for(lambda: c.leader() is not None, 10, "a leader after the last restart")
        final = {k: (kv[0].value if (kv := c.client().get(k).kvs) else None) for k in keys}
    acked = [op for op in h.ops if op.kind == "put" and op.returned is not None]
    assert killed_leader >= 3
    assert len(acked) > 50, "the load was too light to mean anything"
    dur = check_durability(h.ops, final)
    assert dur.ok, dur.explain()
    lin = check_linearizability(h.ops)
    assert lin.ok, lin.explain()


def _segments(c: RaftlibCluster, member: int) -> list[str]:
    d = os.path.join(c.dir, f"n{member}", "data", "wal")
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.startswith("wal-"))


def test_a_torn_wal_tail_is_cut_and_the_member_comes_back() -> None:
    with RaftlibCluster(3, heartbeat_ms=50, election_timeout_ms=500) as c:
        for i in range(20):
            c.client().put(b"t", str(i).encode())
        victim = next(m for m in c.members if m != c.leader())
        c.crash(victim)
        seg = _segments(c, victim)[-1]
        with open(seg, "ab") as f:  # half a record: a length that promises more than follows
            f.write((1000).to_bytes(4, "big") + b"\x01\x02\x03")
        c.restart(victim)
        assert "torn tail" in c.logs(victim)
        _wait_for(lambda: c.client(victim).get(b"t", serializable=True).kvs[0].value == b"19",
                  10, "the restarted member to have every write")


def test_a_corrupted_wal_record_stops_the_member_with_the_file_and_offset() -> None:
    with RaftlibCluster(3, heartbeat_ms=50, election_timeout_ms=500) as c:
        for i in range(20):
            c.client().put(b"c", str(i).encode())
        victim = next(m for m in c.members if m != c.leader())
        c.crash(victim)
        seg = _segments(c, victim)[-1]
        size = os.path.getsize(seg)
        with open(seg, "r+b") as f:
            f.seek(size // 2)
            byte = f.read(1)
            f.seek(size // 2)
            f.write(bytes([byte[0] ^ 0xFF]))
        with pytest.raises(BackendError) as err:
            c.restart(victim)
        assert "exited with 1" in str(err.value)
        assert f"{seg} at byte " in str(err.value)
        assert "checksum mismatch" in str(err.value)
        # The others go on without it.
        c.client(next(m for m in c.members if m != victim)).put(b"c", b"still")


def test_a_damaged_length_in_synced_wal_data_stops_the_member_instead_of_losing_writes() -> None:
    """A length field in the middle of the log pointing past the end of the file once passed
    for a torn tail: the member cut there and came back without half its acknowledged
    writes. Now it refuses to start, and `raftlib wal repair` says what a cut would drop."""
    with RaftlibCluster(3, heartbeat_ms=50, election_timeout_ms=500) as c:
        for i in range(40):
            c.client().put(b"d", str(i).encode())
        victim = next(m for m in c.members if m != c.leader())
        c.crash(victim)
        seg = _segments(c, victim)[-1]
        data = bytearray(Path(seg).read_bytes())
        off = 0  # walk to the record in the middle and break its length field
        while off < len(data) // 2:
            off += 9 + int.from_bytes(data[off:off + 4], "little")
        data[off:off + 4] = (0xFFFF_FFF0).to_bytes(4, "little")
        Path(seg).write_bytes(data)
        with pytest.raises(BackendError) as err:
            c.restart(victim)
        assert f"{seg} at byte {off}" in str(err.value) and "fsynced" in str(err.value)
        assert Path(seg).read_bytes() == bytes(data)
        r = subprocess.run([str(Path(sys.executable).parent / "raftlib"), "wal", "repair",
                            str(Path(seg).parent)], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "had been fsynced" in r.stdout and "--yes" in r.stdout


# --------------------------------------------------------------------- bad clients

_BAD_BODIES = [
    b"", b"{", b"[]", b"null", b'"x"', b"{}", b'{"key": 5}', b'{"key": "***"}',
    b'{"key": "a2V5", "value": {"x": 1}}', b'{"key": "a2V5", "prev_kv": "yes"}',
    b'{"key": "a2V5", "revision": "ten"}', b'{"key": "a2V5", "limit": -1e400}',
    b'{"key": "a2V5", "sort_order": "SIDEWAYS"}', b'{"compare": [{"target": 99}]}',
    b'{"success": [{"request_put": 3}]}', b"\xff\xfe\x00garbage",
    b'{"key": "' + b"A" * 5000 + b'"}',
]
_PATHS = ["kv/put", "kv/range", "kv/deleterange", "kv/txn", "kv/compaction", "watch",
          "maintenance/alarm", "cluster/member/add", "cluster/member/remove",
          "cluster/member/promote", "maintenance/transfer-leadership", "no/such/path"]


def test_bad_requests_get_etcd_errors_and_the_server_stays_up_and_loses_nothing(
        cluster: RaftlibCluster) -> None:
    c = cluster.client()
    c.put(b"keep", b"safe")
    base = cluster.endpoint(1) + "/v3/"
    rng = random.Random(3)
    bodies = list(_BAD_BODIES)
    for _ in range(60):  # random bytes and random JSON-ish noise
        n = rng.randint(0, 200)
        bodies.append(bytes(rng.randint(0, 255) for _ in range(n)))
        bodies.append(json.dumps({rng.choice(["key", "range_end", "value", "revision",
                                              "limit", "ID", "action", "targetID"]):
                                  rng.choice([None, -1, 2**70, "", "%%", [], {}, True])}
                                 ).encode())
    answered = 0
    for path in _PATHS:
        for body in bodies:
            # A watch body that parses streams until the client leaves, as in etcd (even one
            # holding no request): only a refusal answers at once.
            with contextlib.suppress(TimeoutError):
                status, reply = _post(base + path, body, timeout=1 if path == "watch" else 10)
                answered += 1
                if path == "no/such/path":
                    assert (status, reply) == (404, {"text": "Not Found\n"})
                elif status != 200:
                    assert 400 <= status < 600
                    assert "message" in reply or "error" in reply, (path, body, reply)
    assert answered > 1000
    huge = json.dumps({"key": _b64(b"big"), "value": _b64(b"x" * (1536 * 1024 + 1))}).encode()
    status, reply = _post(base + "kv/put", huge)
    assert status == 400 and "too large" in str(reply.get("message", reply))
    status, reply = _post(base + "kv/range", json.dumps(
        {"key": _b64(b"\0"), "range_end": _b64(b"\0"), "limit": "1000000000"}).encode())
    assert status == 200
    # Still up, still holding what it held, still taking writes.
    assert c.get(b"keep").kvs[0].value == b"safe"
    c.put(b"after-fuzz", b"ok")
    assert c.get(b"after-fuzz").kvs[0].value == b"ok"


def test_the_curl_examples_of_etcds_docs_work(cluster: RaftlibCluster) -> None:
    """etcd's gRPC-gateway guide drives etcd with curl; the same commands work here."""
    url = cluster.endpoint(1)

    def curl(path: str, body: str) -> dict[str, object]:
        # -d @- reads the body from stdin (a large body does not fit on a command line).
        out = subprocess.run(["curl", "-sS", "-L", f"{url}{path}", "-X", "POST", "-d", "@-"],
                             input=body.encode(), capture_output=True, check=True, timeout=20)
        return json.loads(out.stdout.splitlines()[0])

    put = curl("/v3/kv/put", '{"key": "Zm9v", "value": "YmFy"}')
    assert int(put["header"]["revision"]) > 1  # type: ignore[index]
    got = curl("/v3/kv/range", '{"key": "Zm9v"}')
    assert got["kvs"][0]["value"] == "YmFy"  # type: ignore[index]
    # A 200 KB body: curl asks "Expect: 100-continue" first and waits for the answer.
    big = _b64(b"v" * 200_000)
    curl("/v3/kv/put", json.dumps({"key": _b64(b"big"), "value": big}))
    assert cluster.client().get(b"big").kvs[0].value == b"v" * 200_000
    # A watch stream, cut after its first event by --max-time.
    watcher = subprocess.Popen(
        ["curl", "-sS", "-N", f"{url}/v3/watch", "-X", "POST", "--max-time", "5",
         "-d", '{"create_request": {"key": "Zm9v"}}'], stdout=subprocess.PIPE)
    time.sleep(0.5)
    curl("/v3/kv/put", '{"key": "Zm9v", "value": "YmF6"}')
    out, _ = watcher.communicate(timeout=10)
    lines = [json.loads(x) for x in out.splitlines()]
    assert lines[0]["result"]["created"] is True
    assert lines[1]["result"]["events"][0]["kv"]["value"] == "YmF6"


@pytest.mark.etcd
@pytest.mark.parametrize("engine", ["raftlib", "etcd"])
def test_an_alarm_shows_in_health_and_status_as_etcd_shows_it(engine: str) -> None:
    """While NOSPACE is raised, /health answers 503 {"health":"false"} and the status lists
    the alarm in ``errors``; after the recovery both are clean again."""
    from raftlib.backends import EtcdCluster
    from raftlib.kv import ErrNoSpace

    make = RaftlibCluster if engine == "raftlib" else EtcdCluster
    with make(1, heartbeat_ms=50, election_timeout_ms=500,
              quota_backend_bytes=256 * 1024) as c:
        url = c.endpoint(1)
        cl = c.client(1)

        def health() -> tuple[int, object]:
            try:
                with urllib.request.urlopen(url + "/health", timeout=5) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        assert health() == (200, {"health": "true"})
        assert "errors" not in _post(url + "/v3/maintenance/status", b"{}")[1]
        with pytest.raises(ErrNoSpace):
            for i in range(100):
                cl.put(b"k", bytes([i]) * 32 * 1024)
        # The alarm goes through the log: the member that refused the put may apply it later.
        _wait_for(lambda: health()[0] == 503, 5, "the alarm to be applied")
        assert health() == (503, {"health": "false"})
        errors = _post(url + "/v3/maintenance/status", b"{}")[1]["errors"]
        assert errors == [f"memberID:{c.etcd_id(1)} alarm:NOSPACE "]
        cl.compact(cl.get(b"k").header_revision)
        cl.defragment(1)
        cl.disarm()
        _wait_for(lambda: health()[0] == 200, 5, "the disarm to be applied")
        assert health() == (200, {"health": "true"})
        assert "errors" not in _post(url + "/v3/maintenance/status", b"{}")[1]


def _open_watch(port: int, key: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    body = json.dumps({"create_request": {"key": _b64(key),
                                          "range_end": _b64(key[:-1] + b"0")}}).encode()
    s.sendall(b"POST /v3/watch HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
              % (len(body), body))
    return s


def test_the_collector_leaves_a_members_state_alone() -> None:
    """A member's stored state is long-lived and has no cycles: with CPython's default
    thresholds the collector rescanned it in hundreds of collections, some full (pauses of
    50 to 100 ms under load). Paced (``GcPauses``), 3,000 puts cost a few young collections
    and no full one, and the metrics say so."""
    with RaftlibCluster(1, heartbeat_ms=50, election_timeout_ms=500) as c:
        cl = c.client(1)
        for i in range(3000):
            cl.put(b"gc/%05d" % i, b"v" * 100)
        with urllib.request.urlopen(c.endpoint(1) + "/raftlib/metrics", timeout=5) as r:
            m = json.loads(r.read())
    assert m["gc_full_collections"] == 0, m
    assert 0 < m["gc_collections"] <= 10, m
    assert 0 < m["gc_longest_pause_us"] < 1_000_000, m


def test_watch_streams_that_never_read_do_not_grow_the_member() -> None:
    """Three watch streams whose clients never read, while 30 MB of writes flow, once took a
    member from 40 MB to 124 MB: the responses queued without bound. Now each watcher holds at
    most etcd's 128; one that falls behind is moved aside and caught up from the store once
    its client reads again, missing nothing; and nothing is held once the streams close."""
    writes, size = 3000, 10_000
    with RaftlibCluster(1, heartbeat_ms=50, election_timeout_ms=500, snapshot_count=500) as c:
        port = int(c.endpoint(1).rsplit(":", 1)[1])
        cl = c.client(1)

        def metrics() -> dict[str, int]:
            url = c.endpoint(1) + "/raftlib/metrics"
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.loads(r.read())  # type: ignore[no-any-return]

        streams = [_open_watch(port, b"w/") for _ in range(3)]
        _wait_for(lambda: metrics()["watchers"] == 3, what="three watchers")
        for i in range(writes):
            cl.put(b"w/%05d" % i, bytes([i % 251]) * size)
        held = metrics()["watch_pending"]
        assert held <= 3 * WATCH_BUFFER, f"{held} responses queued for stalled clients"
        # The first stream's client reads at last: every write, once, in order.
        got: list[int] = []
        tail = b""  # what may hold the start of a match cut by the end of a read
        s = streams[0]
        s.settimeout(30)
        while len(got) < writes:
            chunk = s.recv(1 << 20)
            assert chunk, f"stream ended after {len(got)} events"
            data, last = tail + chunk, 0
            for m in re.finditer(rb'"mod_revision":"(\d+)"', data):
                got.append(int(m[1]))
                last = m.end()
            tail = data[last:][-200:]
        assert got == sorted(got) and len(set(got)) == writes
        for st_ in streams:
            st_.close()
        _wait_for(lambda: (m := metrics())["watchers"] == 0 and m["watch_pending"] == 0,
                  what="the closed streams' watchers to go")
