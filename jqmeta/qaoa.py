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

import math
import os
from typing import Optional

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

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
]

MEMORY_LIMIT_ENV = "JQMETA_MEMORY_LIMIT"
_MEMORY_FRACTION = 0.5  # default share of device memory one problem may claim
_METHODS = ("statevector", "analytic", "auto")


# ----------------------------------------------------------------------------- guards


def memory_limit(limit: Optional[int] = None) -> int:
  """Byte budget for one statevector / brute-force problem.

  Resolution order: the explicit ``limit``; the environment variable
  ``JQMETA_MEMORY_LIMIT`` (bytes); else half the memory of the default device
  (``bytes_limit`` on accelerators, physical RAM on CPU).

  Args:
    limit: optional positive ``int`` number of bytes (wins over everything else).

  Returns:
    The budget as a Python ``int`` (bytes).

  Example:
    >>> memory_limit(2**30)  # an explicit limit wins over the environment and device
    1073741824
  """
  if limit is not None:
    if int(limit) <= 0:
      raise ValueError(f"memory limit must be a positive number of bytes, got {limit}")
    return int(limit)
  env = os.environ.get(MEMORY_LIMIT_ENV)
  if env:
    try:
      value = int(float(env))
    except ValueError as e:
      raise ValueError(f"{MEMORY_LIMIT_ENV}={env!r} is not a number of bytes") from e
    if value <= 0:
      raise ValueError(f"{MEMORY_LIMIT_ENV} must be positive, got {value}")
    return value
  return int(_MEMORY_FRACTION * _device_memory())


def _device_memory() -> int:
  try:
    stats = jax.local_devices()[0].memory_stats()
    if stats and stats.get("bytes_limit"):
      return int(stats["bytes_limit"])
  except Exception:  # pylint: disable=broad-except  # CPU backends may not report stats.
    pass
  try:
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
  except (ValueError, OSError, AttributeError):
    return 8 * 2**30


