"""parallel: padding, meshes, sharded batches on 8 forced CPU devices, two processes.

The multi-device checks run in subprocesses because the device count is fixed when
JAX starts: the child gets ``XLA_FLAGS=--xla_force_host_platform_device_count=8`` and
``JAX_PLATFORMS=cpu``.  The multi-process check starts two local processes (2 CPU
devices each) that join over 127.0.0.1 with ``parallel.initialize_distributed``; it
skips, with the error, only if this jax cannot run CPU collectives across processes.
Every subprocess is bounded by a timeout.
"""
import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from jqmeta import graphs, parallel, qaoa

CHILD_TIMEOUT_S = 600  # a hang bound: the child compiles many programs on a shared CPU
MULTIPROCESS_TIMEOUT_S = 300


def _child_env(n_devices: int, **extra) -> dict:
  env = dict(os.environ)
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n_devices}"
  env["JAX_PLATFORMS"] = "cpu"
  env.pop("JAX_ENABLE_X64", None)
  for key in (parallel.COORDINATOR_ENV, parallel.NUM_PROCESSES_ENV, parallel.PROCESS_ID_ENV):
    env.pop(key, None)
  env.update(extra)
  return env


def _popen(script, env) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, str(script)], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait(procs, timeout: int, what: str):
  """``[(returncode, stdout, stderr)]``; kills them all and fails on a timeout."""
  outputs = []
  try:
    for proc in procs:
      outputs.append((proc.communicate(timeout=timeout), proc.returncode))
  except subprocess.TimeoutExpired:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
        proc.communicate()
    pytest.fail(f"{what} timed out after {timeout}s")
  return [(rc, out, err) for (out, err), rc in outputs]


@pytest.fixture(scope="module", autouse=True)
def launched(tmp_path_factory):
  """Starts the 8-device child and the two loopback workers when the module starts, so
  their compiles (mostly single-threaded) overlap with each other and with the
  in-process tests; each subprocess test then waits for its own processes."""
  tmp = tmp_path_factory.mktemp("parallel")
  (tmp / "child.py").write_text(textwrap.dedent(EIGHT_DEVICES))
  (tmp / "worker.py").write_text(textwrap.dedent(WORKER))
  port = _free_port()
  workers = [_popen(tmp / "worker.py",
                    _child_env(2, **{parallel.COORDINATOR_ENV: f"127.0.0.1:{port}",
                                     parallel.NUM_PROCESSES_ENV: "2",
                                     parallel.PROCESS_ID_ENV: str(rank)}))
             for rank in range(2)]
  eight = _popen(tmp / "child.py", _child_env(8))
  procs = {"eight": eight, "workers": workers, "port": port}
  yield procs
  for proc in [eight, *workers]:
    if proc.poll() is None:
      proc.kill()
      proc.communicate()


# ---------------------------------------------------------------- in-process (1 device)


def _small_batch(sizes=(3, 5, 4)):
  return graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in sizes])


def test_pad_batch_repeats_last_and_masks():
  b = _small_batch()
  angles = np.arange(3 * 2 * 1, dtype=np.float32).reshape(3, 2, 1)
  (padded_angles, padded_graphs), mask = parallel.pad_batch((angles, b), 4)
  assert isinstance(padded_angles, np.ndarray)  # numpy stays on the host
  assert padded_angles.shape == (4, 2, 1)
  np.testing.assert_array_equal(padded_angles[3], angles[2])
  assert padded_graphs.n_qubits == b.n_qubits  # static field stays static
  assert padded_graphs.batch_shape == (4,)
  for leaf, original in zip(jax.tree.leaves(padded_graphs), jax.tree.leaves(b)):
    np.testing.assert_array_equal(leaf[3], original[2])
    np.testing.assert_array_equal(leaf[:3], original)
  assert mask.dtype == jnp.bool_ and mask.tolist() == [True, True, True, False]


def test_pad_batch_noop_and_errors():
  x = jnp.arange(8.0)
  same, mask = parallel.pad_batch(x, 4)
  assert same is x and bool(mask.all())
  with pytest.raises(ValueError, match="disagree"):
    parallel.pad_batch((np.zeros(3), np.zeros(4)), 2)
  with pytest.raises(ValueError, match="positive int"):
    parallel.pad_batch(np.zeros(3), 0)
  with pytest.raises(ValueError, match="scalar leaf"):
    parallel.pad_batch((np.zeros(3), np.float32(1)), 2)


