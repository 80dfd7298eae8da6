"""``jqmeta reproduce``: the paper's whole pipeline from one call, as named stages.

1. :func:`load_data`: the dataset (embedded seeded draw, the paper's pickle, or a JSON
   file), stacked into graph batches;
2. :func:`train_models`: meta-train the four learned optimizers (checkpointed, resumable);
3. :func:`fit_baselines`: the fixed angle pair (training graphs only), the random starts
   and the per-graph p=1 optimum;
4. :func:`evaluate_all`: the two-phase protocol on the test graphs for every method;
5. :func:`summarize` and the report (:mod:`jqmeta.app.report`).

The embedded default dataset (no ``--dataset``) is a seeded Erdős–Rényi draw with the
paper's sizes: 1008 training graphs n=6..9 (168/224/280/336), 5 validation graphs
n=10 and 90 test graphs n=10..14 (14/16/18/20/22), each graph with its own edge
probability spread evenly over [0.2, 0.95] (empty graphs redrawn).

Example:
  >>> from jqmeta.app import reproduce
  >>> summary = reproduce.run(out="runs/quick", quick=True, progress=False)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from pathlib import Path
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jqmeta import (baselines, evaluation, graphs, meta, metrics, models, parallel, phase2,
                    qaoa, training)
from jqmeta._src import fileio, validation
from jqmeta.app import paper, report
from jqmeta.app.progress import Stages

__all__ = ["Data", "load_data", "train_models", "fit_baselines", "evaluate_all", "summarize",
           "run", "WALL_COVERS"]


class Data(NamedTuple):
  """A dataset ready for the pipeline (one name per split, as in the paper's pickle).

  Fields: ``splits`` ``{split: [nx.Graph]}``; ``train`` / ``val`` / ``test`` batched
  ``Graph`` (float32 weights); ``sizes`` ``(G,)`` int node counts of the test graphs;
  ``method`` the energy method every stage uses; ``source`` a description.
  """
  splits: dict
  train: graphs.Graph
  val: graphs.Graph
  test: graphs.Graph
  sizes: np.ndarray
  method: str
  source: str


WALL_COVERS = ("from the start of reproduce.run to just before report.md is written: data, "
               "meta-training, baselines, evaluation, tables and figures; not interpreter "
               "start-up and imports")
"""What ``summary["wall_seconds"]`` covers (``summary["wall_covers"]``)."""


class _Clock:
  """Wall-clock laps of the stages (``timings_s`` in the summary) and their stage lines."""

  def __init__(self, stages: Optional[Stages] = None):
    self.start = self.last = time.perf_counter()
    self.laps: dict[str, float] = {}
    self.stages = stages or Stages(False)

  def lap(self, name: str) -> None:
    now = time.perf_counter()
    self.laps[name] = round(now - self.last, 2)
    self.last = now

  @contextlib.contextmanager
  def stage(self, name: str, text: str):
    """One stage: its line (see :class:`Stages`), then its lap."""
    with self.stages.stage(text):
      yield
    self.lap(name)

  def total(self) -> float:
    return round(time.perf_counter() - self.start, 1)


def load_data(dataset=None, *, quick: bool = False, seed: int = 0, p: int = 1) -> Data:
  """Stage 1: the splits (``dataset`` path, or the embedded draw), batched.

  Example:
    >>> data = load_data(quick=True)
    >>> data.test.batch_shape, data.method
    ((10,), 'auto')
  """
  splits = paper.default_dataset(seed) if dataset is None else paper.load_splits(dataset)
  if quick:
    splits = paper.quick_subset(splits)
  stack = lambda gs: graphs.stack([graphs.from_networkx(G) for G in gs])
  return Data(splits=splits, train=stack(splits["train_data"]), val=stack(splits["val_data"]),
              test=stack(splits["test_data"]),
              sizes=np.array([G.number_of_nodes() for G in splits["test_data"]]),
              method=paper.ENERGY_METHOD,
              source="embedded seeded Erdos-Renyi" if dataset is None else str(dataset))


def train_models(data: Data, out: Path, *, variant: str, p: int, seed: int,
                 config: training.TrainConfig, progress: bool, clock: Optional[_Clock] = None
                 ) -> dict[str, dict]:
  """Stage 2: meta-trains every learned model; ``{name: {"model", "variables", "record"}}``."""
  key = jax.random.key(seed)
  trained = {}
  for k, name in enumerate(paper.LEARNED):
    model = models.create(name, variant=variant, p=p)
    t0 = time.perf_counter()
    fitted = training.fit(model, meta.init(model, jax.random.fold_in(key, k)), data.train,
                          data.val, config, checkpoint_dir=out / "checkpoints" / name,
                          progress=progress, label=f"meta-train {name}")
    trained[name] = {"model": model, "variables": fitted.variables, "record": {
        "epochs": len(fitted.history), "best_epoch": fitted.best_epoch,
        "stopped": fitted.stopped, "seconds": round(time.perf_counter() - t0, 2),
        "params": models.count_params(fitted.variables["params"]),
        "history": fitted.history}}
    if clock is not None:
      clock.lap(f"train_{name}")
  return trained


def fit_baselines(data: Data, *, p: int, seed: int, quick: bool) -> dict[str, np.ndarray]:
  """Stage 3a: the fixed angle pair (training graphs only) and the random starts."""
  train_max_cuts = jax.jit(jax.vmap(qaoa.max_cut))(data.train)
  fixed = baselines.fit_fixed_angles(data.train, p=p, max_cut_values=train_max_cuts,
                                     grid=16 if quick else 64, steps=20 if quick else 200,
                                     method=data.method)
  starts = baselines.random_starts(jax.random.fold_in(jax.random.key(seed), 100),
                                   data.test.batch_shape[0], p, n_seeds=2)
  return {"fixed_angles": np.asarray(fixed), "random_starts": np.asarray(starts)}


def _batched(fn, mesh):
  """``jit(vmap(fn))``, or its sharded version over ``mesh`` (see jqmeta.parallel)."""
  return jax.jit(jax.vmap(fn)) if mesh is None else parallel.sharded_map(fn, mesh)


def evaluate_all(data: Data, trained: dict, fitted: dict, *, quick: bool, mesh=None,
                 clock: Optional[_Clock] = None) -> tuple[dict, dict]:
  """Stage 4: the two-phase protocol for every method, in float64 (Phase II's stop rule).

  Returns ``(results, extras)``: ``results[method]`` is an
  :func:`jqmeta.evaluation.evaluate_method` dict (the random baseline pools its seeds);
  ``extras`` holds ``max_cuts``, ``p1_optimum`` angles, ``random_cut`` ratios and the
  Phase I ``paths`` of the learned models.
  """
  settings = dict(lr=phase2.PHASE2_LR, steps=30 if quick else phase2.PHASE2_STEPS,
                  tol=phase2.PHASE2_TOL, method=data.method, mesh=mesh)
  clock = clock or _Clock()
  n = data.test.batch_shape[0]
  with jax.enable_x64(True):
    test64 = data.test.astype(jnp.float64)
    with clock.stage("max_cut", f"exact max cut of {n} test graphs"):
      max_cuts = np.asarray(_batched(qaoa.max_cut, mesh)(test64))
    search = paper.QUICK_P1_SEARCH if quick else {}
    with clock.stage("p1_optimum", f"p=1 optimum of {n} test graphs"):
      optimum = np.asarray(baselines.p1_optimum_batch(test64, method=data.method, mesh=mesh,
                                                      **search)[0])
    results = {}
    for name, t in trained.items():
      with clock.stage(f"evaluate_{name}", f"Phase I + Phase II {name} ({n} test graphs)"):
        results[name] = evaluation.two_phase(
            t["model"], t["variables"], data.test, max_cuts, method=data.method, mesh=mesh,
            phase2_steps=settings["steps"], lr=settings["lr"], tol=settings["tol"])
    with clock.stage("evaluate_baselines", "Phase II of random seed, fixed angles, p=1 "
                     "optimum"):
      results.update(_evaluate_baselines(test64, max_cuts, fitted, optimum, settings))
    random_cut = np.asarray(jax.vmap(baselines.random_cut_ratio)(test64, jnp.asarray(max_cuts)))
  paths = {name: results[name]["phase1_angles"] for name in trained}
  return results, {"max_cuts": max_cuts, "p1_optimum": optimum, "random_cut": random_cut,
                   "paths": paths, "phase2": {k: settings[k] for k in ("lr", "steps", "tol")}}


def _evaluate_baselines(test64, max_cuts, fitted, optimum, settings) -> dict[str, dict]:
  """Phase II of the baselines; their angles play the role of a one-step Phase I."""
  n_graphs = test64.batch_shape[0]
  f64 = lambda a: np.asarray(a, np.float64)
  rand = [evaluation.evaluate_method(None, f64(s), test64, max_cuts, **settings)
          for s in fitted["random_starts"]]
  pooled = {k: (v if v is None or np.ndim(v) == 0 else np.concatenate([r[k] for r in rand]))
            for k, v in rand[0].items()}
  fixed = np.broadcast_to(fitted["fixed_angles"], (n_graphs,) + fitted["fixed_angles"].shape)
  return {
      "random": pooled,
      "fixed_angles": evaluation.evaluate_method(f64(fixed[:, None]), f64(fixed), test64,
                                                 max_cuts, **settings),
      "p1_optimum": evaluation.evaluate_method(f64(optimum[:, None]), f64(optimum), test64,
                                               max_cuts, **settings),
  }


def summarize(data: Data, results: dict, extras: dict, trained: dict, fitted: dict, *,
              quick: bool, variant: str, p: int, seed: int, clock: _Clock,
              cache: Optional[dict] = None) -> dict[str, Any]:
  """Stage 5: the JSON-ready summary (tables, settings, timings, compilation cache).

  ``paper_dataset`` is True only for the paper's own test graphs (content fingerprint,
  :func:`jqmeta.app.report.is_paper_test_set`); ``wall_seconds`` is set again by
  :func:`run` once the figures are written.
  """
  sizes = data.sizes
  sizes_by = {m: (np.concatenate([sizes, sizes]) if m == "random" else sizes) for m in results}
  summary = report.summarize(results, sizes_by, extras["random_cut"], sizes)
  summary.update({
      "dataset": data.source, "quick": quick, "variant": variant, "p": p, "seed": seed,
      "energy_method": data.method, "fixed_angles": fitted["fixed_angles"].tolist(),
      "n_graphs": {k: len(v) for k, v in data.splits.items()},
      "training": {k: {kk: vv for kk, vv in t["record"].items() if kk != "history"}
                   for k, t in trained.items()},
      "phase2": extras["phase2"], "convergence_tol": metrics.CONVERGENCE_TOL,
      "timings_s": clock.laps, "devices": [str(d) for d in jax.devices()],
      "paper_dataset": bool(report.is_paper_test_set(data.splits["test_data"])),
      "compilation_cache": dict(cache) if cache else {"enabled": False, "dir": None,
                                                       "reason": "not requested"},
  })
  summary["per_graph"] = _per_graph(results, extras, sizes)
  summary["wall_seconds"] = clock.total()
  return summary


def _per_graph(results: dict, extras: dict, sizes: np.ndarray) -> dict[str, Any]:
  """Each test graph's ratios (``random``: the two seeds' rows, seed 0 first)."""
  as_list = lambda a: None if a is None else [float(x) for x in np.asarray(a)]
  return {"n": [int(n) for n in sizes], "random_cut": as_list(extras["random_cut"]),
          "ratio_phase1": {m: as_list(r["ratio_phase1"]) for m, r in results.items()},
          "ratio_phase2": {m: as_list(r["ratio_phase2"]) for m, r in results.items()}}


def _checked_settings(dataset, variant, seed, epochs, p, quick) -> training.TrainConfig:
  """Validates every argument of :func:`run` before any work; its TrainConfig."""
  validation.check_choice("variant", variant, models.VARIANTS)
  validation.check_int("seed", seed, 0)
  validation.check_int("p", p, 1)
  if epochs is not None:
    validation.check_int("epochs", epochs, 1)
  if dataset is not None:
    validation.existing_file(dataset, "dataset")
  return training.TrainConfig(epochs=epochs if epochs is not None else (2 if quick else 50))


def run(dataset=None, out="runs/reproduce", *, quick: bool = False, variant: str = "reference",
        seed: int = 0, epochs: Optional[int] = None, p: int = 1, progress: bool = True,
        mesh=None, cache: Optional[dict] = None) -> dict[str, Any]:
  """Runs the full reproduction and writes every artefact to ``out``.

  Args:
    dataset: path to the paper's ``datasets.pkl`` or a native ``.json`` dataset;
      ``None`` uses :func:`jqmeta.app.paper.default_dataset`.
    out: output folder (created).
    quick: shrink data, epochs and Phase II for a short run.
    variant: ``"reference"`` (published models) or ``"corrected"``.
    seed: seed for model initialisation, random starts and the default dataset.
    epochs: override the maximum number of epochs (paper: 50).
    p: QAOA depth (paper: 1).
    progress: show progress on stderr: a labelled bar per model on a terminal, one line
      per epoch and per stage elsewhere.
    mesh: optional ``jax.sharding.Mesh`` to shard graph batches (see ``jqmeta.parallel``).
    cache: the dict of :func:`jqmeta.app.progress.use_compilation_cache` when the caller
      turned the compilation cache on (recorded as ``summary["compilation_cache"]``);
      this function never turns it on itself.

  Returns:
    The summary dict also written to ``out/summary.json`` (plain JSON types, no
    arrays): ``table3`` / ``table2`` per method and graph size (see
    :func:`jqmeta.app.report.summarize`), ``per_graph`` (``n``, ``random_cut`` and
    ``ratio_phase1`` / ``ratio_phase2`` per method: one value per test graph, two
    seeds' rows for ``random``), settings, timings, ``paper_dataset``,
    ``compilation_cache``, ``wall_seconds`` and ``wall_covers`` (:data:`WALL_COVERS`).

  Raises:
    ValueError / TypeError / FileNotFoundError: a bad argument, a missing dataset or
    an ``out`` that cannot be created or written, before any work.

  Example:
    >>> summary = run(out="runs/quick", quick=True, progress=False)  # doctest: +SKIP
    >>> sorted(summary["table3"])  # doctest: +SKIP
    ['fixed_angles', 'lstm', 'p1_optimum', 'qfwp', 'qk_lstm', 'qlstm', 'random']
  """
  config = _checked_settings(dataset, variant, seed, epochs, p, quick)
  fileio.prepare_output_dir(out, "out")
  clock = _Clock(Stages(progress))
  out = Path(out)
  with clock.stage("data", "load the dataset"):
    data = load_data(dataset, quick=quick, seed=seed, p=p)
  config = dataclasses.replace(config, method=data.method)
  trained = train_models(data, out, variant=variant, p=p, seed=seed, config=config,
                         progress=progress, clock=clock)
  with clock.stage("fit_fixed_angles", "baselines: fixed angle pair (training graphs) and "
                   "random starts"):
    fitted = fit_baselines(data, p=p, seed=seed, quick=quick)
  results, extras = evaluate_all(data, trained, fitted, quick=quick, mesh=mesh, clock=clock)
  with clock.stage("figures", "tables and figures"):
    summary = summarize(data, results, extras, trained, fitted, quick=quick, variant=variant,
                        p=p, seed=seed, clock=clock, cache=cache)
    report.write_all(out, summary, results, data.sizes, data.splits["test_data"],
                     extras["paths"], fitted["fixed_angles"], extras["p1_optimum"],
                     {k: t["record"]["history"] for k, t in trained.items()}, report=False)
  summary["wall_seconds"], summary["wall_covers"] = clock.total(), WALL_COVERS
  report.write_report(out, summary)
  if cache:
    summary["compilation_cache"] = dict(cache)  # hits and writes up to here
  fileio.atomic_write(out / "summary.json", json.dumps(summary, indent=2))
  return summary
