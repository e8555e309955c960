"""From paid days to periods, and the checks every utbetaling's periods must pass (spec §4, §9)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from helved.errors import ErrorCode, bad_request

from .model import Periode, Periodetype

ONE_DAY = timedelta(days=1)
MAX_DAG_SPAN_DAYS = 1100


@dataclass(frozen=True, slots=True)
class Day:
    """One paid day as a fagsystem sends it."""

    dato: date
    beløp: int
    sats: int | None = None
    betalende_enhet: str | None = None


def next_weekday(d: date) -> date:
    """The first Monday-Friday after `d` (Friday → Monday, Saturday → Monday)."""
    nxt = d + ONE_DAY
    while nxt.weekday() >= 5:
        nxt += ONE_DAY
    return nxt


def continues(prev: date, d: date) -> bool:
    """`d` continues a period ending on `prev`: the next calendar day or the next weekday."""
    return d == prev + ONE_DAY or d == next_weekday(prev)


def merge_days(days: Iterable[Day], periodetype: Periodetype) -> tuple[Periode, ...]:
    """Turn paid days into periods, sorted by fom.

    Days are sorted by date; a day joins the previous period when it has the same
    (beløp, sats, betalende enhet) and continues it (`continues`). EN_GANG days are never merged:
    OS pays an ENG line once, so each paid day must be its own period.
    Duplicate dates are kept as separate periods so that validation reports them.
    """
    ordered = sorted(days, key=lambda d: d.dato)
    out: list[Periode] = []
    for day in ordered:
        if out and periodetype is not Periodetype.EN_GANG:
            last = out[-1]
            if (
                last.beløp == day.beløp
                and last.vedtakssats == day.sats
                and last.betalende_enhet == day.betalende_enhet
                and continues(last.tom, day.dato)
            ):
                out[-1] = Periode(last.fom, day.dato, last.beløp, last.vedtakssats, last.betalende_enhet)
                continue
        out.append(Periode(day.dato, day.dato, day.beløp, day.sats, day.betalende_enhet))
    return tuple(out)


def validate_perioder(perioder: tuple[Periode, ...], periodetype: Periodetype, where: str) -> None:
    """Raise a 400 for the first rule of spec §9 the periods break. `where` names the utbetaling."""
    if not perioder:
        raise bad_request(ErrorCode.NO_PERIODS, f"{where} has no periods")
    foms: set[date] = set()
    toms: set[date] = set()
    for p in perioder:
        if p.tom < p.fom:
            raise bad_request(ErrorCode.TOM_BEFORE_FOM, f"{where}: tom {p.tom} is before fom {p.fom}")
        if p.beløp == 0:
            raise bad_request(ErrorCode.ZERO_BELOP, f"{where}: period {p.fom}..{p.tom} has beløp 0")
        if p.beløp < 0:
            raise bad_request(ErrorCode.INVALID_FIELD, f"{where}: period {p.fom}..{p.tom} has negative beløp")
        if periodetype is Periodetype.EN_GANG and p.fom.year != p.tom.year:
            raise bad_request(
                ErrorCode.EN_GANG_ACROSS_YEAR, f"{where}: EN_GANG period {p.fom}..{p.tom} crosses a year end"
            )
        if p.fom in foms:
            raise bad_request(ErrorCode.DUPLICATE_FOM, f"{where}: fom {p.fom} occurs twice")
        if p.tom in toms:
            raise bad_request(ErrorCode.DUPLICATE_TOM, f"{where}: tom {p.tom} occurs twice")
        foms.add(p.fom)
        toms.add(p.tom)
    if periodetype in (Periodetype.DAG, Periodetype.UKEDAG):
        first = min(p.fom for p in perioder)
        last = max(p.tom for p in perioder)
        if (last - first).days > MAX_DAG_SPAN_DAYS:
            raise bad_request(
                ErrorCode.TOO_LONG_PERIOD, f"{where} spans more than {MAX_DAG_SPAN_DAYS} days ({first}..{last})"
            )
