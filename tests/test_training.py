"""Tests for jqmeta.training: optimizer and plateau semantics, epochs, stopping, checkpoints.

Everything runs on tiny problems (LSTM, three graphs of n <= 5, steps = 3) so that one
compilation of the epoch is shared by most tests.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import optax
import pytest
from flax import serialization

from jqmeta import graphs, meta, models, training
from jqmeta._src import checkpoint, fileio, torch_compat

# torch is optional (the numpy references always run) and imported lazily: the child
# processes below import this module and should not pay for it.
HAVE_TORCH = importlib.util.find_spec("torch") is not None


def _graph(n: int, p: float, seed: int) -> graphs.Graph:
  return graphs.from_networkx(nx.gnp_random_graph(n, p, seed=seed))


MODEL = models.create("lstm")
VARIABLES = meta.init(MODEL, jax.random.key(0))
TRAIN = graphs.stack([_graph(4, 0.7, 1), _graph(5, 0.6, 2), _graph(5, 0.5, 3)])
VAL = graphs.stack([_graph(5, 0.6, 7), _graph(4, 0.8, 8)])
# With this lr the training loss falls while the validation loss wobbles; plateau
# patience 0 and threshold 0 then halve the learning rates inside four epochs and the
# best epoch is not the last one, so the resume tests also cover the restored
# learning rates, plateau state and best tracking.
REF_CONFIG = training.TrainConfig(epochs=4, steps=3, lr_sequence=2e-2, lr_mapping=2e-2,
                                  plateau_patience=0, plateau_threshold=0.0)


# The reference QLSTM keeps its untrained gate weights in a "circuit" collection.
QLSTM = models.create("qlstm", variant="reference")
QLSTM_VARIABLES = meta.init(QLSTM, jax.random.key(2))
QLSTM_CONFIG = dataclasses.replace(REF_CONFIG, steps=2)


def run_reference(checkpoint_dir=None, *, on_epoch_end=None, resume=False, epochs=None):
  """The small reference run (also executed by the killed child process)."""
  config = REF_CONFIG if epochs is None else dataclasses.replace(REF_CONFIG, epochs=epochs)
  return training.fit(MODEL, VARIABLES, TRAIN, VAL, config, checkpoint_dir=checkpoint_dir,
                      resume=resume, progress=False, on_epoch_end=on_epoch_end)


def _bits(tree):
  leaves, treedef = jax.tree.flatten(tree)
  return treedef, [(np.asarray(x).dtype, np.asarray(x).shape, np.asarray(x).tobytes())
                   for x in leaves]


def assert_identical(a, b):
  assert _bits(a) == _bits(b)


def _strip_seconds(history):
  return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


@pytest.fixture(scope="module")
def reference_run():
  return run_reference()


@jax.jit
def _loss_and_grad(variables, graph):
  def loss(v):
    return meta.weighted_loss(meta.phase1(MODEL, v, graph, 3)[1])
  return jax.value_and_grad(loss)(variables)


# The update reads lr / decay / eps from the state, so this one transformation applies
# the states of any config's make_optimizer (one compilation for all tests).
_OPT = training.make_optimizer(training.TrainConfig())


@jax.jit
def _apply_update(variables, opt_state, grads):
  updates, opt_state = _OPT.update(grads, opt_state, variables)
  return optax.apply_updates(variables, updates), opt_state


# ------------------------------------------------------------------------- optimizer


def test_rmsprop_matches_pytorch_semantics():
  rng = np.random.default_rng(0)
  # |p| < 0.5 so that float32 spacing (< 6e-8) leaves room for the 1e-7 tolerance
  params = {"cell": {"w": rng.uniform(-0.5, 0.4, size=(3, 2)).astype(np.float32)},
            "mapping": {"kernel": rng.uniform(-0.4, 0.4, size=(4,)).astype(np.float32)}}
  grads = [jax.tree.map(lambda x: rng.normal(size=x.shape).astype(np.float32), params)
           for _ in range(3)]
  lrs = {"cell": 1e-3, "mapping": 3e-3}
  config = training.TrainConfig(lr_sequence=lrs["cell"], lr_mapping=lrs["mapping"])
  opt = training.make_optimizer(config)
  state = opt.init({"params": params})
  p = jax.tree.map(jnp.asarray, {"params": params})
  for g in grads:
    updates, state = opt.update(jax.tree.map(jnp.asarray, {"params": g}), state, p)
    p = optax.apply_updates(p, updates)
  p = p["params"]

  # hand-written PyTorch RMSprop, in float32 like torch:
  # v = a v + (1 - a) g^2 (v0 = 0), p -= lr g / (sqrt(v) + eps)
  f32 = np.float32
  for group, leaf in (("cell", "w"), ("mapping", "kernel")):
    ref = params[group][leaf].copy()
    v = np.zeros_like(ref)
    for g in grads:
      gg = g[group][leaf]
      v = f32(0.99) * v + f32(0.01) * gg * gg
      ref = ref - f32(lrs[group]) * gg / (np.sqrt(v) + f32(1e-8))
    assert ref.dtype == np.float32
    np.testing.assert_allclose(np.asarray(p[group][leaf]), ref, rtol=0, atol=1e-7)
    assert np.abs(ref - params[group][leaf]).min() > 1e-3  # it really moved

    if HAVE_TORCH:
      import torch
      t = torch.tensor(params[group][leaf], requires_grad=True)
      topt = torch.optim.RMSprop([t], lr=lrs[group], alpha=0.99, eps=1e-8)
      for g in grads:
        t.grad = torch.tensor(g[group][leaf])
        topt.step()
      np.testing.assert_allclose(np.asarray(p[group][leaf]), t.detach().numpy(), rtol=0,
                                 atol=1e-7)

  assert training.learning_rates(state) == pytest.approx({"sequence": 1e-3, "mapping": 3e-3})
  state2 = training.set_learning_rates(state, lr_sequence=5e-3, lr_mapping=0.0)
  assert training.learning_rates(state2) == pytest.approx({"sequence": 5e-3, "mapping": 0.0})
  assert jax.tree.structure(state2) == jax.tree.structure(state)


# --------------------------------------------------------------------------- plateau


def test_plateau_hand_computed_sequence():
  cfg = training.TrainConfig(lr_sequence=1e-3, lr_mapping=4e-7, plateau_factor=0.5,
                             plateau_patience=2, plateau_threshold=0.1, min_lr=3e-7)
  s = training.plateau_init(cfg)
  assert (s.best, s.num_bad_epochs) == (math.inf, 0)
  trace = []
  # improvement iff v < best * 0.9; a reduction on the 3rd bad epoch in a row (> 2)
  for v in (10.0, 9.5, 9.5, 9.2, 8.0, 7.5, 7.4, 7.3, 7.3, 7.3, 7.3):
    s = training.plateau_update(s, v, cfg)
    trace.append((s.best, s.num_bad_epochs, s.lr_sequence, s.lr_mapping))
  expected = [
      (10.0, 0, 1e-3, 4e-7),      # first value always improves on inf
      (10.0, 1, 1e-3, 4e-7),      # 9.5 is not < 9.0
      (10.0, 2, 1e-3, 4e-7),
      (10.0, 0, 5e-4, 3e-7),      # reduce; mapping max(2e-7, min_lr 3e-7) = 3e-7
      (8.0, 0, 5e-4, 3e-7),       # 8.0 < 9.0
      (8.0, 1, 5e-4, 3e-7),       # 7.5 is not < 7.2
      (8.0, 2, 5e-4, 3e-7),
      (8.0, 0, 2.5e-4, 3e-7),     # reduce; mapping already at min_lr stays
      (8.0, 1, 2.5e-4, 3e-7),
      (8.0, 2, 2.5e-4, 3e-7),
      (8.0, 0, 1.25e-4, 3e-7),
  ]
  assert trace == expected
  assert s.num_reductions == 3

  # torch's relative threshold on negative losses: best * (1 - thr) lies above best, so
  # a slightly worse value still counts as an improvement and replaces best.
  cfg = training.TrainConfig(plateau_patience=0, plateau_threshold=1e-3)
  s = training.plateau_update(training.plateau_init(cfg), -10.0, cfg)
  s = training.plateau_update(s, -9.995, cfg)
  assert (s.best, s.num_bad_epochs, s.lr_sequence) == (-9.995, 0, 6e-6)
  s = training.plateau_update(s, -9.9, cfg)  # worse by more than 0.1 %: bad -> reduce
  assert (s.best, s.num_bad_epochs, s.lr_sequence, s.lr_mapping) == (-9.995, 0, 3e-6, 5e-5)


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_plateau_matches_torch_reduce_lr_on_plateau():
  import torch
  rng = np.random.default_rng(1)
  # negative losses that improve, stall, wobble and worsen (as in this project)
  vals = list(-3.0 - np.cumsum(rng.exponential(0.02, 15)))
  vals += [vals[-1] * (1 - d) for d in rng.uniform(-2e-3, 2e-3, 30)]
  vals += list(vals[-1] + np.cumsum(rng.uniform(0, 0.05, 15)))
  vals += [-1e-9, 0.0, 0.5, 0.4]
  for patience, threshold in ((3, 1e-3), (0, 1e-2), (1, 0.0)):
    cfg = training.TrainConfig(plateau_patience=patience, plateau_threshold=threshold)
    w1, w2 = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([{"params": [w1], "lr": cfg.lr_sequence},
                            {"params": [w2], "lr": cfg.lr_mapping}], lr=1.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        topt, mode="min", factor=cfg.plateau_factor, patience=patience,
        threshold=threshold, threshold_mode="rel", cooldown=0, min_lr=cfg.min_lr, eps=1e-8)
    s = training.plateau_init(cfg)
    for v in vals:
      sched.step(float(v))
      s = training.plateau_update(s, float(v), cfg)
      lrs = [g["lr"] for g in topt.param_groups]
      assert [s.lr_sequence, s.lr_mapping] == lrs
      assert s.num_bad_epochs == sched.num_bad_epochs
      assert s.best == sched.best
    assert s.num_reductions >= 1  # each setting exercised reductions
  assert s.lr_sequence == cfg.min_lr  # ... down to the floor


# ----------------------------------------------------------------------------- epochs


def test_epoch_equals_loop_of_single_updates():
  config = training.TrainConfig(steps=3, lr_sequence=1e-2, lr_mapping=1e-2)
  variables = VARIABLES
  opt = training.make_optimizer(config)
  state0 = opt.init(variables)
  new_variables, _, losses = training.make_epoch_fn(MODEL, config)(variables, state0, TRAIN)
  assert losses.shape == (3,)

  p, s, ref_losses = variables, state0, []
  for g in graphs.unstack(TRAIN):
    loss, grads = _loss_and_grad(p, g)
    p, s = _apply_update(p, s, grads)
    ref_losses.append(float(loss))
  np.testing.assert_allclose(np.asarray(losses), ref_losses, rtol=0, atol=1e-6)
  # float32: the batched program sums in a different order than the single-graph one
  # (GEMM rows of the whole batch; measured 1.1e-6 after the two RMSprop updates).
  for a, b in zip(jax.tree.leaves(new_variables), jax.tree.leaves(p)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=4e-6)
  moved = max(float(jnp.max(jnp.abs(a - b))) for a, b in
              zip(jax.tree.leaves(new_variables), jax.tree.leaves(variables)))
  assert moved > 1e-3


def test_loss_decreases_and_history(reference_run):
  h = reference_run.history
  assert [r["epoch"] for r in h] == [1, 2, 3, 4]
  assert set(h[0]) == {"epoch", "train_loss", "val_loss", "lr_sequence", "lr_mapping",
                       "seconds"}
  train_losses = [r["train_loss"] for r in h]
  assert all(b < a for a, b in zip(train_losses, train_losses[1:]))
  assert train_losses[-1] < train_losses[0] - 1e-2
  assert reference_run.stopped == "max_epochs"
  # the plateau schedule fired: some later epoch ran with a halved lr
  assert h[0]["lr_sequence"] == 2e-2 and min(r["lr_sequence"] for r in h) <= 1e-2
  assert all(r["lr_sequence"] == r["lr_mapping"] for r in h)
  # the result's variables are the best-validation variables
  val = training.make_val_fn(MODEL, REF_CONFIG)
  best = min(h, key=lambda r: r["val_loss"])
  assert reference_run.best_epoch == best["epoch"]
  assert float(val(reference_run.variables, VAL)) == best["val_loss"]
  assert float(val(reference_run.last_variables, VAL)) == h[-1]["val_loss"]


def test_fit_is_deterministic(reference_run):
  again = run_reference()
  assert_identical(again.variables, reference_run.variables)
  assert_identical(again.last_variables, reference_run.last_variables)
  assert _strip_seconds(again.history) == _strip_seconds(reference_run.history)


def test_minibatch_epoch_is_mean_of_per_graph_losses():
  config = training.TrainConfig(steps=3, batch_size=2, lr_sequence=1e-2, lr_mapping=1e-2)
  variables = VARIABLES
  opt = training.make_optimizer(config)
  state0 = opt.init(variables)
  epoch = training.make_epoch_fn(MODEL, config)
  new_variables, _, losses = epoch(variables, state0, TRAIN)
  # three graphs, batch 2: [g0, g1] then [g2] (padded with g0 at zero weight)
  assert losses.shape == (2,)

  g = graphs.unstack(TRAIN)
  l0, d0 = _loss_and_grad(variables, g[0])
  l1, d1 = _loss_and_grad(variables, g[1])
  np.testing.assert_allclose(float(losses[0]), (float(l0) + float(l1)) / 2, atol=1e-6)
  p, s = _apply_update(variables, state0, jax.tree.map(lambda a, b: (a + b) / 2, d0, d1))
  l2, d2 = _loss_and_grad(p, g[2])
  np.testing.assert_allclose(float(losses[1]), float(l2), atol=1e-6)  # mask excludes pad
  p, s = _apply_update(p, s, d2)
  # float32: the batched program sums in a different order than the single-graph one
  # (GEMM rows of the whole batch; measured 1.1e-6 after the two RMSprop updates).
  for a, b in zip(jax.tree.leaves(new_variables), jax.tree.leaves(p)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=4e-6)


def _observed_improvement(costs) -> float:
  """Verdon et al.'s meta-loss, written out: (1/T) sum_{t>=2} min(C_t - min_{j<t} C_j, 0)."""
  costs = [float(c) for c in costs]
  return sum(min(costs[t] - min(costs[:t]), 0.0) for t in range(1, len(costs))) / len(costs)


