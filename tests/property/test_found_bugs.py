"""Bugs the property harness found in helved, all fixed (6d08444, ae51364): regression tests.

Each history is checked with the full oracle (`tests.property.oracle.check`). A bug found later
goes here first as a strict xfail stating the property that must hold whatever the fix. The
inputs are in tests/property/repro/*.jsonl, ready for `helved replay` (the command is in each
test's docstring): they show the old behaviour when replayed on a commit before the fix.
"""

from __future__ import annotations

import pytest

from tests.builders import days, dp

from .oracle import BASE_TS, Decision, Plan, check, run

MP1 = "2025-06-02/2025-06-15"


def _decisions(*msgs: dict, invalid: dict[int, str] | None = None, ts: list[int] | None = None) -> list[Decision]:
    invalid = invalid or {}
    return [
        Decision(
            f"k{i}",
            m["sakId"].strip() or m["sakId"],
            m,
            valid=i not in invalid,
            why_invalid=invalid.get(i),
            ts=ts[i] if ts else BASE_TS + 60_000 * i,
        )
        for i, m in enumerate(msgs)
    ]


def test_stale_kvittering_is_not_applied_to_a_later_opphor_only_oppdrag() -> None:
    """Fixed. Two opphør-only Oppdrag on one chain tail, same behandlingId: the first one's 00,
    redelivered while the second is in flight (and rejected by OS), was taken as the second's.
    `helved replay tests/property/repro/stale-kvittering.jsonl --out out.jsonl --kvittering none`"""
    a = dp(days(MP1, "2025-06-02", "2025-06-13", 100), behandling="B-1")
    b = dp(days(MP1, "2025-06-02", "2025-06-11", 100), behandling="B-2")  # OPPH fra 12 Jun
    c = dp(days(MP1, "2025-06-02", "2025-06-04", 100), behandling="B-2")  # OPPH fra 5 Jun, same ids
    check(run(_decisions(a, b, c), Plan(late_duplicate_keys=frozenset({"k1"}), forced_key={"k2": "08"})))


def test_stale_rejection_is_not_applied_to_the_identical_resend() -> None:
    """Fixed (the Oppdrag count in the avstemming key's microseconds makes every Oppdrag of a
    sak unique in what its kvittering echoes).
    `helved replay tests/property/repro/stale-rejection-same-timestamp.jsonl --out out.jsonl
    --kvittering none`"""
    a = dp(days(MP1, "2025-06-02", "2025-06-13", 100), behandling="B-1")
    b = dp(days(MP1, "2025-06-02", "2025-06-11", 100), behandling="B-2")  # OPPH fra 12 Jun: 12 from OS
    ds = _decisions(a, b, b, ts=[BASE_TS, BASE_TS + 60_000, BASE_TS + 60_000])  # the resend: same record time
    check(run(ds, Plan(late_duplicate_keys=frozenset({"k1"}), forced_key={"k1": "12"})))


@pytest.mark.parametrize(
    ("why", "sak", "behandling"),
    [
        (
            "sakId with a trailing space (OS trims it: the kvittering matched nothing, the sak was blocked)",
            "SAK-1 ",
            "B-1",
        ),
        ("behandlingId with a trailing space (the same, through henvisning)", "SAK-1", "B-1 "),
        ("sakId with a control character (helved.saker.v1 key was not JSON)", "SAK\t1", "B-1"),
    ],
)
def test_ids_os_would_change_are_rejected(why: str, sak: str, behandling: str) -> None:
    """Fixed: FEILET 400 at validation, and the sak goes on. repro/sakid-trailing-space.jsonl,
    repro/behandlingid-trailing-space.jsonl, repro/sakid-control-character.jsonl (`--emulate-oppdrag`)."""
    bad = dp(days(MP1, "2025-06-02", "2025-06-13", 100), sak=sak, behandling=behandling)
    good = dp(days(MP1, "2025-06-02", "2025-06-06", 100), sak=sak.strip() if "\t" not in sak else "SAK-1")
    check(run(_decisions(bad, good, invalid={0: why})))


def test_amount_beyond_os_13_digits_is_rejected_before_os() -> None:
    """Fixed: a 14-digit utbetaltBeløp gave an Oppdrag breaking the XSD (OS: 08 Skjemafeil); now a
    400 at validation. repro/belop-14-digits.jsonl (`--emulate-oppdrag`)."""
    bad = dp(days(MP1, "2025-06-02", "2025-06-06", 10**13))
    top = dp(days(MP1, "2025-06-02", "2025-06-06", 9_999_999_999_999))
    check(run(_decisions(bad, top, invalid={0: "utbetaltBeløp of 14 digits"})))
