"""The figures of ``make bench`` in one file, each with its goal and the ratio to it.

Each ``bench_*.py`` ends with :func:`record`: its figures are printed as a table and stored
under the benchmark's name in ``_build/bench/results.json`` (other benchmarks' entries are
kept; ``make bench`` deletes the file first, so after it the file holds that run alone).
``python bench/_results.py`` prints every stored figure again, in one table.

A figure's ratio is ``value / goal``: a goal ``>=`` is met at a ratio of 1 or more, a goal
``<=`` at 1 or less. A figure without a goal is printed for context and has no ratio.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "_build" / "bench" / "results.json"


@dataclass(frozen=True)
class Figure:
    """One measured figure; ``goal`` with ``op`` (``">="`` or ``"<="``) when it has one."""

    name: str
    value: float | None
    unit: str
    goal: float | None = None
    op: str = ">="

    @property
    def ratio(self) -> float | None:
        if self.goal is None or self.value is None:
            return None
        return self.value / self.goal

    @property
    def met(self) -> bool | None:
        r = self.ratio
        if r is None:
            return None
        return r >= 1.0 if self.op == ">=" else r <= 1.0


def machine() -> dict[str, Any]:
    """The machine and its load as the figures were taken (other work shares the CPUs)."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "load_average": list(os.getloadavg())}


def _num(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def print_table(bench: str, figures: list[dict[str, Any]]) -> None:
    print(f"\n== {bench}: figures, goals and ratios")
    w = max([len(f["name"]) for f in figures] + [6])
    v = max([len(_num(f["value"]) + " " + f["unit"]) for f in figures] + [5])
    print(f"   {'figure':<{w}} {'value':>{v}} {'goal':>10} {'ratio':>6}  met")
    for f in figures:
        goal = "-" if f["goal"] is None else f"{f['op']} {_num(f['goal'])}"
        ratio = "-" if f["ratio"] is None else f"{f['ratio']:.2f}"
        met = {None: "", True: "yes", False: "NO"}[f["met"]]
        print(f"   {f['name']:<{w}} {_num(f['value']) + ' ' + f['unit']:>{v}} {goal:>10} "
              f"{ratio:>6}  {met}")


def record(bench: str, figures: list[Figure], **details: Any) -> None:
    """Print ``figures`` and store them (with ``details`` and the machine) under ``bench``."""
    rows = [{**asdict(f), "ratio": f.ratio, "met": f.met} for f in figures]
    print_table(bench, rows)
    data: dict[str, Any] = {}
    if RESULTS.exists():
        try:
            data = json.loads(RESULTS.read_text())
        except ValueError:
            data = {}
    data[bench] = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
                   "figures": rows, **details}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=1))
    print(f"   (written to {RESULTS.relative_to(ROOT)})")


def main() -> None:
    data = json.loads(RESULTS.read_text())
    for bench, entry in data.items():
        m = entry["machine"]
        print_table(f"{bench} ({entry['when']}, {m['cpus']} CPUs, load average "
                    f"{' '.join(f'{x:.2f}' for x in m['load_average'])})", entry["figures"])
    ok = [f["met"] for e in data.values() for f in e["figures"] if f["met"] is not None]
    print(f"\n{sum(ok)} of {len(ok)} goals met")


if __name__ == "__main__":
    main()
