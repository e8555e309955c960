"""`helved replay INPUT --out OUTPUT`: the dataflow in-process over a JSONL file."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from helved.errors import InputFileError


def run(args: argparse.Namespace) -> int:
    from helved.replay import os_stand_in, parse_codes, replay_file

    try:
        answer, simulate = os_stand_in(None if args.emulate_oppdrag else parse_codes(args.kvittering))
    except ValueError as exc:
        print(f"helved replay: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if not out.parent.is_dir():
        print(f"helved replay: cannot write {args.out}: directory {out.parent} does not exist", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        outputs = replay_file(Path(args.input), out, answer, simulate=simulate)
    except InputFileError as exc:
        print(f"helved replay: {args.input}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the output file
        print(f"helved replay: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    took = time.perf_counter() - started
    print(f"helved replay: {len(outputs)} records written to {args.out} in {took:.2f} s", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="run the dataflow in-process over a JSONL file of records")
    p.add_argument("input", help="input JSONL: one record a line")
    p.add_argument("--out", required=True, help="output JSONL: every record the flow produces, in order")
    p.add_argument(
        "--kvittering",
        default="00",
        help="receipt codes for the Oppdrag produced, comma-separated (00,04,08,12; the last repeats), or 'none'",
    )
    p.add_argument(
        "--emulate-oppdrag",
        action="store_true",
        help="answer each Oppdrag with the OS emulator's real verdict instead of fixed codes",
    )
    p.set_defaults(func=run, clean_interrupt=True)