def _observed_improvement_jnp(costs):
  terms = [jnp.minimum(costs[t] - jnp.min(costs[:t]), 0.0) for t in range(1, costs.shape[0])]
  return sum(terms) / costs.shape[0]


def test_fit_minibatch_with_the_observed_improvement_loss():
  config = training.TrainConfig(epochs=1, steps=3, batch_size=2, loss="observed_improvement",
                                lr_sequence=2e-2, lr_mapping=2e-2)
  variables = meta.init(MODEL, jax.random.key(1))  # its Phase I costs do not only rise
  state0 = training.make_optimizer(config).init(variables)
  _, _, losses = training.make_epoch_fn(MODEL, config)(variables, state0, TRAIN)
  g = graphs.unstack(TRAIN)
  costs = [np.asarray(meta.phase1(MODEL, variables, gi, 3)[1]) for gi in g[:2]]
  first = (_observed_improvement(costs[0]) + _observed_improvement(costs[1])) / 2
  assert first < -1e-3  # the loss is not trivially zero on these graphs
  np.testing.assert_allclose(float(losses[0]), first, rtol=0, atol=1e-6)
  # the second update sees the variables after the first: one RMSprop step on the mean
  # loss of graphs 0 and 1 (gradient of the loss written out above)
  grads = jax.grad(lambda v: sum(_observed_improvement_jnp(meta.phase1(MODEL, v, gi, 3)[1])
                                 for gi in g[:2]) / 2)(variables)
  after, _ = _apply_update(variables, state0, grads)
  second = _observed_improvement(np.asarray(meta.phase1(MODEL, after, g[2], 3)[1]))
  np.testing.assert_allclose(float(losses[1]), second, rtol=0, atol=2e-6)
  result = training.fit(MODEL, variables, TRAIN, VAL, config, progress=False)
  np.testing.assert_allclose(result.history[0]["train_loss"], (first + second) / 2, rtol=0,
                             atol=2e-6)


