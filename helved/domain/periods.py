"""From paid days to periods, and the checks every utbetaling's periods must pass (spec §4, §9)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from helved.errors import ErrorCode, bad_request

from .model import Periode, Periodetype, Utbetaling

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


def has_weekday(fom: date, tom: date) -> bool:
    """[fom, tom] contains a Monday-Friday: a UKEDAG period without one pays nothing (settled
    rule 6, `WEEKEND_DAY_PAID`)."""
    first = fom if fom.weekday() < 5 else next_weekday(fom)
    return first <= tom


def _joins(tom: date, fom: date, periodetype: Periodetype) -> bool:
    """A period starting on `fom` continues one ending on `tom` (settled rule 5)."""
    if periodetype is Periodetype.UKEDAG:
        return continues(tom, fom)
    if periodetype is Periodetype.EN_GANG:
        return False
    return fom == tom + ONE_DAY  # MND (and DAG, which no sender may use)


def merge_perioder(perioder: Iterable[Periode], periodetype: Periodetype, where: str) -> tuple[Periode, ...]:
    """Settled rule 5 for senders that send periods rather than days (AAP, tiltakspenger, …).

    Sorts by fom and merges a period into the one before it when both have equal beløp,
    vedtakssats and betalende enhet and it continues it: UKEDAG the next day or the next
    weekday (Friday → Monday), MND the next day, EN_GANG never. Two periods that overlap are
    never merged: that is a 400 `OVERLAPPING_PERIODS` naming both (`where` names the
    utbetaling). Each period must already have `fom <= tom`.
    """
    out: list[Periode] = []
    for p in sorted(perioder, key=_fom_tom):
        if out:
            last = out[-1]
            if p.fom <= last.tom:
                raise bad_request(
                    ErrorCode.OVERLAPPING_PERIODS,
                    f"{where}: periods {last.fom}..{last.tom} and {p.fom}..{p.tom} overlap",
                )
            if (
                p.beløp == last.beløp
                and p.vedtakssats == last.vedtakssats
                and p.betalende_enhet == last.betalende_enhet
                and _joins(last.tom, p.fom, periodetype)
            ):
                out[-1] = Periode(last.fom, p.tom, last.beløp, last.vedtakssats, last.betalende_enhet)
                continue
        out.append(p)
    return tuple(out)


def _fom_tom(p: Periode) -> tuple[date, date]:
    return (p.fom, p.tom)


def first_day_paid_twice(perioder: Iterable[Periode], periodetype: Periodetype) -> date | None:
    """The earliest day that two of `perioder` both pay, or None (settled rule 5,
    `DUPLICATE_DAY`: give it the periods of one klassekode across the utbetalinger of a sak).

    A UKEDAG period pays its weekdays only, so two periods that share only a Saturday and a
    Sunday pay no day twice; every other periodetype pays each day it covers.
    """
    reach: date | None = None  # the latest tom of the periods seen so far
    for p in sorted(perioder, key=_fom_tom):
        if reach is not None and p.fom <= reach:
            end = min(p.tom, reach)
            first = p.fom
            if periodetype is Periodetype.UKEDAG and first.weekday() >= 5:
                first = next_weekday(first)
            if first <= end:
                return first
        if reach is None or p.tom > reach:
            reach = p.tom
    return None


def check_days_paid_once(utbetalinger: Iterable[Utbetaling]) -> None:
    """400 `DUPLICATE_DAY` when one day is paid twice for one klassekode across the utbetalinger
    of a request (settled rule 5: two AAP meldekort, two TP meldeperioder). Klassekoder are
    checked in sorted order and each reports its earliest such day, so the answer does not
    depend on the order of the message."""
    by_klassekode: dict[str, tuple[Periodetype, list[Periode]]] = {}
    for u in utbetalinger:
        by_klassekode.setdefault(u.stønad.klassekode, (u.stønad.periodetype, []))[1].extend(u.perioder)
    for klassekode in sorted(by_klassekode):
        periodetype, perioder = by_klassekode[klassekode]
        day = first_day_paid_twice(perioder, periodetype)
        if day is not None:
            raise bad_request(ErrorCode.DUPLICATE_DAY, f"{klassekode} day {day} is paid twice")


def checked_perioder(perioder: Iterable[Periode], periodetype: Periodetype, where: str) -> tuple[Periode, ...]:
    """The periods of one utbetaling as a period-sending fagsystem gave them (tilleggsstønader,
    historisk, valp), checked and merged; the first broken rule is a 400 (`where` names the
    utbetaling):

    1. every period has `fom <= tom` (`TOM_BEFORE_FOM`);
    2. UKEDAG: every period contains a weekday (settled rule 6, `WEEKEND_DAY_PAID`);
    3. merged by settled rule 5 (`merge_perioder`; overlaps are `OVERLAPPING_PERIODS`);
    4. the merged periods pass spec §9 (`validate_perioder`: `NO_PERIODS`, `ZERO_BELOP`,
       `EN_GANG_ACROSS_YEAR`, `TOO_LONG_PERIOD`).
    """
    given = tuple(perioder)
    for p in given:
        if p.tom < p.fom:
            raise bad_request(ErrorCode.TOM_BEFORE_FOM, f"{where}: tom {p.tom} is before fom {p.fom}")
        if periodetype is Periodetype.UKEDAG and not has_weekday(p.fom, p.tom):
            raise bad_request(
                ErrorCode.WEEKEND_DAY_PAID,
                f"{where}: UKEDAG period {p.fom}..{p.tom} has no weekday, so OS would pay nothing for it",
            )
    merged = merge_perioder(given, periodetype, where)
    validate_perioder(merged, periodetype, where)
    return merged
