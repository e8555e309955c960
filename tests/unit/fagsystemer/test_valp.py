"""The valp contract (`fagsystemer.md` VALP, Codes, settled rules 4, 7, 8 and 10)."""

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
from helved.fagsystemer.valp import CONTRACT, KLASSEKODER, parse_request
from helved.oppdrag.schema import OPPDRAG_XSD
from helved.oppdrag.xml import oppdrag_xml

IDENT = "01020312345"
ID = "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"


def valp(**fields: Any) -> dict[str, Any]:
    return {
        "id": ID,
        "sakId": "VALP-1",
        "behandlingId": "B-1",
        "personIdent": IDENT,
        "periode": {"fom": "2025-08-01", "tom": "2025-12-31"},
        "belop": 15000,
        "tilskuddstype": "SKOLEPENGER",
        "tiltakskode": "HOYERE_UTDANNING",
        "saksbehandler": "Z123456",
        "besluttetTidspunkt": "2025-08-18T09:30:00+02:00",
        **fields,
    }


def parse(msg: Any) -> Request:
    return parse_request(msg, original_key="k")


def rejected(msg: Any) -> RequestRejected:
    with pytest.raises(RequestRejected) as exc:
        parse(msg)
    return exc.value


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


def test_valp_is_registered_with_its_topics_and_fagområde():
    assert fagsystemer.contract(Fagsystem.VALP) is CONTRACT
    assert fagsystemer.by_topic("team-mulighetsrommet.tilskudd.utbetaling-v1") is CONTRACT
    assert CONTRACT.dryrun_topic == "helved.dryrun-valp.v1"
    assert CONTRACT.fagområder == ("TILSOPP",)
    assert fagsystemer.fagsystem_for_fagområde("TILSOPP") is Fagsystem.VALP


def test_every_klassekode_names_one_stønad_for_the_dryrun_answer():
    assert len(KLASSEKODER) == 40
    assert len(set(KLASSEKODER.values())) == 40
    assert CONTRACT.stønadstyper["TTOHOYUDSKOLP"] == "HOYERE_UTDANNING_SKOLEPENGER"


def test_the_registry_lists_the_fagsystemer_in_order():
    assert [c.fagsystem for c in fagsystemer.contracts()] == [
        Fagsystem.DAGPENGER,
        Fagsystem.AAP,
        Fagsystem.TILTAKSPENGER,
        Fagsystem.TILLEGGSSTØNADER,
        Fagsystem.HISTORISK,
        Fagsystem.VALP,
    ]


# -- the spec's shape ------------------------------------------------------------------------


def test_one_message_is_one_en_gang_utbetaling_with_the_id_as_uid():
    req = parse(valp(dryrun=True))
    assert req.sak_key.fagsystem is Fagsystem.VALP
    assert req.dryrun is True
    assert req.whole_sak is False
    assert req.stops == ()
    assert req.utbet_frekvens == "MND"
    (u,) = req.utbetalinger
    assert u.uid == ID
    assert (u.stønad.name, u.stønad.klassekode, u.stønad.fagområde) == (
        "HOYERE_UTDANNING_SKOLEPENGER",
        "TTOHOYUDSKOLP",
        "TILSOPP",
    )
    assert u.stønad.periodetype is Periodetype.EN_GANG
    assert u.perioder == (Periode(date(2025, 8, 1), date(2025, 12, 31), 15000),)
    assert (u.saksbehandler, u.beslutter) == ("Z123456", "TILSOPP")


def test_unknown_fields_are_ignored():
    assert parse(valp(tilsagnId="T-1", periode={"fom": "2025-08-01", "tom": "2025-08-31", "x": 1})).utbetalinger


