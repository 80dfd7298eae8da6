"""The gate simulator behind :mod:`jqmeta.circuits` and :mod:`jqmeta.kernels`.

A state on ``n`` wires is a flat ``(2**n,)`` complex array (``complex64`` by default,
``complex128`` when the inputs are ``float64`` and x64 is enabled).  Wire ``0`` is the
MOST significant bit of the basis index, as in PennyLane, and the gate conventions are
PennyLane's::

  RX(t) = exp(-i t X / 2)    RY(t) = exp(-i t Y / 2)
  RZ(t) = exp(-i t Z / 2) = diag(e^{-it/2}, e^{+it/2})

Every function acts on ONE state; batch with ``jax.vmap`` at the call site.  Wires are
static Python ints and the number of wires is read statically from ``state.shape``.
Besides the gates this module holds the layers the named circuits share (a Hadamard
layer, a rotation layer, the CNOT chain), the feature map ``U(x)`` of the QK-LSTM
(written once: the published gate circuit and the fidelity kernel both use it) and the
normalised readout.

Rotations take ``round_coeffs=True`` to evaluate ``cos(theta/2)``, ``sin(theta/2)`` in
float32 (correctly rounded) for a complex128 state, as PennyLane ``default.qubit`` does
for float32 torch parameters; the last section emulates float32 arithmetic in float64.

Example:
  >>> s = cnot(hadamard(zero_state(2), 0), 0, 1)
  >>> [round(float(p), 4) for p in jnp.abs(s) ** 2]  # Bell state
  [0.5, 0.0, 0.0, 0.5]
"""

from __future__ import annotations

import operator
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jqmeta._src.precision import round_f32

Gate = Callable[..., jax.Array]
"""A rotation ``gate(state, theta, wire, adjoint=False) -> state`` (:func:`rx` etc.)."""


# --------------------------------------------------------------------------- #
# Validation (only gates need these)
# --------------------------------------------------------------------------- #
def _n_wires(state: jax.Array) -> int:
  """Checks ``state`` is a flat complex ``(2**n,)`` vector and returns ``n``."""
  shape = jnp.shape(state)
  if len(shape) != 1:
    raise ValueError(
        f"state must be a flat (2**n,) vector, got shape {shape}; "
        "batch with jax.vmap at the call site")
  size = shape[0]
  if size < 2 or size & (size - 1):
    raise ValueError(
        f"state length must be a power of two >= 2 (2**n_wires), got {size}")
  if not jnp.iscomplexobj(state):
    raise ValueError(
        f"state must be complex (complex64/complex128), got dtype {jnp.result_type(state)}")
  return size.bit_length() - 1


def _static_int(value, name: str) -> int:
  """``value`` as a Python int; a bool, a float or a traced value raises ``ValueError``."""
  if isinstance(value, (bool, np.bool_)):
    raise ValueError(f"{name} must be a static Python int, got bool {value!r}")
  try:
    return operator.index(value)
  except TypeError:
    raise ValueError(
        f"{name} must be a static Python int, got {type(value).__name__} {value!r}") from None


def _check_wire(wire, n: int, name: str = "wire") -> int:
  """Returns ``wire`` as an int in ``[0, n)`` or raises ``ValueError``."""
  w = _static_int(wire, name)
  if not 0 <= w < n:
    raise ValueError(f"{name} {w} out of range for a {n}-wire state (valid: 0..{n - 1})")
  return w


def _check_angle(theta, dtype) -> jax.Array:
  """Returns ``theta`` as a real scalar of the state's real dtype."""
  if jnp.ndim(theta) != 0:
    raise ValueError(f"theta must be a scalar, got shape {jnp.shape(theta)}")
  if jnp.iscomplexobj(theta):
    raise ValueError("theta must be real, got a complex value")
  return jnp.asarray(theta).astype(jnp.finfo(dtype).dtype)


# --------------------------------------------------------------------------- #
# States and gates
# --------------------------------------------------------------------------- #
def zero_state(n_wires: int, dtype=jnp.complex64) -> jax.Array:
  """The computational basis state ``|0...0>``.

  Args:
    n_wires: static number of wires ``n >= 1``.
    dtype: complex dtype of the state (``complex64`` by default).

  Returns:
    ``(2**n_wires,)`` array of ``dtype`` with a single ``1`` at index 0.

  Example:
    >>> zero_state(2).tolist()
    [(1+0j), 0j, 0j, 0j]
  """
  n = _static_int(n_wires, "n_wires")
  if n < 1:
    raise ValueError(f"n_wires must be >= 1, got {n}")
  if not jnp.issubdtype(dtype, jnp.complexfloating):
    raise ValueError(f"dtype must be complex, got {dtype}")
  return jnp.zeros((2**n,), dtype).at[0].set(1)


