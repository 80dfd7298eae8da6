"""Where a small jqmeta call's time goes: XLA:CPU's per-call floor against the layers.

Usage::

  python -m benchmarks.call_floor [--quick] [--n 10] [--json OUT]

At small n one energy is a few microseconds of arithmetic, so its time is the fixed cost
of running a compiled XLA:CPU program.  This times, interleaved in one process, on the
prepared problem (``qaoa.prepare``) of one seeded weighted G(n, 0.5) graph, float32 and
float64:

* ``empty``: a jitted program taking the same arguments and returning ``angles.sum()``
  (dispatch, argument handling, one tiny kernel);
* ``one_gemm`` / ``eight_gemms``: the empty program plus one / eight chained
  ``(2**(n-1) / 16, 16) @ (16, 16)`` products, the GEMM shape of the Walsh-Hadamard core
  (XLA:CPU runs each as a library call);
* ``energy_p{1,3,6}``: ``jax.jit(qaoa.energy)``; the slope over p is the per-layer cost,
  the intercept (p = 0 extrapolated) the per-call part;
* ``qokit_p{1,3,6}`` when QOKit's C simulator is built (see ``compare_simulators``).

Run it pinned (``taskset -c 0``, ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1``) to match ``compare_simulators``' like-for-like mode.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks import common

SETTINGS = {"full": dict(repeats=15, budget_s=20.0), "quick": dict(repeats=7, budget_s=5.0),
            "smoke": dict(repeats=2, budget_s=0.5)}
PS = (1, 3, 6)


def _programs(n: int, dtype: str) -> dict:
  """``{name: blocking callable}`` of the jqmeta cases at ``n`` in ``dtype``."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from jqmeta import graphs, qaoa  # pylint: disable=import-outside-toplevel
  G = common.weighted_graphs(n, 1, seed=1000 * n)[0]
  prob = jax.jit(lambda g: qaoa.prepare(g, dtype=dtype))(graphs.from_networkx(G))
  rows = max(2**(n - 1) // 16, 1)
  H = jnp.ones((16, 16), dtype)

  def gemms(k):
    def f(a, prob):
      x = jnp.full((rows, 16), a[0, 0])
      for _ in range(k):
        x = (x @ H) * 0.25
      return x[0, 0]
    return f

  cases = {"empty": lambda a, prob: a.sum(), "one_gemm": gemms(1), "eight_gemms": gemms(8)}
  cases.update({f"energy_p{p}": qaoa.energy for p in PS})
  out = {}
  for name, f in cases.items():
    p = int(name.rsplit("p", 1)[1]) if name.startswith("energy") else 1
    a = jnp.asarray(np.random.default_rng(p).uniform(-1, 1, (2, p)), dtype)
    c = jax.jit(f).lower(a, prob).compile()
    out[name] = (lambda c=c, a=a: lambda: jax.block_until_ready(c(a, prob)))()
  return out, G


def _qokit(G) -> dict:
  """QOKit's prebuilt energies at each p, if its C simulator is built (else ``{}``)."""
  from benchmarks import compare_simulators as cs  # pylint: disable=import-outside-toplevel
  info = cs.load_peers(("qokit",), pinned=True)["qokit"]
  if not info["available"] or info.get("backend") != "c":
    return {}
  fns = {}
  for p in PS:
    f = cs.qokit_objective(G, p, "float64", "c")
    a = np.random.default_rng(p).uniform(-1, 1, (2, p))
    fns[f"qokit_p{p}"] = (lambda f=f, a=a: lambda: f(a))()
  return fns


def floor(n: int, dtype: str, st: dict) -> dict:
  """Medians per case, the per-layer slope and p = 0 intercept of the energy (least
  squares over ``PS``), and the share of ``energy_p1`` that ``empty`` / ``one_gemm`` are."""
  fns, G = _programs(n, dtype)
  fns.update(_qokit(G))
  stats = common.interleaved_timings(fns, repeats=st["repeats"], budget_s=st["budget_s"])
  med = {k: s["median_s"] for k, s in stats.items()}
  slope, icept = np.polyfit(PS, [med[f"energy_p{p}"] for p in PS], 1)
  return {"n": n, "dtype": dtype, "stats": stats, "median_s": med,
          "energy_per_layer_s": float(slope), "energy_intercept_s": float(icept),
          "empty_share_p1": med["empty"] / med["energy_p1"],
          "one_gemm_share_p1": med["one_gemm"] / med["energy_p1"]}


def report(res: dict) -> str:
  """One markdown table: every case's median per (n, dtype), then slope and intercept."""
  rows = []
  for c in res["cases"]:
    rows += [[c["n"], c["dtype"], k, common.fmt_stats(s, c["dtype"])]
             for k, s in c["stats"].items()]
    rows.append([c["n"], c["dtype"], "energy per layer / at p = 0",
                 f"{common.fmt_s(c['energy_per_layer_s'])} / "
                 f"{common.fmt_s(c['energy_intercept_s'])}"])
  return common.markdown_table(["n", "dtype", "case", "median [IQR] per call"], rows)


def main(argv=None) -> int:
  """CLI entry point (see the module docstring)."""
  ap = common.base_parser(__doc__.splitlines()[0])
  ap.add_argument("--n", type=int, choices=range(4, 25), default=10, metavar="N",
                  help="qubits, 4-24 (default 10)")
  args = ap.parse_args(sys.argv[1:] if argv is None else argv)
  import jax  # pylint: disable=import-outside-toplevel
  jax.config.update("jax_enable_x64", True)
  st = SETTINGS[common.run_mode(args)]
  t_start, _, load = common.start_clock()
  return common.finish({"cases": [floor(args.n, dt, st) for dt in ("float32", "float64")]},
                       report, json_path=args.json, load_before=load, t_start=t_start)


if __name__ == "__main__":
  sys.exit(main())
