"""Baselines and ceilings that need no learned model.

* The published random baseline: Phase II from angles drawn uniform in ``[0, 1)``
  (:func:`random_starts`; the paper ran two seeds).
* Not in the paper: one angle set fitted on the training graphs only
  (:func:`fit_fixed_angles`), the per-graph p=1 optimum (:func:`p1_optimum`), and the
  uniformly random cut (:func:`random_cut_ratio`).
* :func:`angle_grid`: the p=1 search grid both searches start from.

Angles are ``(2, p)`` (row 0 gammas, row 1 betas) and costs are energies ``<H_C>``.
Single-graph functions are pure and vmappable; :func:`fit_fixed_angles` works on a
training batch and jits its two stages.

Example:
  >>> import networkx as nx
  >>> from jqmeta import baselines, graphs
  >>> float(baselines.random_cut_ratio(graphs.from_networkx(nx.complete_graph(4))))
  0.75
"""

from __future__ import annotations

import functools
from typing import Optional

import jax
import jax.numpy as jnp
import optax
from jax import lax

from jqmeta import metrics, qaoa
from jqmeta._src import legacy, validation
from jqmeta.graphs import Graph

__all__ = [
    "random_starts",
    "random_cut_ratio",
    "angle_grid",
    "fit_fixed_angles",
    "p1_optimum",
]

_CHUNK_BYTES = 2**30  # default memory budget of one chunk of grid evaluations


def random_starts(key: jax.Array, n_graphs: int, p: int, n_seeds: int = 2) -> jax.Array:
  """Starting angles of the published random baseline: uniform in ``[0, 1)``.

  Args:
    key: a JAX PRNG key (``jax.random.key`` or ``jax.random.PRNGKey``).
    n_graphs: number of graphs ``G >= 1``.
    p: QAOA depth ``>= 1``.
    n_seeds: independent random starts per graph (the paper used 2).

  Returns:
    ``(n_seeds, n_graphs, 2, p)`` float (default float dtype).  Seed ``s`` is the start
    batch of one baseline run: ``evaluate_method(None, starts[s], ...)``.

  Example:
    >>> import jax
    >>> a = random_starts(jax.random.key(0), n_graphs=3, p=1)
    >>> a.shape, bool((a >= 0).all() and (a < 1).all())
    ((2, 3, 2, 1), True)
  """
  validation.check_key(key)
  n_graphs = validation.check_int("n_graphs", n_graphs, 1)
  p = validation.check_int("p", p, 1)
  n_seeds = validation.check_int("n_seeds", n_seeds, 1)
  return jax.random.uniform(key, (n_seeds, n_graphs, 2, p), dtype=jnp.result_type(float))


def random_cut_ratio(graph: Graph, max_cut_value=None) -> jax.Array:
  """Approximation ratio of a uniformly random assignment: ``(sum w / 2) / max cut``.

  Each edge is cut with probability 1/2, so ``E[cut] = sum(w) / 2`` (this is also the
  QAOA value at angles 0).  Returns 1 for a graph whose max cut is not positive, like
  :func:`jqmeta.qaoa.approximation_ratio`.

  Args:
    graph: one ``Graph`` (vmappable with a batched ``max_cut_value``).
    max_cut_value: optional precomputed :func:`jqmeta.qaoa.max_cut` (else brute force).

  Returns:
    scalar float.

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> float(random_cut_ratio(graphs.from_networkx(nx.complete_graph(4))))
    0.75
  """
  validation.check_graph(graph)
  if max_cut_value is None:
    max_cut_value = qaoa.max_cut(graph)
  max_cut_value = jnp.asarray(max_cut_value).astype(graph.weights.dtype)
  return metrics.ratio_from_energy(-0.5 * jnp.sum(graph.weights), max_cut_value)


