"""`helved run`: the pipeline against the configured broker, with recovery (see `helved.startup`)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

log = logging.getLogger("helved.run")


def _stop_now(signum: int, frame: FrameType | None) -> None:
    """SIGINT/SIGTERM: exit at once. Bytewax takes no final snapshot on a signal anyway (it
    raises inside a source and panics); exiting directly is the same stop without the noise.
    Recovery is the shutdown story: the next start resumes from the last snapshot and produces
    the outputs since then again, byte-identical."""
    name = signal.Signals(signum).name
    log.warning("%s: stopping; the next start resumes from the last snapshot", name)
    logging.shutdown()
    sys.stderr.flush()
    os._exit(128 + signum)


def run(args: argparse.Namespace) -> int:
    from helved.config import Settings, parse_addresses
    from helved.kafka import BrokerUnavailable, TopicMismatch
    from helved.kafka.consumer import TopicMissing
    from helved.kafka.faults import (
        EXIT_BROKER_FAULT,
        EXIT_FAILED,
        EXIT_STARTUP,
        die,
        find_fault,
        stopped_line,
        watch_interval_s,
    )
    from helved.kafka.progress import lag_interval_s
    from helved.metrics import port_from_env
    from helved.startup import RecoveryDirError, run_pipeline
    from helved.startup import log as startup_log

    try:
        settings = Settings.from_env()
        if args.recovery_dir:
            settings = dataclasses.replace(settings, recovery_dir=Path(args.recovery_dir))
        if args.snapshot_s is not None:
            settings = dataclasses.replace(settings, snapshot_s=args.snapshot_s)
        if args.workers is not None:
            settings = dataclasses.replace(settings, workers=args.workers)
        if args.addresses is not None:
            settings = dataclasses.replace(settings, addresses=parse_addresses(args.addresses))
        if args.process_id is not None:
            settings = dataclasses.replace(settings, process_id=args.process_id)
        if args.recovery_parts is not None:
            settings = dataclasses.replace(settings, recovery_parts=args.recovery_parts)
        watch_interval_s()  # HELVED_TOPIC_WATCH_S, read by the watcher
        lag_interval_s()  # HELVED_LAG_INTERVAL_S, read by the Kafka source's consumer lag
        port_from_env()  # HELVED_METRICS_PORT, read by run_pipeline
    except ValueError as exc:
        print(f"helved run: {exc}", file=sys.stderr)
        return 2
    if settings.embedded_broker:
        print(
            "helved run: HELVED_BOOTSTRAP_SERVERS is not set; `helved run` needs a Kafka broker "
            "(`helved demo` starts an embedded one)",
            file=sys.stderr,
        )
        return 2
    # A service: its start-up steps are worth a line each even without -v.
    startup_log.setLevel(logging.INFO)
    signal.signal(signal.SIGINT, _stop_now)
    signal.signal(signal.SIGTERM, _stop_now)
    try:
        run_pipeline(settings, broker_timeout_s=args.broker_timeout)
    except (BrokerUnavailable, TopicMismatch, TopicMissing, RecoveryDirError) as exc:
        print(f"helved run: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    except Exception as exc:
        log.debug("the dataflow stopped", exc_info=True)
        fault = find_fault(exc)
        if fault is not None:
            die(f"helved run: {fault}; exiting", EXIT_BROKER_FAULT)
        # Exit without unwinding further: closing librdkafka handles of a broker that is gone
        # can hang, and a Bytewax panic must not leave a process that looks alive.
        die(stopped_line("helved run", exc), EXIT_FAILED)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run the pipeline against the broker (HELVED_BOOTSTRAP_SERVERS) with recovery",
        description=(
            "Check the broker, create and check the topics, initialise the recovery directory "
            "when missing, and run the dataflow until stopped: alone, or as process -i of the "
            "Bytewax cluster -a (every process started with the same -a and -w). Stopping (Ctrl-C, SIGTERM, kill -9) "
            "takes no final snapshot: the next start resumes from the last one."
        ),
    )
    p.add_argument("--recovery-dir", help="Bytewax recovery directory (default: HELVED_RECOVERY_DIR)")
    p.add_argument("--snapshot-s", type=float, help="seconds between snapshots, the epoch (default: HELVED_SNAPSHOT_S)")
    p.add_argument("--workers", "-w", type=int, help="Bytewax workers in this process (default: HELVED_WORKERS)")
    p.add_argument(
        "--addresses",
        "-a",
        help="every process of the cluster, 'host:port;host:port' as Bytewax's -a (default: HELVED_ADDRESSES; "
        "unset: this process alone)",
    )
    p.add_argument(
        "--process-id", "-i", type=int, help="this process's index in --addresses (default: HELVED_PROCESS_ID)"
    )
    p.add_argument(
        "--recovery-parts",
        type=int,
        help="partitions to create in a new recovery directory (default: HELVED_RECOVERY_PARTS, "
        "else workers x processes); only process 0 creates them",
    )
    p.add_argument(
        "--broker-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the broker at start-up (default 10)",
    )
    p.set_defaults(func=run)
