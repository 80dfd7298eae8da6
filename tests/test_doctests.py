"""Runs the ``>>>`` examples in the docstrings of every ``jqmeta`` module.

Every module of the package is collected: the public ones, the paper's application
(``jqmeta.app``) and the private implementation modules (``jqmeta._src``), whose
docstrings document the internal API that tests and benchmarks use.

Examples marked ``# doctest: +SKIP`` (they need the reference data, write files or
train for a while) are skipped by doctest itself.  Every other example must pass with
doctest's default option flags (an example that needs ``ELLIPSIS`` says so inline).
Examples run in a temporary working directory and with JAX's default precision
(float32), whatever other tests in the session did to the global config.
"""
from __future__ import annotations

import doctest
import importlib
import io
import pkgutil

import jax
import pytest

import jqmeta

PUBLIC_MODULES = ["jqmeta"] + sorted(
    info.name for info in pkgutil.walk_packages(jqmeta.__path__, prefix="jqmeta.")
    if not info.name.endswith("__main__"))

# "module.qualified.name" of a docstring whose examples are known to fail -> reason.
# Each entry is a library bug to fix in the module; the test skips only those docstrings.
KNOWN_FAILURES: dict[str, str] = {}


def _doctests(module_name: str):
  module = importlib.import_module(module_name)
  finder = doctest.DocTestFinder(exclude_empty=True)
  # Only docstrings defined in this module (not objects it re-exports).
  return [t for t in finder.find(module, module_name) if t.examples]


def test_every_public_module_is_collected():
  assert "jqmeta.qaoa" in PUBLIC_MODULES and "jqmeta.training" in PUBLIC_MODULES
  assert "jqmeta._src.validation" in PUBLIC_MODULES and "jqmeta.app.paper" in PUBLIC_MODULES
  total = sum(len(t.examples) for m in PUBLIC_MODULES for t in _doctests(m))
  assert total > 50, f"only {total} docstring examples found; is the package importable?"


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_docstring_examples(module_name, tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # an example that writes files leaves the repository alone
  tests = _doctests(module_name)
  if not tests:
    return  # e.g. jqmeta.cli, jqmeta.report: nothing to run
  runner = doctest.DocTestRunner(verbose=False)
  report = io.StringIO()
  skipped = []
  with jax.enable_x64(False):
    for test in tests:
      if test.name in KNOWN_FAILURES:
        skipped.append(f"{test.name}: {KNOWN_FAILURES[test.name]}")
        continue
      runner.run(test, out=report.write)
  result = runner.summarize(verbose=False)
  assert result.failed == 0, (
      f"{result.failed} of {result.attempted} docstring examples failed in {module_name}:\n"
      f"{report.getvalue()}")
  if skipped:
    pytest.skip("known failing docstrings (library bugs to fix): " + "; ".join(skipped))
