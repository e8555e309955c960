"""Oppdrag XML in, kvittering XML out: the emulator's own reading and writing of OS's format.

Deliberately independent of helved's Oppdrag builder: elements are found by local name, every
text is trimmed, dates keep only their `YYYY-MM-DD` part (`2025-08-04+02:00` -> 2025-08-04).

Kvittering = the received document with `mmel` inserted as the first child of the root, the
root's namespace prefix kept. mmel texts are padded with trailing spaces to fixed widths, the way
OS pads its fixed-width fields, so that receivers must trim:

    systemId     10  ("231-OPUR" + 2 spaces)
    kodeMelding  10
    beskrMelding 70  (longer texts, e.g. schema errors, are kept whole, never cut)
    programId    10
    sectionNavn  30
    alvorlighetsgrad is not padded: the XSD's enumeration (00/04/08/12) would reject it.

A document that cannot be parsed at all gets a minimal kvittering: `<ns2:oppdrag>` holding
only `mmel` (there is nothing to echo).

Content hash (idempotence key): SHA-256 over an unambiguous encoding of the element tree by
(namespace URI, local name, sorted attributes, trimmed text), with any root-level `mmel`,
comments and processing instructions left out. So the same Oppdrag with another namespace prefix,
encoding, indentation or space padding has the same hash; any change of a value changes it.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

from lxml import etree

from helved.errors import HelvedError
from helved.oppdrag.schema import OPPDRAG_XSD, SIMULERING_WRAPPER_XSD, load

from .ledger import Amount, Oppdrag, OppdragLinje, Verdict

NS = "http://www.trygdeetaten.no/skjema/oppdrag"
SYSTEM_ID = "231-OPUR"
XSD_PATH = OPPDRAG_XSD

WIDTHS = {
    "systemId": 10,
    "kodeMelding": 10,
    "beskrMelding": 70,
    "programId": 10,
    "sectionNavn": 30,
}


class Unparseable(HelvedError):
    """The bytes are not well-formed XML."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=False, huge_tree=False)


_SCHEMA: etree.XMLSchema | None = None


def load_schema(path: Path | str = XSD_PATH) -> etree.XMLSchema:
    """OS's schema (helved's one loader, `helved.oppdrag.schema`)."""
    return load(Path(path))


def default_schema() -> etree.XMLSchema:
    global _SCHEMA
    if _SCHEMA is None:
        _SCHEMA = load_schema()
    return _SCHEMA


SIMULERING_XSD_PATH = SIMULERING_WRAPPER_XSD


@functools.cache
def simulering_schema() -> etree.XMLSchema:
    """OS's simulation service types, with the one global request element declared."""
    return load_schema(SIMULERING_XSD_PATH)


def parse_document(data: bytes) -> etree._Element:
    """Parse bytes into an element tree root, or raise Unparseable."""
    try:
        root = etree.fromstring(data, _parser())
    except (etree.XMLSyntaxError, ValueError, TypeError) as e:
        raise Unparseable(str(e)) from e
    if root is None:
        raise Unparseable("no root element")
    # lxml-stubs 0.5 leave `DocInfo.doctype` out; lxml has it (the DOCTYPE declaration, or "").
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr]
        # OS takes no DTD; entity references from one are never expanded here, and an echo
        # of them without the DOCTYPE would not be XML.
        raise Unparseable("DOCTYPE er ikke tillatt")
    return root


def schema_errors(root: etree._Element, schema: etree.XMLSchema) -> str | None:
    """None when valid, else the validation error text (every error, '; '-separated).

    libxml2 gives up on some documents (an entity reference it did not expand, from a DOCTYPE)
    with an internal error: that document is not valid either."""
    try:
        valid = schema.validate(root)
    except etree.XMLSchemaValidateError as e:
        return f"Skjemavalidering feilet: {e}"
    if valid:
        return None
    # lxml-stubs 0.5 declare `_ErrorLog` empty; lxml's error log iterates over its entries.
    errs = [f"line {e.line}: {e.message}" for e in schema.error_log]  # type: ignore[attr-defined]
    return "; ".join(errs) or "Ugyldig i henhold til skjema"


# ---------------------------------------------------------------------------------------------
# Reading


def _local(el: etree._Element) -> str | None:
    if not isinstance(el.tag, str):
        return None  # comment / PI
    return etree.QName(el).localname


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if _local(c) == name]


def _child(el: etree._Element, name: str) -> etree._Element | None:
    for c in el:
        if _local(c) == name:
            return c
    return None


def _text(el: etree._Element, name: str) -> str | None:
    c = _child(el, name)
    if c is None:
        return None
    t = (c.text or "").strip()
    return t or None


