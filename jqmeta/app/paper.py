"""The paper's constants and datasets (Lin, Hsu, Chen 2025; ``shared/reference/README.md``).

* Sizes of the published dataset (:data:`PAPER_SIZES`) and of ``--quick`` runs;
* the methods of the comparison: the four learned models (:data:`LEARNED`, the names of
  :data:`jqmeta.models.MODEL_NAMES`) and the baselines (:data:`BASELINES`);
* the published Tables II and III and the ceilings measured on the published test set;
* :func:`default_dataset` (the embedded seeded Erdős–Rényi draw with the paper's sizes),
  :func:`load_splits` (the published pickle or a native JSON dataset),
  :func:`quick_subset`; :data:`ENERGY_METHOD`.

Example:
  >>> from jqmeta.app import paper
  >>> paper.LEARNED
  ('lstm', 'qk_lstm', 'qlstm', 'qfwp')
"""

from __future__ import annotations

from typing import Optional

import networkx as nx
import numpy as np

from jqmeta import graphs, io, models

__all__ = ["PAPER_SIZES", "QUICK_SIZES", "QUICK_P1_SEARCH", "LEARNED", "BASELINES", "METHODS", "DISPLAY_NAMES",
           "PAPER_TABLE2", "PAPER_TABLE3", "PAPER_CEILINGS", "default_dataset", "load_splits",
           "quick_subset", "ENERGY_METHOD"]

PAPER_SIZES = {
    "train_data": {6: 168, 7: 224, 8: 280, 9: 336},
    "val_data": {10: 5},
    "test_data": {10: 14, 11: 16, 12: 18, 13: 20, 14: 22},
}
"""``{split: {n_nodes: count}}`` of the published dataset."""

QUICK_SIZES = {
    "train_data": {6: 8, 7: 8, 8: 8, 9: 8},
    "val_data": {10: 2},
    "test_data": {10: 2, 11: 2, 12: 2, 13: 2, 14: 2},
}
"""The subset a ``--quick`` run keeps of each split."""

ENERGY_METHOD = "auto"
"""The energy method of every pipeline stage: the exact p=1 closed form (any weights,
:func:`jqmeta.qaoa.analytic_p1_energy`) at p = 1, the statevector above."""

QUICK_P1_SEARCH = {"grid": 8, "steps": 20}
"""``baselines.p1_optimum`` settings of a ``--quick`` run: still the exact p=1 optimum
(fundamental-domain grid, distinct starts, Newton polish; tested to 1e-6 of a polished
dense grid on every test graph)."""

LEARNED = models.MODEL_NAMES
BASELINES = ("random", "fixed_angles", "p1_optimum")
METHODS = LEARNED + BASELINES

DISPLAY_NAMES = {"qk_lstm": "QK-LSTM", "lstm": "LSTM", "qlstm": "QLSTM", "qfwp": "QFWP",
                 "random": "Random seed", "fixed_angles": "Fixed angles",
                 "p1_optimum": "p=1 optimum"}

PAPER_TABLE2 = {
    "qk_lstm": {10: 48, 11: 45, 12: 41, 13: 35},
    "lstm": {10: 86, 11: 82, 12: 76, 13: 72},
    "qlstm": {10: 57, 11: 49, 12: 49, 13: 47},
    "qfwp": {10: 128, 11: 141, 12: 111, 13: 177},
    "random": {10: 177, 11: 155, 12: 146, 13: 145},
}
"""Table II: iterations to convergence (paper)."""

PAPER_TABLE3 = {
    "qk_lstm": {"phase1": {10: (.82, .03), 11: (.83, .01), 12: (.81, .03), 13: (.83, .03)},
                "phase2": {10: (.83, .03), 11: (.84, .01), 12: (.82, .03), 13: (.84, .03)}},
    "lstm": {"phase1": {10: (.79, .03), 11: (.79, .02), 12: (.76, .03), 13: (.77, .03)},
             "phase2": {10: (.80, .03), 11: (.81, .02), 12: (.78, .03), 13: (.80, .03)}},
    "qlstm": {"phase1": {10: (.81, .04), 11: (.82, .02), 12: (.78, .02), 13: (.81, .03)},
              "phase2": {10: (.82, .03), 11: (.84, .02), 12: (.81, .03), 13: (.83, .03)}},
    "qfwp": {"phase1": {10: (.63, .05), 11: (.62, .05), 12: (.55, .04), 13: (.65, .05)},
             "phase2": {10: (.70, .05), 11: (.70, .05), 12: (.66, .05), 13: (.72, .05)}},
    "random": {"phase1": {},
               "phase2": {10: (.70, .05), 11: (.72, .04), 12: (.71, .04), 13: (.75, .04)}},
}
"""Table III: approximation ratio (mean, std) after Phase I and after 10 Phase II steps."""

