// Live mode's worker: runs the book's own raftlib in Pyodide, off the page's main thread.
// Started by live.js as a module worker from the site's _static/live/ folder; every file it
// loads is resolved relative to this script, so the site works from any path and never asks
// another host for anything.
//
// Messages in:  {id, code}              run Python (one namespace shared by all calls)
// Messages out: {progress: {stage, message, ms}}   stages: download, python, raftlib, ready
//               {ready: {pyodide, python, modules, ms}} or {fatal: message}   once
//               {id, result} | {id, error}          one per request
// A request's result is the value of the code's last expression: str, number, bool and None
// pass as they are; dicts, lists and tuples are converted to plain JSON values.

const BASE = new URL("./", import.meta.url);
const PYODIDE = new URL("pyodide/", BASE);
const T0 = performance.now();
const ms = () => Math.round(performance.now() - T0);
const progress = (stage, message) => postMessage({ progress: { stage, message, ms: ms() } });

// A missing file must say which file, not surface later as a wasm or zip error deep in Pyodide.
async function fetchOk(url, what) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`live mode: cannot fetch ${what} (${url}): ${e.message}`);
  }
  if (!response.ok) {
    throw new Error(`live mode: ${what} is missing (${url}: HTTP ${response.status}); ` +
                    "the book was built without its live files (scripts/build_live.py)");
  }
  return response;
}

async function boot() {
  progress("download", "Downloading Python (Pyodide)");
  const manifest = await (await fetchOk(new URL("manifest.json", BASE), "manifest.json")).json();
  // Cheap HEAD checks first, so a half-copied site names its missing file.
  await Promise.all(Object.keys(manifest.files).map(async (name) => {
    const url = new URL(name, BASE);
    const response = await fetch(url, { method: "HEAD" });
    if (!response.ok) {
      throw new Error(`live mode: ${name} is missing (${url}: HTTP ${response.status}); ` +
                      "the book was built without its live files (scripts/build_live.py)");
    }
  }));
  const archive = fetchOk(new URL(manifest.archive, BASE), manifest.archive)
    .then((r) => r.arrayBuffer());
  const { loadPyodide } = await import(new URL("pyodide.mjs", PYODIDE).href);
  const pyodide = await loadPyodide({
    indexURL: PYODIDE.href,
    // Pyodide calls this when it sets up Python's file system: its runtime has arrived and
    // Python's own start (the standard library, the interpreter) is what remains.
    fsInit: () => progress("python", "Starting Python"),
  });
  progress("raftlib", "Loading raftlib");
  pyodide.unpackArchive(await archive, "zip", { extractDir: "/raftlib-live" });
  const ns = pyodide.globals.get("dict")();
  ns.set("_modules", pyodide.toPy(manifest.modules));
  // Import every packed module now: an import that fails in Pyodide fails here, at start.
  pyodide.runPython(`
import importlib, sys
sys.path.insert(0, "/raftlib-live")
for _m in _modules:
    importlib.import_module(_m)
del _m, _modules
`, { globals: ns });
  const python = pyodide.runPython("import sys; sys.version.split()[0]");
  return { pyodide, ns, info: { pyodide: pyodide.version, python, modules: manifest.modules } };
}

function toPlain(value) {
  if (value && typeof value === "object" && typeof value.toJs === "function") {
    try {
      return value.toJs({ dict_converter: Object.fromEntries, create_pyproxies: false });
    } finally {
      value.destroy();
    }
  }
  return value === undefined ? null : value;
}

const started = boot();
started.then(
  ({ info }) => {
    progress("ready", "Ready");
    postMessage({ ready: { ...info, ms: ms() } });
  },
  (e) => postMessage({ fatal: String(e && e.message ? e.message : e) }),
);

onmessage = async (event) => {
  const { id, code } = event.data;
  let py;
  try {
    py = await started;
  } catch (e) {
    postMessage({ id, error: String(e && e.message ? e.message : e) });
    return;
  }
  try {
    postMessage({ id, result: toPlain(py.pyodide.runPython(code, { globals: py.ns })) });
  } catch (e) {
    postMessage({ id, error: String(e && e.message ? e.message : e) });
  }
};
