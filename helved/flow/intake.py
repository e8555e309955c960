"""The intake stage: any input record to its sak's event, or answered at once (spec §2, §11).

- `intake`: a record of an input topic -> `(sak key, Event)`, or FEILET + DLQ records, or a
  DLQ record alone;
- `to_intake` / `from_intake`: a sak's event as a record of the intake topic (keyed by the
  sak, so one partition holds each sak's events in one durable order) and back.

Every input record yields at least one output record (`helved replay` relies on it).
"""

from __future__ import annotations

import logging

import orjson

from helved import fagsystemer
from helved.config import Topics
from helved.domain.model import Fagsystem, Request, SakKey, Source, StatusKind
from helved.domain.sak import DeadLetter, Error, StatusOut
from helved.errors import DlqReason, ErrorCode, ReceiptRejected, RequestRejected
from helved.oppdrag.xml import parse_kvittering
from helved.oslo import record_time
from helved.records import InRecord, OutRecord

from .config import FlowConfig
from .encode import record_of
from .events import Event, ReceiptEvent, RequestEvent, Routed, source_of
from .incremental import RAW_PARSERS

# The logger keeps the name of the module this code grew in: log lines read as before.
log = logging.getLogger("helved.pipeline")

# Headers the intake stage adds to a record it writes to the intake topic (after the input's
# own headers, in this order): where the record was read, so the sak step reads it as it was.
INTAKE_HEADERS = ("intake-topic", "intake-partition", "intake-offset", "intake-key", "intake-timestamp")


def intake(config: FlowConfig, rec: InRecord) -> list[Routed]:
    """Any input record to its sak, or answered at once (spec §2): receipts to `kvittering`,
    requests to `request`; a request without a key and a record of a topic that is no input
    go to the DLQ unanswered, never to a parser."""
    if rec.topic == config.topics.kvittering:
        return kvittering(config.topics, rec)
    fagsystem = config.inputs.get(rec.topic)
    if fagsystem is not None:
        if not rec.key:
            log.warning("request %s[%d]@%d to the DLQ: no key", rec.topic, rec.partition, rec.offset)
            return _dlq_only(config.topics, rec, DlqReason.MISSING_KEY, "a request needs a key to be answered")
        return request(config.topics, rec, fagsystem)
    log.warning("record %s[%d]@%d to the DLQ: not an input topic", rec.topic, rec.partition, rec.offset)
    return _dlq_only(config.topics, rec, DlqReason.UNKNOWN_TOPIC, f"{rec.topic!r} is not an input topic of helved")


def request(topics: Topics, rec: InRecord, fagsystem: Fagsystem) -> list[Routed]:
    """A request record of `fagsystem` -> its sak's request event, read by the fagsystem's own
    parser, or FEILET + the raw record on the DLQ."""
    src = source_of(rec)
    fast = _parse_raw(fagsystem, rec, src)
    if fast is not None:
        return [(fast.sak_key.as_json_text(), RequestEvent(fast))]
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
        req = parse(value, original_key=rec.key, avstemming=avstemming, source=src)
    except RequestRejected as err:
        log.info("rejected %s[%d]@%d: %s", rec.topic, rec.partition, rec.offset, err.code.value)
        return _rejected(topics, rec, src, fagsystem, err, dryrun)
    except Exception as exc:  # a bug: never stop the pipeline, keep the record
        log.exception("bug while reading %s[%d]@%d", rec.topic, rec.partition, rec.offset)
        bug = RequestRejected(500, ErrorCode.INTERNAL_ERROR, type(exc).__name__)
        return _rejected(topics, rec, src, fagsystem, bug, dryrun)
    return [(req.sak_key.as_json_text(), RequestEvent(req))]


def _parse_raw(fagsystem: Fagsystem, rec: InRecord, src: Source) -> Request | None:
    """The request read from the record's bytes by the fagsystem's incremental reader, when it
    has one and it can (`helved.flow.incremental`): the same `Request` the full path in `request`
    gives. None: take the full path."""
    parse_raw = RAW_PARSERS.get(fagsystem)
    if parse_raw is None or rec.value is None:
        return None
    try:
        avstemming = record_time(rec.timestamp_ms)
    except Exception:
        return None
    return parse_raw(rec.value, original_key=rec.key, avstemming=avstemming, source=src)


def kvittering(topics: Topics, rec: InRecord) -> list[Routed]:
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
        return [record_of(topics, DeadLetter(src, err.reason, err.detail), rec)]
    key = SakKey(kv.fagsystem_id, fagsystem).as_json_text()
    return [(key, ReceiptEvent(kv, src, key, record_time(rec.timestamp_ms)))]


def _rejected(
    topics: Topics, rec: InRecord, src: Source, fagsystem: Fagsystem, err: RequestRejected, dryrun: bool
) -> list[Routed]:
    status = StatusOut(
        rec.key, fagsystem, StatusKind.FEILET, error=Error(err.status_code, err.msg, err.doc), simulering=dryrun
    )
    return [record_of(topics, status, rec), record_of(topics, DeadLetter(src, err.code.value, err.detail), rec)]


def _dlq_only(topics: Topics, rec: InRecord, reason: str, detail: str) -> list[Routed]:
    return [record_of(topics, DeadLetter(source_of(rec), reason, detail), rec)]


# -- the intake topic: a sak's inputs in one durable order (spec §11) ---------------------------


def to_intake(topics: Topics, item: tuple[str, Event]) -> OutRecord:
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
    return OutRecord(topics.intake, key, src.value, hs, src.timestamp_ms)


def from_intake(config: FlowConfig, rec: InRecord) -> list[Routed]:
    """A record of the intake topic back to its sak's event, read as the input it was."""
    original = _original_of(rec)
    if original is None:
        return _dlq_only(
            config.topics, rec, "NOT_AN_INTAKE_RECORD", "the intake topic holds a record helved did not write"
        )
    return intake(config, original)


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
