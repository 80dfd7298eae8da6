"""The finite-shots stage of :mod:`jqmeta.study`: every method under a total shot budget.

Private: :func:`jqmeta.study.evaluate_shots` and :func:`jqmeta.study.summarize_shots` are
the public names.  For each shot count ``S`` of ``config.shots`` (shots per energy
estimate and per gradient circuit) every method runs on the test graphs until
``config.shot_budget`` shots are spent:

* a rule: its angles cost no shot; then :func:`jqmeta.shots.phase2_shots` (the start
  measured once, then ``config.shot_gradient`` updates with SGD at ``config.phase2_lr``);
* a learned model (trained on exact costs, or on ``S``-shot costs: ``<spec>@shots``):
  :func:`jqmeta.meta.phase1_measured` (``T`` estimates of ``S`` shots, the model fed the
  estimates), then Phase II as for a rule with what is left of the budget (its start,
  Phase I's last angles, is measured again: ``S`` shots).

Recorded per graph and step: the cumulative shots, the EXACT energy of the angles held
(what the ratio to best found reads) and the best cut among every bitstring measured so
far (what a hardware user takes home).  Warm starts across depth are not run under
shots.  Simulation is float32 (the sampler's total-variation error is about ``1e-5`` at
n = 14; :mod:`jqmeta.shots`).
"""

from __future__ import annotations

import functools
import gc

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jqmeta import meta, metrics, parallel, problems, shots as shots_lib
from jqmeta._src import study_data as data
from jqmeta._src.study_summary import fold

__all__ = ["evaluate_shots", "summarize_shots", "shot_reads", "release_programs",
           "SAMPLED_SUFFIX"]

SAMPLED_SUFFIX = "@shots"
"""Suffix of a model trained on sampled costs (at the shot count it is evaluated with)."""
_READS = (10**4, 10**5)  # the leaderboard's total budgets (issue 14), and the study's own


def shot_reads(config) -> tuple:
  """Total shot budgets at which the leaderboard reads every method: ``10^4``, ``10^5``
  (those within ``config.shot_budget``) and ``config.shot_budget``."""
  return tuple(sorted({r for r in _READS if r <= config.shot_budget} | {config.shot_budget}))


def _mapped(fn, mesh, in_axes: tuple):
  """``jit(vmap(fn))`` or, with a mesh, :func:`jqmeta.parallel.sharded_map` (the same numbers)."""
  if mesh is None:
    return jax.jit(jax.vmap(fn, in_axes=in_axes))
  return parallel.sharded_map(fn, mesh, in_axes=in_axes)


@functools.lru_cache(maxsize=64)
def _phase2_program(shots: int, budget: int, gradient: str, lr: float, mesh):
  def one(angles, graph, key_data):
    r = shots_lib.phase2_shots(angles, graph, key=jax.random.wrap_key_data(key_data),
                               shots=shots, shot_budget=budget, gradient=gradient,
                               optimizer=optax.sgd(lr))
    return r.shots_used, r.exact_energies, r.best_cuts
  return _mapped(one, mesh, (0, 0, 0))


@functools.lru_cache(maxsize=64)
def _phase1_program(model, steps: int, shots: int, mesh):
  def one(variables, graph, key_data):
    r = meta.phase1_measured(model, variables, graph, steps, shots=shots,
                             key=jax.random.wrap_key_data(key_data))
    return r.angles[-1], r.energies, r.best_cuts
  return _mapped(one, mesh, (None, 0, 0))


def _keys(key, count: int) -> np.ndarray:
  return jax.random.key_data(jax.random.split(key, count))


def _phase2(starts, batch, shots: int, budget: int, config, key, mesh):
  """``(shots (G, K), exact energies (G, K), best cuts (G, K))`` of Phase II from ``starts``."""
  run = _phase2_program(shots, budget, config.shot_gradient, config.phase2_lr, mesh)
  used, e, best = run(jnp.asarray(starts, jnp.float32), batch, _keys(key, len(starts)))
  return (np.asarray(used, np.int64), np.asarray(e, np.float64), np.asarray(best, np.float64))


def _entry(used, energies, best_cuts) -> dict:
  return {"shots": np.asarray(used, np.int64), "energies": np.asarray(energies, np.float64),
          "best_cuts": np.maximum.accumulate(np.asarray(best_cuts, np.float64), axis=1)}


