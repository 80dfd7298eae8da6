"""phase2, baselines, metrics, evaluation: Phase II SGD vs a Python reference, baselines,
ceilings, metrics, the two-phase driver, bad input."""
import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from jqmeta import baselines, evaluation, graphs, metrics, phase2, qaoa
from jqmeta.app import paper
from conftest import brute_force_cut, random_graph, reference_dir

# Every graph is padded to the same layout so each jitted program compiles once.
N_PAD, E_PAD = 6, 15

_phase2 = jax.jit(phase2.phase2_sgd, static_argnames=("steps", "method"))
_value_and_grad = jax.jit(jax.value_and_grad(qaoa.energy))


def _g(G, **kw):
  return graphs.from_networkx(G, n_qubits=N_PAD, max_edges=E_PAD, **kw)


def _reference_sgd(angles0, graph, lr, max_iter, tol):
  """Plain Python/numpy SGD with the published stop rule (one jax.grad per step)."""
  a = np.array(angles0, dtype=np.float64)
  c, g = _value_and_grad(jnp.asarray(a), graph)
  costs, angles = [float(c)], [a.copy()]
  n, converged = 0, False
  while n < max_iter and not converged:
    a = a - lr * np.asarray(g)
    c_new, g = _value_and_grad(jnp.asarray(a), graph)
    n += 1
    converged = abs(float(c_new) - costs[-1]) <= tol
    costs.append(float(c_new))
    angles.append(a.copy())
  costs += [costs[-1]] * (max_iter - n)
  angles += [angles[-1]] * (max_iter - n)
  return np.array(costs), np.array(angles), n, converged


# ----------------------------------------------------------------------------- Phase II
# Phase II tests run in float64 (exact parity, no stop-step flips from rounding) and share
# one compiled program: p=1, steps=40, graphs padded to (N_PAD, E_PAD).


@pytest.fixture
def x64():
  with jax.enable_x64(True):
    yield


PARITY = [(seed, weighted, p) for seed, (weighted, p) in
          enumerate([(False, 1), (True, 1), (False, 2), (True, 2), (False, 1), (True, 2)])]


@pytest.mark.parametrize("seed,weighted,p", PARITY)
def test_phase2_matches_python_reference_loop(x64, seed, weighted, p):
  lr, max_iter, tol = 0.03, 40, 2e-4
  G = random_graph(seed, 4 + seed % 3, weighted=weighted)
  g = _g(G)
  a0 = np.random.default_rng(seed).uniform(0, 1, (2, p))
  ref_c, ref_a, ref_n, ref_conv = _reference_sgd(a0, g, lr, max_iter, tol)
  r = _phase2(jnp.asarray(a0), g, lr=lr, steps=max_iter, tol=tol)
  assert r.costs.dtype == jnp.float64 and r.costs.shape == (max_iter + 1,)
  assert r.angles.shape == (max_iter + 1, 2, p)
  assert r.n_steps.dtype == jnp.int32 and r.converged.dtype == jnp.bool_
  assert int(r.n_steps) == ref_n and bool(r.converged) == ref_conv
  np.testing.assert_allclose(np.asarray(r.costs), ref_c, rtol=1e-10, atol=1e-10)
  np.testing.assert_allclose(np.asarray(r.angles), ref_a, rtol=1e-10, atol=1e-10)


def test_phase2_parity_cases_cover_both_outcomes(x64):
  # The parity cases above must include early stops and runs to max_iter.
  outcomes = set()
  for seed, weighted, p in PARITY:
    g = _g(random_graph(seed, 4 + seed % 3, weighted=weighted))
    a0 = np.random.default_rng(seed).uniform(0, 1, (2, p))
    outcomes.add(bool(_phase2(jnp.asarray(a0), g, lr=0.03, steps=40, tol=2e-4).converged))
  assert outcomes == {True, False}


def test_phase2_vmap_over_mixed_sizes_matches_the_python_reference(x64):
  # A padded, mixed-size batch against the independent Python loop on each graph alone.
  Gs = [random_graph(10 + k, n, weighted=k % 2 == 1) for k, n in enumerate([3, 5, 6, 4])]
  batch = graphs.stack([graphs.from_networkx(G) for G in Gs])  # pads to the largest
  a0 = np.random.default_rng(1).uniform(0, 1, (len(Gs), 2, 1))
  kw = dict(lr=0.03, steps=40, tol=1e-4)
  rb = jax.jit(jax.vmap(lambda a, g: phase2.phase2_sgd(a, g, **kw)))(jnp.asarray(a0), batch)
  assert rb.costs.shape == (4, 41) and rb.angles.shape == (4, 41, 2, 1)
  for i, G in enumerate(Gs):
    ref_c, ref_a, ref_n, ref_conv = _reference_sgd(a0[i], _g(G), 0.03, 40, 1e-4)
    np.testing.assert_allclose(np.asarray(rb.costs[i]), ref_c, atol=1e-10)
    np.testing.assert_allclose(np.asarray(rb.angles[i]), ref_a, atol=1e-10)
    assert int(rb.n_steps[i]) == ref_n and bool(rb.converged[i]) == ref_conv
  assert len(set(np.asarray(rb.n_steps).tolist())) > 1  # graphs stopped at different steps


