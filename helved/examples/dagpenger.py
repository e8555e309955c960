"""Builders of dagpenger decisions (`DpUtbetaling`, spec §3): days, meldeperioder, decisions.

Plain JSON values (dicts and lists), as a sender would send them; no validation here (that is
the parser's job, and tests build invalid decisions with these too)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

IDENT = "12345678910"  # a made-up fødselsnummer; never printed


def weekdays(fom: date, tom: date) -> list[date]:
    """Every Monday-Friday in [fom, tom]."""
    return [fom + timedelta(days=i) for i in range((tom - fom).days + 1) if (fom + timedelta(days=i)).weekday() < 5]


def day(
    meldeperiode: str, dato: date | str, beløp: int, sats: int | None = None, typ: str = "Dagpenger"
) -> dict[str, Any]:
    """One entry of `utbetalinger`: a day of a meldeperiode paid `beløp` (sats `sats`, default `beløp`)."""
    return {
        "meldeperiode": meldeperiode,
        "dato": dato if isinstance(dato, str) else dato.isoformat(),
        "sats": beløp if sats is None else sats,
        "utbetaltBeløp": beløp,
        "utbetalingstype": typ,
    }


def meldeperiode(
    start: str, beløp: int = 1000, *, sats: int | None = None, changes: dict[str, int] | None = None
) -> list[dict[str, Any]]:
    """The paid days of the 14-day meldeperiode starting on Monday `start`: every weekday at
    `beløp` (sats `sats`, default `beløp`), except the days in `changes` (date -> beløp; 0 is
    not paid)."""
    fom = date.fromisoformat(start)
    tom = fom + timedelta(days=13)
    name = f"{fom.isoformat()}/{tom.isoformat()}"
    return [day(name, d, (changes or {}).get(d.isoformat(), beløp), sats or beløp) for d in weekdays(fom, tom)]


def decision(
    sak: str, behandling: str, vedtak: str, days: list[dict[str, Any]], *, ident: str = IDENT, **extra: Any
) -> dict[str, Any]:
    """A whole decision of sak `sak`: its days, saksbehandler Z123456, beslutter Z654321, and
    any other field in `extra` (e.g. `dryrun=True`, or a field that breaks a rule)."""
    return {
        "sakId": sak,
        "behandlingId": behandling,
        "ident": ident,
        "vedtakstidspunktet": vedtak,
        "saksbehandler": "Z123456",
        "beslutter": "Z654321",
        "utbetalinger": days,
        **extra,
    }
