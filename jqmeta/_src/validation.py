"""The one set of argument validators every jqmeta entry point uses.

Each validator raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind,
wrong value) with a message that names the argument, before any work or allocation.
Validators that accept JAX tracers say so; the others need concrete Python values.

Example:
  >>> check_int("grid", 8, 1)
  8
  >>> check_choice("method", "auto", ENERGY_METHODS)
  'auto'
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

ENERGY_METHODS = ("statevector", "analytic", "auto")
"""Energy methods of :func:`jqmeta.qaoa.energy`."""

HALF_PRECISIONS = ("float16", "bfloat16")
"""Angle dtypes refused: energies are computed in the angles' dtype (float32 or float64)."""


def is_traced(x: Any) -> bool:
  """True for a JAX tracer (a value inside ``jit`` / ``vmap`` / ``grad``)."""
  return isinstance(x, jax.core.Tracer)


def check_int(name: str, value, minimum: Optional[int] = None) -> int:
  """``value`` as a Python ``int`` (``bool`` refused), at least ``minimum`` if given.

  Example:
    >>> check_int("steps", np.int64(3), 1)
    3
  """
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
    raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
  value = int(value)
  if minimum is not None and value < minimum:
    raise ValueError(f"{name} must be >= {minimum}, got {value}")
  return value


def check_real(name: str, value, *, low: Optional[float] = None, high: Optional[float] = None,
               low_open: bool = False, high_open: bool = False, traced_ok: bool = False):
  """A finite real scalar within ``[low, high]`` (open ends on request).

  Args:
    name: the argument's name, used in the message.
    value: a Python/NumPy/JAX real scalar (``bool`` is refused).
    low, high: optional bounds; ``low_open`` / ``high_open`` exclude them.
    traced_ok: return a JAX tracer unchecked (its value is unknown at trace time).

  Returns:
    ``float(value)`` (or the tracer itself).

  Example:
    >>> check_real("lr", 1e-3, low=0.0, low_open=True)
    0.001
  """
  if traced_ok and is_traced(value):
    return value
  if isinstance(value, (bool, np.bool_)):
    raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
  try:
    arr = np.asarray(value)
  except Exception as e:  # pylint: disable=broad-except
    raise TypeError(f"{name} must be a real number, got {type(value).__name__}") from e
  if arr.ndim != 0 or not (np.issubdtype(arr.dtype, np.floating)
                           or np.issubdtype(arr.dtype, np.integer)):
    raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
  v = float(arr)
  if not math.isfinite(v):
    raise ValueError(f"{name} must be finite, got {v}")
  if low is not None and (v < low or (low_open and v == low)):
    raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {v}")
  if high is not None and (v > high or (high_open and v == high)):
    raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {v}")
  return v


def check_choice(name: str, value, choices: Sequence[str]) -> str:
  """``value`` if it is one of ``choices`` (strings), else ``ValueError``.

  Example:
    >>> check_choice("variant", "corrected", ("reference", "corrected"))
    'corrected'
  """
  if not isinstance(value, str) or value not in choices:
    raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
  return value


def check_method(method) -> str:
  """An energy method of :data:`ENERGY_METHODS`."""
  return check_choice("method", method, ENERGY_METHODS)


