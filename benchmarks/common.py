"""Shared helpers of the benchmark scripts: timing, machine facts, tables, plots, data.

Timing protocol (every script): a jitted function is lowered and compiled explicitly
(``compile_s``, separate from running), run ``warmup`` times, then ``repeats`` times
with ``jax.block_until_ready``; the median (and min) of those runs is reported.  Ratios
are always against a baseline measured in the same process, so machine load shifts
both sides.  Python callables (the PyTorch stack) are timed the same way without the
compile step.

Example:
  >>> import jax, jax.numpy as jnp
  >>> from benchmarks.common import time_jitted
  >>> t = time_jitted(jax.jit(lambda x: x * 2), (jnp.ones(4),), repeats=3)
  >>> sorted(t)
  ['compile_s', 'lower_s', 'median_s', 'min_s', 'repeats']
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np

from jqmeta import io

__all__ = [
    "REPO_ROOT",
    "BENCH_DIR",
    "REFERENCE_DATASET",
    "base_parser",
    "run_mode",
    "start_clock",
    "save_figure",
    "time_jitted",
    "time_call",
    "machine_info",
    "markdown_table",
    "write_json",
    "write_text",
    "fmt_s",
    "load_graph_splits",
    "random_graphs",
    "stack_graphs",
    "finish",
    "interleaved_timings",
    "pinned_env",
    "PINNED_CPU",
    "run_pinned",
    "weighted_graphs",
    "forward_fd",
    "fmt_stats",
    "fmt_ratio",
    "QOKIT_CFLAGS",
    "qokit_csim_dir",
    "build_qokit",
]

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
REFERENCE_DATASET = io.reference_dir() / "datasets.pkl"


def base_parser(description: str) -> argparse.ArgumentParser:
  """``--quick``, ``--json OUT`` and the hidden ``--smoke`` (smallest settings, tests)."""
  ap = argparse.ArgumentParser(description=description)
  ap.add_argument("--quick", action="store_true", help="small, fast settings (< 2 minutes)")
  ap.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
  ap.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")
  return ap


def int_list(text: str) -> tuple[int, ...]:
  """argparse type: comma-separated positive integers (``"10,12"`` -> ``(10, 12)``); a bad
  value is argparse's one-line error with exit code 2."""
  try:
    out = tuple(int(x) for x in text.split(","))
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
  if not out or min(out) < 1:
    raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
  return out


def dtype_list(text: str) -> tuple[str, ...]:
  """argparse type: comma-separated ``float32`` / ``float64``."""
  out = tuple(x for x in text.split(",") if x)
  bad = [x for x in out if x not in ("float32", "float64")]
  if bad or not out:
    raise argparse.ArgumentTypeError(f"expected float32 and/or float64, got {text!r}")
  return out


def run_mode(args) -> str:
  """``"smoke"``, ``"quick"`` or ``"full"`` from :func:`base_parser`'s flags."""
  return "smoke" if args.smoke else "quick" if args.quick else "full"


def start_clock():
  """``(t_start, log, load_before)``: ``log(msg)`` prints ``msg`` with seconds since start."""
  t_start = time.perf_counter()
  log = lambda msg: print(f"[{time.perf_counter() - t_start:6.1f}s] {msg}", flush=True)
  return t_start, log, list(os.getloadavg())


def save_figure(fig, path: str) -> None:
  """Writes a matplotlib figure to ``path`` (folders created) and closes it."""
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=120)
  plt.close(fig)
  print(f"wrote {path}")


def _block(x):
  import jax  # pylint: disable=import-outside-toplevel
  return jax.block_until_ready(x)


def time_jitted(fn, args: Sequence[Any], *, repeats: int, warmup: int = 1) -> dict:
  """Compile time and median run time of a ``jax.jit`` function.

  Args:
    fn: a ``jax.jit``-wrapped function (has ``.lower``).
    args: its positional arguments.
    repeats: timed runs (median and min reported).
    warmup: untimed runs after compiling.

  Returns:
    ``{"lower_s", "compile_s", "median_s", "min_s", "repeats"}`` (seconds).
  """
  t0 = time.perf_counter()
  lowered = fn.lower(*args)
  t1 = time.perf_counter()
  compiled = lowered.compile()
  t2 = time.perf_counter()
  for _ in range(max(warmup, 0)):
    _block(compiled(*args))
  times = []
  for _ in range(max(repeats, 1)):
    s = time.perf_counter()
    _block(compiled(*args))
    times.append(time.perf_counter() - s)
  return {"lower_s": t1 - t0, "compile_s": t2 - t1, "median_s": statistics.median(times),
          "min_s": min(times), "repeats": len(times)}


