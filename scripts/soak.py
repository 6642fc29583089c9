"""A bounded soak of raftlib's runtime: faults in a loop under an outside client, then a count.

``make soak`` (or ``python scripts/soak.py --cycles N``) starts a three-member RaftlibCluster
on loopback and a client thread that writes unique keys ``soak/<n>`` through the JSON gateway,
moving to another member when one fails. Each cycle injects one fault and repairs it: kill -9
of a random member then restart, SIGSTOP of the leader for a second then SIGCONT, isolation of
a random member then heal, and every tenth cycle a kill -9 of every member then a restart of
all. At the end it checks, and prints:

- no acknowledged write is lost (every acknowledged key holds its value);
- none is applied twice (every key has version 1, though a client may have retried);
- a timed-out write is either applied once or not at all;
- a watch from revision 1 replays every write exactly once, in revision order.

It exits 1 on any violation, with what was wrong. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from raftlib.backends import BackendError, RaftlibCluster
from raftlib.kv import Indeterminate, KVError, prefix_end

PREFIX = b"soak/"


@dataclass
class Writes:
    """What the outside client saw: values acknowledged, and those whose fate is unknown."""

    acked: dict[bytes, bytes] = field(default_factory=dict)
    unknown: dict[bytes, bytes] = field(default_factory=dict)
    failed: int = 0


def _writer(c: RaftlibCluster, stop: threading.Event, out: Writes, rng: random.Random) -> None:
    n = 0
    member = 1
    while not stop.is_set():
        key, value = PREFIX + b"%06d" % n, b"v%d" % n
        n += 1
        try:
            c.client(member, timeout=8.0).put(key, value)
            out.acked[key] = value
        except Indeterminate:
            out.unknown[key] = value
            member = rng.choice(c.members)
        except (KVError, BackendError, OSError):
            out.failed += 1  # refused before it was proposed (no leader, member down)
            member = rng.choice(c.members)
            time.sleep(0.05)


def _wait_leader(c: RaftlibCluster, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while (lead := c.leader()) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no leader within {timeout} s")
        time.sleep(0.05)
    return lead


def _cycle(c: RaftlibCluster, i: int, rng: random.Random) -> str:
    if i % 10 == 9:
        for m in c.members:
            c.crash(m)
        for m in c.members:
            c.restart(m)
        return "full restart"
    kind = rng.choice(["kill -9", "pause leader", "isolate"])
    if kind == "kill -9":
        victim = rng.choice(c.members)
        c.crash(victim)
        time.sleep(rng.uniform(0.2, 1.0))
        c.restart(victim)
    elif kind == "pause leader":
        victim = _wait_leader(c)
        c.pause(victim)
        time.sleep(1.0)
        c.resume(victim)
    else:
        c.isolate(rng.choice(c.members))
        time.sleep(1.0)
        c.heal()
    return kind


def soak(cycles: int, seed: int) -> int:
    rng = random.Random(seed)
    writes = Writes()
    faults: Counter[str] = Counter()
    started = time.monotonic()
    with RaftlibCluster(3, heartbeat_ms=50, election_timeout_ms=500) as c:
        stop = threading.Event()
        writer = threading.Thread(target=_writer, args=(c, stop, writes, random.Random(seed)))
        writer.start()
        try:
            for i in range(cycles):
                faults[_cycle(c, i, rng)] += 1
                _wait_leader(c)
                time.sleep(0.3)
                if (i + 1) % 10 == 0 or i + 1 == cycles:
                    print(f"cycle {i + 1}/{cycles}: {len(writes.acked)} writes acknowledged, "
                          f"{time.monotonic() - started:.0f} s", flush=True)
        finally:
            stop.set()
            writer.join()
        _wait_leader(c)
        return _verdict(c, writes, faults)


def _verdict(c: RaftlibCluster, writes: Writes, faults: Counter[str]) -> int:
    client = c.client(_wait_leader(c), timeout=30.0)
    stored = {kv.key: kv for kv in client.get(PREFIX, prefix_end(PREFIX)).kvs}
    lost = [k for k, v in writes.acked.items() if k not in stored or stored[k].value != v]
    twice = [k for k, kv in stored.items() if kv.version != 1]
    stray = [k for k in stored if k not in writes.acked and k not in writes.unknown]
    applied_unknown = sum(k in stored for k in writes.unknown)
    last = max((kv.mod_revision for kv in stored.values()), default=1)
    watch = client.watch(PREFIX, prefix_end(PREFIX), start_revision=1)
    seen: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + 30
    while (not seen or seen[-1][0] < last) and time.monotonic() < deadline:
        for r in watch.take():
            seen += [(e.kv.mod_revision, e.kv.key) for e in r.events]
        time.sleep(0.05)
    replayed = Counter(k for _, k in seen)
    watch_wrong = sorted(k for k in stored if replayed[k] != 1)
    unordered = any(b[0] <= a[0] for a, b in itertools.pairwise(seen))
    print(f"faults: {dict(sorted(faults.items()))}")
    print(f"writes: {len(writes.acked)} acknowledged, {len(writes.unknown)} timed out "
          f"({applied_unknown} of them applied), {writes.failed} refused")
    print(f"lost: {len(lost)}, applied twice: {len(twice)}, never written: {len(stray)}")
    print(f"watch from revision 1: {len(seen)} events for {len(stored)} keys, "
          f"{len(watch_wrong)} keys not replayed exactly once, in order: {not unordered}")
    problems = lost or twice or stray or watch_wrong or unordered
    if problems:
        print(f"FAILED: lost {lost[:5]}, twice {twice[:5]}, stray {stray[:5]}, "
              f"watch {watch_wrong[:5]}", file=sys.stderr)
        return 1
    print("soak: clean")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cycles", type=int, default=100, help="faults to inject (default 100)")
    p.add_argument("--seed", type=int, default=1, help="which faults, in which order")
    a = p.parse_args()
    return soak(a.cycles, a.seed)


if __name__ == "__main__":
    sys.exit(main())
