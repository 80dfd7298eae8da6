"""Parity with the published checkpoints, trajectories and results (../shared/reference).

Phase I runs in two precisions: ``"float32"`` (jqmeta's default) and ``"published"`` (the
published stack's arithmetic: the QAOA cost in float64 rounded to float32, float32 linear
layers in torch's order, complex128 gate circuits with float32 coefficients and readouts;
see ``meta.phase1``).  Measured on the 90 test graphs (max angle error per graph and step):

* LSTM, QK-LSTM: within 3e-7 of the published trajectories in both precisions.
* QFWP, a chaotic map: all ten steps within 2e-3 on 67 graphs in the published precision
  (36 in float32; 38 with only the cost in float64; 38 with everything in float64).  The
  published precision reproduces 68.6% of the 900 published single steps bit for bit
  (float32: 15%); its one remaining difference is float32 ``cos``/``sin``: correctly rounded
  here, torch's own libm there (one ulp apart on the graph-independent first step), and
  one ulp in the first cost moves step 10 by more than 2e-3 on 52 graphs, including all
  23 that are not tracked.
* QLSTM: its circuit weights were never saved, so no draw reproduces it; the loaded
  model equals an independent NumPy computation with the weights it drew.
"""
import csv

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jqmeta import graphs, io, meta, qaoa
from jqmeta._src import precision as prec
from conftest import reference_dir, dense_energy

CHECKPOINTS = {"LSTM": "best_LSTM_model_2D_QAOA", "QK": "best_QK_model_6e-6",
               "FWP": "best_FWP_model_2D_QAOA", "QLSTM": "best_VQC_model_2D_QAOA"}
PRECISIONS = ("float32", "published")
TARGET = 2e-3  # the angle tolerance for a tracked QFWP trajectory


@pytest.fixture(scope="module")
def published():
  ref = reference_dir()
  test = io.load_reference_dataset(ref / "datasets.pkl")["test_data"]
  stems = [f"node_{G.number_of_nodes()}_edge_{G.number_of_edges()}_{i}" for i, G in enumerate(test)]
  csvs = [ref / "results" / f"model_QAOA_node_{G.number_of_nodes()}_{i}_edge_{G.number_of_edges()}_{i}.csv"
          for i, G in enumerate(test)]
  rows = [list(csv.DictReader(open(p))) for p in csvs]
  return {"ref": ref, "test": test, "batch": graphs.stack([graphs.from_networkx(G) for G in test]),
          "stems": stems, "rows": rows, "runs": {}}


def _load(published, tag, **kwargs):
  return io.load_reference_checkpoint(
      published["ref"] / "checkpoints" / f"{CHECKPOINTS[tag]}.npz", **kwargs)


def _run(published, tag, precision="float32"):
  """Phase I of a published checkpoint on all 90 graphs: angles (90, 10, 2), costs (90, 10)."""
  if (tag, precision) not in published["runs"]:
    model, variables = _load(published, tag)
    fn = jax.jit(jax.vmap(lambda g: meta.phase1(model, variables, g, precision=precision)))
    angles, costs = fn(published["batch"])
    published["runs"][tag, precision] = (np.asarray(angles).reshape(90, 10, 2),
                                         np.asarray(costs))
  return published["runs"][tag, precision]


def _published(published, tag):
  angles = np.stack([np.load(published["ref"] / "trajectories" / f"{tag}_{s}.npz")["params"]
                     .reshape(10, 2) for s in published["stems"]])
  column = {"LSTM": "LSTM-QAOA", "QK": "QK-QAOA", "FWP": "FWP-QAOA", "QLSTM": "QLSTM-QAOA"}[tag]
  costs = np.array([[float(r[column]) for r in rows[:10]] for rows in published["rows"]])
  return angles, costs  # costs: the published float64 values, before the float32 cast


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("tag", ["LSTM", "QK"])
def test_lstm_and_qk_reproduce_all_90_trajectories(published, tag, precision):
  angles, costs = _run(published, tag, precision)
  ref_angles, ref_costs = _published(published, tag)
  assert angles.dtype == np.float32 and costs.dtype == np.float32
  assert np.abs(angles - ref_angles).max() < 1e-5
  assert np.all(np.abs(costs - ref_costs) <= 1e-5 * np.maximum(1.0, np.abs(ref_costs)))


