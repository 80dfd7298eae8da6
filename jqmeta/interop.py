"""Safe I/O for the paper's published artefacts: graph datasets and checkpoints.

Datasets
  The paper ships its graphs as ``datasets.pkl``: a pickled ``dict`` with the
  splits ``train_data`` / ``val_data`` / ``test_data``, each a ``list`` of
  ``networkx.Graph``.  A pickle can run arbitrary code when loaded, so
  :func:`load_reference_dataset` and :func:`load_dataset` read ``.pkl`` files
  through a restricted unpickler whose ``find_class`` resolves only the
  networkx classes listed in :data:`ALLOWED_PICKLE_GLOBALS` (``Graph`` and the
  view objects a pickled ``Graph`` carries).  Any other global (``os.system``,
  ``builtins.eval``, ``subprocess.Popen``, ``numpy`` scalars, ``DiGraph``, ...)
  raises :class:`UnsafePickleError` before anything is called.  The loaded
  graphs are then rebuilt from their node and adjacency dicts into fresh
  ``nx.Graph`` objects, so nothing from the pickle but plain data survives.
  Rebuilding keeps node order, edge order/orientation (as ``G.edges`` yields
  them) and all attributes; a node's neighbour order is re-derived from the
  edge order (neighbours earlier in node order first), which for graphs built
  edge by edge, as all of the paper's are, is the original order.

  The native format (:func:`save_dataset` / :func:`load_dataset` on ``.json``)
  is plain JSON, no pickle::

    {"format": "jqmeta.dataset", "version": 1,
     "splits": {"<split>": [
        {"nodes": [0, 1, "a"],                       # node labels, in order
         "edges": [[0, 1], [1, "a", {"weight": 0.5}]],  # in G.edges order
         "node_attrs": [{}, {"x": 1}, {}],            # only if any is non-empty
         "graph": {"name": "g"}},                    # only if non-empty
        ...]}}

  Node labels must be ``int`` or ``str``; attribute keys must be ``str`` and
  values JSON scalars (``str``, ``int``, ``float`` (finite), ``bool``,
  ``None``; NumPy scalars are stored as the equal Python number).  JSON keeps
  ``int`` vs ``str`` and prints floats with ``repr``, so node order, edge order
  and orientation, and weights round-trip exactly.  Only undirected simple
  graphs (``nx.Graph``) are supported.

Checkpoints
  :func:`read_state_dict` reads the published PyTorch ``.pth`` state dicts
  (through ``torch.load(..., weights_only=True)``, torch's own restricted
  unpickler) or their ``.npz`` twins (``allow_pickle=False``) into
  ``{name: float32 ndarray}``; :func:`infer_model_name` tells which of the four
  sequence models a key set belongs to.

Example:
  >>> from jqmeta import interop
  >>> splits = interop.load_reference_dataset("../shared/reference/datasets.pkl")  # doctest: +SKIP
  >>> [len(splits[k]) for k in interop.REFERENCE_SPLITS]  # doctest: +SKIP
  [1008, 5, 90]
  >>> sd = interop.read_state_dict("best_QK_model_6e-6.pth")  # doctest: +SKIP
  >>> interop.infer_model_name(sd, filename="best_QK_model_6e-6.pth")  # doctest: +SKIP
  'qk_lstm'
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import networkx as nx
import numpy as np
from networkx.classes import coreviews, reportviews

__all__ = [
    "UnsafePickleError",
    "TorchUnavailableError",
    "ALLOWED_PICKLE_GLOBALS",
    "REFERENCE_SPLITS",
    "DATASET_FORMAT",
    "DATASET_VERSION",
    "MODEL_NAMES",
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

PathLike = str | os.PathLike

REFERENCE_SPLITS: tuple[str, ...] = ("train_data", "val_data", "test_data")
"""Split names of the paper's ``datasets.pkl``, in file order."""

DATASET_FORMAT = "jqmeta.dataset"
DATASET_VERSION = 1

MODEL_NAMES: tuple[str, ...] = ("lstm", "qk_lstm", "qlstm", "qfwp")

