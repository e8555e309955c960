"""The tilleggsstønader contract (`fagsystemer.md` TILLEGGSSTØNADER, Codes, settled rules)."""

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
from helved.fagsystemer.tilleggsstonader import CONTRACT, STØNADER, parse_request
from helved.oppdrag.schema import OPPDRAG_XSD
from helved.oppdrag.xml import oppdrag_xml

IDENT = "01020312345"


def uid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def per(fom: str, tom: str, beløp: Any = 100, enhet: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"fom": fom, "tom": tom, "beløp": beløp}
    if enhet is not None:
        out["betalendeEnhet"] = enhet
    return out


def utb(n: int, stønad: str = "LÆREMIDLER_AAP", *perioder: Any, **extra: Any) -> dict[str, Any]:
    return {"id": uid(n), "stønad": stønad, "perioder": list(perioder), **extra}


def ts(*utbetalinger: Any, periodetype: str = "MND", **top: Any) -> dict[str, Any]:
    return {
        "sakId": "SAK-1",
        "behandlingId": "B-1",
        "personident": IDENT,
        "vedtakstidspunkt": "2025-08-18T09:30:00",
        "periodetype": periodetype,
        "utbetalinger": list(utbetalinger),
        **top,
    }


def parse(msg: Any) -> Request:
    return parse_request(msg, original_key="k")


def rejected(msg: Any) -> RequestRejected:
    with pytest.raises(RequestRejected) as exc:
        parse(msg)
    return exc.value


def P(fom: str, tom: str, beløp: int = 100, enhet: str | None = None) -> Periode:
    return Periode(date.fromisoformat(fom), date.fromisoformat(tom), beløp, None, enhet)


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


def test_tilleggsstønader_is_registered_with_its_topics_and_fagområder():
    assert fagsystemer.contract(Fagsystem.TILLEGGSSTØNADER) is CONTRACT
    assert fagsystemer.by_topic("tilleggsstonader.utbetaling.v1") is CONTRACT
    assert CONTRACT.dryrun_topic == "helved.dryrun-ts.v1"
    assert set(CONTRACT.fagområder) == {"TILLST", "TILLSTPB", "TILLSTLM", "TILLSTBO", "TILLSTDR", "TILLSTRS"}
    for fagområde in CONTRACT.fagområder:
        assert fagsystemer.fagsystem_for_fagområde(fagområde) is Fagsystem.TILLEGGSSTØNADER


def test_fagområder_never_sent_are_not_routed_to_tilleggsstønader():
    for fagområde in ("TILLSTRO", "TILLSTRA", "TILLSTFL"):
        assert fagområde not in CONTRACT.fagområder


def test_every_klassekode_names_one_stønad_for_the_dryrun_answer():
    assert len({k for k, _ in STØNADER.values()}) == len(STØNADER)
    assert CONTRACT.stønadstyper["TSLMASISP3-OP"] == "LÆREMIDLER_AAP"
    assert len(CONTRACT.stønadstyper) == len(STØNADER)


# -- the spec's shape ------------------------------------------------------------------------


def test_the_spec_shape_gives_one_utbetaling_per_listed_id_with_the_id_as_uid():
    req = parse(
        ts(
            utb(1, "LÆREMIDLER_AAP", per("2025-08-01", "2025-08-31", 1200)),
            saksbehandler="Z123456",
            beslutter="Z654321",
            dryrun=True,
        )
    )
    assert req.sak_key.fagsystem is Fagsystem.TILLEGGSSTØNADER
    assert req.sak_key.sak_id == "SAK-1"
    assert req.dryrun is True
    assert req.whole_sak is False
    assert req.stops == ()
    assert req.utbet_frekvens == "MND"
    assert req.vedtakstidspunkt == datetime(2025, 8, 18, 9, 30)
    (u,) = req.utbetalinger
    assert u.uid == uid(1)
    assert (u.stønad.name, u.stønad.klassekode, u.stønad.fagområde) == ("LÆREMIDLER_AAP", "TSLMASISP3-OP", "TILLSTLM")
    assert u.stønad.periodetype is Periodetype.MND
    assert u.perioder == (P("2025-08-01", "2025-08-31", 1200),)
    assert (u.saksbehandler, u.beslutter) == ("Z123456", "Z654321")