def apply_1q(state: jax.Array, mat: jax.Array, wire: int, n: int) -> jax.Array:
  """Applies a 2x2 matrix ``mat`` on ``wire`` of an ``n``-wire state (no checks).

  Args:
    state: ``(2**n,)`` complex state.
    mat: ``(2, 2)`` matrix of the state's dtype.
    wire: static int in ``[0, n)`` (wire 0 = most significant bit).
    n: static number of wires.

  Returns:
    ``(2**n,)`` state of the same dtype.

  Example:
    >>> x = jnp.asarray([[0, 1], [1, 0]], jnp.complex64)
    >>> apply_1q(zero_state(2), x, 1, 2).tolist()  # X on wire 1: |00> -> |01>
    [0j, (1+0j), 0j, 0j]
  """
  psi = state.reshape(2**wire, 2, 2**(n - 1 - wire))
  return jnp.einsum("ij,ajb->aib", mat, psi).reshape(-1)


def hadamard(state: jax.Array, wire: int) -> jax.Array:
  """Hadamard gate on ``wire`` (self-inverse).

  Args:
    state: ``(2**n,)`` complex state.
    wire: static int in ``[0, n)``.

  Returns:
    ``(2**n,)`` state of the same dtype.

  Example:
    >>> [round(float(a.real), 4) for a in hadamard(zero_state(1), 0)]
    [0.7071, 0.7071]
  """
  n = _n_wires(state)
  wire = _check_wire(wire, n)
  h = jnp.asarray([[1.0, 1.0], [1.0, -1.0]], state.dtype) / np.sqrt(2.0)
  return apply_1q(state, h, wire, n)


def _rotation(state: jax.Array, theta, wire: int, adjoint: bool, round_coeffs: bool,
              matrix: Callable[..., jax.Array]) -> jax.Array:
  """Checks the arguments and applies the 2x2 ``matrix(t, dtype, rc)`` with ``t = +-theta``."""
  n = _n_wires(state)
  wire = _check_wire(wire, n)
  t = _check_angle(theta, state.dtype)
  t = -t if adjoint else t
  return apply_1q(state, matrix(t, state.dtype, bool(round_coeffs)), wire, n)


def _half_angle(t: jax.Array, dtype, round_coeffs: bool = False) -> tuple[jax.Array, ...]:
  """``(cos(t/2), sin(t/2))`` in the state's complex dtype (rounded to float32 first)."""
  c, s = jnp.cos(t / 2), jnp.sin(t / 2)
  if round_coeffs:
    c, s = round_f32(c), round_f32(s)
  return c.astype(dtype), s.astype(dtype)


def _rx_matrix(t: jax.Array, dtype, round_coeffs: bool = False) -> jax.Array:
  c, s = _half_angle(t, dtype, round_coeffs)
  return jnp.stack([jnp.stack([c, -1j * s]), jnp.stack([-1j * s, c])])


def _ry_matrix(t: jax.Array, dtype, round_coeffs: bool = False) -> jax.Array:
  c, s = _half_angle(t, dtype, round_coeffs)
  return jnp.stack([jnp.stack([c, -s]), jnp.stack([s, c])])


def _rz_matrix(t: jax.Array, dtype, round_coeffs: bool = False) -> jax.Array:
  if round_coeffs:  # PennyLane: exp(-0.5j * theta) in complex64, i.e. float32 cos, sin
    c, s = _half_angle(t, dtype, True)
    phase = c - 1j * s
  else:
    phase = jnp.exp(-0.5j * t.astype(dtype))
  zero = jnp.zeros((), dtype)
  # A dense 2x2 like the other gates: one compiled einsum per wire shape in eager mode.
  return jnp.stack([jnp.stack([phase, zero]), jnp.stack([zero, jnp.conj(phase)])])


def rx(state: jax.Array, theta, wire: int, adjoint: bool = False, *,
       round_coeffs: bool = False) -> jax.Array:
  """``RX(theta) = exp(-i theta X / 2)`` on ``wire`` (``RX(-theta)`` if ``adjoint``).

  Args:
    state: ``(2**n,)`` complex state.
    theta: real scalar angle (JAX or Python float).
    wire: static int in ``[0, n)``.
    adjoint: apply the inverse gate.
    round_coeffs: round ``cos(theta/2)``, ``sin(theta/2)`` to float32 first, as PennyLane
      does for a float32 parameter (for complex128 states; see the module docstring).

  Returns:
    ``(2**n,)`` state of the same dtype.

  Example:
    >>> [round(float(z), 4) for z in expval_z(rx(zero_state(1), jnp.pi / 3, 0))]
    [0.5]
  """
  return _rotation(state, theta, wire, adjoint, round_coeffs, _rx_matrix)


