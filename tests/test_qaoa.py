"""qaoa: parity with PennyLane, gradients, analytic p=1, brute force, batching, guards."""
import functools
import re

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from jqmeta import graphs, metrics, problems, qaoa
from jqmeta._src import kron_core, statevector, wht_core
from conftest import brute_force_cut, dense_energy, random_graph
import pennylane_oracle as oracle

# 36 cases: n = 2..12, p = 1..3, weighted and unweighted.
PARITY_CASES = [(seed, 2 + seed % 11, 1 + seed % 3, seed % 2 == 1) for seed in range(36)]


_value_and_grad = jax.jit(jax.value_and_grad(qaoa.energy))


def _angles(seed, p, dtype=np.float32):
  return np.random.default_rng(1000 + seed).uniform(-np.pi, np.pi, (2, p)).astype(dtype)


def _np_cut(G: nx.Graph) -> np.ndarray:
  """Independent ``(2**n,)`` cut weights from the edge list (qubit 0 = MSB, G.nodes order)."""
  n = G.number_of_nodes()
  index = {v: i for i, v in enumerate(G.nodes)}
  z = np.arange(2**n)
  cut = np.zeros(2**n)
  for u, v, w in G.edges(data="weight", default=1.0):
    cut += w * (((z >> (n - 1 - index[u])) ^ (z >> (n - 1 - index[v]))) & 1)
  return cut


def _np_state(G: nx.Graph, angles, cut=None) -> np.ndarray:
  """Independent dense complex128 QAOA state: phase exp(i gamma cut), then RX(2 beta) on
  each qubit as a butterfly on that qubit's axis."""
  n = G.number_of_nodes()
  cut = _np_cut(G) if cut is None else cut
  psi = np.full(2**n, 2.0**(-n / 2), complex)
  for gamma, beta in zip(*np.asarray(angles, np.float64)):
    psi = psi * np.exp(1j * gamma * cut)
    c, s = np.cos(beta), -1j * np.sin(beta)
    for q in range(n):
      x = psi.reshape(2**q, 2, -1)
      psi = np.stack([c * x[:, 0] + s * x[:, 1], s * x[:, 0] + c * x[:, 1]], axis=1).reshape(-1)
  return psi


def _np_energy(G: nx.Graph, angles, cut=None) -> float:
  cut = _np_cut(G) if cut is None else cut
  return -float(np.sum(np.abs(_np_state(G, angles, cut))**2 * cut))


@pytest.mark.parametrize("seed,n,p,weighted", PARITY_CASES)
def test_energy_and_grad_match_pennylane_complex64(seed, n, p, weighted):
  G = random_graph(seed, n, weighted=weighted)
  angles = _angles(seed, p)
  e_ref, g_ref = oracle.energy_and_grad(G, angles)
  e, g = _value_and_grad(jnp.asarray(angles), graphs.from_networkx(G))
  assert e.dtype == jnp.float32
  assert abs(float(e) - e_ref) <= 1e-5 * max(1.0, abs(e_ref))
  np.testing.assert_allclose(np.asarray(g), g_ref, atol=1e-4 * max(1.0, abs(e_ref)))


@pytest.mark.parametrize("seed,n,p,weighted", PARITY_CASES[::3])
def test_energy_and_grad_match_pennylane_complex128(seed, n, p, weighted):
  G = random_graph(seed, n, weighted=weighted)
  angles = _angles(seed, p, np.float64)
  e_ref, g_ref = oracle.energy_and_grad(G, angles)
  with jax.enable_x64(True):
    g = graphs.from_networkx(G)
    assert g.weights.dtype == jnp.float64
    e, grad = _value_and_grad(jnp.asarray(angles), g)
    assert e.dtype == jnp.float64
    assert abs(float(e) - e_ref) <= 1e-10 * max(1.0, abs(e_ref))
    np.testing.assert_allclose(np.asarray(grad), g_ref, atol=1e-8)
    psi = qaoa.state(jnp.asarray(angles), g)
    assert psi.dtype == jnp.complex128


@pytest.mark.parametrize("seed", [0, 4, 7])
def test_state_matches_pennylane_up_to_global_phase(seed):
  G = random_graph(seed, 5, weighted=True)
  angles = _angles(seed, 2)
  ref = np.asarray(oracle.qaoa_qnode(G, 2, measure="state")(angles.astype(np.float64)))
  psi = np.asarray(qaoa.state(jnp.asarray(angles), graphs.from_networkx(G)))
  phase = np.vdot(psi, ref) / abs(np.vdot(psi, ref))
  np.testing.assert_allclose(psi * phase, ref, atol=2e-6)
  assert abs(np.linalg.norm(psi) - 1) < 1e-5


