"""`helved os-emulator`: the OS bridge with the OS emulator as OS, as a service.

Consumes Oppdrag, hands each to the emulator once (deduplicated by content, across restarts),
writes HOS_OPPDRAG and then the receipt. Its state (the emulator's journal, the bridge's journal
and offsets) lives in `--state-dir`; SIGINT/SIGTERM finish the current batch and stop.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from helved.cli_support import CommandError, broker_settings, os_state_dir, report


def run(args: argparse.Namespace) -> int:
    from helved.bridge import BatchResult, run_bridge
    from helved.emulated_os import EmulatedOs, StateMismatch
    from helved.emulator import Faults
    from helved.follow import TopicMissing

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
        settings = broker_settings(args.broker_timeout)
        print(
            f"helved os-emulator: OS bridge on {settings.bootstrap_servers}, state in {state} "
            f"({gateway.rebuilt_from} Oppdrag handed over before); Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )

        def on_batch(result: BatchResult) -> None:
            for key in result.keys:
                print(f"handed over the Oppdrag of request {key}", flush=True)

        try:
            run_bridge(settings, gateway, state, stop, on_batch=on_batch)
        except TopicMissing as exc:
            raise CommandError(str(exc)) from None
        finally:
            gateway.close()
    except CommandError as exc:
        return report("os-emulator", exc)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "os-emulator", help="run the OS bridge with the OS emulator (a service; state in --state-dir)"
    )
    p.add_argument(
        "--state-dir",
        help="where the emulator and the bridge keep their state (default: HELVED_OS_STATE_DIR)",
    )
    p.add_argument(
        "--seed", type=int, help="the emulator's random seed (default 0; fixed by the state directory)"
    )
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
    p.add_argument(
        "--broker-timeout", type=float, default=10.0, help="seconds to wait for the broker (default 10)"
    )
    p.set_defaults(func=run)
