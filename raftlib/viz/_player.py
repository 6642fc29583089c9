"""A self-contained HTML/JS trace player that needs no kernel.

The player is rendered once at build time into one ``<div>`` with inline style, script and data,
so the static book can play, scrub, step and branch through a recorded simulation with no Python
behind it. Output is a pure function of the input: element ids come from a content hash, so a
notebook that shows a player has byte-identical outputs on every run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any, Literal

__all__ = ["Frame", "TracePlayer"]

Frame = Mapping[str, Any]
"""One recorded instant of a cluster, as the simulator's trace produces it.

Keys: ``t`` (virtual ms), ``event`` (what just happened), ``members`` (id -> state with ``role``,
``term``, ``vote``, ``commit``, ``applied``, ``log`` as ``[[index, term, label], ...]``, ``up``,
``paused`` and, from the simulator, ``timer``, ``votes`` and ``progress``: see
``raftlib._trace.MemberFrame``), ``in_flight`` (messages with ``from``, ``to``, ``type``,
``term`` and what the message carries, e.g. ``granted`` or ``prev_index``: see
``raftlib._trace.InFlight``), ``partition`` (list of id groups or None) and, optionally, ``kv``
(``{"revision", "keys": [...]}``). Every key may be missing (a keyspace-only frame shows just
its table); unknown member keys are kept and shown as details, and every message key beyond
the first four is shown with the message.
"""

# One palette for the player and the matplotlib figures, so a term has the same color in both.
TERM_COLORS = (
    "#8fb8de", "#f2b880", "#a8d5a2", "#e8a0a8", "#c3b1e1",
    "#f6dd8b", "#9fd8d8", "#d9b38c", "#b8c4d6", "#e6b3d9",
)
ROLE_COLORS = {
    "leader": "#1f7a4d",
    "candidate": "#c8590a",
    "pre_candidate": "#e0a040",
    "follower": "#3f6fb0",
    "learner": "#8a8f98",
}

_MEMBER_KEYS = ("role", "term", "vote", "commit", "applied", "log", "up", "paused", "timer",
                "votes", "progress")
_MESSAGE_KEYS = ("from", "to", "type", "term")
_ASSETS = resources.files("raftlib.viz") / "assets"


@cache
def _asset(name: str) -> str:
    """An asset as embedded in every player: its comments, indentation and blank lines left out
    (about a fifth of the player's code). Only what cannot change meaning goes: whole-line
    ``//`` comments and leading blanks in the JS (which has no multi-line strings), comments,
    runs of blanks and blanks around braces and semicolons in the CSS (whose only strings are
    font names). The files in ``assets/`` keep their comments."""
    text = (_ASSETS / name).read_text(encoding="utf-8")
    if name.endswith(".js"):
        lines = (line.strip() for line in text.splitlines())
        return "\n".join(line for line in lines if line and not line.startswith("//"))
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"\s*([{};])\s*", r"\1", re.sub(r"\s+", " ", text)).strip()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _extra(record: Mapping[str, Any], known: Sequence[str]) -> dict[str, Any] | None:
    rest = {str(k): v for k, v in record.items() if k not in known}
    return rest or None


def _lcp(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class _Encoder:
    """Interns everything that repeats between frames, so size grows with change, not length.

    Entries, member states, messages, partitions and keyspaces are stored once in tables and
    frames refer to them by position. A log is stored as "the first ``keep`` entries of an
    earlier log, then these entries": consecutive frames (and followers copying the leader)
    share almost all of their logs, so each new log costs only its appended entries.

    What changes nearly every frame is stored per frame only where it changed since the
    previous frame of the branch: a member's timer where it does not just run on by the time
    between the frames (see ``_run_on``: a reset, a new timeout, a pause), a leader's progress
    where it moved (see ``_progress``: rows that repeat while the leader's log grows). A
    frame's timer changes are interned too: frames taken every heartbeat interval repeat them.

    A message is ``[from, to, term, shape, *values]``: endpoints as member positions, and its
    fields beyond those as bare values after an interned shape (its type, then the names of
    the values).
    """

    def __init__(self) -> None:
        self.members: list[str] = []
        self._member_pos: dict[str, int] = {}
        self.tables: dict[str, list[Any]] = {
            "entries": [], "logs": [], "states": [], "msgs": [], "parts": [], "kvs": [],
            "shapes": [], "tallies": [], "progress": [], "timers": [],
        }
        self._ids: dict[str, dict[Any, int]] = {name: {} for name in self.tables}
        self._log_keys: list[tuple[int, ...]] = []
        # Logs of the previous frame: the best parents for this frame's new logs.
        self._recent_logs: list[int] = []
        # Lowest and highest log index of the current branch: the player sizes its log grid once
        # per branch, so cells keep their place while scrubbing.
        self.span: list[int] = []
        # Per member slot, the timer as of the last frame that stored it: (t, elapsed, timeout);
        # and the progress row id last stored.
        self._timers: dict[int, tuple[int, int, int]] = {}
        self._progress_of: dict[int, int] = {}

    def begin_branch(self) -> None:
        """Start a new frame list: spans, timers and progress are per branch (the player
        decodes each branch from its first frame)."""
        self.span = []
        self._timers = {}
        self._progress_of = {}

    @classmethod
    def resume(cls, payload: Mapping[str, Any], branch: int = 0, before: int = 0) -> _Encoder:
        """An encoder that goes on from a player's ``payload``: what it interns next gets the
        ids after the payload's, and content the payload holds keeps its id (live mode adds
        frames to a player in the browser). Its timers and progress are those the player has
        decoded of ``branch`` once it has read the frames before index ``before``, so that the
        frame at ``before`` encodes to the row the recording holds."""
        enc = cls()
        for member in payload["members"]:
            enc._member(member)
        for name, table in enc.tables.items():
            for i, value in enumerate(payload[name]):
                table.append(value)
                if name == "entries":
                    enc._ids[name][tuple(value)] = i
                elif name == "logs":
                    parent, keep, tail = value
                    key = (enc._log_keys[parent][:keep] if parent >= 0 else ()) + tuple(tail)
                    enc._log_keys.append(key)
                    enc._ids[name][key] = i
                else:
                    enc._ids[name][_canonical(value)] = i
        for row in payload["branches"][branch]["frames"][:before]:
            enc._replay_changes(row)
        return enc

    def _replay_changes(self, row: Sequence[Any]) -> None:
        """Update timers and progress as :meth:`frame` did when it wrote ``row``."""
        t, timers, moved = row[0], row[6] if len(row) > 6 else -1, row[7] if len(row) > 7 else []
        if timers != -1:
            for change in self.tables["timers"][timers]:
                slot = change[0]
                if len(change) == 1:
                    del self._timers[slot]
                else:
                    timeout = change[2] if len(change) > 2 else self._timers[slot][2]
                    self._timers[slot] = (t, change[1], timeout)
        for slot, pid in moved:
            if pid >= 0:
                self._progress_of[slot] = pid
            else:
                self._progress_of.pop(slot, None)

    def _intern(self, table: str, key: Any, value: Any) -> int:
        ids = self._ids[table]
        found = ids.get(key)
        if found is None:
            found = ids[key] = len(self.tables[table])
            self.tables[table].append(value)
        return found

    def _value(self, table: str, value: Any) -> int:
        return self._intern(table, _canonical(value), value)

    def _log(self, raw: Iterable[Any], frame_logs: list[int]) -> int:
        rows = [(int(index), int(term), "" if not rest or rest[0] is None else str(rest[0]))
                for index, term, *rest in raw]
        # The hot loop of the encoder (every entry of every member of every frame): inlined.
        ids, table = self._ids["entries"], self.tables["entries"]
        entries = []
        for row in rows:
            found = ids.get(row)
            if found is None:
                found = ids[row] = len(table)
                table.append(list(row))
            entries.append(found)
        if rows:  # a log is ordered by index: its first and last entries bound it
            lo, hi = rows[0][0], rows[-1][0]
            self.span = [min(self.span[0], lo), max(self.span[1], hi)] if self.span else [lo, hi]
        key = tuple(entries)
        known = self._ids["logs"].get(key)
        if known is not None:
            return known
        parent, keep = -1, 0
        for candidate in (*frame_logs, *self._recent_logs):
            shared = _lcp(key, self._log_keys[candidate])
            if shared > keep:
                parent, keep = candidate, shared
        self._log_keys.append(key)
        return self._intern("logs", key, [parent, keep, list(key[keep:])])

    def _member(self, member: str) -> int:
        pos = self._member_pos.get(member)
        if pos is None:
            pos = self._member_pos[member] = len(self.members)
            self.members.append(member)
        return pos

    def _tally(self, votes: Mapping[str, Any] | None) -> int:
        if not votes:
            return -1
        return self._value("tallies", [[str(v) for v in votes.get(k) or ()]
                                       for k in ("granted", "refused", "voters")])

    def _progress(self, progress: Sequence[Mapping[str, Any]] | None, commit: int) -> int:
        if not progress:
            return -1
        # Each number from what it moves with, so rows repeat while the leader's log grows: a
        # match near the commit index follows it (stored relative to it), a match far behind
        # stands still (a silent follower: stored as is, in a list to tell it apart); next
        # runs ahead of the commit index while replicating, else waits at match + 1.
        rows = []
        for p in progress:
            match, state = int(p["match"]), str(p["state"])
            near = abs(commit - match) <= _NEAR
            base = commit + 1 if state == "replicate" else match + 1
            rows.append([str(p["id"]), match - commit if near else [match],
                         int(p["next"]) - base, state[:1]])
        return self._value("progress", rows)

    def _message(self, m: Mapping[str, Any]) -> int:
        # [from, to, term, shape, *values]; the shape names the type, then each value's key.
        rest = _extra(m, _MESSAGE_KEYS) or {}
        shape = self._value("shapes", [str(m.get("type") or "Msg"), *rest])
        return self._value("msgs", [self._member(str(m.get("from"))),
                                    self._member(str(m.get("to"))), int(m.get("term") or 0),
                                    shape, *rest.values()])

    def _timer_changes(self, t: int, timers: dict[int, Any]) -> list[list[int]]:
        """What the player cannot predict of the timers: ``[slot, elapsed, timeout]`` where a
        timer appears or its timeout changes, ``[slot, elapsed]`` where it did not run on by the
        time since the previous frame (starting over at its timeout, as a heartbeat timer
        does), ``[slot]`` where it disappears."""
        out: list[list[int]] = []
        for slot in range(len(self.members)):
            now, before = timers.get(slot), self._timers.get(slot)
            if now is None:
                if before is not None:
                    out.append([slot])
                    del self._timers[slot]
                continue
            elapsed, timeout = int(now[0]), int(now[1])
            if before is None or before[2] != timeout:
                out.append([slot, elapsed, timeout])
            elif _run_on(before[1], t - before[0], timeout) != elapsed:
                out.append([slot, elapsed])
            else:
                continue
            self._timers[slot] = (t, elapsed, timeout)
        return out

    def frame(self, frame: Frame, last_t: int) -> list[Any]:
        members = frame.get("members") or {}
        slots: dict[int, int] = {}
        timers: dict[int, Any] = {}
        progress: dict[int, int] = {}
        frame_logs: list[int] = []
        for raw_id, state in members.items():
            log = self._log(state.get("log") or (), frame_logs)
            frame_logs.append(log)
            vote = state.get("vote")
            commit = int(state.get("commit") or 0)
            row = [
                str(state.get("role") or "follower").lower(),
                int(state.get("term") or 0),
                None if vote is None else str(vote),
                commit,
                int(state.get("applied") or 0),
                bool(state.get("up", True)),
                bool(state.get("paused", False)),
                log,
                _extra(state, _MEMBER_KEYS),
            ]
            tally = self._tally(state.get("votes"))  # only where there is one: rarely
            slot = self._member(str(raw_id))
            slots[slot] = self._value("states", [*row, tally] if tally >= 0 else row)
            if state.get("timer"):
                timers[slot] = state["timer"]
            progress[slot] = self._progress(state.get("progress"), commit)
        self._recent_logs = frame_logs
        msgs = [self._message(m) for m in frame.get("in_flight") or ()]
        partition = frame.get("partition")
        kv = frame.get("kv")
        t = last_t if frame.get("t") is None else int(frame["t"])
        row = [
            t,
            str(frame.get("event") or ""),
            # Members may join later (membership change); -1 marks "not a member yet".
            [slots.get(pos, -1) for pos in range(len(self.members))],
            msgs,
            -1 if not partition else self._value(
                "parts", [[str(m) for m in group] for group in partition]),
            -1 if kv is None else self._value("kvs", dict(kv)),
        ]
        # Then, where any changed: timers and progress (see the class docstring).
        moved = [[slot, pid] for slot in range(len(self.members))
                 if (pid := progress.get(slot, -1)) != self._progress_of.get(slot, -1)]
        self._progress_of = {slot: pid for slot, pid in progress.items() if pid >= 0}
        # A list of timer changes is interned: frames taken every heartbeat interval repeat one.
        timer_changes = self._timer_changes(t, timers)
        changes: list[Any] = [self._value("timers", timer_changes) if timer_changes else -1,
                              moved]
        while changes and changes[-1] in ([], -1):
            changes.pop()
        return row + changes


_NEAR = 16  # see _Encoder._progress


def pack_live(replay: Mapping[str, Any]) -> dict[str, str]:
    """What replays a branch, as a player embeds it: canonical JSON, deflated and in base64.
    Scripts repeat themselves (scheduled calls, proposals), so this makes them 5 to 7 times
    smaller; only live mode reads them, and its worker inflates them with Python's zlib."""
    raw = _canonical(replay).encode("utf-8")
    return {"z": base64.b64encode(zlib.compress(raw, 9)).decode("ascii")}


def unpack_live(packed: Mapping[str, Any]) -> dict[str, Any]:
    """The replay data :func:`pack_live` packed."""
    data: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode(packed["z"])))
    return data


