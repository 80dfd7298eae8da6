"""Throughput (graphs/s) of the jitted, vmapped energy + gradient vs batch size.

Usage::

  python -m benchmarks.batch_sweep [--quick] [--json OUT] [--devices 1|all|K]

For n = 10 (64 distinct seeded G(10, 0.5) graphs, tiled to the batch size) and
p = 1, 3, times ``jax.jit(jax.vmap(jax.value_and_grad(qaoa.energy)))`` at batch sizes
1, 4, 16, ..., 4096 (compile separately, median of repeats) and reports graphs/s, the
speedup over batch 1 measured in the same run, and where throughput saturates (the
smallest batch within 10% of the best).  ``--devices all`` (or ``K``) also runs the
same computation split over a ``jqmeta.parallel`` mesh (``parallel.sharded_map``,
inputs pre-sharded) and reports it next to the single-device numbers.
``--quick``: batches up to 1024, fewer repeats.
"""

from __future__ import annotations

import sys
import time

from benchmarks import common  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jqmeta import parallel, qaoa  # noqa: E402

N_QUBITS = 10
UNIQUE_GRAPHS = 64
SATURATION = 0.9

SETTINGS = {
    "full": dict(batches=(1, 4, 16, 64, 256, 1024, 4096), ps=(1, 3), repeats=10),
    "quick": dict(batches=(1, 4, 16, 64, 256, 1024), ps=(1, 3), repeats=5),
    "smoke": dict(batches=(1, 8), ps=(1,), repeats=2),
}


def _batch(base, B: int, p: int):
  index = jnp.arange(B) % UNIQUE_GRAPHS
  graphs_b = jax.tree.map(lambda x: jnp.take(x, index, axis=0), base)
  angles = jnp.asarray(np.random.default_rng(B + 7 * p).uniform(-1, 1, (B, 2, p)), jnp.float32)
  return angles, graphs_b


def _time_sharded(mesh, angles, graphs_b, repeats: int) -> dict:
  run = parallel.sharded_map(jax.value_and_grad(qaoa.energy), mesh)
  (angles, graphs_b), _ = parallel.pad_batch((angles, graphs_b), mesh.size)
  angles, graphs_b = parallel.shard_batch((angles, graphs_b), mesh)
  t0 = time.perf_counter()
  jax.block_until_ready(run(angles, graphs_b))
  first = time.perf_counter() - t0
  t = common.time_call(lambda _: run(angles, graphs_b), repeats=repeats, warmup=1)
  return {"median_s": t["median_s"], "compile_s": max(first - t["median_s"], 0.0),
          "padded_batch": int(angles.shape[0])}


def saturation(rows: list, key: str = "graphs_per_s"):
  """Smallest batch whose throughput is within 10% of the best (None if no rows)."""
  if not rows:
    return None
  best = max(r[key] for r in rows)
  for r in sorted(rows, key=lambda r: r["batch"]):
    if r[key] >= SATURATION * best:
      return {"batch": r["batch"], "graphs_per_s": r[key], "best_graphs_per_s": best}
  return None


def sweep(base, cfg, mesh, log) -> dict:
  out = {}
  for p in cfg["ps"]:
    rows = []
    for B in cfg["batches"]:
      angles, graphs_b = _batch(base, B, p)
      f = jax.jit(jax.vmap(jax.value_and_grad(qaoa.energy)))
      reps = cfg["repeats"] if B <= 1024 else max(3, cfg["repeats"] // 3)
      t = common.time_jitted(f, (angles, graphs_b), repeats=reps)
      row = {"batch": B, "median_s": t["median_s"], "compile_s": t["compile_s"],
             "graphs_per_s": B / t["median_s"]}
      if mesh is not None:
        ts = _time_sharded(mesh, angles, graphs_b, reps)
        row.update(sharded_median_s=ts["median_s"], sharded_compile_s=ts["compile_s"],
                   sharded_padded_batch=ts["padded_batch"],
                   sharded_graphs_per_s=B / ts["median_s"])
        row["sharded_over_single"] = row["sharded_graphs_per_s"] / row["graphs_per_s"]
      rows.append(row)
      msg = f"  p={p} B={B}: {row['graphs_per_s']:,.0f} graphs/s"
      if mesh is not None:
        msg += f", sharded over {mesh.size}: {row['sharded_graphs_per_s']:,.0f} graphs/s"
      log(msg)
    base_rate = rows[0]["graphs_per_s"]
    for r in rows:
      r["speedup_vs_batch1"] = r["graphs_per_s"] / base_rate
    entry = {"rows": rows, "saturation": saturation(rows)}
    if mesh is not None:
      entry["sharded_saturation"] = saturation(rows, "sharded_graphs_per_s")
    out[f"p{p}"] = entry
  return out


def report(results: dict) -> str:
  lines = []
  sharded = results["settings"]["devices"] is not None
  for key, entry in results["throughput"].items():
    lines += [f"### n = {N_QUBITS}, {key.replace('p', 'p = ')}: energy + gradient throughput",
              ""]
    headers = ["batch", "time / call", "graphs/s", "vs batch 1"]
    if sharded:
      headers += [f"sharded graphs/s ({results['settings']['mesh_size']} dev)", "sharded/single"]
    rows = []
    for r in entry["rows"]:
      row = [r["batch"], common.fmt_s(r["median_s"]), f"{r['graphs_per_s']:,.0f}",
             f"{r['speedup_vs_batch1']:.1f}x"]
      if sharded:
        row += [f"{r['sharded_graphs_per_s']:,.0f}", f"{r['sharded_over_single']:.2f}x"]
      rows.append(row)
    lines.append(common.markdown_table(headers, rows))
    s = entry["saturation"]
    lines.append(f"\nSaturates (within {1 - SATURATION:.0%} of the best, "
                 f"{s['best_graphs_per_s']:,.0f} graphs/s) at batch {s['batch']}.\n")
  return "\n".join(lines)


def main(argv=None) -> int:
  ap = common.base_parser(__doc__.splitlines()[0])
  ap.add_argument("--devices", default="1",
                  help="'1' (default): single device only; 'all' or K: also shard over a "
                       "jqmeta.parallel mesh of that many devices")
  args = ap.parse_args(argv)
  mode = common.run_mode(args)
  cfg = SETTINGS[mode]
  t_start, log, load_before = common.start_clock()
  mesh = None
  if args.devices != "1":
    mesh = parallel.make_mesh("all" if args.devices == "all" else int(args.devices))
  base = common.stack_graphs(common.random_graphs(N_QUBITS, UNIQUE_GRAPHS, seed=10))
  log(f"mode {mode}: n = {N_QUBITS}, batches {cfg['batches']}, p {cfg['ps']}, "
      f"devices {args.devices} ({len(jax.devices())} visible)")
  results = {"settings": {"mode": mode, "n": N_QUBITS, "unique_graphs": UNIQUE_GRAPHS,
                          "devices": None if mesh is None else args.devices,
                          "mesh_size": None if mesh is None else int(mesh.size), **cfg}}
  results["throughput"] = sweep(base, cfg, mesh, log)
  return common.finish(results, report, json_path=args.json, load_before=load_before,
                       t_start=t_start)

if __name__ == "__main__":
  sys.exit(main())
