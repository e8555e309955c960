"""The emulator survives every date OS's schema allows and every value its own reader meets:
a line ending 9999-12-31 (there is no day after it), a stop from 0001-01-01 (there is no day
before it), years Python cannot hold, and amounts it must not convert (`1E+999999999`)."""

from __future__ import annotations

import time
from datetime import date

import pytest

from helved.domain.sak import SimuleringOut, on_request
from helved.emulator import OsEmulator
from helved.emulator.gateway import EmulatedOs
from helved.emulator.ledger import LedgerLine
from helved.emulator.xml import Unparseable
from helved.fagsystemer.dagpenger import parse_request
from helved.oppdrag.simulering import simulering_xml
from helved.os.dryrun import answer_simulering
from helved.os.payments import payment_rows
from helved.records import OutRecord
from tests.builders import TOPICS, day, dp

from .fixtures import alvorlighetsgrad, ny, oppdrag_xml, opph

LAST = date(9999, 12, 31)  # a Friday
FIRST = date(1, 1, 1)


@pytest.mark.parametrize(
    ("type_sats", "fom", "days"),
    [("DAG", date(9999, 12, 27), 5), ("ENG", date(9999, 12, 31), 1), ("MND", date(9999, 11, 15), 2)],
)
def test_a_line_ending_on_the_last_day_of_the_calendar_is_booked_and_paid(type_sats, fom, days):
    emulator = OsEmulator()
    (kv,) = emulator.handle(oppdrag_xml([ny("L1", fom, LAST, 100, type_sats=type_sats)]))
    assert alvorlighetsgrad(kv) == "00"
    paid = emulator.paid("DP", "SAK-1")["DAGPENGER"]
    assert len(paid) == days and max(paid) <= LAST
    assert (
        emulator.simulate(oppdrag_xml([ny("L1", fom, LAST, 100, type_sats=type_sats)], "ENDR")).verdict.alvorlighetsgrad
        == "08"
    )


def test_a_chain_replaced_and_stopped_at_the_calendar_edges():
    emulator = OsEmulator()
    emulator.handle(oppdrag_xml([ny("L1", date(9999, 12, 20), LAST, 100)]))
    (kv,) = emulator.handle(oppdrag_xml([opph("L1", date(9999, 12, 20), LAST, 100, LAST)], "ENDR"))
    assert alvorlighetsgrad(kv) == "00"
    assert max(emulator.paid("DP", "SAK-1")["DAGPENGER"]) == date(9999, 12, 30)


def test_a_line_stopped_from_the_first_day_of_the_calendar_pays_nothing():
    line = LedgerLine("L1", "L1", "DAGPENGER", FIRST, date(1, 1, 31), 100, "DAG", stopped_from=FIRST)
    assert line.effective is None
    emulator = OsEmulator()
    emulator.handle(oppdrag_xml([ny("L1", FIRST, date(1, 1, 31), 100)]))
    (kv,) = emulator.handle(oppdrag_xml([opph("L1", FIRST, date(1, 1, 31), 100, FIRST)], "ENDR"))
    assert alvorlighetsgrad(kv) == "00"
    assert emulator.paid("DP", "SAK-1") == {}


def test_the_service_rebuilds_and_shows_a_sak_paid_to_the_last_day(tmp_path):
    service = EmulatedOs(tmp_path)
    service.hand_over(oppdrag_xml([ny("L1", date(9999, 12, 27), LAST, 100)]))
    service.close()
    again = EmulatedOs(tmp_path)  # a restart hands the journal over again
    (row,) = payment_rows(again.paid("DP", "SAK-1"))
    assert (row.fom, row.tom, row.days) == (date(9999, 12, 27), LAST, 5)
    again.close()


def test_a_dryrun_paying_the_last_day_of_the_calendar_is_simulated():
    req = parse_request(
        dp([day("mp", "9999-12-30", 100), day("mp", "9999-12-31", 100)], dryrun=True), original_key="sim"
    )
    _, out = on_request(None, req)
    (sim,) = [o for o in out if isinstance(o, SimuleringOut)]
    rec = OutRecord(TOPICS.simuleringer, "sim", simulering_xml(sim.oppdrag), (), 1755502200000)
    answer, status = answer_simulering(OsEmulator(), rec, TOPICS)
    assert b'"nyttBel\xc3\xb8p":200' in answer.value and b'"status":"OK"' in status.value


