"""Executing the chapters the one way the tests and `make notebooks` both use.

`python -m tests.book.notebooks [PATH ...]` re-executes every chapter (or the ones named) and
stores its outputs in place; the notebook tests execute them again and compare with what is
stored.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import nbformat

BOOK = Path(__file__).resolve().parents[2] / "book"

# Widget model ids are fresh uuid4s on every execution, and the widget state stored in the
# notebook's metadata is keyed by them. Nothing else may differ between runs: every output the
# reader sees is compared, a widget by its text/plain form and its view's other fields.
WIDGET_STATE = ("/metadata/widgets",)
WIDGET_MODEL_ID = (
    (
        "/cells/*/outputs/*/data/application/vnd.jupyter.widget-view+json/model_id",
        r"^[0-9a-f]{32}$",
        "<widget model id>",
    ),
)


# Cells tagged "real-engine-output" show wall-clock measurements of real etcd processes (how
# long an election took, a figure of such times): they differ on every run by nature, so their
# outputs are left out of the comparison. Everything they compute that must not vary (values,
# revisions, errors) is printed by untagged cells, which are compared as strictly as the rest.
REAL_ENGINE_TAG = "real-engine-output"


def real_engine_outputs(path: str | Path) -> tuple[str, ...]:
    """The diff paths of the outputs of the notebook's cells tagged :data:`REAL_ENGINE_TAG`."""
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    return tuple(f"/cells/{i}/outputs" for i, cell in enumerate(cells)
                 if REAL_ENGINE_TAG in cell.get("metadata", {}).get("tags", []))


def chapters() -> list[Path]:
    """Every notebook of the book, in a stable order."""
    return sorted(p for p in BOOK.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def _nb_regression():  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        # pytest-notebook warns about its own type annotations on import.
        warnings.simplefilter("ignore", UserWarning)
        from pytest_notebook import nb_regression

    return nb_regression


class _BookRegression:
    """pytest-notebook's fixture, told per notebook which tagged outputs to ignore."""

    def __init__(self, force_regen: bool) -> None:
        self.force_regen = force_regen

    def check(self, path: str):  # type: ignore[no-untyped-def]
        return _nb_regression().NBRegressionFixture(
            exec_timeout=600,
            diff_ignore=WIDGET_STATE + real_engine_outputs(path),
            diff_replace=WIDGET_MODEL_ID,
            diff_color_words=False,
            diff_use_color=False,
            force_regen=self.force_regen,
        ).check(path)


def regression_fixture(force_regen: bool = False) -> _BookRegression:
    """A pytest-notebook fixture configured for the book."""
    return _BookRegression(force_regen)


def main(argv: list[str]) -> int:
    """Re-execute the chapters and store their outputs; a cell that raises stops the run."""
    regression_error = _nb_regression().NBRegressionError

    fixture = regression_fixture(force_regen=True)
    paths = [Path(a).resolve() for a in argv] or chapters()
    for i, path in enumerate(paths, 1):
        print(f"[{i}/{len(paths)}] {path.relative_to(BOOK.parent)}: ", end="", flush=True)
        try:
            fixture.check(str(path))
        except regression_error:
            print("outputs changed, stored", flush=True)
        else:
            print("outputs unchanged", flush=True)
        drop_widget_state(path)
    return 0


def drop_widget_state(path: Path) -> None:
    """Remove stored widget state: it is stale without its kernel, and a page built from a
    notebook that carries it loads the widget runtime (see _config.yml)."""
    nb = nbformat.read(path, as_version=4)
    if nb.metadata.pop("widgets", None) is not None:
        nbformat.write(nb, path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