def check_angles(angles) -> jax.Array:
  """Validates QAOA angles and returns them as a float array of shape ``(2, p)``.

  Raises ``TypeError`` for complex/non-numeric or half-precision (float16, bfloat16)
  input and ``ValueError`` for any shape
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
  if jnp.dtype(angles.dtype).name in HALF_PRECISIONS:
    raise TypeError(f"angles of dtype {jnp.dtype(angles.dtype).name} are not supported: "
                    "QAOA energies are computed in the angles' dtype, which must be float32 "
                    "or float64 (use angles.astype(jnp.float32))")
  if angles.ndim != 2 or angles.shape[0] != 2 or angles.shape[1] < 1:
    raise ValueError(
        f"angles must have shape (2, p) with p >= 1 (row 0 gammas, row 1 betas), "
        f"got shape {tuple(angles.shape)}")
  angles = jnp.asarray(angles)
  if not jnp.issubdtype(angles.dtype, jnp.floating):
    angles = angles.astype(jnp.result_type(float))
  return angles


def check_graph(graph, *, batched: bool = False, name: str = "graph") -> None:
  """Checks ``graph`` is ONE :class:`jqmeta.graphs.Graph`, or a non-empty batch of them.

  Args:
    graph: the value to check.
    batched: expect exactly one leading batch axis (``graphs.stack``).
    name: the argument's name, used in the message.

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> check_graph(graphs.from_networkx(nx.path_graph(3)))
  """
  from jqmeta.graphs import Graph  # pylint: disable=import-outside-toplevel  # graphs imports us

  if not isinstance(graph, Graph):
    hint = "graphs.from_networkx(G)" + (" and graphs.stack([...])" if batched else "")
    raise TypeError(f"{name} must be a jqmeta Graph, got {type(graph).__name__}; use {hint}")
  shape = tuple(graph.edges.shape[:-2])
  if batched:
    if len(shape) != 1:
      raise ValueError(f"{name} must have exactly one batch axis (a batch from graphs.stack), "
                       f"got batch shape {shape}")
    if shape[0] < 1:
      raise ValueError(f"{name} is empty")
  elif shape:
    raise ValueError(
        f"expected ONE graph as {name} (edges of shape (E, 2)), got edges of shape "
        f"{graph.edges.shape}; for a batch use jax.vmap(fn, in_axes=(0, 0))(angles, graphs)")


def check_vector(x, name: str) -> jax.Array:
  """A non-empty real 1-D ``(n,)`` vector as a JAX array.

  Example:
    >>> check_vector([0.5, 1.0], "y").shape
    (2,)
  """
  x = jnp.asarray(x)
  if x.ndim != 1 or x.shape[0] < 1:
    raise ValueError(f"{name} must be a non-empty 1-D (n,) vector, got shape {x.shape}")
  if jnp.iscomplexobj(x):
    raise ValueError(f"{name} must be real, got dtype {x.dtype}")
  return x


def complex_dtype(*xs) -> jnp.dtype:
  """complex64, or complex128 when a (real) input is float64 under x64.

  Example:
    >>> complex_dtype(jnp.zeros(2, jnp.float32))
    dtype('complex64')
  """
  real = jnp.result_type(*xs, jnp.float32)
  if not jnp.issubdtype(real, jnp.floating):
    real = jnp.float32
  return jnp.result_type(real, jnp.complex64)


def check_key(key, name: str = "key") -> jax.Array:
  """A JAX PRNG key (``jax.random.key`` or a legacy ``PRNGKey``)."""
  if not hasattr(key, "dtype") or not hasattr(key, "shape"):
    raise TypeError(f"{name} must be a JAX PRNG key, got {type(key).__name__}")
  return key


def check_path(path, name: str = "path") -> Path:
  """``path`` (``str`` or ``os.PathLike``) as a ``Path``; nothing is checked on disk."""
  if not isinstance(path, (str, os.PathLike)):
    raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}")
  return Path(path)


def existing_file(path, name: str = "path") -> Path:
  """``path`` as a ``Path`` to an existing regular file, else a clear error.

  Raises:
    TypeError: not a path.
    FileNotFoundError: nothing exists at ``path``, or it is a directory (said so).
  """
  p = check_path(path, name)
  if p.is_dir():
    raise FileNotFoundError(f"{p} is a directory; expected a file")
  if not p.is_file():
    raise FileNotFoundError(f"no such file: {p}")
  return p


def check_per_graph(name: str, values, n: int) -> jax.Array:
  """``(n,)`` per-graph values (e.g. max cuts) as a float JAX array.

  Example:
    >>> check_per_graph("max_cut_values", [4, 5], 2).dtype
    dtype('float32')
  """
  values = jnp.asarray(values)
  if values.shape != (n,):
    raise ValueError(f"{name} must have shape ({n},) (one per graph), got {values.shape}")
  if not jnp.issubdtype(values.dtype, jnp.floating):
    values = values.astype(jnp.result_type(float))
  return values