@pytest.mark.parametrize("tol", [1e-3, 1e-4])
def test_phase2_stops_early_and_holds_values(x64, tol):
  g = _g(nx.cycle_graph(6))
  r = _phase2(jnp.array([[0.2], [0.1]]), g, lr=0.1, steps=40, tol=tol)
  n = int(r.n_steps)
  c, a = np.asarray(r.costs), np.asarray(r.angles)
  assert bool(r.converged) and 1 <= n < 40
  assert abs(c[n] - c[n - 1]) <= tol
  assert np.all(np.abs(np.diff(c[:n])) > tol)  # the rule did not fire earlier
  assert np.all(c[n:] == c[n]) and np.all(a[n:] == a[n])
  assert np.all(np.diff(c[:n + 1]) < 0)  # small steps descend
  np.testing.assert_allclose(c[n], float(_value_and_grad(jnp.asarray(a[n]), g)[0]), atol=1e-12)


def test_phase2_runs_to_max_iter_without_convergence(x64):
  r = _phase2(jnp.array([[0.2], [0.1]]), _g(nx.cycle_graph(6)), lr=1e-3, steps=40, tol=1e-9)
  assert int(r.n_steps) == 40 and not bool(r.converged)
  assert np.all(np.diff(np.asarray(r.costs)) < 0)


def test_phase2_huge_tol_stops_after_one_update(x64):
  g = _g(nx.cycle_graph(5))
  a0 = jnp.array([[0.3], [0.4]])
  r = _phase2(a0, g, lr=0.1, steps=40, tol=1e9)
  assert int(r.n_steps) == 1 and bool(r.converged)
  c0, g0 = _value_and_grad(a0, g)
  np.testing.assert_allclose(float(r.costs[0]), float(c0), atol=1e-12)
  np.testing.assert_allclose(np.asarray(r.angles[1]), np.asarray(a0 - 0.1 * g0), atol=1e-12)
  np.testing.assert_allclose(np.asarray(r.costs[1:]), float(r.costs[1]))
  np.testing.assert_allclose(np.asarray(r.angles[1:]), np.broadcast_to(r.angles[1], (40, 2, 1)))


# ----------------------------------------------------------------------------- baselines


def test_random_starts_shape_range_determinism():
  a = baselines.random_starts(jax.random.key(3), 5, 2, n_seeds=3)
  assert a.shape == (3, 5, 2, 2)
  assert bool(jnp.all(a >= 0)) and bool(jnp.all(a < 1))
  np.testing.assert_array_equal(np.asarray(a), np.asarray(
      baselines.random_starts(jax.random.key(3), 5, 2, n_seeds=3)))
  b = baselines.random_starts(jax.random.key(4), 5, 2, n_seeds=3)
  assert not np.allclose(np.asarray(a), np.asarray(b))
  assert not np.allclose(np.asarray(a[0]), np.asarray(a[1]))  # seeds differ


@pytest.mark.parametrize("G,expected", [
    (nx.complete_graph(4), 3 / 4),
    (nx.cycle_graph(5), 2.5 / 4),
    (nx.Graph([(0, 1, {"weight": 1.0}), (1, 2, {"weight": 3.0})]), 2 / 4),
    (nx.empty_graph(3), 1.0),
])
def test_random_cut_ratio_known_graphs(G, expected):
  g = graphs.from_networkx(G)
  assert float(baselines.random_cut_ratio(g, brute_force_cut(G))) == pytest.approx(expected,
                                                                                 abs=1e-6)


def test_random_cut_ratio_brute_force_default():
  g = graphs.from_networkx(nx.complete_graph(4))
  assert float(baselines.random_cut_ratio(g)) == pytest.approx(0.75, abs=1e-6)  # 3 / 4


def test_random_cut_ratio_vmaps():
  Gs = [nx.complete_graph(4), nx.cycle_graph(5)]
  b = graphs.stack([graphs.from_networkx(G) for G in Gs])
  mc = jnp.array([brute_force_cut(G) for G in Gs])
  np.testing.assert_allclose(np.asarray(jax.vmap(baselines.random_cut_ratio)(b, mc)),
                             [0.75, 0.625], atol=1e-6)


# ----------------------------------------------------------------------------- ceilings


@jax.jit
def _mean_ratios(angles, batch, mc):
  """(K,) mean approximation ratios of K angle sets (K, 2, p) over a batch."""
  per = lambda a: jnp.mean(jax.vmap(
      lambda g, m: qaoa.approximation_ratio(a, g, max_cut_value=m))(batch, mc))
  return jax.vmap(per)(angles)



@pytest.fixture(scope="module")
def train_batch():
  Gs = [random_graph(40 + k, n, weighted=False) for k, n in enumerate([5, 6, 5, 6])]
  batch = graphs.stack([_g(G) for G in Gs])
  return batch, jnp.array([brute_force_cut(G) for G in Gs])


def test_angle_grid_layout():
  pts = np.asarray(baselines.angle_grid(4))
  assert pts.shape == (16, 2, 1)
  np.testing.assert_allclose(np.unique(pts[:, 0, 0]), np.pi * (np.arange(4) + 0.5) / 4,
                             atol=1e-6)  # cell centres of gamma in [0, pi)
  np.testing.assert_allclose(np.unique(pts[:, 1, 0]),
                             -np.pi / 4 + np.pi / 2 * (np.arange(4) + 0.5) / 4, atol=1e-6)
  np.testing.assert_allclose(pts[1, :, 0], [np.pi / 8, -np.pi / 16], atol=1e-6)  # gamma-major
  full = np.asarray(baselines.angle_grid(4, full=True))  # the old, four-fold redundant grid
  np.testing.assert_allclose(np.unique(full[:, 0, 0]), [-np.pi, -np.pi / 2, 0, np.pi / 2],
                             atol=1e-6)
  np.testing.assert_allclose(np.unique(full[:, 1, 0]), [-np.pi / 2, -np.pi / 4, 0, np.pi / 4],
                             atol=1e-6)


