"""Watch streams as a client sees them through the gateway (``POST /v3/watch``, a stream of
JSON lines), compared line by line with a real etcd 3.4 started by the test: a replay batched
in whole revisions up to 1,000 a response, the answers to every request of a stream (create,
cancel, progress, refused creates), periodic progress notifications, fragments of a large
response, and the cancellation of a watch whose start revision was compacted. Only the
cluster and member ids, which differ by nature, are left out of the comparison."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from raftlib.backends import EtcdCluster, ProcessCluster, RaftlibCluster
from raftlib.gateway import EtcdGateway
from raftlib.kv import Event, KeyValue, PutRequest, TxnRequest, pb_size
from raftlib.runtime import MemberSpec, member_command
from raftlib.runtime._member import _parse
from raftlib.runtime._watchstream import MAX_RESPONSE_BYTES, fragments

pytestmark = pytest.mark.etcd

NOTIFY_MS = 500  # the progress notification interval both engines are started with
Json = dict[str, Any]


def b64(s: bytes) -> str:
    return base64.b64encode(s).decode()


class Pair:
    """A one-member real etcd and a one-member raftlib cluster, fed the same writes."""

    def __init__(self) -> None:
        self.clusters: list[ProcessCluster] = []
        for make in (EtcdCluster, RaftlibCluster):
            self.clusters.append(make(1, watch_progress_notify_ms=NOTIFY_MS))
        self.endpoints = [c.endpoint(1) for c in self.clusters]

    def apply(self, req: PutRequest | TxnRequest) -> None:
        revs = {EtcdGateway(ep).apply(req).header_revision for ep in self.endpoints}
        assert len(revs) == 1, revs

    def compact(self, revision: int) -> None:
        for ep in self.endpoints:
            EtcdGateway(ep).call("kv/compaction", {"revision": str(revision),
                                                   "physical": True})

    def close(self) -> None:
        for c in self.clusters:
            c.close()


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    p = Pair()
    try:
        yield p
    finally:
        p.close()


def _normalise(line: Json) -> Json:
    h = line.get("result", {}).get("header")
    if h is not None:
        h.pop("cluster_id", None)
        h.pop("member_id", None)
    return line


class Stream:
    """One ``POST /v3/watch`` with ``requests`` as its body, read line by line. A plain socket
    with a chunked-body decoder: it can be read again after a read timed out."""

    def __init__(self, endpoint: str, requests: list[Json]) -> None:
        u = urlsplit(endpoint)
        body = "".join(json.dumps(r) for r in requests).encode()
        self.sock = socket.create_connection((u.hostname or "", u.port or 0), timeout=10)
        self.sock.sendall(b"POST /v3/watch HTTP/1.1\r\nHost: x\r\nContent-Type: "
                          b"application/json\r\nContent-Length: %d\r\n\r\n%s"
                          % (len(body), body))
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 ") and b"chunked" in head.lower(), head
        self.body = b""  # decoded body not yet returned as lines

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def _decode(self) -> None:
        while b"\r\n" in self.buf:
            size_line, rest = self.buf.split(b"\r\n", 1)
            size = int(size_line, 16)
            if len(rest) < size + 2:
                return
            self.body += rest[:size]
            self.buf = rest[size + 2:]

    def lines(self, quiet: float, within: float = 10.0) -> list[Json]:
        """The lines that come until none came for ``quiet`` seconds, or ``within`` seconds
        passed."""
        deadline = time.monotonic() + within
        out: list[Json] = []
        while True:
            self._decode()
            while b"\n" in self.body:
                line, self.body = self.body.split(b"\n", 1)
                out.append(_normalise(json.loads(line)))
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            self.sock.settimeout(min(quiet, left))
            try:
                self._more()
            except (TimeoutError, EOFError):
                return out

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def streams(pair: Pair, requests: list[Json]) -> Iterator[list[Stream]]:
    """The same stream opened on each engine, etcd's first."""
    out = [Stream(ep, requests) for ep in pair.endpoints]
    try:
        yield out
    finally:
        for s in out:
            s.close()


def both(pair: Pair, requests: list[Json], quiet: float = 0.6) -> list[list[Json]]:
    """Each engine's lines for the same stream, etcd's first (read one after the other, so
    the raftlib stream has been open longer when it is read)."""
    with streams(pair, requests) as ss:
        return [s.lines(quiet) for s in ss]


def create(key: bytes, **fields: Any) -> Json:
    return {"create_request": {"key": b64(key), **fields}}


def _revs(line: Json) -> list[int]:
    return [int(e["kv"]["mod_revision"]) for e in line["result"].get("events", [])]


