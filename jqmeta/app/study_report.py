"""Files of ``jqmeta study``: study.json, the leaderboard (markdown and CSV), two figures.

:func:`write_all` takes the dict :func:`jqmeta.study.run_study` returns and writes:

* ``study.json``: every number, the configuration, its signature and the stage times;
* ``leaderboard.md``: one table per family and depth ``p`` (test graphs of every size
  pooled), methods sorted by evaluations to the first target (graphs that never reach it
  count as the total evaluations + 1), every number with its 95% bootstrap CI;
* ``leaderboard.csv``: the same per family, ``p``, test size (and ``all``) and method;
* ``ratio_vs_evaluations_<family>.png``: mean ratio to best found against evaluations,
  one panel per ``p``, one curve per method;
* ``ratio_vs_n_<family>.png``: approximation ratio against test size at a fixed budget
  (size transfer), one panel per ``p``.

With shots (``StudyConfig.shots``), also: a "Under finite shots" part of
``leaderboard.md`` (:func:`render_shots`: a verdict table, then per shot count, family and
``p`` every method's ratio to best found and best-sampled-cut ratio at each total shot
budget), ``leaderboard_shots.csv`` and ``ratio_vs_shots_<family>.png`` (the evaluation
figure with total shots on the x-axis, one row of panels per shot count).

Example:
  >>> from jqmeta.app import study_report
  >>> study_report.fmt_ci([0.91234, 0.9, 0.92])
  '0.912 [0.900, 0.920]'
"""

from __future__ import annotations

import csv
import io as _io
import json
from pathlib import Path

from jqmeta._src import fileio
from jqmeta.app import style

__all__ = ["write_all", "render_leaderboard", "render_verdict", "verdict", "leaderboard_rows",
           "fmt_ci", "figure_curves", "figure_sizes", "render_shots", "shots_verdict",
           "shots_rows", "figure_shots"]


def fmt_ci(ci, digits: int = 3) -> str:
  """``[mean, low, high]`` as ``"mean [low, high]"`` (``"-"`` for ``None``).

  Example:
    >>> fmt_ci([12.0, 10.5, 14.25], 1)
    '12.0 [10.5, 14.2]'
  """
  if ci is None:
    return "-"
  m, lo, hi = ci
  return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _cost(training) -> str:
  if not training:
    return "-"
  return f"{training['evaluations']} evals, {training['seconds']:.1f} s"


def _best(entry: dict, kinds: tuple) -> str:
  """The highest-ranked method of ``kinds`` (``entry["ranking"]`` is already sorted)."""
  return next(m for m in entry["ranking"] if entry["methods"][m]["kind"] in kinds)


def verdict(entry: dict, targets) -> dict:
  """Best rule against best learned model (warm starts included) for one family and ``p``.

  A side wins at a target when its CI of the mean evaluations lies entirely below the
  other's (two disjoint 95% intervals: a conservative test); the first target decides,
  the second breaks a tie.

  Returns:
    ``{"rule", "learned", "winner": "rule" | "learned" | "tie", "decided_at", "margin"}``
    (``margin``: the loser's mean minus the winner's at ``decided_at``, else ``None``).

  Example:
    >>> m = lambda kind, *e: {"kind": kind, "sizes": {"all": {"evals_to_target": {
    ...     "0.98": {"censored": list(e)}}}}}
    >>> verdict({"ranking": ["a", "b"], "methods": {"a": m("rule", 1, 1, 2),
    ...          "b": m("learned", 9, 8, 10)}}, [0.98])["winner"]
    'rule'
  """
  rule, learned = _best(entry, ("rule",)), _best(entry, ("learned", "warm"))
  out = {"rule": rule, "learned": learned, "winner": "tie", "decided_at": None, "margin": None}
  for t in targets:
    a, b = (entry["methods"][m]["sizes"]["all"]["evals_to_target"][str(t)]["censored"]
            for m in (rule, learned))
    if a[2] < b[1] or b[2] < a[1]:
      winner = "rule" if a[2] < b[1] else "learned"
      out.update(winner=winner, decided_at=t, margin=abs(b[0] - a[0]))
      break
  return out


