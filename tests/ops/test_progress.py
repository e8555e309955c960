"""Consumer lag and readiness (`helved.kafka.progress`): the lag from a real broker's watermarks
and the positions the Kafka source reports per batch; readiness from what Bytewax calls, and in
a real two-process Bytewax cluster, where a process that merely runs is not ready."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.parser import text_string_to_metric_families

from helved.config import Settings
from helved.kafka import EmbeddedBroker, ReliableProducer, ensure_topics
from helved.kafka import io as kafka_io
from helved.kafka.progress import ConsumerLag, Readiness, lag_interval_s, lag_of
from helved.records import OutRecord
from helved.startup import settings_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as b:
        yield b


@pytest.fixture
def settings(broker: EmbeddedBroker) -> Settings:
    prefix = f"progress-{uuid.uuid4().hex[:6]}."
    s = dataclasses.replace(Settings.from_env({}), bootstrap_servers=broker.bootstrap, topic_prefix=prefix)
    ensure_topics(s, s.topics)
    return s


def produce(settings: Settings, topic: str, key: str, n: int) -> None:
    """`n` records with one key (one partition), one batch each: Tansu's latest-offset lookup is
    exact only for single-record batches (helved.kafka.offsets)."""
    with ReliableProducer(settings) as producer:
        for i in range(n):
            producer.send(OutRecord(topic, key, f"v{i}".encode(), (), None))
            producer.flush_or_raise(10)


def lag_gauge() -> Gauge:
    return Gauge("lag", "test", ["topic", "partition"], registry=CollectorRegistry())


def samples(gauge: Gauge) -> dict[tuple[str, str], float]:
    return {(s.labels["topic"], s.labels["partition"]): s.value for metric in gauge.collect() for s in metric.samples}


# ---------------------------------------------------------------------------------------------
# Consumer lag


def test_lag_of_a_position():
    assert lag_of(7, 0, 10) == 3
    assert lag_of(10, 0, 10) == 0
    assert lag_of(12, 0, 10) == 0  # Tansu's watermark reads low: never below 0
    assert lag_of(OFFSET_BEGINNING, 4, 10) == 6  # nothing read yet: from the partition's start
    assert lag_of(OFFSET_END, 0, 10) is None
    assert lag_interval_s({}) == 10 and lag_interval_s({"HELVED_LAG_INTERVAL_S": "0"}) is None
    with pytest.raises(ValueError, match="HELVED_LAG_INTERVAL_S"):
        lag_interval_s({"HELVED_LAG_INTERVAL_S": "soon"})


@pytest.mark.integration
def test_the_lag_is_the_high_watermark_after_the_position(settings: Settings):
    topic = settings.topics.dagpenger
    produce(settings, topic, "same-key", 10)
    gauge = lag_gauge()
    lag = ConsumerLag(settings.kafka_client_config(), interval_s=None, gauge=gauge)
    for p in range(settings.partitions):
        lag.track(topic, p, OFFSET_BEGINNING)
    try:
        lags = lag.refresh()
        (busy,) = [tp for tp, n in lags.items() if n]
        assert lags[busy] == 10 and sum(lags.values()) == 10
        assert samples(gauge)[(topic, str(busy[1]))] == 10
        lag.delivered(topic, busy[1], 3)  # the batch's last record: offset 3, next 4
        assert lag.refresh()[busy] == 6
        lag.delivered(topic, busy[1], 9)
        assert lag.refresh()[busy] == 0
        produce(settings, topic, "same-key", 2)
        assert lag.refresh()[busy] == 2
        lag.forget(topic, busy[1])
        assert (topic, str(busy[1])) not in samples(gauge)
    finally:
        lag.stop()
    assert samples(gauge) == {}


@pytest.mark.integration
def test_the_source_reports_its_position_per_batch_and_its_first_poll(settings: Settings, monkeypatch):
    """The Kafka source's partitions (built as Bytewax builds them) move the position with each
    batch, without a broker call; their first poll tells readiness; close forgets them."""
    topic = settings.topics.dagpenger
    produce(settings, topic, "same-key", 5)
    gauge = lag_gauge()
    lag = ConsumerLag(settings.kafka_client_config(), interval_s=None, gauge=gauge)
    readiness = Readiness(settle_s=3600, gauge=Gauge("ready", "test", registry=CollectorRegistry()))
    monkeypatch.setattr(kafka_io, "pipeline_lag", lambda config: lag)
    monkeypatch.setattr(kafka_io, "READINESS", readiness)
    config = {**kafka_io.CONSUMER_DEFAULTS, **settings.kafka_client_config(), "fetch.wait.max.ms": 20}
    source = kafka_io._CheckedKafkaSource(config, [topic], 10.0, tail=True, batch_size=2)
    parts = source.list_parts()
    assert not readiness.ready()  # listed, nothing built
    built = {key: source.build_part("in", key, None) for key in parts}
    assert not readiness.ready()  # built, not polled
    assert set(lag.positions().values()) == {OFFSET_BEGINNING}
    try:
        deadline = time.monotonic() + 20
        seen = 0
        while seen < 5:
            assert time.monotonic() < deadline, f"read {seen} of 5 records"
            for part in built.values():
                batch = part.next_batch()
                assert len(batch) <= 2
                seen += len(batch)
        assert readiness.ready()
        (busy,) = [tp for tp, pos in lag.positions().items() if pos >= 0]
        assert lag.positions()[busy] == 5
        assert samples(gauge) == {}  # no broker call until the look
        assert lag.refresh()[busy] == 0
        produce(settings, topic, "same-key", 3)
        assert lag.refresh()[busy] == 3
    finally:
        for part in built.values():
            part.close()
        lag.stop()
    assert lag.positions() == {}


# ---------------------------------------------------------------------------------------------
# Readiness


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_readiness_waits_for_every_built_partition_to_poll(tmp_path: Path):
    clock = Clock()
    ready_file = tmp_path / "ready"
    ready_file.write_text("stale, from the container's last life")
    gauge = Gauge("ready", "test", registry=CollectorRegistry())
    r = Readiness(settle_s=30, ready_file=ready_file, clock=clock, gauge=gauge)
    r.reset()
    assert not ready_file.exists()  # a stale file goes at start
    assert not r.check()  # nothing listed: the dataflow is not even built
    source = object()
    r.listed(source)
    r.built(source, "0-in")
    r.built(source, "1-in")
    r.polled("0-in")
    assert not r.check() and not ready_file.exists()
    r.polled("1-in")
    assert r.check() and ready_file.read_text() == "ready\n"
    assert gauge.collect()[0].samples[0].value == 1
    # A partition built later (Bytewax loads its state first) is not polled yet: not ready.
    r.built(source, "2-in")
    assert not r.check() and not ready_file.exists()
    assert gauge.collect()[0].samples[0].value == 0
    r.polled("2-in")
    assert r.check()
    r.closed("2-in")
    assert r.check()


def test_a_worker_given_no_partition_of_a_source_waits_the_settle_time():
    import threading

    clock = Clock()
    r = Readiness(settle_s=30, clock=clock, gauge=Gauge("ready", "test", registry=CollectorRegistry()))
    source = object()
    r.listed(source)
    r.built(source, "0-in")
    r.polled("0-in")
    other = threading.Thread(target=r.listed, args=(source,))  # a second worker, no partition
    other.start()
    other.join()
    assert not r.ready()
    clock.now += 29
    assert not r.ready()
    clock.now += 1
    assert r.ready()


# ---------------------------------------------------------------------------------------------
# A real two-process cluster


PROBE_FLOW = textwrap.dedent(
    """
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.outputs import DynamicSink, StatelessSinkPartition

    from helved.config import Settings
    from helved.kafka.io import kafka_input

    class Nothing(StatelessSinkPartition):
        def write_batch(self, items):
            pass

    class Discard(DynamicSink):
        def build(self, step_id, worker_index, worker_count):
            return Nothing()

    settings = Settings.from_env()
    flow = Dataflow("ready-probe")
    records = kafka_input("in", flow, settings, [settings.topics.dagpenger], consumer_config={"fetch.wait.max.ms": 20})
    op.output("out", records, Discard())
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[str, list]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def answers(port: int, path: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.mark.integration
def test_a_process_is_ready_once_the_cluster_runs_and_it_has_polled(settings: Settings, tmp_path: Path):
    """`python -m bytewax.run` as the pipeline's container runs it, two processes: the first,
    alone, answers Bytewax's API (the liveness probe) but is not ready; once its peer is there
    both resume, poll and become ready (the ready file and `helved_ready`), and export the
    consumer lag of the partitions each was given."""
    topic = settings.topics.dagpenger
    produce(settings, topic, "same-key", 4)
    (tmp_path / "ready_probe.py").write_text(PROBE_FLOW)
    workers = [free_port(), free_port()]
    addresses = ";".join(f"127.0.0.1:{p}" for p in workers)
    apis = [free_port(), free_port()]
    procs: list[subprocess.Popen[bytes]] = []

    def start(i: int) -> subprocess.Popen[bytes]:
        cache = tmp_path / f"cache-{i}"
        cache.mkdir()
        env = {
            **os.environ,
            **settings_env(settings),
            "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
            "BYTEWAX_DATAFLOW_API_ENABLED": "true",
            "BYTEWAX_DATAFLOW_API_PORT": str(apis[i]),
            "BYTEWAX_DATAFLOW_API_CACHE_PATH": str(cache),
            "HELVED_READY_FILE": str(tmp_path / f"ready-{i}"),
            "HELVED_READY_SETTLE_S": "3",
            "HELVED_LAG_INTERVAL_S": "0.5",
        }
        (tmp_path / f"ready-{i}").write_text("stale")
        cmd = [sys.executable, "-m", "bytewax.run", "ready_probe:flow", "-i", str(i), "-a", addresses]
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        return proc

    def wait(what: str, check, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout_s
        while not check():
            for proc in procs:
                assert proc.poll() is None, proc.stderr.read().decode()[-3000:] if proc.stderr else ""
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.2)

    try:
        start(0)
        wait("process 0's API", lambda: answers(apis[0], "/dataflow"))
        time.sleep(4)  # longer than the settle time: still not ready, its peer is missing
        assert not (tmp_path / "ready-0").exists()
        assert scrape(apis[0])["helved_ready"][0].value == 0
        start(1)
        wait("both ready files", lambda: all((tmp_path / f"ready-{i}").exists() for i in (0, 1)))
        for port in apis:
            assert scrape(port)["helved_ready"][0].value == 1

        def lags() -> list[tuple[str, float]]:
            return [
                (s.labels["partition"], s.value)
                for port in apis
                for s in scrape(port).get("helved_consumer_lag_records", [])
                if s.labels["topic"] == topic
            ]

        # Every partition is read by exactly one process, which exports its lag: 0, all read.
        everything = [(str(p), 0.0) for p in range(settings.partitions)]
        wait("the lag of every partition, once", lambda: sorted(lags()) == everything)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
