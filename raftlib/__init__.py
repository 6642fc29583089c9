"""raftlib: Raft consensus and an etcd-like store, built to be read, run and broken.

The public surface is re-exported by the subpackages: ``raftlib.raft`` (the sans-I/O core),
``raftlib.sim`` (the deterministic simulator), ``raftlib.check`` (verdicts on runs),
``raftlib.kv`` (the MVCC store, watch and quota) and ``raftlib.viz`` (figures and players);
the book's stories are in ``raftlib.chapters``, one module per chapter.
``Cluster`` and ``Client`` are the one interface every engine offers: the simulator's
``raftlib.sim.SimCluster``, and ``raftlib.backends.EtcdCluster`` over real etcd processes.
"""

from raftlib._cluster import Client, Cluster, MemberInfo

__all__ = ["Client", "Cluster", "MemberInfo", "__version__"]
__version__ = "0.1.0"
