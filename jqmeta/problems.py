"""Problem families for the study beyond the paper: graphs from explicit JAX keys.

Four families (:data:`FAMILIES`), each a function ``f(n, ..., key, *, count=1)`` that
returns ``count`` networkx graphs on nodes ``0..n-1`` whose every edge carries a float
``weight`` attribute (1.0 for the unweighted families):

* ``"er"``: :func:`erdos_renyi`, connected ``G(n, edge_prob)`` (the paper's family);
* ``"regular"``: :func:`random_regular`, connected random ``degree``-regular graphs;
* ``"weighted"``: :func:`weighted_erdos_renyi`, connected ``G(n, edge_prob)`` with i.i.d.
  positive weights (uniform on ``(0, 1]`` or exponential with mean 1);
* ``"sk"``: :func:`sherrington_kirkpatrick`, the complete graph with couplings
  ``J_ij`` (``+-1`` or standard normal) stored as weights ``w_ij = J_ij / sqrt(n)``.

:func:`generate` dispatches on the family name with documented defaults, :func:`batch`
stacks graphs into one padded :class:`jqmeta.graphs.Graph`, and datasets are saved and
loaded with :func:`jqmeta.io.save_dataset` / :func:`jqmeta.io.load_dataset` (native JSON;
weights round-trip bit for bit).

Randomness: graph ``i`` of a call is drawn from ``jax.random.split(key, count)[i]``,
turned into a NumPy ``Generator`` by :func:`numpy_rng` (the key's raw ``uint32`` words
seed a ``numpy.random.SeedSequence``).  So the same key gives the same graphs on every
machine, different keys give different graphs, and the first ``k`` graphs do not depend
on ``count``.  Nothing is seeded globally.

Example:
  >>> import jax
  >>> from jqmeta import problems
  >>> gs = problems.generate("regular", 8, jax.random.key(0), count=2)
  >>> [sorted(set(d for _, d in g.degree())) for g in gs]
  [[3], [3]]
  >>> problems.batch(gs).batch_shape
  (2,)
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

from jqmeta import graphs as _graphs
from jqmeta._src import validation

__all__ = ["FAMILIES", "DEFAULTS", "numpy_rng", "erdos_renyi", "random_regular",
           "weighted_erdos_renyi", "sherrington_kirkpatrick", "check_regular", "generate", "batch",
           "sk_energy_per_site"]

FAMILIES = ("er", "regular", "weighted", "sk")
"""The problem families :func:`generate` knows."""

DEFAULTS = {"er": {"edge_prob": 0.5}, "regular": {"degree": 3},
            "weighted": {"edge_prob": 0.5, "weights": "uniform"}, "sk": {"couplings": "pm1"}}
""":func:`generate`'s default options per family."""

WEIGHT_LAWS = ("uniform", "exponential")
COUPLING_LAWS = ("pm1", "gaussian")
_MAX_TRIES = 1000  # redraws of a disconnected graph before giving up


def numpy_rng(key) -> np.random.Generator:
  """A NumPy ``Generator`` determined by a JAX PRNG key (its raw ``uint32`` words).

  Args:
    key: a JAX key (``jax.random.key`` or ``jax.random.PRNGKey``), not batched.

  Returns:
    ``np.random.default_rng(SeedSequence(words))``: the same key gives the same stream.

  Example:
    >>> import jax
    >>> int(numpy_rng(jax.random.key(1)).integers(100)) == int(
    ...     numpy_rng(jax.random.key(1)).integers(100))
    True
  """
  key = validation.check_key(key)
  words = np.asarray(jax.random.key_data(key), dtype=np.uint32).ravel()
  if words.size > 4:
    raise ValueError(f"key must be a single PRNG key, got key data of shape {words.shape}")
  return np.random.default_rng(np.random.SeedSequence([int(w) for w in words]))


def _draw(key, count: int, one: Callable[[np.random.Generator], nx.Graph]) -> list[nx.Graph]:
  """``count`` graphs, graph ``i`` from the ``i``-th split of ``key``."""
  count = validation.check_int("count", count, 1)
  keys = jax.random.split(validation.check_key(key), count)
  return [one(numpy_rng(k)) for k in keys]


