"""Parameter-setting rules that need no learning, and the per-graph "best found" reference.

Re-exported by :mod:`jqmeta.baselines`; every rule returns ``(2, p)`` angles in jqmeta's
convention (row 0 gammas, row 1 betas, phase ``exp(+i gamma cut)`` then mixer
``exp(-i beta sum X)``; see :func:`jqmeta.qaoa.energy`).  The published tables and their
conversion to this convention are in :mod:`jqmeta._src.angle_tables`.

Example:
  >>> from jqmeta._src import rules
  >>> rules.interp(rules.linear_ramp(2, 1.0)).round(4).tolist()
  [[0.25, 0.5, 0.75], [-0.75, -0.5, -0.25]]
"""

from __future__ import annotations

import functools
import importlib
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jqmeta import metrics, phase2, qaoa
from jqmeta._src import angle_tables, memory, validation
from jqmeta._src.angle_tables import (SK_ENERGIES, regular_fixed_angles,
                                      regular_fixed_angles_ratio, sk_angles, sk_energy)
from jqmeta.graphs import Graph

__all__ = ["regular_fixed_angles", "regular_fixed_angles_ratio", "sk_angles", "sk_energy",
           "SK_ENERGIES", "rescaled_sk_angles", "linear_ramp", "fit_linear_ramp",
           "median_angles", "interp", "BestFound", "best_found", "best_found_batch",
           "best_found_labels", "graph_scale"]

_RAMP_DTS = (0.5, 1.0, 1.5)  # linear-ramp seeds of best_found, in units of 1 / graph_scale
_DEDUP_TOL = 0.05  # starts closer than this (max abs, after folding) are duplicates


def _baselines():
  """:mod:`jqmeta.baselines` (imported late: it re-exports this module's names)."""
  return importlib.import_module("jqmeta.baselines")


def graph_scale(graph: Graph) -> jax.Array:
  """``sqrt(D * mean(w^2))`` with ``D = 2 |E| / n`` the mean degree, over REAL edges/nodes.

  Equivalently ``sqrt(sum_i sum_j w_ij^2 / n)``, the root-mean-square local field; 1 for
  SK at infinite size, ``sqrt(D)`` for an unweighted ``D``-regular graph.  Padding-
  invariant and vmappable (1 for a graph without weight).

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> round(float(graph_scale(graphs.from_networkx(nx.petersen_graph()))) ** 2, 4)
    3.0
  """
  w2 = jnp.sum(jnp.square(graph.weights), axis=-1)
  s2 = 2 * w2 / jnp.maximum(graph.n_nodes, 1).astype(w2.dtype)
  return jnp.where(s2 > 0, jnp.sqrt(jnp.where(s2 > 0, s2, 1)), jnp.ones_like(s2))


def rescaled_sk_angles(graph: Graph, p: int) -> jax.Array:
  """SK angles transferred to an arbitrary (weighted) graph by rescaling gamma.

  S. H. Sureshbabu, D. Herman, R. Shaydulin, J. Basso, S. Chakrabarti, Y. Sun,
  M. Pistoia, "Parameter setting in quantum approximate optimization of weighted
  problems", Quantum 8, 1231 (2024): weights are normalised by their root mean square,
  ``w -> w / sqrt(mean_E w^2)``, and the unweighted large-girth rule ``gamma =
  gamma_SK / sqrt(D)`` (Basso et al. 2022) is applied with ``D = 2 |E| / n`` the mean
  degree.  In jqmeta's convention (``gamma = 2 gamma_SK`` on SK, see the module
  docstring) that is::

    gamma_k = 2 gamma_SK_k / sqrt(D * mean_E(w^2)),   beta_k = -beta_SK_k

  the denominator being :func:`graph_scale`.  On an SK instance with ``+-1`` couplings
  (``w = +-1/sqrt(n)``, ``D = n - 1``) this is :func:`sk_angles` with gamma scaled by
  ``sqrt(n / (n - 1))``, which tends to 1; on an unweighted ``D``-regular graph it is
  ``2 gamma_SK / sqrt(D)``.

  Args:
    graph: one ``Graph`` (``vmap`` for a batch); padding does not change the result.
    p: depth 1..11 (static).

  Returns:
    ``(2, p)`` in the weights' dtype.

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> g = graphs.from_networkx(nx.petersen_graph())  # 3-regular
    >>> [round(float(x), 4) for x in rescaled_sk_angles(g, 1)[:, 0]]
    [0.5774, -0.3927]
  """
  validation.check_graph(graph, batched=bool(graph.batch_shape))
  table = jnp.asarray(sk_angles(p), graph.weights.dtype)
  scale = graph_scale(graph)[..., None]
  return jnp.stack([table[0] / scale, jnp.broadcast_to(table[1], scale.shape[:-1] + (p,))],
                   axis=-2)


