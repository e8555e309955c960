"""Oppdrag XML (spec §6) from domain values, and kvitteringer (spec §7) back to domain values.

No I/O here. Every byte of the output is a function of the `Oppdrag` value: dates carry the
Europe/Oslo offset of that date, avstemming fields come from the request's time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime
from functools import lru_cache

from lxml import etree

from helved.domain.model import Avvent, Kvittering, Linje, LinjeKind, Oppdrag, line_fingerprint
from helved.errors import ReceiptRejected
from helved.oslo import OSLO

NS = "http://www.trygdeetaten.no/skjema/oppdrag"

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


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def linje_fields(ln: Linje, fagsystem_id: str, fmt: Callable[[date], str]) -> list[tuple[str, str]]:
    """One line's fields from kodeEndringLinje to refDelytelseId, in OS's order, dates written
    by `fmt`: the same in an Oppdrag (`oppdrags-linje-150`) and a simulation request
    (`oppdragslinje`), which differ in the element around them and the date format."""
    p = ln.periode
    if ln.kind is LinjeKind.OPPH:
        assert ln.opphør_fom is not None
        fields = [("kodeEndringLinje", "ENDR"), ("kodeStatusLinje", "OPPH"), ("datoStatusFom", fmt(ln.opphør_fom))]
    else:
        fields = [("kodeEndringLinje", "NY")]
    fields += [
        ("vedtakId", ln.vedtaksdato.isoformat()),
        ("delytelseId", ln.delytelse_id),
        ("kodeKlassifik", ln.klassekode),
        ("datoKlassifikFom", fmt(p.fom)),
        ("datoVedtakFom", fmt(p.fom)),
        ("datoVedtakTom", fmt(p.tom)),
        ("sats", str(p.beløp)),
        ("fradragTillegg", "T"),
        ("typeSats", ln.periodetype.type_sats),
        ("brukKjoreplan", "N"),
        ("saksbehId", ln.saksbehandler),
        ("utbetalesTilId", ln.utbetales_til),
        ("henvisning", ln.henvisning),
    ]
    if ln.ref_delytelse_id is not None:
        fields += [("refFagsystemId", fagsystem_id), ("refDelytelseId", ln.ref_delytelse_id)]
    return fields


def avvent_fields(avvent: Avvent, fmt: Callable[[date], str]) -> list[tuple[str, str]]:
    """`avvent-118`'s children in schema order: fom, tom, årsak, overføres, feilreg (J/N)."""
    fields = [("datoAvventFom", fmt(avvent.fom)), ("datoAvventTom", fmt(avvent.tom))]
    if avvent.årsak is not None:
        fields.append(("kodeArsak", avvent.årsak))
    if avvent.overføres is not None:
        fields.append(("datoOverfores", fmt(avvent.overføres)))
    fields.append(("feilreg", "J" if avvent.feilregistrering else "N"))
    return fields


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
    stamp = oppdrag.nokkel_avstemming
    _sub(a115, "kodeKomponent", oppdrag.fagområde)
    _sub(a115, "nokkelAvstemming", stamp)
    _sub(a115, "tidspktMelding", stamp)
    if oppdrag.avvent is not None:
        a118 = _sub(o110, "avvent-118")
        for tag, text in avvent_fields(oppdrag.avvent, os_date):
            _sub(a118, tag, text)
    for typ, enhet in oppdrag.enheter:
        e120 = _sub(o110, "oppdrags-enhet-120")
        _sub(e120, "typeEnhet", typ)
        _sub(e120, "enhet", enhet)
        _sub(e120, "datoEnhetFom", os_date(date(1970, 1, 1)))
    for ln in oppdrag.linjer:
        p = ln.periode
        l150 = _sub(o110, "oppdrags-linje-150")
        for tag, text in linje_fields(ln, oppdrag.fagsystem_id, os_date):
            _sub(l150, tag, text)
        if p.vedtakssats is not None:
            _sub(_sub(l150, "vedtakssats-157"), "vedtakssats", str(p.vedtakssats))
        _sub(_sub(l150, "attestant-180"), "attestantId", ln.beslutter)
    return root


def oppdrag_xml_reference(oppdrag: Oppdrag) -> bytes:
    """`oppdrag_xml` through lxml: the reference the direct writer must equal byte for byte."""
    return etree.tostring(build_oppdrag(oppdrag), xml_declaration=True, encoding="UTF-8")


