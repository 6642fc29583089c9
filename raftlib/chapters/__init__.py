"""The book's stories and experiments, one module per chapter.

A chapter imports from its own module, e.g. ``from raftlib.chapters.elections import
partition_story``. The stories are written against the :class:`raftlib.Cluster` interface
where the engine allows, so each can be rerun on real etcd by changing one argument. Nothing
here starts a process at import, so a browser (Pyodide) can load every module.

==========================  ================================================================
module                      chapter
==========================  ================================================================
``opening``                 ``book/00-opening``: losing two of five members, then a third
``elections``               ``book/01-elections``: elections, partitions, time to a leader
``replication``             ``book/01b-replication``: Figure 8, divergent logs, snapshots
``mvcc``                    ``book/02-mvcc``: revisions, versions, compaction
``watch``                   ``book/03-watch``: polling against watching, the watch proxy
``quota``                   ``book/04-quota``: NOSPACE, recovery, defragmentation
``operations``              ``book/05-operations``: metrics, member replacement, handover
``closing``                 ``book/06-closing``: the rules of thumb and their checklist
``real_etcd``               ``book/07-real-etcd``: etcd's version, flags and timing
``_engines``                shared, re-exported here: a story on any engine (``on_etcd``, ...)
==========================  ================================================================
"""

from raftlib.chapters._engines import (
    EtcdMissing,
    comparable,
    compare,
    etcd_available,
    on_etcd,
    show_varies,
    varies,
)

__all__ = [
    "EtcdMissing",
    "comparable",
    "compare",
    "etcd_available",
    "on_etcd",
    "show_varies",
    "varies",
]
