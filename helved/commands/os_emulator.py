"""`helved os-emulator`: the OS bridge with the OS emulator as OS, as a service.

Consumes Oppdrag, hands each to the emulator once (deduplicated by content, across restarts),
writes HOS_OPPDRAG and then the receipt. Its state (the emulator's journal, the bridge's journal
and offsets) lives in `--state-dir`; SIGINT/SIGTERM finish the current batch and stop.

Exit codes: 0 stopped by SIGTERM (130 by Ctrl-C, see `helved.cli_support`); 1 a start-up error (no broker, a topic missing or with the
wrong partition count); 2 a usage error; 3 a broker fault (the journal's offsets are beyond a
partition's end, or the topics went away or changed while running: `helved.kafka.faults`);
4 the bridge stopped on another error (undeliverable records, the gateway). Always one line on
stderr.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from helved.cli_support import CommandError, broker_settings, os_state_dir, report

log = logging.getLogger("helved.os_emulator")


def run(args: argparse.Namespace) -> int:
    from helved import metrics
    from helved.emulator import Faults
    from helved.emulator.gateway import EmulatedOs, StateMismatch
    from helved.kafka import BrokerUnavailable, TopicMismatch
    from helved.kafka.consumer import TopicMissing
    from helved.kafka.faults import (
        EXIT_BROKER_FAULT,
        EXIT_FAILED,
        BrokerFault,
        describe_error,
        die,
        watch_interval_s,
    )
    from helved.kafka.producer import UnknownTopic
    from helved.kafka.progress import lag_interval_s
    from helved.os.bridge import BatchResult, run_bridge

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        state = os_state_dir(args.state_dir)
        if state is None:
            raise CommandError("no state directory: --state-dir or HELVED_OS_STATE_DIR", 2)
        try:
            faults = None
            if args.reject_share is not None or args.error_share is not None:
                faults = Faults(reject_share=args.reject_share or 0.0, error_share=args.error_share or 0.0)
            gateway = EmulatedOs(state, faults, args.seed)
        except (ValueError, StateMismatch) as exc:
            raise CommandError(str(exc), 2) from None
        try:
            watch_interval_s()  # HELVED_TOPIC_WATCH_S, read by the bridge's watcher
            lag_interval_s()  # HELVED_LAG_INTERVAL_S, read by the bridge's consumer lag
            metrics_port = metrics.port_from_env()
        except ValueError as exc:
            raise CommandError(str(exc), 2) from None
        settings = broker_settings(args.broker_timeout)
        served = metrics.serve(metrics_port)  # HELVED_METRICS_PORT (9464; 0 = off)
        if served is not None:
            log.info("metrics on :%d/metrics", served)
        print(
            f"helved os-emulator: OS bridge on {settings.bootstrap_servers}, state in {state} "
            f"({gateway.rebuilt_from} Oppdrag handed over before); Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )

        def on_batch(result: BatchResult) -> None:
            metrics.METRICS.handed_over(result.handed_over)
            for key in result.keys:
                print(f"handed over the Oppdrag of request {key}", flush=True)
            for line in result.avstemminger:
                print(line, flush=True)

        def on_broker_fault(message: str) -> None:
            # From the watcher's thread: the main loop may be inside a flush to a broker that
            # lost its topics. The journal is crash-safe: ending here is like kill -9.
            die(f"helved os-emulator: {message}; exiting", EXIT_BROKER_FAULT)

        try:
            run_bridge(settings, gateway, state, stop, on_batch=on_batch, on_broker_fault=on_broker_fault)
        except (TopicMissing, TopicMismatch, BrokerUnavailable) as exc:
            raise CommandError(str(exc)) from None
        except (BrokerFault, UnknownTopic) as exc:
            raise CommandError(f"{exc}; exiting", EXIT_BROKER_FAULT) from None
        except Exception as exc:
            log.debug("the OS bridge stopped", exc_info=True)
            die(
                f"helved os-emulator: the OS bridge stopped: {describe_error(exc)}; a restart "
                "finishes what was handed over (its journal is in the state directory); exiting",
                EXIT_FAILED,
            )
        finally:
            gateway.close()
    except CommandError as exc:
        return report("os-emulator", exc)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("os-emulator", help="run the OS bridge with the OS emulator (a service; state in --state-dir)")
    p.add_argument(
        "--state-dir",
        help="where the emulator and the bridge keep their state (default: HELVED_OS_STATE_DIR)",
    )
    p.add_argument("--seed", type=int, help="the emulator's random seed (default 0; fixed by the state directory)")
    p.add_argument(
        "--reject-share",
        type=float,
        help="share of Oppdrag answered 08 (injected; default 0, fixed by the state directory)",
    )
    p.add_argument(
        "--error-share",
        type=float,
        help="share of Oppdrag answered 12 (injected; default 0, fixed by the state directory)",
    )
    p.add_argument("--broker-timeout", type=float, default=10.0, help="seconds to wait for the broker (default 10)")
    p.set_defaults(func=run, clean_interrupt=True)