# (module, name) -> object.  The reference pickle references exactly the first
# four; ``AdjacencyView`` is what ``Graph.adj`` caches (any ``G[u]`` access
# fills that cache), so ordinary pickles of an ``nx.Graph`` may carry it too.
ALLOWED_PICKLE_GLOBALS: Mapping[tuple[str, str], type] = {
    ("networkx.classes.graph", "Graph"): nx.Graph,
    ("networkx.classes.reportviews", "NodeView"): reportviews.NodeView,
    ("networkx.classes.reportviews", "EdgeView"): reportviews.EdgeView,
    ("networkx.classes.reportviews", "DegreeView"): reportviews.DegreeView,
    ("networkx.classes.coreviews", "AdjacencyView"): coreviews.AdjacencyView,
}


class UnsafePickleError(ValueError):
  """A pickle asked for something the restricted unpickler refuses to load."""


class TorchUnavailableError(ImportError):
  """Reading a ``.pth`` checkpoint needs PyTorch, which is not importable."""


def reference_dir() -> Path:
  """The published reference data folder, ``<repo>/../shared/reference``.

  Returns:
    The path (it may not exist: check with ``.is_dir()``).

  Example:
    >>> reference_dir().parent.name, reference_dir().name
    ('shared', 'reference')
  """
  return Path(__file__).resolve().parents[1].parent / "shared" / "reference"


# ----------------------------------------------------------------------------
# Restricted pickle loading.
# ----------------------------------------------------------------------------


class _GraphUnpickler(pickle.Unpickler):
  """Unpickler that resolves only :data:`ALLOWED_PICKLE_GLOBALS`."""

  def find_class(self, module: str, name: str) -> Any:
    try:
      return ALLOWED_PICKLE_GLOBALS[(module, name)]
    except KeyError:
      allowed = ", ".join(f"{m}.{n}" for m, n in ALLOWED_PICKLE_GLOBALS)
      raise UnsafePickleError(
          f"refusing to load global '{module}.{name}' from a pickle: only "
          f"networkx graph classes are allowed ({allowed}); nothing was executed"
      ) from None

  def persistent_load(self, pid: Any) -> Any:
    raise UnsafePickleError(
        f"refusing pickle persistent id {pid!r}: graph datasets never use them"
    )


def _unpickle_graphs(path: Path) -> Any:
  """Restricted-unpickles ``path``; raises on refused globals or bad data."""
  data = path.read_bytes()
  try:
    return _GraphUnpickler(io.BytesIO(data)).load()
  except UnsafePickleError:
    raise
  except Exception as e:  # Corrupt / truncated / inconsistent pickle data.
    raise ValueError(
        f"{path}: not a readable graph-dataset pickle ({type(e).__name__}: {e})"
    ) from e


def _rebuild_unpickled_graph(obj: Any, where: str) -> nx.Graph:
  """Validates an unpickled ``nx.Graph`` and copies it into a fresh one.

  Only the ``graph``, ``_node`` and ``_adj`` dicts are read (the cached view
  objects from the pickle are dropped).  Node order, edge order and
  orientation (as ``G.edges`` yields them) and all attributes are preserved.
  """
  if type(obj) is not nx.Graph:
    raise TypeError(f"{where}: expected a networkx.Graph, got {type(obj).__name__}")
  state = vars(obj)
  graph_attr, node, adj = state.get("graph"), state.get("_node"), state.get("_adj")
  for name, value in (("graph", graph_attr), ("_node", node), ("_adj", adj)):
    if type(value) is not dict:
      raise ValueError(
          f"{where}: malformed networkx.Graph, attribute {name!r} is "
          f"{type(value).__name__}, expected dict"
      )
  if list(node) != list(adj):
    raise ValueError(f"{where}: malformed networkx.Graph, node and adjacency keys differ")
  out = nx.Graph()
  out.graph.update(graph_attr)
  for n, attrs in node.items():
    if type(attrs) is not dict:
      raise ValueError(f"{where}: node {n!r} has attributes of type {type(attrs).__name__}")
  out.add_nodes_from((n, dict(attrs)) for n, attrs in node.items())
  seen = set()
  for u, nbrs in adj.items():
    if type(nbrs) is not dict:
      raise ValueError(f"{where}: adjacency of node {u!r} is {type(nbrs).__name__}, expected dict")
    for v, attrs in nbrs.items():
      if v not in adj or type(adj[v]) is not dict or u not in adj[v]:
        raise ValueError(f"{where}: malformed adjacency, edge ({u!r}, {v!r}) is not symmetric")
      if type(attrs) is not dict or (adj[v][u] is not attrs and adj[v][u] != attrs):
        raise ValueError(f"{where}: edge ({u!r}, {v!r}) has inconsistent attributes")
      if v not in seen:
        out.add_edge(u, v)
        out[u][v].update(attrs)
    seen.add(u)
  return out