def _symmetry_graphs():
  """(name, graph, integer weights?) on 6 qubits: unweighted, integer and real weights."""
  G_int = random_graph(31, 6, weighted=False)
  for k, (u, v) in enumerate(G_int.edges):
    G_int[u][v]["weight"] = 1 + k % 3
  return [("unweighted", _g(random_graph(30, 6, weighted=False)), True),
          ("integer", _g(G_int), True),
          ("real", _g(random_graph(32, 6, weighted=True)), False)]


@pytest.mark.parametrize("p", [1, 2])
def test_landscape_symmetries_and_fold_angles(x64, p):
  rng = np.random.default_rng(p)
  energy = jax.jit(jax.vmap(qaoa.energy, in_axes=(0, None)))
  for name, g, integer in _symmetry_graphs():
    a = rng.uniform(-7, 7, (64, 2, p))
    e = np.asarray(energy(jnp.asarray(a), g))
    shift_b = a + np.array([[0.0], [np.pi / 2]]) * rng.integers(-3, 4, (64, 1, p))
    np.testing.assert_allclose(energy(jnp.asarray(shift_b), g), e, atol=1e-10, err_msg=name)
    np.testing.assert_allclose(energy(jnp.asarray(-a), g), e, atol=1e-10, err_msg=name)
    shift_g = np.asarray(energy(jnp.asarray(a + np.array([[2 * np.pi], [0.0]])), g))
    assert np.allclose(shift_g, e, atol=1e-10) == integer, name  # 2 pi: integer weights only
    folded = np.asarray(jax.vmap(baselines.fold_angles, in_axes=(0, None))(jnp.asarray(a), g))
    np.testing.assert_allclose(energy(jnp.asarray(folded), g), e, atol=1e-10, err_msg=name)
    assert np.all(folded[:, 1] >= -np.pi / 4) and np.all(folded[:, 1] < np.pi / 4), name
    assert np.all(folded[:, 0, 0] >= 0), name
    if integer:
      assert np.all(folded[:, 0] <= np.pi + 1e-12) and np.all(folded[:, 0] >= -np.pi), name
    else:  # no period in gamma: only its sign may change
      np.testing.assert_allclose(np.abs(folded[:, 0]), np.abs(a[:, 0]), atol=1e-12)


def test_fit_fixed_angles_beats_random_and_grid(train_batch):
  batch, mc = train_batch
  grid = 16
  a = baselines.fit_fixed_angles(batch, grid=grid, steps=60, max_cut_values=mc,
                                method="analytic")
  assert a.shape == (2, 1)
  pts = baselines.angle_grid(grid)
  rand = np.random.default_rng(0).uniform([[-np.pi], [-np.pi / 2]], [[np.pi], [np.pi / 2]],
                                           (5, 2, 1)).astype(np.float32)
  scores = np.asarray(_mean_ratios(jnp.concatenate([a[None], pts, jnp.asarray(rand)]), batch, mc))
  fitted, grid_scores, rand_scores = scores[0], scores[1:1 + grid**2], scores[1 + grid**2:]
  assert fitted >= grid_scores.max() + 1e-3  # refinement improves on the coarse grid
  assert fitted > rand_scores.max()
  assert fitted > float(jnp.mean(jax.vmap(baselines.random_cut_ratio)(batch, mc)))
  # max_cut_values computed internally when omitted; steps=0 returns a best grid point.
  # The p=1 landscape has exact symmetries (beta -> beta + pi/2), so several grid points
  # tie up to rounding and the analytic and statevector paths may break the tie apart:
  # compare scores, and require the point to be on the grid.
  a0 = baselines.fit_fixed_angles(batch, grid=grid, steps=0, method="analytic")
  assert np.min(np.abs(np.asarray(pts) - np.asarray(a0)[None]).max(axis=(1, 2))) < 1e-6
  s0 = float(np.asarray(_mean_ratios(a0[None], batch, mc))[0])
  assert s0 >= grid_scores.max() - 1e-6


def test_fit_fixed_angles_p2_not_worse_than_p1_grid(train_batch):
  batch, mc = train_batch
  a1 = baselines.fit_fixed_angles(batch, grid=16, steps=0, max_cut_values=mc, method="analytic")
  a2 = baselines.fit_fixed_angles(batch, p=2, grid=16, steps=40, max_cut_values=mc, method="auto")
  assert a2.shape == (2, 2)
  a1_as_p2 = jnp.zeros((2, 2)).at[:, :1].set(a1)  # a zero layer is the identity
  r2, r1 = np.asarray(_mean_ratios(jnp.stack([a2, a1_as_p2]), batch, mc))
  assert r2 >= r1 + 1e-3  # depth 2 refined beats the p=1 grid point


_DENSE = baselines.angle_grid(400, full=True)  # no symmetry assumed
_dense_min = jax.jit(lambda g: jnp.min(jax.lax.map(lambda a: qaoa.energy(a, g), _DENSE,
                                                   batch_size=8000)))


