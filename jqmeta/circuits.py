"""A tiny pure-JAX statevector simulator for small (1- to 8-qubit) gate circuits.

A state on ``n`` wires is a flat ``(2**n,)`` complex array (``complex64`` by
default, ``complex128`` when the inputs are ``float64`` and x64 is enabled).
Wire ordering follows PennyLane: wire ``0`` is the MOST significant bit of the
basis index, so ``qml.state()`` of the same circuit is the same vector.

Gate conventions are PennyLane's::

  RX(t) = exp(-i t X / 2)    RY(t) = exp(-i t Y / 2)
  RZ(t) = exp(-i t Z / 2) = diag(e^{-it/2}, e^{+it/2})

Every function acts on ONE state / one input vector; batch with ``jax.vmap`` at
the call site.  Wires are static Python ints; the number of wires is read
statically from ``state.shape``.  Nothing here is jitted.

The three gate circuits used by the learned optimizers return ``(n,)`` real
``<Z_i>`` readouts:

* :func:`qk_reference_gate`: the published QK-LSTM gate circuit.  It is
  ``U(a)^dagger U(a)`` and hence the identity: every readout is exactly ``1``
  for every input (a known defect of the published model, kept for fidelity).
* :func:`qlstm_gate`: RX angle encoding + ``BasicEntanglerLayers``.
* :func:`fwp_circuit`: QFWP's H / RY encoding + CNOT-chain / RY layers.

Their readouts are taken on the normalised final state (``<Z_i> / <psi|psi>``,
identical in exact arithmetic), which cancels the float32 norm drift of long
gate sequences.

Example:
  >>> import jax.numpy as jnp
  >>> from jqmeta import circuits
  >>> s = circuits.cnot(circuits.hadamard(circuits.zero_state(2), 0), 0, 1)
  >>> [round(float(p), 4) for p in jnp.abs(s) ** 2]  # Bell state
  [0.5, 0.0, 0.0, 0.5]
"""

from __future__ import annotations

import operator

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "zero_state",
    "hadamard",
    "rx",
    "ry",
    "rz",
    "cnot",
    "expval_z",
    "prob_zero",
    "qk_reference_gate",
    "qlstm_gate",
    "fwp_circuit",
]


# --------------------------------------------------------------------------- #
# Validation helpers
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


def _check_wire(wire, n: int, name: str = "wire") -> int:
  """Returns ``wire`` as an int in ``[0, n)`` or raises ``ValueError``."""
  if isinstance(wire, (bool, np.bool_)):
    raise ValueError(f"{name} must be a static Python int, got bool {wire!r}")
  try:
    w = operator.index(wire)
  except TypeError:
    raise ValueError(
        f"{name} must be a static Python int, got {type(wire).__name__} {wire!r}") from None
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


def _check_vector(x, name: str) -> jax.Array:
  """Checks ``x`` is a non-empty real 1-D vector and returns it as an array."""
  x = jnp.asarray(x)
  if x.ndim != 1 or x.shape[0] < 1:
    raise ValueError(f"{name} must be a non-empty 1-D (n,) vector, got shape {x.shape}")
  if jnp.iscomplexobj(x):
    raise ValueError(f"{name} must be real, got dtype {x.dtype}")
  return x


def _complex_dtype(*xs) -> jnp.dtype:
  """complex64, or complex128 when a (real) input is float64 under x64."""
  real = jnp.result_type(*xs, jnp.float32)
  if not jnp.issubdtype(real, jnp.floating):
    real = jnp.float32
  return jnp.result_type(real, jnp.complex64)


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
  if isinstance(n_wires, (bool, np.bool_)):
    raise ValueError(f"n_wires must be a positive int, got {n_wires!r}")
  try:
    n = operator.index(n_wires)
  except TypeError:
    raise ValueError(f"n_wires must be a positive int, got {n_wires!r}") from None
  if n < 1:
    raise ValueError(f"n_wires must be >= 1, got {n}")
  if not jnp.issubdtype(dtype, jnp.complexfloating):
    raise ValueError(f"dtype must be complex, got {dtype}")
  return jnp.zeros((2**n,), dtype).at[0].set(1)


def _apply_1q(state: jax.Array, mat: jax.Array, wire: int, n: int) -> jax.Array:
  """Applies a 2x2 matrix ``mat`` on ``wire`` (wire 0 = most significant bit)."""
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
  return _apply_1q(state, h, wire, n)


