"""jqmeta against the fastest QAOA simulators: QOKit (C), PennyLane lightning, Qiskit Aer.

Usage::

  python -m benchmarks.compare_simulators [--quick] [--out DIR] [--json OUT]
      [--mode both|pinned|default] [--peers qokit,lightning,aer] [--sizes 10,12] [--ps 1,3]
  python -m benchmarks.compare_simulators --build-qokit   # once, after pip install qokit

Quantities (seeded G(n, 0.5) graphs, weights uniform in [0.1, 1); systems interleaved):

* ``energy``: ``jax.jit(qaoa.energy)`` on the ``Graph`` (``jqmeta``: tables rebuilt per
  call) and on ``qaoa.prepare(graph)`` (``jqmeta_prepared``); peers: prebuilt objectives.
* ``energy_grad``: jqmeta ``jax.value_and_grad``; lightning ``diff_method="adjoint"``;
  QOKit and Aer have no gradient: theirs costs FORWARD differences (``2p + 1`` energies).
* ``batch``: graphs/s over 64 graphs (own angles each) at n = 12, p = 3:
  ``jax.jit(jax.vmap(qaoa.energy))`` against a loop over prebuilt peer objectives
  (``jqmeta_loop``: a loop over one compiled call; ``--quick`` loops over 8 of them).

Each float32 / float64 row runs every peer in its own matching precision (lightning
``c_dtype``, Aer ``precision``); QOKit's C simulator is float64 only (``prec`` says which).
``speedup`` = best peer time / jqmeta time (> 1: jqmeta faster).  Per call: median, IQR
and ``cpu_per_wall`` (process CPU seconds per wall second: the cores used).

Angle conventions, checked before any timing (float64 energies equal to jqmeta's within
1e-10 relative on three random weighted graphs, else the peer is dropped with a message).
jqmeta: phase ``exp(+i gamma cut(z))``, mixer ``exp(-i beta sum X)``, energy ``-E[cut]``.

* QOKit ``get_qaoa_maxcut_objective(..., parameterization="gamma beta")``: diagonal
  ``+cut`` (terms ``-w/2 s_u s_v`` plus ``W/2``), phase ``exp(-i gamma_q/2 diag)``,
  mixer ``exp(-i beta_q sum X)``: ``gamma_q = -2 gamma``, ``beta_q = beta``; ``-E[cut]``.
* lightning / Aer: ``IsingZZ`` / ``rzz(gamma w)`` per edge (``exp(-i gamma H_C)`` up to
  a global phase), ``RX(2 beta)``; energy ``<sum w/2 ZZ> - sum w / 2``.

Modes: ``pinned`` (like for like) re-runs this script under ``taskset -c 0`` with
``OMP/NUMBA/MKL/OPENBLAS_NUM_THREADS=1``, ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1``, Aer ``max_parallel_threads=1``; ``default``: default
threads, in this process; ``both`` (default): one then the other.

QOKit 0.1.4: ``pip install qokit`` pins numpy 2.1.3, networkx 3.0 and numba 0.62 (which
refuses numpy 2.4; restored here by ``pip install numpy==2.4.6 networkx==3.6.1`` and
``pip install -U numba``).  Stock, it runs its pure-NumPy simulator: the wheel puts its
compiled library (no OpenMP) at ``site-packages/simulator.cpython-311-x86_64-linux-gnu.so``
but loads ``qokit/fur/c/csim/libcsim.so``, and ships the C sources without headers.
``--build-qokit`` writes ``fur.h``, ``diagonal.h``, ``qaoa_fur.h`` (``<stddef.h>`` and the
sources' prototypes) to a temporary folder and runs, in ``qokit/fur/c/csim``::

  gcc -O3 -march=native -fopenmp -fPIC -shared -I<headers> src/diagonal.c src/fur.c \\
      src/qaoa_fur.c -o libcsim.so -lm

(recorded in ``libcsim.build.txt``).  ``peers.qokit`` in the JSON says which backend ran:
``c`` (library and build line) or ``python`` (the fallback, labelled ``qokit-python``
everywhere).  QOKit's CPU simulators use no numba.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import common

PEERS = ("qokit", "lightning", "aer")
DTYPES = ("float32", "float64")
BATCH = dict(n=12, p=3, graphs=64, loop=64)
VERIFY_RTOL = 1e-10
SETTINGS = {
    "full": dict(sizes=(10, 12, 14, 16, 18, 20, 22, 24), ps=(1, 3, 6), dtypes=DTYPES,
                 repeats=7, cell_budget_s=10.0, max_call_s=5.0, batch=BATCH),
    "quick": dict(sizes=(10, 14), ps=(1, 3), dtypes=DTYPES, repeats=5, cell_budget_s=1.0,
                  max_call_s=5.0, batch=dict(BATCH, loop=8)),
    "smoke": dict(sizes=(10,), ps=(1,), dtypes=("float64",), repeats=2, cell_budget_s=0.5,
                  max_call_s=2.0, batch=dict(n=8, p=1, graphs=4, loop=4)),
}




def random_angles(p: int, seed: int) -> np.ndarray:
  """``(2, p)`` float64 angles in [-1, 1) (gammas, betas)."""
  return np.random.default_rng(seed).uniform(-1.0, 1.0, (2, p))


def _qokit_backend() -> dict:
  import qokit.fur as fur  # pylint: disable=import-outside-toplevel
  if not fur.c_available():
    return {"backend": "python", "label": "qokit-python",
            "note": "pure-NumPy fallback: C library not built (run --build-qokit)"}
  from qokit.fur.c.csim import lib  # pylint: disable=import-outside-toplevel
  build = Path(lib.libpath).with_name("libcsim.build.txt")
  return {"backend": "c", "label": "qokit", "library": str(lib.libpath),
          "build": build.read_text().strip() if build.is_file() else "unknown build"}


def qokit_objective(G, p: int, precision: str, backend: str):
  """QOKit's prebuilt energy ``f(angles (2, p) float64) -> float``: float64 whatever
  ``precision`` (its CPU simulators have no other), ``p`` from the angles."""
  import qokit.qaoa_objective_maxcut as qm  # pylint: disable=import-outside-toplevel
  obj = qm.get_qaoa_maxcut_objective(G.number_of_nodes(), None, G=G,
                                     parameterization="gamma beta", simulator=backend)
  return lambda a: float(obj(-2.0 * a[0], a[1]))


def _zz_terms(G):
  e = [(int(u), int(v), float(d["weight"])) for u, v, d in G.edges(data=True)]
  return e, -0.5 * sum(w for _, _, w in e)


def lightning_objective(G, p: int, precision: str, grad: bool = False):
  """lightning.qubit energy (or ``(energy, grad (2, p))`` with adjoint differentiation)."""
  import pennylane as qml  # pylint: disable=import-outside-toplevel
  from pennylane import numpy as pnp  # pylint: disable=import-outside-toplevel
  n = G.number_of_nodes()
  edges, const = _zz_terms(G)
  dev = qml.device("lightning.qubit", wires=n,
                   c_dtype=np.complex64 if precision == "float32" else np.complex128)
  H = qml.Hamiltonian([w / 2 for _, _, w in edges], [qml.Z(u) @ qml.Z(v) for u, v, _ in edges])
  @qml.qnode(dev, diff_method="adjoint")
  def circuit(x):
    for q in range(n):
      qml.Hadamard(q)
    for layer in range(p):
      for u, v, w in edges:
        qml.IsingZZ(x[0, layer] * w, wires=[u, v])
      for q in range(n):
        qml.RX(2 * x[1, layer], wires=q)
    return qml.expval(H)

  if not grad:
    return lambda a: float(circuit(pnp.array(a, requires_grad=False))) + const
  dcircuit = qml.grad(circuit)

  def value_and_grad(a):
    g = dcircuit(pnp.array(a, requires_grad=True))
    return float(dcircuit.forward) + const, np.asarray(g)
  return value_and_grad


def aer_objective(G, p: int, precision: str, threads: int = 0):
  """Qiskit Aer statevector energy: one transpiled parametric circuit, bound per call."""
  from qiskit import QuantumCircuit, transpile  # pylint: disable=import-outside-toplevel
  from qiskit.circuit import ParameterVector  # pylint: disable=import-outside-toplevel
  from qiskit.quantum_info import SparsePauliOp  # pylint: disable=import-outside-toplevel
  from qiskit_aer import AerSimulator  # pylint: disable=import-outside-toplevel
  n = G.number_of_nodes()
  edges, const = _zz_terms(G)
  gs, bs = ParameterVector("g", p), ParameterVector("b", p)
  qc = QuantumCircuit(n)
  qc.h(range(n))
  for layer in range(p):
    for u, v, w in edges:
      qc.rzz(gs[layer] * w, u, v)
    qc.rx(2 * bs[layer], range(n))
  op = SparsePauliOp.from_sparse_list([("ZZ", [u, v], w / 2) for u, v, w in edges], n)
  qc.save_expectation_value(op, range(n))
  sim = AerSimulator(method="statevector", precision="single" if precision == "float32"
                     else "double", max_parallel_threads=threads)
  tqc = transpile(qc, sim)

  def f(a):
    binds = {**{gs[i]: [a[0, i]] for i in range(p)}, **{bs[i]: [a[1, i]] for i in range(p)}}
    res = sim.run(tqc, parameter_binds=[binds]).result()
    return float(np.real(res.data(0)["expectation_value"])) + const
  return f


def load_peers(names, pinned: bool) -> dict:
  """``{name: info}``: importable and set up, or ``{"available": False, "reason"}``."""
  out = {}
  for name in names:
    module = {"qokit": "qokit", "lightning": "pennylane_lightning", "aer": "qiskit_aer"}[name]
    if importlib.util.find_spec(module) is None:
      out[name] = {"available": False, "reason": f"{module} not installed"}
      continue
    try:
      info = {"available": True, "label": name}
      if name == "qokit":
        info.update(_qokit_backend())
      info["threads"] = 1 if pinned else 0
      out[name] = info
    except Exception as e:  # pylint: disable=broad-except  # broken install: report, go on
      out[name] = {"available": False, "reason": f"{type(e).__name__}: {e}"}
  return out


def peer_energy(name: str, info: dict, G, p: int, precision: str, grad: bool = False):
  """The peer's prebuilt callable for ``G`` (angles in jqmeta's convention) and its kind:
  the energy (``"energy"``), or energy and gradient: lightning's ``"adjoint"``, else
  ``"fd"`` (forward differences of the energy)."""
  if name == "lightning":
    return lightning_objective(G, p, precision, grad), "adjoint" if grad else "energy"
  f = (qokit_objective(G, p, precision, info["backend"]) if name == "qokit"
       else aer_objective(G, p, precision, info["threads"]))
  return (common.forward_fd(f), "fd") if grad else (f, "energy")


def _jq():
  import jax  # pylint: disable=import-outside-toplevel
  from jqmeta import graphs, qaoa  # pylint: disable=import-outside-toplevel
  return jax, graphs, qaoa


def _prepare(dtype: str):
  """``qaoa.prepare`` for ``dtype``, jitted (one compile instead of op-by-op dispatch)."""
  jax, _, qaoa = _jq()
  return jax.jit(lambda g: qaoa.prepare(g, dtype=dtype))


def jqmeta_callables(G, p: int, dtype: str, grad: bool) -> tuple[dict, dict, float]:
  """``(fns, compile_s, value)``: compiled jqmeta calls ``{name: angles (2, p) -> blocked
  result}``, and the energy at the cell's angles (every peer is checked against it)."""
  jax, graphs, qaoa = _jq()
  g = graphs.from_networkx(G)
  fn = jax.value_and_grad(qaoa.energy) if grad else qaoa.energy
  problems = {"jqmeta": g}
  if hasattr(qaoa, "prepare"):
    problems["jqmeta_prepared"] = _prepare(dtype)(g)
  a = jax.numpy.asarray(random_angles(p, 0), dtype=dtype)
  fns, compile_s = {}, {}
  for name, prob in problems.items():
    t0 = time.perf_counter()
    c = jax.jit(fn).lower(a, prob).compile()
    compile_s[name] = time.perf_counter() - t0
    fns[name] = (lambda c=c, prob=prob: lambda x: jax.block_until_ready(c(x, prob)))()
  out = fns["jqmeta"](a)
  return fns, compile_s, float(out[0] if grad else out)


