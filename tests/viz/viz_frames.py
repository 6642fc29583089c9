"""Hand-made traces in the simulator's frame format: a tiny election, replication and faults.

Not a Raft implementation: each step states what a correct cluster would show, so the player
and figures can be tested without depending on the simulator.
"""

from __future__ import annotations

import copy
from typing import Any


class FakeCluster:
    """Mutable member states; ``snap`` records the current state as one frame."""

    def __init__(self, n: int) -> None:
        self.t = 0
        self.ids = [f"n{i + 1}" for i in range(n)]
        self.members: dict[str, dict[str, Any]] = {
            i: {"role": "follower", "term": 1, "vote": None, "commit": 0, "applied": 0, "log": [],
                "up": True, "paused": False}
            for i in self.ids
        }
        self.partition: list[list[str]] | None = None
        self.frames: list[dict[str, Any]] = []

    def snap(self, event: str, dt: int, in_flight: tuple[dict[str, Any], ...] = ()) -> None:
        self.t += dt
        self.frames.append({
            "t": self.t, "event": event, "members": copy.deepcopy(self.members),
            "in_flight": list(in_flight), "partition": copy.deepcopy(self.partition),
        })

    def up(self) -> list[str]:
        return [i for i in self.ids if self.members[i]["up"]]

    def elect(self, leader: str) -> None:
        m = self.members[leader]
        term = m["term"] + 1
        voters = [i for i in self.up() if i != leader and self.reachable(leader, i)]
        m.update(role="pre_candidate")
        self.snap(f"{leader} election timeout: pre-vote", 900,
                  tuple(msg(leader, i, "MsgPreVote", term) for i in voters))
        m.update(role="candidate", term=term, vote=leader)
        self.snap(f"{leader} becomes candidate at term {term}", 10,
                  tuple(msg(leader, i, "MsgVote", term) for i in voters))
        for i in voters:
            self.members[i].update(term=term, vote=leader, role="follower")
        self.snap("votes granted", 10, tuple(msg(i, leader, "MsgVoteResp", term) for i in voters))
        m.update(role="leader")
        self.propose(leader, "")
        self.snap(f"{leader} becomes leader at term {term}", 10)

    def reachable(self, a: str, b: str) -> bool:
        return self.partition is None or any(a in g and b in g for g in self.partition)

    def propose(self, leader: str, label: str) -> None:
        log = self.members[leader]["log"]
        log.append([len(log) + 1, self.members[leader]["term"], label])

    def replicate(self, leader: str, label: str) -> None:
        lm = self.members[leader]
        self.propose(leader, label)
        peers = [i for i in self.up() if i != leader and self.reachable(leader, i)]
        self.snap(f"{leader} appends {label or 'empty entry'}", 20,
                  tuple(msg(leader, i, "MsgApp", lm["term"], index=len(lm["log"])) for i in peers))
        for i in peers:
            self.members[i]["log"] = copy.deepcopy(lm["log"])
            self.members[i]["term"] = lm["term"]
        self.snap("followers append", 10,
                  tuple(msg(i, leader, "MsgAppResp", lm["term"]) for i in peers))
        if len(peers) + 1 > len(self.ids) // 2:
            lm["commit"] = lm["applied"] = len(lm["log"])
            for i in peers:
                self.members[i]["commit"] = self.members[i]["applied"] = lm["commit"]
            self.snap(f"{leader} commits index {lm['commit']}", 10)
        else:
            self.snap(f"{leader} cannot commit: no quorum", 10)


def msg(a: str, b: str, kind: str, term: int, **extra: Any) -> dict[str, Any]:
    return {"from": a, "to": b, "type": kind, "term": term, **extra}


def election(n: int = 3, writes: int = 3) -> list[dict[str, Any]]:
    """n members: n1 wins an election and replicates ``writes`` puts."""
    c = FakeCluster(n)
    c.snap("cluster starts", 0)
    c.elect("n1")
    for k in range(writes):
        c.replicate("n1", f"put k{k}=v{k}")
    return c.frames


