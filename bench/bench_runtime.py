"""The runtime benchmark: raftlib's member processes against real etcd 3.4 and PySyncObj
(prints figures; not a test).

Run: ``.venv/bin/python bench/bench_runtime.py`` (about five minutes; ``--quick`` for a smoke
run of about one minute; ``--help`` for the options).

Three 3-member clusters on 127.0.0.1, each member an OS process with an fsync'd log:

- raftlib: ``raftlib.backends.RaftlibCluster`` (trio members serving etcd's v3 JSON gateway);
- etcd: ``raftlib.backends.EtcdCluster``, real etcd 3.4 (fdatasyncs its WAL on every Ready);
- PySyncObj: ``bench/_pysyncobj_kv.py``, a replicated dict behind the same ``POST /v3/kv/put``,
  its journal synced before any message leaves a member (see that module).

1. Throughput and latency of puts at 1, 16 and 64 concurrent clients. One load generator for
   all, ``bench/_loadgen.py``, in its own process: keep-alive HTTP/1.1 connections, each
   sending ``POST /v3/kv/put`` (base64 key and ~100-byte value, distinct keys) one after
   another, to the leader. Each (system, clients) point runs ``--runs`` times, every run on a
   fresh cluster, systems interleaved so that a change in the machine's background load hits
   all of them alike; the table shows medians over runs.
2. Time to a new leader after SIGKILL of the leader (raftlib and etcd, heartbeat 100 ms,
   election timeout 1000 ms): the survivors' ``/v3/maintenance/status`` is polled every 10 ms
   until one names a leader in a higher term; the killed member is restarted and the cluster
   settles between trials.

3. Where one raftlib put's time goes: a 1-client run on a fresh cluster whose members stamp
   every stage of a write (``RAFTLIB_STAGES=1``; ``raftlib/runtime/_stages.py``), the medians
   per stage on the leader and on its followers (``--no-stages`` skips it).

The goals (issue 17): raftlib's puts/s at least 0.8x etcd's at 1, 16 and 64 clients, and its
p99 at most 1.5x etcd's. Every figure, with its goal and ratio, and the raw runs go to
``_build/bench/results.json`` under ``runtime`` (``bench/_results.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from _pysyncobj_kv import PySyncObjCluster
from _results import Figure, record

from raftlib.backends import EtcdCluster, RaftlibCluster
from raftlib.runtime._stages import ENV as STAGES_ENV
from raftlib.runtime._stages import FOLLOWER_STAGES, STAGES

ROOT = Path(__file__).resolve().parent.parent
LOADGEN = Path(__file__).resolve().parent / "_loadgen.py"
RATE_GOAL, P99_GOAL = 0.8, 1.5  # raftlib/etcd: puts/s at least, p99 at most
HEARTBEAT_MS, ELECTION_MS = 100, 1000

_Json = dict[str, Any]


class _Cluster(Protocol):
    @property
    def members(self) -> tuple[int, ...]: ...

    def endpoint(self, member: int) -> str: ...
    def leader(self) -> int | None: ...
    def pid(self, member: int) -> int | None: ...
    def crash(self, member: int) -> None: ...
    def restart(self, member: int) -> None: ...
    def close(self) -> None: ...


def systems() -> tuple[dict[str, Callable[[], _Cluster]], dict[str, str]]:
    """The systems to measure by name, and why any is missing."""
    out: dict[str, Callable[[], _Cluster]] = {}
    missing: dict[str, str] = {}
    out["raftlib"] = lambda: RaftlibCluster(n=3, heartbeat_ms=HEARTBEAT_MS,
                                            election_timeout_ms=ELECTION_MS)
    out["etcd"] = lambda: EtcdCluster(n=3, heartbeat_ms=HEARTBEAT_MS,
                                      election_timeout_ms=ELECTION_MS)
    out["pysyncobj"] = lambda: PySyncObjCluster(n=3)
    return out, missing


# ----------------------------------------------------------------------------- HTTP helpers


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    return host, int(port)


def _request(url: str, method: str, path: str, timeout: float) -> tuple[int, bytes] | None:
    conn = http.client.HTTPConnection(*_host_port(url), timeout=timeout)
    try:
        conn.request(method, path, b"{}" if method == "POST" else None,
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def status(url: str, timeout: float = 0.5) -> _Json | None:
    """The member's ``/v3/maintenance/status``, or ``None`` if it does not answer."""
    r = _request(url, "POST", "/v3/maintenance/status", timeout)
    if r is None or r[0] != 200:
        return None
    try:
        j = json.loads(r[1])
    except ValueError:
        return None
    return j if isinstance(j, dict) else None


