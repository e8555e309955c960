"""The emulator's booking rules: every 08, 12, atomicity and idempotence."""

from __future__ import annotations

from datetime import date

import pytest

from helved.emulator import OsEmulator

from .fixtures import alvorlighetsgrad, beskr, expected_paid, ny, oppdrag_xml, opph

J = lambda d: date(2024, 6, d)  # noqa: E731


def one(emu: OsEmulator, xml: bytes) -> bytes:
    out = emu.handle(xml)
    assert len(out) == 1
    return out[0]


@pytest.fixture
def emu() -> OsEmulator:
    e = OsEmulator()
    first = one(e, oppdrag_xml([ny("A1", J(3), J(14)), ny("A2", J(17), J(28), 200, ref="A1")]))
    assert alvorlighetsgrad(first) == "00"
    return e


def test_accepted_sak_pays(emu: OsEmulator) -> None:
    want = expected_paid([(J(3), J(14), 100), (J(17), J(28), 200)])
    assert emu.paid("DP", "SAK-1") == {"DAGPENGER": want}
    assert emu.paid("DP", "SAK-2") == {}
    assert emu.paid("AAP", "SAK-1") == {}


def test_ny_on_known_sak(emu: OsEmulator) -> None:
    k = one(emu, oppdrag_xml([ny("A3", J(3), J(4))], kode_endring="NY"))
    assert (alvorlighetsgrad(k), beskr(k)) == ("08", "Oppdraget finnes fra før")


def test_endr_on_unknown_sak(emu: OsEmulator) -> None:
    k = one(emu, oppdrag_xml([ny("X1", J(3), J(4))], kode_endring="ENDR", sak="SAK-2"))
    assert (alvorlighetsgrad(k), beskr(k)) == ("08", "OPPDRAGET/FAGSYSTEM-ID finnes ikke fra før")
    # the same sakId under another fagområde is another sak
    k = one(emu, oppdrag_xml([ny("X1", J(3), J(4))], kode_endring="ENDR", fagomraade="AAP"))
    assert alvorlighetsgrad(k) == "08"


def test_duplicate_delytelse_id_across_oppdrag(emu: OsEmulator) -> None:
    k = one(emu, oppdrag_xml([ny("A1", J(3), J(4))], kode_endring="ENDR"))
    assert (alvorlighetsgrad(k), beskr(k)) == ("08", "DELYTELSE-ID finnes i oppdragsbasen fra før")


def test_duplicate_delytelse_id_within_one_oppdrag() -> None:
    e = OsEmulator()
    k = one(e, oppdrag_xml([ny("A1", J(3), J(4)), ny("A1", J(5), J(6))]))
    assert (alvorlighetsgrad(k), beskr(k)) == ("08", "DELYTELSE-ID finnes i oppdragsbasen fra før")
    assert e.paid("DP", "SAK-1") == {}


def test_ref_to_missing_line(emu: OsEmulator) -> None:
    k = one(emu, oppdrag_xml([ny("A3", J(3), J(4), ref="NOPE")], kode_endring="ENDR"))
    assert (alvorlighetsgrad(k), beskr(k)) == ("08", "Referert vedtak/linje ikke funnet")


def test_ref_to_line_of_another_sak(emu: OsEmulator) -> None:
    assert alvorlighetsgrad(one(emu, oppdrag_xml([ny("B1", J(3), J(4))], sak="SAK-2"))) == "00"
    k = one(emu, oppdrag_xml([ny("A3", J(3), J(4), ref="B1")], kode_endring="ENDR"))
    assert beskr(k) == "Referert vedtak/linje ikke funnet"


def test_opphor_on_unknown_line(emu: OsEmulator) -> None:
    k = one(emu, oppdrag_xml([opph("NOPE", J(3), J(14), 100, J(3))], kode_endring="ENDR"))
    assert alvorlighetsgrad(k) == "08"
    assert "DELYTELSE-ID" in beskr(k)


def test_unsupported_line_change_is_rejected(emu: OsEmulator) -> None:
    # ENDR without a status, and a NY line carrying a status: OS semantics the emulator won't guess
    k = one(
        emu,
        oppdrag_xml([ny("A1", J(3), J(14), kode_endring_linje="ENDR")], kode_endring="ENDR"),
    )
    assert alvorlighetsgrad(k) == "08"
    k = one(emu, oppdrag_xml([ny("A9", J(3), J(14), status="OPPH")], kode_endring="ENDR"))
    assert alvorlighetsgrad(k) == "08"


def test_schema_invalid_is_08_with_the_validation_text(emu: OsEmulator) -> None:
    before = emu.ledger
    bad = oppdrag_xml([ny("A3", J(3), J(4))], kode_endring="ENDR").replace(b"<sats>100</sats>", b"<sats>hundre</sats>")
    k = one(emu, bad)
    assert alvorlighetsgrad(k) == "08"
    assert beskr(k).startswith("Skjemafeil:")
    assert "sats" in beskr(k) and "hundre" in beskr(k)
    assert emu.ledger is before


def test_schema_invalid_too_long_fagsystem_id() -> None:
    e = OsEmulator()
    bad = oppdrag_xml([ny("A1", J(3), J(4))], sak="S" * 31, validate=False)
    k = one(e, bad)
    assert alvorlighetsgrad(k) == "08" and "fagsystemId" in beskr(k)
    assert e.ledger.saker == {}


@pytest.mark.parametrize("junk", [b"", b"not xml", b"<ns2:oppdrag xmlns:ns2='x'><oppdrag-110>", b"\xff\xfe\x00<"])
def test_unparseable_is_12(junk: bytes) -> None:
    from lxml import etree

    from .fixtures import SCHEMA

    e = OsEmulator()
    k = one(e, junk)
    assert alvorlighetsgrad(k) == "12"
    assert SCHEMA.validate(etree.fromstring(k))
    assert e.ledger.saker == {}


