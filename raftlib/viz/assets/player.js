// raftlib trace player: vanilla JS, no libraries, no network. Every player embeds this file (so
// each output is self-contained); the first copy to run defines it, later copies only mount.
(function () {
  "use strict";
  if (window.raftvizPlayerV1) return;

  var SVGNS = "http://www.w3.org/2000/svg";
  var SPEEDS = [0.5, 1, 2, 4];
  var W = 440, H = 290, R = 25;  // cluster view box and member radius
  var counter = 0;  // names radio groups apart when one page holds several players

  function el(tag, cls, parent, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function svg(tag, attrs, parent) {
    var node = document.createElementNS(SVGNS, tag);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(node);
    return node;
  }

  function clamp(x, lo, hi) { return Math.max(lo, Math.min(hi, x)); }
  // The core's role values are identifiers ("pre_candidate"); show them as words.
  function roleName(role) { return String(role).replace("_", "-"); }

  function decoder(data) {
    var logs = new Array(data.logs.length);
    // A log is "keep entries of its parent, then these"; build the chain from the nearest
    // decoded ancestor, without recursion (chains can be thousands of logs long).
    function log(id) {
      if (id < 0) return [];
      var chain = [], cur = id;
      while (cur >= 0 && !logs[cur]) { chain.push(cur); cur = data.logs[cur][0]; }
      for (var i = chain.length - 1; i >= 0; i--) {
        var rec = data.logs[chain[i]];
        var out = rec[0] < 0 ? [] : logs[rec[0]].slice(0, rec[1]);
        for (var j = 0; j < rec[2].length; j++) out.push(data.entries[rec[2][j]]);
        logs[chain[i]] = out;
      }
      return logs[id];
    }
    // A message: [from, to, term, shape, ...values], the shape being [type, ...value names].
    function msg(key) {
      var g = data.msgs[key], shape = data.shapes[g[3]], fields = [];
      for (var j = 1; j < shape.length; j++) fields.push([shape[j], g[3 + j]]);
      return { key: key, from: data.members[g[0]], to: data.members[g[1]], type: shape[0],
        term: g[2], fields: fields };
    }
    // Timers and leaders' progress are stored only where they changed (see _Encoder): the
    // state of frame i is rebuilt by running through the branch once, kept per frame.
    var runs = {};
    function running(b, i) {
      var frames = data.branches[b].frames;
      var r = runs[b] || (runs[b] = { at: [], timers: {}, progress: {} });
      for (var n = r.at.length; n <= i; n++) {
        var f = frames[n], now = {}, slot;
        (f[6] >= 0 ? data.timers[f[6]] : []).forEach(function (c) {
          if (c.length === 1) delete r.timers[c[0]];
          else r.timers[c[0]] = [f[0], c[1], c.length > 2 ? c[2] : r.timers[c[0]][2]];
        });
        (f[7] || []).forEach(function (c) {
          if (c[1] < 0) delete r.progress[c[0]];
          else r.progress[c[0]] = c[1];
        });
        for (slot in r.timers) {  // a timer runs on, and past its timeout starts over
          var tm = r.timers[slot], x = tm[1] + f[0] - tm[0];
          now[slot] = [x > tm[2] && tm[2] > 0 ? x % tm[2] : x, tm[2]];
        }
        r.at.push({ timers: now, progress: Object.assign({}, r.progress) });
      }
      return r.at[i];
    }
    var STATES = { p: "probe", r: "replicate", s: "snapshot" };
    function progress(id, commit) {
      return data.progress[id].map(function (p) {  // see _Encoder._progress
        var match = typeof p[1] === "number" ? commit + p[1] : p[1][0];
        return { id: p[0], match: match, next: (p[3] === "r" ? commit : match) + 1 + p[2],
          state: STATES[p[3]] || p[3] };
      });
    }
    function frame(b, i) {
      var f = data.branches[b].frames[i], members = [], msgs = [], run = running(b, i);
      for (var k = 0; k < f[2].length; k++) {
        if (f[2][k] < 0) continue;
        var s = data.states[f[2][k]], v = s[9] === undefined ? null : data.tallies[s[9]];
        members.push({ id: data.members[k], role: s[0], term: s[1], vote: s[2], commit: s[3],
          applied: s[4], up: s[5], paused: s[6], log: log(s[7]), extra: s[8],
          timer: run.timers[k] || null,
          votes: v && { granted: v[0], refused: v[1], voters: v[2] },
          progress: run.progress[k] === undefined ? null : progress(run.progress[k], s[3]) });
      }
      for (var m = 0; m < f[3].length; m++) msgs.push(msg(f[3][m]));
      return { t: f[0], event: f[1], members: members, msgs: msgs,
        partition: f[4] < 0 ? null : data.parts[f[4]], kv: f[5] < 0 ? null : data.kvs[f[5]] };
    }
    frame.msg = msg;
    // Frames appended to a branch are picked up as they come; a branch whose frames are
    // replaced (cut short and continued differently) must be forgotten and run through again.
    frame.forget = function (b) { delete runs[b]; };
    return frame;
  }

  // Member positions: a ring, or one column per side of a partition so the cut is visible.
  function layout(members, partition) {
    var ids = members.map(function (m) { return m.id; });
    var groups = [ids];
    if (partition) {
      groups = partition.map(function (g) {
        return g.filter(function (id) { return ids.indexOf(id) >= 0; });
      });
      var placed = [].concat.apply([], groups);
      var rest = ids.filter(function (id) { return placed.indexOf(id) < 0; });
      if (rest.length) groups.push(rest);
      groups = groups.filter(function (g) { return g.length; });
    }
    var pos = {}, colW = W / groups.length;
    groups.forEach(function (g, gi) {
      var cx = colW * (gi + 0.5), cy = H / 2 - 6;
      var r = groups.length === 1 ? 100 : Math.min(colW / 2 - R - 8, 80);
      g.forEach(function (id, k) {
        if (g.length === 1) { pos[id] = [cx, cy]; return; }
        if (g.length === 2 && groups.length > 1) { pos[id] = [cx, cy + (k ? 55 : -55)]; return; }
        var a = -Math.PI / 2 + 2 * Math.PI * k / g.length;
        pos[id] = [cx + r * Math.cos(a), cy + r * Math.sin(a)];
      });
    });
    return { pos: pos, groups: groups, colW: colW };
  }

  function msgKind(type) {
    if (/vote/i.test(type)) return "vote";
    if (/heartbeat/i.test(type)) return "beat";
    if (/app|snap/i.test(type)) return "app";
    return "other";
  }

  function describe(obj) {
    var rows = [];
    for (var k in obj) if (obj[k] !== undefined) rows.push([k, obj[k]]);
    return rows;
  }

  function fmt(v) {
    if (v === null) return "none";
    if (typeof v === "boolean") return v ? "yes" : "no";
    return typeof v === "object" ? JSON.stringify(v) : String(v);
  }

  // ----- what a simulator's frame adds: message fields, timers, vote tallies, progress -----
  var FIELDS = { last_index: "candidate's last index", last_term: "candidate's last term",
    granted: "vote", prev_index: "prev index", prev_term: "prev term", entries: "entries",
    commit: "commit", reject: "rejected", index: "index", reject_hint: "reject hint",
    hint_term: "hint term", snap_index: "snapshot index", snap_term: "snapshot term" };

  function fieldMap(m) {
    var o = {};
    m.fields.forEach(function (kv) { o[kv[0]] = kv[1]; });
    return o;
  }

  // One line of what a message carries, e.g. "prev 4 (term 2) · 1 entry · commit 4".
  function msgSummary(m) {
    var f = fieldMap(m), parts = [];
    function at(i, t) { return i + (t === undefined ? "" : " (term " + t + ")"); }
    if ("granted" in f) parts.push(f.granted ? "granted" : "refused");
    if ("last_index" in f) parts.push("last " + at(f.last_index, f.last_term));
    if ("prev_index" in f) parts.push("prev " + at(f.prev_index, f.prev_term));
    if ("entries" in f) parts.push(f.entries + (f.entries === 1 ? " entry" : " entries"));
    if ("reject" in f) parts.push((f.reject ? "rejects " : "match ") + f.index);
    else if ("index" in f) parts.push("index " + f.index);
    if ("reject_hint" in f) parts.push("hint " + at(f.reject_hint, f.hint_term));
    if ("commit" in f) parts.push("commit " + f.commit);
    if ("snap_index" in f) parts.push("snapshot " + at(f.snap_index, f.snap_term));
    m.fields.forEach(function (kv) {  // fields of frames made elsewhere, as they come
      if (!(kv[0] in FIELDS)) parts.push(kv[0] + " " + fmt(kv[1]));
    });
    return parts.join(" \u00B7 ");
  }

  function msgRows(m) {
    var f = fieldMap(m);
    return m.fields.map(function (kv) {
      var k = kv[0], v = kv[1], label = FIELDS[k] || k;
      if (k === "granted") v = v ? "granted" : "refused";
      if (k === "index" && "reject" in f) label = f.reject ? "rejected index" : "match index";
      return [label, v];
    });
  }

  function timerText(m) {
    return (m.role === "leader" ? "heartbeat " : "election timeout ") + m.timer[0] + " of " +
      m.timer[1] + " ms";
  }

  // An arc around the member: how far it is through its election timeout (a leader: through
  // its heartbeat interval). The timer fires when the arc closes.
  function drawTimer(g, m) {
    if (!m.timer || !m.up) return;
    var f = m.timer[1] > 0 ? clamp(m.timer[0] / m.timer[1], 0, 1) : 1;
    var r = R + 4, c = 2 * Math.PI * r;
    g.setAttribute("data-timer", f.toFixed(3));
    svg("circle", { r: r, "class": "rv-timer-track" }, g);
    var arc = svg("circle", { r: r, transform: "rotate(-90)",
      "class": "rv-timer" + (m.role === "leader" ? " rv-timer-beat" : ""),
      "stroke-dasharray": (f * c).toFixed(1) + " " + c.toFixed(1) }, g);
    svg("title", {}, arc).textContent = timerText(m);
  }

  // A (pre-)candidate's votes above it: granted, refused, out of the voters. ``top`` is the
  // member's height on the stage: the line stays inside it.
  function drawTally(g, m, top, k) {
    if (!m.votes || !m.up) return;
    var v = m.votes, n = [v.granted.length, v.refused.length, v.voters.length];
    g.setAttribute("data-votes", n.join("/"));
    svg("text", { y: Math.max(-(R + 11), 10 * k - top).toFixed(1), "class": "rv-sub rv-tally" },
      g).textContent = n[0] + "\u2713 " + n[1] + "\u2717 of " + n[2];
  }

  // Details rows of a member beyond its role: timer and vote tally.
  function memberRows(m) {
    var rows = [];
    if (m.timer && m.up) rows.push(["timer", timerText(m)]);
    if (m.votes && m.up) {
      var v = m.votes;
      rows.push(["votes granted", v.granted.join(", ") || "none"]);
      rows.push(["votes refused", v.refused.join(", ") || "none"]);
      rows.push(["voters", v.voters.length + " (" + (Math.floor(v.voters.length / 2) + 1) +
        " needed)"]);
    }
    return rows;
  }

  // A leader's view of each follower (etcd's Progress): matchIndex, nextIndex and state.
  function progressTable(parent, progress) {
    var table = el("table", "rv-table rv-progress", parent);
    var tr = el("tr", "", el("thead", "", table));
    ["follower", "matchIndex", "nextIndex", "state"].forEach(function (c) { el("th", "", tr, c); });
    var body = el("tbody", "", table);
    progress.forEach(function (p) {
      var row = el("tr", "", body);
      row.setAttribute("data-peer", p.id);
      [p.id, p.match, p.next, p.state].forEach(function (c) { el("td", "", row, String(c)); });
    });
  }

  // ----- log grid columns -----
  var CELL_MIN = 18, CELL_MAX = 30, GAP_W = 26;  // px; a term number needs 15 to be read

  // Which log indexes get a column, and where. The branch's whole index span when it fits
  // with readable cells (then cells keep their place while scrubbing). Otherwise, per frame,
  // the newest entries of every member's log that fit, with a gap column wherever indexes are
  // left out (a member far behind the leader keeps its own tail), never thinner cells.
  // Returns null when no log holds an entry, else {cw, width, cols: [{index, x} | {gap, x}]}.
  function logColumns(members, span, avail) {
    var idx = [], x;
    if (span[1] >= span[0] && (span[1] - span[0] + 1) * CELL_MIN <= avail) {
      for (x = span[0]; x <= span[1]; x++) idx.push(x);
      return place(idx, null, avail);
    }
    var tails = members.map(function (m) { return m.log.map(function (e) { return e[0]; }); });
    var longest = 0, first = Infinity;
    tails.forEach(function (t) {
      longest = Math.max(longest, t.length);
      if (t.length) first = Math.min(first, t[0]);
    });
    if (!longest) return null;
    function pick(k) {  // the union of every member's newest k indexes, ascending
      var seen = {}, out = [];
      tails.forEach(function (t) {
        t.slice(Math.max(0, t.length - k)).forEach(function (i) {
          if (!seen[i]) { seen[i] = true; out.push(i); }
        });
      });
      return out.sort(function (a, b) { return a - b; });
    }
    function need(list) {
      var gaps = list[0] > first ? 1 : 0;
      for (var k = 1; k < list.length; k++) if (list[k] !== list[k - 1] + 1) gaps++;
      return list.length * CELL_MIN + gaps * GAP_W;
    }
    var k = longest;
    idx = pick(k);
    while (k > 1 && need(idx) > avail) idx = pick(--k);
    while (idx.length > 1 && need(idx) > avail) idx.shift();  // members far apart: the newest
    return place(idx, first, avail);
  }

  function place(idx, first, avail) {
    var cols = [], gaps = 0, k;
    if (first !== null && idx[0] > first) cols.push({ gap: [first, idx[0] - 1] });
    for (k = 0; k < idx.length; k++) {
      if (k && idx[k] !== idx[k - 1] + 1) cols.push({ gap: [idx[k - 1] + 1, idx[k] - 1] });
      cols.push({ index: idx[k] });
    }
    cols.forEach(function (c) { if (c.gap) gaps++; });
    var cw = clamp(Math.floor((avail - gaps * GAP_W) / idx.length), CELL_MIN, CELL_MAX), x = 0;
    cols.forEach(function (c) { c.x = x; x += c.gap ? GAP_W : cw; });
    return { cw: cw, cols: cols, width: x };
  }

  // Index labels for the ruler that never touch: the newest index and the first after each
  // gap first, then round numbers, each only where it has room. Width is estimated from the
  // digit count (tabular digits at the ruler's 10.5px are under 6.5px wide).
  function rulerTicks(cols, cw, width) {
    var placed = [], runStart = true, cand = [], last = null;
    cols.forEach(function (c) {
      if (c.gap) { runStart = true; return; }
      if (runStart) cand.push(c);
      runStart = false;
      last = c;
    });
    if (last) cand.unshift(last);
    var digits = String(last ? last.index : 0).length, step = 1;
    var room = digits * 6.5 + 8;
    [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000].some(function (s) {
      step = s;
      return s * cw >= room;
    });
    cols.forEach(function (c) { if (!c.gap && c.index % step === 0) cand.push(c); });
    cand.forEach(function (c) {
      var w = String(c.index).length * 6.5 + 2;
      var left = clamp(c.x + cw / 2 - w / 2, 0, Math.max(0, width - w));
      var free = placed.every(function (p) {
        return left + w + 4 <= p.x || p.x + p.w + 4 <= left;
      });
      if (free) placed.push({ index: c.index, x: left, w: w });
    });
    return placed.sort(function (a, b) { return a.x - b.x; });
  }

  function build(root) {
    var uid = root.getAttribute("data-rv-root");
    var data = JSON.parse(root.querySelector("script.rv-data").textContent);
    var frameAt = decoder(data);
    var pal = data.palette;
    var st = { b: data["default"], i: 0, playing: false, timer: null, speed: 1, sel: null };
    var fallback = root.querySelector(".rv-fallback");
    if (fallback) fallback.parentNode.removeChild(fallback);

    // ----- static structure -----
    var head = el("div", "rv-head", root);
    el("div", "rv-title", head, data.title);
    var branchBox = null, radios = [];
    if (data.branches.length > 1) {
      branchBox = el("div", "rv-branches", head);
      branchBox.setAttribute("role", "radiogroup");
      branchBox.setAttribute("aria-label", "Scenario");
      el("span", "rv-branch-label", branchBox, "Scenario:");
      var name = uid + "-branch-" + (counter++);
      data.branches.forEach(function (br, bi) {
        var lab = el("label", "rv-branch", branchBox);
        var input = el("input", "", lab);
        input.type = "radio"; input.name = name; input.value = String(bi);
        input.checked = bi === st.b;
        input.addEventListener("change", function () { if (input.checked) setBranch(bi); });
        el("span", "", lab, br.label);
        radios.push(input);
      });
    }

    var bar = el("div", "rv-bar", root);
    function button(text, label, onClick) {
      var b = el("button", "rv-btn", bar, text);
      b.type = "button";
      b.setAttribute("aria-label", label);
      b.title = label;
      b.addEventListener("click", onClick);
      return b;
    }
    var backBtn = button("\u25C0", "Step back one event", function () { stop(); go(st.i - 1); });
    var playBtn = button("\u25B6 Play", "Play", function () { st.playing ? stop() : play(); });
    playBtn.classList.add("rv-play");
    var fwdBtn = button("\u25B6", "Step forward one event", function () { stop(); go(st.i + 1); });
    var speed = el("select", "rv-speed", bar);
    speed.setAttribute("aria-label", "Playback speed");
    SPEEDS.forEach(function (s) {
      var o = el("option", "", speed, s + "\u00D7");
      o.value = String(s);
      o.selected = s === 1;
    });
    speed.addEventListener("change", function () { st.speed = parseFloat(speed.value); });
    var slider = el("input", "rv-slider", bar);
    slider.type = "range"; slider.min = "0"; slider.step = "1";
    slider.setAttribute("aria-label", "Scrub through events");
    slider.addEventListener("input", function () { stop(); go(parseInt(slider.value, 10)); });
    var clock = el("span", "rv-clock", bar);

    // ----- live mode hook: a "Take control" button when the data can be replayed and the page
    // is a built book (its _static/live/ holds the live files); live-control.js does the rest.
    var liveBase = data.branches.some(function (br) { return br.live; }) ? liveFolder() : null;
    if (liveBase) {
      root.raftvizPlayer = {
        root: root, data: data, bar: bar,
        where: function () { return { branch: st.b, index: st.i }; },
        show: function (b, i) { stop(); setBranch(b); go(i); },
        forget: function (b) { frameAt.forget(b); },
        stop: function () { stop(); }
      };
      button("Take control", "Take control: a live run of raftlib in your browser, " +
        "branched from this frame", function () {
        stop();
        loadScript(liveBase + "live-control.js").then(function () {
          window.RaftlibLiveControl.take(root.raftvizPlayer, liveBase);
        }, function (e) { eventLine.textContent = e.message; });
      }).classList.add("rv-take");
    }

    var eventLine = el("div", "rv-event", root);
    eventLine.setAttribute("aria-live", "polite");

    var main = el("div", "rv-main", root);
    var stage = svg("svg", { viewBox: "0 0 " + W + " " + H, "class": "rv-stage",
      role: "img", "aria-label": "Cluster members and messages in flight" }, main);
    var side = el("div", "rv-side", main);
    el("div", "rv-side-title", side, "Details");
    var details = el("div", "rv-details", side);
    el("div", "rv-side-title", side, "In flight");
    var msgList = el("ul", "rv-msgs", side);

    var logTitle = el("div", "rv-section", root, "Logs");
    el("span", "rv-hint", logTitle,
      "one cell per entry, colored and numbered by term; the black bar is the commit index; " +
      "faded cells are not committed yet");
    var logs = el("div", "rv-logs", root);
    var kvBox = el("div", "rv-kv", root);

    var legend = el("div", "rv-legend", root);
    ["leader", "follower", "candidate", "pre_candidate", "learner"].forEach(function (role) {
      var item = el("span", "rv-legend-item", legend);
      var dot = el("span", "rv-dot", item);
      dot.style.background = pal.roles[role];
      item.appendChild(document.createTextNode(roleName(role)));
    });
    el("span", "rv-legend-item", legend, "\u2715 crashed");
    el("span", "rv-legend-item", legend, "\u275A\u275A paused");
    el("span", "rv-legend-item", legend, "dashed arrow = response");
    el("span", "rv-legend-item", legend, "arc = election timer (leader: heartbeat)");

    // ----- state changes -----
    function frames() { return data.branches[st.b].frames; }

    function go(i) {
      st.i = clamp(i, 0, frames().length - 1);
      render();
    }

    function setBranch(bi) {
      st.b = bi;
      radios.forEach(function (r, k) { r.checked = k === bi; });
      go(st.i);
    }

    function delay() {
      // 1x follows virtual time, within bounds: simultaneous events stay readable and long
      // quiet stretches (an election timeout) do not stall the show.
      var f = frames(), dt = st.i + 1 < f.length ? f[st.i + 1][0] - f[st.i][0] : 0;
      return clamp(dt, 120, 1200) / st.speed;
    }

    function tick() {
      // Stop at the end, and when a notebook front end has thrown this output away.
      if (st.i + 1 >= frames().length || !root.isConnected) { stop(); return; }
      go(st.i + 1);
      st.timer = setTimeout(tick, delay());
    }

    function play() {
      if (st.i + 1 >= frames().length) go(0);
      st.playing = true;
      eventLine.setAttribute("aria-live", "off");  // announcing every frame would drown a reader
      playBtn.textContent = "\u275A\u275A Pause";
      playBtn.setAttribute("aria-label", "Pause");
      st.timer = setTimeout(tick, delay());
    }

    function stop() {
      if (st.timer) clearTimeout(st.timer);
      st.timer = null;
      st.playing = false;
      eventLine.setAttribute("aria-live", "polite");
      playBtn.textContent = "\u25B6 Play";
      playBtn.setAttribute("aria-label", "Play");
    }

    function select(sel) { st.sel = sel; render(); }

    root.addEventListener("keydown", function (e) {
      if (e.target === slider || e.target.tagName === "SELECT") return;  // they have their own keys
      var to = { ArrowLeft: st.i - 1, ArrowRight: st.i + 1, Home: 0, End: frames().length - 1 };
      if (!(e.key in to)) return;
      e.preventDefault();
      stop();
      go(to[e.key]);
    });

    // ----- drawing -----
    function drawStage(f) {
      while (stage.firstChild) stage.removeChild(stage.firstChild);
      // A narrow stage (a phone) shrinks its text with it: enlarge the labels a little, as
      // far as neighbours' labels stay apart.
      var shown = stage.getBoundingClientRect().width;
      var k = shown > 0 ? clamp(W / shown, 1, 1.3) : 1;
      stage.style.setProperty("--rv-k", k.toFixed(2));
      var lay = layout(f.members, f.partition);
      if (lay.groups.length > 1) {
        lay.groups.forEach(function (g, gi) {
          svg("rect", { x: lay.colW * gi + 6, y: 6, width: lay.colW - 12, height: H - 12,
            rx: 12, "class": "rv-group" }, stage);
          if (gi > 0) {
            svg("line", { x1: lay.colW * gi, y1: 10, x2: lay.colW * gi, y2: H - 10,
              "class": "rv-cut" }, stage);
            svg("text", { x: lay.colW * gi + 8, y: H - 16, "class": "rv-cut-label" }, stage)
              .textContent = "partition";
          }
        });
      }
      var pairs = {};
      f.msgs.forEach(function (m) {
        var a = lay.pos[m.from], b = lay.pos[m.to];
        if (!a || !b || m.from === m.to) return;
        var pk = m.from + "\u0000" + m.to, n = pairs[pk] = (pairs[pk] || 0) + 1;
        var dx = b[0] - a[0], dy = b[1] - a[1], len = Math.sqrt(dx * dx + dy * dy);
        var ux = dx / len, uy = dy / len, off = 4 + (n - 1) * 6;  // right-hand lane per direction
        var ox = -uy * off, oy = ux * off;
        var x1 = a[0] + ux * (R + 3) + ox, y1 = a[1] + uy * (R + 3) + oy;
        var x2 = b[0] - ux * (R + 5) + ox, y2 = b[1] - uy * (R + 5) + oy;
        var kind = msgKind(m.type), resp = /resp$/i.test(m.type);
        var g = svg("g", { "class": "rv-msg rv-msg-" + kind + (resp ? " rv-resp" : "") +
          (st.sel && st.sel.msg === m.key ? " rv-selected" : ""), "data-type": m.type }, stage);
        svg("title", {}, g).textContent = m.type + " " + m.from + "\u2192" + m.to + " term " + m.term +
          (m.fields.length ? " \u00B7 " + msgSummary(m) : "");
        svg("line", { x1: x1, y1: y1, x2: x2, y2: y2, "class": "rv-hit" }, g);
        svg("line", { x1: x1, y1: y1, x2: x2 - ux * 6, y2: y2 - uy * 6, "class": "rv-shaft" }, g);
        svg("polygon", { points: [x2, y2, x2 - ux * 8 - uy * 4, y2 - uy * 8 + ux * 4,
          x2 - ux * 8 + uy * 4, y2 - uy * 8 - ux * 4].join(" "), "class": "rv-head-tip" }, g);
        g.addEventListener("click", function () { select({ msg: m.key }); });
      });
      f.members.forEach(function (m) {
        var p = lay.pos[m.id];
        var g = svg("g", { "class": "rv-node" + (m.up ? "" : " rv-down") +
            (m.paused ? " rv-paused" : "") +
            (st.sel && st.sel.member === m.id ? " rv-selected" : ""),
          transform: "translate(" + p[0].toFixed(1) + "," + p[1].toFixed(1) + ")",
          "data-member": m.id, "data-role": m.role, "data-term": m.term,
          "data-up": String(m.up), "data-paused": String(m.paused),
          tabindex: "0", role: "button",
          "aria-label": m.id + ": " + m.role + ", term " + m.term +
            (m.up ? "" : ", crashed") + (m.paused ? ", paused" : "") }, stage);
        var color = pal.roles[m.role] || "#666";
        svg("circle", { r: R + 8, "class": "rv-ring" }, g);
        drawTimer(g, m);
        svg("circle", { r: R, fill: m.up ? color : "#fff", stroke: m.up ? color : "#9aa0a6",
          "class": "rv-body" }, g);
        if (m.role === "leader" && m.up) svg("circle", { r: R - 4, "class": "rv-crown" }, g);
        var label = svg("text", { y: (5 * k).toFixed(1), "class": "rv-id" }, g);
        label.textContent = m.id;
        if (!m.up) {  // a badge, not a cross over the id: the reader still needs to read it
          svg("path", { d: "M" + (R - 9) + "," + (-R - 3) + "l10,10m0,-10l-10,10",
            "class": "rv-x" }, g);
        }
        // Two short lines, not "leader · t3": "t" is the clock's letter, and one long line
        // collides with a neighbour's.
        drawTally(g, m, p[1], k);
        var role = svg("text", { y: (R + 9 + 11 * k).toFixed(1), "class": "rv-sub" }, g);
        role.textContent = m.up ? roleName(m.role) : "crashed";
        var term = svg("text", { y: (R + 9 + 25 * k).toFixed(1),
          "class": "rv-sub rv-sub-term" }, g);
        term.textContent = "term " + m.term;
        if (m.paused) {
          var badge = svg("text", { x: R - 2, y: -R + 6, "class": "rv-badge" }, g);
          badge.textContent = "\u275A\u275A";
        }
        function pick() { select({ member: m.id }); }
        g.addEventListener("click", pick);
        g.addEventListener("keydown", function (e) {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); }
        });
      });
    }

    function drawMsgList(f) {
      msgList.textContent = "";
      if (!f.msgs.length) { el("li", "rv-empty", msgList, "no messages"); return; }
      var limit = 10;
      f.msgs.slice(0, limit).forEach(function (m) {
        var li = el("li", "", msgList);
        var b = el("button", "rv-msg-item rv-msg-" + msgKind(m.type) +
          (st.sel && st.sel.msg === m.key ? " rv-selected" : ""), li,
          m.from + " \u2192 " + m.to + " " + m.type + " \u00B7 term " + m.term +
          (m.fields.length ? " \u00B7 " + msgSummary(m) : ""));
        b.type = "button";
        b.addEventListener("click", function () { select({ msg: m.key }); });
      });
      if (f.msgs.length > limit) el("li", "rv-empty", msgList, "\u2026 and " +
        (f.msgs.length - limit) + " more");
    }

    function drawDetails(f) {
      details.textContent = "";
      var rows = null, head = null, progress = null;
      if (st.sel && st.sel.member !== undefined) {
        var m = f.members.filter(function (x) { return x.id === st.sel.member; })[0];
        head = "Member " + st.sel.member;
        if (m) {
          var last = m.log.length ? m.log[m.log.length - 1] : null;
          // A crashed member runs no state machine: what it had applied is gone until it
          // restarts, so an "applied" number (recorders write 0) would mislead.
          rows = describe({ role: m.up ? roleName(m.role) : "crashed", term: m.term,
            "voted for": m.vote, commit: m.commit,
            applied: m.up ? m.applied : "\u2014 (not running)",
            "last log": last ? "index " + last[0] + ", term " + last[1] : null,
            up: m.up, paused: m.paused });
          if (m.extra) rows = rows.concat(describe(m.extra));
          rows = rows.concat(memberRows(m));
          progress = m.up && m.progress;
        }
      } else if (st.sel && st.sel.msg !== undefined) {
        var g = frameAt.msg(st.sel.msg);
        var flying = f.msgs.some(function (x) { return x.key === st.sel.msg; });
        head = g.type + " " + g.from + " \u2192 " + g.to;
        rows = describe({ type: g.type, from: g.from, to: g.to, term: g.term,
          "in flight now": flying }).concat(msgRows(g));
      } else if (st.sel && st.sel.entry) {
        var e = st.sel.entry;
        head = "Entry " + e.index + " of " + e.member;
        rows = describe({ index: e.index, term: e.term, data: e.label || "(empty)",
          committed: e.committed });
      }
      if (!head) {
        el("div", "rv-empty", details, "Click a member, a message or a log entry.");
        return;
      }
      el("div", "rv-details-head", details, head);
      if (!rows) { el("div", "rv-empty", details, "not in this frame"); return; }
      var dl = el("dl", "", details);
      rows.forEach(function (r) { el("dt", "", dl, r[0]); el("dd", "", dl, fmt(r[1])); });
      if (progress) progressTable(details, progress);
    }

    function drawLogs(f) {
      logs.textContent = "";
      var labelW = 118, avail = Math.max(120, logs.clientWidth - labelW - 8);
      var plan = logColumns(f.members, data.branches[st.b].span, avail);
      if (!plan) { el("div", "rv-empty", logs, "all logs are empty"); return; }
      var cw = plan.cw, cols = plan.cols, width = plan.width, at = {};
      cols.forEach(function (c) { if (c.gap === undefined) at[c.index] = c.x; });
      // Where the commit bar goes: after its entry's cell, or inside the gap that hides it.
      function commitX(index) {
        if (at[index] !== undefined) return at[index] + cw - 1;
        for (var k = 0; k < cols.length; k++) {
          var c = cols[k];
          if (c.gap !== undefined && index >= c.gap[0] && index <= c.gap[1]) {
            return c.x + GAP_W / 2 - 1;
          }
        }
        return null;
      }
      var ruler = el("div", "rv-log-row rv-ruler", logs);
      el("div", "rv-log-label", ruler, "index");
      var rtrack = el("div", "rv-log-track", ruler);
      rtrack.style.width = width + "px";
      rulerTicks(cols, cw, width).forEach(function (tick) {
        var tk = el("span", "rv-tick", rtrack, String(tick.index));
        tk.style.left = tick.x + "px";
        tk.style.width = tick.w + "px";
      });
      function gapMark(track, c) {
        var gm = el("span", "rv-gap", track, "\u22EF");
        gm.style.left = c.x + "px";
        gm.style.width = (GAP_W - 2) + "px";
        gm.title = "indexes " + c.gap[0] + "\u2013" + c.gap[1] + " not shown";
      }
      f.members.forEach(function (m) {
        var row = el("div", "rv-log-row" + (m.up ? "" : " rv-down"), logs);
        row.setAttribute("data-member", m.id);
        row.setAttribute("data-commit", String(m.commit));
        row.setAttribute("data-entries", String(m.log.length));
        var lab = el("div", "rv-log-label", row);
        var dot = el("span", "rv-dot", lab);
        dot.style.background = m.up ? pal.roles[m.role] || "#666" : "#fff";
        lab.appendChild(document.createTextNode(m.id + " "));
        el("span", "rv-log-commit", lab, "commit " + m.commit);
        var track = el("div", "rv-log-track", row);
        track.style.width = width + "px";
        cols.forEach(function (c) { if (c.gap !== undefined) gapMark(track, c); });
        m.log.forEach(function (en) {
          if (at[en[0]] === undefined) return;
          var committed = en[0] <= m.commit;
          var c = el("span", "rv-cell" + (committed ? "" : " rv-uncommitted") +
            (st.sel && st.sel.entry && st.sel.entry.member === m.id &&
             st.sel.entry.index === en[0] ? " rv-selected" : ""), track,
            cw >= 15 ? String(en[1]) : "");
          c.style.left = at[en[0]] + "px";
          c.style.width = (cw - 1) + "px";
          c.style.background = pal.terms[(en[1] - 1 + pal.terms.length * 64) % pal.terms.length];
          c.title = "index " + en[0] + ", term " + en[1] + (en[2] ? ": " + en[2] : "");
          c.addEventListener("click", function () {
            select({ entry: { member: m.id, index: en[0], term: en[1], label: en[2],
              committed: committed } });
          });
        });
        var cx = commitX(m.commit);
        if (cx !== null) {
          var mk = el("span", "rv-commit", track);
          mk.style.left = cx + "px";
          mk.title = "commit index " + m.commit;
        }
      });
    }

    function drawKv(f) {
      kvBox.textContent = "";
      kvBox.style.display = f.kv ? "" : "none";
      if (!f.kv) return;
      var kv = f.kv;
      el("div", "rv-section", kvBox, "Keyspace at revision " + fmt(kv.revision));
      var other = describe(kv).filter(function (r) { return r[0] !== "keys" && r[0] !== "revision"; });
      if (other.length) {
        el("div", "rv-kv-meta", kvBox, other.map(function (r) {
          return r[0] + ": " + fmt(r[1]);
        }).join(" \u00B7 "));
      }
      var keys = kv.keys || [];
      if (!keys.length) { el("div", "rv-empty", kvBox, "no keys"); return; }
      var table = el("table", "rv-table", kvBox);
      var cols = ["key", "value", "create_revision", "mod_revision", "version"];
      var tr = el("tr", "", el("thead", "", table));
      cols.forEach(function (c) { el("th", "", tr, c); });
      var body = el("tbody", "", table);
      keys.forEach(function (k) {
        var row = el("tr", k.mod_revision === kv.revision ? "rv-changed" : "", body);
        row.setAttribute("data-key", fmt(k.key));
        cols.forEach(function (c) { el("td", "", row, k[c] === undefined ? "" : fmt(k[c])); });
      });
    }

    function render() {
      var f = frameAt(st.b, st.i), n = frames().length;
      root.setAttribute("data-frame-index", String(st.i));
      root.setAttribute("data-branch", data.branches[st.b].label);
      slider.max = String(n - 1);
      slider.value = String(st.i);
      slider.setAttribute("aria-valuetext", "event " + (st.i + 1) + " of " + n);
      backBtn.disabled = st.i === 0;
      fwdBtn.disabled = st.i === n - 1;
      // Keyspace-only frames count revisions or steps, not virtual milliseconds.
      clock.textContent = (f.members.length ? "t = " + f.t + " ms \u00B7 " : "") +
        (st.i + 1) + "/" + n;
      eventLine.textContent = f.event || "\u00A0";
      // A keyspace-only trace (the MVCC chapter) has no members: show just its table.
      var cluster = f.members.length ? "" : "none";
      [main, logTitle, logs, legend].forEach(function (node) { node.style.display = cluster; });
      drawStage(f);
      drawMsgList(f);
      drawDetails(f);
      drawLogs(f);
      drawKv(f);
    }

    if (data.start === "last") st.i = frames().length - 1;
    render();
    // Log cells and stage labels are sized to the player's width, which the page may change.
    if (window.ResizeObserver) {
      var lastW = logs.clientWidth;
      new ResizeObserver(function () {
        if (logs.clientWidth !== lastW) { lastW = logs.clientWidth; render(); }
      }).observe(logs);
    }
  }

  // The site's live folder, found from the page's own _static scripts; null outside a book.
  function liveFolder() {
    var scripts = document.querySelectorAll("script[src]");
    for (var i = 0; i < scripts.length; i++) {
      var at = scripts[i].src.indexOf("/_static/");
      if (at >= 0) return scripts[i].src.slice(0, at) + "/_static/live/";
    }
    return null;
  }

  function loadScript(src) {
    return new Promise(function (ok, fail) {
      var found = document.querySelector('script[data-rv-load="' + src + '"]');
      if (found) { found.loaded ? ok() : found.addEventListener("load", ok); return; }
      var s = document.createElement("script");
      s.src = src;
      s.setAttribute("data-rv-load", src);
      s.onload = function () { s.loaded = true; ok(); };
      s.onerror = function () { fail(new Error("live mode: " + src + " did not load")); };
      document.head.appendChild(s);
    });
  }

  function mount(uid, tries) {
    var roots = document.querySelectorAll('[data-rv-root="' + uid + '"]');
    // Some front ends run output scripts before attaching the output to the page: retry.
    if (!roots.length && (tries || 0) < 50) {
      setTimeout(function () { mount(uid, (tries || 0) + 1); }, 100);
      return;
    }
    for (var i = 0; i < roots.length; i++) {
      if (roots[i].hasAttribute("data-ready")) continue;
      roots[i].setAttribute("data-ready", "");
      build(roots[i]);
    }
  }

  window.raftvizPlayerV1 = { mount: mount, loadScript: loadScript, el: el };
})();
