"""PyTorch + PennyLane reference stack: the published (per-graph, slow) design.

This module mirrors the implementation published with Lin, Hsu, Chen,
"Meta-Learning for Quantum Optimization via Quantum Sequence Model"
(arXiv 2512.05058) so that the JAX library can be benchmarked against it. It is
a standalone benchmark helper, not part of ``jqmeta``: the scripts import it as
``benchmarks.torch_reference``.

Everything is deliberately per graph (one graph per update, Python loops over
recurrent steps, a PennyLane QNode per circuit call), like the published code:

* :func:`qaoa_energy_qnode` - the paper's QAOA cost (``default.qubit``, torch
  interface, backprop), built from ``qml.qaoa.maxcut``.
* :func:`qaoa_energy_qnode_jax` - the same circuit with the JAX interface.
* :class:`TorchLSTMOptimizer` - classical LSTM cell, hidden 2 = the angles.
* :class:`TorchQKLSTMOptimizer` - the QK-LSTM (4 qubits, 4 gate QNodes, shared
  ``clayer_out``, ``mapping`` 3 -> 2).
* :func:`phase_one`, :func:`meta_train_step`, :func:`make_optimizer` - the
  published Phase I unroll and one RMSprop meta-training update.
* :func:`load_published_weights`, :func:`load_reference_datasets` - checkpoint
  ``.npz`` twins and the reference dataset (restricted unpickler).
* :func:`time_meta_step`, :func:`time_qaoa_energy_grad` - timing helpers.

Run ``python -m benchmarks.torch_reference --selfcheck`` to reproduce the
published Phase I trajectories of the best LSTM and QK-LSTM checkpoints, and
``--timings`` for the reference timings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Callable, Sequence

import networkx as nx
import numpy as np
import pennylane as qml
import torch
from torch import nn

from jqmeta import io as jqmeta_io

__all__ = [
    "REFERENCE_DIR",
    "qaoa_energy_qnode",
    "qaoa_energy_qnode_jax",
    "TorchLSTMOptimizer",
    "TorchQKLSTMOptimizer",
    "make_model",
    "phase_one",
    "weighted_meta_loss",
    "meta_train_step",
    "make_optimizer",
    "load_published_weights",
    "load_reference_datasets",
    "time_meta_step",
    "time_qaoa_energy_grad",
]

#: The reference folder (``jqmeta.io.reference_dir()``); override with
#: ``JQMETA_REFERENCE_DIR``.
REFERENCE_DIR = os.environ.get("JQMETA_REFERENCE_DIR", str(jqmeta_io.reference_dir()))

#: Backend of the sequence-model gate circuits. The paper's run used
#: ``lightning.qubit`` (``args.yaml``: ``backend_sequence``); with the torch
#: interface it differentiates with ``adjoint``. ``default.qubit`` uses backprop.
#: Timing pitfall: lightning's OpenMP threads spin; on a small or shared CPU
#: set ``OMP_NUM_THREADS=1`` before importing this module, else a QK-LSTM meta
#: step measured ~10x slower (7.7 s vs 0.72 s on 2 shared cores).
SEQUENCE_BACKEND = os.environ.get("JQMETA_TORCH_SEQ_BACKEND", "lightning.qubit")


# --------------------------------------------------------------------------- QAOA


def _qaoa_circuit(graph: nx.Graph, p: int):
  """Returns ``(circuit_fn, n_wires)``; ``circuit_fn(angles)`` with angles ``(2, p)``."""
  cost_h, mixer_h = qml.qaoa.maxcut(graph)
  wires = list(graph.nodes)

  def circuit(angles):
    for w in wires:
      qml.Hadamard(wires=w)
    for layer in range(p):
      qml.qaoa.cost_layer(angles[0, layer], cost_h)
      qml.qaoa.mixer_layer(angles[1, layer], mixer_h)
    return qml.expval(cost_h)

  return circuit, wires


def qaoa_energy_qnode(graph: nx.Graph, p: int):
  """The paper's QAOA energy: ``default.qubit``, torch interface, backprop.

  The returned QNode takes ``angles``, a torch tensor of shape ``(2, p)`` (row 0
  the gammas, row 1 the betas), and returns ``<H_C>`` with
  ``H_C = sum_{(u,v)} (Z_u Z_v - 1) / 2`` (``qml.qaoa.maxcut``), i.e. ``-E[cut]``.
  """
  circuit, wires = _qaoa_circuit(graph, p)
  dev = qml.device("default.qubit", wires=wires)
  return qml.QNode(circuit, dev, interface="torch", diff_method="backprop")


def qaoa_energy_qnode_jax(graph: nx.Graph, p: int):
  """Same circuit as :func:`qaoa_energy_qnode` with ``interface="jax"``.

  Meant to be wrapped by the caller, e.g.
  ``jax.jit(jax.value_and_grad(qaoa_energy_qnode_jax(g, p)))``; ``angles`` is a
  ``(2, p)`` JAX array.
  """
  circuit, wires = _qaoa_circuit(graph, p)
  dev = qml.device("default.qubit", wires=wires)
  return qml.QNode(circuit, dev, interface="jax", diff_method="backprop")


# ------------------------------------------------------------------ sequence models


class TorchLSTMOptimizer(nn.Module):
  """Published classical LSTM optimizer (56 parameters).

  ``nn.LSTM(input_size=3, hidden_size=2)``; the hidden state ``h`` is the angle
  vector ``[gamma, beta]`` and is what is fed back: ``x_t = [C_{t-1}, h_{t-1}]``.
  Checkpoint keys: ``lstm.weight_ih_l0``, ``lstm.weight_hh_l0``,
  ``lstm.bias_ih_l0``, ``lstm.bias_hh_l0``.
  """

  kind = "LSTM"
  n_angles = 2

  def __init__(self):
    super().__init__()
    self.lstm = nn.LSTM(input_size=3, hidden_size=2)

  def init_state(self):
    z = torch.zeros(1, 1, 2)
    return (z, z.clone())

  def step(self, x: torch.Tensor, state):
    """One recurrent step: ``x`` ``(3,)`` -> ``(angles (2,), new_state)``."""
    out, (h, c) = self.lstm(x.reshape(1, 1, 3), state)
    return out.reshape(2), (h, c)


class _QKGate:
  """One QK-LSTM gate: a 4-qubit QNode on ``y`` reading ``<Z_i>`` on every wire.

  Published circuit, with ``a = cos(y**2)``: H on all wires, RZ(a_i), RY(a_i),
  CNOT chain (0,1),(1,2),(2,3), RZ(a_i); then the exact inverse of all of that.
  (The circuit is the identity, so every readout is 1.) Not an ``nn.Module``:
  it has no parameters, so the checkpoint keys stay exactly the published ones.
  """

  n_qubits = 4

  def __init__(self, backend: str = SEQUENCE_BACKEND):
    n = self.n_qubits
    dev = qml.device(backend, wires=n)
    diff = "backprop" if backend == "default.qubit" else "adjoint"

    def block(a):
      for i in range(n):
        qml.Hadamard(wires=i)
      for i in range(n):
        qml.RZ(a[i], wires=i)
        qml.RY(a[i], wires=i)
      for i in range(n - 1):
        qml.CNOT(wires=[i, i + 1])
      for i in range(n):
        qml.RZ(a[i], wires=i)

    def circuit(y):
      a = torch.cos(y**2)
      block(a)
      qml.adjoint(block)(a)
      return [qml.expval(qml.PauliZ(i)) for i in range(n)]

    self.qnode = qml.QNode(circuit, dev, interface="torch", diff_method=diff)

  def __call__(self, y: torch.Tensor) -> torch.Tensor:
    return torch.stack(list(self.qnode(y))).to(y.dtype)


class _QKLSTMCell(nn.Module):
  """QK-LSTM cell: input 3, hidden 3, 4 qubits (``clayer_in``, ``clayer_out``)."""

  def __init__(self, input_size: int = 3, hidden_size: int = 3, n_qubits: int = 4,
               backend: str = SEQUENCE_BACKEND):
    super().__init__()
    self.input_size = input_size
    self.hidden_size = hidden_size
    self.clayer_in = nn.Linear(hidden_size + input_size, n_qubits)
    self.clayer_out = nn.Linear(n_qubits, hidden_size)
    # forget, input, update (g), output: four separate circuits, as published.
    self.gates = {name: _QKGate(backend) for name in ("forget", "input", "update", "output")}

  def forward(self, x: torch.Tensor, state):
    h, c = state
    v = torch.cat([h, x])  # hidden state first
    y = self.clayer_in(v)
    f = torch.sigmoid(self.clayer_out(self.gates["forget"](y)))
    i = torch.sigmoid(self.clayer_out(self.gates["input"](y)))
    g = torch.tanh(self.clayer_out(self.gates["update"](y)))
    o = torch.sigmoid(self.clayer_out(self.gates["output"](y)))
    c = f * c + i * g
    h = o * torch.tanh(c)
    return h, (h, c)


class TorchQKLSTMOptimizer(nn.Module):
  """Published QK-LSTM optimizer (43 parameters = 28 + 15, plus ``mapping`` 8).

  Checkpoint keys: ``lstm.clayer_in.{weight,bias}``,
  ``lstm.clayer_out.{weight,bias}``, ``mapping.{weight,bias}``. The mapped
  angles (``mapping(h)``) are fed back: ``x_t = [C_{t-1}, a_{t-1}]``.
  """

  kind = "QK"
  n_angles = 2

  def __init__(self, backend: str = SEQUENCE_BACKEND):
    super().__init__()
    self.lstm = _QKLSTMCell(3, 3, 4, backend=backend)
    self.mapping = nn.Linear(3, 2)

  def init_state(self):
    return (torch.zeros(3), torch.zeros(3))

  def step(self, x: torch.Tensor, state):
    h, state = self.lstm(x, state)
    return self.mapping(h), state


def make_model(kind: str, **kwargs) -> nn.Module:
  """``kind`` in ``{"LSTM", "QK"}``."""
  k = kind.upper()
  if k == "LSTM":
    return TorchLSTMOptimizer(**kwargs)
  if k in ("QK", "QK-LSTM", "QKLSTM"):
    return TorchQKLSTMOptimizer(**kwargs)
  raise ValueError(f"unknown model kind {kind!r}; expected 'LSTM' or 'QK'")


# ------------------------------------------------------------------ Phase I, training


def phase_one(model: nn.Module, graph_qnode: Callable, T: int = 10):
  """Published Phase I unroll (p = 1).

  Starts from cost 0, angles 0 and a zero hidden state; each step feeds
  ``x_t = [C_{t-1}, a_{t-1}]`` to the cell, gets angles ``a_t``, evaluates
  ``C_t = graph_qnode(a_t.reshape(2, 1))`` and feeds both back.

  Returns ``(angles, costs)``: lists of T tensors (``(2,)`` float32 and scalar
  float64), still attached to the autograd graph.
  """
  dtype = next(model.parameters()).dtype
  cost = torch.zeros(1, dtype=dtype)
  a = torch.zeros(model.n_angles, dtype=dtype)
  state = model.init_state()
  angles, costs = [], []
  for _ in range(T):
    x = torch.cat([cost.reshape(1).to(dtype), a])
    a, state = model.step(x, state)
    c_t = graph_qnode(a.reshape(2, -1))
    angles.append(a)
    costs.append(c_t)
    cost = c_t
  return angles, costs


def weighted_meta_loss(costs: Sequence[torch.Tensor]) -> torch.Tensor:
  """The paper's "weighted" meta-loss ``(1/T) sum_{t=1..T} 0.1 t C_t``."""
  T = len(costs)
  return sum(0.1 * (t + 1) * c for t, c in enumerate(costs)) / T


