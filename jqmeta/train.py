"""Meta-training of the learned optimizers (the paper's protocol, resumable).

The protocol as published (see the reference README, "Training and test protocol"):
PyTorch-semantics RMSprop with one learning rate for the sequence model and one for
the ``mapping`` layer, one graph per update (1008 updates per epoch), up to 50
epochs, ``ReduceLROnPlateau`` on the validation loss, early stop after 6 epochs
without validation improvement or when the mean training loss stops moving, and the
best-validation weights kept.  Everything is overridable through :class:`TrainConfig`.

Pieces, from the inside out:

* :func:`make_optimizer`: ``optax.multi_transform`` of two injected-hyperparameter
  RMSprops (``"sequence"`` / ``"mapping"`` groups from
  :func:`jqmeta.models.param_labels`); :func:`learning_rates` /
  :func:`set_learning_rates` read and write their learning rates in the state.
* :func:`plateau_init` / :func:`plateau_update`: PyTorch ``ReduceLROnPlateau``
  (mode ``"min"``, relative threshold, cooldown 0) as pure functions on a
  :class:`PlateauState`.
* :func:`make_epoch_fn` / :func:`make_val_fn`: ONE jitted call per epoch (a
  ``lax.scan`` over the updates) and per validation.
* :func:`fit`: the Python loop over epochs with validation, plateau, best tracking,
  stopping rules, a NaN/inf guard, atomic checkpoints and exact resume.

Determinism: there is no randomness in training (graphs are visited in the given
order), every epoch is one jitted call and checkpoints store every array bit for bit,
so equal inputs give bit-identical results, and a run killed at any point and resumed
from its ``last.msgpack`` ends with exactly the parameters of an uninterrupted run.

Example:
  >>> import jax, networkx as nx
  >>> from jqmeta import graphs, meta, models, train
  >>> cell = models.create("lstm")
  >>> variables = meta.init(cell, jax.random.key(0))
  >>> tr = graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in (4, 5)])
  >>> va = graphs.stack([graphs.from_networkx(nx.complete_graph(4))])
  >>> config = train.TrainConfig(epochs=2, steps=3)
  >>> result = train.fit(cell, variables, tr, va, config, progress=False)  # doctest: +SKIP
  >>> [r["epoch"] for r in result.history], result.stopped  # doctest: +SKIP
  ([1, 2], 'max_epochs')
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import numbers
import os
import tempfile
import time
from typing import Any, Callable, NamedTuple, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import optax
from flax import serialization
from jax import lax
from tqdm import tqdm

from jqmeta import graphs as graphs_lib
from jqmeta import meta, models
from jqmeta.graphs import Graph

__all__ = [
    "TrainConfig",
    "TrainResult",
    "PlateauState",
    "TrainingDivergedError",
    "make_optimizer",
    "learning_rates",
    "set_learning_rates",
    "plateau_init",
    "plateau_update",
    "make_epoch_fn",
    "make_val_fn",
    "fit",
    "load_checkpoint",
    "LAST_CHECKPOINT",
    "BEST_CHECKPOINT",
    "GROUPS",
    "PLATEAU_EPS",
]

GROUPS = ("sequence", "mapping")  # optimizer groups, as labelled by models.param_labels
LAST_CHECKPOINT = "last.msgpack"
BEST_CHECKPOINT = "best.msgpack"
PLATEAU_EPS = 1e-8  # torch ReduceLROnPlateau(eps=1e-8): smaller lr changes are skipped
_METHODS = ("statevector", "analytic", "auto")
_FORMAT = "jqmeta.train"
_VERSION = 1
_TMP_SUFFIX = ".tmp"


class TrainingDivergedError(ValueError):
  """An epoch produced a non-finite meta-loss or validation loss.

  Attributes:
    epoch: the 1-based epoch that diverged (nothing of it was written to disk).
    losses: that epoch's per-update losses, ``(n_updates,)`` float64 ndarray.
    val_loss: that epoch's validation loss (may be NaN / inf).
  """

  def __init__(self, message: str, *, epoch: Optional[int] = None,
               losses: Optional[np.ndarray] = None, val_loss: Optional[float] = None):
    super().__init__(message)
    self.epoch = epoch
    self.losses = losses
    self.val_loss = val_loss


# ------------------------------------------------------------------------------ config


def _check_real(name: str, value, *, low=None, high=None, low_open=False,
                high_open=False) -> float:
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
    raise TypeError(f"TrainConfig.{name} must be a real number, got {value!r} "
                    f"of type {type(value).__name__}")
  value = float(value)
  if not math.isfinite(value):
    raise ValueError(f"TrainConfig.{name} must be finite, got {value}")
  if low is not None and (value < low or (low_open and value == low)):
    raise ValueError(f"TrainConfig.{name} must be {'>' if low_open else '>='} {low}, got {value}")
  if high is not None and (value > high or (high_open and value == high)):
    raise ValueError(f"TrainConfig.{name} must be {'<' if high_open else '<='} {high}, "
                     f"got {value}")
  return value


def _check_int(name: str, value, *, low: int) -> int:
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
    raise TypeError(f"TrainConfig.{name} must be an integer, got {value!r} "
                    f"of type {type(value).__name__}")
  value = int(value)
  if value < low:
    raise ValueError(f"TrainConfig.{name} must be >= {low}, got {value}")
  return value


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Meta-training hyperparameters; the defaults are the paper's.

  Fields:
    lr_sequence: RMSprop learning rate of the sequence model (``>= 0``; ``0`` freezes it).
    lr_mapping: RMSprop learning rate of the ``mapping`` layer (``>= 0``).
    decay: RMSprop smoothing constant (torch ``alpha``), ``0 <= decay < 1``.
    eps: RMSprop ``eps``, added outside the square root (torch semantics), ``> 0``.
    epochs: maximum number of epochs (``>= 1``).
    steps: Phase I recurrent steps ``T`` per graph (``>= 1``).
    loss: meta-loss name, ``"weighted"`` (paper) or ``"observed_improvement"``.
    batch_size: graphs per update; ``1`` is the paper's protocol (see
      :func:`make_epoch_fn` for ``> 1``).
    plateau_factor: lr multiplier on a plateau, ``0 < factor < 1``.
    plateau_patience: non-improving epochs tolerated before a reduction (``>= 0``).
    plateau_threshold: relative improvement threshold (``>= 0``).
    min_lr: lower bound of every group's learning rate (``>= 0``).
    early_stop_patience: stop after this many epochs without a strictly lower
      validation loss (``>= 1``).
    conv_tol: stop ("converged") when the mean training loss changes by at most this
      much between consecutive epochs (``>= 0``).
    method: energy method for Phase I, ``"statevector"``, ``"analytic"`` or ``"auto"``
      (the analytic p=1 formula needs unweighted graphs).

  Raises:
    TypeError / ValueError naming the offending field.

  Example:
    >>> TrainConfig(epochs=5).lr_sequence
    6e-06
    >>> TrainConfig(decay=1.0)
    Traceback (most recent call last):
    ...
    ValueError: TrainConfig.decay must be < 1.0, got 1.0
  """
  lr_sequence: float = 6e-6
  lr_mapping: float = 1e-4
  decay: float = 0.99
  eps: float = 1e-8
  epochs: int = 50
  steps: int = 10
  loss: str = "weighted"
  batch_size: int = 1
  plateau_factor: float = 0.5
  plateau_patience: int = 3
  plateau_threshold: float = 1e-3
  min_lr: float = 1e-7
  early_stop_patience: int = 6
  conv_tol: float = 1e-5
  method: str = "statevector"

  def __post_init__(self):
    reals = {
        "lr_sequence": dict(low=0.0),
        "lr_mapping": dict(low=0.0),
        "decay": dict(low=0.0, high=1.0, high_open=True),
        "eps": dict(low=0.0, low_open=True),
        "plateau_factor": dict(low=0.0, high=1.0, low_open=True, high_open=True),
        "plateau_threshold": dict(low=0.0),
        "min_lr": dict(low=0.0),
        "conv_tol": dict(low=0.0),
    }
    ints = {"epochs": 1, "steps": 1, "batch_size": 1, "plateau_patience": 0,
            "early_stop_patience": 1}
    for name, bounds in reals.items():
      object.__setattr__(self, name, _check_real(name, getattr(self, name), **bounds))
    for name, low in ints.items():
      object.__setattr__(self, name, _check_int(name, getattr(self, name), low=low))
    if not isinstance(self.loss, str) or self.loss not in meta.LOSSES:
      raise ValueError(f"TrainConfig.loss must be one of {sorted(meta.LOSSES)}, "
                       f"got {self.loss!r}")
    if not isinstance(self.method, str) or self.method not in _METHODS:
      raise ValueError(f"TrainConfig.method must be one of {_METHODS}, got {self.method!r}")

  def to_dict(self) -> dict[str, Any]:
    """Plain ``{field: value}`` dict (JSON-serialisable)."""
    return dataclasses.asdict(self)


