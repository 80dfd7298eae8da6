"""Tables, figures and the markdown report of a reproduction run.

Every report puts the reproduced numbers beside the paper's published ones
(:mod:`jqmeta.app.paper`).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Optional

import numpy as np

from jqmeta import metrics
from jqmeta.app.paper import DISPLAY_NAMES
from jqmeta.app.paper import PAPER_CEILINGS, PAPER_TABLE2, PAPER_TABLE3

__all__ = ["summarize", "write_all", "render_markdown", "figure8", "figure9"]

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


def _figure(figsize):
  """A figure drawn by its own Agg canvas: pyplot and the session's backend stay untouched."""
  # pylint: disable=import-outside-toplevel  # matplotlib loads only when a report is drawn
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  fig = Figure(figsize=figsize)
  FigureCanvasAgg(fig)
  return fig


def figure8(path: Path, results: dict, sizes: dict[str, np.ndarray], summary: dict,
            phase1_steps: int) -> None:
  """Mean relative error against total step, one panel per n; Phase I dashed.

  Drawn with matplotlib's object API on an Agg canvas: the caller's backend (a
  notebook's inline one) and pyplot's figures are left alone.

  Args:
    path: the PNG file to write.
    results: ``{method: evaluation.evaluate_method(...) dict}`` with ``"lstm"`` among them; reads
      ``rel_error_curve`` (``(G_m, T_m)`` float) and ``phase1_costs`` (``(G_m, T1)`` or
      ``None`` for baselines without Phase I).
    sizes: ``{method: (G_m,) int}`` node count of each result row.
    summary: from :func:`summarize` (its ``table2`` marks each convergence step).
    phase1_steps: number of Phase I steps ``T1`` (drawn dashed).

  Example:
    >>> figure8(Path("fig8.png"), results, sizes, summary, phase1_steps=10)  # doctest: +SKIP
  """
  import matplotlib

  ns = sorted(set(int(n) for n in np.unique(sizes["lstm"])))
  fig = _figure((4 * len(ns), 3.4))
  axes = fig.subplots(1, len(ns), squeeze=False)
  colors = dict(zip(DISPLAY_NAMES, matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]))
  for ax, n in zip(axes[0], ns):
    for method, res in results.items():
      curve = metrics.mean_curve(np.asarray(res["rel_error_curve"]), sizes[method])[n]
      learned = res.get("phase1_costs") is not None
      steps = np.arange(1, len(curve) + 1) if learned else np.arange(len(curve))
      if learned:
        k = phase1_steps
        ax.plot(steps[:k], curve[:k], "--", color=colors[method])
        ax.plot(steps[k - 1:], curve[k - 1:], "-", color=colors[method], label=DISPLAY_NAMES[method])
      else:
        ax.plot(steps, curve, "-", color=colors[method], label=DISPLAY_NAMES[method], alpha=0.8)
      it = summary["table2"][method].get(n)
      if it is not None:
        ax.axvline(it, color=colors[method], ls=":", lw=0.8)
    ax.set_title(f"n = {n}")
    ax.set_xlabel("total step (Phase I dashed, Phase II solid)")
    ax.set_yscale("log")
  axes[0][0].set_ylabel("mean relative error")
  axes[0][-1].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=120)


