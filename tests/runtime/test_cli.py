"""The ``raftlib`` command line against real etcd 3.4, compared with what ``etcdctl`` prints.

Client verbs run in-process (``main([...])``, output through capsys) and, once each for a write
and a watch, as the installed console script. The local-cluster verbs need the raftlib member
runtime (``raftlib.runtime._member``).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from raftlib.backends import ETCD_BINARY, EtcdCluster
from raftlib.backends._ports import reserve_block, reserve_port
from raftlib.runtime import _cli
from raftlib.runtime._cli import main

T = TypeVar("T")
ETCDCTL = "/usr/bin/etcdctl"
SCRIPT = Path(sys.executable).with_name("raftlib")


def poll(what: str, f: Callable[[], T | None], timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        v = f()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def closed_port() -> int:
    """A port nothing listens on (and no other test is handed)."""
    return reserve_port()


# ------------------------------------------------------------------------- pure helpers


def test_helpers_match_etcdctl_formats() -> None:
    assert _cli._humanize(20480) == "20 kB"  # what etcdctl's table shows for a fresh member
    assert _cli._humanize(5) == "5 B"
    assert _cli._humanize(1_234_567) == "1.2 MB"
    assert _cli._go_duration(0.002435027) == "2.435027ms"
    assert _cli._go_duration(1.5) == "1.5s"
    assert _cli._go_duration(0.000_012) == "12µs"
    assert _cli._prefix_end(b"fo") == b"fp"
    assert _cli._prefix_end(b"a\xff") == b"b"
    assert _cli._prefix_end(b"\xff") == b"\0"
    assert _cli._parse_compare('mod("k") > "3"') == {
        "key": "aw==", "target": "MOD", "result": "GREATER", "mod_revision": "3"}
    assert _cli._parse_compare('val("k") != "a b"')["value"] == "YSBi"
    for bad in ('mod("k") > "x"', 'foo("k") = "1"', "value(k) = v"):
        with pytest.raises(_cli.CliError, match="malformed comparison"):
            _cli._parse_compare(bad)


def test_usage_errors_exit_2_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get"]) == 2
    assert "the following arguments are required: key" in capsys.readouterr().err
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "cluster" in out and "watch" in out


def test_member_with_an_option_runs_the_member_process(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        seen.append(argv)
        return 7

    fake = types.ModuleType("raftlib.runtime._member")
    monkeypatch.setattr(fake, "main", fake_main, raising=False)
    monkeypatch.setitem(sys.modules, "raftlib.runtime._member", fake)
    assert main(["member", "--id", "2", "--data-dir", "d"]) == 7
    assert seen == [["--id", "2", "--data-dir", "d"]]
    # `member list` is etcdctl's verb, not the member process.
    assert main(["--endpoints", f"127.0.0.1:{closed_port()}", "member", "list"]) == 1
    assert seen == [["--id", "2", "--data-dir", "d"]]
    assert "connection refused" in capsys.readouterr().err


def test_connection_refused_names_the_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    port = closed_port()
    assert main(["--endpoints", f"127.0.0.1:{port}", "get", "k"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"Error: dial tcp 127.0.0.1:{port}: connect: connection refused\n"


# ------------------------------------------------------------------------- against real etcd


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdCluster]:
    for binary in (ETCD_BINARY, ETCDCTL):
        if not os.path.exists(binary):
            pytest.fail(f"{binary} is missing: install Debian's etcd-server and etcd-client")
    with EtcdCluster(n=3, heartbeat_ms=50, election_timeout_ms=500) as c:
        yield c


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def rl(etcd: EtcdCluster, capsys: pytest.CaptureFixture[str],
       monkeypatch: pytest.MonkeyPatch) -> Run:
    """``rl(*argv, stdin=..., endpoints=...)`` runs raftlib in-process: (status, out, err)."""

    def run(*argv: str, stdin: str = "", endpoints: str | None = None) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        rc = main(["--endpoints", endpoints or etcd.endpoint(1), *argv])
        out, err = capsys.readouterr()
        return rc, out, err

    return run


@pytest.fixture
def ctl(etcd: EtcdCluster) -> Run:
    """The same for real etcdctl; its retry log lines (JSON on stderr) are left out."""

    def run(*argv: str, stdin: str = "", endpoints: str | None = None) -> tuple[int, str, str]:
        r = subprocess.run([ETCDCTL, "--endpoints", endpoints or etcd.endpoint(1), *argv],
                           input=stdin, capture_output=True, text=True, timeout=20,
                           env={**os.environ, "ETCDCTL_API": "3"})
        err = "".join(line for line in r.stderr.splitlines(keepends=True)
                      if not line.startswith("{"))
        return r.returncode, r.stdout, err

    return run


def all_endpoints(etcd: EtcdCluster) -> str:
    return ",".join(etcd.endpoint(i) for i in etcd.members)


def revision(rl: Run) -> int:
    rc, out, _ = rl("get", "none", "-w", "json")
    assert rc == 0
    return int(json.loads(out)["header"]["revision"])


@pytest.mark.etcd
def test_put_get_del_simple_match_etcdctl(rl: Run, ctl: Run) -> None:
    # The same writes under two prefixes, one through each tool: same output, key for key.
    for tool, p in ((rl, "a/"), (ctl, "b/")):
        assert tool("put", f"{p}x", "1") == (0, "OK\n", "")
        assert tool("put", f"{p}x", "2", "--prev-kv") == (0, f"OK\n{p}x\n1\n", "")
        assert tool("put", f"{p}y", "3") == (0, "OK\n", "")
        assert tool("put", f"{p}z", "4") == (0, "OK\n", "")
    for args in (["--prefix"], ["--prefix", "--keys-only"], ["--prefix", "--print-value-only"],
                 ["--prefix", "--limit", "2"], ["--prefix", "--consistency", "s"]):
        mine = rl("get", "a/", *args)
        assert mine == ctl("get", "a/", *args)
        assert mine[0] == 0 and mine[1].replace("a/", "b/") == ctl("get", "b/", *args)[1]
    assert rl("get", "a/x", "a/z")[1] == "a/x\n2\na/y\n3\n" == ctl("get", "a/x", "a/z")[1]
    assert rl("get", "missing") == (0, "", "") == ctl("get", "missing")
    # Reading at an older revision: the first value of a/x.
    _, out, _ = rl("get", "a/x", "-w", "json")
    created = json.loads(out)["kvs"][0]["create_revision"]
    assert rl("get", "a/x", "--rev", str(created))[1] == "a/x\n1\n"
    assert rl("get", "a/x", "--rev", str(created)) == ctl("get", "a/x", "--rev", str(created))
    mine, theirs = rl("del", "a/", "--prefix", "--prev-kv"), ctl("del", "b/", "--prefix",
                                                                 "--prev-kv")
    assert mine == (0, "3\na/x\n2\na/y\n3\na/z\n4\n", "")
    assert mine[1].replace("a/", "b/") == theirs[1]
    assert rl("del", "a/x") == (0, "0\n", "") == ctl("del", "b/x")


@pytest.mark.etcd
def test_json_output_is_etcdctls(rl: Run, ctl: Run) -> None:
    rl("put", "j/1", "one")
    rl("put", "j/2", "two")
    # Reads with no write in between: byte for byte what etcdctl prints.
    for args in (["j/", "--prefix"], ["j/", "--prefix", "--limit", "1"], ["j/1"], ["nothing"]):
        mine, theirs = rl("get", *args, "-w", "json"), ctl("get", *args, "-w", "json")
        assert mine == theirs
    rc, out, _ = rl("put", "j/1", "uno", "--prev-kv", "-w", "json")
    r = json.loads(out)
    assert rc == 0 and r["prev_kv"]["value"] == "b25l"  # base64("one")
    assert isinstance(r["header"]["revision"], int)  # int64s as numbers, as etcdctl prints
    _, out, _ = rl("del", "j/", "--prefix", "-w", "json")
    assert json.loads(out)["deleted"] == 2


@pytest.mark.etcd
def test_lease_verbs_match_etcdctl(rl: Run, ctl: Run) -> None:
    ids = {}
    for tool, name in ((rl, "mine"), (ctl, "theirs")):
        rc, out, err = tool("lease", "grant", "30")
        assert rc == 0 and err == "" and re.fullmatch(
            r"lease [0-9a-f]{16} granted with TTL\(30s\)\n", out), out
        ids[name] = out.split()[1]
        assert tool("put", f"{name}/k", "v", "--lease", ids[name]) == (0, "OK\n", "")
    # The same answers for each tool's own lease (the ids differ).
    for args in (["timetolive", "{}"], ["timetolive", "{}", "--keys"],
                 ["keep-alive", "--once", "{}"]):
        mine = rl("lease", *(a.format(ids["mine"]) for a in args))
        theirs = ctl("lease", *(a.format(ids["theirs"]) for a in args))
        assert mine[0] == theirs[0] == 0
        norm = theirs[1].replace(ids["theirs"], ids["mine"]).replace("theirs/", "mine/")
        assert mine[1] in (norm, norm.replace("(29s)", "(30s)"), norm.replace("(30s)", "(29s)"))
    listed = rl("lease", "list")
    assert listed[0] == 0 and ids["mine"] in listed[1] and ids["theirs"] in listed[1]
    assert listed[1].splitlines()[0] == ctl("lease", "list")[1].splitlines()[0]
    for args in (["timetolive", "1234"], ["grant", "1"], ["grant", "x"], ["grant", "9000000001"],
                 ["keep-alive", "--once", "1234"], ["revoke", "1234"], ["revoke", "zz"]):
        mine, theirs = rl("lease", *args), ctl("lease", *args)
        if args == ["grant", "1"]:  # the minimum TTL: 1 s with 50 ms heartbeats, 10 ticks
            mine, theirs = (re.sub("[0-9a-f]{16}", "ID", x[1]) for x in (mine, theirs))
        assert mine == theirs, args
    for lease in ("1234", "zz"):
        assert rl("put", "x", "y", "--lease", lease) == ctl("put", "x", "y", "--lease", lease)
    for tool, name in ((rl, "mine"), (ctl, "theirs")):
        assert tool("lease", "revoke", ids[name]) == (
            0, f"lease {ids[name]} revoked\n", "")
        assert tool("get", f"{name}/k") == (0, "", "")


@pytest.mark.etcd
def test_lease_keep_alive_renews_until_the_lease_is_revoked(rl: Run, ctl: Run) -> None:
    lid = ctl("lease", "grant", "3")[1].split()[1]
    revoker = threading.Timer(2.5, lambda: ctl("lease", "revoke", lid))
    revoker.start()
    try:
        rc, out, err = rl("lease", "keep-alive", lid)
    finally:
        revoker.join()
    lines = out.splitlines()
    # etcd's client renews every third of the TTL: about every second here.
    assert rc == 0 and err == "" and 2 <= len(lines) - 1 <= 4, out
    assert set(lines[:-1]) == {f"lease {lid} keepalived with TTL(3)"}
    assert lines[-1] == f"lease {lid} expired or revoked."


@pytest.mark.etcd
def test_table_is_refused_where_etcdctl_has_none(rl: Run, ctl: Run) -> None:
    txn = 'value("t") = "v"\n\nput t v\n\n\n'
    for args in (["put", "t", "v"], ["get", "t"], ["del", "t"], ["txn"]):
        rc, out, err = rl(*args, "-w", "table", stdin=txn)
        assert (rc, out, err) == (1, "", "Error: table not supported as output format\n")
        assert ctl(*args, "-w", "table", stdin=txn)[2] == err
    assert rl("get", "t")[1] == ""  # the put was not sent


TXN_OK = 'value("t/k") = "v"\nversion("t/k") = "1"\ncreate("t/k") > "0"\n\nput t/k v2\n' \
         'get t/k\ndel t/none\n\nput t/k failed\n\n'
TXN_FAIL = 'mod("t/k") > "1000000"\n\nput t/k never\n\nget t/k --prefix\nput t/other o\n\n'


@pytest.mark.etcd
def test_txn_matches_etcdctl(rl: Run, ctl: Run) -> None:
    rl("put", "t/k", "v")
    mine = rl("txn", stdin=TXN_OK)
    assert mine == (0, "SUCCESS\n\nOK\n\nt/k\nv2\n\n0\n", "")
    ctl("put", "t/k", "v")
    ctl("del", "t/k")
    ctl("put", "t/k", "v")  # the same state again: version 1, value v
    assert ctl("txn", stdin=TXN_OK) == mine
    mine = rl("txn", stdin=TXN_FAIL)
    assert mine == (0, "FAILURE\n\nt/k\nv2\n\nOK\n", "")
    assert rl("get", "t/k", "--print-value-only")[1] == "v2\n"  # success ops did not run
    rl("del", "t/other")
    assert ctl("txn", stdin=TXN_FAIL) == mine
    assert rl("txn", stdin='value("t/k") = "nope"\n\n\n\n') == (0, "FAILURE\n", "")
    rc, out, _ = rl("txn", "-w", "json", stdin='value("t/k") = "v2"\n\nget t/k\n\n\n')
    r = json.loads(out)
    assert rc == 0 and r["succeeded"] is True
    assert r["responses"][0]["response_range"]["kvs"][0]["value"] == "djI="  # base64("v2")
    rc, out, err = rl("txn", stdin='value("t/k") = "v2"\n\nfrobnicate t/k\n\n\n')
    assert (rc, out) == (1, "")
    assert err.startswith("Error: malformed txn op: frobnicate t/k")


def read_lines(proc: subprocess.Popen[bytes], n: int, timeout: float = 10.0) -> list[str]:
    """``n`` lines from ``proc``'s stdout, or fail after ``timeout`` seconds."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()  # raw reads: a buffered reader would hide data from select
    data = b""
    deadline = time.monotonic() + timeout
    while data.count(b"\n") < n:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            pytest.fail(f"only {data!r} of {n} lines after {timeout} s")
        chunk = os.read(fd, 4096)
        if not chunk:
            pytest.fail(f"stream ended after {data!r}")
        data += chunk
    return data.decode().splitlines(keepends=True)


