"""One palette, one marker set and one text-size rule for every figure jqmeta draws.

Every figure (``figure8.png``, ``figure9.png`` and the study's figures) takes a method's
colour, marker and line style from :func:`style`, so a method looks the same everywhere.

* Colours of the paper's methods: the Okabe-Ito palette (M. Okabe and K. Ito, "Color
  Universal Design (CUD): how to make figures and presentations that are friendly to
  colorblind people", 2008, https://jfly.uni-koeln.de/color/), distinguishable under the
  common colour-vision deficiencies.
* Any other name (a study's variant) gets a deterministic colour from Paul Tol's "muted"
  qualitative scheme (P. Tol, "Colour schemes", SRON/EPS/TN/09-002, 2021,
  https://personal.sron.nl/~pault/), also colour-blind safe, chosen by a CRC-32 of the
  name: the same name gets the same colour in every process (Python's ``hash`` of a
  string is salted per process, so it is not used).
* Energy landscapes use :data:`LANDSCAPE_CMAP` (viridis: perceptually uniform,
  colour-blind safe, and dark at low values, so for ``<H_C> = -E[cut]`` darker is better).

Text-size rule: every text artist is at least :data:`MIN_FONT_PT` points, and figures
are saved at :data:`FIGURE_DPI` >= 96 pixels per inch. A screen at 100% zoom shows
96 CSS pixels per inch, so a text of ``s`` pt in the PNG spans ``s * FIGURE_DPI / 72 >=
s * 96 / 72`` pixels: at least what an ``s``-pt font takes on that screen. Draw inside
:func:`rc_context` (sizes of :data:`RC_PARAMS`) and check with :func:`min_font_pt`.

Example:
  >>> style("lstm")["color"], style("lstm")["marker"]
  ('#E69F00', 's')
  >>> style("my_study_variant") == style("my_study_variant")
  True
"""

from __future__ import annotations

import contextlib
import zlib
from pathlib import Path
from typing import Iterator, Optional, Union

__all__ = ["METHOD_STYLE", "FALLBACK_COLORS", "FALLBACK_MARKERS", "FIGURE_DPI", "MIN_FONT_PT",
           "RC_PARAMS", "LANDSCAPE_CMAP", "style", "rc_context", "new_figure", "save",
           "min_font_pt"]

METHOD_STYLE: dict[str, dict] = {
    "qk_lstm": {"color": "#0072B2", "marker": "o", "linestyle": "-"},          # blue
    "lstm": {"color": "#E69F00", "marker": "s", "linestyle": "-"},             # orange
    "qlstm": {"color": "#009E73", "marker": "^", "linestyle": "--"},           # bluish green
    "qfwp": {"color": "#CC79A7", "marker": "D", "linestyle": "-."},            # reddish purple
    "random": {"color": "#000000", "marker": "v", "linestyle": "-"},           # black
    "fixed_angles": {"color": "#56B4E9", "marker": "*", "linestyle": "--"},    # sky blue
    "p1_optimum": {"color": "#D55E00", "marker": "X", "linestyle": "-."},      # vermillion
}
"""``{method: {"color", "marker", "linestyle"}}`` (matplotlib keyword arguments) of the
paper's learned models and baselines."""

FALLBACK_COLORS = ("#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255",
                   "#44AA99", "#999933", "#AA4499")
"""Paul Tol's "muted" qualitative colours, for names outside :data:`METHOD_STYLE`."""

FALLBACK_MARKERS = ("P", "h", "<", ">", "p", "d", "8", "H")
FALLBACK_LINESTYLES = ("-", "--", "-.", ":")

FIGURE_DPI = 100
"""Pixels per inch of every saved PNG (>= 96: see the text-size rule above)."""

MIN_FONT_PT = 9
"""Smallest font size, in points, of any text in a figure."""

RC_PARAMS = {
    "font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "xtick.labelsize": 10,
    "ytick.labelsize": 10, "legend.fontsize": 9.5, "legend.title_fontsize": 10,
    "figure.titlesize": 13, "savefig.dpi": FIGURE_DPI, "figure.dpi": FIGURE_DPI,
}
"""matplotlib rc settings of every figure: all sizes >= :data:`MIN_FONT_PT`."""

