"""Answers a client can see, compared field by field with a real etcd 3.4 started by the test:
the raft term of a fresh cluster, move-leader to a member that does not exist, paths etcd 3.4's
gateway does not serve, and a membership change sent to a follower."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from raftlib.backends import EtcdCluster, ProcessCluster, RaftlibCluster

ENGINES = [pytest.param(EtcdCluster, marks=pytest.mark.etcd, id="etcd"),
           pytest.param(RaftlibCluster, id="raftlib")]


def _call(endpoint: str, path: str, body: object = None, method: str = "POST",
          ) -> tuple[int, bytes]:
    url = urlsplit(endpoint)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        conn.request(method, path, json.dumps(body or {}).encode(),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


@pytest.fixture(scope="module", params=ENGINES)
def cluster(request: pytest.FixtureRequest) -> Iterator[ProcessCluster]:
    with request.param(3) as c:
        deadline = time.monotonic() + 30
        while c.leader() is None and time.monotonic() < deadline:
            c.wait(50)
        yield c


def test_a_fresh_cluster_leads_in_term_2(cluster: ProcessCluster) -> None:
    # etcd bootstraps a new cluster at term 1 (raft.Bootstrap), so its first leader has term 2.
    lead = cluster.leader()
    assert lead is not None
    _, body = _call(cluster.endpoint(lead), "/v3/kv/range", {"key": "YQ=="})
    assert json.loads(body)["header"]["raft_term"] == "2"


def test_move_leader_to_a_member_that_does_not_exist(cluster: ProcessCluster) -> None:
    lead = cluster.leader()
    assert lead is not None
    assert _call(cluster.endpoint(lead), "/v3/maintenance/transfer-leadership",
                 {"targetID": 12345}) == (412, b'{"error":"etcdserver: bad leader transferee",'
                                               b'"message":"etcdserver: bad leader transferee",'
                                               b'"code":9}')


@pytest.mark.parametrize(("method", "path", "answer"), [
    ("POST", "/v3alpha/kv/range", (404, b"404 page not found\n")),  # not served by 3.4
    ("POST", "/v3beta/kv/range", None),  # served, like /v3/
    ("POST", "/v3/kv/nope", (404, b"Not Found\n")),
    ("POST", "/nope", (404, b"404 page not found\n")),
    ("GET", "/nope", (404, b"404 page not found\n")),
    ("GET", "/v3/kv/range", (405, b"Method Not Allowed\n")),
])
def test_paths_are_answered_as_etcd_answers_them(cluster: ProcessCluster, method: str,
                                                 path: str, answer: object) -> None:
    got = _call(cluster.endpoint(cluster.members[0]), path, {"key": "YQ=="}, method)
    if answer is None:
        assert got[0] == 200 and b'"header"' in got[1]
    else:
        assert got == answer


def test_a_member_added_through_a_follower_is_answered_by_that_follower(
        cluster: ProcessCluster) -> None:
    lead = cluster.leader()
    follower = min(m for m in cluster.members if m != lead)
    time.sleep(5.5)  # etcd's strict reconfig check wants every voter connected for 5 s
    status, body = _call(cluster.endpoint(follower), "/v3/cluster/member/add",
                         {"peerURLs": ["http://127.0.0.1:9"], "isLearner": True})
    assert status == 200, body
    assert json.loads(body)["header"]["member_id"] == str(cluster.etcd_id(follower))


@pytest.mark.parametrize("make", ENGINES)
def test_strict_reconfig_check_refuses_adds_until_every_voter_is_back_for_5_s(
        make: type[ProcessCluster]) -> None:
    """etcd 3.4's --strict-reconfig-check (on by default): with a voter down, adding a voter
    or a learner is refused as an unhealthy cluster; once it is back, after 5 s."""
    with make(3) as c:
        deadline = time.monotonic() + 30
        while c.leader() is None and time.monotonic() < deadline:
            c.wait(50)
        lead = c.leader()
        assert lead is not None
        down = max(m for m in c.members if m != lead)
        c.crash(down)
        refused = (503, b'{"error":"etcdserver: unhealthy cluster","message":"etcdserver: '
                        b'unhealthy cluster","code":14}')
        for learner in (False, True):
            assert _call(c.endpoint(lead), "/v3/cluster/member/add",
                         {"peerURLs": ["http://127.0.0.1:9"], "isLearner": learner}) == refused
        c.restart(down)
        t0 = time.monotonic()
        while True:
            status, body = _call(c.endpoint(lead), "/v3/cluster/member/add",
                                 {"peerURLs": ["http://127.0.0.1:9"], "isLearner": True})
            if status == 200:
                break
            assert (status, body) == refused
            assert time.monotonic() - t0 < 15
            time.sleep(0.2)
        assert time.monotonic() - t0 >= 4.5
