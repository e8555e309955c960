"""The state machine of one sak: requests in, receipts in, decisions out (spec §5.1, §5.2, §7).

Both transitions are pure: `(state | None, event) -> (state, outputs)`. The dataflow keeps one
`SakState` per sak key and carries the outputs out; it adds nothing of its own.

A request may send several Oppdrag at once, one per fagområde (tilleggsstønader; settled rule
3); they are in flight together and the request is final when every one has its receipt.

Ordering protocol of a receipt (`on_receipt`), which the code below follows step by step:
  1. match the receipt to an unanswered Oppdrag in flight by its lines (delytelseIds,
     henvisning, avstemming key); anything else changes nothing and is reported;
  2. on 00/04 make that Oppdrag's pending utbetalinger confirmed and emit them and the sak's
     uid list (never those of an Oppdrag OS rejected); record the answer;
  3. while another Oppdrag of the request is unanswered, stop here;
  4. only then emit the final status: OK when all were accepted (OK only after the confirmed
     state is updated), else FEILET naming the rejected fagområder;
  5. clear the in-flight slot and process waiting requests in arrival order until one sends
     Oppdrag or none are left.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from helved.errors import ErrorCode, RequestRejected

from .diff import Plan, plan_request
from .model import (
    Action,
    Avvent,
    Fagsystem,
    Kvittering,
    Oppdrag,
    Request,
    SakKey,
    Source,
    StatusKind,
    Utbetaling,
    picklable,
)

ACCEPTED = ("00", "04")
_DELETE = Action.DELETE
REJECTED = ("08", "12")


# ---------------------------------------------------------------------------------------------
# Outputs: what a transition asks the shell to emit, in order.


@dataclass(frozen=True, slots=True)
class Error:
    status_code: int
    msg: str
    doc: str | None = None


@dataclass(frozen=True, slots=True)
class StatusOut:
    original_key: str | None
    fagsystem: Fagsystem
    status: StatusKind
    oppdrag: Oppdrag | None = None  # the detaljer are derived from it
    error: Error | None = None
    simulering: bool = False
    # The request's other Oppdrag when it sends several (one per fagområde): the MOTTATT
    # lists the lines of all of them.
    more_oppdrag: tuple[Oppdrag, ...] = ()


@dataclass(frozen=True, slots=True)
class OppdragOut:
    original_key: str | None
    sak_key: SakKey
    oppdrag: Oppdrag


@dataclass(frozen=True, slots=True)
class SimuleringOut:
    original_key: str | None
    sak_key: SakKey
    oppdrag: Oppdrag


@dataclass(frozen=True, slots=True)
class NoChangeOut:
    """A dryrun with nothing to change: the 'no change' info on the dryrun topic."""

    original_key: str | None
    fagsystem: Fagsystem


@dataclass(frozen=True, slots=True)
class PendingOut:
    original_key: str | None
    utbetaling: Utbetaling


@dataclass(frozen=True, slots=True)
class PendingCleared:
    uid: str


@dataclass(frozen=True, slots=True)
class ConfirmedOut:
    original_key: str | None
    utbetaling: Utbetaling


@dataclass(frozen=True, slots=True)
class SakerOut:
    sak_key: SakKey
    uids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An input that changed nothing and must be kept for operators."""

    source: Source | None
    reason: str
    detail: str


Output = (
    StatusOut
    | OppdragOut
    | SimuleringOut
    | NoChangeOut
    | PendingOut
    | PendingCleared
    | ConfirmedOut
    | SakerOut
    | DeadLetter
)


# ---------------------------------------------------------------------------------------------
# State


@picklable
@dataclass(frozen=True, slots=True)
class Sent:
    """One Oppdrag of the request in flight, and OS's answer once it came."""

    oppdrag: Oppdrag
    pending: tuple[Utbetaling, ...]
    # None until its receipt: (alvorlighetsgrad, beskrMelding)
    answer: tuple[str, str | None] | None = None


@picklable
@dataclass(frozen=True, slots=True)
class InFlight:
    """The request of the sak whose Oppdrag (one per fagområde) OS has not all answered yet."""

    original_key: str | None
    behandling_id: str
    sent: tuple[Sent, ...]


