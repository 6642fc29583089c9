"""``EtcdCluster``: the :class:`raftlib.Cluster` interface over N real etcd 3.4 processes.

Members are etcd processes (names ``n1..nN``) on 127.0.0.1 with etcd's 64-bit member ids; see
:class:`~raftlib.backends.ProcessCluster` for what every process engine shares.

By default every member listens on 127.0.0.1, and processes sharing one loopback interface
cannot be cut apart: ``partition``, ``isolate`` and ``heal`` raise :class:`Unsupported`. As
root, ``EtcdCluster(..., netns=True)`` puts each member in its own network namespace on a
private bridge (see ``raftlib.backends._netns``), and partitions work. Clients speak etcd's
JSON gateway to their attached member, which forwards writes to the leader itself.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..runtime._launch import DEFAULT_PROGRESS_NOTIFY_MS
from ._netns import Netns
from ._process import BackendError, ProcessCluster, Unsupported, _Member, blocked_by_group

__all__ = ["ETCD_BINARY", "EtcdCluster"]

ETCD_BINARY = "/usr/bin/etcd"
"""The etcd server an :class:`EtcdCluster` runs (etcd 3.4)."""

_NO_PARTITIONS = (
    "EtcdCluster cannot {what}: its members are real etcd processes sharing one loopback "
    "interface (127.0.0.1), and cutting the links between them needs network namespaces. As "
    "root, start it with EtcdCluster(..., netns=True); otherwise use raftlib.sim.SimCluster "
    "or RaftlibCluster for partitions, or crash/pause members here."
)



class EtcdCluster(ProcessCluster):
    """A cluster of ``n`` real etcd processes on 127.0.0.1 (implements ``raftlib.Cluster``).

    ``heartbeat_ms``, ``election_timeout_ms``, ``quota_backend_bytes`` (0: etcd's default) and
    ``pre_vote`` are etcd's flags. ``netns`` (root only) gives each member its own network
    namespace so that partitions work. See :class:`~raftlib.backends.ProcessCluster`.
    """

    engine = "etcd"

    def __init__(self, n: int = 3, heartbeat_ms: int = 100, election_timeout_ms: int = 1000,
                 quota_backend_bytes: int = 0, pre_vote: bool = False,
                 data_dir: str | None = None, *, start_timeout: float = 30.0,
                 netns: bool = False,
                 watch_progress_notify_ms: int = DEFAULT_PROGRESS_NOTIFY_MS) -> None:
        if not os.path.exists(ETCD_BINARY):
            raise BackendError(f"{ETCD_BINARY} is missing: install etcd 3.4 "
                               "(apt-get install etcd-server) to run an EtcdCluster")
        self._netns: Netns | None = None
        if netns:
            try:
                self._netns = Netns()
            except OSError as e:
                raise BackendError(f"EtcdCluster(netns=True): {e}") from e
        try:
            super().__init__(n, heartbeat_ms, election_timeout_ms, quota_backend_bytes,
                             pre_vote, data_dir, start_timeout=start_timeout,
                             watch_progress_notify_ms=watch_progress_notify_ms)
        except BaseException:
            if self._netns is not None:
                self._netns.close()
            raise

    def _new_member(self, i: int) -> _Member:
        if self._netns is None:
            return super()._new_member(i)
        # A namespace has ports of its own: every member can use etcd's default ports.
        self._netns.add(i)
        addr = self._netns.address(i)
        d = os.path.join(self.dir, f"n{i}")
        os.makedirs(d, exist_ok=True)
        return _Member(i, f"n{i}", d, f"http://{addr}:2379", f"http://{addr}:2380")

    def close(self) -> None:
        """Stop every member, remove the temporary data directory and any namespaces."""
        try:
            super().close()
        finally:
            if self._netns is not None:
                self._netns.close()

    def _initial_cluster(self) -> str:
        return ",".join(f"{m.name}={m.peer_url}" for m in self._members.values())

    def _spawn(self, m: _Member, join: bool) -> None:
        state = "existing" if join or m.pids else "new"
        args = [ETCD_BINARY, "--name", m.name, "--data-dir", m.data,
                "--listen-client-urls", m.client_url, "--advertise-client-urls", m.client_url,
                "--listen-peer-urls", m.peer_url, "--initial-advertise-peer-urls", m.peer_url,
                "--initial-cluster", self._initial_cluster(), "--initial-cluster-state", state,
                "--initial-cluster-token", self._token,
                "--heartbeat-interval", str(self.heartbeat_ms),
                "--election-timeout", str(self.election_timeout_ms),
                f"--pre-vote={'true' if self.pre_vote else 'false'}",
                "--log-level", "warn"]
        if self.quota_backend_bytes:
            args += ["--quota-backend-bytes", str(self.quota_backend_bytes)]
        if self.watch_progress_notify_ms != DEFAULT_PROGRESS_NOTIFY_MS:
            args.append("--experimental-watch-progress-notify-interval="
                        f"{self.watch_progress_notify_ms}ms")
        if self._netns is not None:
            args = [*self._netns.exec_prefix(m.mid), *args]
        self._popen(m, args)

    def partition(self, groups: Sequence[Sequence[int]]) -> None:
        """Let members talk only within their group: blackhole routes inside each member's
        namespace (``netns=True``); on loopback, raises :class:`Unsupported`."""
        if self._netns is None:
            raise Unsupported(_NO_PARTITIONS.format(what="partition its members"))
        for member, blocked in blocked_by_group(groups, self.members).items():
            self._netns.block(member, blocked)

    def isolate(self, member: int) -> None:
        """Cut ``member`` off from every other member (``netns=True`` only)."""
        if self._netns is None:
            raise Unsupported(_NO_PARTITIONS.format(what=f"isolate member {member}"))
        super().isolate(member)

    def heal(self) -> None:
        """Remove every partition (``netns=True`` only)."""
        if self._netns is None:
            raise Unsupported(_NO_PARTITIONS.format(what="heal partitions"))
        super().heal()