# ---- atomicity -------------------------------------------------------------------------------


def test_bad_second_line_leaves_first_unbooked_on_new_sak() -> None:
    e = OsEmulator()
    k = one(e, oppdrag_xml([ny("A1", J(3), J(14)), ny("A2", J(17), J(28), ref="NOPE")]))
    assert alvorlighetsgrad(k) == "08"
    assert e.paid("DP", "SAK-1") == {} and e.lines("DP", "SAK-1") == ()
    # the sak did not come into being either
    k = one(e, oppdrag_xml([ny("A1", J(3), J(14))], kode_endring="ENDR"))
    assert beskr(k) == "OPPDRAGET/FAGSYSTEM-ID finnes ikke fra før"
    # and the first line's delytelseId is still free
    assert alvorlighetsgrad(one(e, oppdrag_xml([ny("A1", J(3), J(14))]))) == "00"


def test_bad_second_line_leaves_first_unbooked_on_known_sak(emu: OsEmulator) -> None:
    paid_before, lines_before, ledger_before = (
        emu.paid("DP", "SAK-1"),
        emu.lines("DP", "SAK-1"),
        emu.ledger,
    )
    k = one(
        emu,
        oppdrag_xml([opph("A2", J(17), J(28), 200, J(3)), ny("A1", J(3), J(4))], kode_endring="ENDR"),
    )
    assert beskr(k) == "DELYTELSE-ID finnes i oppdragsbasen fra før"
    assert emu.ledger is ledger_before
    assert emu.paid("DP", "SAK-1") == paid_before
    assert emu.lines("DP", "SAK-1") == lines_before


def test_lines_are_applied_in_document_order() -> None:
    # A NY line may refer to a line earlier in the same Oppdrag, not to a later one.
    e = OsEmulator()
    ok = oppdrag_xml([ny("A1", J(3), J(7)), ny("A2", J(10), J(14), ref="A1")])
    assert alvorlighetsgrad(one(e, ok)) == "00"
    e = OsEmulator()
    bad = oppdrag_xml([ny("A2", J(10), J(14), ref="A1"), ny("A1", J(3), J(7))])
    assert beskr(one(e, bad)) == "Referert vedtak/linje ikke funnet"


# ---- idempotence -----------------------------------------------------------------------------


def test_identical_resend_gets_identical_kvittering_and_changes_nothing(emu: OsEmulator) -> None:
    xml = oppdrag_xml([ny("A3", J(29), J(30), 300, ref="A2")], kode_endring="ENDR")
    first = one(emu, xml)
    assert alvorlighetsgrad(first) == "00"
    ledger = emu.ledger
    paid = emu.paid("DP", "SAK-1")
    again = emu.respond(xml)
    assert again.kvitteringer == (first,) and again.replay
    assert emu.ledger is ledger and emu.paid("DP", "SAK-1") == paid


def test_same_content_differently_written_is_the_same_oppdrag(emu: OsEmulator) -> None:
    lines = [ny("A3", J(29), J(30), 300, ref="A2")]
    first = one(emu, oppdrag_xml(lines, kode_endring="ENDR"))
    ledger = emu.ledger
    for variant in (
        oppdrag_xml(lines, kode_endring="ENDR", prefix="os"),
        oppdrag_xml(lines, kode_endring="ENDR", prefix=None),
        oppdrag_xml(lines, kode_endring="ENDR", pad=True, indent=True),
    ):
        assert one(emu, variant) == first
    assert emu.ledger is ledger


def test_changed_content_is_a_new_oppdrag(emu: OsEmulator) -> None:
    lines = [ny("A3", J(29), J(30), 300, ref="A2")]
    assert alvorlighetsgrad(one(emu, oppdrag_xml(lines, kode_endring="ENDR"))) == "00"
    other = oppdrag_xml(lines, kode_endring="ENDR", nokkel="2024-06-02-10.00.00.000000")
    r = emu.respond(other)
    assert not r.replay
    assert beskr(r.kvitteringer[0]) == "DELYTELSE-ID finnes i oppdragsbasen fra før"


def test_resent_rejection_gets_the_same_rejection(emu: OsEmulator) -> None:
    xml = oppdrag_xml([ny("A3", J(3), J(4), ref="LATER")], kode_endring="ENDR")
    first = one(emu, xml)
    assert alvorlighetsgrad(first) == "08"
    assert one(emu, xml) == first


def test_padded_values_and_offsets_are_trimmed() -> None:
    e = OsEmulator()
    xml = oppdrag_xml([ny("A1", J(3), J(7), 100), ny("A2", J(10), J(14), 200, ref="A1")], pad=True)
    assert b"2024-06-03+02:00" in xml and b"A1   </delytelseId>" in xml and b"<sats>  100 </sats>" in xml
    assert alvorlighetsgrad(one(e, xml)) == "00"
    want = expected_paid([(J(3), J(7), 100), (J(10), J(14), 200)])
    assert e.paid("DP", "SAK-1") == {"DAGPENGER": want}
    l1, l2 = e.lines("DP", "SAK-1")
    assert (l1.delytelse_id, l2.ref_delytelse_id, l2.henvisning) == ("A1", "A1", "B-1")
    # the padded sak is the same sak as the unpadded one
    k = one(e, oppdrag_xml([ny("A3", J(17), J(21), ref="A2")], kode_endring="ENDR"))
    assert alvorlighetsgrad(k) == "00"