def test_a_replay_comes_in_batches_of_whole_revisions(pair: Pair) -> None:
    """etcd replays history in responses of up to 1,000 revisions (watchBatchMaxRevs), each
    headed by its current revision; the events of one revision are never split."""
    pair.apply(TxnRequest((), (PutRequest(b"r/1", b"t"), PutRequest(b"r/2", b"t"))))
    start = 2
    for i in range(1003):
        pair.apply(PutRequest(b"r/%d" % (i % 3), b"%d" % i))
    theirs, ours = both(pair, [create(b"r/", range_end=b64(b"r0"), start_revision=str(start))],
                        quiet=1.5)
    assert ours == theirs
    replay = theirs[1:]
    assert [len(set(_revs(r))) for r in replay] == [1000, 4]
    assert _revs(replay[0])[:2] == [start, start]  # the transaction's two events together
    assert len({r["result"]["header"]["revision"] for r in replay}) == 1


def test_every_request_of_a_stream_is_answered_in_order(pair: Pair) -> None:
    """Creates (ids 0, 1, ...), a cancel (an unknown id: no answer), a progress request
    (watch id -1, the current revision, answered before the replay as etcd 3.4 answers it),
    then the replay of the watch that is left."""
    pair.apply(PutRequest(b"s", b"1"))
    pair.apply(PutRequest(b"s", b"2"))
    rev = int(EtcdGateway(pair.endpoints[0]).call("kv/range", {"key": b64(b"s")})
              ["header"]["revision"])
    requests = [create(b"s", start_revision=str(rev - 1)), create(b"s", prev_kv=True),
                {"cancel_request": {"watch_id": "1"}}, {"progress_request": {}},
                {"cancel_request": {"watch_id": "9"}}]
    theirs, ours = both(pair, requests)
    assert ours == theirs
    assert [r["result"].get("watch_id") for r in theirs] == [None, "1", "1", "-1", None]
    assert _revs(theirs[-1]) == [rev - 1, rev]


def test_refused_creates_are_answered_as_etcd_answers_them(pair: Pair) -> None:
    """An empty range and a duplicate id: created and cancelled at once, watch id -1, with
    etcd's reason; an id asked for is kept, and automatic ids skip it."""
    requests = [create(b"b", range_end=b64(b"a")), create(b"a", range_end=b64(b"a")),
                create(b"a", watch_id="1"), create(b"a", watch_id="1"), create(b"a"),
                create(b"a"), create(b"a"), {"progress_request": {}}]
    theirs, ours = both(pair, requests)
    assert ours == theirs
    assert [r["result"].get("cancel_reason") for r in theirs[:4]] == [
        "mvcc: watcher range is empty", "mvcc: watcher range is empty", None,
        "mvcc: duplicate watch ID provided on the WatchStream"]
    assert [r["result"].get("watch_id") for r in theirs[4:7]] == [None, "2", "3"]


def test_progress_notifications_go_to_idle_watches_that_asked(pair: Pair) -> None:
    """With progress_notify, an idle watch gets its header revision and no events every
    interval; one without it, nothing."""
    requests = [create(b"idle", progress_notify=True), create(b"idle")]
    with streams(pair, requests) as ss:
        time.sleep(NOTIFY_MS / 1000 * 2.5)  # both streams open for the same time
        got = [s.lines(quiet=0.1, within=0.5) for s in ss]
    theirs, ours = got
    for lines in got:
        created, notes = lines[:2], lines[2:]
        assert [r["result"].get("created") for r in created] == [True, True]
        # Ticks at 1 to 1.1 intervals (etcd's jitter): two or three in 2.5 intervals.
        assert 2 <= len(notes) <= 3, lines
        assert all(r == notes[0] for r in notes), lines
        assert "events" not in notes[0]["result"] and "watch_id" not in notes[0]["result"]
    assert ours[:4] == theirs[:4]


def test_no_progress_notification_after_events(pair: Pair) -> None:
    """A watch that received events since the last tick gets no notification at the next
    one: with a write every fifth of the interval, none comes at all."""
    requests = [create(b"busy", progress_notify=True)]
    with streams(pair, requests) as ss:
        for _ in range(12):
            pair.apply(PutRequest(b"busy", b"x"))
            time.sleep(NOTIFY_MS / 5000)
        got = [s.lines(quiet=0.1, within=0.5) for s in ss]
    theirs, ours = got
    for lines in got:
        assert sum(len(_revs(r)) for r in lines) == 12
        # Only the notification after the last write may come (the ticks before saw events).
        assert sum(1 for r in lines[1:-1] if not _revs(r)) == 0, lines
    assert [r for r in ours if _revs(r)] == [r for r in theirs if _revs(r)]