@pytest.mark.parametrize("seed,n", [(0, 3), (1, 6), (2, 9), (3, 12)])
def test_cut_values_and_expected_cut(seed, n):
  G = random_graph(seed, n, weighted=True)
  g = graphs.from_networkx(G)
  cut = np.asarray(qaoa.cut_values(g))
  nodes = list(G.nodes)
  for z in np.random.default_rng(seed).integers(0, 2**n, 20):
    bit = {v: (int(z) >> (n - 1 - i)) & 1 for i, v in enumerate(nodes)}
    want = sum(d["weight"] for u, v, d in G.edges(data=True) if bit[u] != bit[v])
    assert cut[z] == pytest.approx(want, rel=1e-5)
  a = _angles(seed, 2)
  want = -_np_energy(G, a)  # sum_z |psi_z|^2 cut(z), independent dense NumPy state
  for method in ("statevector", "auto"):
    got = float(jax.jit(functools.partial(qaoa.expected_cut, method=method))(jnp.asarray(a), g))
    assert abs(got - want) <= 1e-5 * max(1.0, want)


def test_cut_values_memory_guard(monkeypatch):
  g12 = graphs.from_networkx(nx.cycle_graph(12))
  assert qaoa.cut_values(g12, memory_limit_bytes=2 * 2**12 * 4).shape == (2**12,)
  with pytest.raises(ValueError, match="cut_values on 12 qubits.*memory limit"):
    qaoa.cut_values(g12, memory_limit_bytes=2**12 * 4)
  monkeypatch.setenv(qaoa.MEMORY_LIMIT_ENV, "1024")
  with pytest.raises(ValueError, match="memory limit"):
    qaoa.cut_values(g12)
  monkeypatch.delenv(qaoa.MEMORY_LIMIT_ENV)
  with pytest.raises(ValueError, match="memory limit"):  # 2**48 values: refused, not allocated
    qaoa.cut_values(graphs.from_networkx(nx.path_graph(3), n_qubits=48))


@pytest.mark.parametrize("seed,n,weighted", [(s, 2 + s % 11, s % 2 == 0) for s in range(12)])
def test_max_cut_matches_independent_brute_force(seed, n, weighted):
  G = random_graph(seed, n, weighted=weighted)
  g = graphs.from_networkx(G)
  want = brute_force_cut(G)
  assert float(qaoa.max_cut(g)) == pytest.approx(want, rel=1e-5)
  assert float(qaoa.max_cut(g, chunk_qubits=2)) == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("n", [3, 6, 9])
@pytest.mark.parametrize("couplings", ["pm1", "gaussian"])
def test_min_and_max_cut_of_mixed_sign_couplings(n, couplings):
  # SK couplings have both signs: the min cut is negative and the shift-invariant ratio
  # (E[cut] - min) / (max - min) of any state lies in [0, 1] (checked on a dense state).
  G = problems.sherrington_kirkpatrick(n, jax.random.key(n), couplings=couplings)[0]
  g = graphs.from_networkx(G)
  hi, lo = brute_force_cut(G), brute_force_cut(G, min)
  assert lo <= 0 <= hi and lo < hi
  for chunk in (20, 2):
    assert float(qaoa.max_cut(g, chunk_qubits=chunk)) == pytest.approx(hi, rel=1e-5)
    assert float(qaoa.min_cut(g, chunk_qubits=chunk)) == pytest.approx(lo, rel=1e-5)
  angles = np.array([[0.3, 0.7], [0.5, -0.2]])
  e = dense_energy(angles, G)
  want = (-e - lo) / (hi - lo)
  got = metrics.ratio_from_energy(e, qaoa.max_cut(g), qaoa.min_cut(g))
  assert 0 <= want <= 1 and float(got) == pytest.approx(want, rel=1e-5)
  assert float(qaoa.min_cut(graphs.from_networkx(random_graph(n, n, weighted=True)))) == 0.0


def test_max_cut_edgeless_and_padded():
  assert float(qaoa.max_cut(graphs.from_networkx(nx.empty_graph(4)))) == 0.0
  G = random_graph(3, 6, weighted=True)
  padded = graphs.from_networkx(G, n_qubits=9, max_edges=30)
  assert float(qaoa.max_cut(padded)) == pytest.approx(brute_force_cut(G), rel=1e-6)


