"""The proof harness: dagpenger decisions through the REAL dataflow, OS played by the emulator.

    decisions ──► helved.replay.replay_records (the Bytewax flow, closed receipt loop)
                      │ every Oppdrag ──► RecordingAnswer ──► OsEmulator (ledger) ──► kvittering(er)
                      ▼
                  ordered outputs ──► check(): the oracle

The oracle knows nothing of helved's diff. What it expects comes from the decisions themselves:
what OS pays for a sak (emulator ledger, per klassekode and day) must equal the sum of
`utbetaltBeløp` per day and utbetalingstype of the **last accepted decision** of that sak (the
last one whose final status must be OK). A decision is accepted unless it is invalid (the
generator knows which ones it broke) or its Oppdrag got an injected 08/12.

"After every step": the ledger is immutable, so `RecordingAnswer` keeps a reference to the
ledger after each Oppdrag is answered. The k-th Oppdrag record in the ordered outputs is the
k-th answer call, so the ledger as it was at any output position is known. At every final status
(OK/FEILET) of a decision the checker compares, for that decision's sak:
  * the ledger                 == what the sak's last accepted decision asks for;
  * helved.utbetalinger.v1     (last record per uid so far) and helved.saker.v1 (last per sak)
                               == the uids and days of that decision, and each confirmed uid's
                               chain in the ledger (found by `sisteLinje.delytelseId`) pays
                               exactly its perioder (a stopped uid's chain pays nothing);
  * the status                 == OK, or FEILET 400/500 for an invalid decision / injected 08 / 12.
Plus: every Oppdrag is accepted unless a fault was injected (a forced 08/12 must be one OS would
have accepted: checked with `OsEmulator.simulate`); an Oppdrag is sent iff the decision changes
something; each request has exactly one final status, last; a sak's final statuses come in the
order its decisions were sent (those rejected at validation answer at once, §8); nothing is
left pending; the DLQ holds exactly the decisions rejected at validation and the kvitteringer
delivered twice (at once, or late: just before the next Oppdrag's).

OS's answers (`Plan`): the emulator's verdicts with its own fault injection (08/12, duplicate and
re-prefixed kvitteringer), 08/12 forced on chosen Oppdrag (OS never sees them), 04 (booked, with a
warning), kvitteringer held back so that the sak's next decisions must wait (§5.2), and stale
redeliveries.

A failure raises `PropertyFailure` whose message names the step and the rule and gives a
ready-to-replay JSONL file (see `write_replay_files`).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from helved.config import Topics
from helved.domain.ids import utbetaling_uid
from helved.emulator import (
    EMPTY,
    FAULT_08,
    FAULT_12,
    Faults,
    Ledger,
    OsEmulator,
    Verdict,
    paid,
)
from helved.emulator import ledger as emu_ledger
from helved.emulator import xml as emu_xml
from helved.records import InRecord, OutRecord
from helved.replay import replay_records

TOPICS = Topics()
FAGOMRAADE = "DP"
FAGSYSTEM = "DAGPENGER"
KLASSEKODE = {"Dagpenger": "DAGPENGER", "DagpengerFerietillegg": "DAGPENGERFERIE"}
FLUSH_SAK = "SAK-FLUSH"
BASE_TS = 1748847600000  # 2025-06-02T07:00:00Z

PaidMap = dict[str, dict[date, int]]
# (meldeperiode, utbetalingstype) -> day -> (utbetaltBeløp, sats), paid days only
Groups = dict[tuple[str, str], dict[date, tuple[int, int]]]


WARNING_04 = Verdict("04", "B110010W", "Oppdraget er behandlet med varsel (test)", "CA10-OPPDATERING")


class PropertyFailure(AssertionError):
    pass


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class Decision:
    """One dagpenger message as the sender sends it, with what the test knows about it."""

    key: str  # the Kafka key: unique per decision, so statuses and Oppdrag map back to it
    sak: str
    message: Any  # the JSON value
    valid: bool = True  # False: the generator broke a rule on purpose: FEILET 400 expected
    why_invalid: str | None = None
    # where it is rejected: "split" (validation of the message: FEILET at once, never waits,
    # the record goes to the DLQ) or "sak" (a rule needing the sak's state, e.g. a locked field:
    # waits its turn like any request, no DLQ)
    invalid_at: str = "split"
    ts: int = BASE_TS

    def record(self) -> InRecord:
        return InRecord(TOPICS.dagpenger, self.key, orjson.dumps(self.message), (), 0, 0, self.ts)

    def line(self) -> dict[str, Any]:
        return {"topic": TOPICS.dagpenger, "key": self.key, "value": self.message, "headers": {}, "timestamp": self.ts}


@dataclass(frozen=True)
class Plan:
    """How OS answers.

    faults/seed   the emulator's own fault injection (reject/error/duplicate/prefix shares)
    forced_idx    answer the k-th Oppdrag (0-based, in emission order) with this code: 08/12
                  without OS seeing it; 04: booked by OS, answered "accepted with a warning"
    forced_key    the same, by the key of the decision whose Oppdrag it is
    hold          answer indices whose kvitteringer are held back until the next Oppdrag is
                  answered (so later decisions of that sak must wait, spec §5.2); a last decision
                  on FLUSH_SAK is appended by `run` to release whatever is still held
    """

    faults: Faults = field(default_factory=Faults)
    seed: int = 0
    forced_idx: Mapping[int, str] = field(default_factory=dict)
    forced_key: Mapping[str, str] = field(default_factory=dict)
    hold: frozenset[int] = frozenset()
    hold_keys: frozenset[str] = frozenset()
    duplicate_keys: frozenset[str] = frozenset()  # deliver these Oppdrags' kvittering twice
    # Deliver these Oppdrags' kvittering again, late: just before the kvittering of the next
    # Oppdrag answered (a stale redelivery, as from a restarted OS bridge).
    late_duplicates: frozenset[int] = frozenset()
    late_duplicate_keys: frozenset[str] = frozenset()

    def holds(self, index: int, key: str | None) -> bool:
        return index in self.hold or (key is not None and key in self.hold_keys)

    def late_duplicate(self, index: int, key: str | None) -> bool:
        return index in self.late_duplicates or (key is not None and key in self.late_duplicate_keys)

    def describe(self) -> str:
        parts = []
        f = self.faults
        if f != Faults():
            parts.append(
                f"emulator faults reject={f.reject_share} error={f.error_share} dup={f.duplicate_share} "
                f"prefix={f.prefix_share} seed={self.seed}"
            )
        if self.forced_idx:
            parts.append(f"forced by Oppdrag index {dict(self.forced_idx)}")
        if self.forced_key:
            parts.append(f"forced by key {dict(self.forced_key)}")
        if self.hold:
            parts.append(f"kvitteringer held back for Oppdrag {sorted(self.hold)}")
        if self.hold_keys:
            parts.append(f"kvitteringer held back for keys {sorted(self.hold_keys)}")
        if self.duplicate_keys:
            parts.append(f"kvittering delivered twice for keys {sorted(self.duplicate_keys)}")
        if self.late_duplicates or self.late_duplicate_keys:
            late = sorted(self.late_duplicates) + sorted(self.late_duplicate_keys)  # type: ignore[operator]
            parts.append(f"kvittering delivered again with the next Oppdrag's for {late}")
        return "; ".join(parts) or "no faults"


# ---------------------------------------------------------------------------------------------
# What a decision asks for (independent of helved)


def groups_of(message: Mapping[str, Any]) -> Groups:
    out: Groups = {}
    for d in message.get("utbetalinger") or []:
        if d["utbetaltBeløp"] == 0:
            continue
        g = out.setdefault((d["meldeperiode"], d["utbetalingstype"]), {})
        g[date.fromisoformat(d["dato"])] = (d["utbetaltBeløp"], d["sats"])
    return out


def paid_of(groups: Groups) -> PaidMap:
    out: dict[str, dict[date, int]] = {}
    for (_, typ), days in groups.items():
        per = out.setdefault(KLASSEKODE[typ], {})
        for d, (b, _) in days.items():
            per[d] = per.get(d, 0) + b
    return {k: dict(sorted(v.items())) for k, v in sorted(out.items()) if v}


def uid_of(sak: str, meldeperiode: str, typ: str) -> str:
    return utbetaling_uid(FAGSYSTEM, sak, meldeperiode, KLASSEKODE[typ])


def days_of_perioder(perioder: Iterable[Mapping[str, Any]], periodetype: str) -> dict[date, tuple[int, int]]:
    """An utbetaling's perioder as the days they pay (UKEDAG: Monday-Friday; EN_GANG: fom)."""
    out: dict[date, tuple[int, int]] = {}
    for p in perioder:
        fom, tom = date.fromisoformat(p["fom"]), date.fromisoformat(p["tom"])
        val = (p["beløp"], p["vedtakssats"])
        if periodetype == "EN_GANG":
            out[fom] = val
            continue
        d = fom
        while d <= tom:
            if periodetype != "UKEDAG" or d.weekday() < 5:
                out[d] = val
            d += timedelta(days=1)
    return out


