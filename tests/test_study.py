"""The study beyond the paper: metrics, the graph-aware model, `jqmeta study` end to end."""
from __future__ import annotations

import argparse
import json
import math

import jax
import networkx as nx
import numpy as np
import pytest

from jqmeta import graphs, meta, metrics, models, study
from jqmeta.app import study_cli
from isolation import in_fresh_process

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


def _tiny(**kw):
  return study.StudyConfig.quick(
      families=("er",), ps=(1, 2), train_n=(5,), test_n=(6,), train_count=3, val_count=1,
      test_count=3, epochs=1, steps=3, budgets=(0, 2, 4), bootstrap=50,
      search_random=1, search_steps=20,
      models=("lstm:corrected", f"{models.GRAPH_AWARE}:corrected"), **kw)


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


_TINY_FLAGS = ["--quick", "--family", "er", "--p", "1", "2", "--train-n", "5", "--test-n", "6",
               "--budget", "0", "2", "4", "--epochs", "1", "--test-count", "3",
               "--train-count", "3", "--val-count", "1", "--steps", "3", "--bootstrap", "50",
               "--search-steps", "20", "--search-random", "1", "--models", "lstm:corrected",
               f"{models.GRAPH_AWARE}:corrected"]


def test_study_end_to_end_cli_and_library(tmp_path, request):
  if in_fresh_process(request):
    return
  # One run, through the command line (study_cli.run -> study.run_study -> study_report).
  parser = argparse.ArgumentParser()
  study_cli.configure(parser)
  args = parser.parse_args(_TINY_FLAGS + ["--out", str(tmp_path), "--quiet"])
  config = _tiny()
  assert study_cli.study_config(args) == config
  assert study_cli.run(args) == 0
  result = json.loads((tmp_path / "study.json").read_text())
  assert result["config"] == config.to_dict() and result["seed"] == 0
  _check_result(result, config)
  names = {p.name for p in tmp_path.iterdir()}
  assert names >= {"study.json", "leaderboard.md", "leaderboard.csv",
                   "ratio_vs_evaluations_er.png", "ratio_vs_n_er.png", "datasets", "checkpoints"}
  board = (tmp_path / "leaderboard.md").read_text()
  assert "## er, p = 1" in board and "## er, p = 2" in board
  rows = (tmp_path / "leaderboard.csv").read_text().splitlines()
  assert len(rows) == 1 + sum(2 * len(result["families"]["er"][str(p)]["methods"])
                              for p in config.ps)  # one size + "all" per method
  # The library stages again on the same folder: the datasets and checkpoints are reused.
  key = jax.random.split(jax.random.key(0), 6)
  data = study.make_datasets(config, key[0], tmp_path)
  again = study.train_learned(config, data, key[2], tmp_path)
  assert all(e["cost"]["reused"] for by_p in again["er"].values() for e in by_p.values())


@pytest.mark.parametrize("flags, words", [
    (["--p", "0"], "--p"),
    (["--family", "er", "er"], "repeated"),
    (["--models", "lstm"], "name:variant"),
    (["--devices", "x"], "--devices"),
])
def test_study_cli_bad_input_is_one_line(tmp_path, capsys, flags, words):
  parser = argparse.ArgumentParser()
  study_cli.configure(parser)
  out = tmp_path / "new"
  assert study_cli.run(parser.parse_args(flags + ["--out", str(out)])) == 2
  err = capsys.readouterr().err.strip()
  assert err.count("\n") == 0 and words in err and err.startswith("jqmeta study: error:")
  assert not out.exists()
