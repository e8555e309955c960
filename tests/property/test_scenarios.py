"""A fixed corpus of hand-written histories, each named by the rule it exercises.

Every row of the update table of domain.md §5.4 (written there in loose calendar dates) is
expressed as two dagpenger decisions in June 2025 (Mondays: 2, 9, 16, 23, 30; weekdays only, so
"1-7 Jun" becomes Mon 2 - Fri 6, "8-14 Jun" Mon 9 - Fri 13, and an opphør "from 8 Jun" becomes
"from Sat 7 Jun", the day after the new last tom). Then §5.3 (create, stop, re-create, none),
ferietillegg, several saker, rejected and failed Oppdrag, waiting requests and invalid decisions.

Each scenario is checked twice:
  * the lines of each Oppdrag are exactly the ones the rule prescribes (so a failure names the
    rule): `NY fom..tom sats -> ref` and `OPPH fra D (the line it stops)`, the ref and the target
    named by the period and sats of the line they point to (marked REJECTED when that line was
    in an Oppdrag OS did not accept);
  * the whole property of `tests.property.oracle.check` (OS pays what the last accepted decision
    asked for, after every step; statuses; confirmed state).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from helved.emulator import xml as emu_xml
from tests.builders import day, days, dp

from .oracle import (
    BASE_TS,
    Decision,
    Plan,
    PropertyFailure,
    check,
    run,
    write_replay_files,
)

MP1 = "2025-06-02/2025-06-15"
MP2 = "2025-06-16/2025-06-29"
MP3 = "2025-06-30/2025-07-13"
FERIE = "DagpengerFerietillegg"


def dpx(*day_lists, **kw) -> dict:
    """A decision as dagpenger sends it (tests.builders.dp), behandlingId filled in by Step."""
    return dp(*day_lists, **kw)


def d(mp: str, fom: str, tom: str, beløp: int, sats: int | None = None, typ: str = "Dagpenger") -> list[dict]:
    """Weekdays fom..tom of June 2025 (MM-DD), one meldeperiode."""
    return days(mp, f"2025-{fom}", f"2025-{tom}", beløp, sats, typ)


def one(mp: str, dato: str, beløp: int, typ: str = "Dagpenger") -> list[dict]:
    return [day(mp, f"2025-{dato}", beløp, None, typ)]


def zero(mp: str, dato: str, sats: int = 100) -> list[dict]:
    """A day sent with utbetaltBeløp 0 (not paid)."""
    return [day(mp, f"2025-{dato}", 0, sats)]


ANY = object()  # lines not asserted


@dataclass
class Step:
    msg: dict
    lines: list[str] | object | None = ANY  # None: no Oppdrag
    kode: str | None = None  # kodeEndring NY/ENDR
    answer: str | None = None  # "08"/"12" forced on this step's Oppdrag
    hold: bool = False  # hold this step's kvittering back until the next Oppdrag is answered
    invalid: str | None = None  # why the step must be rejected
    invalid_at: str = "split"
    sak: str = "SAK-1"


@dataclass
class Scenario:
    name: str
    steps: list[Step]

    def __str__(self) -> str:
        return self.name


def S(name: str, *steps: Step) -> Scenario:
    return Scenario(name, list(steps))


def upd(prev: list[dict], new: list[dict], lines: list[str]) -> tuple[Step, Step]:
    return Step(dpx(prev), ANY, "NY"), Step(dpx(new), lines, "ENDR")


SCENARIOS: list[Scenario] = [
    # ---- domain.md §5.4, the update table, row by row
    S(
        "5.4 row 1: [3-14 Jun 100] -> [3-14 Jun 200]: NY 3-14 200, ref prev last",
        *upd(d(MP1, "06-03", "06-13", 100), d(MP1, "06-03", "06-13", 200), ["NY 06-03..06-13 200 -> 06-03..06-13 100"]),
    ),
    S(
        "5.4 row 2: [3-14 Jun 100] -> [7-14 Jun 100]: OPPH from 3 Jun; NY 7-14 100 (fom moved later)",
        *upd(
            d(MP1, "06-03", "06-13", 100),
            d(MP1, "06-09", "06-13", 100),
            ["OPPH fra 06-03 (06-03..06-13 100)", "NY 06-09..06-13 100 -> 06-03..06-13 100"],
        ),
    ),
    S(
        "5.4 row 3: [1-7, 8-14] -> [1-7, 8-14, 15-21 300]: NY 15-21 300 only (appended period)",
        *upd(
            d(MP1, "06-02", "06-06", 100) + d(MP1, "06-09", "06-13", 200),
            d(MP1, "06-02", "06-06", 100) + d(MP1, "06-09", "06-13", 200) + d(MP1, "06-16", "06-20", 300),
            ["NY 06-16..06-20 300 -> 06-09..06-13 200"],
        ),
    ),
    S(
        "5.4 row 4: [1-14 Jun 100] -> [1-7 Jun 100]: OPPH from 8 Jun only (only tom got shorter)",
        *upd(d(MP1, "06-02", "06-13", 100), d(MP1, "06-02", "06-06", 100), ["OPPH fra 06-07 (06-02..06-13 100)"]),
    ),
    S(
        "5.4 row 5: [1-7 100, 8-14 200] -> [1-7 100]: OPPH from 8 Jun only (trailing period removed)",
        *upd(
            d(MP1, "06-02", "06-06", 100) + d(MP1, "06-09", "06-13", 200),
            d(MP1, "06-02", "06-06", 100),
            ["OPPH fra 06-07 (06-09..06-13 200)"],
        ),
    ),
    S(
        "5.4 row 6: [1-14 100, 15-28 200] -> [1-7 100, 15-28 200]: OPPH from 8 Jun; NY 15-28 200",
        *upd(
            d(MP1, "06-02", "06-13", 100) + d(MP1, "06-16", "06-27", 200),
            d(MP1, "06-02", "06-06", 100) + d(MP1, "06-16", "06-27", 200),
            ["OPPH fra 06-07 (06-16..06-27 200)", "NY 06-16..06-27 200 -> 06-16..06-27 200"],
        ),
    ),
    S(
        "5.4 row 7: [1-28 100] -> [1-14 200, 15-28 100]: NY 1-14 200; NY 15-28 100 (no opphør)",
        *upd(
            d(MP1, "06-02", "06-27", 100),
            d(MP1, "06-02", "06-13", 200) + d(MP1, "06-16", "06-27", 100),
            ["NY 06-02..06-13 200 -> 06-02..06-27 100", "NY 06-16..06-27 100 -> 06-02..06-13 200"],
        ),
    ),
    S(
        "5.4 row 8: [1-28 100] -> [1-14 100, 21-28 100]: OPPH from 15 Jun; NY 21-28 100 (a gap)",
        *upd(
            d(MP1, "06-02", "06-27", 100),
            d(MP1, "06-02", "06-13", 100) + d(MP1, "06-23", "06-27", 100),
            ["OPPH fra 06-14 (06-02..06-27 100)", "NY 06-23..06-27 100 -> 06-02..06-27 100"],
        ),
    ),
    S(
        "5.4 row 9: [3 Jun, 1 Jul, 1 Aug] -> [1 Jul, 1 Aug]: OPPH from 3 Jun; NY 1 Jul; NY 1 Aug",
        *upd(
            one(MP1, "06-03", 100) + one(MP1, "07-01", 100) + one(MP1, "08-01", 100),
            one(MP1, "07-01", 100) + one(MP1, "08-01", 100),
            [
                "OPPH fra 06-03 (08-01..08-01 100)",
                "NY 07-01..07-01 100 -> 08-01..08-01 100",
                "NY 08-01..08-01 100 -> 07-01..07-01 100",
            ],
        ),
    ),
    # ---- more of §5.4: the rules behind the table
    S(
        "5.4 only tom shorter, new amount from the next Monday: OPPH from Saturday (before the NY line), NY",
        *upd(
            d(MP1, "06-02", "06-13", 100),
            d(MP1, "06-02", "06-06", 100) + d(MP1, "06-09", "06-13", 200),
            ["OPPH fra 06-07 (06-02..06-13 100)", "NY 06-09..06-13 200 -> 06-02..06-13 100"],
        ),
    ),
    S(
        "5.4 a new amount from mid-period: NY from that day replaces the rest, no OPPH (the NY starts first)",
        *upd(
            d(MP1, "06-02", "06-13", 100),
            d(MP1, "06-02", "06-04", 100) + d(MP1, "06-05", "06-13", 200),
            ["NY 06-05..06-13 200 -> 06-02..06-13 100"],
        ),
    ),
    S(
        "5.4 a day paid 0 in the middle (sent with utbetaltBeløp 0): OPPH from that day; NY for the rest",
        *upd(
            d(MP1, "06-02", "06-13", 100),
            d(MP1, "06-02", "06-04", 100) + zero(MP1, "06-05") + d(MP1, "06-06", "06-13", 100),
            ["OPPH fra 06-05 (06-02..06-13 100)", "NY 06-06..06-13 100 -> 06-02..06-13 100"],
        ),
    ),
    S(
        "5.4 fom moved earlier: NY from the new fom replaces the chain, no OPPH",
        *upd(d(MP1, "06-09", "06-13", 100), d(MP1, "06-04", "06-13", 100), ["NY 06-04..06-13 100 -> 06-09..06-13 100"]),
    ),
    S(
        "5.4 tom grows: NY for the longer period, no OPPH",
        *upd(d(MP1, "06-02", "06-06", 100), d(MP1, "06-02", "06-13", 100), ["NY 06-02..06-13 100 -> 06-02..06-06 100"]),
    ),
    S(
        "5.4 only vedtakssats changes: a NY line (same beløp), OS pays the same",
        *upd(
            d(MP1, "06-02", "06-13", 100, 150),
            d(MP1, "06-02", "06-13", 100, 160),
            ["NY 06-02..06-13 100 -> 06-02..06-13 100"],
        ),
    ),
    S(
        "5.1 a second opphør targets the same tail line with its original period data",
        Step(dpx(d(MP1, "06-02", "06-13", 100)), ["NY 06-02..06-13 100"], "NY"),
        Step(dpx(d(MP1, "06-02", "06-11", 100)), ["OPPH fra 06-12 (06-02..06-13 100)"], "ENDR"),
        Step(dpx(d(MP1, "06-02", "06-04", 100)), ["OPPH fra 06-05 (06-02..06-13 100)"], "ENDR"),
        Step(dpx(d(MP1, "06-02", "06-13", 100)), ["NY 06-02..06-13 100 -> 06-02..06-13 100"], "ENDR"),
    ),
    # ---- §5.3 actions per uid
    S(
        "5.3 create: NY lines for every period, chained to each other",
        Step(
            dpx(d(MP1, "06-02", "06-06", 100) + d(MP1, "06-09", "06-13", 200)),
            ["NY 06-02..06-06 100", "NY 06-09..06-13 200 -> 06-02..06-06 100"],
            "NY",
        ),
    ),
    S(
        "5.3 none: the same decision again sends nothing, status OK",
        Step(dpx(d(MP1, "06-02", "06-13", 100)), ["NY 06-02..06-13 100"], "NY"),
        Step(dpx(d(MP1, "06-02", "06-13", 100), behandling="B-x"), None),
        Step(dpx(list(reversed(d(MP1, "06-02", "06-13", 100))) + zero(MP1, "06-16"), behandling="B-y"), None),
    ),
    S(
        "5.3 stop: a meldeperiode missing from the message is stopped from its earliest fom",
        Step(
            dpx(d(MP1, "06-02", "06-06", 100) + d(MP1, "06-09", "06-13", 200), d(MP2, "06-16", "06-27", 100)), ANY, "NY"
        ),
        Step(dpx(d(MP2, "06-16", "06-27", 100)), ["OPPH fra 06-02 (06-09..06-13 200)"], "ENDR"),
    ),
    S(
        "5.3 stop/re-create: the meldeperiode comes back: NY chained to the stopped chain's tail",
        Step(dpx(d(MP1, "06-02", "06-13", 100), d(MP2, "06-16", "06-27", 100)), ANY, "NY"),
        Step(dpx(d(MP2, "06-16", "06-27", 100)), ["OPPH fra 06-02 (06-02..06-13 100)"], "ENDR"),
        Step(dpx(d(MP2, "06-16", "06-27", 200)), ["NY 06-16..06-27 200 -> 06-16..06-27 100"], "ENDR"),
        Step(
            dpx(d(MP1, "06-04", "06-13", 300), d(MP2, "06-16", "06-27", 200)),
            ["NY 06-04..06-13 300 -> 06-02..06-13 100"],
            "ENDR",
        ),
    ),
    S(
        "5.3/4.6 stop the whole sak, then an empty decision again is a no-op, then start over",
        Step(dpx(d(MP1, "06-02", "06-13", 100), d(MP2, "06-16", "06-27", 200)), ANY, "NY"),
        Step(dpx(), ["OPPH fra 06-02 (06-02..06-13 100)", "OPPH fra 06-16 (06-16..06-27 200)"], "ENDR"),
        Step(dpx(), None),
        Step(dpx(d(MP2, "06-16", "06-27", 200)), ["NY 06-16..06-27 200 -> 06-16..06-27 200"], "ENDR"),
    ),
    S(
        "4.6 a first decision with no paid day is a no-op (days paid 0 only)",
        Step(dpx(zero(MP1, "06-02"), zero(MP1, "06-03")), None),
        Step(dpx(d(MP1, "06-02", "06-06", 100)), ["NY 06-02..06-06 100"], "NY"),
    ),
    # ---- ferietillegg (EN_GANG, one line per day)
    S(
        "4.4 ferietillegg: each paid day its own one-day ENG line, paid once",
        Step(
            dpx(d(MP1, "06-02", "06-13", 100), one(MP1, "06-04", 500, FERIE), one(MP1, "06-06", 500, FERIE)),
            ["NY 06-02..06-13 100", "FERIE NY 06-04..06-04 500", "FERIE NY 06-06..06-06 500 -> 06-04..06-04 500"],
            "NY",
        ),
    ),
    S(
        "5.4 ferietillegg moved to an earlier day: NY on the new day replaces from there",
        Step(dpx(one(MP1, "06-04", 500, FERIE), one(MP1, "06-06", 500, FERIE)), ANY, "NY"),
        Step(
            dpx(one(MP1, "06-04", 500, FERIE), one(MP1, "06-05", 500, FERIE)),
            ["FERIE NY 06-05..06-05 500 -> 06-06..06-06 500"],
            "ENDR",
        ),
    ),
    S(
        "5.4 ferietillegg moved to a later day, then removed (stop), then back",
        Step(dpx(d(MP1, "06-02", "06-13", 100), one(MP1, "06-04", 500, FERIE)), ANY, "NY"),
        Step(
            dpx(d(MP1, "06-02", "06-13", 100), one(MP1, "06-10", 500, FERIE)),
            ["FERIE OPPH fra 06-04 (06-04..06-04 500)", "FERIE NY 06-10..06-10 500 -> 06-04..06-04 500"],
            "ENDR",
        ),
        Step(dpx(d(MP1, "06-02", "06-13", 100)), ["FERIE OPPH fra 06-10 (06-10..06-10 500)"], "ENDR"),
        Step(
            dpx(d(MP1, "06-02", "06-13", 100), one(MP1, "06-10", 250, FERIE)),
            ["FERIE NY 06-10..06-10 250 -> 06-10..06-10 500"],
            "ENDR",
        ),
    ),
    # ---- several saker
    S(
        "5.2 several saker: one sak's rejection and changes leave the other alone",
        Step(dpx(d(MP1, "06-02", "06-13", 100), sak="SAK-1"), ["NY 06-02..06-13 100"], "NY", sak="SAK-1"),
        Step(
            dpx(d(MP1, "06-02", "06-13", 300), sak="SAK-2", ident="23456789012"),
            ["NY 06-02..06-13 300"],
            "NY",
            sak="SAK-2",
        ),
        Step(
            dpx(d(MP1, "06-02", "06-06", 100), sak="SAK-1"),
            ["OPPH fra 06-07 (06-02..06-13 100)"],
            "ENDR",
            answer="08",
            sak="SAK-1",
        ),
        Step(
            dpx(d(MP1, "06-02", "06-13", 400), sak="SAK-2", ident="23456789012"),
            ["NY 06-02..06-13 400 -> 06-02..06-13 300"],
            "ENDR",
            sak="SAK-2",
        ),
        Step(
            dpx(d(MP1, "06-02", "06-06", 100), sak="SAK-1"), ["OPPH fra 06-07 (06-02..06-13 100)"], "ENDR", sak="SAK-1"
        ),
    ),
    # ---- receipts: 08 and 12 leave the previous state in force
    S(
        "7 a rejected (08) change, then a new change: diffed against the last accepted, chained to its tail",
        Step(dpx(d(MP1, "06-02", "06-13", 100)), ["NY 06-02..06-13 100"], "NY"),
        Step(dpx(d(MP1, "06-02", "06-13", 200)), ["NY 06-02..06-13 200 -> 06-02..06-13 100"], "ENDR", answer="08"),
        Step(dpx(d(MP1, "06-02", "06-06", 100)), ["OPPH fra 06-07 (06-02..06-13 100)"], "ENDR"),
    ),
    S(
        "7 a failed (12) change sent again: the same lines with new delytelseIds, then OK",
        Step(dpx(d(MP1, "06-02", "06-13", 100)), ["NY 06-02..06-13 100"], "NY"),
        Step(dpx(d(MP1, "06-02", "06-13", 200)), ["NY 06-02..06-13 200 -> 06-02..06-13 100"], "ENDR", answer="12"),
        Step(dpx(d(MP1, "06-02", "06-13", 200)), ["NY 06-02..06-13 200 -> 06-02..06-13 100"], "ENDR"),
    ),
    S(
        "5.5 the first Oppdrag rejected (08): the next one is kodeEndring NY again",
        Step(dpx(d(MP1, "06-02", "06-13", 100)), ["NY 06-02..06-13 100"], "NY", answer="08"),
        Step(dpx(d(MP1, "06-02", "06-13", 100)), ["NY 06-02..06-13 100"], "NY"),
    ),
    S(
        "7 a rejected (08) stop: the meldeperiode stays active and is paid",
        Step(dpx(d(MP1, "06-02", "06-13", 100), d(MP2, "06-16", "06-27", 100)), ANY, "NY"),
        Step(dpx(d(MP2, "06-16", "06-27", 100)), ["OPPH fra 06-02 (06-02..06-13 100)"], "ENDR", answer="08"),
        Step(dpx(d(MP1, "06-02", "06-13", 100), d(MP2, "06-16", "06-27", 100)), None),
    ),
    # ---- waiting (5.2): a request arriving while the sak has an Oppdrag in flight
    S(
        "5.2 a change arriving while the previous Oppdrag is in flight waits, then is diffed against it",
        Step(dpx(d(MP1, "06-02", "06-13", 100)), ["NY 06-02..06-13 100"], "NY", hold=True),
        Step(dpx(d(MP1, "06-02", "06-06", 100)), ["OPPH fra 06-07 (06-02..06-13 100)"], "ENDR"),
    ),
    S(
        "5.2 waiting behind a rejected (08) Oppdrag: diffed against the state before it",
        Step(dpx(d(MP1, "06-02", "06-13", 100)), ["NY 06-02..06-13 100"], "NY"),
        Step(
            dpx(d(MP1, "06-02", "06-13", 200)),
            ["NY 06-02..06-13 200 -> 06-02..06-13 100"],
            "ENDR",
            answer="08",
            hold=True,
        ),
        Step(dpx(d(MP1, "06-02", "06-13", 200)), ["NY 06-02..06-13 200 -> 06-02..06-13 100"], "ENDR"),
    ),
    S(
        "5.2 two requests waiting: both processed in order after the receipt",
        Step(dpx(d(MP1, "06-02", "06-13", 100)), ["NY 06-02..06-13 100"], "NY", hold=True),
        Step(dpx(d(MP1, "06-02", "06-13", 100)), None),
        Step(dpx(d(MP1, "06-02", "06-13", 100), d(MP2, "06-16", "06-20", 100)), ["NY 06-16..06-20 100"], "ENDR"),
    ),
    # ---- invalid decisions leave the last accepted one in force
    S(
        "9 a decision rejected by validation (saksbehandler over 8 characters) changes nothing",
        Step(dpx(d(MP1, "06-02", "06-13", 100)), ["NY 06-02..06-13 100"], "NY"),
        Step(dpx(d(MP1, "06-02", "06-06", 100), saksbehandler="dagpenger"), None, invalid="saksbehandler"),
        Step(dpx(d(MP1, "06-02", "06-13", 100)), None),
    ),
    S(
        "9 a duplicate paid day (DUPLICATE_DAY) changes nothing, even while an Oppdrag is in flight",
        Step(dpx(d(MP1, "06-02", "06-13", 100)), ["NY 06-02..06-13 100"], "NY", hold=True),
        Step(dpx(d(MP1, "06-02", "06-13", 200) + one(MP1, "06-02", 200)), None, invalid="duplicate day"),
        Step(dpx(d(MP1, "06-02", "06-06", 100)), ["OPPH fra 06-07 (06-02..06-13 100)"], "ENDR"),
    ),
    S(
        "5.3 locked field: ident changed on a sak with payments is FEILET 400 (IMMUTABLE_FIELD_IDENT)",
        Step(dpx(d(MP1, "06-02", "06-13", 100)), ["NY 06-02..06-13 100"], "NY"),
        Step(dpx(d(MP1, "06-02", "06-06", 100), ident="98765432109"), None, invalid="ident changed", invalid_at="sak"),
        Step(dpx(d(MP1, "06-02", "06-06", 100)), ["OPPH fra 06-07 (06-02..06-13 100)"], "ENDR"),
    ),
]


def _decisions(sc: Scenario) -> tuple[list[Decision], Plan]:
    out: list[Decision] = []
    forced: dict[str, str] = {}
    hold: set[str] = set()
    for i, step in enumerate(sc.steps):
        msg = dict(step.msg)
        msg["behandlingId"] = f"B-{i}"
        msg["vedtakstidspunktet"] = f"2025-06-30T09:{i:02d}:00"
        key = f"{step.sak}-k{i}"
        out.append(
            Decision(
                key,
                step.sak,
                msg,
                valid=step.invalid is None,
                why_invalid=step.invalid,
                invalid_at=step.invalid_at,
                ts=BASE_TS + 60_000 * i,
            )
        )
        if step.answer:
            forced[key] = step.answer
        if step.hold:
            hold.add(key)
    return out, Plan(forced_key=forced, hold_keys=frozenset(hold))


def _short(x: date) -> str:
    return x.strftime("%m-%d")


def describe_lines(xml: bytes, booked: dict[str, str]) -> tuple[str, list[str]]:
    """(kodeEndring, the lines) in the notation of the scenarios. `booked` maps every delytelseId
    sent so far to its description (updated with this Oppdrag's NY lines)."""
    o = emu_xml.parse_oppdrag(xml)
    out = []
    for ln in o.linjer:
        pre = "FERIE " if ln.kode_klassifik == "DAGPENGERFERIE" else ""
        tom = ln.dato_vedtak_tom or ln.dato_vedtak_fom
        if ln.is_opphor:
            target = booked.get(ln.delytelse_id or "", f"unknown line {ln.delytelse_id}")
            out.append(f"{pre}OPPH fra {_short(ln.dato_status_fom)} ({target})")
        else:
            ref = ""
            if ln.ref_delytelse_id:
                ref = " -> " + booked.get(ln.ref_delytelse_id, f"unknown line {ln.ref_delytelse_id}")
            out.append(f"{pre}NY {_short(ln.dato_vedtak_fom)}..{_short(tom)} {ln.sats}{ref}")
            booked[ln.delytelse_id or ""] = f"{_short(ln.dato_vedtak_fom)}..{_short(tom)} {ln.sats}"
    return o.kode_endring or "", out


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s.name.split(":")[0] + " " + str(i) for i, s in enumerate(SCENARIOS)])
def test_scenario(sc: Scenario) -> None:
    decisions, plan = _decisions(sc)
    r = run(decisions, plan)
    by_key = {a.key: a for a in r.answered}
    problems = []
    booked: dict[str, str] = {}
    for i, (step, dec) in enumerate(zip(sc.steps, decisions, strict=True)):
        a = by_key.get(dec.key)
        got = None
        kode = None
        if a is not None:
            kode, got = describe_lines(a.oppdrag, booked)
            if not a.verdict.accepted:
                for ln in emu_xml.parse_oppdrag(a.oppdrag).linjer:
                    if not ln.is_opphor:
                        booked[ln.delytelse_id or ""] = "REJECTED " + booked[ln.delytelse_id or ""]
        if step.lines is not ANY and got != step.lines:
            problems.append(f"step {i}: Oppdrag lines\n      got      {got}\n      expected {step.lines}")
        if step.kode is not None and kode != step.kode:
            problems.append(f"step {i}: kodeEndring {kode}, expected {step.kode}")
    if problems:
        raise PropertyFailure(f"rule: {sc.name}\n  " + "\n  ".join(problems) + "\n" + write_replay_files(r))
    try:
        check(r)
    except PropertyFailure as exc:
        raise PropertyFailure(f"rule: {sc.name}\n{exc}") from None
