"""models and meta: shapes, parameter counts, gradients, Phase I semantics, losses."""
import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from jqmeta import graphs, meta, models, qaoa
from conftest import random_graph

NAMES = models.MODEL_NAMES


def _init(cell, seed=0):
  return meta.init(cell, jax.random.key(seed))


@pytest.mark.parametrize("name, counts", [
    ("lstm", {"sequence": 56, "mapping": 0, "total": 56}),
    ("qk_lstm", {"sequence": 43, "mapping": 8, "total": 51}),
    ("qlstm", {"sequence": 43, "mapping": 8, "total": 51}),
    ("qfwp", {"sequence": 31, "mapping": 0, "total": 31}),
])
def test_reference_parameter_counts(name, counts):
  variables = _init(models.create(name))
  assert models.count_params(variables["params"]) == counts


def test_reference_qlstm_circuit_weights_are_not_trainable():
  v1 = _init(models.create("qlstm"), 1)
  v2 = _init(models.create("qlstm"), 2)
  w = v1["circuit"]["weights"]
  assert w.shape == (4, 1, 4) and "circuit_weights" not in v1["params"]
  assert float(w.min()) >= 0 and float(w.max()) < 2 * np.pi
  assert not np.allclose(w, v2["circuit"]["weights"])  # drawn from the key
  corrected = _init(models.create("qlstm", variant="corrected"))
  assert "circuit" not in corrected and corrected["params"]["circuit_weights"].shape == (4, 1, 4)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("variant", models.VARIANTS)
@pytest.mark.parametrize("p", [1, 3])
def test_cell_contract(name, variant, p):
  cell = models.create(name, variant=variant, p=p)
  variables = _init(cell)
  x = jnp.arange(1 + 2 * p, dtype=jnp.float32) * 0.1 - 0.2
  carry, angles = cell.apply(variables, cell.initial_carry(), x)
  assert angles.shape == (2 * p,) and angles.dtype == jnp.float32
  assert jax.tree.map(jnp.shape, carry) == jax.tree.map(jnp.shape, cell.initial_carry())
  assert np.all(np.isfinite(np.asarray(angles)))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("p", [1, 2])
def test_every_corrected_leaf_gets_a_gradient(name, p):
  cell = models.create(name, variant="corrected", p=p)
  variables = _init(cell, 3)
  g = graphs.from_networkx(random_graph(5, 6, weighted=True))

  def loss(params):
    _, costs = meta.phase1(cell, {**variables, "params": params}, g, steps=4)
    return meta.weighted_loss(costs)

  grads = jax.jit(jax.grad(loss))(variables["params"])
  for path, leaf in jax.tree_util.tree_leaves_with_path(grads):
    assert np.all(np.isfinite(leaf)), path
    assert float(jnp.abs(leaf).max()) > 0, f"zero gradient for {jax.tree_util.keystr(path)}"


def test_reference_qk_lstm_clayer_in_gets_zero_gradient():
  cell = models.create("qk_lstm")
  variables = _init(cell)
  g = graphs.from_networkx(random_graph(2, 6, weighted=False))
  grads = jax.jit(jax.grad(lambda prm: meta.weighted_loss(
      meta.phase1(cell, {"params": prm}, g, steps=4)[1])))(variables["params"])
  # The published gate circuit is the identity: clayer_in only sees rounding noise.
  assert float(jnp.abs(grads["clayer_in"]["kernel"]).max()) < 1e-12
  assert float(jnp.abs(grads["mapping"]["kernel"]).max()) > 0


def test_reference_qk_lstm_is_graph_independent_but_corrected_is_not():
  gs = graphs.stack([graphs.from_networkx(random_graph(s, n, weighted=False, p_edge=0.7))
                     for s, n in [(0, 5), (1, 7), (2, 8)]])
  for variant, same in [("reference", True), ("corrected", False)]:
    cell = models.create("qk_lstm", variant=variant)
    variables = _init(cell, 4)
    angles, _ = jax.jit(jax.vmap(lambda g: meta.phase1(cell, variables, g)))(gs)
    spread = float(jnp.max(jnp.abs(angles - angles[:1])))
    assert (spread < 1e-6) == same, (variant, spread)


