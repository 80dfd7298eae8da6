"""jqmeta.app (reproduce + CLI): the main job end to end (quick mode), train/evaluate
commands, errors."""
import contextlib
import csv
import io as io_lib
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


QUICK_LOG = {}  # what the quick run printed: {"stdout": str, "stderr": str}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
  """One quick run (about a minute cold; the CLI's compilation cache makes reruns faster),
  with its progress output captured as a log file would see it (not a terminal)."""
  out = tmp_path_factory.mktemp("reproduce")
  stdout, stderr = io_lib.StringIO(), io_lib.StringIO()
  with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
    assert cli.main(["reproduce", "--quick", "--out", str(out)]) == 0
  QUICK_LOG.update(stdout=stdout.getvalue(), stderr=stderr.getvalue())
  return out


def test_quick_reproduce_progress_log(quick_run):
  """Off a terminal: one labelled line per epoch and per stage, no carriage returns."""
  s = json.loads((quick_run / "summary.json").read_text())
  err, out = QUICK_LOG["stderr"], QUICK_LOG["stdout"]
  assert "\r" not in err and "\r" not in out
  lines = err.splitlines()
  for name in paper.LEARNED:
    mine = [line for line in lines if line.startswith(f"meta-train {name}: ")]
    record = s["training"][name]
    assert len(mine) == record["epochs"] + 1, mine  # one per epoch, then how it ended
    assert mine[-1].endswith(f"reached the epoch limit ({record['epochs']}/2)"), mine[-1]
  for stage in ("exact max cut of 10 test graphs", "p=1 optimum of 10 test graphs",
                "Phase I + Phase II qfwp", "Phase II of random seed", "tables and figures"):
    assert sum(line.startswith(stage) for line in lines) == 1, stage
  assert f"Wall time {s['wall_seconds']} s ({s['wall_covers']})" in out
  assert s["wall_seconds"] >= sum(s["timings_s"].values()) - 1.0
  cache = s["compilation_cache"]
  assert lines[-1].startswith("compilation cache: ")
  assert (cache["dir"] in lines[-1]) if cache["enabled"] else ("off" in lines[-1])


def _max_cut(G: nx.Graph) -> float:
  """Brute-force max cut over all 2^n assignments (numpy), independent of jqmeta."""
  nodes = {v: i for i, v in enumerate(G.nodes)}
  z = (np.arange(2 ** len(nodes))[:, None] >> np.arange(len(nodes))) & 1
  cut = sum(z[:, nodes[u]] != z[:, nodes[v]] for u, v in G.edges)
  return float(np.max(cut))


def _cell(x) -> str:
  return "-" if x is None else f"{x[0]:.3f} ± {x[1]:.3f}"


def test_quick_reproduce_writes_every_artefact(quick_run):
  for name in ["summary.json", "table2.csv", "table3.csv", "figure8.png", "figure9.png",
               "report.md"]:
    assert (quick_run / name).stat().st_size > 0, name
  s = json.loads((quick_run / "summary.json").read_text())
  assert sorted(s["table3"]) == sorted(METHODS) and sorted(s["table2"]) == sorted(METHODS)
  for method in METHODS:
    for n in ["10", "11", "12", "13", "14"]:
      assert (s["table3"][method][n]["phase1"] is None) == (method == "random")
      assert isinstance(s["table2"][method][n], int) and s["table2"][method][n] >= 0
  # The ceiling is a ceiling: no method beats the per-graph p=1 optimum after Phase I.
  for method in ["lstm", "qk_lstm", "qlstm", "qfwp", "fixed_angles"]:
    for n in ["10", "12", "14"]:
      assert s["table3"][method][n]["phase1"][0] <= s["table3"]["p1_optimum"][n]["phase1"][0] + 1e-3


def test_quick_reproduce_ratios_per_graph(quick_run):
  s = json.loads((quick_run / "summary.json").read_text())
  per = s["per_graph"]
  test_nx = paper.quick_subset(paper.default_dataset(0))["test_data"]
  assert per["n"] == [G.number_of_nodes() for G in test_nx]
  # uniformly random cut: half the edges, over the max cut (computed here)
  random_cut = np.array([G.number_of_edges() / 2 / _max_cut(G) for G in test_nx])
  np.testing.assert_allclose(per["random_cut"], random_cut, rtol=1e-9)
  sizes = np.array(per["n"])
  for method in METHODS:
    rows = np.concatenate([sizes, sizes]) if method == "random" else sizes
    for phase in ("phase1", "phase2"):
      r = per[f"ratio_{phase}"][method]
      if r is None:
        assert method == "random" and phase == "phase1"
        continue
      r = np.array(r)
      assert r.shape == rows.shape and np.all(r > 0) and np.all(r <= 1 + 1e-9), (method, phase)
      for n in np.unique(rows):  # the tables are these numbers' mean and std per size
        want = [r[rows == n].mean(), r[rows == n].std()]
        np.testing.assert_allclose(s["table3"][method][str(n)][phase], want, rtol=1e-12)
  # gamma = 0 gives the random cut, so the p=1 optimum is at least that on every graph;
  # the fixed pair (fitted on the sparser, smaller training graphs) can be below it on a
  # dense test graph, but not after Phase II has adapted it to the graph
  for method, phase in (("p1_optimum", "phase1"), ("p1_optimum", "phase2"),
                        ("fixed_angles", "phase2")):
    assert np.all(np.array(per[f"ratio_{phase}"][method]) >= random_cut - 1e-6), (method, phase)