def test_reference_qk_emits_one_schedule_for_every_graph(published):
  angles, _ = _run(published, "QK")
  assert np.abs(angles - angles[:1]).max() < 4e-7
  np.testing.assert_allclose(angles[0, -1], [-0.4114, 0.2769], atol=1e-4)


@pytest.mark.parametrize("tag", ["LSTM", "QK", "FWP"])
def test_published_cost_is_the_float64_cost_rounded_to_float32(published, tag):
  """Wherever our angles equal the published ones bit for bit, so does the cost fed back:
  the published float64 cost (the CSV holds it before the cast) rounded to float32."""
  angles, costs = _run(published, tag, "published")
  ref_angles, ref_costs = _published(published, tag)
  same = np.all(angles == ref_angles, axis=2)
  assert same.sum() >= 300  # of 900 (measured: LSTM 397, QK 810, FWP 393)
  np.testing.assert_array_equal(costs[same], ref_costs[same].astype(np.float32))


def test_qfwp_float32_reproduces_the_first_steps(published):
  angles, costs = _run(published, "FWP")
  ref_angles, ref_costs = _published(published, "FWP")
  err = np.abs(angles - ref_angles).max(axis=2)  # (graph, step)
  assert err[:, 0].max() < 1e-6              # first step: exact to float32 rounding
  # Rounding differences grow ~100x per step on the worst graph (measured with both
  # statevector cores: 1.2e-7, 2.7e-5, then 1.4e-3 (complex block-GEMM core) or 2.8e-3
  # (Walsh-Hadamard core) at step 3), so step 2 is tight and step 3 allows that growth.
  assert err[:, :2].max() < 1e-4             # first two steps on all 90 graphs
  assert err[:, 2].max() < 5e-3              # third step
  assert np.all(np.abs(costs[:, :3] - ref_costs[:, :3]) <= 2e-3 * np.maximum(1, np.abs(ref_costs[:, :3])))


def test_qfwp_published_precision_tracks_most_graphs_over_all_ten_steps(published):
  angles, _ = _run(published, "FWP", "published")
  ref_angles, _ = _published(published, "FWP")
  err = np.abs(angles - ref_angles).max(axis=2)  # (graph, step)
  # Measured per step 1..10: max 1.5e-8, 6.9e-7, 6.9e-6, 1.1e-4, 2.8e-3, 2.3e-2, 0.43, 1.5,
  # 1.1, 0.97; median 1.5e-8, 0, 0, 0, 0, 3.0e-8, 1.2e-7, 2.7e-7, 5.1e-7, 8.0e-7.
  assert err[:, 0].max() < 2e-8
  assert err[:, :4].max() < 2e-4            # all 90 graphs, first four steps
  assert np.median(err, axis=0).max() < 2e-6  # the typical graph, every step
  tracked = [(err[:, :t + 1].max(axis=1) < TARGET).sum() for t in range(10)]
  # Measured: 90, 90, 90, 90, 89, 84, 82, 80, 73, 67 (float32: ... 45, 38, 36).
  assert tracked[3] == 90 and tracked[-1] >= 65, tracked


def _published_inputs(angles, costs):
  """``x_t = [float32(C_{t-1}), a_{t-1}]`` of every published step, ``x_1 = 0``: (90, 10, 3)."""
  x = np.zeros(angles.shape[:2] + (3,), np.float32)
  x[:, 1:, 0] = costs[:, :-1].astype(np.float32)
  x[:, 1:, 1:] = angles[:, :-1]
  return x


