"""JSON shapes on helved's topics (spec §2, §8), encoded with orjson.

Encoders build plain dicts in a fixed key order and let orjson write them, so the bytes are
stable across runs and machines.
"""

from __future__ import annotations

from typing import Any

import orjson

from helved.domain.model import LinjeKind, Oppdrag, Periode, SakKey, StatusKind, Tail, Utbetaling
from helved.domain.sak import Error, StatusOut


def _periode(p: Periode) -> dict[str, Any]:
    return {
        "fom": p.fom.isoformat(),
        "tom": p.tom.isoformat(),
        "beløp": p.beløp,
        "vedtakssats": p.vedtakssats,
        "betalendeEnhet": p.betalende_enhet,
    }


def _tail(t: Tail | None) -> dict[str, Any] | None:
    if t is None:
        return None
    return {"delytelseId": t.delytelse_id, **_periode(t.periode)}


def utbetaling_dict(u: Utbetaling) -> dict[str, Any]:
    return {
        "uid": u.uid,
        "sakId": u.sak_id,
        "fagsystem": u.fagsystem.value,
        "behandlingId": u.behandling_id,
        "ident": u.ident,
        "stønad": u.stønad.name,
        "klassekode": u.stønad.klassekode,
        "fagområde": u.stønad.fagområde,
        "periodetype": u.stønad.periodetype.value,
        "vedtakstidspunkt": u.vedtakstidspunkt.isoformat(),
        "saksbehandler": u.saksbehandler,
        "beslutter": u.beslutter,
        "action": u.action.value if u.action else None,
        "perioder": [_periode(p) for p in u.perioder],
        "sisteLinje": _tail(u.tail),
    }


def encode_utbetaling(u: Utbetaling) -> bytes:
    return orjson.dumps(utbetaling_dict(u))


def detaljer(oppdrag: Oppdrag, ytelse: str, more: tuple[Oppdrag, ...] = ()) -> dict[str, Any]:
    """`detaljer` of a status: the lines of the request's Oppdrag (`oppdrag`, then `more` when
    it sends one per fagområde) sorted by fom, beløp 0 on opphør lines.

    An opphør line is shown from its `datoStatusFom` to the end of the line it stops.
    """
    linjer: list[dict[str, Any]] = []  # JSON objects; "fom" is an ISO date, the sort key
    for ln in (ln for o in (oppdrag, *more) for ln in o.linjer):
        opph = ln.kind is LinjeKind.OPPH
        fom = ln.opphør_fom if opph and ln.opphør_fom else ln.periode.fom
        linjer.append(
            {
                "behandlingId": ln.henvisning,
                "fom": fom.isoformat(),
                "tom": ln.periode.tom.isoformat(),
                "vedtakssats": ln.periode.vedtakssats,
                "beløp": 0 if opph else ln.periode.beløp,
                "klassekode": ln.klassekode,
            }
        )
    linjer.sort(key=lambda d: d["fom"])  # stable: equal foms keep Oppdrag order
    return {"ytelse": ytelse, "linjer": linjer}


def status_dict(s: StatusOut) -> dict[str, Any]:
    error = Error(s.error.status_code, s.error.msg, s.error.doc) if s.error is not None else None
    detaljer_ = detaljer(s.oppdrag, s.fagsystem.value, s.more_oppdrag) if s.oppdrag is not None else None
    return _status(s.status, detaljer_, error, s.simulering)


def _status(
    kind: StatusKind, detaljer_: dict[str, Any] | None, error: Error | None, simulering: bool
) -> dict[str, Any]:
    """The one shape of a status record's value (spec domain.md §8)."""
    return {
        "status": kind.value,
        "detaljer": detaljer_,
        "error": {"statusCode": error.status_code, "msg": error.msg, "doc": error.doc} if error is not None else None,
        "simulering": simulering,
    }


def encode_status(s: StatusOut) -> bytes:
    return orjson.dumps(status_dict(s))


def encode_verdict(kind: StatusKind, *, error: Error | None = None, simulering: bool = False) -> bytes:
    """A status without detaljer, as the OS side writes them (HOS_OPPDRAG, a dryrun's verdict)."""
    return orjson.dumps(_status(kind, None, error, simulering))


def encode_saker(uids: tuple[str, ...]) -> bytes:
    return orjson.dumps(list(uids))


def sak_key_text(key: SakKey) -> str:
    return key.as_json_text()
