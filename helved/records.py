"""The records that cross helved's edge: what comes in from a topic and what goes out to one.

These are plain values with no Kafka or Bytewax types in them, so the same pipeline code runs
over a real broker, over `helved replay`'s JSONL file, and in tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class InRecord:
    """One record read from an input topic."""

    topic: str
    key: str | None
    value: bytes | None
    headers: Headers = ()
    partition: int = 0
    offset: int = 0
    timestamp_ms: int | None = None

    def header(self, name: str) -> bytes | None:
        return _header(self.headers, name)


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One record to be produced. `value=None` is a tombstone."""

    topic: str
    key: str | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int | None = None

    def header(self, name: str) -> bytes | None:
        return _header(self.headers, name)


def _header(headers: Headers, name: str) -> bytes | None:
    """The first header called `name`."""
    for k, v in headers:
        if k == name:
            return v
    return None


class Place(Protocol):
    """Where a record was read: an `InRecord`, or the domain's `Source` of one."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


def provenance(rec: Place) -> Headers:
    """Headers that let a consumer recognise an output replayed after a crash: where the
    input that caused it was read."""
    return (
        ("src-topic", rec.topic.encode()),
        ("src-partition", str(rec.partition).encode()),
        ("src-offset", str(rec.offset).encode()),
    )