def linear_ramp(p: int, dt) -> jax.Array:
  """The linear-ramp (annealing) schedule of TQA (Sack & Serbyn, Quantum 5, 491 (2021)).

  A Trotterised anneal from ``-sum X`` (ground state ``|+>``) to ``H_C`` in ``p``
  steps of ``dt``: with ``s_i = (i - 1/2) / p``, ``i = 1..p``::

    gamma_i = s_i dt,   beta_i = -(1 - s_i) dt

  (jqmeta's signs: the layer ``exp(-i gamma H_C) exp(-i beta sum X)`` is the step
  ``exp(-i dt s H_C) exp(+i dt (1 - s) sum X)``).  ``dt`` is in the units of the
  weights (``H_C = -cut``); Sack & Serbyn's ``C = sum Z Z = -2 cut + const`` halves it.

  Args:
    p: depth ``>= 1`` (static).
    dt: time step (scalar; may be traced).

  Returns:
    ``(2, p)``, ``dt``'s float dtype (the default float for a Python number).

  Example:
    >>> linear_ramp(2, 1.0).tolist()
    [[0.25, 0.75], [-0.75, -0.25]]
  """
  p = validation.check_int("p", p, 1)
  dt = jnp.asarray(dt, jnp.result_type(dt, float))
  s = (jnp.arange(p, dtype=dt.dtype) + 0.5) / p
  return jnp.stack([s * dt, -(1 - s) * dt])


def interp(angles) -> jax.Array:
  """INTERP: a depth ``p + 1`` start from depth ``p`` angles (Zhou et al., PRX 10, 021067).

  L. Zhou, S.-T. Wang, S. Choi, H. Pichler, M. D. Lukin, "Quantum approximate
  optimization algorithm: performance, mechanism, and implementation on near-term
  devices", Phys. Rev. X 10, 021067 (2020), Eq. (B1): for ``i = 1..p+1``::

    x_i^(p+1) = (i - 1) / p * x_(i-1)^(p) + (p - i + 1) / p * x_i^(p)

  with ``x_0 = x_(p+1) = 0``, for gammas and betas alike (linear interpolation of the
  schedule on a finer grid; a linear ramp maps to a linear ramp).

  Args:
    angles: ``(2, p)`` float (``(..., 2, p)`` batches too).

  Returns:
    ``(..., 2, p + 1)``, same dtype.

  Example:
    >>> interp(jnp.array([[1.0], [2.0]])).tolist()
    [[1.0, 1.0], [2.0, 2.0]]
  """
  angles = jnp.asarray(angles)
  if angles.ndim < 2 or angles.shape[-2] != 2:
    raise ValueError(f"angles must be (..., 2, p), got shape {angles.shape}")
  p = angles.shape[-1]
  zero = jnp.zeros(angles.shape[:-1] + (1,), angles.dtype)
  prev = jnp.concatenate([zero, angles], axis=-1)  # x_(i-1), i = 1..p+1
  cur = jnp.concatenate([angles, zero], axis=-1)  # x_i
  i = jnp.arange(1, p + 2, dtype=angles.dtype)
  return (i - 1) / p * prev + (p - i + 1) / p * cur


