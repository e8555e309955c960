"""The historisk contract (`fagsystemer.md` HISTORISK, Codes, settled rules)."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from helved import fagsystemer
from helved.domain.diff import plan_request
from helved.domain.model import Fagsystem, Oppdrag, Periode, Periodetype, Request
from helved.errors import ErrorCode, RequestRejected
from helved.fagsystemer.historisk import CONTRACT, KLASSEKODER, parse_request
from helved.oppdrag.schema import OPPDRAG_XSD
from helved.oppdrag.xml import oppdrag_xml

IDENT = "01020312345"
ID = "3f2b8c1e-9a4d-4e1f-8b7a-2c6d5e4f3a21"


def per(fom: str, tom: str, beløp: Any = 500) -> dict[str, Any]:
    return {"fom": fom, "tom": tom, "beløp": beløp}


def historisk(*perioder: Any, **top: Any) -> dict[str, Any]:
    return {
        "id": ID,
        "sakId": "HIST-1",
        "behandlingId": "B-1",
        "personident": IDENT,
        "stønad": "ORTOPEDISK_PROTESE",
        "vedtakstidspunkt": "2025-08-18T09:30:00",
        "periodetype": "EN_GANG",
        "perioder": list(perioder),
        **top,
    }


def parse(msg: Any) -> Request:
    return parse_request(msg, original_key="k")


def rejected(msg: Any) -> RequestRejected:
    with pytest.raises(RequestRejected) as exc:
        parse(msg)
    return exc.value


def P(fom: str, tom: str, beløp: int = 500) -> Periode:
    return Periode(date.fromisoformat(fom), date.fromisoformat(tom), beløp)


@cache
def spec_schema() -> etree.XMLSchema:
    """OS's schema as the spec ships it (`shared/spec/schema`), else the packaged copy of it."""
    spec = Path(__file__).resolve().parents[4] / "shared" / "spec" / "schema" / "oppdrag" / "oppdragskjema-1.xsd"
    return etree.XMLSchema(etree.parse(str(spec if spec.exists() else OPPDRAG_XSD)))


def schema_errors(oppdrag: Oppdrag) -> list[str]:
    schema = spec_schema()
    if schema.validate(etree.fromstring(oppdrag_xml(oppdrag))):
        return []
    return [str(e) for e in schema.error_log]  # type: ignore[attr-defined]


def only_oppdrag(request: Request) -> Oppdrag:
    plan = plan_request(request, confirmed={}, seq=0, accepted=frozenset())
    assert plan.oppdrag is not None
    return plan.oppdrag


# -- the contract in the registry ------------------------------------------------------------


def test_historisk_is_registered_with_its_topics_and_fagområde():
    assert fagsystemer.contract(Fagsystem.HISTORISK) is CONTRACT
    assert fagsystemer.by_topic("historisk.utbetaling.v1") is CONTRACT
    assert CONTRACT.dryrun_topic == "helved.dryrun-historisk.v1"
    assert CONTRACT.fagområder == ("HELSREF",)
    assert fagsystemer.fagsystem_for_fagområde("HELSREF") is Fagsystem.HISTORISK


def test_every_klassekode_names_one_stønad_for_the_dryrun_answer():
    assert len(KLASSEKODER) == 56
    assert len(set(KLASSEKODER.values())) == len(KLASSEKODER)
    assert CONTRACT.stønadstyper["HTOHPR"] == "ORTOPEDISK_PROTESE"


# -- the spec's shape ------------------------------------------------------------------------


def test_one_message_is_one_utbetaling_with_the_id_as_uid():
    req = parse(historisk(per("2025-08-01", "2025-08-01", 4500), saksbehandler="Z123456", dryrun=True))
    assert req.sak_key.fagsystem is Fagsystem.HISTORISK
    assert req.dryrun is True
    assert req.whole_sak is False
    assert req.stops == ()
    assert req.utbet_frekvens == "ENG"
    assert req.vedtakstidspunkt == datetime(2025, 8, 18, 9, 30)
    (u,) = req.utbetalinger
    assert u.uid == ID
    assert (u.stønad.name, u.stønad.klassekode, u.stønad.fagområde) == ("ORTOPEDISK_PROTESE", "HTOHPR", "HELSREF")
    assert u.stønad.periodetype is Periodetype.EN_GANG
    assert u.perioder == (P("2025-08-01", "2025-08-01", 4500),)
    assert (u.saksbehandler, u.beslutter) == ("Z123456", "HELSREF")


def test_missing_saksbehandler_and_beslutter_default_to_helsref():
    req = parse(historisk(per("2025-08-01", "2025-08-01")))
    assert (req.saksbehandler, req.beslutter) == ("HELSREF", "HELSREF")


