"""Action (1): resend an Oppdrag in flight. The console writes the audit entry; the OS bridge reads
it from the audit topic and hands that Oppdrag to OS again, exactly once per action, across
restarts; the receipt it gets goes through helved's own dataflow like any other.

The bridge's protocol with fakes (no broker) here; over Kafka (the bridge's `RecordFetcher`
against the embedded broker) at the end."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from helved.config import Settings, Topics
from helved.console import queries, sample
from helved.console.actions import Actions, ArchivePublisher, Refused, User, build_receipt
from helved.console.archive import Archive, ingest_all
from helved.kafka import DeliveryFailed
from helved.os.bridge import Journal, OsBridge, resend_of
from helved.records import InRecord, OutRecord

TOPICS = Topics()
OPERATOR = User("Z990001", "operator")
NOW = 1_900_000_000_000
MIN = 60_000


class LosingOs:
    """OS that loses the receipt of an Oppdrag's first hand-over and answers 00 afterwards."""

    def __init__(self) -> None:
        self.handed: list[bytes] = []

    def hand_over(self, oppdrag_xml: bytes) -> list[bytes]:
        self.handed.append(oppdrag_xml)
        return [] if self.handed.count(oppdrag_xml) == 1 else [build_receipt(oppdrag_xml, "00", "")]

    def simulate_request(self, simulering_xml: bytes) -> object:
        raise NotImplementedError

    def hand_over_avstemming(self, messages: object) -> object:
        raise NotImplementedError


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


def _stuck(archive: Archive) -> dict:
    (o,) = queries.dashboard(archive, NOW)["stuck"]
    assert o["originalKey"] == "dp-8"
    return o


def _oppdrag_record(topic_records: list[InRecord], row: dict) -> InRecord:
    return next(
        r for r in topic_records if (r.topic, r.partition, r.offset) == (row["topic"], row["partition"], row["offset"])
    )


def _audit_record(entry_record: OutRecord, offset: int) -> InRecord:
    r = entry_record
    return InRecord(r.topic, r.key, r.value, r.headers, 0, offset, r.timestamp_ms)


# ---------------------------------------------------------------------------------------------
# The console's side


def test_a_resend_is_an_audit_entry_and_is_refused_when_it_makes_no_sense(filled: Archive) -> None:
    clock = [NOW]
    actions = Actions(filled, ArchivePublisher(filled), clock=lambda: clock[0])
    stuck = _stuck(filled)
    entry = actions.resend(OPERATOR, stuck["id"], "OS has no trace of it (INC-12)")
    assert entry["action"] == "resend" and entry["target"]["topic"] == TOPICS.oppdrag
    assert len(entry["details"]["sha256"]) == 64
    (audit,) = actions.publisher.published  # type: ignore[attr-defined]
    assert audit.topic == TOPICS.audit and audit.header("action") == b"resend"
    request = resend_of(_audit_record(audit, 0))
    assert request is not None and (request.topic, request.partition, request.offset) == (
        TOPICS.oppdrag, stuck["partition"], stuck["offset"],
    )  # fmt: skip
    # asked again at once: refused; 15 minutes later: allowed (OS lost it once more)
    with pytest.raises(Refused, match="a resend was asked by Z990001"):
        actions.resend(OPERATOR, stuck["id"], "again")
    clock[0] += 16 * MIN
    actions.resend(OPERATOR, stuck["id"], "OS lost it again")
    answered = queries.search(filled, queries.Search(kind="oppdrag", key="dp-1"))["items"][0]
    with pytest.raises(Refused, match=r"not in flight: it has a receipt \(00\)"):
        actions.resend(OPERATOR, answered["id"], "why not")
    with pytest.raises(Refused, match="only an operator"):
        actions.resend(User("Z2", "viewer"), stuck["id"], "why not")
    with pytest.raises(Refused, match="a reason is required"):
        actions.resend(OPERATOR, stuck["id"], "")


# ---------------------------------------------------------------------------------------------
# The bridge's side


@pytest.fixture
def lost(filled: Archive, topic_records: list[InRecord], tmp_path: Path) -> Iterator[tuple]:
    """SAK-TAPT's Oppdrag handed over by the bridge, its receipt lost; an operator's resend."""
    row = _stuck(filled)
    oppdrag = _oppdrag_record(topic_records, row)
    os_, sender = LosingOs(), Sender()
    journal = Journal(tmp_path / "bridge.sqlite")

    def fetch(topic: str, partition: int, offset: int) -> InRecord | None:
        return oppdrag if (topic, partition, offset) == (oppdrag.topic, oppdrag.partition, oppdrag.offset) else None

    bridge = OsBridge(TOPICS, journal, os_, sender, fetch=fetch)  # type: ignore[arg-type]
    assert bridge.process([oppdrag]).handed_over == 1 and os_.handed == [oppdrag.value]
    assert [r.topic for r in sender.records] == [TOPICS.status]  # HOS_OPPDRAG, no receipt
    sender.records.clear()
    publisher = ArchivePublisher(filled)
    actions = Actions(filled, publisher)  # the wall clock: the action comes after the hand-over
    actions.resend(OPERATOR, row["id"], "OS has no trace of it")
    yield bridge, os_, sender, journal, fetch, _audit_record(publisher.published[0], 0), actions, row
    journal.close()