@pytest.mark.parametrize("seed,n", [(s, n) for s, n in enumerate([3, 5, 8, 10, 12, 14])])
def test_analytic_p1_equals_statevector(seed, n):
  G = random_graph(seed, n, weighted=False, p_edge=0.3 + 0.1 * (seed % 5))
  g = graphs.from_networkx(G)
  angles = jnp.asarray(np.random.default_rng(seed).uniform(-np.pi, np.pi, (5, 2, 1)), jnp.float32)
  batch = graphs.stack([g] * 5)
  vg = lambda fn: jax.jit(jax.vmap(jax.value_and_grad(fn)))(angles, batch)
  sv, gs = vg(qaoa.energy)
  an, ga = vg(qaoa.analytic_p1_energy)
  auto = jax.jit(jax.vmap(lambda a, g: qaoa.energy(a, g, method="auto")))(angles, batch)
  scale = np.maximum(1.0, np.abs(np.asarray(sv)))
  assert np.all(np.abs(np.asarray(sv) - np.asarray(an)) <= 1e-5 * scale)
  np.testing.assert_allclose(np.asarray(auto), np.asarray(an), rtol=1e-6)
  assert np.all(np.abs(np.asarray(ga) - np.asarray(gs)) <= 1e-4 * scale[:, None, None])


def test_analytic_p1_scales_to_hundreds_of_nodes():
  # At p=1 each edge of a ring sees only a 4-node light cone, so the energy per edge of
  # a 400-node ring must equal the exact statevector value per edge of an 8-node ring.
  a = jnp.array([[0.6], [0.4]])
  big = graphs.from_networkx(nx.cycle_graph(400))
  e_big = float(jax.jit(qaoa.analytic_p1_energy)(a, big))
  e_small = float(qaoa.energy(a, graphs.from_networkx(nx.cycle_graph(8))))
  assert e_big / 400 == pytest.approx(e_small / 8, rel=1e-5)
  g = graphs.from_networkx(nx.random_regular_graph(3, 300, seed=1))
  assert np.isfinite(float(qaoa.analytic_p1_energy(a, g)))
  with pytest.raises(ValueError, match="memory limit"):
    qaoa.energy(a, g)  # the statevector path refuses 300 qubits before allocating


def test_analytic_rejects_deep():
  # Weighted graphs are exact now (tests/test_analytic.py); only p = 1 has a closed form.
  with pytest.raises(ValueError, match="p = 1"):
    qaoa.analytic_p1_energy(jnp.zeros((2, 2)), graphs.from_networkx(nx.path_graph(3)))


def test_mixed_size_batch_equals_one_by_one():
  Gs = [random_graph(s, n, weighted=s % 2 == 0) for s, n in enumerate([3, 9, 5, 12, 7, 2])]
  gs = [graphs.from_networkx(G) for G in Gs]
  batch = graphs.stack(gs)
  angles = jnp.asarray(np.random.default_rng(0).uniform(-2, 2, (len(gs), 2, 3)), jnp.float32)
  fn = jax.jit(jax.vmap(jax.value_and_grad(qaoa.energy)))
  e_b, g_b = fn(angles, batch)
  for i, g in enumerate(gs):
    e_i, g_i = jax.jit(jax.value_and_grad(qaoa.energy))(angles[i], g)
    # float32: padding only reorders the final reductions (see README "Batching").
    scale = max(1.0, abs(float(e_i)))
    assert abs(float(e_b[i]) - float(e_i)) <= 1e-6 * scale
    np.testing.assert_allclose(np.asarray(g_b[i]), np.asarray(g_i), atol=1e-5 * scale)
  mc = jax.vmap(qaoa.max_cut)(batch)
  np.testing.assert_allclose(np.asarray(mc), [float(qaoa.max_cut(g)) for g in gs], rtol=1e-6)


def test_mixed_size_batch_exact_in_x64():
  Gs = [random_graph(s, n, weighted=True) for s, n in enumerate([4, 8, 6])]
  with jax.enable_x64(True):
    gs = [graphs.from_networkx(G) for G in Gs]
    angles = jnp.asarray(np.random.default_rng(1).uniform(-2, 2, (3, 2, 2)))
    e_b = jax.vmap(qaoa.energy)(angles, graphs.stack(gs))
    for i, g in enumerate(gs):
      assert abs(float(e_b[i]) - float(qaoa.energy(angles[i], g))) < 1e-12


def test_padding_qubits_is_exact_for_unweighted_graph():
  G = random_graph(2, 6, weighted=False)
  a = jnp.asarray(_angles(2, 2))
  e = float(qaoa.energy(a, graphs.from_networkx(G)))
  ep = float(qaoa.energy(a, graphs.from_networkx(G, n_qubits=10, max_edges=40)))
  assert abs(e - ep) <= 1e-6 * max(1.0, abs(e))


