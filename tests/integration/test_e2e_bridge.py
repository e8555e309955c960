"""The OS bridge: its protocol with fakes (no broker), the emulator service's durable state, and
the Kafka shell against the real broker."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pytest

from helved.config import Settings, Topics
from helved.demo import examples
from helved.devstack import wait_until
from helved.emulator import Faults
from helved.emulator.gateway import EmulatedOs, StateMismatch
from helved.kafka import DeliveryFailed, ReliableProducer, ensure_topics
from helved.kafka.consumer import read_all
from helved.os.bridge import HOS_OPPDRAG, Journal, OsBridge, content_hash, run_bridge
from helved.os.payments import payment_rows
from helved.records import InRecord, OutRecord
from helved.startup import settings_env

TOPICS = Topics().with_prefix("t.")
SPEC_HOS = {"status": "HOS_OPPDRAG", "detaljer": None, "error": None, "simulering": False}


@pytest.fixture(scope="module")
def oppdrag_values() -> list[tuple[str, bytes]]:
    """Real Oppdrag XML, as the pipeline writes it: the demo's examples through `helved replay`."""
    from helved.emulator.replay import emulator_answer
    from helved.replay import replay_records

    topics = Topics()
    records = [
        InRecord(topics.dagpenger, ex.key, orjson.dumps(ex.decision), (), 0, i, 1_755_502_200_000 + i)
        for i, ex in enumerate(examples(3))
    ]
    out = replay_records(records, emulator_answer(), topics)
    return [(r.key or "", r.value) for r in out if r.topic == topics.oppdrag and r.value]


def oppdrag_record(key: str, value: bytes, offset: int = 0, partition: int = 0) -> InRecord:
    headers = (
        ("original-key", key.encode()),
        ("fagsystem", b"DAGPENGER"),
        ("sak", b'{"sakId":"S"}'),
        ("uids", b"u1"),
    )
    return InRecord(TOPICS.oppdrag, key, value, headers, partition, offset, 1_755_502_200_123)


class FakeSender:
    """Records what is sent and where the flushes are; can fail a flush."""

    def __init__(self, fail_flushes: int = 0) -> None:
        self.events: list[OutRecord | str] = []
        self.fail_flushes = fail_flushes

    def send(self, record: OutRecord) -> None:
        self.events.append(record)

    def flush_or_raise(self, timeout_s: float = 30.0) -> None:
        if self.fail_flushes:
            self.fail_flushes -= 1
            raise DeliveryFailed("records not delivered: broker gone")
        self.events.append("flush")

    @property
    def records(self) -> list[OutRecord]:
        return [e for e in self.events if isinstance(e, OutRecord)]


class CountingGateway:
    def __init__(self) -> None:
        self.handed: list[bytes] = []

    def hand_over(self, oppdrag_xml: bytes) -> list[bytes]:
        self.handed.append(oppdrag_xml)
        return [b"<kvittering>" + oppdrag_xml + b"</kvittering>"]


def test_hos_oppdrag_is_acknowledged_before_the_receipt_is_produced(tmp_path: Path) -> None:
    sender, gateway = FakeSender(), CountingGateway()
    bridge = OsBridge(TOPICS, Journal(tmp_path / "j.sqlite"), gateway, sender)
    rec = oppdrag_record("req-1", b"<oppdrag>1</oppdrag>", offset=7)
    result = bridge.process([rec])
    assert result.handed_over == 1 and gateway.handed == [rec.value]
    hos, flush_1, receipt, flush_2 = sender.events
    assert (flush_1, flush_2) == ("flush", "flush")
    assert isinstance(hos, OutRecord) and isinstance(receipt, OutRecord)
    assert (hos.topic, hos.key, orjson.loads(hos.value or b"")) == (TOPICS.status, "req-1", SPEC_HOS)
    assert hos.value == HOS_OPPDRAG == orjson.dumps(SPEC_HOS)
    assert hos.header("fagsystem") == b"DAGPENGER" and hos.timestamp_ms == rec.timestamp_ms
    assert hos.header("src-topic") == TOPICS.oppdrag.encode() and hos.header("src-offset") == b"7"
    assert (receipt.topic, receipt.key, receipt.value) == (
        TOPICS.kvittering,
        "req-1",
        gateway.handed[0].join([b"<kvittering>", b"</kvittering>"]),
    )
    assert receipt.header("sak") == b'{"sakId":"S"}' and receipt.timestamp_ms == rec.timestamp_ms


