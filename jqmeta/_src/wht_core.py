"""The Walsh-Hadamard statevector core (real planes), the default up to ``WHT_MAX_QUBITS``.

The mixer is diagonal in the Hadamard basis: ``exp(-i beta sum_j X_j) =
H^(x)N diag(exp(-i beta sum_j (1 - 2 y_j))) H^(x)N``.  On the symmetric half (qubit 0
fixed to 0, see :mod:`jqmeta._src.statevector`) the full transform reduces to the
UNNORMALISED Walsh-Hadamard transform ``W`` on the other N - 1 qubits, with qubit 0's
Hadamard bit equal to the parity of the rest::

  mixer(phi) = W (D * W phi),   D(y) = exp(-i beta (n - 2 k(y))) / 2**(N-1),
  k(y) = popcount(y) rounded up to even  (padded qubits masked out of y).

``W`` is real and the same for every graph, so the state is kept as two real planes
(re, im) and each block of ``W`` is one real GEMM ``x @ H_k`` over the whole batch
(vmap folds the graph axis into the GEMM rows).  The state tensor is shaped
``(2**k_1, ..., 2**k_r)`` (blocks of 3-6 qubits, :func:`wht_shape`); each GEMM
contracts the last axis and the next block is brought last by a transpose (one copy per
block boundary; the transposes back fuse into the elementwise phase and D passes).  Real
arithmetic on the planes beats complex GEMMs at small ``N``; above :data:`WHT_MAX_QUBITS` the
extra passes over memory (two transforms per layer, with their transposes) cost more
than the real arithmetic saves, so larger N uses the complex block-GEMM core of
:mod:`jqmeta._src.kron_core`.  Storing per-layer states instead of undoing the layers
is no faster: the stacked residual writes cost what the saved transforms gain.

Example:
  >>> wht_shape(13)
  (32, 16, 16)
  >>> wht(jnp.array([1.0, 0.0, 0.0, 0.0]).reshape(wht_shape(2))).tolist()
  [1.0, 1.0, 1.0, 1.0]
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jqmeta._src import cut

WHT_MAX_QUBITS = 14
"""Largest N this core runs by default: ``python -m benchmarks.core_crossover`` (pinned)
has the kron core faster for energy from N = 15 and for energy + gradient from N = 16
(at N = 18, p = 3: 0.51-0.61x the energy time, 0.59-0.80x with the gradient), the
Walsh-Hadamard core still 1.0-1.5x faster for energy + gradient at N = 14."""
WHT_BLOCK = 4
SHAPES: dict[int, tuple[int, ...]] = {}
"""Explicit state shapes by ``n_rest``, overriding :func:`wht_shape`'s rule (empty: the
rule everywhere; ``benchmarks.wht_shapes`` sets entries to time candidates)."""


def wht_shape(n_rest: int) -> tuple[int, ...]:
  """State tensor shape for ``n_rest`` qubits: blocks of ``WHT_BLOCK`` = 4 qubits, with
  3-qubit blocks taking a remainder of 3 (one) or 2 (two, in place of one 4-qubit
  block), and a remainder of 1 joined to the first block.

  16-wide blocks do a quarter of the GEMM work per amplitude of 64-wide ones for one
  more pass over the state.  ``python -m benchmarks.wht_shapes --sizes 11,12,13,14``
  (pinned, one thread, p = 3) found this rule best, or within 3% of the best split into
  3-6-qubit blocks, at every n it chooses for (n = 10..14); see the README.

  Example:
    >>> [wht_shape(m) for m in (3, 9, 10, 11, 13)]
    [(8,), (32, 16), (16, 8, 8), (16, 16, 8), (32, 16, 16)]
  """
  if n_rest in SHAPES:
    return SHAPES[n_rest]
  if n_rest == 0:
    return ()
  nb, rem = divmod(n_rest, WHT_BLOCK)
  if nb == 0:
    blocks = [rem]
  elif rem == 1:
    blocks = [WHT_BLOCK + 1] + [WHT_BLOCK] * (nb - 1)
  else:
    blocks = [WHT_BLOCK] * (nb - (rem == 2)) + [3] * {0: 0, 2: 2, 3: 1}[rem]
  return tuple(2**k for k in blocks)


def _hadamard(d: int, dtype) -> np.ndarray:
  """``(d, d)`` unnormalised Sylvester-Hadamard matrix, ``d`` a power of two."""
  h = np.ones((1, 1))
  while h.shape[0] < d:
    h = np.kron(h, [[1.0, 1.0], [1.0, -1.0]])
  return h.astype(dtype)


def wht(x: jax.Array) -> jax.Array:
  """Unnormalised Walsh-Hadamard transform of real ``x`` shaped ``(2**k_1, ..., 2**k_r)``.

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


