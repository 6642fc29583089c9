"""Chapter 4, quota: filling a store to its quota, recovering, and the same on any engine.

The store helpers only read and drive an :class:`~raftlib.kv.MVCCStore` through its public
surface; :func:`nospace_requests` and :func:`defrag_pause` drive a real etcd through its JSON
gateway; :func:`quota_alarm` is the chapter's story on any :class:`raftlib.Cluster`.
"""

from __future__ import annotations

import base64
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from raftlib._cluster import Cluster
from raftlib.chapters._engines import _close, _outcome, _poll
from raftlib.chapters.mvcc import attempt
from raftlib.kv import DefragmentRequest, KVError, MVCCStore, PutRequest, RangeRequest
from raftlib.viz._panels import StoreFrames, _sizes_frame, sizes_step

if TYPE_CHECKING:
    from raftlib.gateway import EtcdGateway

__all__ = ["RECOVERY_STEPS", "DefragPause", "QuotaResult", "SizeSample", "defrag_pause",
           "nospace_requests", "quota_alarm", "recovery_frames", "run_writer", "size_sample"]

#: The maintenance steps :func:`recovery_frames` understands, as etcdctl names them.
RECOVERY_STEPS = ("compact", "defrag", "disarm")


@dataclass(frozen=True, slots=True)
class SizeSample:
    """The store's sizes after step ``step``: ``note`` says what the step was."""

    step: int
    revision: int
    db_size: int
    db_size_in_use: int
    note: str = ""


def size_sample(store: MVCCStore, step: int, note: str = "") -> SizeSample:
    """The store's revision and backend sizes now."""
    st = store.status()
    return SizeSample(step, st.header_revision, st.db_size, st.db_size_in_use, note)


def run_writer(store: MVCCStore, key: bytes, value_size: int, max_writes: int, *,
               distinct_keys: bool = False, first_step: int = 0,
               ) -> tuple[list[SizeSample], str | None]:
    """A writer that puts ``value_size`` bytes to ``key`` (or ``key0``, ``key1``, ... with
    ``distinct_keys``) up to ``max_writes`` times, sampling the sizes after each put; it stops
    at the first error. Returns the samples and etcd's error message (None if none)."""
    samples: list[SizeSample] = []
    for i in range(max_writes):
        k = key + str(i).encode() if distinct_keys else key
        value = bytes([97 + i % 26]) * value_size
        try:
            store.put(k, value)
        except KVError as exc:
            return samples, exc.message
        samples.append(size_sample(store, first_step + i + 1))
    return samples, None


def recovery_frames(store: MVCCStore, steps: Sequence[str], probe: tuple[bytes, bytes],
                    *, probes: int = 2) -> StoreFrames:
    """Player frames of one recovery order tried on ``store`` (in place): a frame of the store
    as it is, one after each of ``steps`` (``"compact"`` at the current revision, ``"defrag"``,
    ``"disarm"``), then ``probes`` attempts to put ``probe`` (key, value). Every frame's
    ``kv`` carries the sizes, the alarms and, after a failed put, etcd's error. The frames
    carry the store's script: the player's live mode rebuilds it and takes the same steps."""
    for step in steps:
        if step not in RECOVERY_STEPS:
            raise ValueError(f"unknown step {step!r}; use one of {RECOVERY_STEPS}")
    frames = StoreFrames([_sizes_frame(store, 0, "NOSPACE alarm raised: writes are refused")],
                         store, view="sizes")
    for step in steps:
        frames.append(sizes_step(store, len(frames), step))
    for _ in range(probes):
        frames.append(sizes_step(store, len(frames), "put", *probe))
    return frames


def nospace_requests(etcd: EtcdGateway, *, value_size: int = 32 * 1024, limit: int = 1000
                     ) -> tuple[int, tuple[tuple[str, str], ...]]:
    """Fill a real etcd (through its JSON gateway, started with a small quota) with puts of
    ``value_size`` bytes to one key until it answers ``NOSPACE``; then try a lease grant, a
    one-byte put and a read. Returns the puts accepted and each request's outcome (``"ok"``
    or etcd's error message)."""
    accepted = 0
    for _ in range(limit):
        try:
            etcd.apply(PutRequest(b"big", b"x" * value_size))
        except KVError:
            break
        accepted += 1
    tries: dict[str, Callable[[], object]] = {
        "lease grant (TTL 60 s)": lambda: etcd.call("lease/grant", {"TTL": "60"}),
        "put of 1 byte": lambda: etcd.apply(PutRequest(b"tiny", b"x")),
        "get big": lambda: etcd.call("kv/range", {"key": _b64(b"big")}),
    }
    return accepted, tuple((name, attempt(action)) for name, action in tries.items())


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


@dataclass(frozen=True, slots=True)
class DefragPause:
    """What reads to a member saw while it defragmented (see :func:`defrag_pause`).

    ``db_size``: the file before; ``defrag_ms``: the defragment request's duration;
    ``read_ms_before``: the median read before it; ``longest_read_ms``: the longest read that
    overlapped it; ``reads_during``: reads that both started and ended during it.
    """

    db_size: int
    defrag_ms: float
    read_ms_before: float
    longest_read_ms: float
    reads_during: int


