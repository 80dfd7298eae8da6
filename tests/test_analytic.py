"""The closed-form p=1 energy: exact for weighted graphs, on every path, against the statevector.

The statevector (checked against PennyLane in test_qaoa.py) is the oracle here: values and
gradients in the angles and the weights, random weighted graphs with triangles, negative
and zero weights, padding, both precisions, under jit and vmap; the unit-weight special
case is taken only from the static ``Graph.unweighted`` flag.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from jqmeta import graphs, qaoa
from jqmeta._src import analytic, memory

KINDS = ("unit", "positive", "signed")
N_PAD, E_PAD = 10, 45  # one padded shape: the statevector compiles once per dtype
_an = jax.jit(qaoa.analytic_p1_energy)


def _graph(seed: int, n: int, kind: str) -> nx.Graph:
  """G(n, 0.6) with weights: 1 ("unit"), U(0.1, 3) ("positive"), or N(0, 1.5) with about a
  quarter exactly 0 and the rest of both signs ("signed")."""
  rng = np.random.default_rng(seed)
  G = nx.gnp_random_graph(n, 0.6, seed=int(rng.integers(2**31 - 1)))
  for u, v in G.edges:
    if kind == "positive":
      G[u][v]["weight"] = float(rng.uniform(0.1, 3.0))
    elif kind == "signed":
      G[u][v]["weight"] = 0.0 if rng.uniform() < 0.25 else float(rng.normal(0.0, 1.5))
  return G


def _weighted_cycle() -> nx.Graph:
  G = nx.cycle_graph(5)
  nx.set_edge_attributes(G, 2.5, "weight")
  return G


@functools.partial(jax.jit, static_argnames="method")
def _vg(a, g, method):
  f = lambda a, w: qaoa.energy(a, g.replace(weights=w, unweighted=g.unweighted), method=method)
  return jax.vmap(jax.value_and_grad(f, argnums=(0, 1)), in_axes=(0, None))(a, g.weights)


def _value_and_grads(a, g, method):
  """Energy and its gradients in the angles and the weights, vmapped over ``a (B, 2, 1)``.

  The flag is kept with traced weights (so the unit-weight rule's weight derivatives are
  exercised); the statevector, which never reads it, gets it dropped (one compile).
  """
  return _vg(a, g if method == "analytic" else g.replace(unweighted=False), method)


def _padded(G):
  return graphs.from_networkx(G, n_qubits=N_PAD, max_edges=E_PAD)


def _angles(seed, batch, dtype):
  return jnp.asarray(np.random.default_rng(seed).uniform(-np.pi, np.pi, (batch, 2, 1)), dtype)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [4, 7, 10])
def test_closed_form_matches_statevector(n, dtype, kind):
  G = _graph(n, n, kind)
  with jax.enable_x64(dtype == np.float64):
    g = _padded(G)
    assert g.unweighted == (kind == "unit")
    if n >= 7:
      assert int(jnp.sum(g.triangles)) > 0
    a = _angles(n, 3, dtype)
    e_sv, (ga_sv, gw_sv) = _value_and_grads(a, g, "statevector")
    e_an, (ga_an, gw_an) = _value_and_grads(a, g, "analytic")
    assert e_an.dtype == e_sv.dtype == dtype
    scale = max(1.0, float(jnp.max(jnp.abs(e_sv))))
    tol = (1e-11 if dtype == np.float64 else 1e-5) * scale
    np.testing.assert_allclose(np.asarray(e_an), np.asarray(e_sv), atol=tol)
    np.testing.assert_allclose(np.asarray(ga_an), np.asarray(ga_sv), atol=10 * tol)
    np.testing.assert_allclose(np.asarray(gw_an), np.asarray(gw_sv), atol=10 * tol)


def test_weighted_five_cycle_on_every_path():
  """The issue's example: weights 2.5, statevector -3.6016; every path must agree."""
  g = graphs.from_networkx(_weighted_cycle())
  a = jnp.array([[0.4], [0.3]])
  batch = graphs.stack([g, g])
  values = {
      "statevector": _value_and_grads(a[None], _padded(_weighted_cycle()), "statevector")[0][0],
      "analytic": qaoa.energy(a, g, method="analytic"),
      "jit analytic": jax.jit(lambda a, g: qaoa.energy(a, g, method="analytic"))(a, g),
      "jit analytic_p1_energy": jax.jit(qaoa.analytic_p1_energy)(a, g),
      "vmap auto": jax.vmap(lambda a, g: qaoa.energy(a, g, method="auto"))(
          jnp.stack([a, a]), batch)[1],
      "jit vmap analytic": jax.jit(jax.vmap(qaoa.analytic_p1_energy))(jnp.stack([a, a]), batch)[0],
      "grad-traced weights": jax.jit(lambda w: qaoa.energy(a, g.replace(weights=w),
                                                           method="auto"))(g.weights),
  }
  for name, value in values.items():
    assert round(float(value), 4) == -3.6016, name


