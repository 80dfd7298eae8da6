"""Safe I/O for the paper's published artefacts: graph datasets and checkpoints.

Two concerns, each behind its own implementation module:

Datasets (:mod:`jqmeta._src.datasets`)
  The paper's ``datasets.pkl`` (a pickled ``dict`` of ``train_data`` / ``val_data`` /
  ``test_data`` lists of ``networkx.Graph``) is read through a restricted unpickler that
  resolves only networkx graph classes (:data:`ALLOWED_PICKLE_GLOBALS`; anything else
  raises :class:`UnsafePickleError` before it is called), and the graphs are rebuilt
  from plain data.  jqmeta's own format is plain JSON (:func:`save_dataset`,
  :func:`load_dataset`, :func:`convert_reference_dataset`), written atomically, in which
  node order, edge order and orientation, and attribute values round-trip exactly.

Published checkpoints (:mod:`jqmeta._src.published`)
  :func:`read_state_dict` reads the published PyTorch ``.pth`` state dicts (through
  ``torch.load(..., weights_only=True)``) or their ``.npz`` twins
  (``allow_pickle=False``) into ``{name: float32 ndarray}``; :func:`infer_model_name`
  tells which of the four sequence models (:data:`MODEL_NAMES`) a key set belongs to;
  :func:`load_reference_checkpoint` returns the reference Flax cell with the published
  weights (:func:`to_flax_params`).

The published files live in :func:`reference_dir` (``$JQMETA_REFERENCE_DIR``, else
``../shared/reference`` beside the source checkout or the working directory).

Example:
  >>> import tempfile
  >>> import networkx as nx
  >>> from jqmeta import io
  >>> path = io.save_dataset(tempfile.mkdtemp() + "/tiny.json", {"test_data": [nx.path_graph(3)]})
  >>> [g.number_of_edges() for g in io.load_dataset(path)["test_data"]]
  [2]
  >>> splits = io.load_reference_dataset(io.reference_dir() / "datasets.pkl")  # doctest: +SKIP
  >>> [len(splits[k]) for k in io.REFERENCE_SPLITS]  # doctest: +SKIP
  [1008, 5, 90]
  >>> ckpt = io.reference_dir() / "checkpoints" / "best_QK_model_6e-6.npz"
  >>> sd = io.read_state_dict(ckpt)  # doctest: +SKIP
  >>> io.infer_model_name(sd, filename="best_QK_model_6e-6.npz")  # doctest: +SKIP
  'qk_lstm'
"""

from __future__ import annotations

from pathlib import Path

from jqmeta._src.datasets import (ALLOWED_PICKLE_GLOBALS, DATASET_FORMAT, DATASET_VERSION,
                                  REFERENCE_SPLITS, UnsafePickleError,
                                  convert_reference_dataset, load_dataset,
                                  load_reference_dataset, save_dataset)
from jqmeta._src.published import (REFERENCE_DIR_ENV, TorchUnavailableError,
                                   find_reference_dir, infer_model_name,
                                   load_reference_checkpoint, read_state_dict, to_flax_params)
from jqmeta.models import MODEL_NAMES

__all__ = [
    "UnsafePickleError",
    "TorchUnavailableError",
    "ALLOWED_PICKLE_GLOBALS",
    "REFERENCE_SPLITS",
    "DATASET_FORMAT",
    "DATASET_VERSION",
    "MODEL_NAMES",
    "REFERENCE_DIR_ENV",
    "reference_dir",
    "load_reference_dataset",
    "load_dataset",
    "save_dataset",
    "convert_reference_dataset",
    "read_state_dict",
    "infer_model_name",
    "to_flax_params",
    "load_reference_checkpoint",
]


def reference_dir() -> Path:
  """The published reference data folder (the paper's dataset, checkpoints, results).

  In order: ``$JQMETA_REFERENCE_DIR`` if set; else ``../shared/reference`` beside the
  source checkout when jqmeta is imported from one (an editable install, or Python
  started in the repository); else ``../shared/reference`` relative to the current
  working directory (a regular install, run from the checkout).

  Returns:
    The path (it may not exist: check with ``.is_dir()``).

  Example:
    >>> reference_dir().is_absolute()
    True
  """
  return find_reference_dir(Path(__file__).resolve().parent, Path.cwd())
