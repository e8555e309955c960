"""Records in, records out: the pure glue between topics and the domain.

The dataflow (`dataflows/helved_flow.py`) wires these functions into Bytewax operators and adds
nothing of its own, so everything here is tested without Bytewax or Kafka:

- `Pipeline.split`: a dagpenger record -> `(sak key, RequestEvent)`, or FEILET + DLQ records;
- `Pipeline.kvittering`: a kvittering record -> `(sak key, ReceiptEvent)`, or a DLQ record;
- `Pipeline.apply`: one sak's state and one event -> new state and the records to produce.

Every input record yields at least one output record (`helved replay` relies on it).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson

from helved import codec
from helved.config import Topics
from helved import fagsystemer
from helved.domain.model import Fagsystem, Kvittering, Request, SakKey, Source, StatusKind
from helved.domain.sak import (
    ConfirmedOut,
    DeadLetter,
    Error,
    NoChangeOut,
    OppdragOut,
    Output,
    PendingCleared,
    PendingOut,
    SakerOut,
    SakState,
    SimuleringOut,
    StatusOut,
    already_applied,
    mark_applied,
    on_receipt,
    on_request,
)
from helved.errors import DlqReason, ErrorCode, ReceiptRejected, RequestRejected
from helved.metrics import METRICS
from helved.statelog import encode_state

from helved.oppdrag.simulering import simulering_xml
from helved.oppdrag.xml import oppdrag_xml, parse_kvittering
from helved.records import Headers, InRecord, OutRecord, provenance

log = logging.getLogger("helved.pipeline")

OSLO = ZoneInfo("Europe/Oslo")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RequestEvent:
    request: Request

    @property
    def source(self) -> Source | None:
        return self.request.source

    @property
    def sak_key(self) -> str:
        return self.request.sak_key.as_json_text()


@dataclass(frozen=True, slots=True)
class ReceiptEvent:
    kvittering: Kvittering
    source: Source
    sak_key: str
    # The receipt record's time (Europe/Oslo wall time): releases waiting requests (spec §11).
    at: datetime | None = None


Event = RequestEvent | ReceiptEvent
Routed = tuple[str, Event] | OutRecord


def oslo_wall_time(timestamp_ms: int) -> datetime:
    """A record timestamp as Europe/Oslo wall time (no float rounding)."""
    return (EPOCH + timedelta(milliseconds=timestamp_ms)).astimezone(OSLO).replace(tzinfo=None)


# Record timestamps outside these years are ignored as if missing (spec §11): they would write
# a malformed avstemming key, or not fit a datetime at all.
_FIRST_YEAR, _LAST_YEAR = 1900, 9999


def record_time(timestamp_ms: int | None) -> datetime | None:
    """A record's timestamp as Europe/Oslo wall time, or None when it has none we can use."""
    if timestamp_ms is None:
        return None
    try:
        t = oslo_wall_time(timestamp_ms)
    except (OverflowError, ValueError):
        return None
    return t if _FIRST_YEAR <= t.year <= _LAST_YEAR else None


# What a DLQ record keeps of its input (spec §12): the value only when it fits, else a digest
# and the size; the error header and the input's headers within bounds. The producer's message
# limit (`helved.kafka.producer.MAX_MESSAGE_BYTES`) is 1,000,000 bytes.
DLQ_VALUE_LIMIT = 512 * 1024
DLQ_HEADERS_LIMIT = 64 * 1024
DLQ_ERROR_LIMIT = 1000

# Headers the intake stage adds to a record it writes to the intake topic (after the input's
# own headers, in this order): where the record was read, so the sak step reads it as it was.
INTAKE_HEADERS = ("intake-topic", "intake-partition", "intake-offset", "intake-key", "intake-timestamp")


def source_of(rec: InRecord) -> Source:
    return Source(rec.topic, rec.partition, rec.offset, rec.key, rec.timestamp_ms, rec.value, rec.headers)