def render_verdict(result: dict) -> list[str]:
  """Markdown table: per family and ``p``, the best rule, the best learned model and the
  :func:`verdict` (evaluations to each target, mean [95% CI]).

  Example:
    >>> render_verdict({"config": {"targets": [0.98]}, "families": {}})[0]
    '## Verdict: the best rule against the best learned model'
  """
  targets = result["config"]["targets"]
  cells = lambda e, m: " / ".join(fmt_ci(e["methods"][m]["sizes"]["all"]["evals_to_target"][
      str(t)]["censored"], 1) for t in targets)
  lines = ["## Verdict: the best rule against the best learned model", "",
           f"Evaluations to {' / '.join(map(str, targets))} of best found. A side wins only "
           "where the two 95% CIs are disjoint.", "",
           "| family | p | best rule | best learned | verdict |", "|---|---|---|---|---|"]
  for family, by_p in result["families"].items():
    for p, entry in by_p.items():
      v = verdict(entry, targets)
      said = ("tie (the CIs overlap)" if v["winner"] == "tie" else
              f"{v['winner']} wins by {v['margin']:.1f} evaluations to {v['decided_at']}")
      lines.append(f"| {family} | {p} | `{v['rule']}`: {cells(entry, v['rule'])} | "
                   f"`{v['learned']}`: {cells(entry, v['learned'])} | {said} |")
  return lines + [""]


