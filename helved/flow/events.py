"""What the intake stage hands the sak step: one sak's request or receipt, keyed by the sak."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from helved.domain.model import Kvittering, Request, Source
from helved.records import InRecord, OutRecord


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
# What the intake stage yields for one record: a sak's event under the sak's key, or a record
# answered at once (FEILET, DLQ).
Routed = tuple[str, Event] | OutRecord


def source_of(rec: InRecord) -> Source:
    """The domain's view of where a record was read (provenance and replay marks)."""
    return Source(rec.topic, rec.partition, rec.offset, rec.key, rec.timestamp_ms, rec.value, rec.headers)
