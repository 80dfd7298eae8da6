"""Data parallelism over graph batches with ``jax.sharding`` (one mesh axis, ``"batch"``).

Every per-graph function in jqmeta (``qaoa.energy``, ``meta.phase1``, ...) is pure and
vmappable, so a batch of graphs splits across devices with no communication: each
device runs ``jax.vmap(fn)`` on its slice of the leading axis.  This module provides
the plumbing:

* :func:`make_mesh` - a 1-D :class:`jax.sharding.Mesh` with axis ``"batch"`` over the
  local devices, or over every process's devices after :func:`initialize_distributed`.
* :func:`pad_batch` - pads the leading axis of every leaf of a batched pytree (a
  ``Graph`` from :func:`jqmeta.graphs.stack`, angle arrays, ...) to a multiple of the
  device count by repeating the last element (padded entries are valid inputs) and
  returns the mask of real entries.
* :func:`shard_batch` / :func:`replicate` - ``jax.device_put`` with
  ``NamedSharding(mesh, P("batch"))`` (leading axis split) or ``P()`` (copied);
  static pytree fields (``Graph.n_qubits``) stay static.
* :func:`sharded_map` - ``jax.vmap(fn)`` under ``jax.shard_map`` and ``jax.jit``: pads,
  shards, runs, unpads.  Results equal the single-device vmap (see "Numerics").
* :func:`batch_energy`, :func:`batch_energy_and_grad`, :func:`batch_phase1` - the
  common batched calls, compiled once per (mesh, options) and cached.  Each device
  runs as many graphs at once as fit the memory budget (:func:`jqmeta.qaoa.memory_limit`),
  in ``lax.map`` chunks of its slice otherwise; ``ValueError`` first if one graph does not.
* :func:`initialize_distributed`, :func:`to_host` - multi-process (multi-host) runs.

Shapes: a batch of ``B`` graphs is a ``Graph`` whose array fields lead with ``B``;
angles are ``(B, 2, p)``; ``batch_energy`` returns ``(B,)``; ``batch_phase1`` returns
``(B, steps, 2, p)`` angles and ``(B, steps)`` costs.

Output sharding: when ``B`` is a multiple of the device count the outputs keep
``NamedSharding(mesh, P("batch"))``.  Otherwise the batch is padded to the next
multiple and the padded outputs are sliced back to ``B`` rows, which XLA returns
replicated (``P()``); pass ``return_mask=True`` to :func:`sharded_map` to keep the
padded, sharded outputs plus the ``(B_padded,)`` mask instead (e.g. to average a loss
with ``sum(mask * loss) / sum(mask)`` without any gather).

Numerics: each device computes exactly what ``jax.vmap(fn)`` computes on its slice.
The statevector itself is bitwise identical, but XLA:CPU chooses the summation order
of the final ``2**n``-term reductions from the shapes, so a device holding a few
graphs can sum in another order than one device holding the whole batch (measured in
float32: bitwise equal for some shapes, otherwise <= 3 ulp, e.g. 1.4e-6 at
``|E| ~ 3``); in float64 (``jax.enable_x64``) the two agree to ~1e-14.

Multi-process (multi-host) launch.  Start one process per host (or several on one
host, as the tests do over 127.0.0.1), each with the same three settings, before any
other JAX call::

  # host 0                                          # host 1
  JQMETA_COORDINATOR=host0:1234 \\                  JQMETA_COORDINATOR=host0:1234 \\
  JQMETA_NUM_PROCESSES=2 JQMETA_PROCESS_ID=0 \\     JQMETA_NUM_PROCESSES=2 JQMETA_PROCESS_ID=1 \\
  python my_script.py                               python my_script.py

where ``my_script.py`` calls ``parallel.initialize_distributed()`` first (flags
override the environment: ``initialize_distributed("host0:1234", 2, 0)``).  For a
quick check on one machine, two processes over loopback (as ``tests/test_parallel.py``
does, 2 forced CPU devices each)::

  export XLA_FLAGS=--xla_force_host_platform_device_count=2 JAX_PLATFORMS=cpu
  JQMETA_COORDINATOR=127.0.0.1:1234 JQMETA_NUM_PROCESSES=2 JQMETA_PROCESS_ID=0 python my_script.py &
  JQMETA_COORDINATOR=127.0.0.1:1234 JQMETA_NUM_PROCESSES=2 JQMETA_PROCESS_ID=1 python my_script.py

After initialization ``make_mesh()`` spans all global devices (4 above).  Every
process runs the same program on the same host-side batch and feeds only its own
devices; :func:`to_host` gathers results on every process.  On CPU the cross-process
collectives use gloo (JAX's default CPU collectives; verified with jax 0.10.2).  The
``jqmeta`` command line does not call :func:`initialize_distributed` by itself: a
sub-command that should run on several processes must call it first.

Example:
  >>> import jax.numpy as jnp, networkx as nx
  >>> from jqmeta import graphs, parallel
  >>> batch = graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in (4, 5, 6)])
  >>> mesh = parallel.make_mesh()                 # all devices, axis "batch"
  >>> e = parallel.batch_energy(jnp.full((3, 2, 1), 0.3), batch, mesh)
  >>> e.shape
  (3,)
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from jqmeta import meta, qaoa
from jqmeta._src import memory, validation
from jqmeta._src.distributed import (COORDINATOR_ENV, NUM_PROCESSES_ENV, PROCESS_ID_ENV,
                                     initialize_distributed, to_host)

__all__ = [
    "BATCH_AXIS",
    "COORDINATOR_ENV",
    "NUM_PROCESSES_ENV",
    "PROCESS_ID_ENV",
    "make_mesh",
    "pad_batch",
    "shard_batch",
    "replicate",
    "sharded_map",
    "batch_energy",
    "batch_energy_and_grad",
    "batch_phase1",
    "initialize_distributed",
    "to_host",
]

BATCH_AXIS = "batch"

Devices = Union[str, int, Sequence[jax.Device]]


# ------------------------------------------------------------------------------ mesh


def make_mesh(devices: Devices = "all") -> Mesh:
  """A 1-D mesh with the single axis ``"batch"``.

  Args:
    devices: ``"all"`` (every device of every process: the global devices after
      :func:`initialize_distributed`, else the local ones), ``"local"`` (this
      process's devices), an ``int`` ``k`` (the first ``k`` of ``jax.devices()``), or
      an explicit sequence of ``jax.Device``.

  Returns:
    ``Mesh`` of shape ``{"batch": n_devices}`` (axis type ``Auto``).

  Example:
    >>> mesh = make_mesh(1)
    >>> dict(mesh.shape)
    {'batch': 1}
  """
  if isinstance(devices, str):
    if devices == "all":
      devs = jax.devices()
    elif devices == "local":
      devs = jax.local_devices()
    else:
      raise ValueError(f"devices must be 'all', 'local', an int or a list of devices, "
                       f"got {devices!r}")
  elif isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
    available = jax.devices()
    k = int(devices)
    if not 1 <= k <= len(available):
      raise ValueError(f"asked for {k} devices, but only {len(available)} are available "
                       f"({available[0].platform}); on CPU, XLA_FLAGS="
                       f"--xla_force_host_platform_device_count={k} fakes more")
    devs = available[:k]
  else:
    try:
      devs = list(devices)
    except TypeError as e:
      raise TypeError(f"devices must be 'all', 'local', an int or a list of devices, "
                      f"got {type(devices).__name__}") from e
    if not devs:
      raise ValueError("devices is an empty list")
    if not all(isinstance(d, jax.Device) for d in devs):
      raise TypeError("devices must be jax.Device objects (e.g. from jax.devices())")
    if len({d.id for d in devs}) != len(devs):
      raise ValueError(f"devices contains duplicates: {[d.id for d in devs]}")
  return Mesh(np.asarray(devs, dtype=object), (BATCH_AXIS,), axis_types=(AxisType.Auto,))


def _n_shards(mesh: Mesh) -> int:
  if BATCH_AXIS not in mesh.shape:
    raise ValueError(f"mesh has axes {tuple(mesh.shape)}; expected one named {BATCH_AXIS!r} "
                     "(use parallel.make_mesh)")
  return int(mesh.shape[BATCH_AXIS])


# --------------------------------------------------------------------------- padding


def _batch_size(tree: Any, what: str = "tree") -> int:
  leaves = jax.tree.leaves(tree)
  if not leaves:
    raise ValueError(f"{what} has no array leaves to batch")
  sizes = set()
  for x in leaves:
    if np.ndim(x) == 0:
      raise ValueError(f"{what} has a scalar leaf; every leaf needs a leading batch axis")
    sizes.add(int(np.shape(x)[0]))
  if len(sizes) != 1:
    raise ValueError(f"{what} leaves disagree on the batch size (leading axis): {sorted(sizes)}")
  size = sizes.pop()
  if size < 1:
    raise ValueError(f"{what} has an empty batch (leading axis 0)")
  return size


def pad_batch(tree: Any, multiple: int):
  """Pads the leading axis of every leaf to a multiple of ``multiple``.

  Padding repeats the last element, so padded entries are valid inputs (a real graph,
  real angles) and never produce NaN or trip a guard; drop them with the mask.

  Args:
    tree: a pytree whose array leaves share a leading batch size ``B`` (e.g. a batched
      ``Graph``, or a tuple ``(angles (B, 2, p), graphs)``).  Static fields stay static.
    multiple: the padded size is ``ceil(B / multiple) * multiple`` (e.g. the device
      count).

  Returns:
    ``(padded_tree, mask)``: every leaf ``(B_padded, ...)`` (numpy leaves stay numpy,
    jax leaves stay jax) and ``mask`` ``(B_padded,)`` bool, True on the ``B`` real rows.

  Example:
    >>> import numpy as np
    >>> padded, mask = pad_batch({"a": np.arange(5)}, 4)
    >>> padded["a"].tolist(), mask.tolist()
    ([0, 1, 2, 3, 4, 4, 4, 4], [True, True, True, True, True, False, False, False])
  """
  if isinstance(multiple, bool) or not isinstance(multiple, (int, np.integer)) or multiple < 1:
    raise ValueError(f"multiple must be a positive int, got {multiple!r}")
  B = _batch_size(tree)
  padded_size = -(-B // int(multiple)) * int(multiple)
  extra = padded_size - B
  mask = jnp.arange(padded_size) < B
  if extra == 0:
    return tree, mask

  def pad(x):
    xp = np if isinstance(x, np.ndarray) else jnp
    return xp.concatenate([x, xp.repeat(x[-1:], extra, axis=0)], axis=0)

  return jax.tree.map(pad, tree), mask


# -------------------------------------------------------------------------- placement


def _place(tree: Any, sharding: NamedSharding) -> Any:
  """``jax.device_put``; across processes, each process feeds its own devices."""
  if jax.process_count() == 1:
    return jax.device_put(tree, sharding)

  def put(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return jax.device_put(x, sharding)  # already global: reshard
    host = np.asarray(x)  # the same full batch on every process
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

  return jax.tree.map(put, tree)


def shard_batch(tree: Any, mesh: Mesh) -> Any:
  """Splits the leading axis of every leaf over the mesh's ``"batch"`` axis.

  Args:
    tree: pytree whose leaves lead with ``B``, a multiple of the device count (see
      :func:`pad_batch`); other axes are not split.
    mesh: from :func:`make_mesh`.

  Returns:
    The same pytree of ``jax.Array`` with ``NamedSharding(mesh, P("batch"))``; with
    several processes every process passes the same full batch and feeds its devices.

  Example:
    >>> import numpy as np
    >>> x = shard_batch(np.zeros((4, 3)), make_mesh(1))
    >>> x.sharding.spec
    P('batch',)
  """
  n = _n_shards(mesh)
  B = _batch_size(tree)
  if B % n:
    raise ValueError(f"batch of {B} does not split over {n} devices; pad it first "
                     f"(parallel.pad_batch(tree, {n}))")
  return _place(tree, NamedSharding(mesh, P(BATCH_AXIS)))


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Copies every leaf to every device of the mesh (``NamedSharding(mesh, P())``).

  Example:
    >>> import jax.numpy as jnp
    >>> replicate(jnp.ones((2, 3)), make_mesh(1)).sharding.is_fully_replicated
    True
  """
  _n_shards(mesh)
  return _place(tree, NamedSharding(mesh, P()))


# ------------------------------------------------------------------------ sharded map


def _is_tracer(tree: Any) -> bool:
  return any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(tree))


