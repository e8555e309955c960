"""What OS pays for a sak, as rows: runs of paying days at one amount (`helved sak`, the demo)."""

from __future__ import annotations

import dataclasses
from datetime import date

from helved.os.port import PaidMap


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentRow:
    """A run of consecutive paying days (Friday -> Monday continues) at one amount."""

    klassekode: str
    fom: date
    tom: date
    days: int
    per_day: int
    total: int


def payment_rows(paid: PaidMap) -> list[PaymentRow]:
    """What a sak is paid, as rows: per klassekode, runs of paying days with equal amounts."""
    rows: list[PaymentRow] = []
    for klassekode, per_day in sorted(paid.items()):
        run: list[tuple[date, int]] = []
        for day, amount in sorted(per_day.items()):
            amount = int(amount)
            if run and amount == run[-1][1] and _continues(run[-1][0], day):
                run.append((day, amount))
                continue
            if run:
                rows.append(_row(klassekode, run))
            run = [(day, amount)]
        if run:
            rows.append(_row(klassekode, run))
    return rows


def _continues(prev: date, day: date) -> bool:
    gap = (day - prev).days
    return gap == 1 or (prev.weekday() == 4 and gap == 3)


def _row(klassekode: str, run: list[tuple[date, int]]) -> PaymentRow:
    return PaymentRow(klassekode, run[0][0], run[-1][0], len(run), run[0][1], sum(a for _, a in run))