def test_minibatch_accepts_a_sharded_batch_axis():
  # Two virtual CPU devices need a fresh process (XLA reads the flag at start-up).
  child = textwrap.dedent(f"""
      import sys
      sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
      import jax, numpy as np
      from jax.sharding import Mesh, NamedSharding, PartitionSpec
      import test_training as t
      from jqmeta import graphs, training
      assert jax.device_count() == 2, jax.devices()
      batch = graphs.stack(graphs.unstack(t.TRAIN) + graphs.unstack(t.VAL)[:1])  # 2 per device
      mesh = Mesh(np.array(jax.devices()), ("batch",))
      sharded = jax.device_put(batch, NamedSharding(mesh, PartitionSpec("batch")))
      assert len(sharded.edges.sharding.device_set) == 2
      config = training.TrainConfig(steps=1, batch_size=3, lr_sequence=1e-2)  # 3 + 1 padded
      variables = t.VARIABLES
      state = training.make_optimizer(config).init(variables)
      epoch = training.make_epoch_fn(t.MODEL, config)
      a = epoch(variables, state, batch)
      b = epoch(variables, state, sharded)
      for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=0, atol=1e-6)
      print("SHARDED-OK", a[2].shape)
  """)
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") +
                        " --xla_force_host_platform_device_count=2").strip())
  out = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True,
                       text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "SHARDED-OK (2,)" in out.stdout


