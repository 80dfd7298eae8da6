"""The package layout: size limits, layering, the flat API, and the names of jqmeta < 0.2.

* every module stays under about 500 lines and every function under about 60 lines of
  code (docstrings, comments and blank lines not counted);
* the library never imports the paper's application (``jqmeta.app``), and the simulator
  imports neither flax nor optax;
* tests and benchmarks reach internals through ``jqmeta._src`` only, never through a
  private name of a public module;
* every name of the flat API resolves, and every old public name still works, with a
  ``DeprecationWarning``, as the very object it moved to.
"""
from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import jqmeta
from jqmeta._src import legacy

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jqmeta"
MODULE_FILES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 520
MAX_FUNCTION_CODE_LINES = 60


def _code_lines(node: ast.AST, source_lines: list[str]) -> int:
  """Lines of ``node`` that are code: no docstring, comment-only or blank lines."""
  skip = set()
  body = getattr(node, "body", [])
  if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None),
                                                           ast.Constant) and isinstance(
                                                               body[0].value.value, str):
    skip.update(range(body[0].lineno, body[0].end_lineno + 1))
  count = 0
  for number in range(node.lineno, node.end_lineno + 1):
    text = source_lines[number - 1].strip()
    if number not in skip and text and not text.startswith("#"):
      count += 1
  return count


def _functions(path: Path):
  source = path.read_text()
  lines = source.splitlines()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      yield node.name, node.lineno, _code_lines(node, lines)


def test_modules_stay_small():
  sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in MODULE_FILES}
  big = {k: v for k, v in sizes.items() if v > MAX_MODULE_LINES}
  assert not big, f"modules over {MAX_MODULE_LINES} lines: {big}"


def test_functions_stay_short():
  long = [f"{p.relative_to(ROOT)}:{line} {name} ({n} lines)" for p in MODULE_FILES
          for name, line, n in _functions(p) if n > MAX_FUNCTION_CODE_LINES]
  assert not long, f"functions over {MAX_FUNCTION_CODE_LINES} lines of code: {long}"


def test_library_does_not_import_the_application():
  offenders = [str(p.relative_to(ROOT)) for p in MODULE_FILES
               if "app" not in p.relative_to(PACKAGE).parts and p.name not in ("__init__.py", "__main__.py")
               and re.search(r"^\s*(from jqmeta\.app|from jqmeta import app|import jqmeta\.app)",
                             p.read_text(), re.M)]
  assert not offenders, f"library modules importing jqmeta.app: {offenders}"


_PUBLIC = sorted(p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_"))


@pytest.mark.parametrize("folder", ["tests", "benchmarks"])
def test_no_private_names_of_public_modules(folder):
  pattern = re.compile(r"\b(" + "|".join(_PUBLIC) + r")\._[a-zA-Z]")
  hits = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
          for p in sorted((ROOT / folder).rglob("*.py")) if p.name != "test_layout.py"
          for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
  assert not hits, "use jqmeta._src.<module> for internals:\n" + "\n".join(hits)


def test_simulator_imports_without_flax_or_optax():
  code = ("import sys, jax.numpy as jnp, networkx as nx\n"
          "import jqmeta.qaoa as qaoa, jqmeta.graphs as graphs\n"
          "g = graphs.from_networkx(nx.cycle_graph(5))\n"
          "e = float(qaoa.energy(jnp.full((2, 2), 0.3), g))\n"
          "print(sorted(m for m in ('flax', 'optax') if m in sys.modules))\n")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
  assert out.returncode == 0, out.stderr[-3000:]
  assert out.stdout.strip() == "[]", out.stdout


def test_flat_api_resolves():
  for name in jqmeta.__all__:
    assert getattr(jqmeta, name) is not None, name
  assert jqmeta.energy is jqmeta.qaoa.energy and jqmeta.fit is jqmeta.training.fit
  assert set(jqmeta._MODULES) <= set(jqmeta.__all__)


_MOVED = [(old, name, target) for old, table in legacy.MOVED.items()
          for name, target in table.items()]


@pytest.mark.parametrize("old,name,target", _MOVED, ids=[f"{o}.{n}" for o, n, _ in _MOVED])
def test_old_names_still_work(old, name, target):
  module, _, new_name = target.partition(":")
  new = getattr(importlib.import_module(module), new_name)
  alias = importlib.import_module(old)
  alias.__dict__.pop(name, None)  # forget a cached resolution so the warning shows again
  with pytest.warns(DeprecationWarning, match=name):
    got = getattr(alias, name)
  assert got is new


def test_old_module_imports_still_work():
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from jqmeta import evaluate, train  # noqa: F401  pylint: disable=import-outside-toplevel
    import jqmeta.interop  # noqa: F401  pylint: disable=import-outside-toplevel
    assert train.fit is jqmeta.training.fit and evaluate.phase2_sgd is jqmeta.phase2.phase2_sgd
  with pytest.raises(AttributeError, match="changelog"):
    jqmeta.train.no_such_name  # pylint: disable=pointless-statement


def test_renamed_keywords_still_work():
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import networkx as nx  # pylint: disable=import-outside-toplevel
  assert set(legacy.RENAMED_KWARGS) >= {"jqmeta.phase2.phase2_sgd",
                                        "jqmeta.evaluation.evaluate_method",
                                        "jqmeta.baselines.fit_fixed_angles"}
  g = jqmeta.from_networkx(nx.cycle_graph(4))
  a = jnp.array([[0.3], [0.2]])
  with pytest.warns(DeprecationWarning, match="steps"):
    old = jqmeta.phase2_sgd(a, g, max_iter=3, lr=0.1)
  new = jqmeta.phase2_sgd(a, g, steps=3, lr=0.1)
  assert old.costs.tolist() == new.costs.tolist() and int(old.n_iter) == int(new.n_steps)
  with pytest.raises(TypeError, match="both"):
    jqmeta.phase2_sgd(a, g, max_iter=3, steps=3)


def test_readme_changelog_lists_every_moved_name():
  readme = (ROOT / "README.md").read_text()
  section = readme[readme.index("## Changelog"):]
  bullets, current = {}, None
  for line in section.splitlines():  # a bullet and its indented continuation lines
    if line.startswith("- `jqmeta."):
      current = line.split("`")[1]
      bullets[current] = line
    elif current and line.startswith("  "):
      bullets[current] += " " + line.strip()
    else:
      current = None
  missing = [f"{old}.{name}" for old, name, _ in _MOVED
             if f"`{name}`" not in bullets.get(old, "")]
  missing += [f"{fn}({old}=)" for fn, table in legacy.RENAMED_KWARGS.items()
              for old in table if f"{old}=" not in section]
  assert not missing, f"README changelog lacks {missing}"
