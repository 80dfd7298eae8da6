"""Phase I: the learned optimizer unrolled over T steps, and the meta-losses.

Example:
  >>> import jax, networkx as nx
  >>> from jqmeta import graphs, meta, models
  >>> model = models.create("lstm")
  >>> variables = meta.init(model, jax.random.key(0))
  >>> angles, costs = meta.phase1(model, variables, graphs.from_networkx(nx.cycle_graph(6)))
  >>> angles.shape, costs.shape
  ((10, 2, 1), (10,))
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jqmeta import qaoa, shots as shots_lib
from jqmeta._src import precision as prec
from jqmeta._src import validation
from jqmeta._src.validation import check_choice
from jqmeta.graphs import Graph
from jqmeta.models import N_GRAPH_FEATURES, PRECISIONS

__all__ = [
    "init",
    "phase1",
    "phase1_measured",
    "Phase1Measured",
    "graph_features",
    "PRECISIONS",
    "weighted_loss",
    "observed_improvement_loss",
    "LOSSES",
    "meta_loss",
]


def init(model: nn.Module, key: jax.Array):
  """Initial variables of a cell (``{"params": ..., [ "circuit": ...]}``).

  Args:
    model: a cell from :func:`jqmeta.models.create`.
    key: a ``jax.random.key``.

  Returns:
    ``{"params": ...}`` (plus ``"circuit"`` for the reference QLSTM): dict pytrees of
    float32 arrays, e.g. QLSTM circuit weights ``(4, n_layers, n_qubits)``.

  Example:
    >>> from jqmeta import models
    >>> params = init(models.create("lstm"), jax.random.key(0))["params"]
    >>> {k: v.shape for k, v in params.items()}, params["bias_ih"].dtype
    ({'weight_ih': (8, 3), 'weight_hh': (8, 2), 'bias_ih': (8,), 'bias_hh': (8,)}, dtype('float32'))
  """
  return model.init(key, model.initial_carry(), model.dummy_input())


def _cost(angles: jax.Array, graph: Graph, method: str, precision: str, dtype) -> jax.Array:
  """``qaoa.energy`` as ``dtype``; published: in float64/complex128, rounded to float32."""
  if precision == "float32":
    return qaoa.energy(angles, graph, method=method).astype(dtype)

  def published(angles, graph):  # torch.as_tensor(cost, dtype=torch.float32) of a float64 cost
    f64 = jnp.float64
    return prec.to_f32(qaoa.energy(angles.astype(f64), graph.astype(f64), method=method))
  return prec.float64_island(published)(angles, graph)


def phase1(model: nn.Module, variables, graph: Graph, steps: int = 10, *,
           method: str = "statevector", precision: str = "float32",
           shots: Optional[int] = None, key=None):
  """Unrolls the learned optimizer on one graph (``lax.scan`` over steps).

  Starts exactly as published: cost 0, angles 0 and a zero carry.  Step ``t`` feeds
  ``x_t = [C_{t-1}, a_{t-1}]`` to the cell, takes its proposal ``a_t`` (the vector each
  model feeds back), evaluates ``C_t = qaoa.energy(a_t.reshape(2, p), graph)`` and
  carries both forward.  Pure, jittable, vmappable over graph batches and
  differentiable end to end (BPTT).

  ``precision="published"`` reproduces the published stack's arithmetic at every
  boundary: the QAOA cost in float64 (complex128 state) rounded to float32, as
  ``torch.as_tensor(cost, dtype=torch.float32)`` did; the cell with
  ``precision="published"`` (float32 linear layers in torch's order, complex128 gate
  circuits with float32 readouts: :mod:`jqmeta.models`); the recurrent state, angles
  and costs in float32.  The caller needs nothing: the float64 parts enable x64 whenever
  they are traced or transformed (:func:`jqmeta._src.precision.float64_island`), so the mode
  works with x64 disabled or enabled, under ``jax.jit``, ``jax.vmap`` and reverse-mode
  ``jax.grad`` (``jax.jvp`` is refused), and returns float32 either way.  Batched or
  not, it gives the same bits: every float32 operation is rounded explicitly.

  With ``shots``, the model sees what hardware would give it: the cost it is fed at
  step ``t + 1`` is the sample mean of ``shots`` measurements of ``a_t``
  (:func:`jqmeta.shots.estimate_energy`'s estimator, key ``fold_in(key, t)``), entered
  as ``C_t + stop_gradient(C^_t - C_t)``: its value is the noisy estimate, its
  derivative the exact cost's (a straight-through estimator; the sample mean is
  unbiased, so this is the gradient of the noise-free input path).  The returned
  ``costs`` stay the EXACT energies, so a meta-loss on them is the noise-free objective
  of a model that only ever saw noisy inputs (use :func:`phase1_measured` for the
  estimates and the best measured cut).  ``shots`` needs ``precision="float32"``.

  Args:
    model: a cell from :func:`jqmeta.models.create`.
    variables: its variables (``{"params": ...}`` plus any extra collections).
    graph: one ``Graph``.
    steps: number of recurrent steps ``T`` (static).
    method: energy method passed to :func:`jqmeta.qaoa.energy`.
    precision: ``"float32"`` (default: float32 throughout, float64 with x64 enabled)
      or ``"published"`` (see above; always float32 results).
    shots: ``None`` (exact costs) or shots per step's estimate (``>= 1``, static);
      each step then costs ``shots`` measurements.
    key: PRNG key of the measurements (required with ``shots``).

  Returns:
    ``(angles, costs)``: ``angles`` ``(steps, 2, p)`` (row 0 gammas, row 1 betas) and
    ``costs`` ``(steps,)``, the energy after each step; both float32 (float64 with x64
    enabled and ``precision="float32"``).  Under ``vmap`` over a stacked batch of ``G``
    graphs: ``(G, steps, 2, p)`` and ``(G, steps)``.

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs, models
    >>> model, graph = models.create("lstm"), graphs.from_networkx(nx.cycle_graph(5))
    >>> angles, costs = phase1(model, init(model, jax.random.key(0)), graph, steps=4,
    ...                        method="analytic")
    >>> angles.shape, costs.shape, costs.dtype
    ((4, 2, 1), (4,), dtype('float32'))
    >>> _, published = phase1(model, init(model, jax.random.key(0)), graph, steps=4,
    ...                       precision="published")
    >>> published.dtype, bool(jnp.allclose(published, costs, atol=1e-5))
    (dtype('float32'), True)
  """
  if int(steps) < 1:
    raise ValueError(f"steps must be >= 1, got {steps}")
  check_choice("precision", precision, PRECISIONS)
  shots = _check_shots(shots, key, precision)
  unroll = functools.partial(_unroll, model, steps=int(steps), method=method,
                             precision=precision, shots=shots)
  if precision == "float32":
    return unroll(variables, graph, key)[:2]
  # Bound with x64 on: an enclosing vmap batches the scan body then (prec.float64_island).
  return prec.float64_island(lambda v, g: unroll(v, g, None)[:2])(variables, graph)


class Phase1Measured(NamedTuple):
  """:func:`phase1_measured`: ``angles`` ``(T, 2, p)``; ``energies`` ``(T,)`` exact;
  ``observed`` ``(T,)`` the estimates the model was fed (``-`` sample mean cut);
  ``best_cuts`` ``(T,)`` the best cut measured up to each step (what a hardware user
  takes home); ``best_bitstring`` ``() uint32`` (as :func:`jqmeta.shots.sample`)."""

  angles: jax.Array
  energies: jax.Array
  observed: jax.Array
  best_cuts: jax.Array
  best_bitstring: jax.Array


def phase1_measured(model: nn.Module, variables, graph: Graph, steps: int = 10, *, shots: int,
                    key, method: str = "statevector") -> Phase1Measured:
  """Phase I under finite shots, with every measured quantity (``T * shots`` shots).

  As :func:`phase1` with ``shots`` (float32 precision), returning also the estimates
  the model saw and the best cut among all ``T * shots`` measured bitstrings.

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs, models
    >>> model, g = models.create("lstm"), graphs.from_networkx(nx.cycle_graph(4))
    >>> r = phase1_measured(model, init(model, jax.random.key(0)), g, 3, shots=50,
    ...                     key=jax.random.key(1))
    >>> r.observed.shape, bool(jnp.all(jnp.diff(r.best_cuts) >= 0))
    ((3,), True)
  """
  if int(steps) < 1:
    raise ValueError(f"steps must be >= 1, got {steps}")
  shots = validation.check_int("shots", shots, 1)
  _check_shots(shots, key, "float32")
  return Phase1Measured(*_unroll(model, variables, graph, key, steps=int(steps), method=method,
                                 precision="float32", shots=shots))


def _check_shots(shots, key, precision: str) -> Optional[int]:
  if shots is None:
    return None
  shots = validation.check_int("shots", shots, 1)
  if precision != "float32":
    raise ValueError(f"shots needs precision='float32', got {precision!r}")
  if key is None:
    raise ValueError("shots needs a PRNG key (key=) for the measurements")
  validation.check_key(key)
  return shots


def _unroll(model: nn.Module, variables, graph: Graph, key=None, *, steps: int, method: str,
            precision: str, shots: Optional[int] = None):
  """The Phase I ``lax.scan`` (arguments as :func:`phase1`, already checked): ``(angles,
  exact costs, observed costs, best measured cuts, best bitstring)``."""
  p = model.p
  dtype = jnp.float32 if precision == "published" else jnp.result_type(float)
  x0 = model.dummy_input(dtype)
  # Only a non-default precision reaches the cell: custom cells need not know the keyword.
  kwargs = {} if precision == "float32" else {"precision": precision}
  # A graph-aware cell declares n_graph_features; the paper's cells get [cost, a] only.
  extra = [graph_features(graph, dtype)] if getattr(model, "n_graph_features", 0) else []

  def step(state, t):
    carry, seen, a, best, best_z = state
    carry, a = model.apply(variables, carry, jnp.concatenate([seen[None], a, *extra]), **kwargs)
    angles = a.reshape(2, p)
    cost = _cost(angles, graph, method, precision, dtype)
    seen = cost
    if shots is not None:  # measured: the estimate's value, the exact cost's derivative
      m = shots_lib._measure_qaoa(lax.stop_gradient(angles), graph, shots,  # pylint: disable=protected-access
                                  jax.random.fold_in(key, t))
      seen = cost + lax.stop_gradient(-m.mean.astype(dtype) - cost)
      better = m.best > best
      best, best_z = jnp.where(better, m.best.astype(dtype), best), jnp.where(better, m.best_z,
                                                                              best_z)
    return (carry, seen, a, best, best_z), (angles, cost, seen, best)

  init_state = (model.initial_carry(dtype), jnp.zeros((), dtype), x0[1:1 + 2 * p],
                jnp.asarray(-jnp.inf, dtype), jnp.zeros((), jnp.uint32))
  (*_, best_z), (angles, costs, seen, best) = lax.scan(step, init_state, jnp.arange(steps))
  return angles, costs, seen, best, best_z


def graph_features(graph: Graph, dtype=jnp.float32) -> jax.Array:
  """The graph-aware cell's fixed-normalisation features of one graph.

  ``[n / 16, density, mean degree / 8, std degree / 8, mean weight, std weight]``: ``n``
  real nodes, ``density = 2 E / (n (n - 1))`` (``E`` real edges), degrees unweighted
  (edge counts) over the real nodes, weights over the real edges (population std).
  The scales 16 and 8 put the sizes and degrees this library simulates near ``[0, 1]``
  and are fixed (never fitted), so a model transfers to larger graphs unchanged.
  Jittable and vmappable.

  Args:
    graph: one ``Graph``.
    dtype: result dtype.

  Returns:
    ``(6,)`` array of ``dtype``.

  Example:
    >>> import networkx as nx
    >>> from jqmeta import graphs
    >>> [round(x, 4) for x in graph_features(graphs.from_networkx(nx.cycle_graph(4))).tolist()]
    [0.25, 0.6667, 0.25, 0.0, 1.0, 0.0]
  """
  n = graph.n_nodes.astype(dtype)
  e = jnp.maximum(graph.n_edges.astype(dtype), 1)
  real = jnp.arange(graph.n_qubits) < graph.n_nodes
  deg = jnp.where(real, graph.degrees.astype(dtype), 0)
  deg_mean = jnp.sum(deg) / jnp.maximum(n, 1)
  deg_std = jnp.sqrt(jnp.sum(jnp.where(real, (deg - deg_mean) ** 2, 0)) / jnp.maximum(n, 1))
  on = jnp.arange(graph.max_edges) < graph.n_edges
  w = jnp.where(on, graph.weights.astype(dtype), 0)
  w_mean = jnp.sum(w) / e
  w_std = jnp.sqrt(jnp.sum(jnp.where(on, (w - w_mean) ** 2, 0)) / e)
  density = graph.n_edges.astype(dtype) * 2 / jnp.maximum(n * (n - 1), 1)
  out = jnp.stack([n / 16, density, deg_mean / 8, deg_std / 8, w_mean, w_std])
  assert out.shape == (N_GRAPH_FEATURES,)
  return out.astype(dtype)


def weighted_loss(costs: jax.Array) -> jax.Array:
  """The paper's meta-loss ``(1/T) sum_t 0.1 t C_t`` over ``costs`` ``(T,)``.

  Args:
    costs: ``(T,)`` float Phase I energies (or ``(..., T)``: the last axis is reduced).

  Returns:
    scalar (``(...)``) of the costs' dtype.

  Example:
    >>> float(weighted_loss(jnp.array([-1.0, -2.0])))  # (0.1 * -1 + 0.2 * -2) / 2
    -0.25
  """
  T = costs.shape[-1]
  w = 0.1 * jnp.arange(1, T + 1, dtype=costs.dtype)
  return jnp.sum(w * costs, axis=-1) / T


def observed_improvement_loss(costs: jax.Array) -> jax.Array:
  """Verdon et al.'s ``(1/T) sum_{t>=2} min(C_t - min_{j<t} C_j, 0)`` over ``(T,)``.

  Args:
    costs: ``(T,)`` float Phase I energies (or ``(..., T)``: the last axis is reduced).

  Returns:
    scalar (``(...)``) of the costs' dtype, ``<= 0``.

  Example:
    >>> float(observed_improvement_loss(jnp.array([-1.0, -3.0, -2.0, -4.0])))  # (-2-1)/4
    -0.75
  """
  T = costs.shape[-1]
  best_before = lax.cummin(costs, axis=costs.ndim - 1)[..., :-1]
  return jnp.sum(jnp.minimum(costs[..., 1:] - best_before, 0.0), axis=-1) / T


LOSSES: dict[str, Callable[[jax.Array], jax.Array]] = {
    "weighted": weighted_loss,
    "observed_improvement": observed_improvement_loss,
}


def meta_loss(name: str) -> Callable[[jax.Array], jax.Array]:
  """Looks up a meta-loss by name (``"weighted"`` or ``"observed_improvement"``).

  Returns:
    the loss function, mapping ``(T,)`` float costs to a scalar of the same dtype.

  Example:
    >>> meta_loss("weighted") is weighted_loss
    True
  """
  if name not in LOSSES:
    raise ValueError(f"unknown meta-loss {name!r}; choose one of {sorted(LOSSES)}")
  return LOSSES[name]
