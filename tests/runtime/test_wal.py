"""DiskStorage: the WAL-backed Raft storage, checked against MemoryStorage as the model."""

from __future__ import annotations

import os
import random
import shutil
import struct
import tempfile
import threading
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftlib.raft import (
    CompactionError,
    Config,
    ConfState,
    Entry,
    EntryType,
    HardState,
    LocalError,
    MemoryStorage,
    Node,
    Role,
    Snapshot,
)
from raftlib.runtime._cli import main as cli
from raftlib.runtime._wal import DiskStorage, WALCorruptError, repair

CONF = ConfState((1, 2, 3))
View = tuple[Snapshot, HardState, tuple[Entry, ...]]


def view(s: MemoryStorage) -> View:
    """Everything a node can read from a storage."""
    return s.snapshot(), s.hard_state, tuple(s.entries(s.first_index(), s.last_index() + 1))


def ents(lo: int, hi: int, term: int, tag: str = "") -> list[Entry]:
    return [Entry(i, term, f"{tag}{i}@{term}".encode()) for i in range(lo, hi + 1)]


def reopen(disk: DiskStorage) -> DiskStorage:
    disk.close()
    return DiskStorage.open(disk.path)


def segments(path: Path) -> list[str]:
    return sorted(n for n in os.listdir(path) if n.startswith("wal-"))


def record(kind: int, payload: bytes) -> bytes:
    """A WAL record built by hand (the format of the module docstring)."""
    crc = zlib.crc32(bytes((kind,)) + payload)
    return struct.pack("<IIB", len(payload), crc, kind) + payload


# --------------------------------------------------------------------------- round trips


def test_round_trip_matches_memory_storage(tmp_path: Path) -> None:
    disk, model = DiskStorage.open(str(tmp_path), CONF), MemoryStorage(CONF)
    for s in (disk, model):
        s.append(ents(1, 3, 1))
        s.hard_state = HardState(1, 2, 2)
        s.append([Entry(4, 2, b"", EntryType.CONF_CHANGE)])
    lost = disk.save(HardState(2, 0, 4), ents(5, 6, 2), None)
    model.append(ents(5, 6, 2))
    model.hard_state = HardState(2, 0, 4)
    assert lost is None
    assert view(disk) == view(model)
    disk = reopen(disk)
    assert view(disk) == view(model)
    assert disk.recovered_tail == 0
    assert disk.entries(4, 5)[0].type is EntryType.CONF_CHANGE
    # A stored directory wins over the conf passed when reopening it.
    disk.close()
    disk = DiskStorage.open(str(tmp_path), ConfState((9,)))
    assert disk.snapshot().conf == CONF
    disk.close()


def test_new_directory_holds_only_the_bootstrap_conf(tmp_path: Path) -> None:
    disk = DiskStorage.open(str(tmp_path / "d"), CONF)
    assert view(disk) == view(MemoryStorage(CONF))
    assert view(reopen(disk)) == view(MemoryStorage(CONF))


def test_conflicting_suffix_is_overwritten_and_survives_reopen(tmp_path: Path) -> None:
    disk, model = DiskStorage.open(str(tmp_path), CONF), MemoryStorage(CONF)
    for s in (disk, model):
        s.append(ents(1, 5, 1))
    lost = disk.append(ents(3, 4, 2))
    assert lost == model.append(ents(3, 4, 2)) == Entry(3, 1, b"3@1")
    disk = reopen(disk)
    assert view(disk) == view(model)
    assert [e.term for e in disk.entries(1, 5)] == [1, 1, 2, 2]
    disk.close()


def test_invalid_writes_are_refused_and_not_logged(tmp_path: Path) -> None:
    disk = DiskStorage.open(str(tmp_path), CONF)
    disk.append(ents(1, 2, 1))
    with pytest.raises(LocalError, match="gap"):
        disk.append(ents(5, 5, 1))
    disk.compact(Snapshot(1, 1, CONF))
    with pytest.raises(LocalError, match="overlaps"):
        disk.append(ents(1, 1, 1))
    with pytest.raises(CompactionError):
        disk.compact(Snapshot(1, 1, CONF))
    disk = reopen(disk)
    assert (disk.first_index(), disk.last_index()) == (2, 2)
    disk.close()


