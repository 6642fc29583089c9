"""``raftlib``: etcdctl's everyday verbs over etcd's v3 JSON gateway, and a local cluster.

The client verbs (``put``, ``get``, ``del``, ``txn``, ``watch``, ``lease``, ``compact``,
``defrag``, ``alarm``, ``member``, ``move-leader``, ``endpoint``) speak HTTP+JSON to any server
that follows etcd 3.4's gateway: a raftlib member or a real etcd. Their ``simple`` output
follows etcdctl's, ``json`` prints the server's response (int64s as numbers, as etcdctl
does) and ``table`` draws etcdctl's tables where etcdctl has them.

``raftlib cluster start|status|stop|kill|restart`` runs members on 127.0.0.1 as detached
processes recorded in ``<data-dir>/cluster.json``; ``raftlib member --id ...`` is one member in
the foreground (what ``cluster start`` launches).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import importlib
import json
import math
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn
from urllib.parse import urlsplit

from raftlib.gateway import Unreachable, WatchStream, dial, send
from raftlib.raft import LocalError
from raftlib.runtime._launch import MemberSpec, member_command
from raftlib.runtime._wal import repair

__all__ = ["CliError", "main"]

_Json = dict[str, Any]

# Fields the gateway sends as strings because they are int64/uint64 in etcd's protobufs.
_INT_FIELDS = frozenset({
    "cluster_id", "member_id", "revision", "raft_term", "create_revision", "mod_revision",
    "version", "lease", "count", "deleted", "ID", "leader", "raftIndex", "raftTerm",
    "raftAppliedIndex", "dbSize", "dbSizeInUse", "memberID", "compact_revision", "watch_id",
    "TTL", "grantedTTL",
})
_DIGITS = re.compile(r"-?\d+")
_HEX = re.compile(r"[+-]?[0-9a-fA-F]+")
_BAD_ARGS = 128  # etcdctl's ExitBadArgs
_MEMBER_VERBS = ("list", "add", "remove", "promote")


class CliError(Exception):
    """An expected failure: printed as ``Error: <message>`` with exit status ``status`` (1;
    etcdctl's lease verbs also use 2, a failed request, and 128, a bad argument)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class _Unreachable(CliError):
    """No connection to an endpoint (the next endpoint may be tried)."""


class _ArgParser(argparse.ArgumentParser):
    """An argparse parser for one txn operation: a bad op is an error, not an exit."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"malformed txn op: {message}")


# ------------------------------------------------------------------------- helpers


def _b64(s: str | bytes) -> str:
    # Arguments that are not UTF-8 reach Python as surrogates: send their original bytes.
    b = s if isinstance(s, bytes) else s.encode(errors="surrogateescape")
    return base64.b64encode(b).decode()


def _text(b64: str | None) -> str:
    return base64.b64decode(b64).decode(errors="replace") if b64 else ""


def _numbers(obj: Any) -> Any:
    """The gateway's JSON with int64 strings turned into numbers, as etcdctl prints them."""
    if isinstance(obj, dict):
        return {k: (int(v) if k in _INT_FIELDS and isinstance(v, str) and _DIGITS.fullmatch(v)
                    else _numbers(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_numbers(v) for v in obj]
    return obj


def _dumps(obj: Any) -> str:
    return json.dumps(_numbers(obj), separators=(",", ":"))


def _prefix_end(key: bytes) -> bytes:
    """The range end covering every key that starts with ``key`` (etcd's GetPrefixRangeEnd)."""
    b = bytearray(key)
    for i in range(len(b) - 1, -1, -1):
        if b[i] < 0xFF:
            b[i] += 1
            return bytes(b[: i + 1])
    return b"\0"  # every byte was 0xff (or the key is empty): no end, read to the last key


def _humanize(n: int) -> str:
    """Bytes the way etcdctl's table shows them (go-humanize's SI ``Bytes``)."""
    if n < 10:
        return f"{n} B"
    e = math.floor(math.log(n, 1000))
    suffix = ["B", "kB", "MB", "GB", "TB", "PB", "EB"][e]
    val = math.floor(n / 1000**e * 10 + 0.5) / 10
    return f"{val:.1f} {suffix}" if val < 10 else f"{val:.0f} {suffix}"


def _go_duration(seconds: float) -> str:
    """A duration as Go's ``time.Duration.String`` prints one under a second (``2.4351ms``)."""
    ns = round(seconds * 1e9)
    for unit, scale in (("s", 10**9), ("ms", 10**6), ("µs", 10**3)):
        if ns >= scale:
            whole, frac = divmod(ns, scale)
            digits = f"{frac:0{len(str(scale)) - 1}d}".rstrip("0")
            return f"{whole}.{digits}{unit}" if digits else f"{whole}{unit}"
    return f"{ns}ns"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An ASCII table like etcdctl's: headers centred, cells aligned right."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def centre(s: str, w: int) -> str:
        left = (w - len(s)) // 2
        return " " * left + s + " " * (w - len(s) - left)

    out = [line, "| " + " | ".join(centre(h, w) for h, w in zip(header, widths, strict=True))
           + " |", line]
    out += ["| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |"
            for r in rows]
    out.append(line)
    return "\n".join(out)


def _url(endpoint: str) -> str:
    return endpoint if "://" in endpoint else "http://" + endpoint


def _hex_id(s: str) -> int:
    try:
        return int(s, 16)
    except ValueError:
        raise CliError(f"bad member ID arg ({s!r} is not a hexadecimal number), "
                       "expecting ID in Hex") from None


# ------------------------------------------------------------------------- HTTP


class _Client:
    """HTTP+JSON to the endpoints, the first reachable one first."""

    def __init__(self, endpoints: Sequence[str], dial_timeout: float, command_timeout: float
                 ) -> None:
        self.endpoints = list(endpoints)
        self.dial_timeout = dial_timeout
        self.command_timeout = command_timeout

    def connect(self, endpoint: str, timeout: float | None) -> http.client.HTTPConnection:
        url = _url(endpoint)
        if urlsplit(url).scheme != "http":
            raise CliError(f"{endpoint}: only http:// endpoints are supported")
        try:
            return dial(url, timeout, self.dial_timeout)
        except Unreachable as e:
            raise _Unreachable(str(e)) from None

    def request(self, endpoint: str, method: str, path: str, body: _Json | None = None
                ) -> _Json:
        """One request to ``endpoint``; etcd's error message is raised as a CliError."""
        conn = self.connect(endpoint, self.command_timeout)
        try:
            resp = send(conn, method, path, body)
            data = resp.read()
        except TimeoutError:
            raise CliError(f"context deadline exceeded ({endpoint} did not answer in "
                           f"{self.command_timeout:g} s)") from None
        except OSError as e:
            raise CliError(f"{endpoint}: {e}") from None
        finally:
            conn.close()
        try:
            out = json.loads(data) if data.strip() else {}
        except ValueError:
            raise CliError(f"{endpoint} answered {path} with HTTP {resp.status} and no JSON: "
                           f"{data[:200]!r}") from None
        if not isinstance(out, dict):
            raise CliError(f"{endpoint} answered {path} with unexpected JSON: {out!r}")
        if "error" in out or ("message" in out and resp.status >= 400):
            raise CliError(str(out.get("message") or out.get("error")))
        if resp.status >= 400:
            raise CliError(f"{endpoint} answered {path} with HTTP {resp.status}")
        return out

    def call(self, path: str, body: _Json) -> tuple[str, _Json]:
        """POST ``/v3/<path>`` to the first endpoint that accepts a connection."""
        errors = []
        for ep in self.endpoints:
            try:
                return ep, self.request(ep, "POST", f"/v3/{path}", body)
            except _Unreachable as e:
                errors.append(e.message)
        raise CliError("; ".join(errors))


# ------------------------------------------------------------------------- printing


def _say(*lines: str) -> None:
    for line in lines:
        print(line)


def _kv_lines(kv: _Json, args: argparse.Namespace) -> list[str]:
    if getattr(args, "print_value_only", False):
        return [_text(kv.get("value"))]
    return [_text(kv.get("key")), _text(kv.get("value"))]


def _simple_put(r: _Json, args: argparse.Namespace) -> list[str]:
    out = ["OK"]
    if r.get("prev_kv"):
        out += _kv_lines(r["prev_kv"], args)
    return out


def _simple_get(r: _Json, args: argparse.Namespace) -> list[str]:
    return [line for kv in r.get("kvs", []) for line in _kv_lines(kv, args)]


def _simple_del(r: _Json, args: argparse.Namespace) -> list[str]:
    out = [str(r.get("deleted", 0))]
    for kv in r.get("prev_kvs", []):
        out += _kv_lines(kv, args)
    return out


def _no_table(args: argparse.Namespace) -> None:
    if args.write_out == "table":
        raise CliError("table not supported as output format")


def _print(r: _Json, args: argparse.Namespace,
           simple: Callable[[_Json, argparse.Namespace], list[str]]) -> None:
    _no_table(args)
    if args.write_out == "json":
        _say(_dumps(r))
    else:
        _say(*simple(r, args))


# ------------------------------------------------------------------------- KV verbs


def _range_body(key: str, range_end: str | None, prefix: bool) -> _Json:
    if prefix:
        if range_end:
            raise CliError("too many arguments, only accept one argument when `--prefix` is set")
        if not key:  # an empty prefix is every key
            return {"key": _b64("\0"), "range_end": _b64("\0")}
        return {"key": _b64(key), "range_end": _b64(_prefix_end(
            key.encode(errors="surrogateescape")))}
    if not key:
        raise CliError("etcdserver: key is not provided")
    return {"key": _b64(key), **({"range_end": _b64(range_end)} if range_end else {})}


def _put_body(args: argparse.Namespace) -> _Json:
    value = args.value if args.value is not None else sys.stdin.read()
    return {"key": _b64(args.key), "value": _b64(value), "prev_kv": args.prev_kv,
            "lease": str(_lease_id(args.lease, "bad lease ID ({}), expecting ID in Hex"))}


def _lease_id(text: str, error: str = "bad lease ID arg ({}), expecting ID in Hex") -> int:
    """A lease id as etcdctl takes it: hexadecimal."""
    if not _HEX.fullmatch(text):
        raise CliError(error.format(f'strconv.ParseInt: parsing "{text}": invalid syntax'),
                       _BAD_ARGS)
    return int(text, 16)


def _get_body(args: argparse.Namespace) -> _Json:
    body = _range_body(args.key, args.range_end, args.prefix)
    body.update(revision=str(args.rev), limit=str(args.limit), keys_only=args.keys_only,
                serializable=args.consistency == "s")
    return body


def _del_body(args: argparse.Namespace) -> _Json:
    body = _range_body(args.key, args.range_end, args.prefix)
    body["prev_kv"] = args.prev_kv
    return body


def _cmd_put(c: _Client, args: argparse.Namespace) -> int:
    _no_table(args)
    _print(c.call("kv/put", _put_body(args))[1], args, _simple_put)
    return 0


def _cmd_get(c: _Client, args: argparse.Namespace) -> int:
    _no_table(args)
    _print(c.call("kv/range", _get_body(args))[1], args, _simple_get)
    return 0


def _cmd_del(c: _Client, args: argparse.Namespace) -> int:
    _no_table(args)
    _print(c.call("kv/deleterange", _del_body(args))[1], args, _simple_del)
    return 0


_COMPARE = re.compile(r'\s*(\w+)\("((?:[^"\\]|\\.)*)"\)\s*(=|!=|<|>)\s*"((?:[^"\\]|\\.)*)"\s*')
_TARGETS = {"ver": "version", "version": "version", "c": "create", "create": "create",
            "m": "mod", "mod": "mod", "val": "value", "value": "value", "lease": "lease"}
_RESULTS = {"=": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER"}


def _parse_compare(line: str) -> _Json:
    """One etcdctl comparison, e.g. ``mod("k") > "3"`` or ``value("k") = "v"``."""
    m = _COMPARE.fullmatch(line)
    if m is None:
        raise CliError(f"malformed comparison: {line}")
    target, key, op, value = m.groups()
    key, value = json.loads(f'"{key}"'), json.loads(f'"{value}"')
    t = _TARGETS.get(target)
    if t is None:
        raise CliError(f"malformed comparison: {line} (unknown target {target})")
    cmp: _Json = {"key": _b64(key), "target": t.upper(), "result": _RESULTS[op]}
    if t == "value":
        cmp["value"] = _b64(value)
        return cmp
    if not _DIGITS.fullmatch(value):
        raise CliError(f"malformed comparison: {line} ({value!r} is not an integer)")
    cmp[{"version": "version", "create": "create_revision", "mod": "mod_revision",
         "lease": "lease"}[t]] = value
    return cmp


def _op_parsers() -> dict[str, tuple[argparse.ArgumentParser, str, Callable[..., _Json]]]:
    def parser(name: str, add: Callable[[argparse.ArgumentParser], None]
               ) -> argparse.ArgumentParser:
        p = _ArgParser(prog=name, add_help=False)
        add(p)
        p.set_defaults(print_value_only=False)
        return p

    return {"put": (parser("put", _put_args), "request_put", _put_body),
            "get": (parser("get", _get_args), "request_range", _get_body),
            "del": (parser("del", _del_args), "request_delete_range", _del_body)}


def _parse_op(line: str) -> tuple[str, argparse.Namespace, _Json]:
    """One txn operation line: ``put k v``, ``get k [end] [--prefix]``, ``del k``."""
    try:
        words = shlex.split(line)
    except ValueError as e:
        raise CliError(f"malformed txn op: {line} ({e})") from None
    parsers = _op_parsers()
    if not words or words[0] not in parsers:
        raise CliError(f"malformed txn op: {line} (an op is put, get or del)")
    p, name, body = parsers[words[0]]
    ns = p.parse_args(words[1:])
    if words[0] == "put" and ns.value is None:
        raise CliError(f"malformed txn op: {line} (put needs a key and a value)")
    return name, ns, {name: body(ns)}


def _read_txn(lines: Sequence[str]) -> tuple[list[_Json], list[tuple[str, argparse.Namespace,
                                                                    _Json]], list[Any]]:
    """etcdctl's txn input: compares, a blank line, success ops, a blank line, failure ops."""
    sections: list[list[str]] = [[], [], []]
    i = 0
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            i += 1
            if i > 2:
                break
            continue
        sections[i].append(line)
    return ([_parse_compare(s) for s in sections[0]], [_parse_op(s) for s in sections[1]],
            [_parse_op(s) for s in sections[2]])


def _cmd_txn(c: _Client, args: argparse.Namespace) -> int:
    _no_table(args)
    compares, success, failure = _read_txn(sys.stdin.readlines())
    body = {"compare": compares, "success": [op[2] for op in success],
            "failure": [op[2] for op in failure]}
    r = c.call("kv/txn", body)[1]
    if args.write_out == "json":
        _say(_dumps(r))
        return 0
    ok = bool(r.get("succeeded", False))
    _say("SUCCESS" if ok else "FAILURE")
    printers = {"response_put": _simple_put, "response_range": _simple_get,
                "response_delete_range": _simple_del}
    for (_, ns, _), resp in zip(success if ok else failure, r.get("responses", []),
                                strict=False):
        ((kind, sub),) = resp.items()
        _say("", *printers[kind](sub, ns))
    return 0


def _cmd_watch(c: _Client, args: argparse.Namespace) -> int:
    _no_table(args)
    body = _range_body(args.key, args.range_end, args.prefix)
    body.update(start_revision=str(args.rev), prev_kv=args.prev_kv)
    errors = []
    for ep in c.endpoints:
        try:
            conn = c.connect(ep, None)  # a watch waits for events as long as it takes
            break
        except _Unreachable as e:
            errors.append(e.message)
    else:
        raise CliError("; ".join(errors))
    seen = 0
    stream = WatchStream(conn, body)
    resp = stream.response
    try:
        if resp.status >= 400:
            data = resp.read()
            try:
                raise CliError(str(json.loads(data).get("message")))
            except ValueError:
                raise CliError(f"{ep} answered /v3/watch with HTTP {resp.status}") from None
        while args.count is None or seen < args.count:
            msg = stream.next()
            if msg is None:
                raise CliError(f"{ep} closed the watch stream")
            if "error" in msg:
                raise CliError(str(msg["error"].get("message", msg["error"])))
            r = msg.get("result", {})
            if r.get("canceled"):
                reason = r.get("cancel_reason") or (
                    "etcdserver: mvcc: required revision has been compacted"
                    if int(r.get("compact_revision", 0)) else "unknown reason")
                print(f"watch was canceled ({reason})", file=sys.stderr)
                raise CliError("watch is canceled by the server")
            events = r.get("events", [])
            if not events:
                continue
            if args.write_out == "json":
                _say(_dumps(r))
            for ev in events:
                if args.write_out != "json":
                    _say(ev.get("type", "PUT"))
                    if ev.get("prev_kv"):
                        _say(*_kv_lines(ev["prev_kv"], args))
                    _say(*_kv_lines(ev["kv"], args))
                seen += 1
            sys.stdout.flush()  # a reader on a pipe sees each event as it happens
    finally:
        stream.close()
    return 0


def _cmd_compact(c: _Client, args: argparse.Namespace) -> int:
    r = c.call("kv/compaction", {"revision": str(args.revision), "physical": args.physical})[1]
    if args.write_out == "json":
        _say(_dumps(r))
    else:
        _say(f"compacted revision {args.revision}")
    return 0


# ------------------------------------------------------------------------- leases


def _lease_call(c: _Client, path: str, body: _Json, status: int = 2,
                wrap: str = "{}") -> _Json:
    """One lease request; its error exits with etcdctl's status for the verb (2: a failed
    request, 1 for grant and revoke, whose messages etcdctl wraps)."""
    try:
        return c.call(path, body)[1]
    except CliError as e:
        raise CliError(wrap.format(e.message), status) from None


def _json_or(args: argparse.Namespace, r: _Json, *lines: str) -> None:
    if args.write_out == "json":
        _say(_dumps(r))
    else:
        _say(*lines)


def _cmd_lease_grant(c: _Client, args: argparse.Namespace) -> int:
    _no_table(args)
    try:
        ttl = int(args.ttl)
    except ValueError:
        raise CliError(f'bad TTL (strconv.ParseInt: parsing "{args.ttl}": invalid syntax)',
                       _BAD_ARGS) from None
    r = _lease_call(c, "lease/grant", {"TTL": str(ttl)}, 1, "failed to grant lease ({})")
    _json_or(args, r, f"lease {int(r.get('ID', 0)):016x} granted with TTL({r.get('TTL', 0)}s)")
    return 0


def _cmd_lease_revoke(c: _Client, args: argparse.Namespace) -> int:
    _no_table(args)
    lid = _lease_id(args.id)
    r = _lease_call(c, "lease/revoke", {"ID": str(lid)}, 1, "failed to revoke lease ({})")
    _json_or(args, r, f"lease {lid:016x} revoked")
    return 0


def _cmd_lease_timetolive(c: _Client, args: argparse.Namespace) -> int:
    _no_table(args)
    lid = _lease_id(args.id)
    r = _lease_call(c, "lease/timetolive", {"ID": str(lid), "keys": args.keys})
    ttl = int(r.get("TTL", 0))
    line = f"lease {lid:016x} "
    if ttl == -1:
        line += "already expired"
    else:
        line += f"granted with TTL({r.get('grantedTTL', 0)}s), remaining({ttl}s)"
        if args.keys:
            keys = " ".join(base64.b64decode(k).decode(errors="replace")
                            for k in r.get("keys", []))
            line += f", attached keys([{keys}])"
    _json_or(args, r, line)
    return 0


def _cmd_lease_list(c: _Client, args: argparse.Namespace) -> int:
    _no_table(args)
    r = _lease_call(c, "lease/leases", {})
    ids = [int(x.get("ID", 0)) for x in r.get("leases", [])]
    _json_or(args, r, f"found {len(ids)} leases", *(f"{i:016x}" for i in ids))
    return 0


def _cmd_lease_keep_alive(c: _Client, args: argparse.Namespace) -> int:
    """Renew until the lease is gone (etcd's client renews every third of the TTL), or once."""
    _no_table(args)
    lid = _lease_id(args.id)
    while True:
        r = _lease_call(c, "lease/keepalive", {"ID": str(lid)}).get("result", {})
        ttl = int(r.get("TTL", 0))
        if ttl <= 0:
            if args.once:
                raise CliError("etcdserver: requested lease not found", 2)
            if args.write_out != "json":
                _say(f"lease {lid:016x} expired or revoked.")
            return 0
        _json_or(args, r, f"lease {lid:016x} keepalived with TTL({ttl})")
        if args.once:
            return 0
        time.sleep(max(ttl / 3, 0.5))


# ------------------------------------------------------------------------- maintenance


def _cmd_defrag(c: _Client, args: argparse.Namespace) -> int:
    failed = False
    for ep in c.endpoints:
        try:
            c.request(ep, "POST", "/v3/maintenance/defragment", {})
            _say(f"Finished defragmenting etcd member[{ep}]")
        except CliError as e:
            print(f"Failed to defragment etcd member[{ep}] ({e.message})", file=sys.stderr)
            failed = True
    return 1 if failed else 0


def _alarm_line(a: _Json) -> str:
    return f"memberID:{a.get('memberID', 0)} alarm:{a.get('alarm', 'NONE')} "


def _cmd_alarm_list(c: _Client, args: argparse.Namespace) -> int:
    _no_table(args)
    r = c.call("maintenance/alarm", {"action": "GET"})[1]
    if args.write_out == "json":
        _say(_dumps(r))
    else:
        _say(*(_alarm_line(a) for a in r.get("alarms", [])))
    return 0


def _cmd_alarm_disarm(c: _Client, args: argparse.Namespace) -> int:
    _no_table(args)
    ep, r = c.call("maintenance/alarm", {"action": "GET"})
    disarmed: list[_Json] = []
    out = r
    for a in r.get("alarms", []):  # the gateway disarms one (member, alarm) pair at a time
        out = c.request(ep, "POST", "/v3/maintenance/alarm",
                        {"action": "DEACTIVATE", "memberID": a.get("memberID", "0"),
                         "alarm": a.get("alarm", "NONE")})
        disarmed += out.get("alarms", [])
    if args.write_out == "json":
        _say(_dumps({**out, **({"alarms": disarmed} if disarmed else {})}))
    else:
        _say(*(_alarm_line(a) for a in disarmed))
    return 0


def _members(c: _Client) -> _Json:
    return c.call("cluster/member/list", {})[1]


def _member_row(m: _Json) -> list[str]:
    return [f"{int(m.get('ID', 0)):x}", "started" if m.get("name") else "unstarted",
            m.get("name", ""), ",".join(m.get("peerURLs", [])),
            ",".join(m.get("clientURLs", [])), str(bool(m.get("isLearner", False))).lower()]


def _cmd_member_list(c: _Client, args: argparse.Namespace) -> int:
    r = _members(c)
    rows = [_member_row(m) for m in r.get("members", [])]
    if args.write_out == "json":
        _say(_dumps(r))
    elif args.write_out == "table":
        _say(_table(["ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"], rows))
    else:
        _say(*(", ".join(row) for row in rows))
    return 0


def _cmd_member_add(c: _Client, args: argparse.Namespace) -> int:
    _no_table(args)
    urls = [u for u in args.peer_urls.split(",") if u]
    if not urls:
        raise CliError("member peer urls not provided")
    r = c.call("cluster/member/add", {"peerURLs": urls, "isLearner": args.learner})[1]
    if args.write_out == "json":
        _say(_dumps(r))
        return 0
    new = r.get("member", {})
    new_id = int(new.get("ID", 0))
    cluster_id = int(r.get("header", {}).get("cluster_id", 0))
    learner = " as learner " if new.get("isLearner") else " "
    conf = [f"{args.name if int(m.get('ID', 0)) == new_id else m.get('name', '')}={u}"
            for m in r.get("members", []) for u in m.get("peerURLs", [])]
    _say(f"Member {new_id:16x} added{learner}to cluster {cluster_id:16x}", "",
         f"ETCD_NAME={json.dumps(args.name)}",
         f"ETCD_INITIAL_CLUSTER={json.dumps(','.join(conf))}",
         f"ETCD_INITIAL_ADVERTISE_PEER_URLS={json.dumps(','.join(urls))}",
         'ETCD_INITIAL_CLUSTER_STATE="existing"')
    return 0


def _member_change(c: _Client, args: argparse.Namespace, path: str, done: str) -> int:
    _no_table(args)
    mid = _hex_id(args.id)
    r = c.call(path, {"ID": str(mid)})[1]
    if args.write_out == "json":
        _say(_dumps(r))
    else:
        cluster_id = int(r.get("header", {}).get("cluster_id", 0))
        _say(f"Member {mid:16x} {done} cluster {cluster_id:16x}")
    return 0


def _cmd_member_remove(c: _Client, args: argparse.Namespace) -> int:
    return _member_change(c, args, "cluster/member/remove", "removed from")


def _cmd_member_promote(c: _Client, args: argparse.Namespace) -> int:
    return _member_change(c, args, "cluster/member/promote", "promoted in")


def _cluster_endpoints(c: _Client, args: argparse.Namespace) -> list[str]:
    """The endpoints given, or with ``--cluster`` every member's client URLs."""
    if not getattr(args, "cluster", False):
        return c.endpoints
    return [u for m in _members(c).get("members", []) for u in m.get("clientURLs", [])]


def _cmd_move_leader(c: _Client, args: argparse.Namespace) -> int:
    _no_table(args)
    target = _hex_id(args.id)
    statuses = []
    for ep in c.endpoints:
        with contextlib.suppress(CliError):
            statuses.append((ep, c.request(ep, "POST", "/v3/maintenance/status", {})))
    if not statuses:
        raise CliError("no endpoint answered: " + ", ".join(c.endpoints))
    leader = int(statuses[0][1].get("leader", 0))
    if not leader:
        raise CliError("etcdserver: no leader")
    leader_ep = next((ep for ep, s in statuses
                      if int(s.get("header", {}).get("member_id", 0)) == leader), None)
    if leader_ep is None:  # the leader is not among --endpoints: ask it at its client URL
        for m in _members(c).get("members", []):
            if int(m.get("ID", 0)) == leader and m.get("clientURLs"):
                leader_ep = m["clientURLs"][0]
    if leader_ep is None:
        raise CliError(f"no leader endpoint given at {c.endpoints}")
    r = c.request(leader_ep, "POST", "/v3/maintenance/transfer-leadership",
                  {"targetID": str(target)})
    if args.write_out == "json":
        _say(_dumps(r))
    else:
        _say(f"Leadership transferred from {leader:x} to {target:x}")
    return 0


_STATUS_HEADER = ["ENDPOINT", "ID", "VERSION", "DB SIZE", "IS LEADER", "IS LEARNER",
                  "RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX", "ERRORS"]


def _status_row(ep: str, s: _Json) -> list[str]:
    mid = int(s.get("header", {}).get("member_id", 0))
    return [ep, f"{mid:x}", str(s.get("version", "")), _humanize(int(s.get("dbSize", 0))),
            str(mid == int(s.get("leader", 0))).lower(),
            str(bool(s.get("isLearner", False))).lower(), str(s.get("raftTerm", 0)),
            str(s.get("raftIndex", 0)), str(s.get("raftAppliedIndex", 0)),
            ", ".join(s.get("errors", []))]


def _cmd_endpoint_status(c: _Client, args: argparse.Namespace) -> int:
    found: list[tuple[str, _Json]] = []
    failed = False
    for ep in _cluster_endpoints(c, args):
        try:
            found.append((ep, c.request(ep, "POST", "/v3/maintenance/status", {})))
        except CliError as e:
            print(f"Failed to get the status of endpoint {ep} ({e.message})", file=sys.stderr)
            failed = True
    if args.write_out == "json":
        _say(json.dumps([{"Endpoint": ep, "Status": _numbers(s)} for ep, s in found],
                        separators=(",", ":")))
    elif args.write_out == "table":
        _say(_table(_STATUS_HEADER, [_status_row(ep, s) for ep, s in found]))
    else:
        _say(*(", ".join(_status_row(ep, s)) for ep, s in found))
    return 1 if failed else 0


def _cmd_endpoint_health(c: _Client, args: argparse.Namespace) -> int:
    results = []
    for ep in _cluster_endpoints(c, args):
        start = time.monotonic()
        try:
            r = c.request(ep, "GET", "/health")
            healthy = r.get("health") in ("true", True)
            error = "" if healthy else str(r.get("reason") or "unhealthy")
        except CliError as e:
            healthy, error = False, e.message
        results.append((ep, healthy, _go_duration(time.monotonic() - start), error))
    if args.write_out == "json":
        _say(json.dumps([{"endpoint": ep, "health": h, "took": took,
                          **({"error": err} if err else {})}
                         for ep, h, took, err in results], separators=(",", ":")))
    elif args.write_out == "table":
        _say(_table(["ENDPOINT", "HEALTH", "TOOK", "ERROR"],
                    [[ep, str(h).lower(), took, err] for ep, h, took, err in results]))
    else:
        for ep, h, took, err in results:
            if h:
                _say(f"{ep} is healthy: successfully committed proposal: took = {took}")
            else:
                print(f"{ep} is unhealthy: failed to commit proposal: {err}", file=sys.stderr)
    if not all(h for _, h, _, _ in results):
        raise CliError("unhealthy cluster")
    return 0


# ------------------------------------------------------------------------- local cluster

_STATE = "cluster.json"


def _state_path(data_dir: str) -> str:
    return os.path.join(data_dir, _STATE)


def _load_state(data_dir: str) -> _Json:
    try:
        with open(_state_path(data_dir)) as f:
            state: _Json = json.load(f)
    except FileNotFoundError:
        raise CliError(f"no cluster in {data_dir} ({_state_path(data_dir)} is missing); "
                       "start one with `raftlib cluster start`") from None
    except ValueError as e:
        raise CliError(f"{_state_path(data_dir)} is not valid JSON: {e}") from None
    return state


def _save_state(data_dir: str, state: _Json) -> None:
    tmp = _state_path(data_dir) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=2)
        f.write("\n")
    os.replace(tmp, _state_path(data_dir))


def _alive(m: _Json) -> bool:
    """Whether the member's recorded pid is still that member (not a dead or reused pid)."""
    pid = int(m.get("pid") or 0)
    if pid <= 0:
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap it if this process started it and it died
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        for _ in range(100):
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            if cmdline:
                break
            time.sleep(0.01)  # empty while the kernel is still executing a fresh member
    except (OSError, IndexError):
        return False
    argv = cmdline.split(b"\0")
    return b"raftlib.runtime" in argv and m["data_dir"].encode() in argv


def _spec(state: _Json, m: _Json) -> MemberSpec:
    peers = {int(p["id"]): ("127.0.0.1", int(p["peer_port"])) for p in state["members"]}
    clients = {int(p["id"]): ("127.0.0.1", int(p["client_port"])) for p in state["members"]
               if p["id"] != m["id"]}
    return MemberSpec(id=int(m["id"]), data_dir=m["data_dir"], peers=peers,
                      client=("127.0.0.1", int(m["client_port"])), token=state["token"],
                      heartbeat_ms=int(state["heartbeat_ms"]),
                      election_ms=int(state["election_ms"]), clients=clients)


def _spawn(state: _Json, m: _Json) -> None:
    os.makedirs(m["data_dir"], exist_ok=True)
    with open(m["log"], "ab") as log:
        proc = subprocess.Popen(member_command(_spec(state, m)), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    m["pid"] = proc.pid


def _log_tail(m: _Json, n: int = 20) -> str:
    try:
        with open(m["log"], "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()[-n:]
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in lines) or "    (empty log)"


def _endpoint(m: _Json) -> str:
    return f"http://127.0.0.1:{m['client_port']}"


def _health(m: _Json, want_true: bool) -> bool:
    c = _Client([], 0.5, 1.0)
    try:
        r = c.request(_endpoint(m), "GET", "/health")
    except CliError as e:
        if isinstance(e, _Unreachable):
            return False
        return not want_true  # it answered, though with an error
    return r.get("health") in ("true", True) or not want_true


def _wait_members(ms: list[_Json], timeout: float, want_true: bool = True) -> None:
    """Poll ``GET /health`` until every member answers (healthy, when ``want_true``)."""
    deadline = time.monotonic() + timeout
    pending = list(ms)
    while pending:
        for m in list(pending):
            if not _alive(m):
                raise CliError(f"member {m['id']} (pid {m['pid']}) exited; the end of "
                               f"{m['log']}:\n{_log_tail(m)}")
            if _health(m, want_true):
                pending.remove(m)
        if pending and time.monotonic() > deadline:
            m = pending[0]
            what = "healthy" if want_true else "answering"
            raise CliError(f"member(s) {', '.join(str(p['id']) for p in pending)} not "
                           f"{what} after {timeout:g} s; the end of {m['log']}:\n"
                           f"{_log_tail(m)}")
        if pending:
            time.sleep(0.1)


def _signal(m: _Json, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(m["pid"]), sig)


def _stop(ms: list[_Json], timeout: float) -> None:
    """SIGTERM, then SIGKILL what is still running after ``timeout`` seconds."""
    running = [m for m in ms if _alive(m)]
    for m in running:
        _signal(m, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_alive(m) for m in running) and time.monotonic() < deadline:
        time.sleep(0.05)
    for m in running:
        if _alive(m):
            _signal(m, signal.SIGKILL)
    while any(_alive(m) for m in running):
        time.sleep(0.02)


def _cmd_wal_repair(args: argparse.Namespace) -> int:
    try:
        plan = repair(args.dir, apply=args.yes)
    except (OSError, LocalError) as e:
        raise CliError(str(e)) from e
    if plan is None:
        _say(f"{args.dir}: the live WAL segment has no damage a cut would remove")
        return 0
    _say(str(plan))
    _say("cut." if args.yes else "nothing changed: run again with --yes to cut")
    return 0


def _cmd_cluster_start(args: argparse.Namespace) -> int:
    d = os.path.abspath(args.data_dir)
    if os.path.exists(_state_path(d)):
        state = _load_state(d)
        running = [m for m in state["members"] if _alive(m)]
        if running:
            raise CliError(f"a cluster is running in {d} (member(s) "
                           f"{', '.join(str(m['id']) for m in running)}); stop it first "
                           "with `raftlib cluster stop`")
        _say(f"starting the cluster recorded in {_state_path(d)} again on its data")
    else:
        if args.members < 1:
            raise CliError("--members must be at least 1")
        members = [{"id": i, "client_port": args.client_port + 10 * (i - 1),
                    "peer_port": args.peer_port + 10 * (i - 1),
                    "data_dir": os.path.join(d, f"n{i}", "data"),
                    "log": os.path.join(d, f"n{i}", "member.log"), "pid": 0}
                   for i in range(1, args.members + 1)]
        state = {"token": f"raftlib-{secrets.token_hex(6)}", "heartbeat_ms": args.heartbeat_ms,
                 "election_ms": args.election_ms, "members": members}
        os.makedirs(d, exist_ok=True)
    for m in state["members"]:
        _spawn(state, m)
    _save_state(d, state)  # before waiting: `cluster stop` can clean up after a failed start
    try:
        _wait_members(state["members"], args.timeout)
    except CliError:
        _stop(state["members"], 2.0)
        raise
    for m in state["members"]:
        _say(f"member {m['id']} (pid {m['pid']}): {_endpoint(m)}")
    _say(f"endpoints: {','.join(_endpoint(m) for m in state['members'])}")
    return 0


def _cmd_cluster_status(args: argparse.Namespace) -> int:
    state = _load_state(os.path.abspath(args.data_dir))
    c = _Client([], 0.5, 2.0)
    rows = []
    for m in state["members"]:
        alive = _alive(m)
        row = {"member": m["id"], "pid": m["pid"], "process": "alive" if alive else "dead",
               "endpoint": _endpoint(m)}
        if alive:
            try:
                s = c.request(_endpoint(m), "POST", "/v3/maintenance/status", {})
                sr = _status_row(_endpoint(m), s)
                row.update(id=sr[1], leader=sr[4], term=sr[6], index=sr[7], errors=sr[9])
            except CliError as e:
                row["errors"] = e.message
        rows.append(row)
    cols = ["member", "pid", "process", "endpoint", "id", "leader", "term", "index", "errors"]
    table = [[str(r.get(k, "")) for k in cols] for r in rows]
    if args.write_out == "json":
        _say(json.dumps(rows, separators=(",", ":")))
    elif args.write_out == "table":
        _say(_table(["MEMBER", "PID", "PROCESS", "ENDPOINT", "ID", "IS LEADER", "RAFT TERM",
                     "RAFT INDEX", "ERRORS"], table))
    else:
        _say(*(", ".join(r) for r in table))
    return 0


def _cmd_cluster_stop(args: argparse.Namespace) -> int:
    d = os.path.abspath(args.data_dir)
    state = _load_state(d)
    running = [m for m in state["members"] if _alive(m)]
    _stop(running, args.timeout)
    for m in running:
        _say(f"stopped member {m['id']} (pid {m['pid']})")
    if not running:
        _say(f"no member of the cluster in {d} was running")
    return 0


def _find(state: _Json, member: int) -> _Json:
    for m in state["members"]:
        if int(m["id"]) == member:
            found: _Json = m
            return found
    raise CliError(f"no member {member} (members: "
                   f"{', '.join(str(m['id']) for m in state['members'])})")


def _cmd_cluster_kill(args: argparse.Namespace) -> int:
    state = _load_state(os.path.abspath(args.data_dir))
    m = _find(state, args.id)
    if not _alive(m):
        raise CliError(f"member {args.id} is not running")
    _signal(m, signal.SIGKILL)
    while _alive(m):
        time.sleep(0.02)
    _say(f"killed member {args.id} (pid {m['pid']})")
    return 0


def _cmd_cluster_restart(args: argparse.Namespace) -> int:
    d = os.path.abspath(args.data_dir)
    state = _load_state(d)
    m = _find(state, args.id)
    _stop([m], 10.0)
    _spawn(state, m)
    _save_state(d, state)
    # Answering is enough: with no quorum alive the member is up but cannot be healthy.
    _wait_members([m], args.timeout, want_true=False)
    _say(f"restarted member {args.id} (pid {m['pid']}): {_endpoint(m)}")
    return 0


# ------------------------------------------------------------------------- arguments


def _put_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("key")
    p.add_argument("value", nargs="?", help="the value (read from stdin when left out)")
    p.add_argument("--prev-kv", action="store_true", help="also print the previous key-value")
    p.add_argument("--lease", default="0", help="lease ID (in hexadecimal) to attach the key to")


def _range_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("key")
    p.add_argument("range_end", nargs="?", help="the end of the range [KEY, RANGE_END)")
    p.add_argument("--prefix", action="store_true", help="every key that starts with KEY")


def _get_args(p: argparse.ArgumentParser) -> None:
    _range_args(p)
    p.add_argument("--rev", type=int, default=0, help="read at this revision (0: the latest)")
    p.add_argument("--limit", type=int, default=0, help="at most this many keys (0: all)")
    p.add_argument("--keys-only", action="store_true", help="keys without their values")
    p.add_argument("--print-value-only", action="store_true",
                   help="only the values (simple output)")
    p.add_argument("--consistency", choices=["l", "s"], default="l",
                   help="l: linearizable (through the leader), s: serializable (local)")


def _del_args(p: argparse.ArgumentParser) -> None:
    _range_args(p)
    p.add_argument("--prev-kv", action="store_true", help="also print the deleted key-values")


def _positive(s: str) -> float:
    v = float(s.removesuffix("s"))
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{s} is not a positive duration")
    return v


def _parser() -> argparse.ArgumentParser:
    # Global flags are accepted before and after the verb, like etcdctl's; on the verbs their
    # default is SUPPRESS so that leaving them out there keeps the value given before the verb.
    def common(default: bool) -> argparse.ArgumentParser:
        p = argparse.ArgumentParser(add_help=False)
        d = (lambda v: v) if default else (lambda v: argparse.SUPPRESS)
        p.add_argument("--endpoints", default=d("127.0.0.1:2379"),
                       help="comma-separated endpoints, with or without http:// "
                            "(default 127.0.0.1:2379)")
        p.add_argument("-w", "--write-out", choices=["simple", "json", "table"],
                       default=d("simple"), help="output format (default simple)")
        p.add_argument("--dial-timeout", type=_positive, default=d(2.0), metavar="SECONDS",
                       help="time to connect to an endpoint (default 2)")
        p.add_argument("--command-timeout", type=_positive, default=d(5.0), metavar="SECONDS",
                       help="time for one request, connection excluded (default 5)")
        return p

    flags = common(False)
    top = argparse.ArgumentParser(
        prog="raftlib", parents=[common(True)],
        description="etcdctl's everyday verbs over etcd's v3 JSON gateway (raftlib members or "
                    "real etcd), and a local raftlib cluster.",
        epilog="`raftlib member --id N ...` (an option right after `member`) runs one member "
               "process in the foreground; `raftlib member list|add|remove|promote` manage "
               "membership.")
    verbs = top.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(parent: Any, name: str, fn: Callable[..., int], help: str,
             args: Callable[[argparse.ArgumentParser], None] | None = None
             ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, parents=[flags], help=help,
                                                       description=help)
        if args is not None:
            args(p)
        p.set_defaults(fn=fn)
        return p

    verb(verbs, "put", _cmd_put, "put KEY VALUE; prints OK", _put_args)
    verb(verbs, "get", _cmd_get, "get KEY, a range [KEY, RANGE_END) or a --prefix", _get_args)
    verb(verbs, "del", _cmd_del, "delete KEY, a range or a --prefix; prints the count",
         _del_args)
    verb(verbs, "txn", _cmd_txn,
         "a transaction read from stdin in etcdctl's format: compares (e.g. "
         'value("k") = "v", mod("k") > "3", version(...), create(...)), a blank line, the '
         "ops if they hold (put/get/del lines), a blank line, the ops if they do not")
    w = verb(verbs, "watch", _cmd_watch,
             "print the events on KEY, a range or a --prefix until interrupted", _range_args)
    w.add_argument("--rev", type=int, default=0, help="start at this revision (0: from now)")
    w.add_argument("--prev-kv", action="store_true", help="print each event's previous kv")
    w.add_argument("--count", type=int, metavar="N",
                   help="exit after N events (raftlib's own flag; etcdctl has none)")
    lease = verbs.add_parser("lease", help="grant, revoke, renew and inspect leases")
    ls = lease.add_subparsers(dest="sub", required=True,
                              metavar="grant|revoke|timetolive|list|keep-alive")
    verb(ls, "grant", _cmd_lease_grant, "grant a lease of TTL seconds").add_argument("ttl")
    verb(ls, "revoke", _cmd_lease_revoke,
         "revoke the lease with hex id ID and delete its keys").add_argument("id")
    ttl = verb(ls, "timetolive", _cmd_lease_timetolive, "the seconds left of a lease")
    ttl.add_argument("id")
    ttl.add_argument("--keys", action="store_true", help="also list the attached keys")
    verb(ls, "list", _cmd_lease_list, "list every lease")
    ka = verb(ls, "keep-alive", _cmd_lease_keep_alive,
              "renew a lease until it is gone (or once, with --once)")
    ka.add_argument("id")
    ka.add_argument("--once", action="store_true", help="renew once and exit")
    c = verb(verbs, "compact", _cmd_compact, "drop the history before revision REV")
    c.add_argument("revision", type=int, metavar="REV")
    c.add_argument("--physical", action="store_true",
                   help="return once the compaction is applied to the backend")
    verb(verbs, "defrag", _cmd_defrag, "defragment the backend of every endpoint")
    alarm = verbs.add_parser("alarm", help="list or disarm alarms (NOSPACE, CORRUPT)")
    alarms = alarm.add_subparsers(dest="sub", required=True, metavar="list|disarm")
    verb(alarms, "list", _cmd_alarm_list, "list the raised alarms")
    verb(alarms, "disarm", _cmd_alarm_disarm, "disarm every raised alarm")
    member = verbs.add_parser("member", help="list, add, remove or promote members")
    ms = member.add_subparsers(dest="sub", required=True, metavar="list|add|remove|promote")
    verb(ms, "list", _cmd_member_list, "list the members (ids in hex)")
    add = verb(ms, "add", _cmd_member_add, "add a member (it is started afterwards)")
    add.add_argument("name")
    add.add_argument("--peer-urls", required=True, help="comma-separated peer URLs")
    add.add_argument("--learner", action="store_true", help="add it as a learner")
    verb(ms, "remove", _cmd_member_remove, "remove the member with hex id ID").add_argument("id")
    verb(ms, "promote", _cmd_member_promote, "promote the learner with hex id ID").add_argument(
        "id")
    verb(verbs, "move-leader", _cmd_move_leader,
         "transfer leadership to the member with hex id ID").add_argument("id")
    endpoint = verbs.add_parser("endpoint", help="status or health of each endpoint")
    eps = endpoint.add_subparsers(dest="sub", required=True, metavar="status|health")
    for name, fn, text in (("status", _cmd_endpoint_status, "status of each endpoint"),
                           ("health", _cmd_endpoint_health, "health of each endpoint")):
        verb(eps, name, fn, text).add_argument(
            "--cluster", action="store_true",
            help="every member's client URLs (from member list) instead of --endpoints")

    wal = verbs.add_parser("wal", help="inspect or repair a member's write-ahead log")
    wals = wal.add_subparsers(dest="sub", required=True, metavar="repair")
    rp = verb(wals, "repair", _cmd_wal_repair,
              "say what cutting the damaged end of a stopped member's log would drop; cut it "
              "with --yes (raftlib's own)")
    rp.add_argument("dir", metavar="DIR", help="the member's data directory or its wal/")
    rp.add_argument("--yes", action="store_true", help="cut it")
    rp.set_defaults(local=True)

    cl = verbs.add_parser(
        "cluster", help="a local raftlib cluster on 127.0.0.1 (raftlib's own)",
        description="Members run as detached processes; member i serves clients on "
                    "CLIENT_PORT+10*(i-1) and peers on PEER_PORT+10*(i-1), keeps its data in "
                    "DATA_DIR/n<i>/data and writes DATA_DIR/n<i>/member.log. "
                    "DATA_DIR/cluster.json records ids, pids, ports and the cluster token.")
    cls = cl.add_subparsers(dest="sub", required=True,
                            metavar="start|status|stop|kill|restart")

    def cluster_verb(name: str, fn: Callable[[argparse.Namespace], int], help: str
                     ) -> argparse.ArgumentParser:
        p = verb(cls, name, fn, help)
        p.add_argument("--data-dir", default="./raftlib-data",
                       help="the cluster's directory (default ./raftlib-data)")
        p.set_defaults(local=True)
        return p

    st = cluster_verb("start", _cmd_cluster_start,
                      "start N members (or the stopped cluster recorded in --data-dir) and "
                      "wait until each is healthy")
    st.add_argument("--members", type=int, default=3, help="how many (default 3)")
    st.add_argument("--client-port", type=int, default=2379,
                    help="member 1's client port; member i's is this + 10*(i-1) (default 2379)")
    st.add_argument("--peer-port", type=int, default=2380,
                    help="member 1's peer port; member i's is this + 10*(i-1) (default 2380)")
    st.add_argument("--heartbeat-ms", type=int, default=100, help="default 100")
    st.add_argument("--election-ms", type=int, default=1000, help="default 1000")
    st.add_argument("--timeout", type=float, default=30.0,
                    help="seconds to wait for health (default 30)")
    cluster_verb("status", _cmd_cluster_status, "each member's process and endpoint status")
    cluster_verb("stop", _cmd_cluster_stop,
                 "SIGTERM every member, SIGKILL after --timeout; data is kept").add_argument(
        "--timeout", type=float, default=10.0, help="seconds before SIGKILL (default 10)")
    cluster_verb("kill", _cmd_cluster_kill, "SIGKILL member ID (for experiments)").add_argument(
        "id", type=int)
    rs = cluster_verb("restart", _cmd_cluster_restart,
                      "stop member ID if it runs, start it again on its data and wait until "
                      "it answers")
    rs.add_argument("id", type=int)
    rs.add_argument("--timeout", type=float, default=30.0,
                    help="seconds to wait (default 30)")
    return top


def _run_member(argv: list[str]) -> int:
    try:
        mod: Any = importlib.import_module("raftlib.runtime._member")
    except ModuleNotFoundError as e:
        if e.name != "raftlib.runtime._member":
            raise
        print("Error: this raftlib has no member runtime (raftlib.runtime._member)",
              file=sys.stderr)
        return 1
    return int(mod.main(argv))


def main(argv: list[str] | None = None) -> int:
    """Run the ``raftlib`` command line; returns the exit status."""
    args_list = sys.argv[1:] if argv is None else list(argv)
    if (len(args_list) >= 2 and args_list[0] == "member" and args_list[1].startswith("-")
            and args_list[1] not in ("-h", "--help")):
        return _run_member(args_list[1:])
    try:
        args = _parser().parse_args(args_list)
    except SystemExit as e:  # --help, or a usage error argparse has already printed
        return e.code if isinstance(e.code, int) else 2
    try:
        if getattr(args, "local", False):
            return int(args.fn(args))
        endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
        if not endpoints:
            raise CliError("no endpoints given")
        client = _Client(endpoints, args.dial_timeout, args.command_timeout)
        return int(args.fn(client, args))
    except CliError as e:
        sys.stdout.flush()
        print(f"Error: {e.message}", file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `raftlib watch ... | head -1`
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - nothing more is written
        return 0
