"""The dryrun's simulation request (spec §10) from the same `Oppdrag` value as the real Oppdrag.

Mirrors `helved.oppdrag.xml.build_oppdrag` field by field, with the simulation service's
differences: no `kodeAksjon`, no avstemming, no vedtakssats, plain `YYYY-MM-DD` dates (the
service's `dato` is a 10-character string, so no offset), the lines are `oppdragslinje` and a
`simuleringsPeriode` follows the oppdrag.

Namespaces follow the schemas, none of which sets `elementFormDefault`: locally declared elements
(`oppdrag`, `kodeEndring`, `oppdragslinje`, `typeEnhet`, `attestantId`, ...) are unqualified; only
the global elements referenced from `oppdragSkjema` (`enhet`, `attestant`) are qualified (prefix
ns2). The root `simulerBeregningRequest` is in the service types' namespace (prefix ns3); it is
declared by helved's `xsd/simulering/wrapper.xsd`, since OS's schemas only declare its type.

No I/O besides compiling the schema. Every byte of the output is a function of the `Oppdrag`.
"""

from __future__ import annotations

from datetime import date

from lxml import etree

from helved.domain.model import LinjeKind, Oppdrag
from helved.oppdrag.xml import linje_fields

NS_SERVICETYPES = "http://nav.no/system/os/tjenester/simulerFpService/simulerFpServiceServiceTypes"
NS_OPPDRAGSKJEMA = "http://nav.no/system/os/entiteter/oppdragSkjema"
ROOT = etree.QName(NS_SERVICETYPES, "simulerBeregningRequest")

_NSMAP = {"ns2": NS_OPPDRAGSKJEMA, "ns3": NS_SERVICETYPES}
_ENHET = etree.QName(NS_OPPDRAGSKJEMA, "enhet")
_ATTESTANT = etree.QName(NS_OPPDRAGSKJEMA, "attestant")


def plain_date(d: date) -> str:
    """`2025-08-04`: the simulation service's `dato`, no offset."""
    return d.isoformat()


def _sub(parent: etree._Element, tag: str | etree.QName, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def simulerings_periode(oppdrag: Oppdrag) -> tuple[date, date]:
    """(datoSimulerFom, datoSimulerTom): the earliest fom (an opphør line's opphør date) and the
    latest tom of the lines."""
    if not oppdrag.linjer:
        raise ValueError("a simulation request needs at least one line")
    foms: list[date] = []
    for ln in oppdrag.linjer:
        if ln.kind is LinjeKind.OPPH:
            assert ln.opphør_fom is not None
            foms.append(ln.opphør_fom)
        else:
            foms.append(ln.periode.fom)
    return min(foms), max(ln.periode.tom for ln in oppdrag.linjer)


def build_simulering(oppdrag: Oppdrag) -> etree._Element:
    """The `ns3:simulerBeregningRequest` element, children in schema order."""
    fom, tom = simulerings_periode(oppdrag)
    root = etree.Element(ROOT, nsmap=_NSMAP)
    o = _sub(root, "oppdrag")
    _sub(o, "kodeEndring", oppdrag.kode_endring)
    _sub(o, "kodeFagomraade", oppdrag.fagområde)
    _sub(o, "fagsystemId", oppdrag.fagsystem_id)
    _sub(o, "utbetFrekvens", oppdrag.utbet_frekvens)
    _sub(o, "oppdragGjelderId", oppdrag.oppdrag_gjelder_id)
    _sub(o, "datoOppdragGjelderFom", plain_date(date(2000, 1, 1)))
    _sub(o, "saksbehId", oppdrag.saksbehandler)
    for typ, enhet in oppdrag.enheter:
        e = _sub(o, _ENHET)
        _sub(e, "typeEnhet", typ)
        _sub(e, "enhet", enhet)
        _sub(e, "datoEnhetFom", plain_date(date(1970, 1, 1)))
    for ln in oppdrag.linjer:
        linje = _sub(o, "oppdragslinje")
        for tag, text in linje_fields(ln, oppdrag.fagsystem_id, plain_date):
            _sub(linje, tag, text)
        _sub(_sub(linje, _ATTESTANT), "attestantId", ln.beslutter)
    periode = _sub(root, "simuleringsPeriode")
    _sub(periode, "datoSimulerFom", plain_date(fom))
    _sub(periode, "datoSimulerTom", plain_date(tom))
    return root


def simulering_xml(oppdrag: Oppdrag) -> bytes:
    """The dryrun's simulation request as UTF-8 XML bytes."""
    return etree.tostring(build_simulering(oppdrag), xml_declaration=True, encoding="UTF-8")
