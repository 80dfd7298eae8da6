"""The ``jqmeta`` command line: bad input is refused before any work, in one line, with
exit code 2 and nothing left behind; ``evaluate`` reads the model from the checkpoint."""
from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from pathlib import Path

import jax
import networkx as nx
import numpy as np
import pytest

from jqmeta import evaluation, graphs, io, meta, metrics, models, qaoa, training
from jqmeta._src import fileio
from jqmeta.app import cli, paper, reproduce


def _tree(root: Path) -> list[str]:
  return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _refused(argv, capsys, root: Path, match: str) -> str:
  """Runs the CLI; asserts exit 2, one stderr line matching ``match``, nothing created."""
  before = _tree(root)
  assert cli.main([str(a) for a in argv]) == 2
  out, err = capsys.readouterr()
  lines = err.strip().splitlines()
  assert out == "" and len(lines) == 1, err
  assert lines[0].startswith(f"jqmeta {argv[0]}: error: ")
  assert re.search(match, lines[0]), lines[0]
  assert _tree(root) == before
  return lines[0]


@pytest.fixture
def no_work(monkeypatch):
  """Makes every step that does work fail the test: validation must come first."""
  def forbidden(*args, **kwargs):
    raise AssertionError("work started before the arguments were validated")
  for module, name in [(paper, "default_dataset"), (paper, "load_splits"), (training, "fit"),
                       (training, "load_model"), (reproduce, "run"),
                       (io, "load_reference_checkpoint")]:
    monkeypatch.setattr(module, name, forbidden)


@pytest.fixture
def files(tmp_path):
  (tmp_path / "a_file").write_text("x")
  (tmp_path / "x.msgpack").write_bytes(b"not read by these checks")
  (tmp_path / "data").mkdir()
  return tmp_path


def _commands(root: Path) -> dict[str, list]:
  """Each sub-command with its required flags (inputs that pass the checks)."""
  return {"train": ["train", "--model", "lstm"],
          "evaluate": ["evaluate", "--checkpoint", root / "x.msgpack"],
          "reproduce": ["reproduce", "--quick"]}


@pytest.mark.parametrize("command", ["train", "evaluate", "reproduce"])
def test_out_that_is_a_file_or_under_a_file(command, files, capsys, no_work):
  argv = _commands(files)[command]
  _refused(argv + ["--out", files / "a_file"], capsys, files, r"--out .*a_file is an existing "
           r"file; expected a folder$")
  _refused(argv + ["--out", files / "a_file" / "sub"], capsys, files,
           r"--out .*a_file/sub cannot be created: .*a_file is a file, not a folder$")


@pytest.mark.parametrize("command", ["train", "evaluate", "reproduce"])
def test_out_that_cannot_be_written(command, files, capsys, no_work, monkeypatch):
  ro = files / "read_only"
  ro.mkdir()
  ro.chmod(0o555)
  try:
    if os.access(ro, os.W_OK):  # root ignores permission bits: refuse the probe file
      real = tempfile.mkstemp

      def mkstemp(*args, dir=None, **kwargs):  # pylint: disable=redefined-builtin
        if dir is not None and Path(dir) == ro:
          raise PermissionError(13, "Permission denied", str(ro))
        return real(*args, dir=dir, **kwargs)
      monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)
    else:
      _refused(_commands(files)[command] + ["--out", ro / "new"], capsys, files,
               r"--out .*read_only/new cannot be created \(Permission denied")
    _refused(_commands(files)[command] + ["--out", ro], capsys, files,
             r"--out .*read_only is not writable \(Permission denied\)$")
  finally:
    ro.chmod(0o755)