def angle_grid(grid: int, dtype=None) -> jax.Array:
  """The ``grid x grid`` p=1 search grid over ``gamma in [-pi, pi)``, ``beta in [-pi/2, pi/2)``.

  For integer edge weights this is one full period of the p=1 landscape (gamma has
  period 2 pi because cuts are integers; beta has period pi for any weights because
  ``exp(-i pi sum X)`` is a global phase).  For non-integer weights gamma is not
  periodic and the window is only the principal one.

  Args:
    grid: points per axis, ``>= 1``.
    dtype: float dtype (default: the default float dtype).

  Returns:
    ``(grid * grid, 2, 1)`` angles, gamma-major (point ``i * grid + j`` has gamma
    ``-pi + 2 pi i / grid`` and beta ``-pi/2 + pi j / grid``).

  Example:
    >>> angle_grid(2)[:, :, 0].tolist()  # doctest: +ELLIPSIS
    [[-3.14..., -1.57...], [-3.14..., 0.0], [0.0, -1.57...], [0.0, 0.0]]
  """
  grid = validation.check_int("grid", grid, 1)
  dtype = jnp.result_type(float) if dtype is None else dtype
  gammas = -jnp.pi + 2 * jnp.pi * jnp.arange(grid, dtype=dtype) / grid
  betas = -jnp.pi / 2 + jnp.pi * jnp.arange(grid, dtype=dtype) / grid
  gg, bb = jnp.meshgrid(gammas, betas, indexing="ij")
  return jnp.stack([gg.reshape(-1), bb.reshape(-1)], axis=1)[:, :, None]


def _descend(loss, a0, steps: int, lr):
  """``steps`` Adam updates (cosine-decayed lr) on ``loss``; best point seen and its loss."""
  opt = optax.adam(optax.cosine_decay_schedule(lr, max(steps, 1)))
  value_and_grad = jax.value_and_grad(loss)

  def step(carry, _):
    a, state, best_a, best_l = carry
    l, g = value_and_grad(a)
    better = l < best_l
    best_a = jnp.where(better, a, best_a)
    best_l = jnp.where(better, l, best_l)
    upd, state = opt.update(g, state, a)
    return (optax.apply_updates(a, upd), state, best_a, best_l), None

  inf = jnp.asarray(jnp.inf, a0.dtype)
  (a, _, best_a, best_l), _ = lax.scan(step, (a0, opt.init(a0), a0, inf), None, length=steps)
  l = loss(a)
  better = l < best_l
  return jnp.where(better, a, best_a), jnp.where(better, l, best_l)


def _mean_ratio(angles, graphs, max_cut_values, method):
  costs = jax.vmap(lambda graph: qaoa.energy(angles, graph, method=method))(graphs)
  dt = angles.dtype
  return jnp.mean(metrics.ratio_from_energy(costs.astype(dt), max_cut_values.astype(dt)))


@functools.partial(jax.jit, static_argnames=("method", "chunk"))
def _grid_scores(points, graphs, max_cut_values, method, chunk):
  return lax.map(lambda a: _mean_ratio(a, graphs, max_cut_values, method), points,
                 batch_size=chunk)


@functools.partial(jax.jit, static_argnames=("method", "steps"))
def _refine_fixed(starts, graphs, max_cut_values, lr, method, steps):
  loss = lambda a: -_mean_ratio(a, graphs, max_cut_values, method)
  best_a, best_l = jax.vmap(lambda a0: _descend(loss, a0, steps, lr))(starts)
  return best_a, -best_l


