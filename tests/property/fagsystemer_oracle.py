"""The ledger property of the five other fagsystems: decisions through the REAL dataflow, OS
played by the emulator, and an oracle written from `fagsystemer.md` alone.

    decisions ──► helved.replay.replay_records (the Bytewax flow, closed receipt loop)
                      │ every Oppdrag ──► Answerer ──► OsEmulator (ledger) ──► kvittering
                      ▼                     (08/12/04 forced per (decision, fagområde))
                  ordered outputs ──► check(): the oracle

The oracle knows nothing of helved's parsers or diff. It reads each message as the spec states
the contract (`read`: the stønad -> klassekode/fagområde tables copied from the spec, entries
paid 0 dropped for AAP, merging by settled rule 5, `perioder: []` / `belop 0` as stops) into
utbetalinger, keeps per sak what OS has accepted (`SakModel`), and predicts for every decision:

* invalid (the generator broke a validation rule on purpose): FEILET 400 at once, no Oppdrag;
* a stop of an uid never confirmed: FEILET 404; an uid the sak has confirmed named with another
  stønad, fagområde or periodetype: FEILET 400 (settled rules 4 and 8); no Oppdrag;
* nothing changes (whole-sak senders: the utbetalinger equal what is confirmed, stops of what is
  not active; partial senders: the named ones equal, stops of already stopped ones; AAP: the
  avvent equal to the one OS last accepted, or none): OK at once, no Oppdrag (settled rules 4,
  9, 12);
* otherwise exactly one Oppdrag per fagområde whose utbetalinger change (settled rule 1), each
  answered by OS (00, or the plan's forced 04/08/12); the status is OK iff every one was
  accepted, else FEILET 400 (all rejections 08) or 500 (any 12); what OS accepted becomes
  confirmed **per fagområde**, what it rejected leaves the previous decision in force there
  (settled rule 3).

What OS pays is then computed from the confirmed utbetalinger as the emulator books each
typeSats (`helved/emulator/ledger.py`): UKEDAG (DAG) `beløp` on every Monday-Friday of each
period; MND `beløp` once per calendar month a period touches, booked on the period's first day
in that month; EN_GANG (ENG) `beløp` once, on the period's fom. At every final status the
ledger of the decision's sak (every fagområde the sender may use) must equal it; at the end
too, and `helved.utbetalinger.v1` must list exactly the active uids, nothing is left pending,
and the DLQ holds exactly the invalid decisions and the kvitteringer delivered a second time.

Besides: OS never rejects helved's Oppdrag by itself, and a forced 08/12 hits an Oppdrag OS
would have accepted; every opphør names the klassekode of the line it stops (an OS rule the
emulator's ledger does not check, `os_rule_violations`); the MOTTATT lists every line of the
request's Oppdrag; a rejection names the rejected fagområde(r) when a request had several; a
sak's final statuses come in sending order (a decision refused at validation answers at once).
A dryrun sends no Oppdrag, changes nothing, and is answered `simulering: true` with what the
decision would get (FEILET 400/404, else OK); one final status per simulation request.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from helved.config import Topics
from helved.domain.ids import utbetaling_uid
from helved.domain.model import Fagsystem
from helved.emulator import EMPTY, FAULT_08, FAULT_12, Ledger, OsEmulator, Verdict, paid
from helved.emulator import xml as emu_xml
from helved.os.dryrun import answer_simulering
from helved.records import InRecord, OutRecord
from helved.replay import replay_records

TOPICS = Topics()
BASE_TS = 1_754_294_400_000  # 2025-08-04T08:00:00Z
WARNING_04 = Verdict("04", "B110010W", "Oppdraget er behandlet med varsel (test)", "CA10-OPPDATERING")
ONE_DAY = timedelta(days=1)

PaidMap = dict[str, dict[date, int]]
# (fom, tom, beløp, vedtakssats, betalende enhet)
Per = tuple[date, date, int, int | None, str | None]

# ---------------------------------------------------------------------------------------------
# The spec's tables, the parts the generators use (copied from fagsystemer.md, "Codes")

AAP_KLASSEKODE = "AAPOR"
AAP_ÅRSAK = {"AVVENT_AVREGNING": "AVAV", "AVVENT_REFUSJONSKRAV": "AVRK"}

TP_KLASSEKODER = {  # stønad -> (base, barn)
    "JOBBKLUBB": ("TPTPJK2009", "TPBTJK2009"),
    "ARBEIDSTRENING": ("TPTPATT", "TPBTATTILT"),
    "AVKLARING": ("TPTPAAG", "TPBTAAGR"),
}

TS_STØNADER = {  # stønad -> (klassekode, fagområde, may use TILLST)
    "TILSYN_BARN_AAP": ("TSTBASISP4-OP", "TILLSTPB", True),
    "LÆREMIDLER_AAP": ("TSLMASISP3-OP", "TILLSTLM", True),
    "BOUTGIFTER_ETTERLATTE": ("TSBUAISP3-O", "TILLSTBO", True),
    "DAGLIG_REISE_AAP": ("TSDRASISP1-OP", "TILLSTDR", False),
    "DAGLIG_REISE_TILTAK_AVKLARING": ("TSDRAAG-OP", "TILLSTDR", True),
    "REISE_TIL_SAMLING_AAP": ("TSROSASISP3-OP", "TILLSTRS", False),
}
TS_FAGOMRÅDER = ("TILLSTPB", "TILLSTLM", "TILLSTBO", "TILLSTDR", "TILLSTRS", "TILLST")

HISTORISK_KLASSEKODER = {
    "PARYKK": "HTOHPAAV",
    "ORTOSE": "HTOHHÅ",
    "HØREAPPARAT_ANSKAFFELSE": "H-APP",
    "ØYEPROTESE": "HTOHØP",
    "REISEUTGIFTER": "HTRUTR",
}

VALP_KLASSEKODER = {  # (tiltakskode, tilskuddstype) -> klassekode
    ("HOYERE_UTDANNING", "SKOLEPENGER"): "TTOHOYUDSKOLP",
    ("HOYERE_UTDANNING", "STUDIEREISE"): "TTOHOYUDSTUDREIS",
    ("ARBEIDSMARKEDSOPPLAERING", "EKSAMENSGEBYR"): "TTOAAMOEKSGEB",
    ("FAG_OG_YRKESOPPLAERING", "INTEGRERT_BOTILBUD"): "TTOFOYINTBOTIL",
}

FAGOMRÅDER: Mapping[Fagsystem, tuple[str, ...]] = {
    Fagsystem.AAP: ("AAP",),
    Fagsystem.TILTAKSPENGER: ("TILTPENG",),
    Fagsystem.TILLEGGSSTØNADER: TS_FAGOMRÅDER,
    Fagsystem.HISTORISK: ("HELSREF",),
    Fagsystem.VALP: ("TILSOPP",),
}


# ---------------------------------------------------------------------------------------------
# What a message asks for, read from the spec


@dataclass(frozen=True)
class Utb:
    """One utbetaling (payment chain) as the spec reads it from a message."""

    uid: str
    stønad: str
    fagområde: str
    klassekode: str
    periodetype: str  # UKEDAG | MND | EN_GANG
    perioder: tuple[Per, ...]  # merged by settled rule 5, sorted by fom

    @property
    def locked(self) -> tuple[str, str, str]:
        return (self.stønad, self.fagområde, self.periodetype)


@dataclass(frozen=True)
class Asked:
    whole_sak: bool  # AAP, TP: what is missing is stopped
    utbetalinger: Mapping[str, Utb]
    stops: frozenset[str] = frozenset()  # TS, historisk, valp: the uids it asks to stop
    avvent: tuple[Any, ...] | None = None  # AAP


def _d(text: str) -> date:
    return date.fromisoformat(text)


def next_weekday(d: date) -> date:
    n = d + ONE_DAY
    while n.weekday() >= 5:
        n += ONE_DAY
    return n


def merge(perioder: Iterable[Per], periodetype: str) -> tuple[Per, ...]:
    """Settled rule 5: sort by fom; equal beløp, vedtakssats and enhet merge when UKEDAG: the
    next day or the next weekday; MND: the next day; EN_GANG: never."""
    out: list[Per] = []
    for p in sorted(perioder):
        if out and periodetype != "EN_GANG":
            q = out[-1]
            same = p[2:] == q[2:]
            joins = p[0] == q[1] + ONE_DAY or (periodetype == "UKEDAG" and p[0] == next_weekday(q[1]))
            if same and joins:
                out[-1] = (q[0], p[1], *q[2:])  # type: ignore[assignment]
                continue
        out.append(p)
    return tuple(out)


def read(fagsystem: Fagsystem, msg: Mapping[str, Any]) -> Asked:
    """A valid message of `fagsystem` as the spec's contract reads it."""
    if fagsystem is Fagsystem.AAP:
        groups: dict[str, list[Per]] = {}
        for e in msg["utbetalinger"]:
            if e["utbetaltBeløp"] == 0:
                continue
            groups.setdefault(e["id"].lower(), []).append(
                (_d(e["fom"]), _d(e["tom"]), e["utbetaltBeløp"], e["sats"], None)
            )
        utb = {
            uid: Utb(uid, "AAP_UNDER_ARBEIDSAVKLARING", "AAP", AAP_KLASSEKODE, "UKEDAG", merge(ps, "UKEDAG"))
            for uid, ps in groups.items()
        }
        avvent = None
        if msg.get("avvent") is not None:
            a = msg["avvent"]
            avvent = (
                a["fom"],
                a["tom"],
                a.get("overføres"),
                AAP_ÅRSAK[a["årsak"]] if a.get("årsak") is not None else None,
                bool(a.get("feilregistrering") or False),
            )
        return Asked(True, utb, avvent=avvent)

    if fagsystem is Fagsystem.TILTAKSPENGER:
        tgroups: dict[tuple[str, str], tuple[str, list[Per]]] = {}
        for e in msg["perioder"]:
            base, barn = TP_KLASSEKODER[e["stønad"]]
            bt = bool(e.get("barnetillegg") or False)
            klassekode = barn if bt else base
            stønad = e["stønad"] + ("_BARN" if bt else "")
            per = (_d(e["fom"]), _d(e["tom"]), e["beløp"], None, e.get("betalendeEnhet"))
            tgroups.setdefault((e["meldeperiode"], klassekode), (stønad, []))[1].append(per)
        utb = {}
        for (mp, klassekode), (stønad, ps) in tgroups.items():
            uid = utbetaling_uid("TILTAKSPENGER", msg["sakId"], mp, klassekode)
            utb[uid] = Utb(uid, stønad, "TILTPENG", klassekode, "UKEDAG", merge(ps, "UKEDAG"))
        return Asked(True, utb)

    if fagsystem is Fagsystem.TILLEGGSSTØNADER:
        pt = msg["periodetype"]
        utb, stops = {}, set()
        for u in msg["utbetalinger"]:
            uid = u["id"].lower()
            klassekode, fagområde, _ = TS_STØNADER[u["stønad"]]
            if u.get("brukFagområdeTillst"):
                fagområde = "TILLST"
            if not u["perioder"]:
                stops.add(uid)
                continue
            ps = [(_d(p["fom"]), _d(p["tom"]), p["beløp"], None, p.get("betalendeEnhet")) for p in u["perioder"]]
            utb[uid] = Utb(uid, u["stønad"], fagområde, klassekode, pt, merge(ps, pt))
        return Asked(False, utb, frozenset(stops))

    if fagsystem is Fagsystem.HISTORISK:
        uid, pt = msg["id"].lower(), msg["periodetype"]
        if not msg["perioder"]:
            return Asked(False, {}, frozenset({uid}))
        ps = [(_d(p["fom"]), _d(p["tom"]), p["beløp"], None, None) for p in msg["perioder"]]
        u = Utb(uid, msg["stønad"], "HELSREF", HISTORISK_KLASSEKODER[msg["stønad"]], pt, merge(ps, pt))
        return Asked(False, {uid: u})

    if fagsystem is Fagsystem.VALP:
        uid = msg["id"].lower()
        if msg["belop"] == 0:
            return Asked(False, {}, frozenset({uid}))
        p = msg["periode"]
        per = (_d(p["fom"]), _d(p["tom"]), msg["belop"], None, msg.get("kostnadssted"))
        stønad = f"{msg['tiltakskode']}_{msg['tilskuddstype']}"
        klassekode = VALP_KLASSEKODER[(msg["tiltakskode"], msg["tilskuddstype"])]
        return Asked(False, {uid: Utb(uid, stønad, "TILSOPP", klassekode, "EN_GANG", (per,))})

    raise ValueError(fagsystem)  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# What OS pays for confirmed utbetalinger (the emulator's booking of each typeSats)


