"""`helved status KEY`: the statuses of one request (by its original key), as they arrive.

Ends at the request's final status (OK: exit 0, FEILET: exit 1) or after `--timeout` seconds
(exit 3). Replayed statuses (same value and provenance, after a pipeline restart) are shown once.
"""

from __future__ import annotations

import argparse
import time

import orjson

from helved.cli_support import CommandError, broker_settings, report
from helved.config import Settings
from helved.views.status import StatusLog, status_event, status_line


def follow(settings: Settings, key: str, timeout_s: float | None, as_json: bool) -> int:
    from helved.kafka.consumer import Follower, TopicMissing

    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    log = StatusLog()
    try:
        follower = Follower(settings, [settings.topics.status])
    except TopicMissing as exc:
        raise CommandError(str(exc)) from None
    with follower:
        while True:
            for rec in follower.poll(0.2):
                if rec.key != key:
                    continue
                status = log.add(rec)
                if status is None:
                    continue
                if as_json:
                    print(orjson.dumps(status_event(key, rec.timestamp_ms, status)).decode(), flush=True)
                else:
                    print(status_line(rec.timestamp_ms, status), flush=True)
            final = log.final(key)
            if final is not None and follower.at_end:
                return 0 if final.get("status") == "OK" else 1
            if deadline is not None and time.monotonic() > deadline:
                seen = " → ".join(log.sequence(key)) or "no status"
                raise CommandError(f"no final status for {key} within {timeout_s:g} s ({seen})", 3)


def run(args: argparse.Namespace) -> int:
    try:
        settings = broker_settings(args.broker_timeout)
        return follow(settings, args.key, args.timeout, args.json)
    except CommandError as exc:
        return report("status", exc)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="follow the statuses of a request by its key until OK or FEILET")
    p.add_argument("key", help="the request's original key")
    p.add_argument("--timeout", type=float, help="give up after this many seconds (exit 3); default: wait")
    p.add_argument("--json", action="store_true", help="one JSON object a line")
    p.add_argument("--broker-timeout", type=float, default=10.0, help="seconds to wait for the broker (default 10)")
    p.set_defaults(func=run, clean_interrupt=True)