def render_leaderboard(result: dict) -> str:
  """The markdown leaderboard: one table per family and ``p`` (module docstring).

  Example:
    >>> render_leaderboard({"config": {"targets": [0.98], "budgets": [0]}, "families": {}})[:13]
    '# Leaderboard'
  """
  cfg = result["config"]
  targets, budgets = cfg["targets"], cfg["budgets"]
  lines = ["# Leaderboard", "",
           "Evaluations to target: energy (+gradient) evaluations until the ratio to the "
           "per-graph best found reaches the target, Phase I included; graphs that never "
           "reach it count as the total + 1 (so the mean is a lower bound), `reached` is the "
           "fraction that do. Every number: mean [95% bootstrap CI over test graphs]. "
           "`B`: Phase II steps after Phase I (or after the rule's angles).", ""]
  lines += render_verdict(result)
  head = (["rank", "method", "kind"]
          + [f"evals to {t}" for t in targets] + [f"reached {t}" for t in targets]
          + [f"ratio to best, B={b}" for b in budgets]
          + [f"approx. ratio, B={budgets[-1]}", "meta-training cost"])
  for family, by_p in result["families"].items():
    for p, entry in by_p.items():
      all_n = next(iter(entry["methods"].values()))["sizes"]["all"]["graphs"]
      lines += [f"## {family}, p = {p} ({all_n} test graphs)", "",
                "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
      for rank, method in enumerate(entry["ranking"], 1):
        m = entry["methods"][method]
        s = m["sizes"]["all"]
        ett = s["evals_to_target"]
        row = ([str(rank), f"`{method}`", m["kind"]]
               + [fmt_ci(ett[str(t)]["censored"], 1) for t in targets]
               + [fmt_ci(ett[str(t)]["fraction"], 2) for t in targets]
               + [fmt_ci(s["ratio_to_best"][str(b)]) for b in budgets]
               + [fmt_ci(s["ratio"][str(budgets[-1])]), _cost(m["training"])])
        lines.append("| " + " | ".join(row) + " |")
      lines.append("")
  if result.get("shots"):
    lines += render_shots(result)
  return "\n".join(lines)


def leaderboard_rows(result: dict) -> list[dict]:
  """One CSV row per family, ``p``, test size (``all`` pooled) and method.

  Example:
    >>> leaderboard_rows({"config": {"targets": [0.98], "budgets": [0]}, "families": {}})
    []
  """
  cfg, rows = result["config"], []
  for family, by_p in result["families"].items():
    for p, entry in by_p.items():
      for rank, method in enumerate(entry["ranking"], 1):
        m = entry["methods"][method]
        for n, s in m["sizes"].items():
          row = {"family": family, "p": p, "n": n, "method": method, "kind": m["kind"],
                 "rank": rank, "graphs": s["graphs"]}
          for t in cfg["targets"]:
            e = s["evals_to_target"][str(t)]
            row.update(_ci_cols(f"evals_to_{t}", e["censored"]))
            row.update(_ci_cols(f"reached_{t}", e["fraction"]))
            row[f"evals_to_{t}_mean_reached"] = e["mean_reached"]
          for b in cfg["budgets"]:
            row.update(_ci_cols(f"ratio_to_best_B{b}", s["ratio_to_best"][str(b)]))
            row.update(_ci_cols(f"ratio_B{b}", s["ratio"][str(b)]))
          tr = m["training"] or {}
          row["train_evaluations"] = tr.get("evaluations")
          row["train_seconds"] = tr.get("seconds")
          rows.append(row)
  return rows


def _ci_cols(name: str, ci) -> dict:
  return {name: ci[0], f"{name}_lo": ci[1], f"{name}_hi": ci[2]}


def _csv(rows: list[dict]) -> str:
  buf = _io.StringIO()
  if rows:
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
  return buf.getvalue()


def _legend(fig, axes) -> None:
  """One legend below the panels with every method of any panel (warm starts: p > 1 only)."""
  seen = {}
  for ax in axes:
    for h, label in zip(*ax.get_legend_handles_labels()):
      seen.setdefault(label, h)
  fig.legend(list(seen.values()), list(seen), loc="outside lower center",
             ncols=min(len(seen), 3))


def _panels(count: int):
  """One figure with ``count`` panels side by side (one per depth p)."""
  fig = style.new_figure((4.6 * count + 1, 5.6))
  return fig, fig.subplots(1, count, squeeze=False)[0]


def figure_curves(result: dict, family: str, path) -> None:
  """Mean ratio to best found against evaluations, one panel per ``p``, one curve per method."""
  by_p = result["families"][family]
  with style.rc_context():
    fig, axes = _panels(len(by_p))
    for ax, (p, entry) in zip(axes, by_p.items()):
      for method in entry["ranking"]:
        c = entry["methods"][method]["curve"]
        st = style.style(method)
        ax.plot(c["evals"], c["ratio_to_best"], label=method, color=st["color"],
                linestyle=st["linestyle"], marker=st["marker"], markevery=max(len(c["evals"]) // 6, 1),
                markersize=4)
      ax.set_xlabel("energy evaluations")
      ax.set_ylabel("ratio to best found")
      ax.set_title(f"{family}, p = {p}")
      ax.grid(alpha=0.3)
    _legend(fig, axes)
    style.save(fig, path)


def figure_sizes(result: dict, family: str, path, budget: int) -> None:
  """Approximation ratio (95% CI bars) against test size at ``budget`` Phase II steps."""
  by_p = result["families"][family]
  with style.rc_context():
    fig, axes = _panels(len(by_p))
    for ax, (p, entry) in zip(axes, by_p.items()):
      for method in entry["ranking"]:
        sizes = {n: s for n, s in entry["methods"][method]["sizes"].items() if n != "all"}
        ns = [int(n) for n in sizes]
        ci = [sizes[str(n)]["ratio"][str(budget)] for n in ns]
        st = style.style(method)
        ax.errorbar(ns, [c[0] for c in ci], yerr=[[c[0] - c[1] for c in ci],
                                                  [c[2] - c[0] for c in ci]],
                    label=method, color=st["color"], linestyle=st["linestyle"],
                    marker=st["marker"], markersize=4, capsize=2)
      ax.set_xlabel("test graph size n")
      ax.set_ylabel(f"approximation ratio after B = {budget}")
      ax.set_title(f"{family}, p = {p}")
      ax.grid(alpha=0.3)
    _legend(fig, axes)
    style.save(fig, path)


def write_all(result: dict, out) -> list[Path]:
  """Writes every file of the module docstring into ``out``; returns their paths.

  Example:
    >>> write_all(result, "runs/study")  # doctest: +SKIP
  """
  out = Path(out)
  out.mkdir(parents=True, exist_ok=True)
  budgets = result["config"]["budgets"]
  fixed = budgets[len(budgets) // 2]
  paths = [out / "study.json", out / "leaderboard.md", out / "leaderboard.csv"]
  fileio.atomic_write(paths[0], json.dumps(result, indent=1, allow_nan=False))
  fileio.atomic_write(paths[1], render_leaderboard(result))
  fileio.atomic_write(paths[2], _csv(leaderboard_rows(result)))
  for family in result["families"]:
    paths.append(out / f"ratio_vs_evaluations_{family}.png")
    figure_curves(result, family, paths[-1])
    paths.append(out / f"ratio_vs_n_{family}.png")
    figure_sizes(result, family, paths[-1], fixed)
  if result.get("shots"):
    paths.append(out / "leaderboard_shots.csv")
    fileio.atomic_write(paths[-1], _csv(shots_rows(result)))
    for family in result["families"]:
      paths.append(out / f"ratio_vs_shots_{family}.png")
      figure_shots(result, family, paths[-1])
  return paths


# ----------------------------------------------------------------------------- shots

def shots_verdict(entry: dict, budget: str) -> dict:
  """Best rule, best exact-trained and best sampled-trained model at ``budget`` shots
  (ratio to best found, ranked as ``entry["ranking"]``), and who wins: a side wins only
  where its CI lies above every other side's (else ``"tie"``).

  Example:
    >>> ci = lambda m: {"reads": {"100": {"ratio_to_best": [m, m - .01, m + .01]}}}
    >>> e = {"ranking": ["a", "b"], "methods": {"a": {"kind": "rule", **ci(.9)},
    ...                                         "b": {"kind": "learned", **ci(.5)}}}
    >>> shots_verdict(e, "100")["winner"]
    'rule'
  """
  sides = {}
  for m in entry["ranking"]:
    kind = entry["methods"][m]["kind"]
    read = entry["methods"][m]["reads"].get(budget)
    if read is not None and kind not in sides:
      sides[kind] = (m, read["ratio_to_best"])
  best = max(sides, key=lambda k: sides[k][1][0])
  others = [v[1][2] for k, v in sides.items() if k != best]
  winner = best if others and sides[best][1][1] > max(others) else "tie"
  return {"sides": sides, "winner": winner}


def render_shots(result: dict) -> list[str]:
  """The "Under finite shots" part of the leaderboard (module docstring)."""
  cfg = result["config"]
  reads = [str(r) for r in sorted({int(b) for s in result["shots"].values()
                                   for f in s.values() for e in f.values()
                                   for m in e["methods"].values() for b in m["reads"]})]
  top = reads[-1]
  lines = ["# Under finite shots", "",
           f"Every energy a method sees is a sample mean of S shots; Phase II uses "
           f"{cfg['shot_gradient']} gradients (SGD, lr {cfg['phase2_lr']}), until "
           f"{cfg['shot_budget']} shots in total. Rules cost no shot before Phase II. Read "
           "at each total budget: the ratio to best found of the angles held (exact energy) "
           "and the best sampled cut's ratio `(cut - min cut) / (max cut - min cut)`. "
           "`-`: the method's first measurement does not fit the budget. Mean [95% "
           "bootstrap CI over test graphs, all sizes pooled].", "",
           f"## Verdict at {top} shots: ratio to best found", "",
           "| S | family | p | best rule | best learned (exact training) | best learned "
           "(sampled training) | verdict |", "|---|---|---|---|---|---|---|"]
  kinds = ("rule", "learned", "learned (sampled costs)")
  for S, by_f in result["shots"].items():
    for family, by_p in by_f.items():
      for p, entry in by_p.items():
        v = shots_verdict(entry, top)
        cells = [f"`{v['sides'][k][0]}`: {fmt_ci(v['sides'][k][1])}" if k in v["sides"]
                 else "-" for k in kinds]
        said = "tie (CIs overlap)" if v["winner"] == "tie" else f"{v['winner']} wins"
        lines.append(f"| {S} | {family} | {p} | " + " | ".join(cells) + f" | {said} |")
  head = (["rank", "method", "kind"] + [f"ratio to best, {r} shots" for r in reads]
          + [f"best cut ratio, {r} shots" for r in reads])
  for S, by_f in result["shots"].items():
    for family, by_p in by_f.items():
      for p, entry in by_p.items():
        lines += ["", f"## S = {S} shots per estimate: {family}, p = {p}", "",
                  "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for rank, m in enumerate(entry["ranking"], 1):
          r = entry["methods"][m]["reads"]
          lines.append("| " + " | ".join(
              [str(rank), f"`{m}`", entry["methods"][m]["kind"]]
              + [fmt_ci(None if r[b] is None else r[b]["ratio_to_best"]) for b in reads]
              + [fmt_ci(None if r[b] is None else r[b]["best_cut_ratio"]) for b in reads])
              + " |")
  return lines + [""]


def shots_rows(result: dict) -> list[dict]:
  """One CSV row per shot count, family, ``p``, method and total budget."""
  rows = []
  for S, by_f in result["shots"].items():
    for family, by_p in by_f.items():
      for p, entry in by_p.items():
        for rank, m in enumerate(entry["ranking"], 1):
          for budget, read in entry["methods"][m]["reads"].items():
            row = {"shots": S, "family": family, "p": p, "method": m,
                   "kind": entry["methods"][m]["kind"], "rank": rank, "budget": budget}
            for q in ("ratio_to_best", "best_cut_ratio"):
              row.update(_ci_cols(q, [None] * 3 if read is None else read[q]))
            rows.append(row)
  return rows


def figure_shots(result: dict, family: str, path) -> None:
  """Mean ratio to best found against total shots: one row of panels (one per ``p``) per
  shot count, one curve per method."""
  shots = list(result["shots"])
  with style.rc_context():
    by_p = result["shots"][shots[0]][family]
    fig = style.new_figure((4.6 * len(by_p) + 1, 4.2 * len(shots) + 1.4))
    grid = fig.subplots(len(shots), len(by_p), squeeze=False)
    for row, S in zip(grid, shots):
      for ax, (p, entry) in zip(row, result["shots"][S][family].items()):
        for m in entry["ranking"]:
          c = entry["methods"][m]["curve"]
          st = style.style(m.removesuffix("@shots"))
          ax.plot(c["shots"], c["ratio_to_best"], label=m, color=st["color"],
                  linestyle=":" if m.endswith("@shots") else st["linestyle"],
                  marker=st["marker"], markevery=max(len(c["shots"]) // 6, 1), markersize=4)
        ax.set_xscale("log")
        ax.set_xlabel("total shots")
        ax.set_ylabel("ratio to best found")
        ax.set_title(f"{family}, p = {p}, S = {S}")
        ax.grid(alpha=0.3)
    _legend(fig, grid.ravel())
    style.save(fig, path)
