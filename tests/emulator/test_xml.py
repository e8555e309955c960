"""The emulator's own reading of Oppdrag XML: local names, trimmed texts, date part only."""

from __future__ import annotations

from datetime import date

from lxml import etree

from helved.emulator import content_hash, parse_oppdrag

from .fixtures import ny, oppdrag_xml, opph

J = lambda d: date(2024, 6, d)  # noqa: E731


def test_parse_reads_every_field_trimmed() -> None:
    xml = oppdrag_xml(
        [
            ny("A1", J(3), J(14), 100),
            opph("A1", J(3), J(14), 100, J(10)),
            ny("A2", J(17), J(21), 300, ref="A1"),
        ],
        kode_endring="ENDR",
        prefix=None,
        pad=True,
        indent=True,
    )
    # padding the schema cannot check (dates): the emulator still trims it
    xml = xml.replace(b"<datoVedtakFom>2024-06-17+02:00", b"<datoVedtakFom>\n  2024-06-17+02:00  ")
    o = parse_oppdrag(xml)
    assert (o.kode_endring, o.fagomraade, o.fagsystem_id, o.oppdrag_gjelder_id) == (
        "ENDR",
        "DP",
        "SAK-1",
        "12345678910",
    )
    a1, stop, a2 = o.linjer
    assert (a1.kode_endring_linje, a1.delytelse_id, a1.kode_klassifik, a1.type_sats) == (
        "NY",
        "A1",
        "DAGPENGER",
        "DAG",
    )
    assert (a1.dato_vedtak_fom, a1.dato_vedtak_tom, a1.sats) == (J(3), J(14), 100)
    assert (a1.henvisning, a1.utbetales_til_id, a1.ref_delytelse_id) == ("B-1", "12345678910", None)
    assert stop.is_opphor and stop.dato_status_fom == J(10) and stop.delytelse_id == "A1"
    assert not a1.is_opphor
    assert (a2.ref_delytelse_id, a2.ref_fagsystem_id, a2.dato_vedtak_fom) == ("A1", "SAK-1", J(17))


def test_dates_in_winter_carry_another_offset() -> None:
    xml = oppdrag_xml([ny("A1", date(2024, 1, 3), date(2024, 1, 4))])
    assert b"2024-01-03+01:00" in xml
    assert parse_oppdrag(xml).linjer[0].dato_vedtak_fom == date(2024, 1, 3)


def test_content_hash_ignores_form_and_mmel_but_not_values() -> None:
    lines = [ny("A1", J(3), J(14))]
    h = content_hash(etree.fromstring(oppdrag_xml(lines)))
    assert h == content_hash(etree.fromstring(oppdrag_xml(lines, prefix="x", pad=True, indent=True)))
    assert h == content_hash(etree.fromstring(oppdrag_xml(lines, prefix=None)))
    with_mmel = oppdrag_xml(lines).replace(
        b"<oppdrag-110>", b"<mmel><alvorlighetsgrad>00</alvorlighetsgrad></mmel><oppdrag-110>"
    )
    assert h == content_hash(etree.fromstring(with_mmel))
    assert h != content_hash(etree.fromstring(oppdrag_xml([ny("A1", J(3), J(13))])))
    assert h != content_hash(etree.fromstring(oppdrag_xml(lines, sak="SAK-2")))
    # an element moved into the namespace is different content
    assert h != content_hash(
        etree.fromstring(oppdrag_xml(lines, prefix=None).replace(b'<oppdrag-110 xmlns="">', b"<oppdrag-110>"))
    )
