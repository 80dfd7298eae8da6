"""Executes the research notebooks top to bottom and checks they are committed clean.

Each notebook's source is a jupytext percent-format ``.py`` file (lintable, importable,
reviewable in diffs), paired with the ``.ipynb`` (``jupytext --sync notebooks/*.py``
regenerates it); a test checks that the two agree cell by cell.

Each notebook runs in a fresh ``python3`` kernel with ``notebooks/`` as its working
directory (that is how the notebooks find ``../../shared/reference``; without it they
fall back to data of their own).  The kernel is pinned to THIS interpreter: a temporary
``python3`` kernelspec written by ``ipykernel`` goes first on ``JUPYTER_PATH``, so a stale
or foreign ``python3`` kernelspec on the machine (e.g. one whose ``argv`` says ``python``
and resolves to another environment) cannot be picked up.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
from nbclient.exceptions import CellExecutionError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = (
    "01_qaoa_in_jax.ipynb",
    "02_published_models.ipynb",
    "03_meta_training.ipynb",
    "04_speed.ipynb",
)
KERNEL_NAME = "python3"
CELL_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
  """Installs a ``python3`` kernelspec for ``sys.executable`` into a temp prefix."""
  from ipykernel import kernelspec
  from jupyter_client.kernelspec import KernelSpecManager

  prefix = tmp_path_factory.mktemp("jupyter-prefix")
  kernelspec.install(kernel_name=KERNEL_NAME, prefix=str(prefix))
  data_dir = prefix / "share" / "jupyter"
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv("JUPYTER_PATH", os.pathsep.join(
        [str(data_dir)] + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]))
    # jqmeta is importable in the kernel even without an editable install.
    mp.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve(), spec.argv
    yield spec


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_matches_its_source(name):
  source = jupytext.read(NOTEBOOK_DIR / name.replace(".ipynb", ".py"))
  nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
  assert source.metadata["jupytext"]["formats"] == "ipynb,py:percent"
  cells = lambda book: [(c.cell_type, c.source) for c in book.cells]
  assert cells(nb) == cells(source), (
      f"{name} differs from its source {name.replace('.ipynb', '.py')}; run "
      "`jupytext --sync notebooks/*.py`")


def test_every_notebook_source_is_listed():
  assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.py")) == sorted(
      n.replace(".ipynb", ".py") for n in NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_committed_without_outputs(name):
  nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
  nbformat.validate(nb)
  dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
           and (cell.get("outputs") or cell.get("execution_count") is not None)]
  assert not dirty, f"{name}: code cells {dirty} carry outputs or execution counts; clear them"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name, kernel_env):
  nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
  client = nbclient.NotebookClient(
      nb, timeout=CELL_TIMEOUT_S, kernel_name=KERNEL_NAME,
      resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
  start = time.perf_counter()
  try:
    client.execute()
  except CellExecutionError as err:
    pytest.fail(f"{name}: a cell raised an error\n{err}", pytrace=False)
  elapsed = time.perf_counter() - start
  errors = [out for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.get("output_type") == "error"]
  assert not errors, f"{name}: error outputs {[(e.ename, e.evalue) for e in errors]}"
  print(f"{name} executed in {elapsed:.1f} s")