def _learned(model, variables, batch, shots: int, config, key, mesh) -> dict:
  """Phase I on ``shots``-shot estimates, then Phase II with the rest of the budget."""
  G, T = batch.batch_shape[0], config.steps
  k1, k2 = jax.random.split(key)
  try:
    program = _phase1_program(model, T, shots, mesh)
  except TypeError:  # an unhashable (custom) model: build without the cache
    program = _phase1_program.__wrapped__(model, T, shots, mesh)
  last, e1, b1 = program(variables, batch, _keys(k1, G))
  used = np.broadcast_to(shots * np.arange(1, T + 1), (G, T))
  rest = config.shot_budget - T * shots
  if rest < shots:  # Phase I spends the budget: its steps within it, no Phase II
    keep = used[0] <= config.shot_budget
    return _entry(used[:, keep], np.asarray(e1)[:, keep], np.asarray(b1)[:, keep])
  u2, e2, b2 = _phase2(last, batch, shots, rest, config, k2, mesh)
  return _entry(np.concatenate([used, T * shots + u2], axis=1), np.concatenate([e1, e2], 1),
                np.concatenate([b1, b2], axis=1))


def evaluate_shots(config, datasets: dict, rules: dict, trained: dict, sampled: dict, key, *,
                   mesh=None, progress: bool = False) -> dict:
  """Every rule, every exact-trained model and every ``sampled`` model under shots.

  Args:
    rules: :func:`jqmeta.study.fit_rules`; trained: :func:`jqmeta.study.train_learned`;
    sampled: ``{S: train_learned(..., shots=S, specs=config.shot_models)}``.

  Returns:
    ``{S: {family: {p: {n: {method: {"shots": (G, K) int, "energies": (G, K),
    "best_cuts": (G, K)}}}}}}`` (NumPy; ``best_cuts`` a running maximum).
  """
  from jqmeta import study  # pylint: disable=import-outside-toplevel  # study imports this module

  jobs = [(s, f, p, n) for s in config.shots for f in config.families for p in config.ps
          for n in config.test_n]
  bar = data.bar(len(jobs), "evaluate under shots", progress)
  out = {}
  for i, (s, f, p, n) in enumerate(jobs):
    if i and s != jobs[i - 1][0]:  # no program is shared across shot counts
      release_programs()
    k = fold(key, s, problems.FAMILIES.index(f), p, n)
    gs = datasets[f]["test"][n]
    batch = data.batch(gs)
    slot = out.setdefault(s, {}).setdefault(f, {}).setdefault(p, {}).setdefault(n, {})
    starts = study.rule_starts(rules[f][p], gs, p, fold(key, problems.FAMILIES.index(f), p, n))
    names = list(starts)
    u, e, b = _phase2(np.concatenate([starts[r] for r in names]),
                      data.stack_repeated(batch, len(names)), s, config.shot_budget, config,
                      jax.random.fold_in(k, 0), mesh)
    for i, r in enumerate(names):
      part = slice(i * len(gs), (i + 1) * len(gs))
      slot[r] = _entry(u[part], e[part], b[part])
    learned = [(spec, trained[f][p][spec]) for spec in config.models]
    learned += [(spec + SAMPLED_SUFFIX, sampled[s][f][p][spec]) for spec in config.shot_models]
    for j, (name, entry) in enumerate(learned):
      slot[name] = _learned(entry["model"], entry["variables"], batch, s, config,
                            jax.random.fold_in(k, 1 + j), mesh)
    bar.update(1)
  bar.close()
  return out


def _read(entry: dict, budget: int):
  """Per graph, the last step within ``budget`` shots: ``(energies, best cuts)``, or None."""
  within = entry["shots"] <= budget
  if not within[:, 0].all():
    return None
  k = within.sum(axis=1) - 1
  rows = np.arange(len(k))
  return entry["energies"][rows, k], entry["best_cuts"][rows, k]