def rx(state: jax.Array, theta, wire: int, adjoint: bool = False) -> jax.Array:
  """``RX(theta) = exp(-i theta X / 2)`` on ``wire`` (``RX(-theta)`` if ``adjoint``).

  Args:
    state: ``(2**n,)`` complex state.
    theta: real scalar angle (JAX or Python float).
    wire: static int in ``[0, n)``.
    adjoint: apply the inverse gate.

  Returns:
    ``(2**n,)`` state of the same dtype.

  Example:
    >>> [round(float(z), 4) for z in expval_z(rx(zero_state(1), jnp.pi / 3, 0))]
    [0.5]
  """
  n = _n_wires(state)
  wire = _check_wire(wire, n)
  t = _check_angle(theta, state.dtype)
  t = -t if adjoint else t
  c = jnp.cos(t / 2).astype(state.dtype)
  s = jnp.sin(t / 2).astype(state.dtype)
  mat = jnp.stack([jnp.stack([c, -1j * s]), jnp.stack([-1j * s, c])])
  return _apply_1q(state, mat, wire, n)


def ry(state: jax.Array, theta, wire: int, adjoint: bool = False) -> jax.Array:
  """``RY(theta) = exp(-i theta Y / 2)`` on ``wire`` (``RY(-theta)`` if ``adjoint``).

  Args:
    state: ``(2**n,)`` complex state.
    theta: real scalar angle (JAX or Python float).
    wire: static int in ``[0, n)``.
    adjoint: apply the inverse gate.

  Returns:
    ``(2**n,)`` state of the same dtype.

  Example:
    >>> [round(float(a.real), 4) for a in ry(zero_state(1), jnp.pi / 2, 0)]
    [0.7071, 0.7071]
  """
  n = _n_wires(state)
  wire = _check_wire(wire, n)
  t = _check_angle(theta, state.dtype)
  t = -t if adjoint else t
  c = jnp.cos(t / 2).astype(state.dtype)
  s = jnp.sin(t / 2).astype(state.dtype)
  mat = jnp.stack([jnp.stack([c, -s]), jnp.stack([s, c])])
  return _apply_1q(state, mat, wire, n)


def rz(state: jax.Array, theta, wire: int, adjoint: bool = False) -> jax.Array:
  """``RZ(theta) = diag(e^{-i theta/2}, e^{i theta/2})`` on ``wire`` (inverse if ``adjoint``).

  Args:
    state: ``(2**n,)`` complex state.
    theta: real scalar angle (JAX or Python float).
    wire: static int in ``[0, n)``.
    adjoint: apply the inverse gate ``RZ(-theta)``.

  Returns:
    ``(2**n,)`` state of the same dtype.

  Example:
    >>> a = rz(zero_state(1), jnp.pi, 0)
    >>> [round(float(a[0].imag), 4), round(float(a[1].imag), 4)]
    [-1.0, 0.0]
  """
  n = _n_wires(state)
  wire = _check_wire(wire, n)
  t = _check_angle(theta, state.dtype)
  t = -t if adjoint else t
  phase = jnp.exp(-0.5j * t.astype(state.dtype))
  zero = jnp.zeros((), state.dtype)
  # Same 2x2 kernel as the other gates (one compiled op per wire shape in eager mode).
  mat = jnp.stack([jnp.stack([phase, zero]), jnp.stack([zero, jnp.conj(phase)])])
  return _apply_1q(state, mat, wire, n)


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


# --------------------------------------------------------------------------- #
# Named gate circuits
# --------------------------------------------------------------------------- #
def _readout(state: jax.Array) -> jax.Array:
  """``<Z_i>`` of the normalised state.

  Dividing by ``<psi|psi>`` (exactly 1 in exact arithmetic, so values and
  gradients are unchanged) cancels the ``O(n_gates * eps)`` norm drift of
  float32 rounding, e.g. the identity circuit reads exactly ``1``.
  """
  return expval_z(state) / jnp.sum(jnp.abs(state) ** 2)


def qk_reference_gate(y: jax.Array) -> jax.Array:
  """The PUBLISHED QK-LSTM gate circuit (it is the identity: readouts are all 1).

  With ``a = cos(y**2)`` the circuit is ``U(a)`` = H on all wires, RZ(a_i),
  RY(a_i), CNOT chain ``(0,1),...,(n-2,n-1)``, RZ(a_i); followed by the exact
  inverse ``U(a)^dagger``; then ``<Z_i>`` is read.  Since ``U^dagger U = I`` the
  output is ``1`` on every wire for every ``y`` and its gradient is zero; this
  reproduces a defect of the published model (see ``jqmeta.kernels`` for the
  corrected, genuine fidelity kernel).

  Args:
    y: ``(n,)`` real input.

  Returns:
    ``(n,)`` real ``<Z_i>`` readouts (all ``1`` up to rounding).

  Example:
    >>> [round(float(z), 4) for z in qk_reference_gate(jnp.array([0.3, -1.2, 2.0]))]
    [1.0, 1.0, 1.0]
  """
  y = _check_vector(y, "y")
  n = y.shape[0]
  a = jnp.cos(y**2)
  s = zero_state(n, _complex_dtype(y))
  # U(a)
  for i in range(n):
    s = hadamard(s, i)
  for i in range(n):
    s = rz(s, a[i], i)
  for i in range(n):
    s = ry(s, a[i], i)
  for i in range(n - 1):
    s = cnot(s, i, i + 1)
  for i in range(n):
    s = rz(s, a[i], i)
  # U(a)^dagger: adjoint gates in reverse order.
  for i in range(n):
    s = rz(s, a[i], i, adjoint=True)
  for i in reversed(range(n - 1)):
    s = cnot(s, i, i + 1)
  for i in range(n):
    s = ry(s, a[i], i, adjoint=True)
  for i in range(n):
    s = rz(s, a[i], i, adjoint=True)
  for i in range(n):
    s = hadamard(s, i)
  return _readout(s)


