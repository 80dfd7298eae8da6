"""The study beyond the paper: metrics, the graph-aware model, `jqmeta study` end to end."""
from __future__ import annotations

import argparse
import json
import math

import jax
import networkx as nx
import numpy as np
import pytest

from jqmeta import graphs, meta, metrics, models, problems, study
from jqmeta.app import study_cli, study_report

# ------------------------------------------------------------------------------ metrics


def test_evaluations_to_target_hand_computed():
  curve = [[0.5, 0.97, 0.985, 0.995], [0.99, 0.99, 1.0, 1.0], [0.1, 0.2, 0.3, 0.4]]
  # cumulative evaluations of the four entries: 1, 2, 4, 5
  out = metrics.evaluations_to_target(curve, 0.98, [1, 1, 2, 1])
  assert out["per_graph"].tolist() == [4.0, 1.0, math.inf]
  assert out["reached"].tolist() == [True, True, False]
  assert out["fraction"] == pytest.approx(2 / 3)
  assert out["mean"] == pytest.approx(2.5)
  assert out["censored"].tolist() == [4.0, 1.0, 6.0]
  hi = metrics.evaluations_to_target(curve, 0.99, 1)
  assert hi["per_graph"].tolist() == [4.0, 1.0, math.inf]
  assert math.isnan(metrics.evaluations_to_target(curve, 1.5, 1)["mean"])


@pytest.mark.parametrize("bad", [dict(evals_per_step=[1, 1]), dict(evals_per_step=0),
                                 dict(evals_per_step=[1, -1, 1])])
def test_evaluations_to_target_refuses_bad_costs(bad):
  with pytest.raises(ValueError, match="evals_per_step"):
    metrics.evaluations_to_target([[0.1, 0.2, 0.3]], 0.5, **bad)


def test_bootstrap_ci_matches_normal_theory():
  rng = np.random.default_rng(0)
  values = rng.normal(3.0, 2.0, size=400)
  mean, low, high = metrics.bootstrap_ci(values, jax.random.key(1), n=2000)
  assert mean == pytest.approx(values.mean())
  half = 1.959964 * values.std() / math.sqrt(len(values))  # normal-theory half width
  assert low < mean < high
  assert (high - low) / 2 == pytest.approx(half, rel=0.15)
  lo90, hi90 = metrics.bootstrap_ci(values, jax.random.key(1), n=2000, level=0.9)[1:]
  assert low <= lo90 and hi90 <= high
  assert metrics.bootstrap_ci([2.5] * 5, jax.random.key(0)) == (2.5, 2.5, 2.5)
  with pytest.raises(ValueError, match="finite"):
    metrics.bootstrap_ci([1.0, math.inf], jax.random.key(0))


# ------------------------------------------------------------------------ graph-aware model


def test_graph_features_by_hand_and_padding_invariant():
  G = nx.star_graph(3)  # centre 0 (degree 3), leaves of degree 1
  for (u, v), w in zip(G.edges, (1.0, 2.0, 3.0)):
    G[u][v]["weight"] = w
  want = [4 / 16, 3 / 6, 1.5 / 8, math.sqrt(0.75) / 8, 2.0, math.sqrt(2 / 3)]
  g = graphs.from_networkx(G)
  np.testing.assert_allclose(meta.graph_features(g), want, rtol=1e-6)
  padded = graphs.from_networkx(G, n_qubits=7, max_edges=9)
  np.testing.assert_allclose(meta.graph_features(padded), want, rtol=1e-6)


def test_only_the_graph_aware_model_sees_the_graph():
  # At step 1 every paper model reads x = [0, 0, ...] whatever the graph, so its first
  # proposal is the same for all graphs; the graph-aware one reads the graph features.
  a, b = graphs.from_networkx(nx.cycle_graph(5)), graphs.from_networkx(nx.complete_graph(6))
  for name in ("lstm", models.GRAPH_AWARE):
    model = models.create(name, variant="corrected", p=1)
    v = meta.init(model, jax.random.key(0))
    first = [meta.phase1(model, v, g, steps=1, method="analytic")[0][0] for g in (a, b)]
    same = bool(np.allclose(first[0], first[1]))
    assert same == (name == "lstm"), name


# -------------------------------------------------------------------------- end to end


