"""Max-Cut problem graphs as padded, batchable JAX pytrees.

A :class:`Graph` holds one weighted undirected graph in a fixed-shape layout:

* ``edges``     ``(E, 2) int32``   edge endpoints (qubit indices); padding rows are ``(0, 0)``
* ``weights``   ``(E,) float``     edge weights, exactly ``0`` on padding rows
* ``triangles`` ``(E,) int32``     triangles through each edge (for the analytic p=1 formula)
* ``degrees``   ``(N,) int32``     unweighted node degrees, ``0`` on padded qubits
* ``n_nodes``   ``() int32``       number of real nodes (``<= N``)
* ``n_edges``   ``() int32``       number of real edges (``<= E``)
* ``n_qubits``  static ``int``     ``N``, the compiled statevector size is ``2**N``
* ``unweighted`` static ``bool``   every real edge has weight exactly 1 (selects the
  unit-weight special case of the closed-form p=1 energy; see :class:`Graph`)

Real nodes occupy qubits ``0 .. n_nodes-1`` in ``G.nodes`` order; padded qubits
``n_nodes .. N-1`` carry no edge.  :func:`stack` pads a list of graphs to a common
``(N, E)`` and adds a leading batch axis, so a mixed-size batch is one array program
for ``jax.vmap``.  Padding is exact for the QAOA energy: padded qubits have no edge
and the simulator leaves them untouched (their mixer is the identity), so they only
tensor a constant ``|+>`` factor onto the state.

Example:
  >>> import networkx as nx
  >>> from jqmeta import graphs
  >>> g = graphs.from_networkx(nx.cycle_graph(4))
  >>> g.n_qubits, int(g.n_nodes), int(g.n_edges)
  (4, 4, 4)
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Hashable, Sequence

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

__all__ = ["Graph", "from_networkx", "stack", "unstack", "to_networkx", "erdos_renyi",
           "is_unweighted"]


@dataclasses.dataclass(frozen=True)
class Graph:
  """One (or, after :func:`stack`, a batch of) padded Max-Cut graph(s).

  Array fields gain a leading batch axis after :func:`stack`; ``n_qubits`` and
  ``unweighted`` are static (part of the pytree structure): ``n_qubits`` fixes compiled
  shapes, ``unweighted`` selects code paths at trace time.

  Fields (unbatched): ``edges`` ``(E, 2) int32``, ``weights`` ``(E,)`` float32 (float64
  with x64 enabled), ``triangles`` ``(E,) int32``, ``degrees`` ``(N,) int32``,
  ``n_nodes`` / ``n_edges`` ``() int32``, ``n_qubits`` static ``int`` ``N``,
  ``unweighted`` static ``bool``.

  ``unweighted=True`` states that every real edge has weight exactly 1 (and every padding
  row weight 0); it lets the closed-form p=1 energy use its cheaper unit-weight special
  case.  :func:`from_networkx` sets it when all weights are 1 and :func:`stack` when all
  inputs have it; direct construction defaults to ``False``, :meth:`astype` keeps it and
  :meth:`replace` resets it whenever a structural field (weights, edges, triangles,
  degrees, edge count) changes.  Constructing a ``Graph`` with ``unweighted=True`` and
  concrete weights that are not unit raises ``ValueError`` (traced weights cannot be
  checked, which is why ``replace`` drops the flag).  The flag also vouches for
  ``triangles`` and ``degrees`` as :func:`from_networkx` computes them.

  Example:
    >>> import networkx as nx
    >>> g = from_networkx(nx.path_graph(3))
    >>> g.edges.shape, g.weights.dtype, g.degrees.tolist(), g.batch_shape, g.unweighted
    ((2, 2), dtype('float32'), [1, 2, 1], (), True)
  """

  edges: jax.Array  # (E, 2) int32
  weights: jax.Array  # (E,) float
  triangles: jax.Array  # (E,) int32
  degrees: jax.Array  # (N,) int32
  n_nodes: jax.Array  # () int32
  n_edges: jax.Array  # () int32
  n_qubits: int  # static: part of the pytree structure, fixes compiled shapes
  unweighted: bool = False  # static: all real weights are 1 (selects a p=1 special case)

  def __post_init__(self):
    if not isinstance(self.unweighted, (bool, np.bool_)):
      raise TypeError(f"unweighted must be a bool, got {type(self.unweighted).__name__}")
    object.__setattr__(self, "unweighted", bool(self.unweighted))  # hashable pytree meta
    if self.unweighted:
      _check_unit_weights(self.weights, self.n_edges)

  def replace(self, **changes) -> "Graph":
    """A copy with some fields replaced (``g.replace(weights=w)``).

    Changing ``weights``, ``edges``, ``triangles``, ``degrees`` or ``n_edges`` resets
    ``unweighted`` to ``False`` unless ``unweighted=`` is given too (new weights may be
    traced, so nothing could check the flag).

    Example:
      >>> import networkx as nx
      >>> g = from_networkx(nx.path_graph(3))
      >>> g.unweighted, g.replace(weights=g.weights).unweighted
      (True, False)
    """
    if _STRUCTURAL.intersection(changes) and "unweighted" not in changes:
      changes["unweighted"] = False
    return dataclasses.replace(self, **changes)

  def astype(self, dtype) -> "Graph":
    """A copy whose weights have the float ``dtype`` (float64 needs x64 enabled).

    Keeps ``unweighted`` (a cast leaves weights 0 and 1 exact).

    Example:
      >>> import networkx as nx
      >>> from_networkx(nx.path_graph(3)).astype(jnp.float16).weights.dtype
      dtype('float16')
    """
    return dataclasses.replace(self, weights=jnp.asarray(self.weights, dtype))

  @property
  def max_edges(self) -> int:
    """Padded edge capacity ``E`` (static)."""
    return int(self.edges.shape[-2])

  @property
  def batch_shape(self) -> tuple[int, ...]:
    """Leading batch dimensions (``()`` for a single graph)."""
    return tuple(self.edges.shape[:-2])


jax.tree_util.register_dataclass(
    Graph, data_fields=["edges", "weights", "triangles", "degrees", "n_nodes", "n_edges"],
    meta_fields=["n_qubits", "unweighted"])

_STRUCTURAL = frozenset({"weights", "edges", "triangles", "degrees", "n_edges"})


def _concrete(x) -> bool:
  """A host-readable array (not a tracer, abstract value or other pytree leaf)."""
  if isinstance(x, np.ndarray):
    return True
  return (isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer)
          and x.is_fully_addressable)


def _check_unit_weights(weights, n_edges) -> None:
  """``ValueError`` unless concrete ``weights`` are 1 on real rows and 0 on padding.

  Leaves that are not concrete arrays (tracers during ``jit``/``vmap``, or other objects
  during pytree unflattening) and cotangent trees (integer fields become ``float0``) are
  not checked.
  """
  if not (_concrete(weights) and _concrete(n_edges)):
    return
  w, m = np.asarray(weights), np.asarray(n_edges)
  if (w.ndim < 1 or m.shape != w.shape[:-1] or not np.issubdtype(m.dtype, np.integer)
      or not np.issubdtype(w.dtype, np.floating)):
    return  # not a graph's values (e.g. a cotangent: float0 counts)
  real = np.arange(w.shape[-1]) < m[..., None]
  if np.any(w != np.where(real, 1, 0)):
    bad = w[real & (w != 1)]
    detail = (f"a real edge has weight {float(bad.flat[0])}" if bad.size
              else "a padding row is nonzero")
    raise ValueError(f"Graph(unweighted=True) needs unit weights on real edges and 0 on "
                     f"padding rows, but {detail}; use unweighted=False for weighted graphs")


def _edge_weight(u: Hashable, v: Hashable, data: dict) -> float:
  w = data.get("weight", 1)
  if isinstance(w, (bool, np.bool_)) or not isinstance(w, (numbers.Real, np.floating, np.integer)):
    raise TypeError(
        f"edge ({u!r}, {v!r}) has a non-numeric weight {w!r} of type {type(w).__name__}; "
        "weights must be real numbers")
  w = float(w)
  if not np.isfinite(w):
    raise ValueError(f"edge ({u!r}, {v!r}) has a non-finite weight {w}; weights must be finite")
  return w


def _validate(G) -> None:
  if not isinstance(G, nx.Graph):
    raise TypeError(f"expected a networkx.Graph, got {type(G).__name__}")
  if G.is_directed():
    raise ValueError("directed graphs are not supported: Max-Cut needs an undirected nx.Graph")
  if G.is_multigraph():
    raise ValueError("multigraphs are not supported: merge parallel edges into one weighted edge")
  if G.number_of_nodes() == 0:
    raise ValueError("empty graph: the graph has no nodes")
  loops = list(nx.selfloop_edges(G))
  if loops:
    raise ValueError(f"self-loops are not supported (found {len(loops)}, e.g. on node {loops[0][0]!r})")


def from_networkx(G: nx.Graph, *, n_qubits: int | None = None, max_edges: int | None = None) -> Graph:
  """Converts an undirected networkx graph into a :class:`Graph`.

  Args:
    G: an undirected, simple ``nx.Graph`` with at least one node. Node labels may be
      any hashable; node ``k`` of ``G.nodes`` (iteration order) becomes qubit ``k``.
      The edge attribute ``weight`` is used where present (default 1).
    n_qubits: optional padded qubit count ``N >= G.number_of_nodes()``.
    max_edges: optional padded edge capacity ``E >= G.number_of_edges()``.

  Returns:
    A single (unbatched) ``Graph``; weights are float32 (float64 with x64 enabled);
    ``unweighted`` is ``True`` when every edge weight is exactly 1.

  Raises:
    TypeError: ``G`` is not a networkx graph, or a weight is not a real number.
    ValueError: empty, directed or multi graph, self-loop, NaN/inf weight, or padding
      smaller than the graph.

  Example:
    >>> import networkx as nx
    >>> g = from_networkx(nx.Graph([("a", "b", {"weight": 2.5})]))
    >>> g.weights.tolist()
    [2.5]
  """
  _validate(G)
  nodes = list(G.nodes)
  index = {v: i for i, v in enumerate(nodes)}
  n = len(nodes)
  N = n if n_qubits is None else int(n_qubits)
  if N < n:
    raise ValueError(f"n_qubits={N} is smaller than the graph's {n} nodes")
  m = G.number_of_edges()
  E = max(m, 1) if max_edges is None else int(max_edges)
  if E < m or E < 1:
    raise ValueError(f"max_edges={E} is smaller than the graph's {m} edges (and must be >= 1)")

  edges = np.zeros((E, 2), np.int32)
  weights = np.zeros((E,), np.float64)
  triangles = np.zeros((E,), np.int32)
  degrees = np.zeros((N,), np.int32)
  adj = {v: set(G.adj[v]) for v in nodes}
  for k, (u, v, data) in enumerate(G.edges(data=True)):
    weights[k] = _edge_weight(u, v, data)
    edges[k] = (index[u], index[v])
    triangles[k] = len(adj[u] & adj[v])
  for v in nodes:
    degrees[index[v]] = len(adj[v])
  return Graph(
      edges=_to_device(edges),
      weights=_to_device(weights),
      triangles=_to_device(triangles),
      degrees=_to_device(degrees),
      n_nodes=_to_device(np.int32(n)),
      n_edges=_to_device(np.int32(m)),
      n_qubits=N,
      unweighted=bool(np.all(weights[:m] == 1.0)),
  )


def _to_device(x: np.ndarray) -> jax.Array:
  """``jnp.asarray`` for a host array, without the per-shape compiled copy it costs (the
  same dtype canonicalisation; no program to compile, which matters for many shapes)."""
  return jax.device_put(np.asarray(x))


def _padded_fields(g: Graph, N: int, E: int) -> dict[str, np.ndarray]:
  """Host-side (numpy) padded copies of one graph's array fields."""
  if g.batch_shape:
    raise ValueError("stack() expects unbatched graphs; got a graph with batch shape "
                     f"{g.batch_shape}")
  e_pad = E - g.max_edges
  return {
      "edges": np.pad(np.asarray(g.edges), ((0, e_pad), (0, 0))),
      "weights": np.pad(np.asarray(g.weights), (0, e_pad)),
      "triangles": np.pad(np.asarray(g.triangles), (0, e_pad)),
      "degrees": np.pad(np.asarray(g.degrees), (0, N - g.n_qubits)),
      "n_nodes": np.asarray(g.n_nodes),
      "n_edges": np.asarray(g.n_edges),
  }


