"""models and meta: shapes, parameter counts, gradients, Phase I semantics, losses."""
import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from jqmeta import graphs, meta, models
from conftest import random_graph, dense_energy

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
@pytest.mark.parametrize("variant", models.VARIANTS)
def test_published_cell_contract(name, variant):
  """The published precision keeps float32 in and out and agrees with float32 to ~1e-6."""
  cell = models.create(name, variant=variant)
  variables = _init(cell)
  x = jnp.array([-3.1, 0.2, -0.1], jnp.float32)
  run = jax.jit(lambda c, x: cell.apply(variables, c, x, precision="published"))
  carry, angles = run(cell.initial_carry(), x)
  carry, angles = run(carry, x)  # a nonzero carry too
  _, ref = cell.apply(variables, cell.apply(variables, cell.initial_carry(), x)[0], x)
  assert angles.dtype == jnp.float32 and all(c.dtype == jnp.float32 for c in carry)
  np.testing.assert_allclose(np.asarray(angles), np.asarray(ref), atol=2e-6, rtol=0)


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


# --------------------------------------------------------------------------- #
# Independent oracle: the published recurrences and the QAOA energy in NumPy float64
# --------------------------------------------------------------------------- #
_dense_energy = dense_energy  # the shared oracle (conftest)


def _sigmoid(v):
  return 1 / (1 + np.exp(-v))


def _lstm_cell(P, carry, x):
  """PyTorch's LSTM (gates i, f, g, o); the hidden state is the angle vector."""
  h, c = carry
  w = {k: np.asarray(v, np.float64) for k, v in P.items()}
  i, f, g, o = np.split(w["weight_ih"] @ x + w["bias_ih"] + w["weight_hh"] @ h + w["bias_hh"], 4)
  c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
  h = _sigmoid(o) * np.tanh(c)
  return (h, c), h


def _ry(t):
  return np.array([[np.cos(t / 2), -np.sin(t / 2)], [np.sin(t / 2), np.cos(t / 2)]])


def _qfwp_cell(P, fast, x, carried):
  """QFWP: F = [F_prev +] outer(l, q); H, RY(e), CNOT(0, 1), RY(F); <Z_i>; post_mapping."""
  lin = lambda name, v: (np.asarray(P[name]["kernel"], np.float64).T @ v
                         + np.asarray(P[name]["bias"], np.float64))
  e, r = lin("input_encoder", x), lin("slow_program_encoder", x)
  fast = (fast if carried else 0.0) + np.outer(lin("slow_program_layer_idx", r),
                                               lin("slow_program_qubit_idx", r))
  h = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
  psi = np.kron(_ry(e[0]) @ h, _ry(e[1]) @ h)[:, 0]
  psi = np.kron(_ry(fast[0, 0]), _ry(fast[0, 1])) @ psi[[0, 1, 3, 2]]  # CNOT(0, 1)
  z = np.abs(psi) ** 2 @ np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]])
  return fast, lin("post_mapping", z)


def _numpy_phase1(cell, P, G, p, steps=10):
  """Cost 0, angles 0, zero carry; step t feeds [C_{t-1}, a_{t-1}] back (published loop)."""
  carry = (np.zeros(2 * p), np.zeros(2 * p)) if cell is _lstm_cell else np.zeros((1, 2))
  cost, a, out = 0.0, np.zeros(2 * p), []
  for _ in range(steps):
    carry, a = cell(P, carry, np.concatenate([[cost], a]))
    cost = _dense_energy(a, G)
    out.append(np.concatenate([a, [cost]]))
  return np.array(out)


ORACLES = {
    ("lstm", "reference", 1): _lstm_cell,
    ("lstm", "corrected", 2): _lstm_cell,
    ("qfwp", "reference", 1): lambda P, f, x: _qfwp_cell(P, f, x, carried=False),
    ("qfwp", "corrected", 1): lambda P, f, x: _qfwp_cell(P, f, x, carried=True),
}


@pytest.mark.parametrize("precision", models.PRECISIONS)
@pytest.mark.parametrize("case", list(ORACLES), ids=lambda c: "-".join(map(str, c)))
def test_phase1_matches_an_independent_numpy_recurrence(case, precision):
  """Phase I (the cell, the feedback and the statevector energy) against NumPy float64 on a
  weighted graph: angles measured within 4e-7 and costs within 2e-6 in both precisions."""
  name, variant, p = case
  cell = models.create(name, variant=variant, p=p)
  variables = _init(cell, 7)
  G = random_graph(3, 7, weighted=True)
  angles, costs = jax.jit(lambda v, g: meta.phase1(cell, v, g, precision=precision))(
      variables, graphs.from_networkx(G))
  ref = _numpy_phase1(ORACLES[case], variables["params"], G, p)
  assert np.ptp(ref[:, :2 * p], axis=0).max() > 1e-2  # the angles really move
  np.testing.assert_allclose(np.asarray(angles).reshape(10, 2 * p), ref[:, :2 * p],
                             atol=2e-6, rtol=0)
  np.testing.assert_allclose(np.asarray(costs), ref[:, -1], atol=1e-5, rtol=0)


# --------------------------------------------------------------------------- #
# The published precision: float64 islands in a float32 program
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", ["lstm", "qlstm", "qfwp"])
def test_published_precision_is_identical_batched_and_not(name):
  """Every float32 operation is rounded explicitly, so no FMA contraction can make a batch
  differ from a single graph.  (In float32 mode these three differ: XLA contracts
  ``a * b + c`` differently in their batched and unbatched programs.)"""
  cell = models.create(name)
  variables = _init(cell, 5)
  gl = [graphs.from_networkx(random_graph(s, n, weighted=True)) for s, n in [(0, 5), (1, 7)]]
  run = lambda g: meta.phase1(cell, variables, g, steps=3, precision="published")
  angles, costs = jax.jit(jax.vmap(run))(graphs.stack(gl))
  assert angles.dtype == jnp.float32 and costs.dtype == jnp.float32
  one = jax.jit(run)
  for i, g in enumerate(gl):
    a_i, c_i = one(g)
    np.testing.assert_array_equal(np.asarray(a_i), np.asarray(angles[i]))
    np.testing.assert_array_equal(np.asarray(c_i), np.asarray(costs[i]))