def test_padding_and_mixed_batch_are_exact():
  Gs = [_graph(1, 5, "signed"), _graph(2, 8, "unit"), _graph(3, 6, "positive"), _weighted_cycle()]
  with jax.enable_x64(True):
    singles = [graphs.from_networkx(G) for G in Gs]
    a = _angles(0, len(Gs), np.float64)
    batch = graphs.stack(singles)
    assert not batch.unweighted  # one weighted input: the general formula for all
    unpadded = [float(_an(a[i], g)) for i, g in enumerate(singles)]
    auto = jax.jit(jax.vmap(lambda a, g: qaoa.energy(a, g, method="auto")))(a, batch)
    for i, G in enumerate(Gs):
      g = _padded(G)  # padded qubits and padding rows
      e_sv, (_, gw_sv) = _value_and_grads(a[i:i + 1], g, "statevector")
      e_an, (_, gw_an) = _value_and_grads(a[i:i + 1], g, "analytic")
      for got in (unpadded[i], auto[i], e_an[0]):
        assert abs(float(got) - float(e_sv[0])) < 1e-11
      np.testing.assert_allclose(np.asarray(gw_an), np.asarray(gw_sv), atol=1e-11)
      assert np.all(np.asarray(gw_an)[:, int(g.n_edges):] == 0)  # as in the statevector


def test_edge_chunks_are_exact(monkeypatch):
  """Forcing many small edge chunks (lax.map + remat) changes nothing, gradients included."""
  G = _graph(5, 9, "signed")
  with jax.enable_x64(True):
    g = graphs.from_networkx(G, max_edges=G.number_of_edges() + 3)
    a = _angles(5, 1, np.float64)[0]
    f = lambda a, w: analytic.weighted_energy(a, g.replace(weights=w))
    whole = jax.jit(jax.value_and_grad(f, argnums=(0, 1)))(a, g.weights)
    monkeypatch.setattr(memory, "CLOSED_FORM_CHUNK_ELEMENTS", 2 * g.n_qubits)  # 2 edges per chunk
    jaxpr = str(jax.make_jaxpr(f)(a, g.weights))
    assert "scan" in jaxpr  # the chunked path really ran
    chunked = jax.jit(jax.value_and_grad(f, argnums=(0, 1)))(a, g.weights)
    for x, y in zip(jax.tree.leaves(whole), jax.tree.leaves(chunked)):
      np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-12)


def test_weighted_ring_of_400_nodes():
  """At p=1 an edge of a ring sees a 4-node light cone: per-edge energy of a 400-node
  ring with weights 2.5 equals that of an 8-node statevector ring."""
  a = jnp.array([[0.6], [0.4]])
  rings = []
  for n in (400, 8):
    G = nx.cycle_graph(n)
    nx.set_edge_attributes(G, 2.5, "weight")
    rings.append(G)
  e_big = float(_an(a, graphs.from_networkx(rings[0])))
  e_small = float(_value_and_grads(a[None], _padded(rings[1]), "statevector")[0][0])
  assert e_big / 400 == pytest.approx(e_small / 8, rel=1e-5)


