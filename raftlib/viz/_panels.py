"""Live control panels for JupyterLab (they need a kernel): a cluster and a revision scrubber.

``ClusterPanel(cluster)`` drives a simulated cluster with buttons (crash, restart,
pause, resume, isolate, partition, heal, propose, advance time) and shows the run so far in a
:class:`~raftlib.viz.TracePlayer` positioned at the latest frame. ``RevisionScrubber(store)``
slides over the revisions of a :class:`raftlib.kv.MVCCStore`. For the static book, the same
pictures come from :func:`record` and :func:`keyspace_frames`, played with no kernel.

Every text the panels show is a function of the simulation or store alone (no wall clock, no
random ids), so a notebook that displays a panel has the same outputs on every run.
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from raftlib.viz._player import TracePlayer
from raftlib.viz._recorder import Recorder, Simulated

if TYPE_CHECKING:  # only for annotations: importing raftlib.viz must not need kv
    from raftlib._cluster import Cluster
    from raftlib.kv import MVCCStore

__all__ = ["ClusterPanel", "LiveSimulation", "RevisionScrubber", "keyspace_frames",
           "parse_groups"]


class LiveSimulation(Simulated, Protocol):
    """What a :class:`ClusterPanel` drives (:class:`raftlib.sim.Simulation` offers it)."""

    @property
    def seed(self) -> int: ...

    @property
    def proposals(self) -> Sequence[Any]: ...

    def crash(self, mid: int, lose_unsynced: bool = False) -> None: ...

    def restart(self, mid: int) -> None: ...

    def pause(self, mid: int) -> None: ...

    def resume(self, mid: int) -> None: ...

    def isolate(self, mid: int) -> None: ...

    def partition(self, groups: list[list[int]]) -> None: ...

    def heal(self) -> None: ...

    def propose(self, data: bytes | None = None) -> int: ...

    def status(self) -> Mapping[int, Any]: ...


def parse_groups(text: str, members: Iterable[int]) -> list[list[int]]:
    """``"1,2 | 3,4,5"`` (an ``n`` before an id is allowed) -> ``[[1, 2], [3, 4, 5]]``.

    Raises ``ValueError`` with a message for the reader on unknown or repeated members.
    """
    known = set(members)
    groups: list[list[int]] = []
    seen: set[int] = set()
    for part in text.split("|"):
        group = []
        for token in re.split(r"[\s,;]+", part.strip()):
            if not token:
                continue
            match = re.fullmatch(r"[nN]?(\d+)", token)
            if match is None:
                raise ValueError(f"not a member id: {token!r}")
            mid = int(match.group(1))
            if mid not in known:
                raise ValueError(f"no member {mid} (members: {sorted(known)})")
            if mid in seen:
                raise ValueError(f"member {mid} is in two groups")
            seen.add(mid)
            group.append(mid)
        if group:
            groups.append(group)
    if len(groups) < 2:
        raise ValueError('give at least two groups separated by "|", e.g. "1,2 | 3,4,5"')
    return groups


def _show_widget(widget: Any, text: str, **kwargs: Any) -> Any:
    """The widget's view, with a short, deterministic ``text/plain`` instead of its repr."""
    show = getattr(widget, "_repr_mimebundle_", None)  # None once the widget is closed
    bundle = show(**kwargs) if show is not None else None
    if isinstance(bundle, tuple):
        data, meta = bundle
        return {**data, "text/plain": text}, meta
    return {**(bundle or {}), "text/plain": text}


