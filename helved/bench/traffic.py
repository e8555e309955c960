"""Seeded, realistic dagpenger traffic: `DpUtbetaling` records as the sender sends them.

One `SakHistory` per sak plays that sak's decisions in order. Decision `k` of a sak:

1. adds meldeperiode `k` (14 days from the sak's start + 14·k, its 10 weekdays sent); a share of
   meldeperioder is paid reduced (worked hours: the same lower amount every day), and a share of
   days is paid 0 (sick, worked a full day);
2. sometimes corrects an earlier meldeperiode (a day to 0, a 0 day paid after all, or a new
   reduction for the whole period) -> an update with opphør and/or NY lines;
3. sometimes stops an earlier meldeperiode (every day sent with 0) -> an opphør; a later
   correction may pay it again -> a re-create chained to the stopped chain;
4. once a year, from May on, adds a ferietillegg day (`DagpengerFerietillegg`, 9.5 % of the
   previous year's pay) for saker paid the year before;
5. from 1 May each year new meldeperioder have a 3 % higher sats (the yearly regulation).

The message holds the whole sak every time (spec §3): every day of every meldeperiode so far,
0-days included. With `window=W` (a control for the history study) a sak's first decision pays W meldeperioder
at once and every later decision corrects one of them instead of adding one, so the message
size stays fixed while the history grows.

Everything is a function of `(seed, sak index, decision number)`: the per-sak random generator
is seeded by a string, never by Python's salted `hash`, and no sak's draws depend on another's,
so any interleaving of saker produces the same records. Each meldeperiode is kept as its
encoded JSON fragment, so building a message is a join, not a re-encoding of the whole sak.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import orjson

from helved.config import Topics
from helved.oslo import OSLO
from helved.records import InRecord

FIRST_MONDAY = date(2023, 1, 2)
WEEKDAY_OFFSETS = (0, 1, 2, 3, 4, 7, 8, 9, 10, 11)  # the 10 weekdays of a 14-day meldeperiode
UTBETALINGSTYPE = "Dagpenger"
FERIETILLEGG = "DagpengerFerietillegg"


@dataclass(frozen=True, slots=True)
class Profile:
    """How often each kind of event happens (shares are per decision unless noted)."""

    zero_day_share: float = 0.05  # per day: not paid
    reduced_share: float = 0.25  # per new meldeperiode: paid a reduced amount
    correction_share: float = 0.10  # a decision also corrects an earlier meldeperiode
    stop_share: float = 0.03  # a decision also stops an earlier meldeperiode
    correction_reach: int = 6  # corrections and stops touch one of the last N meldeperioder
    ferietillegg: bool = True
    regulering: float = 0.03  # yearly sats increase from 1 May
    window: int | None = None  # fixed number of meldeperioder (history control), None: grow


DEFAULT_PROFILE = Profile()


@dataclass(frozen=True, slots=True)
class Decision:
    """One generated request and what it holds."""

    record: InRecord
    sak: int  # sak index
    number: int  # decisions of this sak before this one
    meldeperioder: int  # meldeperioder in the message (ferietillegg not counted)
    days: int  # days in the message, 0-days included


@dataclass(slots=True)
class _Meldeperiode:
    label: str
    fom: date
    sats: int
    beløp: list[int]  # per weekday, 0 = not paid
    stopped: bool = False
    fragment: bytes = b""


def _fragment(mp: _Meldeperiode) -> bytes:
    days = [
        {
            "meldeperiode": mp.label,
            "dato": (mp.fom + timedelta(days=off)).isoformat(),
            "sats": mp.sats,
            "utbetaltBeløp": 0 if mp.stopped else b,
            "utbetalingstype": UTBETALINGSTYPE,
        }
        for off, b in zip(WEEKDAY_OFFSETS, mp.beløp, strict=True)
    ]
    return orjson.dumps(days)[1:-1]


@dataclass(slots=True)
class SakHistory:
    """The decisions of one sak, generated on demand (`next_decision`)."""

    index: int
    seed: int
    topics: Topics
    profile: Profile = DEFAULT_PROFILE
    rng: random.Random = field(init=False)
    sak_id: str = field(init=False)
    ident: str = field(init=False)
    saksbehandler: str = field(init=False)
    beslutter: str = field(init=False)
    start: date = field(init=False)
    base_sats: int = field(init=False)
    decisions: int = field(init=False, default=0)
    mps: list[_Meldeperiode] = field(init=False, default_factory=list)
    ferie: dict[int, bytes] = field(init=False, default_factory=dict)  # year -> fragment

    def __post_init__(self) -> None:
        self.rng = random.Random(f"helved-bench/{self.seed}/{self.index}")
        r = self.rng
        self.sak_id = f"DP{self.seed % 1000:03d}-{self.index:07d}"
        self.ident = "".join(str(r.randrange(10)) for _ in range(11))
        self.saksbehandler = f"Z{r.randrange(100000, 1000000)}"
        self.beslutter = f"Z{r.randrange(100000, 1000000)}"
        self.start = FIRST_MONDAY + timedelta(weeks=r.randrange(0, 104))
        self.base_sats = r.randrange(600, 1300)

    # -- the events ----------------------------------------------------------------------------

    def _sats(self, fom: date) -> int:
        years = sum(
            1 for y in range(self.start.year, fom.year + 1) if date(y, 5, 1) <= fom and date(y, 5, 1) > self.start
        )
        return round(self.base_sats * (1 + self.profile.regulering) ** years)

    def _new_meldeperiode(self) -> _Meldeperiode:
        r, p = self.rng, self.profile
        fom = self.start + timedelta(days=14 * len(self.mps))
        sats = self._sats(fom)
        paid = round(sats * r.uniform(0.4, 0.9)) if r.random() < p.reduced_share else sats
        beløp = [0 if r.random() < p.zero_day_share else paid for _ in WEEKDAY_OFFSETS]
        mp = _Meldeperiode(f"{fom.isoformat()}/{(fom + timedelta(days=13)).isoformat()}", fom, sats, beløp)
        mp.fragment = _fragment(mp)
        return mp

    def _correct(self, mp: _Meldeperiode) -> None:
        r = self.rng
        if mp.stopped:
            mp.stopped = False  # paid again after all: a re-create
        else:
            what = r.random()
            if what < 0.4:
                mp.beløp[r.randrange(len(mp.beløp))] = 0
            elif what < 0.6 and 0 in mp.beløp:
                mp.beløp[mp.beløp.index(0)] = max(mp.beløp)
            else:
                new = round(mp.sats * r.uniform(0.3, 1.0))
                mp.beløp = [new if b else 0 for b in mp.beløp]
            if not any(mp.beløp):
                mp.beløp[0] = mp.sats
        mp.fragment = _fragment(mp)

    def _ferietillegg(self, mp: _Meldeperiode) -> None:
        year = mp.fom.year
        if not self.profile.ferietillegg or year in self.ferie or mp.fom < date(year, 5, 1):
            return
        last_year = sum(sum(m.beløp) for m in self.mps if m.fom.year == year - 1 and not m.stopped)
        if last_year <= 0:
            return
        beløp = round(last_year * 0.095)
        day = {
            "meldeperiode": mp.label,
            "dato": mp.fom.isoformat(),
            "sats": beløp,
            "utbetaltBeløp": beløp,
            "utbetalingstype": FERIETILLEGG,
        }
        self.ferie[year] = orjson.dumps(day)

    # -- one decision --------------------------------------------------------------------------

    def next_decision(self) -> Decision:
        r, p = self.rng, self.profile
        k = self.decisions
        if p.window is not None and not self.mps:  # fixed window: all W meldeperioder at once
            for _ in range(p.window):
                self.mps.append(self._new_meldeperiode())
            earlier = self.mps[:-1]
        elif p.window is None:
            self.mps.append(self._new_meldeperiode())
            self._ferietillegg(self.mps[-1])
            earlier = self.mps[:-1]
        else:  # fixed window: this decision corrects one of the meldeperioder instead
            earlier = self.mps
            self._correct(earlier[r.randrange(len(earlier))])
        recent = earlier[-p.correction_reach :]
        if recent and r.random() < p.correction_share:
            self._correct(recent[r.randrange(len(recent))])
        active = [m for m in recent if not m.stopped]
        if len(active) > 1 and r.random() < p.stop_share:
            mp = active[r.randrange(len(active))]
            mp.stopped = True
            mp.fragment = _fragment(mp)

        last = self.mps[-1]
        decided = datetime.combine(
            last.fom + timedelta(days=14 + k // 1000), time(8 + r.randrange(8), r.randrange(60), r.randrange(60))
        )
        if p.window is not None:
            decided += timedelta(minutes=k)  # the window's corrections each get their own time
        behandling = f"B{self.index:07d}-{k:04d}"
        head = orjson.dumps(
            {
                "sakId": self.sak_id,
                "behandlingId": behandling,
                "ident": self.ident,
                "vedtakstidspunktet": decided.isoformat(),
                "saksbehandler": self.saksbehandler,
                "beslutter": self.beslutter,
            }
        )
        parts = [m.fragment for m in self.mps] + list(self.ferie.values())
        value = head[:-1] + b',"utbetalinger":[' + b",".join(parts) + b"]}"
        ts = int(decided.replace(tzinfo=OSLO).timestamp() * 1000)
        record = InRecord(self.topics.dagpenger, f"{self.sak_id}/{behandling}", value, (), 0, 0, ts)
        self.decisions += 1
        return Decision(record, self.index, k, len(self.mps), 10 * len(self.mps) + len(self.ferie))


def histories(
    saker: int, seed: int, topics: Topics | None = None, profile: Profile = DEFAULT_PROFILE, first: int = 0
) -> list[SakHistory]:
    """`saker` independent sak histories, numbered from `first`."""
    topics = topics or Topics()
    return [SakHistory(first + i, seed, topics, profile) for i in range(saker)]


def rounds(hs: list[SakHistory], decisions: int) -> list[Decision]:
    """`decisions` decisions of every sak, round by round (decision k of every sak, then k+1)."""
    return [h.next_decision() for _ in range(decisions) for h in hs]