def stack(graphs: Sequence[Graph]) -> Graph:
  """Pads graphs to a common size and stacks them along a new leading axis.

  Args:
    graphs: non-empty sequence of unbatched ``Graph`` (e.g. from :func:`from_networkx`).

  Returns:
    A ``Graph`` whose array fields have a leading axis of ``len(graphs)`` and whose
    ``n_qubits`` / edge capacity are the maxima over the inputs; ``unweighted`` when
    every input is.

  Example:
    >>> import networkx as nx
    >>> b = stack([from_networkx(nx.path_graph(3)), from_networkx(nx.complete_graph(5))])
    >>> b.n_qubits, b.edges.shape
    (5, (2, 10, 2))
  """
  graphs = list(graphs)
  if not graphs:
    raise ValueError("stack() needs at least one graph, got an empty sequence")
  for g in graphs:
    if not isinstance(g, Graph):
      raise TypeError(f"stack() expects jqmeta Graph objects, got {type(g).__name__}; "
                      "convert networkx graphs with graphs.from_networkx first")
  N = max(g.n_qubits for g in graphs)
  E = max(g.max_edges for g in graphs)
  padded = [_padded_fields(g, N, E) for g in graphs]  # pad on the host, one transfer
  return Graph(**{k: _to_device(np.stack([p[k] for p in padded])) for k in padded[0]},
               n_qubits=N, unweighted=all(g.unweighted for g in graphs))


