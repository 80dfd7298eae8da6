"""Meta-training of the learned optimizers (the paper's protocol, resumable).

The protocol as published (see the reference README, "Training and test protocol"):
PyTorch-semantics RMSprop with one learning rate for the sequence model and one for
the ``mapping`` layer, one graph per update (1008 updates per epoch), up to 50
epochs, ``ReduceLROnPlateau`` on the validation loss, early stop after 6 epochs
without validation improvement or when the mean training loss stops moving, and the
best-validation weights kept.  Everything is overridable through :class:`TrainConfig`,
and :func:`fit` accepts any ``optax`` transformation instead of the paper's RMSprop.

Training sees ONE pytree, the whole ``variables`` dict: :func:`make_optimizer` labels
its ``"params"`` leaves ``"sequence"`` / ``"mapping"`` and every other collection (the
reference QLSTM's untrained ``"circuit"``) ``"frozen"``, which gets zero updates.
:func:`make_epoch_fn` / :func:`make_val_fn` are ONE jitted call per epoch (a
``lax.scan`` over the updates) and per validation; :func:`fit` loops over epochs with
the plateau schedule, best tracking, stopping rules, a NaN/inf guard, atomic
checkpoints and exact resume.

Determinism: there is no randomness in training (graphs are visited in the given
order) and checkpoints store every array bit for bit, so equal inputs give
bit-identical results, and a run killed at any point and resumed from its
``last.msgpack`` ends with exactly the variables of an uninterrupted run.

Example: see :func:`fit`.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any, Callable, NamedTuple, Optional

import flax.linen as nn
import jax
import optax
from tqdm import tqdm

from jqmeta import meta, models
from jqmeta._src import checkpoint, epoch as epoch_lib, torch_compat
from jqmeta._src.checkpoint import BEST_CHECKPOINT, LAST_CHECKPOINT, RunState, load_checkpoint
from jqmeta._src.epoch import FROZEN, TrainingDivergedError
from jqmeta._src.torch_compat import (GROUPS, PLATEAU_EPS, PlateauState, learning_rates,
                                      set_learning_rates)
from jqmeta._src.validation import (ENERGY_METHODS, check_choice, check_int,
                                    check_path, check_real)

__all__ = [
    "TrainConfig", "TrainResult", "TrainingDivergedError", "make_optimizer", "make_epoch_fn",
    "make_val_fn", "fit", "stop_note", "load_checkpoint", "load_model", "LAST_CHECKPOINT",
    "BEST_CHECKPOINT", "FROZEN", "plateau_init", "plateau_update",
    # from jqmeta._src.torch_compat
    "PlateauState", "learning_rates", "set_learning_rates", "GROUPS", "PLATEAU_EPS",
]

# ------------------------------------------------------------------------------ config

_REAL_FIELDS = {
    "lr_sequence": dict(low=0.0), "lr_mapping": dict(low=0.0),
    "decay": dict(low=0.0, high=1.0, high_open=True), "eps": dict(low=0.0, low_open=True),
    "plateau_factor": dict(low=0.0, high=1.0, low_open=True, high_open=True),
    "plateau_threshold": dict(low=0.0), "min_lr": dict(low=0.0), "conv_tol": dict(low=0.0),
}
_SHOT_FIELDS = ("shots", "shot_seed")
_INT_FIELDS = {"epochs": 1, "steps": 1, "batch_size": 1, "plateau_patience": 0,
               "early_stop_patience": 1}


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
      (see :func:`jqmeta.qaoa.energy`; every method is exact for every graph).
    shots: ``None`` (exact costs) or train on sampled costs: the model is fed ``shots``-
      shot estimates, the meta-loss stays exact (:func:`jqmeta.meta.phase1`); validation
      is exact.  Epoch ``e``'s measurements use ``fold_in(key(shot_seed), e)``.
    shot_seed: the measurements' seed (an explicit integer, so resuming can check it).

  The four RMSprop fields configure the default optimizer only (``fit(optimizer=None)``).

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
  shots: Optional[int] = None
  shot_seed: int = 0

  def __post_init__(self):
    if self.shots is not None:
      object.__setattr__(self, "shots", check_int("TrainConfig.shots", self.shots, 1))
    object.__setattr__(self, "shot_seed", check_int("TrainConfig.shot_seed", self.shot_seed, 0))
    for name, bounds in _REAL_FIELDS.items():
      value = check_real(f"TrainConfig.{name}", getattr(self, name), **bounds)
      object.__setattr__(self, name, value)
    for name, low in _INT_FIELDS.items():
      object.__setattr__(self, name, check_int(f"TrainConfig.{name}", getattr(self, name), low))
    check_choice("TrainConfig.loss", self.loss, tuple(sorted(meta.LOSSES)))
    check_choice("TrainConfig.method", self.method, ENERGY_METHODS)

  def to_dict(self) -> dict[str, Any]:
    """Plain ``{field: value}`` dict (JSON-serialisable); without shots, no shot fields
    (so exact runs keep the signatures and checkpoints they had before shots existed)."""
    d = dataclasses.asdict(self)
    return {k: v for k, v in d.items() if self.shots is not None or k not in _SHOT_FIELDS}


def _check_config(config) -> TrainConfig:
  if not isinstance(config, TrainConfig):
    raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
  return config


def _check_model(model) -> None:
  if not isinstance(model, nn.Module):
    raise TypeError(f"model must be a Flax module from models.create, got "
                    f"{type(model).__name__}")


# --------------------------------------------------------------------------- optimizer


def make_optimizer(config: TrainConfig, optimizer: Optional[optax.GradientTransformation] = None
                   ) -> optax.GradientTransformation:
  """The transformation :func:`fit` applies to the whole ``variables`` dict.

  Leaves are labelled when it runs (no tree needed here): in ``variables["params"]``
  the top-level ``mapping`` subtree is the ``"mapping"`` group, the rest ``"sequence"``;
  every other collection is ``"frozen"`` (``optax.set_to_zero()``).

  Args:
    config: a :class:`TrainConfig` (``lr_sequence``, ``lr_mapping``, ``decay``, ``eps``).
    optimizer: ``None`` for the paper's per-group PyTorch RMSprop, whose hyperparameters
      live in the state as arrays (:func:`learning_rates` / :func:`set_learning_rates`:
      a new rate never recompiles); or any ``optax`` transformation, applied to each
      group separately (own state per group: a global-norm clip sees one group).

  Returns:
    an ``optax.GradientTransformation`` whose ``init`` takes the variables dict.

  Example:
    >>> import jax
    >>> from jqmeta import meta, models
    >>> variables = meta.init(models.create("qk_lstm"), jax.random.key(0))
    >>> state = make_optimizer(TrainConfig()).init(variables)
    >>> {k: f"{v:.0e}" for k, v in learning_rates(state).items()}
    {'sequence': '6e-06', 'mapping': '1e-04'}
  """
  config = _check_config(config)
  if optimizer is not None:
    return epoch_lib.wrapped(epoch_lib.check_optimizer(optimizer))
  return epoch_lib.per_group(torch_compat.rmsprop(config.lr_sequence, config.decay, config.eps),
                    torch_compat.rmsprop(config.lr_mapping, config.decay, config.eps))


def plateau_init(config: TrainConfig) -> PlateauState:
  """Initial :class:`PlateauState` (Python scalars): ``best = inf``, ``config``'s rates.

  Example:
    >>> s = plateau_init(TrainConfig())
    >>> s.best, s.num_bad_epochs, s.lrs
    (inf, 0, {'sequence': 6e-06, 'mapping': 0.0001})
  """
  config = _check_config(config)
  return torch_compat.plateau_init(config.lr_sequence, config.lr_mapping)


def plateau_update(state: PlateauState, val_loss, config: TrainConfig) -> PlateauState:
  """One ``ReduceLROnPlateau.step(val_loss)`` with ``config``'s settings (pure).

  PyTorch semantics: see :func:`jqmeta._src.torch_compat.plateau_update`.

  Example:
    >>> cfg = TrainConfig(plateau_patience=1)
    >>> s = plateau_init(cfg)
    >>> for v in (1.0, 1.0, 1.0):  # one improvement, then two bad epochs
    ...   s = plateau_update(s, v, cfg)
    >>> s.num_bad_epochs, s.lr_sequence, s.lr_mapping
    (0, 3e-06, 5e-05)
  """
  config = _check_config(config)
  return torch_compat.plateau_update(
      state, val_loss, factor=config.plateau_factor, patience=config.plateau_patience,
      threshold=config.plateau_threshold, min_lr=config.min_lr)


# ------------------------------------------------------------------------ epoch / val


def make_epoch_fn(model: nn.Module, config: TrainConfig,
                  optimizer: Optional[optax.GradientTransformation] = None) -> Callable:
  """One training epoch as one jitted call.

  Args:
    model: a model from :func:`jqmeta.models.create`.
    config: :class:`TrainConfig` (``steps``, ``loss``, ``method``, ``batch_size`` shape
      the program; the default optimizer's learning rates live in its state).
    optimizer: as in :func:`make_optimizer` (``None``: the paper's RMSprop).

  Returns:
    ``epoch(variables, opt_state, train_graphs, key=None) -> (variables, opt_state,
    losses)`` (``key``: the measurements' key, required when ``config.shots`` is set):
    ``opt_state`` from ``make_optimizer(config, optimizer).init(variables)``,
    ``train_graphs`` a batched ``Graph`` of ``G`` graphs, ``losses`` ``(n_updates,)``
    float (each update's meta-loss, with the variables before that update):

    * ``batch_size == 1`` (the paper's protocol): one update per graph, in order, as a
      ``lax.scan`` over the graph axis; ``n_updates = G``.
    * ``batch_size = B > 1``: one update per minibatch ``[0, B), [B, 2B), ...`` on the
      mean meta-loss of a ``jax.vmap``-ed Phase I; ``n_updates = ceil(G / B)``.  A
      short last minibatch wraps around to the first graphs at zero weight, so its
      loss and gradient are the mean over its real graphs.  Only ``jnp`` ops touch
      the graph axis, so it may be sharded.

    Jitted (``epoch.lower(...)`` lowers it); equal models and specs share a compilation.

  Example:
    >>> import jax, networkx as nx
    >>> from jqmeta import graphs, meta, models
    >>> model = models.create("lstm"); config = TrainConfig(steps=3)
    >>> variables = meta.init(model, jax.random.key(0))
    >>> g = graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in (4, 5, 6)])
    >>> epoch = make_epoch_fn(model, config)
    >>> state = make_optimizer(config).init(variables)
    >>> variables, state, losses = epoch(variables, state, g)  # doctest: +SKIP
    >>> losses.shape  # doctest: +SKIP
    (3,)
  """
  _check_model(model)
  spec = epoch_lib.spec_of(_check_config(config))
  tx = (epoch_lib.DEFAULT_UPDATE if optimizer is None
        else epoch_lib.wrapped(epoch_lib.check_optimizer(optimizer)))

  def epoch(variables, opt_state, train_graphs, key=None):
    if (key is None) != (spec.shots is None):
      raise ValueError("key= is required with TrainConfig.shots (and only then)")
    return epoch_lib.epoch_jit(model, spec, tx, variables, opt_state, train_graphs,
                               *(() if key is None else (key,)))

  # Without shots the key is not an argument: the compiled program takes the three above.
  epoch.lower = lambda variables, opt_state, train_graphs, key=None: epoch_lib.epoch_jit.lower(
      model, spec, tx, variables, opt_state, train_graphs, *(() if key is None else (key,)))
  return epoch


def make_val_fn(model: nn.Module, config: TrainConfig) -> Callable:
  """The paper's validation loss as one jitted call.

  Returns:
    ``val(variables, val_graphs) -> ()`` float: the mean over the graphs of the Phase I
    cost at the LAST recurrent step (``steps = config.steps``, ``config.method``).

  Example:
    >>> import jax, networkx as nx
    >>> from jqmeta import graphs, meta, models
    >>> model = models.create("lstm")
    >>> variables = meta.init(model, jax.random.key(0))
    >>> val = make_val_fn(model, TrainConfig(steps=3))
    >>> g = graphs.stack([graphs.from_networkx(nx.cycle_graph(4))])
    >>> float(val(variables, g)) < 0  # doctest: +SKIP
    True
  """
  _check_model(model)
  spec = epoch_lib.spec_of(_check_config(config))

  def val(variables, val_graphs):
    return epoch_lib.val_jit(model, spec, variables, val_graphs)

  val.lower = lambda variables, val_graphs: epoch_lib.val_jit.lower(model, spec, variables, val_graphs)
  return val


# --------------------------------------------------------------------------------- fit


class TrainResult(NamedTuple):
  """What :func:`fit` returns.

  Fields:
    variables: the best-validation variables (every collection; only ``params`` trained).
    last_variables: the variables after the last completed epoch.
    history: one dict per completed epoch: ``epoch`` (1-based), ``train_loss`` (mean of
      the epoch's update losses), ``val_loss``, ``lr_sequence`` / ``lr_mapping`` (the
      rates used during the epoch; ``None`` for an optimizer without injected group
      learning rates), ``seconds`` (wall time of training + validation).
    best_epoch: the 1-based epoch of ``variables``.
    stopped: ``"max_epochs"``, ``"early_stop"`` or ``"converged"``.
    best_val_loss: validation loss of ``variables``.

  ``variables`` and ``last_variables`` have the structure, shapes and dtypes of the
  ``variables`` passed to :func:`fit` (float32 from :func:`jqmeta.meta.init`); the
  losses and ``seconds`` are Python floats, ``best_epoch`` an ``int``.
  """
  variables: dict
  last_variables: dict
  history: list
  best_epoch: int
  stopped: str
  best_val_loss: float


def _check_fit(model, variables, config, optimizer, checkpoint_dir, resume,
               on_epoch_end) -> None:
  _check_model(model)
  _check_config(config)
  if not isinstance(variables, dict) or "params" not in variables:
    raise TypeError("variables must be a dict with a 'params' collection "
                    "(meta.init(model, key))")
  if optimizer is not None:
    epoch_lib.check_optimizer(optimizer)
  if on_epoch_end is not None and not callable(on_epoch_end):
    raise TypeError("on_epoch_end must be callable or None")
  if resume and checkpoint_dir is None:
    raise ValueError("resume=True needs a checkpoint_dir")


def _plateau_start(config: TrainConfig, optimizer, opt_state) -> Optional[PlateauState]:
  """The schedule of a fresh run; a caller's optimizer gets one only if it injects rates."""
  if optimizer is None:
    return plateau_init(config)
  try:
    lrs = learning_rates(opt_state)
  except TypeError:
    return None
  return torch_compat.plateau_init(lrs["sequence"], lrs["mapping"])


def _start(model, variables, config: TrainConfig, optimizer, paths, resume: bool) -> RunState:
  """The state before the first epoch to run: fresh, or decoded from ``last.msgpack``."""
  variables = checkpoint.to_device(variables)
  opt_state = checkpoint.to_device(make_optimizer(config, optimizer).init(variables))
  if resume:
    return checkpoint.resume(paths[0], model, config.to_dict(), variables, opt_state)
  return RunState(epoch=0, variables=variables, opt_state=opt_state,
                  plateau=_plateau_start(config, optimizer, opt_state),
                  best_variables=variables, best_val=math.inf, best_epoch=0, bad_epochs=0,
                  prev_train_loss=None, history=[], stopped="")


def _result(run: RunState) -> TrainResult:
  return TrainResult(variables=run.best_variables, last_variables=run.variables,
                     history=[dict(r) for r in run.history], best_epoch=run.best_epoch,
                     stopped=run.stopped or "max_epochs", best_val_loss=run.best_val)


def stop_note(stopped: str, epoch: int, config: TrainConfig) -> str:
  """How a run ended (``stopped`` as in :class:`TrainResult`, after 1-based ``epoch``).
  >>> stop_note("early_stop", 8, TrainConfig())
  'stopped early at epoch 8 (no val improvement for 6)'
  """
  return {"early_stop": f"stopped early at epoch {epoch} (no val improvement for "
                        f"{config.early_stop_patience})",
          "converged": f"converged at epoch {epoch} (train loss moved <= {config.conv_tol:g})"
          }.get(stopped, f"reached the epoch limit ({epoch}/{config.epochs})")


def fit(model: nn.Module, variables, train_graphs, val_graphs,
        config: TrainConfig = TrainConfig(), *,
        optimizer: Optional[optax.GradientTransformation] = None, checkpoint_dir=None,
        resume: bool = False, progress: bool = True, label: str = "meta-train",
        on_epoch_end: Optional[Callable[[dict], Any]] = None) -> TrainResult:
  """Meta-trains ``variables["params"]`` of ``model`` (the paper's protocol by default).

  Each epoch is one jitted call of :func:`make_epoch_fn` followed by :func:`make_val_fn`.
  After each epoch, in this order:

  1. NaN/inf guard: a non-finite update loss or validation loss raises
     :class:`TrainingDivergedError` before anything of the epoch is recorded or saved;
  2. plateau: :func:`plateau_update` on the validation loss sets the learning rates of
     the next epoch;
  3. best tracking: a strictly lower validation loss makes these variables the best;
     otherwise the early-stop counter grows;
  4. stop reason: ``"early_stop"`` once ``early_stop_patience`` epochs in a row did not
     improve, else ``"converged"`` when ``|train_loss - previous train_loss| <=
     conv_tol`` (from the second epoch), else ``"max_epochs"`` after ``epochs``;
  5. checkpoints (if ``checkpoint_dir``): ``best.msgpack`` on improvement, then
     ``last.msgpack`` (full resumable state), both written atomically;
  6. progress bar postfix, then ``on_epoch_end(record)`` with the history record.

  Args:
    model: a model from :func:`jqmeta.models.create`.
    variables: its initial variables (``meta.init``), trained as one pytree: only
      ``"params"`` changes, other collections get zero updates.
    train_graphs, val_graphs: batched ``Graph`` (``graphs.stack``), or non-empty lists of
      ``Graph`` / ``networkx.Graph`` (stacked here).
    config: :class:`TrainConfig`.
    optimizer: ``None`` (the paper's two-group PyTorch RMSprop from ``config``) or any
      ``optax.GradientTransformation`` (see :func:`make_optimizer`).  The plateau
      schedule drives a caller's optimizer only if its state exposes injected group
      learning rates (``optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)``: the
      schedule starts from that rate); otherwise no schedule runs and the history
      records ``None`` learning rates.
    checkpoint_dir: folder for ``last.msgpack`` / ``best.msgpack`` (created if needed);
      ``None`` writes nothing.  Without ``resume``, checkpoints there are replaced as
      the run completes epochs; a killed writer's temp files are removed at start.
    resume: continue from ``checkpoint_dir/last.msgpack`` (format version 2, same
      model, variables tree, non-trainable collections, optimizer and config except
      ``epochs``, which may be raised); ends exactly like an uninterrupted run.
    progress: on stderr, a tqdm bar on a terminal, else one line per epoch (no ``\\r``),
      ending with :func:`stop_note`; ``False`` prints nothing.
    label: the bar's / lines' label (e.g. ``"meta-train lstm"``).
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
    >>> model = models.create("lstm")
    >>> variables = meta.init(model, jax.random.key(0))
    >>> tr = [nx.cycle_graph(4), nx.path_graph(5)]
    >>> result = fit(model, variables, tr, [nx.complete_graph(4)],
    ...              TrainConfig(epochs=3, steps=3), progress=False)  # doctest: +SKIP
    >>> len(result.history), result.stopped  # doctest: +SKIP
    (3, 'max_epochs')
  """
  _check_fit(model, variables, config, optimizer, checkpoint_dir, resume, on_epoch_end)
  train_graphs = epoch_lib.as_batch(train_graphs, "train_graphs")
  val_graphs = epoch_lib.as_batch(val_graphs, "val_graphs")
  paths = None if checkpoint_dir is None else checkpoint.prepare_dir(checkpoint_dir)
  run = _start(model, variables, config, optimizer, paths, resume)
  epoch_fn = make_epoch_fn(model, config, optimizer)
  val_fn = make_val_fn(model, config)
  tty = bool(progress) and sys.stderr.isatty()  # elsewhere (CI, logs): lines, no bar
  bar = tqdm(total=config.epochs, initial=min(run.epoch, config.epochs), disable=not tty,
             desc=label, unit="epoch", dynamic_ncols=True)
  say = lambda text: progress and not tty and print(f"{label}: {text}", file=sys.stderr)
  try:
    while not run.stopped and run.epoch < config.epochs:
      run, record, improved = epoch_lib.run_epoch(run, config, epoch_fn, val_fn, train_graphs,
                                         val_graphs)
      if paths is not None:
        checkpoint.save(paths, run, improved=improved, config=config.to_dict(), model=model)
      bar.update(1)
      bar.set_postfix_str(epoch_lib.postfix(record, config))
      say(epoch_lib.postfix(record, config))
      if on_epoch_end is not None:
        on_epoch_end(dict(record))
    note = stop_note(run.stopped or "max_epochs", run.epoch, config)
    bar.total = bar.n  # an early stop is a finished run, not a bar stuck at 8/50
    bar.set_postfix_str(note)
    say(note)
  finally:
    bar.close()
  return _result(run)


def load_model(path) -> tuple[nn.Module, dict]:
  """The model a checkpoint was trained for, rebuilt from the file, and its variables.

  The file records the model (name, variant, depth ``p``, options); it is rebuilt with
  :func:`jqmeta.models.create` and must have exactly the stored signature, so a
  corrected QFWP never comes back as the reference one.

  Args:
    path: a ``best.msgpack`` or ``last.msgpack`` written by :func:`fit` (any version).

  Returns:
    ``(model, variables)``: the Flax cell and the stored variables (JAX float32 arrays,
    the structure of ``meta.init(model, key)``).

  Raises:
    FileNotFoundError / ValueError: no file, not a jqmeta checkpoint, or a module that
    ``models.create`` cannot build (then use :func:`load_checkpoint` with the module).

  Example:
    >>> model, variables = load_model("runs/train/best.msgpack")  # doctest: +SKIP
  """
  path = check_path(path)
  spec = checkpoint.stored_spec(checkpoint.read(path), path)
  model = models.create(spec["name"], variant=spec["variant"], p=spec["p"], **spec["options"])
  return model, load_checkpoint(path, meta.init(model, jax.random.key(0)), model=model)
