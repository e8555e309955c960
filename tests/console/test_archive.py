"""The console's archive, on SQLite and on PostgreSQL, fed with real helved output."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from helved.config import Topics
from helved.console import queries
from helved.console.archive import Archive, TopicMap, derive, ingest_all, open_archive, records, value_of
from helved.records import InRecord

TOPICS = Topics()


def rows(archive: Archive, *where: object) -> list[dict]:
    with archive.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(records).where(*where).order_by(records.c.id))]


def test_every_record_is_archived_once_with_its_sak_and_status(archive: Archive, topic_records: list[InRecord]) -> None:
    start = time.perf_counter()
    stats = ingest_all(archive, topic_records)
    elapsed = time.perf_counter() - start
    print(f"\n{archive.engine.dialect.name}: archived {len(topic_records)} records in {elapsed:.2f} s "
          f"({len(topic_records) / elapsed:.0f} records/s)")  # fmt: skip
    assert stats.inserted == len(topic_records) == archive.count()
    kinds = Counter(r["kind"] for r in rows(archive))
    assert {"request", "status", "oppdrag", "kvittering", "pending", "utbetaling", "saker", "dlq", "avstemt"} <= set(
        kinds
    )
    assert kinds["other"] == 0

    (rejected,) = rows(
        archive, records.c.kind == "status", records.c.original_key == "dp-7", records.c.status == "FEILET"
    )
    assert (rejected["sak_id"], rejected["fagsystem"]) == ("SAK-AVVIST", "DAGPENGER")  # from its request
    (kvittering,) = rows(archive, records.c.kind == "kvittering", records.c.original_key == "dp-7")
    assert kvittering["code"] == "08" and kvittering["sak_id"] == "SAK-AVVIST"
    (oppdrag,) = rows(archive, records.c.kind == "oppdrag", records.c.original_key == "dp-7")
    assert oppdrag["ref"] == kvittering["ref"]  # nokkelAvstemming pairs them
    (invalid,) = rows(archive, records.c.kind == "status", records.c.original_key == "dp-11")
    assert invalid["code"] == "INVALID_JSON" and invalid["sak_id"] is None
    tombstones = rows(archive, records.c.kind == "pending", records.c.tombstone.is_(True))
    assert tombstones and all(t["sak_id"] for t in tombstones)  # from the uid's earlier records
    assert not rows(archive, records.c.replay.is_(True))


def test_archiving_again_changes_nothing_and_a_new_archive_object_resumes(
    dsn: str, topic_records: list[InRecord]
) -> None:
    half = len(topic_records) // 2
    first = open_archive(dsn)
    ingest_all(first, topic_records[:half])
    again = ingest_all(first, topic_records[:half])
    assert again.inserted == 0
    positions = first.positions()
    first.close()

    restarted = open_archive(dsn)  # a console restarted on the same database
    assert restarted.positions() == positions
    expected = {}
    for r in topic_records[:half]:
        expected[(r.topic, r.partition)] = max(expected.get((r.topic, r.partition), 0), r.offset + 1)
    assert positions == expected
    stats = ingest_all(restarted, topic_records)  # Kafka read from the beginning once more
    assert stats.inserted == len(topic_records) - half
    assert restarted.count() == len(topic_records)
    restarted.close()


def test_a_pipeline_replay_is_kept_but_flagged_and_left_out_of_views(
    archive: Archive, topic_records: list[InRecord]
) -> None:
    ingest_all(archive, topic_records)
    # After a crash the pipeline emits the last epoch's outputs again: same bytes and provenance,
    # at new offsets.
    ends: dict[tuple[str, int], int] = {}
    for r in topic_records:
        ends[(r.topic, r.partition)] = max(ends.get((r.topic, r.partition), 0), r.offset + 1)
    replayed = [
        dataclasses.replace(r, offset=ends[(r.topic, r.partition)] + i)
        for i, r in enumerate(
            r for r in topic_records if r.header("src-offset") is not None and r.key and r.key.startswith("dp-7")
        )
    ]
    assert replayed
    stats = archive.ingest(replayed)
    assert stats.inserted == stats.replays == len(replayed)
    found = queries.search(archive, queries.Search(key="dp-7"))
    assert all(not r["replay"] for r in found["items"])
    with_replays = queries.search(archive, queries.Search(key="dp-7", replays=True))
    assert with_replays["total"] == found["total"] + len(replayed)
    assert [f["originalKey"] for f in queries.dashboard(archive, 0)["feilet"]].count("dp-7") == 1


def test_records_read_before_their_request_get_its_sak(archive: Archive, topic_records: list[InRecord]) -> None:
    requests = [r for r in topic_records if r.topic == TOPICS.dagpenger]
    others = [r for r in topic_records if r.topic != TOPICS.dagpenger]
    ingest_all(archive, others)  # the status partition read ahead of the request partition
    assert rows(archive, records.c.kind == "status", records.c.original_key == "dp-7")[0]["sak_id"] == "SAK-AVVIST"
    assert rows(archive, records.c.kind == "status", records.c.original_key == "dp-12")[0]["sak_id"] is None
    ingest_all(archive, requests)
    late = rows(archive, records.c.original_key == "dp-12", records.c.kind.in_(["status", "dlq"]))
    assert late and all(r["sak_id"] == "SAK-3" for r in late)


@pytest.mark.parametrize(
    "value",
    [None, b"", b"\x00\xff not utf-8", b"<oppdrag><unclosed>", b'{"sakId": {"nested": 1}}', b"[1,2,3]", b"\x00" * 10],
)
@pytest.mark.parametrize(
    "topic",
    [
        TOPICS.dagpenger,
        TOPICS.status,
        TOPICS.oppdrag,
        TOPICS.kvittering,
        TOPICS.pending,
        TOPICS.saker,
        TOPICS.audit,
        TOPICS.avstemt,
        "someone.else.v1",
    ],
)
def test_any_bytes_on_any_topic_are_archived(topic: str, value: bytes | None) -> None:
    rec = InRecord(topic, "k\x00ey", value, (("sak", b"not json"), ("fagsystem", b"\x00")), 0, 0, None)
    row = derive(rec, TopicMap(TOPICS))
    assert row["topic"] == topic and value_of(row) == value
    assert all("\x00" not in v for v in row.values() if isinstance(v, str))


def test_hostile_bytes_are_archived_on_postgresql_too(archive: Archive) -> None:
    recs = [
        InRecord(
            TOPICS.status,
            "k\x00",
            b'{"status":"FEILET","error":{"msg":"X\\u0000"}}\x00',
            (("h\x00", b"\x00"),),
            0,
            0,
            None,
        ),
        InRecord(TOPICS.dagpenger, "x" * 5000, b"\xff\xfe", (), 0, 0, 2**62),
    ]
    assert archive.ingest(recs).inserted == 2
    assert archive.count() == 2
