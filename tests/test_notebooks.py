"""The notebooks in docs/notebooks execute without errors and are committed with their figures.

The site renders the committed outputs without executing anything (myst-nb,
``nb_execution_mode = "off"``), so a notebook whose code no longer runs against the library, or
one committed without its outputs, would show a stale or empty page. Each notebook is executed
here in a copy in a temporary folder (the working directory of its kernel, so whatever it
writes lands there), in a kernel of this very interpreter: a kernel spec pointing at
``sys.executable`` is installed in a temporary folder put first on ``JUPYTER_PATH``, so a
``python3`` kernel spec elsewhere on the machine cannot run the notebooks in another
environment. Regenerate the notebooks with ``python docs/notebooks/_build_notebooks.py``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "docs" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
#: Seconds any one cell may take (each notebook takes about 10 s on two cores).
CELL_TIMEOUT = 300
#: The executing tests share one xdist worker (``--dist loadgroup``), which runs the notebooks
#: one after another: each starts a kernel process beside the worker, so the suite runs at
#: most one more process than it has workers. Nothing else depends on it (each test has its
#: own folder and kernel). With pytest 9.2 and pytest-xdist 3.8 groups are not applied (xdist
#: marks a group in ``item._nodeid``, which pytest 9.2 no longer reads), so the notebooks may
#: then run on several workers at once.
NOTEBOOK_GROUP = pytest.mark.xdist_group("notebooks")


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The name of a kernel that runs this interpreter: ``python3``, from a spec for
    ``sys.executable`` first on ``JUPYTER_PATH``."""
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("jupyter")
    install(kernel_name="python3", prefix=str(prefix))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", os.pathsep.join(
            [str(prefix / "share" / "jupyter"), *filter(None, [os.environ.get("JUPYTER_PATH")])]))
        yield "python3"


def _execute(nb: nbformat.NotebookNode, cwd: Path, kernel: str) -> None:
    """Run every cell in order; a cell that raises fails the test (CellExecutionError)."""
    # The root conftest.py sets MPLBACKEND=Agg for the suite; a kernel inheriting it would
    # draw no inline figures (the notebooks also say %matplotlib inline).
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name=kernel,
                   resources={"metadata": {"path": str(cwd)}}).execute(env=env)


def _shows_a_figure(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and "plt.show()" in cell.source


def _has_image(cell: nbformat.NotebookNode) -> bool:
    return any("image/png" in out.get("data", {}) for out in cell.get("outputs", []))


def _errors(nb: nbformat.NotebookNode) -> list[str]:
    return [f"cell {i}: {out.get('ename')}: {out.get('evalue')}"
            for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for out in cell.outputs if out.output_type == "error"]


def test_there_are_notebooks() -> None:
    names = {p.stem for p in NOTEBOOKS}
    assert {"validation_jumps", "step_decay_plateau", "large_rate_instability"} <= names


@NOTEBOOK_GROUP
def test_kernel_is_this_python(kernel: str, tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, sys\nprint(sys.executable)\nprint(sys.prefix)\nprint(os.getcwd())")])
    _execute(nb, tmp_path, kernel)
    executable, prefix, cwd = nb.cells[0].outputs[0]["text"].splitlines()
    assert (executable, prefix) == (sys.executable, sys.prefix)
    assert Path(cwd).resolve() == tmp_path.resolve()


@NOTEBOOK_GROUP
def test_a_silent_sweep_in_a_kernel_gives_no_progress_warning(kernel: str, tmp_path: Path) -> None:
    """Without ipywidgets, tqdm's notebook detection warns "IProgress not found"; lrscape runs
    it only for a bar it shows, so ``import lrscape`` and a sweep with ``progress=False`` are
    silent in a kernel (the test environment has no ipywidgets: the check is not vacuous)."""
    code = ("import warnings\nwarnings.simplefilter('always')\nimport lrscape\n"
            "ds = lrscape.sweep('quadratic', 'sgd', {'learning_rate': [0.1]}, steps=100,"
            " progress=False)\nprint(int(ds.regime.item()))")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    _execute(nb, tmp_path, kernel)
    streams = [o for o in nb.cells[0].outputs if o["output_type"] == "stream"]
    assert [o["name"] for o in streams] == ["stdout"], streams


@NOTEBOOK_GROUP
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path: Path, kernel: str, tmp_path: Path) -> None:
    copy = tmp_path / path.name
    shutil.copyfile(path, copy)
    nb = nbformat.read(copy, as_version=4)
    _execute(nb, tmp_path, kernel)
    assert not _errors(nb)
    missing = [i for i, cell in enumerate(nb.cells) if _shows_a_figure(cell)
               and not _has_image(cell)]
    assert not missing, f"cells {missing} call plt.show() but drew no figure"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_with_outputs(path: Path) -> None:
    """Every code cell was executed, in order, in one run, without errors, and every cell
    that shows a figure holds it as a PNG, which the site displays."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, "no code cells"
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), \
        "not executed top to bottom in one kernel: rerun _build_notebooks.py"
    assert not _errors(nb)
    figures = [cell for cell in code if _shows_a_figure(cell)]
    assert figures, "no figure"
    assert all(_has_image(cell) for cell in figures), "a figure cell has no image output"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