def fsync_count(url: str) -> int | None:
    """WAL/journal syncs the member has done: etcd's ``etcd_disk_wal_fsync_duration_seconds``
    count from ``/metrics``, raftlib's ``wal_syncs`` from ``/raftlib/metrics``, else the
    status's ``fsyncs``."""
    r = _request(url, "GET", "/raftlib/metrics", 2.0)
    if r is not None and r[0] == 200:
        return int(json.loads(r[1])["wal_syncs"])
    r = _request(url, "GET", "/metrics", 2.0)
    if r is not None and r[0] == 200:
        for line in r[1].decode(errors="replace").splitlines():
            if line.startswith("etcd_disk_wal_fsync_duration_seconds_count"):
                return int(float(line.split()[-1]))
    j = status(url, 2.0)
    if j is not None and "fsyncs" in j:
        return int(j["fsyncs"])
    return None


def gc_pause_ms(url: str) -> float | None:
    """A raftlib member's longest garbage-collection pause since it started (``None``: not a
    raftlib member)."""
    r = _request(url, "GET", "/raftlib/metrics", 2.0)
    if r is None or r[0] != 200:
        return None
    return float(json.loads(r[1])["gc_longest_pause_us"]) / 1e3


def wait_leader(c: _Cluster, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while (lead := c.leader()) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no leader in {timeout} s")
        time.sleep(0.05)
    return lead


# ----------------------------------------------------------------------------- measurements


def fsync_probe(directory: str, n: int = 50) -> float:
    """Median seconds of a 4 KiB append plus fdatasync in ``directory`` (the disk's floor)."""
    fd, path = tempfile.mkstemp(dir=directory)
    try:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            os.write(fd, b"x" * 4096)
            os.fdatasync(fd)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)
    finally:
        os.close(fd)
        os.remove(path)


