"""``jqmeta reproduce``: the paper's whole pipeline from one call.

Train the four learned optimizers on the small graphs, run the two-phase protocol on
the test graphs together with every baseline, and write Tables II/III, Figures 8/9 and
a report (see :mod:`jqmeta.report`).

The embedded default dataset (no ``--dataset``) is a seeded Erdős–Rényi draw with the
paper's sizes: 1008 training graphs n=6..9 (168/224/280/336), 5 validation graphs
n=10 and 90 test graphs n=10..14 (14/16/18/20/22), each graph with its own edge
probability spread evenly over [0.2, 0.95] (empty graphs redrawn).

Example:
  >>> from jqmeta import reproduce
  >>> summary = reproduce.run(out="runs/quick", quick=True, progress=False)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Optional

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

from jqmeta import evaluate, graphs, interop, meta, models, parallel, qaoa, report, train

__all__ = ["default_dataset", "load_splits", "run", "is_unweighted", "METHODS", "LEARNED",
           "BASELINES",
           "PAPER_SIZES"]

LEARNED = ("lstm", "qk_lstm", "qlstm", "qfwp")
BASELINES = ("random", "fixed_angles", "p1_optimum")
METHODS = LEARNED + BASELINES
PAPER_SIZES = {
    "train_data": {6: 168, 7: 224, 8: 280, 9: 336},
    "val_data": {10: 5},
    "test_data": {10: 14, 11: 16, 12: 18, 13: 20, 14: 22},
}
QUICK_SIZES = {
    "train_data": {6: 8, 7: 8, 8: 8, 9: 8},
    "val_data": {10: 2},
    "test_data": {10: 2, 11: 2, 12: 2, 13: 2, 14: 2},
}


def default_dataset(seed: int = 0, sizes: Optional[dict] = None) -> dict[str, list[nx.Graph]]:
  """The embedded seeded Erdős–Rényi dataset (paper sizes unless ``sizes`` is given).

  Each split/size draws ``count`` graphs with edge probabilities
  ``linspace(0.2, 0.95, count)`` from ``numpy.random.default_rng([seed, split, n])``;
  a graph without edges is redrawn.  Same seed, same graphs.

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
    graphs_ = []
    for n, count in counts.items():
      rng = np.random.default_rng([seed, s, n])
      for prob in np.linspace(0.2, 0.95, count):
        while True:
          G = nx.gnp_random_graph(n, float(prob), seed=int(rng.integers(2**31 - 1)))
          if G.number_of_edges():
            break
        graphs_.append(G)
    out[split] = graphs_
  return out


def load_splits(path) -> dict[str, list[nx.Graph]]:
  """Loads the paper's pickle (restricted unpickler) or a native dataset file.

  Args:
    path: the paper's ``datasets.pkl`` or a native ``.json`` dataset
      (:func:`jqmeta.interop.save_dataset`).

  Returns:
    ``{split: [nx.Graph, ...]}`` with non-empty ``train_data`` / ``val_data`` /
    ``test_data`` (networkx graphs, no arrays); raises ``ValueError`` otherwise.

  Example:
    >>> import tempfile
    >>> tiny = default_dataset(sizes={split: {4: 1} for split in PAPER_SIZES})
    >>> path = interop.save_dataset(tempfile.mkdtemp() + "/tiny.json", tiny)
    >>> {k: len(v) for k, v in load_splits(path).items()}
    {'train_data': 1, 'val_data': 1, 'test_data': 1}
  """
  splits = interop.load_dataset(path)
  missing = [k for k in PAPER_SIZES if k not in splits or not splits[k]]
  if missing:
    raise ValueError(f"dataset {path} lacks non-empty splits {missing}; "
                     f"expected {list(PAPER_SIZES)}")
  return splits


def _quick_subset(splits):
  out = {}
  for split, counts in QUICK_SIZES.items():
    chosen = []
    for n, count in counts.items():
      pool = [G for G in splits[split] if G.number_of_nodes() == n]
      idx = np.linspace(0, len(pool) - 1, min(count, len(pool))).round().astype(int)
      chosen += [pool[i] for i in sorted(set(idx))]
    out[split] = chosen or splits[split][:2]
  return out