class Pipeline:
    """The record-level behaviour of helved for one set of topic names."""

    def __init__(self, topics: Topics, *, changelog: bool = False) -> None:
        self.topics = topics
        # Write the sak's state to `topics.sak_state` after every event it applies (the
        # changelog the state is restored from when a recovery volume is lost).
        self.changelog = changelog
        self._inputs = topics.inputs()  # input topic -> fagsystem
        self._encoders: dict[type, Callable[..., Iterable[OutRecord]]] = {
            StatusOut: self._status,
            OppdragOut: self._oppdrag,
            SimuleringOut: self._simulering,
            NoChangeOut: self._no_change,
            PendingOut: self._pending,
            PendingCleared: self._pending_cleared,
            ConfirmedOut: self._confirmed,
            SakerOut: self._saker,
            DeadLetter: self._dead_letter,
        }

    # -- intake --------------------------------------------------------------------------------

    def intake(self, rec: InRecord) -> list[Routed]:
        """Any input record to its sak, or answered at once (spec §2): receipts to
        `kvittering`, requests to `split`; a request without a key and a record of a topic
        that is no input go to the DLQ unanswered, never to a parser."""
        if rec.topic == self.topics.kvittering:
            return self.kvittering(rec)
        fagsystem = self._inputs.get(rec.topic)
        if fagsystem is not None:
            if not rec.key:
                log.warning("request %s[%d]@%d to the DLQ: no key", rec.topic, rec.partition, rec.offset)
                return self._dlq_only(rec, DlqReason.MISSING_KEY, "a request needs a key to be answered")
            return self.split(rec, fagsystem)
        log.warning("record %s[%d]@%d to the DLQ: not an input topic", rec.topic, rec.partition, rec.offset)
        return self._dlq_only(rec, DlqReason.UNKNOWN_TOPIC, f"{rec.topic!r} is not an input topic of helved")

    def _dlq_only(self, rec: InRecord, reason: str, detail: str) -> list[Routed]:
        return list(self._dead_letter(DeadLetter(source_of(rec), reason, detail), rec))

    # -- the intake topic: a sak's inputs in one durable order (spec §11) -----------------------

    def to_intake(self, item: tuple[str, Event]) -> OutRecord:
        """A sak's event as a record of the intake topic, keyed (and so partitioned) by the sak:
        the input record as it was read, with where it was read in `INTAKE_HEADERS`."""
        key, event = item
        src = event.source
        assert src is not None, "events read from a topic have a source"
        hs = src.headers + (
            ("intake-topic", src.topic.encode()),
            ("intake-partition", str(src.partition).encode()),
            ("intake-offset", str(src.offset).encode()),
            ("intake-key", b"" if src.key is None else b"k" + src.key.encode()),
            ("intake-timestamp", b"" if src.timestamp_ms is None else str(src.timestamp_ms).encode()),
        )
        return OutRecord(self.topics.intake, key, src.value, hs, src.timestamp_ms)

    def from_intake(self, rec: InRecord) -> list[Routed]:
        """A record of the intake topic back to its sak's event, read as the input it was."""
        original = _original_of(rec)
        if original is None:
            return self._dlq_only(rec, "NOT_AN_INTAKE_RECORD", "the intake topic holds a record helved did not write")
        return self.intake(original)

    def split(self, rec: InRecord, fagsystem: Fagsystem) -> list[Routed]:
        """A request record of `fagsystem` -> its sak's request event, read by the fagsystem's
        own parser, or FEILET + the raw record on the DLQ."""
        src = source_of(rec)
        parse = fagsystemer.contract(fagsystem).parse
        dryrun = False
        try:
            if rec.value is None:
                raise RequestRejected(400, ErrorCode.INVALID_JSON, "the record has no value")
            try:
                value = orjson.loads(rec.value)
            except orjson.JSONDecodeError as exc:
                raise RequestRejected(400, ErrorCode.INVALID_JSON, f"not JSON: {exc.msg}") from exc
            dryrun = isinstance(value, dict) and value.get("dryrun") is True
            avstemming = record_time(rec.timestamp_ms)
            request = parse(value, original_key=rec.key, avstemming=avstemming, source=src)
        except RequestRejected as err:
            log.info("rejected %s[%d]@%d: %s", rec.topic, rec.partition, rec.offset, err.code.value)
            return self._rejected(rec, src, fagsystem, err, dryrun)
        except Exception as exc:  # a bug: never stop the pipeline, keep the record
            log.exception("bug while reading %s[%d]@%d", rec.topic, rec.partition, rec.offset)
            err = RequestRejected(500, ErrorCode.INTERNAL_ERROR, type(exc).__name__)
            return self._rejected(rec, src, fagsystem, err, dryrun)
        return [(request.sak_key.as_json_text(), RequestEvent(request))]

    def kvittering(self, rec: InRecord) -> list[Routed]:
        """A kvittering record -> its sak's receipt event, or the DLQ."""
        src = source_of(rec)
        try:
            if rec.value is None:
                raise ReceiptRejected("NOT_A_RECEIPT", "the record has no value")
            kv = parse_kvittering(rec.value)
            try:
                fagsystem = fagsystemer.fagsystem_for_fagområde(kv.fagområde)
            except KeyError:
                raise ReceiptRejected("NOT_A_RECEIPT", f"unknown fagområde {kv.fagområde!r}") from None
        except ReceiptRejected as err:
            log.warning("kvittering %s[%d]@%d to the DLQ: %s", rec.topic, rec.partition, rec.offset, err.reason)
            return list(self._dead_letter(DeadLetter(src, err.reason, err.detail), rec))
        key = SakKey(kv.fagsystem_id, fagsystem).as_json_text()
        return [(key, ReceiptEvent(kv, src, key, record_time(rec.timestamp_ms)))]

    def _rejected(
        self, rec: InRecord, src: Source, fagsystem: Fagsystem, err: RequestRejected, dryrun: bool
    ) -> list[Routed]:
        status = StatusOut(
            rec.key, fagsystem, StatusKind.FEILET, error=Error(err.status_code, err.msg, err.doc), simulering=dryrun
        )
        out: list[Routed] = list(self._status(status, rec))
        out.extend(self._dead_letter(DeadLetter(src, err.code.value, err.detail), rec))
        return out

    # -- the sak step --------------------------------------------------------------------------

    def apply(self, state: SakState | None, event: Event) -> tuple[SakState | None, list[OutRecord]]:
        """One event for one sak: the domain transition, its outputs encoded as records, then
        (with `changelog`) the sak's new state. An event the sak has applied before (an input
        the intake stage read again after a crash) changes nothing and produces nothing."""
        src = event.source
        if already_applied(state, src):
            log.debug("replayed %s already applied to %s", src, event.sak_key)
            return state, []
        new_state, out = self._transition(state, event)
        if new_state is not None:
            new_state = mark_applied(new_state, src)
            if self.changelog:
                out.append(self._state_record(new_state, src))
        return new_state, out

    def _state_record(self, state: SakState, cause: Source | None) -> OutRecord:
        key = state.sak_key.as_json_text()
        return OutRecord(self.topics.sak_state, key, encode_state(state), self._headers(cause), self._ts(cause))

    def _transition(self, state: SakState | None, event: Event) -> tuple[SakState | None, list[OutRecord]]:
        if isinstance(event, RequestEvent):
            src = event.request.source
            try:
                new_state, outputs = on_request(state, event.request)
            except Exception as exc:  # a bug: FEILET 500, the record kept, the state untouched
                req = event.request
                log.exception("bug on request for %s", req.sak_key.as_json_text())
                err = Error(500, f"{ErrorCode.INTERNAL_ERROR.value}: {type(exc).__name__}", None)
                return state, self.encode(
                    [
                        StatusOut(req.original_key, req.sak_key.fagsystem, StatusKind.FEILET, error=err),
                        DeadLetter(src, ErrorCode.INTERNAL_ERROR.value, type(exc).__name__),
                    ],
                    src,
                )
            return new_state, self.encode(outputs, src)
        try:
            new_state, outputs = on_receipt(state, event.kvittering, event.source, event.at)
        except Exception as exc:
            log.exception("bug on kvittering %s", event.source)
            return state, self.encode([DeadLetter(event.source, ErrorCode.INTERNAL_ERROR.value, type(exc).__name__)], event.source)
        if not (len(outputs) == 1 and isinstance(outputs[0], DeadLetter)):  # matched, applied (metrics)
            METRICS.receipt_applied(event.sak_key, event.kvittering.alvorlighetsgrad)
        for o in outputs:
            if isinstance(o, DeadLetter):
                log.warning(
                    "kvittering %s[%d]@%d to the DLQ: %s",
                    event.source.topic,
                    event.source.partition,
                    event.source.offset,
                    o.reason,
                )
        return new_state, self.encode(outputs, event.source)

    # -- encoding ------------------------------------------------------------------------------

    def encode(self, outputs: Iterable[Output], cause: Source | InRecord | None) -> list[OutRecord]:
        out: list[OutRecord] = []
        for o in outputs:
            out.extend(self._encoders[type(o)](o, cause))
        return out

    @staticmethod
    def _headers(cause: Source | InRecord | None, *pairs: tuple[str, str | None]) -> Headers:
        hs: list[tuple[str, bytes]] = [(k, v.encode()) for k, v in pairs if v is not None]
        if cause is not None:
            hs.extend(provenance(cause))  # type: ignore[arg-type]
        return tuple(hs)

    @staticmethod
    def _ts(cause: Source | InRecord | None) -> int | None:
        return cause.timestamp_ms if cause is not None else None

    def _status(self, s: StatusOut, cause: Source | InRecord | None) -> Iterable[OutRecord]:
        hs = self._headers(cause, ("original-key", s.original_key), ("fagsystem", s.fagsystem.value))
        METRICS.status(s.fagsystem.value, s.status.value, s.status is StatusKind.MOTTATT and s.oppdrag is None)
        yield OutRecord(self.topics.status, s.original_key, codec.encode_status(s), hs, self._ts(cause))

    def _oppdrag(self, o: OppdragOut, cause: Source | InRecord | None) -> Iterable[OutRecord]:
        hs = self._headers(
            cause,
            ("original-key", o.original_key),
            ("fagsystem", o.sak_key.fagsystem.value),
            ("sak", o.sak_key.as_json_text()),
            ("uids", ",".join(o.oppdrag.uids)),
        )
        METRICS.oppdrag_sent(o.sak_key.as_json_text(), o.sak_key.fagsystem.value, len(o.oppdrag.linjer))
        yield OutRecord(self.topics.oppdrag, o.original_key, oppdrag_xml(o.oppdrag), hs, self._ts(cause))

    def _simulering(self, o: SimuleringOut, cause: Source | InRecord | None) -> Iterable[OutRecord]:
        hs = self._headers(
            cause,
            ("original-key", o.original_key),
            ("fagsystem", o.sak_key.fagsystem.value),
            ("sak", o.sak_key.as_json_text()),
        )
        METRICS.simulering(o.sak_key.fagsystem.value)
        yield OutRecord(self.topics.simuleringer, o.original_key, simulering_xml(o.oppdrag), hs, self._ts(cause))

    def _no_change(self, o: NoChangeOut, cause: Source | InRecord | None) -> Iterable[OutRecord]:
        hs = self._headers(cause, ("original-key", o.original_key), ("fagsystem", o.fagsystem.value))
        value = orjson.dumps(
            {
                "@type": "info",
                "status": "OK_UTEN_ENDRING",
                "fagsystem": o.fagsystem.value,
                "message": "Ingen endring: forespørselen gir ingen linjer til Oppdrag",
            }
        )
        yield OutRecord(self.topics.dryrun(o.fagsystem), o.original_key, value, hs, self._ts(cause))

    def _pending(self, o: PendingOut, cause: Source | InRecord | None) -> Iterable[OutRecord]:
        hs = self._headers(cause, ("original-key", o.original_key), ("fagsystem", o.utbetaling.fagsystem.value))
        yield OutRecord(self.topics.pending, o.utbetaling.uid, codec.encode_utbetaling(o.utbetaling), hs, self._ts(cause))

    def _pending_cleared(self, o: PendingCleared, cause: Source | InRecord | None) -> Iterable[OutRecord]:
        yield OutRecord(self.topics.pending, o.uid, None, self._headers(cause), self._ts(cause))

    def _confirmed(self, o: ConfirmedOut, cause: Source | InRecord | None) -> Iterable[OutRecord]:
        hs = self._headers(cause, ("original-key", o.original_key), ("fagsystem", o.utbetaling.fagsystem.value))
        yield OutRecord(
            self.topics.utbetalinger, o.utbetaling.uid, codec.encode_utbetaling(o.utbetaling), hs, self._ts(cause)
        )

    def _saker(self, o: SakerOut, cause: Source | InRecord | None) -> Iterable[OutRecord]:
        hs = self._headers(cause, ("fagsystem", o.sak_key.fagsystem.value))
        yield OutRecord(self.topics.saker, o.sak_key.as_json_text(), codec.encode_saker(o.uids), hs, self._ts(cause))

    def _dead_letter(self, o: DeadLetter, cause: Source | InRecord | None) -> Iterable[OutRecord]:
        """The input as it was, within bounds: helved's error and provenance headers first,
        then the input's own headers (as many as fit), the value when it fits."""
        src = o.source
        METRICS.dead_letter(o.reason)
        error = f"{o.reason}: {o.detail}"
        if len(error) > DLQ_ERROR_LIMIT:
            error = error[: DLQ_ERROR_LIMIT - 1] + "…"
        hs: list[tuple[str, bytes]] = [("error", error.encode())]
        hs.extend(self._headers(cause))
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
        yield OutRecord(self.topics.dlq, key, value, tuple(hs), self._ts(cause))


def _original_of(rec: InRecord) -> InRecord | None:
    """The input record an intake record carries, or None if it is not one."""
    hs = rec.headers
    n = len(INTAKE_HEADERS)
    if len(hs) < n or tuple(name for name, _ in hs[-n:]) != INTAKE_HEADERS:
        return None
    topic, partition, offset, key, ts = (v for _, v in hs[-n:])
    try:
        return InRecord(
            topic=topic.decode(),
            key=key[1:].decode() if key else None,
            value=rec.value,
            headers=hs[:-n],
            partition=int(partition),
            offset=int(offset),
            timestamp_ms=int(ts) if ts else None,
        )
    except (UnicodeDecodeError, ValueError):
        return None
