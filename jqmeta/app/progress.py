"""What a running ``jqmeta`` command tells its user: stage lines and the compilation cache.

* :class:`Stages` prints one line per pipeline stage on stderr ("max cut of 10 test
  graphs ... 2.1 s"): on a terminal the line is started when the stage starts and
  finished when it ends; elsewhere (CI, log files) the whole line is printed when the
  stage ends, so a log holds one line per stage and no carriage returns.  Meta-training
  epochs are reported by :func:`jqmeta.training.fit` itself (``label=``).
* :func:`use_compilation_cache` turns JAX's persistent compilation cache on (in
  :func:`default_cache_dir`) or off for the duration of a command and counts its hits
  and writes; the library never turns it on (only the command line does, see
  :mod:`jqmeta.app.cli`).  A cached program is the same compiled executable, so the
  results with and without the cache are identical.

Example:
  >>> import io
  >>> log = io.StringIO()
  >>> with Stages(True, stream=log).stage("max cut"):
  ...   pass
  >>> log.getvalue().startswith("max cut ... ")
  True
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Optional, TextIO

__all__ = ["Stages", "is_terminal", "default_cache_dir", "use_compilation_cache",
           "add_cache_flags", "NO_CACHE_ENV"]

NO_CACHE_ENV = "JQMETA_NO_CACHE"
"""Environment variable: ``1`` (or any value but ``""``/``0``) turns the cache off."""

_CACHE_OPTIONS = {
    # every program is worth caching here: a quick run is many programs of < 1 s each
    "jax_persistent_cache_min_compile_time_secs": 0.0,
    "jax_persistent_cache_min_entry_size_bytes": -1,
}
_EVENTS = {"/jax/compilation_cache/cache_hits": "hits",
           "/jax/compilation_cache/cache_misses": "writes"}


def is_terminal(stream: TextIO) -> bool:
  """Whether ``stream`` is an interactive terminal (``False`` for files, pipes, CI).

  >>> import io; is_terminal(io.StringIO())
  False
  """
  isatty = getattr(stream, "isatty", None)
  return bool(isatty and isatty())


class Stages:
  """One line per stage on ``stream`` (default ``sys.stderr``), or nothing if disabled.

  Args:
    enabled: ``False`` prints nothing (``--quiet``).
    stream: where the lines go; a terminal gets the stage name when it starts.

  Example:
    >>> import io
    >>> log = io.StringIO()
    >>> stages = Stages(True, stream=log)
    >>> with stages.stage("baselines"):
    ...   pass
    >>> stages.note("report in runs/x")
    >>> [line.split(" ... ")[0] for line in log.getvalue().splitlines()]
    ['baselines', 'report in runs/x']
  """

  def __init__(self, enabled: bool = True, stream: Optional[TextIO] = None):
    self.enabled = bool(enabled)
    self.stream = sys.stderr if stream is None else stream

  @contextlib.contextmanager
  def stage(self, name: str) -> Iterator[None]:
    """Reports ``name`` and how long the ``with`` body took (also when it fails)."""
    tty = self.enabled and is_terminal(self.stream)
    if tty:
      self.stream.write(f"{name} ... ")
      self.stream.flush()
    t0 = time.perf_counter()
    try:
      yield
    finally:
      took = f"{time.perf_counter() - t0:.1f} s"
      if tty:
        self.stream.write(took + "\n")
      elif self.enabled:
        self.stream.write(f"{name} ... {took}\n")
      if self.enabled:
        self.stream.flush()

  def note(self, text: str) -> None:
    """One line of text (a stage without a duration)."""
    if self.enabled:
      self.stream.write(text + "\n")
      self.stream.flush()


def default_cache_dir() -> Path:
  """``$XDG_CACHE_HOME/jqmeta/xla``, else ``~/.cache/jqmeta/xla`` (not created here).

  >>> default_cache_dir().parts[-2:]
  ('jqmeta', 'xla')
  """
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return Path(base) / "jqmeta" / "xla"


def _cache_off_by_env() -> bool:
  return os.environ.get(NO_CACHE_ENV, "").strip() not in ("", "0")


@contextlib.contextmanager
def use_compilation_cache(enabled: bool = True, directory=None) -> Iterator[dict[str, Any]]:
  """JAX's persistent compilation cache on (or off) for the ``with`` body, then restored.

  Args:
    enabled: ``False`` (``--no-cache``) turns the cache off, also one the user set up
      through JAX's own settings; so does the environment variable :data:`NO_CACHE_ENV`.
    directory: the cache folder (default :func:`default_cache_dir`; created).

  Yields:
    a dict, filled in as the body runs: ``enabled`` (bool), ``dir`` (str or ``None``),
    ``reason`` (why it is off, or ``""``), ``hits`` / ``writes`` (programs read from /
    written to the cache so far).

  Raises:
    ValueError: the folder cannot be created (one line naming it).

  Example:
    >>> with use_compilation_cache(False) as cache:
    ...   cache["enabled"], cache["reason"]
    (False, '--no-cache')
  """
  # pylint: disable=import-outside-toplevel  # jax only when a command runs, not on import
  import jax
  from jax.experimental.compilation_cache import compilation_cache as cc
  info: dict[str, Any] = {"enabled": False, "dir": None, "reason": "", "hits": 0, "writes": 0}
  if not enabled or _cache_off_by_env():
    info["reason"] = "--no-cache" if not enabled else f"{NO_CACHE_ENV} is set"
    options = {"jax_enable_compilation_cache": False}
  else:
    folder = Path(directory) if directory is not None else default_cache_dir()
    try:
      folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
      raise ValueError(f"compilation cache folder {folder} cannot be created "
                       f"({e.strerror or e})") from None
    info.update(enabled=True, dir=str(folder))
    options = {"jax_enable_compilation_cache": True, "jax_compilation_cache_dir": str(folder),
               **_CACHE_OPTIONS}
  before = {k: getattr(jax.config, k) for k in options}

  def count(event: str, **kwargs) -> None:
    del kwargs
    if event in _EVENTS and info["enabled"]:
      info[_EVENTS[event]] += 1
  jax.monitoring.register_event_listener(count)
  try:
    _apply(jax, cc, options)
    yield info
  finally:
    jax.monitoring.unregister_event_listener(count)
    _apply(jax, cc, before)


def _apply(jax, cc, options: dict) -> None:
  """Sets JAX options; the cache object is rebuilt on the next compile (reset_cache)."""
  for k, v in options.items():
    jax.config.update(k, v)
  cc.reset_cache()


def add_cache_flags(p: argparse.ArgumentParser) -> None:
  """``--no-cache`` and ``--cache-dir``: :func:`jqmeta.app.cli.main` runs a command that has
  them inside :func:`use_compilation_cache` (``args.cache``: its report dict)."""
  p.add_argument("--no-cache", action="store_true",
                 help=f"do not use the persistent XLA compilation cache (also: "
                      f"{NO_CACHE_ENV}=1); results are identical either way")
  p.add_argument("--cache-dir", type=Path, default=None,
                 help="compilation cache folder (default: $XDG_CACHE_HOME/jqmeta/xla or "
                      "~/.cache/jqmeta/xla)")
