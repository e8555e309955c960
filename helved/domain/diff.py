"""The one diff: a request against the confirmed state of its sak gives the lines to send.

`plan_request` is used for real requests and for dryruns alike (spec §12: never two diffs).
It is a pure function of `(confirmed, request, seq, accepted)`; the caller decides what to do
with the result.

OS semantics the rules rely on (spec §5.4): a NY line chained into a kjede replaces the kjede
from its fom on; an OPPH line stops the kjede from `datoStatusFom`. Chains never cross
utbetalinger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta

from helved.errors import ErrorCode, RequestRejected, bad_request

from .ids import delytelse_id
from .model import Action, Avvent, Linje, LinjeKind, Oppdrag, Periode, Request, Tail, Utbetaling

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class UpdateLines:
    """What an update sends for one utbetaling: an optional opphør date, then NY periods."""

    opphør_fom: date | None
    nye: tuple[Periode, ...]


def update_lines(prev: tuple[Periode, ...], new: tuple[Periode, ...]) -> UpdateLines:
    """Spec §5.4 for two non-empty period lists sorted by fom.

    `i` is the first index where the lists differ. New lines are `new[i:]` (or `new[i+1:]` when
    at `i` only `tom` got shorter: the opphør handles that period). The opphør date follows the
    spec's order of cases; an opphør is sent only when no new line starts on or before it.
    """
    n = min(len(prev), len(new))
    i = next((k for k in range(n) if prev[k] != new[k]), None)
    if i is None:
        if len(new) > len(prev):
            return UpdateLines(None, new[len(prev) :])
        if len(new) < len(prev):
            return UpdateLines(new[-1].tom + ONE_DAY, ())
        return UpdateLines(None, ())

    p, q = prev[i], new[i]
    only_tom_shorter = q.tom < p.tom and replace(q, tom=p.tom) == p
    nye = new[i + 1 :] if only_tom_shorter else new[i:]

    opphør: date | None
    if p.fom < q.fom:
        opphør = p.fom
    elif q.tom < p.tom:
        opphør = q.tom + ONE_DAY
    else:
        opphør = None
    if opphør is not None and nye and nye[0].fom <= opphør:
        opphør = None
    return UpdateLines(opphør, nye)


def check_locked_fields(prev: Utbetaling, new: Utbetaling) -> None:
    """sakId, ident, stønad (and the fagområde it is paid under) and periodetype of a chain
    never change (400 IMMUTABLE_FIELD_*; `fagsystemer.md` settled rule 8)."""
    if prev.sak_id != new.sak_id:
        raise bad_request(ErrorCode.IMMUTABLE_FIELD_SAKID, f"utbetaling {new.uid}: sakId cannot change")
    if prev.ident != new.ident:
        raise bad_request(ErrorCode.IMMUTABLE_FIELD_IDENT, f"utbetaling {new.uid}: ident cannot change")
    if prev.stønad.name != new.stønad.name:
        raise bad_request(
            ErrorCode.IMMUTABLE_FIELD_STONAD,
            f"utbetaling {new.uid}: stønad cannot change from {prev.stønad.name} to {new.stønad.name}",
        )
    if prev.stønad.fagområde != new.stønad.fagområde:  # tilleggsstønader's brukFagområdeTillst
        raise bad_request(
            ErrorCode.IMMUTABLE_FIELD_STONAD,
            f"utbetaling {new.uid}: fagområde cannot change from {prev.stønad.fagområde} to {new.stønad.fagområde}",
        )
    if prev.stønad.periodetype != new.stønad.periodetype:
        raise bad_request(ErrorCode.IMMUTABLE_FIELD_PERIODETYPE, f"utbetaling {new.uid}: periodetype cannot change")


def _only_betalende_enhet_differs(prev: tuple[Periode, ...], new: tuple[Periode, ...]) -> bool:
    return len(prev) == len(new) and all(
        replace(p, betalende_enhet=None) == replace(q, betalende_enhet=None) for p, q in zip(prev, new, strict=True)
    )


@dataclass(frozen=True, slots=True)
class _Change:
    """One utbetaling's part of the Oppdrag, before delytelseIds are assigned."""

    after: Utbetaling  # as it becomes when OS accepts (action set; tail set below)
    prev_tail: Tail | None
    opphør_fom: date | None
    nye: tuple[Periode, ...]


def _with(u: Utbetaling, action: Action | None, tail: Tail | None) -> Utbetaling:
    """`replace(u, action=action, tail=tail)`, without `replace`'s walk over the fields (every
    changed utbetaling of every request passes here twice)."""
    return Utbetaling(
        u.uid,
        u.sak_id,
        u.fagsystem,
        u.behandling_id,
        u.ident,
        u.stønad,
        u.vedtakstidspunkt,
        u.saksbehandler,
        u.beslutter,
        u.perioder,
        action,
        tail,
    )