def test_edgeless_graph_energy_is_zero():
  g = graphs.from_networkx(nx.empty_graph(4))
  a = jnp.asarray(_angles(0, 2))
  assert float(qaoa.energy(a, g)) == 0.0
  assert float(qaoa.approximation_ratio(a, g)) == 1.0


def test_approximation_ratio():
  G = random_graph(4, 8, weighted=False)
  g = graphs.from_networkx(G)
  a = jnp.asarray(_angles(4, 1))
  r = float(qaoa.approximation_ratio(a, g))
  assert r == pytest.approx(-float(qaoa.energy(a, g)) / brute_force_cut(G), rel=1e-6)
  assert 0 < r <= 1
  r2 = float(qaoa.approximation_ratio(a, g, max_cut_value=brute_force_cut(G)))
  assert r2 == pytest.approx(r, rel=1e-6)


def test_no_recompile_for_new_values_of_same_shapes():
  traces = []

  def f(a, g):
    traces.append(1)
    return qaoa.energy(a, g)

  fn = jax.jit(jax.vmap(jax.value_and_grad(f)))
  mk = lambda s: graphs.stack([graphs.from_networkx(random_graph(s + k, 6, weighted=True),
                                                    n_qubits=8, max_edges=20) for k in range(3)])
  a = jnp.zeros((3, 2, 2))
  jax.block_until_ready(fn(a, mk(0)))
  jax.block_until_ready(fn(a + 0.3, mk(10)))
  assert len(traces) == 1


def test_compile_does_not_unroll_layers():
  g = graphs.from_networkx(random_graph(0, 6, weighted=False))
  n_eqns = []
  for p in (1, 8):
    jaxpr = jax.make_jaxpr(jax.grad(qaoa.energy))(jnp.zeros((2, p)), g)
    n_eqns.append(len(jaxpr.jaxpr.eqns))
  assert n_eqns[0] == n_eqns[1]


@pytest.mark.parametrize("bad, exc", [
    (np.zeros((2,)), ValueError),
    (np.zeros((3, 1)), ValueError),
    (np.zeros((2, 0)), ValueError),
    (np.zeros((1, 2, 1)), ValueError),
    (np.zeros((2, 1), np.complex64), TypeError),
    ("angles", TypeError),
])
def test_bad_angles(bad, exc):
  g = graphs.from_networkx(nx.path_graph(3))
  with pytest.raises(exc, match="angles"):
    qaoa.energy(bad, g)
  with pytest.raises(exc, match="angles"):
    jax.jit(qaoa.energy)(bad, g) if not isinstance(bad, str) else qaoa.state(bad, g)


def test_bad_graph_argument():
  with pytest.raises(TypeError, match="from_networkx"):
    qaoa.energy(jnp.zeros((2, 1)), nx.path_graph(3))
  batch = graphs.stack([graphs.from_networkx(nx.path_graph(3))] * 2)
  with pytest.raises(ValueError, match="vmap"):
    qaoa.energy(jnp.zeros((2, 1)), batch)
  with pytest.raises(ValueError, match="method"):
    qaoa.energy(jnp.zeros((2, 1)), graphs.from_networkx(nx.path_graph(3)), method="fast")


def test_memory_guard_refuses_before_allocating(monkeypatch):
  g64 = graphs.from_networkx(nx.cycle_graph(64))
  for fn in (qaoa.energy, qaoa.state):
    with pytest.raises(ValueError, match="memory limit"):
      fn(jnp.zeros((2, 3)), g64)
  with pytest.raises(ValueError, match="infeasible"):
    qaoa.max_cut(g64)
  g12 = graphs.from_networkx(nx.cycle_graph(12))
  with pytest.raises(ValueError, match="memory limit"):
    qaoa.energy(jnp.zeros((2, 1)), g12, memory_limit_bytes=1024)
  monkeypatch.setenv(qaoa.MEMORY_LIMIT_ENV, "2048")
  with pytest.raises(ValueError, match="memory limit"):
    qaoa.state(jnp.zeros((2, 1)), g12)
  with pytest.raises(ValueError, match="memory limit"):
    qaoa.max_cut(g12)
  monkeypatch.setenv(qaoa.MEMORY_LIMIT_ENV, "lots")
  with pytest.raises(ValueError, match="number of bytes"):
    qaoa.memory_limit()