class ClusterPanel:
    """An ipywidgets panel that drives a simulated cluster live (needs a kernel).

    Per member: crash, restart, pause, resume and isolate buttons (those that do not apply are
    disabled). Network: a partition text such as ``"1,2 | 3,4,5"`` with Partition, and Heal.
    Client and clock: Propose write, and Advance 100 / 500 / 2000 virtual ms (``advance_ms``).
    Below: a one-line status (time, leader, term, partition, role/term/commit per member), a
    trace player of everything recorded so far, positioned at the latest frame so the reader
    can scrub back, and a log of actions.

    Each action is also a method (``crash(1)``, ``partition([[1, 2], [3, 4, 5]])``,
    ``propose()``, ``advance(500)``, ...) returning the line it adds to the log; a refused
    action (crash a crashed member, a malformed partition) is logged, never raised. Recording:
    see :class:`Recorder` (``every_ms``, ``max_frames``). Evaluate the panel to show it.

    Given a :class:`raftlib.Cluster` that runs on a simulation (``SimCluster``: its ``sim``),
    it drives that simulation and Propose write submits a put of the key ``panel`` that every
    member's store applies; given a bare simulation (``Simulation``), raw bytes.
    """

    def __init__(
        self,
        sim: LiveSimulation | Cluster,
        *,
        advance_ms: Sequence[int] = (100, 500, 2000),
        every_ms: int | None = None,
        max_frames: int = 1000,
        title: str = "Cluster",
    ) -> None:
        import ipywidgets as w  # imported here: raftlib.viz itself must work without ipywidgets

        # A cluster that runs on a simulation (SimCluster) exposes it as ``sim``; its members
        # apply key-value commands, not arbitrary bytes.
        inner = getattr(sim, "sim", None)
        self._kv_writes = inner is not None
        self.sim: LiveSimulation = inner if inner is not None else cast(LiveSimulation, sim)
        if not hasattr(self.sim, "observe"):
            raise TypeError(f"a panel draws a simulated cluster, not {type(sim).__name__}")
        self.title = title
        self.recorder = Recorder(self.sim, every_ms=every_ms, max_frames=max_frames)
        self.actions: list[str] = []
        self._reported: set[int] = set()  # proposal handles already logged as committed
        self.ids = sorted(self.sim.members)

        def button(label: str, action: Callable[[], object], tip: str) -> Any:
            b = w.Button(description=label, tooltip=tip,
                         layout=w.Layout(width="auto", min_width="72px"))
            b.on_click(lambda _b: action())
            return b

        self.member_buttons: dict[tuple[str, int], Any] = {}
        rows = []
        for mid in self.ids:
            for kind in ("crash", "restart", "pause", "resume", "isolate"):
                act = getattr(self, kind)
                self.member_buttons[(kind, mid)] = button(
                    kind, functools.partial(act, mid), f"{kind} member {mid}")
            rows.append(w.HBox([
                w.HTML(f"<b>member {mid}</b>", layout=w.Layout(width="80px")),
                *(self.member_buttons[(k, mid)]
                  for k in ("crash", "restart", "pause", "resume", "isolate")),
            ]))
        self.partition_text = w.Text(
            value=_default_split(self.ids), description="groups", placeholder="1,2 | 3,4,5",
            layout=w.Layout(width="220px"))
        self.partition_button = button("Partition", self.partition_from_text,
                                       "split the network into the groups")
        self.heal_button = button("Heal", self.heal, "remove every partition")
        self.propose_button = button("Propose write", self.propose,
                                     "a client submits a write to the current leader")
        self.advance_buttons = {
            ms: button(f"+{ms} ms", functools.partial(self.advance, ms),
                       f"advance virtual time by {ms} ms")
            for ms in advance_ms
        }
        self.status = w.HTML()
        self.view = w.Output()
        self.log = w.HTML()
        self.widget = w.VBox([
            w.HTML(f"<b>{html.escape(title)}</b> · seed {self.sim.seed} · {len(self.ids)} members"),
            *rows,
            w.HBox([self.partition_text, self.partition_button, self.heal_button]),
            w.HBox([self.propose_button, w.HTML("&nbsp;advance:&nbsp;"),
                    *self.advance_buttons.values()]),
            self.status,
            self.view,
            self.log,
        ])
        self.recorder.catch_up()
        self.recorder.snap(f"panel opened at t={self.sim.now} ms")
        self._finish(f"panel opened at t={self.sim.now} ms")

    # ----------------------------------------------------------------- actions

    def _do(self, refusal: str | None, line: str, op: Callable[[], object]) -> str:
        """Run ``op`` (unless refused), log ``line``, take a frame and refresh the view."""
        # Changes made to the simulation since the last action (a cell calling sim.run_for)
        # get their own frame first, so this action's frame shows only its own effect.
        self.recorder.catch_up()
        if refusal is not None:
            return self._finish("refused: " + refusal)
        op()
        self.recorder.snap(line)
        return self._finish(line)

    def _finish(self, line: str) -> str:
        self._log(f"t={self.sim.now} ms: {line}")
        for p in self.sim.proposals:
            if p.committed_at is not None and p.handle not in self._reported:
                self._reported.add(p.handle)
                self._log(f"t={p.committed_at} ms: p{p.handle} committed at index {p.index}")
        self._refresh()
        return line

    def _log(self, line: str) -> None:
        self.actions.append(line)

    def _member(self, mid: int, ok: Callable[[Any], bool], why: str) -> str | None:
        m = self.sim.members.get(mid)
        if m is None:
            return f"no member {mid}"
        return None if ok(m) else f"member {mid} is {why}"

    def crash(self, mid: int) -> str:
        """Crash member ``mid`` (volatile state lost, storage kept)."""
        return self._do(self._member(mid, lambda m: m.up, "already down"),
                        f"crash {mid}", lambda: self.sim.crash(mid))

    def restart(self, mid: int) -> str:
        """Restart crashed member ``mid`` from its storage."""
        return self._do(self._member(mid, lambda m: not m.up, "running"),
                        f"restart {mid}", lambda: self.sim.restart(mid))

    def pause(self, mid: int) -> str:
        """Freeze member ``mid`` (like SIGSTOP): no ticks, incoming messages queue up."""
        return self._do(self._member(mid, lambda m: m.up and not m.paused, "down or paused"),
                        f"pause {mid}", lambda: self.sim.pause(mid))

    def resume(self, mid: int) -> str:
        """Unfreeze member ``mid``; it handles its queued messages at once."""
        return self._do(self._member(mid, lambda m: m.paused, "not paused"),
                        f"resume {mid}", lambda: self.sim.resume(mid))

    def isolate(self, mid: int) -> str:
        """Cut member ``mid`` off from every other member."""
        return self._do(self._member(mid, lambda m: True, ""),
                        f"isolate {mid}", lambda: self.sim.isolate(mid))

    def partition(self, groups: Sequence[Sequence[int]]) -> str:
        """Split the network into ``groups`` (members not listed end up alone)."""
        return self._do(None, "partition " + _groups_text(groups),
                        lambda: self.sim.partition([list(g) for g in groups]))

    def partition_from_text(self) -> str:
        """Partition by the groups typed in ``partition_text`` (``"1,2 | 3,4,5"``)."""
        try:
            groups = parse_groups(self.partition_text.value, self.ids)
        except ValueError as exc:
            return self._do(str(exc), "", lambda: None)
        return self.partition(groups)

    def heal(self) -> str:
        """Remove every partition and cut link."""
        return self._do(None, "heal", self.sim.heal)

    def propose(self, data: bytes | None = None) -> str:
        """A client submits ``data`` (default ``p<handle>``) to the current leader.

        The log says where it went; a later line says when it committed.
        """
        self.recorder.catch_up()
        lead = self.sim.leader()
        if data is None and self._kv_writes:
            from raftlib.kv import PutRequest
            from raftlib.kv._replicated import encode_command

            n = len(self.sim.proposals)
            data = encode_command(0, 0, PutRequest(b"panel", f"w{n}".encode()))
        handle = self.sim.propose(data)
        p = self.sim.proposals[handle]
        if lead is None:
            line = f"propose p{handle}: no leader, it will never commit"
        else:
            where = "" if p.index is None else f" at index {p.index}"
            line = f"propose p{handle} to leader {lead}{where}"
        self.recorder.snap(line)
        return self._finish(line)

    def advance(self, ms: int) -> str:
        """Let ``ms`` virtual milliseconds pass, recording what happens."""
        if ms <= 0:
            return self._do("advance by a positive number of ms", "", lambda: None)
        start = self.sim.now
        added = self.recorder.run_for(ms)
        line = f"advance {ms} ms (t={start} → {self.sim.now}): {added} frames"
        self.recorder.snap(line)
        return self._finish(line)

    # ----------------------------------------------------------------- views

    def status_line(self) -> str:
        """Time, leader and term, partition, and role/term/commit per member, in one line."""
        sim = self.sim
        lead = sim.leader()
        st = sim.status()
        head = f"t={sim.now} ms · " + (
            "no leader" if lead is None else f"leader {lead} (term {st[lead].term})")
        groups = sim.frame().get("partition")
        net = " · partition " + _groups_text(groups) if groups else ""
        parts = []
        for mid, s in st.items():
            role = "down" if not s.up else "paused" if s.paused else str(s.role)
            parts.append(f"{mid}: {role} t{s.term} c{s.commit}")
        return head + net + " · " + ", ".join(parts)

    def player(self) -> TracePlayer:
        """A player of every frame kept so far (the latest ``max_frames``)."""
        rec = self.recorder
        title = self.title + (f" (latest {len(rec.frames)} frames)" if rec.dropped else "")
        return TracePlayer(rec.frames, title=title, start="last")

    def _refresh(self) -> None:
        sim = self.sim
        for (kind, mid), b in self.member_buttons.items():
            m = sim.members[mid]
            b.disabled = {
                "crash": not m.up, "restart": m.up, "pause": not m.up or m.paused,
                "resume": not m.paused, "isolate": False,
            }[kind]
        self.status.value = f"<code>{html.escape(self.status_line())}</code>"
        player = self.player()
        # Set the outputs directly (not `with view: display(...)`): works the same from a button
        # callback, a test with no IPython shell, and a cell, and replaces the old player at once.
        self.view.outputs = ({
            "output_type": "display_data",
            "data": {"text/html": player.to_html(), "text/plain": repr(player)},
            "metadata": {},
        },)
        recent = self.actions[-12:]
        lines = "".join(f"<li>{html.escape(a)}</li>" for a in recent)
        older = len(self.actions) - len(recent)
        more = f"<div>… {older} earlier actions</div>" if older else ""
        self.log.value = f"<div><b>actions</b>{more}<ol start='{older + 1}'>{lines}</ol></div>"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """Jupyter shows the panel's widget; its text form is ``repr(self)``."""
        return _show_widget(self.widget, repr(self), **kwargs)

    def __repr__(self) -> str:
        return f"ClusterPanel({self.title!r}, members={self.ids}, seed={self.sim.seed})"