def _normalize_axes(in_axes, nargs: int) -> tuple:
  axes = tuple(in_axes) if isinstance(in_axes, (tuple, list)) else (in_axes,) * nargs
  if len(axes) != nargs:
    raise ValueError(f"in_axes has {len(axes)} entries for {nargs} positional arguments")
  for ax in axes:
    if ax not in (0, None):
      raise ValueError(f"in_axes entries must be 0 (batched) or None (broadcast), got {ax!r}")
  if 0 not in axes:
    raise ValueError("at least one argument must be batched (in_axes 0)")
  return axes


def _chunked(fn: Callable, axes: tuple, batch_size: int) -> Callable:
  """``jax.vmap(fn, axes)`` computed ``batch_size`` examples at a time (``lax.map``)."""
  def run(*args):
    batched = tuple(a for a, ax in zip(args, axes) if ax == 0)

    def one(xs):
      it = iter(xs)
      return fn(*(next(it) if ax == 0 else a for a, ax in zip(args, axes)))

    return memory.map_in_chunks(one, batched, batch_size)
  return run


def sharded_map(fn: Callable, mesh: Optional[Mesh] = None, *, in_axes=0,
                return_mask: bool = False, batch_size: Optional[int] = None) -> Callable:
  """``jax.vmap(fn)`` over a batch split across the mesh's devices.

  The returned function pads the batched arguments to a multiple of the device count
  (:func:`pad_batch`), places them (:func:`shard_batch`; broadcast arguments with
  :func:`replicate`), runs one jitted ``jax.shard_map`` of ``jax.vmap(fn)`` (no
  communication: each device maps over its slice) and slices the padding off.  It
  also works inside an outer ``jit`` / ``grad`` (placement is then left to XLA).

  Args:
    fn: a per-example function of positional arguments (pytrees of arrays).
    mesh: from :func:`make_mesh`; default ``make_mesh("all")``.
    in_axes: ``0`` (every argument batched on its leading axis), or a tuple with ``0``
      (batched) or ``None`` (broadcast to every example, e.g. model parameters) per
      positional argument.
    return_mask: if True, return ``(outputs, mask)`` with the PADDED outputs (leading
      ``B_padded``, still sharded ``P("batch")``) and the ``(B_padded,)`` bool mask.
    batch_size: optional examples per device at once (``lax.map`` chunks instead of
      one ``vmap``; the same results up to float rounding).  Not checked against
      memory here: :func:`jqmeta._src.memory.chunk_size` computes a safe value.

  Returns:
    ``run(*args)``: outputs with leading axis ``B`` (or ``B_padded`` with the mask),
    equal to ``jax.vmap(fn, in_axes)(*args)``.

  Example:
    >>> import jax.numpy as jnp
    >>> square = sharded_map(lambda x: x ** 2, make_mesh(1))
    >>> square(jnp.arange(3.0)).tolist()
    [0.0, 1.0, 4.0]
  """
  mesh = make_mesh() if mesh is None else mesh
  n = _n_shards(mesh)
  if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) < 1):
    raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
  compiled: dict[tuple, Callable] = {}

  def program(axes: tuple) -> Callable:
    if axes not in compiled:
      specs = tuple(P(BATCH_AXIS) if ax == 0 else P() for ax in axes)
      mapped = (jax.vmap(fn, in_axes=axes) if batch_size is None
                else _chunked(fn, axes, int(batch_size)))
      # check_vma=False: fn may start scans from constants (e.g. the |+> state), which
      # the varying-manual-axes check would reject although nothing is communicated.
      body = jax.shard_map(mapped, mesh=mesh, in_specs=specs, out_specs=P(BATCH_AXIS),
                           check_vma=False)
      compiled[axes] = jax.jit(body)
    return compiled[axes]

  def run(*args):
    axes = _normalize_axes(in_axes, len(args))
    batched = tuple(a for a, ax in zip(args, axes) if ax == 0)
    B = _batch_size(batched, "batched arguments")
    padded, mask = pad_batch(batched, n)
    if not _is_tracer(padded):
      padded = shard_batch(padded, mesh)
    it = iter(padded)
    full = []
    for a, ax in zip(args, axes):
      if ax == 0:
        full.append(next(it))
      else:
        full.append(a if _is_tracer(a) else replicate(a, mesh))
    out = program(axes)(*full)
    if return_mask:
      return out, mask
    if mask.shape[0] != B:
      out = jax.tree.map(lambda x: x[:B], out)
    return out

  return run


