"""Multi-process (multi-host) JAX runs: joining one, and gathering results on the host.

:mod:`jqmeta.parallel` re-exports these; its module docstring shows a launch.

Example:
  >>> import jax.numpy as jnp
  >>> type(to_host({"x": jnp.arange(3)})["x"]).__name__
  'ndarray'
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

import jax
import numpy as np

COORDINATOR_ENV = "JQMETA_COORDINATOR"
NUM_PROCESSES_ENV = "JQMETA_NUM_PROCESSES"
PROCESS_ID_ENV = "JQMETA_PROCESS_ID"


def _from_env(value, env: str, cast, missing: list):
  if value is not None:
    return value
  raw = os.environ.get(env)
  if raw is None or raw.strip() == "":
    missing.append(env)
    return None
  try:
    return cast(raw.strip())
  except ValueError as e:
    raise ValueError(f"${env}={raw!r} is not a valid {cast.__name__}") from e


def initialize_distributed(coordinator_address: Optional[str] = None,
                           num_processes: Optional[int] = None,
                           process_id: Optional[int] = None, *,
                           local_device_ids: Optional[Sequence[int]] = None,
                           initialization_timeout: int = 300) -> tuple[int, int]:
  """Joins a multi-process JAX run (``jax.distributed.initialize``).

  Each argument left ``None`` is read from its environment variable:
  ``JQMETA_COORDINATOR`` (``host:port`` of process 0), ``JQMETA_NUM_PROCESSES`` and
  ``JQMETA_PROCESS_ID``.  Call it once per process, before any other JAX call; then
  ``make_mesh()`` spans the devices of all processes.

  Args:
    coordinator_address: ``"host:port"`` that process 0 listens on and all reach.
    num_processes: total number of processes (``>= 1``).
    process_id: this process's rank in ``[0, num_processes)``.
    local_device_ids: optional subset of local devices this process uses.
    initialization_timeout: seconds to wait for all processes to join.

  Returns:
    ``(jax.process_index(), jax.process_count())``.

  Raises:
    ValueError: a setting is missing from both the flags and the environment, or is
      malformed (the message names every missing variable).

  Example:
    >>> initialize_distributed("127.0.0.1:1234", 2, 0)  # doctest: +SKIP
    (0, 2)
  """
  missing: list[str] = []
  address = _from_env(coordinator_address, COORDINATOR_ENV, str, missing)
  count = _from_env(num_processes, NUM_PROCESSES_ENV, int, missing)
  rank = _from_env(process_id, PROCESS_ID_ENV, int, missing)
  if missing:
    raise ValueError(
        "incomplete multi-process settings: missing " + ", ".join(missing) +
        f" (pass coordinator_address / num_processes / process_id, or set ${COORDINATOR_ENV}"
        f"=host:port, ${NUM_PROCESSES_ENV}=N and ${PROCESS_ID_ENV}=0..N-1 in every process)")
  host, sep, port = str(address).rpartition(":")
  if not sep or not host or not port.isdigit():
    raise ValueError(f"coordinator address must look like 'host:port', got {address!r}")
  count, rank = int(count), int(rank)
  if count < 1:
    raise ValueError(f"num_processes must be >= 1, got {count}")
  if not 0 <= rank < count:
    raise ValueError(f"process_id must lie in [0, {count}), got {rank}")
  jax.distributed.initialize(coordinator_address=str(address), num_processes=count,
                             process_id=rank, local_device_ids=local_device_ids,
                             initialization_timeout=int(initialization_timeout))
  return jax.process_index(), jax.process_count()


def to_host(tree: Any) -> Any:
  """Every leaf as a full numpy array on this host (gathering across processes).

  Single-process arrays are simply copied to the host; arrays spread over several
  processes are gathered with ``multihost_utils.process_allgather`` (a collective:
  every process must call it).

  Example:
    >>> import jax.numpy as jnp
    >>> type(to_host({"x": jnp.arange(3)})["x"]).__name__
    'ndarray'
  """
  from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel

  def get(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)

  return jax.tree.map(get, tree)