def _graph_lists(obj: Any, path: Path, rebuild: bool) -> dict[str, list[nx.Graph]]:
  """Checks ``obj`` is ``{str: list[nx.Graph]}``; optionally rebuilds graphs."""
  if not isinstance(obj, dict):
    raise ValueError(
        f"{path}: expected a dict of split name -> list of graphs, got {type(obj).__name__}"
    )
  out = {}
  for split, graphs in obj.items():
    if not isinstance(split, str):
      raise ValueError(f"{path}: split names must be str, got {split!r}")
    if not isinstance(graphs, list):
      raise ValueError(
          f"{path}: split {split!r} must be a list of graphs, got {type(graphs).__name__}"
      )
    items = []
    for i, g in enumerate(graphs):
      where = f"{path}: {split}[{i}]"
      if rebuild:
        items.append(_rebuild_unpickled_graph(g, where))
      elif type(g) is not nx.Graph:
        raise TypeError(f"{where}: expected a networkx.Graph, got {type(g).__name__}")
      else:
        items.append(g)
    out[split] = items
  return out


# ----------------------------------------------------------------------------
# Native JSON format.
# ----------------------------------------------------------------------------


def _is_label(x: Any) -> bool:
  return isinstance(x, str) or (isinstance(x, int) and not isinstance(x, bool))


def _encode_label(x: Any, where: str) -> int | str:
  if isinstance(x, np.integer):
    x = int(x)
  if not _is_label(x):
    raise TypeError(
        f"{where}: node label {x!r} ({type(x).__name__}) is not supported; "
        "the JSON dataset format stores int or str labels only"
    )
  return x


def _encode_value(x: Any, where: str) -> Any:
  if isinstance(x, np.generic):
    if isinstance(x, (np.bool_, np.integer, np.floating)):
      x = x.item()
  if x is None or isinstance(x, (str, bool, int)):
    return x
  if isinstance(x, float):
    if not math.isfinite(x):
      raise ValueError(f"{where}: non-finite value {x!r} cannot be stored")
    return float(x)
  raise TypeError(
      f"{where}: value {x!r} ({type(x).__name__}) is not supported; attributes "
      "must be str, int, float, bool or None"
  )


def _encode_attrs(attrs: Mapping[Any, Any], where: str) -> dict[str, Any]:
  out = {}
  for k, v in attrs.items():
    if not isinstance(k, str):
      raise TypeError(f"{where}: attribute name {k!r} must be a str")
    out[k] = _encode_value(v, f"{where}[{k!r}]")
  return out


def _encode_graph(g: Any, where: str) -> dict[str, Any]:
  if not isinstance(g, nx.Graph):
    raise TypeError(f"{where}: expected a networkx.Graph, got {type(g).__name__}")
  if g.is_directed() or g.is_multigraph():
    raise ValueError(
        f"{where}: {type(g).__name__} is not supported; only undirected simple "
        "graphs (nx.Graph) can be stored"
    )
  nodes = [_encode_label(n, f"{where} node") for n in g.nodes]
  edges = []
  for u, v, attrs in g.edges(data=True):
    edge = [_encode_label(u, f"{where} edge"), _encode_label(v, f"{where} edge")]
    if attrs:
      edge.append(_encode_attrs(attrs, f"{where} edge ({u!r}, {v!r})"))
    edges.append(edge)
  out: dict[str, Any] = {"nodes": nodes, "edges": edges}
  node_attrs = [_encode_attrs(a, f"{where} node {n!r}") for n, a in g.nodes(data=True)]
  if any(node_attrs):
    out["node_attrs"] = node_attrs
  if g.graph:
    out["graph"] = _encode_attrs(g.graph, f"{where} graph")
  return out


