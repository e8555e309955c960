"""The AAP contract (`fagsystemer.md`, AAP and settled rules 4-9): reading a message, splitting it
by meldekort `id`, merging periods, avvent, and what the one diff makes of it."""

from __future__ import annotations

import random
from datetime import date, datetime
from typing import Any

import pytest

from helved import fagsystemer
from helved.domain.diff import plan_request
from helved.domain.model import Avvent, Fagsystem, LinjeKind, Periode, Periodetype, Request
from helved.errors import ErrorCode, RequestRejected
from helved.fagsystemer import aap
from helved.fagsystemer.aap import parse_request
from helved.oppdrag.schema import oppdrag_schema, schema_errors
from helved.oppdrag.xml import oppdrag_xml

IDENT = "12345678910"
ID_A = "0a1b2c3d-0000-4000-8000-00000000000a"
ID_B = "0a1b2c3d-0000-4000-8000-00000000000b"


def entry(id_: str, fom: str, tom: str, beløp: int, sats: int | None = None) -> dict[str, Any]:
    return {"id": id_, "fom": fom, "tom": tom, "sats": beløp if sats is None else sats, "utbetaltBeløp": beløp}


def msg(*entries: dict[str, Any], **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sakId": "AAP-1",
        "behandlingId": "B-1",
        "ident": IDENT,
        "vedtakstidspunktet": "2025-08-18T09:30:00",
        "saksbehandler": "Z123456",
        "beslutter": "Z654321",
        "utbetalinger": list(entries),
    }
    out.update(extra)
    return out


def P(fom: str, tom: str, beløp: int, sats: int | None = None) -> Periode:
    return Periode(date.fromisoformat(fom), date.fromisoformat(tom), beløp, beløp if sats is None else sats)


def parse(value: Any) -> Request:
    return parse_request(value, original_key="k")


def rejected(value: Any) -> RequestRejected:
    with pytest.raises(RequestRejected) as exc:
        parse(value)
    return exc.value


# -- the spec's shapes -------------------------------------------------------------------------


def test_a_meldekort_message_becomes_one_utbetaling_per_id_with_the_id_as_uid():
    r = parse(
        msg(
            entry(ID_A, "2025-08-04", "2025-08-17", 800, 1000),
            entry(ID_B, "2025-08-18", "2025-08-31", 1000),
            dryrun=False,
            avvent={"fom": "2025-08-01", "tom": "2025-08-31", "årsak": "AVVENT_AVREGNING"},
        )
    )
    assert r.sak_key.fagsystem is Fagsystem.AAP and r.sak_key.sak_id == "AAP-1"
    assert r.whole_sak and r.stops == () and not r.dryrun
    assert [(u.uid, u.perioder) for u in r.utbetalinger] == [
        (ID_A, (P("2025-08-04", "2025-08-17", 800, 1000),)),
        (ID_B, (P("2025-08-18", "2025-08-31", 1000),)),
    ]
    u = r.utbetalinger[0]
    assert (u.stønad.name, u.stønad.klassekode, u.stønad.fagområde, u.stønad.periodetype) == (
        "AAP_UNDER_ARBEIDSAVKLARING",
        "AAPOR",
        "AAP",
        Periodetype.UKEDAG,
    )
    assert (u.ident, u.behandling_id, u.saksbehandler, u.beslutter) == (IDENT, "B-1", "Z123456", "Z654321")
    assert u.vedtakstidspunkt == datetime(2025, 8, 18, 9, 30)
    assert r.avvent == Avvent(date(2025, 8, 1), date(2025, 8, 31), None, "AVAV", False)


def test_unknown_fields_are_ignored():
    plain = parse(msg(entry(ID_A, "2025-08-04", "2025-08-08", 500)))
    noisy = parse(msg(dict(entry(ID_A, "2025-08-04", "2025-08-08", 500), extra=[1]), ukjent={"x": 1}))
    assert noisy == plain


def test_missing_saksbehandler_and_beslutter_default_to_the_fagområde_code():
    value = msg(entry(ID_A, "2025-08-04", "2025-08-08", 500))
    del value["saksbehandler"]
    value["beslutter"] = None
    r = parse(value)
    assert (r.saksbehandler, r.beslutter) == ("AAP", "AAP")


@pytest.mark.parametrize(("given", "dryrun"), [(None, False), (False, False), (True, True)])
def test_dryrun_is_an_optional_boolean(given, dryrun):
    value = msg(entry(ID_A, "2025-08-04", "2025-08-08", 500))
    if given is not None:
        value["dryrun"] = given
    assert parse(value).dryrun is dryrun