def _entangler_layer(s: jax.Array, w: jax.Array, n: int) -> jax.Array:
  """One ``qml.BasicEntanglerLayers`` layer: RX(w_i) on each wire, then CNOT ring."""
  for i in range(n):
    s = rx(s, w[i], i)
  if n == 2:
    s = cnot(s, 0, 1)  # PennyLane uses a single CNOT (no ring) for two wires.
  elif n > 2:
    for i in range(n):
      s = cnot(s, i, (i + 1) % n)
  return s


def qlstm_gate(y: jax.Array, weights: jax.Array) -> jax.Array:
  """QLSTM gate circuit: RX(y_i) encoding + ``qml.BasicEntanglerLayers(weights)``.

  Each layer applies RX(weights[l, i]) on wire ``i`` then a CNOT ring
  ``(0,1),(1,2),...,(n-1,0)`` (a single CNOT ``(0,1)`` for ``n == 2``, none for
  ``n == 1``), exactly as PennyLane's ``BasicEntanglerLayers`` with RX rotations.

  Args:
    y: ``(n,)`` real input angles.
    weights: ``(n,)`` (one layer) or ``(L, n)`` real layer weights.

  Returns:
    ``(n,)`` real ``<Z_i>`` readouts.

  Example:
    >>> z = qlstm_gate(jnp.array([0.1, 0.2]), jnp.array([0.3, 0.4]))
    >>> z.shape
    (2,)
    >>> round(float(z[0]), 4)  # wire 0 = cos(0.1 + 0.3)
    0.9211
  """
  y = _check_vector(y, "y")
  n = y.shape[0]
  weights = jnp.asarray(weights)
  if weights.ndim == 1:
    weights = weights[None, :]
  if weights.ndim != 2 or weights.shape[1] != n or weights.shape[0] < 1:
    raise ValueError(
        f"weights must have shape ({n},) or (L, {n}) with L >= 1 for a {n}-wire input, "
        f"got {jnp.shape(weights)}")
  if jnp.iscomplexobj(weights):
    raise ValueError(f"weights must be real, got dtype {weights.dtype}")
  s = zero_state(n, _complex_dtype(y, weights))
  for i in range(n):
    s = rx(s, y[i], i)
  for layer in range(weights.shape[0]):  # few layers: unrolled (eager-op caching friendly)
    s = _entangler_layer(s, weights[layer], n)
  return _readout(s)


def fwp_circuit(e: jax.Array, fast_weights: jax.Array) -> jax.Array:
  """QFWP circuit: H + RY(e_i) encoding, then per layer a CNOT chain and RY(fast weights).

  Circuit on ``n = len(e)`` wires: H on all wires, RY(e_i) on each wire, then
  for each layer ``l``: CNOT chain ``(0,1),...,(n-2,n-1)`` followed by
  RY(fast_weights[l, i]) on each wire; read ``<Z_i>``.  (Published: n=2, L=1.)

  Args:
    e: ``(n,)`` real encoding angles.
    fast_weights: ``(L, n)`` real fast weights, ``L >= 1``.

  Returns:
    ``(n,)`` real ``<Z_i>`` readouts.

  Example:
    >>> z = fwp_circuit(jnp.array([0.0, 0.0]), jnp.zeros((1, 2)))
    >>> [round(float(v), 4) for v in z]  # |++> is invariant under CNOT
    [0.0, 0.0]
  """
  e = _check_vector(e, "e")
  n = e.shape[0]
  fast_weights = jnp.asarray(fast_weights)
  if fast_weights.ndim != 2 or fast_weights.shape[1] != n or fast_weights.shape[0] < 1:
    raise ValueError(
        f"fast_weights must have shape (L, {n}) with L >= 1 for a {n}-wire input, "
        f"got {fast_weights.shape}")
  if jnp.iscomplexobj(fast_weights):
    raise ValueError(f"fast_weights must be real, got dtype {fast_weights.dtype}")
  s = zero_state(n, _complex_dtype(e, fast_weights))
  for i in range(n):
    s = hadamard(s, i)
  for i in range(n):
    s = ry(s, e[i], i)

  for layer in range(fast_weights.shape[0]):  # few layers: unrolled
    for i in range(n - 1):
      s = cnot(s, i, i + 1)
    for i in range(n):
      s = ry(s, fast_weights[layer, i], i)
  return _readout(s)