def _groups_text(groups: Iterable[Iterable[int]]) -> str:
    return " | ".join(",".join(str(m) for m in g) for g in groups)


def _default_split(ids: Sequence[int]) -> str:
    # A minority | majority split: the first thing a reader will want to try.
    k = len(ids) // 2
    return _groups_text([ids[:k], ids[k:]]) if k else ""


# --------------------------------------------------------------------- MVCC


def _text(b: bytes, limit: int | None = None) -> str:
    # Over ``limit`` bytes, only the length: a quota chapter's values are kilobytes.
    if limit is not None and len(b) > limit:
        return f"<{len(b)} bytes>"
    return b.decode("utf-8", errors="backslashreplace")


def keyspace_at(store: MVCCStore, revision: int) -> tuple[list[dict[str, Any]], str | None]:
    """The keys visible at ``revision`` as rows (key, value, create_revision, mod_revision,
    version), or ``([], message)`` with etcd's error text when the revision cannot be read
    (compacted, or in the future)."""
    from raftlib.kv import KVError

    try:
        resp = store.range(b"\0", b"\0", revision=revision)  # every key: [\0, end of keyspace)
    except KVError as exc:
        return [], exc.message
    return [
        {"key": _text(kv.key), "value": _text(kv.value), "create_revision": kv.create_revision,
         "mod_revision": kv.mod_revision, "version": kv.version}
        for kv in resp.kvs
    ], None


