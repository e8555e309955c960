"""Broker faults are loud (issue 11): a broker that lost helved's topics, recovery offsets beyond
a partition's end, and writes to a topic that does not exist end the process, or the call, with
one clear line, and nothing is ever auto-created. Over the real embedded broker (Tansu)."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from helved.config import Settings
from helved.demo import decision, meldeperiode
from helved.devstack import wait_until
from helved.kafka import EmbeddedBroker, ReliableProducer, ensure_topics
from helved.kafka.admin import admin_client
from helved.kafka.consumer import Follower
from helved.kafka.consumer import consumer as follow_consumer
from helved.kafka.faults import EXIT_BROKER_FAULT, BrokerFault, TopicWatcher
from helved.kafka.io import CONSUMER_DEFAULTS, _CheckedKafkaSource
from helved.kafka.offsets import beyond_end
from helved.kafka.producer import PRODUCER_CONFIG, UnknownTopic
from helved.records import OutRecord
from helved.startup import settings_env
from helved.views.status import StatusLog
from tests.integration.e2e import executions, resume_epoch

pytestmark = pytest.mark.integration

WATCH_S = "0.5"  # the watcher's interval in these tests (5 s by default)


def topic_counts(settings: Settings) -> dict[str, int]:
    metadata = admin_client(settings.kafka_client_config()).list_topics(timeout=5)
    return {name: len(meta.partitions) for name, meta in metadata.topics.items()}


def own_settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    return dataclasses.replace(
        Settings.from_env({}),
        bootstrap_servers=broker.bootstrap,
        topic_prefix=f"faults-{uuid.uuid4().hex[:6]}.",
        recovery_dir=tmp_path / "recovery",
        snapshot_s=0.2,
    )


class Service:
    """`helved run` or `helved os-emulator` as a child process, stderr kept in a file."""

    def __init__(self, settings: Settings, tmp_path: Path, *args: str) -> None:
        name = args[0]
        self.stderr_path = tmp_path / f"{name}.{time.monotonic_ns()}.err"
        env = {**os.environ, **settings_env(settings), "HELVED_TOPIC_WATCH_S": WATCH_S}
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "helved.cli", *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.proc.args[3]} still running after {timeout_s:g} s; stderr:\n{self.stderr[-2000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def run(settings: Settings, tmp_path: Path) -> Service:
    return Service(settings, tmp_path, "run")


def bridge(settings: Settings, tmp_path: Path) -> Service:
    return Service(settings, tmp_path, "os-emulator", "--state-dir", str(tmp_path / "os"))


def decide_and_wait_for_ok(settings: Settings, saker: list[str], services: list[Service]) -> None:
    """Send a new decision for each sak and wait for every OK: the pipeline and the bridge
    work, and every one of their producers has written to its topics."""
    with ReliableProducer(settings) as producer:
        for sak in saker:
            value = orjson.dumps(decision(sak, "B-1", "2025-08-18T09:30:00", meldeperiode("2025-08-04", 700)))
            producer.send(OutRecord(settings.topics.dagpenger, f"key-{sak}", value))
    statuses = StatusLog()

    def all_ok() -> bool:
        for rec in follower.poll(0.1):
            statuses.add(rec)
        return all((statuses.final(f"key-{sak}") or {}).get("status") == "OK" for sak in saker)

    def alive() -> None:
        for service in services:
            if service.proc.poll() is not None:
                pytest.fail(f"{service.proc.args[3]} exited with {service.proc.poll()}:\n{service.stderr[-2000:]}")

    with Follower(settings, [settings.topics.status]) as follower:
        wait_until(all_ok, 45, "an OK for every decision", interval_s=0.0, check=alive)


def the_line(stderr: str, prog: str) -> str:
    """The one line the process wrote about why it stopped; no traceback around it."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith(f"{prog}: ") and "exiting" in line]
    assert len(lines) == 1, stderr
    return lines[0]