def test_unknown_fields_are_ignored_and_dryrun_defaults_to_false():
    msg = ts(utb(1, "LÆREMIDLER_AAP", {**per("2025-08-01", "2025-08-31"), "extra": 1}, extra={"a": 1}), whatever=[1])
    req = parse(msg)
    assert req.dryrun is False
    assert len(req.utbetalinger) == 1


@pytest.mark.parametrize(
    ("stønad", "klassekode", "fagområde"),
    [
        ("TILSYN_BARN_ENSLIG_FORSØRGER", "TSTBASISP2-OP", "TILLSTPB"),
        ("TILSYN_BARN_ETTERLATTE", "TSTBASISP5-OP", "TILLSTPB"),
        ("LÆREMIDLER_ENSLIG_FORSØRGER", "TSLMASISP2-OP", "TILLSTLM"),
        ("BOUTGIFTER_AAP", "TSBUASIA-OP", "TILLSTBO"),
        ("BOUTGIFTER_ETTERLATTE", "TSBUAISP3-O", "TILLSTBO"),
        ("DAGLIG_REISE_AAP", "TSDRASISP1-OP", "TILLSTDR"),
        ("DAGLIG_REISE_TILTAK_FORSØK_OPPLÆRINGSTILTAK_LENGER_VARIGHET", "TSDRFOLV", "TILLSTDR"),
        ("DAGLIG_REISE_TILTAK_UTVIDET_OPPFØLGING_I_OPPLÆRING", "TSDRUTVOPPFOPPL-OP", "TILLSTDR"),
        ("REISE_TIL_SAMLING_ETTERLATTE", "TSROSASISP4-OP", "TILLSTRS"),
        ("REISE_TIL_SAMLING_TILTAK_GRUPPE_FAG_YRKE_HOYERE_UTD", "TSROSVGSHOY-OP", "TILLSTRS"),
    ],
)
def test_the_stønad_decides_klassekode_and_fagområde(stønad, klassekode, fagområde):
    (u,) = parse(ts(utb(1, stønad, per("2025-08-01", "2025-08-31")))).utbetalinger
    assert (u.stønad.klassekode, u.stønad.fagområde) == (klassekode, fagområde)


def test_the_table_has_every_stønad_of_the_spec():
    counts: dict[str, int] = {}
    for _, fagområde in STØNADER.values():
        counts[fagområde] = counts.get(fagområde, 0) + 1
    assert counts == {"TILLSTPB": 3, "TILLSTLM": 3, "TILLSTBO": 3, "TILLSTDR": 20, "TILLSTRS": 14}


@pytest.mark.parametrize(
    "stønad", ["REISE_OPPSTART_AAP", "REISE_OPPSTART_ENSLIG_FORSØRGER", "REIS_ARBEID_ETTERLATTE", "FLYTTING_AAP"]
)
def test_stønader_without_a_klassekode_are_not_supported_yet(stønad):
    err = rejected(ts(utb(1, stønad, per("2025-08-01", "2025-08-31"))))
    assert (err.status_code, err.code) == (400, ErrorCode.STONAD_NOT_SUPPORTED)
    assert stønad in err.detail


def test_a_stop_of_an_unsupported_stønad_is_refused_too():
    assert rejected(ts(utb(1, "FLYTTING_ETTERLATTE"))).code is ErrorCode.STONAD_NOT_SUPPORTED


@pytest.mark.parametrize("stønad", ["BARNETILSYN", "læremidler_aap", "", "DAGLIG_REISE_ENSLIG_FORSØRGET"])
def test_an_unknown_stønad_is_an_invalid_field_not_a_not_supported(stønad):
    err = rejected(ts(utb(1, stønad, per("2025-08-01", "2025-08-31"))))
    assert err.code is ErrorCode.INVALID_FIELD


# -- brukFagområdeTillst ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "stønad",
    ["TILSYN_BARN_AAP", "LÆREMIDLER_ETTERLATTE", "BOUTGIFTER_ENSLIG_FORSØRGER", "DAGLIG_REISE_TILTAK_AVKLARING"],
)
def test_bruk_fagområde_tillst_moves_an_allowed_stønad_to_tillst_with_its_own_klassekode(stønad):
    (u,) = parse(ts(utb(1, stønad, per("2025-08-01", "2025-08-31"), brukFagområdeTillst=True))).utbetalinger
    assert u.stønad.fagområde == "TILLST"
    assert u.stønad.klassekode == STØNADER[stønad][0]
    assert u.stønad.name == stønad


