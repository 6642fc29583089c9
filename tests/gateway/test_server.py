"""raftlib.gateway's server side against etcd 3.4's own JSON gateway.

The etcd tests send the same raw bodies to a real etcd and to an MVCCStore driven through the
translation functions (a "twin": every write goes to both, so revisions stay in step), and
compare the JSON bodies exactly once the header ids and Raft term are normalised. The unit
tests at the top need no etcd: they pin the messages etcd was seen to give.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftlib import gateway as gw
from raftlib.backends import EtcdCluster
from raftlib.gateway import (
    GatewayError,
    Header,
    MemberJSON,
    WatchCancel,
    WatchCreate,
    WatchProgress,
    _gojson,
    parse_alarm,
    parse_kv,
    parse_member_add,
    parse_member_id,
    parse_transfer,
    parse_watch_stream,
    render,
    render_alarm,
    render_error,
    render_health,
    render_member_add,
    render_member_list,
    render_status,
    render_version,
    render_watch_created,
    render_watch_events,
)
from raftlib.kv import (
    MAX_REQUEST_BYTES,
    AlarmRequest,
    AlarmResponse,
    DefragmentRequest,
    ErrCompacted,
    ErrNoSpace,
    ErrRequestTooLarge,
    ErrTimeout,
    Event,
    KeyValue,
    KVError,
    MVCCStore,
    PutRequest,
    RangeRequest,
    TxnRequest,
)
from raftlib.kv._size import raft_request_size

Json = dict[str, Any]


def b64(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


# --------------------------------------------------------------------- unit: parsing

# (path, body, expected message); every one of these was answered so by etcd 3.4.23 with
# HTTP 400 and gRPC code 3. The etcd test below re-checks them all against a live etcd.
MALFORMED: list[tuple[str, bytes, str]] = [
    ("kv/put", b"{bad", "invalid character 'b' looking for beginning of object key string"),
    ("kv/put", b'{"key":"YQ==",', "unexpected EOF"),
    ("kv/put", b"[]", "json: cannot unmarshal array into Go value of type "
                      "map[string]json.RawMessage"),
    ("kv/put", b'"x"', "json: cannot unmarshal string into Go value of type "
                       "map[string]json.RawMessage"),
    ("kv/put", b'{"key":"YQ==","prev_kv":"true"}',
     "json: cannot unmarshal string into Go value of type bool"),
    ("kv/put", b'{"key":"YQ==","prev_kv":1}',
     "json: cannot unmarshal number into Go value of type bool"),
    ("kv/put", b'{"key":"YQ="}', "illegal base64 data at input byte 3"),
    ("kv/put", b'{"key":"Y!=="}', "illegal base64 data at input byte 1"),
    ("kv/put", b'{"key":"YQ"}', "illegal base64 data at input byte 0"),
    ("kv/put", b'{"key":"YQ==","value":"YQ==YQ=="}', "illegal base64 data at input byte 4"),
    ("kv/put", b'{"key":5}', "json: cannot unmarshal number into Go value of type []uint8"),
    ("kv/put", b'{"key":"YQ==","lease":"abc"}',
     "invalid character 'a' looking for beginning of value"),
    ("kv/put", b'{"key":"YQ==","lease":true}',
     "json: cannot unmarshal bool into Go value of type int64"),
    ("kv/put", b'{"key":"YQ==","lease":1.5}',
     "json: cannot unmarshal number 1.5 into Go value of type int64"),
    ("kv/put", b'{"key":"YQ==","lease":"1 2"}', "invalid character '2' after top-level value"),
    ("kv/put", b'{"key":"YQ==","lease":""}', "unexpected end of JSON input"),
    ("kv/put", b'{"key":"YQ==","lease":"-"}', "invalid character ' ' in numeric literal"),
    ("kv/put", b'{"key":"YQ==","lease":"{}"}',
     "json: cannot unmarshal object into Go value of type int64"),
    ("kv/put", b'{"key":"YQ==","lease":"\\u0031"}',
     "invalid character '\\\\' looking for beginning of value"),
    ("kv/range", b'{"key":"YQ==","revision":"x"}',
     "invalid character 'x' looking for beginning of value"),
    ("kv/range", b'{"key":"YQ==","revision":"0x5"}',
     "invalid character 'x' after top-level value"),
    ("kv/range", b'{"key":"YQ==","revision":"99999999999999999999"}',
     "json: cannot unmarshal number 99999999999999999999 into Go value of type int64"),
    ("kv/range", b'{"key":"YQ==","revision":1e0}',
     "json: cannot unmarshal number 1e0 into Go value of type int64"),
    ("kv/range", b'{"key":"YQ==","sort_order":"FOO"}',
     'unknown value "FOO" for enum etcdserverpb.RangeRequest_SortOrder'),
    ("kv/range", b'{"key":"YQ==","sort_order":"descend"}',
     'unknown value "descend" for enum etcdserverpb.RangeRequest_SortOrder'),
    ("kv/range", b'{"key":"YQ==","sort_order":true}',
     "json: cannot unmarshal bool into Go value of type etcdserverpb.RangeRequest_SortOrder"),
    ("kv/range", b'{"key":"YQ==","sort_order":99999999999}',
     "json: cannot unmarshal number 99999999999 into Go value of type "
     "etcdserverpb.RangeRequest_SortOrder"),
    ("kv/range", b'{"key":"YQ==","keys_only":"yes"}',
     "json: cannot unmarshal string into Go value of type bool"),
    ("kv/txn", b'{"compare":{}}',
     "json: cannot unmarshal object into Go value of type []json.RawMessage"),
    ("kv/txn", b'{"compare":[{"key":"YQ==","result":"SAME"}]}',
     'unknown value "SAME" for enum etcdserverpb.Compare_CompareResult'),
    ("kv/txn", b'{"success":[{"request_put":"x"}]}',
     "json: cannot unmarshal string into Go value of type map[string]json.RawMessage"),
    ("kv/txn", b'{"compare":[{}]}', "etcdserver: key is not provided"),
    ("kv/txn", b'{"success":[{}]}', "etcdserver: key not found"),
    ("kv/compaction", b'{"revision":"1","physical":"yes"}',
     "json: cannot unmarshal string into Go value of type bool"),
    ("kv/deleterange", b'{"key":"YQ==","range_end":{}}',
     "json: cannot unmarshal object into Go value of type []uint8"),
    ("kv/put", b'{"key":[97,256]}', "json: cannot unmarshal number 256 into Go value of type "
                                    "uint8"),
    ("kv/put", b'{"key":[1,"a",300]}', "json: cannot unmarshal string into Go value of type "
                                       "uint8"),
    ("kv/put", b'{"key":"YQ==",}', "invalid character '}' looking for beginning of object "
                                    "key string"),
    ("kv/put", b'{"key" "YQ=="}', "invalid character '\"' after object key"),
    ("kv/put", b'{"key":"YQ==" "x":1}', "invalid character '\"' after object key:value pair"),
    ("kv/put", b'{"key":tru}', "invalid character '}' in literal true (expecting 'e')"),
    ("kv/put", b'{"key":"a\x01"}', "invalid character '\\x01' in string literal"),
    ("kv/put", b'{"key":"\\q"}', "invalid character 'q' in string escape code"),
]


MALFORMED += [
    # Go's scanner refuses more than 10000 nested arrays and objects.
    ("kv/put", b"[" * 20000, "invalid character '[' exceeded max depth"),
    ("kv/put", b'{"key":' + b"[" * 600 + b"]" * 600 + b"}",
     "json: cannot unmarshal array into Go value of type uint8"),
]


@pytest.mark.parametrize(("path", "raw", "message"), MALFORMED)
def test_malformed_bodies_are_refused_with_etcds_message(path: str, raw: bytes,
                                                         message: str) -> None:
    with pytest.raises(GatewayError) as e:
        parse_kv(path, raw)
    assert (e.value.status, e.value.code, e.value.message) == (400, 3, message)
    assert render_error(e.value) == (400, {"error": message, "message": message, "code": 3})


def test_lenient_inputs_are_accepted_as_etcd_does() -> None:
    # camelCase or proto names, int64 as string or number, enums by name or number,
    # unknown fields ignored, trailing bytes after the first value ignored, null = unset.
    req, serializable = parse_kv("kv/range", b'{"key":"YQ==","rangeEnd":"Yg==","limit":"2",'
                                 b'"revision":3,"sort_order":2,"sortTarget":"MOD",'
                                 b'"serializable":true,"bogus":[1],"keysOnly":null} trailing')
    assert req == RangeRequest(b"a", b"b", 2, 3, sort_order=req.sort_order,
                               sort_target=req.sort_target)
    assert (req.sort_order.value, req.sort_target.value, serializable) == ("DESCEND", "MOD",
                                                                           True)
    # An unknown sort order number is NONE to etcd (it sorts by neither).
    req, _ = parse_kv("kv/range", b'{"key":"YQ==","sort_order":7}')
    assert isinstance(req, RangeRequest) and req.sort_order.value == "NONE"
    # Camel case wins over the proto name when both are given.
    req, _ = parse_kv("kv/put", b'{"key":"YQ==","prev_kv":false,"prevKv":true}')
    assert req == PutRequest(b"a", prev_kv=True)
    # Base64 with escaped padding and a newline, a revision with spaces inside its string.
    req, _ = parse_kv("kv/put", b'{"key":"YQ\\u003d\\u003d","value":"Y\\nQ==","lease":" 7"}')
    assert req == PutRequest(b"a", b"a", lease=7)
    # encoding/json also fills bytes from an array of numbers.
    req, _ = parse_kv("kv/put", b'{"key":[97,null,98],"value":[]}')
    assert req == PutRequest(b"a\0b")
    for empty in (b"", b"  ", b"null", b"{}"):
        assert parse_kv("kv/put", empty) == (PutRequest(b""), False)


def test_txn_parsing_and_etcds_early_txn_checks() -> None:
    raw = body(compare=[{"key": b64("a"), "target": "MOD", "result": "LESS",
                         "mod_revision": "9", "value": b64("ignored")},
                        {"key": b64("a"), "target": 3, "result": "NOT_EQUAL"}],
               success=[{"request_put": {"key": b64("b"), "value": b64("1")}},
                        {"requestTxn": {"failure": [{"request_delete_range":
                                                     {"key": b64("c")}}]}}])
    req, _ = parse_kv("kv/txn", raw)
    assert isinstance(req, TxnRequest)
    assert [(c.target.value, c.result.value, c.value) for c in req.compare] == [
        ("MOD", "LESS", 9), ("VALUE", "NOT_EQUAL", b"")]
    nested = req.success[1]
    assert isinstance(nested, TxnRequest) and nested.failure[0].key == b"c"
    # A nested txn gets only what its parent's branches leave of the 128-op budget.
    inner = {"success": [{"request_range": {"key": b64("k")}}] * 100}
    with pytest.raises(GatewayError, match="too many operations"):
        parse_kv("kv/txn", body(success=[{"request_txn": inner}] * 30))
    parse_kv("kv/txn", body(success=[{"request_txn": inner}] * 28))
    with pytest.raises(GatewayError, match="etcdserver: value is provided"):
        parse_kv("kv/txn", body(success=[{"request_put": {"key": b64("k"), "value": b64("v"),
                                                          "ignore_value": True}}]))
    # etcd would crash on a sort target it does not know; refuse it instead.
    with pytest.raises(GatewayError, match="unsupported value 9"):
        parse_kv("kv/range", b'{"key":"YQ==","sort_target":9}')


def test_watch_parsing() -> None:
    raw = (b'{"create_request":{"key":"dw==","range_end":"eA==","start_revision":"4",'
           b'"prevKv":true,"filters":["NOPUT",1,7]}}{"cancel_request":{"watch_id":"0"}}'
           b'{"create_request":{"key":"eQ=="}} junk')
    assert parse_watch_stream(raw) == [
        WatchCreate(b"w", b"x", 4, True, frozenset({"NOPUT", "NODELETE"})), WatchCancel(0),
        WatchCreate(b"y")]
    # Every request in order; of several in one object, the last written (etcd keeps one at
    # random); an object with none is skipped.
    raw = (b'{"progress_request":{},"create_request":{"key":"dw==","watch_id":"7",'
           b'"progress_notify":true}}{}{"create_request":null}'
           b'{"cancelRequest":{"watchId":"3"},"progress_request":{}}{"cancel_request":{}}')
    assert parse_watch_stream(raw) == [
        WatchCreate(b"w", watch_id=7, progress_notify=True), WatchProgress(), WatchCancel(0)]
    # A bad first request fails the whole stream: HTTP 500 and gRPC code 2, as etcd's gateway.
    for bad, message in ((b'{"create_request":{"filters":["BAD"]}}',
                          'unknown value "BAD" for enum '
                          'etcdserverpb.WatchCreateRequest_FilterType'),
                         (b"{bad", "invalid character 'b' looking for beginning of object key "
                                   "string")):
        with pytest.raises(GatewayError) as e:
            parse_watch_stream(bad)
        assert render_error(e.value) == (500, {"error": message, "message": message,
                                               "code": 2})
    assert parse_watch_stream(b"{}") == []


def test_maintenance_and_cluster_parsing() -> None:
    a = parse_alarm(b'{"action":"DEACTIVATE","memberID":"5","alarm":1}')
    assert (a.action.value, a.member_id, a.alarm.value) == ("DEACTIVATE", 5, "NOSPACE")
    assert parse_alarm(b"") == AlarmRequest()
    assert parse_member_add(b'{"peerURLs":["http://h:1","http://h:2"],"isLearner":true}') == (
        ("http://h:1", "http://h:2"), True)
    assert parse_member_id(b'{"ID":"18446744073709551615"}') == 2**64 - 1
    assert parse_transfer(b'{"targetID":12}') == 12
    for fn, raw, message in (
            (parse_member_id, b'{"ID":-1}',
             "json: cannot unmarshal number -1 into Go value of type uint64"),
            (parse_alarm, b'{"memberID":"-0"}',
             "json: cannot unmarshal number -0 into Go value of type uint64"),
            (parse_member_add, b'{"peerURLs":"http://x"}',
             "json: cannot unmarshal string into Go value of type []json.RawMessage")):
        with pytest.raises(GatewayError, match="^" + message.replace("[", r"\[") + "$"):
            fn(raw)
    for urls in ([], ["not a url"], ["http://h"], ["http://h:1/path"], ["ftp://h:1"],
                 ["http://h:1", "http://a:b:c"]):
        with pytest.raises(GatewayError, match=r"^etcdserver: given member URLs are invalid$"):
            parse_member_add(body(peerURLs=urls))
    assert parse_member_add(body(peerURLs=["https://[::1]:2380", " unix://s:1 "])) == (
        ("https://[::1]:2380", "unix://s:1"), False)
    # Escaped surrogate pairs are joined, lone surrogates replaced, as Go's decoder does.
    assert parse_member_add(b'{"peerURLs":["http://\\ud83d\\ude00\\udc00:1"]}') == (
        ("http://\U0001f600\ufffd:1",), False)
    assert render_version()["etcdserver"].startswith("3.4.")
    assert render_health(False) == {"health": "false"}


def test_request_too_large_is_rendered_as_etcd_renders_it() -> None:
    assert render_error(ErrRequestTooLarge()) == (400, {
        "error": "etcdserver: request is too large",
        "message": "etcdserver: request is too large", "code": 3})


def test_render_omits_zero_fields() -> None:
    assert render_alarm(()) == {}
    assert render(AlarmResponse(3, ()), Header(1, 2, 3, 4)) == {}
    kv = KeyValue(b"k", 0, 7, 0, b"")  # a tombstone: only key and mod_revision
    line = render_watch_events(0, Header(1, 2, 7, 4), [Event("DELETE", kv)])
    assert line == {"result": {"header": {"cluster_id": "1", "member_id": "2", "revision": "7",
                                          "raft_term": "4"},
                               "events": [{"type": "DELETE",
                                           "kv": {"key": "aw==", "mod_revision": "7"}}]}}


# --------------------------------------------------------------------- against etcd

HEADER_IDS = ("cluster_id", "member_id", "raft_term")


def normalise(j: Any) -> Any:
    """Replace the header ids and term (which differ between etcd and the twin) by "*"."""
    if isinstance(j, dict):
        return {k: normalise(v) if k != "header"
                else {hk: "*" if hk in HEADER_IDS else hv for hk, hv in v.items()}
                for k, v in j.items()}
    if isinstance(j, list | tuple):
        return [normalise(x) for x in j]
    return j


class Twin:
    """A real etcd and an MVCCStore behind raftlib's gateway functions, fed the same bodies."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.store = MVCCStore()

    def header(self, revision: int | None = None) -> Header:
        return Header(11, 22, self.store.revision if revision is None else revision, 33)

    def etcd(self, path: str, raw: bytes) -> tuple[int, Json]:
        req = urllib.request.Request(f"{self.endpoint}/v3/{path}", raw,
                                     {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def ours(self, path: str, raw: bytes) -> tuple[int, Json]:
        try:
            if path == "maintenance/alarm":
                req: Any = parse_alarm(raw)
            elif path == "maintenance/defragment":
                req = DefragmentRequest()
            else:
                req, _ = parse_kv(path, raw)
            return 200, render(self.store.apply(req), self.header())
        except (GatewayError, KVError) as e:
            return render_error(e)

    def both(self, path: str, raw: bytes) -> tuple[int, Json]:
        theirs, ours = self.etcd(path, raw), self.ours(path, raw)
        assert normalise(ours) == normalise(theirs), raw[:200]
        return theirs


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdCluster]:
    with EtcdCluster(n=1) as c:
        yield c


@pytest.fixture(scope="module")
def twin(etcd: EtcdCluster) -> Twin:
    return Twin(etcd.endpoint(etcd.members[0]))


@pytest.mark.etcd
@pytest.mark.parametrize(("path", "raw", "message"), MALFORMED)
def test_malformed_bodies_match_etcd(twin: Twin, path: str, raw: bytes, message: str) -> None:
    status, j = twin.both(path, raw)
    assert (status, j["message"]) == (400, message)


@pytest.mark.etcd
def test_put_range_delete_match_etcd(twin: Twin) -> None:
    both = twin.both
    assert both("kv/put", body(key=b64("p/a"), value=b64("1")))[0] == 200
    both("kv/put", body(key=b64("p/a"), value=b64("2"), prev_kv=True))
    both("kv/put", body(key=b64("p/b"), value=b64("zz"), prevKv=True))
    both("kv/put", body(key=b64("p/c"), value=b64("")))
    both("kv/put", body(key=b64("p/a"), ignore_value=True, prev_kv=True))
    rev = twin.store.revision
    both("kv/put", body(key=b64("p/b"), ignore_lease=True))
    both("kv/put", body(key=b64("p/d\xff\x00"), value=b64(bytes(range(256)))))
    for fields in (
            {"key": b64("p/a")},
            {"key": b64("p/"), "range_end": b64("p0")},
            {"key": b64("p/"), "range_end": b64("p0"), "limit": 2},
            {"key": b64("p/"), "range_end": b64("p0"), "limit": "2", "sort_order": "DESCEND",
             "sort_target": "VALUE"},
            {"key": b64("p/"), "range_end": b64("p0"), "sort_target": "MOD", "limit": -1},
            {"key": b64("p/"), "range_end": b64("p0"), "count_only": True},
            {"key": b64("p/"), "range_end": b64("p0"), "keys_only": True},
            {"key": b64("p/"), "range_end": b64("\0"), "revision": str(rev)},
            {"key": b64("p/"), "range_end": b64("p0"), "revision": rev - 3, "sortOrder": 1,
             "sortTarget": 2},
            {"key": b64("p/zz")},
            {"key": b64("p/"), "range_end": b64("p0"), "serializable": True}):
        status, j = both("kv/range", json.dumps(fields).encode())
        assert status == 200 and "header" in j
    both("kv/deleterange", body(key=b64("p/zz"), prev_kv=True))
    both("kv/deleterange", body(key=b64("p/c"), prev_kv=True))
    status, j = both("kv/deleterange", body(key=b64("p/"), range_end=b64("p0"), prev_kv=True))
    assert j["deleted"] == "3" and len(j["prev_kvs"]) == 3
    both("kv/range", body(key=b64("p/"), range_end=b64("p0")))


@pytest.mark.etcd
def test_kv_errors_match_etcd(twin: Twin) -> None:
    both = twin.both
    both("kv/put", body(key=b64("e/a"), value=b64("1")))
    cases = [
        ("kv/put", body(value=b64("1")), "etcdserver: key is not provided"),
        ("kv/range", b"{}", "etcdserver: key is not provided"),
        ("kv/deleterange", b"", "etcdserver: key is not provided"),
        ("kv/put", body(key=b64("e/none"), ignore_value=True), "etcdserver: key not found"),
        ("kv/put", body(key=b64("e/a"), value=b64("x"), ignore_value=True),
         "etcdserver: value is provided"),
        ("kv/put", body(key=b64("e/a"), lease="5", ignore_lease=True),
         "etcdserver: lease is provided"),
        ("kv/range", body(key=b64("e/a"), revision=str(twin.store.revision + 1)),
         "etcdserver: mvcc: required revision is a future revision"),
        ("kv/txn", body(success=[{"request_put": {"key": b64("e/a")}}] * 2),
         "etcdserver: duplicate key given in txn request"),
        ("kv/txn", body(failure=[{"request_range": {"key": b64("e/a")}}] * 129),
         "etcdserver: too many operations in txn request"),
        ("kv/txn", body(success=[{"request_put": {"key": b64("e/n"), "ignore_lease": True}}]),
         "etcdserver: key not found"),
        ("kv/compaction", body(revision=twin.store.revision + 5),
         "etcdserver: mvcc: required revision is a future revision"),
    ]
    for path, raw, message in cases:
        status, j = both(path, raw)
        assert (status, j["message"]) == (400, message)
        assert j["code"] in (3, 11)


@pytest.mark.etcd
def test_txn_matches_etcd(twin: Twin) -> None:
    both = twin.both
    both("kv/put", body(key=b64("t/a"), value=b64("1")))
    both("kv/put", body(key=b64("t/b"), value=b64("2")))
    a_mod = twin.store.revision - 1
    compares = [
        {"key": b64("t/a"), "target": "VALUE", "result": "EQUAL", "value": b64("1")},
        {"key": b64("t/a"), "target": "MOD", "result": "EQUAL", "mod_revision": str(a_mod)},
        {"key": b64("t/b"), "target": "VERSION", "result": "GREATER", "version": 0},
        {"key": b64("t/a"), "target": "CREATE", "result": "LESS", "createRevision": "999"},
        {"key": b64("t/"), "range_end": b64("t0"), "target": "VERSION", "result": "NOT_EQUAL",
         "version": "5"},
    ]
    ops = [{"request_range": {"key": b64("t/"), "range_end": b64("t0"), "limit": 1}},
           {"request_put": {"key": b64("t/c"), "value": b64("3"), "prev_kv": True}},
           {"request_put": {"key": b64("t/a"), "value": b64("4"), "prev_kv": True}},
           {"request_range": {"key": b64("t/c")}},
           {"request_txn": {"compare": [{"key": b64("t/c"), "target": "VALUE",
                                         "result": "EQUAL", "value": b64("3")}],
                            "success": [{"request_delete_range": {"key": b64("t/b"),
                                                                  "prev_kv": True}}]}},
           {"request_delete_range": {"key": b64("t/zz")}}]
    # Every compare failing in turn takes the failure branch.
    for c in compares:
        bad = dict(c, result="NOT_EQUAL" if c["result"] == "EQUAL" else "EQUAL")
        _, j = both("kv/txn", body(compare=[bad], failure=[
            {"request_range": {"key": b64("t/a")}}, {"request_txn": {}}]))
        assert "succeeded" not in j
    _, j = both("kv/txn", body(compare=compares, success=ops))
    assert j.get("succeeded") is True and len(j["responses"]) == 6
    both("kv/txn", body())
    both("kv/txn", body(compare=[{"key": b64("t/none"), "target": "VALUE", "result": "EQUAL"}]))


@pytest.mark.etcd
def test_compaction_matches_etcd(twin: Twin) -> None:
    both = twin.both
    both("kv/put", body(key=b64("c/a"), value=b64("1")))
    old = twin.store.revision
    both("kv/put", body(key=b64("c/a"), value=b64("2")))
    assert both("kv/compaction", body(revision=str(old), physical=True))[0] == 200
    for raw in (body(revision=old), b"{}", body(revision=old - 1)):
        status, j = both("kv/compaction", raw)
        assert (status, j["code"]) == (400, 11)
        assert j["message"] == ErrCompacted.message
    status, j = both("kv/range", body(key=b64("c/a"), revision=old - 1))
    assert j["message"] == ErrCompacted.message
    both("kv/range", body(key=b64("c/a"), revision=old))


@pytest.mark.etcd
def test_alarms_and_defragment_match_etcd(twin: Twin) -> None:
    both = twin.both
    assert both("maintenance/alarm", b'{"action":"GET"}') == (200, {})
    both("maintenance/alarm", body(action="ACTIVATE", memberID="7", alarm="NOSPACE"))
    assert both("maintenance/alarm", b"{}")[1] == {"alarms": [{"memberID": "7",
                                                                "alarm": "NOSPACE"}]}
    status, j = both("kv/put", body(key=b64("al/a"), value=b64("1")))
    assert (status, j["message"], j["code"]) == (429, ErrNoSpace.message, 8)
    both("maintenance/alarm", body(action="DEACTIVATE", memberID="7", alarm="NOSPACE"))
    both("maintenance/alarm", body(action="DEACTIVATE", memberID="7", alarm="NOSPACE"))
    both("maintenance/alarm", body(action=1, memberID=7))  # alarm NONE: no "alarm" key
    both("maintenance/alarm", body(action="DEACTIVATE", memberID=7))
    assert both("maintenance/alarm", b"{}") == (200, {})
    assert both("maintenance/defragment", b"{}") == (200, {})


@pytest.mark.etcd
def test_request_size_limit_matches_etcd(twin: Twin) -> None:
    n = MAX_REQUEST_BYTES - 200
    while raft_request_size(PutRequest(b"big", b"x" * (n + 1))) <= MAX_REQUEST_BYTES:
        n += 1
    # raft_request_size counts the request id at ten bytes; etcd's may be one shorter.
    status, _ = twin.both("kv/put", body(key=b64("big"), value=b64(b"x" * n)))
    assert status == 200
    status, j = twin.both("kv/put", body(key=b64("big"), value=b64(b"x" * (n + 2))))
    assert (status, j["message"]) == (400, "etcdserver: request is too large")
    twin.both("kv/deleterange", body(key=b64("big")))


class Stream:
    """One ``POST /v3/watch`` to etcd, read line by line."""

    def __init__(self, endpoint: str, raw: bytes) -> None:
        url = urlsplit(endpoint)
        self.conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
        self.conn.request("POST", "/v3/watch", raw, {"Content-Type": "application/json"})
        self.resp = self.conn.getresponse()

    def line(self) -> Json:
        out: Json = json.loads(self.resp.readline())
        return out

    def close(self) -> None:
        self.conn.close()


@pytest.mark.etcd
def test_watch_stream_matches_etcd(twin: Twin) -> None:
    store = twin.store
    raws = [body(create_request={"key": b64("w/a"), "prev_kv": True}),
            body(create_request={"key": b64("w/"), "range_end": b64("w0"),
                                 "filters": ["NOPUT"]})]
    for raw in raws:
        stream = Stream(twin.endpoint, raw)
        try:
            assert stream.resp.status == 200
            (create,) = parse_watch_stream(raw)
            assert isinstance(create, WatchCreate)
            w = store.watch_hub.watch(create.key, create.range_end,
                                      start_revision=create.start_revision,
                                      prev_kv=create.prev_kv, filters=create.filters)
            # etcd numbers watches per gRPC stream, and each HTTP watch is a new stream: 0.
            assert normalise(stream.line()) == normalise(render_watch_created(0, twin.header()))
            for fields in ({"key": b64("w/a"), "value": b64("1")},
                           {"key": b64("w/a"), "value": b64("2")}):
                twin.both("kv/put", json.dumps(fields).encode())
            twin.both("kv/deleterange", body(key=b64("w/a")))
            ours = [render_watch_events(0, twin.header(r.header_revision), r.events)
                    for r in w.take()]
            assert len(ours) == (3 if not create.filters else 1)
            theirs = [stream.line() for _ in ours]
            assert normalise(theirs) == normalise(ours)
            store.watch_hub.cancel(w.id)
        finally:
            stream.close()


@pytest.mark.etcd
def test_compacted_watch_matches_etcd(twin: Twin) -> None:
    twin.both("kv/put", body(key=b64("wc/a"), value=b64("1")))
    twin.both("kv/put", body(key=b64("wc/a"), value=b64("2")))
    twin.both("kv/compaction", body(revision=twin.store.revision))
    raw = body(create_request={"key": b64("wc/a"), "start_revision": "1"})
    stream = Stream(twin.endpoint, raw)
    try:
        (create,) = parse_watch_stream(raw)
        assert isinstance(create, WatchCreate)
        hub = twin.store.watch_hub
        w = hub.watch(create.key, start_revision=create.start_revision)
        created = render_watch_created(0, twin.header())
        hub.sync()
        (r,) = w.take()
        assert r.canceled and r.compact_revision == twin.store.compact_revision
        ours = render_watch_events(0, twin.header(r.header_revision), r.events,
                                   r.compact_revision, r.canceled)
        assert [normalise(stream.line()), normalise(stream.line())] == [
            normalise(created), normalise(ours)]
    finally:
        stream.close()


@pytest.mark.etcd
def test_status_and_member_shapes_match_etcd(twin: Twin, etcd: EtcdCluster) -> None:
    status, theirs = twin.etcd("maintenance/status", b"{}")
    st = twin.store.status()
    ours = render_status(twin.header(), db_size=st.db_size, leader=22, raft_index=9,
                         raft_term=33, raft_applied_index=9, db_size_in_use=st.db_size_in_use)
    assert list(ours) == list(theirs)  # same fields, same order
    assert list(ours["header"]) == list(theirs["header"])
    assert all(isinstance(v, str) for k, v in theirs.items() if k != "header")
    assert theirs["version"] == render_version()["etcdserver"]

    status, theirs = twin.etcd("cluster/member/list", b"{}")
    m = etcd._members[etcd.members[0]]
    me = MemberJSON(int(theirs["members"][0]["ID"]), m.name, (m.peer_url,), (m.client_url,))
    ours = render_member_list([me], twin.header())
    assert normalise(ours) == normalise(theirs)  # a cluster header carries no revision

    # A learner that is never started: etcd lists it with its peer URL only.
    peer = "http://127.0.0.1:1"
    status, theirs = twin.etcd("cluster/member/add", body(peerURLs=[peer], isLearner=True))
    try:
        new = MemberJSON(int(theirs["member"]["ID"]), "", (peer,), (), True)
        # The new id is random: either order of [me, new] must come out sorted by id.
        assert normalise(render_member_add(new, [new, me], twin.header())) == normalise(theirs)
        assert render_member_add(new, [me, new], twin.header()) == render_member_add(
            new, [new, me], twin.header())
    finally:
        twin.etcd("cluster/member/remove", body(ID=theirs["member"]["ID"]))
    status, theirs = twin.etcd("cluster/member/promote", body(ID="1"))
    assert (status, theirs) == render_error(GatewayError(404, 5,
                                                         "etcdserver: member not found"))


@pytest.mark.etcd
def test_refused_member_urls_match_etcd(twin: Twin) -> None:
    for urls in ([], ["not a url"], ["http://127.0.0.1"], ["http://127.0.0.1:1/x"],
                 ["ftp://127.0.0.1:5"]):
        raw = body(peerURLs=urls)
        with pytest.raises(GatewayError) as e:
            parse_member_add(raw)
        assert twin.etcd("cluster/member/add", raw) == render_error(e.value)


@pytest.mark.etcd
def test_refused_watch_bodies_match_etcd(twin: Twin) -> None:
    for raw in (b'{"create_request":{"key":"dw==","filters":["BAD"]}}', b"{bad",
                b'{"create_request":{"key":"dw==","start_revision":"x"}}',
                b'{"create_request":"x"}'):
        with pytest.raises(GatewayError) as e:
            parse_watch_stream(raw)
        stream = Stream(twin.endpoint, raw)
        try:
            theirs = (stream.resp.status, json.loads(stream.resp.read()))
        finally:
            stream.close()
        assert theirs == render_error(e.value)


@pytest.mark.etcd
def test_version_and_health_match_etcd(twin: Twin) -> None:
    for path, ours in (("/version", render_version()), ("/health", render_health(True))):
        with urllib.request.urlopen(twin.endpoint + path, timeout=10) as r:
            theirs = json.loads(r.read())
        assert set(theirs) == set(ours)
        if path == "/health":
            assert theirs == ours
        else:
            assert theirs["etcdserver"].split(".")[:2] == ours["etcdserver"].split(".")[:2]
            assert theirs["etcdcluster"] == ours["etcdcluster"]


# --------------------------------------------------------------------- the fast path


_FIELDS = ["key", "range_end", "rangeEnd", "value", "prev_kv", "prevKv", "limit", "revision",
           "serializable", "keys_only", "count_only", "sort_order", "sortOrder", "lease",
           "ignore_value", "physical", "unknown_field"]
_VALUES = st.one_of(
    st.booleans(), st.integers(min_value=-(2**65), max_value=2**65), st.none(),
    st.floats(allow_nan=False, allow_infinity=False, width=32), st.lists(st.booleans()),
    st.sampled_from(["", "a2V5", "dmFsdWU=", "***", "a2V5=", "ASCEND", "DESCEND", "10", "-3",
                     "1e3", "true", "é", "a2V5\n"]),
    st.text(max_size=8),
)


def _outcome(path: str, body: bytes) -> object:
    try:
        return gw.parse_kv(path, body)
    except gw.GatewayError as e:
        return ("error", e.status, e.code, e.message)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.sampled_from(["kv/put", "kv/range", "kv/deleterange", "kv/compaction"]),
       st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=6))
def test_the_fast_path_parses_exactly_as_the_go_faithful_parser(
        path: str, fields: dict[str, object]) -> None:
    from unittest import mock

    body = json.dumps(fields, ensure_ascii=False).encode()
    fast = _outcome(path, body)
    with mock.patch.object(_gojson, "_fast_object", return_value=None):
        slow = _outcome(path, body)
    assert fast == slow, (body, fast, slow)


def test_a_timed_out_write_is_unavailable_and_retryable_as_in_etcd() -> None:
    # etcd's rpctypes.ErrGRPCTimeout is codes.Unavailable, which grpc-gateway answers with 503.
    assert render_error(ErrTimeout()) == (503, {"error": "etcdserver: request timed out",
                                                "message": "etcdserver: request timed out",
                                                "code": 14})