def test_unknown_fields_are_ignored_a_betalende_enhet_too():
    req = parse(historisk({**per("2025-08-01", "2025-08-01"), "betalendeEnhet": "4819"}, extra={"x": 1}))
    assert req.utbetalinger[0].perioder == (P("2025-08-01", "2025-08-01"),)


@pytest.mark.parametrize(
    ("stønad", "klassekode"),
    [
        ("TILSKUDD_SMÅHJELPEMIDLER", "HJRIM"),
        ("ORTOSE", "HTOHHÅ"),
        ("ØYEPROTESE", "HTOHØP"),
        ("HØREAPPARAT_EGENBETALING", "H-APPEGENBET"),
        ("OPPLÆRING_TILPASNING_KURS_DØVBLIND", "OPPLTILP-DOVBLIND"),
        ("OPPLÆRING_TILPASNING_FOLKEHØGSKOLE", "OPPLTILP-FHSKOLE"),
        ("OPPLÆRING_TILPASNING_BRISKEBY", "OPPLTILP-BRISKEBY"),
        ("TAPT_ARBEIDSFORTJENESTE_LEDSAGER_IOP", "TAPTARBLEDS-IOP"),
        ("KJØREOPPLÆRING_GRUPPE_2", "HJBILOPPLGR2"),
        ("REPARASJON_BEHANDLINGSBRILLE", "HTBDRB"),
    ],
)
def test_the_stønad_decides_the_klassekode_under_helsref(stønad, klassekode):
    (u,) = parse(historisk(per("2025-08-01", "2025-08-01"), stønad=stønad)).utbetalinger
    assert (u.stønad.klassekode, u.stønad.fagområde) == (klassekode, "HELSREF")


# -- stops ----------------------------------------------------------------------------------


def test_no_periods_is_a_stop_of_the_id():
    req = parse(historisk())
    assert (req.utbetalinger, req.stops) == ((), (ID,))


def test_a_stop_is_validated_like_any_message():
    assert rejected(historisk(stønad="BRILLER")).code is ErrorCode.INVALID_FIELD
    assert rejected(historisk(periodetype="DAG")).code is ErrorCode.PERIODETYPE_NOT_SUPPORTED


def test_stopping_an_id_never_paid_is_a_404_in_the_diff():
    with pytest.raises(RequestRejected) as exc:
        plan_request(parse(historisk()), confirmed={}, seq=0, accepted=frozenset())
    assert (exc.value.status_code, exc.value.code) == (404, ErrorCode.UTBETALING_NOT_FOUND)


# -- merging (settled rule 5) ----------------------------------------------------------------

MERGING = [
    ("MND", [per("2025-08-01", "2025-08-31"), per("2025-09-01", "2025-09-30")], [P("2025-08-01", "2025-09-30")]),
    (
        "MND",
        [per("2025-08-01", "2025-08-31"), per("2025-09-01", "2025-09-30", 600)],
        [P("2025-08-01", "2025-08-31"), P("2025-09-01", "2025-09-30", 600)],
    ),
    ("UKEDAG", [per("2025-08-11", "2025-08-15"), per("2025-08-04", "2025-08-08")], [P("2025-08-04", "2025-08-15")]),
    (
        "UKEDAG",
        [per("2025-08-04", "2025-08-07"), per("2025-08-11", "2025-08-15")],
        [P("2025-08-04", "2025-08-07"), P("2025-08-11", "2025-08-15")],
    ),
    (
        "EN_GANG",
        [per("2025-08-02", "2025-08-02"), per("2025-08-01", "2025-08-01")],
        [P("2025-08-01", "2025-08-01"), P("2025-08-02", "2025-08-02")],
    ),
]


@pytest.mark.parametrize(("periodetype", "given", "expected"), MERGING)
def test_periods_merge_by_settled_rule_5(periodetype, given, expected):
    (u,) = parse(historisk(*given, periodetype=periodetype)).utbetalinger
    assert u.perioder == tuple(expected)


# -- every 400 -------------------------------------------------------------------------------


def _without(msg: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in msg.items() if k != name}


GOOD = historisk(per("2025-08-01", "2025-08-01"))

