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
# # 04 - Speed: jqmeta against PennyLane + PyTorch
#
# Energy **and** gradient of p=1 QAOA on n = 10 graphs, the inner step of both meta-training and
# Phase II.
#
# * **jqmeta**: `jax.jit(jax.vmap(jax.value_and_grad(qaoa.energy)))` over a batch of graphs,
#   warmed up (compiled) first; the time is per graph.
# * **PennyLane**: a `default.qubit` QNode with the torch interface and `diff_method="backprop"`
#   (the published stack), one graph per call.
#
# Both use the median of a few repeats. jqmeta computes in float32 by default; the float64 row
# (`jax.enable_x64`) matches PennyLane's double precision. Timings depend on the machine and its load (this one is
# small and shared), so treat the ratio as an order of magnitude; nothing here is asserted.

# %%
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


# %% [markdown]
# ## jqmeta
#
# Two energy methods: the exact statevector (`2^10` amplitudes per graph) and `method="auto"`,
# which for `p = 1` uses the exact closed-form energy (O(E) on these unweighted graphs).

# %%
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

# %% [markdown]
# ## PennyLane + PyTorch
#
# The weighted-form cost Hamiltonian `sum (ZZ - 1)/2`, Hadamards, `cost_layer`, `mixer_layer`,
# `expval`, then `loss.backward()`, on the first graph of the batch.

# %%
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

# %%
if qml is not None:
    print(f"{'':32s}{'per graph':>12s}{'speed-up':>12s}")
    print(f"{'PennyLane + torch (float64)':32s}{1e3 * t_pl:10.3f}ms{1.0:11.0f}x")
    for name, (t, _, _) in jq.items():
        print(f"{'jqmeta ' + name:32s}{1e3 * t:10.3f}ms{t_pl / t:11.0f}x")

# %% [markdown]
# ## Where the speed comes from
#
# * **`vmap`**: the whole batch is one array program. `graphs.stack` pads graphs to common shapes,
#   so there is no Python loop over graphs and the per-call overhead is paid once per batch.
# * **One `jit` region**: cut tables, cost phases (products of three small tables, no cos/sin per
#   amplitude), the mixer (a Walsh-Hadamard transform: real GEMMs shared by the whole batch; 4-qubit
#   complex GEMM passes above 18 qubits), the expectation and the reverse-mode gradient compile into a
#   single XLA program.
#   PennyLane builds a tape and dispatches every gate, and every Hamiltonian term of the
#   expectation, as separate torch operations, with autograd bookkeeping on top.
# * **Analytic p=1** (`method="auto"`): for `p = 1` the energy has a closed form costing O(E)
#   on unit weights (O(E N) on any weights) instead of O(2^n), so it does not grow
#   exponentially with n at all.

# %%
print(f"notebook ran in {time.perf_counter() - T_START:.1f} s")