# ---------------------------------------------------------------------------------------------
# (a) a broker that restarts and loses its topics


def test_a_broker_restart_ends_helved_run_and_the_bridge_with_one_line(tmp_path: Path) -> None:
    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as broker:
        settings = own_settings(broker, tmp_path)
        ensure_topics(settings, settings.topics)
        pipeline, os_bridge = run(settings, tmp_path), bridge(settings, tmp_path)
        try:
            decide_and_wait_for_ok(settings, ["SAK-A1", "SAK-A2"], [pipeline, os_bridge])

            # A broker that does not answer for a while is not a fault: both wait for it.
            os.kill(broker.pid, signal.SIGSTOP)
            time.sleep(2)
            os.kill(broker.pid, signal.SIGCONT)
            time.sleep(1.5)
            assert pipeline.proc.poll() is None, pipeline.stderr
            assert os_bridge.proc.poll() is None, os_bridge.stderr

            started = time.monotonic()
            broker.restart()  # SIGKILL, and a new, empty broker on the same port
            assert pipeline.wait(20) == EXIT_BROKER_FAULT
            assert os_bridge.wait(20) == EXIT_BROKER_FAULT
            assert time.monotonic() - started < 20
        finally:
            pipeline.kill()
            os_bridge.kill()

        where = re.escape(broker.bootstrap)
        line = the_line(pipeline.stderr, "helved run")
        # every topic is gone: the line names the first (the senders' inputs) and counts the rest
        assert re.search(
            rf"topics .*teamdagpenger\.utbetaling\.v1, .* and \d+ more are gone from the broker at {where} \(did the broker restart",
            line,
        ), line
        assert "the recovery directory" in line and "`helved topics ensure`" in line, line
        line = the_line(os_bridge.stderr, "helved os-emulator")
        assert re.search(rf"helved\.oppdrag\.v1.* gone from the broker at {where}", line), line
        assert "journal" in line, line

        # Neither re-created a topic (with the broker's default of 4 partitions, or at all).
        assert not set(settings.topics.all()) & set(topic_counts(settings)), topic_counts(settings)


# ---------------------------------------------------------------------------------------------
# (b) an old recovery directory (and bridge journal) against a new broker


def test_an_old_recovery_directory_against_a_new_broker_stops_helved_run_and_the_bridge(
    tmp_path: Path,
) -> None:
    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as broker:
        settings = own_settings(broker, tmp_path)
        ensure_topics(settings, settings.topics)
        pipeline, os_bridge = run(settings, tmp_path), bridge(settings, tmp_path)
        try:
            decide_and_wait_for_ok(settings, ["SAK-B1", "SAK-B2", "SAK-B3"], [pipeline, os_bridge])
            # A snapshot taken after the OKs: the recovery directory holds offsets past them.
            now = resume_epoch(settings.recovery_dir)  # type: ignore[arg-type]
            wait_until(lambda: resume_epoch(settings.recovery_dir) >= now + 2, 30, "a snapshot")  # type: ignore[arg-type]
        finally:
            pipeline.kill()
            os_bridge.kill()

        broker.restart()
        ensure_topics(settings, settings.topics)  # a new broker, set up as it should be
        started = time.monotonic()
        pipeline, os_bridge = run(settings, tmp_path), bridge(settings, tmp_path)
        try:
            assert pipeline.wait(30) == EXIT_BROKER_FAULT
            assert os_bridge.wait(30) == EXIT_BROKER_FAULT
            assert time.monotonic() - started < 30
        finally:
            pipeline.kill()
            os_bridge.kill()

        line = the_line(pipeline.stderr, "helved run")
        assert re.search(
            rf"recovery directory {re.escape(str(settings.recovery_dir))} holds offsets beyond the end of "
            r"topic \S+ partition \d+ \(resume at [1-9]\d*, end 0\): it belongs to another broker or the "
            r"topic was recreated; ",
            line,
        ), line
        line = the_line(os_bridge.stderr, "helved os-emulator")
        assert re.search(
            r"the OS bridge's journal \S+bridge\.sqlite holds offsets beyond the end of topic "
            rf"{re.escape(settings.topics.oppdrag)} partition \d+ \(resume at [1-9]\d*, end 0\)",
            line,
        ), line