def test_the_bridge_hands_the_oppdrag_over_again_once_per_action(lost: tuple, tmp_path: Path) -> None:
    bridge, os_, sender, journal, fetch, audit, actions, row = lost
    result = bridge.process([audit])
    assert result.resent == 1 and len(os_.handed) == 2
    (receipt,) = sender.records
    action = orjson.loads(audit.value)["id"]
    assert (receipt.topic, receipt.key) == (TOPICS.kvittering, "dp-8")
    assert receipt.header("resend") == action.encode() and receipt.header("original-key") == b"dp-8"
    assert receipt.header("src-topic") == TOPICS.oppdrag.encode()  # the Oppdrag's provenance, as every receipt
    assert journal.offsets()[(TOPICS.audit, 0)] == 1

    # the audit record read again, or a copy of it at another offset: nothing more
    copy = dataclasses.replace(audit, offset=1)
    assert bridge.process([audit, copy]).resent == 0 and len(os_.handed) == 2
    # a restarted bridge on the same journal: nothing more either
    again = OsBridge(TOPICS, Journal(tmp_path / "bridge.sqlite"), os_, Sender(), fetch=fetch)  # type: ignore[arg-type]
    assert again.process([audit]).resent == 0 and len(os_.handed) == 2
    # a copy of the Oppdrag from the pipeline (after its own crash) now gets the resend's receipt
    oppdrag = fetch(row["topic"], row["partition"], row["offset"])
    redelivered = Sender()
    OsBridge(TOPICS, journal, os_, redelivered).process([dataclasses.replace(oppdrag, offset=oppdrag.offset + 50)])
    assert len(os_.handed) == 2 and [r.topic for r in redelivered.records] == [TOPICS.kvittering]


def test_a_crash_after_handing_over_again_finishes_without_a_third_hand_over(lost: tuple, tmp_path: Path) -> None:
    bridge, os_, _, journal, fetch, audit, _, _ = lost
    crashing = OsBridge(TOPICS, journal, os_, Sender(fail_flushes=1), fetch=fetch)  # type: ignore[arg-type]
    with pytest.raises(DeliveryFailed):
        crashing.process([audit])  # handed over, journaled, the receipt not acknowledged
    assert len(os_.handed) == 2 and (TOPICS.audit, 0) not in journal.offsets()
    sender = Sender()
    restarted = OsBridge(TOPICS, Journal(tmp_path / "bridge.sqlite"), os_, sender, fetch=fetch)  # type: ignore[arg-type]
    assert restarted.process([audit]).resent == 1
    assert len(os_.handed) == 2 and [r.topic for r in sender.records] == [TOPICS.kvittering]
    assert restarted.process([audit]).resent == 0


