"""The map of the book's parts, shown on its opening page as a tabbed widget."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any


@dataclass(frozen=True, slots=True)
class Part:
    """One part of the book: number, tab label, title, the question it answers, what you do."""

    number: str
    short: str
    title: str
    question: str
    you_will: tuple[str, ...]


PARTS: tuple[Part, ...] = (
    Part(
        "0",
        "Opening",
        "Opening: losing two of five",
        "How can a five-member cluster lose two members and keep every acknowledged write?",
        (
            "crash any two members of a cluster under load and watch writes go on",
            "crash a third and see the error a client gets when no majority is left",
            "read the checkers' verdict: no acknowledged write lost, every history linearizable",
        ),
    ),
    Part(
        "1",
        "Elections",
        "Elections",
        "How do members agree on one leader, and why can two leaders never both commit?",
        (
            "follow terms, randomized timeouts, votes and the up-to-date rule",
            "split a cluster 2:3, 1:4 and, with four members, 2:2",
            "compare the Raft paper's timings with etcd's defaults, and see PreVote and "
            "CheckQuorum tame a disruptive member",
        ),
    ),
    Part(
        "1b",
        "Replication",
        "Log replication",
        "How does an entry become committed, and why only entries of the leader's own term?",
        (
            "watch AppendEntries repair a follower whose log diverged",
            "replay the Raft paper's Figure 8 one step at a time",
            "catch up a follower that fell too far behind with a snapshot",
        ),
    ),
    Part(
        "2",
        "MVCC",
        "MVCC: time travel",
        "What does a revision number mean, and how far back can you read?",
        (
            "scrub the revision history of a keyspace",
            "read a key as it was, and bring back a deleted value by writing it again",
            "compact the history and meet the error that follows",
        ),
    ),
    Part(
        "3",
        "Watch",
        "Watch",
        "How does one event reach thousands of watchers, and what does polling cost instead?",
        (
            "replay history from a revision, then stream live events",
            "count the requests and messages of polling against watching",
            "watch a compacted revision and see the watch cancelled",
        ),
    ),
    Part(
        "4",
        "Quota",
        "The storage quota",
        "Why does etcd refuse writes when its database grows too large, and how do you recover?",
        (
            "let a runaway writer fill a small quota and raise the NOSPACE alarm",
            "see which requests still work while the alarm is raised",
            "recover with compaction, defragmentation and disarming the alarm",
        ),
    ),
    Part(
        "5",
        "Operations",
        "Operations and recovery",
        "How do you move a leader, replace a broken member, and notice trouble early?",
        (
            "transfer leadership on purpose",
            "remove a broken member, wipe it, add it back and let it catch up",
            "time a scripted recovery and read the metrics that warn first",
        ),
    ),
    Part(
        "6",
        "Closing",
        "Closing: rules of thumb",
        "What should you remember when you run etcd yourself?",
        ("check each rule of thumb against a cell that demonstrates it",),
    ),
)


def _part_html(part: Part) -> str:
    items = "".join(f"<li>{escape(item)}</li>" for item in part.you_will)
    return (
        f"<h4>{escape(part.number)}. {escape(part.title)}</h4>"
        f"<p><strong>{escape(part.question)}</strong></p>"
        f"<p>You will:</p><ul>{items}</ul>"
    )


def part_map() -> Any:
    """A tab per part of the book. Tabs switch in the browser, so it works without a kernel."""
    import ipywidgets as widgets  # imported here: the library itself never needs a front end

    tab = widgets.Tab(children=[widgets.HTML(_part_html(part)) for part in PARTS])
    tab.titles = tuple(f"{part.number} {part.short}" for part in PARTS)
    return tab
