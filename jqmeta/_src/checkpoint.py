"""The training checkpoint format behind :func:`jqmeta.training.fit`.

Two msgpack files (``flax.serialization``) in a checkpoint folder, each written
atomically through :func:`jqmeta._src.fileio.atomic_write`:

* ``best.msgpack`` (kind ``"best"``): the best-validation ``variables``, their epoch and
  validation loss;
* ``last.msgpack`` (kind ``"last"``): the whole :class:`RunState` after the latest
  completed epoch (variables, optimizer state, plateau, best tracking, history), enough
  to resume bit for bit.

Both carry ``format``, ``version``, the model signature (class and fields), the model
spec (``{"name", "variant", "p", "options"}``, what :func:`jqmeta.models.create` rebuilds
the model from; ``null`` for a module not built by it) and the tree signature (path,
shape, dtype of every leaf of ``variables``).  Files written before the spec existed
get it derived from their model signature (:func:`stored_spec`).  Version 2 stores the
whole ``variables`` dict; version-1 files (``last``: ``"params"`` + ``"collections"``,
tree signature of ``params`` only) still load with :func:`load_checkpoint` but cannot
be resumed (their optimizer state covers ``params`` only).

Example:
  >>> import jax.numpy as jnp
  >>> json.loads(tree_signature({"params": {"w": jnp.zeros((2, 3))}}))
  [["['params']['w']", [2, 3], 'float32']]
"""

from __future__ import annotations

import ast
import json
import os
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from jqmeta._src import fileio
from jqmeta._src.torch_compat import PlateauState
from jqmeta._src.validation import check_path

LAST_CHECKPOINT = "last.msgpack"
BEST_CHECKPOINT = "best.msgpack"
FORMAT = "jqmeta.train"
VERSION = 2
_READABLE = (1, 2)


class RunState(NamedTuple):
  """Everything ``fit`` carries between epochs (and saves in ``last.msgpack``).

  Fields:
    epoch: completed epochs.
    variables: the whole variables dict after ``epoch`` (device arrays).
    opt_state: the optimizer state over ``variables``.
    plateau: the :class:`~jqmeta._src.torch_compat.PlateauState`, or ``None`` when the
      optimizer exposes no group learning rates.
    best_variables, best_val, best_epoch: the best-validation epoch so far.
    bad_epochs: epochs since the last strict validation improvement.
    prev_train_loss: the previous epoch's mean training loss (``None`` before epoch 1).
    history: one record dict per completed epoch.
    stopped: ``""`` while running; ``"early_stop"`` / ``"converged"`` once stopped.
  """
  epoch: int
  variables: Any
  opt_state: Any
  plateau: Optional[PlateauState]
  best_variables: Any
  best_val: float
  best_epoch: int
  bad_epochs: int
  prev_train_loss: Optional[float]
  history: list
  stopped: str


def to_host(tree):
  """Every leaf as a NumPy array (what the msgpack payloads store)."""
  return jax.tree.map(np.asarray, tree)


def to_device(tree):
  """Every leaf as a JAX array (NumPy, Python or JAX leaves in, bits unchanged)."""
  return jax.tree.map(lambda x: jnp.asarray(np.asarray(x)), tree)


def tree_signature(tree) -> str:
  """JSON ``[[path, shape, dtype], ...]`` of every leaf (checks a checkpoint fits)."""
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return json.dumps([[jax.tree_util.keystr(path), list(np.shape(x)), str(np.asarray(x).dtype)]
                     for path, x in leaves])


def model_signature(model) -> str:
  """JSON of a Flax module's class and dataclass fields (``parent`` / ``name`` left out)."""
  fields = {k: repr(getattr(model, k)) for k in sorted(getattr(model, "__dataclass_fields__", {}))
            if k not in ("parent", "name")}
  return json.dumps({"class": type(model).__name__, "fields": fields}, sort_keys=True)


def _module_fields(model) -> dict[str, Any]:
  return {k: getattr(model, k) for k in sorted(getattr(model, "__dataclass_fields__", {}))
          if k not in ("parent", "name")}


