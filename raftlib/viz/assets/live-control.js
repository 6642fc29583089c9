// Live mode's controls for a trace player: "Take control" replays the player's recorded run
// in raftlib (Pyodide, in a worker: live.js) up to the frame on screen, checks the replay
// against the recorded frame, then lets the reader crash, restart, pause, resume, isolate,
// partition and heal members, propose writes, plant a bug and advance time. Every answer adds
// frames to a "live" branch of the player, drawn by the player itself.
//
// Loaded by player.js from the site's _static/live/ on the first "Take control" click; the
// player hands over {root, data, bar, where(), show(branch, index), forget(branch), stop()}.
(function () {
  "use strict";
  if (window.RaftlibLiveControl) return;
  // The player data's tables, as _Encoder names them (tests/viz/test_live_session.py checks).
  var TABLES = ["entries", "logs", "states", "msgs", "parts", "kvs", "shapes", "tallies",
    "progress", "timers"];
  var STYLE = ".rv-live{margin:6px 0;padding:6px 8px;border:1px solid #c9d3df;border-radius:6px;" +
    "background:#f6f9fc;font-size:13px}.rv-live-row{display:flex;flex-wrap:wrap;gap:4px;" +
    "align-items:center;margin:3px 0}.rv-live-status{color:#444}.rv-live-error{color:#b00020;" +
    "font-weight:600}.rv-live-verdict[data-violations='0']{color:#1f7a4d}" +
    ".rv-live-verdict{color:#b00020;font-weight:600}.rv-live label{margin-right:4px}";
  var nextKey = 1;

  var el = window.raftvizPlayerV1.el;  // the player's own element helper

  // Python source for a JSON value: a JSON string literal is a Python string literal.
  function py(value) { return "json.loads(" + JSON.stringify(JSON.stringify(value)) + ")"; }

  function run(code) {
    return window.RaftlibLive.run("import json\n" + code).then(function (out) {
      return JSON.parse(out);
    });
  }

  // Add what the worker's session encoded to the player's data (ids continue its tables).
  function apply(data, branch, delta) {
    TABLES.forEach(function (name) {
      (delta.tables[name] || []).forEach(function (row) { data[name].push(row); });
    });
    delta.members.forEach(function (m) { data.members.push(m); });
    delta.frames.forEach(function (row) { branch.frames.push(row); });
    if (delta.span[1] >= delta.span[0]) {
      branch.span = branch.span[1] >= branch.span[0]
        ? [Math.min(branch.span[0], delta.span[0]), Math.max(branch.span[1], delta.span[1])]
        : delta.span.slice();
    }
  }

  function take(api, base) {
    var data = api.data, root = api.root, from = api.where();
    var source = data.branches[from.branch];
    var panel = root.querySelector(".rv-live");
    if (!source.live) {  // on the live branch already: its controls are on screen
      if (panel) panel.querySelector(".rv-live-status").textContent =
        "You are in control; pick a recorded scenario to take control from another frame.";
      return;
    }
    if (!document.getElementById("rv-live-style")) {
      el("style", "", document.head, STYLE).id = "rv-live-style";
    }
    if (panel) panel.parentNode.removeChild(panel);
    panel = el("div", "rv-live");
    api.bar.parentNode.insertBefore(panel, api.bar.nextSibling);
    panel.setAttribute("data-live-state", "loading");
    // Keys typed in the panel's fields are theirs: the player's arrow keys must not step.
    panel.addEventListener("keydown", function (e) { e.stopPropagation(); });
    var status = el("div", "rv-live-status", panel, "Starting live mode\u2026");
    status.setAttribute("aria-live", "polite");
    var key = "p" + (nextKey++);

    function fail(e) {
      panel.setAttribute("data-live-state", "error");
      status.className = "rv-live-error";
      status.textContent = String(e && e.message ? e.message : e);
    }

    window.raftvizPlayerV1.loadScript(base + "live.js").then(function () {
      return window.RaftlibLive.start(function (p) {
        status.textContent = "Live mode, first use: " + p.message + "\u2026 (" +
          (p.ms / 1000).toFixed(1) + " s)";
      });
    }).then(function () {
      status.textContent = "Replaying the chapter's run up to t = " +
        source.frames[from.index][0] + " ms\u2026";
      var payload = { members: data.members, branches: [source] };
      TABLES.forEach(function (name) { payload[name] = data[name]; });
      return run("from raftlib.sim import Simulation\nfrom raftlib.viz._live import take\n" +
        "_live = globals().setdefault('_live', {})\n" +
        "_live['" + key + "'] = take(" + py(payload) + ", 0, " + from.index +
        ", Simulation.replay)\njson.dumps(_live['" + key + "'].start())");
    }).then(function (start) {
      if (start.error) throw new Error(start.error);
      var live = { label: "live", span: source.span.slice(),
        frames: source.frames.slice(0, from.index + 1) };
      apply(data, live, start);
      var at = -1;
      data.branches.forEach(function (br, k) { if (br.label === "live" && !br.live) at = k; });
      if (at < 0) { at = data.branches.length; data.branches.push(live); }
      else { data.branches[at] = live; api.forget(at); }  // a new run: decode it afresh
      api.show(at, live.frames.length - 1);
      controls(start, live, at);
    }).catch(fail);

    function controls(start, live, at) {
      panel.setAttribute("data-live-state", "ready");
      status.textContent = (start.kind === "store"
        ? "You are in control of this store (the same raftlib, in your browser)."
        : "You are in control from t = " + live.frames[from.index][0] +
          " ms (the same raftlib, in your browser).") + " Actions add frames to the live run.";
      var busy = false, playing = null;
      function act(args) {
        if (busy) return Promise.resolve();
        busy = true;
        panel.setAttribute("data-live-state", "busy");
        var call = args.map(function (a) { return py(a); }).join(", ");
        return run("json.dumps(_live['" + key + "'].act(" + call + "))").then(function (d) {
          apply(data, live, d);
          api.show(at, live.frames.length - 1);
          if (d.violations) verdict(d.violations);  // a store has no safety monitor
          panel.setAttribute("data-live-state", "ready");
          busy = false;
        }).catch(function (e) { busy = false; stopPlay(); fail(e); });
      }
      function button(row, text, name, onClick) {
        var b = el("button", "rv-btn", row, text);
        b.type = "button";
        b.setAttribute("data-action", name);
        b.addEventListener("click", onClick);
        return b;
      }
      function input(row, cls, label, value) {
        var box = el("input", cls, row);
        box.value = value;
        box.size = 8;
        box.setAttribute("aria-label", label);
        return box;
      }
      if (start.kind === "store") { storeControls(); return; }
      var who = el("div", "rv-live-row", panel);
      el("span", "", who, "Member");
      var pick = el("select", "rv-live-member", who);
      pick.setAttribute("aria-label", "Member to act on");
      start.ids.forEach(function (id) { el("option", "", pick, id).value = id; });
      ["crash", "restart", "pause", "resume", "isolate", "campaign"].forEach(function (name) {
        button(who, name === "campaign" ? "time out" : name, name, function () {
          act([name, pick.value]);
        });
      });
      var net = el("div", "rv-live-row", panel);
      el("span", "", net, "One side:");
      var side = start.ids.map(function (id) {
        var lab = el("label", "", net);
        var box = el("input", "", lab);
        box.type = "checkbox";
        box.value = id;
        lab.appendChild(document.createTextNode(id));
        return box;
      });
      button(net, "partition", "partition", function () {
        var a = side.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
        var rest = start.ids.filter(function (id) { return a.indexOf(id) < 0; });
        if (a.length && rest.length) act(["partition", [a, rest]]);
      });
      button(net, "heal", "heal", function () { act(["heal"]); });
      var time = el("div", "rv-live-row", panel);
      var text = input(time, "rv-live-value", "Value to propose", "x=1");
      button(time, "propose", "propose", function () { act(["propose", text.value]); });
      button(time, "+100 ms", "advance-100", function () { act(["advance", 100]); });
      button(time, "+1 s", "advance-1000", function () { act(["advance", 1000]); });
      var playBtn = button(time, "\u25B6 run", "run", function () {
        if (playing) { stopPlay(); return; }
        playBtn.textContent = "\u275A\u275A stop";
        playing = true;
        (function loop() {
          if (!playing || !root.isConnected) { stopPlay(); return; }
          act(["advance", 100]).then(function () { if (playing) playing = setTimeout(loop, 150); });
        })();
      });
      function stopPlay() {
        if (playing && playing !== true) clearTimeout(playing);
        playing = null;
        playBtn.textContent = "\u25B6 run";
      }
      var bugs = el("div", "rv-live-row", panel);
      el("span", "", bugs, "Planted bug:");
      var bug = el("select", "rv-live-bug", bugs);
      bug.setAttribute("aria-label", "Planted bug");
      el("option", "", bug, "none").value = "";
      start.bugs.forEach(function (name) { el("option", "", bug, name).value = name; });
      bug.value = start.planted.length ? start.planted[0] : "";
      bug.addEventListener("change", function () { act(["bugs", bug.value ? [bug.value] : []]); });
      var check = el("div", "rv-live-verdict", panel);
      check.setAttribute("aria-live", "polite");
      function verdict(violations) {
        check.setAttribute("data-violations", String(violations.length));
        check.textContent = violations.length
          ? "Safety monitor: " + violations.length + " violation(s); first: " +
            violations[0].rule + " at t = " + violations[0].t + " ms: " + violations[0].message
          : "Safety monitor: no violation so far.";
      }
      verdict(start.violations);

      // An MVCC store: write, delete, compact, defragment, look at a past revision; in the
      // sizes view (quota), write big values (one text repeated) and disarm alarms instead.
      function storeControls() {
        var sizes = start.view === "sizes";
        var write = el("div", "rv-live-row", panel);
        var k = input(write, "rv-live-key", "Key", sizes ? "events/heartbeat" : "a");
        var v = input(write, "rv-live-value", "Value", sizes ? "x" : "1");
        var times = null;
        if (sizes) {
          el("span", "", write, "\u00D7");
          times = input(write, "rv-live-times", "Times the value is repeated", "8192");
        }
        button(write, "put", "put", function () {
          act(sizes ? ["put", k.value, v.value, +times.value] : ["put", k.value, v.value]);
        });
        button(write, "delete", "delete", function () { act(["delete", k.value]); });
        var revs = el("div", "rv-live-row", panel);
        el("span", "", revs, "Revision");
        var rev = input(revs, "rv-live-revision", "Revision", sizes ? "" : "1");
        if (sizes) rev.placeholder = "current";
        button(revs, "compact", "compact", function () {
          act(sizes && rev.value === "" ? ["compact"] : ["compact", +rev.value]);
        });
        if (!sizes) button(revs, "show", "scrub", function () { act(["scrub", +rev.value]); });
        button(revs, "defragment", "defrag", function () { act(["defrag"]); });
        if (sizes) button(revs, "disarm", "disarm", function () { act(["disarm"]); });
      }
    }
  }

  window.RaftlibLiveControl = { take: take };
})();