def verify_peers(peers: dict) -> None:
  """Drops (``available = False``) every peer whose float64 energy disagrees with jqmeta
  beyond ``VERIFY_RTOL`` on three random weighted graphs (n = 8, p = 3), before timing."""
  jax, graphs, qaoa = _jq()
  cases = [(G, random_angles(3, i)) for i, G in enumerate(common.weighted_graphs(8, 3, 8))]
  refs = [float(r) for r in jax.jit(jax.vmap(qaoa.energy))(
      np.stack([a for _, a in cases]), graphs.stack([graphs.from_networkx(G) for G, _ in cases]))]
  for name, info in peers.items():
    if not info["available"]:
      continue
    try:
      errs = [_rel(peer_energy(name, info, G, 3, "float64")[0](a), r)
              for (G, a), r in zip(cases, refs)]
    except Exception as e:  # pylint: disable=broad-except  # a peer's API changed: drop it
      errs, info["reason"] = [float("inf")], f"{type(e).__name__}: {e}"
    info["verify_max_rel_err"] = max(errs)
    if not max(errs) <= VERIFY_RTOL:
      info["available"] = False
      info.setdefault("reason", f"energies disagree with jqmeta: max rel err {max(errs):.3g} "
                      f"> {VERIFY_RTOL:g} (angle convention?)")
      print(f"peer {name} dropped: {info['reason']}", file=sys.stderr)


