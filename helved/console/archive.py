"""The console's archive: every record of every helved topic in one database table, indexed by
key, sak, fagsystem, status and time (issue 16).

One code path over SQLAlchemy Core for the embedded default (a SQLite file) and production
(PostgreSQL through a DSN, `HELVED_CONSOLE_DSN`); only the "insert, ignore what is there" and
"upsert the offset" statements come from the dialect (both spell them the same way).

Ingest is a function of `InRecord` batches (`Archive.ingest`), so tests feed records made by
`helved.replay` without Kafka; `follow` is the Kafka loop around it. In one transaction per batch:

1. drop records below the stored position of their partition (already archived);
2. derive each record's columns (`derive`, pure): kind, sak, fagsystem, status, original key,
   uid, code (receipt grade, error code, audit action), ref (nokkelAvstemming, audit target);
3. fill the sak of records that only name their request (statuses, DLQ, dryrun answers) or
   their uid (pending tombstones) from what is archived, and back-fill records that came before
   the request they belong to;
4. mark replays: a record with the same topic, key, value and provenance headers as one
   archived before (a pipeline replay after a crash) is kept but flagged `replay`;
5. insert, ignoring (topic, partition, offset) already there, and move the partition's position.

So a batch archived twice, or a topic read again from the beginning, changes nothing, and a
restarted console resumes at the stored positions.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from lxml import etree

from helved.config import Settings, Topics
from helved.records import InRecord

log = logging.getLogger(__name__)

# Indexed text columns hold at most this many characters (btree entries have a size limit on
# PostgreSQL; a key longer than this is still kept whole in `key`).
IX = 200

metadata = sa.MetaData()

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only

records = sa.Table(
    "console_records",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("topic", sa.String(249), nullable=False),
    sa.Column("kafka_partition", sa.Integer, nullable=False),
    sa.Column("kafka_offset", sa.BigInteger, nullable=False),
    sa.Column("key", sa.Text),
    sa.Column("key_ix", sa.String(IX)),
    # The value as text (UTF-8; undecodable bytes replaced): search and display. The bytes are
    # kept in `raw` only when the text is not them exactly (not UTF-8, or a NUL in it), so the
    # value is stored once; `tombstone` tells a null value from an empty one.
    sa.Column("body", sa.Text),
    sa.Column("raw", sa.LargeBinary),
    sa.Column("tombstone", sa.Boolean, nullable=False, default=False),
    # [[name, value], ...] in record order, values as text.
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column("timestamp_ms", sa.BigInteger),
    # Derived (see `derive`).
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("sak_id", sa.String(IX)),
    sa.Column("fagsystem", sa.String(64)),
    sa.Column("status", sa.String(16)),
    sa.Column("original_key", sa.String(IX)),
    sa.Column("uid", sa.String(64)),
    sa.Column("code", sa.String(64)),
    sa.Column("ref", sa.String(IX)),
    sa.Column("fingerprint", sa.String(64)),
    sa.Column("replay", sa.Boolean, nullable=False, default=False),
    sa.UniqueConstraint("topic", "kafka_partition", "kafka_offset", name="console_records_position"),
    sa.Index("console_records_key", "key_ix"),
    sa.Index("console_records_sak", "sak_id", "fagsystem"),
    sa.Index("console_records_fagsystem", "fagsystem", "kind"),
    sa.Index("console_records_status", "status", "kind"),
    sa.Index("console_records_time", "timestamp_ms"),
    sa.Index("console_records_original_key", "original_key"),
    sa.Index("console_records_uid", "uid"),
    sa.Index("console_records_kind", "kind", "id"),
    sa.Index("console_records_ref", "ref"),
    sa.Index("console_records_fingerprint", "fingerprint"),
)

positions = sa.Table(
    "console_positions",
    metadata,
    sa.Column("topic", sa.String(249), primary_key=True),
    sa.Column("kafka_partition", sa.Integer, primary_key=True),
    # The offset of the next record to archive.
    sa.Column("next_offset", sa.BigInteger, nullable=False),
)

# Record kinds, one per kind of topic.
KINDS = (
    "request", "status", "oppdrag", "kvittering", "pending", "utbetaling", "saker", "simulering",
    "dryrun", "dlq", "intake", "sak-state", "avstemming", "avstemt", "audit", "other",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Deriving the indexed columns of one record (pure)


class TopicMap:
    """Which kind of record each topic holds, and the fagsystem of the senders' topics."""

    def __init__(self, topics: Topics) -> None:
        from helved import fagsystemer

        self.topics = topics
        self.inputs: dict[str, str] = {t: f.value for t, f in topics.inputs().items()}
        self.dryruns: dict[str, str] = {
            topics.prefix + c.dryrun_topic: c.fagsystem.value for c in fagsystemer.contracts()
        }
        t = topics
        own = {
            t.status: "status", t.oppdrag: "oppdrag", t.kvittering: "kvittering",
            t.pending: "pending", t.utbetalinger: "utbetaling", t.saker: "saker",
            t.simuleringer: "simulering", t.dlq: "dlq", t.intake: "intake",
            t.sak_state: "sak-state", t.avstemming: "avstemming", t.avstemt: "avstemt",
            t.audit: "audit",
        }  # fmt: skip
        self.kinds: dict[str, str] = {
            **{x: "request" for x in self.inputs},
            **{x: "dryrun" for x in self.dryruns},
            **own,
        }

    def kind(self, topic: str) -> str:
        return self.kinds.get(topic, "other")

    def fagsystem_of(self, topic: str) -> str | None:
        return self.inputs.get(topic) or self.dryruns.get(topic)


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", errors="replace")


