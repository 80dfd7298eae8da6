"""Figures 8 and 9 of a reproduction run, in the palette of :mod:`jqmeta.app.style`.

Both functions return the matplotlib ``Figure`` (for tests and notebooks) and save it
when given a path. They use matplotlib's object API on their own Agg canvas, so the
caller's backend (a notebook's inline one) and pyplot's figure list are left alone.
Every drawn data artist carries its method name as ``gid`` (``"lstm"``,
``"lstm:converged"``...), so a test can find each method's artists.

Example:
  >>> from jqmeta.app import figures
  >>> figures.PHASE1_LABEL
  'Phase I (recurrent proposals)'
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from jqmeta import metrics
from jqmeta.app import style as st
from jqmeta.app.paper import DISPLAY_NAMES

__all__ = ["figure8", "figure9", "PHASE1_LABEL", "CONVERGED_LABEL", "COLORBAR_LABEL"]

PHASE1_LABEL = "Phase I (recurrent proposals)"
CONVERGED_LABEL = "dotted vertical: Table II convergence step (method colour)"
COLORBAR_LABEL = r"$\langle H_C\rangle = -\mathrm{E}[\mathrm{cut}]$  (darker is better)"


def _name(method: str) -> str:
  return DISPLAY_NAMES.get(method, method)


def _log_ticks(ax) -> None:
  """Log y ticks labelled at 1, 2, 3, 5 per decade: short ranges still show labels."""
  # pylint: disable=import-outside-toplevel
  from matplotlib import ticker
  ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
  ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
  ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def _step_axis(ax, phase1_steps: int, last_step: int) -> None:
  """Symlog x: linear over the Phase I steps, logarithmic over Phase II."""
  # pylint: disable=import-outside-toplevel
  from matplotlib import ticker
  # the linear Phase I part takes about 40% of the width, however long Phase II is
  decades = np.log10(max(last_step, 2 * phase1_steps) / max(phase1_steps, 1))
  ax.set_xscale("symlog", linthresh=max(phase1_steps, 1), linscale=max(0.3, 0.67 * decades))
  ticks = [t for t in (0, phase1_steps // 2, phase1_steps, 2 * phase1_steps, 5 * phase1_steps,
                       10 * phase1_steps, 30 * phase1_steps)
           if t <= last_step]
  ax.xaxis.set_major_locator(ticker.FixedLocator(sorted(set(ticks))))
  ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
  ax.xaxis.set_minor_locator(ticker.NullLocator())
  ax.set_xlim(0, last_step)


def _curves(results: dict, sizes: dict) -> tuple[list[int], dict]:
  """Sorted sizes and ``{method: {n: (steps, mean curve)}}``."""
  curves = {}
  for method, res in results.items():
    first = int(res.get("curve_first_step", 0 if res.get("phase1_costs") is None else 1))
    per_n = metrics.mean_curve(np.asarray(res["rel_error_curve"]), sizes[method])
    curves[method] = {int(n): (first + np.arange(len(c)), np.asarray(c)) for n, c in per_n.items()}
  ns = sorted({n for c in curves.values() for n in c})
  return ns, curves


def _figure8_title(summary: dict) -> str:
  dataset = summary.get("dataset")
  dataset = "?" if dataset is None else Path(str(dataset)).name
  return (f"Mean relative error per test-graph size (dataset: {dataset}; variant: "
          f"{summary.get('variant', '?')}; p = {summary.get('p', '?')})")


def _legend_handles(methods, phase1_steps: int) -> list:
  # pylint: disable=import-outside-toplevel
  from matplotlib.lines import Line2D
  from matplotlib.patches import Patch
  handles = [Line2D([], [], label=_name(m), lw=1.6, ms=6, **st.style(m)) for m in methods]
  handles.append(Patch(facecolor="0.5", alpha=0.18,
                       label=f"{PHASE1_LABEL}, steps 1-{phase1_steps}"))
  handles.append(Line2D([], [], color="0.3", ls=":", lw=1.4, label=CONVERGED_LABEL))
  return handles


def figure8(path: Optional[Path], results: dict, sizes: dict[str, np.ndarray], summary: dict,
            phase1_steps: int):
  """Mean relative error against total step, one panel per graph size n.

  Phase I (shaded) is the linear part of a symlog step axis, so its steps stay visible
  beside hundreds of Phase II steps. Panels share the y range (log, labelled ticks).

  Args:
    path: the PNG file to write, or ``None`` to only build the figure.
    results: ``{method: evaluation.evaluate_method(...) dict}``; reads
      ``rel_error_curve`` (``(G_m, T_m)`` float) and ``curve_first_step`` (default 1 when
      ``phase1_costs`` is given, else 0).
    sizes: ``{method: (G_m,) int}`` node count of each result row.
    summary: ``table2`` (``{method: {n: step}}``, the dotted lines); optional
      ``dataset``, ``variant``, ``p`` for the title.
    phase1_steps: number of Phase I steps ``T1``.

  Returns:
    the ``matplotlib.figure.Figure``.

  Example:
    >>> res = {"random": {"rel_error_curve": np.full((2, 5), 0.2), "phase1_costs": None}}
    >>> fig = figure8(None, res, {"random": np.array([6, 7])}, {"table2": {}}, 2)
    >>> len(fig.axes)
    2
  """
  ns, curves = _curves(results, sizes)
  ncols = min(3, len(ns))
  nrows = -(-len(ns) // ncols)
  last = max(int(s[-1]) for c in curves.values() for s, _ in c.values())
  with st.rc_context():
    fig = st.new_figure((4.4 * ncols, 3.3 * nrows + 1.3))
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).ravel()
    for ax in axes[len(ns):]:
      ax.set_visible(False)
    for z, (method, by_n) in enumerate(curves.items()):
      s = st.style(method)
      for ax, n in zip(axes, ns):
        if n not in by_n:
          continue
        steps, curve = by_n[n]
        # staggered markers keep coinciding curves (QK-LSTM under QLSTM) apart
        ax.plot(steps, curve, lw=1.6, ms=5, alpha=0.9, zorder=2 + z, gid=method,
                markevery=(0.02 + 0.013 * z, 0.09), **s)
        it = (summary.get("table2", {}).get(method) or {})
        it = it.get(n, it.get(str(n)))
        if it is not None:
          ax.axvline(it, color=s["color"], ls=":", lw=1.4, zorder=1, gid=f"{method}:converged")
    for i, (ax, n) in enumerate(zip(axes, ns)):
      ax.axvspan(0, phase1_steps, color="0.5", alpha=0.18, lw=0, zorder=0, gid="phase1")
      ax.set_yscale("log")
      _log_ticks(ax)
      _step_axis(ax, phase1_steps, last)
      ax.set_title(f"n = {n}")
      ax.set_xlabel("total step (symlog: linear to step "
                    f"{phase1_steps}, log after)")
      if i % ncols == 0:
        ax.set_ylabel("mean relative error")
      ax.grid(True, which="major", alpha=0.3)
    fig.suptitle(_figure8_title(summary))
    fig.legend(handles=_legend_handles(list(curves), phase1_steps), loc="outside lower center",
               ncols=min(5, len(curves) + 2))
    st.save(fig, path)
  return fig


def _fold(angles: np.ndarray) -> np.ndarray:
  """``(T, 2)`` (gamma, beta) with beta folded into ``[-pi/4, pi/4)``."""
  return np.stack([angles[:, 0], (angles[:, 1] + np.pi / 4) % (np.pi / 2) - np.pi / 4], -1)


def _broken(xy: np.ndarray) -> np.ndarray:
  """NaN rows where a folded path wraps, so no line crosses the whole plot."""
  jumps = np.flatnonzero(np.abs(np.diff(xy[:, 1])) > np.pi / 4) + 1
  return np.insert(xy, jumps, np.nan, axis=0)


def _landscape(graph_nx, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Gamma grid, beta grid and the ``(R, R)`` p=1 energy on them."""
  # pylint: disable=import-outside-toplevel  # jax loads only when figure 9 is drawn
  import jax
  import jax.numpy as jnp

  from jqmeta import graphs, qaoa
  graph = graphs.from_networkx(graph_nx)
  g, b = np.meshgrid(np.linspace(-np.pi, np.pi, resolution),
                     np.linspace(-np.pi / 4, np.pi / 4, resolution))
  grid = jnp.asarray(np.stack([g.ravel(), b.ravel()], axis=1)[:, :, None], jnp.float32)
  energy = jax.jit(jax.vmap(lambda a: qaoa.energy(a, graph, method="auto")))(grid)
  return g, b, np.asarray(energy).reshape(g.shape)


