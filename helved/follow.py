"""Reading helved's topics from outside the dataflow: the CLI, the demo, the OS bridge, tests.

Consumers here use `assign()` (no consumer group: a group join on Tansu takes seconds) and find
the end of a partition from fetches (`enable.partition.eof`), never from the latest-offset
lookup, which Tansu answers too low. Topics are looked up in the metadata of *all* topics, never
by name, so a missing topic is reported instead of auto-created (Tansu auto-creates with 4
partitions).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, Self

import orjson
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from helved.config import Settings
from helved.kafka.admin import LIBRDKAFKA_LOG, BrokerUnavailable
from helved.records import InRecord

# Tansu does not wake a waiting fetch when a record arrives: the fetch wait is the latency.
FETCH_WAIT_MAX_MS = 20


class TopicMissing(RuntimeError):
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
            "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
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
        raise BrokerUnavailable(
            f"no Kafka broker answered within {timeout_s:g} s: {exc.args[0].str()}"
        ) from None
    out: dict[str, list[int]] = {}
    for topic in topics:
        meta = metadata.topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            raise TopicMissing(f"topic {topic} does not exist; run `helved topics ensure`")
        out[topic] = sorted(meta.partitions)
    return out


def to_in_record(msg: Message) -> InRecord:
    key = msg.key()
    ts_type, ts = msg.timestamp()
    return InRecord(
        topic=msg.topic() or "",
        key=key.decode("utf-8", errors="replace") if isinstance(key, bytes) else key,
        value=msg.value(),  # type: ignore[arg-type]  # bytes without a deserializer
        headers=tuple((h[0], h[1] if isinstance(h[1], bytes) else b"") for h in (msg.headers() or ())),
        partition=msg.partition() or 0,
        offset=msg.offset() or 0,
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


class StatusLog:
    """The statuses of `helved.status.v1` per original key, replays dropped.

    After a crash the pipeline produces the last epoch's outputs again, byte-identical and with
    the same provenance headers; a status already seen with the same value and provenance is a
    replay, not news.
    """

    def __init__(self) -> None:
        self._seen: set[tuple[bytes | None, ...]] = set()
        self.by_key: dict[str | None, list[dict[str, Any]]] = {}

    def add(self, rec: InRecord) -> dict[str, Any] | None:
        """The parsed status if `rec` is new, else None."""
        ident = (
            rec.value,
            rec.key.encode() if rec.key is not None else None,
            rec.header("src-topic"),
            rec.header("src-partition"),
            rec.header("src-offset"),
        )
        if ident in self._seen or rec.value is None:
            return None
        self._seen.add(ident)

        try:
            status = orjson.loads(rec.value)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(status, dict):
            return None
        self.by_key.setdefault(rec.key, []).append(status)
        return status

    def sequence(self, key: str | None) -> list[str]:
        return [s.get("status", "?") for s in self.by_key.get(key, [])]

    def final(self, key: str | None) -> dict[str, Any] | None:
        """The first OK or FEILET of `key`, if any.

        The first, not the last status: a request's verdict does not change, but after a
        pipeline restart its statuses may be produced again from another interleaving of
        requests and receipts (a "MOTTATT, waiting" that was not there before, then the same OK
        with the same provenance, which is dropped here as a replay).
        """
        for status in self.by_key.get(key) or []:
            if status.get("status") in ("OK", "FEILET"):
                return status
        return None
