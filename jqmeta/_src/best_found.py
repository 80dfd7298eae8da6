"""The per-graph reference "best found": multi-start refinement seeded by every rule.

Re-exported by :mod:`jqmeta.baselines`.  :func:`best_found` searches one graph,
:func:`best_found_batch` a batch (``vmap``, chunked, optionally over a device mesh), and
:func:`median_angles` turns the training graphs' best found angles into a rule.

Example:
  >>> best_found_labels(2, 1)[:3]
  ('interp', 'rescaled_sk', 'regular_fixed')
"""

from __future__ import annotations

import functools
import importlib
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jqmeta import metrics, parallel, phase2, qaoa
from jqmeta._src import angle_tables, memory, validation
from jqmeta._src.angle_tables import regular_fixed_angles
from jqmeta._src.rules import (batch_max_cuts, graph_scale, interp, linear_ramp,
                               rescaled_sk_angles)
from jqmeta.graphs import Graph

__all__ = ["BestFound", "best_found", "best_found_batch", "best_found_labels", "median_angles"]

_RAMP_DTS = (0.5, 1.0, 1.5)  # linear-ramp seeds, in units of 1 / graph_scale
_DEDUP_TOL = 0.05  # starts closer than this (max abs, after folding) are duplicates


def _baselines():
  """:mod:`jqmeta.baselines` (imported late: it re-exports this module's names)."""
  return importlib.import_module("jqmeta.baselines")


class BestFound(NamedTuple):
  """The per-graph reference of :func:`best_found` (a leading axis per graph in a batch).

  Fields: ``angles`` ``(2, p)`` folded (:func:`jqmeta.baselines.fold_angles`),
  ``energy`` ``()``, ``ratio`` ``()`` (``(-energy - min cut) / (max cut - min cut)``,
  :func:`jqmeta.metrics.ratio_from_energy`; ``-energy / max cut`` on nonnegative
  weights), ``sources`` ``(S,)``: the
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
  chained: bool = False  # the INTERP start comes from the caller's depth p - 1 angles


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


def _chain(graph: Graph, key, lr, plan: _Plan) -> jax.Array:
  """``(2, p - 1)``: the p = 1 optimum refined through INTERP up to depth ``p - 1``."""
  a1, _ = _baselines().p1_optimum(graph, key=key, method="analytic",
                                  memory_limit_bytes=plan.limit)
  chain = a1.astype(graph.weights.dtype)
  for q in range(2, plan.p):
    chain, _ = _refiner(graph, plan._replace(p=q), lr)(interp(chain))
  return chain


def _search(graph: Graph, key, cuts, extra, previous, lr, plan: _Plan) -> BestFound:
  """One graph's search (traceable; ``plan`` checked)."""
  base = _baselines()
  k1, k2, k3 = jax.random.split(key, 3)
  if plan.p == 1:
    a1, e1 = base.p1_optimum(graph, key=k1, method="analytic", memory_limit_bytes=plan.limit)
    return BestFound(a1, e1, metrics.ratio_from_energy(e1, *cuts), e1[None])
  chain = (previous.astype(graph.weights.dtype) if plan.chained
           else _chain(graph, k1, lr, plan))
  starts = _seeds(graph, plan.p, chain, extra, k2, plan.n_random)
  backup = _random_starts(k3, starts.shape[0], plan.p, graph_scale(graph), starts.dtype)
  starts = _dedup(starts, backup, graph)
  angles, values = memory.map_in_chunks(_refiner(graph, plan, lr), starts, plan.chunk)
  k = jnp.argmin(values)
  best = base.fold_angles(angles[k], graph)
  return BestFound(best, values[k], metrics.ratio_from_energy(values[k], *cuts), values)


def _plan(graph: Graph, p, n_random, steps, newton_steps, lr, extra, limit, previous=None):
  """``(_Plan, bytes of one graph's search, extra, previous)`` after checking every argument."""
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
  if previous is not None:
    previous = jnp.asarray(previous)
    want = graph.batch_shape + (2, p - 1)
    if p == 1 or previous.shape != want:
      raise ValueError(f"previous must be the depth p - 1 angles {want} (and p >= 2), got "
                       f"{previous.shape} at p = {p}")
  n_starts = len(best_found_labels(p, n_random, n_extra))
  dtype = jnp.result_type(float)
  per_start = memory.graph_energy_bytes(graph, p, dtype) * (4 * p + 1 if newton_steps else 1)
  what = f"refining one depth-{p} start (energy and gradient)"
  chunk = memory.chunk_size(per_start, n_starts, limit, what=what)
  plan = _Plan(p, n_random, n_extra, steps, newton_steps, chunk, limit, previous is not None)
  return plan, chunk * per_start, extra, previous


