"""Spec §7: a receipt is read strictly. A field that is not a well-formed value makes the record
not a receipt (`ReceiptRejected`, to the DLQ); it never raises anything else and never computes
for long. OS's padding and namespace prefixes are still read."""

from __future__ import annotations

import re
import time

import pytest

from helved.domain.sak import OppdragOut, on_receipt, on_request
from helved.emulator import OsEmulator
from helved.emulator.xml import with_prefix
from helved.errors import ReceiptRejected
from helved.fagsystemer.dagpenger import parse_request
from helved.oppdrag.xml import echo_kvittering, oppdrag_xml, parse_kvittering, receipt_amount, receipt_date
from tests.builders import days, dp

MP1 = days("mp1", "2025-08-04", "2025-08-08", 1000)


def _oppdrag(out):
    (o,) = [x for x in out if isinstance(x, OppdragOut)]
    return o.oppdrag


@pytest.fixture(scope="module")
def sent():
    """Two Oppdrag of one sak: a NY line, then an opphør line and a chained NY line."""
    state, out = on_request(None, parse_request(dp(MP1), original_key="k1"))
    first = _oppdrag(out)
    kv = parse_kvittering(echo_kvittering(oppdrag_xml(first), "00"))
    state, _ = on_receipt(state, kv)
    shorter = days("mp1", "2025-08-04", "2025-08-05", 1000) + days("mp1", "2025-08-07", "2025-08-08", 700)
    _, out = on_request(state, parse_request(dp(shorter, behandling="B-2"), original_key="k2"))
    return first, _oppdrag(out)


@pytest.fixture(scope="module")
def receipt(sent) -> bytes:
    """OS's receipt of the second Oppdrag: opphør, ref, vedtakssats, all of it."""
    return echo_kvittering(oppdrag_xml(sent[1]), "00")


def rejected(data: bytes) -> ReceiptRejected:
    started = time.monotonic()
    with pytest.raises(ReceiptRejected) as exc:
        parse_kvittering(data)
    assert time.monotonic() - started < 1.0, "the reader must never compute for long"
    return exc.value


def sub_first(data: bytes, pattern: bytes, repl: bytes) -> bytes:
    new, n = re.subn(pattern, repl, data, count=1)
    assert n == 1, pattern
    return new


# -- what a receipt is ------------------------------------------------------------------------


def test_a_real_receipt_echoes_its_oppdrag(sent, receipt):
    kv = parse_kvittering(receipt)
    o = sent[1]
    assert kv.linjer == o.line_fingerprints and kv.delytelse_ids == o.delytelse_ids
    assert kv.nokkel_avstemming == o.nokkel_avstemming and kv.alvorlighetsgrad == "00"
    assert b"<kodeStatusLinje>OPPH</kodeStatusLinje>" in receipt and b"<refDelytelseId>" in receipt


@pytest.mark.parametrize("prefix", ["ns2", "os", "oppdrag", ""])
def test_the_emulators_padded_receipt_under_any_prefix_is_read_alike(sent, prefix):
    emulator = OsEmulator()
    first, second = (oppdrag_xml(o) for o in sent)
    emulator.handle(first)
    (kv,) = emulator.handle(second)
    assert b"231-OPUR  " in kv  # OS's padding
    read = parse_kvittering(with_prefix(kv, prefix))
    assert read.linjer == sent[1].line_fingerprints and read.alvorlighetsgrad == "00"
    assert read.kode_melding == "B110000I"  # trimmed


def test_space_padding_and_whole_decimal_amounts_are_read_as_os_writes_them(sent, receipt):
    padded = sub_first(receipt, rb"<sats>(\d+)</sats>", rb"<sats>  \1.00  </sats>")
    padded = sub_first(padded, rb"<datoVedtakTom>([^<]+)</datoVedtakTom>", rb"<datoVedtakTom> \1 </datoVedtakTom>")
    assert parse_kvittering(padded).linjer == sent[1].line_fingerprints


def test_elements_helved_does_not_read_may_be_added(sent, receipt):
    added = receipt.replace(b"<fradragTillegg>", b"<nyttFelt>x</nyttFelt><fradragTillegg>", 1)
    added = added.replace(b"<avstemming-115>", b"<tekst-140><tekst>hei</tekst></tekst-140><avstemming-115>", 1)
    assert parse_kvittering(added).linjer == sent[1].line_fingerprints


