"""jqmeta vs the published PyTorch + PennyLane stack (and PennyLane + JAX).

Usage::

  python -m benchmarks.compare_pytorch [--quick] [--json OUT] [--md OUT] [--png OUT]

Three measurements, each with its baseline measured in the same process:

(a) ``qaoa_energy_grad``: QAOA energy + gradient per graph on the paper's test graphs
    (n = 10, 12, 14; p = 1, 3).  jqmeta runs ``jax.jit(jax.vmap(jax.value_and_grad(
    qaoa.energy)))`` over all test graphs of one size and divides by the batch size
    (``jqmeta_s``; ``jqmeta_auto_s`` with ``method="auto"``, the closed form at p = 1).
    Baselines: the paper's stack one graph at a time
    (``torch_reference.time_qaoa_energy_grad``: ``default.qubit``, torch, backprop,
    float64) and the same QNode with the JAX interface under ``jax.jit``
    (``pennylane_jax_s``, float32; it needs no x64).  ``speedup = torch_s / jqmeta_s``.
(b) ``meta_train_step``: one meta-training update on one graph (Phase I, 10 steps,
    weighted meta-loss, gradient, the paper's per-group PyTorch RMSprop) for the
    reference LSTM and QK-LSTM: ``jqmeta.training.make_epoch_fn`` on a one-graph batch,
    timed per call (``jqmeta_s``, statevector energy), and again with ``method="auto"``
    (``jqmeta_auto_s``: the exact p = 1 closed form, which is what ``jqmeta reproduce``
    trains with on the paper's unweighted graphs).  Baseline:
    ``torch_reference.time_meta_step`` on the same graphs.
(c) ``epoch``: one epoch over the 1008 training graphs with
    ``jqmeta.training.make_epoch_fn`` (ONE jitted ``lax.scan`` of single-graph updates,
    the paper's protocol), vs the torch per-step time x 1008.

``OMP_NUM_THREADS`` defaults to 1 (set before torch / pennylane-lightning load: their
OpenMP threads spin on small shared machines and inflate the reference timings).
Graphs come from ``../shared/reference/datasets.pkl`` (seeded random G(n, 0.5) graphs
when that folder is missing).  ``--quick``: n = 10, 12, fewer repeats (< 2 minutes).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch / pennylane-lightning load

import functools  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from benchmarks import common  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jqmeta import meta, models, qaoa, training  # noqa: E402

MODELS = {"lstm": "LSTM", "qk_lstm": "QK"}  # jqmeta name -> torch_reference kind
EPOCH_GRAPHS = 1008

SETTINGS = {
    "full": dict(sizes=(10, 12, 14), ps=(1, 3), batch_graphs=None, jq_repeats=20,
                 torch_graphs=3, torch_repeats=5, pennylane=True, pl_graphs=2, pl_repeats=10,
                 models=("lstm", "qk_lstm"), meta_torch_repeats=5, step_repeats=50,
                 epoch_graphs=EPOCH_GRAPHS, epoch_repeats=3, epoch_warmup=1),
    "quick": dict(sizes=(10, 12), ps=(1, 3), batch_graphs=None, jq_repeats=20,
                  torch_graphs=2, torch_repeats=3, pennylane=True, pl_graphs=1, pl_repeats=3,
                  models=("lstm", "qk_lstm"), meta_torch_repeats=2, step_repeats=50,
                  epoch_graphs=EPOCH_GRAPHS, epoch_repeats=1, epoch_warmup=0),
    "smoke": dict(sizes=(10,), ps=(1,), batch_graphs=4, jq_repeats=2, torch_graphs=1,
                  torch_repeats=1, pennylane=False, pl_graphs=0, pl_repeats=0,
                  models=("lstm",), meta_torch_repeats=1, step_repeats=3, epoch_graphs=16,
                  epoch_repeats=1, epoch_warmup=0),
}


def _load_torch_reference():
  try:
    from benchmarks import torch_reference  # pylint: disable=import-outside-toplevel
    return torch_reference, None
  except Exception as e:  # pylint: disable=broad-except  # torch / pennylane missing
    return None, f"{type(e).__name__}: {e}"


# ------------------------------------------------------------- (a) energy + gradient


def bench_energy_grad(test_graphs, cfg, tr, log) -> dict:
  by_n: dict[int, list] = {}
  for G in test_graphs:
    by_n.setdefault(G.number_of_nodes(), []).append(G)
  out = {}
  for n in cfg["sizes"]:
    gs = by_n.get(n) or common.random_graphs(n, 8, seed=n)
    if cfg["batch_graphs"]:
      gs = gs[: cfg["batch_graphs"]]
    batch = common.stack_graphs(gs)
    B = len(gs)
    for p in cfg["ps"]:
      key = f"n{n}_p{p}"
      rng = np.random.default_rng(1000 * n + p)
      angles = jnp.asarray(rng.uniform(-1.0, 1.0, (B, 2, p)), jnp.float32)
      row = {"n": n, "p": p, "batch": B}
      f = jax.jit(jax.vmap(jax.value_and_grad(qaoa.energy)))
      t = common.time_jitted(f, (angles, batch), repeats=cfg["jq_repeats"])
      row.update(jqmeta_s=t["median_s"] / B, jqmeta_batch_s=t["median_s"],
                 jqmeta_compile_s=t["compile_s"])
      if p == 1:  # method="auto" is the closed form at p = 1, the statevector above
        f_auto = jax.jit(jax.vmap(jax.value_and_grad(functools.partial(qaoa.energy,
                                                                       method="auto"))))
        t = common.time_jitted(f_auto, (angles, batch), repeats=cfg["jq_repeats"])
        row.update(jqmeta_auto_s=t["median_s"] / B, jqmeta_auto_compile_s=t["compile_s"])
      else:  # ... and exactly the same program at p > 1: not timed twice
        row.update(jqmeta_auto_s=row["jqmeta_s"], jqmeta_auto_compile_s=row["jqmeta_compile_s"],
                   jqmeta_auto_note="auto = statevector at p > 1")
      energies = np.asarray(f(angles, batch)[0])

      row["torch_s"] = None
      if tr is not None:
        import torch  # pylint: disable=import-outside-toplevel
        per_graph = [tr.time_qaoa_energy_grad(G, p, cfg["torch_repeats"])
                     for G in gs[: cfg["torch_graphs"]]]
        row["torch_s"] = statistics.mean(per_graph)
        # Same numbers? The torch QNode on jqmeta's angles for the first graph.
        qnode = tr.qaoa_energy_qnode(gs[0], p)
        e_torch = float(qnode(torch.tensor(np.asarray(angles[0]), dtype=torch.float64)))
        row["energy_abs_diff_vs_torch"] = abs(e_torch - float(energies[0]))

      row["pennylane_jax_s"] = None
      if tr is not None and cfg["pennylane"]:
        times, compiles = [], []
        for i, G in enumerate(gs[: cfg["pl_graphs"]]):
          fn = jax.jit(jax.value_and_grad(tr.qaoa_energy_qnode_jax(G, p)))
          t = common.time_jitted(fn, (angles[i],), repeats=cfg["pl_repeats"])
          times.append(t["median_s"])
          compiles.append(t["compile_s"] + t["lower_s"])
        row["pennylane_jax_s"] = statistics.mean(times)
        row["pennylane_jax_compile_s"] = statistics.mean(compiles)
        row["pennylane_jax_dtype"] = "float32"
      row["speedup"] = _ratio(row["torch_s"], row["jqmeta_s"])
      row["speedup_auto"] = _ratio(row["torch_s"], row["jqmeta_auto_s"])
      row["speedup_vs_pennylane_jax"] = _ratio(row["pennylane_jax_s"], row["jqmeta_s"])
      out[key] = row
      log(f"  energy+grad {key}: jqmeta {common.fmt_s(row['jqmeta_s'])}/graph, "
          f"auto {common.fmt_s(row['jqmeta_auto_s'])}, torch {common.fmt_s(row['torch_s'])}, "
          f"pennylane+jax {common.fmt_s(row['pennylane_jax_s'])}")
  return out


def _ratio(num, den):
  if num is None or den is None or den <= 0:
    return None
  return num / den


# ------------------------------------------------------------ (b) meta-train step


def _model_and_state(name: str, method: str = "statevector"):
  """``(model, variables, epoch, opt_state)``: the paper's training step from jqmeta.training."""
  model = models.create(name)
  variables = meta.init(model, jax.random.key(0))
  config = training.TrainConfig(method=method)
  epoch = training.make_epoch_fn(model, config)
  return model, variables, epoch, training.make_optimizer(config).init(variables)


