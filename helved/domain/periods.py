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
    return merge_day_tuples([(d.dato, d.beløp, d.sats, d.betalende_enhet) for d in days], periodetype)


DayTuple = tuple[date, int, int | None, str | None]  # (dato, beløp, sats, betalende enhet)


def merge_day_tuples(days: list[DayTuple], periodetype: Periodetype) -> tuple[Periode, ...]:
    """`merge_days` over plain tuples (the hot path of every request): one `Periode` per run.

    Sorts `days` in place by date only (stable, as `merge_days`). `d` continues a run ending on
    `tom` iff it is the next calendar day, or a Monday 2 or 3 days later (after a Saturday or a
    Friday): exactly `continues(tom, d)`.
    """
    days.sort(key=_dato)
    if periodetype is Periodetype.EN_GANG:
        return tuple(Periode(d, d, b, s, e) for d, b, s, e in days)
    out: list[Periode] = []
    it = iter(days)
    first = next(it, None)
    if first is None:
        return ()
    fom, beløp, sats, enhet = first
    tom = fom
    last = fom.toordinal()
    for day in it:
        d, b, s, e = day
        o = d.toordinal()
        gap = o - last
        if b == beløp and s == sats and e == enhet and (gap == 1 or ((gap == 2 or gap == 3) and d.weekday() == 0)):
            tom, last = d, o
            continue
        out.append(Periode(fom, tom, beløp, sats, enhet))
        fom = tom = d
        last, beløp, sats, enhet = o, b, s, e
    out.append(Periode(fom, tom, beløp, sats, enhet))
    return tuple(out)


def _dato(day: DayTuple) -> date:
    return day[0]


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