def _rel(value: float, ref: float) -> float:  # relative above 1 (energies are O(edges))
  return abs(value - ref) / max(1.0, abs(ref))


def _disagrees(err: float, dtype: str):
  """The ``skipped`` reason for a result off jqmeta's by ``err`` (relative), else None:
  beyond 1e-9 in float64 cells, 1e-3 in float32 ones (a wrong answer is not timed)."""
  return (f"disagrees with jqmeta: rel err {err:.3g}"
          if err > (1e-9 if dtype == "float64" else 1e-3) else None)


def _peer_fns(peers: dict, G, p: int, dtype: str, grad: bool, a: np.ndarray, ref: float,
              max_call_s: float, history: dict):
  """``(fns, meta)`` of the peers for one cell.  One whose single call takes over
  ``max_call_s`` is not repeated; one predicted to (``history``: its last size's call,
  x2 per qubit, once that call is over 1 s, below which overhead dominates) is not run."""
  n = G.number_of_nodes()
  fns, meta = {}, {}
  for name, info in peers.items():
    if not info["available"]:
      continue
    prec = "float64" if name == "qokit" else dtype
    key, label = (name, p, dtype, grad), info["label"] + (
        "-fd" if grad and name != "lightning" else "")
    t_last = history.get(key, (n, 0.0))[1]
    if t_last > 1.0 and t_last * 2.0**(n - history[key][0]) > max_call_s:
      meta[label] = {"prec": prec, "skipped": f"over {max_call_s} s per call predicted "
                     f"from n = {history[key][0]}"}
      continue
    f, kind = peer_energy(name, info, G, p, prec, grad)
    t0 = time.perf_counter()
    out = f(a)
    history[key] = (n, time.perf_counter() - t0)
    single = history[key][1]
    err = _rel(out[0] if grad else out, ref)
    meta[label] = {"prec": prec, "kind": kind, "first_call_s": single, "rel_err": err}
    why = _disagrees(err, dtype) or (
        f"one call took {single:.3g} s > {max_call_s} s: not repeated"
        if single > max_call_s else None)
    if why:
      meta[label]["skipped"] = why
    else:
      fns[label] = (lambda f=f: lambda: f(a))()
  return fns, meta


