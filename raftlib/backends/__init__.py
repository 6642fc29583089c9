"""Engines of the :class:`raftlib.Cluster` interface outside the simulator.

:class:`EtcdCluster` runs N real etcd processes on the loopback interface and drives them
through etcd's JSON gateway; its clients are :class:`EtcdClient`. What a backend cannot do
raises :class:`BackendError` (or :class:`Unsupported`, its subclass for missing features).
"""

from raftlib.backends._etcd import ETCD_BINARY, BackendError, EtcdClient, EtcdCluster, Unsupported

__all__ = ["ETCD_BINARY", "BackendError", "EtcdClient", "EtcdCluster", "Unsupported"]