def first_of_next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def paid_of(utbetalinger: Iterable[Utb]) -> PaidMap:
    out: dict[str, dict[date, int]] = {}
    for u in utbetalinger:
        per_day = out.setdefault(u.klassekode, {})

        def add(d: date, b: int) -> None:
            per_day[d] = per_day.get(d, 0) + b  # noqa: B023

        for fom, tom, beløp, _, _ in u.perioder:
            if u.periodetype == "UKEDAG":
                d = fom
                while d <= tom:
                    if d.weekday() < 5:
                        add(d, beløp)
                    d += ONE_DAY
            elif u.periodetype == "MND":
                d = fom
                while d <= tom:
                    add(d, beløp)
                    d = first_of_next_month(d)
            else:  # EN_GANG
                add(fom, beløp)
    return {k: dict(sorted(v.items())) for k, v in sorted(out.items()) if any(v.values())}


# ---------------------------------------------------------------------------------------------
# The sak as OS has accepted it, and what a decision should do to it


@dataclass
class SakModel:
    active: dict[str, Utb] = field(default_factory=dict)  # confirmed and not stopped
    confirmed: dict[str, Utb] = field(default_factory=dict)  # every uid OS ever accepted
    avvent: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # fagområde -> last accepted

    def paid(self, fagområde: str) -> PaidMap:
        return paid_of(u for u in self.active.values() if u.fagområde == fagområde)


