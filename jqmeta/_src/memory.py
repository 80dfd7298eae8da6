"""Byte budgets: how much memory a simulator problem, or a batch of them, may claim.

The exact simulator and the brute-force maximum cut both grow as ``2**N``; their entry
points call :func:`guard` / :func:`guard_brute_force` first, so a problem too large for
the device raises a ``ValueError`` that names the way out instead of failing inside XLA.

Batched work (``vmap`` over graphs, grid points or starts) multiplies that by the batch
size.  :func:`chunk_size` is the one place that computes the bytes of ``B`` instances
and how many of them fit at once (per device on a mesh): every batch entry point asks
it, then runs the batch with :func:`map_in_chunks` (one ``vmap`` when everything fits,
else ``lax.map`` over chunks), or refuses before allocating when even one instance, or
an unsplittable batch, does not fit.

Example:
  >>> memory_limit(2**30)
  1073741824
  >>> guard(10, 1, jnp.complex64, 2**30, "the statevector")  # fits: returns None
  >>> chunk_size(2**20, 64, 2**24, what="the energies")  # 16 MiB hold 16 of the 64
  16
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Mapping, Optional

import jax
import jax.numpy as jnp
from jax import lax

MEMORY_LIMIT_ENV = "JQMETA_MEMORY_LIMIT"
_MEMORY_FRACTION = 0.5  # default share of the available memory one batch may claim

HOST_MEMORY_FILES = {
    "cgroup_v2": "/sys/fs/cgroup/memory.max",
    "cgroup_v1": "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    "meminfo": "/proc/meminfo",
}
"""Where :func:`host_memory` reads the cgroup limits and ``MemAvailable``."""


def memory_limit(limit: Optional[int] = None) -> int:
  """Byte budget for one simulator problem or one chunk of a batch.

  Resolution order: the explicit ``limit``; the environment variable
  ``JQMETA_MEMORY_LIMIT`` (bytes); else half the memory available to the default
  device: ``bytes_limit`` on accelerators, :func:`host_memory` on CPU (the smaller of
  the cgroup limit and ``MemAvailable``).

  Args:
    limit: optional positive ``int`` number of bytes (wins over everything else).

  Returns:
    The budget as a Python ``int`` (bytes).

  Example:
    >>> memory_limit(2**30)  # an explicit limit wins over the environment and device
    1073741824
  """
  if limit is not None:
    if isinstance(limit, bool) or int(limit) <= 0:
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
  try:
    device = jax.local_devices()[0]
  except Exception:  # pylint: disable=broad-except  # no backend at all: the host rule.
    return host_memory()
  return device_memory(device)


def device_memory(device) -> int:
  """Bytes of ``device``: its allocator's ``bytes_limit`` off CPU, else :func:`host_memory`.

  An accelerator's own limit (``device.memory_stats()["bytes_limit"]``) is what a batch
  must fit; the host's RAM says nothing about it.  CPU devices, and backends that report
  no stats (or raise), fall back to the host rule.

  Args:
    device: a ``jax.Device`` (or anything with ``platform`` and ``memory_stats()``).

  Example:
    >>> class FakeGpu:
    ...   platform = "gpu"
    ...   def memory_stats(self):
    ...     return {"bytes_limit": 80 * 2**30, "bytes_in_use": 0}
    >>> device_memory(FakeGpu()) // 2**30
    80
  """
  try:
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and stats.get("bytes_limit"):
      return int(stats["bytes_limit"])
  except Exception:  # pylint: disable=broad-except  # backends may not report stats.
    pass
  return host_memory()


def _read_limit(path) -> Optional[int]:
  """A cgroup limit file's value in bytes; ``None`` if absent, unreadable or unlimited."""
  try:
    text = Path(path).read_text().strip()
  except OSError:
    return None
  if not text.isdigit():  # v2 writes "max" for no limit
    return None
  value = int(text)
  return value if 0 < value < 2**62 else None  # v1 writes about 2**63 for no limit


def _mem_available(path) -> Optional[int]:
  """``MemAvailable`` of a ``/proc/meminfo``-style file in bytes, or ``None``."""
  try:
    lines = Path(path).read_text().splitlines()
  except OSError:
    return None
  for line in lines:
    fields = line.split()
    if len(fields) >= 2 and fields[0] == "MemAvailable:" and fields[1].isdigit():
      unit = 1024 if len(fields) > 2 and fields[2].lower() == "kb" else 1
      return int(fields[1]) * unit
  return None