@pytest.mark.parametrize("argv, match", [
    (["reproduce", "--quick", "--epochs", "-1"], r"--epochs must be >= 1, got -1$"),
    (["train", "--model", "lstm", "--epochs", "0"], r"--epochs must be >= 1, got 0$"),
    (["train", "--model", "lstm", "--batch-size", "0"], r"--batch-size must be >= 1"),
    (["train", "--model", "lstm", "--lr-mapping", "nan"], r"--lr-mapping must be finite"),
    (["train", "--model", "lstm", "--p", "0"], r"--p must be >= 1, got 0$"),
    (["reproduce", "--seed", "-3"], r"--seed must be >= 0, got -3$"),
    (["reproduce", "--devices", "0"], r"--devices must be 'all', 'local' or a positive"),
    (["train", "--model", "lstm", "--distributed"], r"--distributed is not supported by "
     r"`jqmeta train`"),
    (["evaluate", "--checkpoint", "{root}/x.msgpack", "--distributed"], r"not supported"),
    (["reproduce", "--distributed"], r"--distributed is not supported by `jqmeta reproduce`"),
    (["reproduce", "--dataset", "{root}/data"], r"--dataset .*data is a directory; expected a "
     r"dataset file"),
    (["train", "--model", "lstm", "--dataset", "{root}/missing.json"], r"--dataset .*missing"
     r"\.json does not exist$"),
    (["train", "--model", "lstm", "--dataset", "{root}/a_file"], r"unknown dataset extension"),
    (["evaluate", "--checkpoint", "{root}/data"], r"--checkpoint .*data is a directory"),
    (["evaluate", "--checkpoint", "{root}/a_file"], r"unknown checkpoint extension"),
    (["evaluate", "--checkpoint", "{root}/x.msgpack", "--steps", "0"], r"--steps must be >= 1"),
    (["train", "--model", "lstm", "--resume"], r"--resume but there is no checkpoint at "),
    (["reproduce", "--cache-dir", "{root}/a_file"], r"--cache-dir .*a_file is an existing "
     r"file; expected a folder$"),
])
def test_bad_flags_are_refused_before_any_work(argv, match, files, capsys, no_work):
  argv = [a.format(root=files) for a in argv] + ["--out", str(files / "new_out")]
  _refused(argv, capsys, files, match)


def _subparsers(parser):
  for action in parser._actions:  # pylint: disable=protected-access  # argparse's own API
    if isinstance(action, argparse._SubParsersAction):  # pylint: disable=protected-access
      yield from action.choices.items()


def test_every_option_has_help_and_help_shows_defaults():
  parser = cli.build_parser()
  commands = dict(_subparsers(parser))
  assert sorted(commands) == sorted(cli.COMMANDS)
  for name, sub in [("jqmeta", parser), *commands.items()]:
    assert issubclass(sub.formatter_class, argparse.ArgumentDefaultsHelpFormatter), name
    for action in sub._actions:  # pylint: disable=protected-access
      if action.help is not argparse.SUPPRESS:
        assert action.help and action.help.strip(), (name, action.option_strings)
  text = " ".join(commands["train"].format_help().split())
  assert f"maximum epochs (default: {training.TrainConfig().epochs})" in text
  assert "(default: runs/train)" in text and "PRNG seed (default: 0)" in text
  assert "--quiet no progress output" in text and "(default: False)" not in text
  text = " ".join(commands["evaluate"].format_help().split())
  assert "folder for evaluate.json (default: runs/evaluate)" in text
  assert "exit status 2" in text  # the epilog documents the no-command choice


def test_plain_jqmeta_is_an_error(capsys):
  assert cli.main([]) == 2
  out, err = capsys.readouterr()
  assert out == "" and len(err.strip().splitlines()) == 1
  assert err.startswith("jqmeta: error: no command given; choose one of info, train, ")


def test_a_failed_run_removes_the_folder_it_created(files, capsys):
  (files / "junk.msgpack").write_bytes(b"\x00garbage")
  _refused(["evaluate", "--checkpoint", files / "junk.msgpack", "--out", files / "new" / "ev"],
           capsys, files, r"junk\.msgpack is not a readable jqmeta checkpoint")


# ------------------------------------------------------------------ evaluate and models


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  path = tmp_path_factory.mktemp("data") / "tiny.json"
  rng = np.random.default_rng(1)
  mk = lambda n, k: [nx.gnp_random_graph(n, 0.6, seed=int(rng.integers(1e6))) for _ in range(k)]
  io.save_dataset(path, {"train_data": mk(5, 3), "val_data": mk(5, 1),
                         "test_data": mk(5, 2) + mk(6, 2)})
  return path


@pytest.fixture(scope="module")
def corrected_qfwp(tiny, tmp_path_factory):
  out = tmp_path_factory.mktemp("train") / "qfwp"
  assert cli.main(["train", "--model", "qfwp", "--variant", "corrected", "--dataset", str(tiny),
                   "--epochs", "1", "--lr-sequence", "1e-2", "--out", str(out), "--quiet"]) == 0
  return out / training.BEST_CHECKPOINT


