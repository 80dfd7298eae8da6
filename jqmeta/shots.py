"""Finite shots: measured bitstrings, sampled energies, shot-based gradients, Phase II.

Pure functions of ``(angles, graph, shots, key)`` for ONE graph (``jax.vmap`` over
angles, graphs and keys), jittable with ``shots`` static, with explicit PRNG keys.

Sampling uses the bit-flip symmetry ``psi[~z] = psi[z]`` (:mod:`jqmeta._src.statevector`):
draw an index of the simulated half (qubit 0 = 0, probability ``2 |psi|^2``), then flip
every bit with probability 1/2.  The draw is a two-level inverse CDF over the half seen
as ``(B, L)`` blocks (``B L = 2**(n-1)``, each about ``2**((n-1)/2)``): one uniform picks
a block, a second an entry in it, each by a binary search (``log2`` gathers per shot).
Memory ``O(2**n + shots)``; nothing is ``shots x 2**n``.

Rounding: the running sums are sequential (``lax.scan``), so they never decrease and a
zero computed probability is never drawn; each drawn probability is off by at most one
rounding of its running sum plus the uniform's resolution (``2**-23`` float32, ``2**-52``
float64), relative to its block's mass (blocks: to the total).  The total variation
distance to the computed ``|psi|^2`` is at most about ``3 (B + L) 2**-24``: ``3e-4`` at
n = 20 in float32 (beyond what 10^7 shots resolve), ``~1e-12`` in float64; one float32
CDF over ``2**19`` entries would be off by ``2**-24`` against masses of ``2**-19`` (3 %).

Bitstrings are uint32, the index of :func:`jqmeta.qaoa.cut_values` (qubit 0 the most
significant of ``n_qubits`` bits); padded qubits stay in ``|+>`` (random bits, no cut).
Energies are ``-cut``, as in :mod:`jqmeta.qaoa`.

Example:
  >>> import jax, jax.numpy as jnp, networkx as nx
  >>> from jqmeta import graphs, shots
  >>> g = graphs.from_networkx(nx.cycle_graph(4))
  >>> z = shots.sample(jnp.array([[0.4], [0.3]]), g, 1000, jax.random.key(0))
  >>> z.shape, z.dtype
  ((1000,), dtype('uint32'))
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax import lax

from jqmeta import metrics, qaoa
from jqmeta._src import cut, memory, statevector, validation
from jqmeta.graphs import Graph

__all__ = ["sample", "estimate_energy", "best_sampled_cut", "SampledCut",
           "parameter_shift_gradient", "spsa_gradient", "gradient_shots", "phase2_shots",
           "ShotsPhase2Result", "sample_bytes", "GRADIENTS", "SPSA_C", "MAX_PACKED_QUBITS"]

GRADIENTS = ("shift", "spsa")
"""Shot-based gradient estimators of :func:`phase2_shots`."""
SPSA_C = 0.1
"""Default SPSA perturbation size ``c`` (angles move by ``+-c`` in every coordinate)."""
MAX_PACKED_QUBITS = 32  # bitstrings are uint32
_SHOT_BYTES = 64  # per shot: 2 uniforms, flip bits, block and entry indices, cut, z, search temps
_MAP_AMPLITUDES = 2**16  # shifted circuits evaluated together by one vmap (the rest: lax.map)


def sample_bytes(n_qubits: int, p: int, shots: int, dtype=jnp.float32) -> int:
  """Budgeted peak bytes of :func:`sample` or one sampled shifted circuit: ``O(2**n + shots)``
  (:func:`jqmeta.qaoa.statevector_bytes` of ``n + 1`` qubits, as shifted circuits hold the
  full state; three real ``2**(n-1)`` vectors for the running sums; 64 bytes per shot).

  Example:
    >>> sample_bytes(20, 1, 10**6) < 2**30
    True
  """
  dt, n = jnp.dtype(dtype), int(n_qubits)
  real = dt.itemsize // 2 if jnp.issubdtype(dt, jnp.complexfloating) else dt.itemsize
  return memory.statevector_bytes(n + 1, p, dt) + 3 * 2**max(n - 1, 0) * real + shots * _SHOT_BYTES


def _check(angles, graph, shots, key, *, min_shots=1, exact_ok=False, limit=None):
  """Validated ``(angles, shots)``; ``shots=None`` (exact expectations) where allowed."""
  angles = validation.check_angles(angles)
  validation.check_graph(graph)
  if graph.n_qubits > MAX_PACKED_QUBITS:
    raise ValueError(f"bitstrings are uint32: at most 32 qubits, got {graph.n_qubits}")
  if shots is None and exact_ok:  # exact energies of (shifted) circuits: full states
    memory.guard(graph.n_qubits + 1, angles.shape[1], angles.dtype, limit, "the statevector")
    return angles, None
  shots = validation.check_int("shots", shots, min_shots)
  validation.check_key(key)
  need = sample_bytes(graph.n_qubits, angles.shape[1], shots, angles.dtype)
  budget = memory.memory_limit(limit)
  if need > budget:
    raise ValueError(f"{shots} shots on {graph.n_qubits} qubits need about {need / 2**30:.3g} "
                     f"GiB, over the memory limit of {budget / 2**30:.3g} GiB; use fewer shots "
                     f"or qubits, or raise it (memory_limit_bytes=, ${memory.MEMORY_LIMIT_ENV})")
  return angles, shots


def _running_sums(x: jax.Array) -> jax.Array:
  """``(R, L)`` -> running sums along axis 1, sequential: one rounding per entry."""
  return lax.scan(lambda c, col: (c + col,) * 2, jnp.zeros(x.shape[:1], x.dtype), x.T)[1].T


def _descend(cdf: jax.Array, base, bits: int, u: jax.Array, total) -> jax.Array:
  """First ``j`` in ``[base, base + 2**bits)`` with ``cdf[j] > u total`` (binary search);
  the target stays below ``total`` (the last sum), so ``j`` exists and has weight > 0."""
  t = jnp.minimum(u * total, jnp.nextafter(total, jnp.zeros_like(total)))
  pos = jnp.full(jnp.shape(u), base - 1, jnp.int32)  # an array even when ``bits == 0``
  for i in reversed(range(bits)):
    cand = pos + (1 << i)
    pos = jnp.where(cdf[cand] <= t, cand, pos)
  return pos + 1


def _draw_half(q: jax.Array, u: jax.Array) -> jax.Array:
  """Indices drawn from the unnormalised ``(2**k,)`` weights ``q`` by uniforms ``(2, shots)``."""
  kb, kl = (q.shape[0].bit_length() - 1) // 2, q.shape[0].bit_length() // 2
  C = _running_sums(q.reshape(2**kb, 2**kl))
  mass, S = C[:, -1], _running_sums(C[None, :, -1])[0]
  b = _descend(S, 0, kb, u[0], S[-1])
  return _descend(C.reshape(-1), b * 2**kl, kl, u[1], mass[b])


def _probs(psi: jax.Array) -> jax.Array:
  return psi.real ** 2 + psi.imag ** 2


def _flip(r: jax.Array, u: jax.Array, n: int) -> jax.Array:
  """Half indices -> ``uint32`` bitstrings, complemented where the uniform ``u < 1/2``."""
  z = r.astype(jnp.uint32)
  return jnp.where(u < 0.5, z ^ jnp.asarray((1 << n) - 1, jnp.uint32), z)


# mean and unbiased variance of the shots' cuts, the best cut and its uint32 bitstring
_Measured = NamedTuple("_Measured", [(f, jax.Array) for f in ("mean", "var", "best", "best_z")])


def _measure(q: jax.Array, T, n: int, shots: int, key) -> _Measured:
  """Draws ``shots`` bitstrings from the half weights ``q`` and summarises their cuts."""
  u = jax.random.uniform(key, (3, shots), q.dtype)  # block, entry, flip
  r = _draw_half(q, u[:2])
  _, b, c = cut.groups(n)  # the cut from the three tables: three gathers (cut(z) = cut(~z))
  x, y, w = r >> (b + c), (r >> c) & ((1 << b) - 1), r & ((1 << c) - 1)
  cuts = T[0][x, y] + T[1][x, w] + T[2][y, w]
  mean = jnp.mean(cuts)
  var = jnp.sum((cuts - mean) ** 2) / max(shots - 1, 1)
  i = jnp.argmax(cuts)
  return _Measured(mean, var, cuts[i], _flip(r[i], u[2, i], n))


@functools.partial(jax.jit, static_argnames="shots")
def _measure_qaoa(angles, graph: Graph, shots: int, key) -> _Measured:
  T = cut.cut_tables(cut.dense_weights(graph).astype(angles.dtype), graph.n_qubits)
  return _measure(_probs(statevector.half_state(angles, graph)), T, graph.n_qubits, shots, key)


def sample(angles, graph: Graph, shots: int, key, *, packed: bool = True,
           memory_limit_bytes: Optional[int] = None) -> jax.Array:
  """``shots`` computational-basis measurements of the QAOA state (``|psi|^2``, up to the
  rounding stated in the module docstring).  Costs ``shots`` shots.

  Args:
    angles: ``(2, p)`` float (row 0 gammas, row 1 betas); graph: one ``Graph``, ``N <= 32``.
    shots: Python ``int >= 1`` (static); key: a JAX PRNG key.
    packed: ``(shots,) uint32`` bitstrings (index of :func:`jqmeta.qaoa.cut_values`) if
      ``True``, else ``(shots, N)`` bool with column ``j`` = qubit ``j``.
    memory_limit_bytes: optional byte budget (:func:`sample_bytes` must fit).

  Example:
    >>> import jax, jax.numpy as jnp, networkx as nx
    >>> from jqmeta import graphs
    >>> g = graphs.from_networkx(nx.path_graph(2))
    >>> sample(jnp.zeros((2, 1)), g, 3, jax.random.key(1), packed=False).shape
    (3, 2)
  """
  angles, shots = _check(angles, graph, shots, key, limit=memory_limit_bytes)
  z, n = _sample(angles, graph, shots, key), graph.n_qubits
  return z if packed else (z[:, None] >> jnp.arange(n - 1, -1, -1, dtype=jnp.uint32)) & 1 > 0


@functools.partial(jax.jit, static_argnames="shots")
def _sample(angles, graph: Graph, shots: int, key) -> jax.Array:
  q = _probs(statevector.half_state(angles, graph))
  u = jax.random.uniform(key, (3, shots), q.dtype)  # block, entry, flip
  return _flip(_draw_half(q, u[:2]), u[2], graph.n_qubits)


def estimate_energy(angles, graph: Graph, shots: int, key, *,
                    memory_limit_bytes: Optional[int] = None):
  """Sample mean of the energy ``-cut(z)`` over ``shots`` measurements (unbiased for
  :func:`jqmeta.qaoa.energy`) and its standard error.  Costs ``shots`` shots.

  Args: as :func:`sample`, with ``shots >= 2`` (a standard error needs two).

  Returns: ``(mean, standard_error)``, scalars of the angles' dtype (``ddof=1``).

  Example:
    >>> import jax, jax.numpy as jnp, networkx as nx
    >>> from jqmeta import graphs
    >>> g = graphs.from_networkx(nx.complete_graph(3))  # uniform state: every cut 0 or 2
    >>> m, se = estimate_energy(jnp.zeros((2, 1)), g, 4000, jax.random.key(0))
    >>> bool(abs(m + 1.5) < 4 * se)
    True
  """
  angles, shots = _check(angles, graph, shots, key, min_shots=2, limit=memory_limit_bytes)
  m = _measure_qaoa(angles, graph, shots, key)
  return -m.mean, jnp.sqrt(m.var / shots)


class SampledCut(NamedTuple):
  """Best measured cut: ``cut`` ``()`` float, ``bitstring`` ``() uint32`` achieving it
  (as :func:`sample`), ``ratio`` ``()`` ``cut / max cut``
  (:func:`jqmeta.metrics.ratio_from_energy` of ``-cut``: 1 without a positive cut)."""

  cut: jax.Array
  bitstring: jax.Array
  ratio: jax.Array


def best_sampled_cut(angles, graph: Graph, shots: int, key, *, max_cut_value=None,
                     memory_limit_bytes: Optional[int] = None) -> SampledCut:
  """The best cut among ``shots`` measurements: what a hardware user takes home.

  Args: as :func:`sample` (the same key draws the same shots), and ``max_cut_value``:
    optional precomputed :func:`jqmeta.qaoa.max_cut` (else brute force).

  Returns:
    A :class:`SampledCut`; report ``ratio`` beside the expected ratio
    (:func:`jqmeta.qaoa.approximation_ratio`).  Costs ``shots`` shots.

  Example:
    >>> import jax, jax.numpy as jnp, networkx as nx
    >>> from jqmeta import graphs
    >>> g = graphs.from_networkx(nx.cycle_graph(4))
    >>> r = best_sampled_cut(jnp.array([[0.4], [0.3]]), g, 200, jax.random.key(0))
    >>> float(r.cut), float(r.ratio), int(r.bitstring) in (5, 10)  # 0101 or 1010
    (4.0, 1.0, True)
  """
  angles, shots = _check(angles, graph, shots, key, limit=memory_limit_bytes)
  m = _measure_qaoa(angles, graph, shots, key)
  mc = qaoa.max_cut(graph) if max_cut_value is None else jnp.asarray(max_cut_value)
  return SampledCut(m.best, m.best_z, metrics.ratio_from_energy(-m.best, mc).astype(m.best.dtype))


def _circuit_state(W_layers: jax.Array, betas: jax.Array, n: int) -> jax.Array:
  """Full ``(2**n,)`` state of a generalised QAOA circuit from ``|+>^n``: layer ``l`` is
  the phase ``exp(i cut_{W_l}(z))`` (``W_layers (p, n, n)``; ``gamma_l W`` for plain QAOA)
  then ``RX(2 betas[l, j])`` on each qubit ``j``.  Independent of the library's cores."""
  dt = validation.complex_dtype(W_layers)
  shape = tuple(2**g for g in cut.groups(n))

  def rx_first(psi, cs):  # RX on the leading qubit, which then moves to the end
    v = psi.reshape(2, -1)
    v = jnp.stack([cs[0] * v[0] + cs[1] * v[1], cs[1] * v[0] + cs[0] * v[1]])
    return v.T.reshape(-1), None

  def layer(psi, xs):
    F = [jnp.exp(1j * t.astype(dt)) for t in cut.cut_tables(xs[0], n)]
    psi = (psi.reshape(shape) * F[0][:, :, None] * F[1][:, None, :] * F[2][None]).reshape(-1)
    cs = jnp.stack([jnp.cos(xs[1]).astype(dt), -1j * jnp.sin(xs[1]).astype(dt)], axis=1)
    return lax.scan(rx_first, psi, cs)[0], None  # n rotations restore the qubit order

  return lax.scan(layer, jnp.full((2**n,), 2.0 ** (-n / 2), dt), (W_layers, betas))[0]


