"""The sak step's outputs as records: one `match` over the closed output union.

Every output helved produces passes through `record_of` exactly once, so this is where the
metrics count statuses, Oppdrag, simulations and dead letters (`helved.metrics`). Each record
carries the provenance of the input that caused it (`src-topic`, `src-partition`,
`src-offset`) and that input's timestamp.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import assert_never

import orjson

from helved import codec
from helved.config import Topics
from helved.domain.model import Source, StatusKind, Utbetaling
from helved.domain.sak import (
    ConfirmedOut,
    DeadLetter,
    NoChangeOut,
    OppdragOut,
    Output,
    PendingCleared,
    PendingOut,
    SakerOut,
    SimuleringOut,
    StatusOut,
)
from helved.metrics import METRICS
from helved.oppdrag.simulering import simulering_xml
from helved.oppdrag.xml import oppdrag_xml
from helved.records import Headers, InRecord, OutRecord, provenance

# What a DLQ record keeps of its input (spec §12): the value only when it fits, else a digest
# and the size; the error header and the input's headers within bounds. The producer's message
# limit (`helved.kafka.producer.MAX_MESSAGE_BYTES`) is 1,000,000 bytes.
DLQ_VALUE_LIMIT = 512 * 1024
DLQ_HEADERS_LIMIT = 64 * 1024
DLQ_ERROR_LIMIT = 1000

Cause = Source | InRecord | None


def encode(topics: Topics, outputs: Iterable[Output], cause: Cause) -> list[OutRecord]:
    """`outputs` as records, in order (the cause's provenance headers built once for all)."""
    prov = _provenance(cause)
    return [record_of(topics, o, cause, prov) for o in outputs]


def record_of(topics: Topics, o: Output, cause: Cause, prov: Headers | None = None) -> OutRecord:
    """One output as the record that carries it (and counted, where the metrics count it).
    `prov`: the cause's provenance headers when the caller has them already."""
    ts = timestamp(cause)
    if prov is None:
        prov = _provenance(cause)
    match o:
        case StatusOut():
            hs = _headers(prov, ("original-key", o.original_key), ("fagsystem", o.fagsystem.value))
            METRICS.status(o.fagsystem.value, o.status.value, o.status is StatusKind.MOTTATT and o.oppdrag is None)
            return OutRecord(topics.status, o.original_key, codec.encode_status(o), hs, ts)
        case OppdragOut():
            sak = o.sak_key.as_json_text()
            hs = _headers(
                prov,
                ("original-key", o.original_key),
                ("fagsystem", o.sak_key.fagsystem.value),
                ("sak", sak),
                ("uids", ",".join(o.oppdrag.uids)),
            )
            METRICS.oppdrag_sent(sak, o.sak_key.fagsystem.value, len(o.oppdrag.linjer))
            return OutRecord(topics.oppdrag, o.original_key, oppdrag_xml(o.oppdrag), hs, ts)
        case SimuleringOut():
            hs = _headers(
                prov,
                ("original-key", o.original_key),
                ("fagsystem", o.sak_key.fagsystem.value),
                ("sak", o.sak_key.as_json_text()),
            )
            METRICS.simulering(o.sak_key.fagsystem.value)
            return OutRecord(topics.simuleringer, o.original_key, simulering_xml(o.oppdrag), hs, ts)
        case NoChangeOut():
            hs = _headers(prov, ("original-key", o.original_key), ("fagsystem", o.fagsystem.value))
            return OutRecord(topics.dryrun(o.fagsystem), o.original_key, _no_change(o), hs, ts)
        case PendingOut():
            hs = _headers(prov, ("original-key", o.original_key), ("fagsystem", o.utbetaling.fagsystem.value))
            return OutRecord(topics.pending, o.utbetaling.uid, _utbetaling_json(o.utbetaling, keep=True), hs, ts)
        case PendingCleared():
            _SENT.pop(o.uid, None)
            return OutRecord(topics.pending, o.uid, None, prov, ts)
        case ConfirmedOut():
            hs = _headers(prov, ("original-key", o.original_key), ("fagsystem", o.utbetaling.fagsystem.value))
            return OutRecord(topics.utbetalinger, o.utbetaling.uid, _utbetaling_json(o.utbetaling), hs, ts)
        case SakerOut():
            hs = _headers(prov, ("fagsystem", o.sak_key.fagsystem.value))
            return OutRecord(topics.saker, o.sak_key.as_json_text(), codec.encode_saker(o.uids), hs, ts)
        case DeadLetter():
            METRICS.dead_letter(o.reason)
            return _dead_letter(topics, o, cause)
        case _:
            assert_never(o)


def headers(cause: Cause, *pairs: tuple[str, str | None]) -> Headers:
    """The named headers that have a value, then the cause's provenance."""
    return _headers(_provenance(cause), *pairs)


def _headers(prov: Headers, *pairs: tuple[str, str | None]) -> Headers:
    return tuple([(k, v.encode()) for k, v in pairs if v is not None]) + prov


def _provenance(cause: Cause) -> Headers:
    return provenance(cause) if cause is not None else ()


# An utbetaling's pending record (its Oppdrag sent) and its confirmed record (OS accepted it)
# carry the same value, the same object: its JSON is kept from the one to the other, by uid for
# that object only, and dropped when the pending record is cleared (accepted or rejected).
_SENT: dict[str, tuple[Utbetaling, bytes]] = {}


def _utbetaling_json(u: Utbetaling, keep: bool = False) -> bytes:
    sent = _SENT.get(u.uid)
    if sent is not None and sent[0] is u:
        return sent[1]
    value = codec.encode_utbetaling(u)
    if keep:
        _SENT[u.uid] = (u, value)
    return value


def timestamp(cause: Cause) -> int | None:
    """An output's timestamp: its cause's."""
    return cause.timestamp_ms if cause is not None else None


def _no_change(o: NoChangeOut) -> bytes:
    return orjson.dumps(
        {
            "@type": "info",
            "status": "OK_UTEN_ENDRING",
            "fagsystem": o.fagsystem.value,
            "message": "Ingen endring: forespørselen gir ingen linjer til Oppdrag",
        }
    )


def _dead_letter(topics: Topics, o: DeadLetter, cause: Cause) -> OutRecord:
    """The input as it was, within bounds: helved's error and provenance headers first, then
    the input's own headers (as many as fit), the value when it fits."""
    src = o.source
    error = f"{o.reason}: {o.detail}"
    if len(error) > DLQ_ERROR_LIMIT:
        error = error[: DLQ_ERROR_LIMIT - 1] + "…"
    hs: list[tuple[str, bytes]] = [("error", error.encode())]
    hs.extend(headers(cause))
    value = src.value if src is not None else None
    if value is not None and len(value) > DLQ_VALUE_LIMIT:
        digest = hashlib.sha256(value).hexdigest()
        hs.append(("value-dropped", f"{len(value)} bytes, sha256 {digest}".encode()))
        value = None
    budget = DLQ_HEADERS_LIMIT
    kept = src.headers if src is not None else ()
    for i, (name, v) in enumerate(kept):
        budget -= len(name) + len(v)
        if budget < 0:
            hs.append(("headers-dropped", f"{len(kept) - i} of {len(kept)}".encode()))
            break
        hs.append((name, v))
    key = src.key if src is not None else None
    return OutRecord(topics.dlq, key, value, tuple(hs), timestamp(cause))