def mixer_index(real: jax.Array) -> jax.Array:
  """``k(y)`` for the qubit mask ``real (N,)``, shaped ``wht_shape(N - 1)``: the only
  per-graph table of this core that does not depend on the angles (precomputable).

  Example:
    >>> mixer_index(jnp.array([True, True, True])).tolist()
    [0, 2, 2, 2]
  """
  return _mixer_index(real, wht_shape(real.shape[0] - 1))


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
  gen = jnp.sum(real).astype(beta.dtype) - 2.0 * jnp.arange(N + 1, dtype=beta.dtype)
  scale = 0.5**(N - 1)
  return (scale * jnp.cos(beta * gen), -scale * jnp.sin(beta * gen)), gen


def _phase_planes(x, F, shape):
  """``x * F_ab F_ac F_bc`` on planes; ``F`` = three (cos, sin) table pairs."""
  (ac, as_), (bc, bs), (cc, cs) = F
  f = _cmul(_cmul((ac[:, :, None], as_[:, :, None]), (bc[:, None, :], bs[:, None, :])),
            (cc[None], cs[None]))
  gshape = (ac.shape[0], ac.shape[1], bc.shape[1])
  out = _cmul((x[0].reshape(gshape), x[1].reshape(gshape)), f)
  return out[0].reshape(shape), out[1].reshape(shape)


def cos_sin(x: jax.Array):
  """``(cos x, sin x)``: on XLA:CPU by a vectorised polynomial (:func:`cos_sin_poly` in
  float32, :func:`cos_sin_poly64` in float64), else by ``jnp``.

  The choice is per platform (``lax.platform_dependent``, resolved when lowering): the
  polynomials win only where XLA evaluates ``cos``/``sin`` one element at a time
  (XLA:CPU); accelerators have fast native ones (:func:`cos_sin_xla`).

  Example:
    >>> c, s = cos_sin(jnp.array([0.0, np.pi / 2], jnp.float32))
    >>> [round(float(v), 6) for v in (*c, *s)]
    [1.0, -0.0, 0.0, 1.0]
  """
  poly = {jnp.dtype(jnp.float32): cos_sin_poly, jnp.dtype(jnp.float64): cos_sin_poly64}
  if x.dtype not in poly:
    return cos_sin_xla(x)
  return lax.platform_dependent(x, cpu=poly[x.dtype], default=cos_sin_xla)


def cos_sin_xla(x: jax.Array):
  """``(jnp.cos(x), jnp.sin(x))``: XLA's own, the choice off XLA:CPU."""
  return jnp.cos(x), jnp.sin(x)


def cos_sin_poly(x: jax.Array):
  """float32 ``(cos x, sin x)`` by a vectorised polynomial (the choice on XLA:CPU).

  XLA:CPU evaluates float32 cos and sin one element at a time, which made the
  per-layer phase tables a large share of a small-``N`` energy+gradient.  This is
  Cody-Waite reduction by pi/2 (three-part constant) and Cephes' single-precision
  minimax polynomials on ``[-pi/4, pi/4]``: max abs error 1e-7 against float64 for
  ``|x| <= 1e4`` (XLA's: 3e-8) and < 1e-6 up to 6e4, where float32 arguments are
  themselves spaced 4e-3 apart; tested in ``test_cos_sin_accuracy``.

  Example:
    >>> c, s = cos_sin_poly(jnp.array([0.0, np.pi / 2], jnp.float32))
    >>> [round(float(v), 6) for v in (*c, *s)]
    [1.0, -0.0, 0.0, 1.0]
  """
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