def unstack(batch: Graph) -> list[Graph]:
  """Splits a batched ``Graph`` (one leading axis) into a list of padded graphs.

  Args:
    batch: a ``Graph`` with batch shape ``(B,)`` (e.g. from :func:`stack`): ``edges``
      ``(B, E, 2) int32``, ``weights`` ``(B, E)`` float, ``degrees`` ``(B, N) int32``, ...

  Returns:
    ``B`` unbatched graphs, each still padded to the batch's ``(N, E)`` (``edges``
    ``(E, 2) int32``, ``weights`` ``(E,)`` float, ``degrees`` ``(N,) int32``).

  Example:
    >>> import networkx as nx
    >>> b = stack([from_networkx(nx.path_graph(3)), from_networkx(nx.cycle_graph(4))])
    >>> [(int(g.n_nodes), g.edges.shape) for g in unstack(b)]
    [(3, (4, 2)), (4, (4, 2))]
  """
  if len(batch.batch_shape) != 1:
    raise ValueError(f"unstack() expects exactly one batch axis, got {batch.batch_shape}")
  return [jax.tree.map(lambda x: x[i], batch) for i in range(batch.batch_shape[0])]


def to_networkx(g: Graph) -> nx.Graph:
  """Rebuilds an ``nx.Graph`` (nodes ``0..n_nodes-1``, ``weight`` attributes).

  Args:
    g: one unbatched ``Graph`` (``edges`` ``(E, 2) int32``, ``weights`` ``(E,)`` float);
      padding rows and padded qubits are dropped.

  Returns:
    An ``nx.Graph`` with integer node labels and float ``weight`` edge attributes
    (original node labels are not kept).

  Example:
    >>> import networkx as nx
    >>> G = to_networkx(from_networkx(nx.Graph([("a", "b", {"weight": 2.5})])))
    >>> list(G.edges(data="weight"))
    [(0, 1, 2.5)]
  """
  if g.batch_shape:
    raise ValueError("to_networkx() expects an unbatched graph")
  G = nx.Graph()
  G.add_nodes_from(range(int(g.n_nodes)))
  edges = np.asarray(g.edges)[: int(g.n_edges)]
  weights = np.asarray(g.weights)[: int(g.n_edges)]
  for (u, v), w in zip(edges, weights):
    G.add_edge(int(u), int(v), weight=float(w))
  return G