# ---------------------------------------------------------------------------------------------
# The direct writer
#
# `oppdrag_xml` writes the document as text instead of building an lxml tree (about 4x faster
# per Oppdrag; `helved bench` measures it). It produces exactly the bytes of
# `oppdrag_xml_reference`, which tests/unit/test_oppdrag_writer.py checks over generated Oppdrag:
# the same declaration, namespace prefix, element order, no whitespace, `<tag></tag>` for an
# empty text, raw UTF-8 for non-ASCII, and libxml2's text escaping (& < > and CR as `&#13;`;
# quotes are not escaped in text). Like lxml, it refuses text that XML cannot hold (control
# characters, U+FFFE, U+FFFF, lone surrogates) with a ValueError.

_DECLARATION = "<?xml version='1.0' encoding='UTF-8'?>\n"
_ROOT_OPEN = f'<ns2:oppdrag xmlns:ns2="{NS}">'
_ROOT_CLOSE = "</oppdrag-110></ns2:oppdrag>"
_SPECIAL = re.compile("[&<>\r]|[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}


@lru_cache(maxsize=4096)
def _esc(text: str) -> str:
    """Text content as libxml2 writes it; ValueError for what lxml would refuse."""
    if _SPECIAL.search(text) is None:
        return text
    if _NOT_XML.search(text) is not None:
        raise ValueError("All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control characters")
    return _SPECIAL.sub(lambda m: _ESCAPES[m.group()], text)


def _linje_xml(ln: Linje, fagsystem_id: str) -> str:
    p = ln.periode
    fom = os_date(p.fom)
    if ln.kind is LinjeKind.OPPH:
        assert ln.opphør_fom is not None
        head = (
            "<kodeEndringLinje>ENDR</kodeEndringLinje><kodeStatusLinje>OPPH</kodeStatusLinje>"
            f"<datoStatusFom>{os_date(ln.opphør_fom)}</datoStatusFom>"
        )
    else:
        head = "<kodeEndringLinje>NY</kodeEndringLinje>"
    ref = (
        f"<refFagsystemId>{fagsystem_id}</refFagsystemId><refDelytelseId>{_esc(ln.ref_delytelse_id)}</refDelytelseId>"
        if ln.ref_delytelse_id is not None
        else ""
    )
    sats = (
        f"<vedtakssats-157><vedtakssats>{p.vedtakssats}</vedtakssats></vedtakssats-157>"
        if p.vedtakssats is not None
        else ""
    )
    return (
        f"<oppdrags-linje-150>{head}"
        f"<vedtakId>{ln.vedtaksdato.isoformat()}</vedtakId>"
        f"<delytelseId>{_esc(ln.delytelse_id)}</delytelseId>"
        f"<kodeKlassifik>{_esc(ln.klassekode)}</kodeKlassifik>"
        f"<datoKlassifikFom>{fom}</datoKlassifikFom>"
        f"<datoVedtakFom>{fom}</datoVedtakFom>"
        f"<datoVedtakTom>{os_date(p.tom)}</datoVedtakTom>"
        f"<sats>{p.beløp}</sats>"
        "<fradragTillegg>T</fradragTillegg>"
        f"<typeSats>{ln.periodetype.type_sats}</typeSats>"
        "<brukKjoreplan>N</brukKjoreplan>"
        f"<saksbehId>{_esc(ln.saksbehandler)}</saksbehId>"
        f"<utbetalesTilId>{_esc(ln.utbetales_til)}</utbetalesTilId>"
        f"<henvisning>{_esc(ln.henvisning)}</henvisning>"
        f"{ref}{sats}"
        f"<attestant-180><attestantId>{_esc(ln.beslutter)}</attestantId></attestant-180>"
        "</oppdrags-linje-150>"
    )


def oppdrag_xml(oppdrag: Oppdrag) -> bytes:
    """The Oppdrag as UTF-8 XML bytes, as sent on `helved.oppdrag.v1` (see the direct writer)."""
    fagområde = _esc(oppdrag.fagområde)
    fagsystem_id = _esc(oppdrag.fagsystem_id)
    stamp = oppdrag.nokkel_avstemming
    enheter = tuple((typ, _esc(enhet)) for typ, enhet in oppdrag.enheter)
    enhet_fom = os_date(date(1970, 1, 1))
    head = (
        "<oppdrag-110><kodeAksjon>1</kodeAksjon>"
        f"<kodeEndring>{_esc(oppdrag.kode_endring)}</kodeEndring>"
        f"<kodeFagomraade>{fagområde}</kodeFagomraade>"
        f"<fagsystemId>{fagsystem_id}</fagsystemId>"
        f"<utbetFrekvens>{_esc(oppdrag.utbet_frekvens)}</utbetFrekvens>"
        f"<oppdragGjelderId>{_esc(oppdrag.oppdrag_gjelder_id)}</oppdragGjelderId>"
        f"<datoOppdragGjelderFom>{os_date(date(2000, 1, 1))}</datoOppdragGjelderFom>"
        f"<saksbehId>{_esc(oppdrag.saksbehandler)}</saksbehId>"
        f"<avstemming-115><kodeKomponent>{fagområde}</kodeKomponent>"
        f"<nokkelAvstemming>{stamp}</nokkelAvstemming><tidspktMelding>{stamp}</tidspktMelding></avstemming-115>"
    )
    parts = [_DECLARATION, _ROOT_OPEN, head]
    if oppdrag.avvent is not None:
        fields = "".join(f"<{tag}>{_esc(text)}</{tag}>" for tag, text in avvent_fields(oppdrag.avvent, os_date))
        parts.append(f"<avvent-118>{fields}</avvent-118>")
    for typ, enhet in enheter:
        parts.append(
            f"<oppdrags-enhet-120><typeEnhet>{typ}</typeEnhet><enhet>{enhet}</enhet>"
            f"<datoEnhetFom>{enhet_fom}</datoEnhetFom></oppdrags-enhet-120>"
        )
    for ln in oppdrag.linjer:
        parts.append(_linje_xml(ln, fagsystem_id))
    parts.append(_ROOT_CLOSE)
    return "".join(parts).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# Receipts
#
# A receipt is read strictly: every field helved reads must be a well-formed value, or the
# record is not a receipt (`ReceiptRejected`, to the DLQ). The shape of each value is checked
# with a bounded regular expression *before* anything converts it, so no text can make the
# reader compute with huge numbers (`1E+999999999`) or meet values it cannot represent
# (`Infinity`, `sNaN`, a year 0). Tolerated, as OS writes them: space padding (trimmed), any
# namespace prefix (elements are found by local name), dates with or without a time zone,
# amounts with up to two decimals.

NOT_A_RECEIPT = "NOT_A_RECEIPT"

_AMOUNT = re.compile(r"([+-]?)0*([0-9]{1,13})(?:\.([0-9]{0,2}))?", re.ASCII)
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9])?", re.ASCII)
_STAMP = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})-([0-9]{2})\.([0-9]{2})\.([0-9]{2})\.([0-9]{6})", re.ASCII)
MIN_YEAR = 1900