def test_quick_reproduce_report_matches_the_summary(quick_run):
  s = json.loads((quick_run / "summary.json").read_text())
  report = (quick_run / "report.md").read_text()
  # the embedded draw is not the paper's test set: no published values beside ours
  assert s["paper_dataset"] is False and "graphs differ" in report and "[0.82" not in report
  assert "fixed angle pair" in report and "wall time" in report
  order = [m for m in ("qk_lstm", "lstm", "qlstm", "qfwp", "random", "fixed_angles",
                       "p1_optimum")]
  rows = {}
  for line in report.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) == 2 + len(order) and cells[1] in ("phase1", "phase2"):
      rows[(cells[0], cells[1])] = [c.split(" [")[0] for c in cells[2:]]
    elif len(cells) == 1 + len(order) and cells[0].isdigit():
      rows[(cells[0], "table2")] = [c.split(" [")[0] for c in cells[1:]]
  ns = sorted(s["table3"]["lstm"], key=int)
  assert len(rows) == 3 * len(ns)
  for n in ns:
    for phase in ("phase1", "phase2"):
      assert rows[(n, phase)] == [_cell(s["table3"][m][n][phase]) for m in order]
    assert rows[(n, "table2")] == [str(s["table2"][m][n]) for m in order]
  with open(quick_run / "table3.csv") as f:
    csv_rows = list(csv.DictReader(f))
  assert len(csv_rows) == len(ns) * len(METHODS)
  for r in csv_rows:
    want = s["table3"][r["method"]][r["n"]]
    assert float(r["phase2_mean"]) == want["phase2"][0]
    assert (r["phase1_mean"] == "") == (want["phase1"] is None)


def test_figures_leave_the_matplotlib_backend_alone(tmp_path):
  import matplotlib  # pylint: disable=import-outside-toplevel
  from jqmeta.app import report  # pylint: disable=import-outside-toplevel
  before = matplotlib.get_backend()
  matplotlib.use("svg")  # stands for a notebook's inline backend
  try:
    curve = np.abs(np.random.default_rng(0).normal(size=(4, 6))) + 0.1
    results = {"lstm": {"rel_error_curve": curve, "phase1_costs": -curve[:, :3]},
               "random": {"rel_error_curve": curve, "phase1_costs": None}}
    sizes = {m: np.array([6, 6, 7, 7]) for m in results}
    summary = {"table2": {"lstm": {6: 3, 7: 4}, "random": {6: 2, 7: 5}}}
    report.figure8(tmp_path / "f8.png", results, sizes, summary, phase1_steps=3)
    paths = {"lstm": np.linspace(0, 0.5, 6).reshape(3, 2, 1)}
    report.figure9(tmp_path / "f9.png", nx.cycle_graph(5), paths, np.full((2, 1), 0.3),
                   np.full((2, 1), -0.3), resolution=9)
    assert matplotlib.get_backend().lower() == "svg"
  finally:
    matplotlib.use(before)
  for name in ("f8.png", "f9.png"):
    assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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


def test_run_validates_everything_before_any_work(tmp_path, monkeypatch):
  from jqmeta.app import reproduce  # pylint: disable=import-outside-toplevel

  def forbidden(*args, **kwargs):
    raise AssertionError("work started before the arguments were validated")
  monkeypatch.setattr(reproduce, "load_data", forbidden)
  (tmp_path / "a_file").write_text("x")
  cases = [(dict(epochs=-1), ValueError, "epochs must be >= 1"),
           (dict(p=0), ValueError, "p must be >= 1"),
           (dict(seed=-1), ValueError, "seed must be >= 0"),
           (dict(variant="fixed"), ValueError, "variant must be one of"),
           (dict(dataset=tmp_path / "missing.json"), FileNotFoundError, "no such file"),
           (dict(out=tmp_path / "a_file"), ValueError, "is an existing file"),
           (dict(out=tmp_path / "a_file" / "sub"), ValueError, "a_file is a file")]
  for kwargs, error, match in cases:
    with pytest.raises(error, match=match):
      reproduce.run(**{"out": tmp_path / "new", **kwargs})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"], kwargs