@picklable
@dataclass(frozen=True, slots=True)
class SakState:
    """Everything helved knows about one sak. Never mutated: transitions build a new one."""

    sak_key: SakKey
    # uid -> last Utbetaling OS accepted, stopped ones included (so they can be resumed).
    confirmed: dict[str, Utbetaling] = field(default_factory=dict)
    # fagområder OS has accepted an Oppdrag for on this sak (kodeEndring ENDR from then on).
    accepted: frozenset[str] = frozenset()
    # Oppdrag built so far (seeds delytelseIds, unique across the sak's history).
    seq: int = 0
    in_flight: InFlight | None = None
    waiting: tuple[Request, ...] = ()
    # (topic, partition) -> the highest offset of that input partition applied to this sak.
    # Every input of a sak is applied in offset order per partition (the intake topic keeps
    # that order), so a record at or below its mark is a replay of one already applied (the
    # intake stage re-reads its inputs after a crash) and is dropped (spec §11).
    applied: dict[tuple[str, int], int] = field(default_factory=dict)
    # fagområde -> the avvent (AAP) OS last accepted on it.
    avvent: dict[str, Avvent] = field(default_factory=dict)

    @property
    def active_uids(self) -> tuple[str, ...]:
        return tuple([uid for uid, u in self.confirmed.items() if u.action is not _DELETE])


def already_applied(state: SakState | None, source: Source | None) -> bool:
    """`source` is at or below what this sak has applied from its input partition."""
    if state is None or source is None:
        return False
    mark = state.applied.get((source.topic, source.partition))
    return mark is not None and source.offset <= mark


def mark_applied(state: SakState, source: Source | None) -> SakState:
    """`state` having applied `source` (the highest offset of its partition so far)."""
    if source is None:
        return state
    return replace(state, applied={**state.applied, (source.topic, source.partition): source.offset})


def _feilet(req: Request, err: RequestRejected) -> StatusOut:
    return StatusOut(
        req.original_key,
        req.sak_key.fagsystem,
        StatusKind.FEILET,
        error=Error(err.status_code, err.msg, err.doc),
        simulering=req.dryrun,
    )


def _plan(state: SakState, req: Request) -> Plan:
    return plan_request(req, state.confirmed, seq=state.seq, accepted=state.accepted, avvent=state.avvent)


def _process(state: SakState, req: Request) -> tuple[SakState, list[Output]]:
    """Diff a real request against the confirmed state; the sak has nothing in flight."""
    fagsystem = req.sak_key.fagsystem
    try:
        plan = _plan(state, req)
    except RequestRejected as err:
        return state, [_feilet(req, err)]
    if not plan.parts:
        return state, [StatusOut(req.original_key, fagsystem, StatusKind.OK)]
    flight = InFlight(req.original_key, req.behandling_id, tuple(Sent(p.oppdrag, p.pending) for p in plan.parts))
    first, *more = (p.oppdrag for p in plan.parts)
    out: list[Output] = [
        StatusOut(req.original_key, fagsystem, StatusKind.MOTTATT, oppdrag=first, more_oppdrag=tuple(more))
    ]
    out.extend(OppdragOut(req.original_key, req.sak_key, p.oppdrag) for p in plan.parts)
    out.extend(PendingOut(req.original_key, u) for u in plan.pending)
    return replace(state, seq=state.seq + 1, in_flight=flight), out


def _dryrun(state: SakState, req: Request) -> list[Output]:
    """Spec §10: the same diff against the confirmed state; never waits, never changes state."""
    try:
        plan = _plan(state, req)
    except RequestRejected as err:
        return [_feilet(req, err)]
    # OS's simulation service simulates lines: an Oppdrag without any (AAP's avvent alone)
    # changes no payment, so it is not simulated; with nothing else, the answer is "no change".
    simulated = [p for p in plan.parts if p.oppdrag.linjer]
    if not simulated:
        return [
            NoChangeOut(req.original_key, req.sak_key.fagsystem),
            StatusOut(req.original_key, req.sak_key.fagsystem, StatusKind.OK, simulering=True),
        ]
    return [SimuleringOut(req.original_key, req.sak_key, p.oppdrag) for p in simulated]


def on_request(state: SakState | None, req: Request) -> tuple[SakState, list[Output]]:
    """A validated request for this sak arrives."""
    if state is None:
        state = SakState(req.sak_key)
    if req.dryrun:
        return state, _dryrun(state, req)
    if state.in_flight is not None:
        waiting = StatusOut(req.original_key, req.sak_key.fagsystem, StatusKind.MOTTATT)
        return replace(state, waiting=state.waiting + (req,)), [waiting]
    return _process(state, req)


def _matches(flight: InFlight, sent: Sent, kv: Kvittering) -> bool:
    """The receipt echoes exactly this Oppdrag of the request in flight: same sak and
    fagområde, same lines (ids, what they stop, periods, amounts, chaining), same henvisning
    and the same avstemming key (a receipt that echoes none matches nothing, spec §7).
    Ids alone are not enough: two opphør-only Oppdrag on one chain share the tail's id."""
    o = sent.oppdrag
    return (
        kv.fagområde == o.fagområde
        and kv.fagsystem_id == o.fagsystem_id
        and kv.delytelse_ids == o.delytelse_ids
        and kv.henvisninger <= {flight.behandling_id}
        and (kv.linjer is None or kv.linjer == o.line_fingerprints)
        and kv.nokkel_avstemming == o.nokkel_avstemming
    )


