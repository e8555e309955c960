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
`helved replay`: a simulation request record in, the answer and the final status out. It asks
OS's simulation service (`SimulationService.simulate_request`: the port's
`helved.os.port.OsGateway`, or an `OsEmulator` handed over by its caller) and reads the
request's header with `helved.oppdrag.xml`; it imports no adapter.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date
from typing import Any, Protocol

import orjson

from helved import fagsystemer
from helved.codec import encode_verdict
from helved.config import Topics
from helved.domain.model import Fagsystem, StatusKind
from helved.domain.sak import Error
from helved.os.port import NOT_XML, Amount, PaidMap
from helved.records import InRecord, OutRecord


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


def _by_month(days: Mapping[date, Amount]) -> dict[tuple[int, int], dict[date, Amount]]:
    out: dict[tuple[int, int], dict[date, Amount]] = {}
    for d, amount in days.items():
        if amount:
            out.setdefault(_month(d), {})[d] = amount
    return out


def _span(days: Mapping[date, Amount]) -> tuple[str, str]:
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
        first, last = _month_bounds(ym)
        perioder.append({"fom": first.isoformat(), "tom": last.isoformat(), "utbetalinger": per_month[ym]})
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
    from helved.oslo import oslo_wall_time

    try:
        return oslo_wall_time(rec.timestamp_ms).date()
    except (OverflowError, ValueError):  # a timestamp outside the calendar: as if missing
        return date.min


class _VerdictLike(Protocol):
    """What the dryrun reads of a verdict (`helved.os.port.Verdict`, or the emulator's own)."""

    @property
    def alvorlighetsgrad(self) -> str: ...
    @property
    def beskr_melding(self) -> str: ...
    @property
    def accepted(self) -> bool: ...


class _SimulationLike(Protocol):
    """What the dryrun reads of a simulation answer (`helved.os.port.SimulationAnswer`, or the
    emulator's `Simulation`)."""

    @property
    def verdict(self) -> _VerdictLike: ...
    @property
    def before(self) -> PaidMap: ...
    @property
    def after(self) -> PaidMap: ...


class SimulationService(Protocol):
    """The one part of OS the dryrun asks: its simulation service. The port
    (`helved.os.port.OsGateway`) is one; so is an `OsEmulator` handed straight over (`helved
    replay`, in-process tests), whose answers carry the same field names."""

    def simulate_request(self, simulering_xml: bytes) -> _SimulationLike: ...


def _dryrun_topic(topics: Topics, fagsystem: str) -> str:
    """The dryrun topic of the request's fagsystem (header `fagsystem`); dagpenger's when the
    header names no registered fagsystem."""
    try:
        return topics.dryrun(Fagsystem(fagsystem))
    except (KeyError, ValueError):
        return topics.dryrun_dp


def answer_simulering(gateway: SimulationService, rec: OutRecord | InRecord, topics: Topics) -> list[OutRecord]:
    """Ask OS's simulation service (`gateway.simulate_request`) and build the dryrun answer
    and the request's final status (OK, or FEILET when OS would reject the Oppdrag).

    Bytes OS cannot read as XML (`helved.oppdrag.xml.read_os_document`) are answered FEILET
    500 here, without asking OS."""
    from helved.oppdrag.xml import os_header, read_os_document

    headers = tuple(
        (k, v) for k, v in rec.headers if k in ("original-key", "fagsystem", "src-topic", "src-partition", "src-offset")
    )
    fagsystem = (rec.header("fagsystem") or b"").decode(errors="replace")
    status: bytes
    out: list[OutRecord] = []
    verdict: _VerdictLike
    root = read_os_document(rec.value or b"")
    if root is None:
        verdict = NOT_XML
    else:
        _, sak_id, utbetales_til = os_header(root, "oppdrag")
        sim = gateway.simulate_request(rec.value or b"")
        verdict = sim.verdict
    if verdict.accepted:
        result = simulation_result(
            sim.before,
            sim.after,
            fagsystem=fagsystem,
            sak_id=sak_id or "",
            utbetales_til=utbetales_til or "",
            request_date=request_date(rec),
        )
        out.append(
            OutRecord(_dryrun_topic(topics, fagsystem), rec.key, orjson.dumps(result), headers, rec.timestamp_ms)
        )
        status = encode_verdict(StatusKind.OK, simulering=True)
    else:
        code = 400 if verdict.alvorlighetsgrad == "08" else 500
        status = encode_verdict(StatusKind.FEILET, error=Error(code, verdict.beskr_melding, None), simulering=True)
    out.append(OutRecord(topics.status, rec.key, status, headers, rec.timestamp_ms))
    return out