@pytest.mark.parametrize("name", ["lstm", "qfwp"])
def test_published_precision_gradients_with_x64_disabled(name):
  """BPTT through the float64 parts works with x64 off, batched too, and agrees with the
  float32 gradient to float32 accuracy; forward mode is refused (custom_vjp)."""
  assert not jax.config.jax_enable_x64
  cell = models.create(name, variant="corrected")
  variables = _init(cell, 3)
  gs = graphs.stack([graphs.from_networkx(random_graph(s, 5, weighted=True)) for s in (4, 5)])

  def loss(params, g, precision):
    _, costs = meta.phase1(cell, {**variables, "params": params}, g, steps=3, precision=precision)
    return meta.weighted_loss(costs)

  grad = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0, None)), static_argnums=2)
  published, float32 = grad(variables["params"], gs, "published"), grad(variables["params"], gs, "float32")
  for a, b in zip(jax.tree.leaves(published), jax.tree.leaves(float32)):
    assert a.dtype == jnp.float32 and np.all(np.isfinite(a))
    np.testing.assert_allclose(a, b, atol=2e-5 * max(1.0, float(jnp.abs(b).max())), rtol=0)
  assert max(float(jnp.abs(a).max()) for a in jax.tree.leaves(published)) > 1e-3
  # The cell alone, outside phase1, differentiates too (each float64 part is its own island).
  x = jnp.array([-3.0, 0.2, 0.1])
  cell_grad = jax.grad(lambda prm, precision: jnp.sum(cell.apply(
      {**variables, "params": prm}, cell.initial_carry(), x, precision=precision)[1]))
  for a, b in zip(jax.tree.leaves(cell_grad(variables["params"], "published")),
                  jax.tree.leaves(cell_grad(variables["params"], "float32"))):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
  one = jax.tree.map(lambda x: x[0], gs)
  with pytest.raises(TypeError, match="custom_vjp"):
    jax.jvp(lambda p: loss(p, one, "published"), (variables["params"],), (variables["params"],))


def test_published_linear_layers_sum_in_torchs_order():
  torch = pytest.importorskip("torch")
  rng = np.random.default_rng(0)
  for fan_in, features, batch in [(3, 2, ()), (2, 1, ()), (2, 2, ()), (3, 8, ()), (4, 3, (4,))]:
    layer = models.Linear(features, fan_in)
    apply = jax.jit(lambda v, x: layer.apply(v, x, precision="published"))
    for _ in range(50):
      w = rng.normal(size=(features, fan_in)).astype(np.float32)
      b = rng.normal(size=features).astype(np.float32)
      x = (rng.normal(size=batch + (fan_in,)) * [10.0, 0.3, 1.0, 3.0][:fan_in]).astype(np.float32)
      ref = torch.nn.functional.linear(torch.tensor(x), torch.tensor(w), torch.tensor(b)).numpy()
      out = apply({"params": {"kernel": w.T, "bias": b}}, jnp.asarray(x))
      np.testing.assert_array_equal(np.asarray(out), ref)


def test_published_lstm_cell_matches_torch():
  """One step of the reference LSTM against ``torch.nn.LSTM`` (float32, CPU): within one ulp
  (sigmoid/tanh come from different libms; the sums are in torch's order)."""
  torch = pytest.importorskip("torch")
  cell = models.create("lstm")
  variables = _init(cell, 9)
  lstm = torch.nn.LSTM(3, 2)
  with torch.no_grad():
    for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
      getattr(lstm, f"{k}_l0").copy_(torch.tensor(np.asarray(variables["params"][k])))
  rng = np.random.default_rng(1)
  for _ in range(20):
    x, h, c = (rng.normal(size=n).astype(np.float32) for n in (3, 2, 2))
    carry, out = cell.apply(variables, models.LSTMCarry(jnp.asarray(h), jnp.asarray(c)),
                            jnp.asarray(x), precision="published")
    ref, (_, ref_c) = lstm(torch.tensor(x)[None, None], (torch.tensor(h)[None, None],
                                                           torch.tensor(c)[None, None]))
    np.testing.assert_allclose(np.asarray(out), ref.detach().numpy().reshape(2), atol=2e-7, rtol=0)
    np.testing.assert_allclose(np.asarray(carry.c), ref_c.detach().numpy().reshape(2), atol=4e-7,
                               rtol=0)


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


def test_bad_precision():
  cell = models.create("qfwp")
  variables = _init(cell)
  g = graphs.from_networkx(nx.path_graph(3))
  with pytest.raises(ValueError, match="precision must be one of"):
    meta.phase1(cell, variables, g, precision="float64")
  with pytest.raises(ValueError, match="precision must be one of"):
    cell.apply(variables, cell.initial_carry(), cell.dummy_input(), precision="torch")


def test_bad_input_shape():
  cell = models.create("lstm", p=2)
  variables = _init(cell)
  with pytest.raises(AssertionError):
    cell.apply(variables, cell.initial_carry(), jnp.zeros(3))
  with pytest.raises(ValueError, match="steps"):
    meta.phase1(cell, variables, graphs.from_networkx(nx.path_graph(3)), steps=0)