def host_memory(files: Optional[Mapping[str, str]] = None) -> int:
  """Bytes of host memory this process may use.

  The smaller of the cgroup limit (v2 ``memory.max``, v1 ``memory.limit_in_bytes``) and
  ``MemAvailable`` from ``/proc/meminfo``; physical RAM where none of them can be read
  (8 GiB if even that is unknown).

  Args:
    files: optional ``{"cgroup_v2": path, "cgroup_v1": path, "meminfo": path}``
      overriding :data:`HOST_MEMORY_FILES` (missing keys keep the defaults).

  Returns:
    Python ``int`` bytes.

  Example:
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> for name, text in [("max", "1073741824"), ("info", "MemAvailable: 4194304 kB")]:
    ...   _ = open(os.path.join(d, name), "w").write(text)
    >>> host_memory({"cgroup_v2": os.path.join(d, "max"), "cgroup_v1": os.path.join(d, "-"),
    ...              "meminfo": os.path.join(d, "info")})  # the 1 GiB cgroup wins over 4 GiB
    1073741824
  """
  paths = {**HOST_MEMORY_FILES, **(files or {})}
  found = [v for v in (_read_limit(paths["cgroup_v2"]), _read_limit(paths["cgroup_v1"]),
                       _mem_available(paths["meminfo"])) if v is not None]
  if found:
    return min(found)
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
        f"use fewer qubits, the closed form at p=1 (method='analytic'), or raise the limit "
        f"(memory_limit_bytes=..., or ${MEMORY_LIMIT_ENV})")


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
  need = brute_force_bytes(chunk_qubits, dtype)
  budget = memory_limit(limit)
  if need > budget:
    raise ValueError(f"max_cut block of 2**{chunk_qubits} states needs about "
                     f"{need / 2**30:.3g} GiB, over the memory limit of {budget / 2**30:.3g} "
                     "GiB; lower chunk_qubits")


def brute_force_bytes(chunk_qubits: int, dtype) -> int:
  """Bytes of one brute-force max-cut block of ``2**chunk_qubits`` states (one graph).

  Example:
    >>> brute_force_bytes(10, jnp.float32)  # 2**10 * (10 + 4) * 4
    57344
  """
  return (2**int(chunk_qubits)) * (int(chunk_qubits) + 4) * jnp.dtype(dtype).itemsize


CLOSED_FORM_CHUNK_ELEMENTS = 2**18
"""Upper bound on the ``(edges, N)`` entries the weighted p=1 closed form
(:func:`jqmeta._src.analytic.weighted_energy`) holds per edge chunk."""


