"""Command-line entry point: ``jqmeta {info,train,evaluate,reproduce}``.

Each sub-command is a thin shell: it parses flags, calls library functions
(:mod:`jqmeta.training`, :mod:`jqmeta.evaluation`, :mod:`jqmeta.app.reproduce`) and
prints a short result.  Defaults and choices come from the library (``TrainConfig``,
``models.MODEL_NAMES``, ...), never restated here.  Errors in the input (bad paths, bad
values) exit with status 2 and a one-line message.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from jqmeta import meta, models, phase2, qaoa, training

__all__ = ["main", "build_parser"]

_DEFAULTS = training.TrainConfig()


def _add_data_flags(p: argparse.ArgumentParser) -> None:
  p.add_argument("--dataset", type=Path, default=None,
                 help="the paper's datasets.pkl (read with a restricted unpickler) or a "
                      "native .json dataset; default: the embedded seeded dataset")
  p.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
  p.add_argument("--quiet", action="store_true", help="no progress bars")
  p.add_argument("--distributed", action="store_true",
                 help="call jax.distributed.initialize first (coordinator, process count "
                      "and id from $JQMETA_COORDINATOR, $JQMETA_NUM_PROCESSES, "
                      "$JQMETA_PROCESS_ID); meshes then span every host's devices")


def _add_model_flags(p: argparse.ArgumentParser) -> None:
  p.add_argument("--model", required=True, choices=models.MODEL_NAMES)
  p.add_argument("--variant", default="reference", choices=models.VARIANTS)
  p.add_argument("--p", type=int, default=1, help="QAOA depth (default 1)")


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
  return 0


def _configure_train(p: argparse.ArgumentParser) -> None:
  _add_model_flags(p)
  _add_data_flags(p)
  p.add_argument("--out", type=Path, default=Path("runs/train"), help="checkpoint folder")
  p.add_argument("--epochs", type=int, default=_DEFAULTS.epochs)
  p.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size,
                 help="1 = the paper's protocol")
  p.add_argument("--lr-sequence", type=float, default=_DEFAULTS.lr_sequence)
  p.add_argument("--lr-mapping", type=float, default=_DEFAULTS.lr_mapping)
  p.add_argument("--loss", default=_DEFAULTS.loss, choices=sorted(meta.LOSSES))
  p.add_argument("--method", default=None, choices=qaoa.METHODS,
                 help="energy method (default: auto for unweighted p=1, else statevector)")
  p.add_argument("--resume", action="store_true", help="continue from OUT/last.msgpack")


def _run_train(args: argparse.Namespace) -> int:
  import jax

  from jqmeta.app import paper
  splits = _splits(args)
  method = args.method or paper.energy_method(splits["train_data"] + splits["val_data"], args.p)
  config = training.TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                                lr_sequence=args.lr_sequence, lr_mapping=args.lr_mapping,
                                loss=args.loss, method=method)
  model = models.create(args.model, variant=args.variant, p=args.p)
  variables = meta.init(model, jax.random.key(args.seed))
  result = training.fit(model, variables, _stack(splits["train_data"]),
                        _stack(splits["val_data"]), config, checkpoint_dir=args.out,
                        resume=args.resume, progress=not args.quiet)
  args.out.mkdir(parents=True, exist_ok=True)
  (args.out / "train.json").write_text(json.dumps(
      {"model": args.model, "variant": args.variant, "p": args.p, "seed": args.seed,
       "config": config.to_dict(), "best_epoch": result.best_epoch,
       "stopped": result.stopped, "history": result.history}, indent=2))
  print(f"{args.model} ({args.variant}): {len(result.history)} epochs, stopped: "
        f"{result.stopped}, best epoch {result.best_epoch}, best val loss "
        f"{result.best_val_loss:.6f}; checkpoints in {args.out}")
  return 0


def _configure_evaluate(p: argparse.ArgumentParser) -> None:
  _add_model_flags(p)
  _add_data_flags(p)
  p.add_argument("--checkpoint", type=Path, required=True,
                 help="best.msgpack from `jqmeta train`, or a published .pth/.npz")
  p.add_argument("--out", type=Path, default=Path("runs/evaluate"))
  p.add_argument("--steps", "--max-iter", dest="steps", type=int,
                 default=phase2.PHASE2_STEPS, help="Phase II SGD steps")


def _load_model(args):
  """``(model, variables)`` from a training checkpoint or a published one."""
  import jax

  from jqmeta import io
  if not args.checkpoint.is_file():
    raise FileNotFoundError(f"checkpoint {args.checkpoint} does not exist")
  if args.checkpoint.suffix in (".pth", ".npz"):
    return io.load_reference_checkpoint(args.checkpoint, key=jax.random.key(args.seed))
  model = models.create(args.model, variant=args.variant, p=args.p)
  return model, training.load_checkpoint(args.checkpoint, meta.init(model, jax.random.key(0)))


def _run_evaluate(args: argparse.Namespace) -> int:
  import jax
  import numpy as np

  from jqmeta import evaluation, metrics
  from jqmeta.app import paper
  model, variables = _load_model(args)
  test_nx = _splits(args)["test_data"]
  test = _stack(test_nx)
  sizes = np.array([G.number_of_nodes() for G in test_nx])
  report_step = min(10, args.steps)
  res = evaluation.two_phase(model, variables, test, jax.jit(jax.vmap(qaoa.max_cut))(test),
                             method=paper.energy_method(test_nx, model.p),
                             phase2_steps=args.steps, phase2_report_step=report_step)
  p1 = metrics.ratio_stats(res["ratio_phase1"], sizes)
  p2 = metrics.ratio_stats(res["ratio_phase2"], sizes)
  args.out.mkdir(parents=True, exist_ok=True)
  out = {"checkpoint": str(args.checkpoint),
         "phase1": {int(n): list(map(float, v)) for n, v in p1.items()},
         "phase2": {int(n): list(map(float, v)) for n, v in p2.items()}}
  (args.out / "evaluate.json").write_text(json.dumps(out, indent=2))
  print(f"n   phase1 ratio      phase2 ratio ({report_step} SGD steps)")
  for n in sorted(p1):
    print(f"{n:<3} {p1[n][0]:.3f} ± {p1[n][1]:.3f}   {p2[n][0]:.3f} ± {p2[n][1]:.3f}")
  return 0


def _configure_reproduce(p: argparse.ArgumentParser) -> None:
  _add_data_flags(p)
  p.add_argument("--out", type=Path, default=Path("runs/reproduce"), help="output folder")
  p.add_argument("--quick", action="store_true", help="tiny settings, under a minute")
  p.add_argument("--variant", default="reference", choices=models.VARIANTS)
  p.add_argument("--epochs", type=int, default=None,
                 help=f"maximum epochs (paper: {_DEFAULTS.epochs})")
  p.add_argument("--p", type=int, default=1, help="QAOA depth (paper: 1)")
  p.add_argument("--devices", default=None,
                 help="'all' (or a count) to shard test-graph batches over devices "
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
                          progress=not args.quiet, mesh=mesh)
  print(f"Approximation ratio after Phase I / after 10 Phase II steps "
        f"({summary['wall_seconds']} s; full report in {args.out / 'report.md'}):")
  _print_table3(summary["table3"])
  return 0


COMMANDS = {
    "info": ("print versions and the devices JAX sees", lambda p: None, _run_info),
    "train": ("meta-train one learned optimizer", _configure_train, _run_train),
    "evaluate": ("two-phase evaluation of a trained or published model", _configure_evaluate,
                 _run_evaluate),
    "reproduce": ("train all four models, evaluate them with every baseline, write the "
                  "paper's tables and figures", _configure_reproduce, _run_reproduce),
}


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
      prog="jqmeta",
      description="JAX-native meta-learned QAOA (Lin, Hsu, Chen 2025, reimplemented).")
  sub = parser.add_subparsers(dest="command", metavar="COMMAND")
  for name, (help_text, configure, _) in COMMANDS.items():
    configure(sub.add_parser(name, help=help_text, description=help_text))
  return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Runs ``jqmeta`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

  ``0`` on success (also when no sub-command is given: the help is printed), ``2`` for
  bad input (message on stderr); ``--help`` and argument errors exit through argparse
  (``SystemExit``).  No arrays are involved.

  Example:
    >>> build_parser().parse_args(["info"]).command  # the sub-command main(["info"]) runs
    'info'
    >>> main(["evaluate", "--model", "lstm", "--checkpoint", "missing.msgpack"])  # bad input
    2
  """
  parser = build_parser()
  args = parser.parse_args(argv)
  if not args.command:
    parser.print_help()
    return 0
  try:
    if getattr(args, "distributed", False):
      from jqmeta import parallel
      parallel.initialize_distributed()
    return int(COMMANDS[args.command][2](args) or 0)
  except (ValueError, TypeError, FileNotFoundError) as e:
    print(f"jqmeta {args.command}: error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