def _spec_matching(signature: str, variant, p, fields: dict) -> Optional[dict]:
  """The ``models.create`` spec whose model has exactly ``signature``, else ``None``."""
  from jqmeta import models  # pylint: disable=import-outside-toplevel  # models is above us
  for name in models.MODEL_NAMES:
    try:
      base = models.create(name, variant=variant, p=p)
      options = {k: int(v) for k, v in fields.items()
                 if k not in ("p", "variant", "gate") and getattr(base, k, None) != v}
      candidate = models.create(name, variant=variant, p=p, **options)
    except (TypeError, ValueError):
      continue
    if model_signature(candidate) == signature:
      return {"name": name, "variant": variant, "p": int(p), "options": options}
  return None


def model_spec(model) -> Optional[dict]:
  """``{"name", "variant", "p", "options"}`` that ``models.create`` rebuilds ``model`` from.

  Returns ``None`` for a module :func:`jqmeta.models.create` cannot build.

  Example:
    >>> from jqmeta import models
    >>> model_spec(models.create("qk_lstm", variant="corrected", n_refs=6))
    {'name': 'qk_lstm', 'variant': 'corrected', 'p': 1, 'options': {'n_refs': 6}}
  """
  fields = _module_fields(model)
  return _spec_matching(model_signature(model), fields.get("variant"), fields.get("p"), fields)


def spec_from_signature(signature: str) -> Optional[dict]:
  """The spec of a stored model signature (checkpoints written before specs were stored)."""
  try:
    stored = json.loads(signature)
    fields = {k: ast.literal_eval(v) for k, v in stored["fields"].items()}
  except (TypeError, ValueError, KeyError, SyntaxError):
    return None
  return _spec_matching(signature, fields.get("variant"), fields.get("p"), fields)


def describe(spec: Optional[dict], signature: str = "") -> str:
  """``qfwp (variant 'corrected', p=1)``: a model as messages name it.

  Example:
    >>> describe({"name": "qk_lstm", "variant": "corrected", "p": 2, "options": {"n_refs": 6}})
    "qk_lstm (variant 'corrected', p=2, n_refs=6)"
  """
  if spec is None:
    return f"module {signature}"
  extra = "".join(f", {k}={v}" for k, v in sorted(spec["options"].items()))
  return f"{spec['name']} (variant {spec['variant']!r}, p={spec['p']}{extra})"


def stored_spec(raw: dict, path="checkpoint") -> dict:
  """The spec a decoded checkpoint was written for; ``ValueError`` if none can be known."""
  spec = raw.get("spec")
  spec = json.loads(spec) if isinstance(spec, str) else None
  if spec is None:
    spec = spec_from_signature(raw.get("model", ""))
  if spec is None:
    raise ValueError(f"{path} was written for a module that jqmeta.models.create cannot "
                     f"rebuild ({raw.get('model')}); load it with load_checkpoint(path, "
                     "template, model=model)")
  return spec


def model_mismatch(raw: dict, model) -> Optional[str]:
  """``None`` if a decoded checkpoint was written for ``model``, else a phrase naming both."""
  mine = model_signature(model)
  if raw.get("model") == mine:
    return None
  theirs = raw.get("spec")
  theirs = json.loads(theirs) if isinstance(theirs, str) else None
  theirs = describe(theirs or spec_from_signature(raw.get("model", "")), raw.get("model", "?"))
  ours = describe(model_spec(model), mine)
  if theirs == ours:  # same name and settings, other fields (another jqmeta version)
    theirs, ours = f"{theirs} {raw.get('model')}", f"{ours} {mine}"
  return f"it holds a {theirs} but the model is a {ours}"


def prepare_dir(directory) -> tuple[str, str]:
  """Creates ``directory``, removes a killed writer's temp files, returns (last, best) paths."""
  directory = os.fspath(check_path(directory, "checkpoint_dir"))
  os.makedirs(directory, exist_ok=True)
  fileio.remove_stale_temps(directory, (LAST_CHECKPOINT, BEST_CHECKPOINT))
  return (os.path.join(directory, LAST_CHECKPOINT), os.path.join(directory, BEST_CHECKPOINT))


def _state(tree):
  return serialization.to_state_dict(to_host(tree))