def cpu_seconds(c: _Cluster) -> dict[int, float]:
    """CPU time (user + system) each running member's process has used so far."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for m in c.members:
        pid = c.pid(m)
        with contextlib.suppress(OSError, TypeError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[m] = (int(fields[11]) + int(fields[12])) / tick
    return out


def loadgen(url: str, clients: int, seconds: float, warmup: float, prefix: str) -> _Json:
    """Run ``_loadgen.py`` in its own process against ``url``; its JSON result."""
    r = subprocess.run(  # run() kills the child on any exception, Ctrl-C included
        [sys.executable, str(LOADGEN), "--url", url, "--clients", str(clients),
         "--seconds", str(seconds), "--warmup", str(warmup), "--prefix", prefix],
        capture_output=True, text=True, timeout=warmup + seconds + 60)
    if r.returncode != 0:
        raise RuntimeError(f"load generator failed ({r.returncode}): {r.stderr[-2000:]}")
    out: _Json = json.loads(r.stdout)
    return out


def throughput_run(name: str, make: Callable[[], _Cluster], points: list[int], run: int,
                   seconds: float, warmup: float) -> dict[int, _Json]:
    """One run of every client count on a fresh cluster of ``name``."""
    out: dict[int, _Json] = {}
    c = make()
    try:
        for clients in points:
            lead = wait_leader(c)
            url = c.endpoint(lead)
            f0 = fsync_count(url)
            cpu0 = cpu_seconds(c)
            res = loadgen(url, clients, seconds, warmup, f"bench/{name}/r{run}/c{clients}")
            cpu1 = cpu_seconds(c)
            f1 = fsync_count(url)
            # CPU per put counts the whole load, warm-up included (total_ok); a figure that
            # the machine's other load changes far less than puts/s.
            used = {m: cpu1[m] - cpu0[m] for m in cpu1 if m in cpu0}
            res["cpu_ms_per_put"] = (sum(used.values()) / res["total_ok"] * 1e3
                                     if used and res["total_ok"] else None)
            res["leader_cpu_ms_per_put"] = (used[lead] / res["total_ok"] * 1e3
                                            if lead in used and res["total_ok"] else None)
            res["leader"] = lead
            res["gc_pause_ms"] = gc_pause_ms(url)
            res["leader_after"] = c.leader()
            res["fsyncs_per_put"] = ((f1 - f0) / res["total_ok"]
                                     if f0 is not None and f1 is not None and res["total_ok"]
                                     else None)
            out[clients] = res
            fs = res["fsyncs_per_put"]
            print(f"   {name:<9} run {run + 1} {clients:>3} clients: "
                  f"{res['puts_per_s']:>8,.0f} puts/s  p50 {_ms(res['p50_ms'])}  "
                  f"p99 {_ms(res['p99_ms'])}  errors {res['errors']}  "
                  f"leader fsyncs/put {'n/a' if fs is None else f'{fs:.2f}'}  "
                  f"cpu/put {_ms(res['cpu_ms_per_put'])} "
                  f"(leader {_ms(res['leader_cpu_ms_per_put'])})  "
                  f"loadgen cpu {res['cpu_s'] / res['wall_s']:.0%}"
                  + ("" if res["gc_pause_ms"] is None else
                     f"  leader's longest GC pause so far {res['gc_pause_ms']:.1f} ms")
                  + ("" if res["leader_after"] == lead else "  (LEADER CHANGED)"),
                  flush=True)
            for sample in res["error_samples"][:2]:
                print(f"      error: {sample}", flush=True)
    finally:
        c.close()
    return out


def stage_breakdown(clients: int, seconds: float, warmup: float) -> _Json:
    """Where a raftlib put's time goes: one run on a fresh cluster whose members stamp every
    stage of a write (``RAFTLIB_STAGES=1``, see ``raftlib/runtime/_stages.py``); the medians
    of the leader's stages and of its followers'."""
    os.environ[STAGES_ENV] = "1"
    try:
        c = RaftlibCluster(n=3, heartbeat_ms=HEARTBEAT_MS, election_timeout_ms=ELECTION_MS)
    finally:
        del os.environ[STAGES_ENV]
    try:
        lead = wait_leader(c)
        url = c.endpoint(lead)
        loadgen(url, clients, warmup, 0.0, "bench/stages/warmup")
        for m in c.members:  # forget the warm-up's samples
            _request(c.endpoint(m), "POST", "/raftlib/stages", 2.0)
        res = loadgen(url, clients, seconds, 0.0, "bench/stages/run")
        reports = {}
        for m in c.members:
            r = _request(c.endpoint(m), "GET", "/raftlib/stages", 2.0)
            if r is None or r[0] != 200:
                raise RuntimeError(f"member {m} serves no stages (is RAFTLIB_STAGES passed?)")
            reports[m] = json.loads(r[1])
    finally:
        c.close()
    leader = reports[lead]
    followers = [reports[m]["median_ms"] for m in c.members if m != lead]
    return {"clients": clients, "puts_per_s": res["puts_per_s"], "p50_ms": res["p50_ms"],
            "leader_ms": {k: leader["median_ms"].get(k) for k in STAGES},
            "follower_ms": {k: _med([f.get(k) for f in followers]) for k in FOLLOWER_STAGES},
            "samples": leader["samples"]["answer"]}


def print_breakdown(b: _Json) -> None:
    print(f"\n== Where one raftlib put's time goes ({b['clients']} client(s), separate run with "
          f"RAFTLIB_STAGES=1; medians; {b['samples']} puts,\n   {b['puts_per_s']:,.0f} puts/s, "
          f"p50 {b['p50_ms']:.2f} ms as the load generator saw it)")
    total = 0.0
    for name, v in b["leader_ms"].items():
        total += v or 0.0
        print(f"   leader   {name:<12} {'n/a' if v is None else f'{v:6.3f} ms'}")
    print(f"   leader   {'sum':<12} {total:6.3f} ms (from the request's last bytes to the "
          "reply sent)")
    for name, v in b["follower_ms"].items():
        print(f"   follower {name:<12} {'n/a' if v is None else f'{v:6.3f} ms'}")


def failover_trial(c: _Cluster) -> float | None:
    """Seconds from SIGKILL of the leader until a survivor names a leader in a higher term
    (``None``: none within 20 s)."""
    lead = wait_leader(c)
    j = status(c.endpoint(lead), 2.0)
    if j is None:
        raise RuntimeError(f"leader {lead} does not answer status")
    killed_id, term = int(j["header"]["member_id"]), int(j["raftTerm"])
    survivors = [c.endpoint(m) for m in c.members if m != lead]
    elapsed: float | None = None
    t0 = time.perf_counter()
    c.crash(lead)
    while elapsed is None and time.perf_counter() - t0 < 20.0:
        tick = time.perf_counter()
        for url in survivors:
            s = status(url, 0.2)
            if s is not None and int(s.get("raftTerm", 0)) > term \
                    and int(s.get("leader", 0)) not in (0, killed_id):
                elapsed = time.perf_counter() - t0
                break
        else:
            time.sleep(max(0.0, 0.010 - (time.perf_counter() - tick)))
    # Not in a finally: after an error or Ctrl-C the cluster is closed, not restarted.
    c.restart(lead)
    settle(c)
    return elapsed


def settle(c: _Cluster, timeout: float = 30.0) -> None:
    """Wait until every member answers and names the same leader, then 1 s more (the restarted
    member catches up and has heard heartbeats)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leads = {int(s.get("leader", 0)) if s else 0
                 for s in (status(c.endpoint(m)) for m in c.members)}
        if len(leads) == 1 and 0 not in leads:
            time.sleep(1.0)
            return
        time.sleep(0.1)
    raise RuntimeError("the cluster did not settle after a restart")


