"""Exact parity with the published checkpoints, trajectories and results (../shared/reference)."""
import csv

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jqmeta import graphs, io, meta
from conftest import reference_dir

CHECKPOINTS = {"LSTM": "best_LSTM_model_2D_QAOA", "QK": "best_QK_model_6e-6",
               "FWP": "best_FWP_model_2D_QAOA", "QLSTM": "best_VQC_model_2D_QAOA"}


@pytest.fixture(scope="module")
def published():
  ref = reference_dir()
  test = io.load_reference_dataset(ref / "datasets.pkl")["test_data"]
  stems = [f"node_{G.number_of_nodes()}_edge_{G.number_of_edges()}_{i}" for i, G in enumerate(test)]
  csvs = [ref / "results" / f"model_QAOA_node_{G.number_of_nodes()}_{i}_edge_{G.number_of_edges()}_{i}.csv"
          for i, G in enumerate(test)]
  rows = [list(csv.DictReader(open(p))) for p in csvs]
  return {"ref": ref, "batch": graphs.stack([graphs.from_networkx(G) for G in test]),
          "stems": stems, "rows": rows}


def _run(published, tag, **kwargs):
  model, variables = io.load_reference_checkpoint(
      published["ref"] / "checkpoints" / f"{CHECKPOINTS[tag]}.npz", **kwargs)
  fn = jax.jit(jax.vmap(lambda g: meta.phase1(model, variables, g)))
  angles, costs = fn(published["batch"])
  return np.asarray(angles).reshape(90, 10, 2), np.asarray(costs)


def _published(published, tag):
  angles = np.stack([np.load(published["ref"] / "trajectories" / f"{tag}_{s}.npz")["params"]
                     .reshape(10, 2) for s in published["stems"]])
  column = {"LSTM": "LSTM-QAOA", "QK": "QK-QAOA", "FWP": "FWP-QAOA", "QLSTM": "QLSTM-QAOA"}[tag]
  costs = np.array([[float(r[column]) for r in rows[:10]] for rows in published["rows"]])
  return angles, costs


@pytest.mark.parametrize("tag", ["LSTM", "QK"])
def test_lstm_and_qk_reproduce_all_90_trajectories(published, tag):
  angles, costs = _run(published, tag)
  ref_angles, ref_costs = _published(published, tag)
  assert np.abs(angles - ref_angles).max() < 1e-5
  assert np.all(np.abs(costs - ref_costs) <= 1e-5 * np.maximum(1.0, np.abs(ref_costs)))


def test_reference_qk_emits_one_schedule_for_every_graph(published):
  angles, _ = _run(published, "QK")
  assert np.abs(angles - angles[:1]).max() < 4e-7
  np.testing.assert_allclose(angles[0, -1], [-0.4114, 0.2769], atol=1e-4)


def test_qfwp_reproduces_the_published_dynamics_until_rounding_takes_over(published):
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
  # Over all 10 steps the published QFWP is chaotic: see the sensitivity test below.
  assert np.median(err.max(axis=1)) < 0.5


def test_qfwp_amplifies_a_single_float32_ulp(published):
  """Why full-trajectory parity for QFWP is ill-posed: one ulp in the step-1 cost moves
  step 10 by more than the 2e-3 target on many graphs."""
  model, variables = io.load_reference_checkpoint(
      published["ref"] / "checkpoints" / f"{CHECKPOINTS['FWP']}.npz")

  def run(g, bump):
    from jqmeta import qaoa
    carry, cost, a = model.initial_carry(), jnp.zeros(()), jnp.zeros(2)
    out = []
    for t in range(10):
      carry, a = model.apply(variables, carry, jnp.concatenate([cost[None], a]))
      cost = qaoa.energy(a.reshape(2, 1), g)
      if t == 0:
        cost = jnp.where(bump, jnp.nextafter(cost, jnp.inf), cost)
      out.append(a)
    return jnp.stack(out)

  fn = jax.jit(jax.vmap(run, in_axes=(0, None)))
  base, bumped = fn(published["batch"], False), fn(published["batch"], True)
  drift = np.abs(np.asarray(base - bumped))[:, -1].max(axis=1)
  assert (drift > 2e-3).sum() >= 20


def test_qlstm_loads_and_runs_but_cannot_be_exact(published):
  a1, c1 = _run(published, "QLSTM", key=jax.random.key(1))
  a2, _ = _run(published, "QLSTM", key=jax.random.key(2))
  ref_angles, ref_costs = _published(published, "QLSTM")
  assert np.all(np.isfinite(a1)) and np.all(np.isfinite(c1))
  assert np.all(c1 < 0)  # proposals are real QAOA energies on each graph
  # The unsaved circuit weights matter: two draws give different schedules, and
  # neither is the published one.
  assert np.abs(a1 - a2).max() > 1e-3
  assert np.abs(a1 - ref_angles).max() > 1e-3


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
