"""Baselines and ceilings that need no learned model.

* The published random baseline: Phase II from angles drawn uniform in ``[0, 1)``
  (:func:`random_starts`; the paper ran two seeds).
* Not in the paper: one angle set fitted on the training graphs only
  (:func:`fit_fixed_angles`), the per-graph p=1 optimum (:func:`p1_optimum`), and the
  uniformly random cut (:func:`random_cut_ratio`).
* :func:`angle_grid`: the p=1 search grid, over the fundamental domain of the
  landscape's symmetries; :func:`fold_angles` maps any angles into that domain.
* Published parameter-setting rules for any p and the per-graph "best found" reference
  (:func:`regular_fixed_angles`, :func:`sk_angles`, :func:`rescaled_sk_angles`,
  :func:`linear_ramp`, :func:`median_angles`, :func:`interp`, :func:`best_found`, ...),
  implemented in :mod:`jqmeta._src.rules` and :mod:`jqmeta._src.best_found` and re-exported
  here.

Symmetries (exact, any depth): every ``beta_k`` has period ``pi/2``
(``exp(-i pi/2 sum X) = (-i)^n X^(x)n``, the identity on the bit-flip-symmetric states
QAOA stays in); ``E(-gamma, -beta) = E(gamma, beta)`` (``H_C``, the mixer and ``|+>``
are real: complex conjugation); and, for integer edge weights only, every ``gamma_k``
has period ``2 pi``.  So for integer weights the p=1 fundamental domain is ``gamma in
[0, pi]``, ``beta in [-pi/4, pi/4)``, a quarter of ``[-pi, pi) x [-pi/2, pi/2)``.  For
non-integer weights gamma has no period: the domain is ``gamma >= 0``, and the grid
covers the window ``gamma in [0, pi]`` only (as the old full grid did), so an optimum
at larger gamma is found only if the local refinement walks there.

Angles are ``(2, p)`` (row 0 gammas, row 1 betas) and costs are energies ``<H_C>``.
Single-graph functions are pure and vmappable; :func:`fit_fixed_angles` and
:func:`p1_optimum_batch` size their batches to :func:`jqmeta.qaoa.memory_limit`.

Example:
  >>> import networkx as nx
  >>> from jqmeta import baselines, graphs
  >>> float(baselines.random_cut_ratio(graphs.from_networkx(nx.complete_graph(4))))
  0.75
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from jqmeta import metrics, parallel, phase2, qaoa
from jqmeta._src import best_found as best_found_lib
from jqmeta._src import legacy, memory, rules, validation
from jqmeta._src.best_found import (BestFound, best_found, best_found_batch,  # noqa: F401
                                    best_found_labels, median_angles)
from jqmeta._src.rules import (SK_ENERGIES, fit_linear_ramp, graph_scale, interp,  # noqa: F401
                               linear_ramp, regular_fixed_angles, regular_fixed_angles_ratio,
                               rescaled_sk_angles, sk_angles, sk_energy)
from jqmeta.graphs import Graph

__all__ = [
    "random_starts",
    "random_cut_ratio",
    "angle_grid",
    "fit_fixed_angles",
    "p1_optimum",
    "p1_optimum_batch",
    "fold_angles",
    *rules.__all__,
    *best_found_lib.__all__,
]

_CHUNK_BYTES = 2**30  # preferred size of one chunk of grid evaluations (cache-friendly)
_BETA_PERIOD = jnp.pi / 2
_GAMMA_PERIOD = 2 * jnp.pi  # integer weights only


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


def angle_grid(grid: int, dtype=None, *, full: bool = False) -> jax.Array:
  """The ``grid x grid`` p=1 search grid: cell centres of the fundamental domain.

  Changed after 0.2.0: the grid covers ``gamma in [0, pi)``, ``beta in [-pi/4, pi/4)``
  (the fundamental domain, see the module docstring) at cell centres, so no two points
  are equivalent and none lies on a symmetry line.  It spanned ``[-pi, pi) x [-pi/2,
  pi/2)`` from the corner before, four copies of one landscape (``full=True``).

  Args:
    grid: points per axis, ``>= 1``.
    dtype: float dtype (default: the default float dtype).
    full: the old corner-aligned grid over the full period.

  Returns:
    ``(grid * grid, 2, 1)`` angles, gamma-major: point ``i * grid + j`` has gamma
    ``pi (i + 1/2) / grid`` and beta ``-pi/4 + pi/2 (j + 1/2) / grid`` (``full``:
    ``-pi + 2 pi i / grid`` and ``-pi/2 + pi j / grid``).

  Example:
    >>> angle_grid(2)[:, :, 0].tolist()  # doctest: +ELLIPSIS
    [[0.785..., -0.392...], [0.785..., 0.392...], [2.356..., -0.392...], [2.356..., 0.392...]]
  """
  grid = validation.check_int("grid", grid, 1)
  dtype = jnp.result_type(float) if dtype is None else dtype
  k = jnp.arange(grid, dtype=dtype)
  if full:
    gammas, betas = -jnp.pi + 2 * jnp.pi * k / grid, -jnp.pi / 2 + jnp.pi * k / grid
  else:
    gammas = jnp.pi * (k + 0.5) / grid
    betas = -_BETA_PERIOD / 2 + _BETA_PERIOD * (k + 0.5) / grid
  gg, bb = jnp.meshgrid(gammas, betas, indexing="ij")
  return jnp.stack([gg.reshape(-1), bb.reshape(-1)], axis=1)[:, :, None]


def _wrap(x, period):
  """``x`` modulo ``period``, into ``[-period/2, period/2)``."""
  return x - period * jnp.floor(x / period + 0.5)


def _integer_weights(graph: Graph) -> jax.Array:
  """``() bool``: every weight of ``graph`` (one or a batch) is an integer (exact test)."""
  return jnp.all(graph.weights == jnp.round(graph.weights))


def fold_angles(angles, graph: Optional[Graph] = None) -> jax.Array:
  """Maps angles into the fundamental domain; the energy is unchanged (up to rounding).

  Each ``beta_k`` is reduced modulo ``pi/2`` into ``[-pi/4, pi/4)``; with a ``graph``
  whose weights are all integers (an exact test, also under ``jit``) each ``gamma_k``
  modulo ``2 pi`` into ``[-pi, pi)``; then all angles are negated if ``gamma_1 < 0``.
  Without a graph, or for non-integer weights, gamma is not reduced (no period).

  Args:
    angles: ``(2, p)`` float.
    graph: optional ``Graph`` (one, or a batch: integer weights must hold for all).

  Returns:
    ``(2, p)`` angles, same dtype: ``gamma_1 >= 0``, betas in ``[-pi/4, pi/4)``, gammas
    in ``[-pi, pi]`` for integer weights.  Pure, jittable, vmappable.

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> g = graphs.from_networkx(nx.cycle_graph(4))
    >>> a = fold_angles(jnp.array([[-0.5 - 2 * jnp.pi], [1.3]]), g)
    >>> [round(float(x), 4) for x in a[:, 0]]
    [0.5, 0.2708]
  """
  angles = validation.check_angles(angles)
  gam, bet = angles[0], _wrap(angles[1], _BETA_PERIOD)
  if graph is not None:
    validation.check_graph(graph, batched=bool(getattr(graph, "batch_shape", ())))
    gam = jnp.where(_integer_weights(graph), _wrap(gam, _GAMMA_PERIOD), gam)
  flip = gam[0] < 0
  gam = jnp.where(flip, -gam, gam)
  bet = _wrap(jnp.where(flip, -bet, bet), _BETA_PERIOD)
  return jnp.stack([gam, bet])


def _symmetric_distance(points, i, grid: int, integer) -> jax.Array:
  """``(P,)`` cell distances from ``points[i]``, modulo the images ``(g, b + k pi/2)``,
  ``(-g, -b + k pi/2)`` and, for integer weights, ``(2 pi - g, -b + k pi/2)``."""
  g, b = points[:, 0, 0], points[:, 1, 0]
  cg, cb = jnp.pi / grid, _BETA_PERIOD / grid
  db_same = jnp.abs(_wrap(b - b[i], _BETA_PERIOD)) / cb
  db_flip = jnp.abs(_wrap(b + b[i], _BETA_PERIOD)) / cb
  same = jnp.maximum(jnp.abs(g - g[i]) / cg, db_same)
  mirror0 = jnp.maximum((g + g[i]) / cg, db_flip)
  mirror_pi = jnp.maximum(jnp.abs(2 * jnp.pi - g - g[i]) / cg, db_flip)
  return jnp.minimum(jnp.minimum(same, mirror0), jnp.where(integer, mirror_pi, jnp.inf))


def _distinct_best(costs, points, n_starts: int, grid: int, integer) -> jax.Array:
  """``(n_starts,)`` grid indices: greedily, the best point that is not one of the 8
  neighbours (modulo the symmetries) of an earlier pick; the best again if none is left."""
  available = jnp.ones(costs.shape, bool)
  picks = []
  for _ in range(n_starts):
    i = jnp.argmin(jnp.where(available, costs, jnp.inf))
    i = jnp.where(jnp.any(available), i, picks[0] if picks else i)
    picks.append(i)
    available = available & (_symmetric_distance(points, i, grid, integer) > 1.5)
  return jnp.stack(picks)


def _mean_ratio(angles, graphs, max_cut_values, method, graph_chunk=None, limit=None):
  """Mean ratio over a graph batch, ``graph_chunk`` graphs at a time; chunks are
  rematerialised (``jax.checkpoint``), so a gradient holds one chunk's states at a time."""
  dt = angles.dtype

  def ratio(args):
    graph, mc = args
    cost = qaoa.energy(angles, graph, method=method, memory_limit_bytes=limit).astype(dt)
    return metrics.ratio_from_energy(cost, mc.astype(dt))

  chunked = graph_chunk is not None and graph_chunk < graphs.batch_shape[0]
  fn = jax.checkpoint(ratio) if chunked else ratio
  return jnp.mean(memory.map_in_chunks(fn, (graphs, max_cut_values), graph_chunk))


