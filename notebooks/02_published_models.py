# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 - The published models, re-run in JAX
#
# The paper's checkpoints (`shared/reference/checkpoints`) load into `jqmeta`'s reference cells
# with `io.load_reference_checkpoint`. Here we run Phase I (10 recurrent steps, no training)
# on a few test graphs, draw the trajectories on the p=1 landscape, and look closely at one
# claim: the published QK-LSTM emits **the same angles for every graph**.
#
# If the reference folder is missing, a small LSTM is trained here for a couple of epochs instead
# and the QK-LSTM findings are shown on a freshly initialised reference cell (they hold for any
# parameters).

# %%
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from jqmeta import circuits, evaluation, graphs, io, meta, models, qaoa, training

T_START = time.perf_counter()
REF = io.reference_dir()
CKPT = REF / "checkpoints"
FILES = {"lstm": "best_LSTM_model_2D_QAOA.npz",
         "qk_lstm": "best_QK_model_6e-6.npz",
         "qfwp": "best_FWP_model_2D_QAOA.npz"}
HAVE_CKPT = all((CKPT / f).is_file() for f in FILES.values())
HAVE_DATA = (REF / "datasets.pkl").is_file()
print("reference folder:", REF.resolve(), "| checkpoints:", HAVE_CKPT, "| dataset:", HAVE_DATA)

# %% [markdown]
# ## Test graphs
#
# Six of the paper's 90 test graphs (n = 10..14) when the dataset is available, otherwise six
# seeded Erdős–Rényi graphs of the same sizes. They are stacked into one padded batch.

# %%
if HAVE_DATA:
    test_all = io.load_reference_dataset(REF / "datasets.pkl")["test_data"]
    test_nx = [test_all[i] for i in range(0, 90, 15)]
else:
    rng = np.random.default_rng(1)
    test_nx = [graphs.erdos_renyi(rng, n, 0.5) for n in (10, 11, 12, 12, 13, 14)]

test_b = graphs.stack([graphs.from_networkx(h) for h in test_nx])
sizes = np.array([h.number_of_nodes() for h in test_nx])
max_cuts = np.asarray(jax.jit(jax.vmap(qaoa.max_cut))(test_b))
print("sizes", sizes.tolist(), "| edges", [h.number_of_edges() for h in test_nx],
      "| max cuts", max_cuts.tolist())

# %% [markdown]
# ## Models
#
# The published checkpoints, or the fallback: an LSTM meta-trained here for two epochs on a few
# small random graphs (`training.fit` with larger learning rates than the paper's).

# %%
if HAVE_CKPT:
    learned = {name: io.load_reference_checkpoint(CKPT / f) for name, f in FILES.items()}
    source = "published checkpoint"
else:
    rng = np.random.default_rng(0)
    train_nx = [graphs.erdos_renyi(rng, n, 0.5) for n in (6, 6, 7, 7, 8, 8)]
    val_nx = [graphs.erdos_renyi(rng, 9, 0.5)]
    lstm = models.create("lstm")
    config = training.TrainConfig(epochs=2, lr_sequence=2e-2, lr_mapping=2e-2, method="auto")
    fitted = training.fit(lstm, meta.init(lstm, jax.random.key(0)), train_nx, val_nx, config,
                          progress=False)
    print("fallback training history:",
          [(r["epoch"], round(r["train_loss"], 4)) for r in fitted.history])
    qk = models.create("qk_lstm")                      # reference variant, fresh parameters
    learned = {"lstm": (lstm, fitted.variables), "qk_lstm": (qk, meta.init(qk, jax.random.key(1)))}
    source = "trained here / fresh init"

for name, (model, variables) in learned.items():
    print(f"{name:8s} ({source}): {models.count_params(variables['params'])}")


# %% [markdown]
# ## Phase I
#
# `meta.phase1` unrolls a model for 10 steps from cost 0, angles 0 and a zero state, exactly as
# published; `evaluation.phase1_batch` runs it over the whole test batch in one compiled call.

# %%
traj = {}
for name, (model, variables) in learned.items():
    angles, costs = evaluation.phase1_batch(model, variables, test_b)   # (G, 10, 2, 1), (G, 10)
    traj[name] = angles
    ratios = -costs[:, -1] / max_cuts
    print(f"{name:8s} ratio after Phase I: {' '.join(f'{r:.3f}' for r in ratios)}   mean {ratios.mean():.3f}")

# %% [markdown]
# ## Trajectories on the landscape
#
# The p=1 landscape of the first test graph (closed-form energy, the graphs are unweighted) with
# each model's 10 proposals on that graph; the star marks the last step.

# %%
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


# %% [markdown]
# ## One schedule for every graph
#
# If a learned optimizer adapts to the graph, its proposals differ between graphs. The spread
# below is `max - min` across the test graphs, maximised over the 10 steps and both angles.

# %%
def spread(angles):
    return float(np.ptp(np.asarray(angles), axis=0).max())

for name, t in traj.items():
    print(f"{name:8s} spread across graphs = {spread(t):.2e}   last step on graph 0: "
          f"gamma = {t[0, -1, 0, 0]:+.4f}, beta = {t[0, -1, 1, 0]:+.4f}")
print("QK-LSTM final angles on every graph:\n", np.round(traj["qk_lstm"][:, -1, :, 0], 6))

# %% [markdown]
# Why: every published QK-LSTM gate circuit is followed by its exact inverse, so it is the
# identity and each `<Z_i>` readout is exactly 1, whatever the input. The gates are constants,
# the input (cost and angles) never reaches the state, and the 28 `clayer_in` parameters get a
# zero gradient. `circuits.qk_reference_gate` is that published circuit:

# %%
ys = 2.0 * jax.random.normal(jax.random.key(3), (5, 4))           # 5 random 4-qubit inputs
readouts = jax.jit(jax.vmap(circuits.qk_reference_gate))(ys)
grads = jax.jit(jax.vmap(jax.grad(lambda y: circuits.qk_reference_gate(y).sum())))(ys)
print("readouts:\n", np.asarray(readouts))
print("max |readout - 1| =", float(jnp.max(jnp.abs(readouts - 1.0))),
      "| max |d readout / d input| =", float(jnp.max(jnp.abs(grads))))

# %% [markdown]
# The corrected variant replaces each gate with a genuine fidelity-kernel gate
# `act(sum_j alpha_j k(y, r_j) + b)` with trainable references `r_j`. Even freshly initialised
# (untrained), its proposals depend on the graph:

# %%
qk_corr = models.create("qk_lstm", variant="corrected")
v_corr = jax.jit(lambda key: meta.init(qk_corr, key))(jax.random.key(0))
angles_corr, _ = evaluation.phase1_batch(qk_corr, v_corr, test_b)
print("corrected QK-LSTM:", models.count_params(v_corr["params"]))
print(f"corrected QK-LSTM spread across graphs = {spread(angles_corr):.2e}  (reference: {spread(traj['qk_lstm']):.2e})")

# %%
print(f"notebook ran in {time.perf_counter() - T_START:.1f} s")
