"""Statevector energy + gradient: time vs qubits, compile time vs depth, bandwidth floor.

Usage::

  python -m benchmarks.scaling [--quick] [--json OUT] [--png OUT] [--max-n N]

* ``energy_grad``: ``jax.jit(jax.value_and_grad(qaoa.energy))`` on one seeded
  G(n, 0.5) graph for n = 10 .. ``--max-n`` (default 22; ``--max-n 26`` on a GPU) and
  p = 1, 3, 10: compile time, median run time, XLA's temp-buffer bytes
  (``compiled.memory_analysis()``) next to ``qaoa.statevector_bytes``'s estimate.
* ``compile_vs_p``: lower + compile time at n = 12 for p up to 64 (flat: layers are a
  ``lax.scan``).
* ``bandwidth``: the memory-bandwidth floor measured in the same run: jitted
  elementwise ops over a large array (``y = a x + b`` on float32, a complex64 phase
  multiply), bytes moved (read + write) / median time; the best is the floor.
* ``achieved``: for n >= 18, the half-state floor time / run time.
* ``cores``: both cores forced (``statevector.energy(core=...)``), energy + gradient at
  p = 1, n = 20 .. ``--max-n``: wall and CPU time, time over the half-state floor.

Traffic models (stated, not measured; ``H = 4 * 2**n`` bytes, the complex64 symmetric
half state that jqmeta simulates):

* ``minimal_traffic_bytes`` -- the floor every run is measured against: any exact
  simulator of the half state must read and write it at least once per layer (2 H), the
  energy reads it once more (H); the adjoint gradient walks the layers back with two
  states (4 H per layer) after building the co-state (2 H):
  ``energy ~= H (2 p + 1)``, ``energy + gradient ~= H (6 p + 3)``.
* ``traffic_bytes`` -- the gate-by-gate floor of a one-gate-at-a-time simulator of the
  full state (phase 2.5 S, ``n`` mixer passes 2 S each, ``S = 2 H``), for comparison:
  ``S (3 p (2 n + 2.5) + 6)``.
* ``blocked_traffic_bytes`` -- what the core that runs must move by its own pass count:
  the kron core's ``B`` GEMM passes come from ``kron_core.blocks(n - 1)`` (the core's own
  block rule, not a copied constant: 3- or 4-qubit blocks), the Walsh-Hadamard core's
  ``C`` from ``len(wht_core.wht_shape(n - 1))``:
  kron ``H (p (4 + 2 B) + p (6 B + 15) + 6)`` (backward, per block: the beta-gradient
  overlap reads both states, then each state's GEMM reads and writes it), WHT
  ``H (p (8 C + 2) + p (16 C + 14) + 6)``.

All ignore cache reuse: floors are lower bounds on traffic, fractions upper bounds.

A case whose compiled buffers would exceed 60% of available memory is skipped (and
says so).  ``--quick``: n = 10..16, p = 1, 3, few repeats (< 2 minutes).
"""

from __future__ import annotations

import statistics
import sys
import time

from benchmarks import common  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jqmeta import graphs, qaoa  # noqa: E402
from jqmeta._src import cut as cut_src, kron_core, memory, statevector, wht_core  # noqa: E402

SETTINGS = {
    "full": dict(n_min=10, ps=(1, 3, 10), repeats=5, compile_n=12,
                 compile_ps=(1, 2, 4, 8, 16, 32, 64), bw_log2=26, bw_repeats=10),
    "quick": dict(n_min=10, n_max=16, ps=(1, 3), repeats=3, compile_n=12,
                  compile_ps=(1, 3, 10, 30), bw_log2=25, bw_repeats=5),
    "smoke": dict(n_min=10, n_max=10, ps=(1,), repeats=1, compile_n=10, compile_ps=(1, 3),
                  bw_log2=22, bw_repeats=2),
}
ACHIEVED_MIN_N = 18
CORES_MIN_N = 20
MEMORY_FRACTION = 0.6


def traffic_bytes(n: int, p: int) -> float:
  """Modelled bytes of one energy + gradient (see the module docstring)."""
  return 8.0 * 2**n * (3 * p * (2 * n + 2.5) + 6)