def released(req: Request, at: datetime | None) -> Request:
    """`req` released from waiting by a receipt at `at`: its avstemming time is never earlier
    than the moment its Oppdrag could be built (spec §11)."""
    own = req.avstemming or req.vedtakstidspunkt
    if at is None or at <= own:
        return req
    return replace(req, avstemming=at)


def on_receipt(
    state: SakState | None, kv: Kvittering, source: Source | None = None, at: datetime | None = None
) -> tuple[SakState | None, list[Output]]:
    """OS's kvittering for this sak arrives. See the module docstring for the order of steps.

    `at` is the receipt record's time (Europe/Oslo wall time, None when it has none): a request
    it releases gets the later of its own time and `at` as its avstemming time (spec §11), so
    its Oppdrag is the same whether a replay made it wait or not."""
    grad = kv.alvorlighetsgrad
    if grad not in ACCEPTED and grad not in REJECTED:
        return state, [DeadLetter(source, "NOT_A_RECEIPT", f"alvorlighetsgrad {grad!r} is not 00/04/08/12")]
    # 1. match
    flight = state.in_flight if state is not None else None
    hit = None
    if flight is not None:
        hit = next((i for i, s in enumerate(flight.sent) if s.answer is None and _matches(flight, s, kv)), None)
    if state is None or flight is None or hit is None:
        return state, [DeadLetter(source, "UNMATCHED_KVITTERING", "matches no Oppdrag in flight for this sak")]

    # 2. what OS accepted becomes current, and only that; the answer is recorded
    part = flight.sent[hit]
    fagsystem = state.sak_key.fagsystem
    out: list[Output] = []
    if grad in ACCEPTED:
        confirmed = dict(state.confirmed)
        for u in part.pending:
            confirmed[u.uid] = u
        avvent = state.avvent
        if part.oppdrag.avvent is not None:
            avvent = {**avvent, part.oppdrag.fagområde: part.oppdrag.avvent}
        state = replace(state, confirmed=confirmed, accepted=state.accepted | {part.oppdrag.fagområde}, avvent=avvent)
        out.extend(ConfirmedOut(flight.original_key, u) for u in part.pending)
        out.append(SakerOut(state.sak_key, state.active_uids))
    out.extend(PendingCleared(u.uid) for u in part.pending)
    flight = replace(
        flight, sent=flight.sent[:hit] + (replace(part, answer=(grad, kv.beskr_melding)),) + flight.sent[hit + 1 :]
    )
    # 3. wait for the request's other Oppdrag
    if any(s.answer is None for s in flight.sent):
        return replace(state, in_flight=flight), out

    # 4. then the status
    ok = [s for s in flight.sent if s.answer is not None and s.answer[0] in ACCEPTED]
    rejected = [s for s in flight.sent if s.answer is not None and s.answer[0] in REJECTED]
    if not rejected:
        warnings = [s.answer[1] or "" for s in ok if s.answer is not None and s.answer[0] == "04"]
        error = Error(200, "; ".join(warnings)) if warnings else None
        out.append(StatusOut(flight.original_key, fagsystem, StatusKind.OK, error=error))
    else:
        out.append(StatusOut(flight.original_key, fagsystem, StatusKind.FEILET, error=_rejection(flight, rejected)))

    # 5. release waiting requests
    state = replace(state, in_flight=None)
    while state.in_flight is None and state.waiting:
        nxt, rest = state.waiting[0], state.waiting[1:]
        nxt = released(nxt, at)
        state, more = _process(replace(state, waiting=rest), nxt)
        out.extend(more)
    return state, out


def _rejection(flight: InFlight, rejected: list[Sent]) -> Error:
    """FEILET for a request OS rejected (all or some of its Oppdrag): 400 when every rejection
    is a functional one (08), else 500 (12). With one Oppdrag the message is OS's own text; with
    several it names each rejected fagområde with OS's text."""
    technical = any(s.answer is not None and s.answer[0] == "12" for s in rejected)
    kind = ErrorCode.OPPDRAG_TECHNICAL_ERROR if technical else ErrorCode.OPPDRAG_REJECTED
    if len(flight.sent) == 1:
        answer = rejected[0].answer
        msg = (answer[1] if answer else None) or kind.value
    else:
        msg = "; ".join(f"{s.oppdrag.fagområde}: {(s.answer[1] if s.answer else None) or kind.value}" for s in rejected)
    return Error(500 if technical else 400, msg, None)
