"""Hypothesis strategies: random histories of dagpenger decisions and of OS's answers.

A history is a list of decision specs, each `(sak index, ops, include_zero_days, reversed,
invalid kind or None, resend kind or None)`. The sender keeps, per sak, the days it pays: per meldeperiode (5 of
them, 14 days each from a Monday, 10 weekdays) a list of 10 (utbetaltBeløp, sats), and
per meldeperiode a few ferietillegg days. Each decision applies its ops to that state and sends
the **whole sak** (spec §3). The ops make meldeperioder appear, change amount, grow, shrink from
either end, get gaps, disappear and come back (revert to an earlier state), and move ferietillegg.
Only weekdays are paid (typeSats DAG pays Monday-Friday). Specs are plain tuples so Hypothesis
shrinks them well; `build` turns them into `Decision`s deterministically.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st

from helved.emulator import Faults

from .oracle import BASE_TS, Decision, Plan

# Meldeperioder: 14 days from a Monday (10 weekdays). Number 3 spans the end of summer time
# (26 Oct: the Oppdrag dates' offset changes from +02:00 to +01:00). Number 4 is a correction
# period under another kind of label, right after number 2. No two share a day: the same date
# paid twice for one stønadstype is DUPLICATE_DAY (spec §3).
MP_STARTS = (date(2025, 6, 2), date(2025, 6, 16), date(2025, 6, 30), date(2025, 10, 20), date(2025, 7, 14))
N_MP = len(MP_STARTS)
N_DAYS = 10
SAKER = ("SAK-A", "SAK-B", "SAK-C")
IDENTS = {"SAK-A": "12345678910", "SAK-B": "23456789012", "SAK-C": "34567890123"}
BELØP = (1000, 700, 400)
SATS = (1000, 1200)
FERIE = (500, 250)
INVALID = ("saksbehandler", "dup_day", "negative", "bad_type", "missing_ident", "behandling_long", "weekend_day")


def mp_dates(k: int) -> list[date]:
    start = MP_STARTS[k]
    return [d for d in (start + timedelta(days=i) for i in range(14)) if d.weekday() < 5]


def mp_label(k: int) -> str:
    start = MP_STARTS[k]
    label = f"{start.isoformat()}/{(start + timedelta(days=13)).isoformat()}"
    return label if k != 4 else f"korrigering {label}"


# ---------------------------------------------------------------------------------------------
# The sender's state and the ops on it


@dataclass
class SakState:
    days: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # mp -> 10 x (beløp, sats)
    ferie: dict[int, dict[int, int]] = field(default_factory=dict)  # mp -> day index -> beløp


def _mp(state: SakState, mp: int) -> list[tuple[int, int]]:
    return state.days.setdefault(mp, [(0, SATS[0])] * N_DAYS)


def apply_op(state: SakState, history: list[SakState], op: tuple) -> None:
    kind = op[0]
    present = sorted(set(state.days) | set(state.ferie))
    if kind in ("trim", "cut", "grow", "drop") and present:
        # these act on a meldeperiode the sak has: the index picks one of those
        op = (kind, present[op[1] % len(present)], *op[2:])
    if kind == "fill":  # the whole meldeperiode at one amount
        _, mp, b, s = op
        state.days[mp] = [(b, s)] * N_DAYS
    elif kind == "fill2":  # the whole meldeperiode in two or three periods: amounts or a gap
        _, mp, k, b1, b2, s = op
        k = max(1, min(N_DAYS - 1, k))
        state.days[mp] = [(b1, s)] * k + [(b2, s)] * (N_DAYS - k)
    elif kind == "cut":  # whole periods (runs of equal days) removed from one end
        _, mp, from_start, n = op
        if mp in state.days:
            days = state.days[mp]
            runs: list[list[int]] = []
            for i, (b, s) in enumerate(days):
                if not b:
                    continue
                if runs and runs[-1][-1] == i - 1 and days[runs[-1][-1]] == (b, s):
                    runs[-1].append(i)
                else:
                    runs.append([i])
            for run in runs[:n] if from_start else runs[-n:]:
                for i in run:
                    days[i] = (0, days[i][1])
    elif kind == "set":  # a range of days (beløp 0: a gap, or shrinking)
        _, mp, lo, hi, b, s = op
        lo, hi = min(lo, hi), max(lo, hi)
        days = _mp(state, mp)
        for i in range(lo, hi + 1):
            days[i] = (b, s)
    elif kind == "trim":  # shrink from one end
        _, mp, from_start, n = op
        if mp in state.days:
            days = state.days[mp]
            paid = [i for i, (b, _) in enumerate(days) if b]
            for i in paid[:n] if from_start else paid[-n:]:
                days[i] = (0, days[i][1])
    elif kind == "grow":  # extend at one end with the amount already at that end
        _, mp, at_start, n = op
        days = _mp(state, mp)
        paid = [i for i, (b, _) in enumerate(days) if b]
        if not paid:
            days[0] = (BELØP[0], SATS[0])
            paid = [0]
        edge = paid[0] if at_start else paid[-1]
        rng = range(max(0, edge - n), edge) if at_start else range(edge + 1, min(N_DAYS, edge + 1 + n))
        for i in rng:
            days[i] = days[edge]
    elif kind == "drop":  # the meldeperiode disappears (days and ferietillegg)
        _, mp = op
        state.days.pop(mp, None)
        state.ferie.pop(mp, None)
    elif kind == "ferie":  # a ferietillegg day (beløp 0: removed)
        _, mp, i, b = op
        f = state.ferie.setdefault(mp, {})
        if b:
            f[i] = b
        else:
            f.pop(i, None)
            if not f:
                state.ferie.pop(mp)
    elif kind == "revert":  # the meldeperiode as it was `back` decisions ago (comes back)
        _, mp, back = op
        old = history[-back] if len(history) >= back else SakState()
        if mp in old.days:
            state.days[mp] = list(old.days[mp])
        else:
            state.days.pop(mp, None)
        if mp in old.ferie:
            state.ferie[mp] = dict(old.ferie[mp])
        else:
            state.ferie.pop(mp, None)
    else:  # pragma: no cover
        raise ValueError(op)


def message_days(state: SakState, include_zero: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for mp in sorted(set(state.days) | set(state.ferie)):
        label, dates = mp_label(mp), mp_dates(mp)
        for i, (b, s) in enumerate(state.days.get(mp, [])):
            if b or include_zero:
                out.append(
                    {
                        "meldeperiode": label,
                        "dato": dates[i].isoformat(),
                        "sats": s,
                        "utbetaltBeløp": b,
                        "utbetalingstype": "Dagpenger",
                    }
                )
        for i, b in sorted(state.ferie.get(mp, {}).items()):
            out.append(
                {
                    "meldeperiode": label,
                    "dato": dates[i].isoformat(),
                    "sats": b,
                    "utbetaltBeløp": b,
                    "utbetalingstype": "DagpengerFerietillegg",
                }
            )
    return out


def _break(msg: dict[str, Any], kind: str) -> tuple[dict[str, Any], str]:
    """Make the message invalid (a 400 at validation) in the way `kind` says."""
    paid = [d for d in msg["utbetalinger"] if d["utbetaltBeløp"] > 0]
    if kind == "dup_day" and not paid:
        kind = "saksbehandler"
    if kind == "negative" and not msg["utbetalinger"]:
        kind = "bad_type"
    if kind == "saksbehandler":
        msg["saksbehandler"] = "dagpenger"  # 9 characters (the model system's default)
    elif kind == "dup_day":
        msg["utbetalinger"].append(dict(paid[0]))  # the same paid day twice: DUPLICATE_DAY
    elif kind == "negative":
        msg["utbetalinger"][-1] = {**msg["utbetalinger"][-1], "utbetaltBeløp": -100}
    elif kind == "bad_type":
        msg["utbetalinger"].append(
            {
                "meldeperiode": mp_label(0),
                "dato": "2025-06-02",
                "sats": 100,
                "utbetaltBeløp": 0,
                "utbetalingstype": "Feriepenger",
            }
        )
    elif kind == "missing_ident":
        del msg["ident"]
    elif kind == "behandling_long":
        msg["behandlingId"] = "B" * 31
    elif kind == "weekend_day":  # a Dagpenger day paid on a Saturday: WEEKEND_DAY_PAID
        saturday = mp_dates(0)[4] + timedelta(days=1)
        msg["utbetalinger"].append(
            {
                "meldeperiode": mp_label(0),
                "dato": saturday.isoformat(),
                "sats": 100,
                "utbetaltBeløp": 100,
                "utbetalingstype": "Dagpenger",
            }
        )
    return msg, kind


def build(specs: list[tuple]) -> list[Decision]:
    """Decision specs -> decisions. The sender's state only moves on valid decisions."""
    states: dict[int, SakState] = {}
    histories: dict[int, list[SakState]] = {}
    out: list[Decision] = []
    last: dict[int, tuple[str, int]] = {}  # sak -> (behandlingId, record time) of its last decision
    for n, (s, ops, include_zero, reverse, invalid, resend) in enumerate(specs):
        sak = SAKER[s]
        state = copy.deepcopy(states.get(s, SakState()))
        history = histories.setdefault(s, [])
        for op in ops:
            apply_op(state, history, op)
        utbetalinger = message_days(state, include_zero)
        if reverse:
            utbetalinger.reverse()
        behandling, ts = f"B-{n}", BASE_TS + 60_000 * n
        if resend and s in last:
            # the sender reuses the behandlingId of its previous decision on the sak (a resend or
            # a correction of the same behandling); "same_ts": the record time too (an outbox
            # resending the stored record)
            behandling = last[s][0]
            if resend == "same_ts":
                ts = last[s][1]
        last[s] = (behandling, ts)
        msg: dict[str, Any] = {
            "sakId": sak,
            "behandlingId": behandling,
            "ident": IDENTS[sak],
            "vedtakstidspunktet": (f"2025-06-30T09:{n:02d}:00" if n < 60 else "2025-06-30T10:00:00"),
            "saksbehandler": "Z123456",
            "beslutter": "Z654321",
            "utbetalinger": utbetalinger,
        }
        why = None
        if invalid is not None:
            msg, why = _break(msg, invalid)
        else:
            states[s] = state
            history.append(copy.deepcopy(state))
        out.append(Decision(f"{sak}-k{n}", sak, msg, valid=invalid is None, why_invalid=why, ts=ts))
    return out