def _wht_passes(n: int) -> int:
  """GEMM passes of one Walsh-Hadamard transform at ``n`` qubits (the library's blocks)."""
  return len(wht_core.wht_shape(n - 1))


def _kron_passes(n_qubits: int) -> int:
  """GEMM passes of the block-GEMM mixer on ``n_qubits`` qubits (the library's blocks)."""
  _, n_full, remainder = kron_core.blocks(n_qubits)
  return n_full + (remainder > 0)


def minimal_traffic_bytes(n: int, p: int, grad: bool = True) -> float:
  """The half-state floor: bytes any exact half-state run must move (module docstring)."""
  return 4.0 * 2**n * ((6 * p + 3) if grad else (2 * p + 1))


def blocked_traffic_bytes(n: int, p: int, core=None) -> float:
  """Modelled bytes of jqmeta's half-state algorithm, for ``core`` (default: the core
  that runs at ``n``; see the module docstring)."""
  if (core or ("wht" if n <= wht_core.WHT_MAX_QUBITS else "kron")) == "wht":
    c = _wht_passes(n)
    return 4.0 * 2**n * (p * (8 * c + 2) + p * (16 * c + 14) + 6)
  b = _kron_passes(n - 1)
  return 4.0 * 2**n * (p * (4 + 2 * b) + p * (6 * b + 15) + 6)


def _device_memory_budget() -> int:  # the device's own limit off CPU, less what is in use
  device = jax.local_devices()[0]
  try:
    in_use = int((device.memory_stats() or {}).get("bytes_in_use", 0))
  except Exception:  # pylint: disable=broad-except  # CPU may not report stats
    in_use = 0
  return memory.device_memory(device) - in_use


def _minor_faults() -> int:
  import resource  # pylint: disable=import-outside-toplevel  # POSIX; benchmarks run there
  return int(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)


def _time_in_place(fn, x, repeats: int):
  """Median time of ``x = fn(x)`` with ``x`` donated (the output reuses its buffer)."""
  x = jax.block_until_ready(fn(x))
  times = []
  for _ in range(repeats):
    s = time.perf_counter()
    x = jax.block_until_ready(fn(x))
    times.append(time.perf_counter() - s)
  return statistics.median(times), x


def bench_bandwidth(log2_size: int, repeats: int) -> dict:
  """Streaming bandwidth of jitted elementwise ops over ``2**log2_size`` elements.

  ``*_in_place`` donate their input, so the output reuses its buffer: the memory
  system's streaming rate (the floor).  ``axpy_float32_fresh`` allocates a new output
  every call, as XLA does for temporaries: on CPU every page of a fresh buffer is
  faulted in on first touch, and ``fault_cost_s`` (the extra time per fault) is
  derived from the difference.
  """
  size = 2**log2_size
  out = {}
  axpy = lambda x: 1.0001 * x + 0.5
  x = jnp.arange(size, dtype=jnp.float32) * 1e-9
  nbytes = x.nbytes
  t, x = _time_in_place(jax.jit(axpy, donate_argnums=0), x, repeats)
  out["axpy_float32_in_place"] = {"bytes": 2 * nbytes, "median_s": t,
                                  "gb_per_s": 2 * nbytes / t / 1e9}
  fresh = jax.jit(axpy)
  jax.block_until_ready(fresh(x))
  times, faults = [], []
  for _ in range(repeats):
    f0 = _minor_faults()
    s = time.perf_counter()
    y = jax.block_until_ready(fresh(x))
    times.append(time.perf_counter() - s)
    faults.append(_minor_faults() - f0)
    del y
  t_fresh = statistics.median(times)
  out["axpy_float32_fresh"] = {"bytes": 2 * nbytes, "median_s": t_fresh,
                               "gb_per_s": 2 * nbytes / t_fresh / 1e9,
                               "page_faults": int(statistics.median(faults))}
  z = (x + 1j * x).astype(jnp.complex64)
  del x
  t, z = _time_in_place(jax.jit(lambda z: z * jnp.complex64(0.6 + 0.8j), donate_argnums=0), z,
                        repeats)
  out["phase_complex64_in_place"] = {"bytes": 2 * z.nbytes, "median_s": t,
                                     "gb_per_s": 2 * z.nbytes / t / 1e9}
  n_faults = out["axpy_float32_fresh"]["page_faults"]
  t_place = out["axpy_float32_in_place"]["median_s"]
  fault_cost = max(t_fresh - t_place, 0.0) / n_faults if n_faults else 0.0
  best = max(v["gb_per_s"] for k, v in out.items() if k.endswith("in_place"))
  return {"array_bytes": int(nbytes), "ops": out, "floor_gb_per_s": best,
          "fault_cost_s": fault_cost,
          "method": "jitted elementwise op with its input donated (in place), "
                    "(read + write) bytes / median time; best op"}


