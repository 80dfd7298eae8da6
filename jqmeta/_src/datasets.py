"""Graph datasets: the paper's pickle, read safely, and jqmeta's native JSON format.

The paper ships its graphs as ``datasets.pkl``: a pickled ``dict`` with the splits
``train_data`` / ``val_data`` / ``test_data``, each a ``list`` of ``networkx.Graph``.  A
pickle can run arbitrary code when loaded, so :func:`load_reference_dataset` and
:func:`load_dataset` read ``.pkl`` files through :class:`GraphUnpickler`, whose
``find_class`` resolves only the networkx classes listed in
:data:`ALLOWED_PICKLE_GLOBALS` (``Graph`` and the view objects a pickled ``Graph``
carries).  Any other global (``os.system``, ``builtins.eval``, ``subprocess.Popen``,
``numpy`` scalars, ``DiGraph``, ...) raises :class:`UnsafePickleError` before anything is
called.  The loaded graphs are then rebuilt from their node and adjacency dicts into
fresh ``nx.Graph`` objects, so nothing from the pickle but plain data survives.
Rebuilding keeps node order, edge order/orientation (as ``G.edges`` yields them) and all
attributes; a node's neighbour order is re-derived from the edge order (neighbours
earlier in node order first), which for graphs built edge by edge, as all of the paper's
are, is the original order.

The native format (:func:`save_dataset` / :func:`load_dataset` on ``.json``) is plain
JSON, no pickle::

  {"format": "jqmeta.dataset", "version": 1,
   "splits": {"<split>": [
      {"nodes": [0, 1, "a"],                       # node labels, in order
       "edges": [[0, 1], [1, "a", {"weight": 0.5}]],  # in G.edges order
       "node_attrs": [{}, {"x": 1}, {}],            # only if any is non-empty
       "graph": {"name": "g"}},                    # only if non-empty
      ...]}}

Node labels must be ``int`` or ``str``; attribute keys must be ``str`` and values JSON
scalars (``str``, ``int``, ``float`` (finite), ``bool``, ``None``; NumPy scalars are
stored as the equal Python number).  JSON keeps ``int`` vs ``str`` and prints floats
with ``repr``, so node order, edge order and orientation, and weights round-trip
exactly.  Only undirected simple graphs (``nx.Graph``) are supported.

Example:
  >>> import tempfile
  >>> import networkx as nx
  >>> path = save_dataset(tempfile.mkdtemp() + "/g.json", {"train": [nx.cycle_graph(4)]})
  >>> list(load_dataset(path)["train"][0].edges)
  [(0, 1), (0, 3), (1, 2), (2, 3)]
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
from pathlib import Path
from typing import Any, Mapping, Sequence

import networkx as nx
import numpy as np
from networkx.classes import coreviews, reportviews

from jqmeta._src.fileio import atomic_write
from jqmeta._src.validation import check_path, existing_file

PathLike = str | os.PathLike

REFERENCE_SPLITS: tuple[str, ...] = ("train_data", "val_data", "test_data")
"""Split names of the paper's ``datasets.pkl``, in file order."""

DATASET_FORMAT = "jqmeta.dataset"
DATASET_VERSION = 1

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


# ----------------------------------------------------------------------------
# Restricted pickle loading.
# ----------------------------------------------------------------------------


class GraphUnpickler(pickle.Unpickler):
  """Unpickler that resolves only :data:`ALLOWED_PICKLE_GLOBALS` (and no persistent ids)."""

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
    return GraphUnpickler(io.BytesIO(data)).load()
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
    FileNotFoundError: ``path`` does not exist (or is a directory).
    UnsafePickleError: the pickle references a refused global.
    ValueError: unknown extension or malformed content.
    TypeError: a split holds something other than an ``nx.Graph``.

  Example:
    >>> splits = load_dataset("graphs.json")  # doctest: +SKIP
    >>> splits["test_data"][0].number_of_nodes()  # doctest: +SKIP
    10
  """
  p = existing_file(path)
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
    >>> from jqmeta import io
    >>> d = load_reference_dataset(io.reference_dir() / "datasets.pkl")  # doctest: +SKIP
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
  p = check_path(path)
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
  atomic_write(p, text)
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