# Longest text of an id field OS's schema allows (delytelseId, henvisning, fagsystemId: 30;
# kodeFagomraade: 8). Longer is not OS's answer to anything helved sent.
_ID_MAX = 30
_FAGOMRÅDE_MAX = 8


def _local(el: etree._Element) -> str:
    """The local name of an element (`{ns}name` or `name`); "" for comments and PIs."""
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


def parse_xml(data: bytes) -> etree._Element:
    try:
        return etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise ReceiptRejected("INVALID_XML", str(exc)[:200]) from exc


def _trimmed(el: etree._Element) -> str | None:
    text = el.text
    return (text.strip() or None) if text is not None else None


def _rejected(detail: str) -> ReceiptRejected:
    return ReceiptRejected(NOT_A_RECEIPT, detail)


def _any_ns(names: Iterable[str]) -> tuple[str, ...]:
    """lxml tag filters for elements with these local names in any namespace or none: the
    children `_local` would name so, in document order (no comments, no PIs), found by lxml
    without a Python call for every other child."""
    return tuple(f"{{*}}{name}" for name in sorted(names))


def _fields(parent: etree._Element, wanted: frozenset[str], where: str) -> dict[str, str | None]:
    """The trimmed texts of the children of `parent` named in `wanted` (others are ignored).

    A wanted field that occurs twice (which one would count?) or holds anything but text (an
    entity reference, a comment, an element: its text would be cut short) makes the record
    not a receipt."""
    found: dict[str, str | None] = {}
    tags = _TAGS.get(wanted)
    if tags is None:
        tags = _TAGS[wanted] = _any_ns(wanted)
    for el in parent.iterchildren(*tags):
        name = _local(el)
        if name in found:
            raise _rejected(f"{where}{name} occurs twice")
        if len(el):
            raise _rejected(f"{where}{name} holds more than text")
        found[name] = _trimmed(el)
    return found