def _check_config(config) -> TrainConfig:
  if not isinstance(config, TrainConfig):
    raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
  return config


# --------------------------------------------------------------------------- optimizer


def _rmsprop(lr: float, decay: float, eps: float) -> optax.GradientTransformation:
  """PyTorch RMSprop: ``v = d v + (1-d) g^2`` (v0 = 0), ``p -= lr g / (sqrt(v) + eps)``."""
  return optax.inject_hyperparams(optax.rmsprop)(
      learning_rate=lr, decay=decay, eps=eps, eps_in_sqrt=False)


def _optimizer(params, lr_sequence: float, lr_mapping: float, decay: float,
               eps: float) -> optax.GradientTransformation:
  lrs = {"sequence": lr_sequence, "mapping": lr_mapping}
  return optax.multi_transform({g: _rmsprop(lrs[g], decay, eps) for g in GROUPS},
                               models.param_labels(params))


def make_optimizer(config: TrainConfig, params) -> optax.GradientTransformation:
  """Per-group PyTorch-semantics RMSprop (no momentum, not centered).

  Args:
    config: a :class:`TrainConfig` (``lr_sequence``, ``lr_mapping``, ``decay``, ``eps``).
    params: ``variables["params"]`` of a cell; its top-level ``mapping`` subtree is the
      ``"mapping"`` group, everything else ``"sequence"``.

  Returns:
    an ``optax`` transformation whose state holds each group's hyperparameters as
    arrays (see :func:`learning_rates` / :func:`set_learning_rates`), so changing a
    learning rate never recompiles.

  Example:
    >>> import jax
    >>> from jqmeta import meta, models
    >>> params = meta.init(models.create("qk_lstm"), jax.random.key(0))["params"]
    >>> state = make_optimizer(TrainConfig(), params).init(params)
    >>> {k: f"{v:.0e}" for k, v in learning_rates(state).items()}
    {'sequence': '6e-06', 'mapping': '1e-04'}
  """
  config = _check_config(config)
  return _optimizer(params, config.lr_sequence, config.lr_mapping, config.decay, config.eps)