def _check_result(result, config):
  tol = 1e-6
  for family in config.families:
    for p in config.ps:
      entry = result["families"][family][str(p)]
      methods = entry["methods"]
      for spec in config.models:
        assert spec in methods
      if p > min(config.ps):
        assert f"warm:{config.models[0]}" in methods
      assert "median" in methods and "random" in methods
      keys = [tuple(methods[m]["sizes"]["all"]["evals_to_target"][str(t)]["censored"][0]
                    for t in config.targets) for m in entry["ranking"]]
      assert keys == sorted(keys) and set(entry["ranking"]) == set(methods)
      # Every ratio is shift invariant ((E[cut] - min cut) / (max cut - min cut)), so it
      # lies in (0, 1] on SK's mixed-sign couplings too.
      for m in methods.values():
        for s in m["sizes"].values():
          for b in config.budgets:
            for what, upper in (("ratio", 1 + tol), ("ratio_to_best", 1 + tol)):
              mean, low, high = s[what][str(b)]
              assert 0 < low - tol <= mean <= high + tol and high <= upper, (what, b, s)
          for t in config.targets:
            e = s["evals_to_target"][str(t)]
            assert e["censored"][1] - tol <= e["censored"][0] <= e["censored"][2] + tol
            assert e["censored"][0] >= 1
            assert 0 <= e["fraction"][0] <= 1
        assert np.all(np.diff(m["curve"]["evals"]) >= 1)
      for n, best in entry["best_found"].items():
        assert np.all(np.asarray(best["energy"]) <= np.asarray(best["search_energy"]))


def _check_best_found_bounds_every_method(result, config):
  """Per size: every method's mean final ratio <= the mean best-found ratio."""
  final = str(max(config.budgets))
  for family in config.families:
    for p in config.ps:
      entry = result["families"][family][str(p)]
      for n in config.test_n:
        best = entry["best_found"][str(n)]
        hi, lo = np.asarray(best["max_cut"]), np.asarray(best["min_cut"])
        assert np.all(lo <= 0) and (family == "sk" or np.all(lo == 0))
        best_ratio = np.mean((-np.asarray(best["energy"]) - lo) / (hi - lo))
        assert 0 < best_ratio <= 1 + 1e-9
        for name, m in entry["methods"].items():
          assert m["sizes"][str(n)]["ratio"][final][0] <= best_ratio + 1e-9, (family, p, n, name)


def _check_shots(result, config):
  """Under shots: every method, both kinds of training, reads within budget, ratios in
  [0, 1], reads never worse with more shots for the best sampled cut."""
  reads = [str(r) for r in study.shot_reads(config)]
  assert reads == ["10000", "100000"]
  for f in config.families:
    for p in config.ps:
      entry = result["shots"]["1000"][f][str(p)]
      methods = entry["methods"]
      assert set(config.models) | {m + "@shots" for m in config.shot_models} <= set(methods)
      assert "median" in methods and "random" in methods
      assert not any(m.startswith("warm:") for m in methods)
      assert sorted(entry["ranking"]) == sorted(methods)
      for name, m in methods.items():
        assert m["kind"] == ("rule" if name in study.METHOD_RULES else
                             "learned (sampled costs)" if name.endswith("@shots") else "learned")
        shots = m["curve"]["shots"]
        assert shots[0] >= 1000 and shots[-1] <= config.shot_budget
        assert np.all(np.diff(shots) > 0)
        for b in reads:
          got = m["reads"][b]
          assert got is not None, (name, b)  # S = 1000 fits both budgets for every method
          for q in ("ratio_to_best", "best_cut_ratio"):
            mean, lo, hi = got[q]
            assert 0 <= lo - 1e-6 <= mean <= hi + 1e-6 <= 1 + 2e-6, (f, p, name, q, got)
        lo_read, hi_read = (m["reads"][b]["best_cut_ratio"][0] for b in reads)
        assert hi_read >= lo_read - 1e-12  # more shots never lose the best cut seen
  cost = result["shot_training"]["1000"]
  assert all(set(cost[f][str(p)]) == set(config.shot_models) for f in config.families
             for p in config.ps)


def test_study_quick_end_to_end_cli_and_library(tmp_path):
  # The real `jqmeta study --quick` (every family, method and depth), through the command
  # line's parser and run (study_cli.run -> study.run_study -> study_report).
  parser = argparse.ArgumentParser()
  study_cli.configure(parser)
  args = parser.parse_args(["--quick", "--shots", "1000", "--out", str(tmp_path), "--quiet"])
  config = study.StudyConfig.quick(shots=(1000,))
  assert study_cli.study_config(args) == config
  assert set(config.families) == set(problems.FAMILIES) and config.ps == (1, 2, 3)
  assert study_cli.run(args) == 0
  result = json.loads((tmp_path / "study.json").read_text())
  assert result["config"] == config.to_dict() and result["seed"] == 0
  _check_result(result, config)
  _check_best_found_bounds_every_method(result, config)
  _check_shots(result, config)
  regular = result["families"]["regular"]
  assert all("fixed_angle_conjecture" in regular[str(p)]["methods"] for p in config.ps)
  names = {p.name for p in tmp_path.iterdir()}
  assert names >= {"study.json", "leaderboard.md", "leaderboard.csv", "datasets", "checkpoints"}
  assert names >= {f"ratio_vs_{what}_{f}.png" for f in config.families
                   for what in ("evaluations", "n", "shots")} | {"leaderboard_shots.csv"}
  board = (tmp_path / "leaderboard.md").read_text()
  assert all(f"## {f}, p = {p}" in board for f in config.families for p in config.ps)
  assert all(f"## S = 1000 shots per estimate: {f}, p = {p}" in board
             for f in config.families for p in config.ps)
  rows = (tmp_path / "leaderboard.csv").read_text().splitlines()
  assert len(rows) == 1 + sum(2 * len(result["families"][f][str(p)]["methods"])
                              for f in config.families for p in config.ps)
  # The library stages again on the same folder: the datasets and checkpoints are reused.
  key = jax.random.split(jax.random.key(0), 6)
  data = study.make_datasets(config, key[0], tmp_path)
  again = study.train_learned(config, data, key[2], tmp_path)
  assert all(e["cost"]["reused"] for by_f in again.values() for by_p in by_f.values()
             for e in by_p.values())