def test_reference_qfwp_is_memoryless_and_corrected_carries():
  x = jnp.array([-3.0, 0.2, 0.1])
  for variant, memory in [("reference", False), ("corrected", True)]:
    cell = models.create("qfwp", variant=variant)
    variables = _init(cell)
    carry, a1 = cell.apply(variables, cell.initial_carry(), x)
    _, a2 = cell.apply(variables, carry, x)
    assert (not np.allclose(a1, a2)) == memory


def test_phase1_matches_a_python_loop():
  cell = models.create("qk_lstm", variant="corrected")
  variables = _init(cell, 7)
  g = graphs.from_networkx(random_graph(3, 7, weighted=True))
  angles, costs = jax.jit(lambda v, g: meta.phase1(cell, v, g))(variables, g)
  carry, cost, a = cell.initial_carry(), jnp.zeros(()), jnp.zeros(2)
  for t in range(10):
    carry, a = cell.apply(variables, carry, jnp.concatenate([cost[None], a]))
    cost = qaoa.energy(a.reshape(2, 1), g)
    np.testing.assert_allclose(angles[t], a.reshape(2, 1), atol=1e-5)
    assert abs(float(costs[t]) - float(cost)) < 1e-4


def test_phase1_vmaps_over_mixed_sizes_and_p():
  cell = models.create("lstm", variant="corrected", p=2)
  variables = _init(cell)
  gl = [graphs.from_networkx(random_graph(s, n, weighted=True)) for s, n in [(0, 4), (1, 8)]]
  angles, costs = jax.jit(jax.vmap(lambda g: meta.phase1(cell, variables, g, steps=6)))(
      graphs.stack(gl))
  assert angles.shape == (2, 6, 2, 2) and costs.shape == (2, 6)
  one = jax.jit(lambda g: meta.phase1(cell, variables, g, steps=6))
  for i, g in enumerate(gl):
    a_i, c_i = one(g)
    np.testing.assert_allclose(angles[i], a_i, atol=1e-5)
    np.testing.assert_allclose(costs[i], c_i, rtol=1e-5, atol=1e-5)


def test_losses_by_hand():
  c = jnp.array([-1.0, -3.0, -2.0, -4.0])
  assert float(meta.weighted_loss(c)) == pytest.approx(
      (0.1 * -1 + 0.2 * -3 + 0.3 * -2 + 0.4 * -4) / 4)
  # improvements over the running best: -2, 0 (worse), -1
  assert float(meta.observed_improvement_loss(c)) == pytest.approx((-2.0 + 0.0 - 1.0) / 4)
  assert meta.meta_loss("weighted") is meta.weighted_loss
  with pytest.raises(ValueError, match="meta-loss"):
    meta.meta_loss("mse")


@pytest.mark.parametrize("kwargs, match", [
    (dict(name="gru"), "unknown model"),
    (dict(name="lstm", variant="fixed"), "unknown variant"),
    (dict(name="lstm", p=0), "depth p"),
    (dict(name="lstm", p=1.5), "depth p"),
    (dict(name="qk_lstm", n_refs=0), "positive"),
    (dict(name="lstm", n_refs=3), "unknown option"),
])
def test_bad_create(kwargs, match):
  name = kwargs.pop("name")
  with pytest.raises(ValueError, match=match):
    models.create(name, **kwargs)


def test_bad_input_shape():
  cell = models.create("lstm", p=2)
  variables = _init(cell)
  with pytest.raises(AssertionError):
    cell.apply(variables, cell.initial_carry(), jnp.zeros(3))
  with pytest.raises(ValueError, match="steps"):
    meta.phase1(cell, variables, graphs.from_networkx(nx.path_graph(3)), steps=0)
