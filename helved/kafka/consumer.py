"""Reading helved's topics with confluent-kafka consumers: the one place a consumer is built and
a Kafka message becomes an `InRecord` (the CLI, the demo, the OS bridge, start-up, the dataflow's
Kafka input, tests).

    consumer, partitions_of, poll_batch   an assign-only consumer, its topics' partitions, a batch
    to_in_record                          a confluent-kafka or Bytewax connector message -> InRecord
    Follower, read_all                    topics from their beginning: as records arrive, or to the end

Consumers here use `assign()` (no consumer group: a group join on Tansu takes seconds) and find
the end of a partition from fetches (`enable.partition.eof`), never from the latest-offset
lookup, which Tansu answers too low. Topics are looked up in the metadata of *all* topics, never
by name, so a missing topic is reported instead of auto-created (Tansu auto-creates with 4
partitions).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Self

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from helved.config import Settings
from helved.errors import HelvedError
from helved.kafka.admin import LIBRDKAFKA_LOG, BrokerUnavailable
from helved.records import InRecord

if TYPE_CHECKING:
    from bytewax.connectors.kafka import KafkaError as SourceError
    from bytewax.connectors.kafka import KafkaSourceMessage

log = logging.getLogger(__name__)


class TopicMissing(HelvedError, RuntimeError):
    """A topic helved needs does not exist: run `helved topics ensure` (or `helved run`)."""


def consumer(settings: Settings, extra: Mapping[str, Any] | None = None) -> Consumer:
    """A consumer for `assign()`: no group membership, no offset commits, bounded fetch wait."""
    return Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": "helved-assign-only",  # librdkafka wants one; never joined or committed
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            # Tansu does not wake a waiting fetch when a record arrives: the fetch wait is the
            # latency there (HELVED_FETCH_WAIT_MS; librdkafka's default is 500 ms).
            "fetch.wait.max.ms": settings.fetch_wait_ms,
            # An offset out of range (a journal's offset against another broker, records gone by
            # retention) is an error, never a silent jump to the end (Kafka's default).
            "auto.offset.reset": "error",
            **(extra or {}),
            "logger": LIBRDKAFKA_LOG,
            # Never create a topic by reading it (the consumer default, made explicit).
            "allow.auto.create.topics": False,
        }
    )


def partitions_of(c: Consumer, topics: Iterable[str], timeout_s: float = 10.0) -> dict[str, list[int]]:
    """The partitions of each topic; raises `TopicMissing` or `BrokerUnavailable`."""
    try:
        metadata = c.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise BrokerUnavailable(f"no Kafka broker answered within {timeout_s:g} s: {exc.args[0].str()}") from None
    out: dict[str, list[int]] = {}
    for topic in topics:
        meta = metadata.topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            raise TopicMissing(f"topic {topic} does not exist; run `helved topics ensure`")
        out[topic] = sorted(meta.partitions)
    return out


def to_in_record(
    msg: Message | KafkaSourceMessage[bytes | None, bytes | None] | SourceError,
) -> InRecord:
    """A consumed message as helved's `InRecord`: a confluent-kafka `Message` (from `poll_batch`)
    or the Bytewax connector's message (the dataflow's input); raise on the connector's error.

    A key that is not valid UTF-8 has its undecodable bytes replaced (and a warning logged); a
    header without a value gets `b""`.
    """
    if isinstance(msg, Message):
        return _in_record(
            msg.topic(), msg.key(), msg.value(), msg.headers(), msg.partition(), msg.offset(), msg.timestamp()
        )
    from bytewax.connectors.kafka import KafkaError as SourceError

    if isinstance(msg, SourceError):
        raise RuntimeError(f"error consuming from {msg.msg.topic}: {msg.err}")
    return _in_record(msg.topic, msg.key, msg.value, msg.headers, msg.partition, msg.offset, msg.timestamp)


def _in_record(
    topic: str | None,
    key: bytes | str | None,
    value: bytes | str | None,
    headers: Any,  # (name, value) pairs, or None
    partition: int | None,
    offset: int | None,
    timestamp: tuple[int, int] | None,
) -> InRecord:
    text = key.decode("utf-8", errors="replace") if isinstance(key, bytes) else key
    if isinstance(key, bytes) and text is not None and "\ufffd" in text:
        log.warning("key of %s[%s]@%s is not valid UTF-8; undecodable bytes replaced", topic, partition, offset)
    ts_type, ts = timestamp if timestamp is not None else (0, 0)
    return InRecord(
        topic=topic or "",
        key=text,
        value=value,  # type: ignore[arg-type]  # bytes without a deserializer
        headers=tuple((name, value_ if isinstance(value_, bytes) else b"") for name, value_ in (headers or ())),
        partition=partition or 0,
        offset=offset or 0,
        # Type 0 is TIMESTAMP_NOT_AVAILABLE.
        timestamp_ms=ts if ts_type != 0 else None,
    )


def poll_batch(c: Consumer, timeout_s: float, max_records: int) -> list[Message]:
    """Wait up to `timeout_s` for a first message, then take what else is there at once.

    (`Consumer.consume(n, timeout)` waits for all `n` messages or the whole timeout.)
    """
    first = c.poll(timeout_s)
    if first is None:
        return []
    return [first, *c.consume(max_records - 1, 0)] if max_records > 1 else [first]


class Follower:
    """Every record of some topics from the beginning, then new ones as they arrive.

    `poll()` returns what arrived (possibly nothing); `at_end` is true when every partition
    has reported its end since its last record.
    """

    def __init__(self, settings: Settings, topics: Iterable[str], *, timeout_s: float = 10.0) -> None:
        self._consumer = consumer(settings)
        try:
            parts = partitions_of(self._consumer, topics, timeout_s)
        except BaseException:
            self._consumer.close()
            raise
        assignment = [TopicPartition(t, p, OFFSET_BEGINNING) for t, ps in parts.items() for p in ps]
        self._all = {(tp.topic, tp.partition) for tp in assignment}
        self._at_eof: set[tuple[str, int]] = set()
        self._consumer.assign(assignment)

    @property
    def at_end(self) -> bool:
        return self._at_eof == self._all

    def poll(self, timeout_s: float = 0.2, max_records: int = 500) -> list[InRecord]:
        out: list[InRecord] = []
        for msg in poll_batch(self._consumer, timeout_s, max_records):
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self._at_eof.add((msg.topic() or "", msg.partition() or 0))
                    continue
                raise RuntimeError(f"error consuming from {msg.topic()}: {error.str()}")
            self._at_eof.discard((msg.topic() or "", msg.partition() or 0))
            out.append(to_in_record(msg))
        return out

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_all(settings: Settings, topics: Iterable[str], timeout_s: float = 30.0) -> list[InRecord]:
    """Every record of `topics` up to their current end, in (topic, partition, offset) order.

    Raises `TimeoutError` if the end is not reached within `timeout_s`.
    """
    names = list(topics)
    deadline = time.monotonic() + timeout_s
    records: list[InRecord] = []
    with Follower(settings, names, timeout_s=timeout_s) as f:
        while not f.at_end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"did not reach the end of {', '.join(names)} within {timeout_s:g} s")
            records.extend(f.poll())
    return sorted(records, key=lambda r: (r.topic, r.partition, r.offset))