def last_payload(run: RunState, config: dict, model) -> bytes:
  """The ``last.msgpack`` bytes of ``run`` (``config``: the TrainConfig as a dict)."""
  payload = {
      "format": FORMAT, "version": VERSION, "kind": "last",
      "config": json.dumps(config, sort_keys=True),
      "model": model_signature(model),
      "spec": json.dumps(model_spec(model)),
      "tree": tree_signature(run.variables),
      "epoch": run.epoch,
      "stopped": run.stopped,
      "variables": _state(run.variables),
      "opt_state": _state(run.opt_state),
      "best_variables": _state(run.best_variables),
      "plateau": None if run.plateau is None else run.plateau._asdict(),
      "best_val": run.best_val,
      "best_epoch": run.best_epoch,
      "bad_epochs": run.bad_epochs,
      "prev_train_loss": run.prev_train_loss,
      "history": json.dumps(run.history),
  }
  return serialization.msgpack_serialize(payload)


def best_payload(run: RunState, model) -> bytes:
  """The ``best.msgpack`` bytes of ``run``'s best-validation variables."""
  payload = {
      "format": FORMAT, "version": VERSION, "kind": "best",
      "model": model_signature(model),
      "spec": json.dumps(model_spec(model)),
      "tree": tree_signature(run.best_variables),
      "epoch": run.best_epoch,
      "val_loss": run.best_val,
      "variables": _state(run.best_variables),
  }
  return serialization.msgpack_serialize(payload)


def save(paths: tuple[str, str], run: RunState, *, improved: bool, config: dict,
         model) -> None:
  """Writes ``best.msgpack`` (only if ``improved``), then ``last.msgpack``, atomically."""
  last_path, best_path = paths
  if improved:
    fileio.atomic_write(best_path, best_payload(run, model))
  fileio.atomic_write(last_path, last_payload(run, config, model))


def read(path) -> dict:
  """The decoded payload of a jqmeta training checkpoint (format and version checked)."""
  try:
    with open(path, "rb") as f:
      raw = serialization.msgpack_restore(f.read())
  except FileNotFoundError:
    raise
  except Exception as e:  # msgpack / flax decoding errors
    raise ValueError(f"{path} is not a readable jqmeta checkpoint ({e})") from e
  if not isinstance(raw, dict) or raw.get("format") != FORMAT:
    raise ValueError(f"{path} is not a jqmeta training checkpoint")
  if raw.get("version") not in _READABLE:
    raise ValueError(f"{path} has checkpoint version {raw.get('version')}, "
                     f"this jqmeta reads versions {_READABLE}")
  return raw


def _stored_variables(raw: dict) -> dict:
  if raw["kind"] == "last" and raw["version"] == 1:
    return {**raw["collections"], "params": raw["params"]}
  return raw["variables"]


def load_checkpoint(path, variables_template, *, model=None) -> dict:
  """Loads the variables stored in a checkpoint written by ``fit``.

  Args:
    path: a ``best.msgpack`` (the best-validation variables) or ``last.msgpack`` (the
      latest variables) file, format version 1 or 2.
    variables_template: variables of the same model (e.g. ``meta.init(model, key)``);
      only its structure, shapes and dtypes are used.
    model: the model the variables are for.  Pass it: the variables trees of different
      models can be identical (QFWP reference and corrected, LSTM at other options),
      and only the stored model signature tells them apart.  ``None`` checks the tree
      only (older calls).  :func:`jqmeta.training.load_model` needs neither.

  Returns:
    the stored variables, ``{"params": ..., [other collections]}`` as JAX arrays.

  Raises:
    FileNotFoundError: ``path`` does not exist.
    ValueError: not a jqmeta checkpoint, written for another model (model, variant, p
      or options; the message names both), or its tree differs from the template's.

  Example:
    >>> import jax
    >>> from jqmeta import meta, models
    >>> model = models.create("lstm")
    >>> template = meta.init(model, jax.random.key(0))
    >>> variables = load_checkpoint("runs/lstm/best.msgpack", template,  # doctest: +SKIP
    ...                             model=model)
  """
  template = variables_template
  path = os.fspath(check_path(path))
  if not isinstance(template, dict) or "params" not in template:
    raise TypeError("variables_template must be a variables dict with a 'params' entry")
  raw = read(path)
  mismatch = None if model is None else model_mismatch(raw, model)
  if mismatch:
    raise ValueError(f"{path} was written for another model: {mismatch}")
  expected = tree_signature(template["params"] if raw["version"] == 1 else template)
  if raw["tree"] != expected:
    raise ValueError(f"{path} holds parameters with a different structure than the "
                     f"template (stored {raw['tree']}, template {expected})")
  stored = _stored_variables(raw)
  if set(stored) != set(template):
    raise ValueError(f"{path} holds collections {sorted(stored)} but the template has "
                     f"{sorted(template)}")
  return to_device(serialization.from_state_dict(template, stored))