def defrag_pause(etcd: EtcdGateway, *, keys: int = 400, value_size: int = 100_000,
                 settle_s: float = 0.3) -> DefragPause:
    """Write ``keys`` values of ``value_size`` bytes to a real etcd, then defragment it while
    a second thread reads one key over and over (serializable reads, answered by the member
    itself), timing every read with the wall clock."""
    for i in range(keys):
        etcd.apply(PutRequest(b"defrag/%d" % i, b"y" * value_size))
    size = etcd.status().db_size
    reads: list[tuple[float, float]] = []  # (start, end), perf_counter seconds
    stop = threading.Event()
    body = {"key": _b64(b"defrag/0"), "serializable": True}

    def reader() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            etcd.call("kv/range", body)
            reads.append((t, time.perf_counter()))

    th = threading.Thread(target=reader, name="defrag-reader", daemon=True)
    th.start()
    try:
        time.sleep(settle_s)
        t0 = time.perf_counter()
        etcd.apply(DefragmentRequest())
        t1 = time.perf_counter()
        time.sleep(settle_s)
    finally:
        stop.set()
        th.join()
    before = [e - s for s, e in reads if e < t0]
    overlapping = [e - s for s, e in reads if s < t1 and e > t0]
    return DefragPause(size, (t1 - t0) * 1000,
                       statistics.median(before) * 1000 if before else 0.0,
                       max(overlapping, default=0.0) * 1000,
                       sum(1 for s, e in reads if t0 <= s and e <= t1))


@dataclass(frozen=True)
class QuotaResult:
    """Filling a small quota and recovering (see :func:`quota_alarm`)."""

    VARIES: ClassVar[tuple[str, ...]] = ("accepted", "db_sizes", "alarm_entries")
    quota: int
    fill_error: str
    alarms: tuple[str, ...]
    while_alarmed: tuple[tuple[str, str], ...]
    recovery: tuple[tuple[str, str], ...]
    alarms_after: tuple[str, ...]
    accepted: int = 0
    db_sizes: tuple[tuple[str, int], ...] = ()
    alarm_entries: int = 0


def quota_alarm(make_cluster: Callable[[int], Cluster], quota: int = 1024 * 1024, *,
                value_bytes: int = 32 * 1024, limit: int = 1000) -> QuotaResult:
    """Fill a cluster made by ``make_cluster(quota)`` until ``NOSPACE``, try what still works,
    then recover in etcd's order: compact, defragment every member, disarm; a put after each
    step. The cluster is closed at the end if it can be."""
    cluster = make_cluster(quota)
    try:
        return _quota(cluster, quota, value_bytes, limit)
    finally:
        _close(cluster)


def _db_size(cluster: Cluster) -> int:
    return max(i.db_size for i in cluster.status().values() if i.up)


def _quota(cluster: Cluster, quota: int, value_bytes: int, limit: int) -> QuotaResult:
    _poll(cluster, cluster.leader, 20_000)
    c = cluster.client(cluster.members[0])
    c.put(b"old", b"x")
    sizes = [("start", _db_size(cluster))]
    accepted, error = 0, "no error"
    value = b"v" * value_bytes
    for _ in range(limit):
        try:
            c.put(b"log", value)
        except KVError as e:
            error = f"{type(e).__name__}: {e.message}"
            break
        accepted += 1
    sizes.append(("full", _db_size(cluster)))
    # The alarm is raised through the log: wait until the members have applied it.
    alarms = _poll(cluster, c.alarms, 5000, 20) or ()
    checks: dict[str, Callable[[], object]] = {
        "get log": lambda: c.get(b"log"),
        "put 1 byte": lambda: c.put(b"tiny", b"x"),
        "read-only txn": lambda: c.txn([], [RangeRequest(b"log")]),
        "delete old": lambda: c.delete(b"old"),
    }
    during = tuple((name, _outcome(f)) for name, f in checks.items())
    rev = c.get(b"log").header_revision
    steps: list[tuple[str, str]] = []

    def put_after(step: str) -> None:
        steps.append((f"put after {step}", _outcome(lambda: c.put(b"log", b"small"))))

    steps.append(("compact", _outcome(lambda: c.compact(rev))))
    sizes.append(("compacted", _db_size(cluster)))
    put_after("compact")
    for m in cluster.members:
        steps.append((f"defragment member {m}", _outcome(partial(c.defragment, m))))
    sizes.append(("defragmented", _db_size(cluster)))
    put_after("defragment")
    # etcd raises one NOSPACE entry per member that hit the quota first (a race): compare
    # the kinds disarmed, keep the entry count among what varies.
    disarmed = c.disarm()
    steps.append(("disarm", ", ".join(sorted(set(disarmed))) or "nothing"))
    # A disarm is applied through the log too; wait until no alarm remains.
    _poll(cluster, lambda: not c.alarms(), 5000, 20)
    put_after("disarm")
    return QuotaResult(quota, error, tuple(alarms), during, tuple(steps), c.alarms(),
                       accepted, tuple(sizes), len(disarmed))