def ry(state: jax.Array, theta, wire: int, adjoint: bool = False, *,
       round_coeffs: bool = False) -> jax.Array:
  """``RY(theta) = exp(-i theta Y / 2)`` on ``wire`` (``RY(-theta)`` if ``adjoint``).

  Arguments and result as :func:`rx`: a ``(2**n,)`` complex ``state``, a real scalar
  ``theta``, a static int ``wire`` in ``[0, n)``, ``round_coeffs``; returns the
  ``(2**n,)`` state of the same dtype.

  Example:
    >>> [round(float(a.real), 4) for a in ry(zero_state(1), jnp.pi / 2, 0)]
    [0.7071, 0.7071]
  """
  return _rotation(state, theta, wire, adjoint, round_coeffs, _ry_matrix)


def rz(state: jax.Array, theta, wire: int, adjoint: bool = False, *,
       round_coeffs: bool = False) -> jax.Array:
  """``RZ(theta) = diag(e^{-i theta/2}, e^{i theta/2})`` on ``wire`` (inverse if ``adjoint``).

  Arguments and result as :func:`rx` (``adjoint`` applies ``RZ(-theta)``): a ``(2**n,)``
  complex ``state``, a real scalar ``theta``, a static int ``wire`` in ``[0, n)``,
  ``round_coeffs``; returns the ``(2**n,)`` state of the same dtype.

  Example:
    >>> a = rz(zero_state(1), jnp.pi, 0)
    >>> [round(float(a[0].imag), 4), round(float(a[1].imag), 4)]
    [-1.0, 0.0]
  """
  return _rotation(state, theta, wire, adjoint, round_coeffs, _rz_matrix)


def cnot(state: jax.Array, control: int, target: int) -> jax.Array:
  """CNOT with ``control`` and ``target`` wires (self-inverse).

  Args:
    state: ``(2**n,)`` complex state, ``n >= 2``.
    control: static int in ``[0, n)``.
    target: static int in ``[0, n)``, different from ``control``.

  Returns:
    ``(2**n,)`` state of the same dtype (a permutation of the amplitudes).

  Example:
    >>> s = cnot(rx(zero_state(2), jnp.pi, 0), 0, 1)  # |10> -> |11>
    >>> [round(float(p), 4) for p in jnp.abs(s) ** 2]
    [0.0, 0.0, 0.0, 1.0]
  """
  n = _n_wires(state)
  control = _check_wire(control, n, "control")
  target = _check_wire(target, n, "target")
  if control == target:
    raise ValueError(f"control and target must differ, both are {control}")
  # Static permutation: flip the target bit wherever the control bit is set.
  idx = np.arange(2**n)
  cbit, tbit = 1 << (n - 1 - control), 1 << (n - 1 - target)
  perm = np.where(idx & cbit, idx ^ tbit, idx)
  return state[perm]


# --------------------------------------------------------------------------- #
# Layers shared by the named circuits
# --------------------------------------------------------------------------- #
def hadamard_layer(state: jax.Array, n: int) -> jax.Array:
  """H on wires ``0..n-1`` (self-inverse).

  Example:
    >>> [round(float(p), 4) for p in jnp.abs(hadamard_layer(zero_state(2), 2)) ** 2]
    [0.25, 0.25, 0.25, 0.25]
  """
  for i in range(n):
    state = hadamard(state, i)
  return state


def rotation_layer(state: jax.Array, gate: Gate, angles: jax.Array,
                   adjoint: bool = False, *, round_coeffs: bool = False) -> jax.Array:
  """``gate(angles[i])`` on wire ``i`` for every ``i`` (the gates commute).

  Args:
    state: ``(2**n,)`` complex state.
    gate: :func:`rx`, :func:`ry` or :func:`rz`.
    angles: ``(n,)`` real angles.
    adjoint: apply every gate's inverse.
    round_coeffs: passed to every gate (float32 coefficients, see :func:`rx`).

  Returns:
    ``(2**n,)`` state of the same dtype.

  Example:
    >>> [round(float(z), 4) for z in expval_z(rotation_layer(zero_state(2), rx,
    ...                                                       jnp.array([0.0, jnp.pi])))]
    [1.0, -1.0]
  """
  for i in range(angles.shape[0]):
    state = gate(state, angles[i], i, adjoint=adjoint, round_coeffs=round_coeffs)
  return state