def meta_train_step(model: nn.Module, optimizer: torch.optim.Optimizer,
                    graph_qnode: Callable, T: int = 10) -> float:
  """One published meta-training update on one graph; returns the loss value."""
  optimizer.zero_grad()
  _, costs = phase_one(model, graph_qnode, T)
  loss = weighted_meta_loss(costs)
  loss.backward()
  optimizer.step()
  return float(loss.detach())


def make_optimizer(model: nn.Module, lr_sequence: float = 6e-6,
                   lr_mapping: float = 1e-4) -> torch.optim.RMSprop:
  """RMSprop (alpha 0.99, eps 1e-8, no momentum); ``mapping`` gets its own lr."""
  mapping = getattr(model, "mapping", None)
  mapping_ids = {id(p) for p in mapping.parameters()} if mapping is not None else set()
  seq = [p for p in model.parameters() if id(p) not in mapping_ids]
  groups = [{"params": seq, "lr": lr_sequence}]
  if mapping is not None:
    groups.append({"params": list(mapping.parameters()), "lr": lr_mapping})
  return torch.optim.RMSprop(groups, lr=lr_sequence, alpha=0.99, eps=1e-8,
                             momentum=0.0, weight_decay=0.0, centered=False)


# --------------------------------------------------------------------- reference data