@pytest.mark.parametrize(
    ("tiltakskode", "tilskuddstype", "klassekode"),
    [
        ("ENKELTPLASS_ARBEIDSMARKEDSOPPLAERING", "EKSAMENSGEBYR", "TTOENKPAMOEKSGEB"),
        ("ENKELTPLASS_FAG_OG_YRKESOPPLAERING", "STUDIEREISE", "TTOENKPFOYSTUDR"),
        ("HOYERE_YRKESFAGLIG_UTDANNING", "EKSAMENSGEBYR", "TTOFAGHOYUDEKSGE"),
        ("FAG_OG_YRKESOPPLAERING", "INTEGRERT_BOTILBUD", "TTOFOYINTBOTIL"),
        ("NORSKOPPLAERING_GRUNNLEGGENDE_FERDIGHETER_FOV", "SEMESTERAVGIFT", "TTONOGFSEMAVG"),
        ("STUDIESPESIALISERING", "STUDIEREISE", "TTOSTUDSPSTUDRS"),
        ("ARBEIDSMARKEDSOPPLAERING", "SKOLEPENGER", "TTOAAMOSKOLP"),
    ],
)
def test_tiltakskode_and_tilskuddstype_name_the_stønad_and_its_klassekode(tiltakskode, tilskuddstype, klassekode):
    (u,) = parse(valp(tiltakskode=tiltakskode, tilskuddstype=tilskuddstype)).utbetalinger
    assert u.stønad.name == f"{tiltakskode}_{tilskuddstype}"
    assert u.stønad.klassekode == klassekode


def test_the_kostnadssted_is_the_betalende_enhet():
    (u,) = parse(valp(kostnadssted="0387")).utbetalinger
    assert u.perioder[0].betalende_enhet == "0387"


# -- besluttetTidspunkt: an instant, as Europe/Oslo wall time -----------------------------------


@pytest.mark.parametrize(
    ("instant", "oslo"),
    [
        ("2025-07-01T10:00:00Z", datetime(2025, 7, 1, 12, 0)),  # summer: +02:00
        ("2025-01-15T10:00:00Z", datetime(2025, 1, 15, 11, 0)),  # winter: +01:00
        ("2025-07-01T12:00:00+02:00", datetime(2025, 7, 1, 12, 0)),
        ("2025-01-15T05:00:00-05:00", datetime(2025, 1, 15, 11, 0)),
        ("2025-08-18T09:30:00.123456789+02:00", datetime(2025, 8, 18, 9, 30, 0, 123456)),
        ("2025-03-30T00:59:59Z", datetime(2025, 3, 30, 1, 59, 59)),  # the last second of winter time
        ("2025-03-30T01:00:00Z", datetime(2025, 3, 30, 3, 0, 0)),  # the first of summer time
        ("2025-12-31T23:30:00Z", datetime(2026, 1, 1, 0, 30)),  # another day, another year in Oslo
    ],
)
def test_besluttet_tidspunkt_becomes_the_oslo_wall_time_of_the_instant(instant, oslo):
    req = parse(valp(besluttetTidspunkt=instant))
    assert req.vedtakstidspunkt == oslo
    assert req.vedtakstidspunkt.tzinfo is None
    assert req.utbetalinger[0].vedtakstidspunkt == oslo
    assert req.avstemming == oslo


def test_the_record_time_is_the_avstemming_when_there_is_one():
    record_time = datetime(2025, 8, 18, 10, 0, 0, 1000)
    req = parse_request(valp(), original_key="k", avstemming=record_time)
    assert (req.avstemming, req.vedtakstidspunkt) == (record_time, datetime(2025, 8, 18, 9, 30))


def test_the_vedtak_date_on_the_lines_is_the_oslo_date():
    oppdrag = only_oppdrag(parse(valp(besluttetTidspunkt="2025-08-17T22:30:00Z")))
    assert oppdrag.linjer[0].vedtaksdato == date(2025, 8, 18)


@pytest.mark.parametrize(
    "text",
    ["2025-08-18T09:30:00", "2025-08-18T09:30:00.5", "2025-08-18T09:30"],
)
def test_besluttet_tidspunkt_without_an_offset_is_refused(text):
    err = rejected(valp(besluttetTidspunkt=text))
    assert (err.status_code, err.code) == (400, ErrorCode.INVALID_FIELD)
    assert "besluttetTidspunkt must have an offset" in err.detail