# fdlibm's split of pi/2 into 33-bit pieces (e_rem_pio2.c) and its minimax kernels on
# [-pi/4, pi/4] (k_sin.c, k_cos.c; Sun Microsystems, 1993): published constants.
_PIO2 = (1.57079632673412561417e+00, 6.07710050630396597660e-11, 2.02226624871116645580e-21)
_SIN = (-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
        2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10)
_COS = (4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
        -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11)
COS_SIN_POLY64_EXACT = 2.0**20 * np.pi / 2
"""Up to this ``|x|`` the float64 reduction is exact (each ``j * piece`` fits 53 bits)."""
COS_SIN_POLY64_MAX = 2.0**49
"""Above this ``|x|`` :func:`cos_sin_poly64` returns NaN: float64 arguments there are
spaced 1/8 or more apart (the phase itself is not resolved), and from about 1e16 the
reduction would return values far outside [-1, 1]."""


def _horner(z, coeffs):
  out = coeffs[-1]
  for c in reversed(coeffs[:-1]):
    out = c + z * out
  return out


def cos_sin_poly64(x: jax.Array):
  """float64 ``(cos x, sin x)`` by a vectorised polynomial (the choice on XLA:CPU).

  XLA:CPU evaluates float64 cos and sin one element at a time (about 8 ns each), a
  tenth of a small batched energy's time.  This is Cody-Waite reduction by pi/2 in
  three 33-bit pieces, then fdlibm's degree-13/14 minimax kernels (the cosine with
  ``1 - z/2`` rounded separately).  Tested in ``test_cos_sin_poly64_accuracy``: within 2.3e-16
  of NumPy for ``|x| <=`` :data:`COS_SIN_POLY64_EXACT` (about 1.6e6); beyond, the
  products ``j * piece`` may round, and the bound is ``|x| * 2**-51``, a few spacings
  of the float64 arguments themselves (with FMA contraction, as here, 2.3e-16 holds to
  1e14).  ``|x| >`` :data:`COS_SIN_POLY64_MAX` and non-finite ``x`` give NaN.

  Example:
    >>> with jax.enable_x64(True):
    ...   c, s = cos_sin_poly64(jnp.array([0.0, np.pi / 2], jnp.float64))
    ...   print([round(float(v), 12) for v in (*c, *s)])
    [1.0, 0.0, 0.0, 1.0]
  """
  j = jnp.round(x * (2 / np.pi))
  r = ((x - j * _PIO2[0]) - j * _PIO2[1]) - j * _PIO2[2]
  z = r * r
  s = r + r * z * _horner(z, _SIN)
  h = 0.5 * z
  w = 1.0 - h
  c = w + (((1.0 - w) - h) + z * z * _horner(z, _COS))
  q = j - 4.0 * jnp.floor(0.25 * j)  # the quadrant, exact in float64 for |j| < 2**53
  cos = jnp.where(q == 0, c, jnp.where(q == 1, -s, jnp.where(q == 2, -c, s)))
  sin = jnp.where(q == 0, s, jnp.where(q == 1, c, jnp.where(q == 2, -s, -c)))
  ok = jnp.abs(x) <= COS_SIN_POLY64_MAX  # beyond: NaN, never a wrong value
  return jnp.where(ok, cos, np.nan), jnp.where(ok, sin, np.nan)


def _setup(angles: jax.Array, T, mix):
  """Shapes, ``k`` index, phase tables ``(p, ...)`` and mixer tables ``(p, N + 1)``.

  ``mix``: ``(real (N,) bool, k)``, ``k`` from :func:`mixer_index` (or ``None``: built here).
  """
  real, k = mix
  shape = wht_shape(real.shape[0] - 1)
  gammas = angles[0][:, None, None]
  F = tuple(cos_sin(gammas * t) for t in T)
  D, gen = jax.vmap(_mixer_diag, in_axes=(0, None))(angles[1], real)
  F, D = cut.materialize((F, D))
  return shape, _mixer_index(real, shape) if k is None else k, F, D, gen