def batch_max_cuts(graphs: Graph, max_cut_values, limit) -> jax.Array:
  """``(G,)`` max cuts of a batch: given (checked) or by brute force, chunked to the budget."""
  n_graphs = graphs.batch_shape[0]
  if max_cut_values is not None:
    return validation.check_per_graph("max_cut_values", max_cut_values, n_graphs)
  lo = min(20, graphs.n_qubits)  # qaoa.max_cut's default block
  k = memory.chunk_size(memory.brute_force_bytes(lo, graphs.weights.dtype), n_graphs, limit,
                        what="the brute-force max cut of one graph")
  one = lambda g: qaoa.max_cut(g, memory_limit_bytes=limit)
  return jax.jit(lambda b: memory.map_in_chunks(one, b, k))(graphs)


def _ramp_score(dt, graphs, max_cuts, p, method, limit):
  """Mean training ratio of :func:`linear_ramp` ``(p, dt)`` over a batch."""
  e = jax.vmap(lambda g: qaoa.energy(linear_ramp(p, dt), g, method=method,
                                     memory_limit_bytes=limit))(graphs)
  return jnp.mean(metrics.ratio_from_energy(e, max_cuts.astype(e.dtype)))


@functools.partial(jax.jit, static_argnames=("p", "method", "chunk", "steps", "limit"))
def _fit_ramp(dts, graphs, max_cuts, lr, p, method, chunk, steps, limit):
  """Grid scores, then Adam on ``dt`` from the best grid point: ``(dt, score)``."""
  score = lambda dt: _ramp_score(dt, graphs, max_cuts, p, method, limit)
  scores = memory.map_in_chunks(score, dts, chunk)
  best = jnp.argmax(scores)
  dt, value = phase2.descend_best(lambda d: -score(d), dts[best], steps, lr)
  better = -value > scores[best]
  return jnp.where(better, dt, dts[best]), jnp.where(better, -value, scores[best])


def fit_linear_ramp(train_graphs: Graph, p: int, *, grid: int = 32, dt_max=None,
                    steps: int = 40, method: str = "auto", max_cut_values=None,
                    memory_limit_bytes: Optional[int] = None) -> float:
  """The :func:`linear_ramp` step ``dt`` maximising the mean training approximation ratio.

  A 1-D search: the mean ratio ``mean_g E_g[cut] / maxcut_g`` at ``grid`` equally spaced
  ``dt`` in ``(0, dt_max]``, then ``steps`` Adam steps on ``dt`` from the best grid
  point (keeping the best value seen, so never worse than the grid).

  Args:
    train_graphs: a batched ``Graph`` of TRAINING graphs.
    p: depth ``>= 1``.
    grid: grid points ``>= 2``.
    dt_max: grid end (default ``4 / mean graph_scale``: the p = 1 optimum of an
      unweighted 3-regular graph sits near ``dt = 2.1 / graph_scale``).
    steps: refinement steps ``>= 0``.
    method: energy method (``"auto"``: the closed form at p = 1).
    max_cut_values: optional ``(G,)`` max cuts (else brute force).
    memory_limit_bytes: optional byte budget; one grid point over all graphs must fit.

  Returns:
    ``dt`` as a Python float.

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> b = graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in (6, 8)])
    >>> 0 < fit_linear_ramp(b, 1, grid=8, steps=5) < 4  # p = 1: the closed form
    True
  """
  validation.check_graph(train_graphs, batched=True, name="train_graphs")
  p = validation.check_int("p", p, 1)
  grid = validation.check_int("grid", grid, 2)
  steps = validation.check_int("steps", steps, 0)
  validation.check_method(method)
  mc = batch_max_cuts(train_graphs, max_cut_values, memory_limit_bytes)
  if dt_max is None:
    dt_max = 4.0 / float(jnp.mean(graph_scale(train_graphs)))
  dt_max = validation.check_real("dt_max", dt_max, low=0.0, low_open=True)
  dtype = jnp.result_type(float)
  per_point = train_graphs.batch_shape[0] * memory.graph_energy_bytes(
      train_graphs, p, dtype, method)
  chunk = memory.chunk_size(per_point, grid, memory_limit_bytes,
                            what="one ramp over all training graphs")
  dts = dt_max * jnp.arange(1, grid + 1, dtype=dtype) / grid
  dt, _ = _fit_ramp(dts, train_graphs, mc, jnp.asarray(dt_max / grid, dtype), p, method,
                    chunk, steps, memory_limit_bytes)
  return float(dt)


