"""The two-phase evaluation of the paper, for learned models and baselines alike.

* :func:`evaluate_method`: Phase II (:func:`jqmeta.phase2.phase2_sgd`) from given starting
  angles over a test batch, with the Phase I costs of given proposals, the approximation
  ratios and the relative-error curve, as ONE jitted program.  Baselines use it directly
  (fixed angles, random starts, the p=1 optimum).
* :func:`two_phase`: a learned model's Phase I (:func:`jqmeta.meta.phase1`, float32 as the
  model runs) followed by :func:`evaluate_method` in float64 (the published stop rule
  ``|C_k - C_{k-1}| <= 1e-6`` needs float64 costs).  ``jqmeta reproduce``,
  ``jqmeta evaluate`` and the notebooks all call it.

Both accept an optional ``mesh`` (:func:`jqmeta.parallel.make_mesh`) to split the graph
batch across devices.

Example:
  >>> import jax, networkx as nx
  >>> from jqmeta import baselines, evaluation, graphs, qaoa
  >>> b = graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in (4, 5)])
  >>> mc = jax.vmap(qaoa.max_cut)(b)
  >>> starts = baselines.random_starts(jax.random.key(0), 2, 1)[0]
  >>> out = evaluation.evaluate_method(None, starts, b, mc, steps=20)
  >>> out["phase2_costs"].shape, out["rel_error_curve"].shape
  ((2, 21), (2, 21))
"""

from __future__ import annotations

import functools
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from jqmeta import meta, metrics, parallel, qaoa
from jqmeta._src import legacy, memory, validation
from jqmeta.graphs import Graph
from jqmeta.phase2 import PHASE2_LR, PHASE2_STEPS, PHASE2_TOL, combined_curve, phase2_sgd

__all__ = ["evaluate_method", "two_phase"]


def _per_graph(pa, sa, graph, lr, tol, steps: int, method: str, limit: Optional[int]):
  """Phase II from ``sa`` and the Phase I costs of ``pa`` (or ``None``) on ONE graph."""
  res = phase2_sgd(sa, graph, lr=lr, steps=steps, tol=tol, method=method,
                   memory_limit_bytes=limit)
  if pa is None:
    return res, None
  p1 = jax.vmap(lambda x: qaoa.energy(x, graph, method=method, memory_limit_bytes=limit))(pa)
  return res, p1.astype(res.costs.dtype)


def _collect(res, p1, max_cut_values, report_step: int) -> dict:
  """Ratios and the relative-error curve of a batch of Phase II results."""
  mc = max_cut_values.astype(res.costs.dtype)
  out = {"phase2": res, "ratio_phase2": metrics.ratio_from_energy(res.costs[:, report_step], mc)}
  if p1 is None:
    out["rel_error_curve"] = metrics.relative_error(res.costs, mc)
  else:
    out["phase1_costs"] = p1
    out["ratio_phase1"] = metrics.ratio_from_energy(p1[:, -1], mc)
    out["rel_error_curve"] = metrics.relative_error(combined_curve(p1, res), mc)
  return out


_collect_jit = jax.jit(_collect, static_argnames=("report_step",))


@functools.partial(jax.jit, static_argnames=("steps", "method", "chunk", "report_step", "limit"))
def _evaluate_batch(phase1_angles, start_angles, graphs, max_cut_values, lr, tol, steps,
                    method, chunk, report_step, limit):
  """One compiled program: Phase I costs, Phase II, ratios and the relative-error curve."""
  one = lambda args: _per_graph(args[0], args[1], args[2], lr, tol, steps, method, limit)
  res, p1 = memory.map_in_chunks(one, (phase1_angles, start_angles, graphs), chunk)
  return _collect(res, p1, max_cut_values, report_step)


@functools.lru_cache(maxsize=32)
def _sharded_phase2(mesh, steps: int, method: str, chunk: Optional[int], with_phase1: bool,
                    limit: Optional[int]):
  """The per-graph part of :func:`_evaluate_batch`, split over ``mesh`` (cached)."""
  if with_phase1:
    fn = lambda pa, sa, g, lr, tol: _per_graph(pa, sa, g, lr, tol, steps, method, limit)
    return parallel.sharded_map(fn, mesh, in_axes=(0, 0, 0, None, None), batch_size=chunk)
  fn = lambda sa, g, lr, tol: _per_graph(None, sa, g, lr, tol, steps, method, limit)
  return parallel.sharded_map(fn, mesh, in_axes=(0, 0, None, None), batch_size=chunk)


