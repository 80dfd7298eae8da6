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

Each takes ``precision`` (:data:`PRECISIONS`): ``"float32"`` (default) simulates in
complex64; ``"published"`` reproduces the simulator each circuit ran on in the paper's
stack, fed float32 torch tensors: a complex128 state and the float64 readouts rounded to
float32 (``.to(torch.float32)``), read without normalising.  The published QK-LSTM and
QLSTM circuits ran on ``lightning.qubit`` (``results/args.yaml``: ``backend_sequence:
lightning.qubit``), which evaluates rotation coefficients in float64; QFWP's circuit
behaves as PennyLane ``default.qubit``, which evaluates ``cos(theta/2)``, ``sin(theta/2)``
in the parameter's dtype, float32 (here correctly rounded), before promoting them.  The
published data say so: fed the published inputs, QFWP reproduces 68.6% of the 900
published steps bit for bit with float32 coefficients and 38.8% with float64 ones, and
the QK-LSTM's identity circuit reads exactly 1.0 only with float64 coefficients (90% of
its published angles bit for bit, against 13%).  Both precisions return float32 for
float32 inputs; the published one rounds its inputs to float32 and works under ``jit``,
``vmap`` and reverse-mode ``grad`` with x64 disabled, needing nothing from the caller
(:func:`jqmeta._src.precision.float64_island`; ``jax.jvp`` is refused).

Example:
  >>> import jax.numpy as jnp
  >>> from jqmeta import circuits
  >>> s = circuits.cnot(circuits.hadamard(circuits.zero_state(2), 0), 0, 1)
  >>> [round(float(p), 4) for p in jnp.abs(s) ** 2]  # Bell state
  [0.5, 0.0, 0.0, 0.5]
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp

from jqmeta._src import gates
from jqmeta._src import precision as prec
from jqmeta._src.gates import (cnot, expval_z, hadamard, prob_zero, rx, ry, rz,
                               zero_state)
from jqmeta._src.validation import check_choice, check_vector, complex_dtype