def test_qfwp_published_cell_reproduces_most_published_steps_bit_for_bit(published):
  """The cell alone, fed the published inputs of all 900 steps: no chaos in between."""
  model, variables = _load(published, "FWP")
  ref_angles, ref_costs = _published(published, "FWP")
  x = jnp.asarray(_published_inputs(ref_angles, ref_costs).reshape(-1, 3))
  exact = {}
  for precision in PRECISIONS:
    cell = jax.vmap(lambda x: model.apply(variables, model.initial_carry(), x,
                                          precision=precision)[1])
    out = np.asarray(jax.jit(cell)(x)).reshape(90, 10, 2)
    exact[precision] = np.all(out == ref_angles, axis=2).mean()
    if precision == "published":
      assert np.abs(out - ref_angles).max() < 3e-7  # the rest: one or two ulps
  # Measured 0.686 against 0.150: float32 linear layers in torch's order, complex128
  # circuits with float32 coefficients.  torch's own float32 cos/sin give 0.888.
  assert exact["published"] > 0.65 and exact["float32"] < 0.3, exact


def test_qfwp_amplifies_a_single_float32_ulp(published):
  """Why full-trajectory parity for QFWP is ill-posed: one ulp in the step-1 cost moves
  step 10 by more than the 2e-3 target on many graphs, and on every graph the published
  precision does not track."""
  model, variables = _load(published, "FWP")

  def run(g, bump):
    carry, cost, a = model.initial_carry(), jnp.zeros(()), jnp.zeros(2)
    out = []
    for t in range(10):
      carry, a = model.apply(variables, carry, jnp.concatenate([cost[None], a]),
                             precision="published")
      with prec.x64():
        cost = prec.to_f32(qaoa.energy(a.reshape(2, 1).astype(jnp.float64),
                                        g.astype(jnp.float64)))
      if t == 0:
        cost = jnp.where(bump, jnp.nextafter(cost, jnp.inf), cost)
      out.append(a)
    return jnp.stack(out)

  fn = jax.jit(jax.vmap(run, in_axes=(0, None)))
  base, bumped = fn(published["batch"], False), fn(published["batch"], True)
  drift = np.abs(np.asarray(base - bumped))[:, -1].max(axis=1)
  np.testing.assert_array_equal(np.asarray(base), _run(published, "FWP", "published")[0])
  angles, _ = _run(published, "FWP", "published")
  untracked = np.abs(angles - _published(published, "FWP")[0]).max(axis=(1, 2)) >= TARGET
  assert (drift > TARGET).sum() >= 45  # measured 52 (median drift 0.038 rad)
  assert np.all(drift[untracked] > TARGET)


def test_qlstm_published_trajectories_match_no_draw_of_the_untrained_weights(published):
  """The QLSTM circuit weights were drawn at every load and never saved: no draw of ours
  reproduces even the graph-independent first step, which the same loader reproduces
  exactly for the QK-LSTM."""
  model, variables = _load(published, "QLSTM")
  ref_angles, _ = _published(published, "QLSTM")

  def first_step(key):
    w = meta.init(model, key)["circuit"]
    return model.apply({**variables, "circuit": w}, model.initial_carry(),
                       model.dummy_input())[1]

  keys = jax.random.split(jax.random.key(0), 1024)
  err = np.abs(np.asarray(jax.jit(jax.vmap(first_step))(keys)) - ref_angles[0, 0]).max(axis=1)
  assert err.min() > 1e-4  # measured 5e-4 (median 2e-2)
  qk_model, qk_variables = _load(published, "QK")
  qk_first = qk_model.apply(qk_variables, qk_model.initial_carry(), qk_model.dummy_input())[1]
  assert np.abs(np.asarray(qk_first) - _published(published, "QK")[0][0, 0]).max() < 1e-6
  # Whole trajectories: 16 draws on 6 graphs, none within 0.1 rad (measured >= 0.16).
  idx = np.arange(0, 90, 15)
  sub = graphs.stack([graphs.from_networkx(published["test"][i]) for i in idx])

  def trajectories(key):
    v = {**variables, "circuit": meta.init(model, key)["circuit"]}
    return jax.vmap(lambda g: meta.phase1(model, v, g)[0])(sub)

  a = np.asarray(jax.jit(jax.vmap(trajectories))(keys[:16])).reshape(16, len(idx), 10, 2)
  assert np.abs(a - ref_angles[idx]).max(axis=(1, 2, 3)).min() > 0.1


