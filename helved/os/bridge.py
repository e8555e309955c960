"""The OS bridge: hands each Oppdrag on `helved.oppdrag.v1` to OS and puts OS's answers on Kafka.

    helved.oppdrag.v1 ──► OsBridge ──► OsGateway.hand_over(xml) ──► OS (the emulator; IBM MQ later)
                             ├──► helved.status.v1      HOS_OPPDRAG  (first)
                             └──► helved.kvittering.v1  the receipt(s) (then)

`OsGateway` is the port (`helved.os.port`); an adapter implements it (`helved.emulator.gateway`
today). This module imports no adapter.

A pure core (`decide`, `hos_oppdrag`, `kvittering_records`) and a thin shell (`OsBridge`, a
`Journal` in SQLite, `run_bridge` with a Kafka consumer and a `ReliableProducer`).

Protocol for each Oppdrag record R; the code follows these steps in this order:

1. h = sha256(R.value). A tombstone, or a second copy of h in the same batch, is skipped.
2. The journal holds h as *done*: R is a copy of an Oppdrag handed over before (the pipeline
   emits it again after a crash). Do not hand it over; deliver its receipts again (step 4 only).
   The journal holds h as *handed* (a crash came between handing over and finishing): do not
   hand it over; finish with the receipts the journal kept (steps 3-5).
   Otherwise hand over: `receipts = gateway.hand_over(R.value)`, and journal h as *handed* with
   the receipts at once (durable), before anything is produced.
3. Produce HOS_OPPDRAG to the status topic (key and headers of R) and wait for the broker's acks.
4. Produce each receipt to the kvittering topic (same key) and wait for the acks.
5. Journal h as *done*, in the same transaction as the next offset of R's partition.

So an Oppdrag is handed over once per content, across restarts, and HOS_OPPDRAG precedes its
receipt. Why step 2 delivers the receipts of a copy again: after a crash the pipeline resumes
from a snapshot and reads the request topic and the kvittering topic from there *independently*;
a receipt already on the topic can be read before the request whose replay re-creates the
Oppdrag in flight. The pipeline then reports that receipt as unmatched (DLQ) and would wait for
it forever. The copy of the Oppdrag the pipeline emits comes after its in-flight state is back,
so a receipt delivered for the copy arrives after it and matches. A receipt arriving twice
matches once: the second one is unmatched (DLQ, nothing changes; spec §7), and delytelseIds are
unique per sak, so a stale receipt can never match another Oppdrag.

The only window left is a crash between OS accepting an Oppdrag and step 2's journal write,
which no gateway without a transaction can close; the emulator answers a document it has seen
with its first receipt and books nothing.

Offsets live in the journal (consumption uses `assign()`, no consumer group), so the journal
belongs to one broker: with the in-memory Tansu broker, wipe the state directory with it.
`run_bridge` refuses a journal whose offsets lie beyond a partition's end, and watches that its
topics stay as they were at start (`helved.kafka.faults`).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

from helved.codec import encode_verdict
from helved.config import Settings, Topics
from helved.domain.model import StatusKind
from helved.kafka.admin import LIBRDKAFKA_LOG
from helved.kafka.consumer import TopicMissing, partitions_of, poll_batch, to_in_record
from helved.kafka.consumer import consumer as new_consumer
from helved.kafka.producer import ReliableProducer
from helved.os.avstemming_relay import AvstemmingRelay
from helved.os.port import OsGateway
from helved.records import InRecord, OutRecord, provenance

# The logger keeps the name it had before the module moved into `helved.os`: log queries select on it.
log = logging.getLogger("helved.bridge")

# The status the bridge writes once an Oppdrag is handed over (spec domain.md §8).
HOS_OPPDRAG = encode_verdict(StatusKind.HOS_OPPDRAG)

# Headers of the Oppdrag record copied to the receipt, so operators can follow it.
_COPIED_HEADERS = ("original-key", "fagsystem", "sak", "uids")


class Sender(Protocol):
    """What the bridge needs of a producer (`ReliableProducer`)."""

    def send(self, record: OutRecord) -> None: ...

    def flush_or_raise(self, timeout_s: float = 30.0) -> None: ...


# ---------------------------------------------------------------------------------------------
# The pure core


def content_hash(value: bytes) -> str:
    """The dedup key of an Oppdrag: sha256 of the record's value bytes, hex."""
    return hashlib.sha256(value).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    """What the journal knows of one content hash."""

    done: bool
    receipts: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


@dataclass(frozen=True, slots=True)
class HandOver:
    pass


