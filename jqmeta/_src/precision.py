"""Float32 arithmetic emulated in float64: the published precision of Phase I.

The published stack computed its QAOA costs and circuit readouts in float64 (PennyLane's
complex128 statevector) and cast each result to float32 where the torch code did, while
the linear layers ran in float32.  ``meta.phase1(..., precision="published")`` reproduces
that with the helpers here: :func:`float64_island` runs a float64 computation safely
inside a float32 program, :func:`round_f32` / :func:`to_f32` round to float32 exactly.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax


def x64():
  """Context manager enabling float64 while the code in it is traced (but see
  :func:`float64_island`: transformations may rewrite that code later).

  Example:
    >>> with x64():
    ...   jnp.zeros(1, jnp.float64).dtype
    dtype('float64')
  """
  return jax.enable_x64(True)


def float64_island(fn: Callable) -> Callable:
  """``fn`` (float32 arrays in and out, float64 inside) made safe in a float32 program.

  With x64 off, a transformation that rewrites float64 operations outside an x64 context
  re-types them float32 (dots and ``lax.complex`` then fail): ``grad`` transposes them
  after ``fn`` has returned, a ``vmap`` batches a ``lax.scan`` body when the scan is
  bound.  The result runs ``fn`` with x64 on, as a ``jax.custom_vjp`` whose forward and
  backward passes enable x64 too: ``jit``, ``vmap`` and reverse-mode ``grad`` work with
  x64 disabled, ``jax.jvp`` is refused.  A caller's own vmapped ``lax.scan`` around it
  must be bound with x64 on (as :func:`jqmeta.meta.phase1` does).  ``fn`` takes and
  returns float32 arrays or pytrees (:func:`to_f32`) and closes over no traced value.

  Example:
    >>> third = float64_island(lambda x: to_f32(x.astype(jnp.float64) / 3))
    >>> jax.grad(third)(jnp.float32(1.0)).dtype
    dtype('float32')
  """
  def primal(*args):
    with x64():
      return fn(*args)

  def fwd(*args):
    with x64():
      return jax.vjp(fn, *args)

  def bwd(vjp, cotangent):
    with x64():
      return vjp(cotangent)

  wrapped = jax.custom_vjp(primal)
  wrapped.defvjp(fwd, bwd)

  def call(*args):
    with x64():  # an enclosing vmap batches the custom_vjp call here
      return wrapped(*args)
  return call


def round_f32(x: jax.Array) -> jax.Array:
  """Rounds float64 values to the nearest float32 (ties to even), kept in float64.

  ``lax.reduce_precision`` works on the bits (XLA:CPU folds a float64 -> float32 ->
  float64 convert pair, skipping the rounding).  "Compute in float64, then round_f32"
  gives the IEEE float32 result of ``+ - * /`` with no FMA contraction (which XLA applies
  to float32 ``a * b + c`` in some batch shapes, not others).  ``x``: any shape, float64
  (float32 is returned unchanged); results below 1.2e-38 flush to zero.

  Example:
    >>> with x64():
    ...   bool(round_f32(jnp.asarray(1 / 3, jnp.float64)) == float(jnp.float32(1 / 3)))
    True
  """
  return lax.reduce_precision(x, exponent_bits=8, mantissa_bits=23)


def to_f32(x: jax.Array) -> jax.Array:
  """``round_f32(x)`` as a float32 array (the exit from a float64 island).

  Example:
    >>> with x64():
    ...   to_f32(jnp.asarray([0.1], jnp.float64)).dtype
    dtype('float32')
  """
  return round_f32(x).astype(jnp.float32)
