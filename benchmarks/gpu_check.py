"""One prepared accelerator check: a large-n QAOA energy, then the two benchmark suites.

Usage (on the GPU machine, from the repository root)::

  python -m benchmarks.gpu_check [--n 26] [--p 6] [--out DIR] [--suites]

1. ``energy``: ``jax.jit(qaoa.energy)`` (forward only) and
   ``jax.jit(jax.value_and_grad(qaoa.energy))`` on one seeded G(n, 0.5) graph at depth p,
   float32: lower, compile and median run time (warm-up first, ``block_until_ready``).
   The issue's target is ``n = 26, p = 6`` energy in at most 30 ms on an H200; the
   reference point is QOKit's published 331 ms on an A10G (the ratio is reported).
2. With ``--suites``: ``scaling.py --max-n N`` and ``compare_pytorch.py --quick`` as
   subprocesses, their JSON / markdown / PNG written under ``--out``.

Writes ``DIR/gpu_check.json``.  ``--smoke`` (tests): n = 10, p = 2, no suites, on any
backend.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from benchmarks import common  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jqmeta import graphs, qaoa  # noqa: E402

TARGET_S = 0.030  # n = 26, p = 6 energy on an H200 (the target)
QOKIT_A10G_S = 0.331  # QOKit's published n = 26, p = 6 time on an A10G


def bench_energy(n: int, p: int, repeats: int, log) -> dict:
  G = graphs.erdos_renyi(np.random.default_rng(n), n, 0.5)
  g = graphs.from_networkx(G)
  angles = jnp.asarray(np.random.default_rng(p).uniform(-1, 1, (2, p)), jnp.float32)
  out = {"n": n, "p": p, "edges": G.number_of_edges(),
         "estimate_bytes": qaoa.statevector_bytes(n, p)}
  for name, fn in (("energy", qaoa.energy), ("energy_and_grad", jax.value_and_grad(qaoa.energy))):
    t = common.time_jitted(jax.jit(fn), (angles, g), repeats=repeats, warmup=2)
    out[name] = t
    log(f"  n={n} p={p} {name}: {common.fmt_s(t['median_s'])} (compile "
        f"{common.fmt_s(t['compile_s'])})")
  out["energy_value"] = float(jax.jit(qaoa.energy)(angles, g))
  out["target_s"] = TARGET_S
  out["meets_target"] = bool(out["energy"]["median_s"] <= TARGET_S)
  out["speedup_vs_qokit_a10g"] = QOKIT_A10G_S / out["energy"]["median_s"]
  return out


def run_suites(max_n: int, out_dir: str, log) -> dict:
  runs = {
      "scaling": ["--max-n", str(max_n), "--json", f"{out_dir}/scaling.json",
                  "--png", f"{out_dir}/scaling.png"],
      "compare_pytorch": ["--quick", "--json", f"{out_dir}/compare.json",
                          "--md", f"{out_dir}/compare.md", "--png", f"{out_dir}/compare.png"],
  }
  status = {}
  for name, cmd in runs.items():
    log(f"benchmarks.{name}: {' '.join(cmd)}")
    t0 = time.perf_counter()
    with open(f"{out_dir}/{name}.log", "w") as fh:
      rc = subprocess.call([sys.executable, "-m", f"benchmarks.{name}", *cmd],
                           stdout=fh, stderr=subprocess.STDOUT, cwd=common.REPO_ROOT)
    status[name] = {"returncode": rc, "wall_s": time.perf_counter() - t0}
    log(f"  {name}: rc {rc}, {status[name]['wall_s']:.0f} s")
  return status


def report(results: dict) -> str:
  e = results["energy"]
  lines = [f"### QAOA n = {e['n']}, p = {e['p']} on {results['machine']['devices']}", "",
           common.markdown_table(
               ["what", "compile", "median"],
               [[k, common.fmt_s(e[k]["compile_s"]), common.fmt_s(e[k]["median_s"])]
                for k in ("energy", "energy_and_grad")]), "",
           f"Target: energy <= {TARGET_S * 1e3:.0f} ms -> "
           f"{'met' if e['meets_target'] else 'NOT met'}; "
           f"{e['speedup_vs_qokit_a10g']:.1f}x QOKit's published {QOKIT_A10G_S * 1e3:.0f} ms "
           "(A10G)."]
  for name, s in results.get("suites", {}).items():
    lines.append(f"{name}: rc {s['returncode']}, {s['wall_s']:.0f} s")
  return "\n".join(lines)


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--n", type=int, default=26)
  ap.add_argument("--p", type=int, default=6)
  ap.add_argument("--repeats", type=int, default=10)
  ap.add_argument("--out", default="gpu_check_out")
  ap.add_argument("--json", default=None, help="default: OUT/gpu_check.json")
  ap.add_argument("--suites", action="store_true",
                  help="also run scaling.py --max-n N and compare_pytorch.py --quick")
  ap.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
  args = ap.parse_args(argv)
  if args.smoke:
    args.n, args.p, args.repeats, args.suites = 10, 2, 2, False
  os.makedirs(args.out, exist_ok=True)
  t_start, log, load_before = common.start_clock()
  log(f"devices: {jax.devices()}")
  results = {"energy": bench_energy(args.n, args.p, args.repeats, log)}
  if args.suites:
    results["suites"] = run_suites(args.n, args.out, log)
  return common.finish(results, report, json_path=args.json or f"{args.out}/gpu_check.json",
                       load_before=load_before, t_start=t_start)


if __name__ == "__main__":
  sys.exit(main())
