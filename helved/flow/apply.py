"""The sak step: one sak's state and one event -> its new state and the records to produce.

The domain decides (`on_request`, `on_receipt`: pure `(state, event) -> (state, outputs)`);
this stage only guards it and carries the decision out:

1. an event the sak applied before (an input the intake stage read again after a crash)
   changes nothing and produces nothing;
2. the domain transition, its outputs encoded as records (`encode`); a bug in either is FEILET
   500 (for a request) and a dead letter, the state untouched: never a stopped dataflow;
3. the event marked applied on the new state (its topic partition's mark);
4. with `changelog`, the sak's new state as the last record (`topics.sak_state`).
"""

from __future__ import annotations

import logging

from helved.domain.model import Source, StatusKind
from helved.domain.sak import (
    DeadLetter,
    Error,
    SakState,
    StatusOut,
    already_applied,
    mark_applied,
    on_receipt,
    on_request,
)
from helved.errors import ErrorCode
from helved.metrics import METRICS
from helved.records import OutRecord
from helved.statelog import encode_state

from .config import FlowConfig
from .encode import encode, headers, timestamp
from .events import Event, RequestEvent

# The logger keeps the name of the module this code grew in: log lines read as before.
log = logging.getLogger("helved.pipeline")


def apply(config: FlowConfig, state: SakState | None, event: Event) -> tuple[SakState | None, list[OutRecord]]:
    """One event for one sak (the numbered steps of the module docstring)."""
    src = event.source
    if already_applied(state, src):  # 1.
        log.debug("replayed %s already applied to %s", src, event.sak_key)
        return state, []
    new_state, out = _transition(config, state, event)  # 2.
    if new_state is not None:
        new_state = mark_applied(new_state, src)  # 3.
        if config.changelog:
            out.append(_state_record(config, new_state, src))  # 4.
    return new_state, out


def _state_record(config: FlowConfig, state: SakState, cause: Source | None) -> OutRecord:
    key = state.sak_key.as_json_text()
    return OutRecord(config.topics.sak_state, key, encode_state(state), headers(cause), timestamp(cause))


def _transition(config: FlowConfig, state: SakState | None, event: Event) -> tuple[SakState | None, list[OutRecord]]:
    topics = config.topics
    new_state: SakState | None
    if isinstance(event, RequestEvent):
        src = event.request.source
        try:
            new_state, outputs = on_request(state, event.request)
            return new_state, encode(topics, outputs, src)
        except Exception as exc:  # a bug: FEILET 500, the record kept, the state untouched
            req = event.request
            log.exception("bug on request for %s", req.sak_key.as_json_text())
            err = Error(500, f"{ErrorCode.INTERNAL_ERROR.value}: {type(exc).__name__}", None)
            return state, encode(
                topics,
                [
                    StatusOut(req.original_key, req.sak_key.fagsystem, StatusKind.FEILET, error=err),
                    DeadLetter(src, ErrorCode.INTERNAL_ERROR.value, type(exc).__name__),
                ],
                src,
            )
    try:
        new_state, outputs = on_receipt(state, event.kvittering, event.source, event.at)
        records = encode(topics, outputs, event.source)
    except Exception as exc:
        log.exception("bug on kvittering %s", event.source)
        return state, encode(
            topics, [DeadLetter(event.source, ErrorCode.INTERNAL_ERROR.value, type(exc).__name__)], event.source
        )
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
    return new_state, records
