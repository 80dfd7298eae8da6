"""shots: Born-rule sampling, unbiased estimates, shot-based gradients, Phase II budgets.

Oracles: ``qaoa.state`` (|psi|^2 for the chi-square test), ``qaoa.energy`` and
``jax.grad(qaoa.energy)`` (the library's cores, independent of the per-qubit simulator
that runs the shifted circuits), ``qaoa.cut_values`` (cuts of returned bitstrings).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import optax
import pytest
from scipy import stats

from jqmeta import graphs, qaoa, shots
from conftest import random_graph

# Jitted oracles: one compile each instead of one per primitive in eager mode.
_state = jax.jit(qaoa.state)
_energy = jax.jit(qaoa.energy)
_grad = jax.jit(jax.grad(qaoa.energy))
_cut_values = jax.jit(qaoa.cut_values)


def _weighted(seed: int, n: int, *, signed: bool = False, p_edge: float = 0.6) -> nx.Graph:
  """A seeded G(n, p) graph with non-integer weights (some negative if ``signed``)."""
  rng = np.random.default_rng(seed)
  G = random_graph(seed, n, weighted=True, p_edge=p_edge)
  if signed:
    for u, v in G.edges:
      G[u][v]["weight"] = float(rng.normal(0.0, 1.5))
  return G


def _chi2_pvalue(z: np.ndarray, probs: np.ndarray) -> float:
  counts = np.bincount(z, minlength=probs.size).astype(float)
  probs = probs / probs.sum()
  keep = probs > 0
  expected = probs[keep] * counts.sum()
  return float(stats.chisquare(counts[keep], expected * counts[keep].sum() / expected.sum())
               .pvalue) if counts[~keep].sum() == 0 else 0.0


def test_sample_matches_born_rule_and_a_corrupted_sampler_fails():
  G = _weighted(3, 5)
  g = graphs.from_networkx(G)
  a = jnp.array([[0.5, -0.9], [0.35, 0.6]])
  probs = np.abs(np.asarray(_state(a, g), np.complex128)) ** 2
  z = np.asarray(shots.sample(a, g, 20000, jax.random.key(7)))
  assert _chi2_pvalue(z, probs) > 1e-3
  # Corruptions the same test must catch: no bit flip (only the simulated half), and the
  # reversed bit order (qubit 0 as the least significant bit).
  assert _chi2_pvalue(z & 0b01111, probs) < 1e-6
  rev = np.array([int(f"{v:05b}"[::-1], 2) for v in z])
  assert _chi2_pvalue(rev, probs) < 1e-6
  # The packed order is the order of qaoa.cut_values and of the unpacked bits.
  bits = np.asarray(shots.sample(a, g, 20000, jax.random.key(7), packed=False))
  assert bits.shape == (20000, 5) and (bits @ (2 ** np.arange(4, -1, -1)) == z).all()


def test_sample_never_draws_a_state_of_negligible_probability():
  # K2 at gamma = pi/2, beta = pi/8: |psi|^2 = (1/2, ~0, ~0, 1/2) (below 1e-14).
  g = graphs.from_networkx(nx.path_graph(2))
  a = jnp.array([[np.pi / 2], [np.pi / 8]])
  probs = np.abs(np.asarray(_state(a, g), np.complex128)) ** 2
  assert probs[1] < 1e-12 and probs[2] < 1e-12
  z = np.asarray(shots.sample(a, g, 4000, jax.random.key(0)))
  assert set(np.unique(z).tolist()) == {0, 3}


def test_estimate_is_unbiased_and_error_shrinks_as_one_over_sqrt_shots():
  g = graphs.from_networkx(_weighted(5, 6))
  a = jnp.array([[0.4, 0.7], [0.5, 0.2]])
  exact = float(_energy(a, g))
  keys = jax.random.split(jax.random.key(11), 300)
  means, ses = jax.vmap(lambda k: shots.estimate_energy(a, g, 100, k))(keys)
  spread = float(np.std(np.asarray(means), ddof=1))
  assert abs(float(np.mean(means)) - exact) < 4 * spread / np.sqrt(len(keys))
  assert 0.8 < float(np.mean(ses)) / spread < 1.25  # the reported error is the real one
  means_big, ses_big = jax.vmap(lambda k: shots.estimate_energy(a, g, 10000, k))(keys[:20])
  ratio = float(np.mean(ses)) / float(np.mean(ses_big))
  assert 9.0 < ratio < 11.0  # sqrt(10000 / 100) = 10
  assert abs(float(np.mean(means_big)) - exact) < 4 * float(np.mean(ses_big)) / np.sqrt(20)


def test_best_sampled_cut_is_a_real_cut_and_bounded_by_max_cut():
  G = _weighted(2, 7)
  g = graphs.from_networkx(G)
  a = jnp.array([[0.6], [0.35]])
  r = shots.best_sampled_cut(a, g, 500, jax.random.key(3))
  cuts = np.asarray(_cut_values(g))
  assert np.isclose(cuts[int(r.bitstring)], float(r.cut), rtol=1e-6)
  z = np.asarray(shots.sample(a, g, 500, jax.random.key(3)))
  assert np.isclose(float(r.cut), cuts[z].max(), rtol=1e-6)  # best among the same shots
  mc = float(qaoa.max_cut(g))
  assert np.isclose(float(r.ratio), float(r.cut) / mc, rtol=1e-6)
  assert float(r.ratio) >= -float(_energy(a, g)) / mc  # the best shot beats the mean


@pytest.mark.parametrize("p", [1, 2, 3])
def test_parameter_shift_with_exact_energies_is_the_exact_gradient(p):
  with jax.enable_x64(True):
    for seed, n, signed, pad in [[(1, 5, True, 0)], [(12, 4, False, 2)], [(3, 4, True, 1)]][p - 1]:
      g = graphs.from_networkx(_weighted(seed, n, signed=signed), n_qubits=n + pad)
      a = jnp.asarray(np.random.default_rng(seed).uniform(-1.5, 1.5, (2, p)))
      got, used = shots.parameter_shift_gradient(a, g, None)
      want = _grad(a, g)
      assert got.dtype == jnp.float64 and int(used) == 0
      np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=1e-10)


def test_parameter_shift_with_shots_is_unbiased_and_counts_its_shots():
  G = _weighted(4, 4, signed=True, p_edge=0.8)
  g = graphs.from_networkx(G)
  a = jnp.array([[0.7, -0.4], [0.3, 0.5]])
  keys = jax.random.split(jax.random.key(5), 64)
  grads, used = jax.vmap(lambda k: shots.parameter_shift_gradient(a, g, 100, k))(keys)
  want = np.asarray(_grad(a, g))
  mean, sem = np.mean(grads, 0), np.std(grads, 0, ddof=1) / np.sqrt(len(keys))
  assert (np.abs(mean - want) < 4 * sem).all(), (mean, want, sem)
  assert (np.asarray(used) == 2 * 2 * (G.number_of_edges() + 4) * 100).all()


def test_spsa_is_a_scaled_perturbation_whose_mean_is_the_gradient():
  with jax.enable_x64(True):
    g = graphs.from_networkx(_weighted(8, 5, signed=True))
    a = jnp.array([[0.7, -0.4], [0.3, 0.5]], jnp.float64)
    want = np.asarray(_grad(a, g))
    keys = jax.random.split(jax.random.key(9), 400)
    est, used = jax.vmap(lambda k: shots.spsa_gradient(a, g, None, k, c=1e-4))(keys)
    est = np.asarray(est).reshape(len(keys), -1)
    # Each estimate is (directional derivative along D) * D with D = +-1 entries.
    delta = np.sign(est) * np.sign(est[:, :1])
    directional = delta @ want.reshape(-1)
    np.testing.assert_allclose(np.abs(est), np.abs(directional)[:, None] * np.ones((1, 4)),
                               rtol=1e-6, atol=1e-8)
    mean, sem = est.mean(0), est.std(0, ddof=1) / np.sqrt(len(keys))
    assert (np.abs(mean - want.reshape(-1)) < 4 * sem).all()
    assert (np.asarray(used) == 0).all()
  g = graphs.from_networkx(_weighted(8, 5, signed=True))
  _, used = shots.spsa_gradient(jnp.array([[0.7], [0.3]]), g, 50, jax.random.key(0))
  assert int(used) == 100


def test_sample_at_20_qubits_and_a_million_shots_fits_the_memory_guard():
  g = graphs.from_networkx(_weighted(1, 20, p_edge=0.3))
  a = jnp.array([[0.3], [0.25]])
  n_shots = 10**6
  limit = qaoa.memory_limit()
  need = shots.sample_bytes(20, 1, n_shots)
  assert need <= limit  # the guard passes with the default budget
  assert need < 2**20 * n_shots * 4 // 1000  # O(2^n + shots): far below a shots x 2^n array
  fn = jax.jit(lambda a, k: shots.sample(a, g, n_shots, k))
  compiled = fn.lower(a, jax.random.key(0)).compile()
  mem = compiled.memory_analysis()
  if mem is not None:
    assert mem.temp_size_in_bytes + mem.output_size_in_bytes <= need
  z = np.asarray(compiled(a, jax.random.key(0)))
  assert z.shape == (n_shots,) and z.dtype == np.uint32 and z.max() < 2**20
  assert abs(np.mean(z >> 19) - 0.5) < 5 * 0.5 / np.sqrt(n_shots)  # qubit 0 flips fairly
  cuts = np.asarray(_cut_values(g))[z]
  assert abs(-cuts.mean() - float(_energy(a, g))) < 5 * cuts.std() / np.sqrt(n_shots)
  with pytest.raises(ValueError, match="memory limit"):
    shots.sample(a, g, n_shots, jax.random.key(0), memory_limit_bytes=need // 2)


@pytest.mark.parametrize("gradient", ["spsa", "shift"])
def test_phase2_shots_keeps_the_budget_and_improves_on_average(gradient):
  gs = [graphs.from_networkx(_weighted(20 + s, 5)) for s in range(3)]
  batch = graphs.stack(gs)
  a0 = jnp.tile(jnp.array([[0.15], [0.1]]), (3, 1, 1))
  budget, n_shots = 20000, 100
  run = jax.jit(jax.vmap(lambda a, g, k: shots.phase2_shots(
      a, g, key=k, shots=n_shots, shot_budget=budget, gradient=gradient,
      optimizer=optax.sgd(0.05))))
  r = run(a0, batch, jax.random.split(jax.random.key(1), 3))
  used = np.asarray(r.shots_used)
  assert (used <= budget).all() and (np.diff(used, axis=1) >= 0).all()
  cost = np.asarray(jax.vmap(lambda g: shots.gradient_shots(g, 1, n_shots, gradient))(batch))
  # Stopped by the budget, or by the scan length (set by the padded, static edge count).
  full = np.asarray(r.n_steps) == used.shape[1] - 1
  assert ((used[:, -1] + cost + n_shots > budget) | full).all()
  assert (used[:, -1] == n_shots + np.asarray(r.n_steps) * (cost + n_shots)).all()
  exact = np.asarray(r.exact_energies)
  assert exact[:, -1].mean() < exact[:, 0].mean() - 0.1
  best = np.asarray(r.best_cuts)
  assert (np.diff(best, axis=1) >= 0).all()
  for i, g in enumerate(gs):
    assert np.isclose(np.asarray(_cut_values(g))[int(r.best_bitstring[i])], best[i, -1])


def test_vmap_over_a_stacked_batch_equals_per_graph_calls():
  batch = graphs.stack([graphs.from_networkx(_weighted(30 + s, 5)) for s in range(3)])
  a = jnp.tile(jnp.array([[0.5, 0.2], [0.3, 0.6]]), (3, 1, 1))
  keys = jax.random.split(jax.random.key(2), 3)
  fns = [lambda a, g, k: shots.estimate_energy(a, g, 300, k),
         lambda a, g, k: shots.parameter_shift_gradient(a, g, 50, k)]
  for fn in fns:
    got = jax.vmap(fn)(a, batch, keys)
    for i, g in enumerate(graphs.unstack(batch)):
      want = fn(a[i], g, keys[i])
      for x, y in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(np.asarray(x[i]), np.asarray(y), rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"shots": 0}, ValueError, "shots"),
    ({"shots": 2.5}, TypeError, "shots"),
    ({"shots": 1}, ValueError, "shots"),  # a standard error needs two
    ({"shot_budget": 50}, ValueError, "shot_budget"),
    ({"shot_budget": 2**31}, ValueError, "shot_budget"),
    ({"gradient": "adam"}, ValueError, "gradient"),
    ({"optimizer": "sgd"}, TypeError, "optimizer"),
    ({"key": 3}, TypeError, "key"),
])
def test_bad_arguments_are_refused_before_any_work(kwargs, error, match):
  g = graphs.from_networkx(nx.cycle_graph(4))
  args = {"key": jax.random.key(0), "shots": 100, "shot_budget": 1000, **kwargs}
  with pytest.raises(error, match=match):
    shots.phase2_shots(jnp.zeros((2, 1)), g, **args)


# ------------------------------------------------------------ Phase I on sampled costs


@pytest.mark.parametrize("name", ["lstm", "graph_lstm"])
def test_phase1_on_sampled_costs_feeds_estimates_and_returns_exact_costs(name):
  from jqmeta import meta, models
  model = models.create(name, variant="corrected", p=2)
  v = meta.init(model, jax.random.key(0))
  g = graphs.from_networkx(random_graph(4, 6, weighted=True))
  r = meta.phase1_measured(model, v, g, 5, shots=64, key=jax.random.key(1))
  exact = jax.vmap(lambda a: qaoa.energy(a, g))(r.angles)
  np.testing.assert_allclose(r.energies, exact, rtol=1e-5, atol=1e-5)  # costs stay exact
  assert not np.allclose(r.observed, r.energies)  # but the model saw 64-shot estimates
  # the estimates are within 6 standard errors (a cut lies in [0, sum |w|])
  bound = 6 * float(jnp.sum(jnp.abs(g.weights))) / 2 / np.sqrt(64)
  assert np.all(np.abs(r.observed - r.energies) < bound)
  assert np.all(np.diff(r.best_cuts) >= 0) and r.best_cuts[-1] <= float(qaoa.max_cut(g))
  z = int(r.best_bitstring)  # the reported bitstring achieves the reported best cut
  assert float(qaoa.cut_values(g)[z]) == pytest.approx(float(r.best_cuts[-1]), rel=1e-5)
  # phase1(shots=) is the same run; the same key gives the same numbers, another differs
  angles, costs = meta.phase1(model, v, g, 5, shots=64, key=jax.random.key(1))
  np.testing.assert_array_equal(angles, r.angles)
  np.testing.assert_array_equal(costs, r.energies)
  other = meta.phase1(model, v, g, 5, shots=64, key=jax.random.key(2))[1]
  assert not np.array_equal(other, costs)
  # straight through: the meta-gradient is finite and flows through the exact costs
  loss = lambda vv: meta.weighted_loss(meta.phase1(model, vv, g, 5, shots=64,
                                                    key=jax.random.key(1))[1])
  grads = jax.tree.leaves(jax.grad(loss)(v)["params"])
  assert all(np.all(np.isfinite(x)) for x in grads) and any(np.any(x != 0) for x in grads)


def test_phase1_shots_refuses_bad_arguments():
  from jqmeta import meta, models
  model = models.create("lstm")
  v, g = meta.init(model, jax.random.key(0)), graphs.from_networkx(nx.cycle_graph(4))
  with pytest.raises(ValueError, match="PRNG key"):
    meta.phase1(model, v, g, 3, shots=10)
  with pytest.raises(ValueError, match="precision='float32'"):
    meta.phase1(model, v, g, 3, shots=10, key=jax.random.key(0), precision="published")
  with pytest.raises(ValueError, match="shots"):
    meta.phase1(model, v, g, 3, shots=0, key=jax.random.key(0))
