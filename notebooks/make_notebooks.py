"""Writes the four jqmeta research notebooks (outputs cleared) with nbformat v4."""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent


def md(text: str):
  return new_markdown_cell(text.strip("\n"))


def code(text: str):
  return new_code_cell(text.strip("\n"))


def write(name: str, cells) -> None:
  nb = new_notebook(cells=cells)
  nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                               "language": "python"}
  nb.metadata["language_info"] = {"name": "python"}
  stem = name.split("_")[0]
  for k, cell in enumerate(nb.cells):
    cell.id = f"nb{stem}-{k:02d}"  # deterministic ids keep regenerated files diff-stable
    if cell.cell_type == "code":
      cell.outputs = []
      cell.execution_count = None
  nbformat.validate(nb)
  OUT.mkdir(parents=True, exist_ok=True)
  nbformat.write(nb, OUT / name)
  print("wrote", OUT / name)


# ------------------------------------------------------------------ 01 QAOA in JAX

nb01 = [
    md("""
# 01 - QAOA for Max-Cut in pure JAX

`jqmeta.qaoa` is an exact statevector simulator for weighted Max-Cut QAOA at any depth `p`,
written as plain JAX functions of `(angles, graph)`. Everything below composes with
`jax.grad`, `jax.vmap` and `jax.jit`.

Conventions (PennyLane's `qaoa.maxcut`): `H_C = sum_e w_e (Z_u Z_v - 1) / 2`, so
`<H_C> = -E[cut]` and lower is better. Angles have shape `(2, p)`: row 0 the gammas, row 1
the betas.
"""),
    code("""
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np

from jqmeta import graphs, qaoa

T_START = time.perf_counter()
print("jax", jax.__version__, "on", jax.devices()[0].platform)
"""),
    md("""
## Graphs

`graphs.from_networkx` turns an undirected `nx.Graph` into a fixed-shape `Graph` pytree
(edge list, weights, degrees, triangle counts). Edge attribute `weight` is used where present.
"""),
    code("""
rng = np.random.default_rng(0)
G = graphs.erdos_renyi(rng, 8, 0.5)                 # unweighted, connected G(8, 0.5)
Gw = G.copy()                                       # same edges, random weights
for u, v in Gw.edges:
    Gw[u][v]["weight"] = float(rng.uniform(0.1, 2.0))

g, gw = graphs.from_networkx(G), graphs.from_networkx(Gw)
print(f"{G.number_of_nodes()} nodes, {G.number_of_edges()} edges")
print(f"max cut: {float(qaoa.max_cut(g)):.0f} (unweighted), {float(qaoa.max_cut(gw)):.3f} (weighted)")
"""),
    md("""
## Energy and gradient

`qaoa.energy(angles, graph)` is an ordinary differentiable function: `jax.value_and_grad`
gives the energy and its gradient in one pass. Depth is just the width of `angles`.
"""),
    code("""
value_and_grad = jax.jit(jax.value_and_grad(qaoa.energy))   # compiled once per shape
ratio_fn = jax.jit(qaoa.approximation_ratio)

angles = jnp.array([[-0.4], [0.3]])   # p = 1: gamma = -0.4, beta = 0.3 (Farhi's gamma is +0.4)
for name, graph in [("unweighted", g), ("weighted", gw)]:
    e, grad = value_and_grad(angles, graph)
    ratio = ratio_fn(angles, graph)
    print(f"{name:10s}  <H_C> = {float(e):+.4f}  grad = {np.round(np.asarray(grad).ravel(), 4)}"
          f"  ratio = {float(ratio):.3f}")

angles_p3 = jnp.array([[-0.2, -0.4, -0.6], [0.6, 0.4, 0.2]])  # p = 3, an annealing-like ramp
e3, grad3 = value_and_grad(angles_p3, gw)
print(f"p = 3 (weighted): <H_C> = {float(e3):+.4f}, gradient shape {grad3.shape}")
"""),
    md("""
## A mixed-size batch with `jax.vmap`

`graphs.stack` pads graphs of different sizes to common shapes (padded edges have weight 0,
padded qubits an identity mixer), so one compiled program serves the whole batch. The padded
result matches the one-graph-at-a-time result up to float32 rounding.
"""),
    code("""
nx_batch = [nx.cycle_graph(4), G, Gw, graphs.erdos_renyi(rng, 10, 0.4)]
batch = graphs.stack([graphs.from_networkx(h) for h in nx_batch])
print("batch shape", batch.batch_shape, "| padded to", batch.n_qubits, "qubits and",
      batch.max_edges, "edge slots")

batch_angles = angles[None] + 0.05 * jnp.arange(len(nx_batch), dtype=jnp.float32)[:, None, None]
value_and_grad_batch = jax.jit(jax.vmap(jax.value_and_grad(qaoa.energy)))
E, dE = value_and_grad_batch(batch_angles, batch)

energy_one = jax.jit(qaoa.energy)
E_loop = jnp.array([energy_one(a, graphs.from_networkx(h)) for a, h in zip(batch_angles, nx_batch)])
print("batched energies:", np.round(np.asarray(E), 4))
print("max |batched - one by one| =", float(jnp.max(jnp.abs(E - E_loop))))
"""),
    md("""
## The p=1 landscape

`vmap` over a 60 x 60 grid of `(gamma, beta)` evaluates 3600 statevector energies in one call.
For integer weights the landscape has period `2 pi` in gamma and `pi` in beta.
"""),
    code("""
n_grid = 60
gammas = jnp.linspace(-jnp.pi, jnp.pi, n_grid)
betas = jnp.linspace(-jnp.pi / 2, jnp.pi / 2, n_grid)
gg, bb = jnp.meshgrid(gammas, betas, indexing="ij")
grid = jnp.stack([gg.ravel(), bb.ravel()], axis=1)[:, :, None]      # (3600, 2, 1)

landscape = jax.jit(jax.vmap(qaoa.energy, in_axes=(0, None)))     # the graph is shared
t0 = time.perf_counter()
E_sv = landscape(grid, g).block_until_ready().reshape(n_grid, n_grid)
print(f"{grid.shape[0]} statevector energies in {time.perf_counter() - t0:.2f} s (incl. compile)")

i, j = np.unravel_index(int(jnp.argmin(E_sv)), E_sv.shape)
print(f"grid minimum {float(E_sv[i, j]):.4f} at gamma = {float(gammas[i]):.3f}, beta = {float(betas[j]):.3f}")

fig, ax = plt.subplots(figsize=(5.5, 4))
im = ax.imshow(np.asarray(E_sv).T, origin="lower", aspect="auto", cmap="viridis",
               extent=[-np.pi, np.pi, -np.pi / 2, np.pi / 2])
ax.plot(float(gammas[i]), float(betas[j]), "r*", ms=12, label="grid minimum")
ax.set_xlabel("gamma"); ax.set_ylabel("beta"); ax.set_title("p=1 energy <H_C> (unweighted G)")
ax.legend(loc="upper right"); fig.colorbar(im, ax=ax)
plt.show()
"""),
    md("""
## Closed-form p=1 energy

For unweighted graphs the p=1 energy has a closed form (Wang, Hadfield, Jiang, Rieffel 2018)
costing O(E): `qaoa.analytic_p1_energy`, or `qaoa.energy(..., method="auto")`. It agrees
with the statevector over the whole grid and works on graphs far beyond any statevector.
"""),
    code("""
E_an = jax.jit(jax.vmap(qaoa.analytic_p1_energy, in_axes=(0, None)))(grid, g).reshape(n_grid, n_grid)
print("max |analytic - statevector| over the grid:", float(jnp.max(jnp.abs(E_an - E_sv))))

big = graphs.from_networkx(graphs.erdos_renyi(rng, 300, 0.02))
print(f"analytic p=1 energy on a 300-node graph ({int(big.n_edges)} edges):",
      round(float(qaoa.energy(angles, big, method="auto")), 3))

try:
    qaoa.analytic_p1_energy(angles, gw)
except ValueError as err:
    print("weighted graph refused:", str(err)[:70], "...")
"""),
    md("""
## Cross-check against PennyLane

The same circuit in PennyLane on `default.qubit`: `H_C = sum w (ZZ - 1)/2` built with
`qml.Hamiltonian`, a Hadamard layer, then `cost_layer` / `mixer_layer` per QAOA layer
(`exp(-i gamma H_C)` then `exp(-i beta sum X)`). Checked on the weighted graph at p = 2.
"""),
    code("""
try:
    import pennylane as qml
except ImportError:
    qml = None
    print("PennyLane is not installed: skipping the cross-check (pip install pennylane)")

if qml is not None:
    n = Gw.number_of_nodes()
    wire = {v: k for k, v in enumerate(Gw.nodes)}          # qubit k = node k of G.nodes
    coeffs, ops = [], []
    for u, v, d in Gw.edges(data=True):
        w = d.get("weight", 1.0)
        coeffs += [0.5 * w, -0.5 * w]
        ops += [qml.PauliZ(wire[u]) @ qml.PauliZ(wire[v]), qml.Identity(wire[u])]
    H_cost = qml.Hamiltonian(coeffs, ops)
    H_mix = qml.qaoa.x_mixer(range(n))

    @qml.qnode(qml.device("default.qubit", wires=n))
    def pl_energy(gammas, betas):
        for k in range(n):
            qml.Hadamard(wires=k)
        for gamma, beta in zip(gammas, betas):
            qml.qaoa.cost_layer(gamma, H_cost)
            qml.qaoa.mixer_layer(beta, H_mix)
        return qml.expval(H_cost)

    a2 = np.array([[0.35, 0.7], [0.55, 0.25]])             # p = 2
    e_pl = float(pl_energy(a2[0], a2[1]))
    e_jq = float(qaoa.energy(jnp.asarray(a2, jnp.float32), gw))
    print(f"PennyLane {e_pl:+.6f}   jqmeta {e_jq:+.6f}   |difference| = {abs(e_pl - e_jq):.2e}")
"""),
    code("""
print(f"notebook ran in {time.perf_counter() - T_START:.1f} s")
"""),
]