# -- not a receipt: malformed values ----------------------------------------------------------

POISON_AMOUNTS = [
    "Infinity", "-Infinity", "inf", "NaN", "sNaN", "-sNaN", "1E+5000", "1E+999999999", "1e3", "0x10",
    "1" * 14, "9" * 5000, "1,5", "1 000", "10.001", "", "+", "-", ".", "\u0661\u0660\u0660\u0660", "1_000",
]  # fmt: skip


@pytest.mark.parametrize("value", POISON_AMOUNTS)
def test_an_amount_that_is_not_well_formed_is_not_a_receipt(receipt, value):
    poisoned = sub_first(receipt, rb"<sats>\d+</sats>", f"<sats>{value}</sats>".encode())
    err = rejected(poisoned)
    assert err.reason == "NOT_A_RECEIPT"
    assert "sats" in err.detail and (len(value) < 6 or value not in err.detail)  # the field, not the value


@pytest.mark.parametrize("value", ["Infinity", "1E+999999999", "sNaN"])
def test_a_poisoned_vedtakssats_is_ignored_as_helved_does_not_read_it(sent, receipt, value):
    """vedtakssats is not part of the match: its text is never converted."""
    poisoned = sub_first(receipt, rb"<vedtakssats>\d+</vedtakssats>", f"<vedtakssats>{value}</vedtakssats>".encode())
    assert parse_kvittering(poisoned).linjer == sent[1].line_fingerprints


POISON_DATES = [
    "2025-02-30", "2025-13-01", "0000-01-01", "0001-01-01", "1899-12-31", "10000-01-01", "-2025-08-04",
    "2025-W32-1", "2025-216", "20250804", "2025-08-04T00:00:00", "2025-08-04+99:00", "2025-8-4",
    "\uff12\uff10\uff12\uff15-08-04", "9" * 5000,
]  # fmt: skip


@pytest.mark.parametrize("field", ["datoVedtakFom", "datoVedtakTom", "datoStatusFom"])
@pytest.mark.parametrize("value", POISON_DATES)
def test_a_date_that_is_not_well_formed_is_not_a_receipt(receipt, field, value):
    poisoned = sub_first(receipt, f"<{field}>[^<]*</{field}>".encode(), f"<{field}>{value}</{field}>".encode())
    assert rejected(poisoned).reason == "NOT_A_RECEIPT"


@pytest.mark.parametrize(
    "value", ["2025-08-18-09.30.00", "0001-01-01-00.00.00.000000", "2025-02-30-09.30.00.000000", "x", "1E+999999999"]
)
def test_a_malformed_avstemming_key_is_not_a_receipt(receipt, value):
    poisoned = sub_first(
        receipt,
        rb"<nokkelAvstemming>[^<]*</nokkelAvstemming>",
        f"<nokkelAvstemming>{value}</nokkelAvstemming>".encode(),
    )
    assert rejected(poisoned).reason == "NOT_A_RECEIPT"


@pytest.mark.parametrize(
    ("pattern", "repl"),
    [
        (rb"<avstemming-115>.*</avstemming-115>", b""),  # spec 7: no avstemming, not a receipt
        (rb"<nokkelAvstemming>[^<]*</nokkelAvstemming>", b""),
        (rb"<nokkelAvstemming>[^<]*</nokkelAvstemming>", b"<nokkelAvstemming>   </nokkelAvstemming>"),
        (rb"<oppdrag-110>.*</oppdrag-110>", b""),
        (rb"<kodeFagomraade>[^<]*</kodeFagomraade>", b""),
        (rb"<fagsystemId>[^<]*</fagsystemId>", b""),
        (rb"<delytelseId>[^<]*</delytelseId>", b""),
        (rb"<henvisning>[^<]*</henvisning>", b""),
        (rb"<sats>[^<]*</sats>", b""),
        (rb"<datoVedtakFom>[^<]*</datoVedtakFom>", b""),
        (rb"<datoStatusFom>[^<]*</datoStatusFom>", b""),  # OPPH without its date
        (rb"<kodeStatusLinje>OPPH</kodeStatusLinje>", b"<kodeStatusLinje>HVIL</kodeStatusLinje>"),
        (rb"<delytelseId>[^<]*</delytelseId>", b"<delytelseId>" + b"A" * 31 + b"</delytelseId>"),
        (rb"<fagsystemId>[^<]*</fagsystemId>", b"<fagsystemId>" + b"S" * 31 + b"</fagsystemId>"),
    ],
)
def test_a_missing_or_impossible_field_is_not_a_receipt(receipt, pattern, repl):
    assert rejected(sub_first(receipt, pattern, repl)).reason == "NOT_A_RECEIPT"