def time_call(fn: Callable[[int], Any], *, repeats: int, warmup: int = 1) -> dict:
  """Median wall time of ``fn(r)`` for ``r = 0 .. repeats-1`` (after ``warmup`` calls)."""
  for w in range(max(warmup, 0)):
    _block(fn(w))
  times = []
  for r in range(max(repeats, 1)):
    s = time.perf_counter()
    _block(fn(r))
    times.append(time.perf_counter() - s)
  return {"median_s": statistics.median(times), "min_s": min(times), "repeats": len(times)}


def _cpu_model() -> str:
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def machine_info(**extra) -> dict:
  """Versions, devices, CPU and load facts for the JSON (``extra`` merged in)."""
  import jax  # pylint: disable=import-outside-toplevel
  info = {
      "python": platform.python_version(),
      "platform": platform.platform(),
      "cpu": _cpu_model(),
      "cpu_count": os.cpu_count(),
      "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
      "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
      "jax": jax.__version__,
      "backend": jax.default_backend(),
      "devices": [f"{d.platform}:{d.device_kind}" for d in jax.devices()],
      "x64": bool(jax.config.jax_enable_x64),
      "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
      "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
      "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
  }
  if "torch" in sys.modules:
    torch = sys.modules["torch"]
    info["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
  if "pennylane" in sys.modules:
    info["pennylane"] = sys.modules["pennylane"].__version__
  info.update(extra)
  return info


def fmt_s(seconds: Optional[float]) -> str:
  """Human-readable time (``12.3 us``, ``4.56 ms``, ``1.23 s``); ``-`` for None."""
  if seconds is None:
    return "-"
  if seconds < 1e-3:
    return f"{seconds * 1e6:.1f} us"
  if seconds < 1:
    return f"{seconds * 1e3:.2f} ms"
  return f"{seconds:.2f} s"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
  """A GitHub markdown table (cells formatted with ``str``)."""
  lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
  for row in rows:
    lines.append("| " + " | ".join(str(c) for c in row) + " |")
  return "\n".join(lines)


def write_json(path: Optional[str], obj: Any) -> None:
  """Writes ``obj`` as indented JSON to ``path`` (no-op for None); creates folders."""
  if not path:
    return
  p = Path(path)
  p.parent.mkdir(parents=True, exist_ok=True)
  p.write_text(json.dumps(obj, indent=2, sort_keys=False, default=float) + "\n")
  print(f"wrote {p}")


def write_text(path: Optional[str], text: str) -> None:
  """Writes ``text`` to ``path`` (no-op for None); creates folders."""
  if not path:
    return
  p = Path(path)
  p.parent.mkdir(parents=True, exist_ok=True)
  p.write_text(text + "\n")
  print(f"wrote {p}")


def random_graphs(n: int, count: int, seed: int, p_edge: float = 0.5) -> list:
  """``count`` seeded connected G(n, p_edge) networkx graphs."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  from jqmeta import graphs  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(seed)
  return [graphs.erdos_renyi(rng, n, p_edge) for _ in range(count)]


def load_graph_splits() -> tuple[dict, str]:
  """The paper's splits (``train_data``, ``val_data``, ``test_data``) and their source.

  Reads ``../shared/reference/datasets.pkl`` (relative to the repository root) with
  ``jqmeta.io.load_reference_dataset``; if the folder is missing, falls back to
  seeded random G(n, 0.5) graphs of the same sizes (1008 training graphs n = 6..9,
  test graphs n = 10..14).
  """
  if REFERENCE_DATASET.is_file():
    return io.load_reference_dataset(REFERENCE_DATASET), str(REFERENCE_DATASET.resolve())
  train = []
  for n, count in ((6, 168), (7, 224), (8, 280), (9, 336)):
    train += random_graphs(n, count, seed=n)
  test = []
  for n, count in ((10, 14), (11, 16), (12, 18), (13, 20), (14, 22)):
    test += random_graphs(n, count, seed=100 + n)
  val = random_graphs(10, 5, seed=99)
  return ({"train_data": train, "val_data": val, "test_data": test},
          "random G(n, 0.5) fallback (../shared/reference missing)")


def stack_graphs(nx_graphs: Sequence[Any]):
  """Batched ``jqmeta.graphs.Graph`` of networkx graphs, padded to common shapes."""
  from jqmeta import graphs  # pylint: disable=import-outside-toplevel
  return graphs.stack([graphs.from_networkx(G) for G in nx_graphs])


def finish(results: dict, report: Callable[[dict], str], *, json_path: Optional[str],
           load_before, t_start: float, md_path: Optional[str] = None, **machine_extra) -> int:
  """Adds ``results["machine"]``, prints ``report(results)`` and writes JSON / markdown."""
  results["machine"] = machine_info(
      load_average_start=load_before,
      shared_machine_note="2 cores shared with other jobs: timings are noisy",
      wall_s=time.perf_counter() - t_start, **machine_extra)
  text = report(results)
  print()
  print(text)
  write_json(json_path, results)
  write_text(md_path, text)
  return 0


PINNED_CPU = "0"
"""The core ``taskset`` pins like-for-like runs to."""


def pinned_env(base: Optional[dict] = None) -> dict:
  """Environment for one thread per system (OpenMP, numba, BLAS and XLA:CPU).

  XLA honours ``--xla_cpu_multi_thread_eigen=false`` but keeps some threads of its own,
  so pinning (``taskset``) is what actually bounds it; callers check CPU time per wall
  second.
  """
  env = dict(os.environ if base is None else base)
  for var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS",
              "OPENBLAS_NUM_THREADS"):
    env[var] = "1"
  env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                      "intra_op_parallelism_threads=1").strip()
  return env


def _quartiles(xs: Sequence[float]) -> tuple[float, float]:
  if len(xs) < 2:
    return xs[0], xs[0]
  q = statistics.quantiles(xs, n=4, method="inclusive")
  return q[0], q[2]


def interleaved_timings(fns: dict, *, repeats: int, min_sample_s: float = 2e-3,
                        max_inner: int = 200, budget_s: Optional[float] = None,
                        min_repeats: int = 3) -> dict:
  """Times several callables round-robin, so load drifts hit all of them alike.

  Each ``fns[name]()`` must block until its result is ready.  Two untimed calls each: a
  warm-up, then one that calibrates ``inner``, the calls per sample that make a sample
  last at least ``min_sample_s`` (calibrating on the warm-up itself, often several times
  slower, left sub-millisecond calls at 2-6 per sample, each sample's first call cold
  after the other systems ran).  Then, for each of ``repeats`` rounds, every system runs one
  sample, in an order rotated by one each round.

  Returns:
    ``{name: {"median_s", "q1_s", "q3_s", "min_s", "max_s" (per call), "inner",
    "repeats", "cpu_per_wall"}}``; ``cpu_per_wall`` is process CPU time (all threads,
    ``time.process_time``) over wall time of the timed calls: about 1 for one busy core.
  """
  names = list(fns)
  inner, cost = {}, {}
  for name in names:
    fns[name]()  # the first call after compiling can be several times slower
    s = time.perf_counter()
    fns[name]()
    single = max(time.perf_counter() - s, 1e-7)
    inner[name] = int(min(max(1, -(-min_sample_s // single)), max_inner))
    cost[name] = single * inner[name]
  if budget_s is not None:
    repeats = min(repeats, max(min_repeats, int(budget_s / max(sum(cost.values()), 1e-9))))
  samples = {n: [] for n in names}
  cpu = dict.fromkeys(names, 0.0)
  wall = dict.fromkeys(names, 0.0)
  for r in range(max(repeats, 1)):
    for name in names[r % len(names):] + names[:r % len(names)]:
      fn, k = fns[name], inner[name]
      c0, t0 = time.process_time(), time.perf_counter()
      for _ in range(k):
        fn()
      dt, dc = time.perf_counter() - t0, time.process_time() - c0
      samples[name].append(dt / k)
      wall[name] += dt
      cpu[name] += dc
  out = {}
  for name in names:
    xs = samples[name]
    q1, q3 = _quartiles(xs)
    out[name] = {"median_s": statistics.median(xs), "q1_s": q1, "q3_s": q3, "min_s": min(xs),
                 "max_s": max(xs), "inner": inner[name], "repeats": len(xs),
                 "cpu_per_wall": cpu[name] / max(wall[name], 1e-12)}
  return out


def weighted_graphs(n: int, count: int, seed: int) -> list:
  """``count`` seeded connected G(n, 0.5) networkx graphs, weights uniform in [0.1, 1)."""
  rng = np.random.default_rng(seed)
  out = []
  for G in random_graphs(n, count, seed):
    for u, v in G.edges():
      G[u][v]["weight"] = float(rng.uniform(0.1, 1.0))
    out.append(G)
  return out


def forward_fd(f, h: float = 1e-6):
  """``(energy, grad)`` of ``f`` by forward differences: ``2p + 1`` calls (peers without
  gradients; costed, not used for accuracy)."""
  def value_and_grad(a):
    e0 = f(a)
    g = np.empty_like(a)
    for idx in np.ndindex(a.shape):
      b = a.copy()
      b[idx] += h
      g[idx] = (f(b) - e0) / h
    return e0, g
  return value_and_grad


def run_pinned(module: str, args: Sequence[str], *, json_flag: str = "--json") -> dict:
  """Runs ``python -m module *args json_flag TMP`` pinned to core ``PINNED_CPU`` with
  :func:`pinned_env` and returns the JSON it wrote (``{"error": ...}`` if it failed)."""
  if shutil.which("taskset") is None:
    return {"error": "taskset not found"}
  with tempfile.TemporaryDirectory() as tmp:
    out = Path(tmp) / "pinned.json"
    cmd = ["taskset", "-c", PINNED_CPU, sys.executable, "-m", module, *args, json_flag,
           str(out)]
    proc = subprocess.run(cmd, env=pinned_env(), cwd=REPO_ROOT, check=False)
    if proc.returncode != 0 or not out.is_file():
      return {"error": f"pinned run exited with {proc.returncode}"}
    return json.loads(out.read_text())


def fmt_stats(s: Optional[dict], dtype: str = "") -> str:
  """``median [q1-q3] Nc`` of an :func:`interleaved_timings` entry (``Nc``: CPU seconds
  per wall second), `` (64)`` when its ``prec`` is not ``dtype``; a ``skipped`` entry
  shows its single call."""
  if not s:
    return "-"
  if "median_s" not in s:
    return f"skipped ({fmt_s(s['first_call_s'])} once)" if "first_call_s" in s else "skipped"
  prec = "" if s.get("prec", dtype) == dtype else f" ({s['prec'][-2:]})"
  return (f"{fmt_s(s['median_s'])} [{fmt_s(s['q1_s'])}-{fmt_s(s['q3_s'])}] "
          f"{s['cpu_per_wall']:.1f}c{prec}")


def fmt_ratio(x: Optional[float]) -> str:
  """``1.23x`` (``-`` for None)."""
  return "-" if x is None else f"{x:.2f}x"


QOKIT_CFLAGS = ("-O3", "-march=native", "-fopenmp", "-fPIC", "-shared")
"""gcc flags for QOKit's C simulator (the library the wheel ships links no OpenMP)."""


def qokit_csim_dir() -> Path | None:
  """``qokit/fur/c/csim`` of the installed QOKit (found without importing it), or None."""
  spec = importlib.util.find_spec("qokit")
  return None if spec is None or spec.origin is None else (
      Path(spec.origin).parent / "fur" / "c" / "csim")


def build_qokit() -> str:
  """Compiles QOKit's C simulator where QOKit looks for it; returns the command line.

  QOKit 0.1.4's wheel ships ``qokit/fur/c/csim/src/*.c`` without their headers, and
  loads ``qokit/fur/c/csim/libcsim.so``; this writes headers with the prototypes the
  sources define, builds with :data:`QOKIT_CFLAGS` and records the command in
  ``libcsim.build.txt`` (see ``benchmarks.compare_simulators``).
  """
  d = qokit_csim_dir()
  if d is None or not (d / "src").is_dir():
    raise RuntimeError("QOKit (with its C sources) is not installed: pip install qokit")
  sources = sorted((d / "src").glob("*.c"))
  text = "\n".join(s.read_text() for s in sources)
  protos = [" ".join(m.split()) + ";" for m in re.findall(r"^void\s+\w+\s*\([^)]*\)", text,
                                                          flags=re.M)]
  with tempfile.TemporaryDirectory() as inc:
    for s in sources:
      Path(inc, s.stem + ".h").write_text("#pragma once\n#include <stddef.h>\n"
                                          + "\n".join(protos) + "\n")
    cmd = ["gcc", *QOKIT_CFLAGS, "-I", inc, *map(str, sources), "-o",
           str(d / "libcsim.so"), "-lm"]
    subprocess.run(cmd, check=True)
  line = " ".join(cmd).replace(inc, "<headers>")
  (d / "libcsim.build.txt").write_text(line + "\n")
  return line