def figure9(path: Path, graph_nx, paths: dict[str, np.ndarray], fixed: np.ndarray,
            optimum: np.ndarray, resolution: int = 121) -> None:
  """p=1 energy landscape of one test graph with each method's Phase I path.

  Drawn like :func:`figure8` (object API, own Agg canvas; the backend is unchanged).

  Args:
    path: the PNG file to write.
    graph_nx: one ``nx.Graph``.
    paths: ``{learned model: (T, 2, 1) float}`` Phase I angles on this graph.
    fixed: ``(2, 1)`` float fixed angles; optimum: ``(2, 1)`` float p=1 optimum.
    resolution: grid points per axis (``resolution**2`` float32 energies).

  Example:
    >>> import networkx as nx
    >>> a = np.zeros((10, 2, 1))  # one model's Phase I angles on the graph
    >>> figure9(Path("fig9.png"), nx.cycle_graph(6), {"lstm": a}, a[-1], a[-1])  # doctest: +SKIP
  """
  import jax
  import jax.numpy as jnp

  from jqmeta import graphs, qaoa

  graph = graphs.from_networkx(graph_nx)
  gammas = np.linspace(-np.pi, np.pi, resolution)
  betas = np.linspace(-np.pi / 4, np.pi / 4, resolution)
  # The p=1 energy has period pi/2 in beta: fold every point into the window.
  fold = lambda a: np.stack([a[..., 0], (a[..., 1] + np.pi / 4) % (np.pi / 2) - np.pi / 4], -1)
  G_, B_ = np.meshgrid(gammas, betas)
  grid = jnp.asarray(np.stack([G_.ravel(), B_.ravel()], axis=1)[:, :, None], jnp.float32)
  energy = jax.jit(jax.vmap(lambda a: qaoa.energy(a, graph)))(grid)
  fig = _figure((6, 4.6))
  ax = fig.subplots()
  im = ax.contourf(G_, B_, np.asarray(energy).reshape(G_.shape), levels=30, cmap="viridis")
  fig.colorbar(im, ax=ax, label="<H_C>")
  for name, traj in paths.items():
    traj = fold(np.asarray(traj).reshape(len(traj), 2))
    ax.plot(traj[:, 0], traj[:, 1], ".-", label=DISPLAY_NAMES[name], lw=1.2)
    ax.plot(traj[-1, 0], traj[-1, 1], "o", mfc="none", mec="k", ms=7)
  ax.plot(*fold(np.asarray(fixed).reshape(2)), "*", mfc="w", mec="k", ms=13, label="fixed angles")
  ax.plot(*fold(np.asarray(optimum).reshape(2)), "X", mfc="r", mec="k", ms=10,
          label="p=1 optimum")
  ax.set_xlabel("gamma")
  ax.set_ylabel("beta")
  ax.set_title(f"p=1 landscape, n={graph_nx.number_of_nodes()}, m={graph_nx.number_of_edges()}"
               " (beta folded mod pi/2; circles: step 10)")
  ax.legend(fontsize=7, loc="upper right")
  fig.tight_layout()
  fig.savefig(path, dpi=120)


def _verdicts(summary: dict) -> list[str]:
  t3 = summary["table3"]
  lines = []
  ns = sorted(t3["fixed_angles"])
  for m in ("qk_lstm", "lstm", "qlstm", "qfwp"):
    d_fix = np.mean([t3[m][n]["phase1"][0] - t3["fixed_angles"][n]["phase1"][0] for n in ns])
    d_opt = np.mean([t3[m][n]["phase1"][0] - t3["p1_optimum"][n]["phase1"][0] for n in ns])
    rel = "better than" if d_fix > 0.005 else ("worse than" if d_fix < -0.005 else "level with")
    lines.append(f"- **{DISPLAY_NAMES[m]}**: after Phase I, {rel} the single fixed angle pair "
                 f"(mean ratio difference {d_fix:+.3f}) and {-d_opt:.3f} below the per-graph "
                 f"p=1 optimum.")
  return lines


def write_all(out: Path, summary: dict, results: dict, sizes: np.ndarray, test_nx: list,
              paths: dict, fixed: np.ndarray, optimum: np.ndarray, histories: dict) -> None:
  """Writes table2.csv, table3.csv, figure8.png, figure9.png and report.md.

  Args:
    out: existing output folder.
    summary: :func:`summarize` output plus the run settings (as in ``reproduce.run``).
    results: ``{method: evaluation.evaluate_method(...) dict}`` for every method of the report.
    sizes: ``(G,)`` int node counts of the test graphs (the ``random`` rows are taken
      as ``(2G,)``: two pooled seeds).
    test_nx: the ``G`` test ``nx.Graph`` (graph 0 is drawn in figure 9).
    paths: ``{learned model: (G, T, 2, 1) float}`` Phase I angles.
    fixed: ``(2, 1)`` float fixed angles; optimum: ``(G, 2, 1)`` float p=1 optima.
    histories: ``{learned model: TrainResult.history}``.

  Example:
    >>> write_all(out, summary, results, sizes, test_nx, paths, fixed,  # doctest: +SKIP
    ...           optimum, histories)
    >>> sorted(p.name for p in out.glob("*.*"))  # doctest: +SKIP
    ['figure8.png', 'figure9.png', 'report.md', 'table2.csv', 'table3.csv']
  """
  out = Path(out)
  _write_csvs(out, summary)
  sizes_by = {m: (np.concatenate([sizes, sizes]) if m == "random" else sizes) for m in results}
  figure8(out / "figure8.png", results, sizes_by, summary,
          phase1_steps=next(iter(paths.values())).shape[1])
  figure9(out / "figure9.png", test_nx[0], {k: v[0] for k, v in paths.items()}, fixed,
          optimum[0])
  (out / "report.md").write_text(render_markdown(summary, histories))


