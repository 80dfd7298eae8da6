"""Figures 8 and 9 and the shared style (jqmeta.app.style, jqmeta.app.figures), checked
from the returned Figure objects on small synthetic inputs (no training)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib import colors as mcolors  # noqa: E402

from jqmeta.app import figures, paper, style  # noqa: E402

# Okabe & Ito (2008), "Color Universal Design", the eight published colours.
OKABE_ITO = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00",
             "#CC79A7"}
LEARNED = ["qk_lstm", "lstm", "qlstm", "qfwp"]
ALL = LEARNED + ["random", "fixed_angles", "p1_optimum"]
T1, T = 4, 30
SIZES = np.array([6, 6, 7, 7, 8, 8])


def _hex(c) -> str:
  return mcolors.to_hex(c).upper()


@pytest.fixture(scope="module")
def fig8_inputs():
  rng = np.random.default_rng(0)
  results, sizes = {}, {}
  for i, m in enumerate(ALL):
    rows = np.concatenate([SIZES, SIZES]) if m == "random" else SIZES
    learned = m in LEARNED
    curve = (0.05 + (0.2 + 0.1 * i) * np.exp(-np.arange(T) / (5 + i))[None]
             * (1 + 0.3 * rng.random((len(rows), T))))
    results[m] = {"rel_error_curve": curve, "curve_first_step": 0 if m == "random" else 1,
                  "phase1_costs": np.zeros((len(rows), T1 if learned else 1))}
    sizes[m] = rows
  # QLSTM exactly under QK-LSTM: the two curves coincide
  results["qlstm"] = dict(results["qk_lstm"])
  table2 = {m: {n: 5 + i + n for n in (6, 7, 8)} for i, m in enumerate(ALL)}
  summary = {"table2": table2, "dataset": "/data/my_graphs.json", "variant": "corrected", "p": 1}
  return results, sizes, summary


@pytest.fixture(scope="module")
def out(tmp_path_factory):
  return tmp_path_factory.mktemp("figures")


@pytest.fixture(scope="module")
def fig8(fig8_inputs, out):
  return figures.figure8(out / "fig8.png", *fig8_inputs, phase1_steps=T1)


@pytest.fixture(scope="module")
def fig9_inputs():
  rng = np.random.default_rng(1)
  paths = {m: rng.normal(0, 0.5, (T1, 2, 1)) for m in LEARNED}
  paths["qlstm"] = paths["qk_lstm"].copy()  # a path exactly on top of another
  return nx.cycle_graph(5), paths, np.array([[0.4], [0.9]]), np.array([[-0.5], [-0.2]])


@pytest.fixture(scope="module")
def fig9(fig9_inputs, out):
  return figures.figure9(out / "fig9.png", *fig9_inputs, resolution=9)


def _lines(ax, gid):
  return [a for a in ax.get_lines() if a.get_gid() == gid]


def test_style_palette_is_okabe_ito_and_covers_every_method():
  assert set(paper.METHODS) <= set(style.METHOD_STYLE)
  cols = [s["color"] for s in style.METHOD_STYLE.values()]
  assert len(set(cols)) == len(cols) and set(cols) <= OKABE_ITO
  looks = {(s["marker"], s["linestyle"]) for s in style.METHOD_STYLE.values()}
  assert len({s["marker"] for s in style.METHOD_STYLE.values()}) == len(cols) and looks
  for name in ["", "lstm_p2", "ß-variant", "x" * 500]:
    s = style.style(name)
    assert s == style.style(name) and s["color"] in style.FALLBACK_COLORS
    assert set(s) == {"color", "marker", "linestyle"}
  assert len({style.style(f"variant_{i}")["color"] for i in range(40)}) > 3
  s = style.style("lstm")
  s["color"] = "red"  # a copy: the palette itself is not changed
  assert style.style("lstm")["color"] == style.METHOD_STYLE["lstm"]["color"] != "red"
  assert style.FIGURE_DPI >= 96 and style.MIN_FONT_PT == 9
  assert min(v for k, v in style.RC_PARAMS.items() if "size" in k) >= style.MIN_FONT_PT


def test_figure8_panels_title_legend(fig8):
  visible = [ax for ax in fig8.axes if ax.get_visible()]
  assert [ax.get_title() for ax in visible] == ["n = 6", "n = 7", "n = 8"]
  title = fig8.get_suptitle()
  assert "my_graphs.json" in title and "corrected" in title
  labels = [t.get_text() for t in fig8.legends[0].get_texts()]
  assert labels[:len(ALL)] == [paper.DISPLAY_NAMES[m] for m in ALL]
  assert any(figures.PHASE1_LABEL in t for t in labels)
  assert figures.CONVERGED_LABEL in labels
  for handle, m in zip(fig8.legends[0].legend_handles, ALL):
    assert _hex(handle.get_color()) == style.style(m)["color"]


def test_figure8_colours_curves_and_convergence_lines(fig8, fig8_inputs):
  results, sizes, summary = fig8_inputs
  for ax, n in zip([ax for ax in fig8.axes if ax.get_visible()], (6, 7, 8)):
    for m in ALL:
      (line,) = _lines(ax, m)
      want = style.style(m)
      assert (_hex(line.get_color()), line.get_marker(), line.get_linestyle()) == (
          want["color"], want["marker"], want["linestyle"])
      rows = results[m]["rel_error_curve"][sizes[m] == n]
      np.testing.assert_allclose(line.get_ydata(), rows.mean(axis=0))
      np.testing.assert_array_equal(line.get_xdata(),
                                    results[m]["curve_first_step"] + np.arange(T))
      (vline,) = _lines(ax, f"{m}:converged")
      assert _hex(vline.get_color()) == want["color"] and vline.get_linestyle() == ":"
      assert vline.get_xdata()[0] == summary["table2"][m][n]
    qk, ql = _lines(ax, "qk_lstm")[0], _lines(ax, "qlstm")[0]
    np.testing.assert_array_equal(qk.get_ydata(), ql.get_ydata())
    assert (qk.get_marker(), qk.get_linestyle()) != (ql.get_marker(), ql.get_linestyle())
    assert qk.get_markevery() != ql.get_markevery()  # markers staggered along the curve


def test_figure8_shared_log_y_and_visible_phase1(fig8):
  visible = [ax for ax in fig8.axes if ax.get_visible()]
  assert len({ax.get_ylim() for ax in visible}) == 1
  lo, hi = visible[0].get_ylim()
  ys = np.concatenate([ln.get_ydata() for ax in visible for ln in ax.get_lines()
                       if ln.get_gid() in ALL])
  assert lo <= ys.min() and ys.max() <= hi
  for ax in visible:
    assert ax.get_yscale() == "log"
    labelled = [t for t in ax.get_yticklabels() if t.get_text() and lo <= t.get_position()[1] <= hi]
    assert len(labelled) >= 2 or ax is not visible[0]
    # the T1 Phase I steps take at least a quarter of the width, not T1 / T of it
    x0, x1 = ax.transData.transform([[0, lo], [T1, lo]])[:, 0]
    a0, a1 = ax.get_window_extent().x0, ax.get_window_extent().x1
    assert (x1 - x0) / (a1 - a0) > 0.25


def test_figure9_title_axes_colourbar_and_colours(fig9, fig9_inputs):
  graph, paths, fixed, optimum = fig9_inputs
  assert len(fig9.axes) == 2
  ax, cax = fig9.axes
  title = fig9.get_suptitle()
  assert "landscape" in title and "n = 5" in title and "m = 5" in title
  assert cax.get_ylabel() == figures.COLORBAR_LABEL and "darker is better" in cax.get_ylabel()
  assert "rad" in ax.get_xlabel() and "rad" in ax.get_ylabel() and "mod" in ax.get_ylabel()
  assert "folded" in ax.get_title()
  labels = [t.get_text() for t in fig9.legends[0].get_texts()]
  assert labels == [paper.DISPLAY_NAMES[m] for m in list(paths) + ["fixed_angles", "p1_optimum"]]
  for m in list(paths) + ["fixed_angles", "p1_optimum"]:
    (line,) = _lines(ax, m)
    assert _hex(line.get_color() if m in paths else line.get_mfc()) == style.style(m)["color"]
    assert line.get_marker() == style.style(m)["marker"]
  for m, traj in paths.items():  # beta folded into [-pi/4, pi/4) (independent fold here)
    y = _lines(ax, m)[0].get_ydata()
    want = np.mod(traj[:, 1, 0] + np.pi / 4, np.pi / 2) - np.pi / 4
    np.testing.assert_allclose(y[~np.isnan(y)], want, atol=1e-12)
  qk, ql = _lines(ax, "qk_lstm")[0], _lines(ax, "qlstm")[0]
  assert ql.get_zorder() > qk.get_zorder() and qk.get_markersize() > ql.get_markersize()
  assert len({(ln.get_marker(), ln.get_linestyle()) for ln in ax.get_lines()
              if ln.get_gid() in paths}) == len(paths)


def test_figure9_darker_is_lower_energy(fig9):
  cs = next(c for c in fig9.axes[0].collections if hasattr(c, "levels"))
  lum = lambda v: np.dot(cs.cmap(cs.norm(v))[:3], [0.2126, 0.7152, 0.0722])
  assert lum(cs.levels[0]) < lum(cs.levels[-1])  # lowest <H_C> (largest cut) is darkest
  assert cs.levels[0] < 0  # energies are <H_C> = -E[cut] <= 0 on a cycle


@pytest.mark.parametrize("which", ["fig8", "fig9"])
def test_figures_saved_at_figure_dpi_text_size_nothing_clipped(which, request, out):
  fig = request.getfixturevalue(which)  # saved by the figure function itself
  assert style.min_font_pt(fig) >= style.MIN_FONT_PT
  head = (out / f"{which}.png").read_bytes()[:24]
  assert head[:8] == b"\x89PNG\r\n\x1a\n"
  width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
  w_in, h_in = fig.get_size_inches()
  assert (width, height) == (round(w_in * style.FIGURE_DPI), round(h_in * style.FIGURE_DPI))
  renderer = fig.canvas.get_renderer()
  box = fig.bbox
  suptitle = fig._suptitle  # pylint: disable=protected-access  # the Text, for its extent
  texts = [suptitle] + [ax.title for ax in fig.axes if ax.get_visible()]
  texts += [ax.xaxis.label for ax in fig.axes if ax.get_visible()]
  for text in texts:
    ext = text.get_window_extent(renderer)
    assert box.x0 - 1 <= ext.x0 and ext.x1 <= box.x1 + 1, text.get_text()
    assert box.y0 - 1 <= ext.y0 and ext.y1 <= box.y1 + 1, text.get_text()