# ---------------------------------------------------------------------------------------------
# (c) never auto-create: producers, consumers, admin lookups


def test_a_producer_to_a_missing_topic_fails_clearly_and_creates_nothing(settings: Settings) -> None:
    ensure_topics(settings, settings.topics)
    missing = settings.topic_prefix + "nowhere.v1"
    producer = ReliableProducer(settings)
    producer.send(OutRecord(settings.topics.status, "k", b"fine"))
    producer.send(OutRecord(missing, "k", b"lost?"))
    started = time.monotonic()
    with pytest.raises(
        UnknownTopic, match=rf"cannot produce to topic {re.escape(missing)}: it does not exist on the broker at"
    ):
        producer.flush_or_raise(10)
    assert time.monotonic() - started < 5
    assert producer.pending == 0
    producer.close(1)  # nothing left over, nothing to report
    time.sleep(0.5)
    assert missing not in topic_counts(settings)


def test_no_helved_client_asks_the_broker_to_create_a_topic(settings: Settings) -> None:
    """Tansu honours the metadata request's auto-create flag: a lookup of a topic by name
    creates it (4 partitions) unless the client sets `allow.auto.create.topics=false`. The
    control client shows this broker would create; none of helved's clients asks it to."""
    base = settings.kafka_client_config()
    name = settings.topic_prefix + "lookup-{}.v1"

    control = Producer(base)
    control.list_topics(name.format("control"), timeout=5)
    wait_until(lambda: name.format("control") in topic_counts(settings), 5, "the control topic auto-created")

    producer = Producer({**base, **PRODUCER_CONFIG})
    producer.list_topics(name.format("producer"), timeout=5)
    reliable = ReliableProducer(settings)
    reliable._producer.list_topics(name.format("reliable"), timeout=5)
    admin_client(base).list_topics(name.format("admin"), timeout=5)
    follower = follow_consumer(settings)
    follower.list_topics(name.format("follow"), timeout=5)
    follower.assign([TopicPartition(name.format("follow-assign"), 0, 0)])
    follower.poll(1)
    follower.close()
    source = _CheckedKafkaSource({**CONSUMER_DEFAULTS, **base}, [name.format("source")], 5)
    source_consumer = Consumer({**source._config, "group.id": "helved-test"})
    source_consumer.list_topics(name.format("source"), timeout=5)
    source_consumer.close()
    time.sleep(1)
    created = {n for n in topic_counts(settings) if n.startswith(settings.topic_prefix + "lookup-")}
    assert created == {name.format("control")}


