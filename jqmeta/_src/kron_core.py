"""The complex block-GEMM ("kron") statevector core, used above ``WHT_MAX_QUBITS`` qubits.

Two exact cores share the cut tables and the bit-flip symmetry (see
:mod:`jqmeta._src.statevector`): this one (complex block GEMMs, "kron"), used above
:data:`jqmeta._src.wht_core.WHT_MAX_QUBITS` qubits, and the Walsh-Hadamard core of
:mod:`jqmeta._src.wht_core` (real planes, the default up to that size).

Layout: the state is a flat ``(2**N,)`` complex vector.  A layer is

* the phase: ``psi *= F_ab[x, y] F_ac[x, u] F_bc[y, u]`` with ``F = exp(i gamma T)``
  (tables from :func:`jqmeta._src.cut.cut_tables`, computed for all layers before the
  layer scan so no transcendental runs per amplitude inside a loop), then
* the mixer ``RX(2 beta)`` on every qubit, applied ``_BLOCK`` qubits at a time: the
  state viewed as ``(2**k, 2**(N-k))`` is multiplied by the ``(2**k, 2**k)`` matrix
  ``RX^(x)k`` and written transposed, which rotates those qubits to the bottom; a
  ``lax.scan`` over ``N // k`` blocks (plus one remainder block) restores the order.
  One small complex GEMM per block replaces ``k`` butterfly passes over memory
  (compile stays flat in n and p).

Example:
  >>> c, s = jnp.cos(jnp.array([0.3])), jnp.sin(jnp.array([0.3]))
  >>> psi = mixer(jnp.array([1, 0], jnp.complex64), c, s)  # RX(0.6)|0> = (cos, -i sin)
  >>> [round(float(v), 4) for v in (psi[0].real, psi[1].imag)]
  [0.9553, -0.2955]
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jqmeta._src import cut

_BLOCK = 4


def _eq_table(k: int) -> np.ndarray:
  """``(2**k, 2**k, k)`` bool: bit j of row index equals bit j of column index."""
  bits = (np.arange(2**k)[:, None] >> np.arange(k - 1, -1, -1)) & 1
  return bits[:, None, :] == bits[None, :, :]


def kron_rx(c: jax.Array, s: jax.Array, sign: float) -> jax.Array:
  """``(2**k, 2**k)`` kron of ``[[c_j, sign i s_j], [sign i s_j, c_j]]`` over ``j < k``.

  ``c, s``: ``(k,)`` float32 (float64 gives complex128); ``sign = -1`` is ``RX(2 beta)``.
  """
  k = c.shape[0]
  cdt = jnp.complex128 if c.dtype == jnp.float64 else jnp.complex64
  off = lax.complex(jnp.zeros_like(s), sign * s)
  return jnp.prod(jnp.where(_eq_table(k), c.astype(cdt), off), axis=-1)


def _x_overlap(x: jax.Array, y: jax.Array, m: jax.Array) -> jax.Array:
  """``Im <y| sum_j m_j X_j |x>`` over the top ``k`` qubits of flat ``x, y`` (complex).

  ``X_j`` is a flip along axis ``j`` of the ``(2,)*k + (rest,)`` view, so the sum is
  one fused elementwise reduction: no GEMM (``G`` has only ``k`` nonzeros per row, and
  a dense ``(2**k, 2**k)`` GEMM for it cost as much as the mixer), no output state.
  """
  k = m.shape[0]
  xs = x.reshape((2,) * k + (-1,))
  gx = sum(m[j] * jnp.flip(xs, j) for j in range(k))
  return jnp.imag(jnp.sum(jnp.conj(y.reshape(gx.shape)) * gx))


def rotate_apply(M: jax.Array, psi: jax.Array) -> jax.Array:
  """``M (2**k, 2**k)`` on the top ``k`` qubits of flat ``psi``; those qubits move to the
  bottom."""
  x = psi.reshape(M.shape[0], -1)
  return jnp.einsum("ab,bz->za", M, x).reshape(-1)


def blocks(N: int) -> tuple[int, int, int]:
  """``(k, N // k, N % k)``: 4-qubit blocks, or 3 when that avoids a remainder block
  (fewer ops: a remainder block is a second, unrolled copy of the block step outside the
  scan).

  Example:
    >>> blocks(9), blocks(10)
    ((3, 3, 0), (4, 2, 2))
  """
  k = min(_BLOCK, N)
  if N % k and N % 3 == 0:
    k = 3
  return k, N // k, N % k


def _block_scan(fn, carry, *per_qubit: jax.Array):
  """``carry = fn(carry, *block_slices)`` over the qubit blocks of :func:`blocks`.

  ``per_qubit`` are ``(N,)`` arrays; full blocks run in a ``lax.scan`` (the program
  does not grow with ``N``), then the remainder block, if any.
  """
  n = per_qubit[0].shape[0]
  if n == 0:
    return carry
  k, n_full, r = blocks(n)
  xs = tuple(v[:n_full * k].reshape(n_full, k) for v in per_qubit)
  carry, _ = lax.scan(lambda acc, x: (fn(acc, *x), None), carry, xs)
  if r:
    carry = fn(carry, *(v[n_full * k:] for v in per_qubit))
  return carry


def mixer(psi: jax.Array, c: jax.Array, s: jax.Array) -> jax.Array:
  """``RX(2 beta)`` on every qubit: ``psi (2**N,)`` complex, per-qubit ``c, s (N,)``."""
  return _block_scan(lambda v, cq, sq: rotate_apply(kron_rx(cq, sq, -1.0), v), psi, c, s)


def unmix(psi, lam, c, s, m):
  """Undo the mixer on ``psi`` and ``lam`` together; also ``sum_q m_q Im <lam|X_q|psi>``.

  ``X_q`` commutes with every ``RX``, so each block's ``<lam|sum_j X_j|psi>`` can be
  read at the block's input, by :func:`_x_overlap` (a fused reduction) before that
  block's two GEMMs.

  Args:
    psi, lam: ``(2**N,)`` complex states.
    c, s: ``(N,)`` per-qubit cos / sin of beta.
    m: ``(N,)`` real per-qubit weights of the accumulator.

  Returns:
    ``(psi, lam, acc)``: both states with the mixer undone, real scalar ``acc``.
  """

  def block(carry, cq, sq, mq):
    psi, lam, acc = carry
    M = kron_rx(cq, sq, 1.0)
    acc = acc + _x_overlap(psi, lam, mq)
    return rotate_apply(M, psi), rotate_apply(M, lam), acc

  return _block_scan(block, (psi, lam, jnp.zeros((), c.dtype)), c, s, m)


# On the symmetric half (qubit 0 = 0, unit norm; see jqmeta._src.statevector), RX on
# qubit 0 pairs phi[r] with phi[~r] = flip(phi)[r]; the other qubits pair within the
# half as usual.


def _mixer_sym(phi: jax.Array, c: jax.Array, s: jax.Array) -> jax.Array:
  """The mixer on the symmetric half ``phi (2**(N-1),)``; ``c, s (N,)``."""
  phi = c[0] * phi + lax.complex(jnp.zeros_like(s[0]), -s[0]) * jnp.flip(phi)
  return mixer(phi, c[1:], s[1:])


def _unmix_sym(phi, lam, c, s, m):
  """:func:`unmix` on symmetric halves (qubit 0 by the flip pairing)."""
  phi, lam, acc = unmix(phi, lam, c[1:], s[1:], m[1:])
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
  gammas = sign * angles[0][:, None, None]
  cs = cut.materialize(tuple((jnp.cos(gammas * t), jnp.sin(gammas * t)) for t in T))
  c, s = jax.vmap(_mixer_cs, in_axes=(0, None))(angles[1], real)
  return tuple(lax.complex(*f) for f in cs), c, s


def apply_phase(psi: jax.Array, F) -> jax.Array:
  """``psi * F_ab F_ac F_bc`` (broadcast like :func:`jqmeta._src.cut.cut3`), flat."""
  f_ab, f_ac, f_bc = F
  shape = (f_ab.shape[0], f_ab.shape[1], f_ac.shape[1])
  return (psi.reshape(shape) * f_ab[:, :, None] * f_ac[:, None, :] * f_bc[None, :, :]).reshape(-1)


def run(angles: jax.Array, T, real: jax.Array) -> jax.Array:
  """Final symmetric half ``(2**(N-1),)`` complex for ``angles (2, p)``, cut tables ``T``
  (restricted to the half) and the ``real (N,)`` qubit mask."""
  N = real.shape[0]
  cdt = jnp.complex128 if angles.dtype == jnp.float64 else jnp.complex64
  psi0 = jnp.full((2**(N - 1),), 1.0 / math.sqrt(2**(N - 1)), cdt)
  F, c, s = _layer_tables(angles, T, real)
  psi, _ = lax.scan(lambda v, xs: (_mixer_sym(apply_phase(v, xs[0]), xs[1], xs[2]), None),
                    psi0, (F, c, s))
  return psi


def _expectation(psi: jax.Array, T) -> jax.Array:
  return cut.probs_energy((jnp.real(psi)**2 + jnp.imag(psi)**2).reshape(cut.cut_shape(T)), T)


def _energy(angles: jax.Array, T, real: jax.Array) -> jax.Array:
  """Energy of the state :func:`run` reaches; scalar in the angles' dtype.

  Differentiable in ``angles`` and the tables ``T``, in forward and reverse mode, by
  the adjoint method (no per-layer residuals; see :func:`jqmeta._src.cut.adjoint_energy`).
  """
  return _expectation(run(angles, T, real), T)


def _energy_fwd(angles, T, real):
  psi = run(angles, T, real)
  return _expectation(psi, T), (angles, T, real, psi)


def _energy_bwd(res, e_bar):
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
  cut3 = cut.cut3(T)
  shape = cut3.shape
  lam = (-cut3 * psi.reshape(shape)).reshape(-1)
  cut_bar0 = -(jnp.real(psi) ** 2 + jnp.imag(psi) ** 2).reshape(shape)
  F, c, s = _layer_tables(angles, T, real, sign=-1.0)
  m = real.astype(rdt)

  def layer_back(carry, xs):
    psi, lam, cut_bar = carry
    gamma, F, cq, sq = xs
    psi, lam, acc = _unmix_sym(psi, lam, cq, sq, m)
    w = jnp.imag(jnp.conj(lam) * psi).reshape(shape)
    g_gamma = -2.0 * cut.cut_weighted_sum(w, T)
    cut_bar = cut_bar - 2.0 * gamma * w
    return (apply_phase(psi, F), apply_phase(lam, F), cut_bar), (g_gamma, 2.0 * acc)

  (_, _, cut_bar), (g_gamma, g_beta) = lax.scan(
      layer_back, (psi, lam, cut_bar0), (angles[0], F, c, s), reverse=True)
  grad = jnp.stack([g_gamma, g_beta]).astype(rdt)
  cb = e_bar * cut_bar
  T_bar = tuple(x.astype(t.dtype) for x, t in zip((cb.sum(2), cb.sum(1), cb.sum(0)), T))
  return e_bar * grad, T_bar, None


energy = cut.adjoint_energy(_energy, _energy_fwd, _energy_bwd)
