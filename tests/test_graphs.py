"""graphs: conversion, padding, stacking and bad input."""
import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from jqmeta import graphs
from conftest import random_graph


@pytest.mark.parametrize("labels", ["int", "str"])
@pytest.mark.parametrize("weighted", [False, True])
def test_from_networkx_fields(labels, weighted):
  G = random_graph(3, 7, weighted=weighted, labels=labels)
  g = graphs.from_networkx(G)
  nodes = list(G.nodes)
  m = G.number_of_edges()
  assert g.n_qubits == 7 and int(g.n_nodes) == 7 and int(g.n_edges) == m
  for k, (u, v, d) in enumerate(G.edges(data=True)):
    assert tuple(np.asarray(g.edges[k])) == (nodes.index(u), nodes.index(v))
    assert float(g.weights[k]) == pytest.approx(d.get("weight", 1.0))
    assert int(g.triangles[k]) == len(set(G.adj[u]) & set(G.adj[v]))
  assert [int(x) for x in g.degrees] == [G.degree(v) for v in nodes]
  assert g.weights.dtype == jnp.float32


def test_node_order_follows_G_nodes():
  G = nx.Graph()
  G.add_nodes_from(["z", "a", "m"])
  G.add_edge("m", "z", weight=3.0)
  g = graphs.from_networkx(G)
  assert sorted(np.asarray(g.edges[0]).tolist()) == [0, 2]  # z -> 0, m -> 2
  assert float(g.weights[0]) == 3.0


def test_edgeless_graph_is_valid():
  G = nx.empty_graph(3)
  g = graphs.from_networkx(G)
  assert int(g.n_edges) == 0 and g.max_edges == 1 and float(g.weights[0]) == 0.0


def test_graph_is_a_pytree_with_static_qubits():
  g = graphs.from_networkx(nx.cycle_graph(5))
  leaves, treedef = jax.tree.flatten(g)
  assert len(leaves) == 6
  g2 = jax.tree.unflatten(treedef, leaves)
  assert g2.n_qubits == 5


def test_stack_pads_and_keeps_values():
  Gs = [nx.path_graph(3), random_graph(1, 6, weighted=True), nx.complete_graph(4)]
  gs = [graphs.from_networkx(G) for G in Gs]
  b = graphs.stack(gs)
  assert b.n_qubits == 6 and b.batch_shape == (3,)
  assert b.edges.shape == (3, max(g.max_edges for g in gs), 2)
  for i, g in enumerate(gs):
    m = g.max_edges
    np.testing.assert_array_equal(b.edges[i, :m], g.edges)
    np.testing.assert_array_equal(b.weights[i, :m], g.weights)
    assert np.all(np.asarray(b.weights[i, m:]) == 0)
    assert np.all(np.asarray(b.degrees[i, g.n_qubits:]) == 0)
  back = graphs.unstack(b)
  assert len(back) == 3 and int(back[0].n_nodes) == 3


def test_to_networkx_round_trip():
  G = random_graph(5, 6, weighted=True)
  H = graphs.to_networkx(graphs.from_networkx(G))
  assert sorted(H.edges) == sorted(tuple(sorted(e)) for e in G.edges)
  for u, v, d in G.edges(data=True):
    assert H[u][v]["weight"] == pytest.approx(d["weight"])


def test_erdos_renyi_is_seeded():
  a = graphs.erdos_renyi(np.random.default_rng(7), 8, 0.4)
  b = graphs.erdos_renyi(np.random.default_rng(7), 8, 0.4)
  assert sorted(a.edges) == sorted(b.edges) and nx.is_connected(a)


def _bad_weight(value):
  G = nx.path_graph(3)
  G[0][1]["weight"] = value
  return G