def _phase2_plan(pa, sa, graphs, steps, method, mesh, batch_size, limit) -> Optional[int]:
  """Graphs per device at once (``None``: all) for :func:`evaluate_method`.

  One graph holds one Phase II energy+gradient, its ``T`` vmapped Phase I energies and
  the ``(steps + 1)`` trajectory.
  """
  n_graphs, p, dt = graphs.batch_shape[0], sa.shape[2], sa.dtype
  n_devices = 1 if mesh is None else len(mesh.devices.flat)
  T = 0 if pa is None else pa.shape[1]
  per = (memory.graph_energy_bytes(graphs, p, dt, method) * (1 + T)
         + 2 * (steps + 1) * (2 * p + 1) * jnp.dtype(dt).itemsize)
  k = memory.chunk_size(per, n_graphs, limit, n_devices=n_devices, requested=batch_size,
                        what="the Phase II of one graph")
  return None if k >= -(-n_graphs // n_devices) else k


def _check_angle_batches(phase1_angles, start_angles, n_graphs: int):
  """``(pa (G, T, 2, p) | None, sa (G, 2, p))`` as float JAX arrays, shapes checked."""
  pa = None
  if phase1_angles is not None:
    pa = jnp.asarray(phase1_angles)
    if (pa.ndim != 4 or pa.shape[0] != n_graphs or pa.shape[2] != 2 or pa.shape[1] < 1
        or pa.shape[3] < 1):
      raise ValueError(f"phase1_angles must have shape (G={n_graphs}, T, 2, p), got {pa.shape}")
    if not jnp.issubdtype(pa.dtype, jnp.floating):
      raise TypeError(f"phase1_angles must be float, got {pa.dtype}")
    if start_angles is None:
      start_angles = pa[:, -1]
  elif start_angles is None:
    raise ValueError("start_angles is required when phase1_angles is None")
  sa = jnp.asarray(start_angles)
  if sa.ndim != 3 or sa.shape[0] != n_graphs or sa.shape[1] != 2 or sa.shape[2] < 1:
    raise ValueError(f"start_angles must have shape (G={n_graphs}, 2, p), got {sa.shape}")
  if not jnp.issubdtype(sa.dtype, jnp.floating):
    raise TypeError(f"start_angles must be float, got {sa.dtype}")
  if pa is not None and sa.shape[2] != pa.shape[3]:
    raise ValueError(f"start_angles depth p={sa.shape[2]} differs from phase1_angles "
                     f"p={pa.shape[3]}")
  return pa, sa


@legacy.renamed_kwargs(max_iter="steps", max_cuts="max_cut_values")
def evaluate_method(phase1_angles, start_angles, test_graphs: Graph, max_cut_values, *,
                    lr=PHASE2_LR, steps: int = PHASE2_STEPS, tol=PHASE2_TOL,
                    phase2_report_step: int = 10, method: str = "statevector",
                    batch_size: Optional[int] = None, mesh=None,
                    memory_limit_bytes: Optional[int] = None) -> dict:
  """Runs Phase II on a test batch and collects the per-graph results.

  Everything runs as one jitted program: Phase II (:func:`jqmeta.phase2.phase2_sgd`)
  vmapped over the batch, the Phase I costs recomputed from ``phase1_angles`` with a
  vmapped :func:`jqmeta.qaoa.energy`, the ratios and the relative-error curve.

  Memory: one graph holds a Phase II energy+gradient and its ``T`` Phase I energies
  (:func:`jqmeta._src.memory.chunk_size`).  When the whole batch (per device on a
  ``mesh``) does not fit ``memory_limit_bytes``, the graphs run in chunks (``lax.map``),
  which changes no result beyond float rounding inside one graph's evaluation; one
  graph that does not fit raises ``ValueError`` before any work.

  Args:
    phase1_angles: ``(G, T, 2, p)`` Phase I proposals per step, or ``None`` for a
      baseline without Phase I (e.g. one seed of :func:`jqmeta.baselines.random_starts`).
    start_angles: ``(G, 2, p)`` Phase II starting angles (normally
      ``phase1_angles[:, -1]``; ``None`` means exactly that).
    test_graphs: batched ``Graph`` of ``G`` test graphs.
    max_cut_values: ``(G,)`` brute-force max cuts.
    lr, steps, tol, method: Phase II settings (published: 1e-3, 300, 1e-6).
    phase2_report_step: SGD updates after which ``ratio_phase2`` is read
      (``0 <= step <= steps``; Table III uses 10).
    batch_size: optional graphs at a time (per device), checked against the budget
      (default: as many as fit).
    mesh: optional mesh to split the graph batch across devices (padded to the device
      count; the padding is dropped from the results).
    memory_limit_bytes: optional byte budget per device (see
      :func:`jqmeta.qaoa.memory_limit`).

  Returns:
    dict of numpy arrays:

    * ``phase1_costs``: ``(G, T)`` or ``None``;
    * ``phase2_costs``: ``(G, steps + 1)`` (``Phase2Result.costs``);
    * ``n_steps``: ``(G,)`` int32 updates taken; ``converged``: ``(G,)`` bool;
    * ``ratio_phase1``: ``(G,)`` ratio at the last Phase I step, or ``None``;
    * ``ratio_phase2``: ``(G,)`` ratio after ``phase2_report_step`` updates;
    * ``rel_error_curve``: ``(G, T + steps)`` relative error of
      :func:`jqmeta.phase2.combined_curve`, or ``(G, steps + 1)`` of the Phase II costs
      (start included) without Phase I;
    * ``curve_first_step``: step number of the curve's first entry (1 with Phase I,
      0 without), to pass as ``first_step`` to
      :func:`jqmeta.metrics.iterations_to_convergence`.

  Example:
    >>> import jax, networkx as nx
    >>> from jqmeta import baselines, graphs, qaoa
    >>> b = graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in (4, 5)])
    >>> starts = baselines.random_starts(jax.random.key(0), 2, 1)[0]
    >>> out = evaluate_method(None, starts, b, jax.vmap(qaoa.max_cut)(b), steps=20)
    >>> out["n_steps"].shape, out["curve_first_step"]
    ((2,), 0)
  """
  validation.check_graph(test_graphs, batched=True, name="test_graphs")
  n_graphs = test_graphs.batch_shape[0]
  steps = validation.check_int("steps", steps, 1)
  phase2_report_step = validation.check_int("phase2_report_step", phase2_report_step, 0)
  if phase2_report_step > steps:
    raise ValueError(f"phase2_report_step={phase2_report_step} exceeds steps={steps}")
  validation.check_real("lr", lr, low=0.0, low_open=True, traced_ok=True)
  validation.check_real("tol", tol, low=0.0, traced_ok=True)
  validation.check_method(method)
  if batch_size is not None:
    batch_size = validation.check_int("batch_size", batch_size, 1)
  mc = validation.check_per_graph("max_cut_values", max_cut_values, n_graphs)
  pa, sa = _check_angle_batches(phase1_angles, start_angles, n_graphs)
  chunk = _phase2_plan(pa, sa, test_graphs, steps, method, mesh, batch_size, memory_limit_bytes)
  lr, tol = jnp.asarray(lr, sa.dtype), jnp.asarray(tol, sa.dtype)
  if mesh is None:
    out = _evaluate_batch(pa, sa, test_graphs, mc, lr, tol, steps, method, chunk,
                          phase2_report_step, memory_limit_bytes)
  else:
    run = _sharded_phase2(mesh, steps, method, chunk, pa is not None, memory_limit_bytes)
    res, p1 = run(sa, test_graphs, lr, tol) if pa is None else run(pa, sa, test_graphs, lr, tol)
    out = _collect_jit(res, p1, mc, phase2_report_step)
  out = jax.tree.map(np.asarray, out)
  res = out["phase2"]
  return {
      "phase1_costs": out.get("phase1_costs"),
      "phase2_costs": res.costs,
      "n_steps": res.n_steps,
      "converged": res.converged,
      "ratio_phase1": out.get("ratio_phase1"),
      "ratio_phase2": out["ratio_phase2"],
      "rel_error_curve": out["rel_error_curve"],
      "curve_first_step": 0 if pa is None else 1,
  }


def phase1_batch(model, variables, graphs: Graph, *, steps: int = 10,
                 method: str = "statevector", mesh=None, memory_limit_bytes: Optional[int] = None,
                 batch_size: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
  """Phase I of ``model`` on every graph of a batch (jitted vmap, or sharded over ``mesh``).

  As many graphs run at once as fit ``memory_limit_bytes`` (per device; one simulator
  instance per graph), in chunks (``lax.map``) otherwise: the same results up to float
  rounding.  ``ValueError`` before any work if one graph does not fit.

  Returns:
    ``(angles (G, steps, 2, p), costs (G, steps))`` as numpy arrays (the model's float32).

  Example:
    >>> import jax, networkx as nx
    >>> from jqmeta import graphs, meta, models
    >>> model = models.create("lstm")
    >>> b = graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in (4, 5)])
    >>> angles, costs = phase1_batch(model, meta.init(model, jax.random.key(0)), b, steps=3)
    >>> angles.shape, costs.shape
    ((2, 3, 2, 1), (2, 3))
  """
  validation.check_graph(graphs, batched=True, name="graphs")
  validation.check_method(method)
  steps = validation.check_int("steps", steps, 1)
  if mesh is not None:
    angles, costs = parallel.batch_phase1(model, variables, graphs, steps, mesh, method=method,
                                          memory_limit_bytes=memory_limit_bytes,
                                          batch_size=batch_size)
    return np.asarray(angles), np.asarray(costs)
  per = memory.graph_energy_bytes(graphs, model.p, jnp.result_type(float), method)
  k = memory.chunk_size(per, graphs.batch_shape[0], memory_limit_bytes, requested=batch_size,
                        what="the Phase I of one graph")
  try:
    run = _phase1_program(model, steps, method, k)
  except TypeError:  # an unhashable model: build (and compile) without the cache
    run = _phase1_program.__wrapped__(model, steps, method, k)
  angles, costs = run(variables, graphs)
  return np.asarray(angles), np.asarray(costs)


@functools.lru_cache(maxsize=32)
def _phase1_program(model, steps: int, method: str, chunk: int):
  """``run(variables, graphs)``: Phase I over a batch, ``chunk`` graphs at a time (cached)."""
  def run(variables, graphs):
    one = lambda graph: meta.phase1(model, variables, graph, steps, method=method)
    return memory.map_in_chunks(one, graphs, chunk)
  return jax.jit(run)


def two_phase(model, variables, test_graphs: Graph, max_cut_values, *, steps: int = 10,
              method: str = "statevector", phase2_steps: int = PHASE2_STEPS, lr=PHASE2_LR,
              tol=PHASE2_TOL, phase2_report_step: int = 10, mesh=None,
              memory_limit_bytes: Optional[int] = None) -> dict:
  """The paper's test protocol for one learned model on a batch of test graphs.

  Phase I runs the model for ``steps`` recurrent steps in its own precision (float32);
  Phase II starts from its last proposal and runs :func:`evaluate_method` in float64
  (inside ``jax.enable_x64``): the graph weights, angles and max cuts are upcast, which
  is exact for unit (and any float32-representable) weights.

  Args:
    model, variables: a cell from :func:`jqmeta.models.create` and its variables.
    test_graphs: batched ``Graph`` of ``G`` test graphs (float32 weights).
    max_cut_values: ``(G,)`` brute-force max cuts.
    steps: Phase I recurrent steps ``T``.
    method: energy method of both phases.
    phase2_steps, lr, tol, phase2_report_step: Phase II settings (published: 300, 1e-3,
      1e-6, ratios read after 10 updates).
    mesh: optional mesh to split the graph batch across devices.
    memory_limit_bytes: optional byte budget per device for both phases (each sizes
      its batch to it, see :func:`phase1_batch` and :func:`evaluate_method`).

  Returns:
    The :func:`evaluate_method` dict plus ``phase1_angles`` ``(G, T, 2, p)`` float32.

  Example:
    >>> import jax, networkx as nx
    >>> from jqmeta import graphs, meta, models, qaoa
    >>> model = models.create("lstm")
    >>> b = graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in (4, 5)])
    >>> out = two_phase(model, meta.init(model, jax.random.key(0)), b,
    ...                 jax.vmap(qaoa.max_cut)(b), steps=3, phase2_steps=5,
    ...                 phase2_report_step=2)
    >>> out["phase1_angles"].shape, out["phase2_costs"].dtype
    ((2, 3, 2, 1), dtype('float64'))
  """
  phase2_steps = validation.check_int("phase2_steps", phase2_steps, 1)
  if validation.check_int("phase2_report_step", phase2_report_step, 0) > phase2_steps:
    raise ValueError(f"phase2_report_step={phase2_report_step} exceeds "
                     f"phase2_steps={phase2_steps}")
  validation.check_method(method)
  angles, _ = phase1_batch(model, variables, test_graphs, steps=steps, method=method, mesh=mesh,
                           memory_limit_bytes=memory_limit_bytes)
  with jax.enable_x64(True):
    a64 = angles.astype(np.float64)
    out = evaluate_method(a64, a64[:, -1], test_graphs.astype(jnp.float64),
                          np.asarray(max_cut_values, np.float64), lr=lr, steps=phase2_steps,
                          tol=tol, phase2_report_step=phase2_report_step, method=method,
                          mesh=mesh, memory_limit_bytes=memory_limit_bytes)
  out["phase1_angles"] = angles
  return out
