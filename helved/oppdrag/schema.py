"""OS's own XML schemas, shipped with the package, compiled once."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

XSD_DIR = Path(__file__).parent / "xsd"
OPPDRAG_XSD = XSD_DIR / "oppdragskjema-1.xsd"
SIMULERING_XSD = XSD_DIR / "simulering/no/nav/system/os/tjenester/simulerFpService/simulerFpServiceServiceTypes.xsd"


@cache
def oppdrag_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(OPPDRAG_XSD)))


@cache
def simulering_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SIMULERING_XSD)))


def schema_errors(schema: etree.XMLSchema, xml: bytes) -> list[str]:
    """Every validation error of `xml` against `schema` (empty when valid)."""
    doc = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]  # type: ignore[attr-defined]