def test_make_mesh_variants_and_errors():
  n = len(jax.devices())
  assert dict(parallel.make_mesh().shape) == {"batch": n}
  assert dict(parallel.make_mesh(1).shape) == {"batch": 1}
  assert parallel.make_mesh([jax.devices()[0]]).devices.tolist() == [jax.devices()[0]]
  assert dict(parallel.make_mesh("local").shape) == {"batch": len(jax.local_devices())}
  with pytest.raises(ValueError, match="xla_force_host_platform_device_count"):
    parallel.make_mesh(n + 1)
  with pytest.raises(ValueError):
    parallel.make_mesh("everything")
  with pytest.raises(ValueError, match="duplicates"):
    parallel.make_mesh([jax.devices()[0]] * 2)


def test_shard_batch_and_sharded_map_single_device():
  mesh = parallel.make_mesh(1)
  b = parallel.shard_batch(_small_batch(), mesh)
  assert b.edges.sharding.spec == jax.sharding.PartitionSpec("batch")
  square = parallel.sharded_map(lambda x, y: x * y, mesh, in_axes=(0, None))
  np.testing.assert_array_equal(square(jnp.arange(3.0), 2.0), [0.0, 2.0, 4.0])
  with pytest.raises(ValueError, match="in_axes"):
    parallel.sharded_map(lambda x: x, mesh, in_axes=(1,))(jnp.zeros(2))
  # batch_size: each device maps over its slice in chunks; broadcast arguments still work.
  chunked = parallel.sharded_map(lambda x, y: x * y + jnp.sum(x), mesh, in_axes=(0, None),
                                 batch_size=2)
  x = np.arange(10.0).reshape(5, 2)
  np.testing.assert_array_equal(chunked(jnp.asarray(x), 3.0), x * 3 + x.sum(1, keepdims=True))
  with pytest.raises(ValueError, match="batch_size"):
    parallel.sharded_map(lambda x: x, mesh, batch_size=0)
  # Inside an outer jit and grad (placement is then left to XLA): the same numbers.
  batch = _small_batch()
  angles = jnp.full((3, 2, 1), 0.3)
  got = jax.jit(jax.grad(lambda a: jnp.sum(parallel.batch_energy(a, batch, mesh))))(angles)
  want = jax.grad(lambda a: jnp.sum(jax.vmap(qaoa.energy)(a, batch)))(angles)
  np.testing.assert_allclose(got, want, rtol=1e-6)


def test_initialize_distributed_incomplete_settings(monkeypatch):
  for key in (parallel.COORDINATOR_ENV, parallel.NUM_PROCESSES_ENV, parallel.PROCESS_ID_ENV):
    monkeypatch.delenv(key, raising=False)
  with pytest.raises(ValueError, match="JQMETA_NUM_PROCESSES, JQMETA_PROCESS_ID"):
    parallel.initialize_distributed("127.0.0.1:1234")
  monkeypatch.setenv(parallel.NUM_PROCESSES_ENV, "two")
  with pytest.raises(ValueError, match="not a valid int"):
    parallel.initialize_distributed("127.0.0.1:1234", process_id=0)
  with pytest.raises(ValueError, match="host:port"):
    parallel.initialize_distributed("127.0.0.1", 2, 0)
  with pytest.raises(ValueError, match=r"process_id must lie in \[0, 2\)"):
    parallel.initialize_distributed("127.0.0.1:1234", 2, 2)


# --------------------------------------------------------- 8 forced CPU devices (child)