def load_published_weights(model: nn.Module, npz_path: str) -> nn.Module:
  """Loads a published checkpoint ``.npz`` twin (same key names) into ``model``.

  Strict: every key of the file must be a parameter of ``model`` and vice versa.
  """
  with np.load(npz_path) as data:
    sd = {k: torch.from_numpy(np.array(data[k])) for k in data.files}
  own = model.state_dict()
  missing = sorted(set(own) - set(sd))
  extra = sorted(set(sd) - set(own))
  if missing or extra:
    raise KeyError(f"checkpoint/model key mismatch: missing {missing}, unexpected {extra}")
  for k, v in sd.items():
    if tuple(v.shape) != tuple(own[k].shape):
      raise ValueError(f"{k}: checkpoint shape {tuple(v.shape)} != model {tuple(own[k].shape)}")
  model.load_state_dict({k: v.to(own[k].dtype) for k, v in sd.items()}, strict=True)
  return model


def load_reference_datasets(path: str | None = None) -> dict:
  """``datasets.pkl`` -> dict with ``train_data``, ``val_data``, ``test_data``.

  Read through jqmeta's restricted unpickler (networkx graph and view classes only).
  """
  path = path or os.path.join(REFERENCE_DIR, "datasets.pkl")
  return jqmeta_io.load_reference_dataset(path)


