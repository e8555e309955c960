"""The `helved` command: subcommands are the modules of `helved.commands`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
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
    """Run one command; its exit code (see `helved.cli_support` and the README).

    Commands that set `clean_interrupt` stop on Ctrl-C within `GRACE_S`, with one line and
    exit 130, never a traceback (`Interrupts`). Run as a program (`argv` None) an interrupted
    command ends the process at once, so no client library's shutdown can hold it up."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    importlib.import_module("helved.logs").configure()  # HELVED_LOG_FORMAT: plain or json
    if not getattr(args, "clean_interrupt", False):
        return int(args.func(args))
    from helved.cli_support import EXIT_INTERRUPTED, Interrupts

    with Interrupts(args.command) as interrupts:
        code: int | None = None
        try:
            code = int(args.func(args))
        except BaseException as exc:
            # After Ctrl-C whatever comes out is its consequence (a Kafka client call mangles
            # the KeyboardInterrupt raised around it): one line, exit 130.
            if not (isinstance(exc, KeyboardInterrupt) or interrupts.received.is_set()):
                raise
        if code is None or interrupts.received.is_set():
            interrupts.say()
            code = EXIT_INTERRUPTED
    if code == EXIT_INTERRUPTED and argv is None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
