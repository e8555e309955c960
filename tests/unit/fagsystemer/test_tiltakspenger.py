"""The tiltakspenger contract (`fagsystemer.md`, TILTAKSPENGER and settled rules 4-7): reading a
message, splitting it per (meldeperiode, stønad after barnetillegg), merging periods, enheter, and
what the one diff makes of it (a stop carries the stopped chain's own stønad)."""

from __future__ import annotations

import random
from datetime import date, datetime
from typing import Any

import pytest

from helved import fagsystemer
from helved.domain.diff import plan_request
from helved.domain.ids import utbetaling_uid
from helved.domain.model import Fagsystem, LinjeKind, Periode, Periodetype, Request
from helved.errors import ErrorCode, RequestRejected
from helved.fagsystemer import tiltakspenger
from helved.fagsystemer.tiltakspenger import STØNADER, parse_request
from helved.oppdrag.schema import oppdrag_schema, schema_errors
from helved.oppdrag.xml import oppdrag_xml

IDENT = "12345678910"
SAK = "TP-1"
MP1 = "2025-08-04/2025-08-17"
MP2 = "2025-08-18/2025-08-31"


def periode(
    meldeperiode: str,
    fom: str,
    tom: str,
    beløp: int,
    stønad: str = "ARBEIDSTRENING",
    barnetillegg: bool | None = None,
    enhet: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"meldeperiode": meldeperiode, "fom": fom, "tom": tom, "beløp": beløp, "stønad": stønad}
    if barnetillegg is not None:
        out["barnetillegg"] = barnetillegg
    if enhet is not None:
        out["betalendeEnhet"] = enhet
    return out


def msg(*perioder: dict[str, Any], **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sakId": SAK,
        "behandlingId": "B-1",
        "personident": IDENT,
        "vedtakstidspunkt": "2025-08-18T09:30:00",
        "saksbehandler": "Z123456",
        "beslutter": "Z654321",
        "perioder": list(perioder),
    }
    out.update(extra)
    return out


def P(fom: str, tom: str, beløp: int, enhet: str | None = None) -> Periode:
    return Periode(date.fromisoformat(fom), date.fromisoformat(tom), beløp, None, enhet)


def uid(meldeperiode: str, klassekode: str) -> str:
    return utbetaling_uid("TILTAKSPENGER", SAK, meldeperiode, klassekode)


def parse(value: Any) -> Request:
    return parse_request(value, original_key="k")


def rejected(value: Any) -> RequestRejected:
    with pytest.raises(RequestRejected) as exc:
        parse(value)
    return exc.value


# -- the spec's shapes -------------------------------------------------------------------------


def test_a_message_becomes_one_utbetaling_per_meldeperiode_and_stønad_with_a_derived_uid():
    r = parse(
        msg(
            periode(MP1, "2025-08-04", "2025-08-15", 300, barnetillegg=False),
            periode(MP2, "2025-08-18", "2025-08-29", 300),
            dryrun=False,
        )
    )
    assert r.sak_key.fagsystem is Fagsystem.TILTAKSPENGER and r.sak_key.sak_id == SAK
    assert r.whole_sak and r.stops == () and not r.dryrun and r.avvent is None
    assert [(u.uid, u.stønad.name, u.stønad.klassekode, u.perioder) for u in r.utbetalinger] == [
        (uid(MP1, "TPTPATT"), "ARBEIDSTRENING", "TPTPATT", (P("2025-08-04", "2025-08-15", 300),)),
        (uid(MP2, "TPTPATT"), "ARBEIDSTRENING", "TPTPATT", (P("2025-08-18", "2025-08-29", 300),)),
    ]
    u = r.utbetalinger[0]
    assert (u.stønad.fagområde, u.stønad.periodetype) == ("TILTPENG", Periodetype.UKEDAG)
    assert (u.ident, u.behandling_id, u.saksbehandler, u.beslutter) == (IDENT, "B-1", "Z123456", "Z654321")
    assert u.vedtakstidspunkt == datetime(2025, 8, 18, 9, 30)


def test_tiltakspenger_has_no_vedtakssats():
    r = parse(msg(periode(MP1, "2025-08-04", "2025-08-15", 300)))
    assert r.utbetalinger[0].perioder[0].vedtakssats is None