def _pi_ticks(ax) -> None:
  ax.set_xticks(np.pi * np.array([-1, -0.5, 0, 0.5, 1]),
                [r"$-\pi$", r"$-\pi/2$", "0", r"$\pi/2$", r"$\pi$"])
  ax.set_yticks(np.pi * np.array([-0.25, -0.125, 0, 0.125, 0.25]),
                [r"$-\pi/4$", r"$-\pi/8$", "0", r"$\pi/8$", r"$\pi/4$"])


def _paths(ax, paths: dict) -> None:
  """Each Phase I path: its style, drawn first largest so later ones never hide it."""
  for z, (name, traj) in enumerate(paths.items()):
    xy = _fold(np.asarray(traj, np.float64).reshape(len(traj), 2))
    s = st.style(name)
    ax.plot(*_broken(xy).T, lw=2.2 - 0.3 * z, ms=8 - 1.2 * z, alpha=0.85, zorder=3 + z,
            gid=name, mec="k", mew=0.5, label=_name(name), **s)
    ax.plot(*xy[-1], "o", mfc="none", mec="w", mew=1.8, ms=13 - 1.2 * z, zorder=3 + z,
            gid=f"{name}:last")


def figure9(path: Optional[Path], graph_nx, paths: dict[str, np.ndarray], fixed: np.ndarray,
            optimum: np.ndarray, resolution: int = 121):
  """p=1 energy landscape of one test graph with each model's Phase I path.

  Args:
    path: the PNG file to write, or ``None`` to only build the figure.
    graph_nx: one ``nx.Graph``.
    paths: ``{learned model: (T, 2, 1) float}`` Phase I angles on this graph.
    fixed: ``(2, 1)`` float fixed angles; optimum: ``(2, 1)`` float p=1 optimum.
    resolution: grid points per axis (``resolution**2`` float32 energies).

  Returns:
    the ``matplotlib.figure.Figure`` (its first axes the landscape, the second the
    colour bar).

  Example:
    >>> import networkx as nx
    >>> a = np.zeros((3, 2, 1))
    >>> fig = figure9(None, nx.cycle_graph(4), {"lstm": a}, a[0], a[0], resolution=5)
    >>> fig.axes[1].get_ylabel() == COLORBAR_LABEL
    True
  """
  g, b, energy = _landscape(graph_nx, resolution)
  with st.rc_context():
    fig = st.new_figure((7.6, 6.4))
    ax = fig.subplots()
    im = ax.contourf(g, b, energy, levels=30, cmap=st.LANDSCAPE_CMAP, zorder=0)
    fig.colorbar(im, ax=ax, label=COLORBAR_LABEL)
    _paths(ax, paths)
    for name, at, ms in (("fixed_angles", fixed, 17), ("p1_optimum", optimum, 12)):
      s = st.style(name)
      ax.plot(*_fold(np.asarray(at, np.float64).reshape(1, 2))[0], s["marker"], ms=ms,
              mfc=s["color"], mec="w", mew=1.2, ls="none", zorder=10, gid=name,
              label=_name(name))
    ax.set_xlabel(r"$\gamma$ (rad)")
    ax.set_ylabel(r"$\beta$ (rad, folded mod $\pi/2$)")
    _pi_ticks(ax)
    ax.set_title(r"$\beta$ folded into $[-\pi/4, \pi/4)$: the p=1 energy has period $\pi/2$"
                 "\nin $\\beta$. White ring: each model's last Phase I step.", fontsize=10)
    fig.suptitle(f"p=1 energy landscape of test graph 0 (n = {graph_nx.number_of_nodes()}, "
                 f"m = {graph_nx.number_of_edges()}) with the Phase I paths")
    fig.legend(loc="outside lower center", ncols=3)
    st.save(fig, path)
  return fig