@pytest.mark.parametrize(
    "text",
    [
        "2025-08-18",
        "2025-08-18 09:30:00Z",
        "2025-08-18T09:30:00+2:00",
        "2025-08-18T09:30:00+0200",
        "2025-02-30T09:30:00Z",
        "2025-08-18T09:30:00+25:00",
        "1899-12-31T22:00:00Z",  # 1899 in Oslo too (UTC+00:43 then)
        "9999-12-31T23:30:00Z",
        "20250818T093000Z",
    ],
)
def test_a_besluttet_tidspunkt_that_is_not_a_well_formed_instant_is_refused(text):
    assert rejected(valp(besluttetTidspunkt=text)).code is ErrorCode.INVALID_FIELD


# -- stops (belop 0) ------------------------------------------------------------------------


def test_belop_0_is_a_stop_of_the_id():
    req = parse(valp(belop=0))
    assert (req.utbetalinger, req.stops) == ((), (ID,))


def test_stopping_an_id_never_paid_is_a_404_in_the_diff():
    with pytest.raises(RequestRejected) as exc:
        plan_request(parse(valp(belop=0)), confirmed={}, seq=0, accepted=frozenset())
    assert (exc.value.status_code, exc.value.code) == (404, ErrorCode.UTBETALING_NOT_FOUND)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"periode": {"fom": "2025-08-31", "tom": "2025-08-01"}}, ErrorCode.TOM_BEFORE_FOM),
        ({"periode": {"fom": "2025-12-01", "tom": "2026-01-31"}}, ErrorCode.EN_GANG_ACROSS_YEAR),
        ({"besluttetTidspunkt": "2025-08-18T09:30:00"}, ErrorCode.INVALID_FIELD),
        ({"tiltakskode": "JOBBKLUBB"}, ErrorCode.INVALID_FIELD),
        ({"kostnadssted": "03"}, ErrorCode.INVALID_FIELD),
        ({"saksbehandler": None}, ErrorCode.MISSING_FIELD),
    ],
)
def test_a_stop_is_validated_like_any_message(fields, code):
    assert rejected(valp(belop=0, **fields)).code is code


# -- every 400 -------------------------------------------------------------------------------


def _without(name: str) -> dict[str, Any]:
    return {k: v for k, v in valp().items() if k != name}


