"""The dryrun answer (spec §10): what OS would pay, per calendar month, as JSON for dagpenger.

`simulation_result` is pure: it turns what a sak is paid now (`before`) and what it would be
paid after the simulated Oppdrag (`after`), both `klassekode -> day -> amount`, into the
`helved.dryrun-dp.v1` answer:

    {"@type": "v2", "perioder": [{"fom", "tom", "utbetalinger": [{"fagsystem", "sakId",
      "utbetalesTil", "stønadstype", "tidligereUtbetalt", "nyttBeløp",
      "posteringer": [{"fom", "tom", "beløp", "type", "klassekode"}]}]}]}

One periode per calendar month whose payment changes. Posteringer: YTEL negative for what is
taken back (the month's previous payment), YTEL positive for what is paid (the new payment),
and FEIL for money already paid out that would be taken back (a month counts as paid out when
it ends before the request's date). `answer_simulering` is the shell used by the OS bridge and
`helved replay`: a simulation request record in, the answer and the final status out.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date
from typing import Any

import orjson

from helved import fagsystemer
from helved.config import Topics
from helved.domain.model import Fagsystem
from helved.records import InRecord, OutRecord

PaidMap = Mapping[str, Mapping[date, int]]



def _stønadstyper(fagsystem: str) -> Mapping[str, str]:
    """klassekode -> stønadstype in the answer, from the fagsystem's contract."""
    try:
        return fagsystemer.contract(Fagsystem(fagsystem)).stønadstyper
    except (KeyError, ValueError):
        return {}


def _month(d: date) -> tuple[int, int]:
    return d.year, d.month


def _month_bounds(ym: tuple[int, int]) -> tuple[date, date]:
    y, m = ym
    return date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1])


def _by_month(days: Mapping[date, int]) -> dict[tuple[int, int], dict[date, int]]:
    out: dict[tuple[int, int], dict[date, int]] = {}
    for d, amount in days.items():
        if amount:
            out.setdefault(_month(d), {})[d] = amount
    return out


def _span(days: Mapping[date, int]) -> tuple[str, str]:
    return min(days).isoformat(), max(days).isoformat()


def simulation_result(
    before: PaidMap,
    after: PaidMap,
    *,
    fagsystem: str,
    sak_id: str,
    utbetales_til: str,
    request_date: date,
) -> dict[str, Any]:
    """The `v2` answer, or the `info` answer when nothing would change."""
    per_month: dict[tuple[int, int], list[dict[str, Any]]] = {}
    stønadstyper = _stønadstyper(fagsystem)
    for klassekode in sorted(set(before) | set(after)):
        b_months = _by_month(before.get(klassekode, {}))
        a_months = _by_month(after.get(klassekode, {}))
        for ym in sorted(set(b_months) | set(a_months)):
            b_days, a_days = b_months.get(ym, {}), a_months.get(ym, {})
            if b_days == a_days:
                continue
            b_sum, a_sum = sum(b_days.values()), sum(a_days.values())
            paid_out = _month_bounds(ym)[1] < request_date
            posteringer = []
            if b_sum:
                fom, tom = _span(b_days)
                posteringer.append({"fom": fom, "tom": tom, "beløp": -b_sum, "type": "YTEL", "klassekode": klassekode})
            if a_sum:
                fom, tom = _span(a_days)
                posteringer.append({"fom": fom, "tom": tom, "beløp": a_sum, "type": "YTEL", "klassekode": klassekode})
            if paid_out and b_sum > a_sum:
                fom, tom = _span(b_days)
                posteringer.append(
                    {"fom": fom, "tom": tom, "beløp": b_sum - a_sum, "type": "FEIL", "klassekode": klassekode}
                )
            per_month.setdefault(ym, []).append(
                {
                    "fagsystem": fagsystem,
                    "sakId": sak_id,
                    "utbetalesTil": utbetales_til,
                    "stønadstype": stønadstyper.get(klassekode, klassekode),
                    "tidligereUtbetalt": b_sum,
                    "nyttBeløp": a_sum,
                    "posteringer": posteringer,
                }
            )
    if not per_month:
        return no_change(fagsystem)
    perioder = []
    for ym in sorted(per_month):
        fom, tom = _month_bounds(ym)
        perioder.append({"fom": fom.isoformat(), "tom": tom.isoformat(), "utbetalinger": per_month[ym]})
    return {"@type": "v2", "perioder": perioder}