def test_barnetillegg_switches_the_stønad_to_its_barn_twin_a_chain_of_its_own():
    r = parse(
        msg(
            periode(MP1, "2025-08-04", "2025-08-15", 300),
            periode(MP1, "2025-08-04", "2025-08-15", 55, barnetillegg=True),
        )
    )
    assert [(u.uid, u.stønad.name, u.stønad.klassekode) for u in r.utbetalinger] == [
        (uid(MP1, "TPBTATTILT"), "ARBEIDSTRENING_BARN", "TPBTATTILT"),
        (uid(MP1, "TPTPATT"), "ARBEIDSTRENING", "TPTPATT"),
    ]


# The spec's table, copied here on purpose: the module's table is checked against it.
SPEC_KLASSEKODER = {
    "ARBEIDSFORBEREDENDE_TRENING": ("TPTPAFT", "TPBTAF"),
    "ARBEIDSRETTET_REHABILITERING": ("TPTPARREHABAGDAG", "TPBTARREHABAGDAG"),
    "ARBEIDSTRENING": ("TPTPATT", "TPBTATTILT"),
    "AVKLARING": ("TPTPAAG", "TPBTAAGR"),
    "DIGITAL_JOBBKLUBB": ("TPTPDJB", "TPBTDJK"),
    "ENKELTPLASS_AMO": ("TPTPEPAMO", "TPBTEPAMO"),
    "ENKELTPLASS_VGS_OG_HØYERE_YRKESFAG": ("TPTPEPVGSHOU", "TPBTEPVGSHOY"),
    "FORSØK_OPPLÆRING_LENGRE_VARIGHET": ("TPTPFLV", "TPBTFLV"),
    "GRUPPE_AMO": ("TPTPGRAMO", "TPBTGRAMO"),
    "GRUPPE_VGS_OG_HØYERE_YRKESFAG": ("TPTPGRVGSHOY", "TPBTGRVGSHOY"),
    "HØYERE_UTDANNING": ("TPTPHOYUTD", "TPBTHOYUTD"),
    "INDIVIDUELL_JOBBSTØTTE": ("TPTPIPS", "TPBTIPS"),
    "INDIVIDUELL_KARRIERESTØTTE_UNG": ("TPTPIPSUNG", "TPBTIPSUNG"),
    "JOBBKLUBB": ("TPTPJK2009", "TPBTJK2009"),
    "OPPFØLGING": ("TPTPOPPFAG", "TPBTOPPFAGR"),
    "UTVIDET_OPPFØLGING_I_NAV": ("TPTPUAOPPF", "TPBTUAOPPFL"),
    "UTVIDET_OPPFØLGING_I_OPPLÆRING": ("TPTPUOPPFOPPL", "TPBTUOPPFOPPL"),
    "ARBEIDSMARKEDSOPPLÆRING_AMO": ("TPFORSAMOGRU", "TPFORSAMOGRUBT"),
    "NORSKOPPLÆRING_GRUNNLEGGENDE_FERDIGHETER": ("TPFORSAMOENK", "TPFORSAMOENKBT"),
    "FAG_OG_YRKESOPPLÆRING": ("TPFORSFAGGRU", "TPFORSFAGGRUBT"),
    "STUDIESPESIALISERING": ("TPFORSFAGENK", "TPFORSFAGENKBT"),
    "FAGSKOLE": ("TPFORSHOYUTD", "TPFORSHOYUTDBT"),
}


def test_the_stønad_table_is_the_specs():
    assert {name: (base.klassekode, barn.klassekode) for name, (base, barn) in STØNADER.items()} == SPEC_KLASSEKODER
    assert all(barn.name == f"{name}_BARN" for name, (_, barn) in STØNADER.items())


@pytest.mark.parametrize(("stønad", "klassekoder"), sorted(SPEC_KLASSEKODER.items()))
def test_every_stønad_and_its_barn_twin_are_paid_under_their_klassekode(stønad, klassekoder):
    r = parse(
        msg(
            periode(MP1, "2025-08-04", "2025-08-15", 300, stønad),
            periode(MP1, "2025-08-04", "2025-08-15", 55, stønad, barnetillegg=True),
        )
    )
    assert sorted(u.stønad.klassekode for u in r.utbetalinger) == sorted(klassekoder)
    assert sorted(u.stønad.name for u in r.utbetalinger) == [stønad, f"{stønad}_BARN"]


