"""The avstemming XML: OS's schema, schema order, no empty element (spec `avstemming.md` §4)."""

from __future__ import annotations

from datetime import date

from lxml import etree

from helved.domain.avstemming import Aksjon, Identitet, SendtOppdrag, Svar, avstem
from helved.oppdrag.avstemming import NS, avstemming_xml, read_avstemming
from helved.oppdrag.schema import avstemming_schema, schema_errors

FOM, TOM = date(2025, 3, 14), date(2025, 3, 16)


def _records(n_bad: int) -> list[SendtOppdrag | Svar]:
    out: list[SendtOppdrag | Svar] = []
    for i in range(n_bad + 3):
        key = f"2025-03-15-10.{i // 60 % 60:02d}.{i % 60:02d}.000000"
        ident = Identitet("DP", f"SAK-{i}", key)
        out.append(SendtOppdrag(ident, key, "12345678910", 100 * (i + 1)))
        if i < 3:
            out.append(Svar(ident, "00"))
        elif i % 3 == 0:
            out.append(Svar(ident, "04", "B110008F", "Oppdraget er godkjent med varsel & <merknad>"))
        elif i % 3 == 1:
            out.append(Svar(ident, "08", None, "Avvist"))
    return out


def _xml(n_bad: int) -> list[bytes]:
    (a,) = avstem(_records(n_bad), FOM, TOM).avstemminger
    return [avstemming_xml(m) for m in a.meldinger]


def test_every_message_is_valid_against_os_schema() -> None:
    for n in (0, 1, 70, 71, 200):
        for xml in _xml(n):
            assert schema_errors(avstemming_schema(), xml) == [], xml[:300]


def test_root_in_the_namespace_children_unqualified_utf8_with_declaration() -> None:
    for xml in _xml(71):
        assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
        root = etree.fromstring(xml)
        assert root.tag == f"{{{NS}}}avstemmingsdata"
        for el in root.iter():
            if el is not root:
                assert "}" not in el.tag, el.tag
            assert len(el) or (el.text or "").strip(), f"empty element {el.tag}"


def test_start_and_avsl_hold_only_aksjon_and_the_first_data_holds_the_sums() -> None:
    xmls = _xml(71)
    assert len(xmls) == 4
    start, data1, data2, avsl = (etree.fromstring(x) for x in xmls)
    assert [c.tag for c in start] == ["aksjon"] and [c.tag for c in avsl] == ["aksjon"]
    assert [c.tag for c in data1][:4] == ["aksjon", "total", "periode", "grunnlag"]
    assert [c.tag for c in data2][:2] == ["aksjon", "detalj"]
    aksjon = [c.tag for c in start.find("aksjon")]  # type: ignore[union-attr]
    assert aksjon == [
        "aksjonType",
        "kildeType",
        "avstemmingType",
        "avleverendeKomponentKode",
        "mottakendeKomponentKode",
        "underkomponentKode",
        "nokkelFom",
        "nokkelTom",
        "avleverendeAvstemmingId",
        "brukerId",
    ]
    assert start.findtext("aksjon/nokkelFom") == "2025-03-14-00.00.00.000000"
    assert start.findtext("aksjon/nokkelTom") == "2025-03-16-23.59.59.999999"
    assert data1.findtext("periode/datoAvstemtFom") == "2025031400"
    assert data1.findtext("periode/datoAvstemtTom") == "2025031623"
    assert [start.findtext("aksjon/aksjonType"), avsl.findtext("aksjon/aksjonType")] == ["START", "AVSL"]
    grunnlag = data1.find("grunnlag")
    assert [c.tag for c in grunnlag] == [  # type: ignore[union-attr]
        f"{k}{f}" for k in ("godkjent", "varsel", "avvist", "mangler") for f in ("Antall", "Belop", "Fortegn")
    ]
    total = sum(100 * (i + 1) for i in range(74))
    assert (
        data1.findtext("total/totalAntall"),
        data1.findtext("total/totalBelop"),
        data1.findtext("total/fortegn"),
    ) == ("74", str(total), "T")


def test_detail_fields_in_schema_order_blank_ones_left_out() -> None:
    data1 = etree.fromstring(_xml(3)[1])
    details = data1.findall("detalj")
    assert [d.findtext("detaljType") for d in details] == ["VARS", "AVVI", "MANG"]
    assert [c.tag for c in details[0]] == [
        "detaljType",
        "offnr",
        "avleverendeTransaksjonNokkel",
        "meldingKode",
        "alvorlighetsgrad",
        "tekstMelding",
        "tidspunkt",
    ]
    assert [c.tag for c in details[1]] == [
        "detaljType",
        "offnr",
        "avleverendeTransaksjonNokkel",
        "alvorlighetsgrad",
        "tekstMelding",
        "tidspunkt",
    ]
    assert [c.tag for c in details[2]] == ["detaljType", "offnr", "avleverendeTransaksjonNokkel", "tidspunkt"]
    assert details[0].findtext("tekstMelding") == "Oppdraget er godkjent med varsel & <merknad>"


def test_one_data_without_details_when_all_are_godkjent() -> None:
    xmls = _xml(0)
    assert len(xmls) == 3
    data = etree.fromstring(xmls[1])
    assert data.find("detalj") is None and data.findtext("grunnlag/godkjentAntall") == "3"


def test_read_back_for_the_os_side() -> None:
    start, data, avsl = (read_avstemming(x) for x in _xml(1))
    assert (start["aksjon"], data["aksjon"], avsl["aksjon"]) == ("START", "DATA", "AVSL")
    assert start["id"] == data["id"] == avsl["id"] and data["fagområde"] == "DP"
    assert data["grunnlag"] == {"godkjent": (3, 600), "varsel": (1, 400), "avvist": (0, 0), "mangler": (0, 0)}
    assert data["detaljer"] == [("VARS", "SAK-3")]
    assert Aksjon.DATA.value == "DATA"


def test_the_xsd_ships_with_the_package() -> None:
    from helved.oppdrag.schema import AVSTEMMING_XSD

    assert AVSTEMMING_XSD.is_file() and AVSTEMMING_XSD.parent.name == "avstemming"