def test_group_learning_rates_qk_lstm_reference():
  model = models.create("qk_lstm", variant="reference")
  variables = meta.init(model, jax.random.key(1))
  params = variables["params"]
  labels = models.param_labels(params)
  train_graphs = graphs.stack(graphs.unstack(TRAIN)[:1])  # steps=1: keeps compile short

  def changed(lr_sequence, lr_mapping):
    config = training.TrainConfig(steps=1, lr_sequence=lr_sequence, lr_mapping=lr_mapping)
    state = training.make_optimizer(config).init(variables)
    new, _, _ = training.make_epoch_fn(model, config)(variables, state, train_graphs)
    out = {"sequence": [], "mapping": []}
    for lab, a, b in zip(jax.tree.leaves(labels), jax.tree.leaves(params),
                         jax.tree.leaves(new["params"])):
      out[lab].append(not np.array_equal(np.asarray(a), np.asarray(b)))
    return out

  only_mapping = changed(0.0, 1e-2)
  assert not any(only_mapping["sequence"]) and all(only_mapping["mapping"])
  only_sequence = changed(1e-2, 0.0)
  assert any(only_sequence["sequence"]) and not any(only_sequence["mapping"])


def test_custom_optimizer_trains_and_keeps_the_circuit_frozen():
  assert set(QLSTM_VARIABLES) == {"params", "circuit"}
  config = dataclasses.replace(QLSTM_CONFIG, epochs=3)
  result = training.fit(QLSTM, QLSTM_VARIABLES, TRAIN, VAL, config,
                        optimizer=optax.adam(1e-2), progress=False)
  train_losses = [r["train_loss"] for r in result.history]
  assert len(train_losses) == 3 and train_losses[-1] < train_losses[0]
  # plain adam injects no learning rate: no plateau schedule, None in the history
  assert all(r["lr_sequence"] is None and r["lr_mapping"] is None for r in result.history)
  assert_identical(result.variables["circuit"], QLSTM_VARIABLES["circuit"])
  assert_identical(result.last_variables["circuit"], QLSTM_VARIABLES["circuit"])
  assert any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in
             zip(jax.tree.leaves(result.last_variables["params"]),
                 jax.tree.leaves(QLSTM_VARIABLES["params"])))


def test_custom_optimizer_with_injected_rate_follows_the_plateau():
  # with this rate the validation loss worsens after epoch 1, so the rate is halved
  optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=0.1)
  result = training.fit(MODEL, VARIABLES, TRAIN, VAL, REF_CONFIG, optimizer=optimizer,
                        progress=False)
  h = result.history
  lr0 = float(np.float32(0.1))  # the schedule starts from the rate stored in the state
  s = torch_compat.plateau_init(lr0, lr0)
  for r in h:
    assert (r["lr_sequence"], r["lr_mapping"]) == (s.lr_sequence, s.lr_mapping)
    s = training.plateau_update(s, r["val_loss"], REF_CONFIG)
  assert len(h) == REF_CONFIG.epochs and h[-1]["lr_sequence"] < lr0
  state = training.make_optimizer(REF_CONFIG, optimizer).init(VARIABLES)
  state = training.set_learning_rates(state, lr_sequence=0.5, lr_mapping=0.25)
  assert training.learning_rates(state) == {"sequence": 0.5, "mapping": 0.25}


# ----------------------------------------------------------------------------- resume


class _Interrupt(Exception):
  pass