class BestFound(NamedTuple):
  """The per-graph reference of :func:`best_found` (a leading axis per graph in a batch).

  Fields: ``angles`` ``(2, p)`` folded (:func:`jqmeta.baselines.fold_angles`),
  ``energy`` ``()``, ``ratio`` ``()`` (``-energy / max cut``), ``sources`` ``(S,)``: the
  refined energy from every start, in the order of :func:`best_found_labels`.
  """
  angles: jax.Array
  energy: jax.Array
  ratio: jax.Array
  sources: jax.Array


class _Plan(NamedTuple):
  """Static settings of one graph's search (checked and memory-planned)."""
  p: int
  n_random: int
  n_extra: int
  steps: int
  newton_steps: int
  chunk: int  # starts refined at once
  limit: Optional[int]


def _regular_degrees(p: int) -> tuple[int, ...]:
  return tuple(d for d, v in angle_tables.REGULAR_FIXED_ANGLES.items() if p in v)


def best_found_labels(p: int, n_random: int, n_extra: int = 0) -> tuple[str, ...]:
  """Names of :func:`best_found`'s starts, in the order of ``BestFound.sources``.

  Example:
    >>> best_found_labels(2, 1)
    ('interp', 'rescaled_sk', 'regular_fixed', 'ramp_0.5', 'ramp_1.0', 'ramp_1.5', 'random_0')
  """
  if p == 1:
    return ("p1_optimum",)
  tables = ("rescaled_sk", "regular_fixed") if p in angle_tables.SK_ANGLES else ()
  return (("interp",) + tables + tuple(f"ramp_{c}" for c in _RAMP_DTS)
          + tuple(f"extra_{k}" for k in range(n_extra))
          + tuple(f"random_{k}" for k in range(n_random)))


def _regular_seed(graph: Graph, p: int) -> jax.Array:
  """Fixed-angle seed: the table of the tabulated degree nearest the mean degree, gamma
  rescaled from that degree to this graph's :func:`graph_scale` (weights included)."""
  degrees = _regular_degrees(p)
  tables = jnp.asarray(np.stack([regular_fixed_angles(d, p) for d in degrees]),
                       graph.weights.dtype)
  mean_degree = 2 * graph.n_edges / jnp.maximum(graph.n_nodes, 1)
  k = jnp.argmin(jnp.abs(jnp.asarray(degrees) - mean_degree))
  factor = jnp.sqrt(jnp.asarray(degrees, tables.dtype)[k]) / graph_scale(graph)
  return tables[k] * jnp.stack([factor, jnp.ones_like(factor)])[:, None]


def _seeds(graph: Graph, p: int, chain: jax.Array, extra, key, n_random: int) -> jax.Array:
  """``(S, 2, p)`` starts in :func:`best_found_labels` order (before de-duplication)."""
  dtype = graph.weights.dtype
  scale = graph_scale(graph)
  seeds = [interp(chain)[None]]
  if p in angle_tables.SK_ANGLES:
    seeds += [rescaled_sk_angles(graph, p)[None], _regular_seed(graph, p)[None]]
  seeds += [linear_ramp(p, c * 2 / scale)[None].astype(dtype) for c in _RAMP_DTS]
  if extra is not None:
    seeds.append(extra.astype(dtype))
  seeds.append(_random_starts(key, n_random, p, scale, dtype))
  return jnp.concatenate(seeds)


