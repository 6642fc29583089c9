"""Build the files live mode loads on first use into a static folder (the book's ``_static``).

Writes ``<static>/live/``: Pyodide's runtime and standard library copied from the npm package
pinned in package-lock.json (``npm ci`` installs it into node_modules), an archive of raftlib's
pure-Python layers packed from this working tree, the worker and its loader, and a manifest
listing every file with its size and sha256. No page links these files: the loader fetches
them when a reader first asks for live mode, and the page never fetches anything from a CDN.

Run: ``python scripts/build_live.py _build/html/_static`` (``make book`` does, after the build).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PYODIDE_FILES = (
    "pyodide.mjs",
    "pyodide.asm.mjs",
    "pyodide.asm.wasm",
    "python_stdlib.zip",
    "pyodide-lock.json",
)
"""What Pyodide needs to start Python with its standard library, and nothing else: no
packages, so its lock file is read but no wheel is ever fetched."""

LIVE_SOURCES = (
    "raftlib/__init__.py",
    "raftlib/_cluster.py",
    "raftlib/_trace.py",
    "raftlib/raft",
    "raftlib/kv",
    "raftlib/sim",
    "raftlib/check",
    "raftlib/viz/__init__.py",
    "raftlib/viz/_live.py",
    "raftlib/viz/_panels.py",
    "raftlib/viz/_parts.py",
    "raftlib/viz/_player.py",
    "raftlib/viz/_recorder.py",
    "raftlib/viz/_table.py",
)
"""The raftlib the browser runs: pure Python over the standard library. runtime, backends and
gateway need sockets and trio; viz's figures need matplotlib (``raftlib.viz`` imports them
only on first use, its panels import ipywidgets only when one is made), and the chapters stay
out."""

ASSETS = ("live.js", "live-worker.js", "live-control.js")
ARCHIVE = "raftlib.zip"
MANIFEST = "manifest.json"
# A fixed timestamp makes the archive depend on the sources only, so two builds of one tree
# give the same bytes.
_EPOCH = (1980, 1, 1, 0, 0, 0)


class BuildError(Exception):
    """Something the build needs is missing; the message says what and how to get it."""


def pyodide_version(node_modules: Path) -> str:
    """The installed Pyodide's version, checked against the one package-lock.json pins."""
    lock = json.loads((ROOT / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/pyodide"]["version"]
    installed_json = node_modules / "pyodide" / "package.json"
    if not installed_json.is_file():
        raise BuildError(f"{installed_json} is missing: run `npm ci` in {ROOT}")
    installed = json.loads(installed_json.read_text())["version"]
    if installed != pinned:
        raise BuildError(f"node_modules has pyodide {installed}, package-lock.json pins "
                         f"{pinned}: run `npm ci` in {ROOT}")
    return str(pinned)


def vendor_pyodide(node_modules: Path, dest: Path) -> None:
    """Copy Pyodide's runtime files into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PYODIDE_FILES:
        src = node_modules / "pyodide" / name
        if not src.is_file():
            raise BuildError(f"{src} is missing: run `npm ci` in {ROOT}")
        shutil.copyfile(src, dest / name)


def live_files(root: Path = ROOT) -> list[Path]:
    """The source files packed for the browser, relative to ``root``, sorted."""
    out: list[Path] = []
    for entry in LIVE_SOURCES:
        path = root / entry
        if path.is_file():
            out.append(path.relative_to(root))
        elif path.is_dir():
            out.extend(p.relative_to(root) for p in path.rglob("*.py")
                       if "__pycache__" not in p.parts)
    return sorted(out)


def pack_raftlib(dest: Path, root: Path = ROOT) -> Path:
    """Write the raftlib archive to ``dest`` (a zip whose top folder is ``raftlib/``)."""
    files = live_files(root)
    if not files:
        raise BuildError(f"no raftlib sources under {root}")
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for rel in files:
            info = zipfile.ZipInfo(rel.as_posix(), _EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, (root / rel).read_bytes())
    return dest


def build(static: Path, node_modules: Path = ROOT / "node_modules") -> Path:
    """Build ``static/live`` from scratch and return it."""
    version = pyodide_version(node_modules)
    live = static / "live"
    if live.exists():
        shutil.rmtree(live)
    vendor_pyodide(node_modules, live / "pyodide")
    pack_raftlib(live / ARCHIVE)
    for name in ASSETS:
        shutil.copyfile(ROOT / "raftlib" / "viz" / "assets" / name, live / name)
    files = {}
    for path in sorted(p for p in live.rglob("*") if p.is_file()):
        data = path.read_bytes()
        files[path.relative_to(live).as_posix()] = {
            "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    # The worker imports every module listed here at start.
    modules = [".".join(p.with_suffix("").parts).removesuffix(".__init__") for p in live_files()]
    manifest = {"pyodide": version, "archive": ARCHIVE, "files": files, "modules": modules}
    (live / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return live


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("static", type=Path, help="the site's static folder, e.g. _build/html/_static")
    args = ap.parse_args()
    try:
        live = build(args.static)
    except BuildError as e:
        sys.exit(f"error: {e}")
    total = sum(p.stat().st_size for p in live.rglob("*") if p.is_file())
    print(f"live mode: {live} ({total / 1e6:.1f} MB, loaded on first use only)")


if __name__ == "__main__":
    main()
