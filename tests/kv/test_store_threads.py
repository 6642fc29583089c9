"""A store is usable from any thread it is handed to, one request at a time.

JupyterLab 4 sends widget messages over a kernel subshell, and ipykernel 7 runs each subshell
on its own thread: a panel's button click reaches a store created by a cell on the main thread
from another thread, possibly while a cell runs. SQLite's Python connection refuses that by
default (``SQLite objects created in a thread can only be used in that same thread``).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from raftlib.kv import MVCCStore, ReplicatedKV
from raftlib.kv._replicated import encode_command
from raftlib.kv._types import PutRequest


def _in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on a new thread, as a kernel subshell runs a widget's callback; re-raise
    whatever it raised."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # handed back to the test thread
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


def _exercise(store: MVCCStore) -> None:
    """Every kind of use a widget makes, from a thread that did not create the store."""
    _in_thread(lambda: store.put(b"a", b"2"))
    assert _in_thread(lambda: store.range(b"a").kvs[0].value) == b"2"
    assert _in_thread(lambda: [kv.value for _, kv, _ in store.backend.rows()]) == [b"1", b"2"]
    _in_thread(lambda: store.compact(2))
    assert _in_thread(lambda: store.status().compact_revision) == 2
    assert store.range(b"a").kvs[0].value == b"2"  # and back on the creating thread


def test_memory_store_from_another_thread() -> None:
    store = MVCCStore()
    store.put(b"a", b"1")
    _exercise(store)


def test_file_store_from_another_thread(tmp_path: Path) -> None:
    store = MVCCStore(str(tmp_path / "kv.db"))
    store.put(b"a", b"1")
    _exercise(store)
    # Installing a snapshot reopens a file-backed database: still usable from anywhere.
    data = store.to_bytes()
    _in_thread(lambda: store.load_bytes(data))
    assert _in_thread(lambda: store.range(b"a").kvs[0].value) == b"2"
    store.close()


def test_store_made_on_another_thread_is_usable_here() -> None:
    store: MVCCStore = _in_thread(MVCCStore)
    store.put(b"k", b"v")
    assert store.range(b"k").kvs[0].value == b"v"


class _Entry:
    type = "normal"

    def __init__(self, data: bytes) -> None:
        self.data = data


def test_replicated_store_applies_and_snapshots_from_another_thread() -> None:
    sm = ReplicatedKV(1)
    sm.apply(_Entry(encode_command(1, 1, PutRequest(b"k", b"v1"))))
    result = _in_thread(lambda: sm.apply(_Entry(encode_command(1, 2, PutRequest(b"k", b"v2")))))
    assert result.error is None and result.response.header_revision == 3
    snap = _in_thread(sm.snapshot)
    other = ReplicatedKV(2)
    _in_thread(lambda: other.restore(snap))
    assert other.store.range(b"k").kvs[0].value == b"v2"


def test_concurrent_writers_get_one_request_at_a_time() -> None:
    """Two threads writing at once (a click while a cell runs): every put gets its own
    revision, none is lost, and the history reads back in order."""
    store = MVCCStore()
    per_thread = 1000
    start = threading.Barrier(2)

    def writer(name: bytes) -> Callable[[], None]:
        def run() -> None:
            start.wait()
            for i in range(per_thread):
                store.put(name, str(i).encode())
        return run

    errors: list[BaseException] = []

    def guarded(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # collected for the assertion
                errors.append(exc)
        return run

    threads = [threading.Thread(target=guarded(writer(k))) for k in (b"x", b"y")]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show at once
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert store.revision == 1 + 2 * per_thread
    revs = [rev for rev, _, _ in store.backend.rows()]
    assert [main for main, _ in revs] == list(range(2, 2 + 2 * per_thread))
    for k in (b"x", b"y"):
        kv = store.range(k).kvs[0]
        assert (kv.value, kv.version) == (str(per_thread - 1).encode(), per_thread)