__all__ = [
    "PRECISIONS",
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

PRECISIONS = ("float32", "published")
"""The ``precision`` values the named circuits accept (see the module docstring)."""


def _check_layer_weights(weights, n: int, name: str, one_layer_ok: bool = False) -> jax.Array:
  """Real ``(L, n)`` layer weights, ``L >= 1`` (a ``(n,)`` vector is one layer if allowed)."""
  weights = jnp.asarray(weights)
  if one_layer_ok and weights.ndim == 1:
    weights = weights[None, :]
  if weights.ndim != 2 or weights.shape[1] != n or weights.shape[0] < 1:
    shapes = f"({n},) or (L, {n})" if one_layer_ok else f"(L, {n})"
    raise ValueError(f"{name} must have shape {shapes} with L >= 1 for a {n}-wire input, "
                     f"got {weights.shape}")
  if jnp.iscomplexobj(weights):
    raise ValueError(f"{name} must be real, got dtype {weights.dtype}")
  return weights


def _simulate(n: int, circuit: Callable[..., jax.Array], inputs, precision: str,
              float32_coeffs: bool) -> jax.Array:
  """``<Z_i>`` readouts of ``circuit(state, *inputs, round_coeffs)`` run from ``|0...0>``.

  ``"float32"``: the state takes the inputs' dtype (complex64 for float32).
  ``"published"``: float64 inputs (rounded to float32 values), a complex128 state,
  float32 rotation coefficients if ``float32_coeffs``, readouts rounded to float32.
  PennyLane reads ``<Z_i>`` of the state as it is: float32 coefficients make each
  rotation unitary only to ~1e-8, and normalising would move about half of QFWP's
  readouts by one float32 ulp.
  """
  check_choice("precision", precision, PRECISIONS)
  if precision == "float32":
    return gates.readout(circuit(zero_state(n, complex_dtype(*inputs)), *inputs, False))

  def published(*inputs):
    inputs = [prec.round_f32(x.astype(jnp.float64)) for x in inputs]
    state = circuit(zero_state(n, jnp.complex128), *inputs, float32_coeffs)
    return prec.to_f32(gates.expval_z(state))
  return prec.float64_island(published)(*[jnp.asarray(x) for x in inputs])


def _qk_identity(s: jax.Array, y: jax.Array, round_coeffs: bool, published: bool = False
                 ) -> jax.Array:
  """``U(a)^dagger U(a)`` with ``a = cos(y**2)`` (published: torch's float32 ``a``)."""
  if published:
    a = prec.round_f32(jnp.cos(prec.round_f32(y * y)))
  else:
    a = jnp.cos(y**2)
  s = gates.feature_map_circuit(s, a, round_coeffs=round_coeffs)
  return gates.feature_map_circuit(s, a, adjoint=True, round_coeffs=round_coeffs)


def qk_reference_gate(y: jax.Array, *, precision: str = "float32") -> jax.Array:
  """The PUBLISHED QK-LSTM gate circuit (it is the identity: readouts are all 1).

  With ``a = cos(y**2)`` the circuit is ``U(a)`` = H on all wires, RZ(a_i),
  RY(a_i), CNOT chain ``(0,1),...,(n-2,n-1)``, RZ(a_i); followed by the exact
  inverse ``U(a)^dagger``; then ``<Z_i>`` is read.  Since ``U^dagger U = I`` the
  output is ``1`` on every wire for every ``y`` and its gradient is zero; this
  reproduces a defect of the published model (see ``jqmeta.kernels`` for the
  corrected, genuine fidelity kernel).

  Args:
    y: ``(n,)`` real input.
    precision: ``"float32"`` or ``"published"`` (see the module docstring).

  Returns:
    ``(n,)`` real ``<Z_i>`` readouts (all ``1`` up to rounding).

  Example:
    >>> [round(float(z), 4) for z in qk_reference_gate(jnp.array([0.3, -1.2, 2.0]))]
    [1.0, 1.0, 1.0]
  """
  y = check_vector(y, "y")
  published = check_choice("precision", precision, PRECISIONS) == "published"
  circuit = functools.partial(_qk_identity, published=published)
  return _simulate(y.shape[0], circuit, [y], precision, float32_coeffs=False)


def _entangler_layer(s: jax.Array, w: jax.Array, n: int, round_coeffs: bool = False
                     ) -> jax.Array:
  """One ``qml.BasicEntanglerLayers`` layer: RX(w_i) on each wire, then CNOT ring."""
  s = gates.rotation_layer(s, rx, w, round_coeffs=round_coeffs)
  if n == 2:
    s = cnot(s, 0, 1)  # PennyLane uses a single CNOT (no ring) for two wires.
  elif n > 2:
    for i in range(n):
      s = cnot(s, i, (i + 1) % n)
  return s


def _qlstm(s: jax.Array, y: jax.Array, weights: jax.Array, round_coeffs: bool) -> jax.Array:
  s = gates.rotation_layer(s, rx, y, round_coeffs=round_coeffs)
  for layer in range(weights.shape[0]):  # few layers: unrolled (eager-op caching friendly)
    s = _entangler_layer(s, weights[layer], y.shape[0], round_coeffs)
  return s


def qlstm_gate(y: jax.Array, weights: jax.Array, *, precision: str = "float32") -> jax.Array:
  """QLSTM gate circuit: RX(y_i) encoding + ``qml.BasicEntanglerLayers(weights)``.

  Each layer applies RX(weights[l, i]) on wire ``i`` then a CNOT ring
  ``(0,1),(1,2),...,(n-1,0)`` (a single CNOT ``(0,1)`` for ``n == 2``, none for
  ``n == 1``), exactly as PennyLane's ``BasicEntanglerLayers`` with RX rotations.

  Args:
    y: ``(n,)`` real input angles.
    weights: ``(n,)`` (one layer) or ``(L, n)`` real layer weights.
    precision: ``"float32"`` or ``"published"`` (see the module docstring).

  Returns:
    ``(n,)`` real ``<Z_i>`` readouts.

  Example:
    >>> z = qlstm_gate(jnp.array([0.1, 0.2]), jnp.array([0.3, 0.4]))
    >>> z.shape
    (2,)
    >>> round(float(z[0]), 4)  # wire 0 = cos(0.1 + 0.3)
    0.9211
  """
  y = check_vector(y, "y")
  weights = _check_layer_weights(weights, y.shape[0], "weights", one_layer_ok=True)
  return _simulate(y.shape[0], _qlstm, [y, weights], precision, float32_coeffs=False)


def _fwp(s: jax.Array, e: jax.Array, fast_weights: jax.Array, round_coeffs: bool
         ) -> jax.Array:
  n = e.shape[0]
  s = gates.rotation_layer(gates.hadamard_layer(s, n), ry, e, round_coeffs=round_coeffs)
  for layer in range(fast_weights.shape[0]):  # few layers: unrolled
    s = gates.cnot_chain(s, n)
    s = gates.rotation_layer(s, ry, fast_weights[layer], round_coeffs=round_coeffs)
  return s


def fwp_circuit(e: jax.Array, fast_weights: jax.Array, *,
                precision: str = "float32") -> jax.Array:
  """QFWP circuit: H + RY(e_i) encoding, then per layer a CNOT chain and RY(fast weights).

  Circuit on ``n = len(e)`` wires: H on all wires, RY(e_i) on each wire, then
  for each layer ``l``: CNOT chain ``(0,1),...,(n-2,n-1)`` followed by
  RY(fast_weights[l, i]) on each wire; read ``<Z_i>``.  (Published: n=2, L=1.)

  Args:
    e: ``(n,)`` real encoding angles.
    fast_weights: ``(L, n)`` real fast weights, ``L >= 1``.
    precision: ``"float32"`` or ``"published"`` (see the module docstring).

  Returns:
    ``(n,)`` real ``<Z_i>`` readouts.

  Example:
    >>> z = fwp_circuit(jnp.array([0.0, 0.0]), jnp.zeros((1, 2)))
    >>> [round(float(v), 4) for v in z]  # |++> is invariant under CNOT
    [0.0, 0.0]
    >>> z = fwp_circuit(jnp.array([0.3, -1.0]), jnp.ones((1, 2)), precision="published")
    >>> z.dtype, bool(jnp.allclose(z, fwp_circuit(jnp.array([0.3, -1.0]), jnp.ones((1, 2)))))
    (dtype('float32'), True)
  """
  e = check_vector(e, "e")
  fast_weights = _check_layer_weights(fast_weights, e.shape[0], "fast_weights")
  return _simulate(e.shape[0], _fwp, [e, fast_weights], precision, float32_coeffs=True)