def closed_form_bytes(n_qubits: int, max_edges: int, dtype) -> int:
  """Estimated peak bytes of one closed-form p=1 energy+gradient (no statevector).

  The weighted closed form works on chunks of at most ``2**18 // N`` edges against the
  dense ``(N, N)`` weight matrix (:mod:`jqmeta._src.analytic`), so the budget is ten
  ``(chunk, N)`` tables plus four ``(N, N)`` ones, independent of ``2**N`` (above XLA's
  own count at N = 300 and 1000 and on a 400-node ring).

  Args:
    n_qubits: qubit count ``N``.
    max_edges: padded edge capacity ``E``.
    dtype: the angles' real dtype (a complex dtype counts as its real part).

  Example:
    >>> closed_form_bytes(10, 45, jnp.float32)  # 4 * (10 * 45 * 10 + 4 * 10 * 10)
    19600
  """
  dt = jnp.dtype(dtype)
  itemsize = dt.itemsize // 2 if jnp.issubdtype(dt, jnp.complexfloating) else dt.itemsize
  n = max(int(n_qubits), 1)
  chunk = min(max(int(max_edges), 1), max(1, CLOSED_FORM_CHUNK_ELEMENTS // n))
  return itemsize * (10 * chunk * n + 4 * n * n)


def energy_bytes(n_qubits: int, p: int, dtype, method: str = "statevector",
                 max_edges: int = 0) -> int:
  """Peak bytes of ONE energy+gradient evaluation by ``method`` (one graph, one angle set).

  ``"analytic"``, and ``"auto"`` at ``p == 1``, evaluate the closed form
  (:func:`closed_form_bytes`), as :func:`jqmeta.qaoa.energy` does; everything else is
  budgeted as the statevector (:func:`statevector_bytes`).

  Example:
    >>> energy_bytes(10, 1, jnp.float32) == statevector_bytes(10, 1, jnp.float32)
    True
    >>> energy_bytes(10, 1, jnp.float32, "auto", 45)
    19600
  """
  if method == "analytic" or (method == "auto" and int(p) == 1):
    return closed_form_bytes(n_qubits, max_edges, dtype)
  return statevector_bytes(n_qubits, p, dtype)


def graph_energy_bytes(graph, p: int, dtype, method: str = "statevector") -> int:
  """:func:`energy_bytes` for a (possibly batched) ``Graph``, from its static shapes.

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> g = graphs.from_networkx(nx.cycle_graph(10))
    >>> graph_energy_bytes(g, 1, jnp.float32) == statevector_bytes(10)
    True
  """
  return energy_bytes(graph.n_qubits, p, dtype, method, int(graph.edges.shape[-2]))


def _gib(n: int) -> str:
  return f"{n / 2**30:.3g} GiB"


def chunk_size(per_instance: int, batch: int, limit: Optional[int] = None, *, what: str,
               n_devices: int = 1, requested: Optional[int] = None,
               chunkable: bool = True, cap: Optional[int] = None) -> int:
  """How many of ``batch`` instances to run at once so that they fit the byte budget.

  ``B`` instances of ``per_instance`` bytes need ``B * per_instance`` bytes.  On a mesh
  of ``n_devices`` each device holds ``ceil(batch / n_devices)`` of them and the budget
  (:func:`memory_limit`) applies per device.

  Args:
    per_instance: bytes of one instance (e.g. :func:`energy_bytes`).
    batch: instances in the whole batch, ``>= 1``.
    limit: optional explicit byte budget (see :func:`memory_limit`).
    what: what one instance is, for the messages (``"the Phase II of one graph"``).
    n_devices: devices the batch is split over.
    requested: an explicit chunk the caller asked for: checked against the budget
      (``ValueError`` if it does not fit) and returned, capped at the per-device batch.
    chunkable: ``False`` if the batch must run at once (``ValueError`` if it does not fit).
    cap: optional smaller byte budget preferred for one chunk (never below one instance).

  Returns:
    ``k``, ``1 <= k <= ceil(batch / n_devices)``; ``k`` below that bound means: run in
    chunks of ``k`` (:func:`map_in_chunks`).

  Raises:
    ValueError: one instance, the requested chunk, or an unchunkable batch is over the
      budget; raised before anything is allocated.

  Example:
    >>> chunk_size(2**20, 64, 2**30, what="one energy")  # everything fits
    64
    >>> chunk_size(2**20, 64, 2**24, what="one energy", n_devices=8)  # 8 per device fit
    8
  """
  per_instance = max(int(per_instance), 1)
  per_device = max(1, -(-int(batch) // max(int(n_devices), 1)))
  budget = memory_limit(limit)
  hint = (f"raise the limit (memory_limit_bytes=..., or ${MEMORY_LIMIT_ENV}), or use "
          "fewer qubits (or the closed form, method='analytic')")
  if per_instance > budget:
    raise ValueError(f"{what} needs about {_gib(per_instance)}, over the memory limit of "
                     f"{_gib(budget)}; {hint}")
  if requested is not None:
    if requested * per_instance > budget:
      raise ValueError(f"a chunk of {requested} x {what} needs about "
                       f"{_gib(requested * per_instance)}, over the memory limit of "
                       f"{_gib(budget)}; ask for at most {budget // per_instance} at once")
    return max(1, min(int(requested), per_device))
  if not chunkable and per_device * per_instance > budget:
    raise ValueError(f"{per_device} x {what} must run at once (per device) and need about "
                     f"{_gib(per_device * per_instance)}, over the memory limit of "
                     f"{_gib(budget)}; use a smaller batch, more devices, or {hint}")
  fits = budget // per_instance
  if cap is not None:
    fits = min(fits, max(1, int(cap) // per_instance))
  return int(max(1, min(per_device, fits)))


def map_in_chunks(fn: Callable, xs, chunk: Optional[int]):
  """``jax.vmap(fn)(xs)``, or ``lax.map(fn, xs, batch_size=chunk)`` when ``chunk`` is smaller.

  ``fn`` takes ONE pytree (like ``lax.map``); ``xs`` leads with the batch axis.  Each
  instance computes the same thing either way, so the results agree up to float
  rounding: XLA may pick another summation order for reductions inside ``fn`` when the
  batch shape changes (a few ulp; bitwise equal for most shapes).

  Example:
    >>> map_in_chunks(lambda x: x * 2, jnp.arange(5.0), 2).tolist()
    [0.0, 2.0, 4.0, 6.0, 8.0]
  """
  batch = jax.tree.leaves(xs)[0].shape[0]
  if chunk is None or chunk >= batch:
    return jax.vmap(fn)(xs)
  return lax.map(fn, xs, batch_size=int(chunk))