# ---------------------------------------------------------- 02 published models

nb02 = [
    md("""
# 02 - The published models, re-run in JAX

The paper's checkpoints (`shared/reference/checkpoints`) load into `jqmeta`'s reference cells
with `interop.load_reference_checkpoint`. Here we run Phase I (10 recurrent steps, no training)
on a few test graphs, draw the trajectories on the p=1 landscape, and look closely at one
claim: the published QK-LSTM emits **the same angles for every graph**.

If the reference folder is missing, a small LSTM is trained here for a couple of epochs instead
and the QK-LSTM findings are shown on a freshly initialised reference cell (they hold for any
parameters).
"""),
    code("""
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from jqmeta import circuits, graphs, interop, meta, models, qaoa, train

T_START = time.perf_counter()
REF = Path.cwd().parent.parent / "shared" / "reference"
CKPT = REF / "checkpoints"
FILES = {"lstm": "best_LSTM_model_2D_QAOA.npz",
         "qk_lstm": "best_QK_model_6e-6.npz",
         "qfwp": "best_FWP_model_2D_QAOA.npz"}
HAVE_CKPT = all((CKPT / f).is_file() for f in FILES.values())
HAVE_DATA = (REF / "datasets.pkl").is_file()
print("reference folder:", REF.resolve(), "| checkpoints:", HAVE_CKPT, "| dataset:", HAVE_DATA)
"""),
    md("""
## Test graphs

Six of the paper's 90 test graphs (n = 10..14) when the dataset is available, otherwise six
seeded Erdős–Rényi graphs of the same sizes. They are stacked into one padded batch.
"""),
    code("""
if HAVE_DATA:
    test_all = interop.load_reference_dataset(REF / "datasets.pkl")["test_data"]
    test_nx = [test_all[i] for i in range(0, 90, 15)]
else:
    rng = np.random.default_rng(1)
    test_nx = [graphs.erdos_renyi(rng, n, 0.5) for n in (10, 11, 12, 12, 13, 14)]

test_b = graphs.stack([graphs.from_networkx(h) for h in test_nx])
sizes = np.array([h.number_of_nodes() for h in test_nx])
max_cuts = np.asarray(jax.jit(jax.vmap(qaoa.max_cut))(test_b))
print("sizes", sizes.tolist(), "| edges", [h.number_of_edges() for h in test_nx],
      "| max cuts", max_cuts.tolist())
"""),
    md("""
## Models

The published checkpoints, or the fallback: an LSTM meta-trained here for two epochs on a few
small random graphs (`train.fit` with larger learning rates than the paper's).
"""),
    code("""
if HAVE_CKPT:
    learned = {name: interop.load_reference_checkpoint(CKPT / f) for name, f in FILES.items()}
    source = "published checkpoint"
else:
    rng = np.random.default_rng(0)
    train_nx = [graphs.erdos_renyi(rng, n, 0.5) for n in (6, 6, 7, 7, 8, 8)]
    val_nx = [graphs.erdos_renyi(rng, 9, 0.5)]
    lstm = models.create("lstm")
    config = train.TrainConfig(epochs=2, lr_sequence=2e-2, lr_mapping=2e-2, method="auto")
    fitted = train.fit(lstm, meta.init(lstm, jax.random.key(0)), train_nx, val_nx, config,
                       progress=False)
    print("fallback training history:",
          [(r["epoch"], round(r["train_loss"], 4)) for r in fitted.history])
    qk = models.create("qk_lstm")                      # reference variant, fresh parameters
    learned = {"lstm": (lstm, fitted.variables), "qk_lstm": (qk, meta.init(qk, jax.random.key(1)))}
    source = "trained here / fresh init"

for name, (cell, variables) in learned.items():
    print(f"{name:8s} ({source}): {models.count_params(variables['params'])}")
"""),
    md("""
## Phase I

`meta.phase1` unrolls a cell for 10 steps from cost 0, angles 0 and a zero state, exactly as
published. `vmap` runs it over the whole test batch in one compiled call.
"""),
    code("""
def run_phase1(cell, variables, batch=test_b):
    return jax.jit(jax.vmap(lambda gr: meta.phase1(cell, variables, gr)))(batch)

traj = {}
for name, (cell, variables) in learned.items():
    angles, costs = run_phase1(cell, variables)          # (G, 10, 2, 1), (G, 10)
    traj[name] = np.asarray(angles)
    ratios = -np.asarray(costs)[:, -1] / max_cuts
    print(f"{name:8s} ratio after Phase I: {' '.join(f'{r:.3f}' for r in ratios)}   mean {ratios.mean():.3f}")
"""),
    md("""
## Trajectories on the landscape

The p=1 landscape of the first test graph (closed-form energy, the graphs are unweighted) with
each model's 10 proposals on that graph; the star marks the last step.
"""),
    code("""
pts = np.concatenate([t[0, :, :, 0] for t in traj.values()])          # (steps * models, 2)
lo, hi = pts.min(axis=0) - 0.4, pts.max(axis=0) + 0.4
n_grid = 60
gs, bs = np.linspace(lo[0], hi[0], n_grid), np.linspace(lo[1], hi[1], n_grid)
gg, bb = np.meshgrid(gs, bs, indexing="ij")
grid = jnp.asarray(np.stack([gg.ravel(), bb.ravel()], axis=1)[:, :, None], jnp.float32)
g0 = graphs.from_networkx(test_nx[0])
E = jax.jit(jax.vmap(lambda a: qaoa.energy(a, g0, method="auto")))(grid).reshape(n_grid, n_grid)

fig, ax = plt.subplots(figsize=(6, 4.5))
im = ax.contourf(gs, bs, np.asarray(E).T, levels=30, cmap="viridis")
for (name, t), color in zip(traj.items(), ["tab:red", "white", "tab:orange", "tab:pink"]):
    ax.plot(t[0, :, 0, 0], t[0, :, 1, 0], "o-", color=color, ms=3, lw=1, label=name)
    ax.plot(t[0, -1, 0, 0], t[0, -1, 1, 0], "*", color=color, ms=13, mec="k")
ax.set_xlabel("gamma"); ax.set_ylabel("beta")
ax.set_title(f"Phase I on a test graph (n = {sizes[0]})"); ax.legend(loc="best", fontsize=8)
fig.colorbar(im, ax=ax, label="<H_C>")
plt.show()
"""),
    md("""
## One schedule for every graph

If a learned optimizer adapts to the graph, its proposals differ between graphs. The spread
below is `max - min` across the test graphs, maximised over the 10 steps and both angles.
"""),
    code("""
def spread(angles):
    return float(np.ptp(np.asarray(angles), axis=0).max())

for name, t in traj.items():
    print(f"{name:8s} spread across graphs = {spread(t):.2e}   last step on graph 0: "
          f"gamma = {t[0, -1, 0, 0]:+.4f}, beta = {t[0, -1, 1, 0]:+.4f}")
print("QK-LSTM final angles on every graph:\\n", np.round(traj["qk_lstm"][:, -1, :, 0], 6))
"""),
    md("""
Why: every published QK-LSTM gate circuit is followed by its exact inverse, so it is the
identity and each `<Z_i>` readout is exactly 1, whatever the input. The gates are constants,
the input (cost and angles) never reaches the state, and the 28 `clayer_in` parameters get a
zero gradient. `circuits.qk_reference_gate` is that published circuit:
"""),
    code("""
ys = 2.0 * jax.random.normal(jax.random.key(3), (5, 4))           # 5 random 4-qubit inputs
readouts = jax.jit(jax.vmap(circuits.qk_reference_gate))(ys)
grads = jax.jit(jax.vmap(jax.grad(lambda y: circuits.qk_reference_gate(y).sum())))(ys)
print("readouts:\\n", np.asarray(readouts))
print("max |readout - 1| =", float(jnp.max(jnp.abs(readouts - 1.0))),
      "| max |d readout / d input| =", float(jnp.max(jnp.abs(grads))))
"""),
    md("""
The corrected variant replaces each gate with a genuine fidelity-kernel gate
`act(sum_j alpha_j k(y, r_j) + b)` with trainable references `r_j`. Even freshly initialised
(untrained), its proposals depend on the graph:
"""),
    code("""
qk_corr = models.create("qk_lstm", variant="corrected")
v_corr = jax.jit(lambda key: meta.init(qk_corr, key))(jax.random.key(0))
angles_corr, _ = run_phase1(qk_corr, v_corr)
print("corrected QK-LSTM:", models.count_params(v_corr["params"]))
print(f"corrected QK-LSTM spread across graphs = {spread(angles_corr):.2e}  (reference: {spread(traj['qk_lstm']):.2e})")
"""),
    code("""
print(f"notebook ran in {time.perf_counter() - T_START:.1f} s")
"""),
]