def cnot_chain(state: jax.Array, n: int, adjoint: bool = False) -> jax.Array:
  """CNOTs ``(0,1), (1,2), ..., (n-2,n-1)`` (in reverse order if ``adjoint``).

  Example:
    >>> s = cnot_chain(rx(zero_state(3), jnp.pi, 0), 3)  # |100> -> |111>
    >>> int(jnp.argmax(jnp.abs(s)))
    7
  """
  pairs = [(i, i + 1) for i in range(n - 1)]
  for control, target in (reversed(pairs) if adjoint else pairs):
    state = cnot(state, control, target)
  return state


def feature_map_circuit(state: jax.Array, x: jax.Array, adjoint: bool = False, *,
                        round_coeffs: bool = False) -> jax.Array:
  """The QK-LSTM feature map ``U(x)`` (or ``U(x)^dagger``) applied to ``state``.

  ``U(x)`` on ``n = len(x)`` wires is H on every wire, RZ(x_i), RY(x_i), the CNOT chain
  ``(0,1),...,(n-2,n-1)``, then RZ(x_i).  ``U(x)^dagger`` applies the inverse stages
  in reverse order (the CNOT chain reversed too).

  Args:
    state: ``(2**n,)`` complex state.
    x: ``(n,)`` real angles.
    adjoint: apply ``U(x)^dagger``.
    round_coeffs: float32 rotation coefficients (see :func:`rx`).

  Returns:
    ``(2**n,)`` state of the same dtype.

  Example:
    >>> x = jnp.array([0.3, -1.2])
    >>> s = feature_map_circuit(feature_map_circuit(zero_state(2), x), x, adjoint=True)
    >>> round(float(prob_zero(s)), 4)  # U(x)^dagger U(x) = I
    1.0
  """
  n = x.shape[0]
  stages = [
      lambda s: hadamard_layer(s, n),
      lambda s: rotation_layer(s, rz, x, adjoint, round_coeffs=round_coeffs),
      lambda s: rotation_layer(s, ry, x, adjoint, round_coeffs=round_coeffs),
      lambda s: cnot_chain(s, n, adjoint),
      lambda s: rotation_layer(s, rz, x, adjoint, round_coeffs=round_coeffs),
  ]
  for stage in (reversed(stages) if adjoint else stages):
    state = stage(state)
  return state


# --------------------------------------------------------------------------- #
# Readouts
# --------------------------------------------------------------------------- #
def _z_signs(n: int) -> np.ndarray:
  """Static ``(2**n, n)`` table: ``[k, i]`` is the Z eigenvalue (+-1) of wire ``i`` in ``|k>``."""
  bits = (np.arange(2**n)[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1
  return 1.0 - 2.0 * bits


def expval_z(state: jax.Array) -> jax.Array:
  """``<Z_i>`` on every wire.

  Args:
    state: ``(2**n,)`` complex state.

  Returns:
    ``(n,)`` real array (``float32`` for ``complex64`` states) with entry ``i``
    equal to ``P(wire i = 0) - P(wire i = 1)`` (not renormalised: an unnormalised
    ``state`` gives ``<state|Z_i|state>``).

  Example:
    >>> [round(float(z), 4) for z in expval_z(rx(zero_state(2), jnp.pi, 1))]
    [1.0, -1.0]
  """
  n = _n_wires(state)
  probs = jnp.real(state) ** 2 + jnp.imag(state) ** 2
  return probs @ jnp.asarray(_z_signs(n), probs.dtype)


def prob_zero(state: jax.Array) -> jax.Array:
  """Probability of the all-zeros basis state ``|0...0>``.

  Args:
    state: ``(2**n,)`` complex state.

  Returns:
    ``()`` real scalar ``|state[0]|**2``.

  Example:
    >>> round(float(prob_zero(hadamard(zero_state(2), 0))), 4)
    0.5
  """
  _n_wires(state)
  return jnp.abs(state[0]) ** 2


def norm_squared(state: jax.Array) -> jax.Array:
  """``<psi|psi>`` as a ``()`` real scalar (``1`` up to float rounding for a circuit's state).

  Dividing a readout by it leaves values and gradients unchanged in exact arithmetic
  and cancels the ``O(n_gates * eps)`` norm drift of float32 rounding in long gate
  sequences (e.g. an identity circuit then reads exactly ``1``).

  Example:
    >>> round(float(norm_squared(hadamard(zero_state(1), 0))), 6)  # float32: 1 - 6e-8
    1.0
  """
  return jnp.sum(jnp.abs(state) ** 2)


def readout(state: jax.Array) -> jax.Array:
  """``<Z_i>`` of the normalised state: ``expval_z(state) / norm_squared(state)``.

  Args:
    state: ``(2**n,)`` complex state.

  Returns:
    ``(n,)`` real array.

  Example:
    >>> [round(float(z), 4) for z in readout(2 * rx(zero_state(2), jnp.pi, 1))]
    [1.0, -1.0]
  """
  return expval_z(state) / norm_squared(state)
