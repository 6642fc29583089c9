// Live mode's loader: a small promise API over the worker that runs raftlib in Pyodide.
// No page loads this file at page load; a player inserts it on first use, then:
//
//   await RaftlibLive.start((p) => show(p.stage, p.message));   // download, python, raftlib, ready
//   const json = await RaftlibLive.run("sim.run_for(100); json.dumps(sim.frame())");
//
// start() is idempotent (one worker per page) and resolves with {pyodide, python, modules, ms};
// run() resolves with the value of the code's last expression or rejects with Python's error.
(function () {
  "use strict";
  if (window.RaftlibLive) return;
  // Resolved now: document.currentScript exists only while this script first runs.
  const here = document.currentScript && document.currentScript.src;
  const workerURL = new URL("live-worker.js", here || document.baseURI);
  let worker = null;
  let ready = null;
  let nextId = 1;
  const pending = new Map();
  const listeners = [];

  function start(onProgress) {
    if (onProgress) listeners.push(onProgress);
    if (ready) return ready;
    ready = new Promise((resolve, reject) => {
      worker = new Worker(workerURL, { type: "module" });
      worker.onmessage = (event) => {
        const m = event.data;
        if (m.progress) {
          for (const f of listeners) f(m.progress);
        } else if (m.ready) {
          resolve(m.ready);
        } else if (m.fatal !== undefined) {
          giveUp(new Error(m.fatal));
        } else if (pending.has(m.id)) {
          const { ok, fail } = pending.get(m.id);
          pending.delete(m.id);
          if (m.error !== undefined) fail(new Error(m.error));
          else ok(m.result);
        }
      };
      // A worker script that does not load or parse never posts a message: say so.
      worker.onerror = (event) => {
        giveUp(new Error(`live mode: the worker ${workerURL} failed: ${event.message || "not loaded"}`));
      };
      // A failed start leaves no worker behind, so that the next start() tries afresh.
      function giveUp(why) {
        reject(why);
        for (const { fail } of pending.values()) fail(why);
        pending.clear();
        worker.terminate();
        worker = null;
        ready = null;
      }
    });
    return ready;
  }

  function run(code) {
    if (!ready) return Promise.reject(new Error("live mode: call RaftlibLive.start() first"));
    return ready.then(() => new Promise((ok, fail) => {
      const id = nextId++;
      pending.set(id, { ok, fail });
      worker.postMessage({ id, code });
    }));
  }

  window.RaftlibLive = { start, run };
})();
