"""`helved sak SAKID`: a sak's confirmed utbetalinger, and what OS pays when its state is at hand.

Confirmed state comes from `helved.saker.v1` (the sak's active uids) and `helved.utbetalinger.v1`
(each uid's last confirmed utbetaling), read to their end. With `--os-state DIR` (or
HELVED_OS_STATE_DIR), the OS emulator service's state is rebuilt read-only and its payments are
shown. No ident is ever printed, with or without `--json`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson

from helved import fagsystemer
from helved.cli_support import CommandError, broker_settings, os_state_dir, report
from helved.views.payments import PaymentRow, payment_json, payment_rows, payment_table
from helved.views.sak import ConfirmedSak, confirmed_sak, sak_json, sak_summary


def confirmed(settings: Any, sak_id: str, fagsystem: str, timeout_s: float) -> ConfirmedSak:
    """The sak's confirmed state, from its topics read to their end."""
    from helved.kafka.consumer import TopicMissing, read_all

    topics = settings.topics
    try:
        records = read_all(settings, [topics.saker, topics.utbetalinger], timeout_s)
    except (TopicMissing, TimeoutError) as exc:
        raise CommandError(str(exc)) from None
    return confirmed_sak(
        records,  # per topic and partition in offset order: the last value wins
        saker_topic=topics.saker,
        utbetalinger_topic=topics.utbetalinger,
        sak_id=sak_id,
        fagsystem=fagsystem,
    )


def os_payments(state: Path, fagområde: str, sak_id: str) -> list[PaymentRow]:
    """What OS pays on the sak, from the OS emulator service's state (rebuilt read-only)."""
    from helved.emulator.gateway import EmulatedOs

    os_ = EmulatedOs.open_read_only(state)
    return payment_rows(os_.paid(fagområde, sak_id))


def run(args: argparse.Namespace) -> int:
    try:
        known = {c.fagsystem.value: c for c in fagsystemer.contracts()}
        if args.fagsystem not in known:
            raise CommandError(f"unknown fagsystem {args.fagsystem!r}: one of {', '.join(known)}", 2)
        state = os_state_dir(args.os_state)
        settings = broker_settings(args.broker_timeout)
        found = confirmed(settings, args.sak_id, args.fagsystem, args.timeout)
        fagområde = found.fagområde(known[args.fagsystem].fagområder[0])
        paid: list[PaymentRow] | None = None
        os_note = None
        if state is not None:
            try:
                paid = os_payments(state, fagområde, args.sak_id)
            except FileNotFoundError as exc:
                os_note = str(exc)
    except CommandError as exc:
        return report("sak", exc)

    if args.json:
        os_pays = None if paid is None else [payment_json(r) for r in paid]
        print(orjson.dumps(sak_json(found, os_pays)).decode())
        return 0 if found.active is not None else 1

    for line in sak_summary(found):
        print(line)
    if paid is not None:
        print(f"OS pays on sak {args.sak_id} (fagområde {fagområde}), from the emulator's state:")
        for line in payment_table(paid, "  ") or ["  (nothing)"]:
            print(line)
    elif os_note:
        print(f"OS: {os_note}")
    return 0 if found.active is not None else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sak", help="a sak's confirmed utbetalinger (and what OS pays, with --os-state)")
    p.add_argument("sak_id", metavar="SAKID")
    first = fagsystemer.contracts()[0].fagsystem.value
    p.add_argument(
        "--fagsystem",
        default=first,
        help=f"one of {', '.join(c.fagsystem.value for c in fagsystemer.contracts())} (default {first})",
    )
    p.add_argument("--os-state", help="the OS emulator service's state directory (default: HELVED_OS_STATE_DIR)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to read the state topics (default 30)")
    p.add_argument("--json", action="store_true", help="machine-readable output (no idents)")
    p.add_argument("--broker-timeout", type=float, default=10.0, help="seconds to wait for the broker (default 10)")
    p.set_defaults(func=run, clean_interrupt=True)