@dataclass(frozen=True)
class Expect:
    """What a valid decision should do, before OS answers."""

    error: int | None = None  # 400/404 from the sak step: FEILET, nothing sent
    why: str = ""
    # fagområde -> {uid: the utbetaling after (None: stopped)} of what changes
    changes: Mapping[str, Mapping[str, Utb | None]] = field(default_factory=dict)
    avvent: tuple[Any, ...] | None = None  # AAP: sent (the avvent changed, or lines go with it)


def expect(model: SakModel, asked: Asked) -> Expect:
    for uid, u in sorted(asked.utbetalinger.items()):
        old = model.confirmed.get(uid)
        if old is not None and old.locked != u.locked:
            return Expect(400, f"locked field of {uid}: {old.locked} -> {u.locked}")
    for uid in sorted(asked.stops):
        if uid not in model.confirmed:
            return Expect(404, f"stop of {uid}, never confirmed")
    if asked.whole_sak:
        after: dict[str, Utb] = dict(asked.utbetalinger)
    else:
        after = {uid: u for uid, u in model.active.items() if uid not in asked.stops}
        after.update(asked.utbetalinger)
    changes: dict[str, dict[str, Utb | None]] = {}
    for uid in sorted(set(model.active) | set(after)):
        old, new = model.active.get(uid), after.get(uid)
        if old is not None and new is not None and old.perioder == new.perioder:
            continue
        fagområde = (new or old).fagområde  # type: ignore[union-attr]
        changes.setdefault(fagområde, {})[uid] = new
    avvent = None
    if asked.avvent is not None and (asked.avvent != model.avvent.get("AAP") or "AAP" in changes):
        avvent = asked.avvent
        if asked.avvent != model.avvent.get("AAP"):
            changes.setdefault("AAP", {})
    return Expect(None, "", changes, avvent)