# ---------------------------------------------------------------------------------------------
# The answer: emulator + forced codes + held kvitteringer, recording everything


@dataclass
class Answered:
    index: int
    key: str | None
    oppdrag: bytes
    verdict: Verdict
    injected: bool  # an injected 08/12 (emulator fault or forced)
    kvitteringer: tuple[bytes, ...]
    ledger_after: Ledger
    would_verdict: Verdict | None = None  # for forced answers: what OS would have said
    returned: list[bytes] = field(default_factory=list)  # what this answer call returned
    late: int = 0  # copies of its kvittering delivered late


class RecordingAnswer:
    """A `helved.replay.Answer` playing OS with the emulator, recording each Oppdrag's fate."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.emulator = OsEmulator(plan.faults, seed=plan.seed)
        self.answered: list[Answered] = []
        self.held: list[bytes] = []
        self.late: list[bytes] = []
        self.flushing = False

    def __call__(self, rec: OutRecord) -> list[bytes]:
        assert rec.value is not None
        idx = len(self.answered)
        code = self.plan.forced_key.get(rec.key or "") or self.plan.forced_idx.get(idx)
        if code == "04":  # OS books it as usual, but answers "accepted with a warning"
            reply = self.emulator.respond(rec.value)
            verdict, kvs = reply.verdict, reply.kvitteringer
            if reply.verdict.accepted:
                verdict = WARNING_04
                kvs = tuple(emu_xml.kvittering(emu_xml.parse_document(rec.value), verdict) for _ in kvs)
            self.answered.append(Answered(idx, rec.key, rec.value, verdict, reply.injected, kvs, self.emulator.ledger))
        elif code is not None:
            verdict = FAULT_08 if code == "08" else FAULT_12
            root = emu_xml.parse_document(rec.value)
            kvs: tuple[bytes, ...] = (emu_xml.kvittering(root, verdict),)
            would = self.emulator.simulate(rec.value).verdict
            self.answered.append(Answered(idx, rec.key, rec.value, verdict, True, kvs, self.emulator.ledger, would))
        else:
            reply = self.emulator.respond(rec.value)
            kvs = reply.kvitteringer
            self.answered.append(
                Answered(idx, rec.key, rec.value, reply.verdict, reply.injected, kvs, self.emulator.ledger)
            )
        a = self.answered[-1]
        if rec.key is not None and rec.key in self.plan.duplicate_keys:
            a.kvitteringer = kvs = tuple(kvs) + tuple(kvs)
        if rec.key is not None and rec.key.startswith(FLUSH_SAK):
            self.flushing = True
        release, self.held = self.late + self.held, []
        self.late = []
        if self.plan.late_duplicate(idx, rec.key) and kvs and not self.flushing:
            self.late = [kvs[0]]
            a.late = 1
        if self.plan.holds(idx, rec.key) and not self.flushing:
            self.held.extend(kvs)
            a.returned = release
            return release
        a.returned = release + list(kvs)
        return a.returned


@dataclass
class Run:
    decisions: list[Decision]
    plan: Plan
    outputs: list[OutRecord]
    answer: RecordingAnswer

    @property
    def answered(self) -> list[Answered]:
        return self.answer.answered


def flush_decision(n: int) -> Decision:
    msg = {
        "sakId": FLUSH_SAK,
        "behandlingId": "B-FLUSH",
        "ident": "10987654321",
        "vedtakstidspunktet": "2025-06-02T09:00:00",
        "utbetalinger": [
            {
                "meldeperiode": "flush",
                "dato": "2025-06-02",
                "sats": 1,
                "utbetaltBeløp": 1,
                "utbetalingstype": "Dagpenger",
            }
        ],
    }
    return Decision(f"{FLUSH_SAK}-k", FLUSH_SAK, msg, ts=BASE_TS + 60_000 * (n + 1))


def run(decisions: Sequence[Decision], plan: Plan = Plan()) -> Run:
    decisions = list(decisions)
    if plan.hold or plan.hold_keys or plan.late_duplicates or plan.late_duplicate_keys:
        decisions.append(flush_decision(len(decisions)))
    keys = [d.key for d in decisions]
    assert len(set(keys)) == len(keys), "decision keys must be unique"
    answer = RecordingAnswer(plan)
    outputs = replay_records([d.record() for d in decisions], answer, TOPICS)
    return Run(decisions, plan, outputs, answer)


# ---------------------------------------------------------------------------------------------
# Replay files for a failing example


def _consumed_order(r: Run) -> list[InRecord]:
    """The records in the order the replay loop fed them to the flow, receipts included.

    Mirrors `helved.flow.driver.Gate`: a record is popped from the front; the kvitteringer returned
    for the Oppdrag it caused (at most one per input) are pushed to the front, in order.
    """
    by_src: dict[tuple[str, int], list[int]] = {}
    k = 0
    for rec in r.outputs:
        if rec.topic == TOPICS.oppdrag:
            src = (rec.header("src-topic") or b"").decode(), int(rec.header("src-offset") or b"-1")
            by_src.setdefault(src, []).append(k)
            k += 1
    returned = [a.returned for a in r.answered]
    queue: deque[InRecord] = deque(d.record() for d in r.decisions)
    offsets: Counter[str] = Counter()
    fed: list[InRecord] = []
    while queue:
        rec = queue.popleft()
        off = offsets[rec.topic]
        offsets[rec.topic] += 1
        fed.append(rec)
        for idx in by_src.get((rec.topic, off), []):
            kvs = returned[idx] if idx < len(returned) else []
            queue.extendleft(
                reversed([InRecord(TOPICS.kvittering, rec.key, v, (), 0, 0, rec.timestamp_ms) for v in kvs])
            )
    return fed


def _line_of(rec: InRecord) -> dict[str, Any]:
    value: Any = rec.value.decode("utf-8") if rec.value is not None else None
    if rec.topic == TOPICS.dagpenger and rec.value is not None:
        value = orjson.loads(rec.value)
    obj: dict[str, Any] = {"topic": rec.topic, "key": rec.key, "value": value, "headers": {}}
    if rec.timestamp_ms is not None:
        obj["timestamp"] = rec.timestamp_ms
    return obj


def _write(lines: list[dict[str, Any]], stem: str) -> Path:
    data = b"".join(orjson.dumps(x) + b"\n" for x in lines)
    folder = Path(tempfile.gettempdir()) / "helved-property"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}-{hashlib.sha256(data).hexdigest()[:12]}.jsonl"
    path.write_bytes(data)
    return path


def write_replay_files(r: Run) -> str:
    """Two files: the decisions alone (for --emulate-oppdrag) and, when OS's answers were not
    the emulator's plain verdicts, the exact feed with the kvitteringer inlined."""
    decisions = _write([d.line() for d in r.decisions], "decisions")
    text = [
        f"replay: {decisions}",
        f"  helved replay {decisions} --out out.jsonl --emulate-oppdrag",
    ]
    if r.plan.describe() != "no faults":
        try:
            fed = _write([_line_of(x) for x in _consumed_order(r)], "with-kvitteringer")
            text += [
                f"  (OS answers: {r.plan.describe()}; --emulate-oppdrag answers without those faults.",
                "   The exact feed, the kvitteringer as they were given inlined:)",
                f"  helved replay {fed} --out out.jsonl --kvittering none",
            ]
        except Exception as exc:
            text.append(f"  (could not write the feed with kvitteringer: {exc!r})")
    return "\n".join(text)