def _group_state(opt_state, group: str):
  try:
    masked = opt_state.inner_states[group]
  except (AttributeError, KeyError, TypeError):
    raise TypeError("opt_state is not the state of make_optimizer(...) (expected a "
                    f"multi_transform state with groups {GROUPS})") from None
  inner = getattr(masked, "inner_state", masked)
  if not hasattr(inner, "hyperparams") or "learning_rate" not in inner.hyperparams:
    raise TypeError(f"opt_state group {group!r} has no injected learning_rate")
  return masked, inner


def learning_rates(opt_state) -> dict[str, float]:
  """``{"sequence": lr, "mapping": lr}`` read from a :func:`make_optimizer` state.

  Args:
    opt_state: ``make_optimizer(config, params).init(params)``; each group's learning
      rate is stored there as a ``()`` float32 array.

  Returns:
    ``{"sequence": float, "mapping": float}`` (Python floats).

  Example:
    >>> params = {"w": jnp.zeros(3), "mapping": {"kernel": jnp.zeros((3, 2))}}
    >>> config = TrainConfig(lr_sequence=0.25, lr_mapping=0.5)
    >>> learning_rates(make_optimizer(config, params).init(params))
    {'sequence': 0.25, 'mapping': 0.5}
  """
  return {g: float(_group_state(opt_state, g)[1].hyperparams["learning_rate"])
          for g in GROUPS}


def set_learning_rates(opt_state, *, lr_sequence: float, lr_mapping: float):
  """Returns ``opt_state`` with both groups' injected learning rates replaced.

  The new values keep the old dtype and shape (``()`` float32), so a jitted epoch does
  not recompile.

  Args:
    opt_state: a :func:`make_optimizer` state.
    lr_sequence, lr_mapping: the new learning rates (Python floats).

  Returns:
    a new state of the same structure, shapes and dtypes (the input is unchanged).

  Example:
    >>> params = {"w": jnp.zeros(3), "mapping": {"kernel": jnp.zeros((3, 2))}}
    >>> state = make_optimizer(TrainConfig(), params).init(params)
    >>> learning_rates(set_learning_rates(state, lr_sequence=0.125, lr_mapping=0.5))
    {'sequence': 0.125, 'mapping': 0.5}
  """
  lrs = {"sequence": lr_sequence, "mapping": lr_mapping}
  inner_states = dict(opt_state.inner_states) if hasattr(opt_state, "inner_states") else None
  if inner_states is None:
    _group_state(opt_state, GROUPS[0])  # raises the TypeError
  for g in GROUPS:
    masked, inner = _group_state(opt_state, g)
    old = inner.hyperparams["learning_rate"]
    new = jnp.asarray(np.asarray(lrs[g], dtype=np.asarray(old).dtype))
    inner = inner._replace(hyperparams={**inner.hyperparams, "learning_rate": new})
    inner_states[g] = masked._replace(inner_state=inner) if masked is not inner else inner
  return opt_state._replace(inner_states=inner_states)


# ----------------------------------------------------------------------------- plateau


class PlateauState(NamedTuple):
  """State of the reduce-on-plateau schedule (host-side Python scalars).

  Fields:
    best: best validation loss so far in torch's sense (``inf`` before the first epoch).
    num_bad_epochs: consecutive epochs that did not improve on ``best``.
    lr_sequence: current learning rate of the sequence group.
    lr_mapping: current learning rate of the mapping group.
    num_reductions: how many reductions happened (informational).
  """
  best: float
  num_bad_epochs: int
  lr_sequence: float
  lr_mapping: float
  num_reductions: int = 0

  @property
  def lrs(self) -> dict[str, float]:
    return {"sequence": self.lr_sequence, "mapping": self.lr_mapping}


def plateau_init(config: TrainConfig) -> PlateauState:
  """Initial :class:`PlateauState`: ``best = inf``, learning rates from ``config``.

  All fields are host-side Python scalars (no arrays).

  Example:
    >>> s = plateau_init(TrainConfig())
    >>> s.best, s.num_bad_epochs, s.lrs
    (inf, 0, {'sequence': 6e-06, 'mapping': 0.0001})
  """
  config = _check_config(config)
  return PlateauState(best=math.inf, num_bad_epochs=0, lr_sequence=config.lr_sequence,
                      lr_mapping=config.lr_mapping, num_reductions=0)


def plateau_update(state: PlateauState, val_loss, config: TrainConfig) -> PlateauState:
  """One ``ReduceLROnPlateau.step(val_loss)`` (PyTorch semantics, mode ``"min"``).

  * improvement iff ``val_loss < best * (1 - plateau_threshold)`` (torch's relative
    threshold; note that for NEGATIVE losses, as here, ``best * (1 - threshold)`` lies
    above ``best``, so a slightly WORSE loss still counts as an improvement and becomes
    the new ``best``; this is what torch does and is reproduced on purpose);
  * otherwise ``num_bad_epochs += 1``; once ``num_bad_epochs > plateau_patience``
    (torch's test, i.e. on the ``patience + 1``-th consecutive bad epoch) every group's
    lr becomes ``max(lr * plateau_factor, min_lr)``, skipped when the change is at
    most :data:`PLATEAU_EPS`, and the counter resets (cooldown 0).

  Pure: returns a new state.  Arithmetic is in Python floats, like torch.

  Example:
    >>> cfg = TrainConfig(plateau_patience=1)
    >>> s = plateau_init(cfg)
    >>> for v in (1.0, 1.0, 1.0):  # one improvement, then two bad epochs
    ...   s = plateau_update(s, v, cfg)
    >>> s.num_bad_epochs, s.lr_sequence, s.lr_mapping
    (0, 3e-06, 5e-05)
  """
  config = _check_config(config)
  if not isinstance(state, PlateauState):
    raise TypeError(f"state must be a PlateauState, got {type(state).__name__}")
  current = float(val_loss)
  best, bad = state.best, state.num_bad_epochs
  if current < best * (1.0 - config.plateau_threshold):
    best, bad = current, 0
  else:
    bad += 1
  lrs, reductions = [state.lr_sequence, state.lr_mapping], state.num_reductions
  if bad > config.plateau_patience:
    for i, old in enumerate(lrs):
      new = max(old * config.plateau_factor, config.min_lr)
      if old - new > PLATEAU_EPS:
        lrs[i] = new
    bad, reductions = 0, reductions + 1
  return PlateauState(best=best, num_bad_epochs=bad, lr_sequence=lrs[0], lr_mapping=lrs[1],
                      num_reductions=reductions)