def test_unknown_fields_are_ignored():
    plain = parse(msg(periode(MP1, "2025-08-04", "2025-08-15", 300)))
    noisy = parse(msg(dict(periode(MP1, "2025-08-04", "2025-08-15", 300), x=1), ukjent=[None]))
    assert noisy == plain


def test_missing_saksbehandler_and_beslutter_default_to_the_fagområde_code():
    value = msg(periode(MP1, "2025-08-04", "2025-08-15", 300))
    del value["saksbehandler"]
    value["beslutter"] = None
    r = parse(value)
    assert (r.saksbehandler, r.beslutter) == ("TILTPENG", "TILTPENG")


@pytest.mark.parametrize(("given", "dryrun"), [(None, False), (False, False), (True, True)])
def test_dryrun_is_an_optional_boolean(given, dryrun):
    value = msg(periode(MP1, "2025-08-04", "2025-08-15", 300))
    if given is not None:
        value["dryrun"] = given
    assert parse(value).dryrun is dryrun


def test_an_empty_message_is_a_valid_request_with_nothing_to_send():
    r = parse(msg())
    assert r.utbetalinger == ()
    assert plan_request(r, {}, seq=0, accepted=frozenset()).oppdrag is None


def test_split_order_is_by_first_fom_then_klassekode_whatever_the_message_order():
    perioder = [
        periode(MP2, "2025-08-18", "2025-08-29", 300),
        periode(MP1, "2025-08-04", "2025-08-15", 300, "AVKLARING"),
        periode(MP1, "2025-08-04", "2025-08-15", 55, "AVKLARING", barnetillegg=True),
        periode(MP1, "2025-08-11", "2025-08-15", 300),
    ]
    r = parse(msg(*perioder))
    assert [u.stønad.klassekode for u in r.utbetalinger] == ["TPBTAAGR", "TPTPAAG", "TPTPATT", "TPTPATT"]
    shuffled = perioder[:]
    random.Random(5).shuffle(shuffled)
    assert parse(msg(*shuffled)) == r


# -- merging (settled rule 5) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "perioder"),
    [
        ([("2025-08-04", "2025-08-08", 300), ("2025-08-11", "2025-08-15", 300)], [P("2025-08-04", "2025-08-15", 300)]),
        ([("2025-08-11", "2025-08-17", 300), ("2025-08-04", "2025-08-10", 300)], [P("2025-08-04", "2025-08-17", 300)]),
        (
            [("2025-08-04", "2025-08-07", 300), ("2025-08-11", "2025-08-15", 300)],
            [P("2025-08-04", "2025-08-07", 300), P("2025-08-11", "2025-08-15", 300)],
        ),
        (
            [("2025-08-04", "2025-08-08", 300), ("2025-08-11", "2025-08-15", 250)],
            [P("2025-08-04", "2025-08-08", 300), P("2025-08-11", "2025-08-15", 250)],
        ),
    ],
    ids=["next-weekday", "next-day", "gap", "other-beløp"],
)
def test_periods_of_one_meldeperiode_merge_by_rule_5(given, perioder):
    r = parse(msg(*(periode(MP1, fom, tom, beløp) for fom, tom, beløp in given)))
    assert r.utbetalinger[0].perioder == tuple(perioder)


def test_periods_with_another_betalende_enhet_are_not_merged_with_the_enhetless():
    r = parse(
        msg(
            periode(MP1, "2025-08-04", "2025-08-08", 300),
            periode(MP1, "2025-08-11", "2025-08-15", 300, enhet="4819"),
        )
    )
    assert r.utbetalinger[0].perioder == (
        P("2025-08-04", "2025-08-08", 300),
        P("2025-08-11", "2025-08-15", 300, "4819"),
    )


def test_overlapping_periods_of_one_meldeperiode_are_a_400():
    e = rejected(msg(periode(MP1, "2025-08-04", "2025-08-12", 300), periode(MP1, "2025-08-11", "2025-08-15", 300)))
    assert (e.status_code, e.code) == (400, ErrorCode.OVERLAPPING_PERIODS)
    assert MP1 in e.detail