def revision_events(store: MVCCStore, revision: int) -> list[str]:
    """The changes made at ``revision``, e.g. ``["PUT a = 2", "DELETE b"]``.

    Read from the stored versions: after a compaction, versions at or below the compacted
    revision that were superseded are gone, so their events are not listed.
    """
    out = []
    for _rev, kv, tomb in store.backend.rows(revision, revision):
        out.append(f"DELETE {_text(kv.key)}" if tomb
                   else f"PUT {_text(kv.key)} = {_text(kv.value)}")
    return out


def _kv_frame(store: MVCCStore, revision: int) -> dict[str, Any]:
    keys, error = keyspace_at(store, revision)
    kv: dict[str, Any] = {"revision": revision,
                          "compact_revision": max(store.compact_revision, 0), "keys": keys}
    if error is not None:
        kv["error"] = error
        event = f"revision {revision}: {error}"
    else:
        changes = revision_events(store, revision)
        event = f"revision {revision}: " + (", ".join(changes) if changes else "no change")
    return {"t": revision, "event": event, "kv": kv}


def _sizes_frame(store: MVCCStore, t: int, event: str, error: str | None = None,
                 ) -> dict[str, Any]:
    """A frame of ``store`` now for the quota chapter's player: revisions, backend sizes,
    quota, alarms and keys (values over 24 bytes by their length), and ``error`` (etcd's
    answer to the step shown) if any."""
    st = store.status()
    alarms = ", ".join(a.alarm.value for a in store.alarms()) or "none"
    keys = [{"key": _text(kv.key, 24), "value": _text(kv.value, 24),
             "create_revision": kv.create_revision, "mod_revision": kv.mod_revision,
             "version": kv.version} for kv in store.range(b"\0", b"\0").kvs]
    kv: dict[str, Any] = {
        "revision": st.header_revision, "compact_revision": max(st.compact_revision, 0),
        "db_size": st.db_size, "db_size_in_use": st.db_size_in_use,
        "quota": store.quota_backend_bytes, "alarms": alarms, "keys": keys,
    }
    if error is not None:
        kv["error"] = error
    return {"t": t, "event": event, "kv": kv}


