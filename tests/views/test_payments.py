"""What OS pays on a sak, as rows, JSON and a table."""

from __future__ import annotations

from datetime import date

from helved.views.payments import (
    PaymentRow,
    Widths,
    payment_json,
    payment_rows,
    payment_table,
)

ROWS = [
    PaymentRow("DAGPENGER", date(2025, 8, 4), date(2025, 8, 15), 10, 1000, 10000),
    PaymentRow("DAGPENGERFERIE", date(2025, 8, 15), date(2025, 8, 15), 1, 1200, 1200),
]


def test_paying_days_run_on_across_the_weekend_until_the_amount_changes() -> None:
    paid = {"DAGPENGER": {date(2025, 8, d): 1000 for d in (7, 8, 11, 12)} | {date(2025, 8, 13): 700}}
    assert payment_rows(paid) == [
        PaymentRow("DAGPENGER", date(2025, 8, 7), date(2025, 8, 12), 4, 1000, 4000),
        PaymentRow("DAGPENGER", date(2025, 8, 13), date(2025, 8, 13), 1, 700, 700),
    ]


def test_a_row_as_json_has_iso_dates_and_camel_case_names() -> None:
    assert payment_json(ROWS[1]) == {
        "klassekode": "DAGPENGERFERIE",
        "fom": "2025-08-15",
        "tom": "2025-08-15",
        "days": 1,
        "perDay": 1200,
        "total": 1200,
    }


def test_the_table_has_a_header_a_line_per_row_and_the_totals() -> None:
    assert payment_table(ROWS, "  ") == [
        "  klassekode       fom         tom         days   per day      total",
        "  DAGPENGER        2025-08-04  2025-08-15    10      1000      10000",
        "  DAGPENGERFERIE   2025-08-15  2025-08-15     1      1200       1200",
        "  total                                      11                11200",
    ]


def test_the_table_takes_narrower_columns() -> None:
    assert payment_table(ROWS, "", Widths(klassekode=15, per_day=7, total=7)) == [
        "klassekode      fom         tom         days  per day    total",
        "DAGPENGER       2025-08-04  2025-08-15    10     1000    10000",
        "DAGPENGERFERIE  2025-08-15  2025-08-15     1     1200     1200",
        "total                                     11             11200",
    ]


def test_no_rows_make_no_table() -> None:
    assert payment_table([], "  ") == []
