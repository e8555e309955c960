"""`helved demo`: broker, topics, pipeline, OS bridge and example dagpenger decisions, on one machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from helved.config import Settings
    from helved.demo import run_demo
    from helved.kafka import BrokerUnavailable, TopicMismatch

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"helved demo: {exc}", file=sys.stderr)
        return 2
    try:
        return run_demo(
            settings,
            once=args.once,
            timeout_s=args.timeout,
            workdir=Path(args.workdir) if args.workdir else None,
            keep=args.keep,
            broker_timeout_s=args.broker_timeout,
            processes=args.processes,
            console=not args.no_console,
        )
    except (BrokerUnavailable, TopicMismatch) as exc:
        print(f"helved demo: {exc}", file=sys.stderr)
        return 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run everything locally and send example dagpenger decisions (Ctrl-C stops)",
        description=(
            "Starts the embedded Kafka broker unless HELVED_BOOTSTRAP_SERVERS names one, creates the "
            "topics, starts the pipeline (helved run, with recovery) and the OS bridge with the OS "
            "emulator, sends example dagpenger decisions and prints their statuses and what OS pays. "
            "Without --once it also starts the operator console on a free loopback port and prints "
            "its URL and tokens."
        ),
    )
    p.add_argument(
        "--once",
        action="store_true",
        help="stop when every example has its final status (exit 1 if not as expected)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the examples' final statuses (default 60)",
    )
    p.add_argument(
        "--workdir", help="directory for the recovery, OS state and logs (default: a temporary one, removed)"
    )
    p.add_argument(
        "--processes",
        type=int,
        default=1,
        choices=range(1, 9),
        metavar="N",
        help="run the pipeline as a Bytewax cluster of N helved run processes on loopback (default 1)",
    )
    p.add_argument("--keep", action="store_true", help="keep the working directory (logs) afterwards")
    p.add_argument(
        "--no-console", action="store_true", help="do not start the operator console (--once never starts it)"
    )
    p.add_argument(
        "--broker-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for a broker named by HELVED_BOOTSTRAP_SERVERS (default 10)",
    )
    p.set_defaults(func=run, clean_interrupt=True)