# ------------------------------------------------------------------------ epoch / val


class _Spec(NamedTuple):
  """The parts of a config that shape the compiled program (a static jit argument)."""
  steps: int
  loss: str
  method: str
  batch_size: int


def _spec(config: TrainConfig) -> _Spec:
  return _Spec(config.steps, config.loss, config.method, config.batch_size)


def _check_batch(g, what: str) -> None:
  if not isinstance(g, Graph):
    raise TypeError(f"{what} must be a batched jqmeta Graph (graphs.stack([...])), "
                    f"got {type(g).__name__}")
  if len(g.batch_shape) != 1:
    raise ValueError(f"{what} must have exactly one batch axis, got batch shape "
                     f"{g.batch_shape}; use graphs.stack([...])")
  if g.batch_shape[0] < 1:
    raise ValueError(f"{what} is empty")


def _graph_loss(cell, spec: _Spec, collections, params, graph) -> jax.Array:
  variables = {**collections, "params": params}
  _, costs = meta.phase1(cell, variables, graph, spec.steps, method=spec.method)
  return meta.meta_loss(spec.loss)(costs)


def _epoch_impl(cell, spec: _Spec, collections, params, opt_state, train_graphs):
  _check_batch(train_graphs, "train_graphs")
  # The update reads every hyperparameter from opt_state (injected), so the
  # lr / decay / eps passed here are placeholders that never reach the numbers.
  opt = _optimizer(params, 0.0, 0.0, 0.0, 1.0)
  n = train_graphs.batch_shape[0]

  def apply(params, opt_state, loss_fn, *batch):
    loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  if spec.batch_size == 1:
    def one(params, graph):
      return _graph_loss(cell, spec, collections, params, graph)

    def body(state, graph):
      params, opt_state, loss = apply(*state, one, graph)
      return (params, opt_state), loss

    (params, opt_state), losses = lax.scan(body, (params, opt_state), train_graphs)
    return params, opt_state, losses

  bs = spec.batch_size
  n_batches = -(-n // bs)
  total = n_batches * bs
  batch = train_graphs
  if total != n:  # pad by wrapping around; padded entries get zero weight
    index = jnp.arange(total) % n
    batch = jax.tree.map(lambda x: jnp.take(x, index, axis=0), batch)
  mask = (jnp.arange(total) < n).astype(jnp.result_type(float))
  batch = jax.tree.map(lambda x: x.reshape((n_batches, bs) + x.shape[1:]), batch)
  mask = mask.reshape(n_batches, bs)

  def mean_loss(params, graphs, weights):
    per_graph = jax.vmap(lambda g: _graph_loss(cell, spec, collections, params, g))(graphs)
    return jnp.sum(weights * per_graph) / jnp.sum(weights)

  def body(state, xs):
    params, opt_state, loss = apply(*state, mean_loss, *xs)
    return (params, opt_state), loss

  (params, opt_state), losses = lax.scan(body, (params, opt_state), (batch, mask))
  return params, opt_state, losses


def _val_impl(cell, spec: _Spec, collections, params, val_graphs):
  _check_batch(val_graphs, "val_graphs")
  variables = {**collections, "params": params}
  run = lambda g: meta.phase1(cell, variables, g, spec.steps, method=spec.method)[1][-1]
  return jnp.mean(jax.vmap(run)(val_graphs))


# Module-level jits with the cell and the shape-relevant config as static arguments:
# every fit() / make_epoch_fn() call with an equal cell and spec reuses one compilation.
_epoch_jit = jax.jit(_epoch_impl, static_argnums=(0, 1))
_val_jit = jax.jit(_val_impl, static_argnums=(0, 1))


def _split_collections(collections) -> dict:
  if collections is None:
    return {}
  if not isinstance(collections, dict):
    raise TypeError(f"collections must be a dict of variable collections, got "
                    f"{type(collections).__name__}")
  if "params" in collections:
    raise ValueError("collections must not contain 'params' (they are the trained "
                     "argument); pass the other collections, e.g. {'circuit': ...}")
  return dict(collections)


def _check_cell(cell) -> None:
  if not isinstance(cell, nn.Module):
    raise TypeError(f"cell must be a Flax module from models.create, got {type(cell).__name__}")


def make_epoch_fn(cell: nn.Module, config: TrainConfig, collections=None) -> Callable:
  """One training epoch as one jitted call.

  Args:
    cell: a cell from :func:`jqmeta.models.create`.
    config: :class:`TrainConfig` (``steps``, ``loss``, ``method``, ``batch_size`` shape
      the program; the learning rates live in the optimizer state).
    collections: the non-trained variable collections (``variables`` minus
      ``"params"``, e.g. ``{"circuit": ...}`` for the reference QLSTM), passed through
      unchanged; ``None`` or ``{}`` when there are none.

  Returns:
    ``epoch(params, opt_state, train_graphs) -> (params, opt_state, losses)`` where
    ``train_graphs`` is a batched ``Graph`` with ``G`` graphs, ``opt_state`` comes from
    :func:`make_optimizer` and ``losses`` is ``(n_updates,)`` float (the meta-loss of
    each update, computed with the parameters before that update):

    * ``batch_size == 1`` (the paper's protocol): one update per graph, in the given
      order, as a ``lax.scan`` over the graph axis; ``n_updates = G``.
    * ``batch_size = B > 1``: updates on consecutive minibatches ``[0, B), [B, 2B), ...``,
      each on the mean meta-loss of a ``jax.vmap``-ed Phase I;
      ``n_updates = ceil(G / B)``.  A short last minibatch is filled by wrapping
      around to the first graphs with zero weight (pad-mask): its loss and gradient
      are the mean over its real graphs only, and no graph is dropped.  Only ``jnp``
      ops touch the graph axis, so it may be sharded.

    The function is jitted (``epoch.lower(...)`` lowers it for inspection); equal
    cells and specs share one compilation across calls.

  Example:
    >>> import jax, networkx as nx
    >>> from jqmeta import graphs, meta, models
    >>> cell = models.create("lstm"); config = TrainConfig(steps=3)
    >>> params = meta.init(cell, jax.random.key(0))["params"]
    >>> g = graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in (4, 5, 6)])
    >>> epoch = make_epoch_fn(cell, config)
    >>> params, opt_state, losses = epoch(params, make_optimizer(config, params).init(params), g)  # doctest: +SKIP
    >>> losses.shape  # doctest: +SKIP
    (3,)
  """
  _check_cell(cell)
  spec = _spec(_check_config(config))
  collections = _split_collections(collections)

  def epoch(params, opt_state, train_graphs):
    return _epoch_jit(cell, spec, collections, params, opt_state, train_graphs)

  epoch.lower = lambda params, opt_state, train_graphs: _epoch_jit.lower(
      cell, spec, collections, params, opt_state, train_graphs)
  return epoch


def make_val_fn(cell: nn.Module, config: TrainConfig, collections=None) -> Callable:
  """The paper's validation loss as one jitted call.

  Returns:
    ``val(params, val_graphs) -> ()`` float: the mean over the graphs of the Phase I
    cost at the LAST recurrent step (``steps = config.steps``, ``config.method``).

  Example:
    >>> import jax, networkx as nx
    >>> from jqmeta import graphs, meta, models
    >>> cell = models.create("lstm")
    >>> params = meta.init(cell, jax.random.key(0))["params"]
    >>> val = make_val_fn(cell, TrainConfig(steps=3))
    >>> float(val(params, graphs.stack([graphs.from_networkx(nx.cycle_graph(4))]))) < 0  # doctest: +SKIP
    True
  """
  _check_cell(cell)
  spec = _spec(_check_config(config))
  collections = _split_collections(collections)

  def val(params, val_graphs):
    return _val_jit(cell, spec, collections, params, val_graphs)

  val.lower = lambda params, val_graphs: _val_jit.lower(cell, spec, collections, params,
                                                        val_graphs)
  return val


# ------------------------------------------------------------------------- checkpoints


def _to_host(tree):
  return jax.tree.map(np.asarray, tree)


def _to_device(tree):
  return jax.tree.map(lambda x: jnp.asarray(np.asarray(x)), tree)


def _tree_signature(params) -> str:
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  return json.dumps([[jax.tree_util.keystr(path), list(np.shape(x)), str(np.asarray(x).dtype)]
                     for path, x in leaves])


def _model_signature(cell) -> str:
  fields = {k: repr(getattr(cell, k)) for k in sorted(getattr(cell, "__dataclass_fields__", {}))
            if k not in ("parent", "name")}
  return json.dumps({"class": type(cell).__name__, "fields": fields}, sort_keys=True)


def _atomic_write(path: str, data: bytes) -> None:
  """Writes ``data`` to ``path`` atomically (temp file, fsync, ``os.replace``)."""
  directory, base = os.path.split(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=_TMP_SUFFIX, dir=directory)
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.unlink(tmp)
    raise
  with contextlib.suppress(OSError):  # persist the rename (POSIX; best effort elsewhere)
    dfd = os.open(directory, os.O_RDONLY)
    try:
      os.fsync(dfd)
    finally:
      os.close(dfd)


def _remove_stale_temps(directory: str) -> None:
  """Deletes temp files a killed run may have left (``.last.msgpack.*.tmp``)."""
  for name in os.listdir(directory):
    if name.endswith(_TMP_SUFFIX) and any(
        name.startswith(f".{base}.") for base in (LAST_CHECKPOINT, BEST_CHECKPOINT)):
      with contextlib.suppress(OSError):
        os.unlink(os.path.join(directory, name))


def _read(path: str) -> dict:
  try:
    with open(path, "rb") as f:
      raw = serialization.msgpack_restore(f.read())
  except FileNotFoundError:
    raise
  except Exception as e:  # msgpack / flax decoding errors
    raise ValueError(f"{path} is not a readable jqmeta checkpoint ({e})") from e
  if not isinstance(raw, dict) or raw.get("format") != _FORMAT:
    raise ValueError(f"{path} is not a jqmeta training checkpoint")
  if raw.get("version") != _VERSION:
    raise ValueError(f"{path} has checkpoint version {raw.get('version')}, "
                     f"this jqmeta reads version {_VERSION}")
  return raw


def load_checkpoint(path, variables_template) -> dict:
  """Loads the variables stored in a checkpoint written by :func:`fit`.

  Args:
    path: a ``best.msgpack`` (the best-validation variables) or ``last.msgpack`` (the
      latest parameters) file.
    variables_template: variables of the same cell (e.g. ``meta.init(cell, key)``);
      only its structure, shapes and dtypes are used.

  Returns:
    the stored variables, ``{"params": ..., [other collections]}`` as jax arrays.

  Raises:
    FileNotFoundError: ``path`` does not exist.
    ValueError: not a jqmeta checkpoint, or its parameter tree differs from the
      template's (another model or depth).

  Example:
    >>> import jax
    >>> from jqmeta import meta, models
    >>> template = meta.init(models.create("lstm"), jax.random.key(0))
    >>> variables = load_checkpoint("runs/lstm/best.msgpack", template)  # doctest: +SKIP
  """
  path = os.fspath(path)
  if not isinstance(variables_template, dict) or "params" not in variables_template:
    raise TypeError("variables_template must be a variables dict with a 'params' entry")
  raw = _read(path)
  expected = _tree_signature(variables_template["params"])
  if raw["tree"] != expected:
    raise ValueError(f"{path} holds parameters with a different structure than the "
                     f"template (stored {raw['tree']}, template {expected})")
  if raw["kind"] == "best":
    stored = raw["variables"]
  else:
    stored = {**raw["collections"], "params": raw["params"]}
  if set(stored) != set(variables_template):
    raise ValueError(f"{path} holds collections {sorted(stored)} but the template has "
                     f"{sorted(variables_template)}")
  return _to_device(serialization.from_state_dict(variables_template, stored))


class _Run(NamedTuple):
  """Everything fit() carries between epochs (and saves in last.msgpack)."""
  epoch: int  # completed epochs
  params: Any
  opt_state: Any
  plateau: PlateauState
  best_params: Any
  best_val: float
  best_epoch: int
  bad_epochs: int  # epochs since the last strict validation improvement
  prev_train_loss: Optional[float]
  history: list
  stopped: str  # "" while running; "early_stop" / "converged" once stopped


def _last_payload(run: _Run, config: TrainConfig, cell, collections) -> bytes:
  payload = {
      "format": _FORMAT, "version": _VERSION, "kind": "last",
      "config": json.dumps(config.to_dict(), sort_keys=True),
      "model": _model_signature(cell),
      "tree": _tree_signature(run.params),
      "epoch": run.epoch,
      "stopped": run.stopped,
      "params": serialization.to_state_dict(_to_host(run.params)),
      "opt_state": serialization.to_state_dict(_to_host(run.opt_state)),
      "best_params": serialization.to_state_dict(_to_host(run.best_params)),
      "collections": serialization.to_state_dict(_to_host(collections)),
      "plateau": run.plateau._asdict(),
      "best_val": run.best_val,
      "best_epoch": run.best_epoch,
      "bad_epochs": run.bad_epochs,
      "prev_train_loss": run.prev_train_loss,
      "history": json.dumps(run.history),
  }
  return serialization.msgpack_serialize(payload)


def _best_payload(run: _Run, cell, variables) -> bytes:
  payload = {
      "format": _FORMAT, "version": _VERSION, "kind": "best",
      "model": _model_signature(cell),
      "tree": _tree_signature(run.best_params),
      "epoch": run.best_epoch,
      "val_loss": run.best_val,
      "variables": serialization.to_state_dict(_to_host(_merge(variables, run.best_params))),
  }
  return serialization.msgpack_serialize(payload)


def _config_diff(stored: dict, config: TrainConfig) -> list[str]:
  now = config.to_dict()
  keys = sorted(set(stored) | set(now))
  return [f"{k}: checkpoint {stored.get(k)!r} vs now {now.get(k)!r}" for k in keys
          if k != "epochs" and stored.get(k) != now.get(k)]


def _resume(path: str, cell, config: TrainConfig, variables, opt_state_template) -> _Run:
  if not os.path.exists(path):
    raise FileNotFoundError(f"resume=True but there is no checkpoint at {path}; "
                            "start without resume to train from scratch")
  raw = _read(path)
  if raw.get("kind") != "last":
    raise ValueError(f"{path} is not a resumable 'last' checkpoint")
  if raw["model"] != _model_signature(cell):
    raise ValueError(f"{path} was written for another model: {raw['model']} "
                     f"(now {_model_signature(cell)})")
  params = variables["params"]
  if raw["tree"] != _tree_signature(params):
    raise ValueError(f"{path} holds a different parameter tree: {raw['tree']} "
                     f"(now {_tree_signature(params)})")
  diff = _config_diff(json.loads(raw["config"]), config)
  if diff:
    raise ValueError(f"{path} was written with another TrainConfig (only epochs may "
                     f"change on resume): {'; '.join(diff)}")
  collections = {k: v for k, v in variables.items() if k != "params"}
  stored = raw["collections"]
  mine = serialization.msgpack_restore(serialization.msgpack_serialize(
      serialization.to_state_dict(_to_host(collections))))
  same = jax.tree.structure(mine) == jax.tree.structure(stored) and all(
      np.asarray(a).dtype == np.asarray(b).dtype and np.array_equal(a, b)
      for a, b in zip(jax.tree.leaves(mine), jax.tree.leaves(stored)))
  if not same:
    raise ValueError(f"{path} was trained with other non-trainable collections "
                     f"({sorted(stored)}); pass the same variables as the interrupted "
                     "run (e.g. the same init key)")
  return _Run(
      epoch=int(raw["epoch"]),
      params=_to_device(serialization.from_state_dict(params, raw["params"])),
      opt_state=_to_device(serialization.from_state_dict(opt_state_template, raw["opt_state"])),
      plateau=PlateauState(**raw["plateau"]),
      best_params=_to_device(serialization.from_state_dict(params, raw["best_params"])),
      best_val=float(raw["best_val"]),
      best_epoch=int(raw["best_epoch"]),
      bad_epochs=int(raw["bad_epochs"]),
      prev_train_loss=None if raw["prev_train_loss"] is None else float(raw["prev_train_loss"]),
      history=json.loads(raw["history"]),
      stopped=str(raw["stopped"]),
  )


# --------------------------------------------------------------------------------- fit


class TrainResult(NamedTuple):
  """What :func:`fit` returns.

  Fields:
    variables: the best-validation params merged into the full variables.
    last_variables: the params after the last completed epoch, merged likewise.
    history: one dict per completed epoch: ``epoch`` (1-based), ``train_loss`` (mean of
      the epoch's update losses), ``val_loss``, ``lr_sequence`` / ``lr_mapping`` (the
      rates used during the epoch), ``seconds`` (wall time of training + validation).
    best_epoch: the 1-based epoch of ``variables``.
    stopped: ``"max_epochs"``, ``"early_stop"`` or ``"converged"``.
    best_val_loss: validation loss of ``variables``.

  ``variables`` and ``last_variables`` have the structure, shapes and dtypes of the
  ``variables`` passed to :func:`fit` (float32 from :func:`jqmeta.meta.init`); the
  losses and ``seconds`` are Python floats, ``best_epoch`` an ``int``.

  Example:
    >>> TrainResult._fields
    ('variables', 'last_variables', 'history', 'best_epoch', 'stopped', 'best_val_loss')
    >>> result = fit(cell, variables, train_graphs, val_graphs, config)  # doctest: +SKIP
    >>> result.best_epoch <= len(result.history), result.stopped  # doctest: +SKIP
    (True, 'max_epochs')
  """
  variables: dict
  last_variables: dict
  history: list
  best_epoch: int
  stopped: str
  best_val_loss: float


def _merge(variables, params) -> dict:
  return {k: (params if k == "params" else v) for k, v in variables.items()}


def _as_batch(graphs, what: str) -> Graph:
  if isinstance(graphs, Graph):
    _check_batch(graphs, what)
    return graphs
  if isinstance(graphs, (list, tuple)) and graphs:
    items = [graphs_lib.from_networkx(g) if isinstance(g, nx.Graph) else g for g in graphs]
    return graphs_lib.stack(items)
  raise TypeError(f"{what} must be a batched Graph (graphs.stack) or a non-empty list of "
                  f"Graph / networkx graphs, got {type(graphs).__name__}")


def _diverged(epoch: int, losses: np.ndarray, val_loss: float, prev: Optional[float]):
  bad = ~np.isfinite(losses)
  if bad.any():
    first = int(np.argmax(bad))
    finite = losses[:first][-5:]
    what = (f"{int(bad.sum())} of {losses.size} meta-losses are non-finite "
            f"(first at update {first + 1})")
  else:
    finite = losses[-5:]
    what = f"the validation loss is {val_loss}"
  return TrainingDivergedError(
      f"training diverged at epoch {epoch}: {what}; last finite losses "
      f"{[float(x) for x in finite]}, previous epoch's mean train loss {prev}. Nothing of "
      "this epoch was saved (best/last checkpoints are unchanged). Lower the learning "
      "rates or check the inputs (NaN parameters or graph weights).",
      epoch=epoch, losses=losses, val_loss=val_loss)


def fit(cell: nn.Module, variables, train_graphs, val_graphs,
        config: TrainConfig = TrainConfig(), *, checkpoint_dir=None, resume: bool = False,
        progress: bool = True, on_epoch_end: Optional[Callable[[dict], Any]] = None
        ) -> TrainResult:
  """Meta-trains ``variables["params"]`` of ``cell`` (the paper's protocol by default).

  Each epoch is one jitted call of :func:`make_epoch_fn` followed by :func:`make_val_fn`.
  After each epoch, in this order:

  1. NaN/inf guard: a non-finite update loss or validation loss raises
     :class:`TrainingDivergedError` before anything of the epoch is recorded or saved;
  2. plateau: :func:`plateau_update` on the validation loss sets the learning rates of
     the next epoch;
  3. best tracking: a strictly lower validation loss makes these params the best;
     otherwise the early-stop counter grows;
  4. stop reason: ``"early_stop"`` once ``early_stop_patience`` epochs in a row did not
     improve, else ``"converged"`` when ``|train_loss - previous train_loss| <=
     conv_tol`` (from the second epoch), else ``"max_epochs"`` after ``epochs``;
  5. checkpoints (if ``checkpoint_dir``): ``best.msgpack`` on improvement, then
     ``last.msgpack`` (full resumable state), both written atomically;
  6. progress bar postfix, then ``on_epoch_end(record)`` with the history record.

  Args:
    cell: a cell from :func:`jqmeta.models.create`.
    variables: its initial variables (``meta.init``); only ``"params"`` is trained,
      other collections are passed through unchanged.
    train_graphs, val_graphs: batched ``Graph`` (``graphs.stack``), or non-empty lists of
      ``Graph`` / ``networkx.Graph`` (stacked here).
    config: :class:`TrainConfig`.
    checkpoint_dir: folder for ``last.msgpack`` / ``best.msgpack`` (created if needed);
      ``None`` writes nothing.  Without ``resume``, checkpoints already there are
      replaced as the new run completes epochs; stale temp files of a killed writer
      are removed at start (one writer per folder).
    resume: continue from ``checkpoint_dir/last.msgpack`` (must exist and match the cell,
      the parameter tree, the non-trainable collections and every config field except
      ``epochs``, which may be raised to train longer).  A resumed run ends with exactly
      the result of an uninterrupted one.
    progress: show a tqdm bar over epochs (``False`` prints nothing).
    on_epoch_end: optional ``callback(record)`` after each completed, saved epoch; an
      exception raised there propagates (the epoch is already checkpointed).

  Returns:
    a :class:`TrainResult`.

  Raises:
    TrainingDivergedError: non-finite losses (the checkpoints on disk are untouched).
    FileNotFoundError: ``resume=True`` without ``last.msgpack``.
    ValueError / TypeError: bad arguments, or a checkpoint of another model / config.

  Example:
    >>> import jax, networkx as nx
    >>> from jqmeta import graphs, meta, models
    >>> cell = models.create("lstm")
    >>> variables = meta.init(cell, jax.random.key(0))
    >>> tr = [nx.cycle_graph(4), nx.path_graph(5)]
    >>> result = fit(cell, variables, tr, [nx.complete_graph(4)],
    ...              TrainConfig(epochs=3, steps=3), progress=False)  # doctest: +SKIP
    >>> len(result.history), result.stopped  # doctest: +SKIP
    (3, 'max_epochs')
  """
  _check_cell(cell)
  config = _check_config(config)
  if not isinstance(variables, dict) or "params" not in variables:
    raise TypeError("variables must be a dict with a 'params' collection (meta.init(cell, key))")
  if on_epoch_end is not None and not callable(on_epoch_end):
    raise TypeError("on_epoch_end must be callable or None")
  if resume and checkpoint_dir is None:
    raise ValueError("resume=True needs a checkpoint_dir")
  train_graphs = _as_batch(train_graphs, "train_graphs")
  val_graphs = _as_batch(val_graphs, "val_graphs")
  variables = dict(variables)
  collections = {k: v for k, v in variables.items() if k != "params"}
  params = _to_device(variables["params"])
  opt_state = _to_device(make_optimizer(config, params).init(params))
  epoch_fn = make_epoch_fn(cell, config, collections)
  val_fn = make_val_fn(cell, config, collections)

  last_path = best_path = None
  if checkpoint_dir is not None:
    checkpoint_dir = os.fspath(checkpoint_dir)
    os.makedirs(checkpoint_dir, exist_ok=True)
    _remove_stale_temps(checkpoint_dir)
    last_path = os.path.join(checkpoint_dir, LAST_CHECKPOINT)
    best_path = os.path.join(checkpoint_dir, BEST_CHECKPOINT)

  if resume:
    run = _resume(last_path, cell, config, variables, opt_state)
  else:
    run = _Run(epoch=0, params=params, opt_state=opt_state, plateau=plateau_init(config),
               best_params=params, best_val=math.inf, best_epoch=0, bad_epochs=0,
               prev_train_loss=None, history=[], stopped="")

  bar = tqdm(total=config.epochs, initial=min(run.epoch, config.epochs), disable=not progress,
             desc="meta-train", unit="epoch", dynamic_ncols=True)
  try:
    epoch = run.epoch
    while not run.stopped and epoch < config.epochs:
      epoch += 1
      t0 = time.perf_counter()
      params, opt_state, losses = epoch_fn(run.params, run.opt_state, train_graphs)
      val_loss = float(val_fn(params, val_graphs))
      losses = np.asarray(losses, dtype=np.float64)
      seconds = time.perf_counter() - t0
      if not (np.isfinite(losses).all() and math.isfinite(val_loss)):
        raise _diverged(epoch, losses, val_loss, run.prev_train_loss)

      train_loss = float(np.mean(losses))
      lrs = run.plateau.lrs
      plateau = plateau_update(run.plateau, val_loss, config)
      opt_state = set_learning_rates(opt_state, lr_sequence=plateau.lr_sequence,
                                     lr_mapping=plateau.lr_mapping)
      improved = val_loss < run.best_val
      best_params, best_val, best_epoch = ((params, val_loss, epoch) if improved else
                                           (run.best_params, run.best_val, run.best_epoch))
      bad_epochs = 0 if improved else run.bad_epochs + 1
      if bad_epochs >= config.early_stop_patience:
        stopped = "early_stop"
      elif (run.prev_train_loss is not None
            and abs(train_loss - run.prev_train_loss) <= config.conv_tol):
        stopped = "converged"
      else:
        stopped = ""
      record = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                "lr_sequence": lrs["sequence"], "lr_mapping": lrs["mapping"],
                "seconds": seconds}
      run = _Run(epoch=epoch, params=params, opt_state=opt_state, plateau=plateau,
                 best_params=best_params, best_val=best_val, best_epoch=best_epoch,
                 bad_epochs=bad_epochs, prev_train_loss=train_loss,
                 history=run.history + [record], stopped=stopped)
      if checkpoint_dir is not None:
        if improved:
          _atomic_write(best_path, _best_payload(run, cell, variables))
        _atomic_write(last_path, _last_payload(run, config, cell, collections))
      bar.update(1)
      bar.set_postfix_str(f"epoch {epoch}/{config.epochs} loss {train_loss:.6f} "
                          f"val {val_loss:.6f} lr_seq {lrs['sequence']:.2e} "
                          f"lr_map {lrs['mapping']:.2e}")
      if on_epoch_end is not None:
        on_epoch_end(dict(record))
  finally:
    bar.close()

  return TrainResult(
      variables=_merge(variables, run.best_params),
      last_variables=_merge(variables, run.params),
      history=[dict(r) for r in run.history],
      best_epoch=run.best_epoch,
      stopped=run.stopped or "max_epochs",
      best_val_loss=run.best_val,
  )