# ------------------------------------------------------------------- batched helpers


@functools.lru_cache(maxsize=64)
def _energy_map(mesh: Mesh, method: str, with_grad: bool, chunk: Optional[int],
                limit: Optional[int]) -> Callable:
  fn = functools.partial(qaoa.energy, method=method, memory_limit_bytes=limit)
  return sharded_map(jax.value_and_grad(fn) if with_grad else fn, mesh, batch_size=chunk)


def _mesh(mesh: Optional[Mesh]) -> Mesh:
  return make_mesh() if mesh is None else mesh


def _plan(graphs, p: int, dtype, method: str, mesh: Mesh, limit, batch_size, what: str):
  """Examples per device at once (``None``: the whole slice) for a batch of graphs."""
  validation.check_graph(graphs, batched=True, name="graphs")
  n, B = _n_shards(mesh), graphs.batch_shape[0]
  per = memory.graph_energy_bytes(graphs, p, dtype, method)
  k = memory.chunk_size(per, B, limit, n_devices=n, requested=batch_size, what=what)
  return None if k >= -(-B // n) else k


def _angles_plan(angles, graphs, mesh, method, limit, batch_size):
  dt = jnp.result_type(angles)
  dt = dt if jnp.issubdtype(dt, jnp.floating) else jnp.result_type(float)
  return _plan(graphs, int(np.shape(angles)[-1]), dt, method, mesh, limit, batch_size,
               "the energy and gradient of one graph")


def batch_energy(angles, graphs, mesh: Optional[Mesh] = None, *,
                 method: str = "statevector", memory_limit_bytes: Optional[int] = None,
                 batch_size: Optional[int] = None) -> jax.Array:
  """QAOA energies of a batch, split across devices, sized to the memory budget.

  Args:
    angles: ``(B, 2, p)`` float (row 0 gammas, row 1 betas per graph).
    graphs: a batched ``Graph`` (leading ``B``; :func:`jqmeta.graphs.stack`).
    mesh: from :func:`make_mesh`; default all devices.
    method: as in :func:`jqmeta.qaoa.energy`.
    memory_limit_bytes: optional byte budget per device (:func:`jqmeta.qaoa.memory_limit`).
    batch_size: optional graphs per device at once (checked against the budget).

  Returns:
    ``(B,)`` energies, equal to ``jax.vmap(qaoa.energy)(angles, graphs)`` (chunked or
    not: up to float rounding).

  Example:
    >>> import jax.numpy as jnp, networkx as nx
    >>> from jqmeta import graphs
    >>> b = graphs.stack([graphs.from_networkx(nx.complete_graph(3))] * 2)
    >>> batch_energy(jnp.zeros((2, 2, 1)), b).tolist()
    [-1.5, -1.5]
  """
  mesh = _mesh(mesh)
  chunk = _angles_plan(angles, graphs, mesh, method, memory_limit_bytes, batch_size)
  return _energy_map(mesh, method, False, chunk, memory_limit_bytes)(angles, graphs)


def batch_energy_and_grad(angles, graphs, mesh: Optional[Mesh] = None, *,
                          method: str = "statevector", memory_limit_bytes: Optional[int] = None,
                          batch_size: Optional[int] = None):
  """``(energies (B,), grads (B, 2, p))`` of a batch, split across devices.

  Equal to ``jax.vmap(jax.value_and_grad(qaoa.energy))(angles, graphs)``; arguments and
  memory sizing as in :func:`batch_energy`.

  Example:
    >>> import jax.numpy as jnp, networkx as nx
    >>> from jqmeta import graphs
    >>> b = graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in (4, 5)])
    >>> e, g = batch_energy_and_grad(jnp.full((2, 2, 1), 0.3), b, make_mesh(1))
    >>> e.shape, g.shape
    ((2,), (2, 2, 1))
  """
  mesh = _mesh(mesh)
  chunk = _angles_plan(angles, graphs, mesh, method, memory_limit_bytes, batch_size)
  return _energy_map(mesh, method, True, chunk, memory_limit_bytes)(angles, graphs)


def _phase1_map_uncached(model, steps: int, method: str, mesh: Mesh,
                         chunk: Optional[int]) -> Callable:
  def one(variables, graph):
    return meta.phase1(model, variables, graph, steps, method=method)
  return sharded_map(one, mesh, in_axes=(None, 0), batch_size=chunk)


_phase1_map = functools.lru_cache(maxsize=64)(_phase1_map_uncached)


def batch_phase1(model, variables, graphs, steps: int = 10, mesh: Optional[Mesh] = None, *,
                 method: str = "statevector", memory_limit_bytes: Optional[int] = None,
                 batch_size: Optional[int] = None):
  """Phase I of a learned optimizer on a batch of graphs, split across devices.

  Args:
    model: a model from :func:`jqmeta.models.create`.
    variables: its variables (replicated to every device).
    graphs: a batched ``Graph`` (leading ``B``).
    steps: recurrent steps ``T`` (static).
    mesh: from :func:`make_mesh`; default all devices.
    method: energy method (see :func:`jqmeta.qaoa.energy`).
    memory_limit_bytes, batch_size: memory sizing per device, as in :func:`batch_energy`
      (one graph's Phase I holds one simulator instance at a time).

  Returns:
    ``(angles (B, steps, 2, p), costs (B, steps))``, equal to
    ``jax.vmap(lambda graph: meta.phase1(model, variables, graph, steps))(graphs)``.

  Example:
    >>> import jax, networkx as nx
    >>> from jqmeta import graphs, meta, models
    >>> model = models.create("lstm")
    >>> v = meta.init(model, jax.random.key(0))
    >>> b = graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in (5, 6, 7)])
    >>> angles, costs = batch_phase1(model, v, b, steps=4)
    >>> angles.shape, costs.shape
    ((3, 4, 2, 1), (3, 4))
  """
  mesh = _mesh(mesh)
  chunk = _plan(graphs, int(model.p), jnp.result_type(float), method, mesh, memory_limit_bytes,
                batch_size, "the Phase I of one graph")
  try:
    fn = _phase1_map(model, int(steps), method, mesh, chunk)
  except TypeError:  # an unhashable model: build (and compile) without the cache
    fn = _phase1_map_uncached(model, int(steps), method, mesh, chunk)
  return fn(variables, graphs)