def _timed_steps(name: str, singles, method: str, cfg) -> tuple[float, float]:
  """Median seconds of one meta-training update (an epoch over ONE graph) and compile s."""
  _, variables, epoch, opt_state = _model_and_state(name, method)
  t0 = time.perf_counter()
  compiled = epoch.lower(variables, opt_state, singles[0]).compile()
  compile_s = time.perf_counter() - t0
  state = {"variables": variables, "opt": opt_state}

  def call(r):
    v, o, losses = compiled(state["variables"], state["opt"], singles[r % len(singles)])
    state["variables"], state["opt"] = v, o
    return losses

  return common.time_call(call, repeats=cfg["step_repeats"], warmup=2)["median_s"], compile_s


def bench_meta_step(train_graphs, cfg, tr, log) -> dict:
  subset = train_graphs[::126] if len(train_graphs) >= 1008 else train_graphs[:8]
  subset = subset[: max(2, min(8, len(subset)))]
  batch = common.stack_graphs(subset)
  # one-graph batches of one padded shape: one compilation for every graph
  singles = [jax.tree.map(lambda x, i=i: x[i:i + 1], batch) for i in range(len(subset))]
  out = {}
  for name in cfg["models"]:
    run_s, compile_s = _timed_steps(name, singles, "statevector", cfg)
    row = {"jqmeta_s": run_s, "jqmeta_compile_s": compile_s,
           "graphs": [G.number_of_nodes() for G in subset], "padded_qubits": batch.n_qubits}
    # What `jqmeta reproduce` trains with on these unweighted p = 1 graphs: the exact
    # closed form (method="auto"); same loss and gradient up to float32 rounding.
    row["jqmeta_auto_s"] = _timed_steps(name, singles, "auto", cfg)[0]
    row["torch_s"] = None
    if tr is not None:
      row["torch_s"] = tr.time_meta_step(MODELS[name], subset, cfg["meta_torch_repeats"])
    row["speedup"] = _ratio(row["torch_s"], row["jqmeta_s"])
    row["speedup_auto"] = _ratio(row["torch_s"], row["jqmeta_auto_s"])
    out[name] = row
    log(f"  meta step {name}: jqmeta {common.fmt_s(row['jqmeta_s'])}, "
        f"torch {common.fmt_s(row['torch_s'])}")
  return out


