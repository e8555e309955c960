"""A producer that never loses a record silently.

Every record is either acknowledged by all in-sync replicas or reported by `flush_or_raise`.
Error messages name topics and partitions, never keys or values.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from helved.config import Settings
from helved.kafka.admin import LIBRDKAFKA_LOG
from helved.records import OutRecord

log = logging.getLogger(__name__)

PRODUCER_CONFIG: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    # Same partitioner as the Java client, so a key lands where a Java producer would put it.
    "partitioner": "murmur2_random",
}

_MAX_REPORTED = 5


class DeliveryFailed(RuntimeError):
    """At least one record was not delivered."""


class ReliableProducer:
    """An idempotent, `acks=all` producer of `OutRecord`s that raises on any undelivered record.

    Use `send` for each record, then `flush_or_raise` before acknowledging the input that
    produced them. Not thread-safe; one per sink partition.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        extra_config: Mapping[str, Any] | None = None,
        buffer_timeout_s: float = 30.0,
    ) -> None:
        self._errors: list[str] = []
        self._failed = 0
        self._buffer_timeout_s = buffer_timeout_s
        config: dict[str, Any] = {
            **settings.kafka_client_config(),
            **(extra_config or {}),  # tuning only: the delivery guarantees below always win
            **PRODUCER_CONFIG,
            "logger": LIBRDKAFKA_LOG,
            "error_cb": self._on_error,
        }
        self._producer = Producer(config)

    def __repr__(self) -> str:
        return f"ReliableProducer(pending={len(self._producer)}, failed={self._failed})"

    def _on_delivery(self, error: KafkaError | None, msg: Message) -> None:
        if error is not None:
            self._record(f"{msg.topic()}[{msg.partition()}]: {error.str()}")

    def _on_error(self, error: KafkaError) -> None:
        # Connection trouble is retried by librdkafka and shows up as delivery timeouts;
        # a fatal error (idempotence broken) makes the producer unusable.
        if error.fatal():
            self._record(f"fatal producer error: {error.str()}")

    def _record(self, description: str) -> None:
        self._failed += 1
        if len(self._errors) < _MAX_REPORTED:
            self._errors.append(description)

    @property
    def pending(self) -> int:
        """Records handed over and not yet acknowledged or failed."""
        return len(self._producer)

    def send(self, record: OutRecord) -> None:
        """Queue one record: key as UTF-8, headers, timestamp when given; `value=None` is a tombstone.

        Waits, bounded by `buffer_timeout_s`, while the local queue is full.
        """
        kwargs: dict[str, Any] = {
            "topic": record.topic,
            "key": None if record.key is None else record.key.encode("utf-8"),
            "value": record.value,
            "headers": list(record.headers),
            "on_delivery": self._on_delivery,
        }
        if record.timestamp_ms is not None:
            kwargs["timestamp"] = record.timestamp_ms
        deadline = time.monotonic() + self._buffer_timeout_s
        while True:
            try:
                self._producer.produce(**kwargs)
                break
            except BufferError:
                if time.monotonic() >= deadline:
                    raise DeliveryFailed(
                        f"local producer queue still full after {self._buffer_timeout_s:g} s "
                        f"({len(self._producer)} records pending to {record.topic})"
                    ) from None
                self._producer.poll(0.1)
            except KafkaException as e:
                reason = e.args[0].str()
                raise DeliveryFailed(f"cannot produce to {record.topic}: {reason}") from None
        self._producer.poll(0)

    def flush_or_raise(self, timeout_s: float = 30.0) -> None:
        """Wait until every queued record is acknowledged; raise `DeliveryFailed` otherwise.

        Raises if any record failed since the last call, or if records are still pending after
        `timeout_s`. The errors reported are cleared, so the producer can be used again.
        """
        remaining = self._producer.flush(timeout_s)
        if not self._failed and remaining == 0:
            return
        problems = list(self._errors)
        if self._failed > len(problems):
            problems.append(f"... {self._failed - len(problems)} more")
        if remaining:
            problems.append(f"{remaining} records not acknowledged within {timeout_s:g} s")
        self._errors.clear()
        self._failed = 0
        raise DeliveryFailed("records not delivered: " + "; ".join(problems))

    def close(self, timeout_s: float = 30.0) -> None:
        """Flush (raising `DeliveryFailed` like `flush_or_raise`), then drop anything left over."""
        try:
            self.flush_or_raise(timeout_s)
        finally:
            if len(self._producer):
                # Purge, so destroying the producer does not wait for undeliverable records.
                self._producer.purge()
                self._producer.poll(0)

    def __enter__(self) -> ReliableProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._producer.purge()
            self._producer.poll(0)