def _connected(rng: np.random.Generator, draw: Callable[[int], nx.Graph], what: str) -> nx.Graph:
  """Redraws ``draw(seed)`` until the graph is connected (``ValueError`` after many tries)."""
  for _ in range(_MAX_TRIES):
    G = draw(int(rng.integers(2**31 - 1)))
    if nx.is_connected(G):
      return G
  raise ValueError(f"no connected {what} found in {_MAX_TRIES} draws")


def _with_weights(G: nx.Graph, weights: Sequence[float]) -> nx.Graph:
  """A copy of ``G`` on nodes ``0..n-1`` (sorted) with float ``weight`` attributes."""
  H = nx.Graph()
  H.add_nodes_from(range(G.number_of_nodes()))
  for (u, v), w in zip(sorted(tuple(sorted(e)) for e in G.edges()), weights):
    H.add_edge(int(u), int(v), weight=float(w))
  return H


def _check_n(n, low: int = 2) -> int:
  return validation.check_int("n", n, low)


def _check_prob(edge_prob) -> float:
  validation.check_real("edge_prob", edge_prob, low=0.0, high=1.0, low_open=True)
  return float(edge_prob)


def erdos_renyi(n: int, edge_prob: float, key, *, count: int = 1) -> list[nx.Graph]:
  """Connected Erdős–Rényi graphs ``G(n, edge_prob)``, unit weights (the paper's family).

  A disconnected draw is redrawn (as the paper's dataset does), so the law is
  ``G(n, edge_prob)`` conditioned on connectivity.

  Args:
    n: nodes ``>= 2``.
    edge_prob: edge probability in ``(0, 1]``.
    key: JAX PRNG key (see the module docstring).
    count: number of graphs ``>= 1``.

  Returns:
    ``count`` ``nx.Graph`` on nodes ``0..n-1``, every edge ``weight=1.0``.

  Example:
    >>> import jax
    >>> g, = erdos_renyi(6, 0.5, jax.random.key(0))
    >>> nx.is_connected(g), set(w for *_, w in g.edges(data="weight"))
    (True, {1.0})
  """
  n, edge_prob = _check_n(n), _check_prob(edge_prob)

  def one(rng):
    G = _graphs.erdos_renyi(rng, n, edge_prob, max_tries=_MAX_TRIES)
    return _with_weights(G, np.ones(G.number_of_edges()))
  return _draw(key, count, one)


def check_regular(n: int, degree: int) -> tuple[int, int]:
  """``(n, degree)`` if a connected ``degree``-regular graph on ``n`` nodes exists, else a
  ``ValueError`` naming why (checked before any work, also by :class:`jqmeta.study.StudyConfig`).

  Example:
    >>> check_regular(8, 3)
    (8, 3)
  """
  n = _check_n(n)
  degree = validation.check_int("degree", degree, 1)
  if degree >= n or (n * degree) % 2:
    raise ValueError(f"no {degree}-regular graph on {n} nodes: need degree < n and n * degree "
                     "even")
  if degree == 1 and n > 2:
    raise ValueError(f"a 1-regular graph on {n} > 2 nodes is never connected")
  return n, degree


def random_regular(n: int, degree: int, key, *, count: int = 1) -> list[nx.Graph]:
  """Connected random ``degree``-regular graphs on ``n`` nodes, unit weights.

  Args:
    n: nodes, ``n > degree`` and ``n * degree`` even.
    degree: the common degree ``>= 1``.
    key: JAX PRNG key.
    count: number of graphs ``>= 1``.

  Returns:
    ``count`` ``nx.Graph`` (``networkx.random_regular_graph`` draws, redrawn until
    connected), every edge ``weight=1.0``.

  Example:
    >>> import jax
    >>> g, = random_regular(6, 3, jax.random.key(0))
    >>> sorted(set(d for _, d in g.degree())), g.number_of_edges()
    ([3], 9)
  """
  n, degree = check_regular(n, degree)

  def one(rng):
    G = _connected(rng, lambda s: nx.random_regular_graph(degree, n, seed=s),
                   f"{degree}-regular graph on {n} nodes")
    return _with_weights(G, np.ones(G.number_of_edges()))
  return _draw(key, count, one)