@pytest.mark.parametrize("seed,p", [(0, 1), (1, 3)])
def test_gradient_wrt_edge_weights_matches_finite_differences(seed, p):
  G = random_graph(seed, 6, weighted=True)
  with jax.enable_x64(True):
    g = graphs.from_networkx(G)
    a = jnp.asarray(_angles(seed, p, np.float64))
    f = lambda w: qaoa.energy(a, g.replace(weights=w))
    grad = np.asarray(jax.jit(jax.grad(f))(g.weights))
    eps = 1e-6
    for k in range(int(g.n_edges)):
      d = jnp.zeros_like(g.weights).at[k].set(eps)
      fd = (float(f(g.weights + d)) - float(f(g.weights - d))) / (2 * eps)
      assert abs(grad[k] - fd) < 1e-6


def _dense_rx_all(c, s, sign):
  """Independent dense kron of [[c, sign i s], [sign i s, c]] over qubits (qubit 0 = MSB)."""
  M = np.ones((1, 1), complex)
  for cq, sq in zip(c, s):
    M = np.kron(M, np.array([[cq, sign * 1j * sq], [sign * 1j * sq, cq]]))
  return M


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 9, 10])
def test_blocked_mixer_and_unmix_match_dense_kron(n):
  """The blocked GEMM mixer (any remainder, per-qubit angles as padding produces) equals
  the dense kron, undoing it restores the state, and the beta-gradient accumulator equals
  sum_q m_q Im <lam|X_q|psi> computed directly."""
  rng = np.random.default_rng(n)
  with jax.enable_x64(True):
    beta = rng.uniform(-1, 1, n)
    mask = rng.uniform(size=n) < 0.7
    c, s = np.where(mask, np.cos(beta), 1.0), np.where(mask, np.sin(beta), 0.0)
    psi = rng.normal(size=2**n) + 1j * rng.normal(size=2**n)
    lam = rng.normal(size=2**n) + 1j * rng.normal(size=2**n)
    out = np.asarray(kron_core.mixer(jnp.asarray(psi), jnp.asarray(c), jnp.asarray(s)))
    np.testing.assert_allclose(out, _dense_rx_all(c, s, -1.0) @ psi, atol=1e-12)
    back_psi, back_lam, acc = kron_core.unmix(jnp.asarray(out), jnp.asarray(lam), jnp.asarray(c),
                                             jnp.asarray(s), jnp.asarray(mask, float))
    np.testing.assert_allclose(np.asarray(back_psi), psi, atol=1e-12)
    np.testing.assert_allclose(np.asarray(back_lam), _dense_rx_all(c, s, 1.0) @ lam, atol=1e-12)
    idx = np.arange(2**n)
    direct = sum(np.imag(np.vdot(lam, out[idx ^ (1 << (n - 1 - q))]))
                 for q in range(n) if mask[q])
    np.testing.assert_allclose(float(acc), direct, atol=1e-10)


@pytest.mark.parametrize("n", [1, 2, 5, 9, 13])
def test_cut_tables_sum_to_the_cut(n):
  """The three cut tables add up to an independent per-edge cut on random weights."""
  rng = np.random.default_rng(n)
  G = nx.gnp_random_graph(n, 0.6, seed=n)
  for u, v in G.edges:
    G[u][v]["weight"] = float(rng.uniform(0.1, 2.0))
  g = graphs.from_networkx(G)
  with jax.enable_x64(True):
    got = np.asarray(qaoa.cut_values(jax.tree_util.tree_map(
        lambda x: x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x, g)))
  bits = (np.arange(2**n)[:, None] >> np.arange(n - 1, -1, -1)) & 1
  want = np.zeros(2**n)
  for u, v, d in G.edges(data=True):
    want += d["weight"] * (bits[:, u] != bits[:, v])
  np.testing.assert_allclose(got, want, atol=1e-10)


# Two exact statevector cores: Walsh-Hadamard planes (default up to wht_core.WHT_MAX_QUBITS)
# and complex block GEMMs ("kron", above it).  PennyLane parity above runs the default
# core; here each core is checked against the other on random weighted graphs,
# including padded qubits, in both precisions.
CORE_CASES = [(1, 1, None, np.float32), (2, 2, None, np.float64), (5, 3, None, np.float32),
              (6, 2, 9, np.float64), (11, 3, 13, np.float32), (13, 2, None, np.float64),
              (16, 1, None, np.float32)]


@functools.partial(jax.jit, static_argnames="core")
def _core_outputs(a, g, core):
  f = lambda a, w: statevector.energy(a, g.replace(weights=w), core=core)
  e, (ga, gw) = jax.value_and_grad(f, argnums=(0, 1))(a, g.weights)
  return e, ga, gw, statevector.half_state(a, g, core=core)