def test_a_copy_is_never_handed_over_again_but_gets_its_receipts_again(tmp_path: Path) -> None:
    gateway = CountingGateway()
    first = OsBridge(TOPICS, Journal(tmp_path / "j.sqlite"), gateway, FakeSender())
    first.process([oppdrag_record("req-1", b"<a/>", offset=0), oppdrag_record("req-1", b"<a/>", offset=1)])
    assert len(gateway.handed) == 1  # a copy in the same batch: once
    # A restart (a new journal object on the same file), then the pipeline emits the Oppdrag again.
    sender = FakeSender()
    again = OsBridge(TOPICS, Journal(tmp_path / "j.sqlite"), gateway, sender)
    result = again.process([oppdrag_record("req-1", b"<a/>", offset=2)])
    assert len(gateway.handed) == 1 and result.redelivered == 1
    (receipt,) = sender.records  # the receipt again, no second HOS_OPPDRAG
    assert receipt.topic == TOPICS.kvittering and receipt.value == b"<kvittering><a/></kvittering>"
    assert again.journal.offsets() == {(TOPICS.oppdrag, 0): 3}


def test_a_crash_between_handing_over_and_the_receipt_finishes_without_handing_over_again(
    tmp_path: Path,
) -> None:
    gateway = CountingGateway()
    broken = OsBridge(TOPICS, Journal(tmp_path / "j.sqlite"), gateway, FakeSender(fail_flushes=1))
    rec = oppdrag_record("req-1", b"<b/>", offset=4)
    with pytest.raises(DeliveryFailed):
        broken.process([rec])
    journal = Journal(tmp_path / "j.sqlite")
    assert journal.counts() == (0, 1) and journal.offsets() == {}  # handed over, not done
    sender = FakeSender()
    result = OsBridge(TOPICS, journal, gateway, sender).process([rec])  # consumed again after the restart
    assert len(gateway.handed) == 1 and result.finished == 1
    assert [r.topic for r in sender.records] == [TOPICS.status, TOPICS.kvittering]
    assert journal.counts() == (1, 0) and journal.offsets() == {(TOPICS.oppdrag, 0): 5}


def test_tombstones_are_skipped_and_their_offsets_committed(tmp_path: Path) -> None:
    gateway, sender = CountingGateway(), FakeSender()
    bridge = OsBridge(TOPICS, Journal(tmp_path / "j.sqlite"), gateway, sender)
    assert bridge.process([dataclasses.replace(oppdrag_record("k", b""), value=None, offset=9)]).skipped == 1
    assert gateway.handed == [] and sender.events == []
    assert bridge.journal.offsets() == {(TOPICS.oppdrag, 0): 10}
    assert content_hash(b"x") == "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"


def test_the_emulator_service_keeps_its_ledger_across_a_restart(
    tmp_path: Path, oppdrag_values: list[tuple[str, bytes]]
) -> None:
    first = EmulatedOs(tmp_path)
    answers = [first.hand_over(value) for _, value in oppdrag_values]
    paid = {sak: first.paid("DP", sak) for sak in ("SAK-1001", "SAK-1005")}
    assert sum(r.total for r in payment_rows(paid["SAK-1001"])) == 19000
    first.close()

    again = EmulatedOs(tmp_path)
    assert again.rebuilt_from == len(oppdrag_values) == 4
    assert {sak: again.paid("DP", sak) for sak in paid} == paid
    # The same document again (a crash before the bridge journaled it): the same receipt, nothing booked.
    assert again.hand_over(oppdrag_values[0][1]) == answers[0]
    assert again.emulator.log[-1].replay and {sak: again.paid("DP", sak) for sak in paid} == paid
    reader = EmulatedOs.open_read_only(tmp_path)  # next to the running service
    assert {sak: reader.paid("DP", sak) for sak in paid} == paid
    again.close()
    with pytest.raises(StateMismatch):
        EmulatedOs(tmp_path, seed=7)
    with pytest.raises(StateMismatch):
        EmulatedOs(tmp_path, faults=Faults(reject_share=0.5))
    with pytest.raises(FileNotFoundError):
        EmulatedOs.open_read_only(tmp_path / "nothing")


