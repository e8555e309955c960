"""What the OS bridge measures beyond the Oppdrag it hands over: suspected double payments (an
Oppdrag handed to OS again after its first hand-over was interrupted), when avstemming last ran
(from `helved.avstemt.v1`), and its consumer lag."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from helved.avstemming import events, located, out_records, run_value
from helved.config import Settings, Topics
from helved.domain.avstemming import Range, avstem
from helved.kafka import DeliveryFailed, EmbeddedBroker, ReliableProducer, ensure_topics
from helved.metrics import Metrics
from helved.os.avstemt_watch import AvstemtWatch, run_times
from helved.os.bridge import Journal, OsBridge, run_bridge
from helved.oslo import OSLO
from helved.records import InRecord, OutRecord
from helved.replay import os_stand_in, parse_codes, read_records, replay_records
from tests.ops import scenario

TOPICS = Topics().with_prefix("t.")


def oppdrag(key: str, value: bytes, offset: int) -> InRecord:
    headers = (
        ("original-key", key.encode()),
        ("fagsystem", b"DAGPENGER"),
        ("sak", b'{"sakId":"S-' + key.encode() + b'"}'),
    )
    return InRecord(TOPICS.oppdrag, key, value, headers, 0, offset, 1_755_502_200_123)


class Sender:
    def __init__(self, fail_flushes: int = 0) -> None:
        self.records: list[OutRecord] = []
        self.fail_flushes = fail_flushes

    def send(self, record: OutRecord) -> None:
        self.records.append(record)

    def flush_or_raise(self, timeout_s: float = 30.0) -> None:
        if self.fail_flushes:
            self.fail_flushes -= 1
            raise DeliveryFailed("broker gone")


class MqDown(RuntimeError):
    pass


class Os:
    """Answers every Oppdrag 00; `fail_on` documents make the hand-over fail after OS got them
    (an MQ put whose answer never came back)."""

    def __init__(self, fail_on: set[bytes] | None = None) -> None:
        self.received: list[bytes] = []
        self.fail_on = fail_on or set()

    def hand_over(self, oppdrag_xml: bytes) -> list[bytes]:
        self.received.append(oppdrag_xml)
        if oppdrag_xml in self.fail_on:
            self.fail_on.discard(oppdrag_xml)
            raise MqDown("no answer from OS's queue manager")
        return [b"<kvittering>00</kvittering>"]


def value(m: Metrics, name: str) -> float:
    return m.registry.get_sample_value(name) or 0.0


def test_a_hand_over_interrupted_and_done_again_is_a_suspected_double_payment(tmp_path: Path, caplog):
    """A batch of three; OS's answer to the second never comes (OS has it). After the restart
    the first is finished from the journal, the second is handed over again (OS may now hold it
    twice: counted, journalled, logged), the third is handed over for the first time (not
    suspected: its hand-over never began)."""
    a, b, c = (oppdrag(k, f"<oppdrag>{k}</oppdrag>".encode(), i) for i, k in enumerate("abc"))
    os_ = Os(fail_on={b.value or b""})
    m = Metrics(CollectorRegistry())
    with pytest.raises(MqDown):
        OsBridge(TOPICS, Journal(tmp_path / "j.sqlite"), os_, Sender(), metrics=m).process([a, b, c])
    assert os_.received == [a.value, b.value]
    assert value(m, "helved_suspected_double_payments_total") == 0

    journal = Journal(tmp_path / "j.sqlite")  # the restart
    before = time.time()
    with caplog.at_level(logging.WARNING, logger="helved.bridge"):
        result = OsBridge(TOPICS, journal, os_, Sender(), metrics=m).process([a, b, c])
    assert os_.received == [a.value, b.value, b.value, c.value]  # b twice: the suspicion is real
    assert (result.finished, result.handed_over, result.suspected) == (1, 2, 1)
    assert value(m, "helved_suspected_double_payments_total") == 1
    assert before <= value(m, "helved_suspected_double_payment_last_timestamp_seconds") <= time.time()
    ((h, topic, partition, offset, at),) = journal.suspects()
    assert (topic, partition, offset) == (TOPICS.oppdrag, 0, 1) and before <= at <= time.time()
    (line,) = [r.getMessage() for r in caplog.records if "double payment" in r.getMessage()]
    assert "t.helved.oppdrag.v1[0]@1" in line and 'sak {"sakId":"S-b"}' in line

    # A restart keeps the alert's timestamp (the journal holds it); a counter starts from 0.
    fresh = Metrics(CollectorRegistry())
    OsBridge(TOPICS, Journal(tmp_path / "j.sqlite"), os_, Sender(), metrics=fresh)
    assert value(fresh, "helved_suspected_double_payment_last_timestamp_seconds") == at
    assert value(fresh, "helved_suspected_double_payments_total") == 0


def test_replays_and_finished_hand_overs_are_never_suspected(tmp_path: Path):
    """The pipeline's copies of an Oppdrag (after its crash), and an Oppdrag whose hand-over was
    journalled before the bridge crashed, are not handed over again: no suspicion."""
    os_ = Os()
    m = Metrics(CollectorRegistry())
    a, b = oppdrag("a", b"<oppdrag>a</oppdrag>", 0), oppdrag("b", b"<oppdrag>b</oppdrag>", 1)
    with pytest.raises(DeliveryFailed):  # handed over and journalled; the receipts not produced
        OsBridge(TOPICS, Journal(tmp_path / "j.sqlite"), os_, Sender(fail_flushes=1), metrics=m).process([a, b])
    bridge = OsBridge(TOPICS, Journal(tmp_path / "j.sqlite"), os_, Sender(), metrics=m)
    again = bridge.process([a, b])
    assert again.finished == 2 and again.suspected == 0
    copies = bridge.process([dataclasses.replace(a, offset=5), dataclasses.replace(b, offset=6)])
    assert copies.redelivered == 2 and copies.suspected == 0
    assert os_.received == [a.value, b.value]
    assert value(m, "helved_suspected_double_payments_total") == 0
    assert bridge.journal.suspects() == [] and bridge.journal.last_suspect() == 0.0


def test_an_interrupted_first_hand_over_of_a_batch_is_suspected_too(tmp_path: Path):
    """The first hand-over of a batch has an intent of its own (the others ride on the journal
    write before them)."""
    a = oppdrag("a", b"<oppdrag>a</oppdrag>", 0)
    os_ = Os(fail_on={a.value or b""})
    m = Metrics(CollectorRegistry())
    with pytest.raises(MqDown):
        OsBridge(TOPICS, Journal(tmp_path / "j.sqlite"), os_, Sender(), metrics=m).process([a])
    result = OsBridge(TOPICS, Journal(tmp_path / "j.sqlite"), os_, Sender(), metrics=m).process([a])
    assert result.suspected == 1 and value(m, "helved_suspected_double_payments_total") == 1


# ---------------------------------------------------------------------------------------------
# When avstemming last ran


def run_record(topic: str, key: str, today: date, fagomrader: dict[str, dict], ts: int | None, offset: int) -> InRecord:
    import orjson

    body = {
        "today": today.isoformat(),
        "fom": "2025-08-18",
        "tom": "2025-08-18",
        "scheduled": True,
        "fagområder": fagomrader,
    }
    return InRecord(topic, key, orjson.dumps(body), (), 0, offset, ts)


def test_run_times_from_the_run_records():
    t = "helved.avstemt.v1"
    dp = {"DP": {"id": "x", "antall": 1, "beløp": 100}}
    latest = {
        "2025-08-18..2025-08-18": run_record(t, "k1", date(2025, 8, 19), dp, 1_755_586_800_000, 0),
        "2025-08-19..2025-08-19": run_record(t, "k2", date(2025, 8, 20), {}, 1_755_673_200_000, 1),
        "2025-08-20..2025-08-20": run_record(t, "k3", date(2025, 8, 21), {}, None, 2),  # no timestamp
        "gone": InRecord(t, "gone", None, (), 0, 3, 1_900_000_000_000),  # a tombstone
        "bad": InRecord(t, "bad", b"{}", (), 0, 4, 1_900_000_000_000),  # not a run record
    }
    last, by_fagomrade = run_times(latest)  # type: ignore[arg-type]
    assert last == datetime(2025, 8, 21, tzinfo=OSLO).timestamp()
    assert by_fagomrade == {"DP": 1_755_586_800.0}
    assert run_times({}) == (None, {})


def test_nothing_is_exported_until_the_topic_is_read():
    m = Metrics(CollectorRegistry())
    assert m.registry.get_sample_value("helved_avstemming_last_run_timestamp_seconds") is None
    m.avstemming_runs(None, {})  # read: no run yet
    assert m.registry.get_sample_value("helved_avstemming_last_run_timestamp_seconds") == 0
    m.avstemming_runs(5.0, {"DP": 4.0, "AAP": 3.0})
    assert m.registry.get_sample_value("helved_avstemming_last_run_timestamp_seconds") == 5
    assert (
        m.registry.get_sample_value("helved_avstemming_fagomrade_last_run_timestamp_seconds", {"fagomrade": "DP"}) == 4
    )


def test_the_working_day_and_day_start_gauges():
    from helved.metrics import oslo_day_start, working_day_at

    summer = datetime(2025, 8, 19, 0, 30, tzinfo=OSLO)  # a Tuesday, 00:30 Oslo = 22:30 UTC the day before
    assert oslo_day_start(summer) == 1_755_554_400  # 2025-08-18T22:00:00Z
    assert oslo_day_start(datetime(2025, 1, 7, 23, 59, tzinfo=OSLO)) == 1_736_204_400  # 2025-01-06T23:00:00Z
    assert working_day_at(summer)
    assert not working_day_at(datetime(2025, 12, 25, 12, tzinfo=OSLO))  # 1. juledag
    assert not working_day_at(datetime(2025, 8, 23, 12, tzinfo=OSLO))  # a Saturday


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as b:
        yield b


@pytest.fixture
def settings(broker: EmbeddedBroker) -> Settings:
    prefix = f"bridge-metrics-{uuid.uuid4().hex[:6]}."
    s = dataclasses.replace(Settings.from_env({}), bootstrap_servers=broker.bootstrap, topic_prefix=prefix)
    ensure_topics(s, s.topics)
    return s


def avstemming_of_the_scenario(topics: Topics, today: date) -> list[OutRecord]:
    """What `helved avstemming` sends and records for the ops scenario's Oppdrag and receipts."""
    records = read_records(scenario.lines(), Topics())
    answer, simulate = os_stand_in(parse_codes(scenario.KVITTERING), Topics())
    outs = replay_records(records, answer, Topics(), simulate)
    as_read = [
        InRecord(
            topics.oppdrag if r.topic == Topics().oppdrag else topics.kvittering,
            r.key,
            r.value,
            r.headers,
            0,
            i,
            r.timestamp_ms,
        )
        for i, r in enumerate(outs)
        if r.topic in (Topics().oppdrag, Topics().kvittering) and r.value is not None
    ]
    rng = Range(date(2025, 8, 18), date(2025, 8, 18))
    resultat = avstem(events(located(as_read), topics), rng.fom, rng.tom)
    assert resultat.avstemminger, "the scenario's Oppdrag are in the range"
    return [*out_records(resultat, topics), OutRecord(topics.avstemt, rng.key, run_value(today, rng, True, resultat))]