@pytest.mark.parametrize("n,p,n_qubits,dtype", CORE_CASES)
def test_wht_and_kron_cores_agree(n, p, n_qubits, dtype):
  G = random_graph(n, n, weighted=True, p_edge=0.6)
  x64 = dtype == np.float64
  with jax.enable_x64(x64):
    g = graphs.from_networkx(G, n_qubits=n_qubits)
    a = jnp.asarray(_angles(n, p, dtype))
    (e0, ga0, gw0, s0), (e1, ga1, gw1, s1) = (_core_outputs(a, g, core=c) for c in ("kron", "wht"))
    scale = max(1.0, abs(float(e0)))
    tol = 1e-11 if x64 else 2e-6
    assert e1.dtype == e0.dtype == dtype
    assert abs(float(e1) - float(e0)) <= tol * scale
    np.testing.assert_allclose(np.asarray(ga1), np.asarray(ga0), atol=10 * tol * scale)
    np.testing.assert_allclose(np.asarray(gw1), np.asarray(gw0), atol=10 * tol * scale)
    np.testing.assert_allclose(np.asarray(s1), np.asarray(s0), atol=tol)


def test_core_selection():
  small = graphs.from_networkx(nx.path_graph(3), n_qubits=wht_core.WHT_MAX_QUBITS)
  big = graphs.from_networkx(nx.path_graph(3), n_qubits=wht_core.WHT_MAX_QUBITS + 1)
  assert (statevector.core_for(small, None), statevector.core_for(big, None)) == ("wht", "kron")
  with pytest.raises(ValueError, match="core"):
    statevector.core_for(small, "dense")


@pytest.mark.parametrize("n_rest", [1, 2, 5, 6, 7, 10, 11, 13])
def test_wht_equals_dense_hadamard(n_rest):
  """The blocked transform (transposes included) equals the dense H^(x)n on a random
  tensor, and the block shape covers every qubit in blocks of at most 6 qubits (a
  remainder of 3 is a block of its own, 1-2 join the first)."""
  shape = wht_core.wht_shape(n_rest)
  assert int(np.prod(shape)) == 2**n_rest and max(shape) <= 64
  assert n_rest < 4 or min(shape) >= 8
  x = np.random.default_rng(n_rest).normal(size=2**n_rest)
  with jax.enable_x64(True):
    got = np.asarray(wht_core.wht(jnp.asarray(x).reshape(shape))).reshape(-1)
  H = np.ones((1, 1))
  for _ in range(n_rest):
    H = np.kron(H, [[1, 1], [1, -1]])
  np.testing.assert_allclose(got, H @ x, atol=1e-9)


def test_cos_sin_accuracy():
  """Both platform branches (the XLA:CPU polynomial, and jnp's used elsewhere), called
  directly, against float64 NumPy; on CPU ``cos_sin`` takes the polynomial."""
  rng = np.random.default_rng(0)
  x = np.concatenate([rng.uniform(-10, 10, 200_000), rng.uniform(-1e4, 1e4, 200_000),
                      np.arange(-64, 65) * np.pi / 4]).astype(np.float32)
  ref = x.astype(np.float64)
  branches = {"poly": wht_core.cos_sin_poly, "xla": wht_core.cos_sin_xla}
  got = {k: jax.jit(f)(jnp.asarray(x)) for k, f in branches.items()}
  for c, s in got.values():
    assert c.dtype == s.dtype == jnp.float32
    assert np.max(np.abs(np.asarray(c, np.float64) - np.cos(ref))) < 2e-7
    assert np.max(np.abs(np.asarray(s, np.float64) - np.sin(ref))) < 2e-7
  assert jax.default_backend() == "cpu"
  for a, b in zip(jax.jit(wht_core.cos_sin)(jnp.asarray(x)), got["poly"]):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  with jax.enable_x64(True):
    c64, s64 = jax.jit(wht_core.cos_sin)(jnp.asarray(ref))
    poly = jax.jit(wht_core.cos_sin_poly64)(jnp.asarray(ref))
    for a, b in zip((c64, s64), poly):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("scale", [1.0, 1e2, 1e4, wht_core.COS_SIN_POLY64_EXACT, 1e10,
                                   wht_core.COS_SIN_POLY64_MAX])
