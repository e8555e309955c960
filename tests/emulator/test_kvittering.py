"""The kvittering: the Oppdrag echoed with a padded mmel first, valid against the XSD."""

from __future__ import annotations

from datetime import date

import pytest
from lxml import etree

from helved.emulator import OsEmulator

from .fixtures import NS, SCHEMA, local, mmel_raw, ny, oppdrag_xml

J = lambda d: date(2024, 6, d)  # noqa: E731


def children_c14n(root) -> list[bytes]:
    return [
        etree.tostring(c, method="c14n", with_tail=False) for c in root if isinstance(c.tag, str) and local(c) != "mmel"
    ]


@pytest.mark.parametrize("prefix", ["ns2", "foo", None])
@pytest.mark.parametrize("ok", [True, False])
def test_kvittering_is_the_oppdrag_with_mmel_first(prefix: str | None, ok: bool) -> None:
    emu = OsEmulator()
    lines = [ny("A1", J(3), J(14)), ny("A2", J(17), J(28), ref="A1" if ok else "NOPE")]
    xml = oppdrag_xml(lines, prefix=prefix, indent=True)
    (k,) = emu.handle(xml)
    root = etree.fromstring(k)
    assert SCHEMA.validate(root), SCHEMA.error_log
    assert etree.QName(root).namespace == NS and local(root) == "oppdrag"
    assert root.prefix == prefix  # the original prefix is kept
    first = root[0]
    assert local(first) == "mmel" and etree.QName(first).namespace is None
    # everything else is the original document, unchanged
    assert children_c14n(root) == children_c14n(etree.fromstring(xml))
    assert k.startswith(b"<?xml")
    m = mmel_raw(k)
    assert list(m) == [
        "systemId",
        "kodeMelding",
        "alvorlighetsgrad",
        "beskrMelding",
        "programId",
        "sectionNavn",
    ]
    assert m["alvorlighetsgrad"] == ("00" if ok else "08")


def test_mmel_fields_are_padded() -> None:
    emu = OsEmulator()
    (k,) = emu.handle(oppdrag_xml([ny("A1", J(3), J(14))]))
    m = mmel_raw(k)
    assert m["systemId"] == "231-OPUR  "
    assert len(m["kodeMelding"]) == 10 and m["kodeMelding"].endswith(" ")
    assert len(m["beskrMelding"]) == 70 and m["beskrMelding"].endswith(" ")
    assert len(m["programId"]) == 10 and m["programId"].endswith(" ")
    assert len(m["sectionNavn"]) == 30 and m["sectionNavn"].endswith(" ")
    assert m["alvorlighetsgrad"] == "00"  # an enumeration in the XSD: never padded
    # every padded field has something in it
    assert all(v.strip() for v in m.values())


def test_long_beskr_melding_is_not_cut() -> None:
    emu = OsEmulator()
    bad = oppdrag_xml([ny("A1", J(3), J(14))]).replace(b"<sats>100</sats>", b"<sats>x</sats>")
    (k,) = emu.handle(bad)
    m = mmel_raw(k)
    assert m["alvorlighetsgrad"] == "08" and len(m["beskrMelding"]) > 70
    assert m["beskrMelding"].strip().startswith("Skjemafeil:")


def test_an_mmel_already_in_the_input_is_replaced() -> None:
    emu = OsEmulator()
    xml = oppdrag_xml([ny("A1", J(3), J(14))])
    (k1,) = emu.handle(xml)
    # sending a kvittering back is the same content (mmel is not part of the hash)
    (k2,) = emu.handle(k1)
    assert k2 == k1
    assert len([c for c in etree.fromstring(k2) if local(c) == "mmel"]) == 1
