"""The exact statevector simulator: the symmetric half, core selection, energy and state.

Bit-flip symmetry: ``|+>^N``, the cut diagonal (``cut(z) = cut(~z)``) and every ``RX``
commute with ``X^(x)N``, so ``psi[~z] = psi[z]`` throughout.  The simulator keeps only
the half with qubit 0 = 0, scaled by ``sqrt(2)`` so it has unit norm (every inner
product then equals its full-space value): half the memory and half the work of the
full state, exactly.  :func:`prepare` restricts the cut tables to that half;
:func:`state` rebuilds the full vector from it.

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
"""

from __future__ import annotations

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


def prepare(angles: jax.Array, graph: Graph):
  """Cut tables restricted to qubit 0 = 0 (the symmetric half) and the qubit mask.

  Args:
    angles: ``(2, p)`` float; the tables take its dtype.
    graph: one ``Graph`` on ``N`` qubits.

  Returns:
    ``((T_ab (2**(a-1), 2**b), T_ac (2**(a-1), 2**c), T_bc (2**b, 2**c)), real (N,) bool)``
    with ``real`` False on padded qubits (their mixer is the identity).
  """
  t_ab, t_ac, t_bc = cut.cut_tables(cut.dense_weights(graph).astype(angles.dtype),
                                    graph.n_qubits)
  half = t_ab.shape[0] // 2
  real = jnp.arange(graph.n_qubits) < graph.n_nodes  # padded qubits: identity mixer
  return (t_ab[:half], t_ac[:half], t_bc), real


def core_for(graph: Graph, core: Optional[str]) -> str:
  """``"wht"`` (Walsh-Hadamard planes) up to ``WHT_MAX_QUBITS``, else ``"kron"``.

  An explicit ``core`` (one of :data:`CORES`) wins.
  """
  if core is None:
    return "wht" if graph.n_qubits <= wht_core.WHT_MAX_QUBITS else "kron"
  return validation.check_choice("core", core, CORES)


def half_state(angles, graph, core: Optional[str] = None) -> jax.Array:
  """The unit-norm symmetric half ``(2**(N-1),)`` complex (qubit 0 = 0)."""
  T, real = prepare(angles, graph)
  if core_for(graph, core) == "kron":
    return kron_core.run(angles, T, real)
  x = wht_core.run(angles, T, real)
  return lax.complex(x[0], x[1]).reshape(-1)


def energy(angles, graph, core: Optional[str] = None):
  """Statevector energy ``<H_C>`` by either exact core: scalar, the angles' dtype.

  Differentiable in ``angles`` and the graph weights by the adjoint method, in reverse
  and forward mode and their compositions (:func:`jqmeta._src.cut.adjoint_energy`).
  """
  T, real = prepare(angles, graph)
  if core_for(graph, core) == "kron":
    return kron_core.energy(angles, T, real)
  return wht_core.energy(angles, T, real)


def state(angles, graph) -> jax.Array:
  """The full ``(2**N,)`` complex state rebuilt from the half (``psi[~z] = psi[z]``)."""
  phi = half_state(angles, graph)
  return jnp.concatenate([phi, jnp.flip(phi)]) / math.sqrt(2.0)
