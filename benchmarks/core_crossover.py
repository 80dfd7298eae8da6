"""Where the kron core overtakes the Walsh-Hadamard core: the basis of ``WHT_MAX_QUBITS``.

Usage::

  python -m benchmarks.core_crossover [--quick] [--sizes 12,14,16,18] [--ps 1,3]
      [--dtypes float32,float64] [--json OUT]

For each (n, p, dtype), one seeded weighted G(n, 0.5) graph runs ``jit`` energy and
energy + gradient through each exact core, forced (``statevector.energy(core=...)``),
all four programs interleaved within each repeat (``common.interleaved_timings``).
``kron / wht`` < 1 means the kron core is faster.  The library takes the Walsh-Hadamard
core up to ``wht_core.WHT_MAX_QUBITS`` and the kron core above it.  Run it pinned
(``taskset -c 0`` with one XLA thread) for like-for-like numbers.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks import common

SETTINGS = {"full": dict(sizes=tuple(range(12, 19)), ps=(1, 3), repeats=7, budget_s=10.0),
            "quick": dict(sizes=(12, 16), ps=(3,), repeats=5, budget_s=3.0),
            "smoke": dict(sizes=(6,), ps=(1,), repeats=2, budget_s=0.3)}


def crossover(n: int, p: int, dtype: str, st: dict) -> dict:
  """Medians of both cores' energy and energy + gradient, and the kron / wht ratios."""
  import jax  # pylint: disable=import-outside-toplevel
  from jqmeta import graphs  # pylint: disable=import-outside-toplevel
  from jqmeta._src import statevector  # pylint: disable=import-outside-toplevel
  g = graphs.from_networkx(common.weighted_graphs(n, 1, seed=1000 * n + p)[0])
  a = jax.numpy.asarray(np.random.default_rng(0).uniform(-1, 1, (2, p)), dtype)
  fns = {}
  for core in statevector.CORES:
    def e(a, g, core=core):
      return statevector.energy(a, g, core=core)
    for q, f in (("energy", e), ("energy_grad", jax.value_and_grad(e))):
      c = jax.jit(f).lower(a, g).compile()
      fns[(core, q)] = (lambda c=c: lambda: jax.block_until_ready(c(a, g)))()
  stats = common.interleaved_timings(fns, repeats=st["repeats"], budget_s=st["budget_s"])
  med = {f"{core}_{q}": s["median_s"] for (core, q), s in stats.items()}
  return {"n": n, "p": p, "dtype": dtype, "median_s": med,
          "kron_over_wht": {q: med[f"kron_{q}"] / med[f"wht_{q}"]
                            for q in ("energy", "energy_grad")}}


def report(res: dict) -> str:
  """Markdown: one row per case, both cores' medians and the ratios."""
  rows = [[c["n"], c["p"], c["dtype"],
           *(common.fmt_s(c["median_s"][k]) for k in ("wht_energy", "kron_energy",
                                                     "wht_energy_grad", "kron_energy_grad")),
           f"{c['kron_over_wht']['energy']:.2f}", f"{c['kron_over_wht']['energy_grad']:.2f}"]
          for c in res["cases"]]
  return common.markdown_table(["n", "p", "dtype", "wht energy", "kron energy", "wht E+G",
                                "kron E+G", "kron / wht energy", "kron / wht E+G"], rows)


def main(argv=None) -> int:
  """CLI entry point (see the module docstring)."""
  ap = common.base_parser(__doc__.splitlines()[0])
  ap.add_argument("--sizes", type=common.int_list, help="comma-separated n (default: the mode's)")
  ap.add_argument("--ps", type=common.int_list, help="comma-separated p (default: the mode's)")
  ap.add_argument("--dtypes", type=common.dtype_list, default=("float32", "float64"))
  args = ap.parse_args(sys.argv[1:] if argv is None else argv)
  import jax  # pylint: disable=import-outside-toplevel
  jax.config.update("jax_enable_x64", True)
  st = dict(SETTINGS[common.run_mode(args)])
  st.update({k: getattr(args, k) for k in ("sizes", "ps") if getattr(args, k)})
  t_start, log, load = common.start_clock()
  cases = []
  for n in st["sizes"]:
    for p in st["ps"]:
      for dt in args.dtypes:
        cases.append(crossover(n, p, dt, st))
        log(f"n={n} p={p} {dt}: kron / wht {cases[-1]['kron_over_wht']}")
  return common.finish({"cases": cases}, report, json_path=args.json, load_before=load,
                       t_start=t_start)


if __name__ == "__main__":
  sys.exit(main())