# `_with` and the stop in `_changes` name every init field of an utbetaling, in order.
assert [f.name for f in fields(Utbetaling) if f.init] == [
    "uid",
    "sak_id",
    "fagsystem",
    "behandling_id",
    "ident",
    "stønad",
    "vedtakstidspunkt",
    "saksbehandler",
    "beslutter",
    "perioder",
    "action",
    "tail",
], "an utbetaling's fields changed: update diff._with and the stop in diff._changes"


_DELETE = Action.DELETE


def _changes(request: Request, confirmed: Mapping[str, Utbetaling]) -> list[_Change]:
    changes: list[_Change] = []
    in_request: set[str] = set()
    for new in request.utbetalinger:
        in_request.add(new.uid)
        prev = confirmed.get(new.uid)
        if prev is None:
            changes.append(_Change(_with(new, Action.CREATE, new.tail), None, None, new.perioder))
            continue
        # (every request of a whole sak names every utbetaling: the locked fields are read only
        # when one of them may have changed)
        if not (prev.ident == new.ident and prev.sak_id == new.sak_id and prev.stønad is new.stønad):
            check_locked_fields(prev, new)
        if prev.action is _DELETE:  # stopped earlier and back now: re-create, chained to the old tail
            changes.append(_Change(_with(new, Action.CREATE, new.tail), prev.tail, None, new.perioder))
            continue
        if prev.perioder == new.perioder:
            continue
        if _only_betalende_enhet_differs(prev.perioder, new.perioder):
            raise RequestRejected(
                409, ErrorCode.ONLY_BETALENDE_ENHET_CHANGED, f"utbetaling {new.uid}: only betalendeEnhet changed"
            )
        upd = update_lines(prev.perioder, new.perioder)
        changes.append(_Change(_with(new, Action.UPDATE, new.tail), prev.tail, upd.opphør_fom, upd.nye))

    to_stop: list[str] = []
    if request.whole_sak:
        to_stop = [uid for uid, prev in confirmed.items() if prev.action is not _DELETE and uid not in in_request]
    named = dict(request.stop_stønader)
    for uid in request.stops:
        prev = confirmed.get(uid)
        if prev is None:
            raise RequestRejected(404, ErrorCode.UTBETALING_NOT_FOUND, f"utbetaling {uid} has nothing to stop")
        stønad = named.get(uid)
        if stønad is not None:  # the stop names the stønad: the same locked fields as a change
            check_locked_fields(prev, replace(prev, stønad=stønad, sak_id=request.sak_key.sak_id, ident=request.ident))
        if prev.active and uid not in to_stop:
            to_stop.append(uid)
    for uid in to_stop:
        prev = confirmed[uid]
        if prev.ident != request.ident:
            raise bad_request(ErrorCode.IMMUTABLE_FIELD_IDENT, f"utbetaling {uid}: ident cannot change")
        stopped = Utbetaling(
            prev.uid,
            prev.sak_id,
            prev.fagsystem,
            request.behandling_id,
            prev.ident,
            prev.stønad,
            request.vedtakstidspunkt,
            request.saksbehandler,
            request.beslutter,
            (),
            Action.DELETE,
            prev.tail,
        )
        changes.append(_Change(stopped, prev.tail, prev.perioder[0].fom, ()))
    return changes


# Lines in one Oppdrag at most. Every field of a line is bounded (ids at most 30 characters,
# amounts at most 13 digits), so this bounds the Oppdrag XML and the simulation request well
# below the producer's message limit (`helved.kafka.producer.MAX_MESSAGE_BYTES`; a test builds
# the largest possible Oppdrag and checks it). A request needing more is a 400, never a record
# the broker refuses (spec §12).
MAX_LINJER = 1000