def run_cell(peers: dict, n: int, p: int, dtype: str, grad: bool, st: dict,
             history: dict) -> dict:
  """One (quantity, n, p, dtype) cell: every system timed interleaved on one graph."""
  G = common.weighted_graphs(n, 1, seed=1000 * n + p)[0]
  a = random_angles(p, 0)
  jq, compile_s, ref = jqmeta_callables(G, p, dtype, grad)
  a_jq = _jq()[0].numpy.asarray(a, dtype=dtype)
  pf, meta = _peer_fns(peers, G, p, dtype, grad, a, ref, st["max_call_s"], history)
  fns = {k: (lambda f=f: lambda: f(a_jq))() for k, f in jq.items()}
  fns.update(pf)
  stats = common.interleaved_timings(fns, repeats=st["repeats"], budget_s=st["cell_budget_s"])
  for k, m in meta.items():
    stats.setdefault(k, {}).update(m)
  for k, c in compile_s.items():
    stats[k].update(compile_s=c, prec=dtype)
  return {"quantity": "energy_grad" if grad else "energy", "n": n, "p": p, "dtype": dtype,
          "edges": G.number_of_edges(), "systems": stats, **_speedups(stats)}


def _speedups(stats: dict) -> dict:
  """Best peer (by median per graph) and ``speedup_jqmeta[_prepared]`` = its median over
  jqmeta's; ``speedup_min_*``: the same with each side's fastest sample (load-robust)."""
  out = {"best_peer": None}
  for q, tag in (("median_s", ""), ("min_s", "min_")):
    per = {k: s[q] / s.get("graphs", 1) for k, s in stats.items() if q in s}
    peers = {k: t for k, t in per.items() if not k.startswith("jqmeta")}
    if peers:
      best = out[f"best_peer{'_min' if tag else ''}"] = min(peers, key=peers.get)
      out.update({f"speedup_{tag}{k}": peers[best] / per[k]
                  for k in ("jqmeta", "jqmeta_prepared") if k in per})
  return out


