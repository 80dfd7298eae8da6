"""The exact statevector simulator: the symmetric half, core selection, energy and state.

Bit-flip symmetry: ``|+>^N``, the cut diagonal (``cut(z) = cut(~z)``) and every ``RX``
commute with ``X^(x)N``, so ``psi[~z] = psi[z]`` throughout.  The simulator keeps only
the half with qubit 0 = 0, scaled by ``sqrt(2)`` so it has unit norm (every inner
product then equals its full-space value): half the memory and half the work of the
full state, exactly.  :func:`half_tables` restricts the cut tables to that half;
:func:`state` rebuilds the full vector from it.  :func:`prepare` computes everything a
call needs that does not depend on the angles (the half tables, the qubit mask, the
Walsh-Hadamard core's mixer index) once per graph: a :class:`Prepared` problem, accepted
wherever a ``Graph`` is.

Two exact cores run the layers on the half (and are tested against each other):
:mod:`jqmeta._src.wht_core` (Walsh-Hadamard planes, up to
:data:`~jqmeta._src.wht_core.WHT_MAX_QUBITS` qubits) and :mod:`jqmeta._src.kron_core`
(complex block GEMMs, above it).  Nothing here checks arguments; :mod:`jqmeta.qaoa`
does.

Example:
  >>> import jax.numpy as jnp, networkx as nx
  >>> from jqmeta import graphs
  >>> g = graphs.from_networkx(nx.complete_graph(3))
  >>> [round(float(energy(jnp.zeros((2, 1)), g, core=c)), 4) for c in CORES]
  [-1.5, -1.5]
  >>> float(energy(jnp.zeros((2, 1)), prepare(g, jnp.float32)))
  -1.5
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import TYPE_CHECKING, Optional

import jax
import jax.numpy as jnp
from jax import lax

from jqmeta._src import cut, kron_core, validation, wht_core

if TYPE_CHECKING:
  from jqmeta.graphs import Graph

CORES = ("wht", "kron")
"""Names of the two exact cores (:func:`core_for`)."""


@dataclasses.dataclass(frozen=True)
class Prepared:
  """A graph with its angle-independent simulator tables (a pytree; from :func:`prepare`).

  Fields: ``graph`` the ``Graph``; ``tables`` the three cut tables restricted to the
  symmetric half (``(2**(a-1), 2**b)``, ``(2**(a-1), 2**c)``, ``(2**b, 2**c)``, all of
  the prepared float dtype); ``real`` ``(N,) bool`` qubit mask; ``index`` the
  Walsh-Hadamard core's ``(2**(N-1),)``-sized int32 mixer index
  (:func:`jqmeta._src.wht_core.mixer_index`), ``None`` where the kron core runs.
  A stacked ``Prepared`` (``jax.vmap(prepare)``) carries a leading batch axis on every
  array, like ``graphs.stack``.
  """

  graph: Graph
  tables: tuple
  real: jax.Array
  index: Optional[jax.Array]

  @property
  def n_qubits(self) -> int:
    """``N``, the graph's (static) qubit count."""
    return self.graph.n_qubits

  @property
  def dtype(self):
    """The float dtype the tables were prepared in (the angles must have it)."""
    return self.tables[0].dtype


jax.tree_util.register_dataclass(Prepared, data_fields=["graph", "tables", "real", "index"],
                                 meta_fields=[])


def half_tables(graph: Graph, dtype):
  """Cut tables restricted to qubit 0 = 0 (the symmetric half) and the qubit mask.

  Args:
    graph: one ``Graph`` on ``N`` qubits.
    dtype: float dtype of the tables (the weights are cast to it first).

  Returns:
    ``((T_ab (2**(a-1), 2**b), T_ac (2**(a-1), 2**c), T_bc (2**b, 2**c)), real (N,) bool)``
    with ``real`` False on padded qubits (their mixer is the identity).
  """
  T = _half(cut.dense_weights(graph).astype(dtype), graph.n_qubits)
  real = jnp.arange(graph.n_qubits) < graph.n_nodes  # padded qubits: identity mixer
  return T, real


