"""Smoke tests of the benchmarks package: each script runs as ``python -m benchmarks.X``
in a subprocess with the hidden ``--smoke`` flag (smallest settings) and must write JSON
with the documented keys.
The three subprocesses start together; no timing is asserted; each is bounded by a
timeout.
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
TIMEOUT_S = 420  # hang bounds: the suite runs two test processes on 2 cores


def _start(script: str, tmp_path: Path, *extra: str, env_extra=None):
  out = tmp_path / f"{script}.json"
  env = dict(os.environ)
  env.setdefault("JAX_PLATFORMS", "cpu")
  env.update(env_extra or {})
  cmd = [sys.executable, "-m", f"benchmarks.{script}", "--quick", "--smoke", "--json", str(out),
         *extra]
  proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, cwd=BENCH.parent)
  return script, proc, out


def _result(started) -> dict:
  script, proc, out = started
  try:
    stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
  except subprocess.TimeoutExpired:
    proc.kill()
    proc.communicate()
    pytest.fail(f"{script} --smoke did not finish within {TIMEOUT_S}s")
  assert proc.returncode == 0, f"{script} failed:\n{stdout[-3000:]}\n{stderr[-5000:]}"
  assert out.is_file(), f"{script} wrote no JSON:\n{stdout[-2000:]}"
  return json.loads(out.read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """Starts the three scripts at once (compiles are mostly single-threaded)."""
  tmp = tmp_path_factory.mktemp("bench")
  started = {
      "compare_pytorch": _start("compare_pytorch", tmp, "--md", str(tmp / "table.md"),
                                "--png", str(tmp / "speedups.png")),
      "scaling": _start("scaling", tmp, "--png", str(tmp / "scaling.png")),
      # Two forced CPU devices: the single-device sweep and the jqmeta.parallel one.
      "wht_shapes": _start("wht_shapes", tmp),
      "call_floor": _start("call_floor", tmp, "--n", "8"),
      "core_crossover": _start("core_crossover", tmp),
      "batch_sweep": _start("batch_sweep", tmp, "--devices", "all",
                            env_extra={"XLA_FLAGS": "--xla_force_host_platform_device_count=2",
                                       "JAX_PLATFORMS": "cpu"}),
  }
  yield tmp, started
  for _, proc, _ in started.values():
    if proc.poll() is None:
      proc.kill()
      proc.communicate()


def _has(d: dict, *keys: str) -> None:
  missing = [k for k in keys if k not in d]
  assert not missing, f"missing keys {missing} in {sorted(d)}"


def test_compare_pytorch_smoke(runs):
  tmp, started = runs
  md, png = tmp / "table.md", tmp / "speedups.png"
  r = _result(started["compare_pytorch"])
  _has(r, "qaoa_energy_grad", "meta_train_step", "epoch", "machine", "settings")
  _has(r["qaoa_energy_grad"], "n10_p1")
  _has(r["qaoa_energy_grad"]["n10_p1"], "jqmeta_s", "jqmeta_auto_s", "torch_s",
       "pennylane_jax_s", "speedup")
  assert r["qaoa_energy_grad"]["n10_p1"]["jqmeta_s"] > 0
  _has(r["meta_train_step"], "lstm")
  _has(r["meta_train_step"]["lstm"], "jqmeta_s", "torch_s", "speedup")
  _has(r["epoch"], "lstm")
  _has(r["epoch"]["lstm"], "jqmeta_s", "torch_s_estimated", "speedup")
  _has(r["machine"], "jax", "cpu_count", "OMP_NUM_THREADS")
  assert md.read_text().startswith("### QAOA energy + gradient")
  assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_wht_shapes_smoke(runs):
  """The block-shape sweep times every candidate split against the library's own shape."""
  from benchmarks import wht_shapes  # pylint: disable=import-outside-toplevel
  from jqmeta._src import wht_core  # pylint: disable=import-outside-toplevel
  _, started = runs
  r = _result(started["wht_shapes"])
  assert [(c["n"], c["dtype"]) for c in r["sweeps"]] == [(7, "float32"), (7, "float64")]
  for c in r["sweeps"]:
    shapes = [tuple(row["shape"]) for row in c["rows"]]
    assert sorted(shapes) == sorted(set(wht_shapes.candidates(6)) | {wht_core.wht_shape(6)})
    current = [row for row in c["rows"] if row["current"]]
    assert [tuple(row["shape"]) for row in current] == [wht_core.wht_shape(6)]
    assert current[0]["vs_current"] == pytest.approx(1.0)
    for row in c["rows"]:
      assert set(row["median_s"]) == {"energy", "energy_grad", "batch"}
      assert all(t > 0 for t in row["median_s"].values())