def summarize_shots(config, optima: dict, exact: dict, results: dict, key) -> dict:
  """Per shot count, family and depth, pooled over the test sizes: every method's ratio
  to best found and best-sampled-cut ratio at each :func:`shot_reads` budget (95%
  bootstrap CIs over graphs), its mean curve, and a ranking by the ratio to best at the
  largest budget.  Both ratios are shift invariant (:func:`jqmeta.metrics.ratio_from_energy`
  with the min cut): ``(E[cut] - min) / (best found E[cut] - min)`` and ``(best sampled
  cut - min) / (max cut - min)``.  Best found is the exact study's (``exact``:
  :func:`jqmeta.study.summarize`), lowered by any energy reached under shots.

  Returns:
    ``{S: {family: {p: {"methods": {method: {"kind", "reads": {budget: {"ratio_to_best",
    "best_cut_ratio"} | None}, "curve": {"shots", "ratio_to_best", "best_cut_ratio"}}},
    "ranking"}}}}`` with string keys (JSON-ready).
  """
  out = {}
  for s in config.shots:
    for f in config.families:
      for p in config.ps:
        res = {n: results[s][f][p][n] for n in config.test_n}
        ns, cat = config.test_n, np.concatenate
        hi = cat([optima[f][p][n]["max_cut"] for n in ns])
        lo = cat([optima[f][p][n]["min_cut"] for n in ns])
        best = cat([np.minimum(exact[f][str(p)]["best_found"][str(n)]["energy"],
                               np.min([m["energies"].min(axis=1) for m in res[n].values()],
                                      axis=0)) for n in ns])
        methods = {}
        for mi, m in enumerate(res[ns[0]]):
          entry = {q: cat([res[n][m][q] for n in ns]) for q in ("shots", "energies",
                                                               "best_cuts")}
          methods[m] = _method_stats(m, entry, best, hi, lo, config,
                                     fold(key, s, problems.FAMILIES.index(f), p, mi))
        top = max(shot_reads(config))
        score = lambda m: -1.0 if methods[m]["reads"][str(top)] is None else (
            methods[m]["reads"][str(top)]["ratio_to_best"][0])
        out.setdefault(str(s), {}).setdefault(f, {})[str(p)] = {
            "methods": methods, "ranking": sorted(methods, key=score, reverse=True)}
  return out


def _method_stats(name: str, entry: dict, best, hi, lo, config, key) -> dict:
  ci = lambda v, i: list(metrics.bootstrap_ci(np.asarray(v, np.float64), jax.random.fold_in(
      key, i), n=config.bootstrap))
  rtb = lambda e: np.asarray(metrics.ratio_from_energy(
      e, -best.reshape((-1,) + (1,) * (e.ndim - 1)), lo.reshape((-1,) + (1,) * (e.ndim - 1))))
  cut_ratio = lambda c: np.asarray(metrics.ratio_from_energy(
      -c, hi.reshape((-1,) + (1,) * (c.ndim - 1)), lo.reshape((-1,) + (1,) * (c.ndim - 1))))
  reads = {}
  for i, budget in enumerate(shot_reads(config)):
    got = _read(entry, budget)
    reads[str(budget)] = None if got is None else {
        "ratio_to_best": ci(rtb(got[0]), 2 * i), "best_cut_ratio": ci(cut_ratio(got[1]),
                                                                      2 * i + 1)}
  spec = name.removesuffix(SAMPLED_SUFFIX)
  kind = ("learned (sampled costs)" if name.endswith(SAMPLED_SUFFIX)
          else "learned" if spec in config.models else "rule")
  energies = entry["energies"]
  return {"kind": kind, "reads": reads,
          "curve": {"shots": np.median(entry["shots"], axis=0).tolist(),
                    "ratio_to_best": rtb(energies).mean(axis=0).tolist(),
                    "best_cut_ratio": cut_ratio(entry["best_cuts"]).mean(axis=0).tolist()}}


def release_programs() -> None:
  """Drops every compiled program (``jax.clear_caches``) between study stages.

  Each XLA:CPU executable keeps memory mappings until it is dropped (a large scan body:
  hundreds), and Linux caps a process at ``vm.max_map_count`` (65,530 here): a full study
  with ``--shots`` reached it and LLVM failed with "Cannot allocate memory" (README,
  "Long-running processes").  Programs a later stage needs again are recompiled, or read
  from the persistent compilation cache when it is on (the CLI's default).
  """
  for cached in (_phase1_program, _phase2_program):
    cached.cache_clear()
  jax.clear_caches()
  gc.collect()
