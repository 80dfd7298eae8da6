"""PennyLane `default.qubit` oracle for weighted Max-Cut QAOA (test-only)."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pennylane as qml
from pennylane import numpy as pnp


def cost_hamiltonian(G: nx.Graph) -> qml.Hamiltonian:
  """H_C = sum w (Z_u Z_v - 1) / 2 on wires = node positions in G.nodes.

  (`qml.qaoa.maxcut` drops weights, so the weighted form is built here.)
  """
  index = {v: i for i, v in enumerate(G.nodes)}
  coeffs, ops = [], []
  for u, v, d in G.edges(data=True):
    w = float(d.get("weight", 1.0))
    coeffs += [0.5 * w, -0.5 * w]
    ops += [qml.PauliZ(index[u]) @ qml.PauliZ(index[v]), qml.Identity(index[u])]
  return qml.Hamiltonian(coeffs, ops)


def qaoa_qnode(G: nx.Graph, p: int, *, measure: str = "energy"):
  n = G.number_of_nodes()
  cost_h = cost_hamiltonian(G)
  mixer_h = qml.qaoa.x_mixer(range(n))
  dev = qml.device("default.qubit", wires=n)

  @qml.qnode(dev, interface="autograd", diff_method="backprop")
  def circuit(angles):
    for w in range(n):
      qml.Hadamard(w)
    for layer in range(p):
      qml.qaoa.cost_layer(angles[0][layer], cost_h)
      qml.qaoa.mixer_layer(angles[1][layer], mixer_h)
    if measure == "state":
      return qml.state()
    return qml.expval(cost_h)

  return circuit


def energy_and_grad(G: nx.Graph, angles: np.ndarray):
  p = angles.shape[1]
  circuit = qaoa_qnode(G, p)
  a = pnp.array(np.asarray(angles, np.float64), requires_grad=True)
  return float(circuit(a)), np.asarray(qml.grad(circuit)(a))