def test_p1_optimum_matches_dense_grid_and_vmaps():
  Gs = [random_graph(7, 5, weighted=False),
        nx.Graph([(0, 1, {"weight": 2}), (1, 2, {"weight": 1}), (2, 3, {"weight": 3}),
                  (3, 0, {"weight": 1}), (0, 2, {"weight": 2}), (3, 4, {"weight": 1})])]
  b = graphs.stack([_g(G) for G in Gs])  # integer weights: the grid covers one period

  def one(g, k):
    a, c = baselines.p1_optimum(g, key=k)
    return a, c, qaoa.energy(a, g)  # the returned cost belongs to the returned angles

  a, c, e = jax.jit(jax.vmap(one))(b, jax.random.split(jax.random.key(0), 2))
  assert a.shape == (2, 2, 1) and c.shape == (2,)
  np.testing.assert_allclose(np.asarray(e), np.asarray(c), atol=1e-5)
  for i, g in enumerate(graphs.unstack(b)):
    dense = float(_dense_min(g))  # 400 x 400 grid
    assert abs(float(c[i]) - dense) <= 1e-3
    assert float(c[i]) <= dense + 1e-4  # refinement beats the dense grid


# The p=1 optimum against an independent reference on the test sets of jqmeta reproduce:
# a dense grid of the closed form over the FULL period (no symmetry assumed), polished by
# Newton steps on a NumPy re-implementation of the closed form in float64, so that the
# reference is a true local optimum and at least as good as every dense grid point.

QUICK_SEARCH = paper.QUICK_P1_SEARCH  # the `jqmeta reproduce --quick` p1_optimum settings
SEARCHES = {"default": {}, "quick": QUICK_SEARCH}
_REFERENCE_OPTIMA: dict = {}


def _closed_form_tables(Gs):
  """(G, E) exponents d_u, d_v, triangles f and a real-edge mask of the Wang et al. form."""
  E = max(G.number_of_edges() for G in Gs)
  du, dv, f, real = (np.zeros((len(Gs), E), int) for _ in range(4))
  for i, G in enumerate(Gs):
    for k, (u, v) in enumerate(G.edges):
      du[i, k], dv[i, k] = G.degree(u) - 1, G.degree(v) - 1
      f[i, k], real[i, k] = len((set(G[u]) & set(G[v])) - {u, v}), 1
  return du, dv, f, real


def _closed_form(g, b, tables):
  """NumPy p=1 energies at angles ``g, b`` ``(G, K)`` of G graphs, ``(G, K)``."""
  du, dv, f, real = (t[:, None, :] for t in tables)
  g, b = g[..., None], b[..., None]
  cg, c2g = np.cos(g), np.cos(2 * g)
  t1 = np.sin(4 * b) * np.sin(g) * (cg ** du + cg ** dv)
  t2 = np.sin(2 * b) ** 2 * cg ** (du + dv - 2 * f) * (1 - c2g ** f)
  return -np.sum(real * (0.5 - 0.25 * t1 - 0.25 * t2), axis=-1)


def _polish(x, tables, steps=12, h=1e-4):
  """Newton steps with a 9-point finite-difference gradient and Hessian; x (G, K, 2)."""
  offsets = h * np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [1, -1], [-1, 1],
                          [-1, -1]])
  for _ in range(steps):
    pts = x[:, :, None, :] + offsets
    G, K = x.shape[:2]
    f = _closed_form(pts[..., 0].reshape(G, -1), pts[..., 1].reshape(G, -1), tables)
    f = f.reshape(G, K, 9)
    grad = np.stack([f[..., 1] - f[..., 2], f[..., 3] - f[..., 4]], -1) / (2 * h)
    hgg = (f[..., 1] - 2 * f[..., 0] + f[..., 2]) / h**2
    hbb = (f[..., 3] - 2 * f[..., 0] + f[..., 4]) / h**2
    hgb = (f[..., 5] - f[..., 6] - f[..., 7] + f[..., 8]) / (4 * h**2)
    hess = np.stack([np.stack([hgg, hgb], -1), np.stack([hgb, hbb], -1)], -2)
    x = x - np.linalg.solve(hess, grad[..., None])[..., 0]
  return x, grad, hess


def _reference_optimum(dataset: str):
  """``(batch, angles (G, 2), energies (G,))``: the polished dense-grid optimum."""
  if dataset not in _REFERENCE_OPTIMA:
    from jqmeta import io
    from jqmeta.app import paper
    Gs = (io.load_reference_dataset(reference_dir() / "datasets.pkl")["test_data"]
          if dataset == "paper" else paper.default_dataset()["test_data"])
    batch = graphs.stack([graphs.from_networkx(G, n_qubits=14, max_edges=91) for G in Gs])
    batch = batch.astype(jnp.float64)
    n = 96  # spacing 2 pi / 96 in gamma and pi / 96 in beta
    gg, bb = np.meshgrid(-np.pi + 2 * np.pi * np.arange(n) / n,
                         -np.pi / 2 + np.pi * np.arange(n) / n, indexing="ij")
    pts = jnp.asarray(np.stack([gg.ravel(), bb.ravel()], 1)[:, :, None])
    dense = np.asarray(jax.jit(jax.vmap(lambda g: jax.vmap(
        lambda a: qaoa.analytic_p1_energy(a, g))(pts)))(batch))
    top = np.argsort(dense, axis=1)[:, :8]  # polish the 8 best grid points of each graph
    tables = _closed_form_tables(Gs)
    x0 = np.stack([gg.ravel()[top], bb.ravel()[top]], -1)
    np.testing.assert_allclose(_closed_form(x0[..., 0], x0[..., 1], tables),
                               np.take_along_axis(dense, top, 1), atol=1e-10)  # same formula
    x, grad, hess = _polish(x0, tables)
    c = _closed_form(x[..., 0], x[..., 1], tables)
    best = np.argmin(c, axis=1)
    rows = np.arange(len(Gs))
    assert np.abs(grad[rows, best]).max() < 1e-6  # a stationary point ...
    assert np.linalg.eigvalsh(hess[rows, best]).min() > 0  # ... that is a minimum ...
    assert np.all(c[rows, best] <= dense.min(axis=1) + 1e-12)  # ... beating the dense grid
    _REFERENCE_OPTIMA[dataset] = batch, x[rows, best], c[rows, best]
  return _REFERENCE_OPTIMA[dataset]


