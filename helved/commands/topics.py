"""`helved topics ensure|check`: create helved's topics, or check that they exist as configured."""

from __future__ import annotations

import argparse
from typing import Any

import orjson

from helved.cli_support import CommandError, broker_settings, report


def _counts(settings) -> dict[str, int]:  # type: ignore[no-untyped-def]
    from helved.kafka.admin import admin_client, fetch_metadata

    metadata = fetch_metadata(admin_client(settings.kafka_client_config()), settings.bootstrap_servers, 10)
    return {name: len(m.partitions) for name, m in metadata.topics.items() if m.error is None and m.partitions}


def run(args: argparse.Namespace) -> int:
    from helved.kafka import BrokerUnavailable, TopicMismatch, ensure_topics

    try:
        settings = broker_settings(args.broker_timeout)
        before = _counts(settings)
        if args.action == "ensure":
            try:
                ensure_topics(settings, settings.topics)
            except (BrokerUnavailable, TopicMismatch) as exc:
                raise CommandError(str(exc)) from None
        after = _counts(settings) if args.action == "ensure" else before
    except CommandError as exc:
        return report("topics", exc)

    rows: list[dict[str, Any]] = []
    bad = 0
    for name in settings.topics.all():
        n = after.get(name)
        if n is None:
            state = "missing"
        elif n != settings.partitions:
            state = f"wrong: {n} partitions"
        elif name not in before:
            state = "created"
        else:
            state = "ok"
        bad += state.startswith(("missing", "wrong"))
        rows.append({"topic": name, "partitions": n, "state": state})
    if args.json:
        print(orjson.dumps({"bootstrap": settings.bootstrap_servers, "topics": rows}).decode())
    else:
        width = max(len(r["topic"]) for r in rows)
        print(f"{'topic':<{width}}  partitions  state")
        for r in rows:
            print(f"{r['topic']:<{width}}  {r['partitions'] if r['partitions'] is not None else '-':>10}  {r['state']}")
        if bad:
            print(
                f"{bad} topic(s) not as configured ({settings.partitions} partitions): run `helved topics ensure`"
                if args.action == "check"
                else f"{bad} topic(s) not as configured"
            )
    return 1 if bad else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("topics", help="create helved's topics (ensure) or check them (check)")
    p.add_argument(
        "action",
        choices=("ensure", "check"),
        help="ensure: create what is missing and check; check: only check",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--broker-timeout", type=float, default=10.0, help="seconds to wait for the broker (default 10)")
    p.set_defaults(func=run, clean_interrupt=True)
