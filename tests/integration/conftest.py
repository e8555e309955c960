"""Fixtures for tests against a real Kafka-protocol broker (Tansu, started on loopback)."""

from __future__ import annotations

import dataclasses
import functools
import re
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from helved.config import Settings
from helved.kafka import EmbeddedBroker
from helved.records import InRecord

# The shared end-to-end checks assert with pytest's detailed messages too.
pytest.register_assert_rewrite("tests.integration.e2e")


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """One embedded broker for the whole test session."""
    with EmbeddedBroker() as b:
        yield b


@pytest.fixture
def settings(broker: EmbeddedBroker, request: pytest.FixtureRequest) -> Settings:
    """Settings for the embedded broker, with topic names unique to this test."""
    name = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name)[:40].strip("-")
    prefix = f"{name}-{uuid.uuid4().hex[:6]}."
    return dataclasses.replace(Settings.from_env({}), bootstrap_servers=broker.bootstrap, topic_prefix=prefix)


@pytest.fixture
def read_topic(settings: Settings) -> Callable[..., list[InRecord]]:
    """`read_topic(topic, timeout_s=10.0)`: every record of a topic (see `_read_topic`)."""
    return functools.partial(_read_topic, settings)


def _read_topic(settings: Settings, topic: str, timeout_s: float = 10.0) -> list[InRecord]:
    """Every record of `topic`, ordered by (partition, offset).

    Uses assign() (no consumer group: Tansu's first group join is slow) and partition-EOF
    events from fetches (Tansu's latest-offset lookup reads too low). Fails the test rather
    than hanging if EOF is not reached within `timeout_s`.
    """
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": "helved-tests-unused",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        meta = consumer.list_topics(timeout=5).topics[topic]
        partitions = sorted(meta.partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        at_eof: set[int] = set()
        records: list[InRecord] = []
        deadline = time.monotonic() + timeout_s
        while len(at_eof) < len(partitions):
            if time.monotonic() > deadline:
                pytest.fail(f"no EOF on {topic} within {timeout_s} s (at EOF: {sorted(at_eof)})")
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    at_eof.add(msg.partition())
                    continue
                pytest.fail(f"consumer error on {topic}: {error}")
            at_eof.discard(msg.partition())
            key = msg.key()
            _, ts = msg.timestamp()
            records.append(
                InRecord(
                    topic=msg.topic(),
                    key=None if key is None else key.decode(),
                    value=msg.value(),
                    headers=tuple(msg.headers() or ()),
                    partition=msg.partition(),
                    offset=msg.offset(),
                    timestamp_ms=ts,
                )
            )
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()
