"""Hand-written Oppdrag XML for the emulator's tests.

Built from string templates here, not by helved's Oppdrag builder nor by the emulator, and
checked against the XSD by the tests' own lxml schema, so that the emulator is tested against
documents nobody else produced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from lxml import etree

NS = "http://www.trygdeetaten.no/skjema/oppdrag"
XSD = Path(__file__).resolve().parents[2] / "helved" / "oppdrag" / "xsd" / "oppdragskjema-1.xsd"
OSLO = ZoneInfo("Europe/Oslo")
SCHEMA = etree.XMLSchema(etree.parse(str(XSD)))


def schema_with_dag7() -> etree.XMLSchema:
    """The shipped XSD with DAG7 added to TtypeSats (the shipped one lacks it)."""
    doc = etree.parse(str(XSD))
    xs = "http://www.w3.org/2001/XMLSchema"
    (restriction,) = doc.xpath("//xs:simpleType[@name='TtypeSats']/xs:restriction", namespaces={"xs": xs})
    etree.SubElement(restriction, f"{{{xs}}}enumeration", value="DAG7")
    return etree.XMLSchema(doc)


def xsd_date(d: date, pad: bool = False) -> str:
    """`2024-06-03+02:00`. Padded dates are not used: lxml's validator does not collapse
    whitespace in Tdato (a restriction of xsd:date), so they would not validate."""
    off = datetime(d.year, d.month, d.day, 12, tzinfo=OSLO).strftime("%z")
    return f"{d.isoformat()}{off[:3]}:{off[3:]}"


@dataclass(frozen=True)
class Line:
    id: str
    fom: date
    tom: date | None
    sats: int = 100
    ref: str | None = None
    opph: date | None = None  # datoStatusFom: an opphør line (ENDR + OPPH)
    klasse: str = "DAGPENGER"
    type_sats: str = "DAG"
    henvisning: str = "B-1"
    kode_endring_linje: str | None = None  # override (for invalid/unsupported cases)
    status: str | None = None  # override kodeStatusLinje


def ny(id: str, fom: date, tom: date | None, sats: int = 100, ref: str | None = None, **kw) -> Line:
    return Line(id, fom, tom, sats, ref, **kw)


def opph(id: str, fom: date, tom: date, sats: int, d: date, **kw) -> Line:
    """An opphør line on `id` (with that line's period data) from `d`."""
    return Line(id, fom, tom, sats, None, opph=d, **kw)


def _el(name: str, value: str | None, pad: bool = False) -> str:
    if value is None:
        return ""
    v = escape(value)
    if pad:
        v = f"{v}   "
    return f"<{name}>{v}</{name}>"


def line_xml(line: Line, sak: str, pad: bool = False) -> str:
    is_opph = line.opph is not None
    kel = line.kode_endring_linje or ("ENDR" if is_opph else "NY")
    status = line.status or ("OPPH" if is_opph else None)
    parts = [
        _el("kodeEndringLinje", kel),
        _el("kodeStatusLinje", status),
        _el("datoStatusFom", xsd_date(line.opph) if line.opph else None),
        _el("vedtakId", "2024-06-01"),
        _el("delytelseId", line.id, pad),
        _el("kodeKlassifik", line.klasse, pad),
        _el("datoKlassifikFom", xsd_date(line.fom)),
        _el("datoVedtakFom", xsd_date(line.fom)),
        _el("datoVedtakTom", xsd_date(line.tom) if line.tom else None),
        _el("sats", f"  {line.sats} " if pad else str(line.sats)),
        _el("fradragTillegg", "T"),
        _el("typeSats", line.type_sats),
        _el("brukKjoreplan", "N"),
        _el("saksbehId", "Z123456", pad=False),
        _el("utbetalesTilId", "12345678910"),
        _el("henvisning", line.henvisning, pad),
        _el("refFagsystemId", sak if line.ref else None, pad),
        _el("refDelytelseId", line.ref, pad),
        f"<vedtakssats-157>{_el('vedtakssats', str(line.sats))}</vedtakssats-157>",
        f"<attestant-180>{_el('attestantId', 'Z654321')}</attestant-180>",
    ]
    return "<oppdrags-linje-150>" + "".join(parts) + "</oppdrags-linje-150>"


def oppdrag_xml(
    lines: list[Line],
    kode_endring: str = "NY",
    sak: str = "SAK-1",
    fagomraade: str = "DP",
    prefix: str | None = "ns2",
    pad: bool = False,
    indent: bool = False,
    validate: bool = True,
    schema: etree.XMLSchema = SCHEMA,
    nokkel: str = "2024-06-01-10.00.00.000000",
) -> bytes:
    """One Oppdrag. `prefix=None` puts the root in the default namespace (children xmlns="")."""
    nl = "\n    " if indent else ""
    o110 = "".join(
        [
            _el("kodeAksjon", "1"),
            _el("kodeEndring", kode_endring),
            _el("kodeFagomraade", fagomraade),
            _el("fagsystemId", sak, pad),
            _el("utbetFrekvens", "MND"),
            _el("oppdragGjelderId", "12345678910"),
            _el("datoOppdragGjelderFom", xsd_date(date(2000, 1, 1))),
            _el("saksbehId", "Z123456"),
            "<avstemming-115>"
            + _el("kodeKomponent", fagomraade)
            + _el("nokkelAvstemming", nokkel)
            + _el("tidspktMelding", nokkel)
            + "</avstemming-115>",
            "<oppdrags-enhet-120>"
            + _el("typeEnhet", "BOS")
            + _el("enhet", "8020")
            + _el("datoEnhetFom", xsd_date(date(1970, 1, 1)))
            + "</oppdrags-enhet-120>",
            *(nl + line_xml(line, sak, pad) for line in lines),
        ]
    )
    if prefix is None:
        root_open, root_close, child_ns = f'<oppdrag xmlns="{NS}">', "</oppdrag>", ' xmlns=""'
    else:
        root_open = f'<{prefix}:oppdrag xmlns:{prefix}="{NS}">'
        root_close, child_ns = f"</{prefix}:oppdrag>", ""
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"{root_open}{nl}<oppdrag-110{child_ns}>{o110}</oppdrag-110>{nl[:1]}{root_close}"
    ).encode()
    if validate:
        root = etree.fromstring(doc)
        assert schema.validate(root), (schema.error_log, doc.decode())
    return doc