# ----------------------------------------------------------------------------- report


def _ms(x: float | None) -> str:
    return f"{x:7.2f}ms" if x is not None else "     n/a "


def _med(xs: list[float | None]) -> float | None:
    v = [x for x in xs if x is not None]
    return statistics.median(v) if v else None


def summarize(raw: dict[str, dict[int, list[_Json]]]) -> dict[str, dict[int, _Json]]:
    out: dict[str, dict[int, _Json]] = {}
    for name, points in raw.items():
        out[name] = {}
        for clients, runs in points.items():
            rates = [r["puts_per_s"] for r in runs]
            out[name][clients] = {
                "puts_per_s": statistics.median(rates), "min": min(rates), "max": max(rates),
                "p50_ms": _med([r["p50_ms"] for r in runs]),
                "p99_ms": _med([r["p99_ms"] for r in runs]),
                "errors": sum(r["errors"] for r in runs),
                "fsyncs_per_put": _med([r["fsyncs_per_put"] for r in runs]),
                "cpu_ms_per_put": _med([r["cpu_ms_per_put"] for r in runs]),
                "leader_cpu_ms_per_put": _med([r["leader_cpu_ms_per_put"] for r in runs]),
                "loadgen_cpu": _med([r["cpu_s"] / r["wall_s"] for r in runs]),
                "runs": len(runs),
            }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description="raftlib vs etcd 3.4 vs PySyncObj, one load "
                                            "generator")
    p.add_argument("--quick", action="store_true", help="a fast smoke run")
    p.add_argument("--seconds", type=float, help="measured seconds per point (default 5)")
    p.add_argument("--warmup", type=float, help="warm-up seconds per point (default 1)")
    p.add_argument("--runs", type=int, help="runs per point (default 3)")
    p.add_argument("--trials", type=int, help="failover trials per system (default 5)")
    p.add_argument("--clients", default="1,16,64", help="comma-separated client counts")
    p.add_argument("--systems", default="raftlib,etcd,pysyncobj")
    p.add_argument("--no-failover", action="store_true")
    p.add_argument("--no-stages", action="store_true",
                   help="skip the per-stage breakdown of a raftlib put")
    a = p.parse_args()
    # SIGTERM unwinds like Ctrl-C, so every cluster's context manager stops its processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    seconds = a.seconds or (2.0 if a.quick else 5.0)
    warmup = a.warmup if a.warmup is not None else (0.5 if a.quick else 1.0)
    runs = a.runs or (1 if a.quick else 3)
    trials = a.trials or (2 if a.quick else 5)
    points = [int(x) for x in a.clients.split(",")]
    wanted = a.systems.split(",")

    available, missing = systems()
    for name, why in missing.items():
        if name in wanted:
            print(f"!! {why}: measuring without it", flush=True)
    names = [n for n in wanted if n in available]

    # Every cluster's data goes under tempfile's directory: fsync on tmpfs would cost nothing.
    tmp = tempfile.gettempdir()
    fstype = _fstype(tmp)
    if fstype in ("tmpfs", "ramfs"):
        base = ROOT / "_build" / "bench" / "tmp"
        base.mkdir(parents=True, exist_ok=True)
        tempfile.tempdir = tmp = str(base)
        fstype = _fstype(tmp)
    probe = fsync_probe(tmp)
    print(f"data directories in {tmp} ({fstype}); 4 KiB append + fdatasync there: "
          f"{probe * 1e3:.2f} ms (median of 50)")
    print(f"{os.cpu_count()} CPUs shared by the servers and the load generator; "
          f"{seconds:g} s per point after {warmup:g} s warm-up, {runs} run(s) per point\n")

    print(f"1. puts to the leader at {', '.join(map(str, points))} concurrent clients", flush=True)
    raw: dict[str, dict[int, list[_Json]]] = {n: {c: [] for c in points} for n in names}
    for run in range(runs):
        order = names[run % len(names):] + names[:run % len(names)] if names else []
        for name in order:
            if name in missing:
                continue
            try:
                for clients, res in throughput_run(name, available[name], points, run, seconds,
                                                   warmup).items():
                    raw[name][clients].append(res)
            except Exception as e:  # a system that cannot run is reported, not fatal
                missing[name] = f"{name} failed: {type(e).__name__}: {str(e)[-1500:]}"
                print(f"!! {missing[name]}", flush=True)
    names = [n for n in names if n not in missing]
    summary = summarize({n: raw[n] for n in names})

    breakdown: _Json | None = None
    if not a.no_stages and "raftlib" in names:
        breakdown = stage_breakdown(1, seconds, warmup)
        print_breakdown(breakdown)

    failover: dict[str, _Json] = {}
    if not a.no_failover:
        print(f"\n2. time to a new leader after SIGKILL of the leader "
              f"(heartbeat {HEARTBEAT_MS} ms, election timeout {ELECTION_MS} ms)", flush=True)
        for name in [n for n in ("raftlib", "etcd") if n in names]:
            times: list[float | None] = []
            try:
                with contextlib.closing(available[name]()) as c:
                    settle(c)
                    for t in range(trials):
                        dt = failover_trial(c)
                        times.append(dt)
                        print(f"   {name:<9} trial {t + 1}: "
                              f"{'no leader in 20 s' if dt is None else f'{dt * 1e3:.0f} ms'}",
                              flush=True)
            except Exception as e:  # report what was measured, and why it stopped
                print(f"!! {name} failover failed: {type(e).__name__}: {str(e)[-1500:]}",
                      flush=True)
                times += [None] * (trials - len(times))
            ok = [x * 1e3 for x in times if x is not None]
            failover[name] = {"trials_ms": [None if x is None else x * 1e3 for x in times],
                              "median_ms": statistics.median(ok) if ok else None,
                              "min_ms": min(ok) if ok else None,
                              "max_ms": max(ok) if ok else None,
                              "failed": len(times) - len(ok)}

    report(summary, failover, points, names, missing, seconds, warmup, runs, trials)
    record("runtime", figures(summary, failover, breakdown, points),
           config={"seconds": seconds, "warmup": warmup, "runs": runs, "trials": trials,
                   "clients": points, "members": 3, "heartbeat_ms": HEARTBEAT_MS,
                   "election_timeout_ms": ELECTION_MS, "value_bytes": 100,
                   "data_dir_fs": fstype, "fdatasync_4k_ms": probe * 1e3},
           missing=missing, throughput=summary, raw=raw, failover=failover, stages=breakdown)