@dataclass(frozen=True, slots=True)
class Finish:
    """Handed over before a crash: produce what is left, with the receipts kept."""

    receipts: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Redeliver:
    """A copy of an Oppdrag handed over and finished before: only its receipts again."""

    receipts: tuple[bytes, ...]


Action = Skip | HandOver | Finish | Redeliver


def decide(rec: InRecord, entry: Entry | None) -> Action:
    """Steps 1-2 of the protocol for one record, given the journal's entry for its hash."""
    if rec.value is None:
        return Skip("tombstone")
    if entry is None:
        return HandOver()
    if entry.done:
        return Redeliver(entry.receipts)
    return Finish(entry.receipts)


def _headers(rec: InRecord, names: Iterable[str]) -> tuple[tuple[str, bytes], ...]:
    out: list[tuple[str, bytes]] = []
    for name in names:
        if name == "original-key":
            if rec.key is not None:
                out.append((name, rec.key.encode()))
            continue
        value = rec.header(name)
        if value is not None:
            out.append((name, value))
    return tuple(out) + provenance(rec)


def hos_oppdrag(rec: InRecord, topics: Topics) -> OutRecord:
    """The HOS_OPPDRAG status of an Oppdrag record: same key and timestamp, header fagsystem."""
    return OutRecord(
        topics.status, rec.key, HOS_OPPDRAG, _headers(rec, ("original-key", "fagsystem")), rec.timestamp_ms
    )


def kvittering_records(rec: InRecord, receipts: Iterable[bytes], topics: Topics) -> list[OutRecord]:
    """The receipts of an Oppdrag record, keyed like it. The timestamp is the Oppdrag record's,
    so a replay of the bridge produces the same bytes (nothing depends on the wall clock)."""
    hs = _headers(rec, _COPIED_HEADERS)
    return [OutRecord(topics.kvittering, rec.key, r, hs, rec.timestamp_ms) for r in receipts]


# ---------------------------------------------------------------------------------------------
# The journal


class Journal:
    """Content hashes handed over (and their receipts) and consumed offsets, in SQLite.

    Every write is its own committed transaction with `synchronous=FULL`: when a method returns,
    what it wrote survives a crash of the process or the machine.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS handover (
                hash TEXT PRIMARY KEY,
                done INTEGER NOT NULL,
                topic TEXT NOT NULL, partition INTEGER NOT NULL, "offset" INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS receipt (
                hash TEXT NOT NULL, idx INTEGER NOT NULL, value BLOB NOT NULL,
                PRIMARY KEY (hash, idx)
            );
            CREATE TABLE IF NOT EXISTS consumed (
                topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
                PRIMARY KEY (topic, partition)
            );
            """
        )

    def get(self, h: str) -> Entry | None:
        row = self._db.execute("SELECT done FROM handover WHERE hash = ?", (h,)).fetchone()
        if row is None:
            return None
        receipts = self._db.execute("SELECT value FROM receipt WHERE hash = ? ORDER BY idx", (h,)).fetchall()
        return Entry(bool(row[0]), tuple(bytes(r[0]) for r in receipts))

    def handed(self, h: str, receipts: Iterable[bytes], rec: InRecord) -> None:
        """Step 2: `h` was handed over and answered with `receipts`."""
        with self._tx():
            self._db.execute(
                'INSERT INTO handover (hash, done, topic, partition, "offset") VALUES (?, 0, ?, ?, ?)',
                (h, rec.topic, rec.partition, rec.offset),
            )
            self._db.executemany(
                "INSERT INTO receipt (hash, idx, value) VALUES (?, ?, ?)",
                [(h, i, r) for i, r in enumerate(receipts)],
            )

    def done(self, hashes: Iterable[str], next_offsets: dict[tuple[str, int], int]) -> None:
        """Step 5: the hashes are finished and the records before these offsets consumed."""
        with self._tx():
            self._db.executemany("UPDATE handover SET done = 1 WHERE hash = ?", [(h,) for h in hashes])
            self._db.executemany(
                "INSERT INTO consumed (topic, partition, next_offset) VALUES (?, ?, ?) "
                "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
                [(t, p, o) for (t, p), o in next_offsets.items()],
            )

    def offsets(self) -> dict[tuple[str, int], int]:
        rows = self._db.execute("SELECT topic, partition, next_offset FROM consumed").fetchall()
        return {(t, p): o for t, p, o in rows}

    def counts(self) -> tuple[int, int]:
        """(hashes done, hashes handed and not finished)."""
        done, open_ = self._db.execute(
            "SELECT coalesce(sum(done), 0), coalesce(sum(1 - done), 0) FROM handover"
        ).fetchone()
        return int(done), int(open_)

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)

    def close(self) -> None:
        self._db.close()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