def run(angles: jax.Array, T, mix, setup=None):
  """Final symmetric half as (re, im) planes shaped ``wht_shape(N - 1)``, the angles'
  dtype; ``T``: cut tables restricted to the half, ``mix``: ``(real (N,) qubit mask,
  mixer_index(real) or None)``."""
  shape, k, F, D, _ = _setup(angles, T, mix) if setup is None else setup
  amp = 1.0 / math.sqrt(2**(mix[0].shape[0] - 1))
  x0 = (jnp.full(shape, amp, angles.dtype), jnp.zeros(shape, angles.dtype))

  def layer(x, xs):
    F, (dr, di) = xs
    x = _cmul(tuple(wht(v) for v in _phase_planes(x, F, shape)), (dr[k], di[k]))
    return tuple(wht(v) for v in x), None

  x, _ = lax.scan(layer, x0, (F, D))
  return x


def _energy(angles: jax.Array, T, mix) -> jax.Array:
  """Energy of the state :func:`run` reaches; scalar in the angles' dtype.

  Differentiable in ``angles`` and the tables ``T``, in forward and reverse mode, by
  the adjoint method (no per-layer residuals; see :func:`jqmeta._src.cut.adjoint_energy`).
  """
  x = run(angles, T, mix)
  return cut.probs_energy((x[0]**2 + x[1]**2).reshape(cut.cut_shape(T)), T)


def _energy_fwd(angles, T, mix):
  setup = _setup(angles, T, mix)
  x = run(angles, T, mix, setup)
  probs = (x[0]**2 + x[1]**2).reshape(cut.cut_shape(T))
  return cut.probs_energy(probs, T), (angles, T, mix[0], x, probs, setup[1:])


def _energy_bwd(res, e_bar):
  """Adjoint gradient as in :func:`jqmeta._src.kron_core.energy`, in the Hadamard domain.

  ``sum_q <lam|X_q|psi>`` is ``sum_y gen(y) conj(lam_h) psi_h / 2**(N-1)`` with
  ``_h`` the transforms both states need anyway to undo the mixer; the cut cotangent
  is accumulated directly as the three table marginals.
  """
  angles, T, real, x, probs, (k, F, D, gen) = res
  shape, cshape = wht_shape(real.shape[0] - 1), cut.cut_shape(T)
  cut3 = cut.cut3(T).reshape(shape)
  lam = (-cut3 * x[0], -cut3 * x[1])
  t_bar0 = tuple(-m for m in cut.marginals(probs))
  scale = 0.5**(real.shape[0] - 1)

  def layer_back(carry, xs):
    x, lam, t_bar = carry
    gamma, F, (dr, di), gen = xs
    xh = tuple(wht(v) for v in x)
    lh = tuple(wht(v) for v in lam)
    acc = scale * jnp.vdot(gen[k], lh[0] * xh[1] - lh[1] * xh[0])
    d_inv = (dr[k], -di[k])
    x = tuple(wht(v) for v in _cmul(xh, d_inv))
    lam = tuple(wht(v) for v in _cmul(lh, d_inv))
    w = (lam[0] * x[1] - lam[1] * x[0]).reshape(cshape)
    m = cut.marginals(w)
    g_gamma = -2.0 * cut.cut_weighted_sum(w, T, m)
    t_bar = tuple(t - 2.0 * gamma * mt for t, mt in zip(t_bar, m))
    f_inv = tuple((c, -s) for c, s in F)
    return ((_phase_planes(x, f_inv, shape), _phase_planes(lam, f_inv, shape), t_bar),
            (g_gamma, 2.0 * acc))

  (_, _, t_bar), (g_gamma, g_beta) = lax.scan(
      layer_back, (x, lam, t_bar0), (angles[0], F, D, gen), reverse=True)
  grad = jnp.stack([g_gamma, g_beta]).astype(angles.dtype)
  return e_bar * grad, tuple((e_bar * t).astype(tt.dtype) for t, tt in zip(t_bar, T)), None


energy = cut.adjoint_energy(_energy, _energy_fwd, _energy_bwd)