def config_diff(stored: dict, now: dict) -> list[str]:
  """``"field: checkpoint X vs now Y"`` for every config field but ``epochs`` that differs."""
  keys = sorted(set(stored) | set(now))
  return [f"{k}: checkpoint {stored.get(k)!r} vs now {now.get(k)!r}" for k in keys
          if k != "epochs" and stored.get(k) != now.get(k)]


def _same_untrained(stored: dict, variables: dict) -> bool:
  """Whether the collections fit never changes (all but ``params``) equal the stored ones."""
  mine = {k: v for k, v in variables.items() if k != "params"}
  mine = serialization.msgpack_restore(serialization.msgpack_serialize(_state(mine)))
  stored = {k: v for k, v in stored.items() if k != "params"}
  return jax.tree.structure(mine) == jax.tree.structure(stored) and all(
      np.asarray(a).dtype == np.asarray(b).dtype and np.array_equal(a, b)
      for a, b in zip(jax.tree.leaves(mine), jax.tree.leaves(stored)))


def _check_resumable(path: str, raw: dict, model, config: dict, variables) -> None:
  if raw.get("kind") != "last":
    raise ValueError(f"{path} is not a resumable 'last' checkpoint")
  if raw["version"] == 1:
    raise ValueError(f"{path} is a version-1 checkpoint (jqmeta < 0.2) and cannot be "
                     "resumed (its optimizer state covers 'params' only); load its weights "
                     "with load_checkpoint(path, template) and start a new fit from them")
  mismatch = model_mismatch(raw, model)
  if mismatch:
    raise ValueError(f"{path} was written for another model: {mismatch}")
  if raw["tree"] != tree_signature(variables):
    raise ValueError(f"{path} holds a different variables tree: {raw['tree']} "
                     f"(now {tree_signature(variables)})")
  diff = config_diff(json.loads(raw["config"]), config)
  if diff:
    raise ValueError(f"{path} was written with another TrainConfig (only epochs may "
                     f"change on resume): {'; '.join(diff)}")
  if not _same_untrained(raw["variables"], variables):
    raise ValueError(f"{path} was trained with other non-trainable collections; pass the "
                     "same variables as the interrupted run (e.g. the same init key)")


def resume(path, model, config: dict, variables, opt_state_template) -> RunState:
  """The :class:`RunState` stored in a ``last.msgpack``, checked against this run.

  Args:
    path: the ``last.msgpack`` file.
    model: the Flax module being trained (its signature must match).
    config: the TrainConfig as a dict (every field but ``epochs`` must match).
    variables: this run's initial variables (template; its tree and its collections
      other than ``params``, which fit never changes, must match).
    opt_state_template: this run's initial optimizer state (template).

  Raises:
    FileNotFoundError: no file at ``path``.
    ValueError: a version-1 or ``best`` file, or another model / tree / config /
      optimizer.
  """
  path = os.fspath(path)
  if not os.path.exists(path):
    raise FileNotFoundError(f"resume=True but there is no checkpoint at {path}; "
                            "start without resume to train from scratch")
  raw = read(path)
  _check_resumable(path, raw, model, config, variables)
  try:
    opt_state = serialization.from_state_dict(opt_state_template, raw["opt_state"])
  except (ValueError, KeyError, TypeError) as e:
    raise ValueError(f"{path} holds the state of another optimizer; resume with the "
                     f"optimizer of the interrupted run ({e})") from e
  return RunState(
      epoch=int(raw["epoch"]),
      variables=to_device(serialization.from_state_dict(variables, raw["variables"])),
      opt_state=to_device(opt_state),
      plateau=None if raw["plateau"] is None else PlateauState(**raw["plateau"]),
      best_variables=to_device(serialization.from_state_dict(variables,
                                                             raw["best_variables"])),
      best_val=float(raw["best_val"]),
      best_epoch=int(raw["best_epoch"]),
      bad_epochs=int(raw["bad_epochs"]),
      prev_train_loss=None if raw["prev_train_loss"] is None else float(raw["prev_train_loss"]),
      history=json.loads(raw["history"]),
      stopped=str(raw["stopped"]),
  )