def erdos_renyi(rng: np.random.Generator, n: int, p: float, *, connected: bool = True,
                min_edges: int = 0, max_tries: int = 1000) -> nx.Graph:
  """Draws an Erdős–Rényi ``G(n, p)`` graph from an explicit numpy ``Generator``.

  Each try draws ``nx.gnp_random_graph(n, p, seed=rng.integers(2**31 - 1))``; it is
  redrawn until it is connected (``connected=True``, what random Max-Cut benchmarks
  use) and has at least ``min_edges`` edges.  Raises ``ValueError`` if ``max_tries``
  draws fail.  Returns a networkx graph on nodes ``0..n-1`` (no arrays; convert with
  :func:`from_networkx`).  The same seeded ``rng`` state gives the same graph.

  Example:
    >>> G = erdos_renyi(np.random.default_rng(0), 6, 0.5)
    >>> G.number_of_nodes(), nx.is_connected(G)
    (6, True)
  """
  if not isinstance(rng, np.random.Generator):
    raise TypeError("rng must be a numpy.random.Generator (seeded explicitly)")
  if n < 1:
    raise ValueError(f"n must be >= 1, got {n}")
  if not 0.0 <= p <= 1.0:
    raise ValueError(f"edge probability p must lie in [0, 1], got {p}")
  for _ in range(max_tries):
    G = nx.gnp_random_graph(n, p, seed=int(rng.integers(2**31 - 1)))
    if (not connected or nx.is_connected(G)) and G.number_of_edges() >= min_edges:
      return G
  raise ValueError(f"no G({n}, {p}) graph with connected={connected} and at least "
                   f"{min_edges} edges found in {max_tries} draws")


def is_unweighted(gs: Sequence[nx.Graph]) -> bool:
  """True when no edge of the networkx graphs ``gs`` has a weight other than 1.

  Example:
    >>> is_unweighted([nx.path_graph(3)]), is_unweighted([nx.Graph([(0, 1, {"weight": 2})])])
    (True, False)
  """
  return all(d.get("weight", 1) == 1 for G in gs for _, _, d in G.edges(data=True))