def test_second_open_of_a_directory_in_use_is_refused(tmp_path: Path) -> None:
    disk = DiskStorage.open(str(tmp_path), CONF)
    with pytest.raises(LocalError, match="in use"):
        DiskStorage.open(str(tmp_path), CONF)
    disk.close()


# --------------------------------------------------------------------------- torn writes


def _two_saves(path: Path) -> tuple[DiskStorage, View, int, int]:
    """A storage with a synced first save and an unsynced last one.

    Returns the view before the last save and the byte range of its record.
    """
    disk = DiskStorage.open(str(path), CONF)
    disk.save(HardState(1, 1, 0), ents(1, 3, 1))
    disk.sync()
    before = view(disk)
    start = os.path.getsize(disk.segment_path)
    disk.append(ents(4, 6, 1, tag="last"))
    return disk, before, start, os.path.getsize(disk.segment_path)


def test_torn_tail_at_every_offset_is_truncated(tmp_path: Path) -> None:
    disk, before, start, end = _two_saves(tmp_path)
    seg = disk.segment_path
    disk.close()
    data = Path(seg).read_bytes()
    for cut in range(start, end):
        Path(seg).write_bytes(data[:cut])
        disk = DiskStorage.open(str(tmp_path))
        assert view(disk) == before, cut
        assert disk.recovered_tail == cut - start
        assert os.path.getsize(seg) == start
        # The truncated log takes further writes.
        disk.append(ents(4, 4, 2))
        disk = reopen(disk)
        assert disk.last_index() == 4 and disk.term(4) == 2 and disk.recovered_tail == 0
        disk.close()


@pytest.mark.parametrize("zeros", [3, 9, 4096])
def test_zero_filled_tail_is_truncated(tmp_path: Path, zeros: int) -> None:
    disk, _, _, end = _two_saves(tmp_path)
    full = view(disk)
    seg = disk.segment_path
    disk.close()
    with open(seg, "ab") as f:
        f.write(bytes(zeros))
    disk = DiskStorage.open(str(tmp_path))
    assert view(disk) == full
    assert disk.recovered_tail == zeros and os.path.getsize(seg) == end
    disk.close()


def test_last_record_partly_zeroed_is_torn(tmp_path: Path) -> None:
    disk, before, start, end = _two_saves(tmp_path)
    seg = disk.segment_path
    disk.close()
    data = bytearray(Path(seg).read_bytes())
    data[end - 10 :] = bytes(10) + bytes(100)  # a sector that never arrived, then allocated space
    Path(seg).write_bytes(data)
    disk = DiskStorage.open(str(tmp_path))
    assert view(disk) == before and disk.recovered_tail == end + 100 - start
    disk.close()


def test_bad_checksum_on_the_last_record_is_torn(tmp_path: Path) -> None:
    disk, before, start, end = _two_saves(tmp_path)
    seg = disk.segment_path
    disk.close()
    data = bytearray(Path(seg).read_bytes())
    data[end - 1] ^= 0xFF
    Path(seg).write_bytes(data)
    disk = DiskStorage.open(str(tmp_path))
    assert view(disk) == before and disk.recovered_tail == end - start
    disk.close()


# --------------------------------------------------------------------------- corruption


def test_flipped_byte_in_an_earlier_record_is_corruption(tmp_path: Path) -> None:
    disk, _, start, _ = _two_saves(tmp_path)
    seg = disk.segment_path
    disk.close()
    data = bytearray(Path(seg).read_bytes())
    # The first save wrote an entries record then a hard-state record of 9 + 4 bytes; damage
    # the entries record's payload.
    rec = start - 13
    entries_at = data.rfind(b"\x93", 0, rec)  # inside the entries payload (a 3-item array)
    assert 0 < entries_at < rec
    data[entries_at] ^= 0x01
    Path(seg).write_bytes(data)
    with pytest.raises(WALCorruptError) as err:
        DiskStorage.open(str(tmp_path))
    # Find the entries record's offset independently: walk the headers.
    off, offsets = 0, []
    while off < len(data):
        offsets.append(off)
        off += 9 + struct.unpack_from("<I", data, off)[0]
    damaged = max(o for o in offsets if o <= entries_at)
    assert err.value.path == seg and err.value.offset == damaged
    assert seg in str(err.value) and f"byte {damaged}" in str(err.value)
    assert "checksum" in str(err.value)
    # Nothing was truncated: the evidence stays.
    assert Path(seg).read_bytes() == bytes(data)