def no_change(fagsystem: str) -> dict[str, Any]:
    return {
        "@type": "info",
        "status": "OK_UTEN_ENDRING",
        "fagsystem": fagsystem,
        "message": "Ingen endring: forespørselen gir ingen linjer til Oppdrag",
    }


def month_summary(result: Mapping[str, Any], request_date: date) -> list[dict[str, Any]]:
    """Rows for a table: month, before, after, etterbetaling (more for a month already paid
    out), feilutbetaling (less for a month already paid out)."""
    rows = []
    for periode in result.get("perioder", []):
        before = sum(u["tidligereUtbetalt"] for u in periode["utbetalinger"])
        after = sum(u["nyttBeløp"] for u in periode["utbetalinger"])
        paid_out = date.fromisoformat(periode["tom"]) < request_date
        rows.append(
            {
                "month": periode["fom"][:7],
                "before": before,
                "after": after,
                "etterbetaling": max(after - before, 0) if paid_out else 0,
                "feilutbetaling": max(before - after, 0) if paid_out else 0,
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------
# The shell: a simulation request record -> the answer records.


def request_date(rec: OutRecord | InRecord) -> date:
    """The request's date (Europe/Oslo) from the record timestamp; without one, no month counts
    as paid out."""
    if rec.timestamp_ms is None:
        return date.min
    from helved.pipeline import oslo_wall_time

    try:
        return oslo_wall_time(rec.timestamp_ms).date()
    except (OverflowError, ValueError):  # a timestamp outside the calendar: as if missing
        return date.min


def _dryrun_topic(topics: Topics, fagsystem: str) -> str:
    """The dryrun topic of the request's fagsystem (header `fagsystem`); dagpenger's when the
    header names no registered fagsystem."""
    try:
        return topics.dryrun(Fagsystem(fagsystem))
    except (KeyError, ValueError):
        return topics.dryrun_dp


def answer_simulering(emulator: Any, rec: OutRecord | InRecord, topics: Topics) -> list[OutRecord]:
    """Ask OS's simulation service (`emulator.simulate_request`) and build the dryrun answer
    and the request's final status (OK, or FEILET when OS would reject the Oppdrag)."""
    from helved.emulator.ledger import technical
    from helved.emulator.xml import Unparseable, header_of, parse_document

    headers = tuple((k, v) for k, v in rec.headers if k in ("original-key", "fagsystem", "src-topic", "src-partition", "src-offset"))
    fagsystem = (rec.header("fagsystem") or b"").decode(errors="replace")
    status: dict[str, Any]
    out: list[OutRecord] = []
    try:
        _, sak_id, utbetales_til = header_of(parse_document(rec.value or b""), "oppdrag")
        sim = emulator.simulate_request(rec.value)
        verdict = sim.verdict
    except Unparseable:
        verdict = technical("B999999T", "Meldingen kan ikke leses som XML")
    if verdict.accepted:
        result = simulation_result(
            sim.before,
            sim.after,
            fagsystem=fagsystem,
            sak_id=sak_id or "",
            utbetales_til=utbetales_til or "",
            request_date=request_date(rec),
        )
        out.append(OutRecord(_dryrun_topic(topics, fagsystem), rec.key, orjson.dumps(result), headers, rec.timestamp_ms))
        status = {"status": "OK", "detaljer": None, "error": None, "simulering": True}
    else:
        code = 400 if verdict.alvorlighetsgrad == "08" else 500
        error = {"statusCode": code, "msg": verdict.beskr_melding, "doc": None}
        status = {"status": "FEILET", "detaljer": None, "error": error, "simulering": True}
    out.append(OutRecord(topics.status, rec.key, orjson.dumps(status), headers, rec.timestamp_ms))
    return out