@pytest.mark.parametrize("flags, words", [
    (["--p", "0"], "--p"),
    (["--family", "er", "er"], "repeated"),
    (["--models", "lstm"], "name:variant"),
    (["--devices", "x"], "--devices"),
    (["--shots", "1"], "--shots"),
    (["--shots", "1000", "--shot-budget", "10"], "shot_budget"),
    (["--models", "lstm:corrected", "--shot-models", "qfwp:corrected"], "shot_models"),
])
def test_study_cli_bad_input_is_one_line(tmp_path, capsys, flags, words):
  parser = argparse.ArgumentParser()
  study_cli.configure(parser)
  out = tmp_path / "new"
  assert study_cli.run(parser.parse_args(flags + ["--out", str(out)])) == 2
  err = capsys.readouterr().err.strip()
  assert err.count("\n") == 0 and words in err and err.startswith("jqmeta study: error:")
  assert not out.exists()


def _entry(rule, learned, warm=None):
  """A one-family summary: CIs ``(mean, lo, hi)`` per target for a rule and models."""
  def m(kind, cis):
    return {"kind": kind, "sizes": {"all": {"evals_to_target": {
        t: {"censored": list(ci)} for t, ci in zip(("0.98", "0.99"), cis)}}}}
  methods = {"rule_a": m("rule", rule), "model": m("learned", learned)}
  if warm is not None:
    methods["warm:model"] = m("warm", warm)
  key = lambda k: tuple(methods[k]["sizes"]["all"]["evals_to_target"][t]["censored"][0]
                        for t in ("0.98", "0.99"))
  return {"methods": methods, "ranking": sorted(methods, key=key)}


@pytest.mark.parametrize("rule, learned, warm, want", [
    (((1, 1, 1), (2, 1, 3)), ((9, 8, 10), (20, 18, 22)), None, ("rule", 0.98, 8.0)),
    (((1, 1, 2), (30, 25, 35)), ((1, 1, 2), (5, 4, 6)), None, ("learned", 0.99, 25.0)),
    (((1, 1, 4), (9, 5, 12)), ((2, 1, 3), (8, 6, 11)), None, ("tie", None, None)),
    # A warm start counts as learned and is picked when it ranks first.
    (((5, 4, 6), (9, 8, 10)), ((9, 8, 10), (20, 18, 22)), ((2, 1, 3), (3, 2, 4)),
     ("learned", 0.98, 3.0)),
])
def test_verdict_needs_disjoint_intervals(rule, learned, warm, want):
  v = study_report.verdict(_entry(rule, learned, warm), (0.98, 0.99))
  assert (v["winner"], v["decided_at"]) == want[:2]
  assert v["margin"] == (None if want[2] is None else pytest.approx(want[2]))
  if warm is not None:
    assert v["learned"] == "warm:model"


def test_shot_reads_take_the_last_step_within_each_budget():
  from jqmeta._src import study_shots
  entry = {"shots": np.array([[100, 400, 700], [100, 400, 700]]),
           "energies": np.array([[-1.0, -2.0, -3.0], [-1.5, -2.5, -3.5]]),
           "best_cuts": np.array([[1.0, 2.0, 4.0], [2.0, 2.0, 3.0]])}
  e, b = study_shots._read(entry, 500)
  assert e.tolist() == [-2.0, -2.5] and b.tolist() == [2.0, 2.0]
  assert study_shots._read(entry, 700)[0].tolist() == [-3.0, -3.5]
  assert study_shots._read(entry, 99) is None  # not even the first measurement fits
  cfg = study.StudyConfig.quick(shots=(100,), shot_budget=50_000)
  assert study.shot_reads(cfg) == (10_000, 50_000)
