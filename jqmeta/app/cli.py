"""Command-line entry point: ``jqmeta {info,train,evaluate,reproduce}``.

Each sub-command is a thin shell: it parses flags, calls library functions
(:mod:`jqmeta.training`, :mod:`jqmeta.evaluation`, :mod:`jqmeta.app.reproduce`) and
prints a short result.  Defaults and choices come from the library (``TrainConfig``,
``models.MODEL_NAMES``, ...), never restated here.

Before any computation every sub-command validates all its flags, checks its input
files, and makes sure ``--out`` is a folder it can write (creating it and writing a
probe file); bad input exits with status 2 and one line on stderr, and a folder the
command created is removed again if the command fails before writing into it.

``jqmeta evaluate --checkpoint FILE`` needs no model flags: a training checkpoint
records its model (name, variant, p, options) and a published one is a reference
model at p = 1; flags that are given must agree with the file.

The persistent XLA compilation cache is on by default for ``train``, ``evaluate`` and
``reproduce`` (in ``$XDG_CACHE_HOME/jqmeta/xla`` or ``~/.cache/jqmeta/xla``; see
:mod:`jqmeta.app.progress`): ``--no-cache`` or ``JQMETA_NO_CACHE=1`` turns it off,
``--cache-dir`` moves it.  The command says where it is and how many programs it read.

Multi-process runs are not offered by the command line (its file writes and result
gathering are single-process): call :func:`jqmeta.parallel.initialize_distributed` in
a script instead.  ``--distributed`` is refused with a message saying so.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from jqmeta import meta, models, phase2, qaoa, training
from jqmeta._src import checkpoint as checkpoint_lib
from jqmeta._src import fileio
from jqmeta._src.validation import check_int, check_real
from jqmeta.app import progress, study_cli

__all__ = ["main", "build_parser", "add_cache_flags", "HelpFormatter"]

add_cache_flags = progress.add_cache_flags

_DEFAULTS = training.TrainConfig()
DATASET_SUFFIXES = (".json", ".pkl", ".pickle")
PUBLISHED_SUFFIXES = (".pth", ".pt", ".npz")
CHECKPOINT_SUFFIXES = (".msgpack",) + PUBLISHED_SUFFIXES
_MAX_SEED = 2**63 - 1
QUICK_HELP = ("tiny settings (32/2/10 graphs, 2 epochs, 30 Phase II steps). Almost all of "
              "its time is the XLA compilation of about 260 programs: on a quiet 2-core CPU "
              "about 70 s the first time and about 25 s once they are in the compilation "
              "cache")
EPILOG = ("`jqmeta` without a command is an error like any other (on purpose, so that a "
          "script that forgot its command fails): one line on stderr, exit status 2. Bad "
          "input exits with status 2 and one line on stderr.")


def _add_data_flags(p: argparse.ArgumentParser) -> None:
  p.add_argument("--dataset", type=Path, default=None,
                 help="the paper's datasets.pkl (read with a restricted unpickler) or a "
                      "native .json dataset; default: the embedded seeded dataset")
  p.add_argument("--seed", type=int, default=0, help="PRNG seed")
  p.add_argument("--quiet", action="store_true",
                 help="no progress output (bars on a terminal, one line per epoch or stage "
                      "elsewhere)")
  progress.add_cache_flags(p)
  p.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)


def _add_model_flags(p: argparse.ArgumentParser, *, from_checkpoint: bool = False) -> None:
  note = " (default: what the checkpoint holds; if given, it must agree)"
  p.add_argument("--model", required=not from_checkpoint, default=None,
                 choices=models.MODEL_NAMES,
                 help="learned optimizer" + (note if from_checkpoint else " (required)"))
  p.add_argument("--variant", default=None if from_checkpoint else "reference",
                 choices=models.VARIANTS,
                 help="'reference': the published models' dynamics; 'corrected': the paper's "
                      "equations" + (note if from_checkpoint else ""))
  p.add_argument("--p", type=int, default=None if from_checkpoint else 1,
                 help="QAOA depth" + (note if from_checkpoint else ""))


# ------------------------------------------------------------------------ validation


def _input_file(path: Path, flag: str, suffixes: tuple[str, ...], what: str) -> Path:
  if path.is_dir():
    raise ValueError(f"{flag} {path} is a directory; expected a {what} file "
                     f"({', '.join(suffixes)})")
  if not path.is_file():
    raise FileNotFoundError(f"{flag} {path} does not exist")
  if path.suffix.lower() not in suffixes:
    raise ValueError(f"{flag} {path}: unknown {what} extension {path.suffix!r}; expected "
                     f"one of {', '.join(suffixes)}")
  return path


def _check_common(args: argparse.Namespace) -> None:
  """Flags every data-reading command shares; no JAX work."""
  if getattr(args, "distributed", False):
    raise ValueError(f"--distributed is not supported by `jqmeta {args.command}` (its file "
                     "writes and result gathering are single-process); run multi-process "
                     "jobs from a script that calls jqmeta.parallel.initialize_distributed()")
  seed = check_int("--seed", args.seed, 0)
  if seed > _MAX_SEED:
    raise ValueError(f"--seed must be <= {_MAX_SEED}, got {seed}")
  if args.dataset is not None:
    _input_file(args.dataset, "--dataset", DATASET_SUFFIXES, "dataset")
  if getattr(args, "p", None) is not None:
    check_int("--p", args.p, 1)


def _check_train(args: argparse.Namespace) -> None:
  _check_common(args)
  check_int("--epochs", args.epochs, 1)
  check_int("--batch-size", args.batch_size, 1)
  check_real("--lr-sequence", args.lr_sequence, low=0.0)
  check_real("--lr-mapping", args.lr_mapping, low=0.0)
  last = args.out / training.LAST_CHECKPOINT
  if args.resume and not last.is_file():
    raise FileNotFoundError(f"--resume but there is no checkpoint at {last}; start without "
                            "--resume to train from scratch")


def _check_evaluate(args: argparse.Namespace) -> None:
  _check_common(args)
  _input_file(args.checkpoint, "--checkpoint", CHECKPOINT_SUFFIXES, "checkpoint")
  check_int("--steps", args.steps, 1)


def _check_reproduce(args: argparse.Namespace) -> None:
  _check_common(args)
  if args.epochs is not None:
    check_int("--epochs", args.epochs, 1)
  if args.devices is not None and args.devices not in ("all", "local"):
    if not args.devices.isdigit() or int(args.devices) < 1:
      raise ValueError(f"--devices must be 'all', 'local' or a positive count, got "
                       f"{args.devices!r}")


# -------------------------------------------------------------------------- commands


def _splits(args):
  from jqmeta.app import paper
  if args.dataset is None:
    return paper.default_dataset(args.seed)
  return paper.load_splits(args.dataset)


def _stack(gs):
  from jqmeta import graphs
  return graphs.stack([graphs.from_networkx(G) for G in gs])


def _run_info(args: argparse.Namespace) -> int:
  del args
  import jax

  import jqmeta
  print(f"jqmeta {jqmeta.__version__}, jax {jax.__version__}")
  for d in jax.devices():
    print(f"  device {d.id}: {d.platform} {d.device_kind}")
  print(f"  compilation cache of train/evaluate/reproduce: {progress.default_cache_dir()}")
  return 0


def _configure_train(p: argparse.ArgumentParser) -> None:
  _add_model_flags(p)
  _add_data_flags(p)
  p.add_argument("--out", type=Path, default=Path("runs/train"),
                 help="folder for best.msgpack, last.msgpack and train.json")
  p.add_argument("--epochs", type=int, default=_DEFAULTS.epochs, help="maximum epochs")
  p.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size,
                 help="graphs per update; 1 = the paper's protocol")
  p.add_argument("--lr-sequence", type=float, default=_DEFAULTS.lr_sequence,
                 help="RMSprop learning rate of the sequence model")
  p.add_argument("--lr-mapping", type=float, default=_DEFAULTS.lr_mapping,
                 help="RMSprop learning rate of the mapping layer")
  p.add_argument("--loss", default=_DEFAULTS.loss, choices=sorted(meta.LOSSES),
                 help="meta-loss")
  p.add_argument("--method", default=None, choices=qaoa.METHODS,
                 help="energy method (default: auto, the exact closed form at p=1 and the "
                      "statevector above)")
  p.add_argument("--resume", action="store_true", help="continue from OUT/last.msgpack")


def _run_train(args: argparse.Namespace) -> int:
  import jax

  from jqmeta.app import paper
  splits = _splits(args)
  method = args.method or paper.ENERGY_METHOD
  config = training.TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                                lr_sequence=args.lr_sequence, lr_mapping=args.lr_mapping,
                                loss=args.loss, method=method)
  model = models.create(args.model, variant=args.variant, p=args.p)
  variables = meta.init(model, jax.random.key(args.seed))
  result = training.fit(model, variables, _stack(splits["train_data"]),
                        _stack(splits["val_data"]), config, checkpoint_dir=args.out,
                        resume=args.resume, progress=not args.quiet,
                        label=f"meta-train {args.model}")
  fileio.atomic_write(args.out / "train.json", json.dumps(
      {"model": args.model, "variant": args.variant, "p": args.p, "seed": args.seed,
       "config": config.to_dict(), "best_epoch": result.best_epoch,
       "stopped": result.stopped, "history": result.history}, indent=2))
  print(f"{args.model} ({args.variant}): {len(result.history)} epochs, stopped: "
        f"{result.stopped}, best epoch {result.best_epoch}, best val loss "
        f"{result.best_val_loss:.6f}; checkpoints in {args.out}")
  return 0


def _configure_evaluate(p: argparse.ArgumentParser) -> None:
  _add_model_flags(p, from_checkpoint=True)
  _add_data_flags(p)
  p.add_argument("--checkpoint", type=Path, required=True,
                 help="best.msgpack / last.msgpack from `jqmeta train`, or a published "
                      ".pth/.pt/.npz")
  p.add_argument("--out", type=Path, default=Path("runs/evaluate"),
                 help="folder for evaluate.json")
  p.add_argument("--steps", "--max-iter", dest="steps", type=int,
                 default=phase2.PHASE2_STEPS, help="Phase II SGD steps")


def _check_flags(args, path, spec: dict) -> None:
  """Every model flag given must agree with what the checkpoint holds."""
  for flag, given, stored in (("--model", args.model, spec["name"]),
                              ("--variant", args.variant, spec["variant"]),
                              ("--p", args.p, spec["p"])):
    if given is not None and given != stored:
      raise ValueError(f"{flag} {given} does not match {path}, which holds a "
                       f"{checkpoint_lib.describe(spec)}")


def _load_model(args):
  """``(model, variables)`` from a training checkpoint or a published one."""
  import jax

  from jqmeta import io
  path = args.checkpoint
  if path.suffix.lower() in PUBLISHED_SUFFIXES:
    for flag, given, stored in (("--variant", args.variant, "reference"), ("--p", args.p, 1)):
      if given is not None and given != stored:
        raise ValueError(f"{flag} {given} does not match {path}: published checkpoints "
                         "are reference models at p = 1")
    # --model, if given, is checked against the file's keys and name there.
    return io.load_reference_checkpoint(path, key=jax.random.key(args.seed), name=args.model)
  _check_flags(args, path, checkpoint_lib.stored_spec(checkpoint_lib.read(path), path))
  return training.load_model(path)


def _run_evaluate(args: argparse.Namespace) -> int:
  import jax
  import numpy as np

  from jqmeta import evaluation, metrics
  from jqmeta.app import paper
  model, variables = _load_model(args)
  spec = checkpoint_lib.model_spec(model)
  test_nx = _splits(args)["test_data"]
  test = _stack(test_nx)
  sizes = np.array([G.number_of_nodes() for G in test_nx])
  report_step = min(10, args.steps)
  res = evaluation.two_phase(model, variables, test, jax.jit(jax.vmap(qaoa.max_cut))(test),
                             method=paper.ENERGY_METHOD,
                             phase2_steps=args.steps, phase2_report_step=report_step)
  p1 = metrics.ratio_stats(res["ratio_phase1"], sizes)
  p2 = metrics.ratio_stats(res["ratio_phase2"], sizes)
  out = {"checkpoint": str(args.checkpoint), "model": spec["name"],
         "variant": spec["variant"], "p": spec["p"], "options": spec["options"],
         "phase1": {int(n): list(map(float, v)) for n, v in p1.items()},
         "phase2": {int(n): list(map(float, v)) for n, v in p2.items()}}
  fileio.atomic_write(args.out / "evaluate.json", json.dumps(out, indent=2))
  print(f"{checkpoint_lib.describe(spec)}\n"
        f"n   phase1 ratio      phase2 ratio ({report_step} SGD steps)")
  for n in sorted(p1):
    print(f"{n:<3} {p1[n][0]:.3f} ± {p1[n][1]:.3f}   {p2[n][0]:.3f} ± {p2[n][1]:.3f}")
  return 0


def _configure_reproduce(p: argparse.ArgumentParser) -> None:
  _add_data_flags(p)
  p.add_argument("--out", type=Path, default=Path("runs/reproduce"),
                 help="output folder (tables, figures, report.md, summary.json, checkpoints)")
  p.add_argument("--quick", action="store_true", help=QUICK_HELP)
  p.add_argument("--variant", default="reference", choices=models.VARIANTS,
                 help="'reference': the published models' dynamics; 'corrected': the paper's "
                      "equations")
  p.add_argument("--epochs", type=int, default=None,
                 help=f"maximum epochs (default: {_DEFAULTS.epochs}, the paper's; 2 with "
                      "--quick)")
  p.add_argument("--p", type=int, default=1, help="QAOA depth (the paper: 1)")
  p.add_argument("--devices", default=None,
                 help="'all', 'local' or a count, to shard test-graph batches over devices "
                      "(see jqmeta.parallel)")


def _print_table3(t3: dict) -> None:
  methods = list(t3)
  print("n    " + "  ".join(f"{m:>18}" for m in methods))
  for n in sorted(t3[methods[0]]):
    cells = []
    for m in methods:
      r = t3[m][n]
      p1 = "  -  " if r["phase1"] is None else f"{r['phase1'][0]:.3f}"
      cells.append(f"{p1:>8} / {r['phase2'][0]:.3f}")
    print(f"{n:<4} " + "  ".join(f"{c:>18}" for c in cells))


def _run_reproduce(args: argparse.Namespace) -> int:
  from jqmeta.app import reproduce
  mesh = None
  if args.devices:
    from jqmeta import parallel
    mesh = parallel.make_mesh(int(args.devices) if args.devices.isdigit() else args.devices)
  summary = reproduce.run(args.dataset, args.out, quick=args.quick, variant=args.variant,
                          seed=args.seed, epochs=args.epochs, p=args.p,
                          progress=not args.quiet, mesh=mesh, cache=args.cache)
  print(f"Approximation ratio after Phase I / after 10 Phase II steps (full report in "
        f"{args.out / 'report.md'}):")
  _print_table3(summary["table3"])
  print(f"Wall time {summary['wall_seconds']} s ({summary['wall_covers']}).")
  return 0


COMMANDS = {
    "info": ("print versions and the devices JAX sees", lambda p: None, lambda a: None,
             _run_info),
    "train": ("meta-train one learned optimizer", _configure_train, _check_train, _run_train),
    "evaluate": ("two-phase evaluation of a trained or published model", _configure_evaluate,
                 _check_evaluate, _run_evaluate),
    "reproduce": ("train all four models, evaluate them with every baseline, write the "
                  "paper's tables and figures", _configure_reproduce, _check_reproduce,
                  _run_reproduce),
    "study": (study_cli.HELP, study_cli.configure, study_cli.check, study_cli.run),
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
  """``--help`` shows each option's default, except ``None`` / ``False`` (a flag, or an
  option whose help says what its absence means) and required options."""

  def _get_help_string(self, action):
    if action.default is None or action.default is False or action.required:
      return action.help
    return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
  """The ``jqmeta`` argument parser with every sub-command.

  Returns:
    an ``argparse.ArgumentParser``; ``args.command`` names the sub-command (``None``
    when none is given).  No arrays are involved.

  Example:
    >>> args = build_parser().parse_args(["train", "--model", "lstm", "--epochs", "3"])
    >>> args.command, args.model, args.epochs, args.variant
    ('train', 'lstm', 3, 'reference')
  """
  parser = argparse.ArgumentParser(
      prog="jqmeta", epilog=EPILOG, formatter_class=HelpFormatter,
      description="JAX-native meta-learned QAOA (Lin, Hsu, Chen 2025, reimplemented).")
  sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                              help="what to run (`jqmeta COMMAND --help` for its options)")
  for name, (help_text, configure, _, _) in COMMANDS.items():
    configure(sub.add_parser(name, help=help_text, description=help_text, epilog=EPILOG,
                             formatter_class=HelpFormatter))
  return parser


def _cache_line(cache: dict) -> str:
  if not cache["enabled"]:
    return f"compilation cache: off ({cache['reason']})"
  count = lambda k: f"{cache[k]} program{'' if cache[k] == 1 else 's'}"
  return (f"compilation cache: {cache['dir']} ({count('hits')} read from it, "
          f"{count('writes')} written)")


def _one_line(e: BaseException) -> str:
  return " ".join(str(e).split()) or type(e).__name__


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Runs ``jqmeta`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

  ``0`` on success; ``2`` when no sub-command is given, for bad input or a failed run
  (one line on stderr, no traceback); ``--help`` and argument errors exit through
  argparse (``SystemExit``).  Every flag, input file and the
  ``--out`` folder are checked before any computation; a folder created for ``--out``
  is removed again when the command fails before writing into it.  No arrays are
  involved.

  Example:
    >>> build_parser().parse_args(["info"]).command  # the sub-command main(["info"]) runs
    'info'
    >>> main(["evaluate", "--model", "lstm", "--checkpoint", "missing.msgpack"])  # bad input
    2
  """
  parser = build_parser()
  args = parser.parse_args(argv)
  if not args.command:
    print(f"jqmeta: error: no command given; choose one of {', '.join(COMMANDS)} "
          "(`jqmeta --help` describes them)", file=sys.stderr)
    return 2
  _, _, check, run = COMMANDS[args.command]
  created: list[Path] = []
  try:
    check(args)
    cache_dir = getattr(args, "cache_dir", None)
    if cache_dir is not None and cache_dir.exists() and not cache_dir.is_dir():
      raise ValueError(f"--cache-dir {cache_dir} is an existing file; expected a folder")
    if getattr(args, "out", None) is not None:
      created = fileio.prepare_output_dir(args.out, "--out")
    if not hasattr(args, "no_cache"):
      return int(run(args) or 0)
    with progress.use_compilation_cache(not args.no_cache, args.cache_dir) as args.cache:
      code = int(run(args) or 0)
    progress.Stages(not getattr(args, "quiet", False)).note(_cache_line(args.cache))
    return code
  except (ValueError, TypeError, OSError) as e:
    fileio.remove_created(created)
    print(f"jqmeta {args.command}: error: {_one_line(e)}", file=sys.stderr)
    return 2
  except BaseException:
    fileio.remove_created(created)
    raise


if __name__ == "__main__":
  sys.exit(main())
