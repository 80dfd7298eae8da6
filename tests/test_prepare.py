"""qaoa.prepare: the prepared-problem form gives the Graph path's values and derivatives."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from jqmeta import graphs, qaoa
from jqmeta._src import statevector, wht_core
from conftest import random_graph


def _oracle_energy(G: nx.Graph, angles, n_qubits=None) -> float:
  """Independent dense QAOA energy: full cut vector, RX(2 beta)^(x)n as a dense matrix."""
  n = G.number_of_nodes() if n_qubits is None else n_qubits
  z = np.arange(2**n)
  cut = np.zeros(2**n)
  for u, v, w in G.edges(data="weight", default=1.0):
    cut += w * (((z >> (n - 1 - u)) ^ (z >> (n - 1 - v))) & 1)
  psi = np.full(2**n, 2.0**(-n / 2), complex)
  for gamma, beta in zip(*np.asarray(angles, np.float64)):
    rx = np.array([[np.cos(beta), -1j * np.sin(beta)], [-1j * np.sin(beta), np.cos(beta)]])
    m = functools.reduce(np.kron, [rx if q < G.number_of_nodes() else np.eye(2)
                                   for q in range(n)])
    psi = m @ (np.exp(1j * gamma * cut) * psi)
  return -float(np.sum(np.abs(psi)**2 * cut))


def _angles(seed, p, dtype):
  return np.random.default_rng(seed).uniform(-1.5, 1.5, (2, p)).astype(dtype)


# (seed, n, p, dtype): WHT core sizes, float32 and float64.
CASES = [(1, 4, 1, np.float32), (2, 7, 2, np.float64), (3, 9, 3, np.float32)]


@functools.partial(jax.jit, static_argnums=2)
def _value_grads(a, problem, prepared: bool):
  """Energy and its gradients in the angles and the weights, by either form."""
  if prepared:
    f = lambda a, w: qaoa.energy(a, qaoa.Prepared(
        problem.graph.replace(weights=w), problem.tables, problem.real, problem.index))
    w = problem.graph.weights
  else:
    f = lambda a, w: qaoa.energy(a, problem.replace(weights=w))
    w = problem.weights
  return jax.value_and_grad(f, argnums=(0, 1))(a, w)


@pytest.mark.parametrize("seed,n,p,dtype", CASES)
def test_prepared_equals_graph_and_oracle(seed, n, p, dtype):
  """Same energy (bitwise) and gradients as the Graph path; energy = dense oracle; the
  weight gradient = central differences of the oracle."""
  G = random_graph(seed, n, weighted=True, p_edge=0.6)
  x64 = dtype == np.float64
  with jax.enable_x64(x64):
    g = graphs.from_networkx(G)
    a = jnp.asarray(_angles(seed, p, dtype))
    prep = qaoa.prepare(g, dtype)
    e0, (ga0, gw0) = _value_grads(a, g, False)
    e1, (ga1, gw1) = _value_grads(a, prep, True)
  assert e1.dtype == dtype
  np.testing.assert_array_equal(np.asarray(e1), np.asarray(e0))
  np.testing.assert_allclose(np.asarray(ga1), np.asarray(ga0), rtol=0, atol=1e-12)
  np.testing.assert_allclose(np.asarray(gw1), np.asarray(gw0), rtol=0, atol=1e-12)
  want = _oracle_energy(G, _angles(seed, p, dtype))
  tol = 1e-10 if x64 else 2e-5
  assert abs(float(e1) - want) <= tol * max(1.0, abs(want))
  if x64:
    eps, (u, v, w) = 1e-6, next(iter(G.edges(data="weight")))
    fd = []
    for sign in (1, -1):
      H = G.copy()
      H[u][v]["weight"] = w + sign * eps
      fd.append(_oracle_energy(H, _angles(seed, p, dtype)))
    assert abs(float(gw1[0]) - (fd[0] - fd[1]) / (2 * eps)) < 1e-6


def test_prepared_padded_batch_under_vmap_and_jit():
  """A stacked Prepared of mixed-size (padded) graphs, vmapped with angles, equals the
  oracle per graph; the angle gradients equal the unprepared batch's."""
  Gs = [random_graph(10 + i, n, weighted=True) for i, n in enumerate((3, 5, 6))]
  with jax.enable_x64(True):
    batch = graphs.stack([graphs.from_networkx(G) for G in Gs])
    prep = jax.jit(jax.vmap(qaoa.prepare))(batch)
    a = jnp.asarray(np.stack([_angles(i, 2, np.float64) for i in range(3)]))
    vg = jax.jit(jax.vmap(jax.value_and_grad(qaoa.energy)))
    (e1, g1), (e0, g0) = vg(a, prep), vg(a, batch)
  assert prep.tables[0].shape[0] == 3 and prep.n_qubits == 6
  for i, G in enumerate(Gs):
    want = _oracle_energy(G, np.asarray(a[i]), n_qubits=6)
    assert abs(float(e1[i]) - want) < 1e-10 * max(1.0, abs(want))
  np.testing.assert_allclose(np.asarray(e1), np.asarray(e0), rtol=0, atol=1e-13)
  np.testing.assert_allclose(np.asarray(g1), np.asarray(g0), rtol=0, atol=1e-12)