def _phase1_means(model, variables, tiny) -> dict[str, float]:
  test_nx = paper.load_splits(tiny)["test_data"]
  test = graphs.stack([graphs.from_networkx(G) for G in test_nx])
  res = evaluation.two_phase(model, variables, test, jax.jit(jax.vmap(qaoa.max_cut))(test),
                             method="auto", phase2_steps=2, phase2_report_step=2)
  sizes = np.array([G.number_of_nodes() for G in test_nx])
  return {str(n): float(v[0]) for n, v in metrics.ratio_stats(res["ratio_phase1"], sizes).items()}


def test_evaluate_reads_the_model_from_the_checkpoint(corrected_qfwp, tiny, tmp_path, capsys):
  ev = tmp_path / "ev"
  assert cli.main(["evaluate", "--checkpoint", str(corrected_qfwp), "--dataset", str(tiny),
                   "--out", str(ev), "--steps", "2"]) == 0
  assert "qfwp (variant 'corrected', p=1)" in capsys.readouterr().out
  res = json.loads((ev / "evaluate.json").read_text())
  assert (res["model"], res["variant"], res["p"]) == ("qfwp", "corrected", 1)
  got = {n: v[0] for n, v in res["phase1"].items()}
  corrected = models.create("qfwp", variant="corrected")
  variables = training.load_checkpoint(corrected_qfwp, meta.init(corrected, jax.random.key(0)),
                                       model=corrected)
  assert got == pytest.approx(_phase1_means(corrected, variables, tiny), rel=1e-12)
  # the reference (memoryless) dynamics on the same variables give other numbers
  reference = _phase1_means(models.create("qfwp"), variables, tiny)
  assert max(abs(got[n] - reference[n]) for n in got) > 1e-4


@pytest.mark.parametrize("flags, match", [
    (["--variant", "reference"], r"--variant reference does not match .*best\.msgpack, which "
     r"holds a qfwp \(variant 'corrected', p=1\)$"),
    (["--model", "lstm"], r"--model lstm does not match .*qfwp \(variant 'corrected'"),
    (["--p", "2"], r"--p 2 does not match .*qfwp \(variant 'corrected', p=1\)$"),
])
def test_evaluate_flags_must_agree_with_the_checkpoint(flags, match, corrected_qfwp, tiny,
                                                       tmp_path, capsys):
  _refused(["evaluate", "--checkpoint", corrected_qfwp, "--dataset", tiny, "--out",
            tmp_path / "ev"] + flags, capsys, tmp_path, match)


def _published_lstm(folder: Path, suffix: str) -> Path:
  rng = np.random.default_rng(0)
  sd = {f"lstm.{k}_l0": rng.uniform(-1, 1, s).astype(np.float32) for k, s in
        {"weight_ih": (8, 3), "weight_hh": (8, 2), "bias_ih": (8,), "bias_hh": (8,)}.items()}
  path = folder / f"best_LSTM_model{suffix}"
  if suffix == ".npz":
    np.savez(path, **sd)
  else:
    torch = pytest.importorskip("torch", reason="torch is needed to write .pt checkpoints")
    torch.save({k: torch.from_numpy(v) for k, v in sd.items()}, path)
  return path


@pytest.mark.parametrize("flags, match", [
    (["--variant", "corrected"], r"--variant corrected does not match .*: published "
     r"checkpoints are reference models at p = 1$"),
    (["--p", "2"], r"--p 2 does not match .*published checkpoints are reference models"),
    (["--model", "qfwp"], r"best_LSTM_model\.npz holds a published lstm checkpoint, not qfwp$"),
])
def test_published_checkpoints_check_the_model_flags(flags, match, tiny, tmp_path, capsys):
  path = _published_lstm(tmp_path, ".npz")
  _refused(["evaluate", "--checkpoint", path, "--dataset", tiny, "--out", tmp_path / "ev"]
           + flags, capsys, tmp_path, match)


def test_a_pt_file_is_read_as_a_published_checkpoint(tiny, tmp_path):
  path = _published_lstm(tmp_path, ".pt")
  ev = tmp_path / "ev"
  assert cli.main(["evaluate", "--checkpoint", str(path), "--dataset", str(tiny), "--out",
                   str(ev), "--steps", "2", "--model", "lstm", "--p", "1"]) == 0
  res = json.loads((ev / "evaluate.json").read_text())
  assert (res["model"], res["variant"], res["p"]) == ("lstm", "reference", 1)