# ---------------------------------------------------------------------------------------------
# Strategies

idx = st.integers(0, N_DAYS - 1)
beløp = st.sampled_from(BELØP)
beløp0 = st.sampled_from((0,) + BELØP)
sats = st.sampled_from(SATS)


def op_strategy(n_mp: int = N_MP, reshape: bool = False):
    """The ops on a sak. `reshape`: only what reshapes the periods of meldeperioder (no
    ferietillegg), weighted towards shrinking: the opphør rules of §5.4 are where it goes wrong."""
    mps = st.integers(0, n_mp - 1)
    fill = st.tuples(st.just("fill"), mps, beløp, sats)
    fill2 = st.tuples(st.just("fill2"), mps, st.integers(1, N_DAYS - 1), beløp, beløp0, sats)
    set_ = st.tuples(st.just("set"), mps, idx, idx, beløp0, sats)
    trim = st.tuples(st.just("trim"), mps, st.booleans(), st.integers(1, 6))
    cut = st.tuples(st.just("cut"), mps, st.booleans(), st.integers(1, 2))
    grow = st.tuples(st.just("grow"), mps, st.booleans(), st.integers(1, 6))
    drop = st.tuples(st.just("drop"), mps)
    ferie = st.tuples(st.just("ferie"), mps, idx, st.sampled_from((0,) + FERIE))
    revert = st.tuples(st.just("revert"), mps, st.integers(1, 4))
    if reshape:
        return st.one_of(fill2, set_, cut, trim, fill, cut, set_, trim, grow, revert, drop)
    return st.one_of(fill, set_, fill2, set_, trim, cut, grow, drop, ferie, revert, cut, fill2)