def _decode_attrs(obj: Any, where: str) -> dict[str, Any]:
  if not isinstance(obj, dict):
    raise ValueError(f"{where}: attributes must be a JSON object, got {type(obj).__name__}")
  for k, v in obj.items():
    if not (v is None or isinstance(v, (str, bool, int, float))):
      raise ValueError(f"{where}: attribute {k!r} has unsupported value {v!r}")
  return dict(obj)


def _decode_graph(obj: Any, where: str) -> nx.Graph:
  if not isinstance(obj, dict) or "nodes" not in obj or "edges" not in obj:
    raise ValueError(f"{where}: a graph must be an object with 'nodes' and 'edges'")
  unknown = set(obj) - {"nodes", "edges", "node_attrs", "graph"}
  if unknown:
    raise ValueError(f"{where}: unknown graph fields {sorted(unknown)}")
  nodes, edges = obj["nodes"], obj["edges"]
  if not isinstance(nodes, list) or not isinstance(edges, list):
    raise ValueError(f"{where}: 'nodes' and 'edges' must be lists")
  for n in nodes:
    if not _is_label(n):
      raise ValueError(f"{where}: node label {n!r} must be an int or a str")
  if len(set(nodes)) != len(nodes):
    raise ValueError(f"{where}: duplicate node labels")
  node_attrs = obj.get("node_attrs", [{}] * len(nodes))
  if not isinstance(node_attrs, list) or len(node_attrs) != len(nodes):
    raise ValueError(f"{where}: 'node_attrs' must be a list with one object per node")
  g = nx.Graph()
  g.graph.update(_decode_attrs(obj.get("graph", {}), f"{where} graph"))
  g.add_nodes_from(
      (n, _decode_attrs(a, f"{where} node {n!r}")) for n, a in zip(nodes, node_attrs)
  )
  for e in edges:
    if not isinstance(e, list) or len(e) not in (2, 3):
      raise ValueError(f"{where}: edge {e!r} must be [u, v] or [u, v, {{attrs}}]")
    u, v = e[0], e[1]
    if not (_is_label(u) and _is_label(v)) or u not in g or v not in g:
      raise ValueError(f"{where}: edge {e!r} references an unknown node")
    if g.has_edge(u, v):
      raise ValueError(f"{where}: duplicate edge ({u!r}, {v!r})")
    g.add_edge(u, v)
    if len(e) == 3:
      g[u][v].update(_decode_attrs(e[2], f"{where} edge ({u!r}, {v!r})"))
  return g


def _reject_constant(name: str) -> Any:
  raise ValueError(f"non-standard JSON constant {name!r}")


def _load_json(path: Path) -> dict[str, list[nx.Graph]]:
  try:
    with path.open("r", encoding="utf-8") as f:
      doc = json.load(f, parse_constant=_reject_constant)
  except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as e:
    raise ValueError(f"{path}: not a valid JSON dataset ({e})") from e
  if (
      not isinstance(doc, dict)
      or doc.get("format") != DATASET_FORMAT
      or not isinstance(doc.get("splits"), dict)
  ):
    raise ValueError(
        f"{path}: not a jqmeta dataset (expected an object with "
        f"'format': {DATASET_FORMAT!r} and 'splits')"
    )
  if doc.get("version") != DATASET_VERSION:
    raise ValueError(
        f"{path}: unsupported dataset version {doc.get('version')!r} "
        f"(this jqmeta reads version {DATASET_VERSION})"
    )
  out = {}
  for split, graphs in doc["splits"].items():
    if not isinstance(graphs, list):
      raise ValueError(f"{path}: split {split!r} must be a list of graphs")
    out[split] = [_decode_graph(g, f"{path}: {split}[{i}]") for i, g in enumerate(graphs)]
  return out


