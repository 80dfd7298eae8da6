"""jqmeta: JAX-native meta-learned QAOA.

The flat public API: ``import jqmeta as jq`` then ``jq.energy``, ``jq.fit``, ... (every
name in ``__all__``), or the modules themselves (``jq.qaoa``, ``jq.training``, ...):

* ``graphs``: the padded ``Graph`` pytree, networkx conversion, batching, generators;
* ``problems``: problem families (Erdos-Renyi, regular, weighted, Sherrington-Kirkpatrick);
* ``qaoa``: exact statevector and closed-form p=1 energies, max cut, prepared problems (no flax);
* ``shots``: finite shots: sampling, estimates, shot-based gradients, Phase II on a budget;
* ``circuits``, ``kernels``: small gate circuits and quantum fidelity kernels;
* ``models``, ``meta``: the four learned optimizers as Flax cells; Phase I and meta-losses;
* ``training``: meta-training (any optax optimizer; the paper's by default), checkpoints;
* ``phase2``, ``baselines``, ``metrics``, ``evaluation``: the test protocol, and the
  published parameter-setting rules that need no learning;
* ``study``: learned optimizers against those rules at depth p > 1 (``jqmeta study``);
* ``io``: graph datasets and the published PyTorch checkpoints;
* ``parallel``: batches sharded over devices and hosts;
* ``app``: the paper's application (``jqmeta reproduce`` and the command line).

Names resolve lazily, so ``import jqmeta.qaoa`` imports neither flax nor optax.  Module
names of jqmeta < 0.2 (``train``, ``evaluate``, ``interop``, ``reproduce``, ``report``,
``cli``) still work, with a ``DeprecationWarning`` (see the README's changelog).

Example:
  >>> import jax.numpy as jnp, networkx as nx
  >>> import jqmeta as jq
  >>> g = jq.from_networkx(nx.cycle_graph(4))
  >>> round(float(jq.energy(jnp.zeros((2, 1)), g)), 4)
  -2.0
"""
from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

__version__ = "0.3.0"

_MODULES = ("graphs", "problems", "qaoa", "shots", "circuits", "kernels", "models", "meta",
            "training", "phase2", "baselines", "metrics", "evaluation", "study", "io",
            "parallel", "app")

# name -> the public module that defines it (the flat API, one entry per name)
_API = {
    **dict.fromkeys(("Graph", "from_networkx", "to_networkx", "stack", "unstack",
                     "erdos_renyi", "is_unweighted"), "graphs"),
    **dict.fromkeys(("energy", "expected_cut", "state", "cut_values", "max_cut", "min_cut",
                     "approximation_ratio", "analytic_p1_energy", "check_angles",
                     "memory_limit", "statevector_bytes", "prepare", "Prepared"), "qaoa"),
    **dict.fromkeys(("sample", "estimate_energy", "best_sampled_cut", "SampledCut",
                     "parameter_shift_gradient", "spsa_gradient", "gradient_shots",
                     "phase2_shots", "ShotsPhase2Result"), "shots"),
    **dict.fromkeys(("fidelity_kernel", "feature_map"), "kernels"),
    **dict.fromkeys(("create", "count_params", "param_labels"), "models"),
    **dict.fromkeys(("phase1", "phase1_measured", "Phase1Measured", "weighted_loss",
                     "observed_improvement_loss", "meta_loss"), "meta"),
    **dict.fromkeys(("TrainConfig", "TrainResult", "TrainingDivergedError", "fit",
                     "make_optimizer", "make_epoch_fn", "make_val_fn", "load_checkpoint",
                     "load_model"),
                    "training"),
    **dict.fromkeys(("Phase2Result", "phase2_sgd", "combined_curve"), "phase2"),
    **dict.fromkeys(("random_starts", "random_cut_ratio", "angle_grid", "fold_angles",
                     "fit_fixed_angles", "p1_optimum", "p1_optimum_batch",
                     "regular_fixed_angles", "regular_fixed_angles_ratio", "sk_angles",
                     "sk_energy", "rescaled_sk_angles", "linear_ramp", "fit_linear_ramp",
                     "median_angles", "interp", "best_found", "best_found_batch",
                     "BestFound"), "baselines"),
    **dict.fromkeys(("ratio_from_energy", "relative_error", "mean_curve",
                     "iterations_to_convergence", "ratio_stats"), "metrics"),
    **dict.fromkeys(("evaluate_method", "phase1_batch", "two_phase"), "evaluation"),
    **dict.fromkeys(("load_dataset", "save_dataset", "load_reference_dataset",
                     "load_reference_checkpoint", "read_state_dict"), "io"),
    **dict.fromkeys(("make_mesh", "sharded_map", "batch_energy", "batch_energy_and_grad",
                     "batch_phase1"), "parallel"),
}

__all__ = list(_MODULES) + list(_API) + ["__version__"]


def __getattr__(name: str):
  if name in _MODULES:
    return importlib.import_module(f"{__name__}.{name}")
  if name in _API:
    value = getattr(importlib.import_module(f"{__name__}.{_API[name]}"), name)
    globals()[name] = value  # resolve once
    return value
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
  return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static analysers and IDEs see the eager imports
  from jqmeta import (app, baselines, circuits, evaluation, graphs, io, kernels, meta,  # noqa
                      metrics, models, parallel, phase2, problems, qaoa, shots, study,
                      training)


def _install_legacy_aliases() -> None:
  from jqmeta._src import legacy  # pylint: disable=import-outside-toplevel
  legacy.install(sys.modules[__name__])


_install_legacy_aliases()
