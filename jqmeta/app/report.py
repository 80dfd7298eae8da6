"""Tables, figures and the markdown report of a reproduction run.

The report puts the paper's published numbers (:mod:`jqmeta.app.paper`) beside the
reproduced ones only when the test graphs are the paper's (:func:`is_paper_test_set`),
defines its metrics where they first appear, and flags training problems plainly
(:func:`problems`). The figures are drawn by :mod:`jqmeta.app.figures`.

Example:
  >>> from jqmeta.app import report
  >>> report.is_paper_test_set([])
  False
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from jqmeta import metrics
from jqmeta.app.figures import figure8, figure9
from jqmeta.app.paper import DISPLAY_NAMES
from jqmeta.app.paper import PAPER_CEILINGS, PAPER_TABLE2, PAPER_TABLE3

__all__ = ["summarize", "write_all", "write_report", "render_markdown", "problems",
           "is_paper_test_set", "graphs_fingerprint", "PAPER_TEST_FINGERPRINTS",
           "RATIO_DEFINITION", "REL_ERROR_DEFINITION", "figure8", "figure9"]

PAPER_TEST_FINGERPRINTS = {
    "32797ab8731ce2385e07ae98f62b1ff5464a110afeb463ae5e6750af43ab3b79": "full",
    "4d5143428577d538044e38596470fd16d483ce73d3623c60c5322df0f040023c": "quick subset",
}
""":func:`graphs_fingerprint` of the published ``datasets.pkl`` test split (90 graphs)
and of its ``--quick`` subset (:func:`jqmeta.app.paper.quick_subset`)."""

RATIO_DEFINITION = (
    "**Approximation ratio** r = E[cut] / C_max = -<H_C> / C_max: the expected cut of the "
    "QAOA state at a method's angles over the graph's maximum cut C_max (brute force); "
    "r = 1 when C_max = 0, and a uniformly random cut has r = (sum of weights / 2) / C_max.")
REL_ERROR_DEFINITION = (
    "**Relative error** after step t: |C_t - C*| / |C*|, with C_t = <H_C> at step t and "
    "C* = -C_max (so it equals 1 - r); Table II averages it over the graphs of each size "
    "and counts the steps until that mean curve changes by less than the tolerance per "
    "step for good.")

def _stats(values: Optional[np.ndarray], sizes: np.ndarray) -> Optional[dict[int, list]]:
  if values is None:
    return None
  return {int(n): [float(m), float(s)] for n, (m, s) in metrics.ratio_stats(
      np.asarray(values), sizes).items()}


def summarize(results: dict[str, dict], sizes_by_method: dict[str, np.ndarray],
              random_cut: np.ndarray, sizes: np.ndarray) -> dict[str, Any]:
  """Table II/III numbers from per-graph results of :func:`jqmeta.evaluation.evaluate_method`.

  Args:
    results: ``{method: evaluate_method(...) dict}``; reads ``ratio_phase1`` (``(G,)``
      float or ``None``), ``ratio_phase2`` (``(G,)`` float), ``rel_error_curve``
      (``(G, T)`` float) and ``curve_first_step`` (default 1).
    sizes_by_method: ``{method: (G,) int}`` node count of each result row (``(2G,)``
      for two pooled random seeds).
    random_cut: ``(G,)`` float uniformly-random-cut ratios of the test graphs.
    sizes: ``(G,)`` int node counts of the test graphs.

  Returns ``{"table3": {method: {n: {"phase1": [mean, std] | None, "phase2": [...]}}},
  "table2": {method: {n: iterations}}, "random_cut_ratio": {n: [mean, std]}}``, all
  Python ``int`` / ``float`` (JSON-ready).

  Example:
    >>> sizes = np.array([10, 10])
    >>> res = {"ratio_phase1": None, "ratio_phase2": np.array([0.75, 0.25]),
    ...        "rel_error_curve": np.ones((2, 3))}
    >>> s = summarize({"random": res}, {"random": sizes}, np.array([0.5, 0.5]), sizes)
    >>> s["table3"]["random"], s["table2"]["random"], s["random_cut_ratio"]
    ({10: {'phase1': None, 'phase2': [0.5, 0.25]}}, {10: 2}, {10: [0.5, 0.0]})
  """
  table3, table2 = {}, {}
  for method, res in results.items():
    s = sizes_by_method[method]
    p1 = _stats(res["ratio_phase1"], s)
    p2 = _stats(res["ratio_phase2"], s)
    table3[method] = {n: {"phase1": None if p1 is None else p1[n], "phase2": p2[n]} for n in p2}
    curves = metrics.mean_curve(np.asarray(res["rel_error_curve"]), s)
    first = int(res.get("curve_first_step", 1))
    table2[method] = {int(n): int(metrics.iterations_to_convergence(
        c, metrics.CONVERGENCE_TOL, first_step=first)) for n, c in curves.items()}
  return {"table3": table3, "table2": table2,
          "random_cut_ratio": _stats(random_cut, sizes)}


def _fmt(x):
  return "-" if x is None else f"{x[0]:.3f} ± {x[1]:.3f}"


def _write_csvs(out: Path, summary: dict) -> None:
  t3, t2 = summary["table3"], summary["table2"]
  ns = sorted({int(n) for m in t3.values() for n in m})
  with open(out / "table3.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["n", "method", "phase1_mean", "phase1_std", "phase2_mean", "phase2_std"])
    for n in ns:
      for method, rows in t3.items():
        r = rows.get(n) or rows.get(str(n))
        p1 = r["phase1"] or [None, None]
        w.writerow([n, method, *p1, *r["phase2"]])
  with open(out / "table2.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["n"] + list(t2))
    for n in ns:
      w.writerow([n] + [t2[m].get(n, t2[m].get(str(n))) for m in t2])


def _verdicts(summary: dict) -> list[str]:
  t3 = summary["table3"]
  lines = []
  if not {"fixed_angles", "p1_optimum"} <= set(t3):
    return lines
  ns = sorted(t3["fixed_angles"])
  for m in [m for m in ("qk_lstm", "lstm", "qlstm", "qfwp") if m in t3]:
    d_fix = np.mean([t3[m][n]["phase1"][0] - t3["fixed_angles"][n]["phase1"][0] for n in ns])
    d_opt = np.mean([t3[m][n]["phase1"][0] - t3["p1_optimum"][n]["phase1"][0] for n in ns])
    rel = "better than" if d_fix > 0.005 else ("worse than" if d_fix < -0.005 else "level with")
    lines.append(f"- **{DISPLAY_NAMES[m]}**: after Phase I, {rel} the single fixed angle pair "
                 f"(mean ratio difference {d_fix:+.3f}) and {-d_opt:.3f} below the per-graph "
                 f"p=1 optimum.")
  return lines




def graphs_fingerprint(test_graphs: list) -> str:
  """SHA-256 of a list of graphs (node counts and sorted edge lists, in order).

  Args:
    test_graphs: ``nx.Graph`` objects with integer node labels.

  Returns:
    64 hex digits.

  Example:
    >>> import networkx as nx
    >>> graphs_fingerprint([nx.path_graph(3)]) == graphs_fingerprint([nx.path_graph(3)])
    True
  """
  canon = [[G.number_of_nodes(), sorted(sorted((int(u), int(v))) for u, v in G.edges)]
           for G in test_graphs]
  return hashlib.sha256(json.dumps(canon).encode()).hexdigest()


def is_paper_test_set(test_graphs: list) -> bool:
  """Whether these are the paper's test graphs (all 90, or the ``--quick`` subset).

  Only then are the paper's published values a like-for-like comparison.

  Example:
    >>> from jqmeta.app import paper
    >>> is_paper_test_set(paper.default_dataset(0)["test_data"])
    False
  """
  return graphs_fingerprint(test_graphs) in PAPER_TEST_FINGERPRINTS


def _get(d: dict, n):
  """``d[n]`` for an int size whether the keys are ints or (from JSON) strings."""
  return d.get(n, d.get(str(n)))


def _training_problems(training: dict) -> list[str]:
  lines = []
  for m, t in training.items():
    best, epochs, stopped = t.get("best_epoch"), t.get("epochs"), t.get("stopped")
    if best is None or epochs is None:
      continue
    found, why = [], []
    if best == epochs and stopped in (None, "max_epochs"):
      found.append("still improving at the epoch limit")
      why.append(f"its best epoch is the last one ({best} of {epochs}), so more epochs "
                 "would likely change its numbers")
    if best in (1, 2):
      found.append("barely trained")
      why.append(f"its best epoch is {best}, so its numbers say little about the model")
    if found:
      lines.append(f"- **{DISPLAY_NAMES.get(m, m)}: {'; '.join(found)}.** "
                   + "; ".join(why)[:1].upper() + "; ".join(why)[1:] + ".")
  return lines


def _random_problems(summary: dict) -> list[str]:
  rand = summary.get("table3", {}).get("random")
  rc = summary.get("random_cut_ratio") or {}
  if not rand:
    return []
  below = []
  for n in sorted(rand, key=int):
    ours, floor = (_get(rand, n) or {}).get("phase2"), _get(rc, n)
    if ours is not None and floor is not None and ours[0] < floor[0]:
      below.append(f"n = {n}: {ours[0]:.3f} < {floor[0]:.3f}")
  if not below:
    return []
  return ["- **Random seed: Phase II ends below the uniformly random cut** (" + "; ".join(below)
          + "). Plain SGD from a random start did worse than cutting each edge with "
          "probability 1/2: Phase II is too short or its learning rate unsuited here."]


def problems(summary: dict) -> list[str]:
  """Plain-language flags of training problems in a run's summary (markdown bullets).

  Flags a learned model whose best epoch is the last (``stopped == "max_epochs"``: still
  improving at the epoch limit) or is 1 or 2 (barely trained), and a ``random`` baseline
  whose mean Phase II ratio is below the uniformly random cut ratio for some size.

  Args:
    summary: the reproduce summary; reads ``training`` (``{model: {"best_epoch",
      "epochs", "stopped"}}``), ``table3["random"]`` and ``random_cut_ratio``.

  Returns:
    one bullet line per problem; empty when there is none.

  Example:
    >>> t = {"lstm": {"best_epoch": 2, "epochs": 9, "stopped": "early_stop"}}
    >>> [line.split(".**")[0] for line in problems({"training": t})]
    ['- **LSTM: barely trained']
  """
  return _training_problems(summary.get("training") or {}) + _random_problems(summary)


def _header(summary: dict, paper: bool) -> list[str]:
  wall = summary.get("wall_seconds")
  covers = summary.get("wall_covers") or "what it covers was not recorded"
  wall_txt = "not recorded" if wall is None else f"{wall} s ({covers})"
  lines = ["# jqmeta reproduce report", "",
           f"Dataset: {summary.get('dataset')}; variant: {summary.get('variant')}; "
           f"p = {summary.get('p')}; quick: {summary.get('quick')}; energy method: "
           f"{summary.get('energy_method')}.", "", f"One wall time for the run: {wall_txt}.", ""]
  if paper:
    lines.append("The test graphs are the paper's, so the paper's published values are shown "
                 "in brackets beside ours.")
  else:
    lines.append("The test graphs are not the paper's: the graphs differ, so the paper's "
                 "published values are not shown (compare the methods within this run).")
  found = problems(summary)
  lines += ["", "## Problems found in this run", ""]
  lines += found or ["None of the checked problems (best epoch last or 1-2, random seed "
                     "below the random cut) occurred."]
  if found and summary.get("quick"):
    lines += ["", "A quick run trains few epochs and runs a short Phase II, so flags here "
              "are expected; run without `--quick` for numbers to read."]
  return lines + [""]


def _bracket(paper) -> str:
  if paper is None:
    return ""
  return f" [{paper[0]:.2f}]" if paper[1] is None else f" [{paper[0]:.2f} ± {paper[1]:.2f}]"


def _table3(summary: dict, methods: list, ns: list, paper: bool) -> list[str]:
  t3 = summary["table3"]
  lines = ["## Table III: approximation ratio (mean ± std)" + ("; paper in brackets" if paper
                                                               else ""), "", RATIO_DEFINITION, "",
           "| n | phase | " + " | ".join(DISPLAY_NAMES.get(m, m) for m in methods) + " |",
           "|---|---|" + "---|" * len(methods)]
  for n in ns:
    for phase in ("phase1", "phase2"):
      cells = []
      for m in methods:
        ref = PAPER_TABLE3.get(m, {}).get(phase, {}).get(n) if paper else None
        if paper and ref is None and phase == "phase1" and m in PAPER_CEILINGS:
          ceil = PAPER_CEILINGS[m].get(n)
          ref = None if ceil is None else (ceil, None)
        cells.append(_fmt((_get(t3[m], n) or {}).get(phase)) + _bracket(ref))
      lines.append(f"| {n} | {phase} | " + " | ".join(cells) + " |")
  rc = summary.get("random_cut_ratio") or {}
  lines += ["", "Uniformly random cut ratio: " + ", ".join(
      f"n={n}: {_get(rc, n)[0]:.3f}" for n in ns if _get(rc, n) is not None), "",
            "Phase I for the baselines: `fixed_angles` and `p1_optimum` report their angles "
            "directly (no learned model); `random` has no Phase I."
            + (" Paper ceilings (grid searches on the paper's test set) are in brackets for "
               "those two." if paper else ""), ""]
  return lines


def _table2(summary: dict, methods: list, ns: list, paper: bool) -> list[str]:
  t2 = summary["table2"]
  lines = [f"## Table II: iterations to convergence (tolerance {summary.get('convergence_tol')} "
           "on the mean relative error" + ("; paper in brackets)" if paper else ")"), "",
           REL_ERROR_DEFINITION, "",
           "| n | " + " | ".join(DISPLAY_NAMES.get(m, m) for m in methods) + " |",
           "|---|" + "---|" * len(methods)]
  for n in ns:
    cells = [f"{_get(t2[m], n)}" + (f" [{PAPER_TABLE2[m][n]}]"
                                    if paper and n in PAPER_TABLE2.get(m, {}) else "")
             for m in methods]
    lines.append(f"| {n} | " + " | ".join(cells) + " |")
  return lines


def render_markdown(summary: dict, histories: Optional[dict] = None) -> str:
  """The report: Tables II/III (beside the paper's on its graphs), problems, verdicts.

  Args:
    summary: the reproduce summary: ``table3``, ``table2``, ``random_cut_ratio`` and,
      read when present, ``paper_dataset`` (bool, default False), ``wall_seconds``,
      ``wall_covers`` (what the wall time covers), ``training`` and the run settings.
    histories: unused; kept for callers of the earlier signature.

  Returns:
    the markdown text.

  Example:
    >>> s = {"table3": {"random": {10: {"phase1": None, "phase2": [0.6, 0.1]}}},
    ...      "table2": {"random": {10: 40}}, "random_cut_ratio": {10: [0.7, 0.0]}}
    >>> "below the uniformly random cut" in render_markdown(s)
    True
  """
  del histories
  t3 = summary["table3"]
  paper = bool(summary.get("paper_dataset", False))
  methods = [m for m in ("qk_lstm", "lstm", "qlstm", "qfwp", "random", "fixed_angles",
                         "p1_optimum") if m in t3]
  methods += sorted(m for m in t3 if m not in methods)
  ns = sorted({int(n) for m in t3.values() for n in m})
  lines = _header(summary, paper) + _table3(summary, methods, ns, paper)
  lines += _table2(summary, methods, ns, paper)
  verdicts = _verdicts(summary)
  if verdicts:
    lines += ["", "## How the learned models compare with the honest baselines", ""] + verdicts
  if summary.get("training"):
    lines += ["", "## Training", "", "| model | params | epochs | best epoch | stopped | seconds |",
              "|---|---|---|---|---|---|"]
    for m, t in summary["training"].items():
      lines.append(f"| {DISPLAY_NAMES.get(m, m)} | {(t.get('params') or {}).get('total')} | "
                   f"{t.get('epochs')} | {t.get('best_epoch')} | {t.get('stopped')} | "
                   f"{t.get('seconds')} |")
  lines += ["", "Figures: `figure8.png` (mean relative error per size), `figure9.png` "
            "(p=1 landscape of test graph 0 with each Phase I path).", ""]
  return "\n".join(lines)


def write_report(out: Path, summary: dict) -> None:
  """Writes ``out/report.md`` from the summary (call it once ``wall_seconds`` is final).

  Example:
    >>> write_report(out, summary)  # doctest: +SKIP
  """
  (Path(out) / "report.md").write_text(render_markdown(summary))


def write_all(out: Path, summary: dict, results: dict, sizes: np.ndarray, test_nx: list,
              paths: dict, fixed: np.ndarray, optimum: np.ndarray, histories: dict,
              *, report: bool = True) -> None:
  """Writes table2.csv, table3.csv, figure8.png, figure9.png and (``report``) report.md.

  Sets ``summary["paper_dataset"]`` (:func:`is_paper_test_set` of ``test_nx``) when the
  summary does not have it, so that summary.json records it too.

  Args:
    out: existing output folder.
    summary: :func:`summarize` output plus the run settings (as in ``reproduce.run``).
    results: ``{method: evaluation.evaluate_method(...) dict}`` for every method of the report.
    sizes: ``(G,)`` int node counts of the test graphs (the ``random`` rows are taken
      as ``(2G,)``: two pooled seeds).
    test_nx: the ``G`` test ``nx.Graph`` (graph 0 is drawn in figure 9).
    paths: ``{learned model: (G, T, 2, 1) float}`` Phase I angles.
    fixed: ``(2, 1)`` float fixed angles; optimum: ``(G, 2, 1)`` float p=1 optima.
    histories: unused (kept for callers of the earlier signature).
    report: also write report.md; pass False and call :func:`write_report` later when
      the wall time should include the figures.

  Example:
    >>> write_all(out, summary, results, sizes, test_nx, paths, fixed,  # doctest: +SKIP
    ...           optimum, histories)
    >>> sorted(p.name for p in out.glob("*.*"))  # doctest: +SKIP
    ['figure8.png', 'figure9.png', 'report.md', 'table2.csv', 'table3.csv']
  """
  del histories
  out = Path(out)
  summary.setdefault("paper_dataset", is_paper_test_set(test_nx))
  _write_csvs(out, summary)
  sizes_by = {m: (np.concatenate([sizes, sizes]) if m == "random" else sizes) for m in results}
  figure8(out / "figure8.png", results, sizes_by, summary,
          phase1_steps=next(iter(paths.values())).shape[1])
  figure9(out / "figure9.png", test_nx[0], {k: v[0] for k, v in paths.items()}, fixed,
          optimum[0])
  if report:
    write_report(out, summary)