@pytest.mark.parametrize(
    "stønad",
    ["DAGLIG_REISE_AAP", "DAGLIG_REISE_ETTERLATTE", "REISE_TIL_SAMLING_AAP", "REISE_TIL_SAMLING_TILTAK_AVKLARING"],
)
def test_bruk_fagområde_tillst_is_refused_for_other_stønader(stønad):
    err = rejected(ts(utb(1, stønad, per("2025-08-01", "2025-08-31"), brukFagområdeTillst=True)))
    assert (err.status_code, err.code) == (400, ErrorCode.FAGOMRADE_TILLST_NOT_ALLOWED)


@pytest.mark.parametrize(("value", "fagområde"), [(False, "TILLSTPB"), (None, "TILLSTPB")])
def test_bruk_fagområde_tillst_false_or_null_keeps_the_stønads_fagområde(value, fagområde):
    (u,) = parse(ts(utb(1, "TILSYN_BARN_AAP", per("2025-08-01", "2025-08-31"), brukFagområdeTillst=value))).utbetalinger
    assert u.stønad.fagområde == fagområde


def test_bruk_fagområde_tillst_must_be_a_boolean():
    err = rejected(ts(utb(1, "TILSYN_BARN_AAP", per("2025-08-01", "2025-08-31"), brukFagområdeTillst="true")))
    assert err.code is ErrorCode.INVALID_FIELD


# -- several fagområder, defaults ------------------------------------------------------------


def test_a_message_over_two_fagområder_gives_utbetalinger_under_each():
    req = parse(
        ts(
            utb(1, "LÆREMIDLER_AAP", per("2025-08-01", "2025-08-31")),
            utb(2, "TILSYN_BARN_AAP", per("2025-08-01", "2025-08-31")),
        )
    )
    assert {u.stønad.fagområde for u in req.utbetalinger} == {"TILLSTLM", "TILLSTPB"}
    assert {u.sak_key for u in req.utbetalinger} == {req.sak_key}
    # one Request has one saksbehandler: over several fagområder the default is TILLST
    assert (req.saksbehandler, req.beslutter) == ("TILLST", "TILLST")


def test_missing_saksbehandler_and_beslutter_default_to_the_fagområde():
    req = parse(ts(utb(1, "BOUTGIFTER_AAP", per("2025-08-01", "2025-08-31"))))
    assert (req.saksbehandler, req.beslutter) == ("TILLSTBO", "TILLSTBO")
    assert {(u.saksbehandler, u.beslutter) for u in req.utbetalinger} == {("TILLSTBO", "TILLSTBO")}


def test_an_empty_message_has_nothing_to_pay_and_nothing_to_stop():
    req = parse(ts())
    assert (req.utbetalinger, req.stops) == ((), ())
    assert plan_request(req, confirmed={}, seq=0, accepted=frozenset()).parts == ()


# -- stops ----------------------------------------------------------------------------------


def test_an_utbetaling_with_no_periods_is_a_stop_of_its_id():
    req = parse(ts(utb(1, "LÆREMIDLER_AAP", per("2025-08-01", "2025-08-31")), utb(2, "LÆREMIDLER_AAP")))
    assert [u.uid for u in req.utbetalinger] == [uid(1)]
    assert req.stops == (uid(2),)


def test_stops_are_listed_by_uid_whatever_the_senders_order():
    req = parse(ts(utb(3), utb(1), utb(2)))
    assert req.stops == (uid(1), uid(2), uid(3))
    assert req.utbetalinger == ()


def test_stopping_an_id_never_paid_is_a_404_in_the_diff():
    with pytest.raises(RequestRejected) as exc:
        plan_request(parse(ts(utb(1))), confirmed={}, seq=0, accepted=frozenset())
    assert (exc.value.status_code, exc.value.code) == (404, ErrorCode.UTBETALING_NOT_FOUND)


def test_the_same_id_twice_in_one_message_is_refused():
    err = rejected(ts(utb(1, "LÆREMIDLER_AAP", per("2025-08-01", "2025-08-31")), utb(1)))
    assert err.code is ErrorCode.INVALID_FIELD
    assert "utbetalinger[1].id" in err.detail


# -- ids -----------------------------------------------------------------------------------