# The shapes OS's schema gives a date (xs:date: optional time zone) and an amount (a decimal;
# `sats` in a simulation request is an xs:double, which helved writes as an integer). Checked
# before converting: `Infinity`, `1E+999999999` or a week date are refused with a ValueError
# (an 08), never converted. Years outside Python's 1-9999 are refused the same way.
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:Z|[+-][0-9]{2}:[0-9]{2})?", re.ASCII)
_AMOUNT = re.compile(r"[+-]?[0-9]{1,18}(?:\.[0-9]{0,6})?", re.ASCII)


def _date(el: etree._Element, name: str) -> date | None:
    t = _text(el, name)
    if not t:
        return None
    m = _DATE.fullmatch(t)
    if m is None:
        raise ValueError(f"ugyldig dato i {name}")
    return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))  # ValueError if none such


def _amount(t: str | None) -> Amount:
    if t is None:
        return 0
    if _AMOUNT.fullmatch(t) is None:
        raise ValueError("ugyldig sats")
    d = Decimal(t)  # bounded: at most 18 + 6 digits
    return int(d) if d == d.to_integral_value() else d


def _parse_container(o110: etree._Element | None, line_name: str) -> Oppdrag:
    """The oppdrag fields and its lines; `line_name` is `oppdrags-linje-150` in an Oppdrag and
    `oppdragslinje` in a simulation request (whose dates are plain, without offset)."""
    if o110 is None:
        return Oppdrag(None, None, None)
    linjer = []
    for l150 in _children(o110, line_name):
        fom = _date(l150, "datoVedtakFom")
        if fom is None:
            raise ValueError("datoVedtakFom mangler")
        linjer.append(
            OppdragLinje(
                kode_endring_linje=_text(l150, "kodeEndringLinje") or "",
                kode_status_linje=_text(l150, "kodeStatusLinje"),
                dato_status_fom=_date(l150, "datoStatusFom"),
                vedtak_id=_text(l150, "vedtakId"),
                delytelse_id=_text(l150, "delytelseId"),
                kode_klassifik=_text(l150, "kodeKlassifik") or "",
                dato_vedtak_fom=fom,
                dato_vedtak_tom=_date(l150, "datoVedtakTom"),
                sats=_amount(_text(l150, "sats")),
                type_sats=_text(l150, "typeSats") or "",
                utbetales_til_id=_text(l150, "utbetalesTilId"),
                henvisning=_text(l150, "henvisning"),
                ref_fagsystem_id=_text(l150, "refFagsystemId"),
                ref_delytelse_id=_text(l150, "refDelytelseId"),
            )
        )
    return Oppdrag(
        kode_endring=_text(o110, "kodeEndring") or "",
        fagomraade=_text(o110, "kodeFagomraade"),
        fagsystem_id=_text(o110, "fagsystemId"),
        oppdrag_gjelder_id=_text(o110, "oppdragGjelderId"),
        linjer=tuple(linjer),
    )


def header_of(root: etree._Element, container: str = "oppdrag-110") -> tuple[str | None, str | None, str | None]:
    """(kodeFagomraade, fagsystemId, oppdragGjelderId) of a document whose lines may not be
    readable (never raises)."""
    el = _child(root, container)
    if el is None:
        return None, None, None
    return _text(el, "kodeFagomraade"), _text(el, "fagsystemId"), _text(el, "oppdragGjelderId")


def sak_key_of(root: etree._Element, container: str = "oppdrag-110") -> tuple[str | None, str | None]:
    """(kodeFagomraade, fagsystemId) of a document whose lines may not be readable."""
    return header_of(root, container)[:2]


def parse_oppdrag_element(root: etree._Element) -> Oppdrag:
    return _parse_container(_child(root, "oppdrag-110"), "oppdrags-linje-150")


def parse_simulering_element(root: etree._Element) -> Oppdrag:
    """A `simulerBeregningRequest` (OS's simulation service) as the Oppdrag it would send."""
    return _parse_container(_child(root, "oppdrag"), "oppdragslinje")


def parse_oppdrag(data: bytes) -> Oppdrag:
    """Bytes -> Oppdrag value (no schema validation; raises Unparseable or ValueError)."""
    return parse_oppdrag_element(parse_document(data))


# ---------------------------------------------------------------------------------------------
# Content hash


