"""Executing the chapters the one way the tests and `make notebooks` both use.

`python -m tests.book.notebooks [PATH ...]` re-executes every chapter (or the ones named) and
stores its outputs in place; the notebook tests execute them again and compare with what is
stored.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

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


def chapters() -> list[Path]:
    """Every notebook of the book, in a stable order."""
    return sorted(p for p in BOOK.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def regression_fixture(force_regen: bool = False):  # type: ignore[no-untyped-def]
    """A pytest-notebook fixture configured for the book."""
    with warnings.catch_warnings():
        # pytest-notebook warns about its own type annotations on import.
        warnings.simplefilter("ignore", UserWarning)
        from pytest_notebook.nb_regression import NBRegressionFixture

    return NBRegressionFixture(
        exec_timeout=600,
        diff_ignore=WIDGET_STATE,
        diff_replace=WIDGET_MODEL_ID,
        diff_color_words=False,
        diff_use_color=False,
        force_regen=force_regen,
    )


def main(argv: list[str]) -> int:
    """Re-execute the chapters and store their outputs; a cell that raises stops the run."""
    from pytest_notebook.nb_regression import NBRegressionError

    fixture = regression_fixture(force_regen=True)
    paths = [Path(a).resolve() for a in argv] or chapters()
    for i, path in enumerate(paths, 1):
        print(f"[{i}/{len(paths)}] {path.relative_to(BOOK.parent)}: ", end="", flush=True)
        try:
            fixture.check(str(path))
        except NBRegressionError:
            print("outputs changed, stored", flush=True)
        else:
            print("outputs unchanged", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
