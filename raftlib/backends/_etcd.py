"""``EtcdCluster``: the :class:`raftlib.Cluster` interface over N real etcd 3.4 processes.

Members are etcd processes (names ``n1..nN``) on 127.0.0.1 with etcd's 64-bit member ids; see
:class:`~raftlib.backends.ProcessCluster` for what every process engine shares.

Network partitions are not possible here: every process shares one loopback interface, and
cutting links between them would need network namespaces (or iptables) and root. ``partition``,
``isolate`` and ``heal`` raise :class:`Unsupported`. Clients speak etcd's JSON gateway to their
attached member, which forwards writes to the leader itself.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ._process import BackendError, ProcessCluster, Unsupported, _Member

__all__ = ["ETCD_BINARY", "EtcdCluster"]

ETCD_BINARY = "/usr/bin/etcd"
"""The etcd server an :class:`EtcdCluster` runs (etcd 3.4)."""

_NO_PARTITIONS = (
    "EtcdCluster cannot {what}: its members are real etcd processes sharing one loopback "
    "interface (127.0.0.1), and cutting the links between them would need network namespaces "
    "(or iptables rules) and root. Use raftlib.sim.SimCluster for partitions, or crash/pause "
    "members here."
)



class EtcdCluster(ProcessCluster):
    """A cluster of ``n`` real etcd processes on 127.0.0.1 (implements ``raftlib.Cluster``).

    ``heartbeat_ms``, ``election_timeout_ms``, ``quota_backend_bytes`` (0: etcd's default) and
    ``pre_vote`` are etcd's flags. See :class:`~raftlib.backends.ProcessCluster`.
    """

    engine = "etcd"

    def __init__(self, n: int = 3, heartbeat_ms: int = 100, election_timeout_ms: int = 1000,
                 quota_backend_bytes: int = 0, pre_vote: bool = False,
                 data_dir: str | None = None, *, start_timeout: float = 30.0) -> None:
        if not os.path.exists(ETCD_BINARY):
            raise BackendError(f"{ETCD_BINARY} is missing: install etcd 3.4 "
                               "(apt-get install etcd-server) to run an EtcdCluster")
        super().__init__(n, heartbeat_ms, election_timeout_ms, quota_backend_bytes, pre_vote,
                         data_dir, start_timeout=start_timeout)

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
        self._popen(m, args)

    def partition(self, groups: Sequence[Sequence[int]]) -> None:
        """Not possible on one loopback interface: raises :class:`Unsupported`."""
        raise Unsupported(_NO_PARTITIONS.format(what="partition its members"))

    def isolate(self, member: int) -> None:
        """Not possible on one loopback interface: raises :class:`Unsupported`."""
        raise Unsupported(_NO_PARTITIONS.format(what=f"isolate member {member}"))

    def heal(self) -> None:
        """Not possible on one loopback interface: raises :class:`Unsupported`."""
        raise Unsupported(_NO_PARTITIONS.format(what="heal partitions"))