# ----------------------------------------------------------------- energy + gradient


def bench_energy_grad(n_values, ps, repeats, log, bandwidth: dict) -> dict:
  budget = MEMORY_FRACTION * _device_memory_budget()
  out = {}
  for p in ps:
    for n in n_values:
      key = f"n{n}_p{p}"
      G = graphs.erdos_renyi(np.random.default_rng(n), n, 0.5)
      g = graphs.from_networkx(G)
      angles = jnp.asarray(np.random.default_rng(p).uniform(-1, 1, (2, p)), jnp.float32)
      f = jax.jit(jax.value_and_grad(qaoa.energy))
      row = {"n": n, "p": p, "edges": G.number_of_edges(),
             "guard_estimate_bytes": qaoa.statevector_bytes(n, p)}
      t0 = time.perf_counter()
      try:
        compiled = f.lower(angles, g).compile()
      except ValueError as e:  # the library's memory guard
        row["skipped"] = str(e)
        out[key] = row
        log(f"  {key}: skipped ({e})")
        continue
      row["compile_s"] = time.perf_counter() - t0
      mem = compiled.memory_analysis()
      temp = int(getattr(mem, "temp_size_in_bytes", 0) or 0) if mem is not None else 0
      row["xla_temp_bytes"] = temp
      row["xla_temp_states"] = temp / (8 * 2**n)
      if temp > budget:
        row["skipped"] = (f"needs {temp / 2**30:.2f} GiB of buffers, over {MEMORY_FRACTION:.0%} "
                          f"of available memory ({budget / MEMORY_FRACTION / 2**30:.1f} GiB)")
        out[key] = row
        log(f"  {key}: skipped ({row['skipped']})")
        continue
      first = time.perf_counter()
      jax.block_until_ready(compiled(angles, g))
      first = time.perf_counter() - first
      reps = repeats if first < 2.0 else max(1, min(repeats, 2))
      times, faults = [], []
      for _ in range(reps):
        f0 = _minor_faults()
        s = time.perf_counter()
        jax.block_until_ready(compiled(angles, g))
        times.append(time.perf_counter() - s)
        faults.append(_minor_faults() - f0)
      row.update(median_s=statistics.median(times), min_s=min(times), repeats=reps,
                 model_bytes=traffic_bytes(n, p), page_faults=int(statistics.median(faults)))
      row["model_gb_per_s"] = row["model_bytes"] / row["median_s"] / 1e9
      row["floor_time_s"] = row["model_bytes"] / (bandwidth["floor_gb_per_s"] * 1e9)
      row["minimal_bytes"] = minimal_traffic_bytes(n, p)
      row["minimal_floor_time_s"] = row["minimal_bytes"] / (bandwidth["floor_gb_per_s"] * 1e9)
      row["x_over_floor"] = row["median_s"] / row["minimal_floor_time_s"]
      row["blocked_model_bytes"] = blocked_traffic_bytes(n, p)
      row["blocked_floor_time_s"] = row["blocked_model_bytes"] / (bandwidth["floor_gb_per_s"] * 1e9)
      row["fault_time_est_s"] = row["page_faults"] * bandwidth["fault_cost_s"]
      out[key] = row
      log(f"  {key}: {common.fmt_s(row['median_s'])} (compile {common.fmt_s(row['compile_s'])}, "
          f"{row['model_gb_per_s']:.2f} GB/s modelled, temp {temp / 2**20:.1f} MiB = "
          f"{row['xla_temp_states']:.0f} states, {row['page_faults']} page faults)")
  return out


