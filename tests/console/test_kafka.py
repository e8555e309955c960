"""The archive's Kafka loop against helved's embedded broker (Tansu on loopback): it archives
every topic, resumes where it stopped after a restart, and sees the console's own audit records
produced through helved's reliable producer."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helved.config import Settings
from helved.console import queries
from helved.console.actions import Actions, KafkaPublisher, User
from helved.console.archive import Archive, follow, open_archive
from helved.records import InRecord, OutRecord


@pytest.fixture(scope="module")
def settings() -> Iterator[Settings]:
    from helved.kafka import EmbeddedBroker, ensure_topics

    with EmbeddedBroker() as broker:
        s = dataclasses.replace(Settings(), bootstrap_servers=broker.bootstrap, partitions=3)
        ensure_topics(s, s.topics)
        yield s


def produce(settings: Settings, recs: list[InRecord]) -> None:
    from helved.kafka import ReliableProducer

    producer = ReliableProducer(settings)
    for r in recs:
        producer.send(OutRecord(r.topic, r.key, r.value, r.headers, r.timestamp_ms))
    producer.flush_or_raise(30)


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout_s, "timed out"
        time.sleep(0.01)
    return time.monotonic() - start


class Following:
    def __init__(self, archive: Archive, settings: Settings) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

        def run() -> None:
            try:
                follow(archive, settings, self.stop, poll_s=0.1)
            except BaseException as exc:
                self.errors.append(exc)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive() and not self.errors


def test_the_archive_follows_every_topic_and_resumes_after_a_restart(
    settings: Settings, tmp_path: Path, topic_records: list[InRecord]
) -> None:
    dsn = f"sqlite:///{tmp_path / 'kafka.sqlite'}"
    half = len(topic_records) // 2
    produce(settings, topic_records[:half])

    archive = open_archive(dsn)
    following = Following(archive, settings)
    took = wait_for(lambda: archive.count() == half)
    print(f"\narchived {half} records from Kafka in {took:.2f} s")
    start = time.monotonic()
    produce(settings, topic_records[half : half + 1])
    lag = wait_for(lambda: archive.count() == half + 1)
    print(
        f"one record produced -> archived: {(time.monotonic() - start) * 1000:.0f} ms (lag {lag * 1000:.0f} ms after the ack)"
    )
    following.close()
    archive.close()

    produce(settings, topic_records[half + 1 :])
    restarted = open_archive(dsn)
    following = Following(restarted, settings)
    wait_for(lambda: restarted.count() == len(topic_records))
    time.sleep(0.5)  # nothing more arrives: nothing was archived twice
    assert restarted.count() == len(topic_records)
    topics = {r.topic for r in topic_records}
    assert {t for t, _ in restarted.positions()} == topics

    # An action goes out through helved's producer and comes back through the archive.
    actions = Actions(restarted, KafkaPublisher(settings))
    target = next(f for f in queries.dashboard(restarted, 0)["feilet"] if f["originalKey"] == "dp-12")
    entry = actions.mark_handled(User("Z990001", "operator"), target["id"], "checked with the team")
    wait_for(lambda: queries.audit_log(restarted)["total"] == 1)
    assert queries.audit_log(restarted)["items"][0]["id"] == entry["id"]
    assert "dp-12" not in {f["originalKey"] for f in queries.dashboard(restarted, 0)["feilet"]}
    following.close()
    restarted.close()


def test_helved_console_archives_the_broker_it_is_given(
    settings: Settings, tmp_path: Path, topic_records: list[InRecord]
) -> None:
    import json
    import urllib.request

    from tests.console.test_command import console

    env = {"HELVED_BOOTSTRAP_SERVERS": settings.bootstrap_servers}
    with console(tmp_path, env=env) as (url, tokens):
        req = urllib.request.Request(url + "/api/dashboard", headers={"Authorization": f"Bearer {tokens['viewer']}"})

        def archived() -> int:
            with urllib.request.urlopen(req, timeout=10) as r:
                return int(json.loads(r.read())["archive"]["records"])

        produce(settings, topic_records[:10])
        wait_for(lambda: archived() >= 10)