def test_the_same_day_paid_in_two_meldeperioder_for_one_klassekode_is_a_duplicate_day():
    e = rejected(msg(periode(MP1, "2025-08-04", "2025-08-15", 300), periode(MP2, "2025-08-15", "2025-08-29", 300)))
    assert (e.code, e.detail) == (ErrorCode.DUPLICATE_DAY, "TPTPATT day 2025-08-15 is paid twice")


def test_the_same_days_under_two_klassekoder_are_no_duplicate():
    r = parse(
        msg(
            periode(MP1, "2025-08-04", "2025-08-15", 300),
            periode(MP2, "2025-08-04", "2025-08-15", 300, "AVKLARING"),
            periode(MP2, "2025-08-04", "2025-08-15", 55, barnetillegg=True),
        )
    )
    assert len(r.utbetalinger) == 3


def test_a_period_without_a_weekday_is_weekend_day_paid():
    e = rejected(msg(periode(MP1, "2025-08-16", "2025-08-17", 300)))
    assert (e.status_code, e.code) == (400, ErrorCode.WEEKEND_DAY_PAID)
    assert "2025-08-16..2025-08-17" in e.detail


# -- enheter (settled rule 7) ------------------------------------------------------------------


@pytest.mark.parametrize("enhet", ["4819", "0315", "1234567890123"])
def test_a_betalende_enhet_of_4_to_13_characters_goes_on_the_periods(enhet):
    r = parse(msg(periode(MP1, "2025-08-04", "2025-08-15", 300, enhet=enhet)))
    assert r.utbetalinger[0].perioder == (P("2025-08-04", "2025-08-15", 300, enhet),)


def test_two_betalende_enheter_in_one_request_are_mixed_enhet():
    e = rejected(
        msg(
            periode(MP1, "2025-08-04", "2025-08-15", 300, enhet="4819"),
            periode(MP2, "2025-08-18", "2025-08-29", 300),
            periode(MP2, "2025-08-18", "2025-08-29", 55, barnetillegg=True, enhet="0315"),
        )
    )
    assert (e.status_code, e.code) == (400, ErrorCode.MIXED_ENHET)
    assert "4819" in e.detail and "0315" in e.detail


def test_a_betalende_enhet_gives_the_oppdrag_bos_that_enhet_and_beh_8020():
    r = parse(msg(periode(MP1, "2025-08-04", "2025-08-15", 300, enhet="4819")))
    o = plan_request(r, {}, seq=0, accepted=frozenset()).oppdrag
    assert o is not None and o.enheter == (("BOS", "4819"), ("BEH", "8020"))
    assert schema_errors(oppdrag_schema(), oppdrag_xml(o)) == []


# -- every 400 with its code -------------------------------------------------------------------


def _without(key: str) -> dict[str, Any]:
    value = msg(periode(MP1, "2025-08-04", "2025-08-15", 300))
    del value[key]
    return value


def _periode_with(**fields: Any) -> dict[str, Any]:
    return msg({**periode(MP1, "2025-08-04", "2025-08-15", 300), **fields})