@functools.partial(jax.jit, static_argnames=("method", "chunk", "graph_chunk", "limit"))
def _grid_scores(points, graphs, max_cut_values, method, chunk, graph_chunk, limit):
  score = lambda a: _mean_ratio(a, graphs, max_cut_values, method, graph_chunk, limit)
  return memory.map_in_chunks(score, points, chunk)


@functools.partial(jax.jit, static_argnames=("method", "steps", "chunk", "graph_chunk", "limit"))
def _refine_fixed(starts, graphs, max_cut_values, lr, method, steps, chunk, graph_chunk, limit):
  loss = lambda a: -_mean_ratio(a, graphs, max_cut_values, method, graph_chunk, limit)
  refine = lambda a0: phase2.descend_best(loss, a0, steps, lr)
  best_a, best_l = memory.map_in_chunks(refine, starts, chunk)
  return best_a, -best_l


def _linear_ramp(a1: jax.Array, p: int) -> jax.Array:
  """p-layer linear ramp whose mean angles equal the p=1 angles ``a1`` ``(2, 1)``."""
  k = jnp.arange(1, p + 1, dtype=a1.dtype)
  up = 2.0 * k / (p + 1)  # 2/(p+1), ..., 2p/(p+1): mean 1
  return jnp.stack([a1[0, 0] * up, a1[1, 0] * up[::-1]])


