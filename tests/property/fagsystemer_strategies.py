"""Hypothesis strategies: random histories of decisions of AAP, tiltakspenger, tilleggsstønader,
historisk and valp on one or two saker, and the receipts OS gives them.

Each sender keeps its own state per sak (what it has decided so far) and applies a few random ops
to it per decision; the message says what the sender's contract says it sends:

* AAP: the whole sak, per meldekort (4 of them, 14 days from a Monday, one UUID each): every
  weekday an entry or runs of equal days as periods (sometimes stretched over the weekend),
  entries paid 0 sometimes included, a `sats` per meldekort, sometimes an `avvent`.
* Tiltakspenger: the whole sak, per meldeperiode (4 of them), a stønad each (it may switch),
  barnetillegg days (the `_BARN` twin), one betalende enhet per sak or none.
* Tilleggsstønader: only what a decision touches, over one to three ids of a sak with a fixed
  periodetype (UKEDAG: weeks; MND: months, halves and split months; EN_GANG: days, neighbours
  included), stønader of several fagområder and `brukFagområdeTillst`; `perioder: []` stops an
  id, a stop of an id never paid (404), `utbetalinger: []`, and now and then a sender's mistake
  (an id sent with another stønad: a locked field).
* Historisk: one id per message (same units as tilleggsstønader), `perioder: []` stops it.
* Valp: one EN_GANG id per message, `belop 0` stops it, a kostnadssted per sak or none.

About one decision in eight breaks a validation rule of its contract on purpose (FEILET 400 at
once; the sender's state does not move), about one in ten is a dryrun (the state does not move
either); ids are now and then sent in upper case, saksbehandler/beslutter vary or are missing,
resends are identical in content. Per decision OS's answer is drawn per fagområde: mostly 00,
else a forced 04, 08 or 12 (`codes`; for tilleggsstønader one fagområde at a time, so that one
Oppdrag of two is rejected), sometimes a kvittering held back until the next Oppdrag's (`holds`:
later decisions of the sak must wait) or delivered twice (`duplicates`). Everything is plain data
and Hypothesis draws, so failures shrink.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st

from helved.domain.model import Fagsystem

from .fagsystemer_oracle import (
    BASE_TS,
    FAGOMRÅDER,
    HISTORISK_KLASSEKODER,
    TP_KLASSEKODER,
    TS_STØNADER,
    VALP_KLASSEKODER,
    Decision,
)

MONDAY = date(2025, 8, 4)
SAKER = ("SAK-1", "SAK-2")
IDENTS = {"SAK-1": "12345678910", "SAK-2": "23456789012"}
N_SLOTS = 4  # AAP meldekort, TP meldeperioder: 14 days each from MONDAY
N_DAYS = 10  # weekdays per slot
BELØP = (700, 500, 300)


def uuid(fs: int, sak: int, n: int) -> str:
    return f"{fs:08x}-0000-4000-8000-{sak:04x}{n:08x}"


def slot_weekdays(k: int) -> list[date]:
    start = MONDAY + timedelta(days=14 * k)
    return [d for d in (start + timedelta(days=i) for i in range(14)) if d.weekday() < 5]


def runs(days: list[date], values: list[int]) -> list[tuple[date, date, int]]:
    """Maximal runs of equal non-zero values over consecutive weekdays (Friday -> Monday too)."""
    out: list[tuple[date, date, int]] = []
    for d, v in zip(days, values, strict=True):
        if not v:
            continue
        gap = (d - out[-1][1]).days if out else 0
        if out and out[-1][2] == v and (gap == 1 or (gap == 3 and d.weekday() == 0)):
            out[-1] = (out[-1][0], d, v)
        else:
            out.append((d, d, v))
    return out


def weekend_stretched(tom: date) -> date:
    return tom + timedelta(days=2) if tom.weekday() == 4 else tom


# ---------------------------------------------------------------------------------------------
# Common: one history


@dataclass
class History:
    fagsystem: Fagsystem
    decisions: list[Decision] = field(default_factory=list)
    codes: dict[tuple[str, str], str] = field(default_factory=dict)
    holds: set[tuple[str, str]] = field(default_factory=set)
    duplicates: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, sak: str, msg: dict[str, Any], invalid: str | None, os: tuple) -> None:
        """`os`: the answers forced per fagområde, the fagområde whose kvittering is held and
        (fagområde, "now" | "late") whose kvittering is delivered twice (see `answers`)."""
        n = len(self.decisions)
        key = f"{sak}-k{n}"
        self.decisions.append(Decision(key, self.fagsystem, sak, msg, invalid, BASE_TS + 60_000 * n))
        codes, hold, dup = os
        for fo, code in codes.items():
            self.codes[(key, fo)] = code
        if hold is not None:
            self.holds.add((key, hold))
        if dup is not None:
            self.duplicates[(key, dup[0])] = dup[1]

    def describe(self) -> str:
        out = []
        for i, d in enumerate(self.decisions):
            tag = f" [invalid: {d.invalid}]" if d.invalid else ""
            out.append(f"#{i} {d.key}{tag}")
        return "; ".join(out)


def weighted(*options: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """One of `options`, each drawn with its weight."""
    table = tuple(i for i, (w, _) in enumerate(options) for _ in range(w))
    return st.sampled_from(table).flatmap(lambda i: options[i][1])


def answers(fagsystem: Fagsystem, fagområder: Sequence[str] = (), forced_one_in: int = 4, max_forced: int = 2):
    """OS's answer per fagområde of one decision: mostly nothing forced (00); about one in six
    has the kvittering of one fagområde's Oppdrag held back until the next Oppdrag's, about one
    in eight one delivered twice (at once, or again with the next Oppdrag's)."""
    fos = st.sampled_from(tuple(fagområder) or FAGOMRÅDER[fagsystem])
    forced = st.dictionaries(fos, st.sampled_from(("08", "12", "04")), min_size=1, max_size=max_forced)
    codes = st.tuples(st.integers(0, forced_one_in - 1), forced).map(lambda t: t[1] if t[0] == 0 else {})
    hold = st.tuples(st.integers(0, 5), fos).map(lambda t: t[1] if t[0] == 0 else None)
    dup = st.tuples(st.integers(0, 7), fos, st.sampled_from(("now", "late"))).map(
        lambda t: (t[1], t[2]) if t[0] == 0 else None
    )
    return st.tuples(codes, hold, dup)


@st.composite
def upper_case_ids(draw, msg: dict[str, Any]) -> None:
    """About one decision in eight sends its UUIDs in upper case: the same ids (README)."""
    if draw(st.integers(0, 7)) != 0:
        return
    if "id" in msg:
        msg["id"] = msg["id"].upper()
    for e in msg.get("utbetalinger") or []:
        e["id"] = e["id"].upper()


@st.composite
def ansvarlige(draw, msg: dict[str, Any]) -> None:
    """saksbehandler and beslutter as given, another person, or missing (the default): never a
    change by themselves (settled rule 12)."""
    for field_name in ("saksbehandler", "beslutter"):
        who = draw(st.sampled_from((None, "Z123456", "Z999999")))
        msg.pop(field_name, None)
        if who is not None:
            msg[field_name] = who


@st.composite
def dryrun(draw, msg: dict[str, Any]) -> bool:
    """About one decision in ten is a dryrun (`"dryrun": true`): simulated, never paid, and the
    sender's state does not move."""
    if draw(st.integers(0, 9)) == 0:
        msg["dryrun"] = True  # an AAP dryrun may change only its avvent (once a crash, now answered)
        return True
    return False


def invalid_kind(kinds: tuple[str, ...]):
    """About one decision in eight breaks a rule; shrinks towards valid."""
    return st.tuples(st.integers(0, 7), st.sampled_from(kinds)).map(lambda t: t[1] if t[0] == 7 else None)


# ---------------------------------------------------------------------------------------------
# AAP

AAP_SATS = (700, 800)
AAP_AVVENT = (
    {"fom": "2025-08-04", "tom": "2025-08-17", "årsak": "AVVENT_AVREGNING"},
    {
        "fom": "2025-08-18",
        "tom": "2025-08-31",
        "overføres": "2025-09-05",
        "årsak": "AVVENT_REFUSJONSKRAV",
        "feilregistrering": True,
    },
)
AAP_INVALID = ("bad_uuid", "tom_before_fom", "dup_day", "weekend_only", "missing_ident", "saksbehandler", "negative")


@dataclass
class AapSak:
    slots: dict[int, tuple[int, list[int]]] = field(default_factory=dict)  # slot -> (sats, beløp per weekday)
    avvent: int | None = None


def _aap_op(s: AapSak, op: tuple) -> None:
    kind = op[0]
    if kind == "fill":
        _, k, b, sats = op
        s.slots[k] = (sats, [b] * N_DAYS)
    elif kind == "set":
        _, k, lo, hi, b = op
        sats, days = s.slots.get(k, (AAP_SATS[0], [0] * N_DAYS))
        days = list(days)
        for i in range(min(lo, hi), max(lo, hi) + 1):
            days[i] = b
        s.slots[k] = (sats, days)
    elif kind == "drop":
        s.slots.pop(op[1], None)
    elif kind == "sats":
        _, k, sats = op
        if k in s.slots:
            s.slots[k] = (sats, s.slots[k][1])
    elif kind == "avvent":
        s.avvent = op[1]


def _aap_message(sak_i: int, sak: str, s: AapSak, n: int, form: str, zeros: bool, reverse: bool) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    for k in sorted(s.slots):
        sats, days = s.slots[k]
        uid, dates = uuid(1, sak_i, k), slot_weekdays(k)
        if form == "days":
            for d, b in zip(dates, days, strict=True):
                if b or zeros:
                    entries.append({"id": uid, "fom": str(d), "tom": str(d), "sats": sats, "utbetaltBeløp": b})
        else:
            for fom, tom, b in runs(dates, days):
                tom = weekend_stretched(tom) if form == "weekend" else tom
                entries.append({"id": uid, "fom": str(fom), "tom": str(tom), "sats": sats, "utbetaltBeløp": b})
            if zeros and any(b == 0 for b in days):
                i = days.index(0)
                d = dates[i]
                entries.append({"id": uid, "fom": str(d), "tom": str(d), "sats": sats, "utbetaltBeløp": 0})
    if reverse:
        entries.reverse()
    msg: dict[str, Any] = {
        "sakId": sak,
        "behandlingId": f"B-{n}",
        "ident": IDENTS[sak],
        "vedtakstidspunktet": "2025-08-20T10:00:00",
        "saksbehandler": "Z123456",
        "utbetalinger": entries,
    }
    if s.avvent is not None and any(e["utbetaltBeløp"] for e in entries):
        msg["avvent"] = AAP_AVVENT[s.avvent]
    return msg


def _aap_break(msg: dict[str, Any], kind: str, sak_i: int) -> tuple[dict[str, Any], str]:
    paid = [e for e in msg["utbetalinger"] if e["utbetaltBeløp"]]
    if kind == "dup_day" and not paid:
        kind = "missing_ident"
    if kind == "bad_uuid":
        msg["utbetalinger"].append(
            {"id": "meldekort-1", "fom": "2025-08-04", "tom": "2025-08-04", "sats": 700, "utbetaltBeløp": 0}
        )
    elif kind == "tom_before_fom":
        msg["utbetalinger"].append(
            {"id": uuid(1, sak_i, 9), "fom": "2025-08-05", "tom": "2025-08-04", "sats": 700, "utbetaltBeløp": 100}
        )
    elif kind == "dup_day":  # another meldekort pays a day already paid: DUPLICATE_DAY
        msg["utbetalinger"].append({**paid[0], "id": uuid(1, sak_i, 9), "tom": paid[0]["fom"]})
    elif kind == "weekend_only":
        msg["utbetalinger"].append(
            {"id": uuid(1, sak_i, 9), "fom": "2025-08-09", "tom": "2025-08-10", "sats": 700, "utbetaltBeløp": 100}
        )
    elif kind == "missing_ident":
        del msg["ident"]
    elif kind == "saksbehandler":
        msg["saksbehandler"] = "saksbehandler"  # over 8 characters
    elif kind == "negative":
        msg["utbetalinger"].append(
            {"id": uuid(1, sak_i, 9), "fom": "2025-08-04", "tom": "2025-08-04", "sats": 700, "utbetaltBeløp": -1}
        )
    return msg, kind


@st.composite
def aap_histories(draw, n_saker: int = 2, max_decisions: int = 6) -> History:
    slot = st.integers(0, N_SLOTS - 1)
    idx = st.integers(0, N_DAYS - 1)
    op = weighted(
        (4, st.tuples(st.just("fill"), slot, st.sampled_from(BELØP), st.sampled_from(AAP_SATS))),
        (3, st.tuples(st.just("set"), slot, idx, idx, st.sampled_from((0, *BELØP)))),
        (1, st.tuples(st.just("drop"), slot)),
        (1, st.tuples(st.just("sats"), slot, st.sampled_from(AAP_SATS))),
        (2, st.tuples(st.just("avvent"), st.sampled_from((None, 0, 1)))),
    )
    h = History(Fagsystem.AAP)
    saker = {i: AapSak() for i in range(n_saker)}
    for n in range(draw(st.integers(1, max_decisions))):
        i = draw(st.integers(0, n_saker - 1))
        s = copy.deepcopy(saker[i])
        if draw(st.integers(0, 5)) == 0:  # only the avvent changes (settled rule 9)
            ops = [("avvent", draw(st.sampled_from((0, 1, None))))]
        else:
            ops = draw(st.lists(op, min_size=draw(st.sampled_from((1, 0))), max_size=3))
        for o in ops:
            _aap_op(s, o)
        form = draw(st.sampled_from(("runs", "days", "weekend")))
        msg = _aap_message(i, SAKER[i], s, n, form, draw(st.booleans()), draw(st.booleans()))
        draw(upper_case_ids(msg))
        draw(ansvarlige(msg))
        bad = draw(invalid_kind(AAP_INVALID))
        if bad:
            msg, bad = _aap_break(msg, bad, i)
        if not draw(dryrun(msg)) and not bad:
            saker[i] = s
        h.add(SAKER[i], msg, bad, draw(answers(Fagsystem.AAP)))
    return h


# ---------------------------------------------------------------------------------------------
# Tiltakspenger

TP_STØNADER = tuple(TP_KLASSEKODER)
TP_INVALID = (
    "zero_belop",
    "unknown_stonad",
    "weekend_only",
    "tom_before_fom",
    "dup_day",
    "mixed_enhet",
    "missing_personident",
    "short_enhet",
)


@dataclass
class TpSlot:
    stønad: int = 0
    days: list[int] = field(default_factory=lambda: [0] * N_DAYS)
    barn: list[int] = field(default_factory=lambda: [0] * N_DAYS)


def mp_label(k: int) -> str:
    start = MONDAY + timedelta(days=14 * k)
    return f"{start}/{start + timedelta(days=13)}"


def _tp_op(s: dict[int, TpSlot], op: tuple) -> None:
    kind = op[0]
    if kind in ("fill", "barn_fill"):
        _, k, b = op
        slot = s.setdefault(k, TpSlot())
        setattr(slot, "days" if kind == "fill" else "barn", [b] * N_DAYS)
    elif kind in ("set", "barn_set"):
        _, k, lo, hi, b = op
        slot = s.setdefault(k, TpSlot())
        days = list(slot.days if kind == "set" else slot.barn)
        for i in range(min(lo, hi), max(lo, hi) + 1):
            days[i] = b
        setattr(slot, "days" if kind == "set" else "barn", days)
    elif kind == "drop":
        s.pop(op[1], None)
    elif kind == "stønad":
        if op[1] in s:
            s[op[1]].stønad = op[2]
    if any(not any(sl.days) and not any(sl.barn) for sl in s.values()):
        for k in [k for k, sl in s.items() if not any(sl.days) and not any(sl.barn)]:
            del s[k]


def _tp_message(sak: str, s: dict[int, TpSlot], enhet: str | None, n: int, form: str, reverse: bool) -> dict[str, Any]:
    perioder: list[dict[str, Any]] = []
    for k in sorted(s):
        slot, dates = s[k], slot_weekdays(k)
        for barn, days in ((False, slot.days), (True, slot.barn)):
            if form == "days":
                spans = [(d, d, b) for d, b in zip(dates, days, strict=True) if b]
            else:
                spans = runs(dates, days)
            for fom, tom, b in spans:
                p: dict[str, Any] = {
                    "meldeperiode": mp_label(k),
                    "fom": str(fom),
                    "tom": str(weekend_stretched(tom) if form == "weekend" else tom),
                    "beløp": b,
                    "stønad": TP_STØNADER[slot.stønad],
                }
                if barn:
                    p["barnetillegg"] = True
                if enhet:
                    p["betalendeEnhet"] = enhet
                perioder.append(p)
    if reverse:
        perioder.reverse()
    return {
        "sakId": sak,
        "behandlingId": f"B-{n}",
        "personident": IDENTS[sak],
        "vedtakstidspunkt": "2025-08-20T10:00:00",
        "perioder": perioder,
    }


def _tp_break(msg: dict[str, Any], kind: str) -> tuple[dict[str, Any], str]:
    ps = msg["perioder"]
    if kind in ("dup_day", "mixed_enhet") and not ps:
        kind = "zero_belop"
    base = {"meldeperiode": "EKSTRA", "fom": "2025-08-04", "tom": "2025-08-08", "beløp": 100, "stønad": "JOBBKLUBB"}
    if kind == "zero_belop":
        ps.append({**base, "beløp": 0})
    elif kind == "unknown_stonad":
        ps.append({**base, "stønad": "DAGPENGER"})
    elif kind == "weekend_only":
        ps.append({**base, "fom": "2025-08-09", "tom": "2025-08-10"})
    elif kind == "tom_before_fom":
        ps.append({**base, "fom": "2025-08-08", "tom": "2025-08-04"})
    elif kind == "dup_day":  # another meldeperiode pays a paid day under the same klassekode
        ps.append({**ps[0], "meldeperiode": "EKSTRA", "tom": ps[0]["fom"]})
    elif kind == "mixed_enhet":
        ps.append({**ps[0], "meldeperiode": "EKSTRA", "stønad": "AVKLARING", "betalendeEnhet": "4151"})
        ps.append({**ps[0], "meldeperiode": "EKSTRA2", "stønad": "AVKLARING", "betalendeEnhet": "4152"})
    elif kind == "missing_personident":
        del msg["personident"]
    elif kind == "short_enhet":
        ps.append({**base, "betalendeEnhet": "031"})
    return msg, kind


@st.composite
def tp_histories(draw, n_saker: int = 2, max_decisions: int = 6) -> History:
    slot = st.integers(0, N_SLOTS - 1)
    idx = st.integers(0, N_DAYS - 1)
    op = weighted(
        (4, st.tuples(st.just("fill"), slot, st.sampled_from(BELØP))),
        (3, st.tuples(st.just("set"), slot, idx, idx, st.sampled_from((0, *BELØP)))),
        (1, st.tuples(st.just("drop"), slot)),
        (1, st.tuples(st.just("stønad"), slot, st.integers(0, len(TP_STØNADER) - 2))),
        (1, st.tuples(st.just("barn_fill"), slot, st.sampled_from((0, 50, 80)))),
        (1, st.tuples(st.just("barn_set"), slot, idx, idx, st.sampled_from((0, 50)))),
    )
    h = History(Fagsystem.TILTAKSPENGER)
    saker: dict[int, dict[int, TpSlot]] = {i: {} for i in range(n_saker)}
    enheter = {i: draw(st.sampled_from((None, "0315"))) for i in range(n_saker)}
    for n in range(draw(st.integers(1, max_decisions))):
        i = draw(st.integers(0, n_saker - 1))
        s = copy.deepcopy(saker[i])
        for o in draw(st.lists(op, min_size=draw(st.sampled_from((1, 0))), max_size=3)):
            _tp_op(s, o)
        form = draw(st.sampled_from(("runs", "days", "weekend")))
        msg = _tp_message(SAKER[i], s, enheter[i], n, form, draw(st.booleans()))
        draw(ansvarlige(msg))
        bad = draw(invalid_kind(TP_INVALID))
        if bad:
            msg, bad = _tp_break(msg, bad)
        if not draw(dryrun(msg)) and not bad:
            saker[i] = s
        h.add(SAKER[i], msg, bad, draw(answers(Fagsystem.TILTAKSPENGER)))
    return h


# ---------------------------------------------------------------------------------------------
# Periods of the partial senders (tilleggsstønader, historisk): units per periodetype

# UKEDAG: weeks (Monday-Friday, or to Sunday) from MONDAY; unit value (beløp, to_sunday)
N_WEEKS = 6
# MND: months from August; unit value (shape, beløp, beløp2)
MONTHS = ((2025, 8), (2025, 9), (2025, 10), (2025, 11), (2025, 12), (2026, 1))
MND_SHAPES = ("full", "first", "second", "split")
# EN_GANG: days (neighbours included, all weekdays), and how far a period may reach
EN_GANG_DAYS: tuple[tuple[date, int], ...] = (
    (date(2025, 8, 5), 0),
    (date(2025, 8, 6), 0),
    (date(2025, 8, 20), 3),
    (date(2025, 9, 3), 0),
    (date(2025, 9, 4), 5),
    (date(2025, 10, 1), 0),
)
N_UNITS = {"UKEDAG": N_WEEKS, "MND": len(MONTHS), "EN_GANG": len(EN_GANG_DAYS)}


def last_day(y: int, m: int) -> date:
    return date(y + m // 12, m % 12 + 1, 1) - timedelta(days=1)


def unit_perioder(periodetype: str, units: dict[int, tuple]) -> list[tuple[date, date, int]]:
    out: list[tuple[date, date, int]] = []
    for u in sorted(units):
        v = units[u]
        if periodetype == "UKEDAG":
            b, to_sunday = v
            fom = MONDAY + timedelta(days=7 * u)
            out.append((fom, fom + timedelta(days=6 if to_sunday else 4), b))
        elif periodetype == "MND":
            shape, b, b2 = v
            y, m = MONTHS[u]
            first, mid, last = date(y, m, 1), date(y, m, 15), last_day(y, m)
            if shape == "full":
                out.append((first, last, b))
            elif shape == "first":
                out.append((first, mid - timedelta(days=1), b))
            elif shape == "second":
                out.append((mid, last, b))
            else:
                out += [(first, mid - timedelta(days=1), b), (mid, last, b2)]
        else:
            b, reach = v
            d, max_reach = EN_GANG_DAYS[u]
            out.append((d, d + timedelta(days=min(reach, max_reach)), b))
    return out


def unit_value(periodetype: str):
    b = st.sampled_from((3000, 1200, 400))
    if periodetype == "UKEDAG":
        return st.tuples(b, st.booleans())
    if periodetype == "MND":
        return st.tuples(st.sampled_from(MND_SHAPES), b, b)
    return st.tuples(b, st.integers(0, 5))


@st.composite
def unit_ops(draw, periodetype: str, fresh: bool = False) -> tuple:
    """An op on one id's units: mostly `put` (a unit paid), else a unit removed, the id stopped,
    the id sent again as it is, or sent with another stønad (a mistake). `fresh`: an id the
    sender never sent: only `put`."""
    unit = st.integers(0, N_UNITS[periodetype] - 1)
    kinds = ("put", "range", "put", "del", "range", "stop", "touch", "mistake")
    kind = draw(st.sampled_from(("put", "range"))) if fresh else draw(st.sampled_from(kinds))
    if kind == "put":
        return ("put", draw(unit), draw(unit_value(periodetype)))
    if kind == "range":  # neighbouring units at one value: they merge (UKEDAG, MND) or never (EN_GANG)
        lo = draw(unit)
        return (
            "range",
            lo,
            draw(st.integers(lo, min(lo + 2, N_UNITS[periodetype] - 1))),
            draw(unit_value(periodetype)),
        )
    if kind == "del":
        return ("del", draw(unit))
    return (kind,)


def apply_unit_op(units: dict[int, tuple], op: tuple) -> None:
    if op[0] == "put":
        units[op[1]] = op[2]
    elif op[0] == "range":
        for u in range(op[1], op[2] + 1):
            units[u] = op[3]
    elif op[0] == "del":
        units.pop(op[1], None)
    elif op[0] == "stop":
        units.clear()


def json_perioder(periodetype: str, units: dict[int, tuple], enhet: str | None) -> list[dict[str, Any]]:
    out = []
    for fom, tom, b in unit_perioder(periodetype, units):
        p: dict[str, Any] = {"fom": str(fom), "tom": str(tom), "beløp": b}
        if enhet:
            p["betalendeEnhet"] = enhet
        out.append(p)
    return out


# ---------------------------------------------------------------------------------------------
# Tilleggsstønader

TS_POOL = tuple(TS_STØNADER)
TS_INVALID = (
    "dag",
    "not_supported",
    "tillst_not_allowed",
    "bad_uuid",
    "overlap",
    "tom_before_fom",
    "zero_belop",
    "missing_personident",
    "same_id_twice",
    "mixed_enhet",
)


@dataclass(frozen=True)
class TsId:
    uid: str
    stønad: str
    tillst: bool


def _ts_break(msg: dict[str, Any], kind: str, sak_i: int) -> tuple[dict[str, Any], str]:
    fresh = uuid(4, sak_i, 99)
    one = {"fom": "2025-08-04", "tom": "2025-08-08", "beløp": 100}
    us = msg["utbetalinger"]
    if kind == "same_id_twice" and not us:
        kind = "overlap"
    if kind == "dag":
        msg["periodetype"] = "DAG"
        us.append({"id": fresh, "stønad": "TILSYN_BARN_AAP", "perioder": [one]})
    elif kind == "not_supported":
        us.append({"id": fresh, "stønad": "REISE_OPPSTART_AAP", "perioder": [one]})
    elif kind == "tillst_not_allowed":
        us.append({"id": fresh, "stønad": "DAGLIG_REISE_AAP", "brukFagområdeTillst": True, "perioder": [one]})
    elif kind == "bad_uuid":
        us.append({"id": "TS-1", "stønad": "TILSYN_BARN_AAP", "perioder": [one]})
    elif kind == "overlap":
        us.append({"id": fresh, "stønad": "TILSYN_BARN_AAP", "perioder": [one, {**one, "fom": "2025-08-06"}]})
    elif kind == "tom_before_fom":
        us.append({"id": fresh, "stønad": "TILSYN_BARN_AAP", "perioder": [{**one, "tom": "2025-08-01"}]})
    elif kind == "zero_belop":
        us.append({"id": fresh, "stønad": "TILSYN_BARN_AAP", "perioder": [{**one, "beløp": 0}]})
    elif kind == "missing_personident":
        del msg["personident"]
    elif kind == "same_id_twice":
        us.append(dict(us[0]))
    elif kind == "mixed_enhet":
        us.append(
            {
                "id": fresh,
                "stønad": "DAGLIG_REISE_AAP",
                "perioder": [
                    {**one, "betalendeEnhet": "0315"},
                    {**one, "fom": "2025-08-11", "tom": "2025-08-15", "betalendeEnhet": "4151"},
                ],
            }
        )
    return msg, kind


@st.composite
def ts_ids(draw, sak_i: int) -> list[TsId]:
    picks = draw(st.lists(st.sampled_from(TS_POOL), min_size=2, max_size=3, unique=True))
    out = []
    for n, stønad in enumerate(picks):
        tillst = TS_STØNADER[stønad][2] and draw(st.integers(0, 3)) == 0
        out.append(TsId(uuid(4, sak_i, n), stønad, tillst))
    return out


@st.composite
def ts_histories(draw, n_saker: int = 2, max_decisions: int = 6) -> History:
    h = History(Fagsystem.TILLEGGSSTØNADER)
    periodetyper = {i: draw(st.sampled_from(("UKEDAG", "MND", "EN_GANG"))) for i in range(n_saker)}
    ids = {i: draw(ts_ids(i)) for i in range(n_saker)}
    enheter = {i: draw(st.sampled_from((None, None, "0315"))) for i in range(n_saker)}
    state: dict[int, dict[int, dict[int, tuple]]] = {i: {} for i in range(n_saker)}  # sak -> id -> units
    for n in range(draw(st.integers(1, max_decisions))):
        i = draw(st.integers(0, n_saker - 1))
        pt = periodetyper[i]
        s = copy.deepcopy(state[i])
        touched: dict[int, bool] = {}  # id index -> sent with a mistaken stønad
        ghost = False
        for _ in range(draw(st.sampled_from((2, 1, 3, 0)))):
            j = draw(st.integers(0, len(ids[i]) - 1))
            op = draw(unit_ops(pt, fresh=j not in s))
            if op[0] == "touch" and draw(st.integers(0, 2)) == 0:
                ghost = True  # a stop of an id never paid: 404
                continue
            apply_unit_op(s.setdefault(j, {}), op)
            touched[j] = touched.get(j, False) or (op[0] == "mistake" and draw(st.integers(0, 2)) == 0)
        utbetalinger = []
        for j, mistaken in touched.items():
            tid = ids[i][j]
            stønad, tillst = tid.stønad, tid.tillst
            if mistaken and TS_STØNADER[stønad][2] and draw(st.booleans()):
                tillst = not tillst  # the sender's mistake: the id sent under another fagområde
            elif mistaken:  # the sender's mistake: the id sent with another stønad
                stønad = next(x for x in TS_POOL if x != tid.stønad)
                tillst = False
            u: dict[str, Any] = {"id": tid.uid, "stønad": stønad, "perioder": json_perioder(pt, s[j], enheter[i])}
            if tillst:
                u["brukFagområdeTillst"] = True
            utbetalinger.append(u)
        if ghost:
            utbetalinger.append({"id": uuid(4, i, 50 + n), "stønad": "LÆREMIDLER_AAP", "perioder": []})
        if draw(st.booleans()):
            utbetalinger.reverse()
        msg: dict[str, Any] = {
            "sakId": SAKER[i],
            "behandlingId": f"B-{n}",
            "personident": IDENTS[SAKER[i]],
            "vedtakstidspunkt": "2025-08-20T10:00:00",
            "periodetype": pt,
            "utbetalinger": utbetalinger,
        }
        draw(upper_case_ids(msg))
        draw(ansvarlige(msg))
        bad = draw(invalid_kind(TS_INVALID))
        if bad:
            msg, bad = _ts_break(msg, bad, i)
        if not draw(dryrun(msg)) and not bad and not any(touched.values()):
            state[i] = s
        fos = sorted({"TILLST" if x.tillst else TS_STØNADER[x.stønad][1] for x in ids[i]})
        # one decision in three has a forced answer: one Oppdrag of two rejected is the case here
        h.add(SAKER[i], msg, bad, draw(answers(Fagsystem.TILLEGGSSTØNADER, fos, forced_one_in=3, max_forced=1)))
    return h


# ---------------------------------------------------------------------------------------------
# Historisk

H_POOL = tuple(HISTORISK_KLASSEKODER)
H_INVALID = ("dag", "unknown_stonad", "bad_uuid", "overlap", "tom_before_fom", "zero_belop", "missing_id")


def _h_break(msg: dict[str, Any], kind: str) -> tuple[dict[str, Any], str]:
    one = {"fom": "2025-08-04", "tom": "2025-08-08", "beløp": 100}
    if kind == "dag":
        msg["periodetype"] = "DAG"
        msg["perioder"] = [one]
    elif kind == "unknown_stonad":
        msg["stønad"] = "BRILLER"
    elif kind == "bad_uuid":
        msg["id"] = "H-1"
    elif kind == "overlap":
        msg["perioder"] = [one, {**one, "fom": "2025-08-06", "tom": "2025-08-12"}]
    elif kind == "tom_before_fom":
        msg["perioder"] = [{**one, "tom": "2025-08-01"}]
    elif kind == "zero_belop":
        msg["perioder"] = [{**one, "beløp": 0}]
    elif kind == "missing_id":
        del msg["id"]
    return msg, kind


@st.composite
def historisk_histories(draw, n_saker: int = 2, max_decisions: int = 6) -> History:
    h = History(Fagsystem.HISTORISK)
    periodetyper = {i: draw(st.sampled_from(("UKEDAG", "MND", "EN_GANG"))) for i in range(n_saker)}
    stønader = {i: draw(st.lists(st.sampled_from(H_POOL), min_size=1, max_size=3, unique=True)) for i in range(n_saker)}
    state: dict[int, dict[int, dict[int, tuple]]] = {i: {} for i in range(n_saker)}
    for n in range(draw(st.integers(1, max_decisions))):
        i = draw(st.integers(0, n_saker - 1))
        pt = periodetyper[i]
        j = draw(st.integers(0, len(stønader[i]) - 1))
        units = copy.deepcopy(state[i].get(j, {}))
        mistaken = ghost = False
        for op in draw(st.lists(unit_ops(pt, fresh=j not in state[i]), min_size=1, max_size=2)):
            apply_unit_op(units, op)
            mistaken = mistaken or (op[0] == "mistake" and draw(st.integers(0, 2)) == 0)
            ghost = ghost or (op[0] == "touch" and draw(st.integers(0, 4)) == 0)
        uid, stønad = uuid(5, i, j), stønader[i][j]
        if ghost:
            uid, units = uuid(5, i, 50 + n), {}
        if mistaken:
            stønad = next(x for x in H_POOL if x not in stønader[i])
        msg: dict[str, Any] = {
            "id": uid,
            "sakId": SAKER[i],
            "behandlingId": f"B-{n}",
            "personident": IDENTS[SAKER[i]],
            "stønad": stønad,
            "vedtakstidspunkt": "2025-08-20T10:00:00",
            "periodetype": pt,
            "perioder": json_perioder(pt, units, None),
        }
        draw(upper_case_ids(msg))
        draw(ansvarlige(msg))
        bad = draw(invalid_kind(H_INVALID))
        if bad:
            msg, bad = _h_break(msg, bad)
        if not draw(dryrun(msg)) and not bad and not mistaken and not ghost:
            state[i][j] = units
        h.add(SAKER[i], msg, bad, draw(answers(Fagsystem.HISTORISK)))
    return h


# ---------------------------------------------------------------------------------------------
# Valp

V_POOL = tuple(VALP_KLASSEKODER)
V_PERIODER = (
    ("2025-08-01", "2025-08-31"),
    ("2025-08-15", "2025-08-15"),
    ("2025-09-01", "2025-12-31"),
    ("2025-10-06", "2025-10-10"),
)
V_BELOP = (12000, 5000, 800)
V_INVALID = (
    "no_offset",
    "tom_before_fom",
    "across_year",
    "missing_saksbehandler",
    "short_kostnadssted",
    "unknown_tiltakskode",
    "bad_uuid",
    "negative",
)


def _v_break(msg: dict[str, Any], kind: str) -> tuple[dict[str, Any], str]:
    if kind == "no_offset":
        msg["besluttetTidspunkt"] = "2025-08-20T08:00:00"
    elif kind == "tom_before_fom":
        msg["periode"] = {"fom": "2025-08-10", "tom": "2025-08-01"}
    elif kind == "across_year":
        msg["periode"] = {"fom": "2025-12-20", "tom": "2026-01-05"}
    elif kind == "missing_saksbehandler":
        del msg["saksbehandler"]
    elif kind == "short_kostnadssted":
        msg["kostnadssted"] = "031"
    elif kind == "unknown_tiltakskode":
        msg["tiltakskode"] = "JOBBKLUBB"
    elif kind == "bad_uuid":
        msg["id"] = "V-1"
    elif kind == "negative":
        msg["belop"] = -5
    return msg, kind


@st.composite
def valp_histories(draw, n_saker: int = 2, max_decisions: int = 6) -> History:
    h = History(Fagsystem.VALP)
    kinds = {i: draw(st.lists(st.sampled_from(V_POOL), min_size=1, max_size=3, unique=True)) for i in range(n_saker)}
    kostnadssted = {i: draw(st.sampled_from((None, "0315"))) for i in range(n_saker)}
    state: dict[int, dict[int, tuple[int, int] | None]] = {i: {} for i in range(n_saker)}  # id -> (periode, belop)
    for n in range(draw(st.integers(1, max_decisions))):
        i = draw(st.integers(0, n_saker - 1))
        j = draw(st.integers(0, len(kinds[i]) - 1))
        uid = uuid(6, i, j)
        cur = state[i].get(j)
        op = draw(st.sampled_from(("put", "put", "put", "stop", "touch", "put", "ghost", "mistake")))
        if j not in state[i] and op in ("stop", "touch", "mistake"):
            op = "put"  # the sender names an id it never sent only by mistake ("ghost")
        tiltakskode, tilskuddstype = kinds[i][j]
        new = cur
        if op == "put":
            new = (draw(st.integers(0, len(V_PERIODER) - 1)), draw(st.sampled_from(V_BELOP)))
        elif op == "stop":
            new = None
        elif op == "ghost":
            uid, new = uuid(6, i, 50 + n), None
        elif op == "mistake":
            tiltakskode, tilskuddstype = next(x for x in V_POOL if x not in kinds[i])
            new = cur or (0, V_BELOP[0])
        p = V_PERIODER[(new or cur or (0, 0))[0]]
        msg: dict[str, Any] = {
            "id": uid,
            "sakId": SAKER[i],
            "behandlingId": f"B-{n}",
            "personIdent": IDENTS[SAKER[i]],
            "periode": {"fom": p[0], "tom": p[1]},
            "belop": new[1] if new else 0,
            "tilskuddstype": tilskuddstype,
            "tiltakskode": tiltakskode,
            "saksbehandler": "Z123456",
            "besluttetTidspunkt": draw(st.sampled_from(("2025-08-20T08:00:00Z", "2025-08-20T23:30:00+02:00"))),
        }
        if kostnadssted[i]:
            msg["kostnadssted"] = kostnadssted[i]
        draw(upper_case_ids(msg))
        bad = draw(invalid_kind(V_INVALID))
        if bad:
            msg, bad = _v_break(msg, bad)
        if not draw(dryrun(msg)) and not bad and op not in ("ghost", "mistake"):
            state[i][j] = new
        h.add(SAKER[i], msg, bad, draw(answers(Fagsystem.VALP)))
    return h


HISTORIES: dict[Fagsystem, Callable[..., Any]] = {
    Fagsystem.AAP: aap_histories,
    Fagsystem.TILTAKSPENGER: tp_histories,
    Fagsystem.TILLEGGSSTØNADER: ts_histories,
    Fagsystem.HISTORISK: historisk_histories,
    Fagsystem.VALP: valp_histories,
}