REJECTIONS = [
    ("not-an-object", "x", ErrorCode.INVALID_FIELD, "JSON object"),
    ("sakId-missing", _without("sakId"), ErrorCode.MISSING_FIELD, "sakId"),
    ("sakId-too-long", msg(sakId="S" * 31), ErrorCode.SAKID_LENGTH, "sakId"),
    ("behandlingId-empty", msg(behandlingId=""), ErrorCode.BEHANDLINGID_LENGTH, "behandlingId"),
    ("personident-missing", _without("personident"), ErrorCode.MISSING_FIELD, "personident"),
    ("personident-12-digits", msg(personident=IDENT + "1"), ErrorCode.INVALID_FIELD, "personident"),
    ("personident-letters", msg(personident="1234567891X"), ErrorCode.INVALID_FIELD, "personident"),
    ("vedtak-missing", _without("vedtakstidspunkt"), ErrorCode.MISSING_FIELD, "vedtakstidspunkt"),
    (
        "vedtak-dp-name-only",
        {**_without("vedtakstidspunkt"), "vedtakstidspunktet": "2025-08-18T09:30:00"},
        ErrorCode.MISSING_FIELD,
        "vedtakstidspunkt",
    ),
    ("vedtak-bad", msg(vedtakstidspunkt="18.08.2025 09:30"), ErrorCode.INVALID_FIELD, "vedtakstidspunkt"),
    ("saksbehandler-9", msg(saksbehandler="TILTPENG1"), ErrorCode.SAKSBEHANDLER_LENGTH, "saksbehandler"),
    ("beslutter-9", msg(beslutter="Z12345678"), ErrorCode.BESLUTTER_LENGTH, "beslutter"),
    ("dryrun-1", msg(dryrun=1), ErrorCode.INVALID_FIELD, "dryrun"),
    ("perioder-missing", _without("perioder"), ErrorCode.MISSING_FIELD, "perioder"),
    ("perioder-a-string", msg(perioder="[]"), ErrorCode.INVALID_FIELD, "perioder"),
    ("periode-a-list", msg([]), ErrorCode.INVALID_FIELD, "perioder[0]"),
    ("meldeperiode-missing", _periode_with(meldeperiode=None), ErrorCode.MISSING_FIELD, "perioder[0].meldeperiode"),
    ("meldeperiode-empty", _periode_with(meldeperiode=""), ErrorCode.INVALID_FIELD, "perioder[0].meldeperiode"),
    ("meldeperiode-a-number", _periode_with(meldeperiode=7), ErrorCode.INVALID_FIELD, "perioder[0].meldeperiode"),
    ("fom-ordinal", _periode_with(fom="2025-216"), ErrorCode.INVALID_FIELD, "perioder[0].fom"),
    ("tom-missing", _periode_with(tom=None), ErrorCode.MISSING_FIELD, "perioder[0].tom"),
    ("tom-before-fom", _periode_with(tom="2025-08-01"), ErrorCode.TOM_BEFORE_FOM, "perioder[0]"),
    ("beløp-zero", _periode_with(beløp=0), ErrorCode.ZERO_BELOP, "beløp 0"),
    ("beløp-a-string", _periode_with(beløp="300"), ErrorCode.INVALID_FIELD, "perioder[0].beløp"),
    ("beløp-missing", _periode_with(beløp=None), ErrorCode.MISSING_FIELD, "perioder[0].beløp"),
    ("stønad-missing", _periode_with(stønad=None), ErrorCode.MISSING_FIELD, "perioder[0].stønad"),
    ("stønad-unknown", _periode_with(stønad="KURS"), ErrorCode.INVALID_FIELD, "perioder[0].stønad"),
    ("stønad-a-barn-name", _periode_with(stønad="ARBEIDSTRENING_BARN"), ErrorCode.INVALID_FIELD, "stønad"),
    ("stønad-a-klassekode", _periode_with(stønad="TPTPATT"), ErrorCode.INVALID_FIELD, "stønad"),
    ("barnetillegg-a-string", _periode_with(barnetillegg="true"), ErrorCode.INVALID_FIELD, "barnetillegg"),
    ("enhet-3", _periode_with(betalendeEnhet="481"), ErrorCode.INVALID_FIELD, "perioder[0].betalendeEnhet"),
    ("enhet-14", _periode_with(betalendeEnhet="12345678901234"), ErrorCode.INVALID_FIELD, "betalendeEnhet"),
    ("enhet-padded", _periode_with(betalendeEnhet=" 4819"), ErrorCode.INVALID_FIELD, "betalendeEnhet"),
    ("enhet-a-number", _periode_with(betalendeEnhet=4819), ErrorCode.INVALID_FIELD, "betalendeEnhet"),
]


@pytest.mark.parametrize(("value", "code", "names"), [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS])
def test_a_broken_message_is_a_400_with_a_stable_code_naming_the_field_never_the_ident(value, code, names):
    e = rejected(value)
    assert (e.status_code, e.code) == (400, code)
    assert names in e.detail
    assert IDENT not in e.msg


# -- through the one diff --------------------------------------------------------------------