def _random_starts(key, n: int, p: int, scale, dtype) -> jax.Array:
  """``(n, 2, p)``: gamma uniform in ``[0, 2.5 / scale)``, beta in ``[-pi/4, pi/4)``."""
  u = jax.random.uniform(key, (n, 2, p), dtype)
  return jnp.stack([u[:, 0] * 2.5 / scale, (u[:, 1] - 0.5) * jnp.pi / 2], axis=1)


def _dedup(starts: jax.Array, backup: jax.Array, graph: Graph) -> jax.Array:
  """Replaces every start equivalent (after folding) to an earlier one by its backup."""
  fold = _baselines().fold_angles
  f = jax.vmap(lambda a: fold(a, graph))(starts)
  d = f[:, None] - f[None]
  d = d.at[:, :, 1].set(d[:, :, 1] - jnp.pi / 2 * jnp.round(d[:, :, 1] / (jnp.pi / 2)))
  close = jnp.max(jnp.abs(d), axis=(-2, -1)) < _DEDUP_TOL
  dup = jnp.any(jnp.tril(close, k=-1), axis=1)
  return jnp.where(dup[:, None, None], backup, starts)


def _refiner(graph: Graph, plan: _Plan, lr):
  """``refine(a0) -> (a, energy)``: Adam (best point kept), then Newton polishing."""
  energy = lambda a: qaoa.energy(a, graph, memory_limit_bytes=plan.limit)

  def refine(a0):
    a, _ = phase2.descend_best(energy, a0, plan.steps, lr)
    return phase2.newton_polish(energy, a, plan.newton_steps)
  return refine


def _search(graph: Graph, key, max_cut, extra, lr, plan: _Plan) -> BestFound:
  """One graph's search (traceable; ``plan`` checked)."""
  base = _baselines()
  k1, k2, k3 = jax.random.split(key, 3)
  a1, e1 = base.p1_optimum(graph, key=k1, method="analytic", memory_limit_bytes=plan.limit)
  if plan.p == 1:
    return BestFound(a1, e1, metrics.ratio_from_energy(e1, max_cut), e1[None])
  chain = a1.astype(graph.weights.dtype)
  for q in range(2, plan.p):
    chain, _ = _refiner(graph, plan._replace(p=q), lr)(interp(chain))
  starts = _seeds(graph, plan.p, chain, extra, k2, plan.n_random)
  backup = _random_starts(k3, starts.shape[0], plan.p, graph_scale(graph), starts.dtype)
  starts = _dedup(starts, backup, graph)
  angles, values = memory.map_in_chunks(_refiner(graph, plan, lr), starts, plan.chunk)
  k = jnp.argmin(values)
  best = base.fold_angles(angles[k], graph)
  return BestFound(best, values[k], metrics.ratio_from_energy(values[k], max_cut), values)


def _plan(graph: Graph, p, n_random, steps, newton_steps, lr, extra, limit):
  """``(_Plan, bytes of one graph's search, extra)`` after checking every argument."""
  p = validation.check_int("p", p, 1)
  n_random = validation.check_int("n_random", n_random, 1)
  steps = validation.check_int("steps", steps, 0)
  newton_steps = validation.check_int("newton_steps", newton_steps, 0)
  validation.check_real("lr", lr, low=0.0, low_open=True, traced_ok=True)
  n_extra = 0
  if extra is not None:
    extra = jnp.asarray(extra)
    if extra.ndim < 3 or extra.shape[-2:] != (2, p):
      raise ValueError(f"extra_starts must be (k, 2, {p}) (or (G, k, 2, {p})), got "
                       f"{extra.shape}")
    n_extra = extra.shape[-3]
  n_starts = len(best_found_labels(p, n_random, n_extra))
  dtype = jnp.result_type(float)
  per_start = memory.graph_energy_bytes(graph, p, dtype) * (4 * p + 1 if newton_steps else 1)
  what = f"refining one depth-{p} start (energy and gradient)"
  chunk = memory.chunk_size(per_start, n_starts, limit, what=what)
  plan = _Plan(p, n_random, n_extra, steps, newton_steps, chunk, limit)
  return plan, chunk * per_start, extra