# ----------------------------------------------------------------------------
# Public dataset API.
# ----------------------------------------------------------------------------


def _existing_file(path: PathLike) -> Path:
  if not isinstance(path, (str, os.PathLike)):
    raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
  p = Path(path)
  if not p.is_file():
    raise FileNotFoundError(f"no such file: {p}")
  return p


def load_dataset(path: PathLike) -> dict[str, list[nx.Graph]]:
  """Loads graph splits from a native ``.json`` file or a ``.pkl`` pickle.

  ``.pkl``/``.pickle`` files go through the restricted unpickler (only
  networkx graph classes; see :data:`ALLOWED_PICKLE_GLOBALS`), ``.json``
  files through the native reader.  NumPy ``.npz`` is not a dataset format.

  Args:
    path: the file.

  Returns:
    ``{split name: [nx.Graph, ...]}`` in file order.

  Raises:
    FileNotFoundError: ``path`` does not exist.
    UnsafePickleError: the pickle references a refused global.
    ValueError: unknown extension or malformed content.
    TypeError: a split holds something other than an ``nx.Graph``.

  Example:
    >>> splits = load_dataset("graphs.json")  # doctest: +SKIP
    >>> splits["test_data"][0].number_of_nodes()  # doctest: +SKIP
    10
  """
  p = _existing_file(path)
  suffix = p.suffix.lower()
  if suffix in (".pkl", ".pickle"):
    return _graph_lists(_unpickle_graphs(p), p, rebuild=True)
  if suffix == ".json":
    return _load_json(p)
  if suffix == ".npz":
    raise ValueError(
        f"{p}: .npz is not a dataset format; jqmeta datasets are JSON "
        "(save_dataset) or the paper's .pkl (.npz files are checkpoints: see "
        "read_state_dict)"
    )
  raise ValueError(f"{p}: unknown dataset extension {suffix!r}; expected .json or .pkl")


def load_reference_dataset(path: PathLike) -> dict[str, list[nx.Graph]]:
  """Loads the paper's ``datasets.pkl`` (or its JSON conversion) safely.

  Args:
    path: ``datasets.pkl`` (restricted unpickler, never executes code) or a
      ``.json`` file written by :func:`save_dataset` /
      :func:`convert_reference_dataset`.

  Returns:
    ``{"train_data": [...], "val_data": [...], "test_data": [...]}`` of
    ``nx.Graph`` (published: 1008 graphs n=6..9, 5 graphs n=10, 90 graphs
    n=10..14; node labels ``0..n-1``, unweighted).

  Raises:
    As :func:`load_dataset`, plus ``ValueError`` when the split names are not
    exactly :data:`REFERENCE_SPLITS`.

  Example:
    >>> d = load_reference_dataset(reference_dir() / "datasets.pkl")  # doctest: +SKIP
    >>> len(d["train_data"]), len(d["val_data"]), len(d["test_data"])  # doctest: +SKIP
    (1008, 5, 90)
  """
  splits = load_dataset(path)
  if set(splits) != set(REFERENCE_SPLITS):
    missing = sorted(set(REFERENCE_SPLITS) - set(splits))
    extra = sorted(set(splits) - set(REFERENCE_SPLITS))
    raise ValueError(
        f"{path}: expected exactly the splits {list(REFERENCE_SPLITS)}; "
        f"missing {missing}, unexpected {extra}"
    )
  return {k: splits[k] for k in REFERENCE_SPLITS}