@pytest.mark.parametrize(
    "text", ["10000-01-01", "-0001-01-01", "0000-01-01"]
)  # xs:date allows them; Python's date does not
def test_a_year_python_cannot_hold_is_an_08_not_a_crash(text):
    doc = oppdrag_xml([ny("L1", date(2024, 6, 3), date(2024, 6, 7), 100)], validate=False)
    doc = doc.replace(
        b"<datoVedtakTom>2024-06-07+02:00</datoVedtakTom>", f"<datoVedtakTom>{text}</datoVedtakTom>".encode()
    )
    emulator = OsEmulator()
    (kv,) = emulator.handle(doc)
    assert alvorlighetsgrad(kv) == "08" and emulator.paid("DP", "SAK-1") == {}
    assert emulator.simulate(doc).verdict.alvorlighetsgrad == "08"


@pytest.mark.parametrize("sats", ["Infinity", "-INF", "NaN", "sNaN", "1E+5000", "1E+999999999", "9" * 5000])
def test_an_amount_the_emulator_must_not_convert_is_an_08_at_once(sats):
    doc = oppdrag_xml([ny("L1", date(2024, 6, 3), date(2024, 6, 7), 100)], validate=False)
    doc = doc.replace(b"<sats>100</sats>", f"<sats>{sats}</sats>".encode())
    started = time.monotonic()
    emulator = OsEmulator()
    (kv,) = emulator.handle(doc)
    assert alvorlighetsgrad(kv) == "08"
    assert emulator.simulate(doc).verdict.alvorlighetsgrad == "08"
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("sats", ["INF", "1E+999999999", "NaN"])  # valid xs:double in a simulation request
def test_a_simulation_request_with_such_an_amount_is_answered_feilet(sats):
    req = parse_request(dp([day("mp", "2025-08-04", 100)], dryrun=True), original_key="sim")
    _, out = on_request(None, req)
    (sim,) = [o for o in out if isinstance(o, SimuleringOut)]
    xml = simulering_xml(sim.oppdrag).replace(b"<sats>100</sats>", f"<sats>{sats}</sats>".encode())
    assert xml != simulering_xml(sim.oppdrag)
    rec = OutRecord(TOPICS.simuleringer, "sim", xml, (), 1755502200000)
    started = time.monotonic()
    (status,) = answer_simulering(OsEmulator(), rec, TOPICS)
    assert b'"status":"FEILET"' in status.value and time.monotonic() - started < 2.0


def test_a_simulation_request_that_is_not_xml_is_answered_feilet():
    (status,) = answer_simulering(OsEmulator(), OutRecord(TOPICS.simuleringer, "sim", b"<nope", (), None), TOPICS)
    assert b'"status":"FEILET"' in status.value and b'"statusCode":500' in status.value


def test_a_doctype_with_an_unexpanded_entity_is_answered_not_a_crash():
    """libxml2's schema validator gives up on an entity reference the parser did not expand
    (found by tests/fuzz: the bridge would have died on it at every start), and an echo of it
    without its DOCTYPE is no XML: a document with a DOCTYPE is not read at all (12)."""
    doc = oppdrag_xml([ny("L1", date(2024, 6, 3), date(2024, 6, 7), 100)])
    head, body = doc.split(b"?>", 1)
    doc = (
        head
        + b'?><!DOCTYPE ns2:oppdrag [<!ENTITY e "x">]>'
        + body.replace(b"<delytelseId>L1", b"<delytelseId>&e;L1", 1)
    )
    emulator = OsEmulator()
    (kv,) = emulator.handle(doc)
    assert alvorlighetsgrad(kv) == "12" and emulator.paid("DP", "SAK-1") == {}
    with pytest.raises(Unparseable):
        emulator.simulate(doc)


def test_the_schema_validators_internal_error_is_a_schema_error():
    from lxml import etree

    from helved.emulator.xml import default_schema, schema_errors

    parser = etree.XMLParser(resolve_entities=False)
    doc = (
        b'<!DOCTYPE oppdrag [<!ENTITY e "x">]><oppdrag xmlns="http://www.trygdeetaten.no/skjema/oppdrag">'
        b'<oppdrag-110 xmlns=""><kodeAksjon>&e;</kodeAksjon></oppdrag-110></oppdrag>'
    )
    root = etree.fromstring(doc, parser)
    with pytest.raises(etree.XMLSchemaValidateError):  # what lxml does with it
        default_schema().validate(root)
    assert schema_errors(root, default_schema()) is not None