@pytest.mark.parametrize("search", sorted(SEARCHES))
@pytest.mark.parametrize("dataset", ["default", "paper"])
def test_p1_optimum_finds_the_polished_dense_grid_optimum(x64, dataset, search):
  batch, _, ref = _reference_optimum(dataset)
  a, c = baselines.p1_optimum_batch(batch, method="auto", **SEARCHES[search])
  a, c = np.asarray(a), np.asarray(c)
  assert a.shape == (batch.batch_shape[0], 2, 1)
  np.testing.assert_allclose(c, ref, rtol=0, atol=1e-6)
  assert np.all(c >= ref - 1e-9)  # nothing beats a true optimum
  e = jax.jit(jax.vmap(qaoa.analytic_p1_energy))(jnp.asarray(a), batch)
  np.testing.assert_allclose(np.asarray(e), c, rtol=0, atol=1e-9)  # the cost of the angles
  assert np.all((a[:, 0] >= 0) & (a[:, 0] <= np.pi))  # folded: gamma in [0, pi],
  assert np.all((a[:, 1] >= -np.pi / 4) & (a[:, 1] < np.pi / 4))  # beta in [-pi/4, pi/4)


# ----------------------------------------------------------------------------- metrics


def test_relative_error_hand_examples():
  costs = jnp.array([[-2.0, -3.0, -4.0], [0.0, -1.0, 0.0]])
  out = metrics.relative_error(costs, jnp.array([4.0, 0.0]))
  np.testing.assert_allclose(np.asarray(out), [[0.5, 0.25, 0.0], [0.0, 1.0, 0.0]])
  assert float(metrics.relative_error(-3.0, 4.0)) == pytest.approx(0.25)
  np.testing.assert_allclose(np.asarray(metrics.relative_error(jnp.array([-5.0, -1.0]), 4.0)),
                             [0.25, 0.75])
  with pytest.raises(ValueError, match="leading prefix"):
    metrics.relative_error(jnp.zeros((2, 3)), jnp.ones(3))  # would broadcast wrongly


def test_mean_curve_hand_example():
  r = np.array([[1.0, 0.5, 0.25], [0.5, 0.3, 0.25], [0.2, 0.2, 0.1], [0.4, 0.0, 0.3]])
  out = metrics.mean_curve(r, [10, 10, 11, 12])
  assert list(out) == [10, 11, 12]
  np.testing.assert_allclose(out[10], [0.75, 0.4, 0.25])
  np.testing.assert_allclose(out[11], [0.2, 0.2, 0.1])
  np.testing.assert_allclose(out[12], [0.4, 0.0, 0.3])


@pytest.mark.parametrize("curve,tol,kw,expected", [
    ([1.0, 0.5, 0.49995, 0.3, 0.29995, 0.29994], 1e-3, {}, 5),
    ([1.0, 0.5, 0.49995, 0.3, 0.29995, 0.29994], 1e-3, {"rule": "first"}, 3),
    ([1.0, 0.5, 0.49995, 0.3, 0.29995, 0.29994], 1e-3, {"first_step": 0}, 4),
    ([1.0, 0.5, 0.49995, 0.3, 0.29995, 0.29994], 1e-3, {"first_step": 0, "rule": "first"}, 2),
    ([1.0, 0.8, 0.6, 0.4], 1e-3, {}, 4),  # never converges: T
    ([1.0, 0.8, 0.6, 0.4], 1e-3, {"rule": "first"}, 4),
    ([0.3, 0.3, 0.3], 1e-3, {}, 2),  # flat from the first measurable change
    ([0.3, 0.2, 0.2, 0.2], 0.1 + 1e-9, {}, 2),  # change of exactly tol-ish counts as small
    ([0.3, 0.2, 0.2, 0.2], 0.05, {}, 3),
    ([5.0], 1e-3, {}, 1),
])
def test_iterations_to_convergence_hand_examples(curve, tol, kw, expected):
  assert metrics.iterations_to_convergence(curve, tol, **kw) == expected


def test_convergence_default_tolerance_on_a_hand_curve():
  curve = np.concatenate([np.linspace(1.0, 0.5, 20), 0.5 - 5e-5 * np.arange(1, 11)])
  assert metrics.iterations_to_convergence(curve) == 21  # steps of 5e-5 are below it


def test_ratio_stats_population_std():
  out = metrics.ratio_stats([0.75, 0.25, 0.5, 0.9, 0.7, 0.8], [10, 10, 11, 12, 12, 12])
  assert list(out) == [10, 11, 12]
  assert out[10] == pytest.approx((0.5, 0.25))  # ddof=1 would give 0.354
  assert out[11] == pytest.approx((0.5, 0.0))
  assert out[12] == pytest.approx((0.8, np.sqrt(0.02 / 3)))
  assert all(isinstance(v, float) for m_s in out.values() for v in m_s)