def accept(model: SakModel, fagområde: str, exp: Expect) -> None:
    """OS accepted the Oppdrag of `fagområde`: its changes become confirmed."""
    for uid, new in exp.changes.get(fagområde, {}).items():
        if new is None:
            model.active.pop(uid, None)
        else:
            model.active[uid] = new
            model.confirmed[uid] = new
    if fagområde == "AAP" and exp.avvent is not None:
        model.avvent["AAP"] = exp.avvent


# ---------------------------------------------------------------------------------------------
# Inputs and OS


@dataclass(frozen=True)
class Decision:
    key: str
    fagsystem: Fagsystem
    sak: str
    message: Any
    invalid: str | None = None  # the rule the generator broke on purpose (FEILET 400 at split)
    ts: int = BASE_TS

    @property
    def dryrun(self) -> bool:
        return isinstance(self.message, dict) and self.message.get("dryrun") is True

    def record(self) -> InRecord:
        return InRecord(TOPICS.input(self.fagsystem), self.key, orjson.dumps(self.message), (), 0, 0, self.ts)

    def line(self) -> dict[str, Any]:
        return {
            "topic": TOPICS.input(self.fagsystem),
            "key": self.key,
            "value": self.message,
            "headers": {},
            "timestamp": self.ts,
        }


@dataclass
class Answered:
    index: int
    key: str | None
    fagområde: str
    sak: str
    oppdrag: bytes
    verdict: Verdict
    forced: str | None  # the code the plan forced, if any
    would: Verdict | None  # for a forced 08/12: what OS would have said
    ledger_after: Ledger


class Answerer:
    """OS: the emulator's verdict, or the plan's code forced on (decision key, fagområde).
    A forced 08/12 books nothing (OS never saw it); a forced 04 is booked and answered as
    "accepted with a warning". The kvittering of an Oppdrag in `holds` is held back until the
    next Oppdrag is answered (OS booked it at once; helved hears of it later), so that later
    decisions of the sak must wait (a request of two Oppdrag: after one receipt of two).
    `duplicates` delivers an Oppdrag's kvittering twice: "now" (right after itself) or "late"
    (again just before the next Oppdrag's: a stale redelivery); helved must not take a copy for
    the answer to another Oppdrag."""

    def __init__(
        self,
        codes: Mapping[tuple[str, str], str],
        holds: frozenset[tuple[str, str]] = frozenset(),
        duplicates: Mapping[tuple[str, str], str] = {},
    ) -> None:
        self.codes = codes
        self.holds = holds
        self.duplicates = duplicates
        self.held: list[bytes] = []
        self.late: list[bytes] = []
        self.repeated = 0  # kvitteringer delivered a second time
        self.flushing = False  # from the flush decision's Oppdrag on, nothing is held
        self.emulator = OsEmulator()
        self.answered: list[Answered] = []
        # OS rules the emulator does not model, checked here (see `os_rule_violations`)
        self.violations: list[str] = []

    def __call__(self, rec: OutRecord) -> list[bytes]:
        assert rec.value is not None
        root = emu_xml.parse_document(rec.value)
        o = emu_xml.parse_oppdrag_element(root)
        fo = (o.fagomraade or "").strip()
        for v in os_rule_violations(self.emulator.ledger, o):
            self.violations.append(f"Oppdrag [{len(self.answered)}] (key={rec.key}, {fo}): {v}")
        code = self.codes.get((rec.key or "", fo))
        would = None
        if code in ("08", "12"):
            verdict = FAULT_08 if code == "08" else FAULT_12
            would = self.emulator.simulate(rec.value).verdict
            kvs = [emu_xml.kvittering(root, verdict)]
        else:
            reply = self.emulator.respond(rec.value)
            verdict, kvs = reply.verdict, list(reply.kvitteringer)
            if code == "04" and verdict.accepted:
                verdict = WARNING_04
                kvs = [emu_xml.kvittering(root, verdict) for _ in kvs]
        self.answered.append(
            Answered(
                len(self.answered),
                rec.key,
                fo,
                (o.fagsystem_id or "").strip(),
                rec.value,
                verdict,
                code,
                would,
                self.emulator.ledger,
            )
        )
        self.flushing = self.flushing or (rec.key or "").startswith(FLUSH_SAK)
        release, self.held, self.late = self.late + self.held, [], []
        dup = self.duplicates.get((rec.key or "", fo))
        if dup == "now":
            self.repeated += len(kvs)
            kvs = kvs + kvs
        elif dup == "late" and not self.flushing:
            self.late = list(kvs[:1])
            self.repeated += len(self.late)
        if (rec.key or "", fo) in self.holds and not self.flushing:
            self.held = kvs
            return release
        return release + kvs