def test_cos_sin_poly64_accuracy(scale):
  """The float64 polynomial against NumPy: 2.3e-16 where its reduction is exact, and
  within a few spacings of the arguments (``|x| * 2**-51``) up to ``COS_SIN_POLY64_MAX``;
  NaN beyond it and for non-finite input (never a value outside [-1, 1])."""
  rng = np.random.default_rng(int(np.log2(scale)))
  x = np.concatenate([rng.uniform(-scale, scale, 100_000), [0.0, -0.0, scale, -scale],
                      np.arange(-256, 257) * np.pi / 4])
  bound = max(2.3e-16, scale * 2.0**-51 if scale > wht_core.COS_SIN_POLY64_EXACT else 0)
  with jax.enable_x64(True):
    c, s = map(np.asarray, jax.jit(wht_core.cos_sin_poly64)(jnp.asarray(x)))
    assert c.dtype == s.dtype == np.float64
    assert np.max(np.abs(c - np.cos(x))) <= bound
    assert np.max(np.abs(s - np.sin(x))) <= bound
    bad = np.array([np.inf, -np.inf, np.nan, 2 * wht_core.COS_SIN_POLY64_MAX, -1e300])
    for v in jax.jit(wht_core.cos_sin_poly64)(jnp.asarray(bad)):
      assert np.all(np.isnan(np.asarray(v)))


def test_p1_phase_tables_are_not_recomputed_per_amplitude():
  """At p = 1 (no layer loop) XLA:CPU must not fuse the tables' cos/sin into the
  state-sized passes (it did, on the Walsh-Hadamard core: float64 p = 1 ran slower than
  p = 3).  Read from the compiled HLO: every fusion computing a cosine or sine is smaller
  than a quarter of the half state (before the fix: the whole half state)."""
  n = 13
  g = graphs.from_networkx(nx.path_graph(3), n_qubits=n)
  with jax.enable_x64(True):
    hlo = jax.jit(qaoa.energy).lower(jnp.full((2, 1), 0.3), g).compile().as_text()
  sizes = []
  for comp in hlo.split("\n\n"):
    if "cosine(" in comp or " sine(" in comp or "round-nearest" in comp:  # poly: rounds
      shapes = re.findall(r"f64\[([0-9,]*)\]", comp)
      sizes.append(max(int(np.prod([int(d) for d in s.split(",") if d] or [1])) for s in shapes))
  assert sizes and max(sizes) < 2**(n - 1) // 4, sizes


AD_CASES = [("wht", 2), ("kron", 2), ("analytic", 1)]


def _energy_fn(kind, g):
  """Energy of ``(angles, weights)`` by one exact core, or the analytic method."""
  if kind == "analytic":
    return lambda a, w: qaoa.energy(a, g.replace(weights=w), method="analytic")
  return lambda a, w: statevector.energy(a, g.replace(weights=w), core=kind)


@functools.partial(jax.jit, static_argnums=0)
def _all_derivatives(f, a, w, t):
  """Every AD route to the derivatives of ``f(a, w)``, in one compiled program."""
  fa, fw = lambda a: f(a, w), lambda w: f(a, w)
  e, grad = jax.value_and_grad(fa)(a)
  _, jvp = jax.jvp(fa, (a,), (t,))
  return (e, grad, jax.grad(fa)(a), jax.jacfwd(fa)(a), jvp, jax.hessian(fa)(a),
          jax.jacrev(jax.jacrev(fa))(a), jax.grad(fw)(w), jax.jacfwd(fw)(w))


@functools.partial(jax.jit, static_argnums=(0, 3))
def _finite_differences(f, a, w, n_weights, eps=1e-5):
  """Central differences of ``f`` and of its angle gradient in every angle and the first
  ``n_weights`` weights, as one vmapped evaluation."""
  da = eps * jnp.eye(a.size, dtype=a.dtype).reshape((a.size,) + a.shape)
  dw = eps * jnp.eye(n_weights, w.size, dtype=w.dtype)
  pa = jnp.concatenate([a + da, a - da, jnp.broadcast_to(a, (2 * n_weights,) + a.shape)])
  pw = jnp.concatenate([jnp.broadcast_to(w, (2 * a.size,) + w.shape), w + dw, w - dw])
  e, g = jax.vmap(jax.value_and_grad(f))(pa, pw)
  k, m = a.size, n_weights
  fd_a = (e[:k] - e[k:2 * k]) / (2 * eps)
  fd_hess = ((g[:k] - g[k:2 * k]) / (2 * eps)).reshape(k, k).T
  fd_w = (e[2 * k:2 * k + m] - e[2 * k + m:]) / (2 * eps)
  return fd_a, fd_hess, fd_w