def test_the_record_timestamp_is_the_avstemming_time_else_the_vedtakstidspunkt():
    value = msg(entry(ID_A, "2025-08-04", "2025-08-08", 500))
    stamp = datetime(2025, 8, 19, 7, 0)
    assert parse_request(value, original_key="k", avstemming=stamp).avstemming == stamp
    assert parse(value).avstemming == datetime(2025, 8, 18, 9, 30)


@pytest.mark.parametrize("entries", [[], [entry(ID_A, "2025-08-04", "2025-08-08", 0)]], ids=["empty", "all-zero"])
def test_nothing_paid_is_a_valid_request_with_nothing_to_send(entries):
    r = parse(msg(*entries))
    assert r.utbetalinger == ()
    assert plan_request(r, {}, seq=0, accepted=frozenset()).oppdrag is None


def test_entries_paid_0_are_dropped():
    r = parse(
        msg(
            entry(ID_A, "2025-08-04", "2025-08-08", 500),
            entry(ID_A, "2025-08-11", "2025-08-15", 0),
            entry(ID_B, "2025-08-18", "2025-08-22", 0),
        )
    )
    assert [(u.uid, u.perioder) for u in r.utbetalinger] == [(ID_A, (P("2025-08-04", "2025-08-08", 500),))]


# -- uid rules ---------------------------------------------------------------------------------


def test_an_upper_case_id_is_kept_in_lower_case_and_is_the_same_chain():
    r = parse(
        msg(
            entry(ID_A.upper(), "2025-08-04", "2025-08-08", 500),
            entry(ID_A, "2025-08-11", "2025-08-15", 500),
        )
    )
    assert [(u.uid, u.perioder) for u in r.utbetalinger] == [(ID_A, (P("2025-08-04", "2025-08-15", 500),))]


@pytest.mark.parametrize(
    "bad_id",
    [
        "abc",
        "",
        ID_A.replace("-", ""),  # 32 digits without hyphens
        "{" + ID_A + "}",
        "urn:uuid:" + ID_A,
        ID_A[:-1] + "g",
        " " + ID_A,
        12345,
    ],
)
def test_an_id_that_is_not_a_uuid_is_a_400(bad_id):
    e = rejected(msg(entry(bad_id, "2025-08-04", "2025-08-08", 500)))
    assert (e.status_code, e.code) == (400, ErrorCode.INVALID_FIELD)
    assert "utbetalinger[0].id" in e.detail


def test_split_order_is_by_first_fom_then_uid_whatever_the_message_order():
    entries = [
        entry(ID_B, "2025-08-04", "2025-08-08", 500),
        entry(ID_A, "2025-08-04", "2025-08-08", 0),
        entry(ID_A, "2025-08-18", "2025-08-22", 500),
        entry(ID_B, "2025-08-11", "2025-08-15", 700),
    ]
    first = parse(msg(*entries))
    assert [u.uid for u in first.utbetalinger] == [ID_B, ID_A]
    shuffled = entries[:]
    random.Random(3).shuffle(shuffled)
    assert parse(msg(*shuffled)) == first


# -- merging (settled rule 5) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "perioder"),
    [
        # meldekort Mon-Sun then Mon-Sun: the next day continues
        (
            [("2025-08-04", "2025-08-10", 500, 500), ("2025-08-11", "2025-08-17", 500, 500)],
            [P("2025-08-04", "2025-08-17", 500)],
        ),
        # Mon-Fri then Mon-Fri: the next weekday continues
        (
            [("2025-08-11", "2025-08-15", 500, 500), ("2025-08-04", "2025-08-08", 500, 500)],
            [P("2025-08-04", "2025-08-15", 500)],
        ),
        # Mon-Thu then Mon: a weekday skipped is a gap
        (
            [("2025-08-04", "2025-08-07", 500, 500), ("2025-08-11", "2025-08-15", 500, 500)],
            [P("2025-08-04", "2025-08-07", 500), P("2025-08-11", "2025-08-15", 500)],
        ),
        # another beløp is another period
        (
            [("2025-08-04", "2025-08-08", 500, 500), ("2025-08-11", "2025-08-15", 400, 500)],
            [P("2025-08-04", "2025-08-08", 500), P("2025-08-11", "2025-08-15", 400, 500)],
        ),
        # the same beløp with another sats (vedtakssats) is another period
        (
            [("2025-08-04", "2025-08-08", 500, 500), ("2025-08-11", "2025-08-15", 500, 600)],
            [P("2025-08-04", "2025-08-08", 500), P("2025-08-11", "2025-08-15", 500, 600)],
        ),
    ],
    ids=["next-day", "next-weekday", "gap", "other-beløp", "other-sats"],
)
def test_periods_of_one_id_merge_by_rule_5(entries, perioder):
    r = parse(msg(*(entry(ID_A, fom, tom, beløp, sats) for fom, tom, beløp, sats in entries)))
    assert r.utbetalinger[0].perioder == tuple(perioder)