# ---- independent reading of a kvittering (local names, trimmed) -----------------------------


def local(el) -> str:
    return etree.QName(el).localname


def mmel_raw(kvittering: bytes) -> dict[str, str]:
    root = etree.fromstring(kvittering)
    first = root[0]
    assert local(first) == "mmel" and etree.QName(first).namespace is None
    return {local(c): c.text or "" for c in first}


def alvorlighetsgrad(kvittering: bytes) -> str:
    return mmel_raw(kvittering)["alvorlighetsgrad"].strip()


def beskr(kvittering: bytes) -> str:
    return mmel_raw(kvittering)["beskrMelding"].strip()


def delytelse_ids(kvittering: bytes) -> list[str]:
    root = etree.fromstring(kvittering)
    return [(el.text or "").strip() for el in root.iter() if isinstance(el.tag, str) and local(el) == "delytelseId"]


# ---- what a list of periods pays, per the OS semantics in the issue -------------------------


def expected_paid(periods: list[tuple[date, date, int]], type_sats: str = "DAG") -> dict[date, int]:
    out: dict[date, int] = {}

    def add(d: date, b: int) -> None:
        out[d] = out.get(d, 0) + b

    for fom, tom, b in periods:
        if type_sats == "ENG":
            add(fom, b)
            continue
        d = fom
        while d <= tom:
            if type_sats == "MND":
                if d == fom or d.day == 1:
                    add(d, b)
            elif type_sats == "DAG7" or d.weekday() < 5:
                add(d, b)
            d += timedelta(days=1)
    return dict(sorted(out.items()))
