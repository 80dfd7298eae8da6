"""PyTorch-semantics optimizer pieces behind :mod:`jqmeta.training`.

Written by hand because optax's nearest pieces (``optax.contrib.reduce_on_plateau``,
learning rates fixed at construction) do not reproduce PyTorch's numbers exactly:

* :func:`rmsprop`: ``torch.optim.RMSprop`` (no momentum, not centered, ``eps`` outside
  the square root) with its hyperparameters injected into the state;
* :data:`GROUPS`, :func:`learning_rates`, :func:`set_learning_rates`: each parameter
  group's injected learning rate inside an ``optax.multi_transform`` state;
* :class:`PlateauState`, :func:`plateau_init`, :func:`plateau_update`,
  :data:`PLATEAU_EPS`: ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (mode ``"min"``,
  relative threshold, cooldown 0) as pure functions.

Nothing here knows :class:`jqmeta.training.TrainConfig`; every setting is an argument.

Example:
  >>> s = plateau_init(1e-3, 1e-2)
  >>> s = plateau_update(s, 1.0, factor=0.5, patience=0, threshold=0.0, min_lr=0.0)
  >>> s = plateau_update(s, 1.0, factor=0.5, patience=0, threshold=0.0, min_lr=0.0)
  >>> s.lrs
  {'sequence': 0.0005, 'mapping': 0.005}
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import optax

GROUPS = ("sequence", "mapping")
"""Optimizer groups, as labelled by :func:`jqmeta.models.param_labels`."""

PLATEAU_EPS = 1e-8
"""torch ``ReduceLROnPlateau(eps=1e-8)``: a learning-rate change this small is skipped."""


def rmsprop(learning_rate: float, decay: float, eps: float) -> optax.GradientTransformation:
  """PyTorch RMSprop: ``v = d v + (1-d) g^2`` (``v0 = 0``), ``p -= lr g / (sqrt(v) + eps)``.

  The hyperparameters live in the state as ``()`` float32 arrays
  (``optax.inject_hyperparams``), so changing one never recompiles a jitted update.

  Example:
    >>> import jax.numpy as jnp
    >>> tx = rmsprop(0.1, 0.99, 1e-8)
    >>> updates, _ = tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))
    >>> [round(float(u), 4) for u in updates]  # -lr g / sqrt(0.01 g^2)
    [-1.0, -1.0]
  """
  return optax.inject_hyperparams(optax.rmsprop)(
      learning_rate=learning_rate, decay=decay, eps=eps, eps_in_sqrt=False)


def _group_state(opt_state, group: str):
  try:
    masked = opt_state.inner_states[group]
  except (AttributeError, KeyError, TypeError):
    raise TypeError("opt_state is not a per-group optimizer state (expected an "
                    f"optax.multi_transform state with groups {GROUPS})") from None
  inner = getattr(masked, "inner_state", masked)
  if not hasattr(inner, "hyperparams") or "learning_rate" not in inner.hyperparams:
    raise TypeError(f"opt_state group {group!r} has no injected learning_rate")
  return masked, inner


def learning_rates(opt_state) -> dict[str, float]:
  """``{"sequence": lr, "mapping": lr}`` read from a per-group optimizer state.

  Args:
    opt_state: the state of an ``optax.multi_transform`` with a transformation per
      group of :data:`GROUPS`, each an ``optax.inject_hyperparams`` one (e.g.
      :func:`rmsprop`) whose learning rate is a ``()`` float32 array.

  Returns:
    ``{"sequence": float, "mapping": float}`` (Python floats).

  Raises:
    TypeError: the state has no such groups or no injected learning rates.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> tx = optax.multi_transform({"sequence": rmsprop(0.25, 0.99, 1e-8),
    ...                             "mapping": rmsprop(0.5, 0.99, 1e-8)},
    ...                            {"w": "sequence", "mapping": "mapping"})
    >>> learning_rates(tx.init({"w": jnp.zeros(3), "mapping": jnp.zeros(2)}))
    {'sequence': 0.25, 'mapping': 0.5}
  """
  return {g: float(_group_state(opt_state, g)[1].hyperparams["learning_rate"])
          for g in GROUPS}


def set_learning_rates(opt_state, *, lr_sequence: float, lr_mapping: float):
  """Returns ``opt_state`` with both groups' injected learning rates replaced.

  The new values keep the old dtype and shape (``()`` float32), so a jitted epoch does
  not recompile.

  Args:
    opt_state: a state :func:`learning_rates` can read.
    lr_sequence, lr_mapping: the new learning rates (Python floats).

  Returns:
    a new state of the same structure, shapes and dtypes (the input is unchanged).

  Example:
    >>> import jax.numpy as jnp, optax
    >>> tx = optax.multi_transform({g: rmsprop(0.1, 0.99, 1e-8) for g in GROUPS},
    ...                            {"w": "sequence", "mapping": "mapping"})
    >>> state = tx.init({"w": jnp.zeros(3), "mapping": jnp.zeros(2)})
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
    """``{"sequence": lr_sequence, "mapping": lr_mapping}``."""
    return {"sequence": self.lr_sequence, "mapping": self.lr_mapping}


