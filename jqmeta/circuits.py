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

import jax
import jax.numpy as jnp

from jqmeta._src import gates
from jqmeta._src.gates import (cnot, expval_z, hadamard, prob_zero, rx, ry, rz,
                               zero_state)
from jqmeta._src.validation import check_vector, complex_dtype

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
  y = check_vector(y, "y")
  a = jnp.cos(y**2)
  s = zero_state(y.shape[0], complex_dtype(y))
  s = gates.feature_map_circuit(s, a)
  s = gates.feature_map_circuit(s, a, adjoint=True)
  return gates.readout(s)


def _entangler_layer(s: jax.Array, w: jax.Array, n: int) -> jax.Array:
  """One ``qml.BasicEntanglerLayers`` layer: RX(w_i) on each wire, then CNOT ring."""
  s = gates.rotation_layer(s, rx, w)
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
  y = check_vector(y, "y")
  n = y.shape[0]
  weights = _check_layer_weights(weights, n, "weights", one_layer_ok=True)
  s = gates.rotation_layer(zero_state(n, complex_dtype(y, weights)), rx, y)
  for layer in range(weights.shape[0]):  # few layers: unrolled (eager-op caching friendly)
    s = _entangler_layer(s, weights[layer], n)
  return gates.readout(s)


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
  e = check_vector(e, "e")
  n = e.shape[0]
  fast_weights = _check_layer_weights(fast_weights, n, "fast_weights")
  s = gates.hadamard_layer(zero_state(n, complex_dtype(e, fast_weights)), n)
  s = gates.rotation_layer(s, ry, e)
  for layer in range(fast_weights.shape[0]):  # few layers: unrolled
    s = gates.cnot_chain(s, n)
    s = gates.rotation_layer(s, ry, fast_weights[layer])
  return gates.readout(s)