def run_batch(peers: dict, dtype: str, st: dict) -> dict:
  """Graphs per second over ``graphs`` different graphs (own angles each); the Python
  loops (peers, ``jqmeta_loop``) run over the first ``loop`` of them (time per graph)."""
  jax, graphs, qaoa = _jq()
  b = st["batch"]
  Gs = common.weighted_graphs(b["n"], b["graphs"], seed=77)
  A = np.stack([random_angles(b["p"], i) for i in range(b["graphs"])])
  A_jq = jax.numpy.asarray(A, dtype=dtype)
  stacked = graphs.stack([graphs.from_networkx(G) for G in Gs])
  batched = {"jqmeta": stacked}
  if hasattr(qaoa, "prepare"):
    batched["jqmeta_prepared"] = jax.jit(jax.vmap(_prepare(dtype)))(stacked)
  fns, compile_s = {}, {}
  for name, prob in batched.items():
    t0 = time.perf_counter()
    c = jax.jit(jax.vmap(qaoa.energy)).lower(A_jq, prob).compile()
    compile_s[name] = time.perf_counter() - t0
    fns[name] = (lambda c=c, prob=prob: lambda: jax.block_until_ready(c(A_jq, prob)))()
  ref = np.asarray(fns["jqmeta"]())
  singles = graphs.unstack(stacked)
  one = jax.jit(qaoa.energy).lower(A_jq[0], singles[0]).compile()
  fns["jqmeta_loop"] = lambda: [jax.block_until_ready(one(A_jq[i], g))
                                for i, g in enumerate(singles[:b["loop"]])]
  meta = {}
  for name, info in peers.items():
    if info["available"]:
      prec = "float64" if name == "qokit" else dtype
      objs = [peer_energy(name, info, G, b["p"], prec)[0] for G in Gs[:b["loop"]]]
      err = max(_rel(f(A[i]), ref[i]) for i, f in enumerate(objs))
      meta[info["label"]] = {"prec": prec, "rel_err": err}
      if _disagrees(err, dtype):
        meta[info["label"]]["skipped"] = _disagrees(err, dtype)
      else:
        fns[info["label"]] = (lambda objs=objs: lambda: [f(A[i]) for i, f in enumerate(objs)])()
  stats = common.interleaved_timings(fns, repeats=st["repeats"], budget_s=4 * st["cell_budget_s"])
  for k, s in stats.items():
    s.update(meta.get(k, {"prec": dtype}), graphs=b["graphs"] if k in batched else b["loop"],
             **({"compile_s": compile_s[k]} if k in compile_s else {}))
    s["graphs_per_s"] = s["graphs"] / s["median_s"]
  for k, m in meta.items():
    stats.setdefault(k, m)
  return {"quantity": "batch", "n": b["n"], "p": b["p"], "dtype": dtype,
          "graphs": b["graphs"], "systems": stats, **_speedups(stats)}