def best_found(graph: Graph, p: int, *, key, n_random: int = 4, steps: int = 150,
               lr=0.05, newton_steps: int = 2, max_cut_value=None, min_cut_value=None,
               extra_starts=None, previous=None,
               memory_limit_bytes: Optional[int] = None) -> BestFound:
  """Per-graph reference angles: the best of many refined starts ("best found", p > 1).

  At ``p == 1`` this is :func:`jqmeta.baselines.p1_optimum` with the exact closed form
  (a grid over the fundamental domain, refined; the p = 1 optimum).  At ``p > 1`` the
  starts are (:func:`best_found_labels`): the INTERP chain (the p = 1 optimum, then
  :func:`interp` and refinement at each depth up to ``p - 1``, interpolated to ``p``; or
  the caller's ``previous`` depth ``p - 1`` angles, interpolated),
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
    max_cut_value, min_cut_value: optional max and min cuts (else brute force) for
      ``ratio``.
    extra_starts: optional ``(k, 2, p)`` more starts.
    previous: optional ``(2, p - 1)`` angles (e.g. the depth ``p - 1`` best found) whose
      :func:`interp` replaces the internal chain: a smaller program, compiled faster.
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
  plan, _, extra, previous = _plan(graph, p, n_random, steps, newton_steps, lr, extra_starts,
                                   memory_limit_bytes, previous)
  cuts = tuple(jnp.asarray(fn(graph, memory_limit_bytes=memory_limit_bytes) if v is None
                           else v, graph.weights.dtype)
               for v, fn in ((max_cut_value, qaoa.max_cut), (min_cut_value, qaoa.min_cut)))
  return _jit_search(graph, key, cuts, extra, previous, jnp.asarray(lr, graph.weights.dtype),
                     plan)


@functools.partial(jax.jit, static_argnames=("plan",))
def _jit_search(graph, key, cuts, extra, previous, lr, plan):
  return _search(graph, key, cuts, extra, previous, lr, plan)


def best_found_batch(graphs: Graph, p: int, *, key, n_random: int = 4, steps: int = 150,
                     lr=0.05, newton_steps: int = 2, max_cut_values=None,
                     min_cut_values=None, extra_starts=None, previous=None,
                     memory_limit_bytes: Optional[int] = None, mesh=None) -> BestFound:
  """:func:`best_found` on every graph of a batch (``vmap``, chunked to the memory budget).

  Args:
    graphs: a batched ``Graph`` of ``G`` graphs.
    p, n_random, steps, lr, newton_steps: as in :func:`best_found`.
    key: PRNG key, split into one key per graph.
    max_cut_values, min_cut_values: optional ``(G,)`` max and min cuts (else brute force).
    extra_starts: optional ``(k, 2, p)`` (shared) or ``(G, k, 2, p)`` more starts.
    previous: optional ``(G, 2, p - 1)`` angles, one per graph (see :func:`best_found`).
    memory_limit_bytes: optional byte budget; as many graphs run at once as fit.
    mesh: optional :func:`jqmeta.parallel.make_mesh` mesh: the graphs are split across
      its devices (:func:`jqmeta.parallel.sharded_map`; the same numbers).

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
  plan, one, extra, previous = _plan(graphs, p, n_random, steps, newton_steps, lr,
                                     extra_starts, memory_limit_bytes, previous)
  n_graphs = graphs.batch_shape[0]
  cuts = tuple(batch_max_cuts(graphs, v, memory_limit_bytes, w).astype(graphs.weights.dtype)
               for v, w in ((max_cut_values, "max"), (min_cut_values, "min")))
  if extra is not None and extra.ndim == 3:
    extra = jnp.broadcast_to(extra, (n_graphs,) + extra.shape)
  chunk = memory.chunk_size(one, n_graphs, memory_limit_bytes,
                            what=f"the depth-{plan.p} best-found search of one graph")
  keys = jax.random.split(key, n_graphs)
  lr = jnp.asarray(lr, graphs.weights.dtype)
  if mesh is None:
    return _batch_search(graphs, keys, cuts, extra, previous, lr, plan, chunk)
  one = lambda g, k, m, e, a, r: _search(g, jax.random.wrap_key_data(k), m, e, a, r, plan)
  axes = (0, 0, 0, None if extra is None else 0, None if previous is None else 0, None)
  run = parallel.sharded_map(one, mesh, in_axes=axes, batch_size=chunk)
  return run(graphs, jax.random.key_data(keys), cuts, extra, previous, lr)


@functools.partial(jax.jit, static_argnames=("plan", "chunk"))
def _batch_search(graphs, keys, cuts, extra, previous, lr, plan, chunk):
  one = lambda args: _search(*args, lr, plan)
  return memory.map_in_chunks(one, (graphs, keys, cuts, extra, previous), chunk)


def median_angles(train_graphs: Graph, p: int, *, key, **search) -> jax.Array:
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
  r = best_found_batch(train_graphs, p, key=key, **search)
  return jnp.median(r.angles, axis=0)