@pytest.mark.etcd
def test_watch_history_matches_etcdctl(etcd: EtcdCluster, rl: Run) -> None:
    start = revision(rl) + 1
    rl("put", "w/a", "1")
    rl("put", "w/a", "2")
    rl("del", "w/a")
    rl("put", "w/b", "3")
    rc, out, err = rl("watch", "w/", "--prefix", "--prev-kv", "--rev", str(start), "--count", "4")
    assert (rc, err) == (0, "")
    assert out == ("PUT\nw/a\n1\n"
                   "PUT\nw/a\n1\nw/a\n2\n"
                   "DELETE\nw/a\n2\nw/a\n\n"
                   "PUT\nw/b\n3\n")
    proc = subprocess.Popen([ETCDCTL, "--endpoints", etcd.endpoint(2), "watch", "w/", "--prefix",
                             "--prev-kv", "--rev", str(start)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env={**os.environ, "ETCDCTL_API": "3"})
    try:
        assert "".join(read_lines(proc, out.count("\n"))) == out
    finally:
        proc.kill()
        proc.wait()
    rc, out, _ = rl("watch", "w/a", "--rev", str(start), "--count", "3", "-w", "json")
    events = [ev for line in out.splitlines() for ev in json.loads(line)["events"]]
    assert rc == 0 and [e.get("type", "PUT") for e in events] == ["PUT", "PUT", "DELETE"]
    assert events[0]["kv"]["mod_revision"] == start  # a number, as etcdctl prints it
    assert rl("watch", "w/a", "-w", "table")[2] == \
        "Error: table not supported as output format\n"


@pytest.mark.etcd
def test_console_script_put_and_live_watch(etcd: EtcdCluster, rl: Run) -> None:
    assert SCRIPT.exists(), "install raftlib (pip install -e .) so the console script exists"
    start = revision(rl) + 1
    # Starting at the next revision, the watch sees the puts even if it connects after them.
    watch = subprocess.Popen([str(SCRIPT), "--endpoints", etcd.endpoint(3).removeprefix(
        "http://"), "watch", "live", "--rev", str(start), "--count", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for value in ("a", "b"):
            r = subprocess.run([str(SCRIPT), "--endpoints", etcd.endpoint(2), "put", "live",
                                value], capture_output=True, text=True, timeout=20)
            assert (r.returncode, r.stdout, r.stderr) == (0, "OK\n", "")
        out, err = watch.communicate(timeout=20)
    finally:
        watch.kill()
        watch.wait()
    assert (watch.returncode, out, err) == (0, "PUT\nlive\na\nPUT\nlive\nb\n", "")
    r = subprocess.run([str(SCRIPT), "--endpoints", f"127.0.0.1:{closed_port()}", "get", "x"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1 and r.stderr.startswith("Error: dial tcp 127.0.0.1:")
    assert "Traceback" not in r.stderr


@pytest.mark.etcd
def test_compact_and_compacted_revision_errors(rl: Run, ctl: Run) -> None:
    rl("put", "c/k", "1")
    old = revision(rl)
    rl("put", "c/k", "2")
    now = revision(rl)
    assert rl("compact", str(now), "--physical") == (0, f"compacted revision {now}\n", "")
    err = "Error: etcdserver: mvcc: required revision has been compacted\n"
    assert rl("get", "c/k", "--rev", str(old)) == (1, "", err)
    assert ctl("get", "c/k", "--rev", str(old))[2] == err
    assert rl("compact", str(old), "-w", "json") == (1, "", err)
    assert ctl("compact", str(old))[2] == err
    rc, out, werr = rl("watch", "c/k", "--rev", str(old))
    assert (rc, out) == (1, "")
    assert werr == ("watch was canceled (etcdserver: mvcc: required revision has been "
                    "compacted)\nError: watch is canceled by the server\n")
    assert ctl("watch", "c/k", "--rev", str(old))[2] == werr
    rl("put", "c/k", "3")
    newer = revision(rl)
    rc, out, _ = rl("compact", str(newer), "-w", "json")
    assert rc == 0 and json.loads(out)["header"]["revision"] == newer
    future = rl("get", "c/k", "--rev", str(now + 1000))
    assert future == (1, "", "Error: etcdserver: mvcc: required revision is a future "
                             "revision\n")


@pytest.mark.etcd
def test_defrag_every_endpoint(etcd: EtcdCluster, rl: Run, ctl: Run) -> None:
    eps = all_endpoints(etcd)
    mine = rl("defrag", endpoints=eps)
    assert mine == ctl("defrag", endpoints=eps)
    assert mine[1] == "".join(f"Finished defragmenting etcd member[{e}]\n"
                              for e in eps.split(","))
    dead = f"127.0.0.1:{closed_port()}"
    rc, out, err = rl("defrag", endpoints=f"{etcd.endpoint(1)},{dead}")
    assert rc == 1 and out == f"Finished defragmenting etcd member[{etcd.endpoint(1)}]\n"
    assert err.startswith(f"Failed to defragment etcd member[{dead}] (dial tcp")


@pytest.mark.etcd
def test_alarms_list_and_disarm(etcd: EtcdCluster, rl: Run, ctl: Run) -> None:
    assert rl("alarm", "list") == (0, "", "") == ctl("alarm", "list")
    assert rl("alarm", "list", "-w", "json")[1] == "{}\n"
    # Raise NOSPACE by hand (the API allows it): writes fail until it is disarmed.
    _, st = _cli._Client([etcd.endpoint(1)], 2, 5).call("maintenance/status", {})
    mid = st["header"]["member_id"]
    _cli._Client([etcd.endpoint(1)], 2, 5).call(
        "maintenance/alarm", {"action": "ACTIVATE", "memberID": mid, "alarm": "NOSPACE"})
    line = f"memberID:{mid} alarm:NOSPACE \n"
    assert rl("alarm", "list") == (0, line, "") == ctl("alarm", "list")
    assert rl("put", "x", "y") == (1, "", "Error: etcdserver: mvcc: database space exceeded\n")
    assert rl("alarm", "disarm") == (0, line, "")
    assert rl("alarm", "list") == (0, "", "")
    assert rl("put", "x", "y") == (0, "OK\n", "")


@pytest.mark.etcd
def test_member_list_add_promote_remove(etcd: EtcdCluster, rl: Run, ctl: Run) -> None:
    for fmt in ("simple", "table", "json"):
        assert rl("member", "list", "-w", fmt) == ctl("member", "list", "-w", fmt)
    rc, out, _ = rl("member", "list")
    ids = [line.split(", ")[0] for line in out.splitlines()]
    assert rc == 0 and sorted(int(i, 16) for i in ids) == sorted(
        etcd.etcd_id(m) for m in etcd.members)
    assert rl("member", "list", "-w", "table")[1].startswith(
        "+------------------+---------+------+")

    def added() -> tuple[int, str, str] | None:
        r = rl("member", "add", "n9", "--peer-urls", "http://127.0.0.1:9", "--learner")
        if r[0] and "unhealthy cluster" in r[2]:
            return None  # etcd refuses changes until every member has been up for 5 s
        return r

    rc, out, err = poll("member add", added)
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert re.fullmatch(r"Member ([0-9a-f ]{16}) added as learner to cluster [0-9a-f ]{16}",
                        lines[0])
    new = lines[0].split()[1]
    assert lines[1] == "" and lines[2] == 'ETCD_NAME="n9"'
    assert lines[4:] == ['ETCD_INITIAL_ADVERTISE_PEER_URLS="http://127.0.0.1:9"',
                         'ETCD_INITIAL_CLUSTER_STATE="existing"']
    peers = {f"{r[2]}={r[3]}" for r in (line.split(", ") for line in
                                        rl("member", "list")[1].splitlines()) if r[2]}
    assert lines[3].startswith('ETCD_INITIAL_CLUSTER="') and lines[3].endswith('"')
    assert set(lines[3][len('ETCD_INITIAL_CLUSTER="'):-1].split(",")) == peers | {
        "n9=http://127.0.0.1:9"}
    listed = rl("member", "list")[1]
    assert f"{new}, unstarted, , http://127.0.0.1:9, , true\n" in listed
    assert listed == ctl("member", "list")[1]
    assert rl("member", "promote", new) == (
        1, "", "Error: etcdserver: can only promote a learner member which is in sync with "
               "leader\n")
    rc, out, err = rl("member", "remove", new)
    assert (rc, err) == (0, "")
    assert re.fullmatch(rf"Member {new:>16} removed from cluster [0-9a-f ]{{16}}\n", out)
    assert new not in rl("member", "list")[1]
    theirs = ctl("member", "remove", new)
    assert rl("member", "remove", new) == (1, "", theirs[2])
    assert theirs[2] == "Error: etcdserver: member not found\n"
    assert rl("member", "remove", "xyz")[2].startswith("Error: bad member ID arg")


def status_rows(rl: Run, eps: str) -> list[list[str]]:
    rc, out, _ = rl("endpoint", "status", endpoints=eps)
    assert rc == 0
    return [line.split(", ") for line in out.splitlines()]


@pytest.mark.etcd
def test_endpoint_status_and_move_leader(etcd: EtcdCluster, rl: Run, ctl: Run) -> None:
    eps = all_endpoints(etcd)
    for fmt in ("simple", "table", "json"):
        mine, theirs = rl("endpoint", "status", "-w", fmt, endpoints=eps), ctl(
            "endpoint", "status", "-w", fmt, endpoints=eps)
        assert mine == theirs
    rows = status_rows(rl, eps)
    assert [r[0] for r in rows] == eps.split(",")
    assert [r[4] for r in rows].count("true") == 1
    assert rl("endpoint", "status", "-w", "table", endpoints=eps)[1].splitlines()[1] == (
        "|        ENDPOINT        |        ID        | VERSION | DB SIZE | IS LEADER | "
        "IS LEARNER | RAFT TERM | RAFT INDEX | RAFT APPLIED INDEX | ERRORS |")
    cluster_eps = [s["Endpoint"] for s in json.loads(
        rl("endpoint", "status", "--cluster", "-w", "json")[1])]
    assert sorted(cluster_eps) == sorted(eps.split(","))
    follower = next(r[1] for r in rows if r[4] == "false")
    leader = next(r[1] for r in rows if r[4] == "true")
    # Only the first endpoint is given: raftlib finds the leader's URL in the member list.
    assert rl("move-leader", follower) == (
        0, f"Leadership transferred from {leader} to {follower}\n", "")
    poll("the new leader", lambda: [r[1] for r in status_rows(rl, eps) if r[4] == "true"]
         == [follower])
    assert rl("move-leader", "1234", endpoints=eps) == (
        1, "", "Error: etcdserver: bad leader transferee\n")
    assert ctl("move-leader", "1234", endpoints=eps)[2] == \
        "Error: etcdserver: bad leader transferee\n"
    dead = f"127.0.0.1:{closed_port()}"
    rc, out, err = rl("endpoint", "status", endpoints=f"{dead},{etcd.endpoint(1)}")
    assert rc == 1 and out.startswith(etcd.endpoint(1) + ", ")
    assert err.startswith(f"Failed to get the status of endpoint {dead} (dial tcp")


@pytest.mark.etcd
def test_endpoint_health(etcd: EtcdCluster, rl: Run) -> None:
    eps = all_endpoints(etcd)
    rc, out, err = rl("endpoint", "health", endpoints=eps)
    assert (rc, err) == (0, "")
    for line, ep in zip(out.splitlines(), eps.split(","), strict=True):
        assert re.fullmatch(rf"{re.escape(ep)} is healthy: successfully committed proposal: "
                            r"took = [0-9.]+(ms|µs|s)", line)
    rc, out, _ = rl("endpoint", "health", "-w", "json", endpoints=eps)
    assert [(h["endpoint"], h["health"]) for h in json.loads(out)] == [
        (e, True) for e in eps.split(",")]
    out = rl("endpoint", "health", "-w", "table")[1].splitlines()
    assert [c.strip() for c in out[1].split("|")[1:-1]] == ["ENDPOINT", "HEALTH", "TOOK",
                                                            "ERROR"]
    assert [c.strip() for c in out[3].split("|")[1:3]] == [etcd.endpoint(1), "true"]
    dead = f"127.0.0.1:{closed_port()}"
    rc, out, err = rl("endpoint", "health", endpoints=f"{etcd.endpoint(1)},{dead}")
    assert rc == 1 and out.startswith(f"{etcd.endpoint(1)} is healthy")
    assert err == (f"{dead} is unhealthy: failed to commit proposal: dial tcp {dead}: "
                   "connect: connection refused\nError: unhealthy cluster\n")


@pytest.mark.etcd
def test_endpoints_fail_over_and_take_bare_addresses(etcd: EtcdCluster, rl: Run) -> None:
    bare = etcd.endpoint(2).removeprefix("http://")
    assert rl("put", "f/k", "v", endpoints=f"127.0.0.1:{closed_port()},{bare}") == (
        0, "OK\n", "")
    assert rl("get", "f/k", endpoints=bare) == (0, "f/k\nv\n", "")


# ------------------------------------------------------------------------- local cluster

HAVE_MEMBER = importlib.util.find_spec("raftlib.runtime._member") is not None


def free_base(step: int = 10, n: int = 3) -> int:
    """A port p with p, p+1, p+10, p+11, ... free (member i: client p+10(i-1), peer +1)."""
    return reserve_block(step * (n - 1) + 2)


@pytest.mark.skipif(not HAVE_MEMBER, reason="raftlib.runtime._member (the member runtime) "
                    "does not exist yet: cluster start/stop/kill/restart cannot run")
def test_local_cluster_start_kill_restart_stop(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    d = str(tmp_path / "c")
    base = free_base()
    start = ["cluster", "start", "--data-dir", d, "--members", "3", "--client-port",
             str(base), "--peer-port", str(base + 1), "--heartbeat-ms", "50",
             "--election-ms", "500", "--timeout", "30"]
    eps = ",".join(f"http://127.0.0.1:{base + 10 * i}" for i in range(3))
    try:
        rc = main(start)
        out, err = capsys.readouterr()
        assert (rc, err) == (0, ""), out + err
        assert out.splitlines()[-1] == f"endpoints: {eps}"
        state = json.loads((tmp_path / "c" / "cluster.json").read_text())
        assert [m["client_port"] for m in state["members"]] == [base, base + 10, base + 20]
        assert all((tmp_path / "c" / f"n{i}" / "member.log").exists() for i in (1, 2, 3))
        assert main(["--endpoints", eps, "put", "k", "v"]) == 0
        assert main(["--endpoints", eps, "endpoint", "health"]) == 0
        capsys.readouterr()
        assert main(start) == 1
        assert "a cluster is running in" in capsys.readouterr().err
        assert main(["cluster", "status", "--data-dir", d]) == 0
        rows = [r.split(", ") for r in capsys.readouterr().out.splitlines()]
        assert [r[2] for r in rows] == ["alive"] * 3 and [r[5] for r in rows].count("true") == 1
        # Kill a follower: the other two keep a leader, so writes go on without a pause.
        victim = next(int(r[0]) for r in rows if r[5] == "false")
        others = [e for i, e in enumerate(eps.split(","), 1) if i != victim]
        assert main(["cluster", "kill", str(victim), "--data-dir", d]) == 0
        assert main(["cluster", "status", "--data-dir", d]) == 0
        rows = [r.split(", ") for r in capsys.readouterr().out.splitlines() if r[0].isdigit()]
        assert [r[2] == "alive" for r in rows] == [i != victim for i in (1, 2, 3)]
        assert main(["--endpoints", ",".join(others), "put", "k", "v2"]) == 0
        assert main(["cluster", "kill", str(victim), "--data-dir", d]) == 1
        assert capsys.readouterr().err == f"Error: member {victim} is not running\n"
        assert main(["cluster", "restart", str(victim), "--data-dir", d]) == 0
        capsys.readouterr()
        poll("the restarted member to catch up", lambda: main(
            ["--endpoints", eps.split(",")[victim - 1], "get", "k", "--consistency", "s"]) == 0
             and capsys.readouterr().out == "k\nv2\n")
    finally:
        assert main(["cluster", "stop", "--data-dir", d]) == 0
    out = capsys.readouterr().out
    assert "stopped member" in out
    state = json.loads((tmp_path / "c" / "cluster.json").read_text())
    for m in state["members"]:
        assert not _cli._alive(m)
    assert main(["cluster", "status", "--data-dir", d, "-w", "json"]) == 0
    assert {r["process"] for r in json.loads(capsys.readouterr().out)} == {"dead"}
    # `cluster start` on a stopped cluster's directory starts the same members on their data.
    try:
        assert main(["cluster", "start", "--data-dir", d, "--timeout", "30"]) == 0
        assert "again on its data" in capsys.readouterr().out
        poll("the write to survive the restart", lambda: main(
            ["--endpoints", eps, "get", "k"]) == 0 and capsys.readouterr().out == "k\nv2\n")
    finally:
        assert main(["cluster", "stop", "--data-dir", d]) == 0


@pytest.mark.skipif(not HAVE_MEMBER, reason="raftlib.runtime._member (the member runtime) "
                    "does not exist yet: cluster start cannot run")
def test_local_cluster_start_failure_shows_the_log(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    base = free_base(n=1)
    with socket.socket() as taken:  # member 1's client port is in use
        taken.bind(("127.0.0.1", base))
        taken.listen()
        rc = main(["cluster", "start", "--data-dir", str(tmp_path), "--members", "1",
                   "--client-port", str(base), "--peer-port", str(base + 1), "--timeout", "5"])
    out, err = capsys.readouterr()
    assert rc == 1, out
    assert err.startswith("Error: member") and str(tmp_path / "n1" / "member.log") in err
    state = json.loads((tmp_path / "cluster.json").read_text())
    assert not _cli._alive(state["members"][0])  # a failed start leaves nothing running
    assert not Path(f"/proc/{state['members'][0]['pid']}").exists()


def test_cluster_verbs_without_a_cluster(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "stop", "--data-dir", str(tmp_path)]) == 1
    assert "no cluster in" in capsys.readouterr().err