@pytest.mark.parametrize("kind,p", AD_CASES)
def test_forward_and_reverse_mode_agree(kind, p):
  """grad, value_and_grad, jvp, jacfwd, hessian and jacrev(jacrev) in float64, in the angles
  and the weights, against each other and central finite differences."""
  G = random_graph(11, 6, weighted=True, p_edge=0.7)
  with jax.enable_x64(True):
    g = graphs.from_networkx(G)
    a, w = jnp.asarray(_angles(11, p, np.float64)), g.weights
    f = _energy_fn(kind, g)
    t = jnp.asarray(np.random.default_rng(p).normal(size=a.shape))
    e, grad, grad2, jf, jvp, hess, hess_rr, gw, jw = _all_derivatives(f, a, w, t)
    for other in (grad2, jf):
      np.testing.assert_allclose(np.asarray(other), np.asarray(grad), atol=1e-12)
    assert abs(float(jvp) - float(jnp.vdot(grad, t))) < 1e-11
    hess = np.asarray(hess).reshape(a.size, a.size)
    np.testing.assert_allclose(np.asarray(hess_rr).reshape(a.size, a.size), hess, atol=1e-10)
    np.testing.assert_allclose(hess, hess.T, atol=1e-10)
    np.testing.assert_allclose(np.asarray(jw), np.asarray(gw), atol=1e-12)
    fd_a, fd_hess, fd_w = _finite_differences(f, a, w, 4)
    np.testing.assert_allclose(np.asarray(grad).ravel(), np.asarray(fd_a), atol=1e-7)
    np.testing.assert_allclose(hess, np.asarray(fd_hess), atol=1e-6)
    np.testing.assert_allclose(np.asarray(gw)[:4], np.asarray(fd_w), atol=1e-7)


@pytest.mark.parametrize("method", qaoa.METHODS)
def test_dtype_rule_every_method(method):
  """The result has the angles' dtype whatever the weights' dtype; half precisions refused."""
  G = random_graph(2, 5, weighted=True)
  fn = jax.jit(functools.partial(qaoa.energy, method=method))
  with jax.enable_x64(True):
    g64 = graphs.from_networkx(G)
    for g in (g64, g64.astype(jnp.float16)):
      e = {dt: fn(jnp.asarray(_angles(2, 1, dt)), g) for dt in (np.float32, np.float64)}
      assert e[np.float32].dtype == jnp.float32 and e[np.float64].dtype == jnp.float64
      scale = max(1.0, abs(float(e[np.float64])))
      assert abs(float(e[np.float32]) - float(e[np.float64])) < 1e-5 * scale
    eager = qaoa.energy(jnp.asarray(_angles(2, 1, np.float32)), g64, method=method)
    assert eager.dtype == jnp.float32
    for half in ("float16", "bfloat16"):
      bad = jnp.zeros((2, 1), half)
      fns = [functools.partial(qaoa.energy, method=method), qaoa.state, qaoa.expected_cut,
             qaoa.analytic_p1_energy, fn]
      for fn in fns:
        with pytest.raises(TypeError, match=half):
          fn(bad, g64)


def test_kron_core_above_wht_limit_matches_dense_numpy():
  """n = 19 (the kron core) against an independent dense NumPy statevector, float64,
  with finite-difference gradients in two angles and one weight."""
  n = wht_core.WHT_MAX_QUBITS + 1
  G = random_graph(19, n, weighted=True, p_edge=0.25)
  a = _angles(19, 2, np.float64)
  cut = _np_cut(G)
  with jax.enable_x64(True):
    g = graphs.from_networkx(G)
    assert statevector.core_for(g, None) == "kron"
    f = lambda a, w: qaoa.energy(a, g.replace(weights=w))
    e, (ga, gw) = jax.jit(jax.value_and_grad(f, argnums=(0, 1)))(jnp.asarray(a), g.weights)
  want = _np_energy(G, a, cut)
  assert abs(float(e) - want) <= 1e-10 * max(1.0, abs(want))
  eps = 1e-5
  for i, j in [(0, 0), (1, 1)]:
    d = np.zeros_like(a)
    d[i, j] = eps
    fd = (_np_energy(G, a + d, cut) - _np_energy(G, a - d, cut)) / (2 * eps)
    assert abs(float(ga[i, j]) - fd) < 1e-6 * max(1.0, abs(fd))
  u, v = list(G.edges)[0]
  index = {x: k for k, x in enumerate(G.nodes)}
  flips = (((np.arange(2**n) >> (n - 1 - index[u])) ^ (np.arange(2**n) >> (n - 1 - index[v]))) & 1)
  fd = (_np_energy(G, a, cut + eps * flips) - _np_energy(G, a, cut - eps * flips)) / (2 * eps)
  assert abs(float(gw[0]) - fd) < 1e-6 * max(1.0, abs(fd))