# -------------------------------------------------------------------- (c) one epoch


def bench_epoch(train_graphs, cfg, meta_steps, log) -> dict:
  gs = list(train_graphs)
  if len(gs) < cfg["epoch_graphs"]:
    gs = (gs * (cfg["epoch_graphs"] // max(len(gs), 1) + 1))
  gs = gs[: cfg["epoch_graphs"]]
  t0 = time.perf_counter()
  batch = common.stack_graphs(gs)
  stack_s = time.perf_counter() - t0
  out = {}
  for name in cfg["models"]:
    _, variables, epoch, opt_state = _model_and_state(name)
    t = common.time_jitted(epoch, (variables, opt_state, batch), repeats=cfg["epoch_repeats"],
                           warmup=cfg["epoch_warmup"])
    scale = EPOCH_GRAPHS / len(gs)
    row = {"graphs_timed": len(gs), "padded_qubits": batch.n_qubits,
           "jqmeta_s": t["median_s"] * scale, "jqmeta_compile_s": t["compile_s"],
           "jqmeta_per_graph_s": t["median_s"] / len(gs), "extrapolated": scale != 1,
           "stack_graphs_s": stack_s}
    torch_step = meta_steps.get(name, {}).get("torch_s")
    row["torch_s_estimated"] = None if torch_step is None else torch_step * EPOCH_GRAPHS
    row["torch_method"] = "torch_reference.time_meta_step median x 1008"
    row["speedup"] = _ratio(row["torch_s_estimated"], row["jqmeta_s"])
    out[name] = row
    log(f"  epoch {name}: jqmeta {common.fmt_s(row['jqmeta_s'])} "
        f"(compile {common.fmt_s(row['jqmeta_compile_s'])}), torch est. "
        f"{common.fmt_s(row['torch_s_estimated'])}")
  return out


# --------------------------------------------------------------------------- report


def _x(v):
  return "-" if v is None else f"{v:,.0f}x" if v >= 100 else f"{v:.1f}x"


def report(results: dict) -> str:
  lines = ["### QAOA energy + gradient, per graph", ""]
  rows = []
  for key, r in results["qaoa_energy_grad"].items():
    rows.append([key, r["batch"], common.fmt_s(r["jqmeta_s"]), common.fmt_s(r["jqmeta_auto_s"]),
                 common.fmt_s(r["torch_s"]), common.fmt_s(r["pennylane_jax_s"]),
                 _x(r["speedup"]), _x(r["speedup_vs_pennylane_jax"]),
                 common.fmt_s(r["jqmeta_compile_s"])])
  lines.append(common.markdown_table(
      ["case", "batch", "jqmeta (vmap)", "jqmeta auto", "torch+PL (paper)", "PL+jax jit",
       "speedup vs torch", "vs PL+jax", "jqmeta compile"], rows))
  lines += ["", "### Meta-training step (one graph, T = 10, RMSprop)", ""]
  rows = [[name, common.fmt_s(r["jqmeta_s"]), common.fmt_s(r.get("jqmeta_auto_s")),
           common.fmt_s(r["torch_s"]), _x(r["speedup"]), _x(r.get("speedup_auto")),
           common.fmt_s(r["jqmeta_compile_s"])]
          for name, r in results["meta_train_step"].items()]
  lines.append(common.markdown_table(["model", "jqmeta statevector", "jqmeta auto (reproduce)",
                                      "torch (paper)", "speedup", "speedup auto",
                                      "jqmeta compile"], rows))
  lines += ["", f"### One epoch ({EPOCH_GRAPHS} training graphs, one update per graph)", ""]
  rows = []
  for name, r in results["epoch"].items():
    rows.append([name, common.fmt_s(r["jqmeta_s"]) + (" (extrapolated)" if r["extrapolated"]
                                                      else ""),
                 common.fmt_s(r["torch_s_estimated"]), _x(r["speedup"]),
                 common.fmt_s(r["jqmeta_compile_s"])])
  lines.append(common.markdown_table(
      ["model", "training.make_epoch_fn", "torch (step x 1008)", "speedup",
       "jqmeta compile"], rows))
  m = results["machine"]
  lines += ["", f"Machine: {m['cpu']} ({m['cpu_affinity']} cores usable, load "
            f"{m['load_average']}), jax {m['jax']} {m['backend']}, torch threads "
            f"{m.get('torch_threads')}, OMP_NUM_THREADS={m['OMP_NUM_THREADS']}."]
  return "\n".join(lines)


def plot(results: dict, path: str) -> None:
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  labels, vs_torch, vs_pl = [], [], []
  for key, r in results["qaoa_energy_grad"].items():
    labels.append(f"E+grad {key}")
    vs_torch.append(r["speedup"] or np.nan)
    vs_pl.append(r["speedup_vs_pennylane_jax"] or np.nan)
  for name, r in results["meta_train_step"].items():
    labels.append(f"step {name}")
    vs_torch.append(r["speedup"] or np.nan)
    vs_pl.append(np.nan)
  for name, r in results["epoch"].items():
    labels.append(f"epoch {name}")
    vs_torch.append(r["speedup"] or np.nan)
    vs_pl.append(np.nan)
  x = np.arange(len(labels))
  fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels)), 4.5))
  ax.bar(x - 0.2, vs_torch, 0.4, label="vs PyTorch + PennyLane (paper's stack)")
  ax.bar(x + 0.2, vs_pl, 0.4, label="vs PennyLane + JAX (jit)")
  ax.axhline(1.0, color="k", lw=0.8)
  ax.set_yscale("log")
  ax.set_ylim(top=30 * np.nanmax(np.array(vs_torch + vs_pl + [1.0], dtype=float)))
  ax.set_xticks(x, labels, rotation=35, ha="right")
  ax.set_ylabel("speedup of jqmeta (x, log scale)")
  ax.set_title("jqmeta speedup, per graph (CPU, same run)")
  ax.legend(fontsize=8, loc="upper right")
  common.save_figure(fig, path)