def test_core_crossover_smoke(runs):
  """Both cores timed on each case, and the ratios are the medians' ratios."""
  _, started = runs
  r = _result(started["core_crossover"])
  assert [(c["n"], c["p"], c["dtype"]) for c in r["cases"]] == [(6, 1, "float32"),
                                                                  (6, 1, "float64")]
  for c in r["cases"]:
    m = c["median_s"]
    assert set(m) == {f"{core}_{q}" for core in ("wht", "kron")
                      for q in ("energy", "energy_grad")} and min(m.values()) > 0
    for q in ("energy", "energy_grad"):
      assert c["kron_over_wht"][q] == pytest.approx(m[f"kron_{q}"] / m[f"wht_{q}"])


def test_call_floor_smoke(runs):
  """The per-call floor: every case timed, the energy's per-layer fit consistent with
  the medians it was fitted to (the fit's line passes within their spread)."""
  _, started = runs
  r = _result(started["call_floor"])
  assert [c["dtype"] for c in r["cases"]] == ["float32", "float64"]
  for c in r["cases"]:
    _has(c["median_s"], "empty", "one_gemm", "eight_gemms", "energy_p1", "energy_p3",
         "energy_p6")
    assert all(t > 0 for t in c["median_s"].values())
    fit = [c["energy_intercept_s"] + c["energy_per_layer_s"] * p for p in (1, 3, 6)]
    got = [c["median_s"][f"energy_p{p}"] for p in (1, 3, 6)]
    assert np.isclose(np.mean(fit), np.mean(got), rtol=1e-9)  # least squares: same mean
    assert c["empty_share_p1"] == pytest.approx(c["median_s"]["empty"]
                                                 / c["median_s"]["energy_p1"])


@pytest.mark.parametrize("n_rest", [3, 6, 9, 12])
def test_wht_shape_candidates_are_every_split(n_rest):
  """``candidates`` lists each split into 3..6-qubit blocks (at most 5) exactly once,
  checked against a brute-force enumeration of ordered compositions."""
  import itertools  # pylint: disable=import-outside-toplevel
  from benchmarks import wht_shapes  # pylint: disable=import-outside-toplevel
  want = {tuple(sorted(c, reverse=True)) for r in range(1, 6)
          for c in itertools.product(range(3, 7), repeat=r) if sum(c) == n_rest}
  got = wht_shapes.candidates(n_rest)
  assert len(got) == len(set(got))
  assert {tuple(int(np.log2(d)) for d in s) for s in got} == want


def test_scaling_smoke(runs):
  tmp, started = runs
  png = tmp / "scaling.png"
  r = _result(started["scaling"])
  _has(r, "energy_grad", "compile_vs_p", "bandwidth", "achieved", "breakdown", "machine")
  _has(r["energy_grad"], "n10_p1")
  _has(r["energy_grad"]["n10_p1"], "median_s", "compile_s", "model_bytes", "xla_temp_bytes")
  _has(r["compile_vs_p"], "cases", "max_over_min")
  _has(r["bandwidth"], "floor_gb_per_s", "fault_cost_s", "ops")
  assert r["bandwidth"]["floor_gb_per_s"] > 0
  _has(r["achieved"], "cases", "model")
  assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_batch_sweep_smoke_sharded(runs):
  _, started = runs
  r = _result(started["batch_sweep"])
  _has(r, "throughput", "settings", "machine")
  assert r["settings"]["mesh_size"] == 2
  entry = r["throughput"]["p1"]
  _has(entry, "rows", "saturation", "sharded_saturation")
  assert [row["batch"] for row in entry["rows"]] == [1, 8]
  for row in entry["rows"]:
    _has(row, "graphs_per_s", "speedup_vs_batch1", "sharded_graphs_per_s", "compile_s")


def test_gpu_check_smoke(tmp_path):
  """The prepared accelerator script runs end to end on CPU at n = 10, p = 2."""
  out = tmp_path / "gpu"
  env = dict(os.environ)
  env.setdefault("JAX_PLATFORMS", "cpu")
  proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--smoke", "--out",
                         str(out)], env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
                        cwd=BENCH.parent)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
  r = json.loads((out / "gpu_check.json").read_text())
  _has(r["energy"], "energy", "energy_and_grad", "meets_target", "speedup_vs_qokit_a10g")
  assert r["energy"]["n"] == 10 and r["energy"]["p"] == 2
  assert np.isfinite(r["energy"]["energy_value"]) and r["energy"]["energy_value"] < 0


