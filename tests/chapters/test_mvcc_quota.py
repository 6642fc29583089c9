"""The chapters' story helpers in raftlib.kv, and the recovery orders they stage, against
real etcd 3.4."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from raftlib.chapters.mvcc import attempt, key_history, kv_line
from raftlib.chapters.quota import recovery_frames, run_writer, size_sample
from raftlib.kv import (
    AlarmAction,
    AlarmRequest,
    AlarmResponse,
    CompactionRequest,
    DefragmentRequest,
    ErrCompacted,
    ErrNoSpace,
    KVError,
    MVCCStore,
    PutRequest,
    RangeRequest,
)
from raftlib.viz import plot_key_history, plot_sizes


def test_kv_line_and_attempt() -> None:
    s = MVCCStore()
    s.put(b"a", b"1")
    s.put(b"a", b"2")
    assert kv_line(s.range(b"a").kvs[0]) == "a = 2 (create_revision=2, mod_revision=3, version=2)"
    assert kv_line(None) == "(no key)"
    s.put(b"big", b"x" * 100)
    assert "<100 bytes>" in kv_line(s.range(b"big").kvs[0])
    s.compact(3)
    assert attempt(lambda: s.range(b"a", revision=2)) == ErrCompacted.message
    assert attempt(lambda: s.range(b"a", revision=3)) == "ok"


def test_key_history_lists_puts_and_tombstones_and_plots() -> None:
    s = MVCCStore()
    s.put(b"a", b"1")
    s.put(b"b", b"1")
    s.delete_range(b"a")
    s.put(b"a", b"2")
    h = key_history(s)
    assert [(c.revision, c.key, c.kind) for c in h] == [
        (2, "a", "PUT"), (3, "b", "PUT"), (4, "a", "DELETE"), (5, "a", "PUT")]
    fig = plot_key_history(h, compact_revision=3, current_revision=s.revision)
    assert fig._repr_png_()[:4] == b"\x89PNG"  # type: ignore[attr-defined]
    assert repr(fig).startswith("<Figure size")


def test_run_writer_stops_at_nospace_and_samples_sizes() -> None:
    s = MVCCStore(quota_backend_bytes=256 * 1024)
    samples, err = run_writer(s, b"k", 4096, 1000)
    assert err == ErrNoSpace.message
    assert 10 < len(samples) < 1000
    assert [x.step for x in samples] == list(range(1, len(samples) + 1))
    assert samples[-1].db_size < s.quota_backend_bytes
    assert all(x.db_size == x.db_size_in_use for x in samples)
    s.compact(s.revision)
    after = size_sample(s, len(samples) + 1, "compact")
    assert after.db_size == samples[-1].db_size > after.db_size_in_use
    fig = plot_sizes([*samples, after], s.quota_backend_bytes)
    assert fig._repr_png_()[:4] == b"\x89PNG"  # type: ignore[attr-defined]
    fresh = MVCCStore()
    samples, err = run_writer(fresh, b"k", 10, 3, distinct_keys=True)
    assert err is None and [kv.key for kv in fresh.range(b"k", b"l").kvs] == [
        b"k0", b"k1", b"k2"]


def _filled(quota: int = 512 * 1024) -> MVCCStore:
    s = MVCCStore(quota_backend_bytes=quota)
    _, err = run_writer(s, b"log", 8192, 1000)
    assert err == ErrNoSpace.message
    return s


@pytest.mark.parametrize(("steps", "accepted"), [
    (["disarm"], False),
    (["compact", "disarm"], False),
    (["defrag", "compact", "disarm"], False),
    (["compact", "defrag"], False),
    (["compact", "defrag", "disarm"], True),
])
def test_recovery_frames(steps: list[str], accepted: bool) -> None:
    frames = recovery_frames(_filled(), steps, (b"log", b"x" * 8192))
    assert len(frames) == 1 + len(steps) + 2
    assert frames[0]["kv"]["alarms"] == "NOSPACE"
    last = frames[-1]["kv"]
    assert ("error" not in last) is accepted
    assert last["alarms"] == ("none" if accepted else "NOSPACE")
    if not accepted:
        assert last["error"] == ErrNoSpace.message


def test_recovery_frames_record_a_failed_step() -> None:
    s = _filled()
    frames = recovery_frames(s, ["compact", "compact"], (b"log", b"x"))
    assert "error" not in frames[1]["kv"]
    assert frames[2]["kv"]["error"] == ErrCompacted.message
    with pytest.raises(ValueError, match="unknown step"):
        recovery_frames(s, ["reboot"], (b"log", b"x"))


# ------------------------------------------------------------------ the same against etcd


def _recover(target: Any, steps: list[str]) -> list[str]:
    """Fill until NOSPACE, apply ``steps``, then try three puts: the outcomes as text."""
    def run(req: Any) -> str:
        try:
            target.apply(req)
        except KVError as e:
            return e.message
        return "ok"

    for _ in range(400):
        if run(PutRequest(b"log", b"v" * 65536)) != "ok":
            break
    else:
        pytest.fail("the quota was never reached")
    for step in steps:
        if step == "compact":
            run(CompactionRequest(target.apply(RangeRequest(b"x")).header_revision))
        elif step == "defrag":
            run(DefragmentRequest())
        else:
            r = target.apply(AlarmRequest(AlarmAction.GET))
            assert isinstance(r, AlarmResponse)
            for a in r.alarms:
                target.apply(AlarmRequest(AlarmAction.DEACTIVATE, a.member_id, a.alarm))
    out = [run(PutRequest(b"log", b"v" * 65536)) for _ in range(3)]
    r = target.apply(AlarmRequest(AlarmAction.GET))
    assert isinstance(r, AlarmResponse)
    return [*out, f"alarms: {[a.alarm.value for a in r.alarms]}"]


@pytest.mark.etcd
@pytest.mark.parametrize("steps", [["disarm"], ["compact", "disarm"],
                                   ["defrag", "compact", "disarm"],
                                   ["compact", "defrag", "disarm"]])
def test_recovery_orders_match_etcd(etcd_factory: Callable[..., Any], steps: list[str]) -> None:
    quota = 1024 * 1024
    want = _recover(etcd_factory(quota_backend_bytes=quota).client, steps)
    got = _recover(MVCCStore(quota_backend_bytes=quota), steps)
    assert got == want
    assert (want[0] == "ok") is (steps == ["compact", "defrag", "disarm"])


def test_erased_versions_match_what_compaction_removes() -> None:
    from raftlib.viz._figures import _erased

    s = MVCCStore()
    for k, v in [(b"a", b"1"), (b"a", b"2"), (b"b", b"1")]:
        s.put(k, v)
    s.delete_range(b"b")
    s.put(b"c", b"1")
    s.put(b"a", b"3")
    before = key_history(s)
    for at in range(2, s.revision + 1):
        t = MVCCStore()
        for c in before:  # replay the same history
            if c.kind == "PUT":
                t.put(c.key.encode(), c.value.encode())
            else:
                t.delete_range(c.key.encode())
        t.compact(at)
        kept = {(c.revision, c.key) for c in key_history(t)}
        gone = {(c.revision, c.key) for i, c in enumerate(before) if i in _erased(before, at)}
        assert gone == {(c.revision, c.key) for c in before} - kept, at


@pytest.mark.etcd
def test_nospace_refuses_lease_grants_on_etcd(etcd_factory: Callable[..., Any]) -> None:
    from raftlib.chapters.quota import nospace_requests

    accepted, outcomes = nospace_requests(etcd_factory(quota_backend_bytes=1024 * 1024).client,
                                          limit=1000)
    # 32 KiB puts against a 1 MiB quota. etcd weighs each put against the file size as of its
    # backend's last commit (every 100 ms: `backend.begin` in mvcc/backend/backend.go), so how
    # far past 32 puts it goes depends on how many arrive between commits; it must stop.
    assert 10 < accepted < 1000
    assert dict(outcomes) == {"lease grant (TTL 60 s)": ErrNoSpace.message,
                              "put of 1 byte": ErrNoSpace.message, "get big": "ok"}


@pytest.mark.etcd
def test_defrag_pause_shows_reads_waiting_on_etcd(etcd_factory: Callable[..., Any]) -> None:
    from raftlib.chapters.quota import defrag_pause

    p = defrag_pause(etcd_factory().client, keys=300)
    assert p.db_size > 20_000_000, p
    # A read that arrived during the defragmentation waited for most of it, far longer than
    # a read usually takes.
    assert p.longest_read_ms > 0.5 * p.defrag_ms, p
    assert p.longest_read_ms > 10 * p.read_ms_before, p
