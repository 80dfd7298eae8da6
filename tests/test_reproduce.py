"""jqmeta.app (reproduce + CLI): the main job end to end (quick mode), train/evaluate
commands, errors."""
import json
import subprocess
import sys

import networkx as nx
import numpy as np
import pytest

from jqmeta import io
from jqmeta.app import cli, paper
from conftest import reference_dir

METHODS = ["lstm", "qk_lstm", "qlstm", "qfwp", "random", "fixed_angles", "p1_optimum"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
  out = tmp_path_factory.mktemp("reproduce")
  assert cli.main(["reproduce", "--quick", "--out", str(out), "--quiet"]) == 0
  return out


def test_quick_reproduce_writes_every_artefact(quick_run):
  for name in ["summary.json", "table2.csv", "table3.csv", "figure8.png", "figure9.png",
               "report.md"]:
    assert (quick_run / name).stat().st_size > 0, name
  s = json.loads((quick_run / "summary.json").read_text())
  assert sorted(s["table3"]) == sorted(METHODS) and sorted(s["table2"]) == sorted(METHODS)
  for method in METHODS:
    for n in ["10", "11", "12", "13", "14"]:
      row = s["table3"][method][n]
      assert (row["phase1"] is None) == (method == "random")
      mean, std = row["phase2"]
      assert 0.3 < mean <= 1.0 + 1e-6 and std >= 0
      assert isinstance(s["table2"][method][n], int)
  # The ceiling is a ceiling: no method beats the per-graph p=1 optimum after Phase I.
  for method in ["lstm", "qk_lstm", "qlstm", "qfwp", "fixed_angles"]:
    for n in ["10", "12", "14"]:
      assert s["table3"][method][n]["phase1"][0] <= s["table3"]["p1_optimum"][n]["phase1"][0] + 1e-3
  report = (quick_run / "report.md").read_text()
  assert "[0.82 ± 0.03]" in report and "fixed angle pair" in report and "wall time" in report
  rows = (quick_run / "table3.csv").read_text().splitlines()
  assert rows[0].startswith("n,method") and len(rows) == 1 + 5 * len(METHODS)


def test_reproduce_checkpoints_resume_files(quick_run):
  for name in ["lstm", "qk_lstm", "qlstm", "qfwp"]:
    assert (quick_run / "checkpoints" / name / "best.msgpack").is_file()


def test_default_dataset_sizes_and_determinism():
  d = paper.default_dataset(3)
  for split, counts in paper.PAPER_SIZES.items():
    got = {}
    for G in d[split]:
      got[G.number_of_nodes()] = got.get(G.number_of_nodes(), 0) + 1
      assert G.number_of_edges() > 0
    assert got == counts
  densities = [nx.density(G) for G in d["test_data"]]
  assert min(densities) < 0.35 and max(densities) > 0.8
  same = paper.default_dataset(3)["test_data"]
  other = paper.default_dataset(4)["test_data"]
  assert all(sorted(a.edges) == sorted(b.edges) for a, b in zip(d["test_data"], same))
  assert any(sorted(a.edges) != sorted(b.edges) for a, b in zip(d["test_data"], other))


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
  path = tmp_path_factory.mktemp("data") / "tiny.json"
  rng = np.random.default_rng(0)
  mk = lambda n, k: [nx.gnp_random_graph(n, 0.6, seed=int(rng.integers(1e6))) for _ in range(k)]
  io.save_dataset(path, {"train_data": mk(5, 3), "val_data": mk(6, 2),
                              "test_data": mk(6, 2) + mk(7, 2)})
  return path


def test_cli_train_then_evaluate(tmp_path, tiny_dataset):
  out = tmp_path / "run"
  assert cli.main(["train", "--model", "lstm", "--dataset", str(tiny_dataset), "--epochs", "2",
                   "--out", str(out), "--quiet"]) == 0
  meta = json.loads((out / "train.json").read_text())
  assert meta["config"]["epochs"] == 2 and len(meta["history"]) >= 1
  ev = tmp_path / "eval"
  assert cli.main(["evaluate", "--model", "lstm", "--checkpoint", str(out / "best.msgpack"),
                   "--dataset", str(tiny_dataset), "--out", str(ev), "--steps", "12"]) == 0
  res = json.loads((ev / "evaluate.json").read_text())
  assert sorted(res["phase1"]) == ["6", "7"]


def test_cli_evaluates_a_published_checkpoint(tmp_path, tiny_dataset):
  ref = reference_dir()
  ev = tmp_path / "eval"
  assert cli.main(["evaluate", "--model", "qk_lstm", "--checkpoint",
                   str(ref / "checkpoints" / "best_QK_model_6e-6.npz"), "--dataset",
                   str(tiny_dataset), "--out", str(ev), "--max-iter", "5"]) == 0
  assert (ev / "evaluate.json").is_file()


def test_load_splits_reads_the_paper_pickle_safely():
  ref = reference_dir()
  splits = paper.load_splits(ref / "datasets.pkl")
  assert [len(splits[k]) for k in ("train_data", "val_data", "test_data")] == [1008, 5, 90]


@pytest.mark.parametrize("argv, message", [
    (["reproduce", "--dataset", "/nonexistent/data.pkl", "--quick"], "error"),
    (["evaluate", "--model", "lstm", "--checkpoint", "/nonexistent.msgpack"], "does not exist"),
    (["train", "--model", "lstm", "--epochs", "0", "--quiet"], "epochs"),
])
def test_cli_reports_bad_input(argv, message, capsys):
  assert cli.main(argv) == 2
  assert message in capsys.readouterr().err


def test_console_script_help():
  r = subprocess.run([sys.executable, "-m", "jqmeta", "--help"], capture_output=True,
                     text=True, timeout=120)
  assert r.returncode == 0
  for command in ["train", "evaluate", "reproduce", "info"]:
    assert command in r.stdout