REJECTED = [
    ("not an object", "x", ErrorCode.INVALID_FIELD),
    ("id missing", _without(GOOD, "id"), ErrorCode.MISSING_FIELD),
    ("id not a UUID", {**GOOD, "id": "H-17"}, ErrorCode.INVALID_FIELD),
    ("id a number", {**GOOD, "id": 17}, ErrorCode.INVALID_FIELD),
    ("sakId 31 characters", {**GOOD, "sakId": "S" * 31}, ErrorCode.SAKID_LENGTH),
    ("behandlingId missing", _without(GOOD, "behandlingId"), ErrorCode.MISSING_FIELD),
    ("personident 12 digits", {**GOOD, "personident": IDENT + "1"}, ErrorCode.INVALID_FIELD),
    ("personident under another name", {**_without(GOOD, "personident"), "ident": IDENT}, ErrorCode.MISSING_FIELD),
    ("stønad missing", _without(GOOD, "stønad"), ErrorCode.MISSING_FIELD),
    ("stønad unknown", {**GOOD, "stønad": "BRILLER"}, ErrorCode.INVALID_FIELD),
    ("vedtakstidspunkt missing", _without(GOOD, "vedtakstidspunkt"), ErrorCode.MISSING_FIELD),
    ("periodetype DAG", {**GOOD, "periodetype": "DAG"}, ErrorCode.PERIODETYPE_NOT_SUPPORTED),
    ("periodetype unknown", {**GOOD, "periodetype": "ENGANG"}, ErrorCode.INVALID_FIELD),
    ("perioder missing", _without(GOOD, "perioder"), ErrorCode.MISSING_FIELD),
    ("perioder null", {**GOOD, "perioder": None}, ErrorCode.MISSING_FIELD),
    ("periode not an object", historisk(["2025-08-01"]), ErrorCode.INVALID_FIELD),
    ("tom missing", historisk({"fom": "2025-08-01", "beløp": 1}), ErrorCode.MISSING_FIELD),
    ("fom with a time", historisk(per("2025-08-01T00:00", "2025-08-01")), ErrorCode.INVALID_FIELD),
    ("beløp a float", historisk(per("2025-08-01", "2025-08-01", 1.0)), ErrorCode.INVALID_FIELD),
    ("beløp 0", historisk(per("2025-08-01", "2025-08-01", 0)), ErrorCode.ZERO_BELOP),
    ("tom before fom", historisk(per("2025-08-02", "2025-08-01")), ErrorCode.TOM_BEFORE_FOM),
    ("EN_GANG across a year end", historisk(per("2025-12-31", "2026-01-01")), ErrorCode.EN_GANG_ACROSS_YEAR),
    (
        "overlapping periods",
        historisk(per("2025-08-01", "2025-08-10"), per("2025-08-10", "2025-08-20"), periodetype="MND"),
        ErrorCode.OVERLAPPING_PERIODS,
    ),
    (
        "UKEDAG on a weekend",
        historisk(per("2025-08-16", "2025-08-17"), periodetype="UKEDAG"),
        ErrorCode.WEEKEND_DAY_PAID,
    ),
    ("saksbehandler 9 characters", {**GOOD, "saksbehandler": "Z12345678"}, ErrorCode.SAKSBEHANDLER_LENGTH),
    ("beslutter not a string", {**GOOD, "beslutter": 7}, ErrorCode.INVALID_FIELD),
    ("dryrun 1", {**GOOD, "dryrun": 1}, ErrorCode.INVALID_FIELD),
]


@pytest.mark.parametrize(("case", "msg", "code"), REJECTED, ids=[c for c, _, _ in REJECTED])
def test_a_broken_message_is_a_400_with_a_stable_code_and_never_names_the_person(case, msg, code):
    err = rejected(msg)
    assert (err.status_code, err.code) == (400, code), case
    assert err.msg.startswith(code.value + ": ")
    assert IDENT not in err.msg


# -- through the pure diff ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("periodetype", "perioder", "type_sats"),
    [
        ("EN_GANG", [per("2025-08-01", "2025-08-01")], "ENG"),
        ("MND", [per("2025-08-01", "2025-08-31"), per("2025-09-01", "2025-09-30")], "MND"),
        ("UKEDAG", [per("2025-08-04", "2025-08-08")], "DAG"),
    ],
)
def test_a_new_sak_gives_one_oppdrag_ny_under_helsref_paid_once(periodetype, perioder, type_sats):
    oppdrag = only_oppdrag(parse(historisk(*perioder, periodetype=periodetype, stønad="ØYEPROTESE")))
    assert (oppdrag.kode_endring, oppdrag.fagområde, oppdrag.utbet_frekvens) == ("NY", "HELSREF", "ENG")
    assert oppdrag.fagsystem_id == "HIST-1"
    assert [(ln.uid, ln.klassekode, ln.periodetype.type_sats) for ln in oppdrag.linjer] == [(ID, "HTOHØP", type_sats)]
    assert oppdrag.enheter == (("BOS", "8020"),)
    assert schema_errors(oppdrag) == []
    assert b"<utbetFrekvens>ENG</utbetFrekvens>" in oppdrag_xml(oppdrag)