def test_unit_fast_path_only_from_the_static_flag(monkeypatch):
  calls = {"unit": 0, "weighted": 0}

  def counted(name, fn):
    def wrapper(*args):
      calls[name] += 1
      return fn(*args)
    return wrapper

  monkeypatch.setattr(analytic, "unit_weight_energy", counted("unit", analytic.unit_weight_energy))
  monkeypatch.setattr(analytic, "weighted_energy", counted("weighted", analytic.weighted_energy))
  g = graphs.from_networkx(_graph(8, 8, "unit"))
  a = jnp.array([[0.7], [-0.3]])
  fn = jax.jit(functools.partial(qaoa.energy, method="auto"))
  fast = fn(a, g)
  assert g.unweighted and calls == {"unit": 1, "weighted": 0}
  general = fn(a, g.replace(weights=g.weights))  # same unit weights, flag dropped
  assert calls == {"unit": 1, "weighted": 1}
  assert abs(float(fast) - float(general)) <= 1e-5 * abs(float(general))
  for G in (_graph(9, 6, "positive"), _weighted_cycle()):
    fn(a, graphs.from_networkx(G))
  assert calls["unit"] == 1  # weighted graphs never take the unit-weight formula


def test_weight_gradient_on_a_flagged_graph_is_exact():
  """Differentiating a flagged (unit-weight) graph in its weights leaves the unit set, so the
  rule switches to the general formula: gradients equal the statevector's."""
  with jax.enable_x64(True):
    g = _padded(_graph(4, 7, "unit"))
    assert g.unweighted
    a = jnp.array([[0.5], [0.35]])
    _, (ga_sv, gw_sv) = _value_and_grads(a[None], g, "statevector")
    ga, gg = jax.jit(jax.grad(lambda a, g: qaoa.energy(a, g, method="analytic"),
                              argnums=(0, 1), allow_int=True))(a, g)  # the Graph itself
    np.testing.assert_allclose(np.asarray(ga), np.asarray(ga_sv[0]), atol=1e-11)
    np.testing.assert_allclose(np.asarray(gg.weights), np.asarray(gw_sv[0]), atol=1e-11)
    t = jnp.ones_like(g.weights)
    jv = jax.jit(lambda w, t: jax.jvp(lambda w: qaoa.analytic_p1_energy(
        a, g.replace(weights=w, unweighted=True)), (w,), (t,))[1])(g.weights, t)
    assert abs(float(jv) - float(jnp.vdot(gw_sv[0], t))) < 1e-11


def test_flag_is_checked_and_dropped():
  g = graphs.from_networkx(_weighted_cycle())
  fields = {f: getattr(g, f) for f in ("edges", "weights", "triangles", "degrees", "n_nodes",
                                       "n_edges", "n_qubits")}
  with pytest.raises(ValueError, match="unweighted=True.*2.5"):
    graphs.Graph(**fields, unweighted=True)
  assert not graphs.Graph(**fields).unweighted  # direct construction defaults to False
  unit = graphs.from_networkx(nx.cycle_graph(5))
  assert unit.unweighted and not unit.replace(weights=unit.weights * 2.5).unweighted
  with pytest.raises(ValueError, match="unweighted=True"):
    unit.replace(weights=unit.weights * 2.5, unweighted=True)


def test_analytic_accepts_only_p1():
  g = graphs.from_networkx(_weighted_cycle())
  assert np.isfinite(float(qaoa.analytic_p1_energy(jnp.zeros((2, 1)), g)))
  with pytest.raises(ValueError, match="p = 1"):
    qaoa.analytic_p1_energy(jnp.zeros((2, 2)), g)
