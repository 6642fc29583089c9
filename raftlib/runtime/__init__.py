"""raftlib's real runtime: members as OS processes on trio, durable logs, etcd's HTTP API.

The sans-I/O core (``raftlib.raft``) runs here unchanged over real timers, TCP between members
and a write-ahead log on disk (:class:`DiskStorage`). Clients speak etcd 3.4's v3 JSON gateway,
so etcd's own JSON clients and curl work against it. Start a cluster from Python with
``raftlib.backends.RaftlibCluster`` (the same interface as the simulator's ``SimCluster``), or
from the shell with the ``raftlib`` command (``raftlib cluster start``, then etcdctl's verbs).
One member in the foreground: ``raftlib member --id 1 --data-dir d --peers 1=127.0.0.1:2380``.
"""

from raftlib.runtime._launch import MemberSpec, member_command
from raftlib.runtime._member import WATCH_BUFFER, Member
from raftlib.runtime._wal import DiskStorage, RepairPlan, WALCorruptError, repair

__all__ = ["WATCH_BUFFER", "DiskStorage", "Member", "MemberSpec", "RepairPlan",
           "WALCorruptError", "member_command", "repair"]
