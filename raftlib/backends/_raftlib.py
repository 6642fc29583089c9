"""``RaftlibCluster``: the :class:`raftlib.Cluster` interface over raftlib's own runtime.

Each member is a ``python -m raftlib.runtime member`` process (the sans-I/O core on trio, a
write-ahead log on disk, etcd's JSON gateway for clients) on 127.0.0.1. Everything but starting
a member is shared with :class:`~raftlib.backends.EtcdCluster` (see
:class:`~raftlib.backends.ProcessCluster`), so an experiment moves between the two engines by
changing the class it builds. Unlike real etcd here, partitions work: each member drops traffic
to and from the members outside its group, told through a raftlib-only endpoint
(``POST /raftlib/partition``).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Sequence

from ..runtime._launch import (
    DEFAULT_PROGRESS_NOTIFY_MS,
    DEFAULT_SNAPSHOT_COUNT,
    MemberSpec,
    member_command,
)
from ._process import BackendError, EtcdClient, ProcessCluster, _Member, blocked_by_group

__all__ = ["RaftlibCluster"]


def _hostport(url: str) -> tuple[str, int]:
    host, _, port = url.split("://", 1)[-1].rpartition(":")
    return host, int(port)


class RaftlibCluster(ProcessCluster):
    """A cluster of ``n`` raftlib member processes on 127.0.0.1 (implements
    ``raftlib.Cluster``); the same arguments as :class:`~raftlib.backends.EtcdCluster`.

    Members' ids are ``1..n``, the ids the runtime itself uses. ``snapshot_count`` is how
    many applied entries a member keeps before it takes a snapshot.
    """

    engine = "raftlib"

    def __init__(self, n: int = 3, heartbeat_ms: int = 100, election_timeout_ms: int = 1000,
                 quota_backend_bytes: int = 0, pre_vote: bool = False,
                 data_dir: str | None = None, *, start_timeout: float = 30.0,
                 snapshot_count: int = DEFAULT_SNAPSHOT_COUNT,
                 watch_progress_notify_ms: int = DEFAULT_PROGRESS_NOTIFY_MS) -> None:
        self._groups: list[list[int]] | None = None
        self.snapshot_count = snapshot_count
        super().__init__(n, heartbeat_ms, election_timeout_ms, quota_backend_bytes, pre_vote,
                         data_dir, start_timeout=start_timeout,
                         watch_progress_notify_ms=watch_progress_notify_ms)

    def _spawn(self, m: _Member, join: bool) -> None:
        spec = MemberSpec(
            m.mid, m.data, {i: _hostport(x.peer_url) for i, x in self._members.items()},
            _hostport(m.client_url), self._token, self.heartbeat_ms, self.election_timeout_ms,
            self.quota_backend_bytes, join, self.pre_vote,
            {i: _hostport(x.client_url) for i, x in self._members.items() if i != m.mid},
            self.snapshot_count, watch_progress_notify_ms=self.watch_progress_notify_ms)
        self._popen(m, member_command(spec))

    def restart(self, member: int, timeout: float = 30.0) -> None:
        """Start a crashed ``member`` again on its data directory, inside the partition it
        was in."""
        super().restart(member, timeout)
        if self._groups is not None:
            self._tell(self._member(member), self._blocked_for(member))

    def metrics(self, member: int) -> dict[str, int]:
        """raftlib's own counters of a running member (see ``raftlib.runtime.Member``)."""
        url = self._member(member).client_url + "/raftlib/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            out: dict[str, int] = json.loads(r.read())
        return out

    def _blocked_for(self, member: int) -> list[int]:
        assert self._groups is not None
        return sorted(blocked_by_group(self._groups, self.members)[member])

    def _tell(self, m: _Member, blocked: list[int]) -> None:
        body = json.dumps({"blocked": blocked}).encode()
        rq = urllib.request.Request(m.client_url + "/raftlib/partition", body,
                                    {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(rq, timeout=5) as r:
                r.read()
        except OSError as e:
            raise BackendError(f"member {m.mid} did not take the partition: {e}") from e

    def partition(self, groups: Sequence[Sequence[int]]) -> None:
        """Let members talk only within their group (an unlisted member is alone).

        Each running member is told whom to ignore; a crashed member learns it on restart.
        A paused member cannot be told: resume it first.
        """
        listed = [list(g) for g in groups]
        self._groups = listed if len(listed) > 1 or any(
            set(self.members) - set(listed[0] if listed else [])) else None
        for m in self._members.values():
            if m.up:
                if m.paused:
                    raise BackendError(f"member {m.mid} is paused: resume it before "
                                       "changing partitions")
                self._tell(m, self._blocked_for(m.mid) if self._groups is not None else [])

    def _add_member_process(self, learner: bool, via: EtcdClient) -> int:
        new = max(self._members) + 1
        m = self._new_member(new)
        j = via._reconfigure("cluster/member/add",
                             {"peerURLs": [m.peer_url], "isLearner": learner})
        given = int(j.get("member", {}).get("ID", 0))
        if given != new:
            raise BackendError(f"the cluster gave the new member id {given}, expected {new}")
        m.etcd_id = new
        self._members[new] = m
        self._spawn(m, join=True)
        self._wait_listening(m, 30.0)
        if self._groups is not None:
            self._tell(m, self._blocked_for(new))
        return new