EIGHT_DEVICES = """
import jax, jax.numpy as jnp, networkx as nx, numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P
from jqmeta import baselines, evaluation, graphs, meta, models, parallel, qaoa
from jqmeta._src import memory

assert len(jax.devices()) == 8, jax.devices()
mesh = parallel.make_mesh()
assert dict(mesh.shape) == {"batch": 8}
batch_sharding = NamedSharding(mesh, P("batch"))


def make(B, seed, p):
  # One padded shape (7 qubits, 21 edges) for every batch: fewer compilations.
  rng = np.random.default_rng(seed)
  gs = [graphs.from_networkx(graphs.erdos_renyi(rng, int(n), 0.5), n_qubits=7, max_edges=21)
        for n in rng.integers(4, 8, B)]
  angles = rng.uniform(-1.0, 1.0, (B, 2, p))
  return jnp.asarray(angles, jnp.result_type(float)), graphs.stack(gs)


def rows(tree, k):
  return jax.tree.map(lambda x: x[:k], tree)


cell = models.create("lstm")
variables = meta.init(cell, jax.random.key(0))
ref_energy = jax.jit(jax.vmap(qaoa.energy))
ref_vg = jax.jit(jax.vmap(jax.value_and_grad(qaoa.energy)))
ref_phase1 = jax.jit(jax.vmap(lambda g: meta.phase1(cell, variables, g, 3)))

# float32, 13 graphs padded to 16: equal up to the order of the final 2**n-term sums,
# which XLA:CPU picks by shape (<= a few ulp; see parallel's docstring).
angles, batch = make(13, 0, 2)
got, want = parallel.batch_energy(angles, batch, mesh), ref_energy(angles, batch)
assert got.shape == (13,) and got.dtype == jnp.float32
np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)

# float64: sharded == single-device vmap within 1e-7 (measured ~1e-14), B = 16 and 13.
with jax.enable_x64(True):
  angles16, batch16 = make(16, 1, 3)
  assert angles16.dtype == jnp.float64 and batch16.weights.dtype == jnp.float64
  e_ref, g_ref = ref_vg(angles16, batch16)
  a_ref, c_ref = ref_phase1(batch16)
  for B in (16, 13):
    angles, batch = rows(angles16, B), rows(batch16, B)
    e = parallel.batch_energy(angles, batch, mesh)
    e2, g2 = parallel.batch_energy_and_grad(angles, batch, mesh)
    a1, c1 = parallel.batch_phase1(cell, variables, batch, 3, mesh)
    assert e.shape == (B,) and g2.shape == (B, 2, 3)
    assert a1.shape == (B, 3, 2, 1) and c1.shape == (B, 3) and c1.dtype == jnp.float64
    for got, want in ((e, e_ref), (e2, e_ref), (g2, g_ref), (a1, a_ref), (c1, c_ref)):
      np.testing.assert_allclose(got, want[:B], rtol=0, atol=1e-7)
    if B == 16:  # divisible: outputs stay split over the 8 devices, 2 rows each
      for out in (e, e2, g2, a1, c1):
        assert out.sharding == batch_sharding, out.sharding
        assert len(out.addressable_shards) == 8
        assert {s.data.shape[0] for s in out.addressable_shards} == {2}
    else:  # 13 rows do not split 8 ways: sliced back to 13 rows, replicated
      for out in (e, e2, g2, a1, c1):
        assert out.shape[0] == 13 and out.sharding.spec == P(), out.sharding

  # Padding and mask of a batch of 13: padded rows repeat the last graph.
  angles, batch = rows(angles16, 13), rows(batch16, 13)
  padded, mask = parallel.pad_batch((angles, batch), 8)
  assert mask.tolist() == [True] * 13 + [False] * 3
  placed = parallel.shard_batch(padded, mesh)
  for leaf in jax.tree.leaves(placed):
    assert leaf.sharding == batch_sharding and leaf.shape[0] == 16
  assert placed[1].n_qubits == batch.n_qubits
  run = parallel.sharded_map(qaoa.energy, mesh, return_mask=True)
  e_pad, mask2 = run(angles, batch)
  assert e_pad.shape == (16,) and e_pad.sharding == batch_sharding
  assert mask2.tolist() == mask.tolist()
  e_pad = np.asarray(e_pad)
  np.testing.assert_allclose(e_pad[:13], e_ref[:13], rtol=0, atol=1e-7)
  np.testing.assert_array_equal(e_pad[13:], np.full(3, e_pad[12]))

  # The memory budget applies per device: 16 graphs on 8 devices are 2 per device.
  calls, real = [], memory.map_in_chunks
  def spy(fn, xs, chunk):
    calls.append((jax.tree.leaves(xs)[0].shape[0], chunk))
    return real(fn, xs, chunk)
  memory.map_in_chunks = spy
  one = memory.graph_energy_bytes(batch16, 3, jnp.float64)
  e_fit = parallel.batch_energy(angles16, batch16, mesh, memory_limit_bytes=2 * one)
  assert calls == [], calls  # 2 per device fit: one vmap each, no chunks
  e_one = parallel.batch_energy(angles16, batch16, mesh, memory_limit_bytes=one)
  assert calls == [(2, 1)], calls  # each device's slice of 2, one graph at a time
  for got in (e_fit, e_one):
    np.testing.assert_allclose(got, e_ref, rtol=0, atol=1e-7)
  try:
    parallel.batch_energy(angles16, batch16, mesh, memory_limit_bytes=one // 2)
    raise AssertionError("one graph over the budget was not refused")
  except ValueError as err:
    assert "memory limit" in str(err), err
  memory.map_in_chunks = real

  # evaluate_method and p1_optimum_batch on the mesh (13 graphs, padded to 16, chunked)
  # equal the single-device run.
  angles13, batch13 = rows(angles16, 13), rows(batch16, 13)
  mc = jax.vmap(qaoa.max_cut)(batch13)
  kw = dict(lr=0.05, steps=8, tol=1e-9, phase2_report_step=4)
  ref = evaluation.evaluate_method(None, angles13, batch13, mc, **kw)
  per = memory.graph_energy_bytes(batch13, 3, jnp.float64) + 4096
  got = evaluation.evaluate_method(None, angles13, batch13, mc, mesh=mesh,
                                   memory_limit_bytes=per, **kw)
  for key in ("phase2_costs", "ratio_phase2", "rel_error_curve", "n_steps"):
    assert got[key].shape == ref[key].shape, key
    np.testing.assert_allclose(got[key], ref[key], rtol=0, atol=1e-9, err_msg=key)
  search = dict(grid=4, steps=5, newton_steps=1, method="statevector")
  a_ref, c_ref = baselines.p1_optimum_batch(batch13, **search)
  a_m, c_m = baselines.p1_optimum_batch(batch13, mesh=mesh, **search)
  assert c_m.shape == (13,) and a_m.shape == (13, 2, 1)
  np.testing.assert_allclose(c_m, c_ref, rtol=0, atol=1e-9)
  # The study's best-found search (p = 2, with shared extra starts) on the mesh.
  search = dict(n_random=1, steps=10, newton_steps=0, extra_starts=np.full((1, 2, 2), 0.3))
  b_ref = baselines.best_found_batch(batch13, 2, key=jax.random.key(3), **search)
  b_m = baselines.best_found_batch(batch13, 2, key=jax.random.key(3), mesh=mesh, **search)
  assert b_m.energy.shape == (13,) and b_m.angles.shape == (13, 2, 2)
  np.testing.assert_allclose(b_m.energy, b_ref.energy, rtol=0, atol=1e-9)
  np.testing.assert_allclose(b_m.sources, b_ref.sources, rtol=0, atol=1e-9)
print("EIGHT_DEVICES_OK")
"""


