"""`helved send FILE [--fagsystem F]`: produce one decision to the fagsystem's input topic
(dagpenger's `DpUtbetaling` by default; any registered fagsystem, `helved.fagsystemer`).

The topic must exist (and, with `--wait`, the status topic too) before anything is produced: a
wrong HELVED_TOPIC_PREFIX is one line and exit 1, never a topic auto-created that nobody reads.
`--wait` then follows the request like `helved status --timeout` (exit 0 OK, 1 FEILET, 3 no
final status in time)."""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import orjson

from helved import fagsystemer
from helved.cli_support import NO_AUTO_CREATE, CommandError, broker_settings, report, require_topics
from helved.domain.model import Fagsystem


def read_decision(path: str, raw: bool) -> tuple[bytes, dict | None]:  # type: ignore[type-arg]
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}", 2) from exc
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if raw:
            return data, None
        raise CommandError(f"{path} is not JSON ({exc.msg}); --raw sends it anyway", 2) from exc
    if not isinstance(value, dict):
        if raw:
            return data, None
        raise CommandError(f"{path} does not hold a JSON object; --raw sends it anyway", 2)
    return data, value


def run(args: argparse.Namespace) -> int:
    from helved.kafka import DeliveryFailed, ReliableProducer
    from helved.records import OutRecord

    try:
        value, decision = read_decision(args.file, args.raw)
        settings = broker_settings(args.broker_timeout)
        # Without --key: a key derived from the content, so sending the same file twice is the
        # same request twice (answered OK without a second Oppdrag), never two requests.
        key = args.key or "send-" + hashlib.sha256(value).hexdigest()[:20]
        topic = settings.topics.input(Fagsystem(args.fagsystem))
        needed = [topic] + ([settings.topics.status] if args.wait is not None else [])
        require_topics(settings, needed, args.broker_timeout)
        try:
            with ReliableProducer(settings, extra_config=NO_AUTO_CREATE) as producer:
                producer.send(OutRecord(topic, key, value))
                producer.flush_or_raise(args.broker_timeout)
        except DeliveryFailed as exc:
            raise CommandError(str(exc)) from exc
    except CommandError as exc:
        return report("send", exc)
    sak = decision.get("sakId") if decision else None
    behandling = decision.get("behandlingId") if decision else None
    if args.json:
        print(orjson.dumps({"key": key, "topic": topic, "sakId": sak, "behandlingId": behandling}).decode())
    else:
        what = f"sak {sak}, behandling {behandling}" if decision else "raw value"
        print(f"sent {key} to {topic} ({what}); follow it with: helved status {key}", flush=True)
    if args.wait is not None:
        from helved.commands.status import follow

        try:
            return follow(settings, key, args.wait, args.json)
        except CommandError as exc:
            return report("send", exc)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("send", help="produce a decision (JSON) from a file to a fagsystem's input topic")
    p.add_argument("file", help="the JSON file, '-' for stdin")
    names = [c.fagsystem.value for c in fagsystemer.contracts()]
    p.add_argument(
        "--fagsystem",
        choices=names,
        default=names[0],
        help=f"whose decision it is: its input topic (default {names[0]})",
    )
    p.add_argument("--key", help="the record key, the request's original key (default: derived from the content)")
    p.add_argument("--raw", action="store_true", help="send the bytes even if they are not a JSON object")
    p.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="then follow its statuses, like `helved status --timeout`",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--broker-timeout", type=float, default=10.0, help="seconds to wait for the broker (default 10)")
    p.set_defaults(func=run, clean_interrupt=True)
