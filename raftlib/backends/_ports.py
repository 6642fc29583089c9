"""Loopback ports for the processes that tests, benchmarks and chapters start.

Binding port 0 and releasing it is racy twice over: the kernel may give the same port to the
next ``bind(0)`` (two members of one cluster once got one peer port, and etcd refused to start
with "duplicate url"), or to an outgoing connection, before the member binds it. So ports come
from below the kernel's ephemeral range, which it never hands to outgoing connections, and one
process never hands out a port twice. Each process starts at its own offset, so that two
processes rarely probe the same ports; a port still in use is skipped. What remains (another
program binding the port between the probe and the member) is retried by the caller:
:func:`address_in_use` recognises it in a member's log.
"""

from __future__ import annotations

import os
import socket
import threading

__all__ = ["address_in_use", "reserve_block", "reserve_port"]

_FIRST = 20_000  # above the ports services usually take; etcd's 2379/2380 stay out of it


def _ephemeral_first(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> int:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


class _Allocator:
    def __init__(self, first: int, end: int, seed: int) -> None:
        if end - first < 100:
            raise RuntimeError(f"no room for test ports below the ephemeral range ({end})")
        self.first, self.end = first, end
        self.next = first + seed % (end - first)
        self.given: set[int] = set()
        self.lock = threading.Lock()

    def reserve(self, size: int) -> int:
        with self.lock:
            for _ in range(self.end - self.first):
                base = self.next
                self.next = base + size if base + 2 * size <= self.end else self.first
                block = range(base, base + size)
                if base + size <= self.end and self.given.isdisjoint(block) and all(
                        _bindable(p) for p in block):
                    self.given.update(block)
                    return base
        raise RuntimeError(f"no {size} free ports left in {self.first}..{self.end - 1} "
                           "that were not handed out before")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_allocator = _Allocator(_FIRST, _ephemeral_first(), os.getpid() * 397)


def reserve_port() -> int:
    """A loopback port free now, never handed out before by this process, and outside the
    range the kernel gives to outgoing connections."""
    return _allocator.reserve(1)


def reserve_block(size: int) -> int:
    """The first of ``size`` consecutive ports, each as :func:`reserve_port` gives them."""
    return _allocator.reserve(size)


def address_in_use(log: str) -> bool:
    """Whether a member's log says it could not bind its address (the residual race)."""
    low = log.lower()
    return "address already in use" in low or "errno 98" in low