def _fstype(path: str) -> str:
    best, fs = "", "unknown"
    with contextlib.suppress(OSError), open("/proc/mounts") as f:
        for line in f:
            _, mnt, typ, *_ = line.split()
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                best, fs = mnt, typ
    return fs


def figures(summary: dict[str, dict[int, _Json]], failover: dict[str, _Json],
            breakdown: _Json | None, points: list[int]) -> list[Figure]:
    """The goals' ratios first, then the measured figures behind them."""
    out: list[Figure] = []
    rl, etcd, pso = (summary.get(n) for n in ("raftlib", "etcd", "pysyncobj"))
    for c in points:
        if rl and etcd:
            out.append(Figure(f"raftlib/etcd puts/s, {c} client(s)",
                              rl[c]["puts_per_s"] / etcd[c]["puts_per_s"], "x", RATE_GOAL))
            p99 = (rl[c]["p99_ms"] / etcd[c]["p99_ms"]
                   if rl[c]["p99_ms"] and etcd[c]["p99_ms"] else None)
            out.append(Figure(f"raftlib/etcd p99, {c} client(s)", p99, "x", P99_GOAL, "<="))
    if rl and pso:
        top = max(points)
        out.append(Figure(f"raftlib/PySyncObj puts/s, {top} clients",
                          rl[top]["puts_per_s"] / pso[top]["puts_per_s"], "x", 1.0))
    for name, s in summary.items():
        for c in points:
            out.append(Figure(f"{name} puts/s, {c} client(s)", s[c]["puts_per_s"], "/s"))
            out.append(Figure(f"{name} p50, {c} client(s)", s[c]["p50_ms"], "ms"))
            out.append(Figure(f"{name} p99, {c} client(s)", s[c]["p99_ms"], "ms"))
            out.append(Figure(f"{name} CPU per put, 3 members, {c} client(s)",
                              s[c]["cpu_ms_per_put"], "ms"))
    if breakdown is not None:
        out.append(Figure("raftlib put, leader stages summed (1 client)",
                          sum(v or 0.0 for v in breakdown["leader_ms"].values()), "ms"))
    for name, f in failover.items():
        out.append(Figure(f"{name} new leader after SIGKILL, median", f["median_ms"], "ms"))
    return out


