"""Atomic file writes (the one writer every jqmeta output goes through)."""

from __future__ import annotations

import contextlib
import os
import tempfile

TMP_SUFFIX = ".tmp"


def atomic_write(path, data: bytes | str) -> None:
  """Writes ``data`` to ``path`` atomically: temp file, fsync, ``os.replace``.

  A reader sees the old file or the new one, never a partial write; a killed writer
  leaves at most a ``.<name>.*.tmp`` file beside ``path``.  ``str`` data is written
  as UTF-8.

  Example:
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> atomic_write(p, "hello"); p.read_text()
    'hello'
  """
  if isinstance(data, str):
    data = data.encode("utf-8")
  directory, base = os.path.split(os.path.abspath(os.fspath(path)))
  fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=TMP_SUFFIX, dir=directory)
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.unlink(tmp)
    raise
  with contextlib.suppress(OSError):  # persist the rename (POSIX; best effort elsewhere)
    dfd = os.open(directory, os.O_RDONLY)
    try:
      os.fsync(dfd)
    finally:
      os.close(dfd)


def remove_stale_temps(directory, names) -> None:
  """Deletes temp files a killed :func:`atomic_write` of ``directory/name`` left behind.

  Args:
    directory: the folder.
    names: the base names whose ``.<name>.*.tmp`` leftovers may be removed.
  """
  for entry in os.listdir(directory):
    if entry.endswith(TMP_SUFFIX) and any(entry.startswith(f".{n}.") for n in names):
      with contextlib.suppress(OSError):
        os.unlink(os.path.join(directory, entry))