def test_a_topic_gone_before_helved_run_writes_to_it_ends_it_with_one_line_with_two_workers(
    settings: Settings, tmp_path: Path
) -> None:
    """The producer's own check, with the watcher off: the reason is printed even where Bytewax,
    with several workers in a process, would abort on the exception without a word."""
    settings = dataclasses.replace(settings, recovery_dir=tmp_path / "recovery", snapshot_s=0.2, workers=2)
    ensure_topics(settings, settings.topics)
    env = {**os.environ, **settings_env(settings), "HELVED_TOPIC_WATCH_S": "0"}
    err = tmp_path / "run.err"
    with open(err, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "helved.cli", "run"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    try:
        wait_until(lambda: executions(settings.recovery_dir) != [], 30, "the pipeline running")  # type: ignore[arg-type]
        status = settings.topics.status
        admin = admin_client(settings.kafka_client_config())
        admin.delete_topics([status])[status].result(10)
        value = orjson.dumps(decision("SAK-D1", "B-1", "2025-08-18T09:30:00", meldeperiode("2025-08-04", 700)))
        with ReliableProducer(settings) as producer:
            producer.send(OutRecord(settings.topics.dagpenger, "key-d1", value))
        assert proc.wait(30) == EXIT_BROKER_FAULT
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    line = the_line(err.read_text(), "helved run")
    assert re.fullmatch(
        rf"helved run: the dataflow stopped: cannot produce to topic {re.escape(status)}: it does not exist on the "
        r"broker at \S+, and helved never creates topics by producing; run `helved topics ensure` \(or restore the "
        r"broker's data\); the next start resumes from the last snapshot; exiting",
        line,
    ), line
    assert status not in topic_counts(settings)


# ---------------------------------------------------------------------------------------------
# The pieces: where a partition ends, the resume check, the watcher


def test_the_end_of_a_partition_is_found_by_fetching_where_the_watermark_reads_low(
    settings: Settings,
) -> None:
    topic = settings.topics.dagpenger
    ensure_topics(settings, settings.topics)
    producer = Producer({**settings.kafka_client_config(), **PRODUCER_CONFIG})
    for i in range(60):  # one batch of 20 records per partition
        producer.produce(topic, value=b"x", partition=i % 3)
    assert producer.flush(5) == 0
    config = settings.kafka_client_config()
    # Tansu's latest-offset lookup answers the last batch's base offset + 1, not its end: the
    # case the fetch-based end check exists for (on Kafka the two agree).
    lookup = Consumer({**config, "group.id": "helved-test"})
    highs = [lookup.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1] for p in range(3)]
    lookup.close()
    assert all(high < 20 for high in highs), highs

    # Each partition holds 20 records: 20 is the end, 21 is beyond it.
    assert beyond_end(config, {(topic, p): 20 for p in range(3)}) == []
    assert beyond_end(config, {(topic, p): 21 for p in range(3)}) == [(topic, p, 21, 20) for p in range(3)]

    # The Kafka source refuses to resume beyond the end (outside `helved run` it raises).
    source = _CheckedKafkaSource({**CONSUMER_DEFAULTS, **config}, [topic], 5)
    source.build_part("in", f"1-{topic}", 20).close()
    source.build_part("in", f"1-{topic}", None).close()
    with pytest.raises(
        BrokerFault,
        match=rf"the recovery directory holds offsets beyond the end of topic {re.escape(topic)} partition 1 "
        r"\(resume at 25, end 20\): it belongs to another broker or the topic was recreated",
    ):
        source.build_part("in", f"1-{topic}", 25)


def test_the_watcher_tells_gone_recreated_and_resized_topics_from_a_broker_that_does_not_answer(
    tmp_path: Path,
) -> None:
    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as broker:
        settings = own_settings(broker, tmp_path)
        ensure_topics(settings, settings.topics)
        faults: list[str] = []
        watcher = TopicWatcher(
            settings, settings.topics.all(), interval_s=60, on_fault=faults.append, state="the state", timeout_s=1
        ).start()
        try:
            assert watcher.check() is None
            os.kill(broker.pid, signal.SIGSTOP)  # no answer: not a fault
            try:
                assert watcher.check() is None
            finally:
                os.kill(broker.pid, signal.SIGCONT)
            admin = admin_client(settings.kafka_client_config())
            status = settings.topics.status

            admin.delete_topics([status])[status].result(10)
            assert re.fullmatch(
                rf"topic {re.escape(status)} is gone from the broker at {re.escape(broker.bootstrap)} \(did the "
                r"broker restart and lose its data\?\); the state belong to the old broker: restore the broker's "
                r"data, or start over with `helved topics ensure` and empty state",
                watcher.check() or "",
            )
            admin.create_topics([NewTopic(status, 3)])[status].result(10)
            assert "deleted and created again" in (watcher.check() or "")

            admin.delete_topics([status])[status].result(10)
            admin.create_topics([NewTopic(status, 4)])[status].result(10)
            assert f"topic {status} now has 4 partitions" in (watcher.check() or "")
            assert faults == []  # check() only looks; the thread acts
        finally:
            watcher.stop()