# ------------------------------------------------------------ 03 meta-training

nb03 = [
    md("""
# 03 - Meta-training and the two-phase evaluation

A small end-to-end run with the library functions (the `jqmeta reproduce` command does the same
at full scale): meta-train a learned optimizer on small graphs, then evaluate it on larger unseen
graphs against honest baselines.

* **Phase I**: the trained cell proposes angles for 10 recurrent steps.
* **Phase II**: plain gradient descent (the paper's `lr = 1e-3`) from the last proposal.
* Baselines: Phase II from random starts (the paper's), and one fixed angle pair fitted on the
  training graphs with no learning at all.

Everything is kept tiny (a few graphs, 3 epochs) so it runs in seconds.
"""),
    code("""
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from jqmeta import evaluate, graphs, meta, models, qaoa, reproduce, train

T_START = time.perf_counter()
"""),
    md("""
## Data

`reproduce.default_dataset` draws seeded Erdős–Rényi graphs; `sizes` shrinks it to a handful
per split (`{split: {n: count}}`).
"""),
    code("""
splits = reproduce.default_dataset(seed=0, sizes={"train_data": {6: 6, 7: 6, 8: 6},
                                                  "val_data": {9: 2},
                                                  "test_data": {9: 4, 10: 4}})
train_nx, val_nx, test_nx = splits["train_data"], splits["val_data"], splits["test_data"]
train_b = graphs.stack([graphs.from_networkx(h) for h in train_nx])
val_b = graphs.stack([graphs.from_networkx(h) for h in val_nx])
sizes = np.array([h.number_of_nodes() for h in test_nx])
print({k: len(v) for k, v in splits.items()}, "| test sizes", sizes.tolist())
"""),
    md("""
## Meta-training

The paper's protocol (RMSprop, one graph per update, reduce-on-plateau, early stopping, meta-loss
`(1/T) sum_t 0.1 t C_t`) with much larger learning rates than the published `6e-6 / 1e-4`, since
we only train for 3 epochs. The graphs are unweighted and `p = 1`, so `method="auto"` uses the
closed-form energy. Each epoch is one jitted `lax.scan` over the graphs.
"""),
    code("""
cell = models.create("lstm")
variables = meta.init(cell, jax.random.key(0))
config = train.TrainConfig(epochs=3, lr_sequence=3e-2, lr_mapping=3e-2, method="auto")

t0 = time.perf_counter()
result = train.fit(cell, variables, train_b, val_b, config, progress=False)
print(f"trained in {time.perf_counter() - t0:.1f} s; stopped: {result.stopped}; best epoch {result.best_epoch}")
for r in result.history:
    print(f"  epoch {r['epoch']}: train loss {r['train_loss']:+.4f}  val loss {r['val_loss']:+.4f}"
          f"  lr {r['lr_sequence']:.1e}")
"""),
    code("""
epochs = [r["epoch"] for r in result.history]
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(epochs, [r["train_loss"] for r in result.history], "o-", label="train (meta-loss)")
ax.plot(epochs, [r["val_loss"] for r in result.history], "s--", label="validation (last-step cost)")
ax.set_xlabel("epoch"); ax.set_ylabel("loss (lower is better)"); ax.set_xticks(epochs)
ax.legend(); ax.set_title("meta-training")
plt.show()
"""),
    md("""
## Phase I on the unseen test graphs, and the baselines

The learned proposals and the fixed angle pair are computed in float32. The fixed pair is fitted
on the *training* graphs only (a 16 x 16 grid plus a few Adam steps on the mean ratio).
"""),
    code("""
test_b = graphs.stack([graphs.from_networkx(h) for h in test_nx])
phase1 = jax.jit(jax.vmap(lambda gr: meta.phase1(cell, result.variables, gr, method="auto")))
learned_angles, _ = phase1(test_b)                               # (G, 10, 2, 1)
fixed = evaluate.fit_fixed_angles(train_b, grid=16, refine_steps=20, method="auto")
starts = evaluate.random_starts(jax.random.key(1), len(test_nx), p=1, n_seeds=2)
print("learned last-step angles (graph 0):", np.round(np.asarray(learned_angles[0, -1, :, 0]), 4))
print("fixed angle pair:", np.round(np.asarray(fixed[:, 0]), 4))
"""),
    md("""
## Phase II in float64

The published stop rule `|C_k - C_{k-1}| <= 1e-6` is at the float32 resolution of energies of
size 10-30, so Phase II runs in float64, inside `jax.enable_x64(True)` (the test graphs are
rebuilt inside the block so their weights are float64 too). Only 30 SGD steps here (the paper:
up to 300); ratios are read after Phase I and after 10 SGD steps, as in Table III.
"""),
    code("""
with jax.enable_x64(True):
    test64 = graphs.stack([graphs.from_networkx(h) for h in test_nx])
    max_cuts = np.asarray(jax.jit(jax.vmap(qaoa.max_cut))(test64))
    f64 = lambda x: np.asarray(x, np.float64)
    phase2 = dict(lr=1e-3, max_iter=30, tol=1e-6, method="auto")
    G = len(test_nx)
    fixed_g = np.broadcast_to(f64(fixed), (G, 2, 1))
    results = {
        "learned LSTM": evaluate.evaluate_method(f64(learned_angles), None, test64, max_cuts, **phase2),
        "fixed angles": evaluate.evaluate_method(fixed_g[:, None], fixed_g, test64, max_cuts, **phase2),
    }
    rand = [evaluate.evaluate_method(None, f64(s), test64, max_cuts, **phase2) for s in starts]
    random_cut = np.asarray(jax.vmap(evaluate.random_cut_ratio)(test64, jnp.asarray(max_cuts)))
print("Phase II dtype:", results["learned LSTM"]["phase2_costs"].dtype,
      "| SGD updates taken (learned):", results["learned LSTM"]["n_iter"].tolist())
"""),
    md("""
## Approximation ratios

`evaluate.ratio_stats` gives `(mean, std)` per graph size. The random-start baseline pools its
two seeds; "uniform random cut" is the ratio of a coin-flip assignment (the QAOA value at angles 0).
"""),
    code("""
table = {name: (evaluate.ratio_stats(r["ratio_phase1"], sizes), evaluate.ratio_stats(r["ratio_phase2"], sizes))
         for name, r in results.items()}
table["random start"] = (None, evaluate.ratio_stats(np.concatenate([r["ratio_phase2"] for r in rand]),
                                                    np.concatenate([sizes, sizes])))
table["uniform random cut"] = (evaluate.ratio_stats(random_cut, sizes), None)

fmt = lambda s, n: "-" if s is None else f"{s[n][0]:.3f} ± {s[n][1]:.3f}"
print(f"{'method':20s} {'n':>3s}   {'after Phase I':>15s}   {'after 10 SGD steps':>18s}")
for name, (p1, p2) in table.items():
    for n in np.unique(sizes):
        print(f"{name:20s} {n:3d}   {fmt(p1, n):>15s}   {fmt(p2, n):>18s}")
"""),
    md("""
Phase II convergence: the mean relative error `|C_k - C*| / |C*|` (`C* = -max cut`) against
the SGD update `k`, where `k = 0` is the starting point (the learned proposal, the fixed pair or
the random start). With the paper's `lr = 1e-3`, the starting point decides most of the outcome.
"""),
    code("""
curves = {name: r["phase2_costs"] for name, r in results.items()}
curves["random start (2 seeds)"] = np.concatenate([r["phase2_costs"] for r in rand])
fig, ax = plt.subplots(figsize=(5.5, 3.4))
for name, costs in curves.items():
    mc = np.resize(max_cuts, costs.shape[0])                    # the random seeds repeat the graphs
    ax.plot(np.asarray(evaluate.relative_error(costs, mc)).mean(axis=0), label=name)
ax.set_xlabel("Phase II SGD update"); ax.set_ylabel("mean relative error")
ax.legend(); plt.show()
"""),
    code("""
print(f"notebook ran in {time.perf_counter() - T_START:.1f} s")
"""),
]

