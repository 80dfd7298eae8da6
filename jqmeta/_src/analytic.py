"""The closed-form p = 1 QAOA energy for weighted Max-Cut (any real weights, any ``n``).

Derivation, in this library's convention (``H_C = sum_(u,v) w_uv (Z_u Z_v - 1) / 2``,
state ``exp(-i beta B) exp(-i gamma H_C) |+>``, ``B = sum_j X_j``); the result is the
p = 1 Ising formula of Ozaeta, van Dam, McMahon, "Expectation values from the
single-layer quantum approximate optimization algorithm on Ising problems", Quantum Sci.
Technol. 7, 045036 (2022), for couplings ``J_uv = w_uv / 2`` and no fields.

* Up to a global phase ``exp(-i gamma H_C) = exp(-i C)``, ``C = sum_(j<k) (gamma w_jk / 2)
  Z_j Z_k``.  Write ``phi = exp(-i C) |+>`` and ``c, s = cos 2 beta, sin 2 beta``.
* ``exp(i beta X) Z exp(-i beta X) = c Z + s Y``, so ``<Z_u Z_v> = c^2 <Z_u Z_v>_phi +
  c s (<Y_u Z_v>_phi + <Z_u Y_v>_phi) + s^2 <Y_u Y_v>_phi``, and ``<Z_u Z_v>_phi = 0``
  (``C`` is diagonal and ``<+|Z|+> = 0``).
* ``Y_u`` anticommutes exactly with the terms of ``C`` that touch ``u``, so
  ``exp(i C) Y_u Z_v exp(-i C) = Y_u Z_v prod_k (cos(gamma w_uk) - i sin(gamma w_uk)
  Z_u Z_k)``.  In ``|+>`` only the products whose Z's leave ``X`` or ``1`` on every qubit
  survive: the ``k = v`` sine with every other cosine, and ``Y_u Z_u = i X_u`` gives
  ``<Y_u Z_v>_phi = sin(gamma w_uv) prod_(k != u,v) cos(gamma w_uk)``.
* For ``Y_u Y_v`` the ``(u, v)`` term commutes; each other ``k`` contributes
  ``a_k + b_k Z_u Z_v`` with ``a_k = cos(gamma w_uk) cos(gamma w_vk)``, ``b_k =
  -sin(gamma w_uk) sin(gamma w_vk)``; only odd powers of ``Z_u Z_v`` survive
  (``Y_u Z_u Y_v Z_v = -X_u X_v``), which is ``-(prod(a + b) - prod(a - b)) / 2``.

Together (``w_uk = 0`` for non-edges, so non-neighbours contribute ``cos 0 = 1``)::

  <Z_u Z_v> = 1/2 sin(4 beta) sin(gamma w_uv) [prod_(k != u,v) cos(gamma w_uk)
                                               + prod_(k != u,v) cos(gamma w_vk)]
            + 1/2 sin^2(2 beta) [prod_(k != u,v) cos(gamma (w_uk - w_vk))
                                 - prod_(k != u,v) cos(gamma (w_uk + w_vk))]
  E[cut] = sum_(u,v) w_uv (1 - <Z_u Z_v>) / 2,   energy = -E[cut].

Unit weights (Wang, Hadfield, Jiang, Rieffel, PRA 97, 022304, 2018): with ``d_u =
deg(u) - 1`` and ``f`` triangles on the edge, ``prod cos(gamma w_uk) = cos^d_u(gamma)``;
a common neighbour gives ``cos 0 = 1`` in the difference and ``cos 2 gamma`` in the sum,
a neighbour of one endpoint only ``cos gamma`` in both, so the bracket is
``cos^(d_u + d_v - 2f)(gamma) (1 - cos^f(2 gamma))``: :func:`unit_weight_energy`, O(E),
taken only when the graph's static ``unweighted`` flag is set.  The general
:func:`weighted_energy` costs O(E N) with the dense weight matrix (O(N^2) memory plus
edge chunks of bounded size).

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
from jax import lax
from jax.custom_derivatives import SymbolicZero

from jqmeta._src import cut, memory

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


def unit_weight_energy(angles: jax.Array, graph: Graph) -> jax.Array:
  """Wang et al. p = 1 energy; exact only for unit weights (unchecked; see the module).

  Uses ``degrees`` and ``triangles`` and the real-edge count; O(E).

  Args:
    angles: ``(2, 1)`` float.
    graph: one ``Graph`` whose real edges all have weight 1.

  Returns:
    scalar, the angles' dtype: ``<H_C>`` (negative expected cut).

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> g = graphs.from_networkx(nx.cycle_graph(5))
    >>> a = jnp.array([[0.3], [0.2]])
    >>> bool(jnp.isclose(unit_weight_energy(a, g), weighted_energy(a, g)))
    True
  """
  w = graph.weights.astype(angles.dtype)
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


def _chunk_cut(gamma, beta, W, u, v, w):
  """Expected cut of one chunk of edge rows ``u, v, w (C,)`` on dense ``W (N, N)``."""
  k = jnp.arange(W.shape[0])
  other = (k != u[:, None]) & (k != v[:, None])  # (C, N): k not an endpoint
  gu = gamma * jnp.where(other, W[u], 0.0)
  gv = gamma * jnp.where(other, W[v], 0.0)
  prod = lambda x: jnp.prod(jnp.cos(x), axis=-1)
  zz = (0.5 * jnp.sin(4 * beta) * jnp.sin(gamma * W[u, v]) * (prod(gu) + prod(gv))
        + 0.5 * jnp.sin(2 * beta)**2 * (prod(gu - gv) - prod(gu + gv)))
  # A self-loop row (padding is (0, 0) with weight 0) cuts nothing in any basis state.
  return jnp.sum(jnp.where(u != v, w * (1.0 - zz) / 2.0, 0.0))


def weighted_energy(angles: jax.Array, graph: Graph) -> jax.Array:
  """The general p = 1 energy (formula in the module docstring), exact for any weights.

  Every edge row counts, as in the statevector: duplicate rows add up and self-loop
  rows (padding) cut nothing.  The rows are processed in chunks of at most
  ``memory.CLOSED_FORM_CHUNK_ELEMENTS / N`` edges under ``lax.map`` with
  rematerialisation, so memory stays ``O(N^2 + CLOSED_FORM_CHUNK_ELEMENTS)`` with
  gradients too.

  Args:
    angles: ``(2, 1)`` float.
    graph: one ``Graph`` on ``N`` qubits, any real weights.

  Returns:
    scalar, the angles' dtype: ``<H_C>``.

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> g = graphs.from_networkx(nx.Graph([(0, 1, {"weight": 2.5})]))
    >>> round(float(weighted_energy(jnp.array([[0.0], [0.0]]), g)), 4)  # random cut: w / 2
    -1.25
  """
  dt = angles.dtype
  gamma, beta = angles[0, 0], angles[1, 0]
  W = cut.dense_weights(graph).astype(dt)
  W = W * (1 - jnp.eye(W.shape[0], dtype=dt))  # self-loops never enter a cut
  u, v, w = graph.edges[:, 0], graph.edges[:, 1], graph.weights.astype(dt)
  E, N = u.shape[0], W.shape[0]
  size = max(1, min(E, memory.CLOSED_FORM_CHUNK_ELEMENTS // max(N, 1)))
  if size >= E:
    return -_chunk_cut(gamma, beta, W, u, v, w)
  n_chunks = -(-E // size)
  pad = lambda x: jnp.pad(x, (0, n_chunks * size - E)).reshape(n_chunks, size)
  body = jax.checkpoint(lambda xs: _chunk_cut(gamma, beta, W, *xs))
  return -jnp.sum(lax.map(body, (pad(u), pad(v), pad(w))))


@jax.custom_jvp
def _unit_exact(angles: jax.Array, graph: Graph) -> jax.Array:
  return unit_weight_energy(angles, graph)


def _unit_exact_jvp(primals, tangents):
  """Angle derivatives from the unit-weight formula; any weight tangent switches to the
  general formula (the unit formula is exact only ON unit weights, not around them)."""
  angles, graph = primals
  t_angles, t_graph = tangents
  if isinstance(t_graph.weights, SymbolicZero):
    if isinstance(t_angles, SymbolicZero):
      return unit_weight_energy(angles, graph), jnp.zeros((), angles.dtype)
    return jax.jvp(lambda a: unit_weight_energy(a, graph), (angles,), (t_angles,))
  t_a = jnp.zeros_like(angles) if isinstance(t_angles, SymbolicZero) else t_angles
  general = lambda a, w: weighted_energy(a, graph.replace(weights=w))
  return jax.jvp(general, (angles, graph.weights), (t_a, t_graph.weights))


_unit_exact.defjvp(_unit_exact_jvp, symbolic_zeros=True)


def p1_energy(angles: jax.Array, graph: Graph) -> jax.Array:
  """Exact p = 1 energy: the unit-weight special case iff ``graph.unweighted`` (static).

  Unchecked (``p == 1`` is the caller's; :func:`jqmeta.qaoa.analytic_p1_energy` checks).
  Derivatives are exact in the angles and the weights on both paths.

  Args:
    angles: ``(2, 1)`` float.
    graph: one ``Graph``, any real weights.

  Returns:
    scalar, the angles' dtype: ``<H_C>`` (negative expected cut).
  """
  if graph.unweighted:
    return _unit_exact(angles, graph)
  return weighted_energy(angles, graph)