# ------------------------------------------------------------------------- timings


def _median_time(fn: Callable[[int], object], repeats: int) -> float:
  fn(0)  # warm-up
  ts = []
  for r in range(repeats):
    t0 = time.perf_counter()
    fn(r)
    ts.append(time.perf_counter() - t0)
  return statistics.median(ts)


def time_meta_step(kind: str, graphs: Sequence[nx.Graph], repeats: int,
                   weights: str | None = None, T: int = 10) -> float:
  """Median wall time (s) of one :func:`meta_train_step` (one graph, T steps).

  Call ``r`` trains on ``graphs[r % len(graphs)]``. QAOA QNodes are built once
  per graph before timing (not counted). ``weights``: optional ``.npz`` to
  start from (the timing does not depend on the values).
  """
  torch.manual_seed(0)
  model = make_model(kind)
  if weights is not None:
    load_published_weights(model, weights)
  opt = make_optimizer(model)
  qnodes = [qaoa_energy_qnode(g, 1) for g in graphs]
  return _median_time(lambda r: meta_train_step(model, opt, qnodes[r % len(qnodes)], T),
                      repeats)


def time_qaoa_energy_grad(graph: nx.Graph, p: int, repeats: int) -> float:
  """Median wall time (s) of one energy + gradient of :func:`qaoa_energy_qnode`."""
  qnode = qaoa_energy_qnode(graph, p)
  gen = torch.Generator().manual_seed(0)
  angles = torch.rand(2, p, generator=gen, dtype=torch.float64).requires_grad_(True)

  def call(_):
    angles.grad = None
    e = qnode(angles)
    e.backward()
    return float(e.detach()), angles.grad

  return _median_time(call, repeats)


# ------------------------------------------------------------------------------ CLI