def render_markdown(summary: dict, histories: Optional[dict] = None) -> str:
  """The report: reproduced Tables II/III beside the paper's, verdicts, settings."""
  t3, t2 = summary["table3"], summary["table2"]
  ns = sorted(t3["lstm"])
  methods = [m for m in ("qk_lstm", "lstm", "qlstm", "qfwp", "random", "fixed_angles",
                         "p1_optimum") if m in t3]
  lines = ["# jqmeta reproduce report", "",
           f"Dataset: {summary.get('dataset')}; variant: {summary.get('variant')}; "
           f"p = {summary.get('p')}; quick: {summary.get('quick')}; energy method: "
           f"{summary.get('energy_method')}; wall time: {summary.get('wall_seconds')} s.", "",
           "## Table III: approximation ratio (mean ± std); paper in brackets", ""]
  lines.append("| n | phase | " + " | ".join(DISPLAY_NAMES[m] for m in methods) + " |")
  lines.append("|---|---|" + "---|" * len(methods))
  for n in ns:
    for phase in ("phase1", "phase2"):
      cells = []
      for m in methods:
        ours = _fmt(t3[m][n][phase])
        paper = PAPER_TABLE3.get(m, {}).get(phase, {}).get(n)
        if paper is None and phase == "phase1" and m in PAPER_CEILINGS:
          ceil = PAPER_CEILINGS[m].get(n)
          paper = None if ceil is None else (ceil, None)
        ptxt = "" if paper is None else (f" [{paper[0]:.2f}]" if paper[1] is None
                                          else f" [{paper[0]:.2f} ± {paper[1]:.2f}]")
        cells.append(ours + ptxt)
      lines.append(f"| {n} | {phase} | " + " | ".join(cells) + " |")
  rc = summary.get("random_cut_ratio") or {}
  lines += ["", "Uniformly random cut ratio: " + ", ".join(
      f"n={n}: {v[0]:.3f}" for n, v in sorted(rc.items())), "",
            "Phase I for the baselines: `fixed_angles` and `p1_optimum` report their angles "
            "directly (no learned model); `random` has no Phase I. Paper ceilings (grid "
            "searches on the paper's test set) are in brackets for those two.", "",
            f"## Table II: iterations to convergence (tolerance {summary.get('convergence_tol')} "
            "on the mean relative error; paper in brackets)", ""]
  lines.append("| n | " + " | ".join(DISPLAY_NAMES[m] for m in methods) + " |")
  lines.append("|---|" + "---|" * len(methods))
  for n in ns:
    cells = []
    for m in methods:
      paper = PAPER_TABLE2.get(m, {}).get(n)
      cells.append(f"{t2[m][n]}" + ("" if paper is None else f" [{paper}]"))
    lines.append(f"| {n} | " + " | ".join(cells) + " |")
  lines += ["", "## How the learned models compare with the honest baselines", ""]
  lines += _verdicts(summary)
  if summary.get("training"):
    lines += ["", "## Training", "", "| model | params | epochs | best epoch | stopped | seconds |",
              "|---|---|---|---|---|---|"]
    for m, t in summary["training"].items():
      lines.append(f"| {DISPLAY_NAMES[m]} | {t['params']['total']} | {t['epochs']} | {t['best_epoch']} "
                   f"| {t['stopped']} | {t['seconds']} |")
  lines += ["", "Figures: `figure8.png` (mean relative error per size), `figure9.png` "
            "(p=1 landscape of test graph 0 with each Phase I path).", ""]
  return "\n".join(lines)
