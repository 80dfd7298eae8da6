"""Command-line entry point: ``jqmeta <command>``.

Each sub-command is a thin shell over library functions; ``jqmeta --help`` lists them.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional, Sequence

__all__ = ["main", "build_parser"]

_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                           Callable[[argparse.Namespace], int]]] = {}


def command(name: str, help_text: str):
  """Registers ``configure(parser)`` / ``run(args)`` pairs as a sub-command."""

  def wrap(configure):
    def bind(run):
      _COMMANDS[name] = (help_text, configure, run)
      return run
    return bind
  return wrap


def _configure_info(p: argparse.ArgumentParser) -> None:
  del p


@command("info", "print versions and the devices JAX sees")(_configure_info)
def _run_info(args: argparse.Namespace) -> int:
  del args
  import jax
  import jqmeta
  print(f"jqmeta {jqmeta.__version__}, jax {jax.__version__}")
  for d in jax.devices():
    print(f"  device {d.id}: {d.platform} {d.device_kind}")
  return 0


def build_parser() -> argparse.ArgumentParser:
  """The ``jqmeta`` argument parser with every registered sub-command."""
  parser = argparse.ArgumentParser(
      prog="jqmeta",
      description="JAX-native meta-learned QAOA (Lin, Hsu, Chen 2025, reimplemented).")
  sub = parser.add_subparsers(dest="command", metavar="COMMAND")
  for name, (help_text, configure, _) in sorted(_COMMANDS.items()):
    configure(sub.add_parser(name, help=help_text, description=help_text))
  return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Runs ``jqmeta`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
  parser = build_parser()
  args = parser.parse_args(argv)
  if not args.command:
    parser.print_help()
    return 0
  try:
    return int(_COMMANDS[args.command][2](args) or 0)
  except (ValueError, TypeError, FileNotFoundError) as e:
    print(f"jqmeta {args.command}: error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