def test_a_watch_from_a_compacted_revision_is_cancelled_as_in_etcd(pair: Pair) -> None:
    """The cancellation carries the compact revision, no header revision and no reason;
    the stream stays open and its other watches go on."""
    for i in range(3):
        pair.apply(PutRequest(b"c", b"%d" % i))
    rev = int(EtcdGateway(pair.endpoints[0]).call("kv/range", {"key": b64(b"c")})
              ["header"]["revision"])
    pair.compact(rev - 1)
    requests = [create(b"c", start_revision=str(rev - 2)), create(b"c"),
                {"progress_request": {}}]
    with streams(pair, requests) as ss:
        first = [s.lines(quiet=0.6) for s in ss]
        pair.apply(PutRequest(b"c", b"live"))
        after = [s.lines(quiet=0.6) for s in ss]
    assert first[1] == first[0]
    assert first[0][-1]["result"] == {"header": {"raft_term": "2"}, "canceled": True,
                                      "compact_revision": str(rev - 1)}
    assert after[1] == after[0]
    assert [(r["result"].get("watch_id"), _revs(r)) for r in after[0]] == [("1", [rev + 1])]


def test_the_interval_flag_takes_go_durations_as_etcd() -> None:
    spec = MemberSpec(1, "/tmp/d", {1: ("127.0.0.1", 1)}, ("127.0.0.1", 2), "t",
                      watch_progress_notify_ms=1500)
    argv = member_command(spec)
    assert argv[argv.index("--experimental-watch-progress-notify-interval") + 1] == "1500ms"
    assert _parse(argv[4:]) == spec
    base = argv[4:argv.index("--experimental-watch-progress-notify-interval")]
    assert "--experimental-watch-progress-notify-interval" not in member_command(_parse(base))
    for text, ms in (("10m", 600_000), ("1s", 1000), ("250ms", 250), ("0.5s", 500)):
        flag = ["--experimental-watch-progress-notify-interval", text]
        assert _parse([*base, *flag]).watch_progress_notify_ms == ms
    with pytest.raises(SystemExit):
        _parse([*base, "--experimental-watch-progress-notify-interval", "soon"])


def test_a_large_response_comes_in_fragments_when_asked(pair: Pair) -> None:
    """A watch created with fragment gets a response over etcd's limit (--max-request-bytes
    plus 512 KiB) in pieces, each as large as fits, all but the last marked fragment;
    without it, in one piece."""
    value = b"x" * (800 * 1024)
    for i in range(3):
        pair.apply(PutRequest(b"f/%d" % i, value))
    rev = int(EtcdGateway(pair.endpoints[0]).call("kv/range", {"key": b64(b"f/0")})
              ["header"]["revision"])
    for fragment, shape in ((True, [(True, 2), (None, 1)]), (False, [(None, 3)])):
        theirs, ours = both(pair, [create(b"f/", range_end=b64(b"f0"),
                                          start_revision=str(rev - 2),
                                          fragment=fragment)])
        assert ours == theirs
        assert [(r["result"].get("fragment"), len(_revs(r))) for r in theirs[1:]] == shape


def test_fragments_are_maximal_and_whole() -> None:
    """The cut itself: pieces in order, each below the limit unless it is one event, and
    each as large as fits (with the next event it would not)."""
    def ev(n: int, size: int) -> Event:
        return Event("PUT", KeyValue(b"k%d" % n, 2, 2 + n, 1, b"v" * size))

    assert fragments([ev(0, MAX_RESPONSE_BYTES)], 9, 0) == [(ev(0, MAX_RESPONSE_BYTES),)]
    small = [ev(i, 1000) for i in range(10)]
    assert fragments(small, 9, 0) == [tuple(small)]
    events = [ev(i, s) for i, s in enumerate([300_000, 900_000, 1_500_000, 2_500_000, 10,
                                              700_000, 700_000, 700_000, *[500_000] * 8])]
    pieces = fragments(events, 9, 3)
    assert [e for p in pieces for e in p] == events and len(pieces) > 1

    def size(evs: tuple[Event, ...]) -> int:  # protobuf's Size(): no gRPC prefix (5 bytes),
        # and the fragment flag (2 bytes)
        return pb_size("watch_events", revision=9, events=evs, watch_id=3) - 5 + 2

    for p, after in itertools.pairwise(pieces):
        assert len(p) == 1 or size(p) < MAX_RESPONSE_BYTES
        assert size((*p, after[0])) >= MAX_RESPONSE_BYTES
