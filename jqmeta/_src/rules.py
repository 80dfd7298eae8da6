"""Parameter-setting rules that need no learning (the per-graph "best found" reference is in
:mod:`jqmeta._src.best_found`).

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
from typing import Optional

import jax
import jax.numpy as jnp

from jqmeta import metrics, phase2, qaoa
from jqmeta._src import memory, validation
from jqmeta._src.angle_tables import (SK_ENERGIES, regular_fixed_angles,
                                      regular_fixed_angles_ratio, sk_angles, sk_energy)
from jqmeta.graphs import Graph

__all__ = ["regular_fixed_angles", "regular_fixed_angles_ratio", "sk_angles", "sk_energy",
           "SK_ENERGIES", "rescaled_sk_angles", "linear_ramp", "fit_linear_ramp", "interp",
           "graph_scale"]



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


def batch_max_cuts(graphs: Graph, max_cut_values, limit, which: str = "max") -> jax.Array:
  """``(G,)`` max (or, ``which="min"``, min) cuts of a batch: given (checked) or by brute
  force, chunked to the budget."""
  n_graphs = graphs.batch_shape[0]
  if max_cut_values is not None:
    return validation.check_per_graph(f"{which}_cut_values", max_cut_values, n_graphs)
  lo = min(20, graphs.n_qubits)  # qaoa.max_cut's default block
  k = memory.chunk_size(memory.brute_force_bytes(lo, graphs.weights.dtype), n_graphs, limit,
                        what=f"the brute-force {which} cut of one graph")
  fn = qaoa.max_cut if which == "max" else qaoa.min_cut
  one = lambda g: fn(g, memory_limit_bytes=limit)
  return jax.jit(lambda b: memory.map_in_chunks(one, b, k))(graphs)


def _ramp_score(dt, graphs, cuts, p, method, limit):
  """Mean training ratio of :func:`linear_ramp` ``(p, dt)`` over a batch."""
  e = jax.vmap(lambda g: qaoa.energy(linear_ramp(p, dt), g, method=method,
                                     memory_limit_bytes=limit))(graphs)
  hi, lo = (c.astype(e.dtype) for c in cuts)
  return jnp.mean(metrics.ratio_from_energy(e, hi, lo))


@functools.partial(jax.jit, static_argnames=("p", "method", "chunk", "steps", "limit"))
def _fit_ramp(dts, graphs, cuts, lr, p, method, chunk, steps, limit):
  """Grid scores, then Adam on ``dt`` from the best grid point: ``(dt, score)``."""
  score = lambda dt: _ramp_score(dt, graphs, cuts, p, method, limit)
  scores = memory.map_in_chunks(score, dts, chunk)
  best = jnp.argmax(scores)
  dt, value = phase2.descend_best(lambda d: -score(d), dts[best], steps, lr)
  better = -value > scores[best]
  return jnp.where(better, dt, dts[best]), jnp.where(better, -value, scores[best])


def fit_linear_ramp(train_graphs: Graph, p: int, *, grid: int = 32, dt_max=None,
                    steps: int = 40, method: str = "auto", max_cut_values=None,
                    min_cut_values=None, memory_limit_bytes: Optional[int] = None) -> float:
  """The :func:`linear_ramp` step ``dt`` maximising the mean training approximation ratio.

  A 1-D search: the mean shift-invariant ratio ``(E_g[cut] - mincut_g) / (maxcut_g -
  mincut_g)`` (:func:`jqmeta.metrics.ratio_from_energy`; ``E_g[cut] / maxcut_g`` on
  nonnegative weights, where a mixed-sign graph with a max cut near 0 would dominate
  the mean) at ``grid`` equally spaced
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
    max_cut_values, min_cut_values: optional ``(G,)`` max and min cuts (else brute force).
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
  cuts = (batch_max_cuts(train_graphs, max_cut_values, memory_limit_bytes),
          batch_max_cuts(train_graphs, min_cut_values, memory_limit_bytes, "min"))
  if dt_max is None:
    dt_max = 4.0 / float(jnp.mean(graph_scale(train_graphs)))
  dt_max = validation.check_real("dt_max", dt_max, low=0.0, low_open=True)
  dtype = jnp.result_type(float)
  per_point = train_graphs.batch_shape[0] * memory.graph_energy_bytes(
      train_graphs, p, dtype, method)
  chunk = memory.chunk_size(per_point, grid, memory_limit_bytes,
                            what="one ramp over all training graphs")
  dts = dt_max * jnp.arange(1, grid + 1, dtype=dtype) / grid
  dt, _ = _fit_ramp(dts, train_graphs, cuts, jnp.asarray(dt_max / grid, dtype), p, method,
                    chunk, steps, memory_limit_bytes)
  return float(dt)