def _half(W: jax.Array, N: int):
  t_ab, t_ac, t_bc = cut.cut_tables(W, N)
  half = t_ab.shape[0] // 2
  return t_ab[:half], t_ac[:half], t_bc


def prepare(graph: Graph, dtype) -> Prepared:
  """The :class:`Prepared` form of ``graph`` in float ``dtype`` (unchecked; jittable and
  vmappable)."""
  T, real = half_tables(graph, dtype)
  index = wht_core.mixer_index(real) if graph.n_qubits <= wht_core.WHT_MAX_QUBITS else None
  return Prepared(graph, T, real, index)


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _linked(T, weights, edges, N):
  """``T`` (prepared from ``weights``), with the tables' derivative in the weights.

  The cut tables are linear in the weights, so the tangent of ``T`` in a weight
  tangent ``dw`` is the tables OF ``dw``: gradients in ``prepared.graph.weights`` are
  exact, and cost nothing when the weights are not differentiated.
  """
  del weights, edges, N
  return T


@_linked.defjvp
def _linked_jvp(N, primals, tangents):
  T, _, edges = primals
  t_T, t_w, _ = tangents
  t_L = _half(cut.dense_from(edges, t_w, N).astype(T[0].dtype), N)
  return T, tuple(a + b for a, b in zip(t_T, t_L))


def _resolve(angles, problem, core: Optional[str]):
  """``(core name, T, (real, index))`` for a ``Graph`` or a :class:`Prepared` problem."""
  if isinstance(problem, Prepared):
    g = problem.graph
    T = _linked(problem.tables, g.weights, g.edges, g.n_qubits)
    real, index = problem.real, problem.index
  else:
    (T, real), index = half_tables(problem, angles.dtype), None
  name = core_for(problem, core)
  if name == "wht" and index is None:
    index = wht_core.mixer_index(real)
  return name, T, (real, index)


def core_for(graph, core: Optional[str]) -> str:
  """``"wht"`` (Walsh-Hadamard planes) up to ``WHT_MAX_QUBITS``, else ``"kron"``.

  An explicit ``core`` (one of :data:`CORES`) wins.
  """
  if core is None:
    return "wht" if graph.n_qubits <= wht_core.WHT_MAX_QUBITS else "kron"
  return validation.check_choice("core", core, CORES)


def half_state(angles, graph, core: Optional[str] = None) -> jax.Array:
  """The unit-norm symmetric half ``(2**(N-1),)`` complex (qubit 0 = 0); ``graph`` a
  ``Graph`` or a :class:`Prepared` of the angles' dtype."""
  name, T, mix = _resolve(angles, graph, core)
  if name == "kron":
    return kron_core.run(angles, T, mix[0])
  x = wht_core.run(angles, T, mix)
  return lax.complex(x[0], x[1]).reshape(-1)


def energy(angles, graph, core: Optional[str] = None):
  """Statevector energy ``<H_C>`` by either exact core: scalar, the angles' dtype.

  ``graph``: a ``Graph`` or a :class:`Prepared` of the angles' dtype.  Differentiable in
  ``angles`` and the graph weights (a ``Prepared``'s too) by the adjoint method, in
  reverse and forward mode and their compositions (:func:`jqmeta._src.cut.adjoint_energy`).
  """
  name, T, mix = _resolve(angles, graph, core)
  if name == "kron":
    return kron_core.energy(angles, T, mix[0])
  return wht_core.energy(angles, T, mix)


def state(angles, graph) -> jax.Array:
  """The full ``(2**N,)`` complex state rebuilt from the half (``psi[~z] = psi[z]``)."""
  phi = half_state(angles, graph)
  return jnp.concatenate([phi, jnp.flip(phi)]) / math.sqrt(2.0)
