"""What a running command tells its user (labelled progress, stage lines, non-TTY logs),
the persistent compilation cache of the command line, and the mode of written files."""
from __future__ import annotations

import io
import os

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from jqmeta import graphs, meta, models, training
from jqmeta._src import fileio
from jqmeta.app import progress


class _Terminal(io.StringIO):
  def isatty(self):
    return True


def _tiny_fit(label: str, monkeypatch):
  """fit's own loop and bookkeeping on a stand-in epoch (no compilation, < 1 s): the
  validation loss never improves, so patience 1 stops the run early at epoch 2."""
  monkeypatch.setattr(training, "make_epoch_fn", lambda model, config, optimizer=None: (
      lambda variables, opt_state, g: (variables, opt_state, np.full(g.batch_shape, -1.0))))
  monkeypatch.setattr(training, "make_val_fn",
                      lambda model, config: (lambda variables, g: np.float32(-0.5)))
  model = models.create("lstm")
  tr = graphs.stack([graphs.from_networkx(nx.cycle_graph(n)) for n in (4, 5)])
  va = graphs.stack([graphs.from_networkx(nx.complete_graph(4))])
  config = training.TrainConfig(epochs=5, steps=2, early_stop_patience=1)
  result = training.fit(model, meta.init(model, jax.random.key(0)), tr, va, config,
                        label=label)
  return result, config


def test_fit_logs_one_labelled_line_per_epoch_off_a_terminal(capsys, monkeypatch):
  result, config = _tiny_fit("meta-train lstm", monkeypatch)
  err = capsys.readouterr().err
  assert "\r" not in err
  lines = err.splitlines()
  assert result.stopped == "early_stop" and len(result.history) == 2
  assert len(lines) == len(result.history) + 1, err  # one per epoch, then how it ended
  assert all(line.startswith("meta-train lstm: ") for line in lines)
  assert [line.split()[3] for line in lines[:-1]] == ["1/5", "2/5"]
  assert lines[-1] == ("meta-train lstm: stopped early at epoch 2 (no val improvement for "
                       f"{config.early_stop_patience})")


def test_fit_bar_on_a_terminal_is_labelled_and_says_why_it_stopped(monkeypatch, capsys):
  term = _Terminal()
  monkeypatch.setattr("sys.stderr", term)
  result, _ = _tiny_fit("meta-train qfwp", monkeypatch)
  text = term.getvalue()
  assert result.stopped == "early_stop"
  final = text.split("\r")[-1]
  assert final.startswith("meta-train qfwp")
  assert "stopped early at epoch 2 (no val improvement for 1)" in final
  assert "2/2" in final  # a finished bar, not one stuck at 2/5
  assert capsys.readouterr().err == ""


@pytest.mark.parametrize("stopped, want", [
    ("early_stop", "stopped early at epoch 8 (no val improvement for 6)"),
    ("converged", "converged at epoch 8 (train loss moved <= 1e-05)"),
    ("max_epochs", "reached the epoch limit (8/50)"),
])
def test_stop_note(stopped, want):
  assert training.stop_note(stopped, 8, training.TrainConfig()) == want


def test_stages_off_a_terminal_one_line_each_and_quiet_prints_nothing():
  log = io.StringIO()
  stages = progress.Stages(True, stream=log)
  for name in ("exact max cut", "p=1 optimum"):
    with stages.stage(name):
      pass
  with pytest.raises(RuntimeError), stages.stage("failing stage"):
    raise RuntimeError("boom")
  lines = log.getvalue().splitlines()
  assert "\r" not in log.getvalue() and len(lines) == 3
  assert [line.split(" ... ")[0] for line in lines] == ["exact max cut", "p=1 optimum",
                                                         "failing stage"]
  assert all(line.endswith(" s") for line in lines)
  quiet = io.StringIO()
  with progress.Stages(False, stream=quiet).stage("x"):
    pass
  assert quiet.getvalue() == ""
  term = _Terminal()
  with progress.Stages(True, stream=term).stage("figures"):
    assert term.getvalue() == "figures ... "  # the name shows while the stage runs
  assert term.getvalue().startswith("figures ... ") and term.getvalue().endswith(" s\n")


def _cache_options():
  return (jax.config.jax_enable_compilation_cache, jax.config.jax_compilation_cache_dir)


def test_cache_is_off_by_flag_or_environment_and_settings_come_back(tmp_path, monkeypatch):
  before = _cache_options()
  with progress.use_compilation_cache(False, tmp_path) as cache:
    assert (cache["enabled"], cache["reason"]) == (False, "--no-cache")
    assert jax.config.jax_enable_compilation_cache is False
  assert _cache_options() == before
  monkeypatch.setenv(progress.NO_CACHE_ENV, "1")
  with progress.use_compilation_cache(True, tmp_path / "c") as cache:
    assert not cache["enabled"] and progress.NO_CACHE_ENV in cache["reason"]
  assert not (tmp_path / "c").exists() and _cache_options() == before
  monkeypatch.setenv(progress.NO_CACHE_ENV, "0")
  with progress.use_compilation_cache(True, tmp_path / "c") as cache:
    assert cache["enabled"] and cache["dir"] == str(tmp_path / "c")
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "c")
  assert _cache_options() == before
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
  assert progress.default_cache_dir() == tmp_path / "xdg" / "jqmeta" / "xla"
  (tmp_path / "file").write_text("x")
  with pytest.raises(ValueError, match="cache folder .*file.* cannot be created"):
    with progress.use_compilation_cache(True, tmp_path / "file" / "sub"):
      pass


def test_a_cached_program_gives_bit_identical_results(tmp_path):
  x = jnp.linspace(0.0, 3.0, 12).reshape(3, 4)
  make = lambda: jax.jit(lambda a: jnp.sin(a) @ jnp.cos(a).T + 0.125 * jnp.exp(-a).sum())
  with progress.use_compilation_cache(False):
    plain = np.asarray(make()(x))
  with progress.use_compilation_cache(True, tmp_path) as cache:
    first = np.asarray(make()(x))  # compiled, then written
    second = np.asarray(make()(x))  # a new jit object: read back from the folder
  assert cache["writes"] >= 1 and cache["hits"] >= 1, cache
  assert any(tmp_path.iterdir())
  assert plain.tobytes() == first.tobytes() == second.tobytes()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
  old = os.umask(umask)
  try:
    fileio.atomic_write(tmp_path / "best.msgpack", b"x")
  finally:
    os.umask(old)
  assert (tmp_path / "best.msgpack").stat().st_mode & 0o777 == mode
  (tmp_path / "kept").write_text("old")
  os.chmod(tmp_path / "kept", 0o640)
  fileio.atomic_write(tmp_path / "kept", "new")  # an existing file keeps its mode
  assert (tmp_path / "kept").stat().st_mode & 0o777 == 0o640
  assert (tmp_path / "kept").read_text() == "new"