_dense_energy = dense_energy  # the shared oracle (conftest)


def _qlstm_gate(y, w):
  """RX(y_i), then RX(w_i) and the CNOT ring (0,1),(1,2),(2,3),(3,0); <Z_i> (NumPy)."""
  n = len(y)
  rx = lambda t: np.array([[np.cos(t / 2), -1j * np.sin(t / 2)], [-1j * np.sin(t / 2), np.cos(t / 2)]])
  kron = lambda ms: ms[0] if len(ms) == 1 else np.kron(ms[0], kron(ms[1:]))
  psi = kron([rx(t) for t in w]) @ kron([rx(t) for t in y])[:, 0]
  k = np.arange(2**n)
  for c in range(n):
    t = (c + 1) % n
    psi = psi[np.where((k >> (n - 1 - c)) & 1, k ^ (1 << (n - 1 - t)), k)]
  bits = (k[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1
  return (np.abs(psi) ** 2) @ (1 - 2 * bits)


def _qlstm_phase1(variables, G, steps=10):
  """The published QLSTM recurrence in NumPy float64 with the drawn circuit weights."""
  P = variables["params"]
  w = np.asarray(variables["circuit"]["weights"], np.float64)[:, 0]  # (gate f,i,g,o; wire)
  lin = lambda name, v: (np.asarray(P[name]["kernel"], np.float64).T @ v
                         + np.asarray(P[name]["bias"], np.float64))
  sig = lambda v: 1 / (1 + np.exp(-v))
  h = c = np.zeros(3)
  cost, a, out = 0.0, np.zeros(2), []
  for _ in range(steps):
    y = lin("clayer_in", np.concatenate([h, [cost], a]))
    f, i, g, o = (lin("clayer_out", _qlstm_gate(y, w[k])) for k in range(4))
    c = sig(f) * c + sig(i) * np.tanh(g)
    h = sig(o) * np.tanh(c)
    a = lin("mapping", h)
    cost = _dense_energy(a, G)
    out.append(np.concatenate([a, [cost]]))
  return np.array(out)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_loaded_qlstm_equals_an_independent_computation_with_its_drawn_weights(
    published, precision):
  model, variables = _load(published, "QLSTM", key=jax.random.key(7))
  run = jax.jit(lambda g: meta.phase1(model, variables, g, precision=precision))
  for i in (0, 7):  # n = 10 graphs (measured: angles to 2e-7, costs to 5e-6)
    angles, costs = run(graphs.from_networkx(published["test"][i]))
    ref = _qlstm_phase1(variables, published["test"][i])
    np.testing.assert_allclose(np.asarray(angles).reshape(10, 2), ref[:, :2], atol=2e-6, rtol=0)
    np.testing.assert_allclose(np.asarray(costs), ref[:, 2], atol=2e-5, rtol=0)


@pytest.mark.parametrize("tag", list(CHECKPOINTS))
def test_pth_and_npz_load_identically(published, tag):
  pytest.importorskip("torch")
  stem = published["ref"] / "checkpoints" / CHECKPOINTS[tag]
  m1, v1 = io.load_reference_checkpoint(stem.with_suffix(".pth"))
  m2, v2 = io.load_reference_checkpoint(stem.with_suffix(".npz"))
  assert m1 == m2
  jax.tree.map(np.testing.assert_array_equal, v1, v2)


def test_checkpoint_mapping_layout(published):
  sd = io.read_state_dict(published["ref"] / "checkpoints" / "best_QK_model_6e-6.npz")
  _, variables = io.load_reference_checkpoint(
      published["ref"] / "checkpoints" / "best_QK_model_6e-6.npz")
  np.testing.assert_array_equal(variables["params"]["clayer_in"]["kernel"],
                                sd["lstm.clayer_in.weight"].T)
  with pytest.raises(ValueError, match="ambiguous"):
    io.infer_model_name(sd.keys())