def test_an_id_is_kept_in_its_canonical_lower_case_form():
    msg = ts({"id": "6F1C1E4A-6D0B-4C58-9A53-68656C7665AB", "stønad": "LÆREMIDLER_AAP", "perioder": []})
    assert parse(msg).stops == ("6f1c1e4a-6d0b-4c58-9a53-68656c7665ab",)


@pytest.mark.parametrize(
    "bad",
    [
        "1",
        "6f1c1e4a6d0b4c589a5368656c7665ab",
        "{6f1c1e4a-6d0b-4c58-9a53-68656c7665ab}",
        "6f1c1e4a-6d0b-4c58-9a53-68656c7665ag",
    ],
)
def test_an_id_that_is_not_a_uuid_is_refused(bad):
    err = rejected(ts({"id": bad, "stønad": "LÆREMIDLER_AAP", "perioder": []}))
    assert (err.status_code, err.code) == (400, ErrorCode.INVALID_FIELD)
    assert "utbetalinger[0].id" in err.detail


# -- merging (settled rule 5) -----------------------------------------------------------------

MERGING = [
    # MND: the next day continues, a gap does not
    ("MND", [per("2025-08-01", "2025-08-31"), per("2025-09-01", "2025-09-30")], [P("2025-08-01", "2025-09-30")]),
    (
        "MND",
        [per("2025-08-01", "2025-08-31"), per("2025-09-02", "2025-09-30")],
        [P("2025-08-01", "2025-08-31"), P("2025-09-02", "2025-09-30")],
    ),
    (
        "MND",
        [per("2025-08-01", "2025-08-31", 100), per("2025-09-01", "2025-09-30", 200)],
        [P("2025-08-01", "2025-08-31", 100), P("2025-09-01", "2025-09-30", 200)],
    ),
    (
        "MND",
        [per("2025-08-01", "2025-08-31", enhet="4819"), per("2025-09-01", "2025-09-30")],
        [P("2025-08-01", "2025-08-31", enhet="4819"), P("2025-09-01", "2025-09-30")],
    ),
    # MND: Friday to Monday is not the next day
    (
        "MND",
        [per("2025-08-04", "2025-08-08"), per("2025-08-11", "2025-08-15")],
        [P("2025-08-04", "2025-08-08"), P("2025-08-11", "2025-08-15")],
    ),
    # UKEDAG: Friday to Monday continues, Thursday to Monday does not
    ("UKEDAG", [per("2025-08-04", "2025-08-08"), per("2025-08-11", "2025-08-15")], [P("2025-08-04", "2025-08-15")]),
    (
        "UKEDAG",
        [per("2025-08-04", "2025-08-07"), per("2025-08-11", "2025-08-15")],
        [P("2025-08-04", "2025-08-07"), P("2025-08-11", "2025-08-15")],
    ),
    ("UKEDAG", [per("2025-08-04", "2025-08-05"), per("2025-08-06", "2025-08-06")], [P("2025-08-04", "2025-08-06")]),
    # EN_GANG: never, not even the next day
    (
        "EN_GANG",
        [per("2025-08-01", "2025-08-01"), per("2025-08-02", "2025-08-02")],
        [P("2025-08-01", "2025-08-01"), P("2025-08-02", "2025-08-02")],
    ),
    # the sender's order does not matter
    ("MND", [per("2025-09-01", "2025-09-30"), per("2025-08-01", "2025-08-31")], [P("2025-08-01", "2025-09-30")]),
]


@pytest.mark.parametrize(("periodetype", "given", "expected"), MERGING)
def test_periods_merge_by_settled_rule_5(periodetype, given, expected):
    (u,) = parse(ts(utb(1, "LÆREMIDLER_AAP", *given), periodetype=periodetype)).utbetalinger
    assert u.perioder == tuple(expected)
    assert u.stønad.periodetype is Periodetype(periodetype)


@pytest.mark.parametrize("periodetype", ["MND", "UKEDAG", "EN_GANG"])
def test_overlapping_periods_of_one_utbetaling_are_refused(periodetype):
    err = rejected(
        ts(
            utb(1, "LÆREMIDLER_AAP", per("2025-08-04", "2025-08-20"), per("2025-08-18", "2025-08-29")),
            periodetype=periodetype,
        )
    )
    assert (err.status_code, err.code) == (400, ErrorCode.OVERLAPPING_PERIODS)