# ---------------------------------------------------------------------------------------------
# The checks


def _fmt_paid(p: Mapping[str, Mapping[date, Any]]) -> str:
    parts = []
    for k, days in p.items():
        runs: list[str] = []
        for d, v in days.items():
            runs.append(f"{d.strftime('%m-%d')}:{v}")
        parts.append(f"{k}[{' '.join(runs)}]")
    return " ".join(parts) or "{}"


def paid_diff(actual: PaidMap, expected: PaidMap) -> str:
    lines = []
    for k in sorted(set(actual) | set(expected)):
        a, e = actual.get(k, {}), expected.get(k, {})
        for d in sorted(set(a) | set(e)):
            if a.get(d, 0) != e.get(d, 0):
                lines.append(f"{k} {d} ({d.strftime('%a')}): OS pays {a.get(d, 0)}, decision asks {e.get(d, 0)}")
    return "\n    ".join(lines)


def _describe_oppdrag(xml: bytes) -> str:
    try:
        o = emu_xml.parse_oppdrag(xml)
    except (ValueError, emu_xml.Unparseable) as exc:  # pragma: no cover - diagnostics only
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
    return "\n".join(out)


@dataclass
class _SakModel:
    groups: Groups = field(default_factory=dict)  # of the last accepted decision
    accepted_oppdrag: bool = False
    history: list[str] = field(default_factory=list)


