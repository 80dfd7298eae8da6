"""Memory budgets of batched work: the default budget, the chunk planner, and every batch
entry point refusing (one instance over the budget) or chunking (the batch over it) with
results equal to the unchunked run.

Chunking is observed through a spy on ``memory.map_in_chunks`` (the one place batches are
split), so a test fails if an entry point silently runs the whole batch at once.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from jqmeta import baselines, evaluation, graphs, meta, models, parallel, qaoa
from jqmeta._src import memory
from conftest import brute_force_cut, random_graph

GIB = 2**30


@pytest.fixture
def x64():
  with jax.enable_x64(True):
    yield


@pytest.fixture
def chunks(monkeypatch):
  """``[(batch, chunk)]`` of every ``map_in_chunks`` traced from now on."""
  calls = []
  real = memory.map_in_chunks

  def spy(fn, xs, chunk):
    calls.append((jax.tree.leaves(xs)[0].shape[0], chunk))
    return real(fn, xs, chunk)

  # Each test below uses its own budget, so its chunked programs are traced afresh.
  monkeypatch.setattr(memory, "map_in_chunks", spy)
  return calls


def _chunked(calls, batch):
  return [c for b, c in calls if b == batch and c is not None and c < batch]


def _batch(n_graphs=4, n=6, dtype=jnp.float64):
  Gs = [random_graph(70 + k, n, weighted=k % 2 == 1) for k in range(n_graphs)]
  b = graphs.stack([graphs.from_networkx(G, n_qubits=n, max_edges=15) for G in Gs])
  return Gs, b.astype(dtype), jnp.asarray([brute_force_cut(G) for G in Gs], dtype)


# ------------------------------------------------------------------ the default budget


def _files(tmp_path, v2=None, v1=None, avail_kb=None):
  paths = {k: str(tmp_path / k) for k in ("cgroup_v2", "cgroup_v1", "meminfo")}
  info = (None if avail_kb is None else
          f"MemTotal:       99999999 kB\nMemFree: 1 kB\nMemAvailable:   {avail_kb} kB\n")
  for key, text in (("cgroup_v2", v2), ("cgroup_v1", v1), ("meminfo", info)):
    if text is not None:
      (tmp_path / key).write_text(text)
  return paths


def test_host_memory_reads_cgroup_and_meminfo(tmp_path):
  both = _files(tmp_path, v2="3221225472\n", avail_kb=8 * 2**20)  # 3 GiB cgroup, 8 GiB free
  assert memory.host_memory(both) == 3 * GIB
  (tmp_path / "a").mkdir()
  tight = _files(tmp_path / "a", v2="max\n", v1="17179869184\n", avail_kb=2**20)
  assert memory.host_memory(tight) == GIB  # v2 unlimited, v1 16 GiB, 1 GiB available
  (tmp_path / "b").mkdir()
  v1_only = _files(tmp_path / "b", v1="9223372036854771712\n", avail_kb=5 * 2**20)
  assert memory.host_memory(v1_only) == 5 * GIB  # v1's "no limit" is ignored
  (tmp_path / "c").mkdir()
  physical = memory.host_memory(_files(tmp_path / "c"))  # nothing readable: physical RAM
  assert physical > GIB and physical == memory.host_memory(
      {"cgroup_v2": "/nonexistent", "cgroup_v1": "/nonexistent", "meminfo": "/nonexistent"})


def test_cpu_default_budget_is_half_of_the_available_memory(tmp_path, monkeypatch):
  monkeypatch.delenv(memory.MEMORY_LIMIT_ENV, raising=False)
  monkeypatch.setattr(memory, "HOST_MEMORY_FILES",
                      _files(tmp_path, v2="1073741824", avail_kb=4 * 2**20))
  assert jax.devices()[0].platform == "cpu"
  assert memory.memory_limit() == GIB // 2 == qaoa.memory_limit()
  monkeypatch.setenv(memory.MEMORY_LIMIT_ENV, "12345")
  assert memory.memory_limit() == 12345


class _FakeDevice:
  """A device stand-in: ``platform`` and ``memory_stats()`` (a dict, ``None``, or raising)."""

  def __init__(self, platform, stats):
    self.platform, self._stats = platform, stats

  def memory_stats(self):
    if isinstance(self._stats, Exception):
      raise self._stats
    return self._stats


def test_accelerator_budget_is_half_of_its_bytes_limit(tmp_path, monkeypatch):
  """An accelerator's allocator limit sets the budget, not the host's RAM; CPU devices and
  backends without stats fall back to the host rule."""
  monkeypatch.delenv(memory.MEMORY_LIMIT_ENV, raising=False)
  monkeypatch.setattr(memory, "HOST_MEMORY_FILES",
                      _files(tmp_path, v2="1073741824", avail_kb=4 * 2**20))
  gpu = _FakeDevice("gpu", {"bytes_limit": 100 * GIB, "bytes_in_use": 3 * GIB})
  assert memory.device_memory(gpu) == 100 * GIB
  for other in (_FakeDevice("cpu", {"bytes_limit": 100 * GIB}), _FakeDevice("gpu", None),
                _FakeDevice("gpu", {}), _FakeDevice("tpu", RuntimeError("no stats"))):
    assert memory.device_memory(other) == GIB  # the 1 GiB cgroup of the host rule
  monkeypatch.setattr(jax, "local_devices", lambda: [gpu])
  assert memory.memory_limit() == 50 * GIB
  with pytest.raises(ValueError, match="over the memory limit of 50 GiB"):
    qaoa.energy(jnp.zeros((2, 1)), graphs.from_networkx(nx.path_graph(2), n_qubits=34))


# ------------------------------------------------------------------------- the planner


def test_chunk_size_arithmetic_and_refusals():
  assert memory.chunk_size(100, 64, 10_000, what="x") == 64
  assert memory.chunk_size(100, 64, 1_000, what="x") == 10
  assert memory.chunk_size(100, 64, 1_000, what="x", n_devices=8) == 8  # 8 per device fit
  assert memory.chunk_size(100, 60, 10_000, what="x", n_devices=7) == 9  # ceil(60 / 7)
  assert memory.chunk_size(100, 64, 10_000, what="x", cap=350) == 3
  assert memory.chunk_size(100, 64, 10_000, what="x", requested=5) == 5
  with pytest.raises(ValueError, match="one thing needs about .* memory limit"):
    memory.chunk_size(2000, 4, 1000, what="one thing")
  with pytest.raises(ValueError, match="chunk of 11"):
    memory.chunk_size(100, 64, 1000, what="x", requested=11)
  with pytest.raises(ValueError, match="must run at once"):
    memory.chunk_size(100, 64, 1000, what="x", chunkable=False)
  assert memory.chunk_size(100, 64, 1000, what="x", n_devices=8, chunkable=False) == 8


def test_map_in_chunks_equals_vmap():
  xs = (jnp.arange(7.0), jnp.arange(14.0).reshape(7, 2))
  fn = lambda a: a[0] * jnp.sum(a[1] ** 2)
  want = np.asarray([x * np.sum(y ** 2) for x, y in zip(*map(np.asarray, xs))])
  for chunk in (None, 1, 3, 7, 100):
    np.testing.assert_allclose(np.asarray(memory.map_in_chunks(fn, xs, chunk)), want, rtol=1e-6)


def test_closed_form_budget_does_not_grow_with_qubits():
  assert memory.energy_bytes(40, 1, jnp.float32, "analytic", 100) < 2**20
  assert memory.energy_bytes(40, 1, jnp.float32, "auto", 100) < 2**20
  assert memory.energy_bytes(40, 2, jnp.float32, "auto", 100) == memory.statevector_bytes(40, 2)


# --------------------------------------------------------------- evaluation entry points


def _per_graph(b, p=1, T=0, method="statevector"):
  return memory.graph_energy_bytes(b, p, jnp.float64, method) * (1 + T)


def test_evaluate_method_chunks_to_fit_and_matches(x64, chunks):
  Gs, b, mc = _batch()
  p1 = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (4, 3, 2, 1)))
  kw = dict(lr=0.05, steps=20, tol=1e-5, phase2_report_step=5)
  ref = evaluation.evaluate_method(p1, None, b, mc, **kw)
  assert not _chunked(chunks, 4)
  out = evaluation.evaluate_method(p1, None, b, mc, memory_limit_bytes=2 * _per_graph(b, T=3)
                                   + 4096, **kw)
  assert _chunked(chunks, 4), chunks  # the 4 graphs did not run at once
  for k in ("phase1_costs", "phase2_costs", "rel_error_curve", "ratio_phase2", "n_steps"):
    np.testing.assert_allclose(out[k], ref[k], rtol=0, atol=1e-12, err_msg=k)
  with pytest.raises(ValueError, match="Phase II of one graph needs .* memory limit"):
    evaluation.evaluate_method(p1, None, b, mc, memory_limit_bytes=_per_graph(b, T=3) // 2, **kw)
  with pytest.raises(ValueError, match="chunk of 4"):
    evaluation.evaluate_method(p1, None, b, mc, batch_size=4,
                               memory_limit_bytes=2 * _per_graph(b, T=3) + 4096, **kw)


def test_evaluate_method_reads_the_environment_budget(x64, chunks, monkeypatch):
  _, b, mc = _batch()
  starts = jnp.asarray(np.random.default_rng(1).uniform(0, 1, (4, 2, 1)))
  kw = dict(lr=0.05, steps=20, tol=1e-5, phase2_report_step=5)
  ref = evaluation.evaluate_method(None, starts, b, mc, **kw)
  monkeypatch.setenv(memory.MEMORY_LIMIT_ENV, str(_per_graph(b) + 4096))
  out = evaluation.evaluate_method(None, starts, b, mc, **kw)
  assert _chunked(chunks, 4) == [1]
  np.testing.assert_allclose(out["phase2_costs"], ref["phase2_costs"], rtol=0, atol=1e-12)


def test_phase1_batch_chunks_and_two_phase_passes_the_budget_on(chunks):
  _, b, mc = _batch(dtype=jnp.float32)
  model = models.create("lstm")
  variables = meta.init(model, jax.random.key(0))
  one = memory.graph_energy_bytes(b, 1, jnp.float32)  # Phase I runs in float32
  a_ref, c_ref = evaluation.phase1_batch(model, variables, b, steps=3)
  a1, c1 = evaluation.phase1_batch(model, variables, b, steps=3, memory_limit_bytes=2 * one)
  assert _chunked(chunks, 4) == [2], chunks
  np.testing.assert_allclose(c1, c_ref, rtol=0, atol=1e-6)
  np.testing.assert_allclose(a1, a_ref, rtol=0, atol=1e-6)
  with pytest.raises(ValueError, match="Phase I of one graph needs"):
    evaluation.phase1_batch(model, variables, b, steps=3, memory_limit_bytes=one // 2)
  # Phase I of all 4 graphs fits 4 float32 instances; Phase II of one graph (float64, with
  # its 3 Phase I energies) does not, and is refused before it runs.
  with pytest.raises(ValueError, match="Phase II of one graph needs"):
    evaluation.two_phase(model, variables, b, mc, steps=3, phase2_steps=6, phase2_report_step=2,
                         memory_limit_bytes=4 * one)


# ---------------------------------------------------------------- baseline entry points


def test_fit_fixed_angles_chunks_graphs_and_refuses(x64, chunks):
  _, b, mc = _batch(n_graphs=6)
  kw = dict(grid=6, steps=15, max_cut_values=mc)
  ref = baselines.fit_fixed_angles(b, **kw)
  one = memory.graph_energy_bytes(b, 1, jnp.float64, "statevector")
  out = baselines.fit_fixed_angles(b, memory_limit_bytes=3 * one, **kw)  # 3 of 6 graphs
  assert _chunked(chunks, 6), chunks  # the graph batch itself was split
  np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=0, atol=1e-9)
  with pytest.raises(ValueError, match="one training graph needs .* memory limit"):
    baselines.fit_fixed_angles(b, memory_limit_bytes=one // 2, **kw)
  with pytest.raises(ValueError, match="chunk of 36"):
    baselines.fit_fixed_angles(b, chunk_size=36, memory_limit_bytes=12 * one, **kw)


def test_p1_optimum_budget_chunks_grid_and_refuses(x64, chunks):
  _, b, _ = _batch()
  g = graphs.unstack(b)[1]
  one = memory.graph_energy_bytes(g, 1, jnp.float64, "statevector")
  kw = dict(grid=6, steps=10, newton_steps=2)
  a_ref, c_ref = jax.jit(lambda g: baselines.p1_optimum(g, **kw))(g)
  a, c = jax.jit(lambda g: baselines.p1_optimum(g, memory_limit_bytes=7 * one, **kw))(g)
  assert _chunked(chunks, 36), chunks  # 36 grid points, 7 at a time
  np.testing.assert_allclose(float(c), float(c_ref), rtol=0, atol=1e-12)
  # Near an optimum the energy pins the angles only to about sqrt(eps).
  np.testing.assert_allclose(np.asarray(a), np.asarray(a_ref), rtol=0, atol=1e-6)
  with pytest.raises(ValueError, match="one angle pair needs .* memory limit"):
    baselines.p1_optimum(g, memory_limit_bytes=one // 2, **kw)


def test_p1_optimum_batch_sizes_the_graph_batch(x64, chunks):
  _, b, _ = _batch()
  one = memory.graph_energy_bytes(b, 1, jnp.float64, "statevector")
  kw = dict(grid=4, steps=10, newton_steps=2)
  a_ref, c_ref = baselines.p1_optimum_batch(b, **kw)
  # one graph's search holds max(16 grid points, 4 starts x 5 gradients) = 20 instances
  a, c = baselines.p1_optimum_batch(b, memory_limit_bytes=45 * one, **kw)
  assert _chunked(chunks, 4) == [2], chunks  # 2 graphs at a time
  np.testing.assert_allclose(np.asarray(c), np.asarray(c_ref), rtol=0, atol=1e-12)
  np.testing.assert_allclose(np.asarray(a), np.asarray(a_ref), rtol=0, atol=1e-6)
  with pytest.raises(ValueError, match="one angle pair needs"):
    baselines.p1_optimum_batch(b, memory_limit_bytes=one // 2, **kw)


# ---------------------------------------------------------------- parallel entry points


def test_batch_energy_helpers_chunk_and_refuse(x64, chunks):
  _, b, _ = _batch()
  angles = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (4, 2, 2)))
  mesh = parallel.make_mesh(1)
  one = memory.graph_energy_bytes(b, 2, jnp.float64, "statevector")
  e_ref, g_ref = parallel.batch_energy_and_grad(angles, b, mesh)
  e = parallel.batch_energy(angles, b, mesh, memory_limit_bytes=one)
  e2, g2 = parallel.batch_energy_and_grad(angles, b, mesh, memory_limit_bytes=2 * one)
  assert sorted(_chunked(chunks, 4)) == [1, 2], chunks
  for got, want in ((e, e_ref), (e2, e_ref), (g2, g_ref)):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=1e-12)
  with pytest.raises(ValueError, match="one graph needs .* memory limit"):
    parallel.batch_energy(angles, b, mesh, memory_limit_bytes=one // 2)
  model = models.create("lstm")
  variables = meta.init(model, jax.random.key(1))
  a_ref, c_ref = parallel.batch_phase1(model, variables, b, 3, mesh)
  a1, c1 = parallel.batch_phase1(model, variables, b, 3, mesh, memory_limit_bytes=one)
  np.testing.assert_allclose(np.asarray(c1), np.asarray(c_ref), rtol=0, atol=1e-12)
  np.testing.assert_allclose(np.asarray(a1), np.asarray(a_ref), rtol=0, atol=1e-12)
  with pytest.raises(ValueError, match="Phase I of one graph"):
    parallel.batch_phase1(model, variables, b, 3, mesh, memory_limit_bytes=one // 2)


def test_sixty_four_graphs_over_a_twelve_qubit_budget_no_longer_run_at_once(chunks):
  """The issue's example: the budget of ONE 12-qubit statevector, 64 graphs vmapped."""
  G = nx.random_regular_graph(3, 12, seed=0)
  b = graphs.stack([graphs.from_networkx(G)] * 64)
  angles = jnp.full((64, 2, 1), 0.3)
  e = parallel.batch_energy(angles, b, parallel.make_mesh(1),
                            memory_limit_bytes=qaoa.statevector_bytes(12))
  assert _chunked(chunks, 64) == [1]
  np.testing.assert_allclose(np.asarray(e), float(qaoa.energy(angles[0], graphs.unstack(b)[0])),
                             rtol=1e-6)