def bench_cores(n_values, repeats: int, bandwidth: dict, log, p: int = 1) -> dict:
  """Energy + gradient by each core (forced): time over the half-state floor and own model."""
  budget = MEMORY_FRACTION * _device_memory_budget()
  bw = bandwidth["floor_gb_per_s"] * 1e9
  out = {}
  for n in n_values:
    g = graphs.from_networkx(graphs.erdos_renyi(np.random.default_rng(n), n, 0.5))
    angles = jnp.asarray(np.random.default_rng(p).uniform(-1, 1, (2, p)), jnp.float32)
    for core in statevector.CORES:
      key = f"n{n}_p{p}_{core}"
      if qaoa.statevector_bytes(n, p) > budget:
        out[key] = {"n": n, "p": p, "core": core, "skipped": "over the memory budget"}
        continue
      fn = jax.jit(jax.value_and_grad(lambda a, core=core: statevector.energy(a, g, core=core)))
      compiled, walls, cpus = fn.lower(angles).compile(), [], []
      for _ in range(repeats + 1):  # the first run warms up
        w, c = time.perf_counter(), time.process_time()
        jax.block_until_ready(compiled(angles))
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
      t = statistics.median(walls[1:])
      floor_s, own_s = minimal_traffic_bytes(n, p) / bw, blocked_traffic_bytes(n, p, core) / bw
      out[key] = {"n": n, "p": p, "core": core, "median_s": t, "floor_time_s": floor_s,
                  "cpu_s": statistics.median(cpus[1:]), "x_over_floor": t / floor_s,
                  "own_model_time_s": own_s, "x_over_own_model": t / own_s}
      log(f"  {key}: {common.fmt_s(t)} (CPU {common.fmt_s(out[key]['cpu_s'])}), "
          f"{out[key]['x_over_floor']:.1f}x the "
          f"half-state floor ({common.fmt_s(floor_s)}), {out[key]['x_over_own_model']:.1f}x "
          "its own pass model")
  return out


def bench_compile_vs_p(n: int, ps, log) -> dict:
  g = graphs.from_networkx(graphs.erdos_renyi(np.random.default_rng(n), n, 0.5))
  out = {}
  for p in ps:
    angles = jnp.full((2, p), 0.3, jnp.float32)
    f = jax.jit(jax.value_and_grad(qaoa.energy))  # fresh: no cache hit
    t0 = time.perf_counter()
    lowered = f.lower(angles, g)
    t1 = time.perf_counter()
    lowered.compile()
    t2 = time.perf_counter()
    out[f"p{p}"] = {"p": p, "n": n, "lower_s": t1 - t0, "compile_s": t2 - t1,
                    "total_s": t2 - t0}
    log(f"  compile n={n} p={p}: lower {common.fmt_s(t1 - t0)}, compile {common.fmt_s(t2 - t1)}")
  totals = [v["total_s"] for v in out.values()]
  return {"cases": out, "max_over_min": max(totals) / min(totals)}


