"""Engines of the :class:`raftlib.Cluster` interface outside the simulator.

:class:`EtcdCluster` runs N real etcd 3.4 processes on the loopback interface;
:class:`RaftlibCluster` runs N raftlib runtime processes the same way. Both serve etcd's JSON
gateway, so :class:`EtcdClient` is the client of either; what they share is
:class:`ProcessCluster`. What a backend cannot do raises :class:`BackendError` (or
:class:`Unsupported`, its subclass for missing features).
"""

from raftlib.backends._etcd import ETCD_BINARY, EtcdCluster
from raftlib.backends._netns import netns_problem
from raftlib.backends._process import BackendError, EtcdClient, ProcessCluster, Unsupported
from raftlib.backends._raftlib import RaftlibCluster

__all__ = ["ETCD_BINARY", "BackendError", "EtcdClient", "EtcdCluster", "ProcessCluster",
           "RaftlibCluster", "Unsupported", "netns_problem"]