def weighted_erdos_renyi(n: int, edge_prob: float, key, *, weights: str = "uniform",
                         count: int = 1) -> list[nx.Graph]:
  """Connected ``G(n, edge_prob)`` with i.i.d. positive edge weights.

  Args:
    n: nodes ``>= 2``.
    edge_prob: edge probability in ``(0, 1]``.
    key: JAX PRNG key.
    weights: ``"uniform"`` (uniform on ``(0, 1]``, as ``1 - U[0, 1)``) or
      ``"exponential"`` (mean 1).
    count: number of graphs ``>= 1``.

  Returns:
    ``count`` ``nx.Graph``; edge ``k`` in sorted ``(u, v)`` order gets the ``k``-th weight.

  Example:
    >>> import jax
    >>> g, = weighted_erdos_renyi(6, 0.5, jax.random.key(0), weights="exponential")
    >>> all(w > 0 for *_, w in g.edges(data="weight"))
    True
  """
  n, edge_prob = _check_n(n), _check_prob(edge_prob)
  validation.check_choice("weights", weights, WEIGHT_LAWS)

  def one(rng):
    G = _graphs.erdos_renyi(rng, n, edge_prob, max_tries=_MAX_TRIES)
    m = G.number_of_edges()
    w = 1.0 - rng.random(m) if weights == "uniform" else rng.exponential(1.0, m)
    return _with_weights(G, w)
  return _draw(key, count, one)


def sherrington_kirkpatrick(n: int, key, *, couplings: str = "pm1",
                            count: int = 1) -> list[nx.Graph]:
  """Sherrington–Kirkpatrick instances as weighted complete graphs.

  The SK energy of a spin configuration ``z in {+-1}^n`` is (Farhi, Goldstone, Gutmann,
  Zhou 2019) ``C(z) = (1/sqrt(n)) sum_{i<j} J_ij z_i z_j``, to be minimised, with i.i.d.
  ``J_ij`` (``+-1`` with probability 1/2, or standard normal).  The graph stores the
  weights ``w_ij = J_ij / sqrt(n)`` (negative weights included).  With ``W = sum w``,
  jqmeta's cost ``H_C = sum w_ij (Z_i Z_j - 1) / 2`` is exactly ``C / 2 - W / 2``, so

  * minimising ``C`` is maximising the weighted cut ``cut_w(z) = (W - C(z)) / 2``;
  * jqmeta's energy ``E = <H_C> = -E[cut_w]`` gives ``<C> = 2 E + W`` and the energy per
    site ``<C> / n = (2 E + W) / n`` (:func:`sk_energy_per_site`); the published
    ``V_p`` (0.3033 at p = 1) is ``-lim_n E_J[<C> / n]`` at the optimal angles;
  * jqmeta's phase ``exp(-i gamma H_C)`` is ``exp(-i (gamma / 2) C)`` up to a global
    phase, so a published SK angle ``gamma_SK`` is ``2 gamma_SK`` here
    (:func:`jqmeta.baselines.sk_angles` does that conversion).

  Args:
    n: spins (nodes) ``>= 2``.
    key: JAX PRNG key.
    couplings: ``"pm1"`` or ``"gaussian"``.
    count: number of instances ``>= 1``.

  Returns:
    ``count`` complete ``nx.Graph`` on ``0..n-1`` with ``weight = J_ij / sqrt(n)``.

  Example:
    >>> import jax
    >>> g, = sherrington_kirkpatrick(4, jax.random.key(0))
    >>> g.number_of_edges(), sorted(set(abs(w) for *_, w in g.edges(data="weight")))
    (6, [0.5])
  """
  n = _check_n(n)
  validation.check_choice("couplings", couplings, COUPLING_LAWS)
  m = n * (n - 1) // 2

  def one(rng):
    J = rng.choice([-1.0, 1.0], m) if couplings == "pm1" else rng.standard_normal(m)
    return _with_weights(nx.complete_graph(n), J / np.sqrt(n))
  return _draw(key, count, one)