def test_resume_in_process_is_bit_identical(tmp_path, reference_run):
  def stop_after_two(record):
    if record["epoch"] == 2:
      raise _Interrupt

  with pytest.raises(_Interrupt):
    run_reference(tmp_path, on_epoch_end=stop_after_two)
  stored = serialization.msgpack_restore((tmp_path / training.LAST_CHECKPOINT).read_bytes())
  assert stored["epoch"] == 2
  seen = []
  resumed = run_reference(tmp_path, resume=True, on_epoch_end=lambda r: seen.append(r["epoch"]))
  assert seen == [3, 4]
  assert_identical(resumed.last_variables, reference_run.last_variables)
  assert_identical(resumed.variables, reference_run.variables)
  assert _strip_seconds(resumed.history) == _strip_seconds(reference_run.history)
  assert (resumed.best_epoch, resumed.stopped) == (reference_run.best_epoch, "max_epochs")

  # a finished run resumes to the same result without training; more epochs continue
  again = run_reference(tmp_path, resume=True, on_epoch_end=lambda r: seen.append(r))
  assert seen == [3, 4]
  assert_identical(again.last_variables, reference_run.last_variables)
  longer = run_reference(tmp_path, resume=True, epochs=5)
  assert [r["epoch"] for r in longer.history] == [1, 2, 3, 4, 5]


def test_resume_after_sigkill_is_bit_identical(tmp_path, reference_run):
  child = textwrap.dedent(f"""
      import sys, time
      sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
      import test_training
      def linger(record):
        if record["epoch"] >= 2:
          time.sleep(600)
      test_training.run_reference({str(tmp_path)!r}, on_epoch_end=linger)
  """)
  last = tmp_path / training.LAST_CHECKPOINT
  proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
  try:
    deadline = time.monotonic() + 240
    while not last.exists():
      if proc.poll() is not None:
        pytest.fail(f"training child exited early ({proc.returncode}): "
                    f"{proc.stderr.read().decode()[-2000:]}")
      if time.monotonic() > deadline:
        pytest.fail("training child wrote no checkpoint within 240 s")
      time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.wait()
    proc.stderr.close()
  assert proc.returncode == -signal.SIGKILL
  killed_at = serialization.msgpack_restore(last.read_bytes())["epoch"]
  assert 1 <= killed_at < REF_CONFIG.epochs
  resumed = run_reference(tmp_path, resume=True)
  assert_identical(resumed.last_variables, reference_run.last_variables)
  assert_identical(resumed.variables, reference_run.variables)
  assert _strip_seconds(resumed.history) == _strip_seconds(reference_run.history)
  assert sorted(os.listdir(tmp_path)) == [training.BEST_CHECKPOINT, training.LAST_CHECKPOINT]


def test_resume_refuses_mismatches(tmp_path):
  with pytest.raises(ValueError, match="checkpoint_dir"):
    training.fit(MODEL, VARIABLES, TRAIN, VAL, REF_CONFIG, resume=True, progress=False)
  with pytest.raises(FileNotFoundError, match="no checkpoint"):
    run_reference(tmp_path, resume=True)
  run_reference(tmp_path, epochs=1)
  other = dataclasses.replace(REF_CONFIG, steps=4)
  with pytest.raises(ValueError, match="steps"):
    training.fit(MODEL, VARIABLES, TRAIN, VAL, other, checkpoint_dir=tmp_path, resume=True,
                 progress=False)
  model2 = models.create("lstm", p=2)
  with pytest.raises(ValueError, match="another model"):
    training.fit(model2, meta.init(model2, jax.random.key(0)), TRAIN, VAL, REF_CONFIG,
                 checkpoint_dir=tmp_path, resume=True, progress=False)
  with pytest.raises(ValueError, match="different structure"):
    training.load_checkpoint(tmp_path / training.BEST_CHECKPOINT,
                             meta.init(model2, jax.random.key(0)))


def test_qlstm_resume_with_circuit_collection_is_bit_identical(tmp_path):
  uninterrupted = training.fit(QLSTM, QLSTM_VARIABLES, TRAIN, VAL, QLSTM_CONFIG,
                               progress=False)
  first = training.fit(QLSTM, QLSTM_VARIABLES, TRAIN, VAL,
                       dataclasses.replace(QLSTM_CONFIG, epochs=2), checkpoint_dir=tmp_path,
                       progress=False)
  assert [r["epoch"] for r in first.history] == [1, 2]
  raw = serialization.msgpack_restore((tmp_path / training.LAST_CHECKPOINT).read_bytes())
  assert (raw["version"], raw["epoch"]) == (2, 2)
  assert set(raw["variables"]) == set(raw["best_variables"]) == {"params", "circuit"}
  resumed = training.fit(QLSTM, QLSTM_VARIABLES, TRAIN, VAL, QLSTM_CONFIG,
                         checkpoint_dir=tmp_path, resume=True, progress=False)
  assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]
  assert_identical(resumed.last_variables, uninterrupted.last_variables)
  assert_identical(resumed.variables, uninterrupted.variables)
  assert _strip_seconds(resumed.history) == _strip_seconds(uninterrupted.history)
  assert resumed.best_epoch == uninterrupted.best_epoch
  assert_identical(resumed.last_variables["circuit"], QLSTM_VARIABLES["circuit"])
  # other circuit weights than the interrupted run's are refused
  with pytest.raises(ValueError, match="non-trainable collections"):
    training.fit(QLSTM, meta.init(QLSTM, jax.random.key(3)), TRAIN, VAL, QLSTM_CONFIG,
                 checkpoint_dir=tmp_path, resume=True, progress=False)