def _exact_text(value: bytes | None) -> bool:
    """The value is None, or UTF-8 text without NUL (stored as text alone, see `body`)."""
    if value is None:
        return True
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in value


def value_of(row: Mapping[str, Any]) -> bytes | None:
    """A record's value bytes, from its row."""
    if row["tombstone"]:
        return None
    if row["raw"] is not None:
        return bytes(row["raw"])
    return (row["body"] or "").encode("utf-8")


def json_or_none(value: bytes | None) -> Any:
    if not value:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def _str(value: Any, limit: int = IX) -> str | None:
    """A scalar as a bounded string for an indexed column; anything else None."""
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text[:limit] or None


def sak_of(text: str | bytes | None) -> tuple[str | None, str | None]:
    """(sakId, fagsystem) of a sak key's JSON text (`{"sakId":…,"fagsystem":…}`)."""
    if not text:
        return None, None
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(obj, dict):
        return None, None
    return _str(obj.get("sakId")), _str(obj.get("fagsystem"), 64)


_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)


def _local(el: Any) -> str | None:
    tag = el.tag
    if not isinstance(tag, str):
        return None
    return tag.rsplit("}", 1)[-1]


def xml_fields(value: bytes | None, names: frozenset[str]) -> dict[str, str]:
    """The first trimmed text of each element named in `names` (by local name), anywhere."""
    out: dict[str, str] = {}
    if not value:
        return out
    try:
        root = etree.fromstring(value, _XML_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return out
    for el in root.iter():
        name = _local(el)
        if name in names and name not in out and el.text is not None and el.text.strip():
            out[name] = el.text.strip()
    return out


_OPPDRAG_FIELDS = frozenset({"fagsystemId", "kodeFagomraade", "nokkelAvstemming", "alvorlighetsgrad"})
# A FEILET's stable code comes first in `error.msg` ("MISSING_FIELD: sakId is required").
_CODE = re.compile(r"^([A-Z][A-Z0-9_]{2,63})\b")


def error_code(msg: Any) -> str | None:
    if not isinstance(msg, str):
        return None
    m = _CODE.match(msg.strip())
    return m.group(1) if m else _str(msg, 64)


def _fagsystem_of_fagomraade(code: str | None) -> str | None:
    if not code:
        return None
    from helved import fagsystemer

    for c in fagsystemer.contracts():
        if code in c.fagområder:
            return c.fagsystem.value
    return None


def derive(rec: InRecord, tmap: TopicMap) -> dict[str, Any]:
    """The archive row of `rec`: its own fields and the derived, indexed ones. Pure; never raises
    on a malformed value (it is archived with what could be derived)."""
    headers: dict[str, str] = {}
    for name, raw in rec.headers:
        headers.setdefault(name, raw.decode("utf-8", errors="replace"))
    kind = tmap.kind(rec.topic)
    sak_id, fagsystem = sak_of(headers.get("sak"))
    fagsystem = fagsystem or _str(headers.get("fagsystem"), 64)
    original_key = _str(headers.get("original-key"))
    status = code = ref = uid = None

    if kind == "request":
        obj = json_or_none(rec.value)
        fagsystem = tmap.fagsystem_of(rec.topic)
        original_key = _str(rec.key)
        if isinstance(obj, dict):
            sak_id = _str(obj.get("sakId"))
            code = "dryrun" if obj.get("dryrun") is True else None
    elif kind == "status":
        obj = json_or_none(rec.value)
        original_key = original_key or _str(rec.key)
        if isinstance(obj, dict):
            status = _str(obj.get("status"), 16)
            err = obj.get("error")
            if isinstance(err, dict):
                code = error_code(err.get("msg"))
    elif kind in ("oppdrag", "kvittering", "simulering"):
        original_key = original_key or _str(rec.key)
        fields = xml_fields(rec.value, _OPPDRAG_FIELDS)
        sak_id = sak_id or _str(fields.get("fagsystemId"))
        fagsystem = fagsystem or _fagsystem_of_fagomraade(fields.get("kodeFagomraade"))
        ref = _str(fields.get("nokkelAvstemming"))
        if kind == "kvittering":
            code = _str(fields.get("alvorlighetsgrad"), 64)
    elif kind in ("pending", "utbetaling"):
        uid = _str(rec.key, 64)
        obj = json_or_none(rec.value)
        if isinstance(obj, dict):
            sak_id = _str(obj.get("sakId"))
            fagsystem = _str(obj.get("fagsystem"), 64) or fagsystem
            code = _str(obj.get("action"), 64)
    elif kind in ("saker", "intake", "sak-state"):
        k_sak, k_fag = sak_of(rec.key)
        sak_id, fagsystem = sak_id or k_sak, k_fag or fagsystem
        if kind == "intake":
            original_key = original_key or _str(headers.get("intake-key"))
    elif kind == "dryrun":
        original_key = original_key or _str(rec.key)
        fagsystem = fagsystem or tmap.fagsystem_of(rec.topic)
    elif kind == "dlq":
        original_key = original_key or _str(rec.key)
        fagsystem = fagsystem or tmap.fagsystem_of(headers.get("src-topic", ""))
        code = error_code(headers.get("error"))
        obj = json_or_none(rec.value)
        if isinstance(obj, dict) and not sak_id:
            sak_id = _str(obj.get("sakId"))
    elif kind == "avstemming":
        code = _str(rec.key, 64)
    elif kind == "avstemt":
        ref = _str(rec.key)
    elif kind == "audit":
        obj = json_or_none(rec.value)
        if isinstance(obj, dict):
            code = _str(obj.get("action"), 64)
            target = obj.get("target")
            if isinstance(target, dict):
                ref = target_ref(target.get("topic"), target.get("partition"), target.get("offset"))
                original_key = _str(target.get("originalKey")) or _str(target.get("key"))
            sak = obj.get("sak")
            if isinstance(sak, dict):
                sak_id, fagsystem = _str(sak.get("sakId")), _str(sak.get("fagsystem"), 64)

    fingerprint = None
    if "src-offset" in headers:
        h = hashlib.sha256()
        for part in (
            rec.topic,
            rec.key,
            headers.get("src-topic"),
            headers.get("src-partition"),
            headers.get("src-offset"),
        ):
            data = b"\x00" if part is None else b"\x01" + part.encode("utf-8", errors="replace")
            h.update(len(data).to_bytes(4, "big") + data)
        # An operator's action makes records with the provenance (and maybe the value) of an
        # earlier one: a receipt after a resend, a manual receipt. Their action id tells them
        # from a replay (added only when present: other records keep their fingerprints).
        for name in ("resend", "manual-receipt"):
            if name in headers:
                data = name.encode() + b"=" + headers[name].encode("utf-8", errors="replace")
                h.update(len(data).to_bytes(4, "big") + data)
        value = b"\x00" if rec.value is None else b"\x01" + rec.value
        h.update(len(value).to_bytes(8, "big") + value)
        fingerprint = h.hexdigest()

    row: dict[str, Any] = {
        "topic": rec.topic,
        "kafka_partition": rec.partition,
        "kafka_offset": rec.offset,
        "key": rec.key,
        "key_ix": None if rec.key is None else rec.key[:IX],
        "body": _text(rec.value),
        "raw": None if _exact_text(rec.value) else rec.value,
        "tombstone": rec.value is None,
        "headers": [[name, raw.decode("utf-8", errors="replace")] for name, raw in rec.headers],
        "timestamp_ms": rec.timestamp_ms,
        "kind": kind,
        "sak_id": sak_id,
        "fagsystem": fagsystem,
        "status": status,
        "original_key": original_key,
        "uid": uid,
        "code": code,
        "ref": ref,
        "fingerprint": fingerprint,
        "replay": False,
    }
    # PostgreSQL's text cannot hold NUL: a value with one is kept whole in `value` (bytes).
    for name, v in row.items():
        if isinstance(v, str) and "\x00" in v:
            row[name] = v.replace("\x00", "\ufffd")
    row["headers"] = [[n.replace("\x00", "\ufffd"), v.replace("\x00", "\ufffd")] for n, v in row["headers"]]
    return row


def target_ref(topic: Any, partition: Any, offset: Any) -> str | None:
    """An audit entry's target as one indexed string: `topic:partition:offset`."""
    if topic is None or partition is None or offset is None:
        return None
    return f"{topic}:{partition}:{offset}"[:IX]


# ---------------------------------------------------------------------------------------------
# The database


def normalize_dsn(dsn: str) -> str:
    """A DSN for SQLAlchemy: `postgres://` and `postgresql://` use psycopg 3; a plain path is a
    SQLite file."""
    if dsn.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + dsn.split("://", 1)[1]
    if "://" not in dsn:
        return f"sqlite:///{Path(dsn).expanduser()}"
    return dsn


def create_engine(dsn: str) -> sa.Engine:
    url = normalize_dsn(dsn)
    if url.startswith("sqlite"):
        memory = ":memory:" in url or url in ("sqlite://", "sqlite:///")
        if memory:  # one database shared by every thread (tests; a file is the real thing)
            engine = sa.create_engine(url, connect_args={"check_same_thread": False}, poolclass=sa.StaticPool)
        else:
            engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(conn: Any, _record: Any) -> None:  # one writer (the archive), many readers
            cur = conn.cursor()
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _insert(engine: sa.Engine, table: sa.Table) -> Any:
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    raise ValueError(f"the console's archive runs on SQLite or PostgreSQL, not {engine.dialect.name}")


@dataclass(frozen=True, slots=True)
class IngestStats:
    received: int
    inserted: int
    replays: int

    @property
    def skipped(self) -> int:
        return self.received - self.inserted


class Archive:
    """The archive in one database. Thread-safe: one writer at a time (a lock), any readers."""

    def __init__(self, engine: sa.Engine, topics: Topics | None = None) -> None:
        self.engine = engine
        self.topics = topics or Topics()
        self.map = TopicMap(self.topics)
        self._write = threading.Lock()
        metadata.create_all(engine)

    @cached_property
    def _insert_records(self) -> Any:
        stmt = _insert(self.engine, records)
        return stmt.on_conflict_do_nothing(index_elements=["topic", "kafka_partition", "kafka_offset"])

    @cached_property
    def _upsert_position(self) -> Any:
        stmt = _insert(self.engine, positions)
        return stmt.on_conflict_do_update(
            index_elements=["topic", "kafka_partition"],
            set_={"next_offset": stmt.excluded.next_offset},
            where=positions.c.next_offset < stmt.excluded.next_offset,
        )

    # -- writing --------------------------------------------------------------------------------

    def ingest(self, batch: Iterable[InRecord]) -> IngestStats:
        """Archive a batch of records (any topics, any order within a partition is fine as long
        as offsets only grow across batches); see the module docstring for the steps."""
        recs = list(batch)
        if not recs:
            return IngestStats(0, 0, 0)
        with self._write, self.engine.begin() as conn:
            # 1. what is new
            pairs = {(r.topic, r.partition) for r in recs}
            stored = self._positions(conn, pairs)
            fresh = [r for r in recs if r.offset >= stored.get((r.topic, r.partition), 0)]
            if not fresh:
                return IngestStats(len(recs), 0, 0)
            # 2. derive
            rows = [derive(r, self.map) for r in fresh]
            # 3. saks from the archive
            self._fill_saks(conn, rows)
            # 4. replays
            replays = self._mark_replays(conn, rows)
            # 5. insert, back-fill, move positions
            conn.execute(self._insert_records, rows)
            self._backfill(conn, rows)
            ends: dict[tuple[str, int], int] = {}
            for r in fresh:
                ends[(r.topic, r.partition)] = max(ends.get((r.topic, r.partition), 0), r.offset + 1)
            conn.execute(
                self._upsert_position,
                [{"topic": t, "kafka_partition": p, "next_offset": o} for (t, p), o in sorted(ends.items())],
            )
        return IngestStats(len(recs), len(rows), replays)

    def _positions(self, conn: sa.Connection, pairs: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
        topics_ = {t for t, _ in pairs}
        q = sa.select(positions).where(positions.c.topic.in_(topics_))
        return {(r.topic, r.kafka_partition): r.next_offset for r in conn.execute(q)}

    def _fill_saks(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        by_key: dict[str, tuple[str, str | None]] = {}
        by_uid: dict[str, tuple[str, str | None]] = {}
        for row in rows:  # what this batch itself tells
            if row["sak_id"] and row["original_key"] and row["kind"] in ("request", "oppdrag"):
                by_key.setdefault(row["original_key"], (row["sak_id"], row["fagsystem"]))
            if row["sak_id"] and row["uid"]:
                by_uid.setdefault(row["uid"], (row["sak_id"], row["fagsystem"]))
        want_keys = {r["original_key"] for r in rows if not r["sak_id"] and r["original_key"]} - set(by_key)
        want_uids = {r["uid"] for r in rows if not r["sak_id"] and r["uid"]} - set(by_uid)
        if want_keys:
            q = (
                sa.select(records.c.original_key, records.c.sak_id, records.c.fagsystem)
                .where(records.c.original_key.in_(want_keys))
                .where(records.c.kind.in_(("request", "oppdrag")))
                .where(records.c.sak_id.is_not(None))
            )
            for k, s, f in conn.execute(q):
                by_key.setdefault(k, (s, f))
        if want_uids:
            q = (
                sa.select(records.c.uid, records.c.sak_id, records.c.fagsystem)
                .where(records.c.uid.in_(want_uids))
                .where(records.c.sak_id.is_not(None))
            )
            for u, s, f in conn.execute(q):
                by_uid.setdefault(u, (s, f))
        for row in rows:
            if row["sak_id"]:
                continue
            found = by_key.get(row["original_key"]) if row["original_key"] else None
            if found is None and row["uid"]:
                found = by_uid.get(row["uid"])
            if found is not None:
                row["sak_id"] = found[0]
                row["fagsystem"] = row["fagsystem"] or found[1]

    def _mark_replays(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> int:
        prints = {r["fingerprint"] for r in rows if r["fingerprint"]}
        if not prints:
            return 0
        seen = set(conn.execute(sa.select(records.c.fingerprint).where(records.c.fingerprint.in_(prints))).scalars())
        n = 0
        for row in rows:
            fp = row["fingerprint"]
            if fp is None:
                continue
            if fp in seen:
                row["replay"] = True
                n += 1
            seen.add(fp)
        return n

    def _backfill(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        """Records archived before the request (or utbetaling) that names their sak."""
        keys = {
            (r["original_key"], r["sak_id"], r["fagsystem"])
            for r in rows
            if r["kind"] == "request" and r["sak_id"] and r["original_key"]
        }
        for okey, sak, fag in keys:
            conn.execute(
                records.update()
                .where(records.c.original_key == okey)
                .where(records.c.sak_id.is_(None))
                .values(sak_id=sak, fagsystem=sa.func.coalesce(records.c.fagsystem, fag))
            )

    # -- reading --------------------------------------------------------------------------------

    def positions(self) -> dict[tuple[str, int], int]:
        """(topic, partition) -> the offset of the next record to archive."""
        with self.engine.connect() as conn:
            return {(r.topic, r.kafka_partition): r.next_offset for r in conn.execute(sa.select(positions))}

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one())

    def close(self) -> None:
        self.engine.dispose()


def open_archive(dsn: str, topics: Topics | None = None) -> Archive:
    """The archive at `dsn` (a SQLite path or URL, or a PostgreSQL DSN), its tables created."""
    return Archive(create_engine(dsn), topics)


def default_dsn(env: Mapping[str, str]) -> str:
    """`HELVED_CONSOLE_DSN`, or a SQLite file in the working directory."""
    return env.get("HELVED_CONSOLE_DSN", "").strip() or "sqlite:///helved-console.sqlite"


# ---------------------------------------------------------------------------------------------
# Kafka


def follow(
    archive: Archive,
    settings: Settings,
    stop: threading.Event,
    *,
    poll_s: float = 0.5,
    max_records: int = 1000,
    refresh_s: float = 30.0,
    on_batch: Any = None,
) -> None:
    """Archive every helved topic until `stop` is set, starting at the stored positions.

    Topics are looked up every `refresh_s` seconds, so a topic created later (the audit topic on
    a broker where `helved console` ran first) is picked up. A partition's stored position
    older than the broker keeps (retention) restarts at the earliest record there is."""
    from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

    from helved.kafka.consumer import consumer, poll_batch, to_in_record

    c = consumer(settings, {"auto.offset.reset": "earliest"})
    assigned: set[tuple[str, int]] = set()
    next_refresh = 0.0
    try:
        while not stop.is_set():
            if time.monotonic() >= next_refresh:
                next_refresh = time.monotonic() + refresh_s
                try:
                    metadata = c.list_topics(timeout=10)
                except KafkaException as exc:  # the broker is away: keep what is assigned, retry soon
                    log.warning("console archive: no metadata from the broker: %s", exc)
                    next_refresh = time.monotonic() + min(refresh_s, 5.0)
                    continue
                wanted = [
                    (t, p)
                    for t in archive.topics.all()
                    if (meta := metadata.topics.get(t)) is not None and meta.error is None
                    for p in sorted(meta.partitions)
                ]
                new = [tp for tp in wanted if tp not in assigned]
                if new:
                    stored = archive.positions()
                    c.incremental_assign([TopicPartition(t, p, stored.get((t, p), OFFSET_BEGINNING)) for t, p in new])
                    assigned.update(new)
                    log.info("console archive: following %d partitions", len(assigned))
            batch: list[InRecord] = []
            for msg in poll_batch(c, poll_s, max_records):
                error = msg.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("console archive: %s[%s]: %s", msg.topic(), msg.partition(), error.str())
                    continue
                batch.append(to_in_record(msg))
            if batch:
                stats = archive.ingest(batch)
                if on_batch is not None:
                    on_batch(stats)
    finally:
        c.close()


def ingest_all(archive: Archive, recs: Sequence[InRecord], batch_size: int = 500) -> IngestStats:
    """`archive.ingest` over `recs` in batches (tests, benchmarks, offline loading)."""
    total = IngestStats(0, 0, 0)
    for i in range(0, len(recs), batch_size):
        s = archive.ingest(recs[i : i + batch_size])
        total = IngestStats(total.received + s.received, total.inserted + s.inserted, total.replays + s.replays)
    return total