def _once(parent: etree._Element, name: str, where: str) -> etree._Element | None:
    """The one child called `name`, None when absent; twice makes the record not a receipt."""
    found = None
    for el in parent.iterchildren(f"{{*}}{name}"):
        if found is not None:
            raise _rejected(f"{where}{name} occurs twice")
        found = el
    return found


def _required(fields: dict[str, str | None], name: str, where: str) -> str:
    value = fields.get(name)
    if value is None:
        raise _rejected(f"{where}{name} is missing or empty")
    return value


def _id(value: str, name: str, where: str, max_len: int = _ID_MAX) -> str:
    if len(value) > max_len:
        raise _rejected(f"{where}{name} is longer than {max_len} characters")
    return value


def receipt_amount(text: str, where: str = "sats") -> str:
    """An amount as integer text when it is whole (`1000.00` -> `1000`), else normalised
    (`1000.50` -> `1000.5`). At most 13 digits and 2 decimals, as OS's `Tsats`; anything else
    (`Infinity`, `NaN`, `1E+5`, a comma, 14 digits) is `ReceiptRejected`."""
    m = _AMOUNT.fullmatch(text)
    if m is None:
        raise _rejected(f"{where} is not a well-formed amount")
    sign, whole, fraction = m.group(1), m.group(2), (m.group(3) or "").rstrip("0")
    number = f"{whole}.{fraction}" if fraction else whole
    return "-" + number if sign == "-" and number.strip("0.") else number


def receipt_date(text: str, where: str = "date") -> str:
    """A date as OS writes it (`2025-08-04`, `2025-08-04+02:00`, `2025-08-04Z`) -> `2025-08-04`.
    A malformed date, one that does not exist, or a year before 1900 is `ReceiptRejected`."""
    m = _DATE.fullmatch(text)
    if m is None:
        raise _rejected(f"{where} is not a date YYYY-MM-DD")
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    try:
        value = date(year, month, day)
    except ValueError:
        raise _rejected(f"{where} is not a date that exists") from None
    if year < MIN_YEAR:
        raise _rejected(f"{where} is before {MIN_YEAR}")
    return value.isoformat()


def receipt_stamp(text: str, where: str = "nokkelAvstemming") -> str:
    """An avstemming key `yyyy-MM-dd-HH.mm.ss.SSSSSS` that exists (years 1900-9999), as is."""
    m = _STAMP.fullmatch(text)
    if m is None:
        raise _rejected(f"{where} is not yyyy-MM-dd-HH.mm.ss.SSSSSS")
    y, mo, d, h, mi, sec, us = (int(g) for g in m.groups())
    try:
        datetime(y, mo, d, h, mi, sec, us)
    except ValueError:
        raise _rejected(f"{where} is not a time that exists") from None
    if y < MIN_YEAR:
        raise _rejected(f"{where} is before {MIN_YEAR}")
    return text


_LINE = "oppdrags-linje-150"
_LINE_TAG = f"{{*}}{_LINE}"
_TAGS: dict[frozenset[str], tuple[str, ...]] = {}
_O110_FIELDS = frozenset({"kodeFagomraade", "fagsystemId"})
_MMEL_FIELDS = frozenset({"alvorlighetsgrad", "kodeMelding", "beskrMelding"})
_A115_FIELDS = frozenset({"nokkelAvstemming"})
_LINE_FIELDS = frozenset(
    {
        "delytelseId",
        "henvisning",
        "kodeStatusLinje",
        "datoStatusFom",
        "datoVedtakFom",
        "datoVedtakTom",
        "sats",
        "refDelytelseId",
    }
)


def _line(el: etree._Element, where: str) -> tuple[str, str, tuple[str, ...]]:
    """(delytelseId, henvisning, fingerprint) of one `oppdrags-linje-150`, every field checked."""
    line = _fields(el, _LINE_FIELDS, where)
    lid = _id(_required(line, "delytelseId", where), "delytelseId", where)
    henvisning = _id(_required(line, "henvisning", where), "henvisning", where)
    fom = receipt_date(_required(line, "datoVedtakFom", where), where + "datoVedtakFom")
    tom = receipt_date(_required(line, "datoVedtakTom", where), where + "datoVedtakTom")
    sats = receipt_amount(_required(line, "sats", where), where + "sats")
    ref = line.get("refDelytelseId")
    if ref is not None:
        _id(ref, "refDelytelseId", where)
    opphør = ""
    status = line.get("kodeStatusLinje")
    if status is not None:
        if status != "OPPH":
            raise _rejected(f"{where}kodeStatusLinje is not OPPH")
        opphør = receipt_date(_required(line, "datoStatusFom", where), where + "datoStatusFom")
    elif line.get("datoStatusFom") is not None:
        raise _rejected(f"{where}datoStatusFom without kodeStatusLinje")
    return lid, henvisning, line_fingerprint(lid, opphør, fom, tom, sats, ref or "")


