"""The Kafka edge against the embedded broker: topics, producer, start-up checks, Bytewax glue."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import bytewax.operators as op
import pytest
from bytewax.connectors.kafka import KafkaError, KafkaSourceMessage
from bytewax.dataflow import Dataflow
from bytewax.testing import run_main
from confluent_kafka import KafkaError as ConfluentKafkaError
from confluent_kafka import KafkaException
from confluent_kafka.admin import NewTopic

from helved.config import Settings
from helved.kafka import (
    BrokerUnavailable,
    DeliveryFailed,
    EmbeddedBroker,
    ReliableProducer,
    TopicMismatch,
    admin,
    check_broker,
    ensure_topics,
)
from helved.kafka import broker as broker_module
from helved.kafka.admin import admin_client
from helved.kafka.consumer import to_in_record
from helved.kafka.io import KafkaOutSink, kafka_input
from helved.kafka.partitioner import murmur2
from helved.records import InRecord, OutRecord, provenance

pytestmark = pytest.mark.integration

ReadTopic = Callable[..., list[InRecord]]


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_java_murmur2_matches_kafkas_test_vectors() -> None:
    def signed(x: int) -> int:
        return x - (1 << 32) if x >= 1 << 31 else x

    assert signed(murmur2(b"21")) == -973932308
    assert signed(murmur2(b"foobar")) == -790332482
    assert signed(murmur2(b"a-little-bit-long-string")) == -985981536
    assert signed(murmur2(b"abc")) == 479470107


def partition_counts(settings: Settings) -> dict[str, int]:
    metadata = admin_client(settings.kafka_client_config()).list_topics(timeout=5)
    return {name: len(meta.partitions) for name, meta in metadata.topics.items()}


def test_ensure_topics_creates_every_topic_and_is_idempotent(settings: Settings) -> None:
    ensure_topics(settings, settings.topics)
    counts = partition_counts(settings)
    assert {name: counts.get(name) for name in settings.topics.all()} == {name: 3 for name in settings.topics.all()}

    ensure_topics(settings, settings.topics)  # again: nothing to do, no error
    assert partition_counts(settings) == counts


def test_ensure_topics_rejects_a_wrong_partition_count(settings: Settings) -> None:
    ensure_topics(settings, settings.topics)
    with pytest.raises(TopicMismatch, match=r"expected 2.*dlq\.v1 has 3"):
        ensure_topics(dataclasses.replace(settings, partitions=2), settings.topics)


def test_ensure_topics_rejects_a_topic_created_elsewhere(settings: Settings) -> None:
    client = admin_client(settings.kafka_client_config())
    client.create_topics([NewTopic(settings.topics.saker, num_partitions=1)])[settings.topics.saker].result(timeout=10)
    with pytest.raises(TopicMismatch, match=r"saker\.v1 has 1"):
        ensure_topics(settings, settings.topics)


def test_producer_round_trip_keeps_keys_headers_timestamps_and_tombstones(
    settings: Settings, read_topic: ReadTopic
) -> None:
    ensure_topics(settings, settings.topics)
    topic = settings.topics.utbetalinger
    sent = [
        OutRecord(topic, f"uid-{i}", f"value-{i}".encode(), (("n", str(i).encode()),), 1_700_000_000_000 + i)
        for i in range(20)
    ]
    sent += [
        OutRecord(topic, "uid-3", None, (("why", b"stopped"),), 1_700_000_001_000),  # tombstone
        OutRecord(topic, "sak-ø", b"{}", (("a", b"1"), ("a", b"2")), 1_700_000_002_000),
        OutRecord(topic, None, b"keyless", (), 1_700_000_003_000),
    ]
    with ReliableProducer(settings) as producer:
        for record in sent:
            producer.send(record)
        producer.flush_or_raise(10)
        assert producer.pending == 0

    got = read_topic(topic)
    as_sent = Counter((r.key, r.value, r.headers, r.timestamp_ms) for r in sent)
    assert Counter((r.key, r.value, r.headers, r.timestamp_ms) for r in got) == as_sent
    tombstone = next(r for r in got if r.key == "uid-3" and r.value is None)
    first = next(r for r in got if r.key == "uid-3" and r.value is not None)
    assert tombstone.partition == first.partition and tombstone.offset > first.offset
    # Keyed records land where the Java client would put them.
    for r in got:
        if r.key is not None:
            assert r.partition == (murmur2(r.key.encode()) & 0x7FFFFFFF) % 3, r.key


def test_producer_to_an_unreachable_broker_raises_in_bounded_time() -> None:
    settings = Settings(bootstrap_servers=f"127.0.0.1:{closed_port()}")
    producer = ReliableProducer(settings)
    producer.send(OutRecord("helved.status.v1", "k", b"v"))
    started = time.monotonic()
    with pytest.raises(DeliveryFailed, match="1 records not acknowledged within 2 s"):
        producer.flush_or_raise(timeout_s=2)
    assert time.monotonic() - started < 5
    with pytest.raises(DeliveryFailed):  # close drops what is left and says so
        producer.close(timeout_s=0.5)
    assert producer.pending == 0


def test_check_broker(settings: Settings) -> None:
    check_broker(settings, timeout_s=5)

    nobody = dataclasses.replace(settings, bootstrap_servers=f"127.0.0.1:{closed_port()}")
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match=r"127\.0\.0\.1:\d+.*within 1 s"):
        check_broker(nobody, timeout_s=1)
    assert time.monotonic() - started < 3


def test_bytewax_flow_moves_records_between_topics(settings: Settings, read_topic: ReadTopic) -> None:
    topics = settings.topics
    ensure_topics(settings, topics)
    inputs = [
        OutRecord(topics.dagpenger, f"key-{i % 7}", f"request-{i}".encode(), (("fagsystem", b"DAGPENGER"),))
        for i in range(30)
    ] + [OutRecord(topics.dagpenger, "key-0", None)]
    with ReliableProducer(settings) as producer:
        for record in inputs:
            producer.send(record)

    def answer(rec: InRecord) -> OutRecord:
        value = None if rec.value is None else rec.value.upper()
        return OutRecord(topics.status, rec.key, value, rec.headers + provenance(rec))

    flow = Dataflow("kafka_edge_test")
    records = kafka_input("in", flow, settings, [topics.dagpenger], tail=False)
    op.output("out", op.map("answer", records, answer), KafkaOutSink(settings))
    run_main(flow)

    source = {(r.partition, r.offset): r for r in read_topic(topics.dagpenger)}
    out = read_topic(topics.status)
    assert len(out) == len(inputs) == len(source)
    for rec in out:
        src_offset = (int(rec.header("src-partition") or b""), int(rec.header("src-offset") or b""))
        src = source[src_offset]
        assert rec.headers == src.headers + provenance(src)
        assert rec.key == src.key
        assert rec.value == (None if src.value is None else src.value.upper())


def test_kafka_input_refuses_a_missing_topic_instead_of_creating_it(settings: Settings) -> None:
    missing = settings.topic_prefix + "nowhere.v1"
    flow = Dataflow("kafka_edge_missing")
    op.inspect("sink", kafka_input("in", flow, settings, [missing], tail=False))
    with pytest.raises(Exception) as failure:
        run_main(flow)
    chain = []  # Bytewax wraps the source's error: look along the cause chain.
    error: BaseException | None = failure.value
    while error is not None:
        chain.append(str(error))
        error = error.__cause__
    assert any("does not exist; run ensure_topics first" in text for text in chain), chain
    assert missing not in partition_counts(settings)


def test_to_in_record_maps_every_field_and_raises_on_errors() -> None:
    msg = KafkaSourceMessage(
        key=b"sak-\xc3\xb8",
        value=b"{}",
        topic="t",
        headers=[("a", b"1"), ("empty", None)],
        offset=7,
        partition=2,
        timestamp=(1, 1_700_000_000_000),
    )
    assert to_in_record(msg) == InRecord("t", "sak-ø", b"{}", (("a", b"1"), ("empty", b"")), 2, 7, 1_700_000_000_000)
    bare = KafkaSourceMessage(key=None, value=None, topic="t", offset=0, partition=0, timestamp=(0, -1))
    assert to_in_record(bare) == InRecord("t", None, None, (), 0, 0, None)
    assert to_in_record(KafkaSourceMessage(key=b"\xff", value=b"", topic="t")).key == "\ufffd"
    error = KafkaError(ConfluentKafkaError(ConfluentKafkaError._TRANSPORT), bare)
    with pytest.raises(RuntimeError, match="error consuming from t"):
        to_in_record(error)


def test_a_broker_rejecting_compaction_gets_the_topic_without_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Tansu accepts `cleanup.policy=compact` (and ignores it), so the fallback needs a fake."""
    created: dict[str, dict[str, str]] = {}

    class RejectsCompaction:
        def create_topics(self, new_topics: list[NewTopic], **_: object) -> dict[str, Future[None]]:
            futures = {}
            for t in new_topics:
                future: Future[None] = Future()
                if t.config:
                    future.set_exception(KafkaException(ConfluentKafkaError(ConfluentKafkaError.INVALID_CONFIG)))
                else:
                    created[t.topic] = t.config
                    future.set_result(None)
                futures[t.topic] = future
            return futures

    with caplog.at_level("WARNING", logger="helved.kafka.admin"):
        admin._create(RejectsCompaction(), ["a", "saker"], frozenset({"saker"}), 3, time.monotonic() + 5)  # type: ignore[arg-type]
    assert created == {"a": {}, "saker": {}}
    assert "rejected cleanup.policy=compact for saker" in caplog.text


def test_embedded_broker_that_cannot_start_fails_clearly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setattr(broker_module, "_free_port", lambda: taken.getsockname()[1])
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable, match=r"embedded broker .*see .*tansu\.log"):
            EmbeddedBroker(log_path=tmp_path / "tansu.log", start_timeout_s=3).start()
        assert time.monotonic() - started < 5