@pytest.mark.integration
def test_the_bridge_exports_when_avstemming_last_ran(settings: Settings):
    m = Metrics(CollectorRegistry())
    watch = AvstemtWatch(settings, metrics=m, poll_s=0.1).start()
    try:
        assert watch.caught_up.wait(15)
        assert value(m, "helved_avstemming_last_run_timestamp_seconds") == 0  # read: no run yet
        before = time.time()
        run = avstemming_of_the_scenario(settings.topics, date(2025, 8, 19))
        with ReliableProducer(settings) as producer:
            for rec in run:
                producer.send(rec)
            producer.flush_or_raise(10)
        deadline = time.monotonic() + 15
        while value(m, "helved_avstemming_last_run_timestamp_seconds") < before - 5:
            assert time.monotonic() < deadline, "the run was not seen"
            time.sleep(0.1)
        last = value(m, "helved_avstemming_last_run_timestamp_seconds")
        assert before - 5 <= last <= time.time() + 5  # the record's timestamp: when it was recorded
        families = {
            s.labels.get("fagomrade"): s.value
            for f in m.registry.collect()
            for s in f.samples
            if s.name.endswith("fagomrade_last_run_timestamp_seconds")
        }
        assert families == {"DP": last}
    finally:
        watch.stop()


@pytest.mark.integration
def test_the_bridge_runs_the_watch_and_measures_its_own_lag(settings: Settings, tmp_path: Path, monkeypatch):
    """`run_bridge`: consumer lag for its partitions (0 once it has read them) and the
    avstemming metrics, in this process's registry."""
    monkeypatch.setenv("HELVED_LAG_INTERVAL_S", "0.2")
    m = Metrics(CollectorRegistry())
    for module in ("helved.kafka.progress", "helved.os.avstemt_watch", "helved.os.bridge"):
        monkeypatch.setattr(f"{module}.METRICS", m)
    with ReliableProducer(settings) as producer:
        producer.send(OutRecord(settings.topics.oppdrag, "k", b"<oppdrag/>", (), None))
        producer.flush_or_raise(10)
    stop = threading.Event()
    thread = threading.Thread(target=run_bridge, args=(settings, Os(), tmp_path, stop), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            lag = {
                (s.labels["topic"], s.labels["partition"]): s.value
                for f in m.registry.collect()
                for s in f.samples
                if s.name == "helved_consumer_lag_records"
            }
            oppdrag_parts = {p for (t, p) in lag if t == settings.topics.oppdrag}
            ran = m.registry.get_sample_value("helved_avstemming_last_run_timestamp_seconds")
            if len(oppdrag_parts) == settings.partitions and all(v == 0 for v in lag.values()) and ran is not None:
                break
            assert thread.is_alive() and time.monotonic() < deadline, (lag, ran)
            time.sleep(0.1)
        assert value(m, "helved_bridge_oppdrag_total") == 0  # counted by the command, not here
    finally:
        stop.set()
        thread.join(15)
    # Stopped: its partitions are no longer exported.
    assert not [s for f in m.registry.collect() for s in f.samples if s.name == "helved_consumer_lag_records"]