def bench_breakdown(n: int, repeats: int, bandwidth: dict, log) -> dict:
  """Forward-pass pieces at one ``n`` (p = 1): a per-amplitude ``phase``, one mixer
  ``butterfly`` (interleaved and as two halves), the ``reduction``; the library's own
  pieces (``kron_core.apply_phase``, ``rotate_apply`` on one ``kron_core.blocks(n)``
  block, the full ``kron_core.mixer``, one ``wht_core.wht`` of one real plane); the
  forward energy and energy + gradient.  ``gb_per_s`` uses read + write bytes.
  """
  from jax import lax  # pylint: disable=import-outside-toplevel
  g = graphs.from_networkx(graphs.erdos_renyi(np.random.default_rng(n), n, 0.5))
  S = 8 * 2**n
  half = 2**(n - 1)
  psi = jnp.full((2**n,), 2**(-n / 2), jnp.complex64)
  cut = jax.jit(qaoa.cut_values)(g)
  c, s = jnp.float32(np.cos(0.3)), jnp.float32(np.sin(0.3))
  angles = jnp.full((2, 1), 0.3, jnp.float32)

  def butterfly(psi, c, s):
    a, b = psi.reshape(2, half)
    ms = lax.complex(jnp.zeros_like(s), -s)
    return jnp.stack([c * a + ms * b, c * b + ms * a], axis=1).reshape(-1)

  def butterfly_halves(psi, c, s):
    a, b = psi.reshape(2, half)
    ms = lax.complex(jnp.zeros_like(s), -s)
    return jnp.concatenate([c * a + ms * b, c * b + ms * a])

  def reduction(psi):
    probs = jnp.real(psi)**2 + jnp.imag(psi)**2
    return -jnp.sum(probs * cut) / jnp.sum(probs)

  W = cut_src.dense_weights(g)
  tables = cut_src.cut_tables(W, n)
  F = tuple(lax.complex(jnp.cos(0.3 * t), jnp.sin(0.3 * t)) for t in tables)
  cq, sq = jnp.full((n,), c), jnp.full((n,), s)
  k = kron_core.blocks(n)[0]
  M = kron_core.kron_rx(cq[:k], sq[:k], -1.0)
  cases = {
      "cut_values": (qaoa.cut_values, (g,), S // 2),
      "phase_tables": (kron_core.apply_phase, (psi, F), 2 * S),
      "mixer_block": (kron_core.rotate_apply, (M, psi), 2 * S),
      "mixer_full": (kron_core.mixer, (psi, cq, sq), 2 * S * _kron_passes(n)),
      "wht": (wht_core.wht, (jnp.ones(wht_core.wht_shape(n - 1), jnp.float32),),
              S // 4 * (2 * _wht_passes(n) - 1)),
      "phase": (lambda psi, gm: psi * lax.complex(jnp.cos(gm * cut), jnp.sin(gm * cut)),
                (psi, jnp.float32(0.3)), 2.5 * S),
      "butterfly_interleaved": (butterfly, (psi, c, s), 2 * S),
      "butterfly_halves": (butterfly_halves, (psi, c, s), 2 * S),
      "reduction": (reduction, (psi,), 1.5 * S),
      "energy_forward": (qaoa.energy, (angles, g), (2 * n + 2.5 + 2) * S),
      "energy_and_grad": (jax.value_and_grad(qaoa.energy), (angles, g), traffic_bytes(n, 1)),
  }
  out = {"n": n, "state_bytes": S}
  for name, (fn, args, moved) in cases.items():
    t = common.time_jitted(jax.jit(fn), args, repeats=repeats)
    out[name] = {"median_s": t["median_s"], "model_bytes": moved,
                 "gb_per_s": moved / t["median_s"] / 1e9,
                 "of_floor": moved / t["median_s"] / 1e9 / bandwidth["floor_gb_per_s"]}
    if name in ("phase", "phase_tables"):
      out[name]["ns_per_amplitude"] = t["median_s"] / 2**n * 1e9
    log(f"  n={n} {name}: {common.fmt_s(t['median_s'])} ({out[name]['gb_per_s']:.1f} GB/s)")
  return out


# --------------------------------------------------------------------------- report


def _cores_report(cores: dict) -> list:
  """The per-core table and one plain sentence per core: how far from the floor."""
  rows = [r for r in cores.values() if "median_s" in r]
  if not rows:
    return []
  lines = ["", "### Each core against the half-state floor (energy + gradient)", "",
           common.markdown_table(
               ["n", "p", "core", "time", "CPU time", "half-state floor", "x over floor",
                "x over own pass model"],
               [[r["n"], r["p"], r["core"], common.fmt_s(r["median_s"]), common.fmt_s(r["cpu_s"]),
                 common.fmt_s(r["floor_time_s"]), f"{r['x_over_floor']:.1f}",
                 f"{r['x_over_own_model']:.1f}"] for r in rows]), ""]
  for core in statevector.CORES:
    mine = [r for r in rows if r["core"] == core]
    if mine:
      xs = [r["x_over_floor"] for r in mine]
      lines.append(f"The {core} core at n = {min(r['n'] for r in mine)}.."
                   f"{max(r['n'] for r in mine)} takes "
                   f"{min(xs):.1f}-{max(xs):.1f}x the time of the half-state floor.")
  return lines


def report(results: dict) -> str:
  eg = results["energy_grad"]
  floor = results["bandwidth"]["floor_gb_per_s"]
  ps = sorted({r["p"] for r in eg.values()})
  ns = sorted({r["n"] for r in eg.values()})
  lines = ["### Energy + gradient time (median), one graph G(n, 0.5)", ""]
  rows = []
  for n in ns:
    row = [n]
    for p in ps:
      r = eg.get(f"n{n}_p{p}", {})
      row.append(common.fmt_s(r.get("median_s")) if "median_s" in r else "skipped")
    for p in ps:
      r = eg.get(f"n{n}_p{p}", {})
      row.append(f"{1 / r['x_over_floor']:.0%}" if "median_s" in r else "-")
    rows.append(row)
  lines.append(common.markdown_table(
      ["n"] + [f"p={p}" for p in ps] + [f"of half-state floor p={p}" for p in ps], rows))
  lines += ["", f"Bandwidth floor: {floor:.2f} GB/s (" + ", ".join(
      f"{k} {v['gb_per_s']:.2f} GB/s" for k, v in results["bandwidth"]["ops"].items()) +
      f", {results['bandwidth']['array_bytes'] / 2**20:.0f} MiB arrays); one page fault "
      f"on a fresh buffer costs {results['bandwidth']['fault_cost_s'] * 1e6:.2f} us."]
  a = results["achieved"]
  if a["cases"]:
    lines.append(f"Achieved fraction of the half-state floor at n >= {ACHIEVED_MIN_N}: "
                 + ", ".join(f"{k} {v:.0%}" for k, v in a["cases"].items())
                 + f" (median {a['median']:.0%}); time over that floor: "
                 + ", ".join(f"{k} {1 / v:.1f}x" for k, v in a["cases"].items()) + ".")
    if a.get("blocked_cases"):
      lines.append("Against the blocked algorithm's own traffic: "
                   + ", ".join(f"{k} {v:.0%}" for k, v in a["blocked_cases"].items())
                   + f" (median {a['blocked_median']:.0%}).")
  else:
    lines.append(f"No case with n >= {ACHIEVED_MIN_N} ran (raise --max-n).")
  lines += _cores_report(results.get("cores", {}))
  lines += ["", "### Compile time vs depth p", ""]
  cv = results["compile_vs_p"]
  lines.append(common.markdown_table(
      ["p", "lower", "compile", "total"],
      [[v["p"], common.fmt_s(v["lower_s"]), common.fmt_s(v["compile_s"]),
        common.fmt_s(v["total_s"])] for v in cv["cases"].values()]))
  lines.append(f"\nmax/min total compile time over p: {cv['max_over_min']:.2f}")
  big = [r for r in eg.values() if "median_s" in r and r["n"] >= min(ACHIEVED_MIN_N, ns[-1])]
  if big:
    lines += ["", "### Where the time goes (largest n): measured vs floor vs page faults", ""]
    lines.append(common.markdown_table(
        ["case", "measured", "half-state floor", "page faults",
         "fault time (est.)", "rest"],
        [[f"n{r['n']}_p{r['p']}", common.fmt_s(r["median_s"]),
          common.fmt_s(r["minimal_floor_time_s"]), r["page_faults"],
          common.fmt_s(r["fault_time_est_s"]), common.fmt_s(max(
              r["median_s"] - r["minimal_floor_time_s"] - r["fault_time_est_s"], 0.0))]
         for r in sorted(big, key=lambda r: (r["p"], r["n"]))]))
  b = results["breakdown"]
  lines += ["", f"### Forward-pass pieces at n = {b['n']}, p = 1 "
            f"(state {b['state_bytes'] / 2**20:.1f} MiB)", ""]
  lines.append(common.markdown_table(
      ["piece", "time", "GB/s (model bytes)", "of floor"],
      [[k, common.fmt_s(v["median_s"]), f"{v['gb_per_s']:.1f}", f"{v['of_floor']:.0%}"]
       for k, v in b.items() if isinstance(v, dict)]))
  lines.append(f"\nphase: {b['phase']['ns_per_amplitude']:.1f} ns per amplitude with a cos and "
               "a sin each (compute-bound on XLA:CPU); the library's table phase: "
               f"{b['phase_tables']['ns_per_amplitude']:.1f} ns per amplitude")
  lines.append("\nXLA temp buffers (states of 8 * 2**n bytes) vs the library's estimate: " +
               ", ".join(f"{k} {r['xla_temp_states']:.0f} vs "
                         f"{r['guard_estimate_bytes'] / (8 * 2**r['n']):.0f}"
                         for k, r in eg.items() if "xla_temp_states" in r and r["n"] == ns[-1]))
  return "\n".join(lines)


def plot(results: dict, path: str) -> None:
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  eg = results["energy_grad"]
  floor = results["bandwidth"]["floor_gb_per_s"] * 1e9
  fig, ax = plt.subplots(figsize=(6.5, 4.5))
  for i, p in enumerate(sorted({r["p"] for r in eg.values()})):
    rows = sorted((r for r in eg.values() if r["p"] == p and "median_s" in r),
                  key=lambda r: r["n"])
    if not rows:
      continue
    ns = [r["n"] for r in rows]
    color = f"C{i}"
    ax.plot(ns, [r["median_s"] for r in rows], "o-", color=color, label=f"p={p} measured")
    ax.plot(ns, [minimal_traffic_bytes(n, p) / floor for n in ns], "--", color=color,
            label=f"p={p} half-state floor (model)")
  ax.set_yscale("log")
  ax.set_xlabel("qubits n")
  ax.set_ylabel("energy + gradient time (s, log)")
  ax.set_title(f"jqmeta statevector scaling ({jax.default_backend()})")
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(fontsize=7)
  common.save_figure(fig, path)


def main(argv=None) -> int:
  ap = common.base_parser(__doc__.splitlines()[0])
  ap.add_argument("--png", metavar="OUT", help="write the log-scale plot to OUT")
  ap.add_argument("--max-n", type=int, default=None,
                  help="largest qubit count (default 22; 16 with --quick; 26 for GPUs)")
  args = ap.parse_args(argv)
  mode = common.run_mode(args)
  cfg = dict(SETTINGS[mode])
  n_max = args.max_n if args.max_n is not None else cfg.get("n_max", 22)
  n_values = list(range(cfg["n_min"], n_max + 1))
  t_start, log, load_before = common.start_clock()
  log(f"mode {mode}: n = {n_values[0]}..{n_values[-1]}, p = {cfg['ps']}")
  results = {"settings": {"mode": mode, "n": n_values, **cfg}}
  log("bandwidth floor")
  results["bandwidth"] = bench_bandwidth(cfg["bw_log2"], cfg["bw_repeats"])
  log(f"  floor {results['bandwidth']['floor_gb_per_s']:.2f} GB/s, page fault "
      f"{results['bandwidth']['fault_cost_s'] * 1e6:.2f} us")
  log("energy + gradient vs n")
  results["energy_grad"] = bench_energy_grad(n_values, cfg["ps"], cfg["repeats"], log,
                                             results["bandwidth"])
  core_ns = [n for n in n_values if n >= CORES_MIN_N]
  if core_ns:
    log("each core against the half-state floor")
    results["cores"] = bench_cores(core_ns, max(1, min(cfg["repeats"], 3)), results["bandwidth"],
                                   log)
  log("compile time vs p")
  results["compile_vs_p"] = bench_compile_vs_p(cfg["compile_n"], cfg["compile_ps"], log)
  log("forward-pass breakdown")
  results["breakdown"] = bench_breakdown(min(n_values[-1], ACHIEVED_MIN_N), max(cfg["repeats"], 3),
                                         results["bandwidth"], log)
  floor = results["bandwidth"]["floor_gb_per_s"]
  achieved = {k: 1 / r["x_over_floor"] for k, r in results["energy_grad"].items()
              if r["n"] >= ACHIEVED_MIN_N and "median_s" in r}
  blocked = {k: r["blocked_model_bytes"] / r["median_s"] / 1e9 / floor
             for k, r in results["energy_grad"].items()
             if r["n"] >= ACHIEVED_MIN_N and "median_s" in r}
  results["achieved"] = {
      "min_n": ACHIEVED_MIN_N, "cases": achieved,
      "median": statistics.median(achieved.values()) if achieved else None,
      "model": "half-state floor: bytes ~= 4 * 2**n * (6 p + 3)",
      "blocked_cases": blocked,
      "blocked_median": statistics.median(blocked.values()) if blocked else None,
      "blocked_model": "the core that ran, its own passes (blocked_traffic_bytes)"}
  common.finish(results, report, json_path=args.json, load_before=load_before,
                t_start=t_start)
  if args.png:
    plot(results, args.png)
  return 0

if __name__ == "__main__":
  sys.exit(main())