REJECTED = [
    ("not an object", None, ErrorCode.INVALID_FIELD),
    ("id missing", _without("id"), ErrorCode.MISSING_FIELD),
    ("id not a UUID", valp(id="tilsagn-17"), ErrorCode.INVALID_FIELD),
    ("id a UUID without hyphens", valp(id=ID.replace("-", "")), ErrorCode.INVALID_FIELD),
    ("sakId empty", valp(sakId=""), ErrorCode.SAKID_LENGTH),
    ("behandlingId 31 characters", valp(behandlingId="B" * 31), ErrorCode.BEHANDLINGID_LENGTH),
    ("personIdent missing", _without("personIdent"), ErrorCode.MISSING_FIELD),
    ("personIdent spelt personident", {**_without("personIdent"), "personident": IDENT}, ErrorCode.MISSING_FIELD),
    ("personIdent not digits", valp(personIdent="0102031234x"), ErrorCode.INVALID_FIELD),
    ("periode missing", _without("periode"), ErrorCode.MISSING_FIELD),
    ("periode a string", valp(periode="2025-08-01/2025-08-31"), ErrorCode.INVALID_FIELD),
    ("periode.fom missing", valp(periode={"tom": "2025-08-31"}), ErrorCode.MISSING_FIELD),
    ("periode.tom not a date", valp(periode={"fom": "2025-08-01", "tom": "31.08.2025"}), ErrorCode.INVALID_FIELD),
    ("tom before fom", valp(periode={"fom": "2025-08-31", "tom": "2025-08-01"}), ErrorCode.TOM_BEFORE_FOM),
    ("across a year end", valp(periode={"fom": "2025-08-01", "tom": "2026-06-30"}), ErrorCode.EN_GANG_ACROSS_YEAR),
    ("belop missing", _without("belop"), ErrorCode.MISSING_FIELD),
    ("belop negative", valp(belop=-1), ErrorCode.INVALID_FIELD),
    ("belop a float", valp(belop=100.0), ErrorCode.INVALID_FIELD),
    ("belop a string", valp(belop="100"), ErrorCode.INVALID_FIELD),
    ("belop true", valp(belop=True), ErrorCode.INVALID_FIELD),
    ("tiltakskode missing", _without("tiltakskode"), ErrorCode.MISSING_FIELD),
    ("tiltakskode unknown", valp(tiltakskode="JOBBKLUBB"), ErrorCode.INVALID_FIELD),
    ("tilskuddstype unknown", valp(tilskuddstype="BOKER"), ErrorCode.INVALID_FIELD),
    ("tilskuddstype lower case", valp(tilskuddstype="skolepenger"), ErrorCode.INVALID_FIELD),
    ("kostnadssted 3 characters", valp(kostnadssted="038"), ErrorCode.INVALID_FIELD),
    ("kostnadssted 14 characters", valp(kostnadssted="0" * 14), ErrorCode.INVALID_FIELD),
    ("kostnadssted a number", valp(kostnadssted=387), ErrorCode.INVALID_FIELD),
    ("saksbehandler missing", _without("saksbehandler"), ErrorCode.MISSING_FIELD),
    ("saksbehandler 9 characters", valp(saksbehandler="Z12345678"), ErrorCode.SAKSBEHANDLER_LENGTH),
    ("beslutter empty", valp(beslutter=""), ErrorCode.BESLUTTER_LENGTH),
    ("besluttetTidspunkt missing", _without("besluttetTidspunkt"), ErrorCode.MISSING_FIELD),
    ("dryrun a string", valp(dryrun="false"), ErrorCode.INVALID_FIELD),
]


@pytest.mark.parametrize(("case", "msg", "code"), REJECTED, ids=[c for c, _, _ in REJECTED])
def test_a_broken_message_is_a_400_with_a_stable_code_and_never_names_the_person(case, msg, code):
    err = rejected(msg)
    assert (err.status_code, err.code) == (400, code), case
    assert err.msg.startswith(code.value + ": ")
    assert IDENT[:10] not in err.msg


# -- through the pure diff ---------------------------------------------------------------------


def test_a_new_sak_gives_one_oppdrag_ny_under_tilsopp_paid_once():
    oppdrag = only_oppdrag(parse(valp(tiltakskode="FAG_OG_YRKESOPPLAERING", tilskuddstype="EKSAMENSGEBYR")))
    assert (oppdrag.kode_endring, oppdrag.fagområde, oppdrag.utbet_frekvens) == ("NY", "TILSOPP", "MND")
    assert oppdrag.fagsystem_id == "VALP-1"
    assert oppdrag.saksbehandler == "Z123456"
    (linje,) = oppdrag.linjer
    assert (linje.uid, linje.klassekode, linje.periodetype.type_sats) == (ID, "TTOFOYEKSGEB", "ENG")
    assert (linje.periode.fom, linje.periode.tom, linje.periode.beløp) == (date(2025, 8, 1), date(2025, 12, 31), 15000)
    assert (linje.saksbehandler, linje.beslutter) == ("Z123456", "TILSOPP")
    assert oppdrag.enheter == (("BOS", "8020"),)
    assert schema_errors(oppdrag) == []


def test_a_kostnadssted_gives_bos_that_enhet_and_beh_8020():
    oppdrag = only_oppdrag(parse(valp(kostnadssted="0387")))
    assert oppdrag.enheter == (("BOS", "0387"), ("BEH", "8020"))
    assert schema_errors(oppdrag) == []
