"""Shared fixtures: random graphs, the reference data folder, a PennyLane oracle."""
from __future__ import annotations

import gc
from pathlib import Path

import jax
import networkx as nx
import numpy as np
import pytest

from jqmeta import io as jqmeta_io

REFERENCE = jqmeta_io.reference_dir()


def reference_dir() -> Path:
  """``../shared/reference`` or a skip with the reason."""
  if not REFERENCE.is_dir():
    pytest.skip(f"reference data not found at {REFERENCE} (needs ../shared/reference)")
  return REFERENCE


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
  """Drops JAX's compiled programs after each test file.

  Why: every XLA:CPU executable keeps about three memory mappings alive; the whole suite
  compiles over 10,000 programs, and one process reached Linux's default limit of 65,530
  mappings (``vm.max_map_count``), where XLA segfaulted mid-compile.  Clearing per file
  keeps the count in the low thousands.
  """
  yield
  jax.clear_caches()
  gc.collect()


@pytest.fixture
def reference():
  return reference_dir()


def random_graph(seed: int, n: int, *, weighted: bool, p_edge: float = 0.5,
                 labels: str = "int") -> nx.Graph:
  """A seeded G(n, p) graph with at least one edge (weights U(0.1, 2) if weighted)."""
  rng = np.random.default_rng(seed)
  while True:
    G = nx.gnp_random_graph(n, p_edge, seed=int(rng.integers(2**31 - 1)))
    if G.number_of_edges() > 0 or n < 2:
      break
  if weighted:
    for u, v in G.edges:
      G[u][v]["weight"] = float(rng.uniform(0.1, 2.0))
  if labels == "str":
    G = nx.relabel_nodes(G, {v: f"node-{v}" for v in G.nodes})
  return G


def brute_force_cut(G: nx.Graph, extreme=max) -> float:
  """Independent O(2^n E) max (or, ``extreme=min``, min) cut in plain Python."""
  nodes = list(G.nodes)
  best = 0.0  # the empty cut (z = 0) is one of the assignments
  for z in range(2 ** len(nodes)):
    side = {v: (z >> i) & 1 for i, v in enumerate(nodes)}
    best = extreme(best, sum(d.get("weight", 1.0) for u, v, d in G.edges(data=True)
                             if side[u] != side[v]))
  return best


def dense_energy(angles, G):
  """``<H_C>`` of the p-layer QAOA state by an independent dense NumPy statevector (float64)."""
  n = G.number_of_nodes()
  bits = (np.arange(2**n)[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1
  cut = sum(d.get("weight", 1.0) * (bits[:, u] != bits[:, v]) for u, v, d in G.edges(data=True))
  psi = np.full(2**n, 2.0 ** (-n / 2), complex)
  for gamma, beta in np.asarray(angles, np.float64).reshape(2, -1).T:
    psi = (psi * np.exp(1j * gamma * cut)).reshape((2,) * n)
    rx = np.array([[np.cos(beta), -1j * np.sin(beta)], [-1j * np.sin(beta), np.cos(beta)]])
    for q in range(n):
      psi = np.moveaxis(np.tensordot(rx, psi, axes=([1], [q])), 0, q)
    psi = psi.reshape(-1)
  return -float(np.sum(np.abs(psi) ** 2 * cut))
