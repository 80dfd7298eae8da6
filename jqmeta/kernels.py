"""A genuine quantum fidelity kernel (used by the corrected QK-LSTM).

Feature map (in the spirit of the published QK-LSTM encoding), on ``n = len(x)``
wires::

  U(x) = RZ(x) . CNOT(n-2, n-1) ... CNOT(0, 1) . RY(x) . RZ(x) . H^{(x)n}
  |phi(x)> = U(x) |0...0>

i.e. H on all wires, RZ(x_i) on each wire, RY(x_i) on each wire, the CNOT chain
``(0,1),...,(n-2,n-1)``, then RZ(x_i) on each wire.  Unlike the published gate
circuit (which applies ``U`` and then ``U^dagger`` of the SAME input and is the
identity, see :func:`jqmeta.circuits.qk_reference_gate`) the kernel compares two
DIFFERENT inputs::

  k(x, x') = |<phi(x')|phi(x)>|^2 = |<0| U(x')^dagger U(x) |0>|^2

and is evaluated as a circuit: ``U(x)`` on ``|0>``, then ``U(x')^dagger`` (the
adjoint gates in reverse order), then the probability of ``|0...0>``.  It is
symmetric, lies in ``[0, 1]`` and equals ``1`` on the diagonal.

The QK-LSTM gate is ``act(sum_j alpha_j k(v, r_j) + b)`` over ``N`` trainable
reference vectors ``r_j`` (:func:`kernel_gate`).  All functions act on ONE input
vector; batch with ``jax.vmap`` at the call site.

Example:
  >>> import jax.numpy as jnp
  >>> from jqmeta import kernels
  >>> x = jnp.array([0.1, 0.5, -0.3])
  >>> round(float(kernels.fidelity_kernel(x, x)), 4)
  1.0
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jqmeta._src import gates
from jqmeta._src.validation import check_vector, complex_dtype

__all__ = ["feature_map", "fidelity_kernel", "kernel_features", "kernel_gate"]


def feature_map(x: jax.Array) -> jax.Array:
  """The encoded state ``|phi(x)> = U(x)|0...0>`` (see the module docstring).

  Args:
    x: ``(n,)`` real input.

  Returns:
    ``(2**n,)`` complex state (``complex64``; ``complex128`` for ``float64``
    input under x64).

  Example:
    >>> s = feature_map(jnp.array([0.0, 0.0]))  # H on both wires only
    >>> [round(float(p), 4) for p in jnp.abs(s) ** 2]
    [0.25, 0.25, 0.25, 0.25]
  """
  x = check_vector(x, "x")
  return gates.feature_map_circuit(gates.zero_state(x.shape[0], complex_dtype(x)), x)


def fidelity_kernel(x: jax.Array, x_ref: jax.Array) -> jax.Array:
  """Fidelity kernel ``k(x, x') = |<phi(x')|phi(x)>|^2`` evaluated as a circuit.

  ``U(x)`` is applied to ``|0>``, then ``U(x_ref)^dagger``, and the probability
  of ``|0...0>`` is read.

  Args:
    x: ``(n,)`` real input.
    x_ref: ``(n,)`` real reference input (same length).

  Returns:
    ``()`` real scalar in ``[0, 1]``.

  Example:
    >>> k = fidelity_kernel(jnp.array([0.1, 0.2]), jnp.array([0.4, -0.3]))
    >>> 0.0 <= float(k) <= 1.0
    True
  """
  x = check_vector(x, "x")
  x_ref = check_vector(x_ref, "x_ref")
  if x.shape != x_ref.shape:
    raise ValueError(f"x and x_ref must have the same shape, got {x.shape} and {x_ref.shape}")
  s = gates.zero_state(x.shape[0], complex_dtype(x, x_ref))
  s = gates.feature_map_circuit(s, x)
  s = gates.feature_map_circuit(s, x_ref, adjoint=True)
  # Normalised (exactly 1 in exact arithmetic): cancels float32 norm drift, so
  # k(x, x) == 1 and k <= 1 up to a few ulps.
  return gates.prob_zero(s) / gates.norm_squared(s)


def kernel_features(v: jax.Array, refs: jax.Array) -> jax.Array:
  """Kernel values of ``v`` against every reference vector.

  Args:
    v: ``(n,)`` real input.
    refs: ``(N, n)`` real reference vectors.

  Returns:
    ``(N,)`` real array, entry ``j`` equal to ``fidelity_kernel(v, refs[j])``.

  Example:
    >>> refs = jnp.array([[0.1, 0.2], [1.0, -1.0], [0.5, 0.5]])
    >>> kernel_features(jnp.array([0.1, 0.2]), refs).shape
    (3,)
  """
  v = check_vector(v, "v")
  refs = jnp.asarray(refs)
  if refs.ndim != 2:
    raise ValueError(f"refs must be 2-D (N, n), got shape {refs.shape}")
  if refs.shape[1] != v.shape[0]:
    raise ValueError(
        f"refs must have width n = len(v) = {v.shape[0]}, got shape {refs.shape}")
  if refs.shape[0] < 1:
    raise ValueError(f"refs must hold at least one reference vector, got shape {refs.shape}")
  return jax.vmap(lambda r: fidelity_kernel(v, r))(refs)


def kernel_gate(v: jax.Array, refs: jax.Array, alphas: jax.Array, bias: jax.Array,
                activation: Callable[[jax.Array], jax.Array]) -> jax.Array:
  """QK-LSTM gate ``activation(sum_j alphas[j] k(v, refs[j]) + bias)``.

  Args:
    v: ``(n,)`` real input.
    refs: ``(N, n)`` real reference vectors.
    alphas: ``(N, out)`` real kernel weights.
    bias: ``(out,)`` real bias.
    activation: elementwise callable, e.g. ``jax.nn.sigmoid`` or ``jnp.tanh``.

  Returns:
    ``(out,)`` array ``activation(kernel_features(v, refs) @ alphas + bias)``.

  Example:
    >>> refs = jnp.array([[0.1, 0.2], [1.0, -1.0]])
    >>> g = kernel_gate(jnp.array([0.1, 0.2]), refs, jnp.zeros((2, 3)), jnp.zeros(3),
    ...                 jax.nn.sigmoid)
    >>> [round(float(a), 4) for a in g]
    [0.5, 0.5, 0.5]
  """
  if not callable(activation):
    raise ValueError(f"activation must be callable, got {type(activation).__name__}")
  refs = jnp.asarray(refs)
  alphas = jnp.asarray(alphas)
  bias = jnp.asarray(bias)
  if alphas.ndim != 2:
    raise ValueError(f"alphas must be 2-D (N, out), got shape {alphas.shape}")
  if refs.ndim == 2 and alphas.shape[0] != refs.shape[0]:
    raise ValueError(
        f"alphas must have shape (N, out) with N = len(refs) = {refs.shape[0]}, "
        f"got {alphas.shape}")
  if bias.shape != (alphas.shape[1],):
    raise ValueError(
        f"bias must have shape (out,) = ({alphas.shape[1]},), got {bias.shape}")
  feats = kernel_features(v, refs)
  return activation(feats @ alphas + bias)