def test_the_same_period_twice_is_an_overlap():
    err = rejected(ts(utb(1, "LÆREMIDLER_AAP", per("2025-08-01", "2025-08-31"), per("2025-08-01", "2025-08-31"))))
    assert err.code is ErrorCode.OVERLAPPING_PERIODS


def test_two_utbetalinger_may_cover_the_same_days():
    req = parse(
        ts(
            utb(1, "LÆREMIDLER_AAP", per("2025-08-01", "2025-08-31")),
            utb(2, "LÆREMIDLER_AAP", per("2025-08-01", "2025-08-31")),
        )
    )
    assert len(req.utbetalinger) == 2


def test_an_ukedag_period_on_a_weekend_only_is_refused():
    err = rejected(ts(utb(1, "DAGLIG_REISE_AAP", per("2025-08-09", "2025-08-10")), periodetype="UKEDAG"))
    assert (err.status_code, err.code) == (400, ErrorCode.WEEKEND_DAY_PAID)


def test_an_ukedag_period_with_one_weekday_is_fine_and_weekends_may_start_it():
    (u,) = parse(ts(utb(1, "DAGLIG_REISE_AAP", per("2025-08-09", "2025-08-11")), periodetype="UKEDAG")).utbetalinger
    assert u.perioder == (P("2025-08-09", "2025-08-11"),)


def test_mnd_and_en_gang_periods_may_fall_on_a_weekend():
    for periodetype in ("MND", "EN_GANG"):
        parse(ts(utb(1, "LÆREMIDLER_AAP", per("2025-08-09", "2025-08-10")), periodetype=periodetype))


# -- betalende enhet (settled rule 7) -----------------------------------------------------------


def test_the_betalende_enhet_is_kept_on_the_period():
    (u,) = parse(ts(utb(1, "LÆREMIDLER_AAP", per("2025-08-01", "2025-08-31", enhet="4819")))).utbetalinger
    assert u.perioder[0].betalende_enhet == "4819"


@pytest.mark.parametrize("enhet", ["481", "12345678901234", " 4819", "", 4819])
def test_a_betalende_enhet_must_be_4_to_13_characters(enhet):
    err = rejected(ts(utb(1, "LÆREMIDLER_AAP", {**per("2025-08-01", "2025-08-31"), "betalendeEnhet": enhet})))
    assert err.code is ErrorCode.INVALID_FIELD
    assert "betalendeEnhet" in err.detail


def test_two_betalende_enheter_in_one_fagområde_are_refused():
    err = rejected(
        ts(
            utb(1, "LÆREMIDLER_AAP", per("2025-08-01", "2025-08-31", enhet="4819")),
            utb(2, "LÆREMIDLER_ETTERLATTE", per("2025-08-01", "2025-08-31", enhet="0315")),
        )
    )
    assert (err.status_code, err.code) == (400, ErrorCode.MIXED_ENHET)
    assert "TILLSTLM" in err.detail


def test_two_betalende_enheter_in_one_utbetaling_are_refused():
    err = rejected(
        ts(
            utb(
                1,
                "LÆREMIDLER_AAP",
                per("2025-08-01", "2025-08-31", enhet="4819"),
                per("2025-09-01", "2025-09-30", enhet="0315"),
            )
        )
    )
    assert err.code is ErrorCode.MIXED_ENHET


def test_betalende_enheter_of_two_fagområder_may_differ():
    req = parse(
        ts(
            utb(1, "LÆREMIDLER_AAP", per("2025-08-01", "2025-08-31", enhet="4819")),
            utb(2, "TILSYN_BARN_AAP", per("2025-08-01", "2025-08-31", enhet="0315")),
        )
    )
    assert len(req.utbetalinger) == 2


# -- every other 400 ------------------------------------------------------------------------


def _without(msg: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in msg.items() if k != name}


GOOD = ts(utb(1, "LÆREMIDLER_AAP", per("2025-08-01", "2025-08-31")))