def run_all(args, st: dict, mode: str) -> dict:
  """Verifies the peers, then every cell (with an ETA), then the batch cells."""
  import jax  # pylint: disable=import-outside-toplevel
  jax.config.update("jax_enable_x64", True)  # float64 rows; float32 rows pass f32 angles
  t_start, log, load_before = common.start_clock()
  peers = load_peers(args.peers, pinned=mode == "pinned")
  verify_peers(peers)
  log("peers: " + ", ".join(f"{k}={'ok' if v['available'] else v['reason']}"
                            for k, v in peers.items()))
  cells = [(n, p, dt, grad) for n in st["sizes"] for p in st["ps"] for dt in st["dtypes"]
           for grad in (False, True)]
  weight = [2.0**n * (p + 1) * (3 if grad else 1) for n, p, _, grad in cells]
  results, done, history = [], 0.0, {}
  for (n, p, dt, grad), w in zip(cells, weight):
    results.append(run_cell(peers, n, p, dt, grad, st, history))
    done += w
    el = time.perf_counter() - t_start
    log(f"{results[-1]['quantity']} n={n} p={p} {dt}: "
        f"speedup {results[-1].get('speedup_jqmeta', float('nan')):.2f}; "
        f"ETA {el / done * (sum(weight) - done):.0f} s")
  results += [run_batch(peers, dt, st) for dt in st["dtypes"]]
  return {"mode": mode, "peers": peers, "settings": st, "cells": results,
          "machine": common.machine_info(load_average_start=load_before,
                                         wall_s=time.perf_counter() - t_start,
                                         affinity=sorted(os.sched_getaffinity(0)))}


def _ratios(c: dict, k: str) -> str:  # median ratio (fastest-sample ratio)
  r = common.fmt_ratio
  return f"{r(c.get(f'speedup_{k}'))} ({r(c.get(f'speedup_min_{k}'))} min)"


def speedup_matrix(r: dict) -> str:
  """Markdown: per quantity, one row per n and one column per (p, dtype); each cell
  ``plain / prepared`` speedup (median ratio) and the best peer's initial."""
  cells = [c for c in r["cells"] if c["quantity"] != "batch"]
  cols = sorted({(c["p"], c["dtype"]) for c in cells})
  out = []
  for q, title in (("energy", "energy"), ("energy_grad", "energy + gradient")):
    by = {(c["n"], c["p"], c["dtype"]): c for c in cells if c["quantity"] == q}
    rows = []
    for n in sorted({k[0] for k in by}):
      row = [n]
      for p, dt in cols:
        c = by.get((n, p, dt))
        row.append("-" if c is None or not c["best_peer"] else
                   f"{common.fmt_ratio(c.get('speedup_jqmeta'))} / "
                   f"{common.fmt_ratio(c.get('speedup_jqmeta_prepared'))} {c['best_peer'][0]}")
      rows.append(row)
    out += [f"{title}: best peer / jqmeta (plain / prepared; q QOKit, l lightning, a Aer)",
            "", common.markdown_table(["n"] + [f"p={p} f{dt[5:]}" for p, dt in cols], rows),
            ""]
  return "\n".join(out)


def report(res: dict) -> str:
  """Markdown: per mode, the speedup matrices, then one table of single-graph cells and
  one of batch cells."""
  lines = []
  for mode, r in res["modes"].items():
    if "error" in r:
      lines += [f"### {mode}: not run ({r['error']})", ""]
      continue
    m = r["machine"]
    lines += [f"### {mode} (cores {m['affinity']}, load average at start "
              f"{m['load_average_start'][0]:.1f}, wall {m['wall_s']:.0f} s)", "",
              speedup_matrix(r),
              "median [IQR] per call, `Nc` = CPU seconds per wall second; speedup = best "
              "peer / jqmeta (> 1: jqmeta faster); `-fd`: forward differences, 2p+1 energies; "
              "`(64)`: the peer's only precision; `(x min)`: ratio of fastest samples", ""]
    peers = [k for k, v in r["peers"].items() if v["available"]]
    head = ["quantity", "n", "p", "dtype", "jqmeta", "jqmeta prepared"] + [
        r["peers"][k]["label"] for k in peers] + ["best peer", "speedup", "speedup prepared"]
    rows = []
    for c in (c for c in r["cells"] if c["quantity"] != "batch"):
      sy, dt = c["systems"], c["dtype"]
      rows.append([c["quantity"], c["n"], c["p"], dt, common.fmt_stats(sy.get("jqmeta"), dt),
                   common.fmt_stats(sy.get("jqmeta_prepared"), dt)]
                  + [common.fmt_stats(sy.get(r["peers"][k]["label"]) or sy.get(
                      r["peers"][k]["label"] + "-fd"), dt) for k in peers]
                  + [c["best_peer"] or "-", _ratios(c, "jqmeta"), _ratios(c, "jqmeta_prepared")])
    lines += [common.markdown_table(head, rows), ""]
    brows = []
    for c in (c for c in r["cells"] if c["quantity"] == "batch"):
      for k, s in c["systems"].items():
        gps = s.get("graphs_per_s")
        brows.append([f"n={c['n']} p={c['p']} x{c['graphs']}", c["dtype"], k, s.get("prec"),
                      f"{gps:,.0f}" if gps else "-", common.fmt_stats(s, c["dtype"]),
                      common.fmt_ratio(gps and c["systems"]["jqmeta"]["graphs_per_s"] / gps)])
    lines += [common.markdown_table(["batch", "dtype", "system", "prec", "graphs/s", "per call "
                                     "(loops: `loop` graphs)", "jqmeta vmap / this"], brows), ""]
  return "\n".join(lines)