def test_combined_curve_single_and_batched():
  r = phase2.Phase2Result(jnp.array([-3.0, -3.5, -3.6, -3.6]), jnp.zeros((4, 2, 1)),
                            jnp.array(2), jnp.array(True))
  out = phase2.combined_curve(jnp.array([-1.0, -2.0, -3.0]), r)
  np.testing.assert_allclose(np.asarray(out), [-1.0, -2.0, -3.0, -3.5, -3.6, -3.6])
  rb = jax.tree.map(lambda x: jnp.stack([x, x + 1]), r)
  out = phase2.combined_curve(jnp.array([[-1.0, -3.0], [0.0, -2.0]]), rb)
  np.testing.assert_allclose(np.asarray(out), [[-1.0, -3.0, -3.5, -3.6, -3.6],
                                               [0.0, -2.0, -2.5, -2.6, -2.6]])


def _published_iterations(reference, n: int, test_data) -> tuple[list[int], dict]:
  """Table II from the published cost histories of the size-n test graphs: the iterations
  of QK-LSTM, LSTM, QLSTM, QFWP and the random seed (the two seeds pooled), with the
  default tolerance and rule; and the Phase I ratios of the four models."""
  import csv
  import re
  files = sorted((reference / "results").glob(f"model_QAOA_node_{n}_*_edge_*.csv"))
  assert len(files) == {10: 14, 11: 16, 12: 18, 13: 20}[n]
  index = [int(re.search(rf"node_{n}_(\d+)_edge", f.name)[1]) for f in files]
  mcs = np.asarray(jax.vmap(qaoa.max_cut)(graphs.stack(
      [graphs.from_networkx(test_data[i]) for i in index])))
  cols = {name: [] for name in ["QK", "LSTM", "QLSTM", "FWP"]}
  random_rows, p1_last = [], {name: [] for name in cols}
  hold = lambda c: np.pad(np.asarray(c), (0, 301 - len(c)), mode="edge")[:301]
  for f, mc in zip(files, mcs):
    with open(f) as fh:
      rows = list(csv.reader(fh))
    table = {h: [float(r[k]) for r in rows[1:] if k < len(r) and r[k]] for k, h in
             enumerate(rows[0])}
    for name in cols:
      # The published Phase II history lists its starting cost twice: drop one.
      res = phase2.Phase2Result(hold(table[f"QAOA after {name}"][1:]), None, None, None)
      curve = phase2.combined_curve(np.asarray(table[f"{name}-QAOA"]), res)
      cols[name].append(np.asarray(metrics.relative_error(curve, mc)))
      p1_last[name].append(-table[f"{name}-QAOA"][-1] / mc)
    for seed in (1, 2):  # both random seeds pooled into one mean curve
      random_rows.append(np.asarray(metrics.relative_error(
          hold(table[f"QAOA Random {seed}"][1:]), mc)))
  its = [metrics.iterations_to_convergence(
      metrics.mean_curve(np.array(cols[k]), [n] * len(files))[n]) for k in cols]
  its.append(metrics.iterations_to_convergence(
      metrics.mean_curve(np.array(random_rows), [n] * 2 * len(files))[n], first_step=0))
  return its, p1_last


def test_default_tolerance_reproduces_published_table_ii(reference):
  """CONVERGENCE_TOL and the "stable" rule give the paper's Table II exactly for n = 10..12
  from the published cost histories, and 1-2 steps below it for n = 13 (kept visible)."""
  from jqmeta import io
  from jqmeta.app import paper
  test_data = io.load_reference_dataset(reference / "datasets.pkl")["test_data"]
  order = ["qk_lstm", "lstm", "qlstm", "qfwp", "random"]
  got = {n: _published_iterations(reference, n, test_data) for n in (10, 11, 12, 13)}
  for n in (10, 11, 12):
    assert got[n][0] == [paper.PAPER_TABLE2[m][n] for m in order], n
  assert [paper.PAPER_TABLE2[m][13] for m in order] == [35, 72, 47, 177, 145]
  assert got[13][0] == [34, 71, 46, 175, 144]  # the known n = 13 mismatch
  p1_last = got[10][1]
  means = [round(metrics.ratio_stats(p1_last[k], [10] * 14)[10][0], 2) for k in p1_last]
  assert means == [0.82, 0.79, 0.81, 0.63]  # paper, Table III Phase I, n = 10


def test_phase2_reproduces_published_history(reference, x64):
  """QK-LSTM's last Phase I angles on test graph 0 (n = 10): the published SGD history."""
  import csv
  from jqmeta import io
  G = io.load_reference_dataset(reference / "datasets.pkl")["test_data"][0]
  with open(reference / "results" / "model_QAOA_node_10_0_edge_17_0.csv") as fh:
    rows = list(csv.reader(fh))
  k = rows[0].index("QAOA after QK")
  hist = np.array([float(r[k]) for r in rows[1:] if k < len(r) and r[k]])
  start = np.load(reference / "trajectories" / "QK_node_10_edge_17_0.npz")["params"][-1]
  r = _phase2(jnp.asarray(start.reshape(2, 1), jnp.float64), graphs.from_networkx(G),
              lr=phase2.PHASE2_LR, steps=phase2.PHASE2_STEPS, tol=phase2.PHASE2_TOL)
  assert bool(r.converged) and int(r.n_steps) == len(hist) - 2  # start listed twice there
  np.testing.assert_allclose(np.asarray(r.costs[:len(hist) - 1]), hist[1:], atol=1e-6)


