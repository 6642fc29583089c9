"""The leader's write path: appends leave before its own fsync, answers wait for it; and the
per-stage breakdown (``RAFTLIB_STAGES``). Three members in this process, on one trio loop."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from raftlib.backends._ports import reserve_port
from raftlib.kv import PutRequest
from raftlib.raft import Role
from raftlib.runtime import MemberSpec
from raftlib.runtime._member import Member
from raftlib.runtime._stages import ENV, FOLLOWER_STAGES, STAGES
from raftlib.runtime._wal import DiskStorage


@asynccontextmanager
async def _cluster(tmp: Path) -> AsyncIterator[list[Member]]:
    peers = {i: ("127.0.0.1", reserve_port()) for i in (1, 2, 3)}
    members = [Member(MemberSpec(i, str(tmp / f"m{i}"), peers, ("127.0.0.1", reserve_port()),
                                 "t", heartbeat_ms=50, election_ms=500),
                      logging.getLogger(f"test.member.{i}")) for i in (1, 2, 3)]
    async with trio.open_nursery() as nursery:
        for m in members:
            nursery.start_soon(m.run)
        with trio.fail_after(20):
            while not any(m.node.role is Role.LEADER for m in members):
                await trio.sleep(0.01)
            lead = next(m for m in members if m.node.role is Role.LEADER)
            await lead._write(PutRequest(b"warm", b"up"))  # the term's first entry committed
        yield members
        nursery.cancel_scope.cancel()
    for m in members:
        m.storage.close()
        m.kv.store.close()


def _leader(members: list[Member]) -> Member:
    return next(m for m in members if m.node.role is Role.LEADER)


def test_the_leader_sends_before_its_fsync_and_answers_after_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[tuple[DiskStorage, float]] = []
    slow: list[DiskStorage] = []  # the leader's log, once the test's write begins
    told: list[list[int]] = []  # the followers' commit index as the leader's fsync ends
    followers: list[Member] = []
    lock = threading.Lock()
    real_sync = DiskStorage.sync

    def sync(self: DiskStorage) -> None:  # in the leader's worker thread, or inline
        if self in slow:
            time.sleep(0.3)
        real_sync(self)
        with lock:
            synced.append((self, time.monotonic()))
            if self in slow:
                told.append([f.node.commit for f in followers])

    monkeypatch.setattr(DiskStorage, "sync", sync)

    async def main() -> None:
        async with _cluster(tmp_path) as members:
            lead = _leader(members)
            followers.extend(m for m in members if m is not lead)
            index = lead.node.log.last_index() + 1
            start = time.monotonic()
            slow.append(lead.storage)
            await lead._write(PutRequest(b"k", b"v"))
            with lock:
                before_answer = [(s, t) for s, t in synced if t > start]
            assert lead.applied >= index
            # The answer came only after the leader's own fsync...
            lead_synced = [t for s, t in before_answer if s is lead.storage]
            assert lead_synced, "answered before the leader's own fsync ended"
            # ... and until then no follower had been told that the entry was committed.
            assert all(c < index for c in told[0])
            # The append reached a follower, which made it durable while the leader was
            # still in its 0.3 s fsync: the two overlapped.
            follower_synced = [t for s, t in before_answer if s is not lead.storage]
            assert follower_synced and min(follower_synced) < min(lead_synced)

    trio.run(main)


async def _http(port: int, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: "
                              f"{len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest


def test_the_stage_breakdown_is_served_only_when_asked_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def main(on: bool) -> None:
        async with _cluster(tmp_path / str(on)) as members:
            lead = _leader(members)
            port = lead.spec.client[1]
            if not on:
                assert all(m.stages is None for m in members)
                assert (await _http(port, "GET", "/raftlib/stages"))[0] == 404
                return
            for i in range(20):
                key = base64.b64encode(b"k%d" % i).decode()
                status, _ = await _http(port, "POST", "/v3/kv/put",
                                        json.dumps({"key": key, "value": key}).encode())
                assert status == 200
            status, body = await _http(port, "GET", "/raftlib/stages")
            report = json.loads(body)
            assert status == 200 and report["samples"]["answer"] == 20
            assert set(report["median_ms"]) >= set(STAGES)
            assert all(v >= 0 for v in report["median_ms"].values())
            follower = next(m for m in members if m is not lead)
            _, body = await _http(follower.spec.client[1], "GET", "/raftlib/stages")
            assert set(json.loads(body)["median_ms"]) >= set(FOLLOWER_STAGES)
            status, body = await _http(port, "POST", "/raftlib/stages")  # clears
            assert json.loads(body)["samples"]["answer"] == 0

    monkeypatch.delenv(ENV, raising=False)
    trio.run(main, False)
    monkeypatch.setenv(ENV, "1")
    trio.run(main, True)
