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
# # 03 - Meta-training and the two-phase evaluation
#
# A small end-to-end run with the library functions (the `jqmeta reproduce` command does the same
# at full scale): meta-train a learned optimizer on small graphs, then evaluate it on larger unseen
# graphs against honest baselines.
#
# * **Phase I**: the trained cell proposes angles for 10 recurrent steps.
# * **Phase II**: plain gradient descent (the paper's `lr = 1e-3`) from the last proposal.
# * Baselines: Phase II from random starts (the paper's), and one fixed angle pair fitted on the
#   training graphs with no learning at all.
#
# Everything is kept tiny (a few graphs, 3 epochs) so it runs in seconds.

# %%
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from jqmeta import baselines, evaluation, graphs, meta, metrics, models, qaoa, training
from jqmeta.app import paper

T_START = time.perf_counter()

# %% [markdown]
# ## Data
#
# `paper.default_dataset` (the dataset of `jqmeta reproduce`) draws seeded Erdős–Rényi graphs; `sizes` shrinks it to a handful
# per split (`{split: {n: count}}`).

# %%
splits = paper.default_dataset(seed=0, sizes={"train_data": {6: 6, 7: 6, 8: 6},
                                              "val_data": {9: 2},
                                              "test_data": {9: 4, 10: 4}})
train_nx, val_nx, test_nx = splits["train_data"], splits["val_data"], splits["test_data"]
train_b = graphs.stack([graphs.from_networkx(h) for h in train_nx])
val_b = graphs.stack([graphs.from_networkx(h) for h in val_nx])
sizes = np.array([h.number_of_nodes() for h in test_nx])
print({k: len(v) for k, v in splits.items()}, "| test sizes", sizes.tolist())

# %% [markdown]
# ## Meta-training
#
# The paper's protocol (RMSprop, one graph per update, reduce-on-plateau, early stopping, meta-loss
# `(1/T) sum_t 0.1 t C_t`) with much larger learning rates than the published `6e-6 / 1e-4`, since
# we only train for 3 epochs. The graphs are unweighted and `p = 1`, so `method="auto"` uses the
# closed-form energy. Each epoch is one jitted `lax.scan` over the graphs.

# %%
model = models.create("lstm")
variables = meta.init(model, jax.random.key(0))
config = training.TrainConfig(epochs=3, lr_sequence=3e-2, lr_mapping=3e-2, method="auto")

t0 = time.perf_counter()
result = training.fit(model, variables, train_b, val_b, config, progress=False)
print(f"trained in {time.perf_counter() - t0:.1f} s; stopped: {result.stopped}; best epoch {result.best_epoch}")
for r in result.history:
    print(f"  epoch {r['epoch']}: train loss {r['train_loss']:+.4f}  val loss {r['val_loss']:+.4f}"
          f"  lr {r['lr_sequence']:.1e}")

# %%
epochs = [r["epoch"] for r in result.history]
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(epochs, [r["train_loss"] for r in result.history], "o-", label="train (meta-loss)")
ax.plot(epochs, [r["val_loss"] for r in result.history], "s--", label="validation (last-step cost)")
ax.set_xlabel("epoch"); ax.set_ylabel("loss (lower is better)"); ax.set_xticks(epochs)
ax.legend(); ax.set_title("meta-training")
plt.show()

# %% [markdown]
# ## The baselines
#
# The fixed angle pair is fitted on the *training* graphs only (a 16 x 16 grid plus a few Adam
# steps on the mean ratio); the random baseline starts Phase II from two uniform draws.

# %%
test_b = graphs.stack([graphs.from_networkx(h) for h in test_nx])
max_cuts = np.asarray(jax.jit(jax.vmap(qaoa.max_cut))(test_b))
fixed = baselines.fit_fixed_angles(train_b, grid=16, steps=20, method="auto")
starts = baselines.random_starts(jax.random.key(1), len(test_nx), p=1, n_seeds=2)
print("fixed angle pair:", np.round(np.asarray(fixed[:, 0]), 4))