def os_rule_violations(ledger: Ledger, o: Any) -> list[str]:
    """What OS would refuse that the emulator's ledger does not check: an opphør must name the
    klassekode of the line it stops (OS knows a delytelse with its klassekode; the model system
    stopped tiltakspenger meldeperioder under a placeholder stønad, and such stops fail)."""
    sak = ledger.sak((o.fagomraade or "").strip(), (o.fagsystem_id or "").strip())
    out = []
    for ln in o.linjer:
        if not ln.is_opphor or sak is None:
            continue
        target = sak.lines.get(ln.delytelse_id or "")
        if target is not None and target.kode_klassifik != ln.kode_klassifik:
            out.append(
                f"opphør of {ln.delytelse_id} under kodeKlassifik {ln.kode_klassifik}, "
                f"the line is booked under {target.kode_klassifik}"
            )
    return out


@dataclass
class Run:
    fagsystem: Fagsystem
    decisions: list[Decision]
    codes: Mapping[tuple[str, str], str]
    outputs: list[OutRecord]
    answerer: Answerer
    holds: frozenset[tuple[str, str]] = frozenset()
    duplicates: Mapping[tuple[str, str], str] = field(default_factory=dict)


FLUSH_SAK = "SAK-FLUSH"


def flush_decision(fagsystem: Fagsystem, n: int) -> Decision:
    """A decision on a sak of its own that sends one Oppdrag: its answer releases whatever
    kvittering is still held back."""
    uid = "ffffffff-ffff-4fff-8fff-ffffffffffff"
    common = {"sakId": FLUSH_SAK, "behandlingId": "B-FLUSH", "vedtakstidspunkt": "2025-08-20T10:00:00"}
    msg: dict[str, Any]
    if fagsystem is Fagsystem.AAP:
        e = {"id": uid, "fom": "2025-08-04", "tom": "2025-08-08", "sats": 1, "utbetaltBeløp": 1}
        msg = {**common, "vedtakstidspunktet": common["vedtakstidspunkt"], "ident": "10987654321", "utbetalinger": [e]}
    elif fagsystem is Fagsystem.TILTAKSPENGER:
        p = {"meldeperiode": "F", "fom": "2025-08-04", "tom": "2025-08-08", "beløp": 1, "stønad": "JOBBKLUBB"}
        msg = {**common, "personident": "10987654321", "perioder": [p]}
    elif fagsystem is Fagsystem.TILLEGGSSTØNADER:
        u = {
            "id": uid,
            "stønad": "LÆREMIDLER_AAP",
            "perioder": [{"fom": "2025-08-01", "tom": "2025-08-31", "beløp": 1}],
        }
        msg = {**common, "personident": "10987654321", "periodetype": "MND", "utbetalinger": [u]}
    elif fagsystem is Fagsystem.HISTORISK:
        msg = {
            **common,
            "id": uid,
            "personident": "10987654321",
            "stønad": "PARYKK",
            "periodetype": "EN_GANG",
            "perioder": [{"fom": "2025-08-04", "tom": "2025-08-04", "beløp": 1}],
        }
    else:
        msg = {
            "id": uid,
            "sakId": FLUSH_SAK,
            "behandlingId": "B-FLUSH",
            "personIdent": "10987654321",
            "periode": {"fom": "2025-08-01", "tom": "2025-08-01"},
            "belop": 1,
            "tilskuddstype": "SKOLEPENGER",
            "tiltakskode": "HOYERE_UTDANNING",
            "saksbehandler": "Z123456",
            "besluttetTidspunkt": "2025-08-20T08:00:00Z",
        }
    return Decision(f"{FLUSH_SAK}-k", fagsystem, FLUSH_SAK, msg, None, BASE_TS + 60_000 * (n + 1))


def run(
    fagsystem: Fagsystem,
    decisions: Sequence[Decision],
    codes: Mapping[tuple[str, str], str] = {},
    holds: frozenset[tuple[str, str]] = frozenset(),
    duplicates: Mapping[tuple[str, str], str] = {},
) -> Run:
    decisions = list(decisions)
    if holds or "late" in duplicates.values():
        decisions.append(flush_decision(fagsystem, len(decisions)))
    assert len({d.key for d in decisions}) == len(decisions), "decision keys must be unique"
    answerer = Answerer(codes, holds, duplicates)

    def simulate(rec: OutRecord) -> list[OutRecord]:  # OS's simulation service: books nothing
        return answer_simulering(answerer.emulator, rec, TOPICS)

    outputs = replay_records([d.record() for d in decisions], answerer, TOPICS, simulate)
    return Run(fagsystem, decisions, codes, outputs, answerer, holds, dict(duplicates))


# ---------------------------------------------------------------------------------------------
# The check


class PropertyFailure(AssertionError):
    pass


def _fail(msg: str) -> None:
    raise PropertyFailure(msg)


def paid_diff(actual: Mapping[str, Mapping[date, Any]], expected: Mapping[str, Mapping[date, Any]]) -> str:
    lines = []
    for k in sorted(set(actual) | set(expected)):
        a, e = actual.get(k, {}), expected.get(k, {})
        for d in sorted(set(a) | set(e)):
            if a.get(d, 0) != e.get(d, 0):
                lines.append(f"{k} {d} ({d.strftime('%a')}): OS pays {a.get(d, 0)}, oracle expects {e.get(d, 0)}")
    return "\n    ".join(lines)