@legacy.renamed_kwargs(refine_steps="steps", max_cuts="max_cut_values")
def fit_fixed_angles(train_graphs: Graph, *, p: int = 1, grid: int = 64, steps: int = 200,
                     lr=0.02, max_cut_values=None, method: str = "statevector",
                     chunk_size: Optional[int] = None,
                     memory_limit_bytes: Optional[int] = None) -> jax.Array:
  """One angle set for all graphs, fitted on the training graphs only (a ceiling).

  Maximises the mean approximation ratio ``mean_i E_i[cut] / maxcut_i`` over the
  training batch: (1) the mean ratio at every point of :func:`angle_grid` ``(grid)``
  (p=1, the fundamental domain), one jitted program over (grid points x graphs) in
  ``lax.map`` chunks of at most about 1 GiB (or ``chunk_size`` points); (2) ``steps``
  Adam steps (cosine-decayed ``lr``) from the best grid point, keeping the best point
  seen, so the result is never worse than the grid (up to rounding).

  For ``p > 1`` the grid is still over p=1 and two p-layer starts are refined: the
  linear ramp ``gamma_k = gamma* 2k/(p+1)``, ``beta_k = beta* 2(p+1-k)/(p+1)``
  (``k = 1..p``; an annealing path with mean ``(gamma*, beta*)``, the p=1 optimum) and
  the p=1 optimum padded with zero layers (exactly the p=1 value); the better one wins.

  Memory: each stage is sized to ``memory_limit_bytes`` (:func:`jqmeta.qaoa.memory_limit`);
  when the training graphs do not fit at once, the mean ratio and its gradient run over
  chunks of graphs (rematerialised): the same per-graph values summed in the same
  order, so only float rounding can differ.  ``ValueError`` first if one graph does not.

  Args:
    train_graphs: a batched ``Graph`` (``graphs.stack``) of TRAINING graphs.
    p: QAOA depth ``>= 1``.
    grid: grid points per axis ``>= 1``.
    steps: Adam steps ``>= 0`` (0: return the grid optimum / initial guess).
    lr: Adam learning rate ``> 0``.
    max_cut_values: optional ``(G,)`` precomputed max cuts (else brute force here).
    method: energy method of :func:`jqmeta.qaoa.energy` (``"auto"``: the closed form
      for the p=1 grid, the statevector for a ``p > 1`` refinement).
    chunk_size: optional number of grid points per chunk (checked against the budget).
    memory_limit_bytes: optional byte budget (see :func:`jqmeta.qaoa.memory_limit`).

  Returns:
    ``(2, p)`` angles (default float dtype), folded into the fundamental domain
    (:func:`fold_angles` with the training graphs).

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> train = graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in (4, 6)])
    >>> fit_fixed_angles(train, grid=16, steps=20).shape
    (2, 1)
  """
  validation.check_graph(train_graphs, batched=True, name="train_graphs")
  p = validation.check_int("p", p, 1)
  grid, steps, chunk_size = _check_search(grid, steps, lr, method, chunk_size)
  plan = _fixed_plan(train_graphs, p, grid, method, chunk_size, memory_limit_bytes)
  max_cut_values = rules.batch_max_cuts(train_graphs, max_cut_values, memory_limit_bytes)
  grid_method = "analytic" if method == "auto" else method  # the grid is p = 1
  points = angle_grid(grid)
  scores = _grid_scores(points, train_graphs, max_cut_values, grid_method, plan["points"],
                        plan["graphs_p1"], memory_limit_bytes)
  starts = _depth_starts(points[jnp.argmax(scores)], p)
  angles, scores = _refine_fixed(starts, train_graphs, max_cut_values,
                                 jnp.asarray(lr, starts.dtype), method, steps, plan["starts"],
                                 plan["graphs"], memory_limit_bytes)
  return fold_angles(angles[jnp.argmax(scores)], train_graphs)


