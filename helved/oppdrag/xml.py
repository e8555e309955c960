"""Oppdrag XML (spec §6) from domain values, and kvitteringer (spec §7) back to domain values.

No I/O here. Every byte of the output is a function of the `Oppdrag` value: dates carry the
Europe/Oslo offset of that date, avstemming fields come from the request's time.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from lxml import etree

from helved.domain.model import Kvittering, LinjeKind, Oppdrag
from helved.errors import ReceiptRejected

NS = "http://www.trygdeetaten.no/skjema/oppdrag"
OSLO = ZoneInfo("Europe/Oslo")
DEFAULT_ENHET = "8020"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)


@lru_cache(maxsize=8192)
def os_date(d: date) -> str:
    """`2025-08-04+02:00`: the date with the Europe/Oslo offset at its start."""
    offset = datetime(d.year, d.month, d.day, tzinfo=OSLO).utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{d.isoformat()}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def avstemming_stamp(t: datetime) -> str:
    """`yyyy-MM-dd-HH.mm.ss.SSSSSS`, OS's avstemming timestamp."""
    return t.strftime("%Y-%m-%d-%H.%M.%S.") + f"{t.microsecond:06d}"


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def build_oppdrag(oppdrag: Oppdrag) -> etree._Element:
    """The `oppdrag` element, children in schema order."""
    root = etree.Element(etree.QName(NS, "oppdrag"), nsmap={"ns2": NS})
    o110 = _sub(root, "oppdrag-110")
    _sub(o110, "kodeAksjon", "1")
    _sub(o110, "kodeEndring", oppdrag.kode_endring)
    _sub(o110, "kodeFagomraade", oppdrag.fagområde)
    _sub(o110, "fagsystemId", oppdrag.fagsystem_id)
    _sub(o110, "utbetFrekvens", oppdrag.utbet_frekvens)
    _sub(o110, "oppdragGjelderId", oppdrag.oppdrag_gjelder_id)
    _sub(o110, "datoOppdragGjelderFom", os_date(date(2000, 1, 1)))
    _sub(o110, "saksbehId", oppdrag.saksbehandler)
    a115 = _sub(o110, "avstemming-115")
    stamp = avstemming_stamp(oppdrag.avstemming)
    _sub(a115, "kodeKomponent", oppdrag.fagområde)
    _sub(a115, "nokkelAvstemming", stamp)
    _sub(a115, "tidspktMelding", stamp)
    enheter = [("BOS", DEFAULT_ENHET)]
    if oppdrag.betalende_enhet:
        enheter = [("BOS", oppdrag.betalende_enhet), ("BEH", DEFAULT_ENHET)]
    for typ, enhet in enheter:
        e120 = _sub(o110, "oppdrags-enhet-120")
        _sub(e120, "typeEnhet", typ)
        _sub(e120, "enhet", enhet)
        _sub(e120, "datoEnhetFom", os_date(date(1970, 1, 1)))
    for ln in oppdrag.linjer:
        p = ln.periode
        l150 = _sub(o110, "oppdrags-linje-150")
        if ln.kind is LinjeKind.OPPH:
            assert ln.opphør_fom is not None
            _sub(l150, "kodeEndringLinje", "ENDR")
            _sub(l150, "kodeStatusLinje", "OPPH")
            _sub(l150, "datoStatusFom", os_date(ln.opphør_fom))
        else:
            _sub(l150, "kodeEndringLinje", "NY")
        _sub(l150, "vedtakId", ln.vedtaksdato.isoformat())
        _sub(l150, "delytelseId", ln.delytelse_id)
        _sub(l150, "kodeKlassifik", ln.klassekode)
        _sub(l150, "datoKlassifikFom", os_date(p.fom))
        _sub(l150, "datoVedtakFom", os_date(p.fom))
        _sub(l150, "datoVedtakTom", os_date(p.tom))
        _sub(l150, "sats", str(p.beløp))
        _sub(l150, "fradragTillegg", "T")
        _sub(l150, "typeSats", ln.periodetype.type_sats)
        _sub(l150, "brukKjoreplan", "N")
        _sub(l150, "saksbehId", ln.saksbehandler)
        _sub(l150, "utbetalesTilId", ln.utbetales_til)
        _sub(l150, "henvisning", ln.henvisning)
        if ln.ref_delytelse_id is not None:
            _sub(l150, "refFagsystemId", oppdrag.fagsystem_id)
            _sub(l150, "refDelytelseId", ln.ref_delytelse_id)
        if p.vedtakssats is not None:
            _sub(_sub(l150, "vedtakssats-157"), "vedtakssats", str(p.vedtakssats))
        _sub(_sub(l150, "attestant-180"), "attestantId", ln.beslutter)
    return root


def oppdrag_xml(oppdrag: Oppdrag) -> bytes:
    """The Oppdrag as UTF-8 XML bytes, as sent on `helved.oppdrag.v1`."""
    return etree.tostring(build_oppdrag(oppdrag), xml_declaration=True, encoding="UTF-8")


# ---------------------------------------------------------------------------------------------
# Receipts


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


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


def parse_xml(data: bytes) -> etree._Element:
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ReceiptRejected("INVALID_XML", str(exc)) from exc


def parse_kvittering(data: bytes) -> Kvittering:
    """Read a kvittering, trimming OS's space padding and ignoring namespace prefixes."""
    root = parse_xml(data)
    if _local(root) != "oppdrag":
        raise ReceiptRejected("NOT_A_RECEIPT", f"root element is {_local(root)!r}")
    mmel = _child(root, "mmel")
    o110 = _child(root, "oppdrag-110")
    if o110 is None:
        raise ReceiptRejected("NOT_A_RECEIPT", "no oppdrag-110")
    fagområde = _text(o110, "kodeFagomraade")
    fagsystem_id = _text(o110, "fagsystemId")
    if fagområde is None or fagsystem_id is None:
        raise ReceiptRejected("NOT_A_RECEIPT", "no kodeFagomraade or fagsystemId")
    ids: set[str] = set()
    henvisninger: set[str] = set()
    for el in o110:
        if _local(el) != "oppdrags-linje-150":
            continue
        lid = _text(el, "delytelseId")
        if lid:
            ids.add(lid)
        henv = _text(el, "henvisning")
        if henv:
            henvisninger.add(henv)
    return Kvittering(
        fagområde=fagområde,
        fagsystem_id=fagsystem_id,
        alvorlighetsgrad=_text(mmel, "alvorlighetsgrad"),
        kode_melding=_text(mmel, "kodeMelding"),
        beskr_melding=_text(mmel, "beskrMelding"),
        delytelse_ids=frozenset(ids),
        henvisninger=frozenset(henvisninger),
    )


def echo_kvittering(oppdrag_bytes: bytes, alvorlighetsgrad: str, beskr_melding: str | None = None) -> bytes:
    """OS's answer shape: the Oppdrag echoed with `mmel` first. Used by `helved replay`'s fixed
    receipt codes; the emulator builds its own."""
    root = parse_xml(oppdrag_bytes)
    mmel = etree.Element("mmel")
    _sub(mmel, "systemId", "231-OPUR")
    if alvorlighetsgrad != "00":
        _sub(mmel, "kodeMelding", f"B{alvorlighetsgrad}")
    _sub(mmel, "alvorlighetsgrad", alvorlighetsgrad)
    if beskr_melding:
        _sub(mmel, "beskrMelding", beskr_melding)
    root.insert(0, mmel)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
