"""A PySyncObj key-value store behind etcd's ``POST /v3/kv/put``: the third system of
``bench_runtime.py``.

As a script, one member: ``python bench/_pysyncobj_kv.py --id 1 --peers 1=127.0.0.1:7001,...
--http 127.0.0.1:8001 --data-dir DIR``. A :class:`KV` (a ``SyncObj`` holding a dict, with a
``@replicated`` put) replicates with its partners; a ``ThreadingHTTPServer`` answers a put only
once it is committed and applied on this member (``sync=True``), with etcd's JSON shape
(``{"header": {...}}``), and ``POST /v3/maintenance/status`` says who leads in which term.

Durability. PySyncObj 0.3.17 writes its journal (``journalFile``) into an ``mmap`` and never
flushes it (``FileJournal.flush`` exists but nothing calls it; there is no ``flushJournal``
option), and stores term and vote without fsync. So this module makes it durable, the way Raft
requires and etcd does:

- :class:`_FsyncJournal` marks itself dirty on every append or truncation; ``sync()`` calls
  ``FileJournal.flush()`` (``mmap.flush``, i.e. ``msync(MS_SYNC)``, which Linux implements as
  an fdatasync of the mapped range) once for everything appended since the last sync.
- :class:`_FsyncTransport` syncs the journal before it sends any message: a follower's
  acknowledgement of appended entries, and the leader's AppendEntries, leave only once those
  entries are on disk. ``KV._onTick`` also syncs at the start of every tick, before the leader
  counts its own log in a commit; so a commit needs a quorum of durable copies.
- Term and vote (``MetaStorer.storeMeta``) are written to a temporary file, fsynced, renamed,
  and the directory fsynced.

One sync covers everything appended since the previous one, but the member runs with
``appendEntriesUseBatch`` off (see :class:`PySyncObjCluster`), so the leader sends each command
as it takes it: about one fsync per put. The status endpoint reports the count (``fsyncs``).

:class:`PySyncObjCluster` starts N such members as processes, with the methods of
``raftlib.backends.EtcdCluster`` the benchmark needs.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from types import TracebackType
from typing import Any

from raftlib.backends._ports import reserve_port

_Json = dict[str, Any]

# ----------------------------------------------------------------------------- the member


def _serve(member: int, peers: dict[int, str], http_addr: str, data_dir: str,
           batch: bool) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import pysyncobj.journal as pjournal
    import pysyncobj.syncobj as psyncobj
    from pysyncobj import SyncObj, SyncObjConf, SyncObjException, replicated
    from pysyncobj.transport import TCPTransport

    class _FsyncJournal(pjournal.FileJournal):  # type: ignore[misc]
        def __init__(self, path: str) -> None:
            self.dirty = False
            self.syncs = 0
            super().__init__(path)

        def add(self, command: bytes, idx: int, term: int) -> None:
            super().add(command, idx, term)
            self.dirty = True

        def clear(self) -> None:
            super().clear()
            self.dirty = True

        def deleteEntriesFrom(self, entryFrom: int) -> None:
            super().deleteEntriesFrom(entryFrom)
            self.dirty = True

        def sync(self) -> None:
            if self.dirty:
                self.flush()  # mmap.flush(): msync(MS_SYNC) of the whole journal mapping
                self.dirty = False
                self.syncs += 1

    journals: list[_FsyncJournal] = []

    def create_journal(path: str | None) -> Any:
        assert path is not None, "the benchmark always gives a journal file"
        j = _FsyncJournal(path)
        journals.append(j)
        return j

    def store_meta(self: Any, meta: Any) -> None:
        path = self.getPath()
        with open(path + ".tmp", "wb") as f:
            f.write(pjournal.dumps(meta))
            f.flush()
            os.fsync(f.fileno())
        os.replace(path + ".tmp", path)
        fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # SyncObj.__init__ builds its journal with createJournal and writes term/vote through
    # MetaStorer: both are replaced before the member is constructed.
    psyncobj.createJournal = create_journal
    pjournal.MetaStorer.storeMeta = store_meta

    def sync_journal() -> None:
        for j in journals:
            j.sync()

    class _FsyncTransport(TCPTransport):  # type: ignore[misc]
        def send(self, node: Any, message: Any) -> Any:
            # Also before a leader's AppendEntries, though Raft would allow the leader's fsync
            # to overlap them (it counts itself only at the start of a tick, after _onTick's
            # sync): measured, that was 1.4x faster at 1 client but 0.5-0.75x at 16 and 64.
            sync_journal()
            return super().send(node, message)

    class KV(SyncObj):  # type: ignore[misc]
        def __init__(self, self_addr: str, partners: list[str], conf: Any) -> None:
            super().__init__(self_addr, partners, conf, transportClass=_FsyncTransport)
            self._data: dict[bytes, bytes] = {}
            self._revision = 1

        @replicated  # type: ignore[untyped-decorator]
        def put(self, key: bytes, value: bytes) -> int:
            self._revision += 1
            self._data[key] = value
            return self._revision

        def _onTick(self, timeToWait: float = 0.0) -> None:
            sync_journal()
            super()._onTick(timeToWait)

    os.makedirs(data_dir, exist_ok=True)
    conf = SyncObjConf(
        journalFile=os.path.join(data_dir, "journal"),
        fullDumpFile=os.path.join(data_dir, "dump"),
        # etcd's --snapshot-count default: compact after 100,000 entries, not every 5,000.
        logCompactionMinEntries=100_000, logCompactionMinTime=3600,
        appendEntriesUseBatch=batch,
    )
    kv = KV(peers[member], [a for i, a in sorted(peers.items()) if i != member], conf)
    by_addr = {a: i for i, a in peers.items()}

    def status() -> _Json:
        lead = kv._getLeader()
        lead_id = by_addr.get(lead.address if lead is not None else "", 0)
        return {"header": {"member_id": str(member), "revision": str(kv._revision)},
                "leader": str(lead_id), "raftTerm": str(kv._getTerm()),
                "raftIndex": str(kv.raftCommitIndex), "isLeader": bool(kv._isLeader()),
                "fsyncs": sum(j.syncs for j in journals)}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive
        disable_nagle_algorithm = True  # headers and body are separate writes

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, code: int, body: _Json) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._reply(200, {"health": "true" if kv._getLeader() else "false"})
            else:
                self._reply(404, {"error": "not found", "code": 5})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/v3/maintenance/status":
                self._reply(200, status())
                return
            if self.path != "/v3/kv/put":
                self._reply(404, {"error": "not found", "code": 5})
                return
            try:
                req = json.loads(body or b"{}")
                key = base64.b64decode(req["key"])
                value = base64.b64decode(req.get("value", ""))
            except (ValueError, KeyError, TypeError) as e:
                self._reply(400, {"error": f"bad request: {e}", "code": 3})
                return
            try:
                rev = kv.put(key, value, sync=True, timeout=10.0)
            except SyncObjException as e:
                self._reply(503, {"error": f"pysyncobj: {e.errorCode}", "code": 14})
                return
            self._reply(200, {"header": {"member_id": str(member), "revision": str(rev),
                                         "raft_term": str(kv._getTerm())}})

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256  # 64 clients connect at once

    host, port = http_addr.rsplit(":", 1)
    server = Server((host, int(port)), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        kv.destroy()


# ----------------------------------------------------------------------------- the cluster


class PySyncObjCluster:
    """``n`` :func:`_serve` members as processes on 127.0.0.1, each in ``<dir>/n<i>``.

    The subset of ``raftlib.backends.EtcdCluster`` the benchmark uses: ``endpoint``, ``leader``,
    ``crash`` (SIGKILL), ``restart``, ``pid``, ``members``, ``close``, context manager.
    ``batch`` is PySyncObj's ``appendEntriesUseBatch``: off by default, because with it on the
    leader sends new entries only with its next heartbeat (every 100 ms), which measured 9
    puts/s at 1 client and half the non-batched rate at 64 clients.
    """

    def __init__(self, n: int = 3, data_dir: str | None = None, batch: bool = False,
                 start_timeout: float = 30.0) -> None:
        self.batch = batch
        self._own_dir = data_dir is None
        self.dir = tempfile.mkdtemp(prefix="bench-pysyncobj-") if data_dir is None else data_dir
        ids = range(1, n + 1)
        self._peers = {i: f"127.0.0.1:{reserve_port()}" for i in ids}
        self._http = {i: f"127.0.0.1:{reserve_port()}" for i in ids}
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._logs: dict[int, Any] = {}
        self._closed = False
        try:
            for i in ids:
                self._spawn(i)
            self._wait_leader(start_timeout)
        except BaseException:
            self.close()
            raise

    def _spawn(self, i: int) -> None:
        d = os.path.join(self.dir, f"n{i}")
        os.makedirs(d, exist_ok=True)
        peers = ",".join(f"{j}={a}" for j, a in sorted(self._peers.items()))
        if i in self._logs:
            self._logs[i].close()
        self._logs[i] = open(os.path.join(d, "member.log"), "ab")  # noqa: SIM115 - closed in close
        self._procs[i] = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--id", str(i), "--peers", peers,
             "--http", self._http[i], "--data-dir", d, "--batch", str(int(self.batch))],
            stdout=self._logs[i], stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def _wait_leader(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.leader() is None:
            for i, p in self._procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"pysyncobj member {i} exited with {p.returncode}: "
                                       f"{self.logs(i)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no pysyncobj leader in {timeout} s: {self.logs(1)}")
            time.sleep(0.1)

    def logs(self, member: int) -> str:
        """The last lines ``member`` printed."""
        try:
            with open(os.path.join(self.dir, f"n{member}", "member.log"), "rb") as f:
                return f.read().decode(errors="replace")[-2000:]
        except OSError:
            return ""

    @property
    def members(self) -> tuple[int, ...]:
        return tuple(sorted(self._procs))

    def endpoint(self, member: int) -> str:
        return f"http://{self._http[member]}"

    def pid(self, member: int) -> int | None:
        p = self._procs[member]
        return p.pid if p.poll() is None else None

    def status(self, member: int, timeout: float = 1.0) -> _Json | None:
        """``member``'s ``/v3/maintenance/status``, or ``None`` if it does not answer."""
        if self.pid(member) is None:
            return None
        req = urllib.request.Request(self.endpoint(member) + "/v3/maintenance/status",
                                     data=b"{}", method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                j: _Json = json.loads(r.read())
                return j
        except (OSError, ValueError):
            return None

    def leader(self) -> int | None:
        """The member that says it leads (in the highest term any member reports)."""
        best: tuple[int, int] | None = None
        for i in self.members:
            j = self.status(i)
            if j is not None and j.get("isLeader"):
                term = int(j["raftTerm"])
                if best is None or term > best[0]:
                    best = (term, i)
        return best[1] if best else None

    def crash(self, member: int) -> None:
        """SIGKILL ``member`` (its data directory is kept)."""
        p = self._procs[member]
        if p.poll() is None:
            p.kill()
            p.wait()

    def restart(self, member: int) -> None:
        if self.pid(member) is not None:
            raise RuntimeError(f"member {member} is running")
        self._spawn(member)

    def close(self) -> None:
        """Kill every member by its PID and remove the temporary directory."""
        if self._closed:
            return
        self._closed = True
        for p in self._procs.values():
            if p.poll() is None:
                p.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(10)
        for f in self._logs.values():
            f.close()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PySyncObjCluster:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def main() -> None:
    p = argparse.ArgumentParser(description="one PySyncObj key-value member behind HTTP")
    p.add_argument("--id", type=int, required=True)
    p.add_argument("--peers", required=True, help="1=host:port,2=host:port,... (all members)")
    p.add_argument("--http", required=True, help="host:port to serve the JSON API on")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--batch", type=int, default=0, help="appendEntriesUseBatch (0 or 1)")
    a = p.parse_args()
    peers = {int(k): v for k, v in (x.split("=", 1) for x in a.peers.split(","))}
    _serve(a.id, peers, a.http, a.data_dir, bool(a.batch))


if __name__ == "__main__":
    main()