# ----------------------------------------------------------------------------- driver


@pytest.fixture(scope="module")
def eval_batch():
  Gs = [random_graph(60 + k, n, weighted=k == 1) for k, n in enumerate([4, 5, 6])]
  return Gs, [brute_force_cut(G) for G in Gs]


def _batch(Gs):
  return graphs.stack([_g(G) for G in Gs])  # same layout as _g: reuses compiled programs


def test_evaluate_method_with_phase1(x64, eval_batch):
  Gs, mcs = eval_batch
  T, max_iter, lr, tol, k = 3, 40, 0.03, 1e-4, 10
  batch = _batch(Gs)
  p1 = jnp.asarray(np.random.default_rng(2).uniform(0, 1, (3, T, 2, 1)))
  out = evaluation.evaluate_method(p1, p1[:, -1], batch, jnp.array(mcs), lr=lr,
                                 steps=max_iter, tol=tol, phase2_report_step=k)
  assert out["phase1_costs"].shape == (3, T)
  assert out["phase2_costs"].shape == (3, max_iter + 1)
  assert out["rel_error_curve"].shape == (3, T + max_iter)
  assert out["curve_first_step"] == 1
  for i, G in enumerate(Gs):
    g = _g(G)
    e1 = [float(_value_and_grad(p1[i, t], g)[0]) for t in range(T)]
    np.testing.assert_allclose(out["phase1_costs"][i], e1, atol=1e-10)
    r = _phase2(p1[i, -1], g, lr=lr, steps=max_iter, tol=tol)
    np.testing.assert_allclose(out["phase2_costs"][i], np.asarray(r.costs), atol=1e-10)
    assert out["n_steps"][i] == int(r.n_steps) and out["converged"][i] == bool(r.converged)
    assert out["ratio_phase1"][i] == pytest.approx(-e1[-1] / mcs[i])
    assert out["ratio_phase2"][i] == pytest.approx(-float(r.costs[k]) / mcs[i])
    curve = np.concatenate([e1, np.asarray(r.costs[1:])])
    np.testing.assert_allclose(out["rel_error_curve"][i], np.abs(curve + mcs[i]) / mcs[i],
                               atol=1e-10)
  assert out["phase2_costs"][0, 0] == pytest.approx(out["phase1_costs"][0, -1])


def test_evaluate_method_without_phase1_chunked(x64, eval_batch):
  Gs, mcs = eval_batch
  Gs, mcs = Gs + [nx.cycle_graph(5)], mcs + [4.0]  # 4 graphs in chunks of 2
  batch = _batch(Gs)
  starts = jnp.asarray(np.random.default_rng(5).uniform(0, 1, (4, 2, 1)))
  out = evaluation.evaluate_method(None, starts, batch, mcs, lr=0.05, steps=40, tol=1e-4,
                                 phase2_report_step=0, batch_size=2)
  assert out["phase1_costs"] is None and out["ratio_phase1"] is None
  assert out["rel_error_curve"].shape == (4, 41) and out["curve_first_step"] == 0
  for i, G in enumerate(Gs):
    r = _phase2(starts[i], _g(G), lr=0.05, steps=40, tol=1e-4)
    np.testing.assert_allclose(out["phase2_costs"][i], np.asarray(r.costs), atol=1e-10)
    assert out["n_steps"][i] == int(r.n_steps)
    e0 = float(r.costs[0])
    assert out["ratio_phase2"][i] == pytest.approx(-e0 / mcs[i], rel=1e-10)
    np.testing.assert_allclose(out["rel_error_curve"][i],
                               np.abs(np.asarray(r.costs) + mcs[i]) / mcs[i], atol=1e-10)


# ----------------------------------------------------------------------------- bad input

_G1 = graphs.from_networkx(nx.cycle_graph(4))
_B = graphs.stack([_G1, _G1])
_A = jnp.array([[0.1], [0.2]])