@pytest.mark.parametrize("make, exc, match", [
    (lambda: nx.Graph(), ValueError, "empty"),
    (lambda: nx.DiGraph([(0, 1)]), ValueError, "directed"),
    (lambda: nx.MultiGraph([(0, 1), (0, 1)]), ValueError, "multigraph"),
    (lambda: nx.Graph([(0, 0), (0, 1)]), ValueError, "self-loop"),
    (lambda: _bad_weight(float("nan")), ValueError, "non-finite"),
    (lambda: _bad_weight(float("inf")), ValueError, "non-finite"),
    (lambda: _bad_weight(-float("inf")), ValueError, "non-finite"),
    (lambda: _bad_weight("heavy"), TypeError, "non-numeric"),
    (lambda: _bad_weight(None), TypeError, "non-numeric"),
    (lambda: _bad_weight(True), TypeError, "non-numeric"),
    (lambda: [(0, 1)], TypeError, "networkx"),
    (lambda: np.eye(3), TypeError, "networkx"),
])
def test_bad_graphs(make, exc, match):
  with pytest.raises(exc, match=match):
    graphs.from_networkx(make())


def test_bad_padding():
  with pytest.raises(ValueError, match="n_qubits"):
    graphs.from_networkx(nx.path_graph(4), n_qubits=3)
  with pytest.raises(ValueError, match="max_edges"):
    graphs.from_networkx(nx.path_graph(4), max_edges=2)


def test_bad_stack():
  with pytest.raises(ValueError, match="at least one"):
    graphs.stack([])
  with pytest.raises(TypeError, match="from_networkx"):
    graphs.stack([nx.path_graph(3)])
  b = graphs.stack([graphs.from_networkx(nx.path_graph(3))])
  with pytest.raises(ValueError, match="unbatched"):
    graphs.stack([b])


def test_unweighted_flag_from_networkx_and_stack():
  G1 = nx.Graph([(0, 1, {"weight": 1.0}), (1, 2)])  # explicit 1.0 counts as unit
  unit = [graphs.from_networkx(G) for G in (nx.cycle_graph(4), G1, nx.empty_graph(3))]
  weighted = graphs.from_networkx(random_graph(1, 5, weighted=True))
  assert all(g.unweighted for g in unit) and not weighted.unweighted
  assert graphs.from_networkx(nx.cycle_graph(4), n_qubits=7, max_edges=9).unweighted
  assert graphs.stack(unit).unweighted
  assert not graphs.stack(unit + [weighted]).unweighted
  assert all(g.unweighted for g in graphs.unstack(graphs.stack(unit)))


def test_unweighted_flag_replace_astype_and_pytree():
  g = graphs.from_networkx(nx.cycle_graph(5))
  assert g.astype(jnp.float16).unweighted  # a cast keeps 0 and 1 exact
  for field in ("weights", "edges", "triangles", "degrees", "n_edges"):
    assert not g.replace(**{field: getattr(g, field)}).unweighted, field
  assert g.replace(n_nodes=g.n_nodes).unweighted
  leaves, treedef = jax.tree.flatten(g)
  assert len(leaves) == 6  # static, not a leaf
  assert jax.tree.unflatten(treedef, leaves).unweighted
  assert treedef != jax.tree.structure(g.replace(unweighted=False))
  # Unflattening with tracers (jit) and cotangent trees (float0 counts) is not checked.
  assert jax.jit(lambda g: g)(g).unweighted
  ct = jax.grad(lambda g: jnp.sum(g.weights * 3.0), allow_int=True)(g)
  assert ct.unweighted and float(ct.weights[0]) == 3.0


def test_unweighted_flag_is_verified_on_concrete_weights():
  g = graphs.from_networkx(nx.cycle_graph(4), max_edges=6)
  with pytest.raises(ValueError, match="weight 2.5"):
    g.replace(weights=g.weights.at[0].set(2.5), unweighted=True)
  with pytest.raises(ValueError, match="padding row"):
    g.replace(weights=g.weights.at[5].set(1.0), unweighted=True)
  with pytest.raises(ValueError, match="unweighted=True"):
    jax.tree.map(lambda x: x * 2 if x.dtype == g.weights.dtype else x, g)
  with pytest.raises(TypeError, match="bool"):
    g.replace(unweighted="yes")
  ok = graphs.Graph(**{f: np.asarray(getattr(g, f)) for f in
                       ("edges", "weights", "triangles", "degrees", "n_nodes", "n_edges")},
                    n_qubits=4, unweighted=True)  # numpy arrays are checked too, and pass
  assert ok.unweighted
