"""A real etcd 3.4 started per test on free loopback ports: the fixtures the key-value and
chapter tests share (each directory's conftest imports them)."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from raftlib.backends._ports import reserve_port
from raftlib.gateway import EtcdGateway

ETCD = "/usr/bin/etcd"


class EtcdProcess:
    """A single-member etcd with its data in a temporary directory."""

    def __init__(self, quota_backend_bytes: int | None = None) -> None:
        if not os.path.exists(ETCD):
            pytest.fail(f"{ETCD} is missing: install Debian's etcd-server package "
                        "(apt-get install etcd-server) to run the differential tests")
        self.dir = tempfile.TemporaryDirectory(prefix="raftlib-etcd-")
        client, peer = reserve_port(), reserve_port()
        self.endpoint = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        args = [ETCD, "--name", "t", "--data-dir", self.dir.name + "/data",
                "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
                "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                "--initial-cluster", f"t={peer_url}", "--log-level", "error"]
        if quota_backend_bytes is not None:
            args += ["--quota-backend-bytes", str(quota_backend_bytes)]
        self.log = open(self.dir.name + "/etcd.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        self.client = EtcdGateway(self.endpoint)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self.proc.returncode}: {self.logs()}")
            try:
                with urllib.request.urlopen(self.endpoint + "/health", timeout=1) as r:
                    if b'"health":"true"' in r.read():
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"etcd did not become healthy: {self.logs()}")

    def logs(self) -> str:
        """What etcd printed so far."""
        self.log.flush()
        with open(self.dir.name + "/etcd.log", "rb") as f:
            return f.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        """Stop etcd by its PID and remove its data."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        self.dir.cleanup()


@pytest.fixture
def etcd_factory() -> Iterator[Callable[..., EtcdProcess]]:
    """Start etcds (``etcd_factory(quota_backend_bytes=...)``); all are stopped at the end."""
    started: list[EtcdProcess] = []

    def start(quota_backend_bytes: int | None = None) -> EtcdProcess:
        p = EtcdProcess(quota_backend_bytes)
        started.append(p)
        return p

    try:
        yield start
    finally:
        for p in started:
            p.stop()


@pytest.fixture
def etcd(etcd_factory: Callable[..., EtcdProcess]) -> EtcdGateway:
    """A fresh etcd's gateway client."""
    return etcd_factory().client