SIM_PEERS = {"qokit": "qokit", "lightning": "pennylane_lightning", "aer": "qiskit_aer"}


@pytest.fixture(scope="module")
def simulators_run(tmp_path_factory):
  """``compare_simulators --smoke`` in default-thread mode (in one process, no taskset):
  n = 10, p = 1, float64, every installed peer."""
  out = tmp_path_factory.mktemp("sim") / "sim.json"
  env = dict(os.environ)
  env.setdefault("JAX_PLATFORMS", "cpu")
  proc = subprocess.run([sys.executable, "-m", "benchmarks.compare_simulators", "--smoke",
                         "--mode", "default", "--json", str(out)], env=env, capture_output=True,
                        text=True, timeout=TIMEOUT_S, cwd=BENCH.parent)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
  return json.loads(out.read_text())["modes"]["default"]


def test_compare_simulators_smoke_jqmeta(simulators_run):
  r = simulators_run
  _has(r, "peers", "cells", "settings", "machine")
  assert sorted(r["peers"]) == sorted(SIM_PEERS)
  cells = {(c["quantity"], c["n"], c["p"], c["dtype"]): c for c in r["cells"]}
  _has(cells, ("energy", 10, 1, "float64"), ("energy_grad", 10, 1, "float64"),
       ("batch", 8, 1, "float64"))
  for c in cells.values():
    s = c["systems"]["jqmeta"]
    _has(s, "median_s", "q1_s", "q3_s", "cpu_per_wall", "compile_s")
    assert 0 < s["q1_s"] <= s["median_s"] <= s["q3_s"]
  assert cells[("batch", 8, 1, "float64")]["systems"]["jqmeta_loop"]["graphs_per_s"] > 0


@pytest.mark.parametrize("peer", sorted(SIM_PEERS))
def test_compare_simulators_smoke_peer(simulators_run, peer):
  """Each installed peer passed the convention check (float64 energies equal to jqmeta's
  within 1e-10 on random weighted graphs) and was timed on every cell."""
  module = SIM_PEERS[peer]
  if importlib.util.find_spec(module) is None:
    pytest.skip(f"{module} is not installed (pip install -e '.[bench]'; see "
                "benchmarks/compare_simulators.py for QOKit)")
  info = simulators_run["peers"][peer]
  assert info["available"], info.get("reason")
  assert info["verify_max_rel_err"] <= 1e-10
  if peer == "qokit":
    assert info["backend"] in ("c", "python")
    assert (info["label"] == "qokit-python") == (info["backend"] == "python")
  for c in simulators_run["cells"]:
    key = [k for k in c["systems"] if k == info["label"] or k.startswith(info["label"] + "-")]
    assert key, f"{peer} missing from {c['quantity']}"
    s = c["systems"][key[0]]
    assert s["rel_err"] <= 1e-9 and ("median_s" in s or "skipped" in s)


def test_compare_simulators_bad_peer_is_one_line_exit_2():
  proc = subprocess.run([sys.executable, "-m", "benchmarks.compare_simulators", "--peers",
                         "qokit,nosuch"], capture_output=True, text=True, timeout=TIMEOUT_S,
                        cwd=BENCH.parent)
  assert proc.returncode == 2
  assert proc.stderr.strip().count("\n") == 0 and "nosuch" in proc.stderr


@pytest.mark.parametrize("args", [
    ("core_crossover", "--sizes", "a,b"), ("core_crossover", "--dtypes", "float16"),
    ("wht_shapes", "--sizes", "0"), ("wht_shapes", "--p", "0"), ("call_floor", "--n", "2")])
def test_new_benchmarks_refuse_bad_input_in_one_line(args):
  """Bad sizes, depths and dtypes stop the run with argparse's one-line error, exit 2."""
  proc = subprocess.run([sys.executable, "-m", f"benchmarks.{args[0]}", *args[1:]],
                        capture_output=True, text=True, timeout=120, cwd=BENCH.parent)
  assert proc.returncode == 2
  assert "Traceback" not in proc.stderr and f"argument {args[1]}" in proc.stderr.splitlines()[-1]