def statevector_bytes(n_qubits: int, p: int = 1, dtype=jnp.complex64) -> int:
  """Estimated peak bytes of one energy+gradient evaluation on ``n_qubits``.

  The simulator keeps only the bit-flip-symmetric half of the state (``2**(N-1)``
  amplitudes) and the adjoint-method gradient keeps no per-layer states: the peak is
  the backward pass, which holds the state, the co-state, both again as the output of a
  GEMM pass (or of a Hadamard transform: same size as real/imaginary planes), the real
  cut cotangent and temporaries -- budgeted as 8 complex vectors of length
  ``2**(N-1)`` -- plus ``3 p`` phase tables of at most ``2**ceil(2N/3)`` entries.  XLA's own count (``compiled.memory_analysis()``,
  reported by ``benchmarks/scaling.py``) stays below this.

  Args:
    n_qubits: statevector qubit count ``N``.
    p: QAOA depth.
    dtype: complex statevector dtype (complex64 by default; complex128 doubles it).
      A real dtype is read as its complex counterpart (float64 -> complex128).

  Returns:
    Python ``int`` bytes.

  Example:
    >>> statevector_bytes(10)  # 2**9 * 8 * 8 + 3 * 1 * 2**7 * 8
    35840
    >>> statevector_bytes(10, dtype=jnp.float64) == 2 * statevector_bytes(10)
    True
  """
  dt = jnp.dtype(dtype)
  itemsize = dt.itemsize if jnp.issubdtype(dt, jnp.complexfloating) else 2 * dt.itemsize
  n = int(n_qubits)
  return (2**max(n - 1, 0)) * itemsize * 8 + 3 * int(p) * 2**(-(-2 * n // 3)) * itemsize


def _guard(n_qubits: int, p: int, dtype, limit: Optional[int], what: str) -> None:
  need = statevector_bytes(n_qubits, p, dtype)
  budget = memory_limit(limit)
  if need > budget:
    raise ValueError(
        f"{what} on {n_qubits} qubits needs about {need / 2**30:.3g} GiB "
        f"(2**{n_qubits} amplitudes), over the memory limit of {budget / 2**30:.3g} GiB; "
        f"use fewer qubits, the analytic p=1 path for unweighted graphs "
        f"(method='analytic'), or raise the limit (memory_limit=..., or ${MEMORY_LIMIT_ENV})")


def check_angles(angles) -> jax.Array:
  """Validates QAOA angles and returns them as a float array of shape ``(2, p)``.

  Raises ``TypeError`` for complex/non-numeric input and ``ValueError`` for any shape
  other than ``(2, p)`` with ``p >= 1`` (a flat ``(2p,)`` vector must be reshaped by
  the caller: ``angles.reshape(2, p)``).

  Args:
    angles: ``(2, p)`` real array-like (list, numpy or JAX; int or float).

  Returns:
    ``(2, p)`` JAX float array: float input keeps its dtype, integer input becomes the
    default float (float32, float64 with x64 enabled).

  Example:
    >>> a = check_angles([[0.1, 0.2], [0.3, 0.4]])
    >>> a.shape, a.dtype
    ((2, 2), dtype('float32'))
  """
  if isinstance(angles, (list, tuple)):
    angles = np.asarray(angles)
  if not hasattr(angles, "shape") or not hasattr(angles, "dtype"):
    raise TypeError(f"angles must be an array of shape (2, p), got {type(angles).__name__}")
  if jnp.issubdtype(angles.dtype, jnp.complexfloating) or not (
      jnp.issubdtype(angles.dtype, jnp.floating) or jnp.issubdtype(angles.dtype, jnp.integer)):
    raise TypeError(f"angles must be real (float), got dtype {angles.dtype}")
  if angles.ndim != 2 or angles.shape[0] != 2 or angles.shape[1] < 1:
    raise ValueError(
        f"angles must have shape (2, p) with p >= 1 (row 0 gammas, row 1 betas), "
        f"got shape {tuple(angles.shape)}")
  angles = jnp.asarray(angles)
  if not jnp.issubdtype(angles.dtype, jnp.floating):
    angles = angles.astype(jnp.result_type(float))
  return angles


def _check_graph(graph) -> None:
  if not isinstance(graph, Graph):
    raise TypeError(f"graph must be a jqmeta.graphs.Graph, got {type(graph).__name__}; "
                    "use graphs.from_networkx(G)")
  if graph.edges.ndim != 2:
    raise ValueError(
        f"expected ONE graph (edges of shape (E, 2)), got edges of shape {graph.edges.shape}; "
        "for a batch use jax.vmap(fn, in_axes=(0, 0))(angles, graphs)")


# ------------------------------------------------------------------ the cut diagonal


def _bits(k: int, dtype) -> jax.Array:
  """(2**k, k) bits of every index, column j = qubit j (MSB first)."""
  idx = np.arange(2**k, dtype=np.int64)[:, None]
  return jnp.asarray((idx >> np.arange(k - 1, -1, -1)) & 1, dtype)


def _dense_weights(graph: Graph) -> jax.Array:
  N = graph.n_qubits
  u, v = graph.edges[:, 0], graph.edges[:, 1]
  W = jnp.zeros((N, N), graph.weights.dtype)
  return W.at[u, v].add(graph.weights).at[v, u].add(graph.weights)


def _cut_blocks(graph: Graph, W: jax.Array, m: int, rows: Optional[slice] = None):
  """Pieces of cut(z) for z = (hi, lo): hi = qubits [0, m), lo = qubits [m, N).

  ``cut(x) = d.x - x^T W x`` with ``d`` the weighted degrees, so
  ``cut[h, l] = c_hi[h] + c_lo[l] - 2 (B_hi W_hl B_lo^T)[h, l]``.
  """
  N = graph.n_qubits
  dt = W.dtype
  d = W.sum(axis=1)
  Bh = _bits(m, dt) if rows is None else _bits(m, dt)[rows]
  Bl = _bits(N - m, dt)
  Whh, Whl, Wll = W[:m, :m], W[:m, m:], W[m:, m:]
  c_hi = Bh @ d[:m] - jnp.sum((Bh @ Whh) * Bh, axis=1)
  c_lo = Bl @ d[m:] - jnp.sum((Bl @ Wll) * Bl, axis=1)
  return c_hi, c_lo, Bh @ Whl, Bl


def _groups(N: int) -> tuple[int, int, int]:
  """Qubit groups A = [0, a), B = [a, a + b), C = the rest (as equal as possible)."""
  a = (N + 2) // 3
  b = (N - a + 1) // 2
  return a, b, N - a - b


def _cut_tables(W: jax.Array, N: int):
  """Three real tables whose broadcast sum is the cut diagonal.

  With qubits split into groups A, B, C (:func:`_groups`) and ``z = (x, y, u)``,
  ``cut(z) = d.z - z^T W z`` splits exactly into
  ``T_ab[x, y] + T_ac[x, u] + T_bc[y, u]``: each group's own cut and the
  cross terms ``-2 x^T W_AB y`` etc.  Each table has at most ``2**(2N/3)`` entries,
  so a layer's phase ``exp(i gamma cut)`` costs three small cos/sin tables and two
  complex products per amplitude instead of one cos and one sin per amplitude
  (XLA:CPU's cos/sin cost ~8 ns per element).

  Returns ``(T_ab (2**a, 2**b), T_ac (2**a, 2**c), T_bc (2**b, 2**c))``, W's dtype.
  """
  ga, gb, _ = _groups(N)
  dt = W.dtype
  d = W.sum(axis=1)
  sa, sb, sc = slice(0, ga), slice(ga, ga + gb), slice(ga + gb, N)
  Ba, Bb, Bc = _bits(ga, dt), _bits(gb, dt), _bits(N - ga - gb, dt)

  def own(B, s):
    return B @ d[s] - jnp.sum((B @ W[s, s]) * B, axis=1)

  t_ab = own(Ba, sa)[:, None] + own(Bb, sb)[None, :] - 2.0 * (Ba @ W[sa, sb]) @ Bb.T
  t_ac = own(Bc, sc)[None, :] - 2.0 * (Ba @ W[sa, sc]) @ Bc.T
  t_bc = -2.0 * (Bb @ W[sb, sc]) @ Bc.T
  return t_ab, t_ac, t_bc


def _cut3(T) -> jax.Array:
  """``(2**a, 2**b, 2**c)`` cut diagonal from the tables (fuses into its consumer)."""
  t_ab, t_ac, t_bc = T
  return t_ab[:, :, None] + t_ac[:, None, :] + t_bc[None, :, :]


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
  _check_graph(graph)
  return _cut3(_cut_tables(_dense_weights(graph), graph.n_qubits)).reshape(-1)


# ---------------------------------------------------------------------- statevector
#
# Two exact cores share the cut tables and the bit-flip symmetry below: this one
# (complex block GEMMs, "kron"), used above ``_WHT_MAX_QUBITS`` qubits, and the
# Walsh-Hadamard core further down (real planes, the default up to that size).
#
# Layout: the state is a flat ``(2**N,)`` complex vector.  A layer is
#   * the phase: ``psi *= F_ab[x, y] F_ac[x, u] F_bc[y, u]`` with ``F = exp(i gamma T)``
#     (tables from :func:`_cut_tables`, computed for all layers before the layer scan so
#     no transcendental runs per amplitude inside a loop), then
#   * the mixer ``RX(2 beta)`` on every qubit, applied ``_BLOCK`` qubits at a time: the
#     state viewed as ``(2**k, 2**(N-k))`` is multiplied by the ``(2**k, 2**k)`` matrix
#     ``RX^(x)k`` and written transposed, which rotates those qubits to the bottom; a
#     ``lax.scan`` over ``N // k`` blocks (plus one remainder block) restores the order.
#     One small complex GEMM per block replaces ``k`` butterfly passes (measured on a
#     2-core CPU: n=20 mixer 49 -> 18 ms; compile stays flat in n and p).

_BLOCK = 4


def _eq_table(k: int) -> np.ndarray:
  """``(2**k, 2**k, k)`` bool: bit j of row index equals bit j of column index."""
  bits = (np.arange(2**k)[:, None] >> np.arange(k - 1, -1, -1)) & 1
  return bits[:, None, :] == bits[None, :, :]


def _single_flip(k: int) -> np.ndarray:
  """``(2**k, 2**k)`` int: j where the indices differ in exactly bit j, else -1."""
  idx = np.arange(2**k)
  diff = idx[:, None] ^ idx[None, :]
  out = np.full((2**k, 2**k), -1)
  for j in range(k):
    out[diff == (1 << (k - 1 - j))] = j
  return out


def _kron_rx(c: jax.Array, s: jax.Array, sign: float) -> jax.Array:
  """``(2**k, 2**k)`` kron of ``[[c_j, sign i s_j], [sign i s_j, c_j]]`` over ``j < k``."""
  k = c.shape[0]
  cdt = jnp.complex128 if c.dtype == jnp.float64 else jnp.complex64
  off = lax.complex(jnp.zeros_like(s), sign * s)
  return jnp.prod(jnp.where(_eq_table(k), c.astype(cdt), off), axis=-1)


def _x_sum(m: jax.Array, dtype) -> jax.Array:
  """``(2**k, 2**k)`` matrix of ``sum_j m_j X_j`` on a block of ``k`` qubits."""
  flip = _single_flip(m.shape[0])
  return jnp.where(flip >= 0, m[np.maximum(flip, 0)], 0).astype(dtype)


def _rotate_apply(M: jax.Array, psi: jax.Array) -> jax.Array:
  """``M`` on the top ``k`` qubits of flat ``psi``; those qubits move to the bottom."""
  x = psi.reshape(M.shape[0], -1)
  return jnp.einsum("ab,bz->za", M, x).reshape(-1)


def _blocks(N: int) -> tuple[int, int, int]:
  """``(k, N // k, N % k)``: 4-qubit blocks, or 3 when that avoids a remainder block
  (fewer ops: at n = 9 energy+grad takes 144 us with k = 3 vs 177 us with 4 + 1)."""
  k = min(_BLOCK, N)
  if N % k and N % 3 == 0:
    k = 3
  return k, N // k, N % k


def _block_scan(fn, carry, *per_qubit: jax.Array):
  """``carry = fn(carry, *block_slices)`` over the qubit blocks of :func:`_blocks`.

  ``per_qubit`` are ``(N,)`` arrays; full blocks run in a ``lax.scan`` (the program
  does not grow with ``N``), then the remainder block, if any.
  """
  n = per_qubit[0].shape[0]
  if n == 0:
    return carry
  k, n_full, r = _blocks(n)
  xs = tuple(v[:n_full * k].reshape(n_full, k) for v in per_qubit)
  carry, _ = lax.scan(lambda acc, x: (fn(acc, *x), None), carry, xs)
  if r:
    carry = fn(carry, *(v[n_full * k:] for v in per_qubit))
  return carry


def _mixer(psi: jax.Array, c: jax.Array, s: jax.Array) -> jax.Array:
  """``RX(2 beta)`` on every qubit: ``psi (2**N,)``, per-qubit ``c, s (N,)``."""
  return _block_scan(lambda v, cq, sq: _rotate_apply(_kron_rx(cq, sq, -1.0), v), psi, c, s)


def _unmix(psi, lam, c, s, m):
  """Undo the mixer on ``psi`` and ``lam`` together; also ``sum_q m_q Im <lam|X_q|psi>``.

  ``X_q`` commutes with every ``RX``, so each block's ``<lam|sum_j X_j|psi>`` can be
  read at the block's input: one GEMM with ``[M; G]`` (``G = sum_j m_j X_j``) gives
  the undone block and ``G psi`` together, with no extra pass over memory.
  """

  def block(carry, cq, sq, mq):
    psi, lam, acc = carry
    d = 2**cq.shape[0]
    x, y = psi.reshape(d, -1), lam.reshape(d, -1)
    M = _kron_rx(cq, sq, 1.0)
    mg = jnp.einsum("ab,bz->za", jnp.concatenate([M, _x_sum(mq, x.dtype)]), x)
    acc = acc + jnp.imag(jnp.sum(jnp.conj(y.T) * mg[:, d:]))
    return mg[:, :d].reshape(-1), jnp.einsum("ab,bz->za", M, y).reshape(-1), acc

  return _block_scan(block, (psi, lam, jnp.zeros((), c.dtype)), c, s, m)


# Bit-flip symmetry: |+>^N, the cut diagonal (cut(z) = cut(~z)) and every RX commute
# with X^(x)N, so psi[~z] = psi[z] throughout.  The simulator keeps only the half with
# qubit 0 = 0, scaled by sqrt(2) so it has unit norm (every inner product below then
# equals its full-space value).  On that half, RX on qubit 0 pairs phi[r] with
# phi[~r] = flip(phi)[r]; the other qubits pair within the half as usual.  Half the
# memory and half the work of the full state, exactly.


def _mixer_sym(phi: jax.Array, c: jax.Array, s: jax.Array) -> jax.Array:
  """The mixer on the symmetric half ``phi (2**(N-1),)``; ``c, s (N,)``."""
  phi = c[0] * phi + lax.complex(jnp.zeros_like(s[0]), -s[0]) * jnp.flip(phi)
  return _mixer(phi, c[1:], s[1:])


def _unmix_sym(phi, lam, c, s, m):
  """:func:`_unmix` on symmetric halves (qubit 0 by the flip pairing)."""
  phi, lam, acc = _unmix(phi, lam, c[1:], s[1:], m[1:])
  acc = acc + m[0] * jnp.imag(jnp.vdot(lam, jnp.flip(phi)))
  isq = lax.complex(jnp.zeros_like(s[0]), s[0])
  return c[0] * phi + isq * jnp.flip(phi), c[0] * lam + isq * jnp.flip(lam), acc


def _mixer_cs(beta: jax.Array, real: jax.Array):
  """Per-qubit (cos, sin) of beta; padded qubits get the identity (1, 0)."""
  c = jnp.where(real, jnp.cos(beta), jnp.ones_like(beta))
  s = jnp.where(real, jnp.sin(beta), jnp.zeros_like(beta))
  return c, s


def _layer_tables(angles: jax.Array, T, real: jax.Array, sign: float = 1.0):
  """Per-layer phase tables ``exp(sign i gamma_l T)`` and mixer ``(c, s)``: ``(p, ...)``."""
  g = sign * angles[0]
  F = tuple(lax.complex(jnp.cos(g[:, None, None] * t), jnp.sin(g[:, None, None] * t)) for t in T)
  c, s = jax.vmap(_mixer_cs, in_axes=(0, None))(angles[1], real)
  return F, c, s


def _apply_phase(psi: jax.Array, F) -> jax.Array:
  f_ab, f_ac, f_bc = F
  shape = (f_ab.shape[0], f_ab.shape[1], f_ac.shape[1])
  return (psi.reshape(shape) * f_ab[:, :, None] * f_ac[:, None, :] * f_bc[None, :, :]).reshape(-1)


def _run(angles: jax.Array, T, real: jax.Array) -> jax.Array:
  """Final state for ``angles (2, p)``, cut tables ``T``, ``real (N,)`` qubit mask."""
  N = real.shape[0]
  cdt = jnp.complex128 if angles.dtype == jnp.float64 else jnp.complex64
  psi0 = jnp.full((2**(N - 1),), 1.0 / math.sqrt(2**(N - 1)), cdt)
  F, c, s = _layer_tables(angles, T, real)
  psi, _ = lax.scan(lambda v, xs: (_mixer_sym(_apply_phase(v, xs[0]), xs[1], xs[2]), None),
                    psi0, (F, c, s))
  return psi


def _marginals(x: jax.Array):
  """The three 2-D marginals of a 3-D array, as dot products with ones.

  Dots, unlike reduces, are not merged by XLA's simplifier into one long float32
  accumulation chain, so every sum below is short (measured at n = 12: relative
  energy error 1e-6 -> 1e-7, and batched == unbatched to that level).
  """
  ones = [jnp.ones((d,), x.dtype) for d in x.shape]
  return (jnp.einsum("xyu,u->xy", x, ones[2]), jnp.einsum("xyu,y->xu", x, ones[1]),
          jnp.einsum("xyu,x->yu", x, ones[0]))


def _cut_weighted_sum(x: jax.Array, T, marginals=None) -> jax.Array:
  """``sum(x * cut)`` for ``x`` shaped like the cut (``T``: the three cut tables)."""
  m = _marginals(x) if marginals is None else marginals
  return sum(jnp.vdot(t.reshape(-1), mt.reshape(-1)) for t, mt in zip(T, m))


def _cut_shape(T) -> tuple[int, int, int]:
  return T[0].shape[0], T[0].shape[1], T[1].shape[1]


def _probs_energy(probs: jax.Array, T) -> jax.Array:
  """``-sum(probs * cut) / sum(probs)`` for ``probs`` shaped like the cut."""
  # Dividing by the norm cancels the systematic drift of float32 cos^2 + sin^2 != 1
  # through the mixer rotations (measured: 2e-5 -> ~1e-6 absolute at |E| ~ 35, n = 13).
  m = _marginals(probs)
  return -_cut_weighted_sum(probs, T, m) / jnp.vdot(m[0].reshape(-1), jnp.ones_like(m[0]).reshape(-1))


def _expectation(psi: jax.Array, T) -> jax.Array:
  return _probs_energy((jnp.real(psi)**2 + jnp.imag(psi)**2).reshape(_cut_shape(T)), T)


@jax.custom_vjp
def _sv_energy(angles: jax.Array, T, real: jax.Array) -> jax.Array:
  return _expectation(_run(angles, T, real), T)


def _sv_energy_fwd(angles, T, real):
  psi = _run(angles, T, real)
  return _expectation(psi, T), (angles, T, real, psi)


def _sv_energy_bwd(res, e_bar):
  """Adjoint-method gradient: walk the layers backwards with two states.

  With ``E = <psi|H|psi>``, ``H = -diag(cut)`` and ``lam = H psi``, undoing layer ``l``
  gives ``dE/dbeta_l = 2 Im sum_q <lam|X_q|psi>`` (accumulated block by block while
  the mixer is undone) and ``dE/dgamma_l = -2 Im <lam|cut|psi>`` after the mixer is
  undone; ``dE/dcut`` collects ``-2 gamma_l Im(conj(lam) psi)`` per layer plus the
  direct ``-|psi|^2`` and is reduced onto the three cut tables.  Memory stays at a few
  states whatever ``p``; no per-layer residuals.
  """
  angles, T, real, psi = res
  rdt = angles.dtype
  cut = _cut3(T)
  shape = cut.shape
  lam = (-cut * psi.reshape(shape)).reshape(-1)
  cut_bar0 = -(jnp.real(psi) ** 2 + jnp.imag(psi) ** 2).reshape(shape)
  F, c, s = _layer_tables(angles, T, real, sign=-1.0)
  m = real.astype(rdt)

  def layer_back(carry, xs):
    psi, lam, cut_bar = carry
    gamma, F, cq, sq = xs
    psi, lam, acc = _unmix_sym(psi, lam, cq, sq, m)
    w = jnp.imag(jnp.conj(lam) * psi).reshape(shape)
    g_gamma = -2.0 * _cut_weighted_sum(w, T)
    cut_bar = cut_bar - 2.0 * gamma * w
    return (_apply_phase(psi, F), _apply_phase(lam, F), cut_bar), (g_gamma, 2.0 * acc)

  (_, _, cut_bar), (g_gamma, g_beta) = lax.scan(
      layer_back, (psi, lam, cut_bar0), (angles[0], F, c, s), reverse=True)
  grad = jnp.stack([g_gamma, g_beta]).astype(rdt)
  cb = e_bar * cut_bar
  T_bar = tuple(x.astype(t.dtype) for x, t in zip((cb.sum(2), cb.sum(1), cb.sum(0)), T))
  return e_bar * grad, T_bar, None


_sv_energy.defvjp(_sv_energy_fwd, _sv_energy_bwd)


# ------------------------------------------------------- Walsh-Hadamard core (N <= 18)
#
# The mixer is diagonal in the Hadamard basis: exp(-i beta sum_j X_j) =
# H^(x)N diag(exp(-i beta sum_j (1 - 2 y_j))) H^(x)N.  On the symmetric half (qubit 0
# fixed to 0, see above) the full transform reduces to the UNNORMALISED Walsh-Hadamard
# transform ``W`` on the other N - 1 qubits, with qubit 0's Hadamard bit equal to the
# parity of the rest:
#   mixer(phi) = W (D * W phi),   D(y) = exp(-i beta (n - 2 k(y))) / 2**(N-1),
#   k(y) = popcount(y) rounded up to even  (padded qubits masked out of y).
# ``W`` is real and the same for every graph, so the state is kept as two real planes
# (re, im) and each block of ``W`` is one real GEMM ``x @ H_k`` over the whole batch
# (vmap folds the graph axis into the GEMM rows).  The state tensor is shaped
# ``(2**k_1, ..., 2**k_r)`` (blocks of <= 6 qubits); each GEMM contracts the last axis
# and the next block is brought last by a transpose (one copy per block boundary; the
# transposes back fuse into the elementwise phase and D passes).  Measured on a 2-core
# CPU (energy + gradient, p = 3, with :func:`_cos_sin`): n = 12 0.78 -> 0.48 ms per graph,
# n = 14 3.7 -> 1.5 ms, n = 18 51 -> 37 ms; from n = 20 the extra passes cost more than
# the real arithmetic saves (180 vs 250 ms), so larger N keeps the complex block-GEMM
# core above.  Storing per-layer states instead of undoing the layers was measured no
# faster at n = 12 (the stacked residual writes cost what the saved transforms gained).

_WHT_MAX_QUBITS = 18
_WHT_BLOCK = 6


def _wht_shape(n_rest: int) -> tuple[int, ...]:
  """State tensor shape for ``n_rest`` qubits: ``ceil(n_rest / 6)`` near-equal blocks."""
  if n_rest == 0:
    return ()
  nb = -(-n_rest // _WHT_BLOCK)
  return tuple(2**(n_rest // nb + (i < n_rest % nb)) for i in range(nb))


def _hadamard(d: int, dtype) -> np.ndarray:
  """``(d, d)`` unnormalised Sylvester-Hadamard matrix, ``d`` a power of two."""
  h = np.ones((1, 1))
  while h.shape[0] < d:
    h = np.kron(h, [[1.0, 1.0], [1.0, -1.0]])
  return h.astype(dtype)


def _wht(x: jax.Array) -> jax.Array:
  """Unnormalised Walsh-Hadamard transform of ``x`` shaped ``(2**k_1, ..., 2**k_r)``.

  One GEMM per axis on the LAST axis (``x @ H``: the layout XLA:CPU's GEMM takes without
  a copy); the next axis is brought last by a transpose, and the final transpose back
  to the input order is left for XLA to fuse into the consumer.
  """
  r = x.ndim
  at = list(range(r))  # at[i] = input axis now at position i
  for axis in reversed(range(r)):
    pos = at.index(axis)
    if pos != r - 1:
      order = [i for i in range(r) if i != pos] + [pos]
      x = jnp.transpose(x, order)
      at = [at[i] for i in order]
    x = x @ _hadamard(x.shape[-1], x.dtype)
  return jnp.transpose(x, [at.index(i) for i in range(r)])


def _cmul(x, d):
  """``x * d`` on (re, im) plane pairs."""
  (xr, xi), (dr, di) = x, d
  return xr * dr - xi * di, xr * di + xi * dr


def _mixer_index(real: jax.Array, shape) -> jax.Array:
  """``k(y)`` of the Hadamard-domain diagonal, int32, shaped like the state tensor."""
  n_rest = real.shape[0] - 1
  weights = jnp.asarray(2**np.arange(n_rest - 1, -1, -1), jnp.int32)
  mask = jnp.sum(jnp.where(real[1:], weights, 0))
  k = lax.population_count(lax.iota(jnp.int32, 2**n_rest) & mask)
  return (k + (k & 1)).reshape(shape)


def _mixer_diag(beta: jax.Array, real: jax.Array):
  """``(N + 1,)`` tables over ``k``: ``D`` as (re, im) and the generator ``n - 2k``."""
  N = real.shape[0]
  g = jnp.sum(real).astype(beta.dtype) - 2.0 * jnp.arange(N + 1, dtype=beta.dtype)
  scale = 0.5**(N - 1)
  return (scale * jnp.cos(beta * g), -scale * jnp.sin(beta * g)), g


def _phase_planes(x, F, shape):
  """``x * F_ab F_ac F_bc`` on planes; ``F`` = three (cos, sin) table pairs."""
  (ac, as_), (bc, bs), (cc, cs) = F
  f = _cmul(_cmul((ac[:, :, None], as_[:, :, None]), (bc[:, None, :], bs[:, None, :])),
            (cc[None], cs[None]))
  gshape = (ac.shape[0], ac.shape[1], bc.shape[1])
  out = _cmul((x[0].reshape(gshape), x[1].reshape(gshape)), f)
  return out[0].reshape(shape), out[1].reshape(shape)


def _cos_sin(x: jax.Array):
  """``(cos x, sin x)``; float32 by a vectorised polynomial, other dtypes by ``jnp``.

  XLA:CPU evaluates float32 cos and sin one element at a time (~8 ns each, measured),
  which made the per-layer phase tables a tenth of an n = 12 energy+gradient.  This is
  Cody-Waite reduction by pi/2 (three-part constant) and Cephes' single-precision
  minimax polynomials on ``[-pi/4, pi/4]``: max abs error 1e-7 against float64 for
  ``|x| <= 1e4`` (XLA's: 3e-8) and < 1e-6 up to 6e4, where float32 arguments are
  themselves spaced 4e-3 apart; tested in ``test_cos_sin_accuracy``.
  """
  if x.dtype != jnp.float32:
    return jnp.cos(x), jnp.sin(x)
  f = np.float32
  j = jnp.round(x * f(2 / np.pi))
  r = x - j * f(1.5703125) - j * f(4.837512969970703125e-4) - j * f(7.54978995489188216e-8)
  z = r * r
  s = r + r * z * (f(-1.6666654611e-1) + z * (f(8.3321608736e-3) + z * f(-1.9515295891e-4)))
  c = f(1) - f(0.5) * z + z * z * (
      f(4.166664568298827e-2) + z * (f(-1.388731625493765e-3) + z * f(2.443315711809948e-5)))
  q = j.astype(jnp.int32) & 3  # quadrant
  cos = jnp.where(q == 0, c, jnp.where(q == 1, -s, jnp.where(q == 2, -c, s)))
  sin = jnp.where(q == 0, s, jnp.where(q == 1, c, jnp.where(q == 2, -s, -c)))
  return cos, sin


def _wht_setup(angles: jax.Array, T, real: jax.Array):
  """Shapes, ``k`` index, phase tables ``(p, ...)`` and mixer tables ``(p, N + 1)``."""
  shape = _wht_shape(real.shape[0] - 1)
  g = angles[0][:, None, None]
  F = tuple(_cos_sin(g * t) for t in T)
  D, gen = jax.vmap(_mixer_diag, in_axes=(0, None))(angles[1], real)
  return shape, _mixer_index(real, shape), F, D, gen


def _wht_run(angles: jax.Array, T, real: jax.Array, setup=None):
  """Final symmetric half as (re, im) planes shaped ``_wht_shape(N - 1)``."""
  shape, k, F, D, _ = _wht_setup(angles, T, real) if setup is None else setup
  amp = 1.0 / math.sqrt(2**(real.shape[0] - 1))
  x0 = (jnp.full(shape, amp, angles.dtype), jnp.zeros(shape, angles.dtype))

  def layer(x, xs):
    F, (dr, di) = xs
    x = _cmul(tuple(_wht(v) for v in _phase_planes(x, F, shape)), (dr[k], di[k]))
    return tuple(_wht(v) for v in x), None

  x, _ = lax.scan(layer, x0, (F, D))
  return x


@jax.custom_vjp
def _wht_energy(angles: jax.Array, T, real: jax.Array) -> jax.Array:
  x = _wht_run(angles, T, real)
  return _probs_energy((x[0]**2 + x[1]**2).reshape(_cut_shape(T)), T)


def _wht_energy_fwd(angles, T, real):
  setup = _wht_setup(angles, T, real)
  x = _wht_run(angles, T, real, setup)
  probs = (x[0]**2 + x[1]**2).reshape(_cut_shape(T))
  return _probs_energy(probs, T), (angles, T, real, x, probs, setup[1:])


def _wht_energy_bwd(res, e_bar):
  """Adjoint gradient as in :func:`_sv_energy_bwd`, in the Hadamard domain.

  ``sum_q <lam|X_q|psi>`` is ``sum_y gen(y) conj(lam_h) psi_h / 2**(N-1)`` with
  ``_h`` the transforms both states need anyway to undo the mixer; the cut cotangent
  is accumulated directly as the three table marginals.
  """
  angles, T, real, x, probs, (k, F, D, gen) = res
  shape, cshape = _wht_shape(real.shape[0] - 1), _cut_shape(T)
  cut = _cut3(T).reshape(shape)
  lam = (-cut * x[0], -cut * x[1])
  t_bar0 = tuple(-m for m in _marginals(probs))
  scale = 0.5**(real.shape[0] - 1)

  def layer_back(carry, xs):
    x, lam, t_bar = carry
    gamma, F, (dr, di), gen = xs
    xh = tuple(_wht(v) for v in x)
    lh = tuple(_wht(v) for v in lam)
    acc = scale * jnp.vdot(gen[k], lh[0] * xh[1] - lh[1] * xh[0])
    d_inv = (dr[k], -di[k])
    x = tuple(_wht(v) for v in _cmul(xh, d_inv))
    lam = tuple(_wht(v) for v in _cmul(lh, d_inv))
    w = (lam[0] * x[1] - lam[1] * x[0]).reshape(cshape)
    m = _marginals(w)
    g_gamma = -2.0 * _cut_weighted_sum(w, T, m)
    t_bar = tuple(t - 2.0 * gamma * mt for t, mt in zip(t_bar, m))
    f_inv = tuple((c, -s) for c, s in F)
    return ((_phase_planes(x, f_inv, shape), _phase_planes(lam, f_inv, shape), t_bar),
            (g_gamma, 2.0 * acc))

  (_, _, t_bar), (g_gamma, g_beta) = lax.scan(
      layer_back, (x, lam, t_bar0), (angles[0], F, D, gen), reverse=True)
  grad = jnp.stack([g_gamma, g_beta]).astype(angles.dtype)
  return e_bar * grad, tuple((e_bar * t).astype(tt.dtype) for t, tt in zip(t_bar, T)), None


_wht_energy.defvjp(_wht_energy_fwd, _wht_energy_bwd)


def _prepare(angles: jax.Array, graph: Graph):
  """Cut tables restricted to qubit 0 = 0 (the symmetric half) and the qubit mask."""
  t_ab, t_ac, t_bc = _cut_tables(_dense_weights(graph).astype(angles.dtype), graph.n_qubits)
  half = t_ab.shape[0] // 2
  real = jnp.arange(graph.n_qubits) < graph.n_nodes  # padded qubits: identity mixer
  return (t_ab[:half], t_ac[:half], t_bc), real


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
  _check_graph(graph)
  _guard(graph.n_qubits, angles.shape[1], angles.dtype, memory_limit_bytes, "the statevector")
  phi = _half_state(angles, graph)
  return jnp.concatenate([phi, jnp.flip(phi)]) / math.sqrt(2.0)


def _core(graph: Graph, core: Optional[str]) -> str:
  """``"wht"`` (Walsh-Hadamard planes) up to ``_WHT_MAX_QUBITS``, else ``"kron"``."""
  if core is None:
    return "wht" if graph.n_qubits <= _WHT_MAX_QUBITS else "kron"
  if core not in ("wht", "kron"):
    raise ValueError(f"core must be 'wht' or 'kron', got {core!r}")
  return core


def _half_state(angles, graph, core: Optional[str] = None) -> jax.Array:
  """The unit-norm symmetric half ``(2**(N-1),)`` complex (qubit 0 = 0)."""
  T, real = _prepare(angles, graph)
  if _core(graph, core) == "kron":
    return _run(angles, T, real)
  x = _wht_run(angles, T, real)
  return lax.complex(x[0], x[1]).reshape(-1)


def _statevector_energy(angles, graph, core: Optional[str] = None):
  """Statevector energy by either exact core (both are tested against each other)."""
  T, real = _prepare(angles, graph)
  if _core(graph, core) == "kron":
    return _sv_energy(angles, T, real)
  return _wht_energy(angles, T, real)


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
  if method not in _METHODS:
    raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
  angles = check_angles(angles)
  _check_graph(graph)
  p = angles.shape[1]
  if method == "analytic" or (method == "auto" and p == 1):
    return analytic_p1_energy(angles, graph)
  _guard(graph.n_qubits, p, angles.dtype, memory_limit_bytes, "the statevector")
  return _statevector_energy(angles, graph)


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


# ------------------------------------------------------------------- analytic p = 1


def _int_pow(x: jax.Array, k: jax.Array, max_bits: int) -> jax.Array:
  """``x**k`` for integer ``k >= 0`` by binary exponentiation (exact sign, smooth grad)."""
  out = jnp.ones_like(x)
  base = x
  for b in range(max_bits):
    out = out * jnp.where((k >> b) & 1, base, jnp.ones_like(base))
    base = base * base
  return out


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
  _check_graph(graph)
  if angles.shape[1] != 1:
    raise ValueError(f"the analytic formula is for p = 1, got angles of shape {angles.shape}")
  w = graph.weights
  if not isinstance(w, jax.core.Tracer):
    wn = np.asarray(w)[: int(graph.n_edges)]
    if np.any(wn != 1.0):
      raise ValueError("analytic_p1_energy needs an unweighted graph (all edge weights 1); "
                       "use method='statevector' for weighted graphs")
  g, b = angles[0, 0], angles[1, 0]
  u, v = graph.edges[:, 0], graph.edges[:, 1]
  du = jnp.maximum(graph.degrees[u] - 1, 0)
  dv = jnp.maximum(graph.degrees[v] - 1, 0)
  f = graph.triangles
  bits = max(1, int(graph.n_qubits).bit_length())
  cg, c2g = jnp.cos(g), jnp.cos(2 * g)
  term1 = jnp.sin(4 * b) * jnp.sin(g) * (_int_pow(cg, du, bits) + _int_pow(cg, dv, bits))
  term2 = (jnp.sin(2 * b) ** 2) * _int_pow(cg, jnp.maximum(du + dv - 2 * f, 0), bits) * (
      1 - _int_pow(c2g, f, bits))
  per_edge = 0.5 - 0.25 * term1 - 0.25 * term2
  real_edge = jnp.arange(graph.max_edges) < graph.n_edges
  return -jnp.sum(jnp.where(real_edge, w * per_edge, 0.0))


# ---------------------------------------------------------------------- brute force


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
  _check_graph(graph)
  N = graph.n_qubits
  if N > 40:
    raise ValueError(f"max_cut brute force over 2**{N - 1} assignments is infeasible; "
                     "N must be <= 40")
  lo = min(int(chunk_qubits), N)
  m = N - lo  # qubits enumerated block by block (hi part)
  dt = graph.weights.dtype
  need = (2**lo) * (lo + 4) * jnp.dtype(dt).itemsize
  budget = memory_limit(memory_limit_bytes)
  if need > budget:
    raise ValueError(f"max_cut block of 2**{lo} states needs about {need / 2**30:.3g} GiB, over "
                     f"the memory limit of {budget / 2**30:.3g} GiB; lower chunk_qubits")
  W = _dense_weights(graph)
  if m == 0:
    return jnp.max(cut_values(graph))
  c_hi, c_lo, BhW, Bl = _cut_blocks(graph, W, m, rows=slice(0, 2**(m - 1)))

  def block(args):
    ch, bhw = args
    return jnp.max(ch + c_lo - 2.0 * (Bl @ bhw))

  return jnp.max(lax.map(block, (c_hi, BhW)))


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
  mc = max_cut(graph) if max_cut_value is None else jnp.asarray(max_cut_value)
  ec = expected_cut(angles, graph, **kwargs)
  safe = jnp.where(mc > 0, mc, jnp.ones_like(mc))
  return jnp.where(mc > 0, ec / safe, jnp.ones_like(ec))
