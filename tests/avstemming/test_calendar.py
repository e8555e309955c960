"""Norwegian working days and the ranges of production runs (spec `avstemming.md` §6)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from helved.domain.avstemming import (
    NothingToDo,
    Range,
    Refused,
    Run,
    check_explicit,
    easter_sunday,
    holidays,
    is_working_day,
    next_range,
    previous_working_day,
)

pytest.importorskip("holidays")
import holidays as holidays_pkg


def d(text: str) -> date:
    return date.fromisoformat(text)


def test_the_twelve_holidays_match_the_holidays_package_for_2000_to_2100() -> None:
    for year in range(2000, 2101):
        theirs = holidays_pkg.country_holidays("NO", years=year)
        assert holidays(year) == frozenset(theirs), year
        # 12 holidays; fewer dates when two fall together (Ascension on 17 May in 2007).
        assert len(holidays(year)) <= 12


def test_working_days_match_the_holidays_package_every_day_2000_to_2100() -> None:
    theirs = holidays_pkg.country_holidays("NO", years=range(2000, 2101))
    day, end = date(2000, 1, 1), date(2100, 12, 31)
    while day <= end:
        assert is_working_day(day) == (day.weekday() < 5 and day not in theirs), day
        day += timedelta(days=1)


@pytest.mark.parametrize(
    ("year", "easter"),
    [(2000, "2000-04-23"), (2024, "2024-03-31"), (2025, "2025-04-20"), (2038, "2038-04-25"), (2100, "2100-03-28")],
)
def test_easter_sunday(year: int, easter: str) -> None:
    assert easter_sunday(year) == d(easter)


def test_previous_working_day_skips_weekends_and_easter() -> None:
    assert previous_working_day(d("2025-03-17")) == d("2025-03-14")
    assert previous_working_day(d("2025-04-22")) == d("2025-04-16")
    assert previous_working_day(d("2026-01-02")) == d("2025-12-31")


def run(today: str, fom: str, tom: str, scheduled: bool = True) -> Run:
    return Run(d(today), Range(d(fom), d(tom)), scheduled, ("id-1",))


@pytest.mark.parametrize(
    ("today", "last_tom", "fom", "tom"),
    [
        ("2025-03-17", "2025-03-13", "2025-03-14", "2025-03-16"),
        ("2025-03-18", None, "2025-03-17", "2025-03-17"),
        ("2025-04-22", "2025-04-15", "2025-04-16", "2025-04-21"),
        ("2025-12-29", "2025-12-23", "2025-12-24", "2025-12-28"),
        ("2026-01-02", "2025-12-30", "2025-12-31", "2026-01-01"),
    ],
)
def test_the_next_range_table_of_the_spec(today: str, last_tom: str | None, fom: str, tom: str) -> None:
    runs = [] if last_tom is None else [run(last_tom, "2000-01-01", last_tom)]
    assert next_range(d(today), runs) == Range(d(fom), d(tom))


@pytest.mark.parametrize("today", ["2025-04-17", "2025-05-29", "2025-03-15", "2025-03-16", "2025-12-25", "2025-05-01"])
def test_no_avstemming_on_a_weekend_day_or_holiday(today: str) -> None:
    decision = next_range(d(today), [])
    assert isinstance(decision, Refused) and decision.exit_code == 0
    assert decision.reason == f"{today} is a weekend day or holiday: no avstemming"


def test_a_second_scheduled_run_the_same_day_is_refused() -> None:
    decision = next_range(d("2025-03-18"), [run("2025-03-18", "2025-03-17", "2025-03-17")])
    assert decision == Refused("already reconciled today: 2025-03-17..2025-03-17")


def test_an_explicit_run_today_is_not_the_scheduled_run() -> None:
    decision = next_range(d("2025-03-18"), [run("2025-03-18", "2025-03-10", "2025-03-12", scheduled=False)])
    assert decision == Range(d("2025-03-13"), d("2025-03-17"))


def test_nothing_to_do_when_yesterday_is_reconciled() -> None:
    decision = next_range(d("2025-03-18"), [run("2025-03-14", "2025-03-17", "2025-03-17", scheduled=False)])
    assert isinstance(decision, NothingToDo)


def test_an_explicit_range_equal_to_a_recorded_one_is_already_sent() -> None:
    decision = check_explicit(
        d("2025-03-20"), Range(d("2025-03-17"), d("2025-03-17")), [run("2025-03-18", "2025-03-17", "2025-03-17")]
    )
    assert decision == Refused("already sent 2025-03-17..2025-03-17: id-1", 0)


def test_an_explicit_range_overlapping_a_recorded_one_is_refused_with_exit_1() -> None:
    decision = check_explicit(
        d("2025-03-20"), Range(d("2025-03-16"), d("2025-03-18")), [run("2025-03-18", "2025-03-17", "2025-03-17")]
    )
    assert isinstance(decision, Refused) and decision.exit_code == 1
    assert "2025-03-17..2025-03-17" in decision.reason


def test_an_explicit_range_must_end_before_today() -> None:
    decision = check_explicit(d("2025-03-18"), Range(d("2025-03-17"), d("2025-03-18")), [])
    assert isinstance(decision, Refused) and decision.exit_code == 2
    assert check_explicit(d("2025-03-18"), Range(d("2025-03-10"), d("2025-03-17")), []) == Range(
        d("2025-03-10"), d("2025-03-17")
    )