def save_dataset(path: PathLike, splits: Mapping[str, Sequence[nx.Graph]]) -> Path:
  """Writes graph splits to the native JSON format (no pickle).

  The file is written atomically (temporary file, then rename).  Node order,
  edge order/orientation and attribute values (e.g. ``weight``) round-trip
  exactly through :func:`load_dataset`; see the module docstring for the
  schema and the supported label/attribute types.

  Args:
    path: destination, must end in ``.json``.
    splits: ``{split name: [nx.Graph, ...]}``.

  Returns:
    The written path.

  Raises:
    ValueError: wrong extension, directed/multi graphs, non-finite values.
    TypeError: non-str split names, non-graph entries, unsupported labels or
      attribute values.

  Example:
    >>> import networkx as nx
    >>> save_dataset("g.json", {"train": [nx.cycle_graph(4)]})  # doctest: +SKIP
    PosixPath('g.json')
  """
  if not isinstance(path, (str, os.PathLike)):
    raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
  p = Path(path)
  if p.suffix.lower() != ".json":
    raise ValueError(f"{p}: datasets are saved as JSON; use a .json file name")
  if not isinstance(splits, Mapping):
    raise TypeError(
        "splits must be a mapping of split name -> list of graphs, got "
        f"{type(splits).__name__}"
    )
  doc_splits = {}
  for split, graphs in splits.items():
    if not isinstance(split, str):
      raise TypeError(f"split names must be str, got {split!r}")
    if isinstance(graphs, nx.Graph) or not isinstance(graphs, Sequence):
      raise TypeError(f"split {split!r} must be a list of graphs, got {type(graphs).__name__}")
    doc_splits[split] = [_encode_graph(g, f"{split}[{i}]") for i, g in enumerate(graphs)]
  doc = {"format": DATASET_FORMAT, "version": DATASET_VERSION, "splits": doc_splits}
  text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
  p.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
  try:
    with os.fdopen(fd, "w", encoding="utf-8") as f:
      f.write(text)
    os.replace(tmp, p)
  except BaseException:
    Path(tmp).unlink(missing_ok=True)
    raise
  return p


def convert_reference_dataset(pkl_path: PathLike, out_path: PathLike) -> Path:
  """Converts the paper's ``datasets.pkl`` to the native JSON format.

  Args:
    pkl_path: the reference pickle (read with the restricted unpickler).
    out_path: the ``.json`` file to write.

  Returns:
    ``out_path`` as a ``Path``.

  Example:
    >>> convert_reference_dataset("datasets.pkl", "datasets.json")  # doctest: +SKIP
    PosixPath('datasets.json')
  """
  return save_dataset(out_path, load_reference_dataset(pkl_path))


# ----------------------------------------------------------------------------
# Checkpoints.
# ----------------------------------------------------------------------------


def _to_float32(name: str, arr: np.ndarray, path: Path) -> np.ndarray:
  if not (np.issubdtype(arr.dtype, np.floating)):
    raise ValueError(
        f"{path}: tensor {name!r} has dtype {arr.dtype}; only floating-point "
        "parameters are supported"
    )
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
    if not t.is_floating_point():
      raise ValueError(
          f"{path}: tensor {name!r} has dtype {t.dtype}; only floating-point "
          "parameters are supported"
      )
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
  p = _existing_file(path)
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
_FWP_KEYS = frozenset(
    f"fwp.fwp_cell.{layer}.{p}"
    for layer in ("input_encoder", "slow_program_encoder", "slow_program_layer_idx",
                  "slow_program_qubit_idx", "post_mapping")
    for p in ("weight", "bias")
)
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
    "qfwp": {f"fwp.fwp_cell.{name}": name
             for name in ("input_encoder", "slow_program_encoder", "slow_program_layer_idx",
                          "slow_program_qubit_idx", "post_mapping")},
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
  import jax.numpy as jnp  # local: keep dataset I/O importable without touching jax

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
    name: override the inferred model name.

  Returns:
    ``(model, variables)``: the reference cell and ``{"params": ...}`` (plus
    ``"circuit"`` for QLSTM), ready for ``meta.phase1(model, variables, graph)``.

  Example:
    >>> model, variables = load_reference_checkpoint(  # doctest: +SKIP
    ...     "../shared/reference/checkpoints/best_QK_model_6e-6.npz")
  """
  import jax

  from jqmeta import models

  path = Path(path)
  sd = read_state_dict(path)
  name = name or infer_model_name(sd.keys(), filename=path.name)
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