# ------------------------------------------------------------------------ checkpoints


def test_version1_checkpoints_still_load(tmp_path):
  # version 1 (jqmeta 0.1): tree signature of params only; "last" holds "params" and
  # the other "collections" apart, and an optimizer state over params only.
  variables, params = QLSTM_VARIABLES, QLSTM_VARIABLES["params"]
  host = lambda tree: serialization.to_state_dict(jax.tree.map(np.asarray, tree))
  old_opt = optax.multi_transform(
      {g: torch_compat.rmsprop(1e-3, 0.99, 1e-8) for g in torch_compat.GROUPS},
      models.param_labels(params))
  common = {"format": "jqmeta.train", "version": 1,
            "model": checkpoint.model_signature(QLSTM),
            "tree": checkpoint.tree_signature(params)}
  best = {**common, "kind": "best", "epoch": 1, "val_loss": -1.5, "variables": host(variables)}
  last = {**common, "kind": "last", "epoch": 1, "stopped": "",
          "config": json.dumps(QLSTM_CONFIG.to_dict(), sort_keys=True),
          "params": host(params), "opt_state": host(old_opt.init(params)),
          "best_params": host(params), "collections": host({"circuit": variables["circuit"]}),
          "plateau": training.plateau_init(QLSTM_CONFIG)._asdict(), "best_val": -1.5,
          "best_epoch": 1, "bad_epochs": 0, "prev_train_loss": -1.4, "history": "[]"}
  for name, payload in ((training.BEST_CHECKPOINT, best), (training.LAST_CHECKPOINT, last)):
    (tmp_path / name).write_bytes(serialization.msgpack_serialize(payload))
    assert_identical(training.load_checkpoint(tmp_path / name, variables), variables)
    with pytest.raises(ValueError, match="different structure"):
      training.load_checkpoint(tmp_path / name, VARIABLES)
  with pytest.raises(ValueError, match=r"version-1 .*load_checkpoint"):
    training.fit(QLSTM, variables, TRAIN, VAL, QLSTM_CONFIG, checkpoint_dir=tmp_path,
                 resume=True, progress=False)




def test_checkpoints_are_atomic_and_always_loadable(tmp_path, reference_run, monkeypatch):
  def check(record):
    names = sorted(os.listdir(tmp_path))
    assert names == [training.BEST_CHECKPOINT, training.LAST_CHECKPOINT], names
    raw = serialization.msgpack_restore((tmp_path / training.LAST_CHECKPOINT).read_bytes())
    assert raw["epoch"] == record["epoch"]
    training.load_checkpoint(tmp_path / training.BEST_CHECKPOINT, VARIABLES)
    training.load_checkpoint(tmp_path / training.LAST_CHECKPOINT, VARIABLES)

  result = run_reference(tmp_path, on_epoch_end=check)
  best = training.load_checkpoint(tmp_path / training.BEST_CHECKPOINT, VARIABLES)
  assert_identical(best, result.variables)
  assert_identical(training.load_checkpoint(tmp_path / training.LAST_CHECKPOINT, VARIABLES),
                   result.last_variables)

  # a write that fails at the rename leaves the old file intact and no temp file
  before = {n: (tmp_path / n).read_bytes() for n in os.listdir(tmp_path)}

  def failing_replace(src, dst):
    raise OSError("disk full (simulated)")

  monkeypatch.setattr(fileio.os, "replace", failing_replace)
  with pytest.raises(OSError, match="simulated"):
    run_reference(tmp_path, epochs=1)
  monkeypatch.undo()
  assert {n: (tmp_path / n).read_bytes() for n in os.listdir(tmp_path)} == before
  assert_identical(training.load_checkpoint(tmp_path / training.BEST_CHECKPOINT, VARIABLES), best)

  # stale temp files of a killed writer are cleaned up by the next run
  (tmp_path / f".{training.LAST_CHECKPOINT}.abc123.tmp").write_bytes(b"partial")
  run_reference(tmp_path, epochs=1)
  assert sorted(os.listdir(tmp_path)) == [training.BEST_CHECKPOINT, training.LAST_CHECKPOINT]
  with pytest.raises(ValueError, match="not a"):
    (tmp_path / "junk.msgpack").write_bytes(b"\x00garbage")
    training.load_checkpoint(tmp_path / "junk.msgpack", VARIABLES)


def test_nan_guard_keeps_checkpoints(tmp_path):
  run_reference(tmp_path, epochs=2)
  files = {n: (tmp_path / n).read_bytes() for n in os.listdir(tmp_path)}
  nan_variables = jax.tree.map(lambda x: jnp.full_like(x, jnp.nan), VARIABLES)
  with pytest.raises(training.TrainingDivergedError, match=r"epoch 1: 3 of 3 meta-losses") as e:
    training.fit(MODEL, nan_variables, TRAIN, VAL, REF_CONFIG, checkpoint_dir=tmp_path,
                 progress=False)
  assert isinstance(e.value, ValueError) and e.value.epoch == 1
  assert "best/last checkpoints are unchanged" in str(e.value)
  assert {n: (tmp_path / n).read_bytes() for n in os.listdir(tmp_path)} == files
  best = training.load_checkpoint(tmp_path / training.BEST_CHECKPOINT, VARIABLES)
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(best))

  # a non-finite validation loss is caught too (training itself stays finite)
  bad_val = VAL.replace(weights=VAL.weights * jnp.nan)
  with pytest.raises(training.TrainingDivergedError, match="validation loss is nan"):
    training.fit(MODEL, VARIABLES, TRAIN, bad_val, REF_CONFIG, checkpoint_dir=tmp_path,
                 progress=False)
  assert {n: (tmp_path / n).read_bytes() for n in os.listdir(tmp_path)} == files


