"""The load generator of ``bench_runtime.py``: N keep-alive HTTP/1.1 clients sending etcd puts.

Run: ``python bench/_loadgen.py --url http://127.0.0.1:2379 --clients 16 --seconds 5``.
Prints one JSON object on stdout (see :func:`main`).

Each client owns one connection and sends ``POST /v3/kv/put`` (etcd's v3 JSON gateway body,
base64 key and value, a distinct key per request) one after another, timing each request with
``time.perf_counter``. Load runs for ``--warmup`` seconds unmeasured, then ``--seconds``
measured: a put counts if it completes inside the measured window; requests still in flight
when the window closes are cancelled and not counted. An answer other than 200 with etcd's
``header``, or a broken connection, is an error and not a put.

It runs in its own process so it never shares a GIL with a server under test. The HTTP client
is a minimal one on trio sockets rather than h11: at thousands of requests per second on two
shared cores, the load generator's own cost per request matters.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import trio

_VALUE_SIZE = 100
_MAX_ERROR_SAMPLES = 5


@dataclass
class _Stats:
    window_start: float
    window_end: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    total_ok: int = 0
    total_errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def error(self, t: float, what: str) -> None:
        self.total_errors += 1
        if self.window_start <= t <= self.window_end:
            self.errors += 1
        if len(self.error_samples) < _MAX_ERROR_SAMPLES and what not in self.error_samples:
            self.error_samples.append(what)


class _Connection:
    """One keep-alive HTTP/1.1 connection with a small response parser."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buf = bytearray()

    async def _fill(self) -> None:
        data = await self.stream.receive_some(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    async def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            await self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def _line(self) -> bytes:
        while (i := self.buf.find(b"\r\n")) < 0:
            await self._fill()
        out = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return out

    async def response(self) -> tuple[int, bytes, bool]:
        """``(status, body, keep_alive)`` of the next response."""
        while (i := self.buf.find(b"\r\n\r\n")) < 0:
            await self._fill()
        head = bytes(self.buf[:i]).split(b"\r\n")
        del self.buf[:i + 4]
        status = int(head[0].split(b" ", 2)[1])
        length: int | None = None
        chunked = False
        keep_alive = True
        for line in head[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep_alive = b"close" not in value.lower()
        if chunked:
            parts = []
            while size := int((await self._line()).split(b";")[0], 16):
                parts.append(await self._take(size))
                await self._line()
            while await self._line():  # trailers, up to the empty line
                pass
            return status, b"".join(parts), keep_alive
        if length is None:  # body delimited by the end of the connection
            try:
                while True:
                    await self._fill()
            except ConnectionError:
                pass
            body = bytes(self.buf)
            self.buf.clear()
            return status, body, False
        return status, await self._take(length), keep_alive


async def _client(i: int, host: str, port: int, prefix: str, value: str, stats: _Stats) -> None:
    head = (f"POST /v3/kv/put HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\nContent-Length: ").encode()
    seq = 0
    while True:
        conn: _Connection | None = None
        try:
            conn = _Connection(await trio.open_tcp_stream(host, port))  # TCP_NODELAY is on
            keep_alive = True
            while keep_alive:
                seq += 1
                key = base64.b64encode(f"{prefix}/{i:03d}/{seq:09d}".encode()).decode()
                body = f'{{"key":"{key}","value":"{value}"}}'.encode()
                request = head + b"%d\r\n\r\n" % len(body) + body
                t0 = time.perf_counter()
                await conn.stream.send_all(request)
                status, answer, keep_alive = await conn.response()
                t1 = time.perf_counter()
                if status == 200 and b'"header"' in answer:
                    stats.total_ok += 1
                    if stats.window_start <= t0 and t1 <= stats.window_end:
                        stats.latencies.append(t1 - t0)
                else:
                    stats.error(t1, f"HTTP {status}: {answer[:200].decode(errors='replace')}")
                    await trio.sleep(0.01)  # do not spin on a failing server
        except (OSError, ConnectionError, trio.BrokenResourceError, ValueError, IndexError) as e:
            stats.error(time.perf_counter(), f"{type(e).__name__}: {e}")
            await trio.sleep(0.05)
        finally:
            if conn is not None:
                with trio.CancelScope(shield=True):
                    await conn.stream.aclose()


async def run(url: str, clients: int, seconds: float, warmup: float, prefix: str) -> _Stats:
    """Run the load and return the raw statistics."""
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    value = base64.b64encode(b"v" * _VALUE_SIZE).decode()
    start = time.perf_counter()
    stats = _Stats(start + warmup, start + warmup + seconds)
    with trio.move_on_at(trio.current_time() + warmup + seconds):
        async with trio.open_nursery() as nursery:
            for i in range(clients):
                nursery.start_soon(_client, i, host, port, prefix, value, stats)
    return stats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True, help="base URL of the member to load")
    p.add_argument("--clients", type=int, default=1)
    p.add_argument("--seconds", type=float, default=5.0, help="measured duration")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured load first")
    p.add_argument("--prefix", default=f"bench/{int(time.time() * 1000)}",
                   help="key prefix (keys are <prefix>/<client>/<seq>)")
    a = p.parse_args()
    t_start, cpu_start = time.perf_counter(), time.process_time()
    s = trio.run(run, a.url, a.clients, a.seconds, a.warmup, a.prefix)
    lat = sorted(s.latencies)
    ms = [x * 1000 for x in lat]
    out = {
        "url": a.url, "clients": a.clients, "seconds": a.seconds, "warmup": a.warmup,
        "puts": len(lat), "puts_per_s": len(lat) / a.seconds, "errors": s.errors,
        "p50_ms": statistics.median(ms) if ms else None,
        "p99_ms": ms[max(0, math.ceil(0.99 * len(ms)) - 1)] if ms else None,  # nearest rank
        "mean_ms": statistics.fmean(ms) if ms else None,
        "max_ms": ms[-1] if ms else None,
        "total_ok": s.total_ok, "total_errors": s.total_errors,
        "error_samples": s.error_samples,
        # CPU this process used over the run: near 1.0 x wall time means the load generator,
        # not the server, was the limit.
        "cpu_s": time.process_time() - cpu_start, "wall_s": time.perf_counter() - t_start,
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