LANDSCAPE_CMAP = "viridis"
"""Colour map of energy landscapes: dark = low ``<H_C>`` = large expected cut."""


def style(method: str) -> dict:
  """matplotlib ``color``, ``marker`` and ``linestyle`` of one method (never raises).

  Args:
    method: a name of :data:`METHOD_STYLE`, or any other string (a study's variant): it
      gets a colour, marker and line style chosen deterministically from its name.

  Returns:
    a new ``dict`` (safe to update) with keys ``color``, ``marker``, ``linestyle``.

  Example:
    >>> style("qk_lstm")
    {'color': '#0072B2', 'marker': 'o', 'linestyle': '-'}
    >>> style("unknown")["color"] in FALLBACK_COLORS
    True
  """
  if method in METHOD_STYLE:
    return dict(METHOD_STYLE[method])
  h = zlib.crc32(str(method).encode("utf-8"))
  return {"color": FALLBACK_COLORS[h % len(FALLBACK_COLORS)],
          "marker": FALLBACK_MARKERS[(h // 7) % len(FALLBACK_MARKERS)],
          "linestyle": FALLBACK_LINESTYLES[(h // 11) % len(FALLBACK_LINESTYLES)]}


@contextlib.contextmanager
def rc_context() -> Iterator[None]:
  """matplotlib's rc settings of :data:`RC_PARAMS` inside the block only.

  Create, draw and save a figure inside the block: text sizes are read from the rc
  settings when the text is made, and tick labels are made when the figure is drawn.

  Example:
    >>> import matplotlib
    >>> with rc_context():
    ...   size = matplotlib.rcParams["legend.fontsize"]
    >>> size >= MIN_FONT_PT
    True
  """
  # pylint: disable=import-outside-toplevel  # matplotlib loads only when a figure is drawn
  import matplotlib
  with matplotlib.rc_context(RC_PARAMS):
    yield


def new_figure(figsize: tuple, layout: Optional[str] = "constrained"):
  """A ``matplotlib.figure.Figure`` on its own Agg canvas (pyplot and the backend untouched).

  Args:
    figsize: ``(width, height)`` in inches.
    layout: matplotlib layout engine (``"constrained"`` keeps titles and colour bars
      inside the canvas).

  Returns:
    the Figure; it is not registered with pyplot, so it is freed when unreferenced.

  Example:
    >>> new_figure((3, 2)).get_size_inches().tolist()
    [3.0, 2.0]
  """
  # pylint: disable=import-outside-toplevel
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  fig = Figure(figsize=figsize, dpi=FIGURE_DPI, layout=layout)
  FigureCanvasAgg(fig)
  return fig


def save(fig, path: Union[str, Path, None]) -> None:
  """Draws ``fig`` (creating its tick labels) and writes it to ``path`` at FIGURE_DPI.

  Args:
    fig: a matplotlib Figure; path: a PNG path, or ``None`` to only draw.

  Example:
    >>> save(new_figure((2, 2)), None)
  """
  fig.canvas.draw()
  if path is not None:
    fig.savefig(path, dpi=FIGURE_DPI)


def min_font_pt(fig) -> float:
  """Smallest font size, in points, of the visible non-empty texts of a drawn figure.

  Args:
    fig: a matplotlib Figure, drawn (:func:`save`) so that its tick labels exist.

  Returns:
    the smallest size (``inf`` when the figure has no text).

  Example:
    >>> with rc_context():
    ...   fig = new_figure((3, 2)); ax = fig.subplots(); _ = ax.set_title("t"); save(fig, None)
    >>> min_font_pt(fig) >= MIN_FONT_PT
    True
  """
  # pylint: disable=import-outside-toplevel
  from matplotlib.text import Text
  sizes = [t.get_fontsize() for t in fig.findobj(Text)
           if t.get_visible() and t.get_text().strip()]
  return min(sizes, default=float("inf"))
