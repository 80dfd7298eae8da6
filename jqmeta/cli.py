"""Command-line entry point: ``jqmeta {info,train,evaluate,reproduce}``.

Each sub-command is a thin shell: it parses flags, calls library functions
(:mod:`jqmeta.train`, :mod:`jqmeta.evaluate`, :mod:`jqmeta.reproduce`) and prints a
short result.  Errors in the input (bad paths, bad values) exit with status 2 and a
one-line message.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["main", "build_parser"]


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
  p.add_argument("--model", required=True, choices=["lstm", "qk_lstm", "qlstm", "qfwp"])
  p.add_argument("--variant", default="reference", choices=["reference", "corrected"])
  p.add_argument("--p", type=int, default=1, help="QAOA depth (default 1)")


def _splits(args):
  from jqmeta import reproduce
  if args.dataset is None:
    return reproduce.default_dataset(args.seed)
  return reproduce.load_splits(args.dataset)


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
  p.add_argument("--epochs", type=int, default=50)
  p.add_argument("--batch-size", type=int, default=1, help="1 = the paper's protocol")
  p.add_argument("--lr-sequence", type=float, default=6e-6)
  p.add_argument("--lr-mapping", type=float, default=1e-4)
  p.add_argument("--loss", default="weighted", choices=["weighted", "observed_improvement"])
  p.add_argument("--method", default=None, choices=["statevector", "analytic", "auto"],
                 help="energy method (default: auto for unweighted p=1, else statevector)")
  p.add_argument("--resume", action="store_true", help="continue from OUT/last.msgpack")


def _run_train(args: argparse.Namespace) -> int:
  import jax

  from jqmeta import graphs, meta, models, reproduce, train
  splits = _splits(args)
  method = args.method or ("auto" if args.p == 1 and reproduce.is_unweighted(
      splits["train_data"] + splits["val_data"]) else "statevector")
  config = train.TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                             lr_sequence=args.lr_sequence, lr_mapping=args.lr_mapping,
                             loss=args.loss, method=method)
  cell = models.create(args.model, variant=args.variant, p=args.p)
  variables = meta.init(cell, jax.random.key(args.seed))
  tr = graphs.stack([graphs.from_networkx(G) for G in splits["train_data"]])
  va = graphs.stack([graphs.from_networkx(G) for G in splits["val_data"]])
  result = train.fit(cell, variables, tr, va, config, checkpoint_dir=args.out,
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
  p.add_argument("--max-iter", type=int, default=300, help="Phase II SGD iterations")


def _run_evaluate(args: argparse.Namespace) -> int:
  import jax
  import numpy as np

  from jqmeta import evaluate, graphs, interop, meta, models, qaoa, reproduce, train
  if not args.checkpoint.is_file():
    raise FileNotFoundError(f"checkpoint {args.checkpoint} does not exist")
  if args.checkpoint.suffix in (".pth", ".npz"):
    cell, variables = interop.load_reference_checkpoint(args.checkpoint,
                                                        key=jax.random.key(args.seed))
  else:
    cell = models.create(args.model, variant=args.variant, p=args.p)
    variables = train.load_checkpoint(args.checkpoint, meta.init(cell, jax.random.key(0)))
  test_nx = _splits(args)["test_data"]
  method = "auto" if cell.p == 1 and reproduce.is_unweighted(test_nx) else "statevector"
  test = graphs.stack([graphs.from_networkx(G) for G in test_nx])
  sizes = np.array([G.number_of_nodes() for G in test_nx])
  max_cuts = np.asarray(jax.jit(jax.vmap(qaoa.max_cut))(test))
  angles, _ = jax.jit(jax.vmap(lambda g: meta.phase1(cell, variables, g, method=method)))(test)
  angles = np.asarray(angles)
  with jax.enable_x64(True):  # Phase II's 1e-6 stop rule needs float64 costs
    test64 = graphs.stack([graphs.from_networkx(G) for G in test_nx])
    a64 = angles.astype(np.float64)
    res = evaluate.evaluate_method(a64, a64[:, -1], test64, max_cuts, max_iter=args.max_iter,
                                   phase2_report_step=min(10, args.max_iter), method=method)
  p1 = evaluate.ratio_stats(res["ratio_phase1"], sizes)
  p2 = evaluate.ratio_stats(res["ratio_phase2"], sizes)
  args.out.mkdir(parents=True, exist_ok=True)
  out = {"checkpoint": str(args.checkpoint), "phase1": {int(n): list(map(float, v))
                                                        for n, v in p1.items()},
         "phase2": {int(n): list(map(float, v)) for n, v in p2.items()}}
  (args.out / "evaluate.json").write_text(json.dumps(out, indent=2))
  print(f"n   phase1 ratio      phase2 ratio ({min(10, args.max_iter)} SGD steps)")
  for n in sorted(p1):
    print(f"{n:<3} {p1[n][0]:.3f} ± {p1[n][1]:.3f}   {p2[n][0]:.3f} ± {p2[n][1]:.3f}")
  return 0


def _configure_reproduce(p: argparse.ArgumentParser) -> None:
  _add_data_flags(p)
  p.add_argument("--out", type=Path, default=Path("runs/reproduce"), help="output folder")
  p.add_argument("--quick", action="store_true", help="tiny settings, under a minute")
  p.add_argument("--variant", default="reference", choices=["reference", "corrected"])
  p.add_argument("--epochs", type=int, default=None, help="maximum epochs (paper: 50)")
  p.add_argument("--p", type=int, default=1, help="QAOA depth (paper: 1)")
  p.add_argument("--devices", default=None,
                 help="'all' (or a count) to shard test-graph batches over devices "
                      "(see jqmeta.parallel)")


def _run_reproduce(args: argparse.Namespace) -> int:
  from jqmeta import reproduce
  mesh = None
  if args.devices:
    from jqmeta import parallel
    mesh = parallel.make_mesh(int(args.devices) if args.devices.isdigit() else args.devices)
  summary = reproduce.run(args.dataset, args.out, quick=args.quick, variant=args.variant,
                          seed=args.seed, epochs=args.epochs, p=args.p,
                          progress=not args.quiet, mesh=mesh)
  t3 = summary["table3"]
  print(f"Approximation ratio after Phase I / after 10 Phase II steps "
        f"({summary['wall_seconds']} s; full report in {args.out / 'report.md'}):")
  methods = list(t3)
  print("n    " + "  ".join(f"{m:>18}" for m in methods))
  for n in sorted(t3[methods[0]]):
    cells = []
    for m in methods:
      r = t3[m][n]
      p1 = "  -  " if r["phase1"] is None else f"{r['phase1'][0]:.3f}"
      cells.append(f"{p1:>8} / {r['phase2'][0]:.3f}")
    print(f"{n:<4} " + "  ".join(f"{c:>18}" for c in cells))
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
