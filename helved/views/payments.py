"""What OS pays on a sak: its paid days as rows (runs of paying days at one amount per
klassekode, `payment_rows`), as JSON for scripts and as a table for people.

The rows are built from what OS pays per klassekode and day (`helved.os.PaidMap`), as the OS
emulator answers it (`EmulatedOs.paid`); nothing here reads OS itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The rows themselves are OS's answer read as runs of paying days (`helved.os.payments`).
from helved.os.payments import PaymentRow, payment_rows

__all__ = ["PaymentRow", "Widths", "payment_json", "payment_rows", "payment_table"]


def payment_json(row: PaymentRow) -> dict[str, Any]:
    """One row as `helved sak --json` shows it (`osPays`)."""
    return {
        "klassekode": row.klassekode,
        "fom": row.fom.isoformat(),
        "tom": row.tom.isoformat(),
        "days": row.days,
        "perDay": row.per_day,
        "total": row.total,
    }


@dataclass(frozen=True, slots=True)
class Widths:
    """Column widths of a payment table: klassekode, per day, total."""

    klassekode: int = 16
    per_day: int = 8
    total: int = 9


def payment_table(rows: list[PaymentRow], indent: str = "", widths: Widths = Widths()) -> list[str]:
    """The rows as a table with a header and a total line (no lines for no rows)."""
    if not rows:
        return []
    k, p, t = widths.klassekode, widths.per_day, widths.total
    lines = [f"{indent}{'klassekode':<{k}} {'fom':<10}  {'tom':<10}  {'days':>4}  {'per day':>{p}}  {'total':>{t}}"]
    for r in rows:
        lines.append(
            f"{indent}{r.klassekode:<{k}} {r.fom.isoformat():<10}  {r.tom.isoformat():<10}"
            f"  {r.days:>4}  {r.per_day:>{p}}  {r.total:>{t}}"
        )
    days, total = sum(r.days for r in rows), sum(r.total for r in rows)
    lines.append(f"{indent}{'total':<{k}} {'':<10}  {'':<10}  {days:>4}  {'':>{p}}  {total:>{t}}")
    return lines