def test_overlapping_periods_of_one_id_are_a_400():
    e = rejected(msg(entry(ID_A, "2025-08-04", "2025-08-08", 500), entry(ID_A, "2025-08-08", "2025-08-15", 500)))
    assert (e.status_code, e.code) == (400, ErrorCode.OVERLAPPING_PERIODS)
    assert ID_A in e.detail and "2025-08-08" in e.detail


def test_the_same_weekday_paid_by_two_ids_is_a_duplicate_day():
    e = rejected(msg(entry(ID_A, "2025-08-04", "2025-08-17", 500), entry(ID_B, "2025-08-15", "2025-08-29", 500)))
    assert (e.code, e.detail) == (ErrorCode.DUPLICATE_DAY, "AAPOR day 2025-08-15 is paid twice")


def test_a_duplicate_day_is_reported_as_the_earliest_one_whatever_the_message_order():
    id_c = ID_A[:-1] + "c"
    entries = [
        entry(id_c, "2025-08-20", "2025-08-20", 500),
        entry(ID_A, "2025-08-04", "2025-08-29", 500),
        entry(ID_B, "2025-08-09", "2025-08-11", 500),  # Sat-Mon: only Monday 11 is paid twice
    ]
    for order in (entries, entries[::-1]):
        e = rejected(msg(*order))
        assert (e.code, e.detail) == (ErrorCode.DUPLICATE_DAY, "AAPOR day 2025-08-11 is paid twice")


def test_two_ids_sharing_only_a_weekend_pay_no_day_twice():
    r = parse(msg(entry(ID_A, "2025-08-04", "2025-08-17", 500), entry(ID_B, "2025-08-16", "2025-08-29", 500)))
    assert [u.uid for u in r.utbetalinger] == [ID_A, ID_B]


def test_a_paid_period_without_a_weekday_is_weekend_day_paid_but_unpaid_it_is_fine():
    e = rejected(msg(entry(ID_A, "2025-08-09", "2025-08-10", 500)))
    assert (e.status_code, e.code) == (400, ErrorCode.WEEKEND_DAY_PAID)
    assert "2025-08-09..2025-08-10" in e.detail
    assert parse(msg(entry(ID_A, "2025-08-09", "2025-08-10", 0))).utbetalinger == ()


# -- every 400 with its code -------------------------------------------------------------------


def _without(key: str) -> dict[str, Any]:
    value = msg(entry(ID_A, "2025-08-04", "2025-08-08", 500))
    del value[key]
    return value


def _entry_with(**fields: Any) -> dict[str, Any]:
    return msg({**entry(ID_A, "2025-08-04", "2025-08-08", 500), **fields})


def _avvent(**fields: Any) -> dict[str, Any]:
    return msg(
        entry(ID_A, "2025-08-04", "2025-08-08", 500), avvent={"fom": "2025-08-01", "tom": "2025-08-31", **fields}
    )