def best_found(graph: Graph, p: int, *, key, n_random: int = 4, steps: int = 150,
               lr=0.05, newton_steps: int = 2, max_cut_value=None, extra_starts=None,
               memory_limit_bytes: Optional[int] = None) -> BestFound:
  """Per-graph reference angles: the best of many refined starts ("best found", p > 1).

  At ``p == 1`` this is :func:`jqmeta.baselines.p1_optimum` with the exact closed form
  (a grid over the fundamental domain, refined; the p = 1 optimum).  At ``p > 1`` the
  starts are (:func:`best_found_labels`): the INTERP chain (the p = 1 optimum, then
  :func:`interp` and refinement at each depth up to ``p - 1``, interpolated to ``p``),
  :func:`rescaled_sk_angles`, the fixed-angle table of the tabulated degree nearest the
  mean degree (gamma rescaled by :func:`graph_scale`; both only for p <= 11), linear
  ramps with ``dt = c * 2 / graph_scale``, ``c`` in 0.5, 1, 1.5, the caller's
  ``extra_starts`` (e.g. :func:`median_angles`, a fitted ramp) and ``n_random`` random
  starts.  Starts equivalent under the landscape symmetries to an earlier one (within
  0.05 rad after :func:`jqmeta.baselines.fold_angles`) are replaced by fresh random
  ones.  Each start gets ``steps`` Adam steps (cosine-decayed ``lr``, best point kept)
  and ``newton_steps`` safeguarded Newton steps; the best wins.  A local search: call
  it "best found", not "optimum".

  Args:
    graph: one ``Graph`` (traceable; for a batch use :func:`best_found_batch`).
    p: depth ``>= 1`` (static).
    key: PRNG key (random starts, the p = 1 grid jitter).
    n_random: random starts ``>= 1``.
    steps, lr, newton_steps: the refinement of every start.
    max_cut_value: optional max cut (else brute force) for ``ratio``.
    extra_starts: optional ``(k, 2, p)`` more starts.
    memory_limit_bytes: optional byte budget (starts run in chunks that fit).

  Returns:
    :class:`BestFound`.

  Example:
    >>> import jax, networkx as nx
    >>> from jqmeta import graphs
    >>> r = best_found(graphs.from_networkx(nx.cycle_graph(4)), 1, key=jax.random.key(0))
    >>> r.angles.shape, r.sources.shape, round(float(r.ratio), 3)
    ((2, 1), (1,), 0.75)
    >>> g = graphs.from_networkx(nx.cycle_graph(6))  # p > 1 (compiles the full search)
    >>> best_found(g, 2, key=jax.random.key(0), n_random=1).ratio  # doctest: +SKIP
  """
  validation.check_graph(graph)
  validation.check_key(key)
  plan, _, extra = _plan(graph, p, n_random, steps, newton_steps, lr, extra_starts,
                         memory_limit_bytes)
  if max_cut_value is None:
    max_cut_value = qaoa.max_cut(graph, memory_limit_bytes=memory_limit_bytes)
  mc = jnp.asarray(max_cut_value, graph.weights.dtype)
  return _jit_search(graph, key, mc, extra, jnp.asarray(lr, graph.weights.dtype), plan)


@functools.partial(jax.jit, static_argnames=("plan",))
def _jit_search(graph, key, max_cut, extra, lr, plan):
  return _search(graph, key, max_cut, extra, lr, plan)