def _fixed_plan(graphs: Graph, p: int, grid: int, method: str, chunk_size, limit) -> dict:
  """Chunk sizes of :func:`fit_fixed_angles`: graphs per chunk, grid points, starts."""
  dtype, n_graphs = jnp.result_type(float), graphs.batch_shape[0]
  grid_method = "analytic" if method == "auto" else method
  one = lambda q, m: memory.graph_energy_bytes(graphs, q, dtype, m)
  what = "the energy and gradient of one training graph"
  g1 = memory.chunk_size(one(1, grid_method), n_graphs, limit, what=what)
  gp = memory.chunk_size(one(p, method), n_graphs, limit, what=what)
  pts = memory.chunk_size(g1 * one(1, grid_method), grid * grid, limit, requested=chunk_size,
                          cap=_CHUNK_BYTES, what=f"one grid point over {g1} training graphs")
  starts = memory.chunk_size(gp * one(p, method), 1 if p == 1 else 2, limit,
                             what=f"one refinement over {gp} training graphs")
  return {"graphs_p1": g1, "graphs": gp, "points": pts, "starts": starts}


def _depth_starts(best: jax.Array, p: int) -> jax.Array:
  """``(k, 2, p)`` refinement starts from the p=1 point: itself, or ramp and zero-padded."""
  if p == 1:
    return best[None]
  padded = jnp.zeros((2, p), best.dtype).at[:, :1].set(best)
  return jnp.stack([_linear_ramp(best, p), padded])


class _Search(NamedTuple):
  """Static settings of one graph's p=1 search (validated, memory-planned)."""
  n_starts: int
  grid: int
  steps: int
  newton_steps: int
  method: str
  points_chunk: int  # grid points evaluated at once
  starts_chunk: int  # starts refined at once
  limit: Optional[int]  # the caller's byte budget, for each energy's own guard


