"""Ports for the processes the tests start: never one port twice, never the residual race."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from raftlib.backends import EtcdCluster, RaftlibCluster, _process
from raftlib.backends._ports import (
    _FIRST,
    _Allocator,
    _bindable,
    _ephemeral_first,
    address_in_use,
    reserve_block,
    reserve_port,
)


def test_ports_are_unique_and_outside_the_ephemeral_range() -> None:
    ports = [reserve_port() for _ in range(1_000)]
    assert len(set(ports)) == len(ports)
    # The kernel never gives these to an outgoing connection.
    assert all(_FIRST <= p < _ephemeral_first() for p in ports)


def test_a_block_is_consecutive_and_shares_no_port_with_others() -> None:
    singles = {reserve_port() for _ in range(50)}
    base = reserve_block(22)
    assert singles.isdisjoint(range(base, base + 22))
    assert reserve_port() not in range(base, base + 22)


def _free_window(size: int = 100) -> int:
    """The first of ``size`` ports all bindable now. Fixed ports would not do: earlier tests
    of this run may have used them (a closed connection's port stays in TIME_WAIT a minute)."""
    for base in range(_FIRST, _ephemeral_first() - size, size):
        if all(_bindable(p) for p in range(base, base + size)):
            return base
    pytest.fail(f"no {size} consecutive free ports below the ephemeral range")


def test_a_port_in_use_is_skipped() -> None:
    base = _free_window()
    alloc = _Allocator(base, base + 100, seed=7)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", alloc.next))
        busy.listen()
        taken = busy.getsockname()[1]
        assert alloc.reserve(1) == taken + 1


def test_the_allocator_wraps_and_says_when_it_is_exhausted() -> None:
    base = _free_window()
    alloc = _Allocator(base, base + 100, seed=95)
    got = [alloc.reserve(1) for _ in range(100)]
    assert got == [*range(base + 95, base + 100), *range(base, base + 95)]
    with pytest.raises(RuntimeError, match="no 1 free ports"):
        alloc.reserve(1)


def test_address_in_use_is_recognised_in_both_engines_logs() -> None:
    etcd = ('{"level":"fatal","msg":"discovery failed","error":"listen tcp 127.0.0.1:20011: '
            'bind: address already in use"}')
    raftlib = "member 1 ERROR cannot serve: [Errno 98] error while attempting to bind"
    assert address_in_use(etcd) and address_in_use(raftlib)
    assert not address_in_use("etcdserver: request timed out")


@pytest.fixture
def squatter(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The first port a cluster asks for is bound by 'another program' after the probe."""
    held: list[socket.socket] = []
    handed: list[int] = []

    def racy_reserve_port() -> int:
        port = reserve_port()
        if not held:
            s = socket.socket()
            s.bind(("127.0.0.1", port))
            s.listen()
            held.append(s)
        handed.append(port)
        return port

    monkeypatch.setattr(_process, "reserve_port", racy_reserve_port)
    yield handed
    for s in held:
        s.close()


@pytest.mark.parametrize("engine", [RaftlibCluster, EtcdCluster], ids=["raftlib", "etcd"])
def test_a_cluster_start_survives_a_port_taken_after_the_probe(
        engine: type[RaftlibCluster] | type[EtcdCluster], squatter: list[int]) -> None:
    with engine(1, heartbeat_ms=50, election_timeout_ms=500) as c:
        taken = squatter[0]
        assert c.endpoint(1) != f"http://127.0.0.1:{taken}"
        assert len(squatter) == 4  # two ports for the failed start, two for the retry
        c.client(1).put(b"k", b"v")
        assert c.client(1).get(b"k").kvs[0].value == b"v"