def describe_oppdrag(xml: bytes) -> str:
    try:
        o = emu_xml.parse_oppdrag(xml)
    except Exception as exc:  # pragma: no cover - diagnostics only
        return f"<unreadable Oppdrag: {exc}>"
    out = [f"{o.kode_endring} {o.fagomraade}/{o.fagsystem_id}"]
    for ln in o.linjer:
        if ln.is_opphor:
            out.append(f"    OPPH fra {ln.dato_status_fom} on {ln.delytelse_id} ({ln.kode_klassifik})")
        else:
            ref = f" ref {ln.ref_delytelse_id}" if ln.ref_delytelse_id else ""
            out.append(
                f"    NY {ln.dato_vedtak_fom}..{ln.dato_vedtak_tom} {ln.sats} {ln.type_sats} {ln.kode_klassifik} "
                f"id {ln.delytelse_id}{ref}"
            )
    if b"avvent-118" in xml:
        out.append("    (avvent-118)")
    return "\n".join(out)


def _story(r: Run) -> str:
    lines = [f"{r.fagsystem} decisions:"]
    for i, d in enumerate(r.decisions):
        tag = f" [invalid: {d.invalid}]" if d.invalid else ""
        lines.append(f"  #{i} key={d.key}{tag}: {orjson.dumps(d.message).decode()}")
    if r.codes:
        lines.append(f"forced answers: {dict(r.codes)}")
    if r.holds:
        lines.append(f"kvitteringer held back until the next Oppdrag: {sorted(r.holds)}")
    if r.duplicates:
        lines.append(f"kvitteringer delivered twice (now / late): {dict(r.duplicates)}")
    lines.append("Oppdrag:")
    for a in r.answerer.answered:
        forced = f" (forced {a.forced})" if a.forced else ""
        lines.append(f"  [{a.index}] key={a.key} -> {a.verdict.alvorlighetsgrad}{forced} {a.verdict.beskr_melding}")
        lines.append("    " + describe_oppdrag(a.oppdrag).replace("\n", "\n    "))
    return "\n".join(lines)


def write_replay_file(r: Run) -> str:
    data = b"".join(orjson.dumps(d.line()) + b"\n" for d in r.decisions)
    folder = Path(tempfile.gettempdir()) / "helved-property"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{r.fagsystem.value.lower()}-{hashlib.sha256(data).hexdigest()[:12]}.jsonl"
    path.write_bytes(data)
    played = r.codes or r.holds or r.duplicates
    note = " (the forced answers, held and repeated kvitteringer above are not replayed)" if played else ""
    return f"replay: helved replay {path} --out out.jsonl --emulate-oppdrag{note}"


def check(r: Run) -> dict[str, SakModel]:
    """Raise PropertyFailure (with the story and a replay file) on the first broken rule;
    return the oracle's final model per sak."""
    try:
        return _check(r)
    except PropertyFailure as exc:
        raise PropertyFailure(f"{exc}\n\n{_story(r)}\n{write_replay_file(r)}") from None