def _check_search(grid, steps, lr, method, chunk_size):
  """``(grid, steps, chunk_size)`` checked: the settings both angle searches share."""
  grid = validation.check_int("grid", grid, 1)
  steps = validation.check_int("steps", steps, 0)
  validation.check_real("lr", lr, low=0.0, low_open=True, traced_ok=True)
  validation.check_method(method)
  if chunk_size is not None:
    chunk_size = validation.check_int("chunk_size", chunk_size, 1)
  return grid, steps, chunk_size


def _plan_search(graph, n_starts, grid, steps, newton_steps, lr, method, chunk_size, limit):
  """``(_Search, bytes of one graph's search)`` after checking every argument."""
  grid, steps, chunk_size = _check_search(grid, steps, lr, method, chunk_size)
  n_starts = validation.check_int("n_starts", n_starts, 1)
  if n_starts > grid * grid:
    raise ValueError(f"n_starts={n_starts} exceeds the {grid * grid} grid points")
  newton_steps = validation.check_int("newton_steps", newton_steps, 0)
  one = memory.graph_energy_bytes(graph, 1, jnp.result_type(float), method)
  what = "the p=1 energy and gradient at one angle pair"
  points = memory.chunk_size(one, grid * grid, limit, requested=chunk_size, what=what)
  per_start = one * (5 if newton_steps else 1)  # the Hessian maps 5 gradients at once
  starts = memory.chunk_size(per_start, n_starts, limit, what=f"refining one start ({what})")
  plan = _Search(n_starts, grid, steps, newton_steps, method, points, starts, limit)
  return plan, max(points * one, starts * per_start)


def _search(graph, key, lr, s: _Search):
  """The p=1 search on one graph (traceable; ``s`` already checked and planned)."""
  points = angle_grid(s.grid)
  dtype = points.dtype
  energy = lambda a: qaoa.energy(a, graph, method=s.method,
                                 memory_limit_bytes=s.limit).astype(dtype)
  costs = memory.map_in_chunks(energy, points, s.points_chunk)
  idx = _distinct_best(costs, points, s.n_starts, s.grid, _integer_weights(graph))
  starts = points[idx]
  if key is not None:
    cell_size = jnp.array([[jnp.pi / s.grid], [_BETA_PERIOD / s.grid]], dtype)
    starts = starts + jax.random.uniform(key, starts.shape, dtype, -0.5, 0.5) * cell_size
  lr = jnp.asarray(lr, dtype)

  def refine(a0):
    a, value = phase2.descend_best(energy, a0, s.steps, lr)
    return phase2.newton_polish(energy, a, s.newton_steps)

  angles, values = memory.map_in_chunks(refine, starts, s.starts_chunk)
  k = jnp.argmin(values)
  grid_best = costs[idx[0]] <= values[k]
  best = jnp.where(grid_best, points[idx[0]], angles[k])
  return fold_angles(best, graph), jnp.where(grid_best, costs[idx[0]], values[k])