def _auto_chunk(n_points: int, n_graphs: int, n_qubits: int, p: int, chunk_size) -> int:
  if chunk_size is not None:
    return min(validation.check_int("chunk_size", chunk_size, 1), n_points)
  per_point = n_graphs * qaoa.statevector_bytes(n_qubits, p)
  budget = min(_CHUNK_BYTES, qaoa.memory_limit())
  return int(max(1, min(n_points, budget // max(per_point, 1))))


def _linear_ramp(a1: jax.Array, p: int) -> jax.Array:
  """p-layer linear ramp whose mean angles equal the p=1 angles ``a1`` ``(2, 1)``."""
  k = jnp.arange(1, p + 1, dtype=a1.dtype)
  up = 2.0 * k / (p + 1)  # 2/(p+1), ..., 2p/(p+1): mean 1
  return jnp.stack([a1[0, 0] * up, a1[1, 0] * up[::-1]])


@legacy.renamed_kwargs(refine_steps="steps", max_cuts="max_cut_values")
def fit_fixed_angles(train_graphs: Graph, *, p: int = 1, grid: int = 64, steps: int = 200,
                     lr=0.02, max_cut_values=None, method: str = "statevector",
                     chunk_size: Optional[int] = None) -> jax.Array:
  """One angle set for all graphs, fitted on the training graphs only (a ceiling).

  Maximises the mean approximation ratio ``mean_i E_i[cut] / maxcut_i`` over the
  training batch:

  1. evaluate the mean ratio at every point of :func:`angle_grid` ``(grid)`` (p=1)
     as one jitted program over (grid points x graphs), chunked by ``lax.map`` so a
     chunk stays within about 1 GiB (or ``chunk_size`` points);
  2. refine from the best grid point with ``steps`` Adam steps (cosine-decayed
     ``lr``) on the mean ratio, keeping the best point seen, so the result is never
     worse than the best grid point (up to rounding).

  For ``p > 1`` the grid is still over p=1 and two p-layer starts are refined: the
  linear ramp ``gamma_k = gamma* 2k/(p+1)``, ``beta_k = beta* 2(p+1-k)/(p+1)``
  (``k = 1..p``; gammas rise and betas fall, as in an annealing path, with mean
  equal to the p=1 optimum ``(gamma*, beta*)``) and the p=1 optimum padded with zero
  layers (which reproduces the p=1 value exactly); the better refined one is returned.

  Args:
    train_graphs: a batched ``Graph`` (``graphs.stack``) of TRAINING graphs.
    p: QAOA depth ``>= 1``.
    grid: grid points per axis ``>= 1``.
    steps: Adam steps ``>= 0`` (0: return the grid optimum / initial guess).
    lr: Adam learning rate ``> 0``.
    max_cut_values: optional ``(G,)`` precomputed max cuts (else brute force here).
    method: energy method (``"analytic"``/``"auto"`` only for unweighted graphs;
      ``"auto"`` uses the analytic formula for the p=1 grid and the statevector for
      ``p > 1`` refinement).
    chunk_size: optional number of grid points per chunk.

  Returns:
    ``(2, p)`` angles (default float dtype).

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> train = graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in (4, 6)])
    >>> fit_fixed_angles(train, grid=16, steps=20).shape
    (2, 1)
  """
  validation.check_graph(train_graphs, batched=True, name="train_graphs")
  p = validation.check_int("p", p, 1)
  grid = validation.check_int("grid", grid, 1)
  steps = validation.check_int("steps", steps, 0)
  validation.check_real("lr", lr, low=0.0, low_open=True, traced_ok=True)
  validation.check_method(method)
  n_graphs = train_graphs.batch_shape[0]
  if max_cut_values is None:
    max_cut_values = jax.jit(jax.vmap(qaoa.max_cut))(train_graphs)
  max_cut_values = validation.check_per_graph("max_cut_values", max_cut_values, n_graphs)
  best = _best_grid_point(train_graphs, max_cut_values, grid, method, chunk_size)
  starts = _depth_starts(best, p)
  if steps == 0:
    if p == 1:
      return best
    scores = jax.vmap(lambda a: _mean_ratio(a, train_graphs, max_cut_values, method))(starts)
    return starts[jnp.argmax(scores)]
  angles, scores = _refine_fixed(starts, train_graphs, max_cut_values,
                                 jnp.asarray(lr, best.dtype), method, steps)
  return angles[jnp.argmax(scores)]


def _best_grid_point(graphs, max_cut_values, grid: int, method: str, chunk_size):
  """The :func:`angle_grid` point of highest mean ratio (one chunked jitted program)."""
  points = angle_grid(grid)
  chunk = _auto_chunk(points.shape[0], graphs.batch_shape[0], graphs.n_qubits, 1, chunk_size)
  grid_method = "analytic" if method == "auto" else method  # the grid is p = 1
  return points[jnp.argmax(_grid_scores(points, graphs, max_cut_values, grid_method, chunk))]


def _depth_starts(best: jax.Array, p: int) -> jax.Array:
  """``(k, 2, p)`` refinement starts from the p=1 point: itself, or ramp and zero-padded."""
  if p == 1:
    return best[None]
  padded = jnp.zeros((2, p), best.dtype).at[:, :1].set(best)
  return jnp.stack([_linear_ramp(best, p), padded])


def p1_optimum(graph: Graph, *, n_starts: int = 4, grid: int = 24, steps: int = 150,
               lr=0.05, key: Optional[jax.Array] = None, method: str = "statevector",
               chunk_size: Optional[int] = None) -> tuple[jax.Array, jax.Array]:
  """Per-graph p=1 optimum by multi-start search (the per-graph ceiling).

  Evaluates the ``grid x grid`` :func:`angle_grid`, takes the ``n_starts`` best grid
  points as starts (with ``key``, each is jittered uniformly within its grid cell),
  refines each with ``steps`` Adam steps (cosine-decayed ``lr``) keeping the best
  point seen, and returns the best over all starts and the unjittered best grid
  point, so the result is never worse than the grid.  Pure and vmappable over graphs
  (``jax.vmap(lambda g: p1_optimum(g))(batch)``; jit at the call site).

  Args:
    graph: one ``Graph``.
    n_starts: number of refined starts, ``1 <= n_starts <= grid**2``.
    grid: grid points per axis ``>= 1``.
    steps: Adam steps per start ``>= 0``.
    lr: Adam learning rate ``> 0``.
    key: optional PRNG key for the jitter (``None``: deterministic grid starts).
    method: energy method (``"analytic"``/``"auto"`` only for unweighted graphs).
    chunk_size: optional grid points per ``lax.map`` chunk (default: all at once).

  Returns:
    ``(angles, cost)``: ``(2, 1)`` float and the scalar energy there.

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> a, c = p1_optimum(graphs.from_networkx(nx.cycle_graph(4)), grid=16, steps=100)
    >>> round(float(c), 3)  # ring of 4: p=1 optimum is 3/4 of the max cut 4
    -3.0
  """
  validation.check_graph(graph)
  grid = validation.check_int("grid", grid, 1)
  n_starts = validation.check_int("n_starts", n_starts, 1)
  if n_starts > grid * grid:
    raise ValueError(f"n_starts={n_starts} exceeds the {grid * grid} grid points")
  steps = validation.check_int("steps", steps, 0)
  validation.check_real("lr", lr, low=0.0, low_open=True, traced_ok=True)
  validation.check_method(method)
  points = angle_grid(grid)
  dtype = points.dtype
  energy = lambda a: qaoa.energy(a, graph, method=method).astype(dtype)
  if chunk_size is None:
    costs = jax.vmap(energy)(points)
  else:
    costs = lax.map(energy, points, batch_size=validation.check_int("chunk_size", chunk_size, 1))
  _, idx = lax.top_k(-costs, n_starts)
  starts = points[idx]
  if key is not None:
    cell_size = jnp.array([[2 * jnp.pi / grid], [jnp.pi / grid]], dtype)
    starts = starts + jax.random.uniform(key, starts.shape, dtype, -0.5, 0.5) * cell_size
  if steps > 0:
    angles, values = jax.vmap(lambda a0: _descend(energy, a0, steps, jnp.asarray(lr, dtype)))(
        starts)
  else:
    angles, values = starts, jax.vmap(energy)(starts)
  k = jnp.argmin(values)
  grid_best = costs[idx[0]] <= values[k]
  return (jnp.where(grid_best, points[idx[0]], angles[k]),
          jnp.where(grid_best, costs[idx[0]], values[k]))
