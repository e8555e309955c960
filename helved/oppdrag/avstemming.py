"""Avstemming XML (spec `avstemming.md` §4) from domain values, and the records it reads.

No I/O. `avstemming_xml` writes one `avstemmingsdata` (namespace `NS`, children unqualified,
UTF-8 with declaration, no empty element, amounts as plain integers), valid against OS's
`meldinger.xsd` (`helved/oppdrag/xsd/avstemming/`). `read_oppdrag` and `read_svar` turn an
Oppdrag or a receipt into what avstemming needs of it, by local names, every text trimmed.
"""

from __future__ import annotations

import re

from lxml import etree

from helved.domain.avstemming import (
    AVSTEMMING_TYPE,
    KILDE_TYPE,
    MOTTAKENDE_KOMPONENT,
    RECEIPT_CODES,
    Aksjon,
    Grunnlag,
    Identitet,
    Melding,
    SendtOppdrag,
    Sum,
    Svar,
    is_nokkel,
)
from helved.errors import HelvedError

NS = "http://nav.no/virksomhet/tjenester/avstemming/meldinger/v1"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True, huge_tree=False)


class AvstemmingInputError(HelvedError, ValueError):
    """An Oppdrag or receipt that avstemming cannot place (a key in another format, a field
    missing). The message names fields and values, never a person."""


# ---------------------------------------------------------------------------------------------
# Writing


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def _opt(parent: etree._Element, tag: str, text: str | None) -> None:
    """A field left out when blank (no empty element)."""
    if text is not None and text.strip():
        _sub(parent, tag, text)


def _sum(parent: etree._Element, prefix: str, s: Sum, fortegn_tag: str | None = None) -> None:
    _sub(parent, f"{prefix}Antall", str(s.antall))
    _sub(parent, f"{prefix}Belop", str(s.beløp))
    _sub(parent, fortegn_tag or f"{prefix}Fortegn", s.fortegn)


def _grunnlag(parent: etree._Element, g: Grunnlag) -> None:
    el = _sub(parent, "grunnlag")
    for kategori, s in g.items():
        _sum(el, kategori.value, s)


def build_avstemming(m: Melding) -> etree._Element:
    """The `avstemmingsdata` element, children in schema order."""
    root = etree.Element(etree.QName(NS, "avstemmingsdata"), nsmap={"ns2": NS})
    aksjon = _sub(root, "aksjon")
    _sub(aksjon, "aksjonType", m.aksjon.value)
    _sub(aksjon, "kildeType", KILDE_TYPE)
    _sub(aksjon, "avstemmingType", AVSTEMMING_TYPE)
    _sub(aksjon, "avleverendeKomponentKode", m.fagområde)
    _sub(aksjon, "mottakendeKomponentKode", MOTTAKENDE_KOMPONENT)
    _sub(aksjon, "underkomponentKode", m.fagområde)
    _sub(aksjon, "nokkelFom", m.nokkel_fom)
    _sub(aksjon, "nokkelTom", m.nokkel_tom)
    _sub(aksjon, "avleverendeAvstemmingId", m.avstemming_id)
    _sub(aksjon, "brukerId", m.fagområde)
    if m.aksjon is Aksjon.DATA:
        if m.grunnlag is not None:
            total = _sub(root, "total")
            _sum(total, "total", m.grunnlag.total, "fortegn")
            periode = _sub(root, "periode")
            _sub(periode, "datoAvstemtFom", m.dato_avstemt_fom)
            _sub(periode, "datoAvstemtTom", m.dato_avstemt_tom)
            _grunnlag(root, m.grunnlag)
        for d in m.detaljer:
            el = _sub(root, "detalj")
            _sub(el, "detaljType", d.detalj_type.value)
            _sub(el, "offnr", d.offnr)
            _sub(el, "avleverendeTransaksjonNokkel", d.transaksjon_nokkel)
            _opt(el, "meldingKode", d.melding_kode)
            _opt(el, "alvorlighetsgrad", d.alvorlighetsgrad)
            _opt(el, "tekstMelding", d.tekst_melding)
            _sub(el, "tidspunkt", d.tidspunkt)
    return root


def avstemming_xml(m: Melding) -> bytes:
    """One message as UTF-8 XML with declaration; every byte a function of `m`."""
    return etree.tostring(build_avstemming(m), xml_declaration=True, encoding="UTF-8")


# ---------------------------------------------------------------------------------------------
# Reading Oppdrag and receipts

_SATS = re.compile(r"([+-]?)([0-9]{1,15})(?:\.0*)?", re.ASCII)


def _local(el: etree._Element) -> str:
    tag = el.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _child(parent: etree._Element | None, name: str) -> etree._Element | None:
    if parent is None:
        return None
    for el in parent:
        if _local(el) == name:
            return el
    return None