def p1_optimum(graph: Graph, *, n_starts: int = 4, grid: int = 24, steps: int = 150,
               lr=0.05, key: Optional[jax.Array] = None, method: str = "statevector",
               chunk_size: Optional[int] = None, newton_steps: int = 4,
               memory_limit_bytes: Optional[int] = None) -> tuple[jax.Array, jax.Array]:
  """Per-graph p=1 optimum by multi-start search (the per-graph ceiling).

  Evaluates the ``grid x grid`` :func:`angle_grid` over the fundamental domain, takes
  as starts the ``n_starts`` best grid points that are distinct modulo the symmetries
  (greedily: each start is the best point not within one grid cell, after folding, of
  an earlier one; with ``key``, each is jittered uniformly within its grid cell),
  refines each with ``steps`` Adam steps (cosine-decayed ``lr``) keeping the best
  point seen, polishes it with ``newton_steps`` safeguarded Newton steps (kept only if
  the energy does not rise), and returns the best over all starts and the unjittered
  best grid point, so the result is never worse than the grid.  Pure and vmappable;
  for a batch use :func:`p1_optimum_batch`, which sizes the batch to the memory budget
  (a caller's ``vmap`` multiplies memory by a batch size this function cannot see).

  Args:
    graph: one ``Graph``.
    n_starts: number of refined starts, ``1 <= n_starts <= grid**2``.
    grid: grid points per axis ``>= 1``.
    steps: Adam steps per start ``>= 0``.
    lr: Adam learning rate ``> 0``.
    key: optional PRNG key for the jitter (``None``: deterministic grid starts).
    method: energy method of :func:`jqmeta.qaoa.energy` (``"auto"``: the closed form).
    chunk_size: optional grid points per ``lax.map`` chunk (default: as many as the
      memory budget allows, all at once when they fit).
    newton_steps: Newton polishing steps per start ``>= 0``.
    memory_limit_bytes: optional byte budget for this graph's search (see
      :func:`jqmeta.qaoa.memory_limit`); ``ValueError`` if one angle pair does not fit.

  Returns:
    ``(angles, cost)``: ``(2, 1)`` float folded into the fundamental domain
    (:func:`fold_angles`: ``gamma in [0, pi]`` for integer weights, ``beta in [-pi/4,
    pi/4)``) and the scalar energy there.

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> a, c = p1_optimum(graphs.from_networkx(nx.cycle_graph(4)), grid=16, steps=100)
    >>> round(float(c), 3)  # ring of 4: p=1 optimum is 3/4 of the max cut 4
    -3.0
  """
  validation.check_graph(graph)
  plan, _ = _plan_search(graph, n_starts, grid, steps, newton_steps, lr, method, chunk_size,
                         memory_limit_bytes)
  return _search(graph, key, lr, plan)


def p1_optimum_batch(graphs: Graph, *, n_starts: int = 4, grid: int = 24, steps: int = 150,
                     lr=0.05, key: Optional[jax.Array] = None, method: str = "statevector",
                     chunk_size: Optional[int] = None, newton_steps: int = 4, mesh=None,
                     memory_limit_bytes: Optional[int] = None) -> tuple[jax.Array, jax.Array]:
  """:func:`p1_optimum` on every graph of a batch, sized to the memory budget.

  As many graphs run at once as their searches fit the budget (per device on a
  ``mesh``), in ``lax.map`` chunks otherwise: the same per-graph search, so results
  agree up to float rounding.  ``ValueError`` first if one angle pair does not fit.

  Args:
    graphs: a batched ``Graph`` of ``G`` graphs.
    n_starts, grid, steps, lr, method, chunk_size, newton_steps: as in
      :func:`p1_optimum`.
    key: optional PRNG key, split into one jitter key per graph.
    mesh: optional mesh (:func:`jqmeta.parallel.make_mesh`) to split the graphs.
    memory_limit_bytes: optional byte budget per device (see
      :func:`jqmeta.qaoa.memory_limit`).

  Returns:
    ``(angles (G, 2, 1), costs (G,))``, jax arrays.

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> b = graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in (4, 6)])
    >>> a, c = p1_optimum_batch(b, grid=16, steps=100, method="analytic")
    >>> a.shape, [round(float(x), 3) for x in c]
    ((2, 2, 1), [-3.0, -4.5])
  """
  validation.check_graph(graphs, batched=True, name="graphs")
  plan, one = _plan_search(graphs, n_starts, grid, steps, newton_steps, lr, method, chunk_size,
                           memory_limit_bytes)
  n_graphs = graphs.batch_shape[0]
  n_devices = 1 if mesh is None else len(mesh.devices.flat)
  chunk = memory.chunk_size(one, n_graphs, memory_limit_bytes, n_devices=n_devices,
                            what="the p=1 search of one graph")
  keys = (jnp.zeros((n_graphs,), bool) if key is None
          else jax.random.split(validation.check_key(key), n_graphs))
  run = _batch_search(mesh, plan, chunk, key is not None)
  return run(graphs, keys, jnp.asarray(lr, jnp.result_type(float)))


@functools.lru_cache(maxsize=32)
def _batch_search(mesh, plan: _Search, chunk: int, has_key: bool):
  """``run(graphs, keys, lr)``: the compiled batched search (cached per settings)."""
  one = lambda graph, key, lr: _search(graph, key if has_key else None, lr, plan)
  if mesh is not None:
    return parallel.sharded_map(one, mesh, in_axes=(0, 0, None), batch_size=chunk)
  return jax.jit(lambda b, k, lr: memory.map_in_chunks(lambda a: one(*a, lr), (b, k), chunk))