def test_remove_stale_temps_keeps_files_of_live_writers(tmp_path, monkeypatch):
  live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  try:
    host = fileio._host_tag()
    names = {f".last.msgpack.{host}.{live.pid}.k1.tmp": True,  # another live process
             f".last.msgpack.{host}.{os.getpid()}.k2.tmp": True,  # this process
             f".best.msgpack.{host}.{dead.pid}.k3.tmp": False,  # its writer is gone
             f".last.msgpack.otherhost.{dead.pid}.k4.tmp": True,  # cannot be checked
             ".last.msgpack.abc123.tmp": False,  # jqmeta < 0.2.1 (no writer recorded)
             ".notes.txt.abc.tmp": True}  # not a checkpoint's temp file
    for name in names:
      (tmp_path / name).write_bytes(b"partial")
    fileio.remove_stale_temps(tmp_path, (training.LAST_CHECKPOINT, training.BEST_CHECKPOINT))
    assert sorted(os.listdir(tmp_path)) == sorted(n for n, keep in names.items() if keep)
  finally:
    live.kill()
    live.wait()
  # a writer's temp file names its host and process
  seen = []
  monkeypatch.setattr(fileio.os, "replace", lambda src, dst: seen.append(src) or 1 / 0)
  with pytest.raises(ZeroDivisionError):
    fileio.atomic_write(tmp_path / "x.json", "{}")
  assert os.path.basename(seen[0]).startswith(f".x.json.{fileio._host_tag()}.{os.getpid()}.")


def _best_file(path: Path, model, variables, drop_spec: bool = False) -> Path:
  """A best.msgpack of ``variables`` for ``model``, as fit writes it."""
  run = checkpoint.RunState(epoch=1, variables=variables, opt_state=None, plateau=None,
                            best_variables=variables, best_val=-1.0, best_epoch=1,
                            bad_epochs=0, prev_train_loss=None, history=[], stopped="")
  raw = serialization.msgpack_restore(checkpoint.best_payload(run, model))
  if drop_spec:  # as written before the spec was stored
    del raw["spec"]
  path.write_bytes(serialization.msgpack_serialize(raw))
  return path


@pytest.mark.parametrize("drop_spec", [False, True])
def test_a_checkpoint_never_loads_into_another_model(tmp_path, drop_spec):
  corrected, reference = models.create("qfwp", variant="corrected"), models.create("qfwp")
  v = meta.init(corrected, jax.random.key(5))
  template = meta.init(reference, jax.random.key(0))
  assert jax.tree.structure(v) == jax.tree.structure(template)  # the trees cannot tell
  path = _best_file(tmp_path / "best.msgpack", corrected, v, drop_spec)
  with pytest.raises(ValueError) as e:
    training.load_checkpoint(path, template, model=reference)
  message = str(e.value)
  assert "\n" not in message and "another model" in message
  assert "qfwp (variant 'corrected', p=1)" in message
  assert "qfwp (variant 'reference', p=1)" in message
  assert_identical(training.load_checkpoint(path, template, model=corrected), v)
  model, loaded = training.load_model(path)
  assert model == corrected and model.variant == "corrected"
  assert_identical(loaded, v)
  # depth and options are part of the model too
  qk6 = models.create("qk_lstm", variant="corrected", n_refs=6)
  path = _best_file(tmp_path / "qk.msgpack", qk6, meta.init(qk6, jax.random.key(1)), drop_spec)
  qk4 = models.create("qk_lstm", variant="corrected")
  with pytest.raises(ValueError, match=r"n_refs=6\) but the model is a qk_lstm \(variant "
                     r"'corrected', p=1\)$"):
    training.load_checkpoint(path, meta.init(qk4, jax.random.key(0)), model=qk4)
  assert training.load_model(path)[0] == qk6
  lstm2 = models.create("lstm", p=2)
  path = _best_file(tmp_path / "lstm.msgpack", lstm2, meta.init(lstm2, jax.random.key(1)),
                    drop_spec)
  with pytest.raises(ValueError, match=r"lstm \(variant 'reference', p=2\) but the model is "
                     r"a lstm \(variant 'reference', p=1\)"):
    training.load_checkpoint(path, VARIABLES, model=MODEL)
  assert training.load_model(path)[0] == lstm2


def test_load_model_refuses_a_module_it_cannot_rebuild(tmp_path):
  class Custom(models.LSTMCell):
    pass

  custom = Custom()
  path = _best_file(tmp_path / "best.msgpack", custom, meta.init(custom, jax.random.key(0)))
  with pytest.raises(ValueError, match="cannot rebuild"):
    training.load_model(path)
  loaded = training.load_checkpoint(path, VARIABLES, model=custom)  # with the module: fine
  assert jax.tree.structure(loaded) == jax.tree.structure(VARIABLES)


# --------------------------------------------------------------------------- stopping