def best_found_batch(graphs: Graph, p: int, *, key, n_random: int = 4, steps: int = 150,
                     lr=0.05, newton_steps: int = 2, max_cut_values=None, extra_starts=None,
                     memory_limit_bytes: Optional[int] = None) -> BestFound:
  """:func:`best_found` on every graph of a batch (``vmap``, chunked to the memory budget).

  Args:
    graphs: a batched ``Graph`` of ``G`` graphs.
    p, n_random, steps, lr, newton_steps: as in :func:`best_found`.
    key: PRNG key, split into one key per graph.
    max_cut_values: optional ``(G,)`` max cuts (else brute force).
    extra_starts: optional ``(k, 2, p)`` (shared) or ``(G, k, 2, p)`` more starts.
    memory_limit_bytes: optional byte budget; as many graphs run at once as fit.

  Returns:
    :class:`BestFound` with a leading ``G`` axis on every field.

  Example:
    >>> import jax, networkx as nx
    >>> from jqmeta import graphs
    >>> b = graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in (4, 6)])
    >>> r = best_found_batch(b, 1, key=jax.random.key(0))  # doctest: +SKIP
    >>> [round(float(x), 3) for x in r.ratio]  # doctest: +SKIP
    [0.75, 0.75]
  """
  validation.check_graph(graphs, batched=True, name="graphs")
  validation.check_key(key)
  plan, one, extra = _plan(graphs, p, n_random, steps, newton_steps, lr, extra_starts,
                           memory_limit_bytes)
  n_graphs = graphs.batch_shape[0]
  mc = batch_max_cuts(graphs, max_cut_values, memory_limit_bytes).astype(graphs.weights.dtype)
  if extra is not None and extra.ndim == 3:
    extra = jnp.broadcast_to(extra, (n_graphs,) + extra.shape)
  chunk = memory.chunk_size(one, n_graphs, memory_limit_bytes,
                            what=f"the depth-{plan.p} best-found search of one graph")
  keys = jax.random.split(key, n_graphs)
  return _batch_search(graphs, keys, mc, extra, jnp.asarray(lr, graphs.weights.dtype), plan,
                       chunk)


@functools.partial(jax.jit, static_argnames=("plan", "chunk"))
def _batch_search(graphs, keys, max_cuts, extra, lr, plan, chunk):
  one = lambda args: _search(args[0], args[1], args[2], args[3], lr, plan)
  return memory.map_in_chunks(one, (graphs, keys, max_cuts, extra), chunk)


def median_angles(train_graphs: Graph, p: int, *, key, max_cut_values=None,
                  **search) -> jax.Array:
  """Per depth, the median of per-graph optimised angles over the training graphs.

  Each training graph's angles come from :func:`best_found_batch` (``**search``: its
  keywords), already folded into the fundamental domain of
  :func:`jqmeta.baselines.fold_angles` (``gamma_1 >= 0``, betas in ``[-pi/4, pi/4)``,
  gammas modulo ``2 pi`` for integer weights), so equivalent optima agree before the
  coordinate-wise median is taken.  At ``p == 1`` this is the median of the per-graph
  p = 1 optima, a cousin of :func:`jqmeta.baselines.fit_fixed_angles` (which maximises
  the mean ratio instead).  A median near a fold boundary (``beta = -pi/4``) can mix
  both sides; optima of unweighted graphs stay well inside.

  Args:
    train_graphs: a batched ``Graph`` of TRAINING graphs.
    p: depth ``>= 1``.
    key: PRNG key.
    max_cut_values: optional ``(G,)`` max cuts.
    **search: keywords of :func:`best_found_batch` (``n_random``, ``steps``, ...).

  Returns:
    ``(2, p)`` angles.

  Example:
    >>> import jax, networkx as nx
    >>> from jqmeta import graphs
    >>> b = graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in (4, 6)])
    >>> median_angles(b, 1, key=jax.random.key(0)).shape
    (2, 1)
  """
  r = best_found_batch(train_graphs, p, key=key, max_cut_values=max_cut_values, **search)
  return jnp.median(r.angles, axis=0)
