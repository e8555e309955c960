"""Spec §3, §4 and §9: reading a DpUtbetaling, splitting it, merging days, the uid contract."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from helved.domain.ids import delytelse_id, encode_parts, utbetaling_uid
from helved.domain.model import Periode, Periodetype
from helved.domain.periods import Day, merge_days, validate_perioder
from helved.errors import RequestRejected
from helved.fagsystemer.dagpenger import parse_request
from tests.builders import day, days, dp


def P(fom: str, tom: str, beløp: int, sats: int | None = None) -> Periode:
    return Periode(date.fromisoformat(fom), date.fromisoformat(tom), beløp, sats)


def parse(msg) -> object:
    return parse_request(msg, original_key="k")


def rejected(msg) -> RequestRejected:
    with pytest.raises(RequestRejected) as exc:
        parse(msg)
    return exc.value


# -- merging ---------------------------------------------------------------------------------


def test_spec_example_4_to_14_august_gives_three_periods():
    ds = [Day(date(2025, 8, x), 1000, 1000) for x in (4, 5, 6)]
    ds += [Day(date(2025, 8, 7), 700, 1000)]
    ds += [Day(date(2025, 8, x), 1000, 1000) for x in (8, 11, 12, 13, 14)]
    assert merge_days(ds, Periodetype.UKEDAG) == (
        P("2025-08-04", "2025-08-06", 1000, 1000),
        P("2025-08-07", "2025-08-07", 700, 1000),
        P("2025-08-08", "2025-08-14", 1000, 1000),
    )


def test_friday_to_monday_continues_but_thursday_to_monday_does_not():
    fri_mon = [Day(date(2025, 8, 8), 100), Day(date(2025, 8, 11), 100)]
    thu_mon = [Day(date(2025, 8, 7), 100), Day(date(2025, 8, 11), 100)]
    assert merge_days(fri_mon, Periodetype.UKEDAG) == (P("2025-08-08", "2025-08-11", 100),)
    assert merge_days(thu_mon, Periodetype.UKEDAG) == (
        P("2025-08-07", "2025-08-07", 100),
        P("2025-08-11", "2025-08-11", 100),
    )


def test_days_are_sorted_before_merging():
    ds = [Day(date(2025, 8, 6), 100), Day(date(2025, 8, 4), 100), Day(date(2025, 8, 5), 100)]
    assert merge_days(ds, Periodetype.UKEDAG) == (P("2025-08-04", "2025-08-06", 100),)


def test_same_amount_with_another_sats_is_a_new_period():
    ds = [Day(date(2025, 8, 4), 100, 100), Day(date(2025, 8, 5), 100, 200)]
    assert len(merge_days(ds, Periodetype.UKEDAG)) == 2


def test_en_gang_days_are_never_merged():
    ds = [Day(date(2025, 8, 4), 100), Day(date(2025, 8, 5), 100)]
    assert merge_days(ds, Periodetype.EN_GANG) == (
        P("2025-08-04", "2025-08-04", 100),
        P("2025-08-05", "2025-08-05", 100),
    )


# -- split -----------------------------------------------------------------------------------


def test_split_groups_by_meldeperiode_and_stønad_and_drops_unpaid_days():
    msg = dp(
        days("mp1", "2025-08-04", "2025-08-08", 1000),
        [day("mp1", "2025-08-11", 0)],
        days("mp2", "2025-08-18", "2025-08-22", 800),
        [day("mp1", "2025-08-15", 500, typ="DagpengerFerietillegg")],
    )
    r = parse(msg)
    got = [(u.stønad.name, u.perioder) for u in r.utbetalinger]
    assert got == [
        ("DAGPENGER", (P("2025-08-04", "2025-08-08", 1000, 1000),)),
        ("DAGPENGERFERIE", (P("2025-08-15", "2025-08-15", 500, 500),)),
        ("DAGPENGER", (P("2025-08-18", "2025-08-22", 800, 800),)),
    ]
    assert len({u.uid for u in r.utbetalinger}) == 3


def test_defaults_and_dryrun():
    msg = dp(days("mp1", "2025-08-04", "2025-08-04", 1))
    del msg["saksbehandler"], msg["beslutter"]
    r = parse(msg)
    assert (r.saksbehandler, r.beslutter, r.dryrun) == ("DP", "DP", False)
    assert parse(dp(days("mp1", "2025-08-04", "2025-08-04", 1), dryrun=True)).dryrun is True


def test_vedtakstidspunkt_with_offset_keeps_the_wall_time():
    r = parse(dp([], vedtak="2025-08-18T09:30:00+02:00"))
    assert r.vedtakstidspunkt == datetime(2025, 8, 18, 9, 30)
    assert parse(dp([], vedtak="2025-08-18T09:30:00Z")).vedtakstidspunkt == datetime(2025, 8, 18, 9, 30)


def test_unknown_fields_are_ignored():
    assert parse(dp([], somethingNew=1)).sak_key.sak_id == "SAK-1"


# -- uid -------------------------------------------------------------------------------------


def test_uid_is_stable_forever():
    # A permanent contract: this value must never change (state and OS lines refer to it).
    assert utbetaling_uid("DAGPENGER", "SAK-17", "2025-08-04/2025-08-17", "DAGPENGER") == (
        "fe26e777-e825-54e8-8f4a-206b7e72c94e"
    )


def test_uid_encoding_is_unambiguous():
    assert encode_parts("1", "23") != encode_parts("12", "3")
    assert utbetaling_uid("DAGPENGER", "1", "23", "X") != utbetaling_uid("DAGPENGER", "12", "3", "X")
    assert utbetaling_uid("DAGPENGER", "S", "mp", "DAGPENGER") != utbetaling_uid(
        "DAGPENGER", "S", "mp", "DAGPENGERFERIE"
    )


def test_delytelse_id_is_24_characters_and_stable():
    lid = delytelse_id("DAGPENGER", "SAK-17", 0, 0)
    assert len(lid) == 24
    assert lid == delytelse_id("DAGPENGER", "SAK-17", 0, 0)
    assert lid != delytelse_id("DAGPENGER", "SAK-17", 0, 1)


# -- §9: every rule -------------------------------------------------------------------------

GOOD_DAY = days("mp1", "2025-08-04", "2025-08-04", 100)


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda m: m.pop("sakId"), "MISSING_FIELD"),
        (lambda m: m.pop("behandlingId"), "MISSING_FIELD"),
        (lambda m: m.pop("ident"), "MISSING_FIELD"),
        (lambda m: m.pop("vedtakstidspunktet"), "MISSING_FIELD"),
        (lambda m: m.pop("utbetalinger"), "MISSING_FIELD"),
        (lambda m: m["utbetalinger"][0].pop("dato"), "MISSING_FIELD"),
        (lambda m: m["utbetalinger"][0].pop("meldeperiode"), "MISSING_FIELD"),
        (lambda m: m["utbetalinger"][0].pop("utbetaltBeløp"), "MISSING_FIELD"),
        (lambda m: m.update(sakId=17), "INVALID_FIELD"),
        (lambda m: m.update(dryrun="yes"), "INVALID_FIELD"),
        (lambda m: m.update(utbetalinger={}), "INVALID_FIELD"),
        (lambda m: m.update(vedtakstidspunktet="2025-08-18"), "INVALID_FIELD"),
        (lambda m: m.update(ident="1234"), "INVALID_FIELD"),
        (lambda m: m["utbetalinger"][0].update(sats="100"), "INVALID_FIELD"),
        (lambda m: m["utbetalinger"][0].update(utbetaltBeløp=100.5), "INVALID_FIELD"),
        (lambda m: m["utbetalinger"][0].update(utbetaltBeløp=True), "INVALID_FIELD"),
        (lambda m: m["utbetalinger"][0].update(utbetaltBeløp=-5), "INVALID_FIELD"),
        (lambda m: m["utbetalinger"][0].update(dato="04.08.2025"), "INVALID_FIELD"),
        (lambda m: m["utbetalinger"][0].update(utbetalingstype="Barnetrygd"), "INVALID_FIELD"),
        (lambda m: m.update(sakId=""), "SAKID_LENGTH"),
        (lambda m: m.update(sakId="S" * 31), "SAKID_LENGTH"),
        (lambda m: m.update(behandlingId=""), "BEHANDLINGID_LENGTH"),
        (lambda m: m.update(behandlingId="B" * 31), "BEHANDLINGID_LENGTH"),
        (lambda m: m.update(saksbehandler="dagpenger"), "SAKSBEHANDLER_LENGTH"),
        (lambda m: m.update(saksbehandler=""), "SAKSBEHANDLER_LENGTH"),
        (lambda m: m.update(beslutter="Z12345678"), "BESLUTTER_LENGTH"),
        (lambda m: m.update(sakId="SAK-1 "), "INVALID_FIELD"),  # OS trims: the receipt would miss
        (lambda m: m.update(sakId="SAK\t1"), "INVALID_FIELD"),
        (lambda m: m.update(behandlingId=" B-1"), "INVALID_FIELD"),
        (lambda m: m.update(saksbehandler="Z12345 "), "INVALID_FIELD"),
        (lambda m: m["utbetalinger"][0].update(utbetaltBeløp=10**13, sats=10**13), "INVALID_FIELD"),  # Tsats: 13 digits
        (lambda m: m["utbetalinger"][0].update(sats=10**13), "INVALID_FIELD"),
        (lambda m: m["utbetalinger"].append(dict(m["utbetalinger"][0])), "DUPLICATE_DAY"),
        (lambda m: m["utbetalinger"].append(day("mp2", "2025-08-04", 200)), "DUPLICATE_DAY"),  # two meldeperioder
        (lambda m: m["utbetalinger"].append(day("mp1", "2025-08-09", 100)), "WEEKEND_DAY_PAID"),  # Saturday
        (lambda m: m["utbetalinger"].append(day("mp1", "2025-08-10", 100)), "WEEKEND_DAY_PAID"),  # Sunday
        (lambda m: m["utbetalinger"][0].update(dato="2025-W32-1"), "INVALID_FIELD"),  # an ISO week date
        (lambda m: m["utbetalinger"][0].update(dato="2025W321"), "INVALID_FIELD"),
        (lambda m: m["utbetalinger"][0].update(dato="20250804"), "INVALID_FIELD"),
        (lambda m: m["utbetalinger"][0].update(dato="2025-216"), "INVALID_FIELD"),  # an ordinal date
        (lambda m: m["utbetalinger"][0].update(dato="\uff12\uff10\uff12\uff15-08-04"), "INVALID_FIELD"),  # wide digits
        (lambda m: m["utbetalinger"][0].update(dato="1899-12-29"), "INVALID_FIELD"),
        (lambda m: m["utbetalinger"][0].update(dato="0001-01-01"), "INVALID_FIELD"),
        (lambda m: m["utbetalinger"][0].update(dato="2025-08-04 "), "INVALID_FIELD"),
        (lambda m: m["utbetalinger"][0].update(utbetaltBeløp=0, dato="2025-W32-1"), "INVALID_FIELD"),  # even unpaid
        (lambda m: m.update(vedtakstidspunktet="0001-01-01T00:00:00"), "INVALID_FIELD"),  # avstemming key
        (lambda m: m.update(vedtakstidspunktet="1899-12-31T23:59:59"), "INVALID_FIELD"),
        (lambda m: m.update(vedtakstidspunktet="2025-W34-1T09:30:00"), "INVALID_FIELD"),
        (lambda m: m.update(vedtakstidspunktet="2025-08-18 09:30:00"), "INVALID_FIELD"),
        (lambda m: m.update(vedtakstidspunktet="2025-08-18T09:30:00" + "0" * 40), "INVALID_FIELD"),
        (
            lambda m: m["utbetalinger"].append(day("mp1", "2028-09-01", 100)),
            "TOO_LONG_PERIOD",
        ),
    ],
)
def test_every_broken_rule_is_a_400_with_its_code(mutate, code):
    msg = dp([dict(x) for x in GOOD_DAY])
    mutate(msg)
    err = rejected(msg)
    assert (err.status_code, err.code.value) == (400, code)
    assert err.msg.startswith(code + ":")
    assert err.doc.endswith("#" + code.lower())


def test_the_message_must_be_an_object():
    assert rejected([1, 2]).code.value == "INVALID_FIELD"


def test_ident_is_never_echoed_in_an_error():
    msg = dp(GOOD_DAY, ident="9876543210X")
    assert "9876543210X" not in rejected(msg).msg


@pytest.mark.parametrize(
    ("perioder", "typ", "code"),
    [
        ((P("2025-08-05", "2025-08-04", 100),), Periodetype.UKEDAG, "TOM_BEFORE_FOM"),
        ((P("2025-08-04", "2025-08-04", 0),), Periodetype.UKEDAG, "ZERO_BELOP"),
        ((P("2025-12-31", "2026-01-01", 100),), Periodetype.EN_GANG, "EN_GANG_ACROSS_YEAR"),
        ((P("2025-08-04", "2025-08-05", 100), P("2025-08-01", "2025-08-05", 100)), Periodetype.MND, "DUPLICATE_TOM"),
        ((P("2025-08-04", "2025-08-04", 100), P("2025-08-04", "2025-08-05", 200)), Periodetype.MND, "DUPLICATE_FOM"),
        ((P("2022-01-01", "2025-01-06", 100),), Periodetype.DAG, "TOO_LONG_PERIOD"),
        ((), Periodetype.UKEDAG, "NO_PERIODS"),
    ],
)
def test_period_rules(perioder, typ, code):
    with pytest.raises(RequestRejected) as exc:
        validate_perioder(perioder, typ, "u")
    assert exc.value.code.value == code


def test_the_largest_amount_os_takes_is_accepted():
    msg = dp([day("mp1", "2025-08-04", 9_999_999_999_999)])
    assert parse(msg).utbetalinger[0].perioder[0].beløp == 9_999_999_999_999


def test_1100_days_is_still_allowed():
    validate_perioder((P("2022-01-01", "2025-01-05", 100),), Periodetype.DAG, "u")


# -- §3: the rules that keep an OK honest -------------------------------------------------


def test_a_weekend_day_paid_0_is_not_paid_and_not_rejected():
    msg = dp(GOOD_DAY, [day("mp1", "2025-08-09", 0, 1000)])
    assert [p.fom for p in parse(msg).utbetalinger[0].perioder] == [date(2025, 8, 4)]


def test_a_ferietillegg_may_fall_on_a_weekend():
    msg = dp(GOOD_DAY, [day("mp1", "2025-08-09", 500, typ="DagpengerFerietillegg")])
    assert len(parse(msg).utbetalinger) == 2


def test_the_same_date_for_two_stonadstyper_is_not_a_duplicate():
    msg = dp(GOOD_DAY, [day("mp1", "2025-08-04", 500, typ="DagpengerFerietillegg")])
    assert len(parse(msg).utbetalinger) == 2


def test_a_date_paid_twice_where_one_is_0_is_not_a_duplicate():
    msg = dp(GOOD_DAY, [day("mp2", "2025-08-04", 0, 100)])
    assert len(parse(msg).utbetalinger) == 1


def test_the_edges_of_the_calendar_are_accepted():
    first = dp([day("mp1", "1900-01-01", 100)], vedtak="1900-01-01T00:00:00")  # a Monday
    last = dp([day("mp1", "9999-12-31", 100)], vedtak="9999-12-31T23:59:59")  # a Friday
    assert parse(first).utbetalinger[0].perioder[0].fom == date(1900, 1, 1)
    assert parse(last).utbetalinger[0].perioder[0].tom == date(9999, 12, 31)


def test_a_weekend_error_names_the_day_and_not_the_person():
    err = rejected(dp([day("mp1", "2025-08-09", 100)]))
    assert err.msg == "WEEKEND_DAY_PAID: Dagpenger day 2025-08-09 is a Saturday: it is paid Monday-Friday only"


def test_every_error_code_has_its_anchor_in_docs_errors_md():
    """`error.doc` points at docs/errors.md#<code>: every code must be there (spec §9)."""
    import re
    from pathlib import Path

    from helved.errors import ErrorCode

    doc = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text()
    anchors = set(re.findall(r'<a id="([a-z_]+)"></a>', doc))
    assert [c.value for c in ErrorCode if c.value.lower() not in anchors] == []