# ---------------------------------------------------------------------------------------------
# The shell


@dataclass
class BatchResult:
    handed_over: int = 0
    finished: int = 0  # handed over before a crash, finished now
    redelivered: int = 0  # copies of Oppdrag handed over before: receipts delivered again
    skipped: int = 0
    keys: list[str | None] = field(default_factory=list)  # keys of the Oppdrag handed over
    avstemminger: list[str] = field(default_factory=list)  # one line per avstemming id handed over


class OsBridge:
    """Runs the protocol (module docstring) over batches of Oppdrag records."""

    def __init__(
        self,
        topics: Topics,
        journal: Journal,
        gateway: OsGateway,
        sender: Sender,
        *,
        flush_timeout_s: float = 30.0,
        relay: AvstemmingRelay | None = None,
    ) -> None:
        self.topics = topics
        self.journal = journal
        self.gateway = gateway
        self.sender = sender
        self.flush_timeout_s = flush_timeout_s
        self.relay = relay

    def process(self, records: list[InRecord]) -> BatchResult:
        simulations = [r for r in records if r.topic == self.topics.simuleringer and r.value is not None]
        if simulations:
            self._simulate(simulations)
        avstemming = [r for r in records if r.topic == self.topics.avstemming]
        others = (self.topics.simuleringer, self.topics.avstemming)
        result = self._oppdrag([r for r in records if r.topic not in others])
        if simulations:
            self.journal.done([], {(r.topic, r.partition): r.offset + 1 for r in simulations})
        if avstemming:
            # After this batch's Oppdrag: OS checks an avstemming against what it received.
            if self.relay is None:
                self.relay = AvstemmingRelay()
            result.avstemminger = self.relay.process(avstemming, self.gateway)
            self.journal.done([], {(r.topic, r.partition): r.offset + 1 for r in avstemming})
        return result

    def _simulate(self, records: list[InRecord]) -> None:
        """Dryruns (spec §10): OS's simulation service answers from its ledger, books nothing.
        A replayed simulation request gets the same answer again, so no journal is needed."""
        from helved.os.dryrun import answer_simulering

        for rec in records:
            for out in answer_simulering(self.gateway, rec, self.topics):
                self.sender.send(out)
        self.sender.flush_or_raise(self.flush_timeout_s)

    def _oppdrag(self, records: list[InRecord]) -> BatchResult:
        result = BatchResult()
        # (record, hash, receipts, whether HOS_OPPDRAG is still to be produced)
        todo: list[tuple[InRecord, str, tuple[bytes, ...], bool]] = []
        in_batch: set[str] = set()
        next_offsets: dict[tuple[str, int], int] = {}
        for rec in records:
            next_offsets[(rec.topic, rec.partition)] = rec.offset + 1
            where = f"{rec.topic}[{rec.partition}]@{rec.offset}"
            # 1.
            h = content_hash(rec.value) if rec.value is not None else None
            if h is None or h in in_batch:
                result.skipped += 1
                log.info("skip %s: %s", where, "a tombstone" if h is None else "a copy in the same batch")
                continue
            in_batch.add(h)
            # 2.
            action = decide(rec, self.journal.get(h))
            if isinstance(action, HandOver):
                assert rec.value is not None
                receipts = tuple(self.gateway.hand_over(rec.value))
                self.journal.handed(h, receipts, rec)
                result.handed_over += 1
                result.keys.append(rec.key)
                log.info("handed over %s (%d receipts)", where, len(receipts))
                todo.append((rec, h, receipts, True))
            elif isinstance(action, Finish):
                result.finished += 1
                log.warning("%s was handed over before a restart: finishing without handing it over again", where)
                todo.append((rec, h, action.receipts, True))
            elif isinstance(action, Redeliver):
                result.redelivered += 1
                log.info(
                    "%s is a copy of an Oppdrag handed over before: its receipts again, not the Oppdrag",
                    where,
                )
                todo.append((rec, h, action.receipts, False))
            else:
                result.skipped += 1
        # 3. every HOS_OPPDRAG of the batch, acknowledged before any receipt is produced
        hos = [rec for rec, _, _, with_hos in todo if with_hos]
        for rec in hos:
            self.sender.send(hos_oppdrag(rec, self.topics))
        if hos:
            self.sender.flush_or_raise(self.flush_timeout_s)
        # 4.
        for rec, _, receipts, _ in todo:
            for out in kvittering_records(rec, receipts, self.topics):
                self.sender.send(out)
        if todo:
            self.sender.flush_or_raise(self.flush_timeout_s)
        # 5.
        if next_offsets:
            self.journal.done([h for _, h, _, with_hos in todo if with_hos], next_offsets)
        return result


