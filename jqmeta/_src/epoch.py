"""One training epoch: the jitted update program and the bookkeeping after it.

* The optimizer's grouping: every leaf of a ``variables`` dict is labelled
  ``"sequence"`` / ``"mapping"`` (in ``params``, :func:`jqmeta.models.param_labels`) or
  :data:`FROZEN` (every other collection: zero updates), so training sees one pytree.
* The compiled programs: one epoch is ONE jitted call (a ``lax.scan`` over the updates,
  one graph or one minibatch each), one validation is one jitted call; the model, the
  shape-relevant config (:class:`Spec`) and the update transformation are static.
* The host side after an epoch: the NaN/inf guard (:class:`TrainingDivergedError`), the
  plateau schedule, best tracking and the stop rule (:func:`bookkeep`).

``config`` arguments are :class:`jqmeta.training.TrainConfig` objects (read by field).
"""

from __future__ import annotations

import functools
import math
import time
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

import networkx as nx

from jqmeta import graphs as graphs_lib
from jqmeta import meta, models
from jqmeta._src import torch_compat
from jqmeta._src.checkpoint import RunState
from jqmeta._src.torch_compat import GROUPS, set_learning_rates
from jqmeta._src.validation import check_graph
from jqmeta.graphs import Graph

FROZEN = "frozen"
"""Optimizer label of every leaf outside ``variables["params"]`` (zero updates)."""


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


# --------------------------------------------------------------------------- optimizer


def labels(variables) -> dict:
  """The optimizer label of every leaf of a variables dict (a multi_transform label fn)."""
  return {k: models.param_labels(v) if k == "params" else jax.tree.map(lambda _: FROZEN, v)
          for k, v in variables.items()}


def per_group(sequence: optax.GradientTransformation,
               mapping: optax.GradientTransformation) -> optax.GradientTransformation:
  return optax.multi_transform(
      {"sequence": sequence, "mapping": mapping, FROZEN: optax.set_to_zero()}, labels)


def check_optimizer(optimizer) -> optax.GradientTransformation:
  if not isinstance(optimizer, optax.GradientTransformation):
    raise TypeError(f"optimizer must be an optax.GradientTransformation or None, got "
                    f"{type(optimizer).__name__} (the optimizer labels the whole variables "
                    "tree itself: no params or collections argument is needed)")
  return optimizer


@functools.lru_cache(maxsize=16)
def wrapped(optimizer: optax.GradientTransformation) -> optax.GradientTransformation:
  # Cached: one object per caller optimizer, so the jitted epoch compiles once for it.
  return per_group(optimizer, optimizer)


# The epoch's update reads every hyperparameter from opt_state (injected), so the lr /
# decay / eps here are placeholders that never reach the numbers; one object for all
# configs means one compilation per (model, spec).
DEFAULT_UPDATE = per_group(torch_compat.rmsprop(0.0, 0.0, 1.0),
                             torch_compat.rmsprop(0.0, 0.0, 1.0))


# ------------------------------------------------------------------- compiled programs


class Spec(NamedTuple):
  """The parts of a config that shape the compiled program (a static jit argument)."""
  steps: int
  loss: str
  method: str
  batch_size: int
  shots: Optional[int]


def spec_of(config) -> Spec:
  """The :class:`Spec` of a ``TrainConfig``."""
  return Spec(config.steps, config.loss, config.method, config.batch_size, config.shots)


def shot_key(config, epoch: int):
  """The measurements' key of epoch ``epoch`` (0-based): ``fold_in(key(shot_seed), epoch)``,
  so a resumed run draws what an uninterrupted one would; ``None`` without shots."""
  if config.shots is None:
    return None
  return jax.random.fold_in(jax.random.key(config.shot_seed), epoch)


def _graph_loss(model, spec: Spec, variables, graph, key=None) -> jax.Array:
  # With shots the model is fed sampled costs; the loss is on the exact ones (meta.phase1).
  _, costs = meta.phase1(model, variables, graph, spec.steps, method=spec.method,
                         shots=spec.shots, key=key)
  return meta.meta_loss(spec.loss)(costs)


def _step(tx: optax.GradientTransformation, loss_fn: Callable) -> Callable:
  """A ``lax.scan`` body: ``loss_fn(variables, *xs)`` and its gradient, one update."""

  def step(carry, xs):
    variables, opt_state = carry
    loss, grads = jax.value_and_grad(loss_fn)(variables, *xs)
    updates, opt_state = tx.update(grads, opt_state, variables)
    return (optax.apply_updates(variables, updates), opt_state), loss

  return step


def as_batch(graphs, what: str) -> Graph:
  """A batched ``Graph`` from a batched ``Graph`` or a non-empty list (stacked here)."""
  if isinstance(graphs, Graph):
    check_graph(graphs, batched=True, name=what)
    return graphs
  if isinstance(graphs, (list, tuple)) and graphs:
    items = [graphs_lib.from_networkx(g) if isinstance(g, nx.Graph) else g for g in graphs]
    return graphs_lib.stack(items)
  raise TypeError(f"{what} must be a batched Graph (graphs.stack) or a non-empty list of "
                  f"Graph / networkx graphs, got {type(graphs).__name__}")


