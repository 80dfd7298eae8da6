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
not grow with ``p``.

Dtype rule (every method): the computation and the result take the ANGLES' dtype;
the graph weights are cast to it.  float32 angles give float32 energies and a
complex64 state, float64 angles (x64 enabled) float64 and complex128.  Integer angles
become the default float; float16 and bfloat16 angles are refused with a ``TypeError``
(the simulator's rounding would be far above what such a result could show).

Derivatives: :func:`energy` supports reverse mode (``jax.grad``, ``jax.vjp``), forward
mode (``jax.jvp``, ``jax.jacfwd``) and their compositions (``jax.hessian``), in the
angles and the graph weights, on every method.

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

from jqmeta import metrics
from jqmeta._src import analytic, brute_force, cut, memory, statevector, validation
from jqmeta._src.memory import MEMORY_LIMIT_ENV, memory_limit, statevector_bytes
from jqmeta._src.validation import check_angles
from jqmeta.graphs import Graph

__all__ = [
    "prepare",
    "Prepared",
    "energy",
    "expected_cut",
    "state",
    "cut_values",
    "max_cut",
    "approximation_ratio",
    "min_cut",
    "analytic_p1_energy",
    "check_angles",
    "memory_limit",
    "statevector_bytes",
    "MEMORY_LIMIT_ENV",
    "METHODS",
]

Prepared = statevector.Prepared

METHODS = validation.ENERGY_METHODS
"""The ``method`` names :func:`energy` accepts."""

_MAX_BRUTE_FORCE_QUBITS = 40
_PREPARED_DTYPES = ("float32", "float64")


def prepare(graph: Graph, dtype=None) -> Prepared:
  """Precompute once what every call on ``graph`` rebuilds (repeated evaluation).

  The statevector energy's per-graph work (the dense weights, the three cut tables on
  the symmetric half, the qubit mask and, up to ``WHT_MAX_QUBITS``, the Walsh-Hadamard
  mixer index) does not depend on the angles.  The returned :class:`Prepared` holds it
  with the graph, and :func:`energy`, :func:`expected_cut`, :func:`state` and
  :func:`approximation_ratio` accept it wherever they take a ``Graph``, with the same
  results (bitwise, for angles of the prepared dtype) and the same derivatives (also in
  ``prepared.graph.weights``).  It is a pytree: pass it through ``jit``, and batch with
  ``jax.vmap(qaoa.prepare)(graphs.stack([...]))`` then ``vmap`` over both.

  Args:
    graph: one ``Graph`` (``vmap`` for batches).
    dtype: ``float32`` or ``float64``, the dtype of the angles it will be used with;
      default the weights' dtype.  Angles of another dtype raise ``TypeError``.

  Returns:
    ``Prepared``: about ``3 * 2**(2N/3)`` table entries plus, for ``N <= 14``, a
    ``2**(N-1)`` int32 index (the Walsh-Hadamard core's range).

  Example:
    >>> import jax.numpy as jnp, networkx as nx
    >>> from jqmeta import graphs
    >>> prep = prepare(graphs.from_networkx(nx.cycle_graph(4)))
    >>> round(float(energy(jnp.zeros((2, 1)), prep)), 4)
    -2.0
  """
  validation.check_graph(graph)
  dt = jnp.dtype(graph.weights.dtype if dtype is None else dtype)
  if dt.name not in _PREPARED_DTYPES:
    raise TypeError(f"prepare dtype must be float32 or float64, got {dt.name}")
  if jax.dtypes.canonicalize_dtype(dt) != dt:
    raise ValueError(f"prepare dtype {dt.name} needs jax_enable_x64 "
                     "(jax.config.update('jax_enable_x64', True))")
  return statevector.prepare(graph, dt)


def _graph_of(graph, angles=None) -> Graph:
  """The ``Graph`` of a ``Graph`` or ``Prepared`` argument, checked (and the dtype match)."""
  if isinstance(graph, Prepared):
    if angles is not None and graph.dtype != angles.dtype:
      raise TypeError(f"this problem was prepared for {jnp.dtype(graph.dtype).name} angles, "
                      f"got {angles.dtype.name}; use qaoa.prepare(graph, "
                      f"dtype=jnp.{angles.dtype.name})")
    graph = graph.graph
  elif not isinstance(graph, Graph):
    raise TypeError(f"graph must be a jqmeta Graph or qaoa.prepare(graph), got "
                    f"{type(graph).__name__}; use graphs.from_networkx(G)")
  validation.check_graph(graph)
  return graph


def energy(angles, graph: Graph, *, method: str = "statevector",
           memory_limit_bytes: Optional[int] = None) -> jax.Array:
  """QAOA energy ``<H_C>`` (negative expected cut weight).

  Args:
    angles: ``(2, p)`` float, row 0 gammas, row 1 betas, any ``p >= 1``.
    graph: one ``Graph`` (``vmap`` for batches), or its :func:`prepare` form (same
      result, less work per call).
    method: ``"statevector"`` (exact, any weights and depth; default),
      ``"analytic"`` (the exact closed form, ``p == 1`` only, any real weights, any
      ``n``; see :func:`analytic_p1_energy`) or ``"auto"`` (analytic when ``p == 1``,
      statevector otherwise; exact for every graph).
    memory_limit_bytes: optional byte budget for the statevector (see
      :func:`memory_limit`); larger problems raise ``ValueError`` before allocating.

  Returns:
    scalar float (the angles' dtype; see the module's dtype rule).  Jittable,
    vmappable, differentiable in forward and reverse mode (angles and weights).

  Raises:
    TypeError: float16/bfloat16 or non-real angles, ``graph`` not a ``Graph`` or
      ``Prepared``, or prepared for another dtype than the angles'.
    ValueError: bad shapes or method, ``p != 1`` with ``"analytic"``, or a statevector
      over the memory budget.

  Example:
    >>> import jax.numpy as jnp, networkx as nx
    >>> from jqmeta import graphs
    >>> g = graphs.from_networkx(nx.complete_graph(3))
    >>> round(float(energy(jnp.zeros((2, 1)), g)), 4)  # uniform state: E[cut] = 1.5
    -1.5
  """
  validation.check_method(method)
  angles = check_angles(angles)
  g = _graph_of(graph, angles)
  p = angles.shape[1]
  if method == "analytic" or (method == "auto" and p == 1):
    return analytic_p1_energy(angles, g)
  memory.guard(graph.n_qubits, p, angles.dtype, memory_limit_bytes, "the statevector")
  return statevector.energy(angles, graph)


def expected_cut(angles, graph: Graph, **kwargs) -> jax.Array:
  """Expected cut weight ``E[cut] = -energy(angles, graph)``; same arguments.

  Args:
    angles: ``(2, p)`` float (row 0 gammas, row 1 betas).
    graph: one ``Graph`` or :func:`prepare` form.
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
    graph: one ``Graph`` on ``N`` qubits, or its :func:`prepare` form.
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
  _graph_of(graph, angles)
  memory.guard(graph.n_qubits, angles.shape[1], angles.dtype, memory_limit_bytes,
               "the statevector")
  return statevector.state(angles, graph)


def cut_values(graph: Graph, *, memory_limit_bytes: Optional[int] = None) -> jax.Array:
  """Cut weight of every basis state.

  Args:
    graph: one ``Graph`` on ``N`` qubits.
    memory_limit_bytes: optional byte budget (see :func:`memory_limit`); the ``2**N``
      values (twice that while they are summed from the cut tables) must fit, else
      ``ValueError`` before anything is allocated.

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
  N = graph.n_qubits
  need = 2 * 2**N * jnp.dtype(graph.weights.dtype).itemsize
  budget = memory.memory_limit(memory_limit_bytes)
  if need > budget:
    raise ValueError(f"cut_values on {N} qubits needs about {need / 2**30:.3g} GiB "
                     f"(2**{N} cut values), over the memory limit of {budget / 2**30:.3g} GiB; "
                     f"use fewer qubits or raise the limit (memory_limit_bytes=..., or "
                     f"${MEMORY_LIMIT_ENV})")
  return cut.cut_diagonal(graph)


def analytic_p1_energy(angles, graph: Graph) -> jax.Array:
  """Exact closed-form p=1 energy for weighted Max-Cut (any real weights, any ``n``).

  Per edge, in this library's convention (derivation and citations in
  :mod:`jqmeta._src.analytic`; ``w_uk = 0`` for non-edges)::

    <Z_u Z_v> = 1/2 sin(4b) sin(g w_uv) [prod_(k != u,v) cos(g w_uk) + prod cos(g w_vk)]
              + 1/2 sin^2(2b) [prod cos(g (w_uk - w_vk)) - prod cos(g (w_uk + w_vk))]
    energy = -sum_(u,v) w_uv (1 - <Z_u Z_v>) / 2

  Costs O(E N) (O(N^2) memory); when the graph's STATIC ``unweighted`` flag is set
  (:func:`jqmeta.graphs.from_networkx` sets it when every weight is 1) the Wang,
  Hadfield, Jiang, Rieffel (2018) unit-weight special case costs O(E).  Exact under
  ``jit`` and ``vmap`` and for padded graphs; derivatives in the angles and the
  weights are exact on both paths.

  Args:
    angles: ``(2, 1)`` float32 or float64.
    graph: one ``Graph``.

  Returns:
    scalar float (the angles' dtype), equal to ``energy(angles, graph)`` up to rounding.

  Example:
    >>> import jax.numpy as jnp, networkx as nx
    >>> from jqmeta import graphs
    >>> g = graphs.from_networkx(nx.cycle_graph(200))
    >>> float(analytic_p1_energy(jnp.zeros((2, 1)), g))
    -100.0
    >>> G = nx.cycle_graph(5)
    >>> nx.set_edge_attributes(G, 2.5, "weight")
    >>> a = jnp.array([[0.4], [0.3]])
    >>> round(float(jax.jit(analytic_p1_energy)(a, graphs.from_networkx(G))), 4)
    -3.6016
  """
  angles = check_angles(angles)
  validation.check_graph(graph)
  if angles.shape[1] != 1:
    raise ValueError(f"the analytic formula is for p = 1, got angles of shape {angles.shape}")
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
  return _brute_force("max_cut", graph, chunk_qubits, memory_limit_bytes, jnp.max)


def min_cut(graph: Graph, *, chunk_qubits: int = 20,
            memory_limit_bytes: Optional[int] = None) -> jax.Array:
  """Exact minimum cut weight by vectorised brute force (as :func:`max_cut`).

  ``0`` on nonnegative weights (the empty cut); negative when some couplings are
  negative (SK).  With it, ``(E[cut] - min cut) / (max cut - min cut)`` is the
  shift-invariant ratio of :func:`jqmeta.metrics.ratio_from_energy` (``min_cut_value``).

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> G = nx.path_graph(3)
    >>> nx.set_edge_attributes(G, {(0, 1): 1.0, (1, 2): -2.0}, "weight")
    >>> float(min_cut(graphs.from_networkx(G))), float(max_cut(graphs.from_networkx(G)))
    (-2.0, 1.0)
  """
  low = _brute_force("min_cut", graph, chunk_qubits, memory_limit_bytes, jnp.min)
  # The empty cut is exactly 0, and the min on nonnegative weights: exact, not rounded.
  return jnp.where(jnp.all(graph.weights >= 0), jnp.zeros_like(low), jnp.minimum(low, 0))


def _brute_force(name, graph, chunk_qubits, memory_limit_bytes, reduce) -> jax.Array:
  validation.check_graph(graph)
  N = graph.n_qubits
  if N > _MAX_BRUTE_FORCE_QUBITS:
    raise ValueError(f"{name} brute force over 2**{N - 1} assignments is infeasible; "
                     f"N must be <= {_MAX_BRUTE_FORCE_QUBITS}")
  lo = min(int(chunk_qubits), N)
  memory.guard_brute_force(lo, graph.weights.dtype, memory_limit_bytes)
  return brute_force.max_cut(graph, lo, reduce)


def approximation_ratio(angles, graph: Graph, *, max_cut_value=None, min_cut_value=0.0,
                        **kwargs) -> jax.Array:
  """``(expected_cut - min_cut) / (max_cut - min_cut)``; 1 for a graph with no positive cut.

  With the default ``min_cut_value = 0`` this is ``expected_cut / max_cut``, exact for
  nonnegative weights; for mixed-sign weights (SK) pass :func:`min_cut` to get the
  shift-invariant ratio (:func:`jqmeta.metrics.ratio_from_energy`).

  Args:
    angles: ``(2, p)`` float.
    graph: one ``Graph`` or :func:`prepare` form.
    max_cut_value: optional precomputed :func:`max_cut` (skips the brute force).
    min_cut_value: the min cut (default 0: the nonnegative-weight convention).
    **kwargs: forwarded to :func:`energy` (``method``, ``memory_limit_bytes``).

  Example:
    >>> import jax.numpy as jnp, networkx as nx
    >>> from jqmeta import graphs
    >>> g = graphs.from_networkx(nx.cycle_graph(4))
    >>> round(float(approximation_ratio(jnp.zeros((2, 1)), g)), 6)  # random cut: 2 of 4
    0.5
  """
  if max_cut_value is None:
    max_cut_value = max_cut(_graph_of(graph))
  return metrics.ratio_from_energy(energy(angles, graph, **kwargs), max_cut_value,
                                  min_cut_value)