def _canon(el: etree._Element, out: list, top: bool) -> None:
    for c in el:
        name = _local(c)
        if name is None:
            continue
        if top and name == "mmel":
            continue
        q = etree.QName(c)
        attrs = sorted((str(k), v.strip()) for k, v in c.attrib.items())
        out.append(("(", q.namespace or "", q.localname, tuple(attrs), (c.text or "").strip()))
        _canon(c, out, False)
        out.append((")",))


def content_hash(root: etree._Element) -> str:
    q = etree.QName(root)
    out: list = [
        (
            "(",
            q.namespace or "",
            q.localname,
            tuple(sorted(root.attrib.items())),
            (root.text or "").strip(),
        )
    ]
    _canon(root, out, True)
    out.append((")",))
    return hashlib.sha256(repr(out).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------
# Writing


def _pad(name: str, text: str) -> str:
    return text.ljust(WIDTHS.get(name, 0))


def _mmel_element(verdict: Verdict, default_ns: bool = False) -> etree._Element:
    """mmel, un-namespaced. Under a default-namespace root it is built from text with xmlns=""
    (lxml would otherwise serialize it without the declaration, i.e. in the root's namespace)."""
    fields = [
        ("systemId", _pad("systemId", SYSTEM_ID)),
        ("kodeMelding", _pad("kodeMelding", verdict.kode_melding)),
        ("alvorlighetsgrad", verdict.alvorlighetsgrad),
        ("beskrMelding", _pad("beskrMelding", verdict.beskr_melding)),
        ("programId", _pad("programId", verdict.program_id)),
        ("sectionNavn", _pad("sectionNavn", verdict.section_navn)),
    ]
    mmel = etree.fromstring(b'<mmel xmlns=""/>', _parser()) if default_ns else etree.Element("mmel")
    for name, value in fields:
        etree.SubElement(mmel, name).text = value
    return mmel


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def kvittering(original: etree._Element, verdict: Verdict) -> bytes:
    """The received document with `mmel` as the first child of its root (a copy is made)."""
    root = _copy_root(original)
    for old in [c for c in root if _local(c) == "mmel"]:
        root.remove(old)
    root.insert(0, _mmel_element(verdict, default_ns=root.nsmap.get(None) is not None))
    if len(root) > 1 and root.text and not root.text.strip():
        root[0].tail = root.text  # keep the original indentation roughly as it was
    return _serialize(root)


def _copy_root(original: etree._Element) -> etree._Element:
    return copy.deepcopy(original)


def minimal_kvittering(verdict: Verdict, prefix: str = "ns2") -> bytes:
    """A kvittering for bytes that could not be parsed: a root holding only mmel."""
    root = etree.Element(f"{{{NS}}}oppdrag", nsmap={prefix: NS})
    root.append(_mmel_element(verdict))
    return _serialize(root)


_START_TAG = re.compile(rb"^<([A-Za-z_][\w.\-]*)")


def with_prefix(kvittering_xml: bytes, prefix: str | None) -> bytes:
    """The same kvittering with the root's namespace under another prefix.

    `prefix=None` (or "") puts the root in the default namespace; its un-namespaced children
    then carry `xmlns=""`.
    """
    root = parse_document(kvittering_xml)
    if not prefix:
        parts = [b'<?xml version="1.0" encoding="UTF-8"?>\n', f'<oppdrag xmlns="{NS}">'.encode()]
        for c in root:
            c = copy.deepcopy(c)
            etree.cleanup_namespaces(c)
            b = etree.tostring(c, with_tail=False, encoding="UTF-8")
            b = re.sub(rb"^<\?xml[^>]*\?>\s*", b"", b)
            if _local(c) is not None and etree.QName(c).namespace is None:
                head = b.split(b">", 1)[0]
                if b'xmlns=""' not in head:
                    b = _START_TAG.sub(rb'<\1 xmlns=""', b, count=1)
            parts.append(b)
        parts.append(b"</oppdrag>")
        return b"".join(parts)
    nsmap = {p: u for p, u in (root.nsmap or {}).items() if u != NS and p is not None}
    nsmap[prefix] = NS
    new = etree.Element(f"{{{NS}}}oppdrag", nsmap=nsmap)
    new.text = root.text
    for k, v in root.attrib.items():
        new.set(k, v)
    for c in list(root):
        new.append(c)
    return _serialize(new)


def read_mmel(kvittering_xml: bytes) -> dict[str, str]:
    """mmel fields by local name, trimmed (for tests and diagnostics)."""
    root = parse_document(kvittering_xml)
    mmel = _child(root, "mmel")
    if mmel is None:
        return {}
    return {name: (c.text or "").strip() for c in mmel if (name := _local(c))}


def prefix_of(xml: bytes) -> str | None:
    return parse_document(xml).prefix
