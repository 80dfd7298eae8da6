"""Old public names (before the 0.2 layout) and where they live now.

Two mechanisms, each defined once:

* :func:`renamed_kwargs`: a decorator that still accepts a function's old keyword names,
  with a ``DeprecationWarning`` naming the new one.
* :data:`MOVED`: ``{old module: {old name: "new.module:new_name"}}`` for the modules the
  0.2 layout dissolved (``jqmeta.train``, ``jqmeta.evaluate``, ``jqmeta.interop``,
  ``jqmeta.reproduce``, ``jqmeta.report``, ``jqmeta.cli``).  :func:`install` registers a
  lazy alias module for each, so ``from jqmeta import train`` and ``import jqmeta.train``
  keep working; every attribute access warns once per name and returns the object itself
  (``jqmeta.train.fit is jqmeta.training.fit``).  The README's changelog lists the same
  table.

Example:
  >>> @renamed_kwargs(max_iter="steps")
  ... def f(*, steps=1):
  ...   return steps
  >>> import warnings
  >>> with warnings.catch_warnings(record=True) as w:
  ...   warnings.simplefilter("always")
  ...   f(max_iter=3), w[0].category.__name__
  (3, 'DeprecationWarning')
"""

from __future__ import annotations

import functools
import importlib
import sys
import types
import warnings
from typing import Callable


RENAMED_KWARGS: dict[str, dict[str, str]] = {}
"""``{"module.function": {old keyword: new keyword}}``, filled by :func:`renamed_kwargs`."""


def renamed_kwargs(**old_to_new: str) -> Callable:
  """Decorator: keyword ``old`` still works as ``new``, with a ``DeprecationWarning``.

  Passing both the old and the new name raises ``TypeError``.  ``inspect.signature`` of
  the result is the new function's (so ``jax.jit(..., static_argnames=...)`` sees the new
  names).  Every use is recorded in :data:`RENAMED_KWARGS`.
  """

  def decorate(fn: Callable) -> Callable:
    RENAMED_KWARGS[f"{fn.__module__}.{fn.__qualname__}"] = dict(old_to_new)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
      for old, new in old_to_new.items():
        if old in kwargs:
          if new in kwargs:
            raise TypeError(f"{fn.__name__}() got both {old!r} (old name) and {new!r}")
          warnings.warn(f"{fn.__name__}({old}=...) is deprecated; use {new}=...",
                        DeprecationWarning, stacklevel=2)
          kwargs[new] = kwargs.pop(old)
      return fn(*args, **kwargs)

    return wrapper

  return decorate


def _table(module: str, names: str) -> dict[str, str]:
  return {n: f"{module}:{n}" for n in names.split()}


MOVED: dict[str, dict[str, str]] = {
    "jqmeta.train": _table("jqmeta.training", (
        "TrainConfig TrainResult PlateauState TrainingDivergedError make_optimizer "
        "learning_rates set_learning_rates plateau_init plateau_update make_epoch_fn "
        "make_val_fn fit load_checkpoint LAST_CHECKPOINT BEST_CHECKPOINT GROUPS PLATEAU_EPS")),
    "jqmeta.evaluate": {
        **_table("jqmeta.phase2", "Phase2Result phase2_sgd combined_curve PHASE2_LR PHASE2_TOL"),
        "PHASE2_MAX_ITER": "jqmeta.phase2:PHASE2_STEPS",
        **_table("jqmeta.baselines",
                 "random_starts random_cut_ratio angle_grid fit_fixed_angles p1_optimum"),
        **_table("jqmeta.metrics", "relative_error mean_curve iterations_to_convergence "
                 "ratio_stats CONVERGENCE_TOL"),
        **_table("jqmeta.evaluation", "evaluate_method"),
    },
    "jqmeta.interop": {
        **_table("jqmeta.io", (
            "UnsafePickleError TorchUnavailableError ALLOWED_PICKLE_GLOBALS REFERENCE_SPLITS "
            "DATASET_FORMAT DATASET_VERSION reference_dir load_reference_dataset load_dataset "
            "save_dataset convert_reference_dataset read_state_dict infer_model_name "
            "to_flax_params load_reference_checkpoint")),
        "MODEL_NAMES": "jqmeta.models:MODEL_NAMES",
    },
    "jqmeta.reproduce": {
        **_table("jqmeta.app.paper", "default_dataset load_splits METHODS LEARNED BASELINES "
                 "PAPER_SIZES QUICK_SIZES"),
        "is_unweighted": "jqmeta.graphs:is_unweighted",
        "run": "jqmeta.app.reproduce:run",
    },
    "jqmeta.report": {
        **_table("jqmeta.app.paper", "PAPER_TABLE2 PAPER_TABLE3 PAPER_CEILINGS"),
        **_table("jqmeta.app.report", "summarize write_all render_markdown figure8 figure9"),
    },
    "jqmeta.cli": _table("jqmeta.app.cli", "main build_parser"),
}
"""``{old module: {old name: "new.module:new_name"}}`` (the README's changelog)."""



def _resolve(target: str):
  module, _, name = target.partition(":")
  return getattr(importlib.import_module(module), name)


class _AliasModule(types.ModuleType):
  """A module object whose attributes resolve through :data:`MOVED` (with a warning)."""

  def __getattr__(self, name: str):
    table = MOVED[self.__name__]
    if name not in table:
      raise AttributeError(f"module {self.__name__!r} has no attribute {name!r} (it was "
                           f"dissolved in jqmeta 0.2; see the README's changelog)")
    target = table[name]
    warnings.warn(f"{self.__name__}.{name} moved to {target.replace(':', '.')}",
                  DeprecationWarning, stacklevel=2)
    value = _resolve(target)
    setattr(self, name, value)  # warn once per name
    return value

  def __dir__(self):
    return sorted(MOVED[self.__name__])


def install(package: types.ModuleType) -> None:
  """Registers the alias modules of :data:`MOVED` under ``package`` (``jqmeta``)."""
  for old in MOVED:
    if old not in sys.modules:
      alias = _AliasModule(old, f"Deprecated alias: {old} was dissolved in jqmeta 0.2.")
      sys.modules[old] = alias
    setattr(package, old.rpartition(".")[2], sys.modules[old])