BAD = [
    ("angles (3,1)", lambda: phase2.phase2_sgd(jnp.zeros((3, 1)), _G1), ValueError, "shape"),
    ("flat angles", lambda: phase2.phase2_sgd(jnp.zeros(2), _G1), ValueError, "shape"),
    ("complex angles", lambda: phase2.phase2_sgd(jnp.zeros((2, 1), jnp.complex64), _G1),
     TypeError, "real"),
    ("lr 0", lambda: phase2.phase2_sgd(_A, _G1, lr=0.0), ValueError, "lr"),
    ("lr negative", lambda: phase2.phase2_sgd(_A, _G1, lr=-1e-3), ValueError, "lr"),
    ("lr nan", lambda: phase2.phase2_sgd(_A, _G1, lr=float("nan")), ValueError, "lr"),
    ("lr string", lambda: phase2.phase2_sgd(_A, _G1, lr="big"), TypeError, "lr"),
    ("steps 0", lambda: phase2.phase2_sgd(_A, _G1, steps=0), ValueError, "steps"),
    ("steps float", lambda: phase2.phase2_sgd(_A, _G1, steps=2.5), TypeError, "steps"),
    ("tol negative", lambda: phase2.phase2_sgd(_A, _G1, tol=-1.0), ValueError, "tol"),
    ("method", lambda: phase2.phase2_sgd(_A, _G1, method="exact"), ValueError, "method"),
    ("batched graph", lambda: phase2.phase2_sgd(_A, _B), ValueError, "ONE graph"),
    ("nx graph", lambda: phase2.phase2_sgd(_A, nx.cycle_graph(4)), TypeError, "from_networkx"),
    ("starts n_graphs", lambda: baselines.random_starts(jax.random.key(0), 0, 1), ValueError,
     "n_graphs"),
    ("starts p", lambda: baselines.random_starts(jax.random.key(0), 2, 0), ValueError, "p must"),
    ("starts key", lambda: baselines.random_starts(3, 2, 1), TypeError, "key"),
    ("fit unbatched", lambda: baselines.fit_fixed_angles(_G1), ValueError, "batch"),
    ("fit max_cut_values", lambda: baselines.fit_fixed_angles(_B, max_cut_values=jnp.ones(3)),
     ValueError, "max_cut_values"),
    ("fit grid", lambda: baselines.fit_fixed_angles(_B, grid=0), ValueError, "grid"),
    ("fit p", lambda: baselines.fit_fixed_angles(_B, p=0), ValueError, "p must"),
    ("fit lr", lambda: baselines.fit_fixed_angles(_B, lr=0), ValueError, "lr"),
    ("p1 n_starts", lambda: baselines.p1_optimum(_G1, grid=2, n_starts=5), ValueError, "n_starts"),
    ("p1 batched", lambda: baselines.p1_optimum(_B), ValueError, "ONE graph"),
    ("p1 newton_steps", lambda: baselines.p1_optimum(_G1, newton_steps=-1), ValueError,
     "newton_steps"),
    ("p1 chunk_size", lambda: baselines.p1_optimum(_G1, chunk_size=0), ValueError, "chunk_size"),
    ("p1 batch unbatched", lambda: baselines.p1_optimum_batch(_G1), ValueError, "batch"),
    ("p1 memory limit", lambda: baselines.p1_optimum(_G1, memory_limit_bytes=0), ValueError,
     "positive number of bytes"),
    ("fold flat angles", lambda: baselines.fold_angles(jnp.zeros(2)), ValueError, "shape"),
    ("fold nx graph", lambda: baselines.fold_angles(_A, nx.cycle_graph(4)), TypeError,
     "from_networkx"),
    ("ratio_stats sizes", lambda: metrics.ratio_stats([0.5, 0.6], [10]), ValueError, "sizes"),
    ("ratio_stats 2d", lambda: metrics.ratio_stats(np.ones((2, 2)), [1, 2]), ValueError,
     "shape"),
    ("mean_curve 1d", lambda: metrics.mean_curve([0.1, 0.2], [10, 10]), ValueError, "(G, T)"),
    ("mean_curve sizes", lambda: metrics.mean_curve(np.ones((2, 3)), [10, 10, 11]), ValueError,
     "sizes"),
    ("itc tol", lambda: metrics.iterations_to_convergence([1.0, 0.5], 0.0), ValueError, "tol"),
    ("itc rule", lambda: metrics.iterations_to_convergence([1.0, 0.5], rule="last"), ValueError,
     "rule"),
    ("itc 2d", lambda: metrics.iterations_to_convergence(np.ones((2, 2))), ValueError, "(T,)"),
    ("combined type", lambda: phase2.combined_curve(jnp.ones(3), (jnp.ones(4),)), TypeError,
     "Phase2Result"),
    ("combined batch", lambda: phase2.combined_curve(
        jnp.ones((2, 3)), phase2.Phase2Result(jnp.ones(4), None, None, None)), ValueError,
     "leading"),
    ("eval report step", lambda: evaluation.evaluate_method(
        None, jnp.zeros((2, 2, 1)), _B, jnp.ones(2), steps=5), ValueError,
     "phase2_report_step"),
    ("eval starts shape", lambda: evaluation.evaluate_method(
        None, jnp.zeros((3, 2, 1)), _B, jnp.ones(2), steps=5, phase2_report_step=1),
     ValueError, "start_angles"),
    ("eval no starts", lambda: evaluation.evaluate_method(None, None, _B, jnp.ones(2)), ValueError,
     "start_angles"),
    ("eval max_cut_values", lambda: evaluation.evaluate_method(
        None, jnp.zeros((2, 2, 1)), _B, jnp.ones(3)), ValueError, "max_cut_values"),
    ("eval phase1 shape", lambda: evaluation.evaluate_method(
        jnp.zeros((2, 2, 1)), None, _B, jnp.ones(2)), ValueError, "phase1_angles"),
    ("eval depth mismatch", lambda: evaluation.evaluate_method(
        jnp.zeros((2, 3, 2, 1)), jnp.zeros((2, 2, 2)), _B, jnp.ones(2)), ValueError, "depth"),
    ("eval unbatched", lambda: evaluation.evaluate_method(None, _A[None], _G1, jnp.ones(1)),
     ValueError, "batch"),
    ("eval memory limit", lambda: evaluation.evaluate_method(
        None, jnp.zeros((2, 2, 1)), _B, jnp.ones(2), memory_limit_bytes=-1), ValueError,
     "positive number of bytes"),
    ("eval batch_size", lambda: evaluation.evaluate_method(
        None, jnp.zeros((2, 2, 1)), _B, jnp.ones(2), batch_size=0), ValueError, "batch_size"),
]


@pytest.mark.parametrize("fn,exc,match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_raises(fn, exc, match):
  with pytest.raises(exc, match=match):
    fn()
