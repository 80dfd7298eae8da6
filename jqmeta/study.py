"""The study beyond the paper: learned optimizers against parameter-setting rules.

Does a learned optimizer beat the rules the literature gives for free, at depth ``p > 1``,
on other problem families and larger graphs?  :func:`run_study` answers it in stages:

1. :func:`make_datasets`: train / validation graphs at the sizes ``train_n``, test graphs
   at each size ``test_n`` (:mod:`jqmeta.problems`), saved as native JSON and reloaded.
2. :func:`fit_rules`: the rules fitted on the training graphs only.
3. :func:`reference_optima`: brute-force max cuts and the per-graph "best found" energy
   (:func:`jqmeta.baselines.best_found_batch`; the exact closed-form search at ``p = 1``),
   plus a convergence check on a subset (doubled starts and steps; how far it moves).
4. :func:`train_learned`: every model of ``config.models`` per family and ``p``, one
   checkpoint folder per signature, reused when it exists.
5. :func:`evaluate_rules` / :func:`evaluate_learned`: every method on the test graphs:
   Phase I (learned) or the rule's angles, then ``max(budgets)`` Phase II steps (float64),
   plus "warm" methods: the ``p - 1`` model's Phase I output extended by INTERP.
6. :func:`summarize`: ratios (approximation and to best found) after each budget,
   evaluations to each target, 95% bootstrap CIs over graphs, training cost.
7. With ``config.shots``: :func:`train_learned` on sampled costs, :func:`evaluate_shots`
   (every method under a total shot budget) and :func:`summarize_shots`.

Evaluations are calls of the simulator (energy, or energy + gradient): a rule's start is
one, each Phase II step one; a learned model's Phase I steps are one each, and its first
Phase II step two (the gradient at the Phase I endpoint, whose energy is known).
"Best found" is the minimum of the reference search and every energy any method reached,
so no ratio to best exceeds 1; how often a method improved on the search is recorded.

Example:
  >>> from jqmeta import study
  >>> config = study.StudyConfig.quick(families=("er",), ps=(1,))
  >>> config.families, config.ps, config.budgets
  (('er',), (1,), (0, 10, 50))
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Optional

import jax
import numpy as np

from jqmeta import baselines, evaluation, meta, models, problems, training
from jqmeta import shots as shots_lib
from jqmeta._src import validation
from jqmeta._src import study_data as data
from jqmeta._src.study_data import make_datasets
from jqmeta._src.study_shots import (evaluate_shots, release_programs, shot_reads,
                                     summarize_shots)
from jqmeta._src.study_summary import digest, fold, jsonable, summarize

__all__ = ["StudyConfig", "run_study", "make_datasets", "fit_rules", "reference_optima",
           "train_learned", "rule_starts",
           "evaluate_rules", "evaluate_learned", "summarize", "evaluate_shots",
           "summarize_shots", "shot_reads", "METHOD_RULES", "STUDY_VERSION"]

STUDY_VERSION = 3
"""Bumped whenever a change alters the numbers a study writes (part of every signature)."""
METHOD_RULES = ("fixed_angle_conjecture", "sk_angles", "rescaled_sk", "linear_ramp", "median",
                "random")
"""The rules that need no learning, as named in the results (``fixed_angle_conjecture``
only for the ``regular`` family, at the tabulated depths)."""
_DEFAULT_MODELS = ("lstm:corrected", "qk_lstm:reference", "qk_lstm:corrected",
                   "qlstm:corrected", "qfwp:corrected", f"{models.GRAPH_AWARE}:corrected")


@dataclasses.dataclass(frozen=True)
class StudyConfig:
  """Everything that determines a study's numbers (with the key of :func:`run_study`).

  Fields:
    families: problem families (:data:`jqmeta.problems.FAMILIES`).
    ps: QAOA depths, each ``>= 1``.
    train_n, test_n: node counts of the training / validation and of the test graphs.
    budgets: Phase II steps after which ratios are read (``0``: after Phase I / the rule).
    train_count, val_count, test_count: graphs per size of each split.
    epochs: meta-training epochs; steps: Phase I recurrent steps ``T``.
    models: learned models as ``"name:variant"`` (:func:`jqmeta.models.create`).
    targets: ratios to best found for the evaluations-to-target metric.
    lr_sequence, lr_mapping, batch_size: meta-training settings (RMSprop, as the paper,
      with rates large enough to learn in a few epochs).
    phase2_lr: Phase II SGD learning rate (the paper's ``1e-3`` by default).
    warm_start: also evaluate each learned model seeded by its ``p - 1`` model + INTERP.
    bootstrap: bootstrap resamples per CI; check_graphs: graphs per family and ``p`` of
      the best-found convergence check (``0``: none).
    search_random, search_steps: random starts and refinement steps of the best-found
      search (:func:`jqmeta.baselines.best_found_batch`; also behind ``median``).
    seed: documents the integer the study key was made from (``jax.random.key(seed)``);
      also the measurement seed of models trained on sampled costs.
    shots: shot counts per estimate for the finite-shots stage (``()``: none; each ``>=
      2``); shot_budget: total shots per method and graph (``>= max(shots)``);
      shot_gradient: Phase II gradient under shots (``"spsa"``, 2 estimates per step, or
      ``"shift"``, ``2 p (E + n)``: one step alone can exceed a 10^5 budget);
      shot_models: the models of ``models`` also trained on sampled costs at each ``S``
      (default: the LSTM and the graph-aware LSTM, those of them in ``models``).

  Example:
    >>> StudyConfig(ps=(1, 2)).signature() == StudyConfig(ps=(1, 2)).signature()
    True
  """
  families: tuple = problems.FAMILIES
  ps: tuple = (1, 2, 3)
  train_n: tuple = (6, 8, 10)
  test_n: tuple = (10, 12, 14)
  budgets: tuple = (0, 10, 50)
  train_count: int = 12
  val_count: int = 4
  test_count: int = 20
  epochs: int = 6
  steps: int = 10
  models: tuple = _DEFAULT_MODELS
  targets: tuple = (0.98, 0.99)
  lr_sequence: float = 1e-3
  lr_mapping: float = 1e-2
  batch_size: int = 4
  phase2_lr: float = 1e-3
  warm_start: bool = True
  bootstrap: int = 1000
  check_graphs: int = 2
  search_random: int = 2
  search_steps: int = 60
  seed: int = 0
  shots: tuple = ()
  shot_budget: int = 100_000
  shot_gradient: str = "spsa"
  shot_models: Optional[tuple] = None

  def __post_init__(self):
    self._check_shots()
    for name in ("families", "ps", "train_n", "test_n", "budgets", "models", "targets"):
      value = getattr(self, name)
      if isinstance(value, (str, int, float)) or not len(value):
        raise ValueError(f"StudyConfig.{name} must be a non-empty sequence, got {value!r}")
      object.__setattr__(self, name, tuple(value))
    for f in self.families:
      validation.check_choice("family", f, problems.FAMILIES)
    if "regular" in self.families:
      for n in self.train_n + self.test_n:
        problems.check_regular(n, problems.DEFAULTS["regular"]["degree"])
    for name, low in (("ps", 1), ("train_n", 3), ("test_n", 3), ("budgets", 0)):
      for v in getattr(self, name):
        validation.check_int(f"StudyConfig.{name} entry", v, low)
    for name in ("train_count", "val_count", "test_count", "epochs", "steps", "batch_size",
                 "bootstrap", "search_steps"):
      validation.check_int(f"StudyConfig.{name}", getattr(self, name), 1)
    validation.check_int("StudyConfig.check_graphs", self.check_graphs, 0)
    validation.check_int("StudyConfig.search_random", self.search_random, 0)
    for spec in self.models:
      _model_from(spec)
    for t in self.targets:
      validation.check_real("StudyConfig.targets entry", t, low=0.0, high=1.0, low_open=True)

  def _check_shots(self):
    if self.shot_models is None:
      object.__setattr__(self, "shot_models", tuple(
          m for m in (_DEFAULT_MODELS[0], _DEFAULT_MODELS[-1]) if m in self.models))
    for name in ("shots", "shot_models"):
      if isinstance(getattr(self, name), (str, int)):
        raise ValueError(f"StudyConfig.{name} must be a sequence, got {getattr(self, name)!r}")
      object.__setattr__(self, name, tuple(getattr(self, name)))
    for s in self.shots:
      validation.check_int("StudyConfig.shots entry", s, 2)
    validation.check_int("StudyConfig.shot_budget", self.shot_budget, max(self.shots, default=2))
    if self.shot_budget >= 2**31:
      raise ValueError(f"StudyConfig.shot_budget must be below 2**31, got {self.shot_budget}")
    validation.check_choice("StudyConfig.shot_gradient", self.shot_gradient,
                            shots_lib.GRADIENTS)
    for spec in self.shot_models:
      validation.check_choice("StudyConfig.shot_models entry", spec, self.models)

  @classmethod
  def quick(cls, **overrides) -> "StudyConfig":
    """A tiny study: every family, method and depth of the full one, on small graphs
    (train n = 6, test n = 8), few graphs and 2 epochs."""
    base = dict(families=problems.FAMILIES, ps=(1, 2, 3), train_n=(6,), test_n=(8,),
                train_count=6, val_count=2, test_count=6, epochs=2, bootstrap=200,
                check_graphs=1)
    return cls(**{**base, **overrides})

  def to_dict(self) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

  def signature(self) -> str:
    return digest({"config": self.to_dict(), "version": STUDY_VERSION})


def _model_from(spec: str):
  """``"name:variant"`` -> the Flax cell (``ValueError`` naming a bad spec)."""
  if not isinstance(spec, str) or spec.count(":") != 1:
    raise ValueError(f"model spec must be 'name:variant', got {spec!r}")
  name, variant = spec.split(":")
  return models.create(name, variant=variant)


def reference_optima(config: StudyConfig, datasets: dict, rules: dict, key, *, mesh=None,
                     progress: bool = False) -> dict:
  """Max cuts and per-graph best found energies of every test set, and a convergence check.

  The search (:func:`jqmeta.baselines.best_found_batch`) is also seeded with the fitted
  rules of :func:`fit_rules` (``extra_starts``) and, at ``p > 1`` when ``p - 1`` is in
  ``config.ps``, with INTERP of the same graph's depth ``p - 1`` best found (``previous``:
  a smaller program than the internal INTERP chain).

  Returns:
    ``{family: {p: {n: {"max_cut": (G,), "min_cut": (G,), "energy": (G,), "sources":
    ...}}}}`` (NumPy float64) plus ``"check"``: ``{family: {p: {"graphs", "moved_max",
    "moved_mean"}}}``, how much the best found ratio (shift-invariant, as every study
    ratio: :func:`jqmeta.metrics.ratio_from_energy` with the min cut) improves with
    doubled starts and steps on ``check_graphs`` graphs of the largest test size.
  """
  out, check, angles = {}, {}, {}
  jobs = [(f, p, n) for f in config.families for p in sorted(config.ps) for n in config.test_n]
  bar = data.bar(len(jobs), "reference optima", progress)
  for f, p, n in jobs:
    gs = datasets[f]["test"][n]
    k = fold(key, problems.FAMILIES.index(f), p, n)
    mc, lo = data.max_cuts(gs), data.min_cuts(gs)
    previous = angles.get((f, p - 1, n))  # INTERP from depth p - 1's best found
    # The same starts for every family (one compiled search per size and depth); the
    # search seeds the fixed-angle table itself (best_found_labels).
    extra = np.stack([a for r, a in rules[f][p].items() if r != "fixed_angle_conjecture"])
    res = baselines.best_found_batch(data.batch(gs), p, key=k, max_cut_values=mc,
                                     min_cut_values=lo, extra_starts=extra, previous=previous, mesh=mesh,
                                     **_search(config))
    angles[f, p, n] = res.angles
    labels = baselines.best_found_labels(p, config.search_random, len(extra))
    entry = {"max_cut": mc, "min_cut": lo, "energy": np.asarray(res.energy, np.float64),
             "sources": {"labels": list(labels), "energies": jsonable(res.sources)}}
    out.setdefault(f, {}).setdefault(p, {})[n] = entry
    if config.check_graphs and n == max(config.test_n):
      sub, c = data.batch(gs[:config.check_graphs]), config.check_graphs
      double = {k2: 2 * v for k2, v in _search(config).items()}
      more = baselines.best_found_batch(
          sub, p, key=jax.random.fold_in(k, 1), max_cut_values=mc[:c], min_cut_values=lo[:c],
          extra_starts=extra,
          previous=None if previous is None else previous[:c], **double)
      base = entry["energy"][:config.check_graphs]
      moved = (base - np.asarray(more.energy, np.float64)) / (mc - lo)[:c]
      check.setdefault(f, {})[p] = {"n": n, "graphs": int(len(base)),
                                    "moved_max": float(moved.max()),
                                    "moved_mean": float(moved.mean())}
    bar.update(1)
  bar.close()
  out["check"] = check
  return out


def _search(config: StudyConfig) -> dict:
  """Keywords of :func:`jqmeta.baselines.best_found_batch` (doubled for the check)."""
  return {"n_random": config.search_random, "steps": config.search_steps}


def _train_config(config: StudyConfig, shots: Optional[int] = None) -> training.TrainConfig:
  return training.TrainConfig(epochs=config.epochs, steps=config.steps,
                              lr_sequence=config.lr_sequence, lr_mapping=config.lr_mapping,
                              batch_size=config.batch_size, shots=shots, shot_seed=config.seed)


def _train_one(model, init_key, train, val, tconfig, folder: Optional[Path]) -> dict:
  """Trains (or reloads) one model; returns ``{"variables", "cost"}``."""
  template = meta.init(model, init_key)
  cost_file = None if folder is None else folder / "cost.json"
  best = None if folder is None else folder / training.BEST_CHECKPOINT
  if best is not None and best.exists() and cost_file.exists():
    variables = training.load_checkpoint(best, template, model=model)
    return {"variables": variables, "cost": {**json.loads(cost_file.read_text()), "reused": True}}
  start = time.perf_counter()
  result = training.fit(model, template, data.batch(train), data.batch(val), tconfig,
                        checkpoint_dir=folder, progress=False)
  epochs = len(result.history)
  cost = {"seconds": time.perf_counter() - start, "epochs": epochs,
          "evaluations": epochs * (len(train) + len(val)) * tconfig.steps,
          "best_epoch": result.best_epoch, "stopped": result.stopped}
  if cost_file is not None:
    cost_file.write_text(json.dumps(cost))
  return {"variables": result.variables, "cost": {**cost, "reused": False}}


def train_learned(config: StudyConfig, datasets: dict, key, out=None, *,
                  shots: Optional[int] = None, specs: Optional[tuple] = None,
                  progress: bool = False) -> dict:
  """Meta-trains every model of ``specs`` (default ``config.models``) per family and depth
  (or reloads it); with ``shots``, on sampled costs (``TrainConfig.shots``).

  Each model trains on the family's ``train`` graphs (validated on ``val``) with
  :func:`jqmeta.training.fit`, RMSprop at ``config.lr_sequence`` / ``lr_mapping``.  With
  ``out``, the checkpoint folder ``out/checkpoints/<family>/p<p>/<name>-<variant>-<sig>``
  is named by a hash of everything that determines the result (training settings, model,
  depth, init key, graphs, :data:`STUDY_VERSION`); a folder holding ``best.msgpack`` and
  ``cost.json`` is reused instead of training again.

  Cost: ``evaluations`` counts one energy (+ gradient) per Phase I step per training and
  validation graph per epoch; ``seconds`` is the wall time of the training.

  Returns:
    ``{family: {p: {spec: {"model", "variables", "cost"}}}}``.
  """
  tconfig = _train_config(config, shots)
  jobs = [(f, p, config.models.index(spec), spec) for f in config.families for p in config.ps
          for spec in (config.models if specs is None else specs)]
  bar = data.bar(len(jobs), "train" if shots is None else f"train on {shots} shots", progress)
  trained = {}
  for f, p, j, spec in jobs:
    bar.set_postfix_str(f"{f} p={p} {spec}")
    name, variant = spec.split(":")
    model = models.create(name, variant=variant, p=p)
    init_key = fold(key, problems.FAMILIES.index(f), p, j)
    train, val = datasets[f]["train"], datasets[f]["val"]
    folder = None
    if out is not None:
      sig = digest([tconfig.to_dict(), spec, p, np.asarray(jax.random.key_data(init_key)).tolist(),
                     data.graph_key(train), data.graph_key(val), STUDY_VERSION])
      folder = Path(out) / "checkpoints" / f / f"p{p}" / f"{name}-{variant}-{sig}"
    entry = _train_one(model, init_key, train, val, tconfig, folder)
    trained.setdefault(f, {}).setdefault(p, {})[spec] = {"model": model, **entry}
    bar.update(1)
  bar.close()
  return trained


def _phase2(starts: np.ndarray, gs: list, mc: np.ndarray, config: StudyConfig, mesh) -> np.ndarray:
  """``(G, B + 1)`` float64 Phase II energies from ``starts`` ``(G, 2, p)``."""
  steps = max(max(config.budgets), 1)
  with jax.enable_x64(True):
    res = evaluation.evaluate_method(None, np.asarray(starts, np.float64),
                                     data.batch(gs).astype(np.float64), mc,
                                     lr=config.phase2_lr, steps=steps, phase2_report_step=0,
                                     mesh=mesh)
  return np.asarray(res["phase2_costs"], np.float64)


def _curve(energies: np.ndarray, evals, b0: int) -> dict:
  return {"energies": np.asarray(energies, np.float64), "evals": np.asarray(evals, np.int64),
          "b0": int(b0)}


def fit_rules(config: StudyConfig, datasets: dict, key, *, progress: bool = False) -> dict:
  """The rules fitted once per family and depth on the TRAINING graphs (no test graph).

  ``linear_ramp``: :func:`jqmeta.baselines.linear_ramp` with ``dt`` from
  :func:`jqmeta.baselines.fit_linear_ramp`; ``median``: :func:`jqmeta.baselines.median_angles`;
  ``sk_angles``: :func:`jqmeta.baselines.sk_angles`; ``fixed_angle_conjecture`` (regular
  family, where tabulated): :func:`jqmeta.baselines.regular_fixed_angles`.

  Returns:
    ``{family: {p: {rule: (2, p) float64 angles}}}``.
  """
  out, angles = {}, {}
  jobs = [(f, p) for f in config.families for p in sorted(config.ps)]
  bar = data.bar(len(jobs), "fit rules", progress)
  for f, p in jobs:
    train = data.batch(datasets[f]["train"])
    k = fold(key, problems.FAMILIES.index(f), p)
    dt = baselines.fit_linear_ramp(train, p)
    # baselines.median_angles, keeping the per-graph angles to seed depth p + 1.
    res = baselines.best_found_batch(train, p, key=k, previous=angles.get((f, p - 1)),
                                     **_search(config))
    angles[f, p] = res.angles
    fixed = {"sk_angles": baselines.sk_angles(p), "linear_ramp": baselines.linear_ramp(p, dt),
             "median": np.median(np.asarray(res.angles), axis=0)}
    degrees = {d for g in datasets[f]["train"] for _, d in g.degree()}
    if f == "regular" and len(degrees) == 1:
      try:
        fixed["fixed_angle_conjecture"] = baselines.regular_fixed_angles(degrees.pop(), p)
      except ValueError:  # not tabulated at this degree and depth
        pass
    out.setdefault(f, {})[p] = {r: np.asarray(a, np.float64).reshape(2, p)
                                for r, a in fixed.items()}
    bar.update(1)
  bar.close()
  return out


def rule_starts(fitted: dict, gs: list, p: int, key) -> dict:
  """``{rule: (G, 2, p) float64}`` starts of every rule of :data:`METHOD_RULES` present:
  the ``fitted`` ones of :func:`fit_rules` (one family and depth), ``rescaled_sk`` per
  graph and ``random`` (the published uniform start, from ``key``)."""
  starts = {k: np.broadcast_to(a, (len(gs), 2, p)) for k, a in fitted.items()}
  scaled = baselines.rescaled_sk_angles(data.batch(gs), p)
  starts["rescaled_sk"] = np.asarray(scaled, np.float64).reshape(len(gs), 2, p)
  starts["random"] = np.asarray(baselines.random_starts(key, len(gs), p, 1)[0], np.float64)
  return {r: np.asarray(starts[r], np.float64) for r in METHOD_RULES if r in starts}


def evaluate_rules(config: StudyConfig, datasets: dict, optima: dict, rules: dict, key, *,
                   mesh=None, progress: bool = False) -> dict:
  """Energies of every rule (:data:`METHOD_RULES`) on every test set, then Phase II.

  Returns:
    ``{family: {p: {n: {rule: {"energies": (G, B + 1), "evals": (B + 1,), "b0": 0}}}}}``:
    entry 0 is the rule's angles (one evaluation), entry ``k`` after ``k`` SGD steps.
  """
  jobs = [(f, p) for f in config.families for p in config.ps]
  bar = data.bar(len(jobs) * len(config.test_n), "evaluate rules", progress)
  out = {}
  for f, p in jobs:
    fkey = fold(key, problems.FAMILIES.index(f), p)
    for n in config.test_n:
      gs, mc = datasets[f]["test"][n], optima[f][p][n]["max_cut"]
      for rule, start in rule_starts(rules[f][p], gs, p, jax.random.fold_in(fkey, n)).items():
        e = _phase2(start, gs, mc, config, mesh)
        out.setdefault(f, {}).setdefault(p, {}).setdefault(n, {})[rule] = _curve(
            e, np.ones(e.shape[1]), 0)
      bar.update(1)
  bar.close()
  return out


def evaluate_learned(config: StudyConfig, datasets: dict, optima: dict, trained: dict, *,
                     mesh=None, progress: bool = False) -> dict:
  """Phase I of every trained model on every test set, then Phase II (and warm starts).

  Returns:
    ``{family: {p: {n: {method: curve}}}}`` as :func:`evaluate_rules`, with method names
    ``<name>:<variant>`` (curve: ``T`` Phase I energies, then ``B`` SGD steps; ``b0 =
    T - 1``) and, for ``p - 1`` in ``config.ps``, ``warm:<name>:<variant>`` (the ``p - 1``
    model's ``T`` Phase I energies, then its last angles extended by
    :func:`jqmeta.baselines.interp` and ``B`` SGD steps at depth ``p``; ``b0 = T``).
  """
  T, out, last = config.steps, {}, {}
  jobs = [(f, p, n) for f in config.families for p in sorted(config.ps) for n in config.test_n]
  bar = data.bar(len(jobs) * len(config.models), "evaluate learned", progress)
  for f, p, n in jobs:
    gs, mc = datasets[f]["test"][n], optima[f][p][n]["max_cut"]
    stacked = data.batch(gs)
    slot = out.setdefault(f, {}).setdefault(p, {}).setdefault(n, {})
    for spec in config.models:
      entry = trained[f][p][spec]
      angles, costs = evaluation.phase1_batch(entry["model"], entry["variables"], stacked,
                                              steps=T, mesh=mesh)
      last[f, p, n, spec] = (angles[:, -1], costs)
      e = _phase2(angles[:, -1], gs, mc, config, mesh)
      slot[spec] = _curve(np.concatenate([costs, e[:, 1:]], axis=1),
                          [1] * T + [2] + [1] * (e.shape[1] - 2), T - 1)
      if config.warm_start and (f, p - 1, n, spec) in last:
        prev, prev_costs = last[f, p - 1, n, spec]
        start = np.stack([np.asarray(baselines.interp(a)) for a in prev])
        e = _phase2(start, gs, mc, config, mesh)
        slot[f"warm:{spec}"] = _curve(np.concatenate([prev_costs, e], axis=1),
                                      [1] * (T + e.shape[1]), T)
      bar.update(1)
  bar.close()
  return out


def run_study(config: StudyConfig, *, key, out=None, mesh=None, progress: bool = True) -> dict:
  """Runs every stage (module docstring) and returns the JSON-ready study dict.

  Args:
    config: a :class:`StudyConfig`.
    key: the study's ``jax.random.key`` (datasets, initialisations, searches, bootstrap).
    out: optional folder for datasets and checkpoints (reused on a rerun); the report
      files are written by :mod:`jqmeta.app.study_report`.
    mesh: optional :func:`jqmeta.parallel.make_mesh` mesh splitting graph batches.
    progress: show one progress bar per stage.

  Returns:
    ``{"config", "signature", "seconds": {stage: s}, "check", "families": summarize(...)}``.

  Example:
    >>> import jax
    >>> run_study(StudyConfig.quick(), key=jax.random.key(0))  # doctest: +SKIP
  """
  if not isinstance(config, StudyConfig):
    raise TypeError(f"config must be a StudyConfig, got {type(config).__name__}")
  key = validation.check_key(key)
  if out is not None:
    os.makedirs(out, exist_ok=True)
  seconds, t0 = {}, time.perf_counter()

  def lap(stage):
    nonlocal t0
    release_programs()  # stages share few programs; keeps the process's mappings bounded
    seconds[stage], t0 = time.perf_counter() - t0, time.perf_counter()

  ks = jax.random.split(key, 6)
  datasets = make_datasets(config, ks[0], out, progress=progress)
  lap("datasets")
  rules = fit_rules(config, datasets, ks[5], progress=progress)
  lap("fit_rules")
  optima = reference_optima(config, datasets, rules, ks[1], mesh=mesh, progress=progress)
  lap("reference_optima")
  trained = train_learned(config, datasets, ks[2], out, progress=progress)
  lap("train_learned")
  results = evaluate_rules(config, datasets, optima, rules, ks[3], mesh=mesh, progress=progress)
  lap("evaluate_rules")
  learned = evaluate_learned(config, datasets, optima, trained, mesh=mesh, progress=progress)
  for f in learned:
    for p in learned[f]:
      for n in learned[f][p]:
        results[f][p][n].update(learned[f][p][n])
  lap("evaluate_learned")
  families = summarize(config, optima, results, trained, ks[4])
  lap("summarize")
  report = {"config": config.to_dict(), "signature": config.signature(),
            "study_version": STUDY_VERSION, "seconds": seconds,
            "check": jsonable(optima["check"]), "families": families}
  if config.shots:
    sk = jax.random.split(ks[4], 3)
    sampled = {}
    for s in config.shots:
      sampled[s] = train_learned(config, datasets, ks[2], out, shots=s,
                                 specs=config.shot_models, progress=progress)
      release_programs()
    report["shot_training"] = {str(s): {f: {str(p): {m: e["cost"] for m, e in sampled[s][f][p]
                                                     .items()} for p in sampled[s][f]}
                                        for f in sampled[s]} for s in sampled}
    lap("train_on_shots")
    measured = evaluate_shots(config, datasets, rules, trained, sampled, sk[0], mesh=mesh,
                              progress=progress)
    lap("evaluate_shots")
    report["shots"] = summarize_shots(config, optima, families, measured, sk[1])
    lap("summarize_shots")
  return report