def check(r: Run) -> None:
    """Raise PropertyFailure (with replay files) on the first broken rule."""
    try:
        _check(r)
    except PropertyFailure as exc:
        raise PropertyFailure(f"{exc}\n\n{_story(r)}\n{write_replay_files(r)}") from None


def _story(r: Run) -> str:
    lines = [f"OS: {r.plan.describe()}", "decisions:"]
    for i, d in enumerate(r.decisions):
        tag = "" if d.valid else f"  [invalid: {d.why_invalid}]"
        g = groups_of(d.message) if d.valid else {}
        lines.append(f"  #{i} key={d.key} sak={d.sak}{tag}: {_fmt_paid(paid_of(g)) if d.valid else ''}")
    lines.append("Oppdrag:")
    for a in r.answered:
        inj = " (injected)" if a.injected else ""
        lines.append(f"  [{a.index}] key={a.key} -> {a.verdict.alvorlighetsgrad}{inj} {a.verdict.beskr_melding}")
        lines.append("    " + _describe_oppdrag(a.oppdrag).replace("\n", "\n    "))
    return "\n".join(lines)


def _fail(msg: str) -> None:
    raise PropertyFailure(msg)


def _check(r: Run) -> None:
    decisions = {d.key: d for d in r.decisions}
    order_in = {d.key: i for i, d in enumerate(r.decisions)}
    oppdrag_recs = [o for o in r.outputs if o.topic == TOPICS.oppdrag]
    if len(oppdrag_recs) != len(r.answered):
        _fail(f"{len(oppdrag_recs)} Oppdrag records but {len(r.answered)} answers")

    # 1. Every Oppdrag is accepted unless a fault was injected; a forced rejection must be of an
    #    Oppdrag OS would have accepted.
    oppdrag_by_key: dict[str, Answered] = {}
    for a in r.answered:
        d = decisions.get(a.key or "")
        where = f"Oppdrag [{a.index}] (decision #{order_in.get(a.key or '')} key={a.key})"
        if d is None:
            _fail(f"{where}: keyed by no decision")
        if not d.valid:
            _fail(f"{where}: an invalid decision ({d.why_invalid}) produced an Oppdrag")
        if a.key in oppdrag_by_key:
            _fail(f"{where}: a second Oppdrag for the same request")
        oppdrag_by_key[a.key] = a  # type: ignore[index]
        if not a.injected and not a.verdict.accepted:
            _fail(
                f"{where}: OS rejected helved's Oppdrag without an injected fault: "
                f"{a.verdict.alvorlighetsgrad} {a.verdict.beskr_melding}\n{_describe_oppdrag(a.oppdrag)}"
            )
        if a.would_verdict is not None and not a.would_verdict.accepted:
            _fail(
                f"{where}: (answered {a.verdict.alvorlighetsgrad} by the test) OS would have rejected it: "
                f"{a.would_verdict.alvorlighetsgrad} {a.would_verdict.beskr_melding}\n{_describe_oppdrag(a.oppdrag)}"
            )
        o = emu_xml.parse_oppdrag(a.oppdrag)
        if o.fagsystem_id != d.sak or o.fagomraade != FAGOMRAADE:
            _fail(f"{where}: Oppdrag for {o.fagomraade}/{o.fagsystem_id}, decision is for DP/{d.sak}")

    # 2. Walk the outputs in order; check at every final status.
    models: dict[str, _SakModel] = {}
    statuses: dict[str, list[dict[str, Any]]] = {}
    finals_per_sak: dict[str, list[str]] = {}
    confirmed: dict[str, dict[str, Any]] = {}  # uid -> last utbetalinger value (None: tombstone)
    saker: dict[str, list[str]] = {}
    pending: dict[str, bool] = {}
    ledger: Ledger = EMPTY
    k = 0
    for pos, rec in enumerate(r.outputs):
        if rec.topic == TOPICS.oppdrag:
            ledger = r.answered[k].ledger_after
            k += 1
        elif rec.topic == TOPICS.utbetalinger:
            if rec.value is None:
                _fail(f"output {pos}: a tombstone on {TOPICS.utbetalinger} for {rec.key}")
            confirmed[rec.key or ""] = orjson.loads(rec.value)
        elif rec.topic == TOPICS.saker:
            sak = orjson.loads(rec.key or "null")
            if not isinstance(sak, dict) or set(sak) != {"sakId", "fagsystem"} or sak["fagsystem"] != FAGSYSTEM:
                _fail(f"output {pos}: saker key {rec.key!r}")
            if rec.value is None:
                _fail(f"output {pos}: a tombstone on {TOPICS.saker} for {rec.key}")
            saker[sak["sakId"]] = orjson.loads(rec.value)
        elif rec.topic == TOPICS.pending:
            pending[rec.key or ""] = rec.value is not None
        elif rec.topic == TOPICS.status:
            st = orjson.loads(rec.value or b"null")
            key = rec.key or ""
            d = decisions.get(key)
            if d is None:
                _fail(f"output {pos}: status for an unknown key {key!r}: {st}")
            seen = statuses.setdefault(key, [])
            if any(s["status"] in ("OK", "FEILET") for s in seen):
                _fail(
                    f"decision #{order_in[key]} key={key}: a status after its final status: {[s['status'] for s in seen]} then {st['status']}"
                )
            seen.append(st)
            if st["status"] in ("OK", "FEILET"):
                finals_per_sak.setdefault(d.sak, []).append(key)
                model = models.setdefault(d.sak, _SakModel())
                _at_final(r, d, order_in[key], st, seen, oppdrag_by_key.get(key), model, ledger, confirmed, saker)

    # 3. Every decision has its final status, and a sak's come in sending order.
    for d in r.decisions:
        sts = [s["status"] for s in statuses.get(d.key, [])]
        if not sts or sts[-1] not in ("OK", "FEILET"):
            _fail(f"decision #{order_in[d.key]} key={d.key}: no final status (statuses {sts})")
    for sak, keys in finals_per_sak.items():
        keys = [k for k in keys if decisions[k].invalid_at != "split" or decisions[k].valid]
        sent = [d.key for d in r.decisions if d.sak == sak and (d.valid or d.invalid_at != "split")]
        if keys != sent:
            _fail(f"sak {sak}: final statuses in the order {keys}, decisions were sent as {sent}")

    # 4. The end: nothing pending; OS pays what the last accepted decision of every sak asked.
    left = sorted(uid for uid, p in pending.items() if p)
    if left:
        _fail(f"pending utbetalinger left at the end: {left}")
    for sak in {d.sak for d in r.decisions}:
        want = paid_of(models.get(sak, _SakModel()).groups)
        got = paid(r.answer.emulator.ledger, FAGOMRAADE, sak)
        if got != want:
            _fail(f"at the end, sak {sak}: OS pays\n    {paid_diff(got, want)}")

    # 5. The DLQ holds the invalid decisions and the duplicate kvitteringer, nothing else.
    dups = sum(max(0, len(a.kvitteringer) - 1) + a.late for a in r.answered)
    want_dlq = Counter({d.key: 1 for d in r.decisions if not d.valid and d.invalid_at == "split"})
    got_dlq: Counter[str] = Counter()
    unmatched = 0
    for rec in r.outputs:
        if rec.topic != TOPICS.dlq:
            continue
        err = (rec.header("error") or b"").decode()
        if (rec.header("src-topic") or b"") == TOPICS.kvittering.encode():
            if not err.startswith("UNMATCHED_KVITTERING"):
                _fail(f"a kvittering on the DLQ: {err}")
            unmatched += 1
        else:
            got_dlq[rec.key or ""] += 1
    if got_dlq != want_dlq:
        _fail(f"DLQ holds requests {dict(got_dlq)}, expected the invalid ones {dict(want_dlq)}")
    if unmatched != dups:
        _fail(f"{unmatched} unmatched kvitteringer on the DLQ, {dups} duplicates were delivered")


