"""Runs one test in a fresh interpreter (for compile-heavy tests; see ``in_fresh_process``)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_CHILD = "JQMETA_TEST_CHILD"
ROOT = Path(__file__).resolve().parents[1]


def in_fresh_process(request) -> bool:
  """In the pytest process: runs this test alone in a child interpreter, asserts it passed,
  and returns True (the caller returns).  In the child: returns False (run the body).

  Why: in two full-suite runs XLA:CPU segfaulted while compiling the p > 1 best-found
  search late in the process, although the same test passes alone and after any one of
  the files before it; a fresh process keeps the suite from dying on that.
  """
  if os.environ.get(_CHILD) == "1":
    return False
  proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                         request.node.nodeid], cwd=ROOT, capture_output=True, text=True,
                        env={**os.environ, _CHILD: "1"}, check=False)
  assert proc.returncode == 0, f"child run failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
  return True