def plateau_init(lr_sequence: float, lr_mapping: float) -> PlateauState:
  """Initial :class:`PlateauState`: ``best = inf``, the given learning rates.

  Example:
    >>> plateau_init(6e-6, 1e-4)
    PlateauState(best=inf, num_bad_epochs=0, lr_sequence=6e-06, lr_mapping=0.0001, num_reductions=0)
  """
  return PlateauState(best=math.inf, num_bad_epochs=0, lr_sequence=lr_sequence,
                      lr_mapping=lr_mapping, num_reductions=0)


def plateau_update(state: PlateauState, val_loss, *, factor: float, patience: int,
                   threshold: float, min_lr: float) -> PlateauState:
  """One ``ReduceLROnPlateau.step(val_loss)`` (PyTorch semantics, mode ``"min"``).

  * improvement iff ``val_loss < best * (1 - threshold)`` (torch's relative threshold;
    for NEGATIVE losses, as in this project, ``best * (1 - threshold)`` lies above
    ``best``, so a slightly WORSE loss still counts as an improvement and becomes the
    new ``best``; torch does this and it is reproduced on purpose);
  * otherwise ``num_bad_epochs += 1``; once ``num_bad_epochs > patience`` (torch's
    test, i.e. on the ``patience + 1``-th consecutive bad epoch) every group's lr
    becomes ``max(lr * factor, min_lr)``, skipped when the change is at most
    :data:`PLATEAU_EPS`, and the counter resets (cooldown 0).

  Pure: returns a new state.  Arithmetic is in Python floats, like torch.

  Args:
    state: the current :class:`PlateauState`.
    val_loss: this epoch's validation loss (a real scalar).
    factor: lr multiplier on a plateau; patience: bad epochs tolerated;
      threshold: relative improvement threshold; min_lr: lower bound of every lr.

  Example:
    >>> s = plateau_init(6e-6, 1e-4)
    >>> for v in (1.0, 1.0, 1.0):  # one improvement, then two bad epochs
    ...   s = plateau_update(s, v, factor=0.5, patience=1, threshold=1e-3, min_lr=1e-7)
    >>> s.num_bad_epochs, s.lr_sequence, s.lr_mapping
    (0, 3e-06, 5e-05)
  """
  if not isinstance(state, PlateauState):
    raise TypeError(f"state must be a PlateauState, got {type(state).__name__}")
  current = float(val_loss)
  best, bad = state.best, state.num_bad_epochs
  if current < best * (1.0 - threshold):
    best, bad = current, 0
  else:
    bad += 1
  lrs, reductions = [state.lr_sequence, state.lr_mapping], state.num_reductions
  if bad > patience:
    for i, old in enumerate(lrs):
      new = max(old * factor, min_lr)
      if old - new > PLATEAU_EPS:
        lrs[i] = new
    bad, reductions = 0, reductions + 1
  return PlateauState(best=best, num_bad_epochs=bad, lr_sequence=lrs[0], lr_mapping=lrs[1],
                      num_reductions=reductions)
