"""The closed-form p = 1 QAOA energy for unweighted Max-Cut (O(E), any number of nodes).

Example:
  >>> import jax.numpy as jnp, networkx as nx
  >>> from jqmeta import graphs
  >>> float(p1_energy(jnp.zeros((2, 1)), graphs.from_networkx(nx.cycle_graph(6))))
  -3.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

if TYPE_CHECKING:
  from jqmeta.graphs import Graph


def int_pow(x: jax.Array, k: jax.Array, max_bits: int) -> jax.Array:
  """``x**k`` for integer ``k >= 0`` by binary exponentiation (exact sign, smooth grad).

  Args:
    x: float array.
    k: int array broadcastable with ``x``, ``0 <= k < 2**max_bits``.
    max_bits: static bit count of the largest ``k``.

  Example:
    >>> int_pow(jnp.array([-2.0, 0.5]), jnp.array([3, 2]), 2).tolist()
    [-8.0, 0.25]
  """
  out = jnp.ones_like(x)
  base = x
  for b in range(max_bits):
    out = out * jnp.where((k >> b) & 1, base, jnp.ones_like(base))
    base = base * base
  return out


def p1_energy(angles: jax.Array, graph: Graph) -> jax.Array:
  """Wang, Hadfield, Jiang, Rieffel (2018) p = 1 energy, summed over the real edges.

  Unchecked: the caller (:func:`jqmeta.qaoa.analytic_p1_energy`) ensures ``p == 1``
  and unit weights; the formula is given there.

  Args:
    angles: ``(2, 1)`` float.
    graph: one unweighted ``Graph``.

  Returns:
    scalar float, ``<H_C>`` (negative expected cut).
  """
  w = graph.weights
  gamma, beta = angles[0, 0], angles[1, 0]
  u, v = graph.edges[:, 0], graph.edges[:, 1]
  du = jnp.maximum(graph.degrees[u] - 1, 0)
  dv = jnp.maximum(graph.degrees[v] - 1, 0)
  f = graph.triangles
  bits = max(1, int(graph.n_qubits).bit_length())
  cg, c2g = jnp.cos(gamma), jnp.cos(2 * gamma)
  term1 = jnp.sin(4 * beta) * jnp.sin(gamma) * (int_pow(cg, du, bits) + int_pow(cg, dv, bits))
  term2 = (jnp.sin(2 * beta) ** 2) * int_pow(cg, jnp.maximum(du + dv - 2 * f, 0), bits) * (
      1 - int_pow(c2g, f, bits))
  per_edge = 0.5 - 0.25 * term1 - 0.25 * term2
  real_edge = jnp.arange(graph.max_edges) < graph.n_edges
  return -jnp.sum(jnp.where(real_edge, w * per_edge, 0.0))