def report(summary: dict[str, dict[int, _Json]], failover: dict[str, _Json], points: list[int],
           names: list[str], missing: dict[str, str], seconds: float, warmup: float, runs: int,
           trials: int) -> None:
    print(f"\n== Puts/s and latency, 3 members, fsync on; median of {runs} run(s) "
          f"({seconds:g} s each after {warmup:g} s warm-up)")
    print(f"{'system':<10} {'clients':>7} {'puts/s':>9} {'min-max':>15} {'p50':>9} {'p99':>9} "
          f"{'errors':>7} {'fsyncs/put':>10} {'cpu/put':>9} {'leader':>9} {'loadgen cpu':>11}")
    for name in names:
        for clients in points:
            s = summary[name][clients]
            fs = s["fsyncs_per_put"]
            print(f"{name:<10} {clients:>7} {s['puts_per_s']:>9,.0f} "
                  f"{s['min']:>7,.0f}-{s['max']:<7,.0f} {_ms(s['p50_ms'])} {_ms(s['p99_ms'])} "
                  f"{s['errors']:>7} {'n/a' if fs is None else f'{fs:.2f}':>10} "
                  f"{_ms(s['cpu_ms_per_put'])} {_ms(s['leader_cpu_ms_per_put'])} "
                  f"{s['loadgen_cpu']:>10.0%}")
    for name, why in missing.items():
        print(f"{name:<10} {why}")
    print("fsyncs/put: the leader's WAL/journal syncs per acknowledged put (etcd: its metric\n"
          "  etcd_disk_wal_fsync_duration_seconds_count; pysyncobj: its journal wrapper's count;"
          " n/a: the member reports none)\n"
          "cpu/put: CPU time of all three members' processes per acknowledged put (leader: its"
          " own);\n  under the machine's other load a figure steadier than puts/s")
    if "raftlib" in summary:
        for base in ("etcd", "pysyncobj"):
            if base in summary:
                each = ", ".join(f"{c}: {summary['raftlib'][c]['puts_per_s'] / v:.2f}x"
                                 for c in points if (v := summary[base][c]["puts_per_s"]))
                print(f"raftlib/{base} puts/s by clients: {each}")
    if failover:
        print(f"\n== Time to a new leader after SIGKILL of the leader ({trials} trials; "
              f"heartbeat {HEARTBEAT_MS} ms, election timeout {ELECTION_MS} ms, 10 ms polls)")
        print(f"{'system':<10} {'median':>9} {'min':>9} {'max':>9} {'failed':>7}")
        for name, f in failover.items():
            def m(x: float | None) -> str:
                return "n/a" if x is None else f"{x:.0f} ms"
            print(f"{name:<10} {m(f['median_ms']):>9} {m(f['min_ms']):>9} {m(f['max_ms']):>9} "
                  f"{f['failed']:>7}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the clusters are already stopped by their context managers
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
