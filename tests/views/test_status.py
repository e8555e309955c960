"""The statuses of a request as `helved status`, the demo and the tests see them."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from helved.records import InRecord
from helved.views.status import (
    StatusLog,
    describe_status,
    dlq_error,
    status_event,
    status_line,
)

# 2025-08-18 07:30:00 UTC: 09:30:00 in Oslo (summer time).
MONDAY_0930_OSLO_MS = 1_755_502_200_000


def status_record(
    word: str,
    *,
    key: str | None = "k",
    offset: int = 1,
    detaljer: Any = None,
    error: Any = None,
    simulering: bool = False,
) -> InRecord:
    value = orjson.dumps({"status": word, "detaljer": detaljer, "error": error, "simulering": simulering})
    provenance = (("src-topic", b"dagpenger"), ("src-partition", b"0"), ("src-offset", str(offset).encode()))
    return InRecord("helved.status.v1", key, value, provenance)


def linje(fom: str, tom: str, beløp: int) -> dict[str, Any]:
    return {"behandlingId": "B-1", "fom": fom, "tom": tom, "vedtakssats": 1000, "beløp": beløp, "klassekode": "DPORAS"}


def test_a_status_replayed_with_the_same_provenance_is_shown_once() -> None:
    log = StatusLog()
    assert log.add(status_record("MOTTATT", offset=1, detaljer={"linjer": []})) is not None
    assert log.add(status_record("MOTTATT", offset=1, detaljer={"linjer": []})) is None
    assert log.sequence("k") == ["MOTTATT"]


def test_the_same_status_from_another_input_record_is_news() -> None:
    log = StatusLog()
    log.add(status_record("MOTTATT", offset=1))
    log.add(status_record("MOTTATT", offset=2))
    assert log.sequence("k") == ["MOTTATT", "MOTTATT"]


def test_the_verdict_is_the_first_ok_or_feilet_not_the_last_status() -> None:
    log = StatusLog()
    for rec in [
        status_record("MOTTATT", offset=1, detaljer={"linjer": []}),
        status_record("HOS_OPPDRAG", offset=1),
        status_record("OK", offset=2),
        status_record("MOTTATT", offset=1),  # another interleaving after a restart
        status_record("FEILET", offset=3, error={"statusCode": 500, "msg": "x", "doc": None}),
    ]:
        log.add(rec)
    final = log.final("k")
    assert final is not None and final["status"] == "OK"
    assert log.sequence("k") == ["MOTTATT", "HOS_OPPDRAG", "OK", "MOTTATT", "FEILET"]


def test_a_request_without_ok_or_feilet_has_no_verdict_yet() -> None:
    log = StatusLog()
    log.add(status_record("MOTTATT"))
    assert log.final("k") is None
    assert log.final("another") is None and log.sequence("another") == []


def test_statuses_are_kept_per_original_key() -> None:
    log = StatusLog()
    log.add(status_record("OK", key="a"))
    log.add(status_record("FEILET", key="b"))
    assert (log.sequence("a"), log.sequence("b")) == (["OK"], ["FEILET"])


@pytest.mark.parametrize("value", [None, b"not json", b"[1, 2]", b'"OK"'])
def test_a_tombstone_or_a_value_that_is_no_status_object_is_skipped(value: bytes | None) -> None:
    log = StatusLog()
    assert log.add(InRecord("helved.status.v1", "k", value)) is None
    assert log.sequence("k") == []


def test_a_status_without_a_status_word_shows_a_question_mark() -> None:
    log = StatusLog()
    log.add(InRecord("helved.status.v1", "k", b"{}"))
    assert log.sequence("k") == ["?"]


def test_a_mottatt_without_detaljer_waits_for_the_oppdrag_in_flight() -> None:
    assert describe_status({"status": "MOTTATT", "detaljer": None}) == "waiting: an Oppdrag for this sak is in flight"


def test_a_mottatt_shows_four_lines_and_counts_the_rest_with_stopped_lines_as_stopped() -> None:
    linjer = [linje(f"2025-08-0{d}", f"2025-08-0{d}", 1000) for d in range(4, 8)]
    linjer.append(linje("2025-08-11", "2025-08-15", 0))
    line = describe_status({"status": "MOTTATT", "detaljer": {"ytelse": "DAGPENGER", "linjer": linjer}})
    assert line.startswith("5 line(s): DPORAS 2025-08-04..2025-08-04 1000/day, ")
    assert line.endswith("DPORAS 2025-08-07..2025-08-07 1000/day (+1 more)")
    stopped = describe_status({"status": "MOTTATT", "detaljer": {"linjer": [linje("2025-08-11", "2025-08-15", 0)]}})
    assert stopped == "1 line(s): DPORAS 2025-08-11..2025-08-15 stopped"


@pytest.mark.parametrize(
    ("status", "line"),
    [
        ({"status": "HOS_OPPDRAG", "detaljer": None, "error": None, "simulering": False}, "handed over to OS"),
        ({"status": "OK", "detaljer": None, "error": None, "simulering": False}, "done"),
        ({"status": "OK", "detaljer": None, "error": None, "simulering": True}, "done; (simulation)"),
        ({"status": "FEILET", "error": {"statusCode": 400, "msg": "SAKID_LENGTH: x"}}, "400 SAKID_LENGTH: x"),
    ],
)
def test_each_status_word_reads_as_one_line(status: dict[str, Any], line: str) -> None:
    assert describe_status(status) == line


def test_a_status_line_shows_the_record_time_in_oslo() -> None:
    ok = {"status": "OK", "detaljer": None, "error": None, "simulering": False}
    assert status_line(MONDAY_0930_OSLO_MS, ok) == "09:30:00  OK           done"
    assert status_line(None, ok) == "--:--:--  OK           done"


def test_a_status_event_puts_the_key_and_record_time_first() -> None:
    status = {"status": "OK", "detaljer": None, "error": None, "simulering": False}
    event = status_event("dp-1", 5, status)
    assert list(event) == ["key", "timestamp", "status", "detaljer", "error", "simulering"]
    assert (
        orjson.dumps(event)
        == b'{"key":"dp-1","timestamp":5,"status":"OK","detaljer":null,"error":null,"simulering":false}'
    )


@pytest.mark.parametrize(
    ("header", "shown"),
    [
        (b"INVALID_JSON: INVALID_JSON: unexpected end", "INVALID_JSON: unexpected end"),
        (b"INVALID_JSON: something else", "INVALID_JSON: something else"),
        (b"no code at all", "no code at all"),
        (None, ""),
    ],
)
def test_a_dlq_record_shows_its_reason_with_a_repeated_code_once(header: bytes | None, shown: str) -> None:
    headers = () if header is None else (("error", header),)
    assert dlq_error(InRecord("helved.dlq.v1", "k", b"{}", headers)) == shown