@dataclass(frozen=True, slots=True)
class Part:
    """One Oppdrag of a plan and the utbetalinger as they become current when OS accepts it."""

    oppdrag: Oppdrag
    pending: tuple[Utbetaling, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """The outcome of the diff: one part per (sak, fagområde) that has something to send, in
    fagområde order (settled rule 1). No parts: nothing to send."""

    parts: tuple[Part, ...] = ()

    @property
    def oppdrag(self) -> Oppdrag | None:
        """The plan's only Oppdrag (None when there is nothing to send). A plan over several
        fagområder has no single Oppdrag: use `parts`."""
        if len(self.parts) > 1:
            raise ValueError("a plan over several fagområder has several Oppdrag")
        return self.parts[0].oppdrag if self.parts else None

    @property
    def pending(self) -> tuple[Utbetaling, ...]:
        return tuple(u for part in self.parts for u in part.pending)


def plan_request(
    request: Request,
    confirmed: Mapping[str, Utbetaling],
    *,
    seq: int,
    accepted: frozenset[str],
    avvent: Mapping[str, Avvent] | None = None,
) -> Plan:
    """Diff `request` against `confirmed` and build one Oppdrag per fagområde it changes
    (spec §5, `fagsystemer.md` settled rules 1 and 3).

    `seq` is the number of plans built for the sak before this one (it seeds the delytelseIds,
    numbered across all Oppdrag of the plan); `accepted` the fagområder OS has accepted an
    Oppdrag for on this sak (kodeEndring NY/ENDR per fagområde); `avvent` the avvent OS last
    accepted per fagområde (AAP: a request whose only change is its avvent sends an Oppdrag
    with the avvent and no lines). Raises `RequestRejected` for any broken rule: the request
    then fails as a whole.
    """
    changes = _changes(request, confirmed)
    fagsystem = request.sak_key.fagsystem.value
    sak_id = request.sak_key.sak_id
    vedtaksdato = request.vedtakstidspunkt.date()

    linjer: list[Linje] = []
    by_fagområde: dict[str, tuple[list[Linje], list[Utbetaling]]] = {}

    def add(kind: LinjeKind, u: Utbetaling, periode: Periode, ref: str | None, opphør: date | None, lid: str) -> None:
        linje = Linje(
            kind=kind,
            uid=u.uid,
            delytelse_id=lid,
            ref_delytelse_id=ref,
            klassekode=u.stønad.klassekode,
            periodetype=u.stønad.periodetype,
            periode=periode,
            opphør_fom=opphør,
            vedtaksdato=vedtaksdato,
            saksbehandler=request.saksbehandler,
            beslutter=request.beslutter,
            utbetales_til=request.ident,
            henvisning=request.behandling_id,
        )
        linjer.append(linje)
        by_fagområde.setdefault(u.stønad.fagområde, ([], []))[0].append(linje)

    for ch in changes:
        tail = ch.prev_tail
        if ch.opphør_fom is not None:
            if tail is None:  # an active confirmed utbetaling always has a tail
                raise RequestRejected(500, ErrorCode.INTERNAL_ERROR, f"utbetaling {ch.after.uid} has no chain tail")
            add(LinjeKind.OPPH, ch.after, tail.periode, None, ch.opphør_fom, tail.delytelse_id)
        for periode in ch.nye:
            lid = delytelse_id(fagsystem, sak_id, seq, len(linjer))
            add(LinjeKind.NY, ch.after, periode, tail.delytelse_id if tail else None, None, lid)
            tail = Tail(lid, periode)
        by_fagområde.setdefault(ch.after.stønad.fagområde, ([], []))[1].append(_with(ch.after, ch.after.action, tail))

    # AAP's avvent: compared with what OS last accepted for the fagområde (settled rule 9).
    new_avvent = request.avvent
    if new_avvent is not None:
        fagområder = {u.stønad.fagområde for u in request.utbetalinger} | {
            u.stønad.fagområde for u in confirmed.values()
        }
        for fagområde in fagområder:
            if (avvent or {}).get(fagområde) != new_avvent:
                by_fagområde.setdefault(fagområde, ([], []))

    if len(linjer) > MAX_LINJER:
        raise RequestRejected(
            400,
            ErrorCode.OPPDRAG_TOO_LARGE,
            f"the Oppdrag would have {len(linjer)} lines; at most {MAX_LINJER} fit in one Oppdrag",
        )

    # The record's time, to the millisecond, plus the sak's plan count in microseconds: every
    # Oppdrag of a sak is then unique in what its kvittering echoes, even a resend identical in
    # lines to one OS rejected (opphør lines reuse the tail's id). Two Oppdrag of one plan differ
    # in fagområde.
    base, step = request.avstemming or request.vedtakstidspunkt, timedelta(microseconds=seq % 1000)
    # At the very end of the calendar (9999-12-31T23:59:59.999) the step goes backwards instead.
    avstemming = base + step if base <= datetime.max - step else base - step
    parts: list[Part] = []
    for fagområde in sorted(by_fagområde):
        lines, pending = by_fagområde[fagområde]
        if not lines and new_avvent is None:
            continue
        betalende = next((ln.periode.betalende_enhet for ln in lines if ln.periode.betalende_enhet), None)
        oppdrag = Oppdrag(
            kode_endring="ENDR" if fagområde in accepted else "NY",
            fagområde=fagområde,
            fagsystem_id=sak_id,
            utbet_frekvens=request.utbet_frekvens,
            oppdrag_gjelder_id=request.ident,
            saksbehandler=request.saksbehandler,
            avstemming=avstemming,
            betalende_enhet=betalende,
            linjer=tuple(lines),
            avvent=new_avvent,
        )
        parts.append(Part(oppdrag, tuple(pending)))
    return Plan(tuple(parts))