def _check(r: Run) -> dict[str, SakModel]:
    fagområder = FAGOMRÅDER[r.fagsystem]
    decisions = {d.key: d for d in r.decisions}
    order = {d.key: i for i, d in enumerate(r.decisions)}
    answered = r.answerer.answered
    n_oppdrag = sum(1 for o in r.outputs if o.topic == TOPICS.oppdrag)
    if n_oppdrag != len(answered):
        _fail(f"{n_oppdrag} Oppdrag records but {len(answered)} answers")

    # OS never rejects helved's Oppdrag by itself; a forced rejection hits one OS would accept.
    if r.answerer.violations:
        _fail("OS would reject helved's Oppdrag:\n    " + "\n    ".join(r.answerer.violations))
    for a in answered:
        where = f"Oppdrag [{a.index}] (decision #{order.get(a.key or '')} key={a.key}, {a.fagområde})"
        if (a.key or "") not in decisions:
            _fail(f"{where}: keyed by no decision")
        d = decisions[a.key or ""]
        if a.forced in (None, "04") and not a.verdict.accepted:
            _fail(
                f"{where}: OS rejected helved's Oppdrag: {a.verdict.alvorlighetsgrad} {a.verdict.beskr_melding}\n"
                f"{describe_oppdrag(a.oppdrag)}"
            )
        if a.would is not None and not a.would.accepted:
            _fail(
                f"{where}: (answered {a.forced} by the test) OS would have rejected it: "
                f"{a.would.alvorlighetsgrad} {a.would.beskr_melding}\n{describe_oppdrag(a.oppdrag)}"
            )
        if a.sak != d.sak or a.fagområde not in fagområder:
            _fail(f"{where}: Oppdrag for {a.fagområde}/{a.sak}, the decision is for {d.sak} ({fagområder})")

    dryruns = {d.key for d in r.decisions if d.dryrun}
    for a in answered:
        if a.key in dryruns:
            _fail(f"Oppdrag [{a.index}]: sent for a dryrun (key={a.key})\n{describe_oppdrag(a.oppdrag)}")
    simuleringer: dict[str, int] = {}
    for rec in r.outputs:
        if rec.topic == TOPICS.simuleringer:
            simuleringer[rec.key or ""] = simuleringer.get(rec.key or "", 0) + 1
            if rec.key not in dryruns:
                _fail(f"a simulation request for {rec.key}, not a dryrun")
    dry_finals: dict[str, int] = {}

    models: dict[str, SakModel] = {}
    statuses: dict[str, list[dict[str, Any]]] = {}
    oppdrag_of: dict[str, list[Answered]] = {}
    finals: list[str] = []
    ledger: Ledger = EMPTY
    k = 0
    for pos, rec in enumerate(r.outputs):
        if rec.topic == TOPICS.oppdrag:
            a = answered[k]
            ledger = a.ledger_after
            oppdrag_of.setdefault(a.key or "", []).append(a)
            k += 1
        elif rec.topic == TOPICS.status:
            key = rec.key or ""
            st = orjson.loads(rec.value or b"null")
            if key not in decisions:
                _fail(f"output {pos}: a status for an unknown key {key!r}: {st}")
            seen = statuses.setdefault(key, [])
            if key in dryruns:
                d = decisions[key]
                model = models.setdefault(d.sak, SakModel())
                if st.get("simulering") is not True or st["status"] not in ("OK", "FEILET"):
                    _fail(f"dryrun #{order[key]} key={key}: status {st}, expected OK/FEILET with simulering true")
                seen.append(st)
                dry_finals[key] = dry_finals.get(key, 0) + 1
                if dry_finals[key] == 1:
                    _at_dryrun(r, d, order[key], st, model)
                continue
            if any(s["status"] in ("OK", "FEILET") for s in seen):
                _fail(f"decision #{order[key]} key={key}: a status after its final status: {seen} then {st}")
            seen.append(st)
            if st["status"] in ("OK", "FEILET"):
                finals.append(key)
                d = decisions[key]
                model = models.setdefault(d.sak, SakModel())
                if d.invalid is not None:
                    # Refused at validation, before the sak step: FEILET at once, even while an
                    # Oppdrag of the sak is in flight (OS may have booked it already), so the
                    # ledger is compared at the sak's next final status and at the end.
                    _at_invalid(d, order[key], seen, oppdrag_of.get(key, []))
                    continue
                _at_final(r, d, order[key], seen, oppdrag_of.get(key, []), model)
                for fo in fagområder:
                    got, want = paid(ledger, fo, d.sak), model.paid(fo)
                    if got != want:
                        _fail(
                            f"after decision #{order[key]} (key={key}, sak {d.sak}): OS does not pay what the "
                            f"accepted decisions ask for, fagområde {fo}:\n    {paid_diff(got, want)}"
                        )

    for key in dryruns:
        # One final status per simulation request: a dryrun over two fagområder gets two (README
        # "Fagsystems"; test_fagsystemer_regressions has the spec's one as a strict xfail).
        n_finals = max(1, simuleringer.get(key, 0))
        if dry_finals.get(key, 0) != n_finals:
            _fail(f"dryrun #{order[key]} key={key}: {dry_finals.get(key, 0)} final statuses, expected {n_finals}")
    sent_keys = [d.key for d in r.decisions if not d.dryrun]
    if not r.holds and finals != sent_keys:
        _fail(f"final statuses came for {finals}, decisions were sent as {sent_keys}")
    for sak in {d.sak for d in r.decisions}:
        got_order = [k for k in finals if decisions[k].sak == sak and decisions[k].invalid is None]
        sent_order = [d.key for d in r.decisions if d.sak == sak and d.invalid is None and not d.dryrun]
        if got_order != sent_order:
            _fail(f"sak {sak}: final statuses came in the order {got_order}, decisions were sent as {sent_order}")
        for fo in fagområder:
            got, want = paid(r.answerer.emulator.ledger, fo, sak), models[sak].paid(fo)
            if got != want:
                _fail(f"at the end, sak {sak}, fagområde {fo}: OS pays\n    {paid_diff(got, want)}")

    # The end: confirmed utbetalinger are exactly the active ones; nothing pending.
    confirmed: dict[str, dict[str, Any]] = {}
    pending: dict[str, bool] = {}
    for rec in r.outputs:
        if rec.topic == TOPICS.utbetalinger and rec.value is not None:
            confirmed[rec.key or ""] = orjson.loads(rec.value)
        elif rec.topic == TOPICS.pending:
            pending[rec.key or ""] = rec.value is not None
    # The DLQ: the decisions refused at validation, and every kvittering delivered a second time
    # (it answers nothing in flight), nothing else.
    dlq_requests: list[str] = []
    unmatched = 0
    for rec in r.outputs:
        if rec.topic != TOPICS.dlq:
            continue
        if (rec.header("src-topic") or b"") == TOPICS.kvittering.encode():
            err = (rec.header("error") or b"").decode()
            if not err.startswith("UNMATCHED_KVITTERING"):
                _fail(f"a kvittering on the DLQ: {err}")
            unmatched += 1
        else:
            dlq_requests.append(rec.key or "")
    invalid = [d.key for d in r.decisions if d.invalid is not None]
    if sorted(dlq_requests) != sorted(invalid):
        _fail(f"the DLQ holds the requests {dlq_requests}, the invalid ones are {invalid}")
    if unmatched != r.answerer.repeated:
        _fail(f"{unmatched} kvitteringer on the DLQ, {r.answerer.repeated} were delivered a second time")

    left = sorted(uid for uid, p in pending.items() if p)
    if left:
        _fail(f"pending utbetalinger left at the end: {left}")
    for sak, model in models.items():
        active = {
            uid: (u["klassekode"], u["fagområde"])
            for uid, u in confirmed.items()
            if u["sakId"] == sak and u["action"] != "DELETE"
        }
        oracle = {uid: (u.klassekode, u.fagområde) for uid, u in model.active.items()}
        if active != oracle:
            _fail(f"at the end, sak {sak}: {TOPICS.utbetalinger} has active {active}, the oracle {oracle}")
    return models