def _at_final(
    r: Run,
    d: Decision,
    n: int,
    st: dict[str, Any],
    seen: list[dict[str, Any]],
    a: Answered | None,
    model: _SakModel,
    ledger: Ledger,
    confirmed: Mapping[str, dict[str, Any]],
    saker: Mapping[str, list[str]],
) -> None:
    where = f"after decision #{n} (key={d.key}, sak={d.sak})"
    kinds = [s["status"] for s in seen]

    # -- what should have happened
    if not d.valid:
        want_status, want_code = "FEILET", 400
        if a is not None:
            _fail(f"{where}: invalid decision ({d.why_invalid}) sent an Oppdrag")
        allowed = (["FEILET"],) if d.invalid_at == "split" else (["FEILET"], ["MOTTATT", "FEILET"])
        if kinds not in allowed:
            _fail(
                f"{where}: invalid decision ({d.why_invalid}): statuses {kinds}, expected {' or '.join(map(str, allowed))}"
            )
        if d.invalid_at == "split":
            err = st.get("error") or {}
            if err.get("statusCode") != 400:
                _fail(f"{where}: invalid decision ({d.why_invalid}): error {err}, expected statusCode 400")
            # Rejected at validation, before the sak step: it does not wait behind an Oppdrag in
            # flight (spec §8 "Invalid -> FEILET at once"), so the sak may be mid-change here.
            # That it changed nothing is checked at the sak's next final status and at the end.
            model.history.append(f"#{n} FEILET (invalid)")
            return
    else:
        new = groups_of(d.message)
        changes = new != model.groups
        if a is None and changes:
            _fail(
                f"{where}: the decision changes the sak but no Oppdrag was sent (status {st['status']} "
                f"{st.get('error')})\n    in force: {_fmt_paid(paid_of(model.groups))}\n    asked:    {_fmt_paid(paid_of(new))}"
            )
        if a is not None and not changes:
            _fail(
                f"{where}: nothing changed (identical to the last accepted decision) but an Oppdrag was sent:\n{_describe_oppdrag(a.oppdrag)}"
            )
        if a is None:
            want_status, want_code = "OK", None
            if kinds not in (["OK"], ["MOTTATT", "OK"]):
                _fail(f"{where}: nothing to send: statuses {kinds}, expected [OK] (or [MOTTATT, OK] after waiting)")
            if kinds == ["MOTTATT", "OK"] and seen[0]["detaljer"] is not None:
                _fail(f"{where}: waiting MOTTATT must have detaljer null: {seen[0]}")
        else:
            g = a.verdict.alvorlighetsgrad
            if a.verdict.accepted:
                want_status, want_code = "OK", (200 if g == "04" else None)
            else:
                want_status, want_code = "FEILET", (400 if g == "08" else 500)
            body = [s for s in kinds if s != "HOS_OPPDRAG"]
            if body not in (["MOTTATT", want_status], ["MOTTATT", "MOTTATT", want_status]):
                _fail(
                    f"{where}: statuses {kinds}, expected MOTTATT (after waiting: MOTTATT, MOTTATT), then {want_status}"
                )
            mottatt = [s for s in seen if s["status"] == "MOTTATT"]
            if any(s["detaljer"] is not None for s in mottatt[:-1]) or mottatt[-1]["detaljer"] is None:
                _fail(f"{where}: MOTTATT detaljer: only the one sent with the Oppdrag has detaljer: {mottatt}")
            n_lines = len(emu_xml.parse_oppdrag(a.oppdrag).linjer)
            linjer = mottatt[-1]["detaljer"]["linjer"]
            if len(linjer) != n_lines or [x["fom"] for x in linjer] != sorted(x["fom"] for x in linjer):
                _fail(f"{where}: MOTTATT detaljer.linjer {linjer} do not list the Oppdrag's {n_lines} lines by fom")
            if a.verdict.accepted:
                model.accepted_oppdrag = True
        if want_status == "OK":
            model.groups = new

    # -- the status
    if st["status"] != want_status:
        _fail(f"{where}: final status {st['status']} {st.get('error')}, expected {want_status}")
    err = st.get("error")
    if want_code is None and err is not None:
        _fail(f"{where}: status {st['status']} with error {err}, expected none")
    if want_code is not None and (err is None or err.get("statusCode") != want_code):
        _fail(f"{where}: status {st['status']} error {err}, expected statusCode {want_code}")
    model.history.append(f"#{n} {want_status}")

    # -- the ledger: OS pays what the last accepted decision asked for
    want_paid = paid_of(model.groups)
    got_paid = paid(ledger, FAGOMRAADE, d.sak)
    if got_paid != want_paid:
        _fail(
            f"{where}: OS does not pay what the last accepted decision of the sak asked for "
            f"(history {model.history}):\n    {paid_diff(got_paid, want_paid)}"
        )

    # -- confirmed state agrees with the decision and with the ledger
    _check_confirmed(where, d.sak, model, ledger, confirmed, saker)


