"""The summary stage of :mod:`jqmeta.study`: ratios, evaluations to target, bootstrap CIs.

Private: :func:`jqmeta.study.summarize` is the public name; also the study's small helpers
(key folding, content hashes, JSON conversion).
"""

from __future__ import annotations

import hashlib
import json

import jax
import numpy as np

from jqmeta import metrics, problems

__all__ = ["summarize", "fold", "digest", "jsonable"]


def fold(key, *ints: int):
  """``key`` folded with each integer in turn (a deterministic sub-key per job).

  Example:
    >>> bool((jax.random.key_data(fold(jax.random.key(0), 1, 2))
    ...       == jax.random.key_data(jax.random.fold_in(jax.random.fold_in(jax.random.key(0), 1), 2))).all())
    True
  """
  for i in ints:
    key = jax.random.fold_in(key, int(i))
  return key


def digest(obj) -> str:
  """16 hex digits of the SHA-256 of ``obj``'s sorted JSON (a content signature).

  Example:
    >>> digest({"a": 1, "b": 2}) == digest({"b": 2, "a": 1})
    True
  """
  return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def jsonable(x):
  """``x`` with arrays as lists, NumPy scalars as Python ones and keys as strings.

  Example:
    >>> jsonable({1: np.arange(2), "b": (np.float32(0.5),)})
    {'1': [0, 1], 'b': [0.5]}
  """
  if isinstance(x, dict):
    return {str(k): jsonable(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [jsonable(v) for v in x]
  if isinstance(x, (np.ndarray, jax.Array)):
    return np.asarray(x).tolist()
  if isinstance(x, (np.floating, np.integer)):
    return x.item()
  return x


# ------------------------------------------------------------------------------- summary

def _ratios(energies, best, cuts):
  """``(ratio to best found, approximation ratio)``, both shift invariant: ``(E[cut] -
  min cut) / (best found E[cut] - min cut)`` and ``/ (max cut - min cut)``
  (:func:`jqmeta.metrics.ratio_from_energy`; the plain ratios on nonnegative weights)."""
  mc, lo = (c[:, None] for c in cuts)
  return (np.asarray(metrics.ratio_from_energy(energies, -best[:, None], lo), np.float64),
          np.asarray(metrics.ratio_from_energy(energies, mc, lo), np.float64))


def _group_stats(energies, evals, b0: int, best, cuts, config, key) -> dict:
  """Ratios after each budget and evaluations to each target, with bootstrap CIs."""
  rtb, ratio = _ratios(energies, best, cuts)
  ci = lambda v, i: list(metrics.bootstrap_ci(v, jax.random.fold_in(key, i), n=config.bootstrap))
  out = {"graphs": int(len(best)), "ratio": {}, "ratio_to_best": {}, "evals_to_target": {}}
  for i, b in enumerate(config.budgets):
    j = min(b0 + b, rtb.shape[1] - 1)
    out["ratio"][str(b)] = ci(ratio[:, j], 2 * i)
    out["ratio_to_best"][str(b)] = ci(rtb[:, j], 2 * i + 1)
  for i, t in enumerate(config.targets):
    hit = metrics.evaluations_to_target(rtb, t, evals)
    out["evals_to_target"][str(t)] = {
        "mean_reached": None if np.isnan(hit["mean"]) else hit["mean"],
        "fraction": ci(hit["reached"].astype(np.float64), 100 + 2 * i),
        "censored": ci(hit["censored"], 101 + 2 * i)}
  return out


def _merged_best(config, optima_fp: dict, results_fp: dict) -> tuple[dict, dict]:
  """Best found per test size: the search's, improved by any energy a method reached."""
  best, report = {}, {}
  for n in config.test_n:
    search = optima_fp[n]["energy"]
    reached = np.min([c["energies"].min(axis=1) for c in results_fp[n].values()], axis=0)
    best[n] = np.minimum(search, reached)
    gain = (search - best[n]) / (optima_fp[n]["max_cut"] - optima_fp[n]["min_cut"])
    report[str(n)] = {"energy": best[n].tolist(), "search_energy": search.tolist(),
                      "max_cut": optima_fp[n]["max_cut"].tolist(),
                      "min_cut": optima_fp[n]["min_cut"].tolist(),
                      "improved_by_methods": int(np.sum(gain > 1e-9)),
                      "max_improvement_ratio": float(gain.max()),
                      "sources": optima_fp[n]["sources"]}
  return best, report


def summarize(config, optima: dict, results: dict, trained: dict, key) -> dict:
  """Per family and depth: every method's statistics per test size and pooled (``"all"``).

  Args:
    results: the union of :func:`evaluate_rules` and :func:`evaluate_learned`.

  Returns:
    ``{family: {p: {"best_found", "methods": {method: {"kind", "sizes": {n | "all":
    stats}, "curve", "training"}}, "ranking"}}}`` (JSON-ready; ``p`` and ``n`` as
    strings); ``ranking`` sorts methods by their mean evaluations to the first target
    (graphs never reaching it count as the total + 1), then to the second.
  """
  out = {}
  for f in config.families:
    fi = problems.FAMILIES.index(f)  # the same keys whichever families run
    for p in config.ps:
      best, report = _merged_best(config, optima[f][p], results[f][p])
      methods = {}
      for mi, method in enumerate(results[f][p][config.test_n[0]]):
        sizes, k = {}, fold(key, fi, p, mi)
        curves = [results[f][p][n][method] for n in config.test_n]
        cuts = {n: tuple(optima[f][p][n][c] for c in ("max_cut", "min_cut"))
                for n in config.test_n}
        for n, c in zip(config.test_n, curves):
          sizes[str(n)] = _group_stats(c["energies"], c["evals"], c["b0"], best[n], cuts[n],
                                       config, jax.random.fold_in(k, n))
        allE = np.concatenate([c["energies"] for c in curves])
        allB = np.concatenate([best[n] for n in config.test_n])
        allC = tuple(np.concatenate([cuts[n][i] for n in config.test_n]) for i in (0, 1))
        sizes["all"] = _group_stats(allE, curves[0]["evals"], curves[0]["b0"], allB, allC,
                                    config, k)
        rtb, _ = _ratios(allE, allB, allC)
        spec = method.removeprefix("warm:")
        cost = trained.get(f, {}).get(p - int(method.startswith("warm:")), {}).get(spec)
        methods[method] = {
            "kind": "warm" if method.startswith("warm:") else ("learned" if spec in config.models
                                                               else "rule"),
            "sizes": sizes, "training": None if cost is None else cost["cost"],
            "curve": {"evals": np.cumsum(curves[0]["evals"]).tolist(),
                      "ratio_to_best": rtb.mean(axis=0).tolist(), "b0": curves[0]["b0"]}}
      rank = lambda m: tuple(methods[m]["sizes"]["all"]["evals_to_target"][str(t)]["censored"][0]
                             for t in config.targets)
      out.setdefault(f, {})[str(p)] = {"best_found": report, "methods": methods,
                                       "ranking": sorted(methods, key=rank)}
  return out