def test_a_first_message_gives_a_new_tiltpeng_oppdrag_that_validates_against_os_schema():
    r = parse(
        msg(
            periode(MP1, "2025-08-04", "2025-08-15", 300),
            periode(MP1, "2025-08-04", "2025-08-15", 55, barnetillegg=True),
            periode(MP2, "2025-08-18", "2025-08-29", 300, "ARBEIDSRETTET_REHABILITERING"),
        )
    )
    o = plan_request(r, {}, seq=0, accepted=frozenset()).oppdrag
    assert o is not None
    assert (o.kode_endring, o.fagområde, o.fagsystem_id, o.utbet_frekvens) == ("NY", "TILTPENG", SAK, "MND")
    assert [(ln.kind, ln.klassekode, ln.periode) for ln in o.linjer] == [
        (LinjeKind.NY, "TPBTATTILT", P("2025-08-04", "2025-08-15", 55)),
        (LinjeKind.NY, "TPTPATT", P("2025-08-04", "2025-08-15", 300)),
        (LinjeKind.NY, "TPTPARREHABAGDAG", P("2025-08-18", "2025-08-29", 300)),
    ]
    xml = oppdrag_xml(o)
    assert schema_errors(oppdrag_schema(), xml) == []
    assert b"<kodeFagomraade>TILTPENG</kodeFagomraade>" in xml
    assert b"<typeSats>DAG</typeSats>" in xml and b"vedtakssats" not in xml


def test_a_meldeperiode_missing_from_the_next_message_is_stopped_with_its_own_stønad():
    first = parse(
        msg(
            periode(MP1, "2025-08-04", "2025-08-15", 300, "AVKLARING"),
            periode(MP1, "2025-08-04", "2025-08-15", 55, "AVKLARING", barnetillegg=True),
            periode(MP2, "2025-08-18", "2025-08-29", 300, "JOBBKLUBB", enhet="4819"),
        )
    )
    confirmed = {u.uid: u for u in plan_request(first, {}, seq=0, accepted=frozenset()).pending}
    # The sak goes on with MP2 only: MP1's two chains (base and barn twin) are stopped.
    second = parse(msg(periode(MP2, "2025-08-18", "2025-08-29", 300, "JOBBKLUBB", enhet="4819"), behandlingId="B-2"))
    plan = plan_request(second, confirmed, seq=1, accepted=frozenset({"TILTPENG"}))
    o = plan.oppdrag
    assert o is not None and o.kode_endring == "ENDR"
    assert sorted((ln.kind, ln.uid, ln.klassekode, ln.opphør_fom) for ln in o.linjer) == sorted(
        [
            (LinjeKind.OPPH, uid(MP1, "TPTPAAG"), "TPTPAAG", date(2025, 8, 4)),
            (LinjeKind.OPPH, uid(MP1, "TPBTAAGR"), "TPBTAAGR", date(2025, 8, 4)),
        ]
    )
    assert {u.stønad.name for u in plan.pending} == {"AVKLARING", "AVKLARING_BARN"}
    assert schema_errors(oppdrag_schema(), oppdrag_xml(o)) == []


def test_an_empty_message_stops_every_active_meldeperiode():
    first = parse(msg(periode(MP1, "2025-08-04", "2025-08-15", 300)))
    confirmed = {u.uid: u for u in plan_request(first, {}, seq=0, accepted=frozenset()).pending}
    o = plan_request(parse(msg()), confirmed, seq=1, accepted=frozenset({"TILTPENG"})).oppdrag
    assert o is not None
    assert [(ln.kind, ln.klassekode) for ln in o.linjer] == [(LinjeKind.OPPH, "TPTPATT")]


# -- the contract ------------------------------------------------------------------------------


def test_the_contract_is_registered_with_its_topics_fagområde_and_stønadstyper():
    c = fagsystemer.contract(Fagsystem.TILTAKSPENGER)
    assert c is tiltakspenger.CONTRACT
    assert (c.topic, c.dryrun_topic, c.fagområder) == (
        "helved.utbetalinger-tp.v1",
        "helved.dryrun-tp.v1",
        ("TILTPENG",),
    )
    assert fagsystemer.by_topic("helved.utbetalinger-tp.v1") is c
    assert fagsystemer.fagsystem_for_fagområde("TILTPENG") is Fagsystem.TILTAKSPENGER
    expected = {base: name for name, (base, _) in SPEC_KLASSEKODER.items()}
    expected |= {barn: f"{name}_BARN" for name, (_, barn) in SPEC_KLASSEKODER.items()}
    assert dict(c.stønadstyper) == expected
    assert c.parse is parse_request
