"""The problem families of ``jqmeta.problems``: laws, determinism, I/O, the SK mapping."""
from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from jqmeta import graphs, io, problems, qaoa


def _data(G):
  return sorted((u, v, d["weight"]) for u, v, d in G.edges(data=True))


@pytest.mark.parametrize("family", problems.FAMILIES)
def test_same_key_same_graphs_other_key_other_graphs(family):
  a = problems.generate(family, 8, jax.random.key(3), count=3)
  b = problems.generate(family, 8, jax.random.key(3), count=3)
  c = problems.generate(family, 8, jax.random.key(4), count=3)
  first_two = problems.generate(family, 8, jax.random.key(3), count=2)
  assert [_data(G) for G in a] == [_data(G) for G in b]
  assert [_data(G) for G in a] != [_data(G) for G in c]
  assert [_data(G) for G in a[:2]] == [_data(G) for G in first_two]  # prefix-stable
  assert len({str(_data(G)) for G in a}) == 3  # the graphs of one call differ


def test_each_family_has_its_law():
  key = jax.random.key(0)
  for G in problems.erdos_renyi(9, 0.3, key, count=5):
    assert nx.is_connected(G) and sorted(G) == list(range(9))
    assert {w for *_, w in G.edges(data="weight")} == {1.0}
  for G in problems.random_regular(10, 4, key, count=5):
    assert nx.is_connected(G) and {d for _, d in G.degree()} == {4}
  uniform = [w for G in problems.weighted_erdos_renyi(9, 0.5, key, count=20)
             for *_, w in G.edges(data="weight")]
  expo = [w for G in problems.weighted_erdos_renyi(9, 0.5, key, weights="exponential", count=20)
          for *_, w in G.edges(data="weight")]
  assert 0 < min(uniform) and max(uniform) <= 1 and abs(np.mean(uniform) - 0.5) < 0.05
  assert max(expo) > 1 and abs(np.mean(expo) - 1.0) < 0.15  # ~360 draws: sd of mean 0.05
  n = 9
  for G in problems.sherrington_kirkpatrick(n, key, count=3):
    assert G.number_of_edges() == n * (n - 1) // 2
    assert {abs(w) for *_, w in G.edges(data="weight")} == {1 / np.sqrt(n)}
  gauss = np.array([w for G in problems.sherrington_kirkpatrick(n, key, couplings="gaussian",
                                                                count=20)
                    for *_, w in G.edges(data="weight")]) * np.sqrt(n)
  assert abs(gauss.mean()) < 0.15 and abs(gauss.std() - 1) < 0.1  # 720 standard normals


def test_bad_arguments_are_refused_first():
  key = jax.random.key(0)
  with pytest.raises(ValueError, match="family"):
    problems.generate("grid", 5, key)
  with pytest.raises(TypeError, match="unknown"):
    problems.generate("er", 5, key, degree=3)
  with pytest.raises(ValueError, match="3-regular graph on 7"):
    problems.random_regular(7, 3, key)
  with pytest.raises(ValueError, match="edge_prob"):
    problems.erdos_renyi(5, 0.0, key)
  with pytest.raises(ValueError, match="weights"):
    problems.weighted_erdos_renyi(5, 0.5, key, weights="normal")
  with pytest.raises(ValueError, match="couplings"):
    problems.sherrington_kirkpatrick(5, key, couplings="cauchy")
  with pytest.raises(TypeError, match="key"):
    problems.erdos_renyi(5, 0.5, 0)
  with pytest.raises(ValueError, match="count"):
    problems.erdos_renyi(5, 0.5, key, count=0)
  with pytest.raises(ValueError, match="n_qubits"):
    problems.batch([nx.path_graph(4)], n_qubits=3)


def test_generate_uses_the_documented_defaults():
  key = jax.random.key(2)
  assert ([_data(G) for G in problems.generate("regular", 8, key, count=2)]
          == [_data(G) for G in problems.random_regular(8, 3, key, count=2)])
  assert ([_data(G) for G in problems.generate("weighted", 8, key)]
          == [_data(G) for G in problems.weighted_erdos_renyi(8, 0.5, key, weights="uniform")])


def test_datasets_round_trip_bit_for_bit(tmp_path):
  splits = {f: problems.generate(f, 6, jax.random.key(i), count=2)
            for i, f in enumerate(problems.FAMILIES)}
  path = io.save_dataset(tmp_path / "study.json", splits)
  back = io.load_dataset(path)
  assert list(back) == list(problems.FAMILIES)
  for family in problems.FAMILIES:
    for G, H in zip(splits[family], back[family]):
      assert list(G.nodes) == list(H.nodes)
      a, b = _data(G), _data(H)
      assert [(u, v) for u, v, _ in a] == [(u, v) for u, v, _ in b]
      assert (np.array([w for *_, w in a]).view(np.uint64).tolist()
              == np.array([w for *_, w in b]).view(np.uint64).tolist())


def test_batch_pads_to_a_common_size():
  gs = problems.generate("er", 5, jax.random.key(0), count=2) + [nx.cycle_graph(7)]
  b = problems.batch(gs, n_qubits=8)
  assert b.batch_shape == (3,) and b.n_qubits == 8
  assert np.asarray(b.n_nodes).tolist() == [5, 5, 7]


def _dense_state(G, gamma, beta):
  """p = 1 QAOA state by dense NumPy (qubit 0 most significant): an independent oracle."""
  n = G.number_of_nodes()
  bits = np.array(list(itertools.product([0, 1], repeat=n)))
  cut = sum(d["weight"] * (bits[:, u] != bits[:, v]) for u, v, d in G.edges(data=True))
  psi = np.exp(1j * gamma * cut) / np.sqrt(2**n)  # exp(-i gamma H_C) |+>, H_C = -cut
  rx = np.array([[np.cos(beta), -1j * np.sin(beta)], [-1j * np.sin(beta), np.cos(beta)]])
  psi = psi.reshape((2,) * n)
  for q in range(n):
    psi = np.moveaxis(np.tensordot(rx, psi, axes=([1], [q])), 0, q)
  return psi.reshape(-1), 1 - 2 * bits


def test_sk_energy_per_site_is_the_ising_energy():
  """<C>/n with C = sum_{i<j} J_ij z_i z_j / sqrt(n), from a dense state and a dense sum."""
  n, gamma, beta = 6, 0.7, -0.2
  G = problems.sherrington_kirkpatrick(n, jax.random.key(1), couplings="gaussian")[0]
  psi, spins = _dense_state(G, gamma, beta)
  ising = sum(d["weight"] * spins[:, u] * spins[:, v] for u, v, d in G.edges(data=True))
  expected = float(np.abs(psi) ** 2 @ ising) / n
  g = graphs.from_networkx(G)
  e = qaoa.energy(jnp.array([[gamma], [beta]]), g, method="analytic")
  assert float(problems.sk_energy_per_site(e, g)) == pytest.approx(expected, abs=2e-5)