def is_unweighted(gs) -> bool:
  """True when no edge of the networkx graphs ``gs`` has a weight other than 1.

  Example:
    >>> import networkx as nx
    >>> is_unweighted([nx.path_graph(3)]), is_unweighted([nx.Graph([(0, 1, {"weight": 2})])])
    (True, False)
  """
  return all(d.get("weight", 1) == 1 for G in gs for _, _, d in G.edges(data=True))


def _batched(fn, mesh):
  """``jit(vmap(fn))``, or its sharded version over ``mesh`` (see jqmeta.parallel)."""
  return jax.jit(jax.vmap(fn)) if mesh is None else parallel.sharded_map(fn, mesh)


def run(dataset=None, out="runs/reproduce", *, quick: bool = False, variant: str = "reference",
        seed: int = 0, epochs: Optional[int] = None, p: int = 1, progress: bool = True,
        mesh=None) -> dict[str, Any]:
  """Runs the full reproduction and writes every artefact to ``out``.

  Args:
    dataset: path to the paper's ``datasets.pkl`` or a native ``.json`` dataset;
      ``None`` uses :func:`default_dataset`.
    out: output folder (created).
    quick: shrink data, epochs and Phase II so the run takes well under a minute.
    variant: ``"reference"`` (published models) or ``"corrected"``.
    seed: seed for model initialisation, random starts and the default dataset.
    epochs: override the maximum number of epochs (paper: 50).
    p: QAOA depth (paper: 1).
    progress: show progress bars.
    mesh: optional ``jax.sharding.Mesh`` to shard graph batches (see ``jqmeta.parallel``).

  Returns:
    The summary dict also written to ``out/summary.json`` (plain JSON types, no
    arrays): ``table3`` / ``table2`` per method and graph size (see
    :func:`jqmeta.report.summarize`), settings, timings and ``wall_seconds``.

  Example:
    >>> summary = run(out="runs/quick", quick=True, progress=False)  # doctest: +SKIP
    >>> sorted(summary["table3"])  # doctest: +SKIP
    ['fixed_angles', 'lstm', 'p1_optimum', 'qfwp', 'qk_lstm', 'qlstm', 'random']
  """
  if variant not in models.VARIANTS:
    raise ValueError(f"variant must be one of {models.VARIANTS}, got {variant!r}")
  start = time.perf_counter()
  out = Path(out)
  out.mkdir(parents=True, exist_ok=True)
  splits = default_dataset(seed) if dataset is None else load_splits(dataset)
  source = "embedded seeded Erdos-Renyi" if dataset is None else str(dataset)
  if quick:
    splits = _quick_subset(splits)
  train_nx, val_nx, test_nx = splits["train_data"], splits["val_data"], splits["test_data"]
  unweighted = is_unweighted(train_nx + val_nx + test_nx)
  method = "auto" if (unweighted and p == 1) else "statevector"

  timings: dict[str, float] = {}
  clock = [time.perf_counter()]

  def lap(name):
    now = time.perf_counter()
    timings[name] = round(now - clock[0], 2)
    clock[0] = now

  train_b = graphs.stack([graphs.from_networkx(G) for G in train_nx])
  val_b = graphs.stack([graphs.from_networkx(G) for G in val_nx])
  test_b = graphs.stack([graphs.from_networkx(G) for G in test_nx])
  sizes = np.array([G.number_of_nodes() for G in test_nx])
  G = len(test_nx)
  batch_max_cut = jax.jit(jax.vmap(qaoa.max_cut))
  train_max_cuts = np.asarray(batch_max_cut(train_b))
  lap("max_cut")

  max_epochs = epochs if epochs is not None else (2 if quick else 50)
  config = train.TrainConfig(epochs=max_epochs, method=method)
  key = jax.random.key(seed)
  paths: dict[str, np.ndarray] = {}
  training: dict[str, Any] = {}
  for k, name in enumerate(LEARNED):
    cell = models.create(name, variant=variant, p=p)
    variables = meta.init(cell, jax.random.fold_in(key, k))
    t0 = time.perf_counter()
    fitted = train.fit(cell, variables, train_b, val_b, config,
                       checkpoint_dir=out / "checkpoints" / name, progress=progress)
    train_s = time.perf_counter() - t0
    phase1 = _batched(lambda g, v=fitted.variables, c=cell: meta.phase1(
        c, v, g, steps=config.steps, method=method), mesh)
    paths[name] = np.asarray(phase1(test_b)[0])
    training[name] = {"epochs": len(fitted.history), "best_epoch": fitted.best_epoch,
                      "stopped": fitted.stopped, "seconds": round(train_s, 2),
                      "params": models.count_params(fitted.variables["params"]),
                      "history": fitted.history}
    lap(f"train_{name}")

  fixed = np.asarray(evaluate.fit_fixed_angles(train_b, p=p, max_cuts=train_max_cuts,
                                               grid=16 if quick else 64,
                                               refine_steps=20 if quick else 200, method=method))
  lap("fit_fixed_angles")
  starts = np.asarray(evaluate.random_starts(jax.random.fold_in(key, 100), G, p, n_seeds=2))

  # Phase II in float64: with |C| ~ 10-30 a float32 cost moves in steps of ~1e-6,
  # the size of the published stopping tolerance.
  with jax.enable_x64(True):
    test64 = graphs.stack([graphs.from_networkx(G_) for G_ in test_nx])
    max_cuts = np.asarray(_batched(qaoa.max_cut, mesh)(test64))
    search = dict(grid=12, steps=60) if quick else {}
    opt = _batched(lambda g: evaluate.p1_optimum(g, method=method, **search), mesh)(test64)
    opt_angles = np.asarray(opt[0])
    lap("p1_optimum")
    phase2 = dict(lr=1e-3, max_iter=30 if quick else 300, tol=1e-6, method=method)
    def run2(first, start):
      args = (None if first is None else np.asarray(first, np.float64),
              np.asarray(start, np.float64), test64, max_cuts)
      if mesh is not None:  # pad to the device count and split the batch axis
        args = parallel.shard_batch(parallel.pad_batch(args, len(mesh.devices.flat))[0], mesh)
      res = evaluate.evaluate_method(*args, **phase2)
      return {k: (v if v is None or np.ndim(v) == 0 else np.asarray(v)[:G])
              for k, v in res.items()}
    results: dict[str, dict] = {name: run2(a, a[:, -1]) for name, a in paths.items()}
    rand = [run2(None, s) for s in starts]
    results["random"] = {k: (v if v is None or np.ndim(v) == 0
                             else np.concatenate([r[k] for r in rand]))
                         for k, v in rand[0].items()}  # pooled over the seeds
    # The baselines' angles play the role of a one-step Phase I.
    fixed_g = np.broadcast_to(fixed, (G,) + fixed.shape)
    results["fixed_angles"] = run2(fixed_g[:, None], fixed_g)
    results["p1_optimum"] = run2(opt_angles[:, None], opt_angles)
    random_cut = np.asarray(jax.vmap(evaluate.random_cut_ratio)(test64, jnp.asarray(max_cuts)))
  lap("phase2")

  rand_sizes = np.concatenate([sizes, sizes])
  summary = report.summarize(results, {m: (rand_sizes if m == "random" else sizes)
                                       for m in results}, random_cut, sizes)
  summary.update({
      "dataset": source, "quick": quick, "variant": variant, "p": p, "seed": seed,
      "energy_method": method, "fixed_angles": fixed.tolist(),
      "n_graphs": {k: len(v) for k, v in splits.items()},
      "training": {k: {kk: vv for kk, vv in v.items() if kk != "history"}
                   for k, v in training.items()},
      "phase2": {k: v for k, v in phase2.items() if k != "method"},
      "convergence_tol": evaluate.CONVERGENCE_TOL, "timings_s": timings,
      "devices": [str(d) for d in jax.devices()],
  })
  summary["wall_seconds"] = round(time.perf_counter() - start, 1)
  report.write_all(out, summary, results, sizes, test_nx, paths, fixed, opt_angles,
                   {k: v["history"] for k, v in training.items()})
  lap("report")
  summary["wall_seconds"] = round(time.perf_counter() - start, 1)
  (out / "summary.json").write_text(json.dumps(summary, indent=2))
  return summary
