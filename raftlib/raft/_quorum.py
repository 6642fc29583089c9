"""Majority arithmetic."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping


class VoteResult(enum.Enum):
    """Outcome of an election tally so far."""

    PENDING = "pending"
    WON = "won"
    LOST = "lost"


def majority(n: int) -> int:
    """Smallest number of members that forms a quorum of ``n`` voters."""
    return n // 2 + 1


def committed_index(voters: Iterable[int], match: Mapping[int, int]) -> int:
    """Largest index that a majority of ``voters`` have matched (0 with no voters)."""
    acked = sorted([match.get(v, 0) for v in voters], reverse=True)
    if not acked:
        return 0
    return acked[majority(len(acked)) - 1]


def vote_result(voters: Iterable[int], granted: int, rejected: int) -> VoteResult:
    """Tally ``granted`` and ``rejected`` responses among ``voters``."""
    need = majority(len(tuple(voters)))
    if granted >= need:
        return VoteResult.WON
    if rejected >= need:
        return VoteResult.LOST
    return VoteResult.PENDING
