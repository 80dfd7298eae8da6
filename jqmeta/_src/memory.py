"""Byte budgets: how much memory one simulator problem may claim, checked before allocating.

The exact simulator and the brute-force maximum cut both grow as ``2**N``; their entry
points call :func:`guard` / :func:`guard_brute_force` first, so a problem too large for
the device raises a ``ValueError`` that names the way out instead of failing inside XLA.

Example:
  >>> memory_limit(2**30)
  1073741824
  >>> guard(10, 1, jnp.complex64, 2**30, "the statevector")  # fits: returns None
"""

from __future__ import annotations

import os
from typing import Optional

import jax
import jax.numpy as jnp

MEMORY_LIMIT_ENV = "JQMETA_MEMORY_LIMIT"
_MEMORY_FRACTION = 0.5  # default share of device memory one problem may claim


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
  """Bytes of the default device: ``bytes_limit`` where reported, else physical RAM."""
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
  ``2**(N-1)`` -- plus ``3 p`` phase tables of at most ``2**ceil(2N/3)`` entries.  XLA's
  own count (``compiled.memory_analysis()``, reported by ``benchmarks/scaling.py``) stays
  below this.

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


def guard(n_qubits: int, p: int, dtype, limit: Optional[int], what: str) -> None:
  """Raises ``ValueError`` if :func:`statevector_bytes` exceeds :func:`memory_limit`.

  Args:
    n_qubits: statevector qubit count ``N``.
    p: QAOA depth.
    dtype: the angles' (or the state's) dtype, as for :func:`statevector_bytes`.
    limit: optional explicit byte budget (see :func:`memory_limit`).
    what: what is being computed, for the message (``"the statevector"``).

  Example:
    >>> try:
    ...   guard(40, 1, jnp.float32, 2**30, "the statevector")
    ... except ValueError as e:
    ...   print(str(e).split(" (")[0])
    the statevector on 40 qubits needs about 3.28e+04 GiB
  """
  need = statevector_bytes(n_qubits, p, dtype)
  budget = memory_limit(limit)
  if need > budget:
    raise ValueError(
        f"{what} on {n_qubits} qubits needs about {need / 2**30:.3g} GiB "
        f"(2**{n_qubits} amplitudes), over the memory limit of {budget / 2**30:.3g} GiB; "
        f"use fewer qubits, the analytic p=1 path for unweighted graphs "
        f"(method='analytic'), or raise the limit (memory_limit=..., or ${MEMORY_LIMIT_ENV})")


def guard_brute_force(chunk_qubits: int, dtype, limit: Optional[int]) -> None:
  """Raises ``ValueError`` if one brute-force block exceeds :func:`memory_limit`.

  A block of ``2**chunk_qubits`` states holds their bits (``chunk_qubits`` columns) and
  a few cut vectors: about ``2**chunk_qubits * (chunk_qubits + 4)`` reals of ``dtype``.

  Args:
    chunk_qubits: log2 of the states evaluated per block.
    dtype: the graph weights' real dtype.
    limit: optional explicit byte budget (see :func:`memory_limit`).

  Example:
    >>> guard_brute_force(20, jnp.float32, 2**30)  # 96 MiB fits: returns None
  """
  need = (2**chunk_qubits) * (chunk_qubits + 4) * jnp.dtype(dtype).itemsize
  budget = memory_limit(limit)
  if need > budget:
    raise ValueError(f"max_cut block of 2**{chunk_qubits} states needs about "
                     f"{need / 2**30:.3g} GiB, over the memory limit of {budget / 2**30:.3g} "
                     "GiB; lower chunk_qubits")
