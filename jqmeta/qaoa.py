"""Exact QAOA for weighted Max-Cut in pure JAX.

Conventions (PennyLane ``qaoa.maxcut``; see the README's "Conventions"):

* ``H_C = sum_(u,v) w_uv (Z_u Z_v - 1) / 2``, so on basis state ``z``,
  ``H_C(z) = -cut(z)`` and ``<H_C> = -E[cut]`` (negative is better).
* Start in ``|+>^n``; one layer is ``exp(-i gamma H_C)`` (the phase
  ``exp(+i gamma cut(z))``) followed by ``exp(-i beta sum_j X_j)`` (``RX(2 beta)`` on
  every qubit).
* ``angles``: ``(2, p)`` float, row 0 the gammas, row 1 the betas.  Farhi et al.'s
  ``gamma`` is minus this one.
* Qubit ``k`` is graph node ``k``; basis index bit order is PennyLane's (qubit 0 is
  the most significant bit), so :func:`state` matches ``qml.state()``.

Every function handles ONE graph; batch with ``jax.vmap`` over ``(angles, graph)``
(see :func:`jqmeta.graphs.stack`).  Layers run in ``lax.scan`` so compile time does
not grow with ``p``.  Statevector dtype follows the angles: float32 angles give
complex64, float64 angles (x64 enabled) give complex128.

This module checks arguments and memory budgets; the simulator itself lives in
``jqmeta._src`` (``statevector`` and its two cores ``wht_core`` / ``kron_core``, the cut
tables in ``cut``, ``analytic``, ``brute_force``, ``memory``).

Example:
  >>> import jax, jax.numpy as jnp, networkx as nx
  >>> from jqmeta import graphs, qaoa
  >>> g = graphs.from_networkx(nx.cycle_graph(4))
  >>> angles = jnp.array([[0.4], [0.3]])
  >>> e, grad = jax.value_and_grad(qaoa.energy)(angles, g)
  >>> bool(e < 0), grad.shape
  (True, (2, 1))
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from jqmeta import metrics
from jqmeta._src import analytic, brute_force, cut, memory, statevector, validation
from jqmeta._src.memory import MEMORY_LIMIT_ENV, memory_limit, statevector_bytes
from jqmeta._src.validation import check_angles
from jqmeta.graphs import Graph

__all__ = [
    "energy",
    "expected_cut",
    "state",
    "cut_values",
    "max_cut",
    "approximation_ratio",
    "analytic_p1_energy",
    "check_angles",
    "memory_limit",
    "statevector_bytes",
    "MEMORY_LIMIT_ENV",
    "METHODS",
]

METHODS = validation.ENERGY_METHODS
"""The ``method`` names :func:`energy` accepts."""

_MAX_BRUTE_FORCE_QUBITS = 40


def energy(angles, graph: Graph, *, method: str = "statevector",
           memory_limit_bytes: Optional[int] = None) -> jax.Array:
  """QAOA energy ``<H_C>`` (negative expected cut weight).

  Args:
    angles: ``(2, p)`` float, row 0 gammas, row 1 betas, any ``p >= 1``.
    graph: one ``Graph`` (``vmap`` for batches).
    method: ``"statevector"`` (exact, any weights and depth; default),
      ``"analytic"`` (closed form, ``p == 1`` and unit weights only, O(E), any ``n``)
      or ``"auto"`` (analytic when ``p == 1``, statevector otherwise; the caller
      vouches that the graph is unweighted).
    memory_limit_bytes: optional byte budget for the statevector (see
      :func:`memory_limit`); larger problems raise ``ValueError`` before allocating.

  Returns:
    scalar float (the angles' dtype).  Differentiable, jittable, vmappable.

  Example:
    >>> import jax.numpy as jnp, networkx as nx
    >>> from jqmeta import graphs
    >>> g = graphs.from_networkx(nx.complete_graph(3))
    >>> round(float(energy(jnp.zeros((2, 1)), g)), 4)  # uniform state: E[cut] = 1.5
    -1.5
  """
  validation.check_method(method)
  angles = check_angles(angles)
  validation.check_graph(graph)
  p = angles.shape[1]
  if method == "analytic" or (method == "auto" and p == 1):
    return analytic_p1_energy(angles, graph)
  memory.guard(graph.n_qubits, p, angles.dtype, memory_limit_bytes, "the statevector")
  return statevector.energy(angles, graph)


def expected_cut(angles, graph: Graph, **kwargs) -> jax.Array:
  """Expected cut weight ``E[cut] = -energy(angles, graph)``; same arguments.

  Args:
    angles: ``(2, p)`` float (row 0 gammas, row 1 betas).
    graph: one ``Graph``.
    **kwargs: forwarded to :func:`energy` (``method``, ``memory_limit_bytes``).

  Returns:
    scalar float (the angles' dtype), ``>= 0`` for non-negative weights.

  Example:
    >>> import jax.numpy as jnp, networkx as nx
    >>> from jqmeta import graphs
    >>> round(float(expected_cut(jnp.zeros((2, 1)), graphs.from_networkx(nx.cycle_graph(4)))), 6)
    2.0
  """
  return -energy(angles, graph, **kwargs)


def state(angles, graph: Graph, *, memory_limit_bytes: Optional[int] = None) -> jax.Array:
  """Final QAOA statevector.

  Args:
    angles: ``(2, p)`` float (gammas, betas).
    graph: one ``Graph`` on ``N`` qubits.
    memory_limit_bytes: optional byte budget (see :func:`memory_limit`).

  Returns:
    ``(2**N,)`` complex64 (complex128 for float64 angles), PennyLane bit order.

  Example:
    >>> import jax.numpy as jnp, networkx as nx
    >>> from jqmeta import graphs
    >>> psi = state(jnp.zeros((2, 1)), graphs.from_networkx(nx.path_graph(2)))
    >>> [round(float(abs(a)**2), 3) for a in psi]
    [0.25, 0.25, 0.25, 0.25]
  """
  angles = check_angles(angles)
  validation.check_graph(graph)
  memory.guard(graph.n_qubits, angles.shape[1], angles.dtype, memory_limit_bytes,
               "the statevector")
  return statevector.state(angles, graph)


def cut_values(graph: Graph) -> jax.Array:
  """Cut weight of every basis state.

  Args:
    graph: one ``Graph`` on ``N`` qubits.

  Returns:
    ``(2**N,)`` real (the weights' dtype); entry ``z`` is the total weight of edges
    whose endpoints differ in ``z`` (PennyLane bit order).

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> cut_values(graphs.from_networkx(nx.path_graph(2))).tolist()
    [0.0, 1.0, 1.0, 0.0]
  """
  validation.check_graph(graph)
  return cut.cut_diagonal(graph)


def analytic_p1_energy(angles, graph: Graph) -> jax.Array:
  """Closed-form p=1 energy for unweighted Max-Cut (Wang, Hadfield, Jiang, Rieffel 2018).

  Per edge ``(u, v)`` with ``d_u = deg(u) - 1``, ``d_v = deg(v) - 1`` and ``f``
  triangles through the edge, in this library's sign convention (their gamma is
  minus ours)::

    <cut_uv> = 1/2 - 1/4 sin(4b) sin(g) (cos^d_u(g) + cos^d_v(g))
                   - 1/4 sin^2(2b) cos^(d_u + d_v - 2f)(g) (1 - cos^f(2g))

  Costs O(E); works for any number of nodes.  Valid only for unit edge weights:
  with concrete inputs a weighted graph raises ``ValueError`` (under ``jit`` the
  caller must ensure it).

  Args:
    angles: ``(2, 1)`` float.
    graph: one unweighted ``Graph``.

  Returns:
    scalar float, equal to ``energy(angles, graph)`` up to rounding.

  Example:
    >>> import jax.numpy as jnp, networkx as nx
    >>> from jqmeta import graphs
    >>> g = graphs.from_networkx(nx.cycle_graph(200))
    >>> float(analytic_p1_energy(jnp.zeros((2, 1)), g))
    -100.0
  """
  angles = check_angles(angles)
  validation.check_graph(graph)
  if angles.shape[1] != 1:
    raise ValueError(f"the analytic formula is for p = 1, got angles of shape {angles.shape}")
  if not validation.is_traced(graph.weights):
    wn = np.asarray(graph.weights)[: int(graph.n_edges)]
    if np.any(wn != 1.0):
      raise ValueError("analytic_p1_energy needs an unweighted graph (all edge weights 1); "
                       "use method='statevector' for weighted graphs")
  return analytic.p1_energy(angles, graph)


def max_cut(graph: Graph, *, chunk_qubits: int = 20,
            memory_limit_bytes: Optional[int] = None) -> jax.Array:
  """Exact maximum cut weight by vectorised brute force.

  Enumerates ``2**(N-1)`` assignments (qubit 0 fixed by the cut's symmetry) in
  row blocks of ``2**chunk_qubits`` states under ``lax.map``, so peak memory stays
  about ``2**chunk_qubits * N`` floats whatever ``N`` (feasible in time to ~30 nodes).

  Args:
    graph: one ``Graph``.
    chunk_qubits: log2 of the states evaluated per block (static).
    memory_limit_bytes: optional byte budget (see :func:`memory_limit`).

  Returns:
    scalar float: the maximum total weight of cut edges (``0`` for edgeless graphs).

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> float(max_cut(graphs.from_networkx(nx.cycle_graph(5))))
    4.0
  """
  validation.check_graph(graph)
  N = graph.n_qubits
  if N > _MAX_BRUTE_FORCE_QUBITS:
    raise ValueError(f"max_cut brute force over 2**{N - 1} assignments is infeasible; "
                     f"N must be <= {_MAX_BRUTE_FORCE_QUBITS}")
  lo = min(int(chunk_qubits), N)
  memory.guard_brute_force(lo, graph.weights.dtype, memory_limit_bytes)
  return brute_force.max_cut(graph, lo)


def approximation_ratio(angles, graph: Graph, *, max_cut_value=None, **kwargs) -> jax.Array:
  """``expected_cut / max_cut``; 1 for a graph with no positive cut.

  Args:
    angles: ``(2, p)`` float.
    graph: one ``Graph``.
    max_cut_value: optional precomputed :func:`max_cut` (skips the brute force).
    **kwargs: forwarded to :func:`energy` (``method``, ``memory_limit_bytes``).

  Example:
    >>> import jax.numpy as jnp, networkx as nx
    >>> from jqmeta import graphs
    >>> g = graphs.from_networkx(nx.cycle_graph(4))
    >>> round(float(approximation_ratio(jnp.zeros((2, 1)), g)), 6)  # random cut: 2 of 4
    0.5
  """
  if max_cut_value is None:
    max_cut_value = max_cut(graph)
  return metrics.ratio_from_energy(energy(angles, graph, **kwargs), max_cut_value)