def crash_branches() -> dict[str, list[dict[str, Any]]]:
    """Five members; after the same prefix, either the leader's side or two followers crash."""
    out = {}
    for label, victims in (("crash n1+n2", ["n1", "n2"]), ("crash n3+n4", ["n3", "n4"])):
        c = FakeCluster(5)
        c.snap("cluster starts", 0)
        c.elect("n1")
        c.replicate("n1", "put a=1")
        for v in victims:
            c.members[v]["up"] = False
            c.members[v]["role"] = "follower"
        c.snap(f"{' and '.join(victims)} crash", 50)
        leader = "n1" if c.members["n1"]["up"] else "n3"
        if leader != "n1":
            c.elect(leader)
        c.replicate(leader, "put b=2")
        c.members["n5"]["paused"] = True
        c.snap("n5 paused", 30)
        out[label] = c.frames
    return out


def partitioned() -> list[dict[str, Any]]:
    """Three members; n1 is cut off and the majority elects n2."""
    c = FakeCluster(3)
    c.snap("cluster starts", 0)
    c.elect("n1")
    c.replicate("n1", "put x=1")
    c.partition = [["n1"], ["n2", "n3"]]
    c.snap("network partition: n1 | n2 n3", 40)
    c.elect("n2")
    c.replicate("n2", "put y=2")
    c.replicate("n1", "put lost=1")
    return c.frames


def long_trace(frames: int = 2000, members: int = 5, entries: int = 100) -> list[dict[str, Any]]:
    """A steady leader whose log grows to ``entries``; one member changes per frame."""
    ids = [f"n{i + 1}" for i in range(members)]
    log: list[list[Any]] = []
    state = {i: {"role": "leader" if i == "n1" else "follower", "term": 2, "vote": "n1",
                 "commit": 0, "applied": 0, "log": [], "up": True, "paused": False} for i in ids}
    out = []
    for f in range(frames):
        target = f * entries // frames + 1
        if len(log) < target:
            log.append([len(log) + 1, 2 + len(log) // 30, f"put key{len(log)}=value{len(log)}"])
        who = ids[f % members]
        state[who]["log"] = [list(e) for e in log]
        state[who]["commit"] = max(0, len(log) - 2)
        out.append({"t": f * 10, "event": f"{who} syncs", "members": copy.deepcopy(state),
                    "in_flight": [msg("n1", who, "MsgApp", 2, index=len(log))],
                    "partition": None})
    return out


def lagging(entries: int = 300, window: int = 8) -> list[dict[str, Any]]:
    """Five members recorded as the simulator records them (each log holds only its newest
    ``window`` entries, a crashed member has role ``down`` and applied 0): n5 crashes at index
    ``window`` and the leader n1 goes on to ``entries``, so the frame's logs are far apart."""
    ids = [f"n{i + 1}" for i in range(5)]

    def log(last: int) -> list[list[Any]]:
        return [[i, 2 if i <= window else 3, f"put k{i}"]
                for i in range(max(1, last - window + 1), last + 1)]

    def state(mid: str, last: int, up: bool = True) -> dict[str, Any]:
        return {"role": ("leader" if mid == "n1" else "follower") if up else "down",
                "term": 3 if up else 2, "vote": "n1", "commit": last,
                "applied": last if up else 0, "log": log(last), "up": up, "paused": False}

    frames = [{"t": 0, "event": "all members at index " + str(window),
               "members": {i: state(i, window) for i in ids}, "in_flight": [],
               "partition": None}]
    frames.append({"t": 50, "event": "n5 crashes",
                   "members": {i: state(i, window, i != "n5") for i in ids}, "in_flight": [],
                   "partition": None})
    frames.append({"t": 5000, "event": f"n1 commits index {entries}",
                   "members": {i: state(i, entries) if i != "n5" else state(i, window, False)
                               for i in ids},
                   "in_flight": [msg("n1", "n2", "MsgApp", 3, index=entries)],
                   "partition": None})
    return frames


def revisions() -> list[dict[str, Any]]:
    """A keyspace alone (no members) at revisions 2..4, as the MVCC chapter scrubs it."""
    steps = [
        (2, [("a", "1", 2, 2, 1)]),
        (3, [("a", "1", 2, 2, 1), ("b", "x", 3, 3, 1)]),
        (4, [("a", "2", 2, 4, 2), ("b", "x", 3, 3, 1)]),
    ]
    return [
        {"t": rev, "event": f"revision {rev}", "kv": {"revision": rev, "compact_revision": 0,
         "keys": [{"key": k, "value": v, "create_revision": c, "mod_revision": m, "version": n}
                  for k, v, c, m, n in keys]}}
        for rev, keys in steps
    ]