REJECTED = [
    ("not an object", [GOOD], ErrorCode.INVALID_FIELD),
    ("sakId missing", _without(GOOD, "sakId"), ErrorCode.MISSING_FIELD),
    ("sakId 31 characters", {**GOOD, "sakId": "S" * 31}, ErrorCode.SAKID_LENGTH),
    ("sakId a number", {**GOOD, "sakId": 17}, ErrorCode.INVALID_FIELD),
    ("behandlingId empty", {**GOOD, "behandlingId": ""}, ErrorCode.BEHANDLINGID_LENGTH),
    ("personident missing", _without(GOOD, "personident"), ErrorCode.MISSING_FIELD),
    ("personident 10 digits", {**GOOD, "personident": IDENT[:10]}, ErrorCode.INVALID_FIELD),
    ("personident with a letter", {**GOOD, "personident": IDENT[:10] + "x"}, ErrorCode.INVALID_FIELD),
    ("vedtakstidspunkt a date", {**GOOD, "vedtakstidspunkt": "2025-08-18"}, ErrorCode.INVALID_FIELD),
    ("periodetype missing", _without(GOOD, "periodetype"), ErrorCode.MISSING_FIELD),
    ("periodetype DAG", {**GOOD, "periodetype": "DAG"}, ErrorCode.PERIODETYPE_NOT_SUPPORTED),
    ("periodetype unknown", {**GOOD, "periodetype": "UKE"}, ErrorCode.INVALID_FIELD),
    ("periodetype lower case", {**GOOD, "periodetype": "mnd"}, ErrorCode.INVALID_FIELD),
    ("saksbehandler 9 characters", {**GOOD, "saksbehandler": "Z12345678"}, ErrorCode.SAKSBEHANDLER_LENGTH),
    ("beslutter empty", {**GOOD, "beslutter": ""}, ErrorCode.BESLUTTER_LENGTH),
    ("dryrun a string", {**GOOD, "dryrun": "true"}, ErrorCode.INVALID_FIELD),
    ("utbetalinger missing", _without(GOOD, "utbetalinger"), ErrorCode.MISSING_FIELD),
    ("utbetalinger an object", {**GOOD, "utbetalinger": {}}, ErrorCode.INVALID_FIELD),
    ("utbetaling not an object", ts("x"), ErrorCode.INVALID_FIELD),
    ("id missing", ts({"stønad": "LÆREMIDLER_AAP", "perioder": []}), ErrorCode.MISSING_FIELD),
    ("stønad missing", ts({"id": uid(1), "perioder": []}), ErrorCode.MISSING_FIELD),
    ("perioder missing", ts({"id": uid(1), "stønad": "LÆREMIDLER_AAP"}), ErrorCode.MISSING_FIELD),
    ("periode not an object", ts(utb(1, "LÆREMIDLER_AAP", "2025-08-01")), ErrorCode.INVALID_FIELD),
    ("fom missing", ts(utb(1, "LÆREMIDLER_AAP", {"tom": "2025-08-31", "beløp": 1})), ErrorCode.MISSING_FIELD),
    ("fom not YYYY-MM-DD", ts(utb(1, "LÆREMIDLER_AAP", per("2025-8-01", "2025-08-31"))), ErrorCode.INVALID_FIELD),
    ("fom an ISO week date", ts(utb(1, "LÆREMIDLER_AAP", per("2025-W31-5", "2025-08-31"))), ErrorCode.INVALID_FIELD),
    ("tom not a day", ts(utb(1, "LÆREMIDLER_AAP", per("2025-08-01", "2025-02-30"))), ErrorCode.INVALID_FIELD),
    ("beløp a float", ts(utb(1, "LÆREMIDLER_AAP", per("2025-08-01", "2025-08-31", 1.5))), ErrorCode.INVALID_FIELD),
    ("beløp a string", ts(utb(1, "LÆREMIDLER_AAP", per("2025-08-01", "2025-08-31", "1"))), ErrorCode.INVALID_FIELD),
    ("beløp negative", ts(utb(1, "LÆREMIDLER_AAP", per("2025-08-01", "2025-08-31", -1))), ErrorCode.INVALID_FIELD),
    ("beløp 0", ts(utb(1, "LÆREMIDLER_AAP", per("2025-08-01", "2025-08-31", 0))), ErrorCode.ZERO_BELOP),
    ("tom before fom", ts(utb(1, "LÆREMIDLER_AAP", per("2025-08-31", "2025-08-01"))), ErrorCode.TOM_BEFORE_FOM),
    (
        "EN_GANG across a year end",
        ts(utb(1, "LÆREMIDLER_AAP", per("2025-12-01", "2026-01-31")), periodetype="EN_GANG"),
        ErrorCode.EN_GANG_ACROSS_YEAR,
    ),
    (
        "UKEDAG over 1100 days",
        ts(utb(1, "DAGLIG_REISE_AAP", per("2025-01-01", "2028-12-31")), periodetype="UKEDAG"),
        ErrorCode.TOO_LONG_PERIOD,
    ),
]


