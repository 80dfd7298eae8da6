"""``jqmeta study``: learned optimizers against the parameter-setting rules, p >= 1.

:func:`configure` adds the flags to an ``argparse`` (sub)parser; :func:`check` validates
them (no JAX work; ``ValueError`` with one line); :func:`run` validates, prepares
``--out`` (a probe file is written and removed), runs :func:`jqmeta.study.run_study` with
one progress bar per stage and writes the files of :mod:`jqmeta.app.study_report`.  Bad
input: one line on stderr, exit status 2, nothing left behind.

Example:
  >>> import argparse
  >>> parser = argparse.ArgumentParser(prog="jqmeta study"); configure(parser)
  >>> args = parser.parse_args(["--quick", "--family", "er", "--p", "1", "2"])
  >>> study_config(args).families, study_config(args).ps
  (('er',), (1, 2))
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from jqmeta import problems, study
from jqmeta._src import fileio
from jqmeta.app import progress
from jqmeta._src.validation import check_int

__all__ = ["configure", "check", "run", "study_config", "HELP"]

HELP = ("compare learned optimizers with the parameter-setting rules of the literature at "
        "depth p >= 1 on four problem families; writes study.json, leaderboard.md/.csv and "
        "figures")
_DEFAULTS = study.StudyConfig()
_QUICK = study.StudyConfig.quick()
_MAX_SEED = 2**31 - 1


def configure(parser: argparse.ArgumentParser) -> None:
  """Adds the ``jqmeta study`` flags to ``parser`` (every flag has a help text).

  Example:
    >>> p = argparse.ArgumentParser(); configure(p); p.parse_args([]).out
    PosixPath('runs/study')
  """
  ints = dict(type=int, nargs="+")
  parser.add_argument("--family", nargs="+", choices=problems.FAMILIES, default=None,
                      help=f"problem families (default {' '.join(_DEFAULTS.families)}; "
                           f"--quick: {' '.join(_QUICK.families)})")
  parser.add_argument("--p", **ints, default=None,
                      help=f"QAOA depths (default {_DEFAULTS.ps}; --quick: {_QUICK.ps})")
  parser.add_argument("--train-n", **ints, default=None,
                      help=f"training graph sizes (default {_DEFAULTS.train_n})")
  parser.add_argument("--test-n", **ints, default=None,
                      help=f"test graph sizes (default {_DEFAULTS.test_n})")
  parser.add_argument("--budget", **ints, default=None,
                      help=f"Phase II steps at which ratios are read (default "
                           f"{_DEFAULTS.budgets})")
  parser.add_argument("--epochs", type=int, default=None,
                      help=f"meta-training epochs (default {_DEFAULTS.epochs}; --quick: "
                           f"{_QUICK.epochs})")
  parser.add_argument("--test-count", type=int, default=None,
                      help=f"test graphs per size (default {_DEFAULTS.test_count})")
  parser.add_argument("--train-count", type=int, default=None,
                      help=f"training graphs per size (default {_DEFAULTS.train_count}; "
                           f"validation: --val-count, default {_DEFAULTS.val_count})")
  parser.add_argument("--val-count", type=int, default=None, help="validation graphs per size")
  parser.add_argument("--steps", type=int, default=None,
                      help=f"Phase I recurrent steps T (default {_DEFAULTS.steps})")
  parser.add_argument("--search-steps", type=int, default=None,
                      help=f"refinement steps per start of the best-found search (default "
                           f"{_DEFAULTS.search_steps})")
  parser.add_argument("--search-random", type=int, default=None,
                      help=f"random starts of the best-found search (default "
                           f"{_DEFAULTS.search_random})")
  parser.add_argument("--bootstrap", type=int, default=None,
                      help=f"bootstrap resamples per CI (default {_DEFAULTS.bootstrap})")
  parser.add_argument("--models", nargs="+", default=None,
                      help="learned models as name:variant (default "
                           f"{' '.join(_DEFAULTS.models)})")
  _add_shot_flags(parser)
  parser.add_argument("--quick", action="store_true",
                      help="tiny settings (StudyConfig.quick: every family, method and p = "
                           "1..3 on train n = 6 / test n = 8, 2 epochs); explicit flags "
                           "override them. On a 2-core CPU: about 7 minutes with an empty "
                           "compilation cache (mostly compiling 18 training programs), under "
                           "2.5 minutes with a warm one")
  parser.add_argument("--no-warm-start", action="store_true",
                      help="skip the methods seeded by the p - 1 model + INTERP")
  parser.add_argument("--out", type=Path, default=Path("runs/study"),
                      help="output folder (datasets and checkpoints there are reused)")
  parser.add_argument("--devices", default=None,
                      help="'all', 'local' or a count: shard test-graph batches over devices")
  parser.add_argument("--seed", type=int, default=0, help="PRNG seed of the study key")
  parser.add_argument("--quiet", action="store_true", help="no progress bars")
  progress.add_cache_flags(parser)


def _add_shot_flags(parser: argparse.ArgumentParser) -> None:
  """The finite-shots flags of ``jqmeta study``."""
  ints = dict(type=int, nargs="+")
  parser.add_argument("--shots", **ints, default=None,
                      help="also run every method under finite shots: shots per energy "
                           "estimate (e.g. 100 1000 10000; each >= 2). Adds models trained on "
                           "sampled costs (--shot-models) and a shots leaderboard")
  parser.add_argument("--shot-budget", type=int, default=None,
                      help=f"total shots per method and graph under --shots (default "
                           f"{_DEFAULTS.shot_budget}); the leaderboard reads 10^4, 10^5 and it")
  parser.add_argument("--shot-gradient", choices=("spsa", "shift"), default=None,
                      help=f"Phase II gradient under shots (default {_DEFAULTS.shot_gradient}"
                           "; shift costs 2p(E+n) estimates per step)")
  parser.add_argument("--shot-models", nargs="+", default=None,
                      help="models (of --models) also trained on sampled costs (default "
                           f"{' '.join(_DEFAULTS.shot_models)})")


_LOWEST = {"p": 1, "train_n": 3, "test_n": 3, "budget": 0, "shots": 2}
_FLAGS = {"families": "family", "ps": "p", "train_n": "train_n", "test_n": "test_n",
          "budgets": "budget", "epochs": "epochs", "test_count": "test_count",
          "train_count": "train_count", "val_count": "val_count", "steps": "steps",
          "search_steps": "search_steps", "search_random": "search_random",
          "bootstrap": "bootstrap", "models": "models", "shots": "shots",
          "shot_budget": "shot_budget", "shot_gradient": "shot_gradient",
          "shot_models": "shot_models"}


def study_config(args: argparse.Namespace) -> study.StudyConfig:
  """The :class:`jqmeta.study.StudyConfig` the flags describe (``ValueError`` if bad)."""
  overrides = {field: getattr(args, flag) for field, flag in _FLAGS.items()
               if getattr(args, flag) is not None}
  overrides["warm_start"] = not args.no_warm_start
  overrides["seed"] = args.seed
  make = study.StudyConfig.quick if args.quick else study.StudyConfig
  return make(**overrides)


def check(args: argparse.Namespace) -> None:
  """Validates every flag without JAX work; ``ValueError`` with one line naming it."""
  if check_int("--seed", args.seed, 0) > _MAX_SEED:
    raise ValueError(f"--seed must be <= {_MAX_SEED}, got {args.seed}")
  if args.devices is not None and args.devices not in ("all", "local"):
    if not args.devices.isdigit() or int(args.devices) < 1:
      raise ValueError(f"--devices must be 'all', 'local' or a positive count, got "
                       f"{args.devices!r}")
  for flag, low in _LOWEST.items():
    for v in getattr(args, flag) or ():
      check_int(f"--{flag.replace('_', '-')}", v, low)
  for flag in _FLAGS.values():
    value = getattr(args, flag)
    if isinstance(value, list) and len(set(value)) != len(value):
      raise ValueError(f"--{flag.replace('_', '-')} has repeated values: {value}")
  for flag in ("epochs", "test_count", "train_count", "val_count", "steps", "search_steps",
               "search_random", "bootstrap", "shot_budget"):
    if getattr(args, flag) is not None:
      check_int(f"--{flag.replace('_', '-')}", getattr(args, flag), int(flag != "search_random"))
  study_config(args)
  if args.out.exists() and not args.out.is_dir():
    raise ValueError(f"--out {args.out} is an existing file; expected a folder")


def _mesh(devices):
  if devices is None:
    return None
  from jqmeta import parallel  # pylint: disable=import-outside-toplevel
  return parallel.make_mesh(int(devices) if devices.isdigit() else devices)


def run(args: argparse.Namespace) -> int:
  """Runs the study the flags describe; returns the exit code (0, or 2 on bad input).

  Example:
    >>> p = argparse.ArgumentParser(); configure(p)
    >>> run(p.parse_args(["--p", "0"]))  # one line on stderr, nothing written
    2
  """
  created = []
  try:
    check(args)
    created = fileio.prepare_output_dir(args.out, "--out")
  except (TypeError, ValueError, OSError) as e:
    print(f"jqmeta study: error: {' '.join(str(e).split())}", file=sys.stderr)
    return 2
  # pylint: disable=import-outside-toplevel  # jax loads only for a valid command
  import jax
  from jqmeta.app import study_report
  config, start = study_config(args), time.perf_counter()
  try:
    result = study.run_study(config, key=jax.random.key(args.seed), out=args.out,
                             mesh=_mesh(args.devices), progress=not args.quiet)
  except BaseException:
    fileio.remove_created(created)
    raise
  result["seed"] = args.seed
  result["wall_seconds"] = time.perf_counter() - start
  paths = study_report.write_all(result, args.out)
  if not args.quiet:
    print(f"jqmeta study: {result['wall_seconds']:.0f} s; wrote "
          + ", ".join(str(p) for p in paths))
  return 0
