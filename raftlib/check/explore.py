"""Running many random schedules to the end: every seed gets its verdict, whatever happens.

:func:`explore` runs ``run(seed)`` for each seed and never stops early. A violation, an
exception or a seed that runs past its time limit is that seed's failure, reported with the
command that replays it, and the run goes on with the next seed. The schedules themselves are
the simulator's (``python -m raftlib.sim.explore``); this module only judges and reports, so it
works for any engine that can run a seed.
"""

from __future__ import annotations

import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ._safety import Violation

__all__ = ["SeedFailure", "SeedTimeout", "explore"]


class SeedTimeout(Exception):
    """A seed ran past its time limit."""


@dataclass(frozen=True, slots=True)
class SeedFailure:
    """One failed seed: a ``violation`` of a checked property, or an ``error`` (an exception
    or a time-out, as text), with the ``replay`` command that runs this seed alone."""

    seed: int
    violation: Violation | None
    error: str | None
    replay: str

    def __str__(self) -> str:
        what = str(self.violation) if self.violation is not None else str(self.error)
        return f"seed {self.seed}: {what}\n    replay: {self.replay}"


@contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`SeedTimeout` in the running code after ``seconds`` of wall time. Only the
    main thread of a process with SIGALRM can be interrupted; elsewhere there is no limit."""
    if (seconds is None or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return

    def expire(_signum: int, _frame: object) -> None:
        raise SeedTimeout(f"ran past its limit of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def judge(seed: int, run: Callable[[int], Violation | None], replay: str,
          limit_s: float | None = None) -> SeedFailure | None:
    """Run one seed; its failure, or ``None`` if it passed."""
    try:
        with _time_limit(limit_s):
            v = run(seed)
    except SeedTimeout as exc:
        return SeedFailure(seed, None, f"hang: {exc}", replay)
    except Exception as exc:  # a crash in one seed is that seed's failure, not the run's
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return SeedFailure(seed, None, f"{type(exc).__name__}: {exc} (at {where.filename}:"
                           f"{where.lineno})", replay)
    return None if v is None else SeedFailure(seed, v, None, replay)


def explore(seeds: Iterable[int], run: Callable[[int], Violation | None],
            replay: Callable[[int], str], *, limit_s: float | None = 60.0,
            every: int = 0, progress: Callable[[str], None] | None = None,
            ) -> Iterator[SeedFailure]:
    """Judge every seed in order and yield each failure as it is found. ``every``: report
    progress (seeds done, failures, wall time) through ``progress`` every that many seeds."""
    t0 = time.perf_counter()
    failures = 0
    for k, seed in enumerate(seeds, 1):
        found = judge(seed, run, replay(seed), limit_s)
        if found is not None:
            failures += 1
            yield found
        if every and progress is not None and k % every == 0:
            progress(f"{k} seeds, {failures} failures, {time.perf_counter() - t0:.1f}s")