PAPER_CEILINGS = {
    "p1_optimum": {10: .837, 11: .851, 12: .826, 13: .836, 14: .844},
    "fixed_angles": {10: .819, 11: .830, 12: .806, 13: .816, 14: .823},
}
"""Ceilings on the paper's test set (reference README, grid searches at p=1)."""


def default_dataset(seed: int = 0, sizes: Optional[dict] = None) -> dict[str, list[nx.Graph]]:
  """The embedded seeded Erdős–Rényi dataset (paper sizes unless ``sizes`` is given).

  Each split/size draws ``count`` graphs with edge probabilities
  ``linspace(0.2, 0.95, count)`` from ``numpy.random.default_rng([seed, split, n])``
  through :func:`jqmeta.graphs.erdos_renyi` (a graph without edges is redrawn).  Same
  seed, same graphs.

  Args:
    seed: ``int`` seed.
    sizes: optional ``{split: {n_nodes: count}}`` (default :data:`PAPER_SIZES`).

  Returns:
    ``{split: [nx.Graph, ...]}`` (networkx graphs, no arrays), in ``sizes`` order.

  Example:
    >>> splits = default_dataset(sizes={"train_data": {6: 2}, "test_data": {10: 1}})
    >>> {k: [G.number_of_nodes() for G in v] for k, v in splits.items()}
    {'train_data': [6, 6], 'test_data': [10]}
  """
  sizes = PAPER_SIZES if sizes is None else sizes
  out = {}
  for s, (split, counts) in enumerate(sizes.items()):
    drawn = []
    for n, count in counts.items():
      rng = np.random.default_rng([seed, s, n])
      drawn += [graphs.erdos_renyi(rng, n, float(prob), connected=False, min_edges=1)
                for prob in np.linspace(0.2, 0.95, count)]
    out[split] = drawn
  return out


def load_splits(path) -> dict[str, list[nx.Graph]]:
  """Loads the paper's pickle (restricted unpickler) or a native dataset file.

  Args:
    path: the paper's ``datasets.pkl`` or a native ``.json`` dataset
      (:func:`jqmeta.io.save_dataset`).

  Returns:
    ``{split: [nx.Graph, ...]}`` with non-empty ``train_data`` / ``val_data`` /
    ``test_data`` (networkx graphs, no arrays); raises ``ValueError`` otherwise.

  Example:
    >>> import tempfile
    >>> tiny = default_dataset(sizes={split: {4: 1} for split in PAPER_SIZES})
    >>> path = io.save_dataset(tempfile.mkdtemp() + "/tiny.json", tiny)
    >>> {k: len(v) for k, v in load_splits(path).items()}
    {'train_data': 1, 'val_data': 1, 'test_data': 1}
  """
  splits = io.load_dataset(path)
  missing = [k for k in PAPER_SIZES if k not in splits or not splits[k]]
  if missing:
    raise ValueError(f"dataset {path} lacks non-empty splits {missing}; "
                     f"expected {list(PAPER_SIZES)}")
  return splits


def quick_subset(splits: dict[str, list[nx.Graph]]) -> dict[str, list[nx.Graph]]:
  """The :data:`QUICK_SIZES` subset of each split, spread evenly over each size's graphs.

  Example:
    >>> {k: len(v) for k, v in quick_subset(default_dataset()).items()}
    {'train_data': 32, 'val_data': 2, 'test_data': 10}
  """
  out = {}
  for split, counts in QUICK_SIZES.items():
    chosen = []
    for n, count in counts.items():
      pool = [G for G in splits[split] if G.number_of_nodes() == n]
      idx = np.linspace(0, len(pool) - 1, min(count, len(pool))).round().astype(int)
      chosen += [pool[i] for i in sorted(set(idx))]
    out[split] = chosen or splits[split][:2]
  return out