@pytest.mark.parametrize(
    "element",
    [rb"<sats>[^<]*</sats>", rb"<delytelseId>[^<]*</delytelseId>", rb"<nokkelAvstemming>[^<]*</nokkelAvstemming>",
     rb"<fagsystemId>[^<]*</fagsystemId>", rb"<alvorlighetsgrad>[^<]*</alvorlighetsgrad>", rb"<mmel>.*</mmel>",
     rb"<avstemming-115>.*</avstemming-115>", rb"<oppdrags-linje-150>.*?</oppdrags-linje-150>"],
)  # fmt: skip
def test_a_duplicated_element_is_not_a_receipt(receipt, element):
    """Which of two values would count? Neither: a repeated line would match a set of lines too."""
    m = re.search(element, receipt, flags=re.S)
    assert m is not None
    doubled = receipt[: m.end()] + m.group() + receipt[m.end() :]
    assert rejected(doubled).reason == "NOT_A_RECEIPT"


def test_an_entity_reference_in_a_field_is_not_a_receipt(receipt):
    """Not expanded (resolve_entities=False): the field's text would be cut at the reference."""
    head, body = receipt.split(b"?>", 1)
    doc = head + b'?><!DOCTYPE oppdrag [<!ENTITY z "0">]>' + body
    assert rejected(sub_first(doc, rb"<sats>(\d+)</sats>", rb"<sats>\1&z;</sats>")).reason == "NOT_A_RECEIPT"
    assert rejected(doc).reason == "NOT_A_RECEIPT"  # a DOCTYPE at all


def test_billion_laughs_is_neither_expanded_nor_slow(receipt):
    head, body = receipt.split(b"?>", 1)
    lol = b"".join(b'<!ENTITY l%d "%s">' % (i, (b"&l%d;" % (i - 1)) * 10 if i else b"lol") for i in range(10))
    doc = head + b"?><!DOCTYPE oppdrag [" + lol + b"]>" + body.replace(b"<fagsystemId>", b"<fagsystemId>&l9;", 1)
    rejected(doc)


def test_a_comment_or_element_inside_a_field_is_not_a_receipt(receipt):
    assert (
        rejected(sub_first(receipt, rb"<sats>(\d)(\d+)</sats>", rb"<sats>\1<!-- -->\2</sats>")).reason
        == "NOT_A_RECEIPT"
    )
    assert rejected(sub_first(receipt, rb"<sats>(\d+)</sats>", rb"<sats>\1<b>0</b></sats>")).reason == "NOT_A_RECEIPT"


@pytest.mark.parametrize("data", [b"", b"<", b"\xff\xfe", b"<oppdrag>", b"<?xml version='1.0' encoding='x-nope'?><a/>"])
def test_bytes_that_are_not_xml_are_invalid_xml(data):
    assert rejected(data).reason == "INVALID_XML"


def test_another_root_is_not_a_receipt():
    assert rejected(b"<mmel><alvorlighetsgrad>00</alvorlighetsgrad></mmel>").reason == "NOT_A_RECEIPT"


# -- the value readers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [("1000", "1000"), ("1000.00", "1000"), ("0001000", "1000"), ("+7", "7"), ("-0", "0"), ("-12", "-12"),
     ("1000.50", "1000.5"), ("0.05", "0.05"), ("9999999999999", "9999999999999"), ("1000.", "1000")],
)  # fmt: skip
def test_amounts_read_as_integer_text_when_whole(text, want):
    assert receipt_amount(text) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [("2025-08-04", "2025-08-04"), ("2025-08-04+02:00", "2025-08-04"), ("2025-10-27-01:00", "2025-10-27"),
     ("2025-08-04Z", "2025-08-04"), ("1900-01-01", "1900-01-01"), ("9999-12-31+01:00", "9999-12-31")],
)  # fmt: skip
def test_dates_read_with_or_without_a_time_zone(text, want):
    assert receipt_date(text) == want