def test_converged_stops_when_train_loss_is_flat():
  config = dataclasses.replace(REF_CONFIG, epochs=10, lr_sequence=0.0, lr_mapping=0.0)
  result = training.fit(MODEL, VARIABLES, TRAIN, VAL, config, progress=False)
  assert result.stopped == "converged"
  assert len(result.history) == 2 and result.best_epoch == 1
  assert_identical(result.variables, VARIABLES)


def test_early_stop_keeps_best_validation_params():
  # a too-large lr: validation improves, then gets worse for `early_stop_patience` epochs
  config = dataclasses.replace(REF_CONFIG, epochs=30, lr_sequence=3e-2, lr_mapping=3e-2,
                               plateau_patience=3, plateau_threshold=1e-3,
                               early_stop_patience=2, conv_tol=0.0)
  result = training.fit(MODEL, VARIABLES, TRAIN, VAL, config, progress=False)
  h = result.history
  assert result.stopped == "early_stop"
  assert len(h) == result.best_epoch + 2 and result.best_epoch > 1
  best_val = h[result.best_epoch - 1]["val_loss"]
  assert best_val == min(r["val_loss"] for r in h) == result.best_val_loss
  assert all(r["val_loss"] >= best_val for r in h[result.best_epoch:])
  val = training.make_val_fn(MODEL, config)
  assert float(val(result.variables, VAL)) == best_val
  assert float(val(result.last_variables, VAL)) == h[-1]["val_loss"] != best_val


# ------------------------------------------------------------------ config and output


@pytest.mark.parametrize("field, value", [
    ("lr_sequence", -1e-3), ("lr_mapping", float("nan")), ("decay", 1.0), ("eps", 0.0),
    ("epochs", 0), ("steps", 0), ("loss", "mse"), ("batch_size", 0),
    ("plateau_factor", 1.0), ("plateau_patience", -1), ("plateau_threshold", -0.1),
    ("min_lr", -1e-9), ("early_stop_patience", 0), ("conv_tol", float("inf")),
    ("method", "exact"),
])
def test_bad_config_values_raise_value_error(field, value):
  with pytest.raises(ValueError, match=field):
    training.TrainConfig(**{field: value})


@pytest.mark.parametrize("field, value", [
    ("epochs", 2.5), ("lr_sequence", "1e-3"), ("batch_size", True)])
def test_bad_config_types_raise_type_error(field, value):
  with pytest.raises(TypeError, match=field):
    training.TrainConfig(**{field: value})


def test_bad_arguments():
  with pytest.raises(TypeError, match="train_graphs"):
    training.fit(MODEL, VARIABLES, "graphs", VAL, REF_CONFIG, progress=False)
  with pytest.raises(ValueError, match="one batch axis"):
    training.fit(MODEL, VARIABLES, graphs.unstack(TRAIN)[0], VAL, REF_CONFIG, progress=False)
  with pytest.raises(TypeError, match="TrainConfig"):
    training.fit(MODEL, VARIABLES, TRAIN, VAL, {"epochs": 2}, progress=False)


def test_progress_bar_output(capsys):
  config = dataclasses.replace(REF_CONFIG, epochs=1)
  training.fit(MODEL, VARIABLES, TRAIN, VAL, config, progress=False)
  assert capsys.readouterr() == ("", "")
  training.fit(MODEL, VARIABLES, TRAIN, VAL, config, progress=True)
  err = capsys.readouterr().err
  for token in ("epoch 1/1", "loss", "val", "lr_seq 2.00e-02", "lr_map 2.00e-02"):
    assert token in err


def test_training_on_sampled_costs_is_seeded_resumable_and_not_exact(tmp_path):
  # TrainConfig.shots: the model is fed estimates (epoch e: fold_in(key(shot_seed), e)).
  model = models.create("lstm")
  v = meta.init(model, jax.random.key(0))
  tr = [graphs.from_networkx(nx.cycle_graph(n)) for n in (4, 5, 6)]
  va = [graphs.from_networkx(nx.complete_graph(4))]
  flat = lambda r: np.concatenate([np.ravel(x) for x in jax.tree.leaves(r.last_variables)])
  cfg = training.TrainConfig(epochs=2, steps=3, shots=50, lr_mapping=1e-2)
  run = lambda c, **kw: training.fit(model, v, tr, va, c, progress=False, **kw)
  a, b = run(cfg), run(cfg)
  np.testing.assert_array_equal(flat(a), flat(b))
  assert not np.allclose(flat(a), flat(run(dataclasses.replace(cfg, shot_seed=1))))
  assert not np.allclose(flat(a), flat(run(dataclasses.replace(cfg, shots=None))))
  run(dataclasses.replace(cfg, epochs=1), checkpoint_dir=tmp_path)
  resumed = run(cfg, checkpoint_dir=tmp_path, resume=True)
  np.testing.assert_array_equal(flat(a), flat(resumed))
  batched = run(dataclasses.replace(cfg, batch_size=2))
  assert np.all(np.isfinite([h["train_loss"] for h in batched.history]))
  assert "shots" not in training.TrainConfig().to_dict()  # exact runs keep their signatures
  assert cfg.to_dict()["shots"] == 50
  epoch = training.make_epoch_fn(model, cfg)
  state = training.make_optimizer(cfg).init(v)
  with pytest.raises(ValueError, match="key="):
    epoch(v, state, graphs.stack(tr))
  with pytest.raises(ValueError, match="TrainConfig.shots"):
    training.TrainConfig(shots=0)