def _at_dryrun(r: Run, d: Decision, n: int, st: dict[str, Any], model: SakModel) -> None:
    """A dryrun changes nothing and never waits; its answer is what the decision would get (the
    diff against what is confirmed: FEILET 400/404 where the request would be refused, else OK:
    OS's simulation accepts what helved would send). Predicted only when no kvittering is held
    back (then nothing is half confirmed when the dryrun is diffed)."""
    where = f"dryrun #{n} (key={d.key}, sak {d.sak})"
    code = (st.get("error") or {}).get("statusCode")
    if d.invalid is not None:
        want: tuple[str, int | None] = ("FEILET", 400)
    elif r.holds:
        return
    else:
        exp = expect(model, read(r.fagsystem, d.message))
        want = ("FEILET", exp.error) if exp.error is not None else ("OK", None)
    if (st["status"], code if st["status"] == "FEILET" else None) != want:
        _fail(f"{where}: status {st}, expected {want[0]} {want[1] or ''}")


def _at_invalid(d: Decision, n: int, seen: list[dict[str, Any]], sent: list[Answered]) -> None:
    where = f"decision #{n} (key={d.key}, sak {d.sak})"
    if sent:
        _fail(f"{where}: invalid ({d.invalid}) but sent {len(sent)} Oppdrag")
    if [s["status"] for s in seen] != ["FEILET"] or (seen[-1].get("error") or {}).get("statusCode") != 400:
        _fail(f"{where}: invalid ({d.invalid}): statuses {seen}, expected one FEILET 400 at once")


def _at_final(r: Run, d: Decision, n: int, seen: list[dict[str, Any]], sent: list[Answered], model: SakModel) -> None:
    where = f"decision #{n} (key={d.key}, sak {d.sak})"
    kinds = [s["status"] for s in seen if s["status"] != "HOS_OPPDRAG"]
    final = seen[-1]
    err = final.get("error") or {}
    # A request that waited behind an Oppdrag in flight first gets MOTTATT with detaljer null.
    waited = bool(r.holds) and len(kinds) > 1 and kinds[0] == "MOTTATT" and seen[0].get("detaljer") is None
    if waited:
        kinds = kinds[1:]

    exp = expect(model, read(r.fagsystem, d.message))
    if exp.error is not None:
        if sent:
            _fail(f"{where}: should be FEILET {exp.error} ({exp.why}) but sent {len(sent)} Oppdrag")
        if kinds not in (["FEILET"], ["MOTTATT", "FEILET"]) or err.get("statusCode") != exp.error:
            _fail(f"{where}: statuses {seen}, expected FEILET {exp.error} ({exp.why})")
        return

    want_fo = sorted(exp.changes)
    got_fo = sorted(a.fagområde for a in sent)
    if got_fo != want_fo:
        detail = {fo: {uid: (u.perioder if u else "stop") for uid, u in ch.items()} for fo, ch in exp.changes.items()}
        _fail(
            f"{where}: Oppdrag sent for fagområder {got_fo}, the oracle expects one for each of {want_fo}"
            f"\n    changes: {detail}\n    in force: { {u: v.perioder for u, v in model.active.items()} }"
        )
    if not sent:
        if kinds != ["OK"] or final.get("error") is not None:
            _fail(f"{where}: nothing to send: statuses {seen}, expected OK (at once unless it waited)")
        return

    rejected = [a for a in sent if not a.verdict.accepted]
    if kinds != ["MOTTATT", "OK" if not rejected else "FEILET"]:
        _fail(f"{where}: statuses {kinds}, expected MOTTATT then {'FEILET' if rejected else 'OK'}: {seen}")
    mottatt = [s for s in seen if s["status"] == "MOTTATT"][-1]
    n_lines = sum(len(emu_xml.parse_oppdrag(a.oppdrag).linjer) for a in sent)
    if mottatt.get("detaljer") is None or len(mottatt["detaljer"]["linjer"]) != n_lines:
        _fail(f"{where}: MOTTATT detaljer {mottatt.get('detaljer')} do not list the {n_lines} lines of its Oppdrag")
    if rejected:
        code = 500 if any(a.verdict.alvorlighetsgrad == "12" for a in rejected) else 400
        if err.get("statusCode") != code:
            _fail(f"{where}: FEILET with {err}, expected statusCode {code}")
        if len(sent) > 1:
            for a in rejected:
                if a.fagområde not in (err.get("msg") or ""):
                    _fail(f"{where}: FEILET {err} does not name the rejected fagområde {a.fagområde}")
    for a in sent:
        if a.verdict.accepted:
            accept(model, a.fagområde, exp)