def test_sharded_equals_single_device_on_8_cpu_devices(launched):
  [(rc, out, err)] = _wait([launched["eight"]], CHILD_TIMEOUT_S, "the 8-device child")
  assert rc == 0, f"child failed:\n{out[-3000:]}\n{err[-6000:]}"
  assert "EIGHT_DEVICES_OK" in out


# ------------------------------------------------------------------ two processes

WORKER = """
import json, sys
import numpy as np
from jqmeta import parallel

rank, count = parallel.initialize_distributed(initialization_timeout=60)
import jax, jax.numpy as jnp, networkx as nx
from jqmeta import graphs, qaoa

mesh = parallel.make_mesh()
batch = graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in (3, 4, 5, 6, 5, 4)])
angles = np.random.default_rng(1).uniform(-1.0, 1.0, (6, 2, 2)).astype(np.float32)
energies = parallel.batch_energy(angles, batch, mesh)
host = parallel.to_host(energies)
ref = np.asarray(jax.jit(jax.vmap(qaoa.energy))(jnp.asarray(angles), batch))
print("RESULT " + json.dumps({
    "rank": rank, "count": count, "global_devices": len(jax.devices()),
    "local_devices": len(jax.local_devices()), "mesh": int(mesh.size),
    "fully_addressable": bool(energies.is_fully_addressable),
    "energies": host.tolist(), "max_diff": float(np.max(np.abs(host - ref)))}))
sys.stdout.flush()
jax.distributed.shutdown()
"""

# Substrings of errors that mean "this jax cannot do CPU collectives across processes"
# (older jaxlibs: "Multiprocess computations aren't implemented on the CPU backend").
_UNSUPPORTED = ("Multiprocess computations aren't implemented", "UNIMPLEMENTED",
                "collectives are not supported", "CPU collectives")


def _free_port() -> int:
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_over_loopback(launched):
  port = launched["port"]
  outputs = _wait(launched["workers"], MULTIPROCESS_TIMEOUT_S,
                  f"the two-process run over 127.0.0.1:{port}")
  results = []
  for rc, out, err in outputs:
    if rc != 0:
      last = [line for line in err.strip().splitlines() if line.strip()][-1:] or ["?"]
      if any(s in err for s in _UNSUPPORTED) and "RESULT" not in out:
        pytest.skip(f"jax {jax.__version__} cannot run CPU collectives across processes: "
                    f"{last[0]}")
      pytest.fail(f"worker failed (rc {rc}):\n{out[-2000:]}\n{err[-4000:]}")
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert lines, f"worker printed no result:\n{out}\n{err[-2000:]}"
    results.append(json.loads(lines[-1][len("RESULT "):]))
  assert sorted(r["rank"] for r in results) == [0, 1]
  for r in results:
    assert r["count"] == 2 and r["global_devices"] == 4 and r["local_devices"] == 2
    assert r["mesh"] == 4  # the mesh spans both processes' devices
    assert not r["fully_addressable"]  # the output really lives on both processes
    assert r["max_diff"] == 0.0
  assert results[0]["energies"] == results[1]["energies"]