def _run_on(elapsed: int, dt: int, timeout: int) -> int:
    """A timer ``dt`` ms later, if nothing reset it; past its timeout it starts over, as a
    heartbeat timer does (an election timer that fires comes with a new timeout instead)."""
    x = elapsed + dt
    return x % timeout if x > timeout > 0 else x


def _script_json(value: Any) -> str:
    """JSON safe inside ``<script>``: no ``</script>``, ``<!--`` or ``&`` can end or confuse it."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class TracePlayer:
    """A kernel-free player for recorded cluster traces, shown by evaluating it in a notebook.

    ``TracePlayer(frames, title="Election")`` plays one trace. ``branches`` adds alternative
    traces (label -> frames) the reader can switch to, e.g. one per choice of crashed members;
    ``frames`` is then the first choice, named ``label``. Every frame list is complete on its own
    (a shared prefix is simply repeated; identical content is stored once in the output).

    The reader gets play/pause, speed (0.5x to 4x; 1x follows virtual time, at least 0.12 s and at
    most 1.2 s per frame), a slider, single steps (buttons or left/right arrow keys), members
    colored by role with term, crash, pause and partition shown, in-flight messages, logs colored
    by term with the commit point, a details panel on click, and a table of keys when frames
    carry ``kv``.

    Live mode: a branch whose frames know how to replay their run (``RecordedFrames`` from a
    :class:`~raftlib.viz.Recorder` or :func:`~raftlib.viz.record`, ``keyspace_frames`` of a
    store) embeds that small script, and the player in the built book offers "Take control":
    the same raftlib, in Pyodide in the reader's browser, replays the run up to the frame on
    screen, checks it against the recorded frame and takes the reader's actions from there
    (see the README's "Live mode"). Frames of any other origin give a player without it.

    Attributes: ``title``; ``branches`` (label -> frames, in selector order); ``default`` (the
    label shown first); ``start``, ``"first"`` or ``"last"``: the frame the player opens on.
    """

    def __init__(
        self,
        frames: Sequence[Frame],
        *,
        title: str = "Trace",
        branches: Mapping[str, Sequence[Frame]] | None = None,
        label: str = "as recorded",
        start: Literal["first", "last"] = "first",
    ) -> None:
        choices = {label: frames, **(branches or {})}
        if len(choices) != 1 + len(branches or {}):
            raise ValueError(f"branch label {label!r} is used twice")
        for name, branch in choices.items():
            if not branch:
                raise ValueError(f"branch {name!r} has no frames")
        self.title = title
        self.branches: dict[str, Sequence[Frame]] = choices
        self.default = label
        self.start = start

    @classmethod
    def from_branches(
        cls,
        branches: Mapping[str, Sequence[Frame]],
        *,
        default: str | None = None,
        title: str = "Trace",
        start: Literal["first", "last"] = "first",
    ) -> TracePlayer:
        """A player offering each ``label -> frames`` branch, starting on ``default`` (or the
        first one). The selector lists branches in the mapping's order."""
        if not branches:
            raise ValueError("no branches given")
        chosen = next(iter(branches)) if default is None else default
        if chosen not in branches:
            raise ValueError(f"default branch {chosen!r} is not among {list(branches)}")
        player = cls(branches[chosen], title=title, label=chosen, start=start,
                     branches={k: v for k, v in branches.items() if k != chosen})
        player.branches = dict(branches)  # keep the caller's order in the selector
        return player

    def payload(self) -> dict[str, Any]:
        """The compact, deduplicated data the browser side decodes (see ``_Encoder``)."""
        encoder = _Encoder()
        encoded = []
        for name, frames in self.branches.items():
            rows: list[list[Any]] = []
            last_t = 0
            encoder.begin_branch()
            for frame in frames:
                rows.append(encoder.frame(frame, last_t))
                last_t = rows[-1][0]
            branch: dict[str, Any] = {"label": name, "span": encoder.span or [1, 0],
                                      "frames": rows}
            # Frames a Recorder took carry what replays them: the player offers live mode.
            live = getattr(frames, "live", None)
            replay = live() if callable(live) else None
            if replay is not None:
                branch["live"] = pack_live(replay)
            encoded.append(branch)
        labels = list(self.branches)
        return {
            "title": self.title,
            "members": encoder.members,
            **encoder.tables,
            "branches": encoded,
            "default": labels.index(self.default),
            "start": self.start,
            "palette": {"terms": list(TERM_COLORS), "roles": ROLE_COLORS},
        }

    def to_html(self) -> str:
        """The player as one self-contained ``<div>``: inline style, script and JSON data, no
        network, no external fonts. Equal inputs give byte-identical output."""
        data = _script_json(self.payload())
        uid = "rv-" + hashlib.sha256(data.encode("ascii")).hexdigest()[:12]
        title = html.escape(self.title)
        frames = sum(len(f) for f in self.branches.values())
        return (
            f'<div class="rv-player" id="{uid}" data-rv-root="{uid}" data-frame-index="0"'
            f' data-branch="{html.escape(self.default)}" role="region"'
            f' aria-label="Trace player: {title}" tabindex="0">\n'
            f"<style>{_asset('player.css')}</style>\n"
            # Shown until the script replaces it: untrusted notebook, or a reader without JS.
            f'<div class="rv-fallback">Trace player “{title}” ({frames} frames) needs'
            " JavaScript; in JupyterLab, trust the notebook to run it.</div>\n"
            f'<script type="application/json" class="rv-data">{data}</script>\n'
            f"<script>{_asset('player.js')}\nwindow.raftvizPlayerV1.mount(\"{uid}\");</script>\n"
            "</div>"
        )

    def __repr__(self) -> str:
        # Notebooks store this next to the HTML; the default repr's memory address would make
        # outputs differ from run to run.
        frames = sum(len(f) for f in self.branches.values())
        return (f"TracePlayer({self.title!r}, branches={list(self.branches)!r},"
                f" frames={frames})")

    def _repr_html_(self) -> str:
        """What Jupyter and myst-nb show for the player: ``to_html()``."""
        return self.to_html()