def _shifted(angles, graph: Graph, W, real, i):
  """``(W_layers, betas)`` of shifted circuit ``i`` of ``2 p (E + N)``: sign ``+`` for even
  ``i``, then layer and term (edge row ``e < E``, else qubit ``e - E``)."""
  n, E, p, dt = graph.n_qubits, graph.edges.shape[0], angles.shape[1], angles.dtype
  sign = (1 - 2 * (i % 2)).astype(dt)
  layer, term = (i // 2) // (E + n), (i // 2) % (E + n)
  at_layer = (jnp.arange(p) == layer).astype(dt)
  edges = graph.edges if E else jnp.zeros((1, 2), jnp.int32)
  u, v = edges[jnp.clip(term, 0, max(E - 1, 0))]
  unit = jnp.zeros((n, n), dt).at[u, v].add(1).at[v, u].add(1)
  edge_shift = jnp.where(term < E, sign * math.pi / 2, 0).astype(dt) * at_layer
  W_layers = angles[0][:, None, None] * W + edge_shift[:, None, None] * unit
  qubit = (jnp.arange(n) == term - E).astype(dt)
  return W_layers, angles[1][:, None] * real + (sign * math.pi / 4) * at_layer[:, None] * qubit


def _best(values: jax.Array, zs: jax.Array):
  return values[jnp.argmax(values)], zs[jnp.argmax(values)]


@functools.partial(jax.jit, static_argnames="shots")
def _shift(angles, graph: Graph, shots: Optional[int], key):
  """Parameter-shift gradient, shots used, and the best measured ``(cut, bitstring)``."""
  n, E, p, dt = graph.n_qubits, graph.edges.shape[0], angles.shape[1], angles.dtype
  W = cut.dense_weights(graph).astype(dt)
  T, real, count = cut.cut_tables(W, n), (jnp.arange(n) < graph.n_nodes).astype(dt), 2 * p * (E + n)

  def one(i):
    probs = _probs(_circuit_state(*_shifted(angles, graph, W, real, i), n))
    if shots is None:
      e = cut.probs_energy(probs.reshape(cut.cut_shape(T)), T)
      return e, jnp.asarray(-jnp.inf, dt), jnp.zeros((), jnp.uint32)
    m = _measure(probs[:2**(n - 1)], T, n, shots, jax.random.fold_in(key, i))
    return -m.mean, m.best, m.best_z

  batch = max(1, min(count, _MAP_AMPLITUDES // 2**n))
  vals, bests, zs = lax.map(one, jnp.arange(count), batch_size=batch)
  d = (vals[0::2] - vals[1::2]).reshape(p, E + n)
  grad = jnp.stack([d[:, :E] @ (graph.weights.astype(dt) / 2), d[:, E:] @ real])
  return grad, gradient_shots(graph, p, shots or 0, "shift"), _best(bests, zs)


def gradient_shots(graph: Graph, p: int, shots: int, gradient: str = "shift") -> jax.Array:
  """``() int32`` shots of one gradient estimate (what a hardware run would measure).

  ``"shift"``: ``2 p (E' + n) shots``, two circuits per layer and per edge of nonzero
  weight (``E'``, traced) or real qubit (``n``); ``"spsa"``: ``2 shots``.

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> int(gradient_shots(graphs.from_networkx(nx.cycle_graph(5)), 2, 100))  # 2*2*(5+5)*100
    4000
  """
  validation.check_choice("gradient", gradient, GRADIENTS)
  if gradient == "spsa":
    return jnp.asarray(2 * shots, jnp.int32)
  terms = jnp.sum(graph.weights != 0).astype(jnp.int32) + graph.n_nodes.astype(jnp.int32)
  return 2 * int(p) * int(shots) * terms


def parameter_shift_gradient(angles, graph: Graph, shots: Optional[int], key=None, *,
                             memory_limit_bytes: Optional[int] = None):
  """Energy gradient from shifted circuits, edge by edge and qubit by qubit.

  Derivation in this library's convention (``H_C = sum_e w_e (Z_u Z_v - 1) / 2``; layer
  ``exp(-i gamma_l H_C)`` then ``exp(-i beta_l sum_j X_j)``).  For a gate ``exp(-i theta
  P / 2)`` with ``P^2 = 1`` the energy is ``a + b cos(theta) + c sin(theta)``, so
  ``dE/dtheta = [E(theta + pi/2) - E(theta - pi/2)] / 2`` exactly.

  * gamma: ``exp(-i gamma_l H_C) = prod_e e^{i theta_le / 2} exp(-i theta_le Z_u Z_v / 2)``
    with ``theta_le = gamma_l w_e``.  ``Z_u Z_v`` has eigenvalues ``+-1`` whatever
    ``w_e`` (the weight sits in ``theta``), so for every real weight ``dE/dgamma_l =
    sum_e (w_e / 2) [E_le^+ - E_le^-]``, where ``E_le^+-`` adds ``exp(-+i pi/4 Z_u Z_v)``
    (the phase ``exp(+-i pi/2 [z_u != z_v])`` up to a global phase) to layer ``l``.
  * beta: ``RX(2 beta) = exp(-i (2 beta) X_j / 2)`` per qubit, so ``dE/dbeta_l = sum_j
    [E_lj^+ - E_lj^-]`` where ``E_lj^+-`` turns qubit ``j`` of layer ``l`` by ``+-pi/4``.

  The ``2 p (E + n)`` circuits run in ``lax.map`` batches on a per-qubit simulator (not the
  library's cores); the added gates commute with ``X^(x)n``, so each is sampled like
  :func:`sample`.  Cost in shots: ``2 p (E' + n) shots`` (:func:`gradient_shots`).

  Args: as :func:`sample`; ``shots`` per shifted circuit, or ``None``: the circuits'
    exact energies (0 shots; then exactly ``jax.grad(qaoa.energy)``, ``key`` unused).

  Returns: ``(gradient (2, p) float, shots_used () int32)``; unbiased with shots.

  Example:
    >>> import jax, jax.numpy as jnp, networkx as nx
    >>> from jqmeta import graphs, qaoa
    >>> g, a = graphs.from_networkx(nx.cycle_graph(4)), jnp.array([[0.4], [0.3]])
    >>> grad, used = parameter_shift_gradient(a, g, None)
    >>> bool(jnp.allclose(grad, jax.grad(qaoa.energy)(a, g), atol=1e-5)), int(used)
    (True, 0)
  """
  angles, shots = _check(angles, graph, shots, key, exact_ok=True, limit=memory_limit_bytes)
  grad, used, _ = _shift(angles, graph, shots, key)
  return grad, used


@functools.partial(jax.jit, static_argnames="shots")
def _spsa(angles, graph: Graph, shots: Optional[int], key, c):
  """SPSA gradient, shots used, and the best measured ``(cut, bitstring)``."""
  k_delta, k_measure = jax.random.split(key)
  delta = jax.random.rademacher(k_delta, angles.shape, angles.dtype)
  pair = jnp.stack([angles + c * delta, angles - c * delta])  # one batched simulation
  if shots is None:
    e = jax.vmap(lambda x: statevector.energy(x, graph))(pair)
    best = (jnp.asarray(-jnp.inf, angles.dtype), jnp.zeros((), jnp.uint32))
  else:
    m = jax.vmap(lambda x, k: _measure_qaoa(x, graph, shots, k))(
        pair, jax.random.split(k_measure, 2))
    e, best = -m.mean, _best(m.best, m.best_z)
  grad = ((e[0] - e[1]) / (2 * c)).astype(angles.dtype) * delta
  return grad, gradient_shots(graph, angles.shape[1], shots or 0, "spsa"), best


def spsa_gradient(angles, graph: Graph, shots: Optional[int], key, *, c=SPSA_C,
                  memory_limit_bytes: Optional[int] = None):
  """SPSA gradient estimate (Spall 1992): two evaluations whatever the depth.

  ``g = [E(a + c D) - E(a - c D)] / (2 c) * D`` with a Rademacher (``+-1``) ``(2, p)``
  perturbation ``D`` from ``key``; over ``D`` its mean is the gradient plus ``O(c^2)``
  (``E[D_i D_j] = delta_ij``).  Cost in shots: ``2 shots`` (two independent estimates).

  Args: as :func:`sample`; ``shots`` per evaluation or ``None`` (exact energies, 0
    shots); ``c`` the perturbation size ``> 0`` (may be traced).

  Returns: ``(gradient (2, p) float, shots_used () int32)``.

  Example:
    >>> import jax, jax.numpy as jnp, networkx as nx
    >>> from jqmeta import graphs
    >>> g = graphs.from_networkx(nx.cycle_graph(4))
    >>> grad, used = spsa_gradient(jnp.array([[0.4], [0.3]]), g, 100, jax.random.key(0))
    >>> grad.shape, int(used)
    ((2, 1), 200)
  """
  angles, shots = _check(angles, graph, shots, key, exact_ok=True, limit=memory_limit_bytes)
  validation.check_key(key)
  validation.check_real("c", c, low=0.0, low_open=True, traced_ok=True)
  grad, used, _ = _spsa(angles, graph, shots, key, c)
  return grad, used


class ShotsPhase2Result(NamedTuple):
  """Phase II under a shot budget; entry ``k`` is after ``k`` updates (0: the start; after
  the budget stops the run, entries repeat).  ``angles`` ``(steps + 1, 2, p)``;
  ``energies``, ``standard_errors`` ``(steps + 1,)``: the estimate at ``angles[k]``;
  ``exact_energies``: :func:`jqmeta.qaoa.energy` (reference, no shots); ``shots_used``
  ``(steps + 1,) int32`` cumulative (never above the budget); ``best_cuts``: best cut of
  every bitstring measured so far (estimates and gradient circuits); ``best_bitstring``
  ``() uint32`` achieving the last; ``n_steps`` ``() int32``.  ``vmap`` adds a batch axis."""

  angles: jax.Array
  energies: jax.Array
  standard_errors: jax.Array
  exact_energies: jax.Array
  shots_used: jax.Array
  best_cuts: jax.Array
  best_bitstring: jax.Array
  n_steps: jax.Array


_Carry = NamedTuple("_Carry", [(f, jax.Array) for f in (
    "angles", "opt_state", "energy", "se", "used", "best", "best_z", "n_steps", "done")])


def phase2_shots(angles0, graph: Graph, *, key, shots: int, shot_budget: int,
                 gradient: str = "shift", optimizer=None, steps: Optional[int] = None,
                 spsa_c=SPSA_C, memory_limit_bytes: Optional[int] = None
                 ) -> ShotsPhase2Result:
  """Phase II from ``angles0`` with shot-based gradients under a total shot budget.

  The start is measured once (``shots``); each update costs one gradient
  (:func:`gradient_shots`) plus one energy estimate at the new angles (``shots``), and is
  taken only if that whole cost fits what is left of ``shot_budget``.  A ``lax.scan`` of
  ``steps`` steps with a ``done`` mask: jittable (all but ``angles0``, ``graph``, ``key``
  static) and vmappable over ``(angles0, graph, key)``.

  Args:
    angles0, graph, key, shots: as :func:`sample` (``shots >= 2``, per estimate and per
      gradient circuit; ``key`` is split into one key per step).
    shot_budget: total shots, ``shots <= shot_budget < 2**31``.
    gradient: ``"shift"`` (:func:`parameter_shift_gradient`) or ``"spsa"``.
    optimizer: an ``optax.GradientTransformation``; default SGD with the paper's Phase II
      rate ``jqmeta.phase2.PHASE2_LR``.
    steps: scan length; default what the budget allows at the static cost per step (all
      ``E`` edge rows and ``N`` qubits: a padded graph may leave shots unused).
    spsa_c, memory_limit_bytes: SPSA perturbation size (constant); byte budget.

  Returns: a :class:`ShotsPhase2Result`.

  Example:
    >>> import jax, jax.numpy as jnp, networkx as nx, optax
    >>> from jqmeta import graphs
    >>> g = graphs.from_networkx(nx.cycle_graph(4))
    >>> r = phase2_shots(jnp.array([[0.2], [0.2]]), g, key=jax.random.key(0), shots=100,
    ...                  shot_budget=2000, gradient="spsa", optimizer=optax.sgd(0.05))
    >>> int(r.n_steps), int(r.shots_used[-1])  # (2000 - 100) // 300 = 6 updates
    (6, 1900)
  """
  import optax  # pylint: disable=import-outside-toplevel  # keeps `import jqmeta.shots` light
  from jqmeta import phase2  # pylint: disable=import-outside-toplevel  # imports optax

  angles0, shots = _check(angles0, graph, shots, key, min_shots=2, limit=memory_limit_bytes)
  budget = validation.check_int("shot_budget", shot_budget, shots)
  if budget >= 2**31:
    raise ValueError(f"shot_budget must be below 2**31 (int32 counts), got {budget}")
  validation.check_choice("gradient", gradient, GRADIENTS)
  validation.check_real("spsa_c", spsa_c, low=0.0, low_open=True, traced_ok=True)
  p = angles0.shape[1]
  if steps is None:
    per_grad = 2 if gradient == "spsa" else 2 * p * (graph.max_edges + graph.n_qubits)
    steps = (budget - shots) // ((per_grad + 1) * shots)
  steps = validation.check_int("steps", steps, 0)
  opt = optax.sgd(phase2.PHASE2_LR) if optimizer is None else optimizer
  if not isinstance(opt, optax.GradientTransformation):
    raise TypeError(f"optimizer must be an optax.GradientTransformation, got {type(opt).__name__}")
  grad_fn = (lambda a, k: _spsa(a, graph, shots, k, spsa_c)) if gradient == "spsa" else (
      lambda a, k: _shift(a, graph, shots, k))
  step = _make_step(graph, shots, budget, gradient_shots(graph, p, shots, gradient) + shots,
                    grad_fn, opt)
  keys = jax.random.split(key, steps + 1)
  m = _measure_qaoa(angles0, graph, shots, keys[0])
  init = _Carry(angles0, opt.init(angles0), -m.mean, jnp.sqrt(m.var / shots),
                jnp.asarray(shots, jnp.int32), m.best, m.best_z, jnp.zeros((), jnp.int32),
                jnp.zeros((), bool))
  final, hist = lax.scan(step, init, keys[1:], length=steps)
  first = (init.angles, init.energy, init.se, init.used, init.best)
  a, e, se, used, best = (jnp.concatenate([f[None], h]) for f, h in zip(first, hist))
  exact = lax.map(lambda x: statevector.energy(x, graph), a)
  return ShotsPhase2Result(a, e, se, exact, used, best, final.best_z, final.n_steps)


def _make_step(graph: Graph, shots: int, budget: int, cost, grad_fn, opt):
  """The scan body of :func:`phase2_shots`: one update if its cost fits the budget."""
  import optax  # pylint: disable=import-outside-toplevel

  def update(c: _Carry, key) -> _Carry:
    k_grad, k_energy = jax.random.split(key)
    g, _, (g_best, g_z) = grad_fn(c.angles, k_grad)
    upd, opt_state = opt.update(g, c.opt_state, c.angles)
    a = optax.apply_updates(c.angles, upd).astype(c.angles.dtype)
    m = _measure_qaoa(a, graph, shots, k_energy)
    best, best_z = _best(jnp.stack([c.best, g_best, m.best]),
                         jnp.stack([c.best_z, g_z, m.best_z]))
    return _Carry(a, opt_state, -m.mean, jnp.sqrt(m.var / shots), c.used + cost, best,
                  best_z, c.n_steps + 1, c.done)

  def step(c: _Carry, key):
    fits = jnp.logical_not(c.done) & (c.used + cost <= budget)
    c = lax.cond(fits, update, lambda c, _: c._replace(done=jnp.asarray(True)), c, key)
    return c, (c.angles, c.energy, c.se, c.used, c.best)

  return step
