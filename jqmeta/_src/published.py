"""The paper's published PyTorch checkpoints, read without trusting pickle.

:func:`read_state_dict` reads the published PyTorch ``.pth`` state dicts (through
``torch.load(..., weights_only=True)``, torch's own restricted unpickler) or their
``.npz`` twins (``allow_pickle=False``) into ``{name: float32 ndarray}``;
:func:`infer_model_name` tells which of the four sequence models a key set belongs to;
:func:`to_flax_params` maps a state dict onto the reference Flax cell's parameters and
:func:`load_reference_checkpoint` does all three and checks every shape.

Example:
  >>> infer_model_name(["lstm.weight_ih_l0", "lstm.weight_hh_l0",
  ...                   "lstm.bias_ih_l0", "lstm.bias_hh_l0"])
  'lstm'
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jqmeta import models
from jqmeta._src.datasets import PathLike, UnsafePickleError
from jqmeta._src.validation import check_path, existing_file
from jqmeta.models import MODEL_NAMES


REFERENCE_DIR_ENV = "JQMETA_REFERENCE_DIR"


def _is_checkout(root: Path) -> bool:
  """Whether ``root`` is a jqmeta source checkout (its ``pyproject.toml`` names jqmeta)."""
  try:
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
  except OSError:
    return False
  return re.search(r'^name\s*=\s*"jqmeta"', text, re.M) is not None


def find_reference_dir(package_dir: Path, cwd: Path,
                       environ: Optional[Mapping[str, str]] = None) -> Path:
  """The reference data folder for a package at ``package_dir`` run from ``cwd``.

  In order: ``$JQMETA_REFERENCE_DIR`` if set (and not empty); else
  ``<checkout>/../shared/reference`` when ``package_dir`` lies in a source checkout
  (its parent holds the ``pyproject.toml`` of jqmeta: an editable install or a run
  from the repository); else ``<cwd>/../shared/reference`` (an installed package, run
  from the checkout).

  Example:
    >>> find_reference_dir(Path("/site-packages/jqmeta"), Path("/work/main"), {})
    PosixPath('/work/shared/reference')
    >>> find_reference_dir(Path("/x"), Path("/y"), {"JQMETA_REFERENCE_DIR": "/data/ref"})
    PosixPath('/data/ref')
  """
  environ = os.environ if environ is None else environ
  chosen = environ.get(REFERENCE_DIR_ENV, "").strip()
  if chosen:
    return Path(chosen).expanduser().absolute()
  root = Path(package_dir).parent
  base = root if _is_checkout(root) else Path(cwd)
  return base.parent / "shared" / "reference"


class TorchUnavailableError(ImportError):
  """Reading a ``.pth`` checkpoint needs PyTorch, which is not importable."""


def _require_floating(path: Path, name: str, dtype, is_floating: bool) -> None:
  """Checkpoints hold parameters only: an integer/bool tensor means a wrong file."""
  if not is_floating:
    raise ValueError(
        f"{path}: tensor {name!r} has dtype {dtype}; only floating-point "
        "parameters are supported"
    )


def _to_float32(name: str, arr: np.ndarray, path: Path) -> np.ndarray:
  _require_floating(path, name, arr.dtype, np.issubdtype(arr.dtype, np.floating))
  return np.array(arr, dtype=np.float32, copy=True)


def _read_pth(path: Path) -> dict[str, np.ndarray]:
  try:
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    twin = path.with_suffix(".npz")
    hint = f" ({twin} exists)" if twin.is_file() else ""
    raise TorchUnavailableError(
        f"reading {path} needs PyTorch, which is not importable; read its "
        f".npz twin instead{hint}: read_state_dict({str(twin)!r})"
    ) from e
  try:
    sd = torch.load(path, map_location="cpu", weights_only=True)
  except pickle.UnpicklingError as e:
    raise UnsafePickleError(
        f"{path}: refused by torch's weights_only loader: {e}"
    ) from e
  except Exception as e:
    raise ValueError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from e
  if not isinstance(sd, Mapping):
    raise ValueError(f"{path}: expected a state dict (name -> tensor), got {type(sd).__name__}")
  out = {}
  for name, t in sd.items():
    if not isinstance(name, str) or not isinstance(t, torch.Tensor):
      raise ValueError(
          f"{path}: entry {name!r} is {type(t).__name__}; expected a flat state "
          "dict of str -> tensor (nested checkpoints are not supported)"
      )
    _require_floating(path, name, t.dtype, t.is_floating_point())
    out[name] = np.array(t.detach().to(device="cpu", dtype=torch.float32).numpy(), copy=True)
  return out


def _read_npz(path: Path) -> dict[str, np.ndarray]:
  try:
    with np.load(path, allow_pickle=False) as z:
      return {name: _to_float32(name, z[name], path) for name in z.files}
  except ValueError as e:
    if "pickle" in str(e).lower():
      raise UnsafePickleError(f"{path}: contains object arrays, refused ({e})") from e
    raise
  except Exception as e:
    raise ValueError(f"{path}: not a readable .npz checkpoint ({type(e).__name__}: {e})") from e


def read_state_dict(path: PathLike) -> dict[str, np.ndarray]:
  """Reads a published checkpoint into ``{parameter name: float32 array}``.

  ``.pth``/``.pt``: PyTorch state dict, loaded with
  ``torch.load(path, map_location="cpu", weights_only=True)`` (torch's
  restricted unpickler); needs torch.  ``.npz``: the NumPy twin, loaded with
  ``allow_pickle=False``; needs nothing else.  Both give identical arrays for
  the published files.

  Args:
    path: the checkpoint file.

  Returns:
    Dict in file order, keyed by the original PyTorch names (e.g.
    ``"lstm.weight_ih_l0"`` of shape ``(8, 3)``), values C-contiguous
    ``float32`` copies.

  Raises:
    FileNotFoundError: missing file.
    TorchUnavailableError: a ``.pth`` file without torch (an ``ImportError``).
    UnsafePickleError: the file needs unpickling beyond plain tensors.
    ValueError: unknown extension, nested or non-floating entries.

  Example:
    >>> sd = read_state_dict("best_LSTM_model_2D_QAOA.npz")  # doctest: +SKIP
    >>> sd["lstm.weight_ih_l0"].shape  # doctest: +SKIP
    (8, 3)
  """
  p = existing_file(path)
  suffix = p.suffix.lower()
  if suffix in (".pth", ".pt"):
    return _read_pth(p)
  if suffix == ".npz":
    return _read_npz(p)
  raise ValueError(f"{p}: unknown checkpoint extension {suffix!r}; expected .pth, .pt or .npz")


_LSTM_KEYS = frozenset({
    "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0",
})
_VQC_KEYS = frozenset({
    "lstm.clayer_in.weight", "lstm.clayer_in.bias",
    "lstm.clayer_out.weight", "lstm.clayer_out.bias",
    "mapping.weight", "mapping.bias",
})
_FWP_LAYERS = ("input_encoder", "slow_program_encoder", "slow_program_layer_idx",
               "slow_program_qubit_idx", "post_mapping")
_FWP_KEYS = frozenset(
    f"fwp.fwp_cell.{layer}.{p}" for layer in _FWP_LAYERS for p in ("weight", "bias"))
_QK_TOKENS = frozenset({"QK", "QKLSTM"})
_QLSTM_TOKENS = frozenset({"VQC", "QLSTM"})


def infer_model_name(keys: Iterable[str], filename: PathLike | None = None) -> str:
  """Tells which published sequence model a state-dict key set belongs to.

  * ``"lstm"``: ``lstm.weight_ih_l0``, ``lstm.weight_hh_l0``, ``lstm.bias_*_l0``.
  * ``"qfwp"``: ``fwp.fwp_cell.{input_encoder, slow_program_encoder,
    slow_program_layer_idx, slow_program_qubit_idx, post_mapping}.{weight, bias}``.
  * ``"qk_lstm"`` / ``"qlstm"``: both have exactly ``lstm.clayer_in.*``,
    ``lstm.clayer_out.*``, ``mapping.*`` (QLSTM's circuit weights were never
    saved), so the file name decides: a ``QK``/``QKLSTM`` token in it means
    QK-LSTM, ``VQC``/``QLSTM`` means QLSTM (tokens split on non-alphanumerics,
    case-insensitive).

  Args:
    keys: the parameter names (a state dict itself works: its keys are used).
    filename: the checkpoint's file name or path; needed only for the
      QK-LSTM / QLSTM key set.

  Returns:
    One of :data:`MODEL_NAMES`.

  Raises:
    TypeError: ``keys`` is a single string.
    ValueError: unknown key set (the keys are listed), or a QK-LSTM/QLSTM key
      set whose file name is missing or says neither (or both).

  Example:
    >>> infer_model_name(["lstm.weight_ih_l0", "lstm.weight_hh_l0",
    ...                   "lstm.bias_ih_l0", "lstm.bias_hh_l0"])
    'lstm'
  """
  if isinstance(keys, (str, bytes)):
    raise TypeError("keys must be an iterable of parameter names, not a single string")
  key_set = frozenset(keys)
  if key_set == _LSTM_KEYS:
    return "lstm"
  if key_set == _FWP_KEYS:
    return "qfwp"
  if key_set == _VQC_KEYS:
    if filename is None:
      raise ValueError(
          "ambiguous checkpoint: QK-LSTM and QLSTM have identical parameter "
          "names; pass filename= (a name containing 'QK' means qk_lstm, 'VQC' "
          "or 'QLSTM' means qlstm)"
      )
    tokens = set(re.split(r"[^A-Z0-9]+", Path(filename).name.upper()))
    is_qk, is_qlstm = bool(tokens & _QK_TOKENS), bool(tokens & _QLSTM_TOKENS)
    if is_qk == is_qlstm:
      raise ValueError(
          f"ambiguous checkpoint {Path(filename).name!r}: QK-LSTM and QLSTM "
          "have identical parameter names and the file name says "
          f"{'both' if is_qk else 'neither'} ('QK' -> qk_lstm, 'VQC'/'QLSTM' -> qlstm)"
      )
    return "qk_lstm" if is_qk else "qlstm"
  raise ValueError(
      f"unknown checkpoint key set {sorted(key_set)}; expected the published "
      "LSTM, QK-LSTM/QLSTM or QFWP parameters"
  )


# ------------------------------------------------------- PyTorch -> Flax parameters

_LINEAR_PREFIX = {
    "qk_lstm": {"lstm.clayer_in": "clayer_in", "lstm.clayer_out": "clayer_out",
                "mapping": "mapping"},
    "qfwp": {f"fwp.fwp_cell.{name}": name for name in _FWP_LAYERS},
}
_LINEAR_PREFIX["qlstm"] = _LINEAR_PREFIX["qk_lstm"]


def to_flax_params(state_dict: Mapping[str, np.ndarray], name: str) -> dict[str, Any]:
  """Maps a published PyTorch state dict onto the reference cell's Flax ``params``.

  * LSTM: ``lstm.{weight_ih,weight_hh,bias_ih,bias_hh}_l0`` keep PyTorch's layout and
    gate order (i, f, g, o) as ``weight_ih`` etc.
  * ``Linear`` layers: PyTorch stores ``weight`` as ``(out, in)``; Flax ``Dense``
    stores ``kernel`` as ``(in, out)``, so ``kernel = weight.T``.

  Args:
    state_dict: from :func:`read_state_dict`: ``{key: ndarray}`` in PyTorch layout
      (e.g. ``lstm.weight_ih_l0`` ``(8, 3)``, a ``Linear`` ``weight`` ``(out, in)``);
      any real dtype, cast to float32.
    name: one of :data:`MODEL_NAMES` (see :func:`infer_model_name`).

  Returns:
    The ``params`` pytree of ``models.create(name, variant="reference")``: float32
    ``jax.Array`` leaves, ``Dense`` layers as ``kernel`` ``(in, out)`` / ``bias``
    ``(out,)``.

  Example:
    >>> shapes = {"weight_ih": (8, 3), "weight_hh": (8, 2), "bias_ih": (8,), "bias_hh": (8,)}
    >>> params = to_flax_params({f"lstm.{k}_l0": np.ones(s) for k, s in shapes.items()}, "lstm")
    >>> params["weight_ih"].shape, params["weight_ih"].dtype
    ((8, 3), dtype('float32'))
  """
  if name not in MODEL_NAMES:
    raise ValueError(f"unknown model {name!r}; choose one of {MODEL_NAMES}")
  sd = {k: np.asarray(v, np.float32) for k, v in state_dict.items()}
  if name == "lstm":
    params = {k: jnp.asarray(sd[f"lstm.{k}_l0"])
              for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
  else:
    params = {}
    for prefix, layer in _LINEAR_PREFIX[name].items():
      params[layer] = {"kernel": jnp.asarray(sd[f"{prefix}.weight"].T),
                       "bias": jnp.asarray(sd[f"{prefix}.bias"])}
  return params


def _checked_name(sd: Mapping[str, np.ndarray], path: Path, name: str | None) -> str:
  """The model of a published state dict; a given ``name`` must agree with the file."""
  if name is None:
    return infer_model_name(sd.keys(), filename=path.name)
  if name not in MODEL_NAMES:
    raise ValueError(f"unknown model {name!r}; choose one of {MODEL_NAMES}")
  try:
    inferred = infer_model_name(sd.keys(), filename=path.name)
  except ValueError:
    if frozenset(sd) != _VQC_KEYS:
      raise
    inferred = None  # QK-LSTM/QLSTM weights and a file name that says neither
  allowed = ("qk_lstm", "qlstm") if inferred is None else (inferred,)
  if name not in allowed:
    holds = "QK-LSTM or QLSTM" if inferred is None else inferred
    raise ValueError(f"{path.name} holds a published {holds} checkpoint, not {name}")
  return name


def load_reference_checkpoint(path: PathLike, *, key=None, name: str | None = None):
  """Loads a published checkpoint (``.pth`` or its ``.npz`` twin) as a Flax cell.

  The model is inferred from the keys (and, for QK-LSTM vs QLSTM, the file name).
  Every parameter is checked against the shapes of a freshly initialised reference
  cell, so a mapping error cannot pass silently.

  QLSTM: the published circuit weights were never saved (they were drawn afresh at
  every load), so they are drawn here uniform in [0, 2 pi) from ``key`` (default
  ``jax.random.key(0)``) into the ``"circuit"`` collection; exact parity with the
  published QLSTM numbers is therefore impossible.

  Args:
    path: checkpoint file.
    key: PRNG key for the QLSTM circuit weights (ignored by the other models).
    name: the model the file must hold: checked against the keys and the file name
      (a mismatch raises); it decides only between QK-LSTM and QLSTM when the file
      name says neither.

  Returns:
    ``(model, variables)``: the reference cell at ``p = 1`` (the published models) and
    ``{"params": ...}`` (plus ``"circuit"`` for QLSTM), ready for
    ``meta.phase1(model, variables, graph)``.

  Raises:
    ValueError: unknown key set, ambiguous file name without ``name``, a ``name``
      the file contradicts, or shapes that do not fit the reference cell.

  Example:
    >>> model, variables = load_reference_checkpoint(  # doctest: +SKIP
    ...     "../shared/reference/checkpoints/best_QK_model_6e-6.npz")
  """
  path = check_path(path)
  sd = read_state_dict(path)
  name = _checked_name(sd, path, name)
  model = models.create(name, variant="reference")
  key = jax.random.key(0) if key is None else key
  fresh = model.init(key, model.initial_carry(), model.dummy_input())
  params = to_flax_params(sd, name)
  want = jax.tree.map(lambda x: x.shape, fresh["params"])
  got = jax.tree.map(lambda x: x.shape, params)
  if want != got:
    raise ValueError(f"checkpoint {path.name} does not fit the reference {name} cell: "
                     f"expected parameter shapes {want}, got {got}")
  variables = dict(fresh)
  variables["params"] = params
  return model, variables
