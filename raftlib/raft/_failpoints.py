"""Planted bugs for testing the checkers. All are off unless a node is built with them.

Each name re-introduces one classic Raft mistake. A node resolves its set of names to plain
booleans once, so a disabled failpoint costs one attribute read on the paths it touches.
"""

from __future__ import annotations

from dataclasses import dataclass

COMMIT_PREV_TERM = "commit_prev_term"
"""Leader commits entries of earlier terms by counting replicas (Raft paper, Figure 8)."""
VOTE_WITHOUT_UP_TO_DATE = "vote_without_up_to_date"
"""Voters grant votes without the up-to-date-log check (section 5.4.1)."""
VOTE_BEFORE_PERSIST = "vote_before_persist"
"""The vote response goes out in a Ready whose hard state does not record the vote."""
TRUNCATE_ON_STALE_APPEND = "truncate_on_stale_append"
"""A follower truncates everything after a (stale or duplicated) append, even matching entries."""
ACK_LOG_LENGTH = "ack_log_length"
"""On a successful append response the leader records a match of its whole log length,
instead of the index the follower acknowledged."""
DOUBLE_COUNT_VOTE = "double_count_vote"
"""A candidate counts a duplicated vote response twice."""
PREVOTE_CHANGES_TERM = "prevote_changes_term"
"""A node adopts the (future) term carried by a PreVote request."""
APPLY_BEFORE_DURABLE = "apply_before_durable"
"""Committed entries are handed to the application before they are persisted locally."""
READ_INDEX_WITHOUT_QUORUM = "read_index_without_quorum"
"""A leader answers a ReadIndex request with its commit index at once, without first hearing
from a quorum that it still leads (dissertation 6.4, step 3): a deposed leader serves stale
reads. The logs stay safe; the key-value linearizability checker catches it."""

ALL: frozenset[str] = frozenset(
    {
        COMMIT_PREV_TERM,
        VOTE_WITHOUT_UP_TO_DATE,
        VOTE_BEFORE_PERSIST,
        TRUNCATE_ON_STALE_APPEND,
        ACK_LOG_LENGTH,
        DOUBLE_COUNT_VOTE,
        PREVOTE_CHANGES_TERM,
        APPLY_BEFORE_DURABLE,
        READ_INDEX_WITHOUT_QUORUM,
    }
)
"""Every failpoint name."""

LOG_SAFETY: frozenset[str] = ALL - {READ_INDEX_WITHOUT_QUORUM}
"""The failpoints that break the logs, caught by the safety monitor; the others break what
clients see, caught by the linearizability checker."""


@dataclass(frozen=True, slots=True)
class Failpoints:
    """The resolved failpoints of one node; build with :func:`failpoints`."""

    commit_prev_term: bool = False
    vote_without_up_to_date: bool = False
    vote_before_persist: bool = False
    truncate_on_stale_append: bool = False
    ack_log_length: bool = False
    double_count_vote: bool = False
    prevote_changes_term: bool = False
    apply_before_durable: bool = False
    read_index_without_quorum: bool = False


def failpoints(names: frozenset[str] | set[str] | tuple[str, ...] = ()) -> Failpoints:
    """Resolve failpoint names to a :class:`Failpoints`; unknown names raise ``ValueError``."""
    unknown = set(names) - ALL
    if unknown:
        raise ValueError(f"unknown failpoints: {sorted(unknown)}")
    return Failpoints(**{name: True for name in names})


OFF = Failpoints()
"""No failpoint enabled (the default)."""