def _parser():
  ap = common.base_parser(__doc__.splitlines()[0])
  ap.add_argument("--out", metavar="DIR", help="write compare_simulators.json and .md here")
  ap.add_argument("--mode", default=None, help="both, pinned or default (default: both; "
                  "--quick: pinned, the like-for-like mode, to stay under 3 minutes)")
  ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of "
                  + ", ".join(PEERS))
  ap.add_argument("--build-qokit", action="store_true", help="compile QOKit's C simulator")
  ap.add_argument("--sizes", type=common.int_list, help="comma-separated n (default: the mode's)")
  ap.add_argument("--ps", type=common.int_list, help="comma-separated p (default: the mode's)")
  ap.add_argument("--child-json", help=argparse.SUPPRESS)
  return ap


def _run_mode(args, st: dict, mode: str, child_args: list) -> dict:
  """``default`` runs here; ``pinned`` re-executes this script under ``taskset``."""
  if mode == "default":
    return run_all(args, st, mode)
  return common.run_pinned("benchmarks.compare_simulators",
                           [*child_args, "--mode", mode], json_flag="--child-json")


def _error(msg: str) -> int:
  print(f"compare_simulators: error: {msg}", file=sys.stderr)
  return 2


def main(argv=None) -> int:
  """CLI entry point (see the module docstring)."""
  argv = sys.argv[1:] if argv is None else list(argv)
  args = _parser().parse_args(argv)
  args.peers = tuple(x for x in args.peers.split(",") if x)
  if args.mode is None:
    args.mode = "pinned" if args.quick else "both"
  bad = [x for x in args.peers if x not in PEERS] + (
      [] if args.mode in ("both", "pinned", "default") else [f"--mode {args.mode}"])
  if bad:
    return _error(f"unknown {', '.join(bad)} (peers: {', '.join(PEERS)}; modes: both, "
                  "pinned, default)")
  if args.build_qokit:
    try:
      print(common.build_qokit())
    except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
      return _error(str(e))
    return 0
  st = dict(SETTINGS[common.run_mode(args)])
  st.update({k: getattr(args, k) for k in ("sizes", "ps") if getattr(args, k)})
  if args.child_json:
    common.write_json(args.child_json, run_all(args, st, args.mode))
    return 0
  t0 = time.perf_counter()
  child_args = [a for a in ("--quick", "--smoke") if getattr(args, a[2:])] + [
      "--peers", ",".join(args.peers)] + [x for k in ("sizes", "ps") if getattr(args, k)
                                          for x in (f"--{k}", ",".join(map(str, getattr(args, k))))]
  modes = ("pinned", "default") if args.mode == "both" else (args.mode,)
  runs = {m: _run_mode(args, st, m, child_args) for m in modes}
  res = {"modes": runs, "settings": st, "wall_s": time.perf_counter() - t0,
         "command": "python -m benchmarks.compare_simulators " + " ".join(argv)}
  text = report(res) + f"\nwall time {res['wall_s']:.0f} s: {res['command']}"
  print(text)
  out = Path(args.out) if args.out else None
  common.write_json(args.json or (out and str(out / "compare_simulators.json")), res)
  common.write_text(out and str(out / "compare_simulators.md"), text)
  return 0 if all("error" not in r for r in res["modes"].values()) else 1


if __name__ == "__main__":
  sys.exit(main())