def test_a_faulty_emulator_rebuilds_the_same_answers(tmp_path: Path, oppdrag_values: list[tuple[str, bytes]]) -> None:
    faults = Faults(reject_share=0.3, error_share=0.3, duplicate_share=0.5, prefix_share=0.5)
    live = EmulatedOs(tmp_path, faults, seed=3)
    answers = [live.hand_over(value) for _, value in oppdrag_values]
    live.close()
    rebuilt = EmulatedOs(tmp_path)  # seed and faults come from the state directory
    assert [tuple(r.kvitteringer) for r in rebuilt.replies] == [tuple(a) for a in answers]


# -- the Kafka shell -------------------------------------------------------------------------------


@pytest.mark.integration
def test_the_bridge_over_kafka_survives_a_restart(
    settings: Settings, tmp_path: Path, oppdrag_values: list[tuple[str, bytes]]
) -> None:
    ensure_topics(settings, settings.topics)
    topics = settings.topics

    def produce(pairs: list[tuple[str, bytes]]) -> None:
        with ReliableProducer(settings) as producer:
            for key, value in pairs:
                producer.send(OutRecord(topics.oppdrag, key, value, (("fagsystem", b"DAGPENGER"),), 1_755_502_200_000))

    def count(topic: str) -> int:
        return len(read_all(settings, [topic]))

    def run(gateway: EmulatedOs, until: object) -> None:
        stop = threading.Event()
        thread = threading.Thread(target=run_bridge, args=(settings, gateway, tmp_path, stop))
        thread.start()
        try:
            wait_until(until, 30, "the bridge's output", interval_s=0.1)
        finally:
            stop.set()
            thread.join(10)
        assert not thread.is_alive()

    produce(oppdrag_values)
    first = EmulatedOs(tmp_path)
    run(first, lambda: count(topics.kvittering) == 4)
    first.close()
    assert count(topics.status) == 4

    # A restart; the pipeline emits one Oppdrag again (as after its own crash).
    produce(oppdrag_values[:1])
    again = EmulatedOs(tmp_path)
    run(again, lambda: count(topics.kvittering) == 5)
    assert again.rebuilt_from == 4 and len(again.replies) == 4  # nothing handed over again
    assert count(topics.status) == 4  # no second HOS_OPPDRAG
    receipts = read_all(settings, [topics.kvittering])
    copies = [r for r in receipts if r.key == oppdrag_values[0][0]]
    assert len(copies) == 2 and copies[0].value == copies[1].value


@pytest.mark.integration
def test_helved_os_emulator_runs_as_a_service_and_stops_on_sigterm(settings: Settings, tmp_path: Path) -> None:
    ensure_topics(settings, settings.topics)
    env = {**os.environ, **settings_env(settings)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "helved.cli", "os-emulator", "--state-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()  # written once it is connected
        assert "OS bridge on" in line and "0 Oppdrag handed over before" in line
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_demo_can_show_what_os_paid_right_after_each_oppdrag(
    oppdrag_values: list[tuple[str, bytes]],
) -> None:
    os_ = EmulatedOs(keep_history=True)
    for _, value in oppdrag_values:
        os_.hand_over(value)
    new_sak = dict(oppdrag_values)["dp-1005-1"]
    assert sum(r.total for r in payment_rows(os_.paid_after(new_sak, "DP", "SAK-1005"))) == 10 * 800 + 1200
    assert os_.paid("DP", "SAK-1005") == {}  # stopped since
    assert os_.paid_after(b"<unknown/>", "DP", "SAK-1005") == {}  # falls back to now