def _minibatches(train_graphs, bs: int):
  """``(batches, weights)``: ``ceil(G / bs)`` minibatches of a pytree with a leading graph
  axis (graphs and their keys), the short last one padded at weight 0."""
  n = jax.tree.leaves(train_graphs)[0].shape[0]
  n_batches = -(-n // bs)
  total = n_batches * bs
  batch = train_graphs
  if total != n:  # pad by wrapping around; padded entries get zero weight
    index = jnp.arange(total) % n
    batch = jax.tree.map(lambda x: jnp.take(x, index, axis=0), batch)
  mask = (jnp.arange(total) < n).astype(jnp.result_type(float))
  batch = jax.tree.map(lambda x: x.reshape((n_batches, bs) + x.shape[1:]), batch)
  return batch, mask.reshape(n_batches, bs)


def _epoch_impl(model, spec: Spec, tx, variables, opt_state, train_graphs, key=None):
  check_graph(train_graphs, batched=True, name="train_graphs")
  n = train_graphs.batch_shape[0]
  # one measurement key per graph (position in the epoch); unused without shots
  keys = jax.random.key_data(jax.random.split(jax.random.key(0) if key is None else key, n))
  if spec.batch_size == 1:
    loss_fn = lambda v, g, k: _graph_loss(model, spec, v, g, jax.random.wrap_key_data(k))
    xs = (train_graphs, keys)
  else:
    def loss_fn(variables, batch, weights):
      graphs, ks = batch
      per_graph = jax.vmap(lambda g, k: _graph_loss(model, spec, variables, g,
                                                    jax.random.wrap_key_data(k)))(graphs, ks)
      return jnp.sum(weights * per_graph) / jnp.sum(weights)

    xs = _minibatches((train_graphs, keys), spec.batch_size)
  (variables, opt_state), losses = lax.scan(_step(tx, loss_fn), (variables, opt_state), xs)
  return variables, opt_state, losses


def _val_impl(model, spec: Spec, variables, val_graphs):
  check_graph(val_graphs, batched=True, name="val_graphs")
  run = lambda g: meta.phase1(model, variables, g, spec.steps, method=spec.method)[1][-1]
  return jnp.mean(jax.vmap(run)(val_graphs))


# Module-level jits with the model, the shape-relevant config and the update
# transformation as static arguments: every fit() / make_epoch_fn() call with an equal
# model and spec (and the default or the same optimizer) reuses one compilation.
epoch_jit = jax.jit(_epoch_impl, static_argnums=(0, 1, 2))
val_jit = jax.jit(_val_impl, static_argnums=(0, 1))


# ------------------------------------------------------------------------ bookkeeping


def diverged(epoch: int, losses: np.ndarray, val_loss: float, prev: Optional[float]):
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


def stop_reason(config, bad_epochs: int, train_loss: float,
                 prev_train_loss: Optional[float]) -> str:
  if bad_epochs >= config.early_stop_patience:
    return "early_stop"
  if prev_train_loss is not None and abs(train_loss - prev_train_loss) <= config.conv_tol:
    return "converged"
  return ""


def bookkeep(run: RunState, config, variables, opt_state, losses: np.ndarray,
              val_loss: float, seconds: float) -> tuple[RunState, dict, bool]:
  """Plateau, best tracking and stop rule after a finite epoch: (run, record, improved)."""
  epoch = run.epoch + 1
  train_loss = float(np.mean(losses))
  plateau = run.plateau
  lrs = {g: None for g in GROUPS} if plateau is None else plateau.lrs
  if plateau is not None:
    plateau = torch_compat.plateau_update(
        plateau, val_loss, factor=config.plateau_factor, patience=config.plateau_patience,
        threshold=config.plateau_threshold, min_lr=config.min_lr)
    opt_state = set_learning_rates(opt_state, lr_sequence=plateau.lr_sequence,
                                   lr_mapping=plateau.lr_mapping)
  improved = val_loss < run.best_val
  best = (variables, val_loss, epoch) if improved else (
      run.best_variables, run.best_val, run.best_epoch)
  bad_epochs = 0 if improved else run.bad_epochs + 1
  record = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
            "lr_sequence": lrs["sequence"], "lr_mapping": lrs["mapping"], "seconds": seconds}
  run = RunState(epoch=epoch, variables=variables, opt_state=opt_state, plateau=plateau,
                 best_variables=best[0], best_val=best[1], best_epoch=best[2],
                 bad_epochs=bad_epochs, prev_train_loss=train_loss,
                 history=run.history + [record],
                 stopped=stop_reason(config, bad_epochs, train_loss, run.prev_train_loss))
  return run, record, improved


def run_epoch(run: RunState, config, epoch_fn, val_fn, train_graphs,
               val_graphs) -> tuple[RunState, dict, bool]:
  """One epoch: train, validate, NaN/inf guard, then :func:`bookkeep`."""
  t0 = time.perf_counter()
  key = shot_key(config, run.epoch)  # passed only with shots: any 3-argument epoch_fn works
  variables, opt_state, losses = epoch_fn(run.variables, run.opt_state, train_graphs,
                                          *(() if key is None else (key,)))
  val_loss = float(val_fn(variables, val_graphs))
  losses = np.asarray(losses, dtype=np.float64)
  seconds = time.perf_counter() - t0
  if not (np.isfinite(losses).all() and math.isfinite(val_loss)):
    raise diverged(run.epoch + 1, losses, val_loss, run.prev_train_loss)
  return bookkeep(run, config, variables, opt_state, losses, val_loss, seconds)


def postfix(record: dict, config) -> str:
  lr = lambda x: "n/a" if x is None else f"{x:.2e}"
  return (f"epoch {record['epoch']}/{config.epochs} loss {record['train_loss']:.6f} "
          f"val {record['val_loss']:.6f} lr_seq {lr(record['lr_sequence'])} "
          f"lr_map {lr(record['lr_mapping'])}")