def test_undecodable_payload_with_a_valid_checksum_is_corruption(tmp_path: Path) -> None:
    disk = DiskStorage.open(str(tmp_path), CONF)
    seg = disk.segment_path
    disk.close()
    size = os.path.getsize(seg)
    with open(seg, "ab") as f:
        f.write(record(1, b"\xc1"))  # 0xc1 is never used by msgpack
    with pytest.raises(WALCorruptError, match=f"byte {size}: undecodable entries") as err:
        DiskStorage.open(str(tmp_path))
    assert err.value.offset == size


# --------------------------------------------------------------------------- batching


def test_one_sync_covers_many_saves(tmp_path: Path) -> None:
    disk = DiskStorage.open(str(tmp_path), CONF)
    base = disk.syncs
    for i in range(1, 101):
        disk.save(HardState(1, 1, i - 1), [Entry(i, 1, b"x")])
    assert disk.syncs == base and disk.synced_offset < os.path.getsize(disk.segment_path)
    disk.sync()
    assert disk.syncs == base + 1
    assert disk.synced_offset == os.path.getsize(disk.segment_path)
    disk.sync()
    assert disk.syncs == base + 1
    disk.close()


def test_sync_from_another_thread_while_saving_and_compacting(tmp_path: Path) -> None:
    disk, model = DiskStorage.open(str(tmp_path), CONF), MemoryStorage(CONF)
    stop = threading.Event()
    errors: list[BaseException] = []

    def syncer() -> None:
        try:
            while not stop.is_set():
                disk.sync()
        except BaseException as e:  # reported to the main thread below
            errors.append(e)

    t = threading.Thread(target=syncer)
    t.start()
    try:
        for i in range(1, 301):
            for s in (disk, model):
                s.append([Entry(i, 1, b"%d" % i)])
            if i % 50 == 0:  # rotations close the descriptor the syncer may be using
                for s in (disk, model):
                    s.compact(Snapshot(i - 10, 1, CONF, b"s"))
    finally:
        stop.set()
        t.join()
    assert errors == []
    disk.sync()
    assert disk.synced_offset == os.path.getsize(disk.segment_path)
    assert view(reopen(disk)) == view(model)


# --------------------------------------------------------------------------- snapshots and rotation


