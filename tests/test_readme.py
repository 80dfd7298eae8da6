"""The README's Quick start runs and prints what the README says it prints."""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def _quick_start() -> tuple[str, str]:
  section = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
  code, printed = re.findall(r"```(?:python)?\n(.*?)```", section, flags=re.S)[:2]
  return code, printed


def _numbers(text: str) -> np.ndarray:
  return np.array([float(x) for x in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", text)])


def test_quick_start_prints_what_the_readme_says():
  code, printed = _quick_start()
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    exec(compile(code, str(README), "exec"), {})
  got, want = out.getvalue(), printed
  # Same lines and labels; the numbers to float32 printing precision.
  strip = lambda t: [re.sub(r"-?\d+\.\d+(?:e-?\d+)?", "#", line).replace(" ", "")
                     for line in t.strip().splitlines()]
  assert strip(got) == strip(want), (got, want)
  np.testing.assert_allclose(_numbers(got), _numbers(want), atol=1e-4, rtol=1e-5)