def sizes_step(store: MVCCStore, t: int, action: str, *args: Any) -> dict[str, Any]:
    """Do one of etcdctl's steps on ``store`` and return :func:`_sizes_frame` after it:
    ``compact`` (at ``args[0]``, default the current revision), ``defrag``, ``disarm``,
    ``put`` key value (bytes) or ``delete`` key. A step etcd refuses leaves the store
    unchanged (but a put over the quota raises the NOSPACE alarm) and its error is shown."""
    from raftlib.kv import KVError

    op: Callable[[], object]
    if action == "compact":
        rev = int(args[0]) if args else store.revision
        op, what = functools.partial(store.compact, rev), f"etcdctl compact {rev}"
    elif action == "defrag":
        op, what = store.defragment, "etcdctl defrag"
    elif action == "disarm":
        op, what = store.disarm, "etcdctl alarm disarm"
    elif action == "delete":
        op, what = functools.partial(store.delete_range, args[0]), f"etcdctl del {_text(args[0])}"
    elif action == "put":
        op, what = functools.partial(store.put, args[0], args[1]), ""
    else:
        raise ValueError(f"unknown step {action!r}")
    error = None
    try:
        op()
    except KVError as exc:
        error = exc.message
    if action == "put":
        verb = "accepted" if error is None else "refused"
        return _sizes_frame(store, t, f"put {_text(args[0], 24)} ({len(args[1])} B): {verb}",
                            error)
    st = store.status()
    return _sizes_frame(store, t, f"{what}: db_size {st.db_size} B, in use {st.db_size_in_use} B",
                        error)


#: The largest store script a player embeds for live mode (JSON bytes); a store that took
#: bigger writes gets a player without it, so that page weight stays what it was.
STORE_SCRIPT_BYTES = 32_000


class StoreFrames(list[dict[str, Any]]):
    """:func:`keyspace_frames`' frames, with how far the store had got at each (its
    ``script_length`` then), so that a player can rebuild the store in the browser as it was
    at any frame (live mode). Frames appended or added later (``+=``) are placed at the
    store's state of that moment, so a chapter can collect its snapshots of a changing store
    in one ``StoreFrames``. ``view`` says what a live frame shows: ``"keyspace"``
    (:func:`keyspace_frames`) or ``"sizes"`` (:func:`sizes_step`, the quota chapter's)."""

    def __init__(self, frames: Iterable[dict[str, Any]], store: MVCCStore,
                 view: str = "keyspace") -> None:
        super().__init__()
        self.store = store
        self.view = view
        self.positions: list[int | None] = []
        self.extend(frames)

    def append(self, frame: dict[str, Any]) -> None:
        super().append(frame)
        self.positions.append(self.store.script_length)

    def extend(self, frames: Iterable[dict[str, Any]]) -> None:
        for frame in frames:
            self.append(frame)

    def __iadd__(self, frames: Iterable[dict[str, Any]]) -> StoreFrames:  # type: ignore[override,misc]
        self.extend(frames)
        return self

    def live(self) -> dict[str, Any] | None:
        """What a player needs to rebuild the store at each frame: ``{"kind": "store",
        "script", "at"}`` (``at``: requests applied per frame) and ``"view"`` unless it is
        the keyspace; None when the store cannot be replayed, or its script is too big to
        embed."""
        script = self.store.script
        if script is None or not self or None in self.positions:
            return None
        at = [int(p) for p in self.positions if p is not None]
        script = {**script, "requests": script["requests"][:max(at)]}
        if len(json.dumps(script)) > STORE_SCRIPT_BYTES:
            return None
        view = {} if self.view == "keyspace" else {"view": self.view}
        return {"kind": "store", "script": script, "at": at, **view}