def test_compaction_and_snapshot_install_survive_reopen(tmp_path: Path) -> None:
    disk, model = DiskStorage.open(str(tmp_path), CONF), MemoryStorage(CONF)
    snap = Snapshot(3, 1, CONF, b"state@3")
    for s in (disk, model):
        s.append(ents(1, 5, 1))
        s.hard_state = HardState(1, 1, 5)
        s.compact(snap)
        s.append(ents(6, 6, 1))
    disk = reopen(disk)
    assert view(disk) == view(model) and disk.snapshot() == snap
    installed = Snapshot(20, 3, ConfState((1, 2), (4,)), b"state@20")
    disk.save(HardState(3, 0, 20), ents(21, 22, 3), installed)
    model.apply_snapshot(installed)
    model.append(ents(21, 22, 3))
    model.hard_state = HardState(3, 0, 20)
    assert view(disk) == view(model)
    # Rotation fsyncs: nothing is left for sync to do.
    syncs = disk.syncs
    disk.sync()
    assert disk.syncs == syncs
    disk = reopen(disk)
    assert view(disk) == view(model)
    # Old segments and snapshots are deleted: at most the two newest remain.
    names = os.listdir(tmp_path)
    assert len(segments(tmp_path)) == 2
    assert sorted(n for n in names if n.endswith(".snap")) == [
        "snap-0000000000000001-0000000000000003.snap",
        "snap-0000000000000003-0000000000000014.snap",
    ]
    disk.close()


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_crash_during_rotation_recovers(tmp_path: Path) -> None:
    live = tmp_path / "live"
    disk, model = DiskStorage.open(str(live), CONF), MemoryStorage(CONF)
    for i in (1, 2, 3):  # three rotations: wal-1 is deleted by the last
        for s in (disk, model):
            s.append(ents(3 * i - 2, 3 * i, 1))
            s.compact(Snapshot(3 * i - 1, 1, CONF, b"s"))
        if i == 2:
            disk.close()
            before = _copy(live, tmp_path / "before")
            before_view = view(model)
            disk = DiskStorage.open(str(live))
    after_view = view(model)
    disk.close()
    new_seg = sorted(segments(live))[-1]
    new_snap = "snap-0000000000000001-0000000000000008.snap"

    # a) The new segment is in place, the old ones were not deleted yet.
    a = _copy(live, tmp_path / "a")
    for name in segments(before):
        shutil.copy(before / name, a / name)
    assert len(segments(a)) == 3
    d = DiskStorage.open(str(a))
    assert view(d) == after_view and len(segments(a)) == 2
    d.close()

    # b) Crash before the rename: the snapshot file and a temporary segment exist.
    b = _copy(before, tmp_path / "b")
    shutil.copy(live / new_snap, b / new_snap)
    (b / (new_seg + ".tmp")).write_bytes((live / new_seg).read_bytes()[:20])
    d = DiskStorage.open(str(b))
    assert view(d) == before_view
    assert not any(n.endswith(".tmp") for n in os.listdir(b)) and not (b / new_snap).exists()
    nxt = d.last_index() + 1
    d.append(ents(nxt, nxt, 2))  # and it goes on from there
    d = reopen(d)
    assert d.term(nxt) == 2
    d.close()

    # c) Crash between the snapshot file and the segment.
    c = _copy(before, tmp_path / "c")
    shutil.copy(live / new_snap, c / new_snap)
    d = DiskStorage.open(str(c))
    assert view(d) == before_view
    d.close()


def test_corrupt_snapshot_falls_back_to_the_previous_one(tmp_path: Path) -> None:
    disk, model = DiskStorage.open(str(tmp_path), CONF), MemoryStorage(CONF)
    for s in (disk, model):
        s.append(ents(1, 4, 1))
        s.compact(Snapshot(2, 1, CONF, b"s2"))
        s.append(ents(5, 6, 1))
        s.compact(Snapshot(4, 1, CONF, b"s4"))
        s.append(ents(7, 7, 2))
        s.hard_state = HardState(2, 1, 6)
    disk.close()
    newest = tmp_path / "snap-0000000000000001-0000000000000004.snap"
    data = bytearray(newest.read_bytes())
    data[-1] ^= 0xFF
    newest.write_bytes(data)
    disk = DiskStorage.open(str(tmp_path))
    assert disk.snapshot() == Snapshot(2, 1, CONF, b"s2")
    # Never silently: the damage is kept for the member's log.
    assert disk.skipped_snapshot is not None and str(newest) in str(disk.skipped_snapshot)
    assert disk.hard_state == model.hard_state
    assert disk.entries(5, 8) == model.entries(5, 8)
    assert [disk.term(i) for i in (3, 4)] == [1, 1]
    # It keeps working, and a later compaction leaves a sound layout.
    disk.compact(Snapshot(5, 1, CONF, b"s5"))
    disk = reopen(disk)
    assert disk.snapshot().index == 5 and disk.entries(6, 8) == model.entries(6, 8)
    assert disk.skipped_snapshot is None
    disk.close()


