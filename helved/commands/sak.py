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
from helved.cli_support import (
    CommandError,
    broker_settings,
    os_state_dir,
    report,
    without_ident,
)

def confirmed(settings: Any, sak_id: str, fagsystem: str, timeout_s: float) -> dict[str, Any]:
    """{"active": [uid…] | None, "utbetalinger": {uid: utbetaling without ident}}."""
    from helved.domain.model import Fagsystem, SakKey
    from helved.follow import TopicMissing, read_all

    topics = settings.topics
    sak_key = SakKey(sak_id, Fagsystem(fagsystem)).as_json_text()
    try:
        records = read_all(settings, [topics.saker, topics.utbetalinger], timeout_s)
    except (TopicMissing, TimeoutError) as exc:
        raise CommandError(str(exc)) from None
    active: list[str] | None = None
    utbetalinger: dict[str, Any] = {}
    for rec in records:  # per topic and partition in offset order: the last value wins
        if rec.topic == topics.saker and rec.key == sak_key:
            active = None if rec.value is None else orjson.loads(rec.value)
        elif rec.topic == topics.utbetalinger and rec.key is not None:
            if rec.value is None:
                utbetalinger.pop(rec.key, None)
                continue
            u = orjson.loads(rec.value)
            if u.get("sakId") == sak_id and u.get("fagsystem") == fagsystem:
                utbetalinger[rec.key] = without_ident(u)
    return {"active": active, "utbetalinger": utbetalinger}


def os_payments(state: Path, fagområde: str, sak_id: str) -> list[dict[str, Any]]:
    from helved.emulated_os import EmulatedOs, payment_rows

    os_ = EmulatedOs.open_read_only(state)
    return [
        {
            "klassekode": r.klassekode,
            "fom": r.fom.isoformat(),
            "tom": r.tom.isoformat(),
            "days": r.days,
            "perDay": r.per_day,
            "total": r.total,
        }
        for r in payment_rows(os_.paid(fagområde, sak_id))
    ]


def print_payments(rows: list[dict[str, Any]], indent: str = "  ") -> None:
    if not rows:
        print(f"{indent}(nothing)")
        return
    print(f"{indent}{'klassekode':<16} {'fom':<10}  {'tom':<10}  {'days':>4}  {'per day':>8}  {'total':>9}")
    for r in rows:
        print(
            f"{indent}{r['klassekode']:<16} {r['fom']:<10}  {r['tom']:<10}  {r['days']:>4}  {r['perDay']:>8}  {r['total']:>9}"
        )
    print(
        f"{indent}{'total':<16} {'':<10}  {'':<10}  {sum(r['days'] for r in rows):>4}  {'':>8}  {sum(r['total'] for r in rows):>9}"
    )


def run(args: argparse.Namespace) -> int:
    try:
        known = {c.fagsystem.value: c for c in fagsystemer.contracts()}
        if args.fagsystem not in known:
            raise CommandError(f"unknown fagsystem {args.fagsystem!r}: one of {', '.join(known)}", 2)
        state = os_state_dir(args.os_state)
        settings = broker_settings(args.broker_timeout)
        found = confirmed(settings, args.sak_id, args.fagsystem, args.timeout)
        fagområde = next(
            (u.get("fagområde") for u in found["utbetalinger"].values() if u.get("fagområde")),
            known[args.fagsystem].fagområder[0],
        )
        paid: list[dict[str, Any]] | None = None
        os_note = None
        if state is not None:
            try:
                paid = os_payments(state, fagområde, args.sak_id)
            except FileNotFoundError as exc:
                os_note = str(exc)
    except CommandError as exc:
        return report("sak", exc)

    active = found["active"]
    utbetalinger = found["utbetalinger"]
    if args.json:
        out = {
            "sakId": args.sak_id,
            "fagsystem": args.fagsystem,
            "activeUids": active,
            "utbetalinger": list(utbetalinger.values()),
            "osPays": paid,
        }
        print(orjson.dumps(out).decode())
        return 0 if active is not None else 1

    if active is None:
        print(f"sak {args.sak_id} ({args.fagsystem}): no confirmed utbetalinger")
    else:
        print(f"sak {args.sak_id} ({args.fagsystem}): {len(active)} active utbetaling(er), confirmed by OS")
        for uid, u in sorted(
            utbetalinger.items(), key=lambda kv: (kv[0] not in active, kv[1].get("stønad", ""), kv[0])
        ):
            state_word = "active" if uid in active else "stopped"
            print(f"  {uid}  {u.get('stønad')}  behandling {u.get('behandlingId')}  {state_word}")
            for p in u.get("perioder") or []:
                sats = f" (sats {p['vedtakssats']})" if p.get("vedtakssats") is not None else ""
                print(f"      {p['fom']}..{p['tom']}  {p['beløp']}/day{sats}")
    if paid is not None:
        print(f"OS pays on sak {args.sak_id} (fagområde {fagområde}), from the emulator's state:")
        print_payments(paid)
    elif os_note:
        print(f"OS: {os_note}")
    return 0 if active is not None else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sak", help="a sak's confirmed utbetalinger (and what OS pays, with --os-state)")
    p.add_argument("sak_id", metavar="SAKID")
    first = fagsystemer.contracts()[0].fagsystem.value
    p.add_argument(
        "--fagsystem",
        default=first,
        help=f"one of {', '.join(c.fagsystem.value for c in fagsystemer.contracts())} (default {first})",
    )
    p.add_argument(
        "--os-state", help="the OS emulator service's state directory (default: HELVED_OS_STATE_DIR)"
    )
    p.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to read the state topics (default 30)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output (no idents)")
    p.add_argument(
        "--broker-timeout", type=float, default=10.0, help="seconds to wait for the broker (default 10)"
    )
    p.set_defaults(func=run, clean_interrupt=True)