def keyspace_frames(store: MVCCStore, revisions: Iterable[int] | None = None,
                    ) -> StoreFrames:
    """``kv`` frames of ``store`` at each revision (default ``1..store.revision``), for
    :class:`~raftlib.viz.TracePlayer`: the static book's version of :class:`RevisionScrubber`.

    A frame's ``event`` lists the revision's changes; below the compacted revision the frame
    carries no keys and ``kv["error"]`` holds etcd's compaction error.
    """
    revs = range(1, store.revision + 1) if revisions is None else revisions
    return StoreFrames((_kv_frame(store, r) for r in revs), store)


class RevisionScrubber:
    """A slider over the revisions ``1..current`` of an :class:`~raftlib.kv.MVCCStore`.

    At the chosen revision it shows the keyspace as a table (key, value, create_revision,
    mod_revision, version), the events of that revision and, below the compacted revision,
    etcd's error ``etcdserver: mvcc: required revision has been compacted``. The slider's
    range follows the store when it is moved or ``refresh()`` is called. ``frames()`` gives
    the same views as frames for the kernel-free player.
    """

    def __init__(self, store: MVCCStore, *, revision: int | None = None,
                 title: str = "Revisions") -> None:
        import ipywidgets as w

        self.store = store
        self.title = title
        self.slider = w.IntSlider(
            value=store.revision if revision is None else revision, min=1,
            max=max(store.revision, 1), description="revision", continuous_update=True,
            layout=w.Layout(width="420px"))
        self.view = w.HTML()
        self.widget = w.VBox([w.HTML(f"<b>{html.escape(title)}</b>"), self.slider, self.view])
        self.slider.observe(lambda _change: self._render(), names="value")
        self._render()

    def refresh(self) -> None:
        """Extend the slider to the store's current revision and redraw."""
        self.slider.max = max(self.store.revision, 1)
        self._render()

    @property
    def revision(self) -> int:
        """The revision shown."""
        return int(self.slider.value)

    def show(self, revision: int) -> None:
        """Move the slider to ``revision`` (clamped to the slider's range)."""
        self.slider.max = max(self.store.revision, 1)
        self.slider.value = revision

    def html(self) -> str:
        """The view at the current revision, as HTML (what the widget shows)."""
        # The slider's callback runs on a kernel subshell thread while a cell may write:
        # read the store as one consistent view.
        with self.store.lock:
            return self._html()

    def _html(self) -> str:
        store, rev = self.store, self.revision
        head = (f"<div>revision {rev} of {store.revision}"
                f" · compacted at {max(store.compact_revision, 0)}</div>")
        keys, error = keyspace_at(store, rev)
        if error is not None:
            return head + f"<div class='rv-error' style='color:#b00020'>{html.escape(error)}</div>"
        changes = revision_events(store, rev)
        events = ("<div>events: " + html.escape(", ".join(changes)) + "</div>" if changes
                  else "<div>events: none</div>")
        cols = ("key", "value", "create_revision", "mod_revision", "version")
        if not keys:
            return head + events + "<div>no keys</div>"
        header = "".join(f"<th>{c}</th>" for c in cols)
        body = "".join(
            "<tr" + (" style='font-weight:bold'" if k["mod_revision"] == rev else "") + ">"
            + "".join(f"<td>{html.escape(str(k[c]))}</td>" for c in cols) + "</tr>"
            for k in keys)
        table = f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
        return head + events + table

    def _render(self) -> None:
        if self.store.revision > self.slider.max:
            self.slider.max = self.store.revision
        self.view.value = self.html()

    def frames(self) -> list[dict[str, Any]]:
        """:func:`keyspace_frames` of the store: every revision from 1 to the current one."""
        return keyspace_frames(self.store)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """Jupyter shows the scrubber's widget; its text form is ``repr(self)``."""
        return _show_widget(self.widget, repr(self), **kwargs)

    def __repr__(self) -> str:
        return f"RevisionScrubber({self.title!r}, revisions=1..{self.store.revision})"