# Resends sometimes keep the record time too (an outbox resending the stored record). Until
# ae51364 a stale 08/12 was then applied to the resend
# (test_found_bugs.test_stale_rejection_is_not_applied_to_the_identical_resend).
RESEND_SAME_TIMESTAMP = True


def decision_specs(
    n_saker: int = 3,
    max_decisions: int = 8,
    invalid: bool = True,
    n_mp: int = N_MP,
    reshape: bool = False,
    resend: bool = True,
):
    # About one decision in ten breaks a validation rule; shrinks towards a valid one.
    kinds = st.tuples(st.integers(0, 9), st.sampled_from(INVALID)).map(lambda t: t[1] if t[0] == 9 else None)
    # About one in five reuses the sak's previous behandlingId.
    same = ("same_id", "same_ts") if RESEND_SAME_TIMESTAMP else ("same_id",)
    resends = st.tuples(st.integers(0, 4), st.sampled_from(same)).map(lambda t: t[1] if t[0] == 3 else None)
    ops = op_strategy(n_mp, reshape)
    spec = st.tuples(
        st.integers(0, n_saker - 1),
        # One decision in ten resends the sak unchanged (must give no Oppdrag, status OK).
        st.tuples(st.integers(0, 19), st.lists(ops, min_size=1, max_size=3)).map(
            lambda t: [] if t[0] in (7, 8) else t[1]
        ),
        st.booleans(),  # include the days paid 0
        st.booleans(),  # days in reverse order
        kinds if invalid else st.none(),
        resends if resend else st.none(),
    )
    return st.lists(spec, min_size=1, max_size=max_decisions)


@st.composite
def plans(draw, allow_faults: bool = True) -> Plan:
    if not allow_faults:
        return Plan()
    kind = draw(st.sampled_from(("none", "emulator", "forced")))
    hold = frozenset(draw(st.lists(st.integers(0, 5), min_size=1, max_size=3))) if draw(st.booleans()) else frozenset()
    late = frozenset(draw(st.lists(st.integers(0, 5), max_size=2)))
    if kind == "none":
        return Plan(hold=hold, late_duplicates=late)
    if kind == "emulator":
        faults = Faults(
            reject_share=draw(st.sampled_from((0.0, 0.15, 0.3))),
            error_share=draw(st.sampled_from((0.0, 0.1, 0.2))),
            duplicate_share=draw(st.sampled_from((0.0, 0.2))),
            prefix_share=draw(st.sampled_from((0.0, 0.3))),
        )
        return Plan(faults=faults, seed=draw(st.integers(0, 2**16)), hold=hold, late_duplicates=late)
    forced = draw(st.dictionaries(st.integers(0, 9), st.sampled_from(("08", "12", "04")), min_size=1, max_size=3))
    return Plan(forced_idx=forced, hold=hold, late_duplicates=late)