def test_corrupt_snapshot_without_fallback_names_the_file(tmp_path: Path) -> None:
    disk = DiskStorage.open(str(tmp_path), CONF)
    disk.append(ents(1, 4, 1))
    disk.apply_snapshot(Snapshot(10, 2, CONF, b"from the leader"))  # the old log does not cover it
    disk.close()
    snap = tmp_path / "snap-0000000000000002-000000000000000a.snap"
    snap.write_bytes(snap.read_bytes()[:-3])
    with pytest.raises(WALCorruptError, match="snapshot") as err:
        DiskStorage.open(str(tmp_path))
    assert err.value.path == str(snap) and str(snap) in str(err.value)


# --------------------------------------------------------------------------- property test

_OPS = st.lists(
    st.tuples(
        st.sampled_from(["append", "append", "hs", "compact", "snap", "sync"]),
        st.integers(0, 999),
        st.integers(0, 999),
    ),
    max_size=25,
)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(ops=_OPS, cut=st.integers(0, 10**6))
def test_crash_never_loses_synced_data(ops: list[tuple[str, int, int]], cut: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        disk, model = DiskStorage.open(tmp, CONF), MemoryStorage(CONF)
        history = [view(model)]  # the model after every write
        synced = 0  # the first history point a crash may return to
        for op, a, b in ops:
            snap = model.snapshot()
            if op == "append":
                first = model.first_index() + a % (model.last_index() - snap.index + 1)
                new = ents(first, first + b % 3, 1 + b % 4, tag=str(a))
                assert disk.append(new) == model.append(new)
            elif op == "hs":
                for s in (disk, model):
                    s.hard_state = HardState(a % 5, b % 4, a % 7)
            elif op == "compact" and model.last_index() > snap.index:
                index = snap.index + 1 + a % (model.last_index() - snap.index)
                term = model.term(index)
                assert term is not None
                for s in (disk, model):
                    s.compact(Snapshot(index, term, CONF, b"c%d" % a))
                synced = len(history)
            elif op == "snap":
                new_snap = Snapshot(snap.index + a % 5, 1 + b % 5, ConfState((1, 2)), b"i%d" % b)
                for s in (disk, model):
                    s.apply_snapshot(new_snap)
                synced = len(history)
            elif op == "sync":
                disk.sync()
                synced = len(history) - 1
                continue
            else:
                continue
            history.append(view(model))
        assert view(disk) == history[-1]
        # Crash: the page cache keeps some prefix of what was not synced.
        seg = disk.segment_path
        lo, hi = disk.synced_offset, os.path.getsize(seg)
        disk.close()
        os.truncate(seg, lo + cut % (hi - lo + 1))
        disk = DiskStorage.open(tmp)
        got = view(disk)
        assert got in history[synced:]
        # The recovered log takes writes and keeps them.
        nxt = disk.last_index() + 1
        disk.save(HardState(9, 1, 0), [Entry(nxt, 9, b"after")])
        expect = view(disk)
        disk = reopen(disk)
        assert view(disk) == expect
        disk.close()


# --------------------------------------------------------------------------- with a real node


def _drive(node: Node, disk: DiskStorage) -> None:
    """The Ready loop of a driver over DiskStorage: persist, fsync, then advance."""
    while node.has_ready():
        rd = node.ready()
        disk.save(rd.hard_state, rd.entries, rd.snapshot)
        if rd.must_sync:
            disk.sync()
        node.advance(rd)


def test_node_restarts_from_disk_storage(tmp_path: Path) -> None:
    cfg = Config(id=1, election_ticks=10, heartbeat_ticks=1)
    disk = DiskStorage.open(str(tmp_path), ConfState((1,)))
    node = Node(cfg, disk, random.Random(0))
    node.campaign()
    _drive(node, disk)
    assert node.role is Role.LEADER
    for i in range(5):
        node.propose(b"cmd%d" % i)
        _drive(node, disk)
    node.compact(3, b"state@3")
    node.propose(b"cmd5")
    _drive(node, disk)
    log = node.log.entries(node.log.first_index(), 100)
    commit, term = node.commit, node.term
    assert commit == node.log.last_index() == 7  # the leader's no-op and six commands

    disk = reopen(disk)
    again = Node(cfg, disk, random.Random(1))
    assert again.log.entries(again.log.first_index(), 100) == log
    assert (again.commit, again.term) == (commit, term)
    assert again.log.snapshot() == Snapshot(3, term, ConfState((1,)), b"state@3")
    disk.close()


# --------------------------------------------------------------------------- synced data


def _synced_batches(path: Path, batches: int = 3) -> tuple[str, list[int]]:
    """A log of ``batches`` saves, each fsynced; the segment and each save's first offset."""
    disk = DiskStorage.open(str(path), CONF)
    starts = []
    for b in range(batches):
        starts.append(os.path.getsize(disk.segment_path))
        disk.save(HardState(1, 1, 3 * b), ents(3 * b + 1, 3 * b + 3, 1, tag=str(b)))
        disk.sync()
    seg = disk.segment_path
    disk.close()
    return seg, starts


def test_a_damaged_length_in_synced_data_is_corruption_not_a_torn_tail(tmp_path: Path) -> None:
    """A length field pointing past the end of the file looks like a torn tail; when the
    record lies in the fsynced part of the log it is damage, and cutting there would drop
    acknowledged writes (it dropped 1,492 of 3,019 before the synced mark)."""
    seg, starts = _synced_batches(tmp_path)
    data = bytearray(Path(seg).read_bytes())
    struct.pack_into("<I", data, starts[1], 0xFFFF_FFF0)  # the second save's entries record
    Path(seg).write_bytes(data)
    with pytest.raises(WALCorruptError, match="fsynced") as err:
        DiskStorage.open(str(tmp_path))
    assert err.value.path == seg and err.value.offset == starts[1]
    assert Path(seg).read_bytes() == bytes(data)  # nothing cut: the evidence stays


def test_a_synced_log_cut_short_is_corruption(tmp_path: Path) -> None:
    seg, _ = _synced_batches(tmp_path)
    os.truncate(seg, os.path.getsize(seg) - 5)
    with pytest.raises(WALCorruptError, match="truncated"):
        DiskStorage.open(str(tmp_path))


def test_a_lost_synced_mark_falls_back_to_torn_tail_rules(tmp_path: Path) -> None:
    seg, _ = _synced_batches(tmp_path)
    (tmp_path / "SYNCED").write_bytes(b"\0" * 20)  # a mark whose checksum fails is ignored
    os.truncate(seg, os.path.getsize(seg) - 5)  # into the last save's 13-byte hard state
    disk = DiskStorage.open(str(tmp_path))
    assert disk.recovered_tail == 8 and disk.last_index() == 9
    assert disk.hard_state == HardState(1, 1, 3)  # the last save's hard state was cut
    disk.close()


def test_repair_says_what_it_would_cut_and_cuts_only_when_told(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seg, starts = _synced_batches(tmp_path)
    data = bytearray(Path(seg).read_bytes())
    struct.pack_into("<I", data, starts[2], 0xFFFF_FFF0)
    Path(seg).write_bytes(data)
    assert cli(["wal", "repair", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{seg}: a record runs past the end of the file at byte {starts[2]}" in out
    assert "up to index 6" in out and "had been fsynced" in out and "--yes" in out
    assert Path(seg).read_bytes() == bytes(data)  # a look changes nothing
    plan = repair(str(tmp_path))
    assert plan is not None and plan.cuts_synced_data and plan.last_index == 6
    assert cli(["wal", "repair", str(tmp_path), "--yes"]) == 0
    assert os.path.getsize(seg) == starts[2]
    disk = DiskStorage.open(str(tmp_path))
    assert disk.last_index() == 6 and disk.recovered_tail == 0
    disk.close()
    assert repair(str(tmp_path)) is None


def test_sync_needs_no_new_descriptor(tmp_path: Path) -> None:
    """With every descriptor in use (a flood of idle clients), a save and its fsync still
    work: before, sync's os.dup failed with EMFILE and took the member down."""
    import resource

    disk = DiskStorage.open(str(tmp_path), CONF)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    held: list[int] = []
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 8, hard))
        with pytest.raises(OSError):
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        disk.save(HardState(1, 1, 0), ents(1, 3, 1))
        disk.sync()
        assert disk.synced_offset == os.path.getsize(disk.segment_path)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        disk.close()