# %% [markdown]
# ## The two-phase protocol
#
# `evaluation.two_phase` runs the learned model's Phase I (float32, 10 recurrent steps) and then
# Phase II from its last proposal in float64: the published stop rule `|C_k - C_{k-1}| <= 1e-6`
# is at the float32 resolution of energies of size 10-30. It is the same function
# `jqmeta reproduce` and `jqmeta evaluate` call. The baselines go through
# `evaluation.evaluate_method` (Phase II from given angles) inside `jax.enable_x64(True)`. Only
# 30 SGD steps here (the paper: up to 300); ratios are read after Phase I and after 10 SGD steps,
# as in Table III.

# %%
phase2 = dict(lr=1e-3, tol=1e-6, method="auto")
results = {"learned LSTM": evaluation.two_phase(model, result.variables, test_b, max_cuts,
                                                phase2_steps=30, **phase2)}
print("learned last-step angles (graph 0):",
      np.round(results["learned LSTM"]["phase1_angles"][0, -1, :, 0], 4))
with jax.enable_x64(True):
    test64 = test_b.astype(jnp.float64)
    f64 = lambda x: np.asarray(x, np.float64)
    fixed_g = np.broadcast_to(f64(fixed), (len(test_nx), 2, 1))
    results["fixed angles"] = evaluation.evaluate_method(fixed_g[:, None], fixed_g, test64,
                                                         f64(max_cuts), steps=30, **phase2)
    rand = [evaluation.evaluate_method(None, f64(s), test64, f64(max_cuts), steps=30, **phase2)
            for s in starts]
    random_cut = np.asarray(jax.vmap(baselines.random_cut_ratio)(test64, jnp.asarray(max_cuts)))
print("Phase II dtype:", results["learned LSTM"]["phase2_costs"].dtype,
      "| SGD updates taken (learned):", results["learned LSTM"]["n_steps"].tolist())

# %% [markdown]
# ## Approximation ratios
#
# `metrics.ratio_stats` gives `(mean, std)` per graph size. The random-start baseline pools its
# two seeds; "uniform random cut" is the ratio of a coin-flip assignment (the QAOA value at angles 0).

# %%
table = {name: (metrics.ratio_stats(r["ratio_phase1"], sizes), metrics.ratio_stats(r["ratio_phase2"], sizes))
         for name, r in results.items()}
table["random start"] = (None, metrics.ratio_stats(np.concatenate([r["ratio_phase2"] for r in rand]),
                                                    np.concatenate([sizes, sizes])))
table["uniform random cut"] = (metrics.ratio_stats(random_cut, sizes), None)

fmt = lambda s, n: "-" if s is None else f"{s[n][0]:.3f} ± {s[n][1]:.3f}"
print(f"{'method':20s} {'n':>3s}   {'after Phase I':>15s}   {'after 10 SGD steps':>18s}")
for name, (p1, p2) in table.items():
    for n in np.unique(sizes):
        print(f"{name:20s} {n:3d}   {fmt(p1, n):>15s}   {fmt(p2, n):>18s}")

# %% [markdown]
# Phase II convergence: the mean relative error `|C_k - C*| / |C*|` (`C* = -max cut`) against
# the SGD update `k`, where `k = 0` is the starting point (the learned proposal, the fixed pair or
# the random start). With the paper's `lr = 1e-3`, the starting point decides most of the outcome.

# %%
curves = {name: r["phase2_costs"] for name, r in results.items()}
curves["random start (2 seeds)"] = np.concatenate([r["phase2_costs"] for r in rand])
fig, ax = plt.subplots(figsize=(5.5, 3.4))
for name, costs in curves.items():
    mc = np.resize(max_cuts, costs.shape[0])                    # the random seeds repeat the graphs
    ax.plot(np.asarray(metrics.relative_error(costs, mc)).mean(axis=0), label=name)
ax.set_xlabel("Phase II SGD update"); ax.set_ylabel("mean relative error")
ax.legend(); plt.show()

# %%
print(f"notebook ran in {time.perf_counter() - T_START:.1f} s")