def test_prepared_state_ratio_and_kron_core():
  """state, expected_cut and approximation_ratio accept a Prepared; on the kron core
  (explicit, no WHT index) the energy matches the oracle."""
  G = random_graph(21, 5, weighted=True)
  g = graphs.from_networkx(G)
  prep = qaoa.prepare(g)
  a = jnp.asarray(_angles(21, 2, np.float32))
  kron = qaoa.Prepared(prep.graph, prep.tables, prep.real, None)

  @jax.jit
  def everything(problem):
    return (qaoa.state(a, problem), qaoa.expected_cut(a, problem),
            qaoa.approximation_ratio(a, problem), qaoa.energy(a[:, :1], problem, method="auto"),
            statevector.energy(a, kron, core="kron"), statevector.energy(a, kron, core="wht"))

  got, ref = everything(prep), everything(g)
  for x, y in zip(got[:4], ref[:4]):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  want = _oracle_energy(G, np.asarray(a))
  assert abs(float(got[4]) - want) < 2e-5 * abs(want)
  assert float(got[5]) == float(-got[1])


def test_prepared_index_only_where_the_wht_core_runs():
  small = graphs.from_networkx(nx.path_graph(3), n_qubits=wht_core.WHT_MAX_QUBITS)
  big = graphs.from_networkx(nx.path_graph(3), n_qubits=wht_core.WHT_MAX_QUBITS + 1)
  assert jax.eval_shape(qaoa.prepare, small).index.shape == wht_core.wht_shape(
      wht_core.WHT_MAX_QUBITS - 1)
  assert jax.eval_shape(qaoa.prepare, big).index is None


def test_prepare_refuses_bad_input():
  g = graphs.from_networkx(nx.cycle_graph(4))
  prep = qaoa.prepare(g)
  with jax.enable_x64(True):
    with pytest.raises(TypeError, match="prepared for float32 angles, got float64"):
      qaoa.energy(jnp.zeros((2, 1), jnp.float64), prep)
  with pytest.raises(TypeError, match="float32 or float64"):
    qaoa.prepare(g, jnp.float16)
  with pytest.raises(ValueError, match="jax_enable_x64"):
    qaoa.prepare(g, jnp.float64)
  with pytest.raises(ValueError, match="ONE graph"):
    qaoa.prepare(graphs.stack([g, g]))
  with pytest.raises(TypeError, match="Graph or qaoa.prepare"):
    qaoa.energy(jnp.zeros((2, 1)), nx.cycle_graph(4))
