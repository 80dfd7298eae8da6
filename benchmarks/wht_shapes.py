"""Block shapes of the Walsh-Hadamard core: the sweep behind ``wht_core.wht_shape``'s rule.

Usage::

  python -m benchmarks.wht_shapes [--quick] [--sizes 12,16] [--p 3] [--json OUT]

For each n, every split of the ``n - 1`` qubits of the symmetric half into blocks of
``--min-block`` .. 6 qubits (at most 5 blocks, largest first) is forced into
``wht_core.SHAPES`` in turn and timed on one seeded weighted G(n, 0.5) graph: ``jit``
energy, energy + gradient and (n <= 12) ``vmap`` energy over 64 graphs, in float32 and
float64, the candidates interleaved within each repeat (``common.interleaved_timings``).
The report ranks the candidates by the geometric mean of their times over the library's
current shape (< 1: faster).  Run it pinned (``taskset -c 0`` with one XLA thread) for
the like-for-like numbers the rule was chosen from.  Default sizes: n = 10 ..
``wht_core.WHT_MAX_QUBITS`` (above it the kron core runs); ``--quick``: n = 10 and 12.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from benchmarks import common

SETTINGS = {"full": dict(sizes=tuple(range(10, 15)), repeats=7, budget_s=20.0),
            "quick": dict(sizes=(10, 12), repeats=5, budget_s=5.0),
            "smoke": dict(sizes=(7,), repeats=2, budget_s=0.5)}
BATCH_MAX_N, BATCH = 12, 64


def candidates(n_rest: int, min_block: int = 3, max_blocks: int = 5) -> list:
  """Splits of ``n_rest`` qubits into blocks of ``min_block`` .. 6 qubits, largest first,
  as state shapes (``2**k`` per block).

  Example:
    >>> candidates(7)
    [(16, 8)]
  """
  def parts(m, top):
    if m == 0:
      yield ()
    for k in range(min(m, top), min_block - 1, -1):
      for rest in parts(m - k, k):
        yield (k,) + rest
  return [tuple(2**k for k in c) for c in parts(n_rest, 6) if len(c) <= max_blocks]


def _programs(n: int, p: int, dtype: str, shape: tuple) -> dict:
  """Compiled calls of the cases at ``shape`` (``wht_core.SHAPES`` set while tracing)."""
  import jax  # pylint: disable=import-outside-toplevel
  from jqmeta import graphs, qaoa  # pylint: disable=import-outside-toplevel
  from jqmeta._src import wht_core  # pylint: disable=import-outside-toplevel
  nx_graphs = common.weighted_graphs(n, BATCH, seed=5)
  g = graphs.from_networkx(nx_graphs[0])
  rng = np.random.default_rng(0)
  a = jax.numpy.asarray(rng.uniform(-1, 1, (2, p)), dtype)
  A = jax.numpy.asarray(rng.uniform(-1, 1, (BATCH, 2, p)), dtype)
  stacked = graphs.stack([graphs.from_networkx(G) for G in nx_graphs])
  saved = wht_core.SHAPES.get(n - 1)
  wht_core.SHAPES[n - 1] = shape
  try:
    e = jax.jit(qaoa.energy).lower(a, g).compile()
    eg = jax.jit(jax.value_and_grad(qaoa.energy)).lower(a, g).compile()
    out = {"energy": lambda: jax.block_until_ready(e(a, g)),
           "energy_grad": lambda: jax.block_until_ready(eg(a, g))}
    if n <= BATCH_MAX_N:
      b = jax.jit(jax.vmap(qaoa.energy)).lower(A, stacked).compile()
      out["batch"] = lambda: jax.block_until_ready(b(A, stacked))
  finally:
    if saved is None:
      del wht_core.SHAPES[n - 1]
    else:
      wht_core.SHAPES[n - 1] = saved
  return out


def sweep(n: int, p: int, dtype: str, st: dict, min_block: int) -> dict:
  """Every candidate's median per quantity, and its geometric-mean ratio to the current."""
  from jqmeta._src import wht_core  # pylint: disable=import-outside-toplevel
  current = wht_core.wht_shape(n - 1)
  shapes = sorted(set(candidates(n - 1, min_block)) | {current}, reverse=True)
  progs = {s: _programs(n, p, dtype, s) for s in shapes}
  fns = {(s, q): f for s, qs in progs.items() for q, f in qs.items()}
  stats = common.interleaved_timings(fns, repeats=st["repeats"], budget_s=st["budget_s"])
  rows = []
  for s in shapes:
    t = {q: stats[(s, q)]["median_s"] for q in progs[s]}
    ratio = math.exp(np.mean([math.log(t[q] / stats[(current, q)]["median_s"]) for q in t]))
    rows.append({"shape": list(s), "current": s == current, "median_s": t, "vs_current": ratio})
  return {"n": n, "p": p, "dtype": dtype, "rows": sorted(rows, key=lambda r: r["vs_current"])}


def report(res: dict) -> str:
  """One markdown table per (n, dtype), best candidate first."""
  lines = []
  for c in res["sweeps"]:
    rows = [[str(tuple(r["shape"])) + (" (current)" if r["current"] else ""),
             *(common.fmt_s(r["median_s"].get(q)) for q in ("energy", "energy_grad", "batch")),
             f"{r['vs_current']:.3f}"] for r in c["rows"]]
    lines += [f"n = {c['n']}, p = {c['p']}, {c['dtype']}", "",
              common.markdown_table(["shape", "energy", "energy + grad", f"batch of {BATCH} "
                                     "(per call)", "geo-mean vs current"], rows), ""]
  return "\n".join(lines)


def main(argv=None) -> int:
  """CLI entry point (see the module docstring)."""
  ap = common.base_parser(__doc__.splitlines()[0])
  ap.add_argument("--sizes", type=common.int_list, help="comma-separated n (default: the mode's)")
  ap.add_argument("--p", type=int, choices=range(1, 65), default=3, metavar="P",
                  help="QAOA depth, 1-64 (default 3)")
  ap.add_argument("--min-block", type=int, choices=range(1, 7), default=3,
                  help="smallest block in qubits (1-6)")
  ap.add_argument("--dtypes", type=common.dtype_list, default=("float32", "float64"))
  args = ap.parse_args(sys.argv[1:] if argv is None else argv)
  import jax  # pylint: disable=import-outside-toplevel
  jax.config.update("jax_enable_x64", True)
  st = dict(SETTINGS[common.run_mode(args)])
  sizes = args.sizes or st["sizes"]
  t_start, log, load = common.start_clock()
  sweeps = []
  for n in sizes:
    for dt in args.dtypes:
      sweeps.append(sweep(n, args.p, dt, st, args.min_block))
      best = sweeps[-1]["rows"][0]
      log(f"n={n} {dt}: best {tuple(best['shape'])} at {best['vs_current']:.3f} of current")
  return common.finish({"sweeps": sweeps}, report, json_path=args.json, load_before=load,
                       t_start=t_start)


if __name__ == "__main__":
  sys.exit(main())