def parse_kvittering(data: bytes) -> Kvittering:
    """Read a kvittering (spec §7), or raise `ReceiptRejected`, never anything else.

    Tolerates what OS does: space padding (every text is trimmed), any namespace prefix
    (elements are compared by local name), elements helved does not read. Not a receipt
    (NOT_A_RECEIPT): no `oppdrag-110`, no `avstemming-115/nokkelAvstemming` (spec §7: it is
    what tells an Oppdrag from an identical resend), a field helved reads that is missing,
    duplicated, holds more than text or is not a well-formed value, a line repeated, a
    DOCTYPE (OS never sends one; entity tricks live there). Unreadable: INVALID_XML.
    The alvorlighetsgrad is read as it is: the sak step decides what it means.
    """
    root = parse_xml(data)
    if _local(root) != "oppdrag":
        raise _rejected("the root element is not oppdrag")
    if _doctype(root):
        raise _rejected("a receipt has no DOCTYPE")
    mmel = _once(root, "mmel", "")
    o110 = _once(root, "oppdrag-110", "")
    if o110 is None:
        raise _rejected("no oppdrag-110")
    mmel_fields = _fields(mmel, _MMEL_FIELDS, "mmel/") if mmel is not None else {}
    fields = _fields(o110, _O110_FIELDS, "oppdrag-110/")
    where = "oppdrag-110/"
    fagområde = _id(_required(fields, "kodeFagomraade", where), "kodeFagomraade", where, _FAGOMRÅDE_MAX)
    fagsystem_id = _id(_required(fields, "fagsystemId", where), "fagsystemId", where)
    a115 = _once(o110, "avstemming-115", "oppdrag-110/")
    if a115 is None:
        raise _rejected("no avstemming-115: it does not echo an Oppdrag of helved")
    where = "oppdrag-110/avstemming-115/"
    stamp_text = _required(_fields(a115, _A115_FIELDS, where), "nokkelAvstemming", where)
    stamp = receipt_stamp(stamp_text, where + "nokkelAvstemming")
    ids: set[str] = set()
    henvisninger: set[str] = set()
    linjer: set[tuple[str, ...]] = set()
    n = 0
    for el in o110.iterchildren(_LINE_TAG):
        n += 1
        lid, henvisning, fingerprint = _line(el, f"{_LINE}[{n}]/")
        if fingerprint in linjer:
            raise _rejected(f"{_LINE}[{n}] repeats a line")
        ids.add(lid)
        henvisninger.add(henvisning)
        linjer.add(fingerprint)
    return Kvittering(
        fagområde=fagområde,
        fagsystem_id=fagsystem_id,
        alvorlighetsgrad=mmel_fields.get("alvorlighetsgrad"),
        kode_melding=mmel_fields.get("kodeMelding"),
        beskr_melding=mmel_fields.get("beskrMelding"),
        delytelse_ids=frozenset(ids),
        henvisninger=frozenset(henvisninger),
        linjer=frozenset(linjer),
        nokkel_avstemming=stamp,
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


# ---------------------------------------------------------------------------------------------
# Reading a document handed to OS as OS reads it (the dryrun answer reads a simulation
# request's header): the parser OS's side uses, elements by local name, texts trimmed.


def read_os_document(data: bytes) -> etree._Element | None:
    """The document's root as OS parses it, or None when OS cannot read it as XML: bytes that
    are not well-formed XML, or a document with a DOCTYPE (OS takes no DTD)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError, TypeError):
        return None
    if root is None or _doctype(root):
        return None
    return root


def os_header(root: etree._Element, container: str) -> tuple[str | None, str | None, str | None]:
    """(kodeFagomraade, fagsystemId, oppdragGjelderId) of the `container` element under the
    root (`oppdrag-110` in an Oppdrag, `oppdrag` in a simulation request); None for what is
    missing. Never raises."""
    el = _child(root, container)
    return _text(el, "kodeFagomraade"), _text(el, "fagsystemId"), _text(el, "oppdragGjelderId")


def _doctype(root: etree._Element) -> str:
    """The document's DOCTYPE declaration ("" when it has none)."""
    return str(getattr(root.getroottree().docinfo, "doctype", "") or "")