def bridge_topics(topics: Topics) -> tuple[str, ...]:
    """The topics the bridge reads and writes."""
    return (topics.oppdrag, topics.simuleringer, topics.status, topics.kvittering, *topics.dryruns())


def run_bridge(
    settings: Settings,
    gateway: OsGateway,
    state_dir: Path,
    stop: threading.Event,
    *,
    on_batch: Callable[[BatchResult], None] | None = None,
    poll_s: float = 0.1,
    max_batch: int = 100,
    watch_s: float | None = None,
    on_broker_fault: Callable[[str], None] | None = None,
) -> None:
    """Consume the Oppdrag topic and run the protocol until `stop` is set.

    Resumes after the offsets in the journal (`state_dir/bridge.sqlite`). Any error (broker,
    gateway, journal) is raised: the caller stops, and a restart finishes what was handed over.

    Broker faults (`helved.kafka.faults`): a journal offset beyond the end of its partition (the
    journal belongs to another broker, or the topic was recreated) raises `BrokerFault` before
    anything is read. While running, a `TopicWatcher` looks every `watch_s` seconds (default
    `HELVED_TOPIC_WATCH_S`; 0: never) whether the bridge's topics are still there as at start;
    if not, `on_broker_fault(message)` is called from the watcher's thread (`helved
    os-emulator` ends the process there), or, without one, the loop raises `BrokerFault`.
    """
    from helved.kafka.faults import START_OVER, BrokerFault, TopicWatcher, watch_interval_s
    from helved.kafka.offsets import beyond_end

    topic = settings.topics.oppdrag
    topics = [topic, settings.topics.simuleringer]
    journal = Journal(state_dir / "bridge.sqlite")
    relay = AvstemmingRelay(state_dir / "avstemming.sqlite")
    consumer = new_consumer(settings)
    watcher: TopicWatcher | None = None
    faults: list[str] = []
    try:
        by_topic = partitions_of(consumer, topics)
        try:  # avstemming messages to OS, where the topic exists (`helved topics ensure`)
            by_topic.update(partitions_of(consumer, [settings.topics.avstemming]))
            topics.append(settings.topics.avstemming)
        except TopicMissing:
            log.info("no topic %s: the bridge hands no avstemming to OS", settings.topics.avstemming)
        parts = by_topic[topic]
        stored = journal.offsets()
        assigned = {(t, p) for t in topics for p in by_topic[t]}
        config = {**settings.kafka_client_config(), "logger": LIBRDKAFKA_LOG}
        for t, p, offset, end in beyond_end(config, {tp: o for tp, o in stored.items() if tp in assigned}):
            raise BrokerFault(
                f"the OS bridge's journal {journal.path} holds offsets beyond the end of topic {t} "
                f"partition {p} (resume at {offset}, end {end}): it belongs to another broker or "
                f"the topic was recreated; {START_OVER}"
            )
        interval = watch_interval_s() if watch_s is None else watch_s
        if interval:
            watcher = TopicWatcher(
                settings,
                bridge_topics(settings.topics),
                interval_s=interval,
                on_fault=on_broker_fault or faults.append,
                state=f"the OS bridge's journal {journal.path} and the pipeline's recovery directory",
            ).start()
        consumer.assign(
            [TopicPartition(t, p, stored.get((t, p), OFFSET_BEGINNING)) for t in topics for p in by_topic[t]]
        )
        done, unfinished = journal.counts()
        log.info(
            "OS bridge on %s (%d partitions): %d handed over before, %d to finish",
            topic,
            len(parts),
            done,
            unfinished,
        )
        with ReliableProducer(settings) as producer:
            bridge = OsBridge(settings.topics, journal, gateway, producer, relay=relay)
            while not stop.is_set():
                if faults:
                    raise BrokerFault(faults[0])
                records: list[InRecord] = []
                for msg in poll_batch(consumer, poll_s, max_batch):
                    error = msg.error()
                    if error is None:
                        records.append(to_in_record(msg))
                    elif error.code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(f"error consuming from {msg.topic()}: {error.str()}")
                if records:
                    started = time.monotonic()
                    result = bridge.process(records)
                    log.debug("batch of %d in %.3f s", len(records), time.monotonic() - started)
                    if on_batch is not None:
                        on_batch(result)
    finally:
        if watcher is not None:
            watcher.stop()
        consumer.close()
        journal.close()
        relay.close()