def main(argv=None) -> int:
  ap = common.base_parser(__doc__.splitlines()[0])
  ap.add_argument("--md", metavar="OUT", help="write the markdown tables to OUT")
  ap.add_argument("--png", metavar="OUT", help="write a bar chart of the speedups to OUT")
  args = ap.parse_args(argv)
  mode = common.run_mode(args)
  cfg = SETTINGS[mode]
  t_start, log, load_before = common.start_clock()
  tr, tr_error = _load_torch_reference()
  if tr_error:
    log(f"torch reference unavailable ({tr_error}); reporting jqmeta only")
  splits, source = common.load_graph_splits()
  log(f"mode {mode}; graphs from {source}")
  results = {"settings": {"mode": mode, "graphs": source, **{k: v for k, v in cfg.items()}}}
  log("(a) QAOA energy + gradient")
  results["qaoa_energy_grad"] = bench_energy_grad(splits["test_data"], cfg, tr, log)
  log("(b) meta-training step")
  results["meta_train_step"] = bench_meta_step(splits["train_data"], cfg, tr, log)
  log("(c) one epoch")
  results["epoch"] = bench_epoch(splits["train_data"], cfg, results["meta_train_step"], log)
  common.finish(results, report, json_path=args.json, md_path=args.md,
                load_before=load_before, t_start=t_start, torch_reference_error=tr_error)
  if args.png:
    plot(results, args.png)
  return 0

if __name__ == "__main__":
  sys.exit(main())