def _text(parent: etree._Element | None, name: str) -> str | None:
    el = _child(parent, name)
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def _parse(value: bytes | None) -> etree._Element | None:
    if not value:
        return None
    try:
        root = etree.fromstring(value, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None
    return root if _local(root) == "oppdrag" else None


def _identitet(o110: etree._Element, a115: etree._Element, what: str) -> Identitet | None:
    """None when the fagområde or the sak is missing (nothing to match); raises on a key in
    another format."""
    nokkel = _text(a115, "nokkelAvstemming")
    if nokkel is None or not is_nokkel(nokkel):
        shown = "missing" if nokkel is None else repr(nokkel[:40])
        raise AvstemmingInputError(f"{what}: nokkelAvstemming {shown} is not yyyy-MM-dd-HH.mm.ss.SSSSSS")
    fagområde = _text(o110, "kodeFagomraade")
    fagsystem_id = _text(o110, "fagsystemId")
    if fagområde is None or fagsystem_id is None:
        return None
    return Identitet(fagområde, fagsystem_id, nokkel)


def _sats(text: str | None, what: str) -> int:
    m = _SATS.fullmatch(text or "")
    if m is None:
        raise AvstemmingInputError(f"{what}: a line's sats is not a whole amount")
    value = int(m.group(2))
    return -value if m.group(1) == "-" else value


def read_oppdrag(value: bytes | None, what: str = "record") -> SendtOppdrag | None:
    """An Oppdrag (`oppdrag-110/avstemming-115`, no `mmel`), or None for anything else.

    Raises `AvstemmingInputError` (naming `what`) for an Oppdrag avstemming cannot place: a
    key in another format, no fagområde, sak, person or tidspktMelding, a sats not a whole
    amount."""
    root = _parse(value)
    if root is None or _child(root, "mmel") is not None:
        return None
    o110 = _child(root, "oppdrag-110")
    a115 = _child(o110, "avstemming-115")
    if o110 is None or a115 is None:
        return None
    identitet = _identitet(o110, a115, what)
    if identitet is None:
        raise AvstemmingInputError(f"{what}: an Oppdrag without kodeFagomraade or fagsystemId")
    tidspkt = _text(a115, "tidspktMelding")
    gjelder = _text(o110, "oppdragGjelderId")
    if tidspkt is None or gjelder is None:
        missing = "tidspktMelding" if tidspkt is None else "oppdragGjelderId"
        raise AvstemmingInputError(f"{what}: an Oppdrag without {missing}")
    beløp = sum(_sats(_text(ln, "sats"), what) for ln in o110 if _local(ln) == "oppdrags-linje-150")
    return SendtOppdrag(identitet, tidspkt, gjelder, beløp)


def read_svar(value: bytes | None, what: str = "record") -> Svar | None:
    """A receipt (`mmel` with alvorlighetsgrad 00/04/08/12, and the echoed `oppdrag-110` with
    its `avstemming-115`), or None for anything else. Raises `AvstemmingInputError` for a
    receipt whose echoed key is in another format."""
    root = _parse(value)
    if root is None:
        return None
    mmel = _child(root, "mmel")
    o110 = _child(root, "oppdrag-110")
    a115 = _child(o110, "avstemming-115")
    if mmel is None or o110 is None or a115 is None:
        return None
    code = _text(mmel, "alvorlighetsgrad")
    if code not in RECEIPT_CODES:
        return None
    identitet = _identitet(o110, a115, what)
    if identitet is None:
        return None
    return Svar(identitet, code, _text(mmel, "kodeMelding"), _text(mmel, "beskrMelding"))


# ---------------------------------------------------------------------------------------------
# Reading messages back (the OS side)


def read_avstemming(value: bytes) -> dict[str, object]:
    """The fields of one `avstemmingsdata` OS checks: aksjonType, the id, fagområde, nokkelFom/
    Tom, and from a first DATA the grunnlag sums (`{"godkjent": (antall, beløp), …}`) and the
    details (`(detaljType, avleverendeTransaksjonNokkel)`). Raises `ValueError` when it is not
    one."""
    try:
        root = etree.fromstring(value, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise ValueError(f"not XML: {str(exc)[:100]}") from None
    if _local(root) != "avstemmingsdata":
        raise ValueError("the root element is not avstemmingsdata")
    aksjon = _child(root, "aksjon")
    out: dict[str, object] = {
        "aksjon": _text(aksjon, "aksjonType"),
        "id": _text(aksjon, "avleverendeAvstemmingId"),
        "fagområde": _text(aksjon, "underkomponentKode"),
        "nokkelFom": _text(aksjon, "nokkelFom"),
        "nokkelTom": _text(aksjon, "nokkelTom"),
    }
    g = _child(root, "grunnlag")
    if g is not None:
        sums: dict[str, tuple[int, int]] = {}
        for k in ("godkjent", "varsel", "avvist", "mangler"):
            sums[k] = (int(_text(g, f"{k}Antall") or 0), int(_text(g, f"{k}Belop") or 0))
        out["grunnlag"] = sums
    out["detaljer"] = [
        (_text(d, "detaljType"), _text(d, "avleverendeTransaksjonNokkel")) for d in root if _local(d) == "detalj"
    ]
    return out