def sk_energy_per_site(energy, graph) -> jax.Array:
  """SK energy per site ``<C> / n = (2 E + sum w) / n`` from a jqmeta energy ``E``.

  Args:
    energy: jqmeta energy ``<H_C>`` (scalar, or ``(G,)`` for a batch).
    graph: the ``Graph`` (or batch) of :func:`sherrington_kirkpatrick` weights.

  Returns:
    same shape as ``energy``; ``-V_p`` in the large-``n`` limit at optimal angles.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from jqmeta import graphs
    >>> g = graphs.from_networkx(sherrington_kirkpatrick(4, jax.random.key(0))[0])
    >>> float(sk_energy_per_site(-0.5 * jnp.sum(g.weights), g))  # angles 0: <C> = 0
    0.0
  """
  energy = jnp.asarray(energy)
  return (2 * energy + jnp.sum(graph.weights, axis=-1)) / graph.n_nodes


_GENERATORS = {
    "er": lambda n, key, count, edge_prob: erdos_renyi(n, edge_prob, key, count=count),
    "regular": lambda n, key, count, degree: random_regular(n, degree, key, count=count),
    "weighted": lambda n, key, count, edge_prob, weights: weighted_erdos_renyi(
        n, edge_prob, key, weights=weights, count=count),
    "sk": lambda n, key, count, couplings: sherrington_kirkpatrick(
        n, key, couplings=couplings, count=count),
}


def generate(family: str, n: int, key, *, count: int = 1, **options) -> list[nx.Graph]:
  """``count`` graphs of one family with :data:`DEFAULTS` for options not given.

  Args:
    family: one of :data:`FAMILIES`.
    n: nodes.
    key: JAX PRNG key.
    count: number of graphs ``>= 1``.
    **options: the family's options (``er``: ``edge_prob=0.5``; ``regular``:
      ``degree=3``; ``weighted``: ``edge_prob=0.5``, ``weights="uniform"``; ``sk``:
      ``couplings="pm1"``); an unknown option is a ``TypeError``.

  Returns:
    a list of ``nx.Graph``.

  Example:
    >>> import jax
    >>> [g.number_of_edges() for g in generate("sk", 5, jax.random.key(1), count=2)]
    [10, 10]
  """
  validation.check_choice("family", family, FAMILIES)
  unknown = set(options) - set(DEFAULTS[family])
  if unknown:
    raise TypeError(f"family {family!r} takes the options {sorted(DEFAULTS[family])}, got "
                    f"unknown {sorted(unknown)}")
  return _GENERATORS[family](n, key, count, **{**DEFAULTS[family], **options})


def batch(graphs: Sequence[nx.Graph], *, n_qubits: int | None = None,
          max_edges: int | None = None) -> _graphs.Graph:
  """Converts networkx graphs and stacks them into one padded batched ``Graph``.

  Args:
    graphs: non-empty sequence of ``nx.Graph``.
    n_qubits: optional common qubit count (``>=`` every graph's nodes).
    max_edges: optional common edge capacity (``>=`` every graph's edges).  Batches with
      equal ``n_qubits`` and ``max_edges`` share compiled programs whatever the family.

  Returns:
    a ``Graph`` with batch shape ``(len(graphs),)`` (see :func:`jqmeta.graphs.stack`).

  Example:
    >>> batch([nx.path_graph(3), nx.cycle_graph(5)], n_qubits=6).n_qubits
    6
    >>> batch([nx.path_graph(3)], max_edges=10).edges.shape
    (1, 10, 2)
  """
  graphs = list(graphs)
  if not graphs:
    raise ValueError("batch() needs at least one graph, got an empty sequence")
  if n_qubits is not None:
    n_qubits = validation.check_int("n_qubits", n_qubits, 1)
    biggest = max(G.number_of_nodes() for G in graphs)
    if n_qubits < biggest:
      raise ValueError(f"n_qubits={n_qubits} is smaller than the largest graph ({biggest} "
                       "nodes)")
  return _graphs.stack([_graphs.from_networkx(G, n_qubits=n_qubits, max_edges=max_edges)
                        for G in graphs])
