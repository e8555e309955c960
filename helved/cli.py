"""The `helved` command: subcommands are the modules of `helved.commands`."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

import helved.commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helved", description="helved: payments from fagsystemer to Oppdrag")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level (ids only, never idents)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(helved.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"helved.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