def _report_summary(**training_overrides):
  """A reproduce summary for the report, built by hand (no run)."""
  methods = ["qk_lstm", "lstm", "qlstm", "qfwp", "random", "fixed_angles", "p1_optimum"]
  t3 = {m: {n: {"phase1": None if m == "random" else [0.8 + 0.01 * i, 0.02],
                "phase2": [0.85 + 0.01 * i, 0.02]} for n in (10, 11)}
        for i, m in enumerate(methods)}
  training = {m: {"params": {"total": 50}, "epochs": 20, "best_epoch": 12,
                  "stopped": "early_stop", "seconds": 3.0} for m in methods[:4]}
  for m, record in training_overrides.items():
    training[m].update(record)
  return {"table3": t3, "table2": {m: {10: 40 + i, 11: 30 + i} for i, m in enumerate(methods)},
          "random_cut_ratio": {10: [0.7, 0.01], 11: [0.72, 0.01]}, "training": training,
          "convergence_tol": 1e-4, "dataset": "x", "variant": "reference", "p": 1,
          "wall_seconds": 123.4, "wall_covers": "data, training, baselines, evaluation, figures"}


def test_report_flags_training_problems():
  from jqmeta.app import report  # pylint: disable=import-outside-toplevel
  clean = report.render_markdown(_report_summary())
  assert report.problems(_report_summary()) == [] and "None of the checked problems" in clean
  for flag, record, present in [
      ("still improving at the epoch limit", dict(best_epoch=20, stopped="max_epochs"), True),
      ("still improving at the epoch limit", dict(best_epoch=19, stopped="max_epochs"), False),
      ("still improving at the epoch limit", dict(best_epoch=20, stopped="converged"), False),
      ("barely trained", dict(best_epoch=1), True), ("barely trained", dict(best_epoch=2), True),
      ("barely trained", dict(best_epoch=3), False)]:
    text = report.render_markdown(_report_summary(qfwp=record))
    assert (f"**QFWP: {flag}.**" in text) == present, (flag, record)
    assert "**LSTM:" not in text  # only the model with the problem is flagged
    assert ("None of the checked problems" in text) == (not present)
  both = report.problems(_report_summary(qfwp=dict(epochs=2, best_epoch=2, stopped="max_epochs")))
  assert both == [next(line for line in both if "QFWP" in line)]  # one bullet per model
  assert "**QFWP: still improving at the epoch limit; barely trained.**" in both[0]
  quick = report.render_markdown({**_report_summary(qfwp=dict(best_epoch=1)), "quick": True})
  assert "A quick run trains few epochs" in quick
  assert "A quick run" not in report.render_markdown({**_report_summary(), "quick": True})
  s = _report_summary()
  s["table3"]["random"][11]["phase2"] = [0.71, 0.05]  # below the 0.72 random cut at n = 11
  flags = report.problems(s)
  assert len(flags) == 1 and "Random seed" in flags[0] and "n = 11: 0.710 < 0.720" in flags[0]
  assert "n = 10" not in flags[0] and flags[0] in report.render_markdown(s)


def test_report_paper_values_only_on_the_paper_graphs():
  from jqmeta.app import report  # pylint: disable=import-outside-toplevel
  s = _report_summary()
  ours = report.render_markdown({**s, "paper_dataset": True})
  assert "| 10 | phase1 | 0.800 ± 0.020 [0.82 ± 0.03] |" in ours  # QK-LSTM, paper Table III
  assert "| 10 | 40 [48] | 41 [86] |" in ours  # Table II: QK-LSTM 48, LSTM 86
  for text in (report.render_markdown(s), report.render_markdown({**s, "paper_dataset": False})):
    table_rows = [line for line in text.splitlines() if line.startswith("| 1")]
    assert len(table_rows) == 6 and not any("[" in line for line in table_rows)
    assert "graphs differ" in text and "in brackets" not in text


def test_report_defines_its_metrics_and_one_wall_time():
  from jqmeta import metrics  # pylint: disable=import-outside-toplevel
  from jqmeta.app import report  # pylint: disable=import-outside-toplevel
  text = report.render_markdown(_report_summary())
  lower = text.lower()
  assert lower.index("approximation ratio** r = e[cut] / c_max") < lower.index("| 10 | phase1")
  assert lower.index("relative error** after step t") < lower.index("| 10 | 40")
  # the text says relative error = 1 - r; check it in the library's convention
  r, c_max = np.array([0.3, 0.8, 1.0]), 5.0
  np.testing.assert_allclose(metrics.relative_error(-r * c_max, c_max), 1 - r, rtol=1e-6)
  assert lower.count("wall time") == 1
  assert "123.4 s (data, training, baselines, evaluation, figures)" in text
  s = _report_summary()
  del s["wall_covers"]
  assert "123.4 s (what it covers was not recorded)" in report.render_markdown(s)
  del s["wall_seconds"]
  assert "wall time for the run: not recorded" in report.render_markdown(s)


def test_paper_test_set_is_recognised_by_its_graphs():
  from jqmeta.app import report  # pylint: disable=import-outside-toplevel
  splits = paper.load_splits(reference_dir() / "datasets.pkl")
  test = splits["test_data"]
  assert report.is_paper_test_set(test)
  assert report.is_paper_test_set(paper.quick_subset(splits)["test_data"])
  assert not report.is_paper_test_set(paper.default_dataset(0)["test_data"])
  changed = [G.copy() for G in test]
  changed[-1].remove_edge(*next(iter(changed[-1].edges)))
  assert not report.is_paper_test_set(changed) and not report.is_paper_test_set(test[:-1])
