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
   Otherwise hand over: journal the intent to hand h over (durable), then `receipts =
   gateway.hand_over(R.value)`, and journal h as *handed* with the receipts at once (durable,
   in one transaction with the intent of the batch's next hand-over), before anything is
   produced.
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
with its first receipt and books nothing. The journal makes that window visible: a hash with an
intent but not handed was being handed over when the bridge stopped (a crash, or a gateway
error), so OS may have it. When its record comes again it is handed over again (there are no
receipts to finish with), and that hand-over is a *suspected double payment*: logged as a
warning with its sak, counted (`helved_suspected_double_payments_total`) and kept in the journal
(`helved_suspected_double_payment_last_timestamp_seconds`, alert `HelvedSuspectedDoublePayment`),
for an operator to check in OS whether it was booked twice. A copy of an Oppdrag the journal
holds as handed (the pipeline's replays) is no such case: it is never handed over again.

**Resend** (an operator's action in `helved console`, issue 16): the bridge also reads
`helved.audit.v1` (when the topic exists). An audit record with header `action: resend` names
an Oppdrag by its topic/partition/offset and has an id A; it is a one-time override of step 2's
"already handed over", in this order:

R1. The journal holds A as *done*: nothing (a copy of the audit record, or read again).
    It holds A as *handed*: produce the receipts it kept for A (R4), then R5.
R2. Read the record at that position. Skip A (logged) unless it is on the Oppdrag topic, its
    sha256 is the one A names, the journal holds that hash (this bridge handed it over: it never
    sends what did not come from the pipeline, and an Oppdrag it has not read yet is handed over
    when it is), and A is not older than that hand-over (a journal started afresh does not act
    on actions about an earlier hand-over).
R3. Hand it over again: `receipts = gateway.hand_over(value)`; journal A as *handed* with them,
    durably, appended to the hash's receipts (a copy of the Oppdrag gets them too, step 2).
R4. Produce the receipts to the kvittering topic, keyed and with headers as step 4's, plus
    `resend: A`; wait for the acks. (No second HOS_OPPDRAG: the status is that already.)
R5. Journal A as *done*, in the same transaction as the next offset of the audit record.

So each resend action hands its Oppdrag over at most once, across restarts, with the same one
window as step 2 (a crash between OS accepting it and R3's journal write; a resend is an
operator's explicit "OS may not have it", so it is not counted as a suspected double payment).

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

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from helved.codec import encode_verdict
from helved.config import Settings, Topics
from helved.domain.model import StatusKind
from helved.kafka.admin import LIBRDKAFKA_LOG
from helved.kafka.consumer import TopicMissing, partitions_of, poll_batch, to_in_record
from helved.kafka.consumer import consumer as new_consumer
from helved.kafka.producer import ReliableProducer
from helved.metrics import METRICS, Metrics
from helved.os.avstemming_relay import AvstemmingRelay
from helved.os.port import OsGateway
from helved.records import Headers, InRecord, OutRecord, provenance

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


def kvittering_records(
    rec: InRecord, receipts: Iterable[bytes], topics: Topics, extra: Headers = ()
) -> list[OutRecord]:
    """The receipts of an Oppdrag record, keyed like it (`extra` headers last). The timestamp is
    the Oppdrag record's, so a replay of the bridge produces the same bytes (nothing depends on
    the wall clock)."""
    hs = _headers(rec, _COPIED_HEADERS) + tuple(extra)
    return [OutRecord(topics.kvittering, rec.key, r, hs, rec.timestamp_ms) for r in receipts]


@dataclass(frozen=True, slots=True)
class Resend:
    """An operator's resend action read from the audit topic (`helved.console.actions`)."""

    action: str  # the audit entry's id
    topic: str
    partition: int
    offset: int
    sha256: str | None
    who: str | None


def resend_of(rec: InRecord) -> Resend | None:
    """The resend action an audit record holds, or None (another action, or malformed)."""
    if rec.value is None or rec.header("action") != b"resend":
        return None
    try:
        obj = orjson.loads(rec.value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or obj.get("action") != "resend" or not isinstance(obj.get("id"), str):
        return None
    target, details = obj.get("target"), obj.get("details")
    if not isinstance(target, dict):
        return None
    topic, partition, offset = target.get("topic"), target.get("partition"), target.get("offset")
    if not isinstance(topic, str) or type(partition) is not int or type(offset) is not int:
        return None
    sha = details.get("sha256") if isinstance(details, dict) else None
    who = obj.get("who")
    sha = sha if isinstance(sha, str) else None
    return Resend(obj["id"], topic, partition, offset, sha, who if isinstance(who, str) else None)


def why_not_resend(
    resend: Resend,
    oppdrag: InRecord | None,
    entry: Entry | None,
    handed_at_ms: int | None,
    asked_ms: int | None,
    topics: Topics,
) -> str | None:
    """Step R2: why the bridge does not hand the named Oppdrag over again, or None."""
    if resend.topic != topics.oppdrag:
        return f"it names {resend.topic}, not the Oppdrag topic"
    if oppdrag is None or oppdrag.value is None:
        return "there is no Oppdrag at that position (gone by retention, or a tombstone)"
    if resend.sha256 is not None and content_hash(oppdrag.value) != resend.sha256:
        return "the record at that position is not the Oppdrag the operator saw (another sha256)"
    if entry is None:
        return "this bridge has not handed that Oppdrag over yet: it will when it reads it"
    if handed_at_ms is not None and asked_ms is not None and asked_ms < handed_at_ms:
        return "the action is older than this bridge's hand-over of the Oppdrag (a journal started afresh)"
    return None


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
            CREATE TABLE IF NOT EXISTS intent (
                hash TEXT PRIMARY KEY,
                topic TEXT NOT NULL, partition INTEGER NOT NULL, "offset" INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS suspect (
                hash TEXT PRIMARY KEY,
                topic TEXT NOT NULL, partition INTEGER NOT NULL, "offset" INTEGER NOT NULL,
                at REAL NOT NULL
            );
            CREATE TABLE IF NOT EXISTS resend (
                action TEXT PRIMARY KEY, hash TEXT NOT NULL,
                first_idx INTEGER NOT NULL, n INTEGER NOT NULL, done INTEGER NOT NULL
            );
            """
        )
        # When each hash was handed over (epoch ms): a resend action older than that is stale.
        # Journals from before resends lack the column: it is added, NULL for their rows.
        if "handed_at" not in {row[1] for row in self._db.execute("PRAGMA table_info(handover)")}:
            self._db.execute("ALTER TABLE handover ADD COLUMN handed_at INTEGER")

    def get(self, h: str) -> Entry | None:
        row = self._db.execute("SELECT done FROM handover WHERE hash = ?", (h,)).fetchone()
        if row is None:
            return None
        receipts = self._db.execute("SELECT value FROM receipt WHERE hash = ? ORDER BY idx", (h,)).fetchall()
        return Entry(bool(row[0]), tuple(bytes(r[0]) for r in receipts))

    def intend(self, h: str, rec: InRecord) -> None:
        """Step 2: `h` is about to be handed over (its own transaction)."""
        with self._tx():
            self._intend(h, rec)

    def _intend(self, h: str, rec: InRecord) -> None:
        self._db.execute(
            'INSERT OR REPLACE INTO intent (hash, topic, partition, "offset") VALUES (?, ?, ?, ?)',
            (h, rec.topic, rec.partition, rec.offset),
        )

    def intended(self, h: str) -> bool:
        """An intent to hand `h` over without its hand-over recorded: OS may have it."""
        return self._db.execute("SELECT 1 FROM intent WHERE hash = ?", (h,)).fetchone() is not None

    def handed(
        self,
        h: str,
        receipts: Iterable[bytes],
        rec: InRecord,
        *,
        suspect_at: float | None = None,
        then: tuple[str, InRecord] | None = None,
    ) -> None:
        """Step 2: `h` was handed over and answered with `receipts`; with `suspect_at`, it was
        handed over again after an interrupted hand-over (a suspected double payment, at that
        time); `then`: the intent of the next hand-over, in the same transaction."""
        with self._tx():
            self._db.execute(
                'INSERT INTO handover (hash, done, topic, partition, "offset", handed_at) VALUES (?, 0, ?, ?, ?, ?)',
                (h, rec.topic, rec.partition, rec.offset, time.time_ns() // 1_000_000),
            )
            self._db.executemany(
                "INSERT INTO receipt (hash, idx, value) VALUES (?, ?, ?)",
                [(h, i, r) for i, r in enumerate(receipts)],
            )
            self._db.execute("DELETE FROM intent WHERE hash = ?", (h,))
            if suspect_at is not None:
                self._db.execute(
                    'INSERT OR REPLACE INTO suspect (hash, topic, partition, "offset", at) VALUES (?, ?, ?, ?, ?)',
                    (h, rec.topic, rec.partition, rec.offset, suspect_at),
                )
            if then is not None:
                self._intend(*then)

    def suspects(self) -> list[tuple[str, str, int, int, float]]:
        """(hash, topic, partition, offset, when) of every suspected double payment, oldest first."""
        rows = self._db.execute('SELECT hash, topic, partition, "offset", at FROM suspect ORDER BY at').fetchall()
        return [(str(h), str(t), int(p), int(o), float(a)) for h, t, p, o, a in rows]

    def last_suspect(self) -> float:
        """When the last suspected double payment was handed over (0.0: never)."""
        row = self._db.execute("SELECT coalesce(max(at), 0) FROM suspect").fetchone()
        return float(row[0])

    def done(self, hashes: Iterable[str], next_offsets: dict[tuple[str, int], int]) -> None:
        """Step 5: the hashes are finished and the records before these offsets consumed."""
        with self._tx():
            self._db.executemany("UPDATE handover SET done = 1 WHERE hash = ?", [(h,) for h in hashes])
            self._db.executemany(
                "INSERT INTO consumed (topic, partition, next_offset) VALUES (?, ?, ?) "
                "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
                [(t, p, o) for (t, p), o in next_offsets.items()],
            )

    def handed_at(self, h: str) -> int | None:
        """When `h` was handed over (epoch ms); None when unknown (a row of an older journal)."""
        row = self._db.execute("SELECT handed_at FROM handover WHERE hash = ?", (h,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def resend_state(self, action: str) -> tuple[bool, tuple[bytes, ...]] | None:
        """(done, the receipts of its hand-over) of resend action `action`; None if not handed."""
        row = self._db.execute("SELECT hash, first_idx, n, done FROM resend WHERE action = ?", (action,)).fetchone()
        if row is None:
            return None
        h, first, n, done = row
        receipts = self._db.execute(
            "SELECT value FROM receipt WHERE hash = ? AND idx >= ? AND idx < ? ORDER BY idx", (h, first, first + n)
        ).fetchall()
        return bool(done), tuple(bytes(r[0]) for r in receipts)

    def resend_handed(self, action: str, h: str, receipts: Iterable[bytes]) -> None:
        """Step R3: resend `action` handed `h` over again, answered with `receipts` (appended to
        the hash's receipts)."""
        values = list(receipts)
        with self._tx():
            (first,) = self._db.execute("SELECT coalesce(max(idx) + 1, 0) FROM receipt WHERE hash = ?", (h,)).fetchone()
            self._db.executemany(
                "INSERT INTO receipt (hash, idx, value) VALUES (?, ?, ?)",
                [(h, first + i, r) for i, r in enumerate(values)],
            )
            self._db.execute(
                "INSERT INTO resend (action, hash, first_idx, n, done) VALUES (?, ?, ?, ?, 0)",
                (action, h, first, len(values)),
            )

    def resend_done(self, action: str, next_offsets: dict[tuple[str, int], int]) -> None:
        """Step R5: resend `action` is finished and the audit records before these offsets consumed."""
        with self._tx():
            self._db.execute("UPDATE resend SET done = 1 WHERE action = ?", (action,))
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
    suspected: int = 0  # handed over again after an interrupted hand-over (OS may have it twice)
    keys: list[str | None] = field(default_factory=list)  # keys of the Oppdrag handed over
    avstemminger: list[str] = field(default_factory=list)  # one line per avstemming id handed over
    resent: int = 0  # Oppdrag handed over again by an operator's resend action


# Reads one record by its position: (topic, partition, offset) -> the record, or None.
Fetch = Callable[[str, int, int], InRecord | None]


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
        metrics: Metrics | None = None,
        fetch: Fetch | None = None,
    ) -> None:
        self.fetch = fetch  # reads the Oppdrag a resend action names (run_bridge: `RecordFetcher`)
        self.topics = topics
        self.journal = journal
        self.gateway = gateway
        self.sender = sender
        self.flush_timeout_s = flush_timeout_s
        self.relay = relay
        self.metrics = metrics if metrics is not None else METRICS
        self.metrics.suspected_seen(journal.last_suspect())

    def process(self, records: list[InRecord]) -> BatchResult:
        simulations = [r for r in records if r.topic == self.topics.simuleringer and r.value is not None]
        if simulations:
            self._simulate(simulations)
        avstemming = [r for r in records if r.topic == self.topics.avstemming]
        audit = [r for r in records if r.topic == self.topics.audit]
        others = (self.topics.simuleringer, self.topics.avstemming, self.topics.audit)
        result = self._oppdrag([r for r in records if r.topic not in others])
        if audit:  # after this batch's Oppdrag: a resend names one handed over before
            result.resent = self._resends(audit)
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

    def _resends(self, records: list[InRecord]) -> int:
        """Steps R1-R5 (module docstring) for the resend actions among audit records."""
        resent = 0
        next_offsets: dict[tuple[str, int], int] = {}
        for rec in records:
            next_offsets[(rec.topic, rec.partition)] = rec.offset + 1
            resend = resend_of(rec)
            if resend is None:
                continue
            where = f"{resend.topic}[{resend.partition}]@{resend.offset}"
            # R1.
            state = self.journal.resend_state(resend.action)
            if state is not None and state[0]:
                log.info("resend %s of %s: done before", resend.action, where)
                continue
            if self.fetch is None:
                log.warning("resend %s of %s: this bridge cannot read records by position", resend.action, where)
                continue
            # R2.
            oppdrag = self.fetch(resend.topic, resend.partition, resend.offset)
            if state is not None:
                if oppdrag is None:  # never seen (retention between a crash and now): not a crash loop
                    log.error("resend %s: the Oppdrag at %s is gone; no receipts produced", resend.action, where)
                    self.journal.resend_done(resend.action, dict(next_offsets))
                    continue
                receipts = state[1]
                log.warning("resend %s of %s was handed over before a restart: finishing", resend.action, where)
            else:
                h = content_hash(oppdrag.value) if oppdrag is not None and oppdrag.value is not None else ""
                why = why_not_resend(
                    resend,
                    oppdrag,
                    self.journal.get(h) if h else None,
                    self.journal.handed_at(h) if h else None,
                    rec.timestamp_ms,
                    self.topics,
                )
                if why is not None:
                    log.warning("resend %s of %s (by %s) not done: %s", resend.action, where, resend.who, why)
                    continue
                assert oppdrag is not None and oppdrag.value is not None
                # R3.
                receipts = tuple(self.gateway.hand_over(oppdrag.value))
                self.journal.resend_handed(resend.action, h, receipts)
                n = len(receipts)
                log.info("resend %s (by %s): %s handed over again (%d receipts)", resend.action, resend.who, where, n)
            # R4.
            for out in kvittering_records(oppdrag, receipts, self.topics, (("resend", resend.action.encode()),)):
                self.sender.send(out)
            if receipts:
                self.sender.flush_or_raise(self.flush_timeout_s)
            # R5.
            self.journal.resend_done(resend.action, dict(next_offsets))
            resent += 1
        self.journal.done([], next_offsets)
        return resent

    def _oppdrag(self, records: list[InRecord]) -> BatchResult:
        result = BatchResult()
        # (record, hash, receipts, whether HOS_OPPDRAG is still to be produced)
        todo: list[tuple[InRecord, str, tuple[bytes, ...], bool]] = []
        in_batch: set[str] = set()
        next_offsets: dict[tuple[str, int], int] = {}
        # 1. and what step 2 will do, for the whole batch first: the journal write after one
        # hand-over carries the intent of the next (one extra write per batch, not per record).
        plan: list[tuple[InRecord, str, Action, bool]] = []  # record, hash, action, suspected
        for rec in records:
            next_offsets[(rec.topic, rec.partition)] = rec.offset + 1
            h = content_hash(rec.value) if rec.value is not None else None
            if h is None or h in in_batch:
                result.skipped += 1
                where = f"{rec.topic}[{rec.partition}]@{rec.offset}"
                log.info("skip %s: %s", where, "a tombstone" if h is None else "a copy in the same batch")
                continue
            in_batch.add(h)
            action = decide(rec, self.journal.get(h))
            plan.append((rec, h, action, isinstance(action, HandOver) and self.journal.intended(h)))
        handovers = [(h, rec) for rec, h, action, _ in plan if isinstance(action, HandOver)]
        if handovers:
            self.journal.intend(*handovers[0])
        upcoming = iter(handovers[1:])
        for rec, h, action, suspected in plan:
            where = f"{rec.topic}[{rec.partition}]@{rec.offset}"
            # 2.
            if isinstance(action, HandOver):
                assert rec.value is not None
                receipts = tuple(self.gateway.hand_over(rec.value))
                at = time.time() if suspected else None
                self.journal.handed(h, receipts, rec, suspect_at=at, then=next(upcoming, None))
                result.handed_over += 1
                result.keys.append(rec.key)
                log.info("handed over %s (%d receipts)", where, len(receipts))
                if at is not None:
                    result.suspected += 1
                    self.metrics.suspected_double_payment(at)
                    sak = rec.header("sak")
                    log.warning(
                        "%s was being handed over to OS when the bridge last stopped, and is handed over "
                        "again: OS may have it twice (suspected double payment); check sak %s in OS",
                        where,
                        sak.decode(errors="replace") if sak is not None else "?",
                        extra={"topic": rec.topic, "partition": rec.partition, "offset": rec.offset},
                    )
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


class RecordFetcher:
    """Reads one record by its position, for a resend action (R2): a consumer of its own,
    assigned to that one offset. None when there is no such record (before the partition's
    start or at its end); an error of the broker is raised, as the bridge's other errors."""

    def __init__(self, settings: Settings, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._consumer: Consumer | None = None

    def __call__(self, topic: str, partition: int, offset: int) -> InRecord | None:
        if self._consumer is None:
            self._consumer = new_consumer(self.settings)
        c = self._consumer
        c.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + self.timeout_s
        try:
            while time.monotonic() < deadline:
                msg = c.poll(0.2)
                if msg is None:
                    continue
                error = msg.error()
                if error is not None:
                    if error.code() in (KafkaError._PARTITION_EOF, KafkaError._AUTO_OFFSET_RESET):
                        return None  # at the end, or gone by retention
                    raise RuntimeError(f"error reading {topic}[{partition}]@{offset}: {error.str()}")
                got = msg.offset()
                if got == offset:
                    return to_in_record(msg)
                if got is not None and got > offset:
                    return None
            raise TimeoutError(f"could not read {topic}[{partition}]@{offset} within {self.timeout_s:g} s")
        finally:
            c.unassign()

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


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

    Metrics (`helved.metrics`): the consumer lag of its partitions (`helved.kafka.progress`,
    every `HELVED_LAG_INTERVAL_S`), and, where `helved.avstemt.v1` exists, when avstemming last
    ran (`helved.os.avstemt_watch`).
    """
    from helved.kafka.faults import START_OVER, BrokerFault, TopicWatcher, watch_interval_s
    from helved.kafka.offsets import beyond_end
    from helved.kafka.progress import ConsumerLag, lag_interval_s
    from helved.os.avstemt_watch import AvstemtWatch

    topic = settings.topics.oppdrag
    topics = [topic, settings.topics.simuleringer]
    journal = Journal(state_dir / "bridge.sqlite")
    relay = AvstemmingRelay(state_dir / "avstemming.sqlite")
    consumer = new_consumer(settings)
    watcher: TopicWatcher | None = None
    fetcher = RecordFetcher(settings)
    lag: ConsumerLag | None = None
    avstemt: AvstemtWatch | None = None
    faults: list[str] = []
    try:
        by_topic = partitions_of(consumer, topics)
        try:  # avstemming messages to OS, where the topic exists (`helved topics ensure`)
            by_topic.update(partitions_of(consumer, [settings.topics.avstemming]))
            topics.append(settings.topics.avstemming)
        except TopicMissing:
            log.info("no topic %s: the bridge hands no avstemming to OS", settings.topics.avstemming)
        try:  # operators' resend actions (helved console), where the topic exists
            by_topic.update(partitions_of(consumer, [settings.topics.audit]))
            topics.append(settings.topics.audit)
        except TopicMissing:
            log.info("no topic %s: the bridge acts on no resend action", settings.topics.audit)
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
        # helved_consumer_lag_records of the bridge's partitions (helved.kafka.progress).
        lag = ConsumerLag(config, interval_s=lag_interval_s())
        for t in topics:
            for p in by_topic[t]:
                lag.track(t, p, stored.get((t, p), OFFSET_BEGINNING))
        lag.start()
        # When avstemming last ran, for HelvedAvstemmingNotRun (helved.os.avstemt_watch).
        try:
            partitions_of(consumer, [settings.topics.avstemt])
            avstemt = AvstemtWatch(settings).start()
        except TopicMissing:
            log.info("no topic %s: no avstemming run metrics", settings.topics.avstemt)
        done, unfinished = journal.counts()
        log.info(
            "OS bridge on %s (%d partitions): %d handed over before, %d to finish",
            topic,
            len(parts),
            done,
            unfinished,
        )
        with ReliableProducer(settings) as producer:
            bridge = OsBridge(settings.topics, journal, gateway, producer, relay=relay, fetch=fetcher)
            while not stop.is_set():
                if faults:
                    raise BrokerFault(faults[0])
                records: list[InRecord] = []
                for msg in poll_batch(consumer, poll_s, max_batch):
                    error = msg.error()
                    if error is None:
                        records.append(to_in_record(msg))
                        lag.delivered(records[-1].topic, records[-1].partition, records[-1].offset)
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
        if lag is not None:
            lag.stop()
        if avstemt is not None:
            avstemt.stop()
        consumer.close()
        fetcher.close()
        journal.close()
        relay.close()
