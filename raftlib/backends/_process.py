"""What the process-based engines share: members as OS processes, clients over etcd's gateway.

:class:`ProcessCluster` runs N processes on 127.0.0.1, each with free client and peer ports and
its own data directory (``<dir>/n<i>/data``; what it prints goes to ``<dir>/n<i>/member.log``).
Members are named ``1..n`` and mapped to the ids the cluster itself uses. Faults are signals
sent by PID: ``crash`` is SIGKILL, ``pause``/``resume`` SIGSTOP/SIGCONT, ``restart`` starts the
member again on its data directory. Time is wall-clock. Subclasses: ``EtcdCluster`` (real etcd)
and ``RaftlibCluster`` (raftlib's own runtime). Both serve etcd's JSON gateway, so one client,
:class:`EtcdClient`, talks to either.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from .._cluster import Client, Cluster, MemberInfo
from ..gateway import (
    EtcdError,
    EtcdGateway,
    Unreachable,
    header_revision,
    op_json,
    op_response,
    watch_create,
    watch_response,
)
from ..kv import (
    CompactionResponse,
    Compare,
    DeleteRangeRequest,
    DeleteRangeResponse,
    ErrEmptyWatcherRange,
    KVError,
    LeaseGrantResponse,
    LeaseKeepAliveResponse,
    LeaseLeasesResponse,
    LeaseRevokeResponse,
    LeaseTimeToLiveResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    RequestOp,
    TxnRequest,
    TxnResponse,
    Watcher,
)
from ..kv._errors import (
    ErrDeadlineExceeded,
    ErrLearnerNotReady,
    ErrMemberNotFound,
    ErrMemberNotLearner,
    ErrNoLeader,
    ErrNotEnoughStartedMembers,
    ErrStopped,
    ErrTimeout,
    ErrTimeoutLeaderTransfer,
    ErrUnhealthy,
)
from ..runtime._launch import DEFAULT_PROGRESS_NOTIFY_MS
from ._ports import address_in_use, reserve_port

__all__ = ["BackendError", "EtcdClient", "ProcessCluster", "Unsupported"]

_Json = dict[str, Any]
_T = TypeVar("_T")

# etcd errors the store has no class for, but raftlib.kv has (cluster-level errors).
_CLUSTER_ERRORS: dict[str, type[KVError]] = {
    cls.message: cls
    for cls in (ErrNoLeader, ErrStopped, ErrMemberNotFound, ErrMemberNotLearner,
                ErrLearnerNotReady, ErrTimeoutLeaderTransfer, ErrDeadlineExceeded)
}
_TIMEOUTS = ("etcdserver: request timed out",
             "etcdserver: request timed out, possibly due to previous leader failure",
             "etcdserver: request timed out, possibly due to connection lost")

_UNHEALTHY = (ErrUnhealthy.message, ErrNotEnoughStartedMembers.message)


def _ok(status: int) -> bool:
    # A startup poll counts only a 2xx answer (etcd answers /health with 503 until ready).
    return 200 <= status < 300


class BackendError(Exception):
    """A backend cannot do what was asked (a missing binary, a process that did not start)."""


class Unsupported(BackendError, NotImplementedError):
    """The operation exists in the ``Cluster``/``Client`` interface but not on this backend."""


def blocked_by_group(groups: Sequence[Sequence[int]], members: Sequence[int]
                     ) -> dict[int, set[int]]:
    """For a partition into ``groups`` (an unlisted member is alone): whom each member of
    ``members`` must not hear from or talk to."""
    group_of = {m: set(g) for g in groups for m in g}
    return {m: set(members) - group_of.get(m, {m}) for m in members}


@dataclass
class _Member:
    mid: int
    name: str
    dir: str
    client_url: str
    peer_url: str
    proc: subprocess.Popen[bytes] | None = None
    log: Any = None
    paused: bool = False
    etcd_id: int = 0
    pids: list[int] = field(default_factory=list)

    @property
    def up(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def data(self) -> str:
        return os.path.join(self.dir, "data")

    @property
    def log_path(self) -> str:
        return os.path.join(self.dir, "member.log")


class ProcessCluster:
    """What every process-based engine shares: members as OS processes on 127.0.0.1, each
    with free client and peer ports and a data directory, driven through etcd's JSON gateway.

    Subclasses say how to start a member (:meth:`_spawn`) and whether partitions are possible.
    The constructor returns once every member is healthy (a leader is elected). Use it as a
    context manager, or call :meth:`close`: every process is stopped by its PID, even after an
    error. ``data_dir`` is kept on close; by default a temporary directory, removed by close.
    ``watch_progress_notify_ms`` is the period of the progress notifications that watches with
    ``progress_notify`` receive (etcd's ``--experimental-watch-progress-notify-interval``).
    """

    engine = "process"

    def __init__(self, n: int = 3, heartbeat_ms: int = 100, election_timeout_ms: int = 1000,
                 quota_backend_bytes: int = 0, pre_vote: bool = False,
                 data_dir: str | None = None, *, start_timeout: float = 30.0,
                 watch_progress_notify_ms: int = DEFAULT_PROGRESS_NOTIFY_MS) -> None:
        if n < 1:
            raise ValueError(f"a {type(self).__name__} needs at least one member")
        self.heartbeat_ms = heartbeat_ms
        self.election_timeout_ms = election_timeout_ms
        self.quota_backend_bytes = quota_backend_bytes
        self.pre_vote = pre_vote
        self.watch_progress_notify_ms = watch_progress_notify_ms
        self._own_dir = data_dir is None
        self.dir = (tempfile.mkdtemp(prefix=f"raftlib-{self.engine}-") if data_dir is None
                    else data_dir)
        self._token = f"raftlib-{os.getpid()}-{id(self)}"
        self._members: dict[int, _Member] = {}
        self._streams: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False
        try:
            self._start(n, start_timeout)
            for m in self._members.values():
                m.etcd_id = int(self._gateway(m, 5.0).call("maintenance/status", {})
                                ["header"]["member_id"])
        except BaseException:
            self.close()
            raise

    def _start(self, n: int, timeout: float, attempts: int = 3) -> None:
        for attempt in range(1, attempts + 1):
            for i in range(1, n + 1):
                self._members[i] = self._new_member(i)
            for m in self._members.values():
                self._spawn(m, join=False)
            try:
                self._wait_healthy(list(self._members.values()), timeout)
                return
            except BackendError:
                if attempt == attempts or not any(
                        address_in_use(self.logs(i)) for i in self._members):
                    raise
            # Another program bound one of our ports after it was probed: new ports, a fresh
            # start (the data directories already name the old URLs).
            for m in self._members.values():
                self._stop(m)
                shutil.rmtree(m.dir, ignore_errors=True)

    def _spawn(self, m: _Member, join: bool) -> None:
        """Start ``m``'s process (``join``: it was just added to the running cluster)."""
        raise NotImplementedError

    def _popen(self, m: _Member, args: list[str]) -> None:
        if m.log is not None:
            m.log.close()
        m.log = open(m.log_path, "ab")  # noqa: SIM115 - closed by _stop / close
        m.proc = subprocess.Popen(args, stdout=m.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        m.pids.append(m.proc.pid)
        m.paused = False

    # ----------------------------------------------------------------- processes

    def _new_member(self, i: int) -> _Member:
        d = os.path.join(self.dir, f"n{i}")
        os.makedirs(d, exist_ok=True)
        return _Member(i, f"n{i}", d, f"http://127.0.0.1:{reserve_port()}",
                       f"http://127.0.0.1:{reserve_port()}")

    def _wait_healthy(self, ms: list[_Member], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = list(ms)
        while pending:
            for m in list(pending):
                assert m.proc is not None
                if m.proc.poll() is not None:
                    raise BackendError(f"{self.engine} member {m.mid} exited with "
                                       f"{m.proc.returncode}: {self.logs(m.mid)}")
                try:
                    status, body = self._gateway(m, 1).exchange("GET", "/health")
                    if _ok(status) and b'"health":"true"' in body:
                        pending.remove(m)
                except OSError:
                    pass
            if pending and time.monotonic() > deadline:
                raise BackendError(f"{self.engine} members {[m.mid for m in pending]} did not "
                                   f"become healthy in {timeout} s: "
                                   f"{self.logs(pending[0].mid)}")
            if pending:
                time.sleep(0.05)

    def _stop(self, m: _Member, sig: int = signal.SIGKILL) -> None:
        p = m.proc
        if p is not None and p.poll() is None:
            if m.paused:
                os.kill(p.pid, signal.SIGCONT)
            os.kill(p.pid, sig)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        m.paused = False
        if m.log is not None:
            m.log.close()
            m.log = None

    def _member(self, member: int) -> _Member:
        m = self._members.get(member)
        if m is None:
            raise KeyError(f"no member {member} (members: {self.members})")
        return m

    def _gateway(self, m: _Member, timeout: float = 10.0) -> EtcdGateway:
        return EtcdGateway(m.client_url, timeout)

    def logs(self, member: int) -> str:
        """The last lines ``member``'s process printed."""
        m = self._member(member)
        try:
            with open(m.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-2000:]
        except OSError:
            return ""

    def pids(self) -> tuple[int, ...]:
        """Every PID this cluster ever started (running or not)."""
        return tuple(p for m in self._members.values() for p in m.pids)

    def endpoint(self, member: int) -> str:
        """The client URL of ``member``."""
        return self._member(member).client_url

    def pid(self, member: int) -> int | None:
        """The PID of ``member``'s running process (``None`` while it is down)."""
        m = self._member(member)
        return m.proc.pid if m.up and m.proc is not None else None

    def etcd_id(self, member: int) -> int:
        """The id the cluster itself gives ``member`` (etcd: a 64-bit id; raftlib: ``member``)."""
        return self._member(member).etcd_id

    def close(self) -> None:
        """Stop every member by its PID and remove the temporary data directory."""
        if self._closed:
            return
        self._closed = True
        for conn in list(self._streams):
            with contextlib.suppress(OSError):
                if conn.sock is not None:
                    conn.sock.shutdown(socket.SHUT_RDWR)
        errors: list[BaseException] = []
        for m in self._members.values():
            try:
                self._stop(m)
            except BaseException as exc:  # keep stopping the others
                errors.append(exc)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        if errors:
            raise errors[0]

    def __enter__(self) -> ProcessCluster:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if not getattr(self, "_closed", True):
                self.close()

    # ----------------------------------------------------------------- Cluster interface

    @property
    def members(self) -> tuple[int, ...]:
        """Every member id (up or down)."""
        return tuple(sorted(self._members))

    def crash(self, member: int) -> None:
        """SIGKILL ``member`` (its data directory is kept)."""
        self._stop(self._member(member), signal.SIGKILL)

    def restart(self, member: int, timeout: float = 30.0) -> None:
        """Start a crashed ``member`` again on its data directory; returns once it is up."""
        m = self._member(member)
        if m.up:
            raise BackendError(f"member {member} is running: crash it before restarting")
        self._spawn(m, join=False)
        self._wait_listening(m, timeout)

    def _wait_listening(self, m: _Member, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert m.proc is not None
            if m.proc.poll() is not None:
                raise BackendError(f"{self.engine} member {m.mid} exited with "
                                   f"{m.proc.returncode}: {self.logs(m.mid)}")
            try:
                if _ok(self._gateway(m, 1).exchange("GET", "/version")[0]):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BackendError(f"{self.engine} member {m.mid} did not start: "
                                   f"{self.logs(m.mid)}")
            time.sleep(0.05)

    def pause(self, member: int) -> None:
        """SIGSTOP ``member``."""
        m = self._member(member)
        if not m.up or m.proc is None:
            raise ErrStopped()
        os.kill(m.proc.pid, signal.SIGSTOP)
        m.paused = True

    def resume(self, member: int) -> None:
        """SIGCONT ``member``."""
        m = self._member(member)
        if m.up and m.proc is not None:
            os.kill(m.proc.pid, signal.SIGCONT)
        m.paused = False

    def partition(self, groups: Sequence[Sequence[int]]) -> None:
        """Let members talk only within their group (engines that cannot: :class:`Unsupported`)."""
        raise Unsupported(f"{type(self).__name__} cannot partition its members")

    def isolate(self, member: int) -> None:
        """Cut ``member`` off from every other member."""
        self.partition([[member], [i for i in self.members if i != member]])

    def heal(self) -> None:
        """Remove every partition."""
        self.partition([list(self.members)])

    def wait(self, ms: int) -> None:
        """Sleep ``ms`` milliseconds of real time."""
        time.sleep(ms / 1000)

    def _raw_status(self, m: _Member, timeout: float = 1.0) -> _Json | None:
        if not m.up or m.paused:
            return None
        try:
            return self._gateway(m, timeout).call("maintenance/status", {})
        except (OSError, KVError, ValueError):
            return None

    def _by_etcd_id(self, etcd_id: int) -> int:
        for m in self._members.values():
            if m.etcd_id == etcd_id and etcd_id:
                return m.mid
        return 0

    def leader(self) -> int | None:
        """The leader reported (in the highest term) by the running members, if it is up."""
        best: tuple[int, int] | None = None
        for m in self._members.values():
            j = self._raw_status(m)
            if j is None:
                continue
            term, lead = int(j.get("raftTerm", 0)), int(j.get("leader", 0))
            if lead and (best is None or term > best[0]):
                best = (term, lead)
        if best is None:
            return None
        mid = self._by_etcd_id(best[1])
        return mid if mid and self._members[mid].up and not self._members[mid].paused else None

    def _alarms(self) -> dict[int, tuple[str, ...]]:
        for m in self._members.values():
            if not m.up or m.paused:
                continue
            try:
                j = self._gateway(m, 1.0).call("maintenance/alarm", {"action": "GET"})
            except (OSError, KVError, ValueError):
                continue
            out: dict[int, set[str]] = {}
            for a in j.get("alarms", []):
                out.setdefault(self._by_etcd_id(int(a.get("memberID", 0))), set()).add(
                    str(a.get("alarm", "NONE")))
            return {k: tuple(sorted(v)) for k, v in out.items()}
        return {}

    def member_status(self, member: int, alarms: dict[int, tuple[str, ...]] | None = None
                      ) -> MemberInfo:
        """Status of one member (``up=False`` and zeros when it is down or unreachable;
        a paused member is reported ``up`` and ``paused`` with unknown fields)."""
        m = self._member(member)
        if not m.up:
            return MemberInfo(member, False, False, None, 0, 0, 0, 0, 0, 0, 0, ())
        j = self._raw_status(m)
        if j is None:
            return MemberInfo(member, True, m.paused, None, 0, 0, 0, 0, 0, 0, 0, ())
        if alarms is None:
            alarms = self._alarms()
        lead = self._by_etcd_id(int(j.get("leader", 0)))
        learner = bool(j.get("isLearner", False))
        # etcd's status names no role: the leader is the member its leader id names; a member
        # that knows no leader is campaigning (or about to), reported as a candidate.
        role = "leader" if lead == member else ("follower" if lead or learner else "candidate")
        hdr = j.get("header", {})
        return MemberInfo(member, True, False, role, int(j.get("raftTerm", 0)), lead,
                          int(j.get("raftIndex", 0)), int(j.get("raftAppliedIndex", 0)),
                          int(hdr.get("revision", 0)), int(j.get("dbSize", 0)),
                          int(j.get("dbSizeInUse", 0)), alarms.get(member, ()), learner)

    def status(self) -> dict[int, MemberInfo]:
        """Status of every member, from each running member's ``/v3/maintenance/status``."""
        alarms = self._alarms()
        return {mid: self.member_status(mid, alarms) for mid in self.members}

    def client(self, member: int | None = None, timeout: float = 10.0) -> EtcdClient:
        """A client attached to ``member`` (default: the first)."""
        return EtcdClient(self, member if member is not None else self.members[0], timeout)

    def _add_member_process(self, learner: bool, via: EtcdClient) -> int:
        new = max(self._members) + 1
        m = self._new_member(new)
        j = via._reconfigure("cluster/member/add",
                             {"peerURLs": [m.peer_url], "isLearner": learner})
        m.etcd_id = int(j.get("member", {}).get("ID", 0))
        self._members[new] = m
        self._spawn(m, join=True)
        self._wait_listening(m, 30.0)
        return new


class EtcdClient:
    """A client of one member through etcd's JSON gateway (implements ``raftlib.Client``);
    it serves every :class:`ProcessCluster`, real etcd and raftlib's runtime alike.

    etcd forwards writes to the leader itself. A down attached member raises
    :class:`raftlib.kv.ErrStopped`; a request with no answer before ``timeout`` seconds raises
    :class:`raftlib.kv.ErrTimeout` (indeterminate). etcd's errors become raftlib.kv errors
    where raftlib has a class for the message, :class:`raftlib.gateway.EtcdError` otherwise.
    """

    def __init__(self, cluster: ProcessCluster, member: int, timeout: float = 10.0) -> None:
        self.cluster = cluster
        self.member = member
        self.timeout = timeout

    def _gw(self) -> EtcdGateway:
        m = self.cluster._member(self.member)
        if not m.up:
            raise ErrStopped()
        return self.cluster._gateway(m, self.timeout)

    def _call(self, path: str, body: _Json) -> _Json:
        return self._retry(lambda gw: gw.call(path, body))

    def _retry(self, ask: Callable[[EtcdGateway], _T]) -> _T:
        # "no leader" means the request was certainly not applied: retry it (as etcd's own
        # client does) until a leader is known or the deadline passes.
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return self._once(ask)
            except ErrNoLeader:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)

    def _once(self, ask: Callable[[EtcdGateway], _T]) -> _T:
        try:
            return ask(self._gw())
        except EtcdError as e:
            if e.message in _TIMEOUTS:
                raise ErrTimeout() from e
            cls = _CLUSTER_ERRORS.get(e.message)
            if cls is not None:
                raise cls() from e
            raise
        except Unreachable as e:  # never sent: a down member, unless it did not answer in time
            if isinstance(e.reason, TimeoutError):
                raise ErrTimeout() from e
            raise ErrStopped() from e
        except TimeoutError as e:
            raise ErrTimeout() from e
        except (ConnectionError, http.client.HTTPException) as e:
            raise ErrTimeout() from e

    def _reconfigure(self, path: str, body: _Json) -> _Json:
        # etcd's strict reconfiguration check refuses a membership change until every member
        # has been connected for 5 s ("unhealthy cluster"): retry for a while, as etcdctl's
        # user would.
        deadline = time.monotonic() + max(self.timeout, 15.0)
        while True:
            try:
                return self._call(path, body)
            except EtcdError as e:
                if e.message not in _UNHEALTHY or time.monotonic() > deadline:
                    raise
            time.sleep(0.2)

    def _op(self, path: str, op: RequestOp, extra: _Json | None = None) -> object:
        return op_response(op, self._call(path, {**op_json(op), **(extra or {})}))

    def put(self, key: bytes, value: bytes, *, prev_kv: bool = False,
            lease: int = 0) -> PutResponse:
        """Set ``key`` to ``value`` (attached to ``lease`` if given)."""
        r = self._op("kv/put", PutRequest(key, value, lease, prev_kv=prev_kv))
        assert isinstance(r, PutResponse)
        return r

    def lease_grant(self, ttl: int, lease_id: int = 0) -> LeaseGrantResponse:
        """Grant a lease (``lease_id`` 0: the member picks one)."""
        return self._retry(lambda gw: gw.lease_grant(ttl, lease_id))

    def lease_revoke(self, lease_id: int) -> LeaseRevokeResponse:
        """Revoke a lease and delete its keys."""
        return self._retry(lambda gw: gw.lease_revoke(lease_id))

    def lease_keep_alive(self, lease_id: int) -> LeaseKeepAliveResponse:
        """Renew a lease (the member asks the leader)."""
        return self._retry(lambda gw: gw.lease_keep_alive(lease_id))

    def lease_time_to_live(self, lease_id: int, keys: bool = False) -> LeaseTimeToLiveResponse:
        """A lease's remaining seconds, as the leader sees them."""
        return self._retry(lambda gw: gw.lease_time_to_live(lease_id, keys))

    def leases(self) -> LeaseLeasesResponse:
        """Every lease the attached member knows."""
        return self._retry(lambda gw: gw.leases())

    def get(self, key: bytes, range_end: bytes = b"", *, revision: int = 0, limit: int = 0,
            serializable: bool = False) -> RangeResponse:
        """Read ``key`` or a range: linearizable unless ``serializable``."""
        r = self._op("kv/range", RangeRequest(key, range_end, limit=limit, revision=revision),
                     {"serializable": serializable})
        assert isinstance(r, RangeResponse)
        return r

    def delete(self, key: bytes, range_end: bytes = b"", *,
               prev_kv: bool = False) -> DeleteRangeResponse:
        """Delete ``key`` or a range."""
        r = self._op("kv/deleterange", DeleteRangeRequest(key, range_end, prev_kv))
        assert isinstance(r, DeleteRangeResponse)
        return r

    def txn(self, compare: Sequence[Compare] = (), success: Sequence[RequestOp] = (),
            failure: Sequence[RequestOp] = ()) -> TxnResponse:
        """A transaction."""
        r = self._op("kv/txn", TxnRequest(tuple(compare), tuple(success), tuple(failure)))
        assert isinstance(r, TxnResponse)
        return r

    def compact(self, revision: int) -> CompactionResponse:
        """Compact the history below ``revision`` (physical: returns once it is done)."""
        j = self._call("kv/compaction", {"revision": str(revision), "physical": True})
        return CompactionResponse(header_revision(j))

    def watch(self, key: bytes, range_end: bytes = b"", *, start_revision: int = 0,
              prev_kv: bool = False) -> Watcher:
        """Watch on the attached member: a background thread reads the gateway's stream into
        the returned :class:`raftlib.kv.Watcher` (``take()`` drains it). The stream ends with
        the member or the cluster."""
        m = self.cluster._member(self.member)
        if not m.up:
            raise ErrStopped()
        create = watch_create(key, range_end, start_revision=start_revision, prev_kv=prev_kv)
        stream = None
        try:
            stream = self.cluster._gateway(m).watch_stream(create, self.timeout)
            first = (stream.next() or {}).get("result", {})
        except OSError as e:
            if stream is not None:
                stream.close()
            raise ErrStopped() from e
        if not first.get("created") or first.get("canceled"):
            stream.close()
            reason = str(first.get("cancel_reason", f"watch was not created: {first}"))
            if reason == ErrEmptyWatcherRange.message:
                raise ErrEmptyWatcherRange()
            raise EtcdError(reason, 2)
        w = Watcher(int(first.get("watch_id", 0)), key, range_end, start_revision, prev_kv,
                    frozenset())
        conn = stream.conn
        if conn.sock is not None:
            conn.sock.settimeout(None)  # a watch waits for events as long as it lives
        self.cluster._streams.append(conn)

        def pump() -> None:
            try:
                while (msg := stream.next()) is not None:
                    resp = watch_response(msg.get("result", {}), w.id)
                    if resp.events or resp.canceled:
                        w.responses.append(resp)
                        if resp.events:
                            w.next_rev = resp.events[-1].kv.mod_revision + 1
                    if resp.canceled:
                        w.canceled = True
                        break
            except (OSError, ValueError, http.client.HTTPException):
                pass
            finally:
                stream.close()
                with contextlib.suppress(ValueError):
                    self.cluster._streams.remove(conn)

        threading.Thread(target=pump, name=f"etcd-watch-{self.member}-{w.id}",
                         daemon=True).start()
        return w

    def defragment(self, member: int) -> None:
        """Defragment ``member``'s backend (sent to that member, as etcdctl does)."""
        m = self.cluster._member(member)
        if not m.up:
            raise ErrStopped()
        EtcdClient(self.cluster, member, max(self.timeout, 30.0))._call(
            "maintenance/defragment", {})

    def alarms(self) -> tuple[str, ...]:
        """The raised alarms, e.g. ``("NOSPACE",)``."""
        j = self._call("maintenance/alarm", {"action": "GET"})
        return tuple(sorted({str(a.get("alarm", "NONE")) for a in j.get("alarms", [])}))

    def disarm(self) -> tuple[str, ...]:
        """Disarm every raised alarm; returns those disarmed."""
        j = self._call("maintenance/alarm", {"action": "GET"})
        out: list[str] = []
        for a in j.get("alarms", []):
            r = self._call("maintenance/alarm", {"action": "DEACTIVATE",
                                                 "memberID": str(a.get("memberID", 0)),
                                                 "alarm": a.get("alarm", "NONE")})
            out += [str(x.get("alarm", "NONE")) for x in r.get("alarms", [])]
        return tuple(out)

    def member_add(self, learner: bool = False) -> int:
        """Add a member (a learner if asked), start its etcd process, and return its id."""
        return self.cluster._add_member_process(learner, self)

    def member_remove(self, member: int) -> None:
        """Remove ``member`` from the cluster (its process, if running, stops by itself)."""
        m = self.cluster._members.get(member)
        if m is None or not m.etcd_id:
            raise ErrMemberNotFound()
        self._reconfigure("cluster/member/remove", {"ID": str(m.etcd_id)})

    def member_promote(self, member: int) -> None:
        """Promote learner ``member`` to voter (etcd refuses until it has caught up)."""
        m = self.cluster._members.get(member)
        if m is None or not m.etcd_id:
            raise ErrMemberNotFound()
        self._reconfigure("cluster/member/promote", {"ID": str(m.etcd_id)})

    def move_leader(self, member: int) -> None:
        """Hand leadership to ``member`` (the request goes to the current leader)."""
        target = self.cluster._member(member)
        lead = self.cluster.leader()
        if lead is None:
            raise ErrNoLeader()
        EtcdClient(self.cluster, lead, self.timeout)._call(
            "maintenance/transfer-leadership", {"targetID": str(target.etcd_id)})

    def status(self) -> MemberInfo:
        """Status of the attached member."""
        return self.cluster.member_status(self.member)


if TYPE_CHECKING:  # mypy proves that the backend implements the Cluster interface
    def _is_cluster(c: ProcessCluster) -> Cluster:
        return c

    def _is_client(c: EtcdClient) -> Client:
        return c