@pytest.mark.parametrize(("case", "msg", "code"), REJECTED, ids=[c for c, _, _ in REJECTED])
def test_a_broken_message_is_a_400_with_a_stable_code_and_never_names_the_person(case, msg, code):
    err = rejected(msg)
    assert (err.status_code, err.code) == (400, code), case
    assert err.msg.startswith(code.value + ": ")
    assert IDENT not in err.msg and IDENT[:10] not in err.msg


# -- split order ------------------------------------------------------------------------------


def test_utbetalinger_are_ordered_by_first_fom_then_klassekode_then_uid_whatever_the_senders_order():
    listed = [
        utb(5, "LÆREMIDLER_AAP", per("2025-09-01", "2025-09-30")),
        utb(4, "LÆREMIDLER_ETTERLATTE", per("2025-08-01", "2025-08-31")),
        utb(3, "LÆREMIDLER_AAP", per("2025-08-01", "2025-08-31")),
        utb(2, "LÆREMIDLER_AAP", per("2025-08-01", "2025-08-31")),
    ]
    forward = parse(ts(*listed))
    assert [u.uid for u in forward.utbetalinger] == [uid(2), uid(3), uid(4), uid(5)]
    assert parse(ts(*reversed(listed))) == forward


# -- through the pure diff: one fagområde gives one valid Oppdrag ------------------------------


@pytest.mark.parametrize(("periodetype", "type_sats"), [("MND", "MND"), ("UKEDAG", "DAG"), ("EN_GANG", "ENG")])
def test_a_new_sak_gives_one_oppdrag_ny_under_the_stønads_fagområde(periodetype, type_sats):
    req = parse(
        ts(
            utb(1, "LÆREMIDLER_AAP", per("2025-08-04", "2025-08-29", 1200)),
            periodetype=periodetype,
            saksbehandler="Z123456",
        )
    )
    oppdrag = only_oppdrag(req)
    assert (oppdrag.kode_endring, oppdrag.fagområde, oppdrag.utbet_frekvens) == ("NY", "TILLSTLM", "MND")
    assert oppdrag.fagsystem_id == "SAK-1"
    assert [(ln.klassekode, ln.periodetype.type_sats, ln.periode.beløp) for ln in oppdrag.linjer] == [
        ("TSLMASISP3-OP", type_sats, 1200)
    ]
    assert schema_errors(oppdrag) == []


def test_bruk_fagområde_tillst_sends_the_oppdrag_under_tillst():
    req = parse(ts(utb(1, "DAGLIG_REISE_TILTAK_JOBBKLUBB", per("2025-08-01", "2025-08-31"), brukFagområdeTillst=True)))
    oppdrag = only_oppdrag(req)
    assert (oppdrag.fagområde, oppdrag.linjer[0].klassekode) == ("TILLST", "TSDRJB2009-OP")
    assert oppdrag.saksbehandler == "TILLST"
    assert schema_errors(oppdrag) == []


def test_a_betalende_enhet_gives_bos_that_enhet_and_beh_8020():
    req = parse(ts(utb(1, "BOUTGIFTER_AAP", per("2025-08-01", "2025-08-31", enhet="4819"))))
    oppdrag = only_oppdrag(req)
    assert oppdrag.enheter == (("BOS", "4819"), ("BEH", "8020"))
    assert schema_errors(oppdrag) == []


def test_merged_periods_of_two_utbetalinger_give_their_lines_in_split_order():
    req = parse(
        ts(
            utb(2, "REISE_TIL_SAMLING_AAP", per("2025-09-01", "2025-09-30"), per("2025-10-01", "2025-10-31")),
            utb(1, "REISE_TIL_SAMLING_ETTERLATTE", per("2025-08-01", "2025-08-31")),
        )
    )
    oppdrag = only_oppdrag(req)
    assert oppdrag.fagområde == "TILLSTRS"
    assert [(ln.uid, ln.periode.fom, ln.periode.tom) for ln in oppdrag.linjer] == [
        (uid(1), date(2025, 8, 1), date(2025, 8, 31)),
        (uid(2), date(2025, 9, 1), date(2025, 10, 31)),
    ]
    assert schema_errors(oppdrag) == []
