"""How a member process is started: the one command line every launcher builds.

``raftlib.backends.RaftlibCluster`` and the ``raftlib cluster start`` command both start members
with :func:`member_command`, so a member started either way is the same program.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["DEFAULT_PROGRESS_NOTIFY_MS", "DEFAULT_SNAPSHOT_COUNT", "MemberSpec", "member_command"]

DEFAULT_SNAPSHOT_COUNT = 100_000
"""Applied entries between snapshots, as etcd 3.4's ``--snapshot-count`` default."""

DEFAULT_PROGRESS_NOTIFY_MS = 600_000
"""etcd's progress notification interval (``--experimental-watch-progress-notify-interval``)."""


@dataclass(frozen=True, slots=True)
class MemberSpec:
    """Everything a member needs to start. ``peers`` maps every member id (this one included)
    to its peer address; ``client`` is where it serves etcd's JSON gateway; ``clients``
    optionally names the other members' client addresses (shown by ``member list``).
    ``join`` starts a member that was just added to a running cluster; ``snapshot_count`` is
    how many applied entries a member keeps in its log before it takes a snapshot (etcd's
    ``--snapshot-count``); ``max_connections`` caps open client connections (0: the file limit
    less a reserve); ``watch_progress_notify_ms`` is the period of progress notifications to
    watches that ask for them (etcd's ``--experimental-watch-progress-notify-interval``)."""

    id: int
    data_dir: str
    peers: Mapping[int, tuple[str, int]]
    client: tuple[str, int]
    token: str
    heartbeat_ms: int = 100
    election_ms: int = 1000
    quota_backend_bytes: int = 0
    join: bool = False
    pre_vote: bool = False
    clients: Mapping[int, tuple[str, int]] = field(default_factory=dict)
    snapshot_count: int = DEFAULT_SNAPSHOT_COUNT
    max_connections: int = 0
    watch_progress_notify_ms: int = DEFAULT_PROGRESS_NOTIFY_MS


def member_command(spec: MemberSpec) -> list[str]:
    """The argv that runs ``spec`` as a process (``python -m raftlib.runtime member ...``)."""
    peers = ",".join(f"{i}={h}:{p}" for i, (h, p) in sorted(spec.peers.items()))
    argv = [sys.executable, "-m", "raftlib.runtime", "member", "--id", str(spec.id),
            "--data-dir", spec.data_dir, "--peers", peers,
            "--listen-client", f"{spec.client[0]}:{spec.client[1]}",
            "--cluster-token", spec.token, "--heartbeat-ms", str(spec.heartbeat_ms),
            "--election-ms", str(spec.election_ms)]
    if spec.quota_backend_bytes:
        argv += ["--quota-backend-bytes", str(spec.quota_backend_bytes)]
    if spec.clients:
        clients = sorted(spec.clients.items())
        argv += ["--clients", ",".join(f"{i}={h}:{p}" for i, (h, p) in clients)]
    if spec.join:
        argv.append("--join")
    if spec.pre_vote:
        argv.append("--pre-vote")
    if spec.snapshot_count != DEFAULT_SNAPSHOT_COUNT:
        argv += ["--snapshot-count", str(spec.snapshot_count)]
    if spec.max_connections:
        argv += ["--max-connections", str(spec.max_connections)]
    if spec.watch_progress_notify_ms != DEFAULT_PROGRESS_NOTIFY_MS:
        argv += ["--experimental-watch-progress-notify-interval",
                 f"{spec.watch_progress_notify_ms}ms"]
    return argv
