"""Atomic file writes (the one writer every jqmeta output goes through), and output folders.

* :func:`atomic_write` writes through a temp file named after its writer (host and
  process id), so :func:`remove_stale_temps` deletes only the leftovers of writers that
  are gone, never a temp file another live process is still writing.
* :func:`prepare_output_dir` checks, before any work, that an output folder exists or
  can be created and that a file can be written in it (a probe file is created and
  deleted); :func:`remove_created` removes again the folders it created if the command
  then fails before writing anything into them.

Example:
  >>> import pathlib, tempfile
  >>> out = pathlib.Path(tempfile.mkdtemp()) / "run" / "a"
  >>> created = prepare_output_dir(out)
  >>> [p.name for p in created], sorted(out.iterdir())
  (['run', 'a'], [])
  >>> remove_created(created); out.parent.exists()
  False
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import stat
import tempfile
from pathlib import Path

TMP_SUFFIX = ".tmp"
PROBE_PREFIX = ".jqmeta-write-probe."


def _host_tag() -> str:
  """This host's name reduced to ``[A-Za-z0-9-]`` (it is one dot-free field of a temp name)."""
  return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def _temp_prefix(base: str) -> str:
  return f".{base}.{_host_tag()}.{os.getpid()}."


def _umask() -> int:
  """The process umask, read from ``/proc`` where possible (setting it is process-wide)."""
  with contextlib.suppress(OSError, ValueError):
    with open("/proc/self/status", encoding="ascii") as f:
      for line in f:
        if line.startswith("Umask:"):
          return int(line.split()[1], 8)
  mask = os.umask(0o022)
  os.umask(mask)
  return mask


def _file_mode(path: str) -> int:
  """The mode ``open(path, "w")`` would leave: an existing file's, else 0o666 & ~umask."""
  try:
    return stat.S_IMODE(os.stat(path).st_mode)
  except OSError:
    return 0o666 & ~_umask()


def atomic_write(path, data: bytes | str) -> None:
  """Writes ``data`` to ``path`` atomically: temp file, fsync, ``os.replace``.

  A reader sees the old file or the new one, never a partial write; a killed writer
  leaves at most a ``.<name>.<host>.<pid>.*.tmp`` file beside ``path``.  ``str`` data
  is written as UTF-8.  The file gets the mode a plain ``open(path, "w")`` gives it (a
  new file ``0o666`` less the process umask, an existing one keeps its mode), not the
  ``0o600`` of the temp file.

  Example:
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> atomic_write(p, "hello"); p.read_text()
    'hello'
  """
  if isinstance(data, str):
    data = data.encode("utf-8")
  directory, base = os.path.split(os.path.abspath(os.fspath(path)))
  mode = _file_mode(os.path.join(directory, base))
  fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(base), suffix=TMP_SUFFIX, dir=directory)
  try:
    if hasattr(os, "fchmod"):
      os.fchmod(fd, mode)
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


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # exists, owned by someone else
    return True
  except OSError:
    return True  # cannot tell: keep the file
  return True


def _is_stale(tag: str) -> bool:
  """Whether the writer named by a temp file's ``<host>.<pid>.<random>`` tag is gone.

  Temp files of this host whose process is dead are stale; those of a live process
  or of another host (a shared folder: its processes cannot be checked from here) are
  kept.  A tag without host and pid (jqmeta < 0.2.1) counts as stale.
  """
  parts = tag.split(".")
  if len(parts) != 3 or not parts[1].isdigit():
    return True
  host, pid = parts[0], int(parts[1])
  return host == _host_tag() and pid != os.getpid() and not _pid_alive(pid)


def remove_stale_temps(directory, names) -> None:
  """Deletes temp files that killed :func:`atomic_write` calls of ``directory/name`` left.

  Only a writer that is gone leaves a stale file: a temp file of a live process (on
  this host) or of another host is kept, so two processes writing into one folder
  never delete each other's files.

  Args:
    directory: the folder.
    names: the base names whose ``.<name>.*.tmp`` leftovers may be removed.

  Example:
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> mine = d / f".x.{_host_tag()}.{os.getpid()}.abc.tmp"; _ = mine.write_text("")
    >>> old = d / ".x.abc123.tmp"; _ = old.write_text("")
    >>> remove_stale_temps(d, ["x"]); [p.name == mine.name for p in d.iterdir()]
    [True]
  """
  for entry in os.listdir(directory):
    if not entry.endswith(TMP_SUFFIX):
      continue
    for n in names:
      prefix = f".{n}."
      if entry.startswith(prefix) and _is_stale(entry[len(prefix):-len(TMP_SUFFIX)]):
        with contextlib.suppress(OSError):
          os.unlink(os.path.join(directory, entry))
        break


def _first_existing(path: Path) -> Path:
  for candidate in (path, *path.parents):
    if candidate.exists() or candidate.is_symlink():
      return candidate
  return Path(".")


def _probe(directory: Path, shown: Path, name: str) -> None:
  try:
    fd, probe = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=directory)
  except OSError as e:
    raise ValueError(f"{name} {shown} is not writable ({e.strerror or e})") from None
  os.close(fd)
  os.unlink(probe)


def prepare_output_dir(path, name: str = "output folder") -> list[Path]:
  """Makes sure ``path`` is a folder this process can write into, creating it if needed.

  Checks, before any work: ``path`` is not an existing file, no parent of it is a file,
  the missing folders can be created, and a file can be written in ``path`` (a probe
  file is created and deleted).  On failure nothing is left behind.

  Args:
    path: the folder (``str`` or ``os.PathLike``).
    name: how messages call it (e.g. ``"--out"``).

  Returns:
    the folders created, outermost first (``[]`` when ``path`` existed); pass them to
    :func:`remove_created` to undo.

  Raises:
    TypeError: ``path`` is not a path.
    ValueError: one line naming ``path`` and the reason.

  Example:
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "file"; _ = f.write_text("x")
    >>> prepare_output_dir(f / "sub", "--out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --out ... cannot be created: .../file is a file, not a folder
  """
  if not isinstance(path, (str, os.PathLike)):
    raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}")
  shown, path = Path(path), Path(os.path.abspath(path))  # ".." resolved lexically
  if path.exists() and not path.is_dir():
    raise ValueError(f"{name} {shown} is an existing file; expected a folder")
  anchor = _first_existing(path)
  if anchor != path and not anchor.is_dir():
    raise ValueError(f"{name} {shown} cannot be created: {anchor} is a file, not a folder")
  missing = [p for p in (path, *path.parents) if p not in (anchor, *anchor.parents)][::-1]
  created: list[Path] = []
  try:
    for folder in missing:
      try:
        folder.mkdir()
      except OSError as e:
        raise ValueError(f"{name} {shown} cannot be created ({e.strerror or e}: "
                         f"{folder})") from None
      created.append(folder)
    _probe(path, shown, name)
  except BaseException:
    remove_created(created)
    raise
  return created


def remove_created(created) -> None:
  """Removes the folders :func:`prepare_output_dir` created, innermost first, if empty.

  A folder that holds anything (a checkpoint written before a failure) is kept, and so
  are the folders above it: this never deletes work.
  """
  for folder in reversed(list(created)):
    try:
      os.rmdir(folder)
    except OSError:
      return