def _read_csv_column(path: str, column: str) -> np.ndarray:
  import csv
  with open(path, newline="") as f:
    rows = list(csv.DictReader(f))
  return np.array([float(r[column]) for r in rows if r.get(column, "") not in ("", None)])


def selfcheck(reference_dir: str = REFERENCE_DIR, graph_index: int = 0,
              tol: float = 1e-5) -> bool:
  """Reproduces the published Phase I angles of the best LSTM and QK-LSTM."""
  data = load_reference_datasets(os.path.join(reference_dir, "datasets.pkl"))
  g = data["test_data"][graph_index]
  n, m = g.number_of_nodes(), g.number_of_edges()
  qnode = qaoa_energy_qnode(g, 1)
  ok = True
  for kind, ckpt in (("LSTM", "best_LSTM_model_2D_QAOA.npz"), ("QK", "best_QK_model_6e-6.npz")):
    model = load_published_weights(make_model(kind), os.path.join(reference_dir, "checkpoints", ckpt))
    with torch.no_grad():
      angles, costs = phase_one(model, qnode, 10)
    got = torch.stack(angles).numpy()
    traj = os.path.join(reference_dir, "trajectories", f"{kind}_node_{n}_edge_{m}_{graph_index}.npz")
    with np.load(traj) as d:
      want = d["params"]
    diff = float(np.max(np.abs(got - want)))
    ok &= diff <= tol
    msg = (f"{kind:5s} n={n} m={m} graph {graph_index}: max|angles - published| = {diff:.3e}")
    csv_path = os.path.join(reference_dir, "results",
                            f"model_QAOA_node_{n}_{graph_index}_edge_{m}_{graph_index}.csv")
    if os.path.exists(csv_path):
      want_c = _read_csv_column(csv_path, f"{kind}-QAOA")[:10]
      got_c = np.array([float(c) for c in costs])
      cdiff = float(np.max(np.abs(got_c - want_c)))
      ok &= cdiff <= tol * 100
      msg += f", max|costs - published| = {cdiff:.3e}"
    print(msg + f"; final angles ({got[-1, 0]:.4f}, {got[-1, 1]:.4f}), final cost {float(costs[-1]):.6f}")
  print("selfcheck", "PASSED" if ok else "FAILED")
  return ok


def _timings(repeats: int) -> None:
  data = load_reference_datasets()
  test = data["test_data"]
  by_n = {}
  for g in test:
    by_n.setdefault(g.number_of_nodes(), []).append(g)
  train = data["train_data"][::126]  # 8 graphs, two of each size n = 6..9
  sizes = sorted({g.number_of_nodes() for g in train})
  print(f"torch threads {torch.get_num_threads()}, sequence backend {SEQUENCE_BACKEND}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
  if SEQUENCE_BACKEND.startswith("lightning") and "OMP_NUM_THREADS" not in os.environ:
    print("warning: OMP_NUM_THREADS unset; lightning.qubit's OpenMP threads can inflate "
          "QK-LSTM timings on few/shared cores (set OMP_NUM_THREADS=1)", file=sys.stderr)
  for kind in ("LSTM", "QK"):
    t = time_meta_step(kind, train, repeats)
    print(f"meta step {kind:5s} (train graphs n={sizes}, T=10): {t * 1e3:9.2f} ms")
  for n in (10, 12):
    for p in (1, 3):
      t = time_qaoa_energy_grad(by_n[n][0], p, repeats)
      print(f"energy+grad n={n:2d} p={p}: {t * 1e3:9.2f} ms")


def main(argv: Sequence[str] | None = None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--selfcheck", action="store_true", help="reproduce published Phase I angles")
  ap.add_argument("--timings", action="store_true", help="print reference timings")
  ap.add_argument("--repeats", type=int, default=5)
  args = ap.parse_args(argv)
  if not (args.selfcheck or args.timings):
    ap.print_help()
    return 0
  ok = True
  if args.selfcheck:
    ok = selfcheck()
  if args.timings:
    _timings(args.repeats)
  return 0 if ok else 1


if __name__ == "__main__":
  sys.exit(main())
