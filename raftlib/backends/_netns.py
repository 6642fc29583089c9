"""Network namespaces for a cluster whose members must be partitionable (root only).

Processes sharing one loopback interface cannot be cut apart. Here each member gets its own
network namespace, joined to a private bridge in the host's namespace by a veth pair, with an
address in a private /24 (``10.213.X.0/24``; the host end of the bridge is ``.1``). Nothing is
routed beyond the bridge: the traffic stays inside this machine. A partition is a set of
*blackhole* routes inside each member's namespace (iproute2 only, no firewall rules): a member
drops every packet addressed to a member outside its group, in both directions, while clients
in the host's namespace still reach every member.

Every name carries a random tag, so two clusters (or two test runs) never collide, and
:meth:`Netns.close` removes the namespaces, the bridge and their processes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess

__all__ = ["Netns", "netns_problem"]


def netns_problem() -> str | None:
    """Why network namespaces cannot be made here, or ``None`` if they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (run as root, e.g. in CI, or with sudo)"
    if shutil.which("ip") is None:
        return "the ip command is missing: install Debian's iproute2"
    return None


def _ip(*args: str, ns: str | None = None) -> None:
    cmd = ["ip", *args] if ns is None else ["ip", "netns", "exec", ns, "ip", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise OSError(f"{' '.join(cmd)}: {r.stderr.strip()}")


class Netns:
    """A bridge and one namespace per member; :meth:`add` makes a member's namespace."""

    def __init__(self) -> None:
        problem = netns_problem()
        if problem is not None:
            raise OSError(problem)
        self.tag = secrets.token_hex(3)
        self.subnet = 16 + secrets.randbelow(224)  # the X of 10.213.X.0/24
        self.bridge = f"rlb{self.tag}"
        self.members: dict[int, str] = {}
        self._blocked: dict[int, set[int]] = {}
        _ip("link", "add", self.bridge, "type", "bridge")
        try:
            _ip("addr", "add", f"10.213.{self.subnet}.1/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        except OSError:
            self.close()
            raise

    def address(self, member: int) -> str:
        """The member's IP address (members are numbered from 1)."""
        if not 1 <= member <= 250:
            raise ValueError("a namespaced cluster holds members 1..250")
        return f"10.213.{self.subnet}.{member + 1}"

    def add(self, member: int) -> str:
        """Create ``member``'s namespace and return its name."""
        ns = f"rl{self.tag}n{member}"
        host, inner = f"rl{self.tag}h{member}", f"rl{self.tag}c{member}"
        _ip("netns", "add", ns)
        self.members[member] = ns
        _ip("link", "add", host, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", ns)
        _ip("link", "set", host, "master", self.bridge)
        _ip("link", "set", host, "up")
        _ip("addr", "add", f"{self.address(member)}/24", "dev", inner, ns=ns)
        _ip("link", "set", inner, "up", ns=ns)
        _ip("link", "set", "lo", "up", ns=ns)
        self._blocked[member] = set()
        return ns

    def exec_prefix(self, member: int) -> list[str]:
        """The argv prefix that runs a command inside ``member``'s namespace."""
        return ["ip", "netns", "exec", self.members[member]]

    def block(self, member: int, others: set[int]) -> None:
        """Make ``member`` drop everything addressed to ``others`` (and nothing else)."""
        ns = self.members[member]
        now = self._blocked[member]
        for o in sorted(now - others):
            _ip("route", "del", "blackhole", f"{self.address(o)}/32", ns=ns)
        for o in sorted(others - now):
            _ip("route", "add", "blackhole", f"{self.address(o)}/32", ns=ns)
        self._blocked[member] = set(others)

    def close(self) -> None:
        """Kill what still runs in the namespaces, then delete them and the bridge."""
        for ns in self.members.values():
            r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in r.stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.members.clear()
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