def test_the_bridge_acts_only_on_a_resend_it_can_trust(
    lost: tuple, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bridge, os_, sender, journal, fetch, audit, actions, row = lost
    entry = orjson.loads(audit.value)

    def variant(**changes: object) -> InRecord:
        e = {**entry, "id": f"{entry['id']}-{len(changes)}-{sorted(changes)}", **changes}
        return dataclasses.replace(audit, value=orjson.dumps(e), offset=audit.offset + 1)

    other_sha = variant(details={"sha256": "0" * 64})
    elsewhere = variant(target={**entry["target"], "offset": entry["target"]["offset"] + 1000})
    not_oppdrag = variant(target={**entry["target"], "topic": TOPICS.status})
    stale = dataclasses.replace(variant(who="Z0"), timestamp_ms=1_000)  # asked before the hand-over
    handled = dataclasses.replace(audit, headers=(("action", b"mark-handled"),), offset=audit.offset + 2)
    with caplog.at_level("WARNING", logger="helved.bridge"):
        result = bridge.process([other_sha, elsewhere, not_oppdrag, stale, handled])
    assert result.resent == 0 and len(os_.handed) == 1 and sender.records == []
    reasons = [r.getMessage().split("not done: ", 1)[1] for r in caplog.records if "not done" in r.getMessage()]
    assert reasons == [
        "the record at that position is not the Oppdrag the operator saw (another sha256)",
        "there is no Oppdrag at that position (gone by retention, or a tombstone)",
        f"it names {TOPICS.status}, not the Oppdrag topic",
        "the action is older than this bridge's hand-over of the Oppdrag (a journal started afresh)",
    ]
    assert journal.offsets()[(TOPICS.audit, 0)] == audit.offset + 3  # read past, all of them

    # a bridge whose journal has never handed the Oppdrag over (it has not read it yet)
    fresh_os = LosingOs()
    fresh = OsBridge(TOPICS, Journal(tmp_path / "fresh.sqlite"), fresh_os, Sender(), fetch=fetch)  # type: ignore[arg-type]
    assert fresh.process([audit]).resent == 0 and fresh_os.handed == []


def test_the_resends_receipt_settles_the_request_in_helveds_dataflow(
    lost: tuple, filled: Archive, scenario: sample.Scenario, topic_records: list[InRecord]
) -> None:
    bridge, _, sender, _, _, audit, _, row = lost
    bridge.process([audit])
    (receipt,) = sender.records
    placer = sample.Placer()
    placer.records(topic_records)
    placer.records([audit])
    (read,) = placer.records([receipt])
    ingest_all(filled, [read])
    o = queries.oppdrag(filled, row["id"])
    assert o is not None and not o["inFlight"] and [k["code"] for k in o["receipts"]] == ["00"]
    assert not o["receipts"][0]["replay"]  # the same provenance as a receipt would have, yet no replay
    assert [a["action"] for a in o["audit"]] == ["resend"]

    before = sample.outputs(scenario)
    asin = InRecord(receipt.topic, receipt.key, receipt.value, receipt.headers, 0, 0, receipt.timestamp_ms)
    added = sample.outputs(scenario, [asin])[len(before) :]
    ingest_all(filled, placer.records(added))
    story = {r["originalKey"]: r for r in queries.sak(filled, "SAK-TAPT", "DAGPENGER")["requests"]}
    assert story["dp-8"]["final"] == "OK"


# ---------------------------------------------------------------------------------------------
# Over Kafka


def test_the_bridge_resends_over_kafka_once(tmp_path: Path, topic_records: list[InRecord]) -> None:
    """`run_bridge` against the embedded broker: the Oppdrag's receipt is lost, the console's
    resend goes out through helved's producer, the bridge reads the Oppdrag back by its position
    and hands it over again; restarted, it does not do it twice."""
    from helved.console.actions import KafkaPublisher
    from helved.console.archive import open_archive
    from helved.kafka import EmbeddedBroker, ensure_topics
    from helved.kafka.consumer import read_all
    from helved.os.bridge import run_bridge
    from tests.console.test_kafka import Following, produce, wait_for

    dp8 = next(r for r in topic_records if r.topic == TOPICS.oppdrag and r.key == "dp-8")
    with EmbeddedBroker() as broker:
        settings = dataclasses.replace(Settings(), bootstrap_servers=broker.bootstrap, partitions=3)
        ensure_topics(settings, settings.topics)
        os_ = LosingOs()

        def run() -> tuple[threading.Event, threading.Thread]:
            stop = threading.Event()
            t = threading.Thread(target=run_bridge, args=(settings, os_, tmp_path / "os", stop), daemon=True)
            t.start()
            return stop, t

        stop, thread = run()
        produce(settings, [dp8])
        archive = open_archive(f"sqlite:///{tmp_path / 'a.sqlite'}")
        following = Following(archive, settings)
        wait_for(lambda: queries.search(archive, queries.Search(kind="status", key="dp-8"))["total"] == 1)
        assert len(os_.handed) == 1  # HOS_OPPDRAG is out, the receipt lost
        (row,) = queries.search(archive, queries.Search(kind="oppdrag", key="dp-8"))["items"]

        entry = Actions(archive, KafkaPublisher(settings)).resend(OPERATOR, row["id"], "OS never answered")
        wait_for(lambda: len(read_all(settings, [settings.topics.kvittering])) == 1)
        (receipt,) = read_all(settings, [settings.topics.kvittering])
        assert receipt.header("resend") == entry["id"].encode() and len(os_.handed) == 2
        wait_for(lambda: not queries.oppdrag(archive, row["id"])["inFlight"])  # type: ignore[index]
        stop.set()
        thread.join(15)
        assert not thread.is_alive()

        stop, thread = run()  # restarted: the journal has the action done
        produce(settings, [dp8])  # a copy from the pipeline: its receipts again, no hand-over
        wait_for(lambda: len(read_all(settings, [settings.topics.kvittering])) == 2)
        stop.set()
        thread.join(15)
        assert len(os_.handed) == 2
        following.close()
        archive.close()