REJECTIONS = [
    ("not-an-object", [1], ErrorCode.INVALID_FIELD, "JSON object"),
    ("sakId-missing", _without("sakId"), ErrorCode.MISSING_FIELD, "sakId"),
    ("sakId-too-long", msg(sakId="S" * 31), ErrorCode.SAKID_LENGTH, "sakId"),
    ("sakId-empty", msg(sakId=""), ErrorCode.SAKID_LENGTH, "sakId"),
    ("behandlingId-missing", _without("behandlingId"), ErrorCode.MISSING_FIELD, "behandlingId"),
    ("behandlingId-too-long", msg(behandlingId="B" * 31), ErrorCode.BEHANDLINGID_LENGTH, "behandlingId"),
    ("ident-missing", _without("ident"), ErrorCode.MISSING_FIELD, "ident"),
    ("ident-10-digits", msg(ident=IDENT[:-1]), ErrorCode.INVALID_FIELD, "ident"),
    ("ident-a-number", msg(ident=12345678910), ErrorCode.INVALID_FIELD, "ident"),
    ("vedtak-missing", _without("vedtakstidspunktet"), ErrorCode.MISSING_FIELD, "vedtakstidspunktet"),
    ("vedtak-a-date", msg(vedtakstidspunktet="2025-08-18"), ErrorCode.INVALID_FIELD, "vedtakstidspunktet"),
    ("saksbehandler-9", msg(saksbehandler="Z12345678"), ErrorCode.SAKSBEHANDLER_LENGTH, "saksbehandler"),
    ("beslutter-empty", msg(beslutter=""), ErrorCode.BESLUTTER_LENGTH, "beslutter"),
    ("dryrun-a-string", msg(dryrun="true"), ErrorCode.INVALID_FIELD, "dryrun"),
    ("utbetalinger-missing", _without("utbetalinger"), ErrorCode.MISSING_FIELD, "utbetalinger"),
    ("utbetalinger-an-object", msg(utbetalinger={}), ErrorCode.INVALID_FIELD, "utbetalinger"),
    ("entry-not-an-object", msg("x"), ErrorCode.INVALID_FIELD, "utbetalinger[0]"),
    ("id-missing", _entry_with(id=None), ErrorCode.MISSING_FIELD, "utbetalinger[0].id"),
    ("fom-missing", _entry_with(fom=None), ErrorCode.MISSING_FIELD, "utbetalinger[0].fom"),
    ("fom-not-yyyy-mm-dd", _entry_with(fom="2025-8-4"), ErrorCode.INVALID_FIELD, "utbetalinger[0].fom"),
    ("tom-a-week-date", _entry_with(tom="2025-W32-5"), ErrorCode.INVALID_FIELD, "utbetalinger[0].tom"),
    ("tom-before-fom", _entry_with(tom="2025-08-01"), ErrorCode.TOM_BEFORE_FOM, "utbetalinger[0]"),
    ("sats-a-float", _entry_with(sats=500.0), ErrorCode.INVALID_FIELD, "utbetalinger[0].sats"),
    ("sats-missing", _entry_with(sats=None), ErrorCode.MISSING_FIELD, "utbetalinger[0].sats"),
    ("beløp-negative", _entry_with(utbetaltBeløp=-1), ErrorCode.INVALID_FIELD, "utbetaltBeløp"),
    ("beløp-a-bool", _entry_with(utbetaltBeløp=True), ErrorCode.INVALID_FIELD, "utbetaltBeløp"),
    ("zero-entry-with-bad-date", msg(entry(ID_A, "2025-02-30", "2025-03-03", 0)), ErrorCode.INVALID_FIELD, "fom"),
    ("avvent-a-list", msg(avvent=[]), ErrorCode.INVALID_FIELD, "avvent"),
    ("avvent-fom-missing", _avvent(fom=None), ErrorCode.MISSING_FIELD, "avvent.fom"),
    ("avvent-tom-before-fom", _avvent(tom="2025-07-31"), ErrorCode.TOM_BEFORE_FOM, "avvent"),
    ("avvent-overføres-bad", _avvent(overføres="01.09.2025"), ErrorCode.INVALID_FIELD, "avvent.overføres"),
    ("avvent-årsak-unknown", _avvent(årsak="AVVENT_ANNET"), ErrorCode.INVALID_FIELD, "avvent.årsak"),
    ("avvent-årsak-os-code", _avvent(årsak="AVAV"), ErrorCode.INVALID_FIELD, "avvent.årsak"),
    ("avvent-feilreg-J", _avvent(feilregistrering="J"), ErrorCode.INVALID_FIELD, "avvent.feilregistrering"),
]


@pytest.mark.parametrize(("value", "code", "names"), [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS])
def test_a_broken_message_is_a_400_with_a_stable_code_naming_the_field_never_the_ident(value, code, names):
    e = rejected(value)
    assert (e.status_code, e.code) == (400, code)
    assert names in e.detail
    assert IDENT not in e.msg and IDENT[:-1] not in e.msg