# ------------------------------------------------------------------- 04 speed

nb04 = [
    md("""
# 04 - Speed: jqmeta against PennyLane + PyTorch

Energy **and** gradient of p=1 QAOA on n = 10 graphs, the inner step of both meta-training and
Phase II.

* **jqmeta**: `jax.jit(jax.vmap(jax.value_and_grad(qaoa.energy)))` over a batch of graphs,
  warmed up (compiled) first; the time is per graph.
* **PennyLane**: a `default.qubit` QNode with the torch interface and `diff_method="backprop"`
  (the published stack), one graph per call.

Both use the median of a few repeats. jqmeta computes in float32 by default; the float64 row
(`jax.enable_x64`) matches PennyLane's double precision. Timings depend on the machine and its load (this one is
small and shared), so treat the ratio as an order of magnitude; nothing here is asserted.
"""),
    code("""
import functools
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from jqmeta import graphs, qaoa

T_START = time.perf_counter()
N_NODES, N_GRAPHS, REPEATS = 10, 32, 5
rng = np.random.default_rng(0)
nx_graphs = [graphs.erdos_renyi(rng, N_NODES, 0.5) for _ in range(N_GRAPHS)]
batch = graphs.stack([graphs.from_networkx(h) for h in nx_graphs])
angles = jnp.tile(jnp.array([[0.4], [0.3]]), (N_GRAPHS, 1, 1))       # (B, 2, p=1)


def median_seconds(fn, repeats=REPEATS):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
"""),
    md("""
## jqmeta

Two energy methods: the exact statevector (`2^10` amplitudes per graph) and `method="auto"`,
which for `p = 1` uses the closed-form O(E) energy (valid for unweighted graphs, as here).
"""),
    code("""
def time_jqmeta(method, x64=False):
    with jax.enable_x64(x64):                                          # float64 when x64
        b = graphs.stack([graphs.from_networkx(h) for h in nx_graphs])
        a = jnp.tile(jnp.array([[0.4], [0.3]], jnp.float64 if x64 else jnp.float32), (N_GRAPHS, 1, 1))
        fn = jax.jit(jax.vmap(jax.value_and_grad(functools.partial(qaoa.energy, method=method))))
        t0 = time.perf_counter()
        E, dE = jax.block_until_ready(fn(a, b))                      # compile + first run
        compile_s = time.perf_counter() - t0
        t = median_seconds(lambda: jax.block_until_ready(fn(a, b)))
    name = f"{method} ({'float64' if x64 else 'float32'})"
    print(f"jqmeta {name:22s}: {1e6 * t / N_GRAPHS:8.1f} us per graph "
          f"(batch of {N_GRAPHS}: {1e3 * t:.2f} ms; first call incl. compile {compile_s:.2f} s)")
    return name, (t / N_GRAPHS, np.asarray(E), np.asarray(dE))

jq = dict(time_jqmeta(m, x64) for m, x64 in [("statevector", False), ("statevector", True), ("auto", False)])
E_sv, E_an = jq["statevector (float64)"][1], jq["auto (float32)"][1]
print("max |statevector - analytic| energy:", float(np.max(np.abs(E_sv - E_an))))
"""),
    md("""
## PennyLane + PyTorch

The weighted-form cost Hamiltonian `sum (ZZ - 1)/2`, Hadamards, `cost_layer`, `mixer_layer`,
`expval`, then `loss.backward()`, on the first graph of the batch.
"""),
    code("""
try:
    import pennylane as qml
    import torch
except ImportError as err:
    qml = None
    print(f"skipping the PennyLane timing ({err})")

if qml is not None:
    G0 = nx_graphs[0]
    coeffs, ops = [], []
    for u, v in G0.edges:
        coeffs += [0.5, -0.5]
        ops += [qml.PauliZ(u) @ qml.PauliZ(v), qml.Identity(u)]
    H_cost = qml.Hamiltonian(coeffs, ops)
    H_mix = qml.qaoa.x_mixer(range(N_NODES))

    @qml.qnode(qml.device("default.qubit", wires=N_NODES), interface="torch", diff_method="backprop")
    def circuit(params):
        for k in range(N_NODES):
            qml.Hadamard(wires=k)
        qml.qaoa.cost_layer(params[0], H_cost)
        qml.qaoa.mixer_layer(params[1], H_mix)
        return qml.expval(H_cost)

    def pl_value_and_grad():
        params = torch.tensor([0.4, 0.3], dtype=torch.float64, requires_grad=True)
        loss = circuit(params)
        loss.backward()
        return float(loss.detach()), params.grad.numpy()

    e_pl, g_pl = pl_value_and_grad()                                    # warm-up
    t_pl = median_seconds(pl_value_and_grad)
    e_jq, g_jq = float(E_sv[0]), jq["statevector (float64)"][2][0].ravel()
    print(f"PennyLane default.qubit + torch backprop: {1e3 * t_pl:.1f} ms per graph")
    print(f"same numbers? energy {e_pl:+.5f} vs {e_jq:+.5f}; gradient {np.round(g_pl, 4)} vs {np.round(g_jq, 4)}")
"""),
    code("""
if qml is not None:
    print(f"{'':32s}{'per graph':>12s}{'speed-up':>12s}")
    print(f"{'PennyLane + torch (float64)':32s}{1e3 * t_pl:10.3f}ms{1.0:11.0f}x")
    for name, (t, _, _) in jq.items():
        print(f"{'jqmeta ' + name:32s}{1e3 * t:10.3f}ms{t_pl / t:11.0f}x")
"""),
    md("""
## Where the speed comes from

* **`vmap`**: the whole batch is one array program. `graphs.stack` pads graphs to common shapes,
  so there is no Python loop over graphs and the per-call overhead is paid once per batch.
* **One `jit` region**: cut tables, cost phases (products of three small tables, no cos/sin per
  amplitude), the mixer (a Walsh-Hadamard transform: real GEMMs shared by the whole batch; 4-qubit
  complex GEMM passes above 18 qubits), the expectation and the reverse-mode gradient compile into a
  single XLA program.
  PennyLane builds a tape and dispatches every gate, and every Hamiltonian term of the
  expectation, as separate torch operations, with autograd bookkeeping on top.
* **Analytic p=1** (`method="auto"`): for `p = 1` on unweighted graphs the energy has a closed
  form costing O(E) instead of O(2^n), so it does not grow exponentially with n at all.
"""),
    code("""
print(f"notebook ran in {time.perf_counter() - T_START:.1f} s")
"""),
]

write("01_qaoa_in_jax.ipynb", nb01)
write("02_published_models.ipynb", nb02)
write("03_meta_training.ipynb", nb03)
write("04_speed.ipynb", nb04)