def _check_confirmed(
    where: str,
    sak: str,
    model: _SakModel,
    ledger: Ledger,
    confirmed: Mapping[str, dict[str, Any]],
    saker: Mapping[str, list[str]],
) -> None:
    want = {uid_of(sak, mp, typ): days for (mp, typ), days in model.groups.items()}
    mine = {uid: u for uid, u in confirmed.items() if u["sakId"] == sak}
    active = {uid for uid, u in mine.items() if u["action"] != "DELETE"}
    if active != set(want):
        _fail(
            f"{where}: {TOPICS.utbetalinger} has active uids {sorted(active)}, the decision in force has {sorted(want)}"
        )
    if not model.accepted_oppdrag:
        if sak in saker:
            _fail(f"{where}: {TOPICS.saker} has {saker[sak]} but OS never accepted an Oppdrag for the sak")
    elif sak not in saker:
        _fail(f"{where}: no {TOPICS.saker} record though OS accepted an Oppdrag for the sak")
    elif sorted(saker[sak]) != sorted(active) or len(set(saker[sak])) != len(saker[sak]):
        _fail(f"{where}: {TOPICS.saker} lists {saker[sak]}, active uids are {sorted(active)}")

    lines = emu_ledger.lines(ledger, FAGOMRAADE, sak)
    by_id = {ln.delytelse_id: ln for ln in lines}
    kjeder_of_uids: set[str] = set()
    for uid, u in mine.items():
        days = days_of_perioder(u["perioder"], u["periodetype"])
        if uid in want and days != want[uid]:
            _fail(
                f"{where}: utbetaling {uid} has perioder {u['perioder']},\n    the decision asks for days "
                f"{ {str(k): v for k, v in want[uid].items()} }"
            )
        tail = u.get("sisteLinje")
        if tail is None:
            _fail(f"{where}: confirmed utbetaling {uid} has no sisteLinje")
        line = by_id.get(tail["delytelseId"])
        if line is None:
            _fail(f"{where}: utbetaling {uid}: sisteLinje {tail['delytelseId']} is not booked at OS")
        kjede = [ln for ln in lines if ln.kjede == line.kjede]
        kjeder_of_uids.add(line.kjede)
        kjede_paid = emu_ledger.paid_lines(kjede)
        kk = u["klassekode"]
        uid_paid = {kk: {d: b for d, (b, _) in sorted(days.items())}} if days and u["action"] != "DELETE" else {}
        if kjede_paid != uid_paid:
            _fail(
                f"{where}: utbetaling {uid} ({u['action']}) and its kjede at OS disagree:\n    "
                f"{paid_diff(kjede_paid, uid_paid)}"
            )
    stray = [ln for ln in lines if ln.kjede not in kjeder_of_uids and ln.effective is not None]
    if stray:
        _fail(f"{where}: OS pays on kjeder no confirmed utbetaling owns: {stray}")