# -- avvent ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, None),
        ({"fom": "2025-08-01", "tom": "2025-08-31"}, Avvent(date(2025, 8, 1), date(2025, 8, 31))),
        (
            {"fom": "2025-08-01", "tom": "2025-08-31", "årsak": "AVVENT_AVREGNING", "feilregistrering": False},
            Avvent(date(2025, 8, 1), date(2025, 8, 31), None, "AVAV", False),
        ),
        (
            {
                "fom": "2025-08-01",
                "tom": "2025-08-31",
                "overføres": "2025-09-15",
                "årsak": "AVVENT_REFUSJONSKRAV",
                "feilregistrering": True,
            },
            Avvent(date(2025, 8, 1), date(2025, 8, 31), date(2025, 9, 15), "AVRK", True),
        ),
        (
            {"fom": "2025-08-01", "tom": "2025-08-01", "overføres": None, "årsak": None, "feilregistrering": None},
            Avvent(date(2025, 8, 1), date(2025, 8, 1)),
        ),
    ],
    ids=["none", "minimal", "avregning", "refusjonskrav-feilregistrert", "nulls"],
)
def test_avvent_becomes_the_requests_avvent_with_os_codes(given, expected):
    assert parse(msg(entry(ID_A, "2025-08-04", "2025-08-08", 500), avvent=given)).avvent == expected


def test_an_avvent_with_nothing_paid_is_still_read():
    r = parse(msg(avvent={"fom": "2025-08-01", "tom": "2025-08-31"}))
    assert (r.utbetalinger, r.avvent) == ((), Avvent(date(2025, 8, 1), date(2025, 8, 31)))


# -- through the one diff --------------------------------------------------------------------


def test_a_first_message_gives_a_new_aap_oppdrag_that_validates_against_os_schema():
    r = parse(
        msg(
            entry(ID_A, "2025-08-04", "2025-08-10", 800, 1000),
            entry(ID_A, "2025-08-11", "2025-08-17", 1000),
            entry(ID_B, "2025-08-18", "2025-08-31", 1000),
        )
    )
    plan = plan_request(r, {}, seq=0, accepted=frozenset())
    o = plan.oppdrag
    assert o is not None
    assert (o.kode_endring, o.fagområde, o.fagsystem_id, o.utbet_frekvens) == ("NY", "AAP", "AAP-1", "MND")
    assert o.enheter == (("BOS", "8020"),)
    assert [(ln.kind, ln.uid, ln.klassekode, ln.periode) for ln in o.linjer] == [
        (LinjeKind.NY, ID_A, "AAPOR", P("2025-08-04", "2025-08-10", 800, 1000)),
        (LinjeKind.NY, ID_A, "AAPOR", P("2025-08-11", "2025-08-17", 1000)),
        (LinjeKind.NY, ID_B, "AAPOR", P("2025-08-18", "2025-08-31", 1000)),
    ]
    xml = oppdrag_xml(o)
    assert schema_errors(oppdrag_schema(), xml) == []
    assert b"<kodeFagomraade>AAP</kodeFagomraade>" in xml
    assert b"<typeSats>DAG</typeSats>" in xml and b"<vedtakssats>1000</vedtakssats>" in xml


def test_an_id_missing_from_the_next_message_is_stopped():
    first = parse(msg(entry(ID_A, "2025-08-04", "2025-08-17", 500), entry(ID_B, "2025-08-18", "2025-08-31", 500)))
    confirmed = {u.uid: u for u in plan_request(first, {}, seq=0, accepted=frozenset()).pending}
    second = parse(msg(entry(ID_B, "2025-08-18", "2025-08-31", 500), behandlingId="B-2"))
    o = plan_request(second, confirmed, seq=1, accepted=frozenset({"AAP"})).oppdrag
    assert o is not None and o.kode_endring == "ENDR"
    assert [(ln.kind, ln.uid, ln.klassekode, ln.opphør_fom) for ln in o.linjer] == [
        (LinjeKind.OPPH, ID_A, "AAPOR", date(2025, 8, 4))
    ]
    assert schema_errors(oppdrag_schema(), oppdrag_xml(o)) == []


# -- the contract ------------------------------------------------------------------------------


def test_the_contract_is_registered_with_its_topics_fagområde_and_stønadstype():
    c = fagsystemer.contract(Fagsystem.AAP)
    assert c is aap.CONTRACT
    assert (c.topic, c.dryrun_topic, c.fagområder) == ("aap.utbetaling.v1", "helved.dryrun-aap.v1", ("AAP",))
    assert fagsystemer.by_topic("aap.utbetaling.v1") is c
    assert fagsystemer.fagsystem_for_fagområde("AAP") is Fagsystem.AAP
    assert dict(c.stønadstyper) == {"AAPOR": "AAP_UNDER_ARBEIDSAVKLARING"}
    assert c.parse is parse_request
