"""The map of the book, shown on its opening page as plain HTML (no widget runtime needed)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True, slots=True)
class Part:
    """One chapter of the book: its number, short label, title (the notebook's heading), the
    question it answers, what you do there, and its file in ``book/`` without the suffix."""

    number: str
    short: str
    title: str
    question: str
    you_will: tuple[str, ...]
    file: str

    @property
    def href(self) -> str:
        """The chapter's page, relative to the opening page (both live in ``book/``)."""
        return f"{self.file}.html"


PARTS: tuple[Part, ...] = (
    Part(
        "0",
        "Opening",
        "Losing two of five",
        "How can a five-member cluster lose two members and keep every acknowledged write?",
        (
            "crash any two members of a cluster under load and watch writes go on",
            "crash a third and see the error a client gets when no majority is left",
            "read the checkers' verdict: no acknowledged write lost, every history linearizable",
        ),
        "00-opening",
    ),
    Part(
        "1",
        "Elections",
        "The magic of voting: elections",
        "How do members agree on one leader, and why can two leaders never both commit?",
        (
            "follow terms, randomized timeouts, votes and the up-to-date rule",
            "split a cluster 2:3, 1:4 and, with four members, 2:2",
            "compare the Raft paper's timings with etcd's defaults, and see PreVote and "
            "CheckQuorum tame a disruptive member",
        ),
        "01-elections",
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
        "01b-replication",
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
        "02-mvcc",
    ),
    Part(
        "3",
        "Watch",
        "Watch: fifty thousand eyes",
        "How does one event reach thousands of watchers, and what does polling cost instead?",
        (
            "replay history from a revision, then stream live events",
            "count the requests and messages of polling against watching",
            "watch a compacted revision and see the watch cancelled",
        ),
        "03-watch",
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
        "04-quota",
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
        "05-operations",
    ),
    Part(
        "7",
        "Real etcd",
        "The same experiments on real etcd",
        "Do the book's experiments come out the same on real etcd 3.4 processes?",
        (
            "rerun the main experiments on a real etcd cluster and set each beside the "
            "simulator's",
            "tell the results that must agree from those that may differ, such as times",
            "map the Raft paper's timings onto etcd's flags",
        ),
        "07-real-etcd",
    ),
    Part(
        "6",
        "Closing",
        "Closing: rules of thumb",
        "What should you remember when you run etcd yourself?",
        ("check each rule of thumb against a cell that demonstrates it",),
        "06-closing",
    ),
)


@dataclass(frozen=True, slots=True)
class PartMap:
    """The book's chapters as an HTML table: a link to each, its question, what you do there.

    Plain HTML, so it shows the same in the static book, an untrusted notebook and JupyterLab.
    """

    parts: tuple[Part, ...]

    def __repr__(self) -> str:
        return "\n".join(f"{p.number:>2}  {p.title} ({p.href})" for p in self.parts)

    def _repr_html_(self) -> str:
        rows = "".join(_part_row(p) for p in self.parts)
        return ('<table class="raftlib-table raftlib-part-map"><thead><tr><th>Chapter</th>'
                "<th>The question</th><th>You will</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>")


def _part_row(part: Part) -> str:
    items = "".join(f"<li>{escape(item)}</li>" for item in part.you_will)
    return (
        f'<tr data-chapter="{escape(part.file)}"><td><a href="{escape(part.href)}">'
        f"{escape(part.number)}. {escape(part.title)}</a></td>"
        f"<td>{escape(part.question)}</td><td><ul>{items}</ul></td></tr>"
    )


def part_map() -> PartMap:
    """Every chapter of the book, in reading order, with a link to its page."""
    return PartMap(PARTS)
