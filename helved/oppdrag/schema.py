"""OS's own XML schemas, shipped with the package, compiled once: the one place they are loaded
(the writers, the readers, the dryrun answer and the emulator all take them from here)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

XSD_DIR = Path(__file__).parent / "xsd"
OPPDRAG_XSD = XSD_DIR / "oppdragskjema-1.xsd"
SIMULERING_XSD = XSD_DIR / "simulering/no/nav/system/os/tjenester/simulerFpService/simulerFpServiceServiceTypes.xsd"
# The simulation service's types plus the one global `ns3:simulerBeregningRequest` element.
SIMULERING_WRAPPER_XSD = XSD_DIR / "simulering" / "wrapper.xsd"
AVSTEMMING_XSD = XSD_DIR / "avstemming" / "meldinger.xsd"


@cache
def load(path: Path) -> etree.XMLSchema:
    """The schema at `path`, compiled once (no network, no entity expansion)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    return etree.XMLSchema(etree.parse(str(path), parser))


def oppdrag_schema() -> etree.XMLSchema:
    return load(OPPDRAG_XSD)


def simulering_schema() -> etree.XMLSchema:
    return load(SIMULERING_XSD)


def simulering_wrapper_schema() -> etree.XMLSchema:
    return load(SIMULERING_WRAPPER_XSD)


def avstemming_schema() -> etree.XMLSchema:
    return load(AVSTEMMING_XSD)


def schema_errors(schema: etree.XMLSchema, xml: bytes) -> list[str]:
    """Every validation error of `xml` against `schema` (empty when valid)."""
    doc = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]  # type: ignore[attr-defined]
