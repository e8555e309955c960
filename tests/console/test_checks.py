"""The dashboard's consistency checks: OS's opening hours for a stuck Oppdrag, pending/confirmed
mismatches, suspected double payments. Over an archive of real helved output, with records
added or left out the way a fault would."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from lxml import etree

from helved.config import Topics
from helved.console import checks, queries
from helved.console.actions import build_receipt, receipt_record
from helved.console.archive import Archive, ingest_all, open_archive
from helved.records import InRecord

TOPICS = Topics()
OSLO = ZoneInfo("Europe/Oslo")
H = 3_600_000
MIN = 60_000


def at(*args: int) -> int:
    """Epoch ms of a Europe/Oslo wall time."""
    return int(datetime(*args, tzinfo=OSLO).timestamp() * 1000)  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# OS's opening hours


def test_open_hours_count_06_to_21_oslo_on_working_days_only() -> None:
    # Friday 2026-11-27 20:30 to Monday 06:30: half an hour on Friday, half an hour on Monday.
    assert checks.open_ms(at(2026, 11, 27, 20, 30), at(2026, 11, 30, 6, 30)) == H
    # a whole working day is 15 hours, also across the change to winter time (Sunday 25 Oct 2026)
    assert checks.open_ms(at(2026, 10, 23, 0, 0), at(2026, 10, 27, 0, 0)) == 2 * 15 * H
    # 17 May 2027 (Monday) and Easter 2026 (Thursday 2 April to Monday 6 April) are closed
    assert checks.open_ms(at(2027, 5, 17, 5, 0), at(2027, 5, 17, 23, 0)) == 0
    assert checks.open_ms(at(2026, 4, 1, 20, 0), at(2026, 4, 7, 7, 0)) == 2 * H
    assert checks.open_ms(at(2026, 12, 1, 10, 0), at(2026, 12, 1, 9, 0)) == 0
    assert checks.open_ms(at(2026, 12, 1, 10, 0), at(2026, 12, 31, 10, 0), enough_ms=20 * H) >= 20 * H


@pytest.fixture
def fresh(tmp_path: Path, topic_records: list[InRecord]) -> Iterator[tuple[Archive, list[InRecord]]]:
    """An empty SQLite archive and the scenario's records, to be archived with changes."""
    a = open_archive(f"sqlite:///{tmp_path / 'checks.sqlite'}")
    yield a, list(topic_records)
    a.close()


def _oppdrag(recs: list[InRecord], key: str) -> InRecord:
    return next(r for r in recs if r.topic == TOPICS.oppdrag and r.key == key)


def _next_offset(recs: list[InRecord], topic: str, partition: int = 0) -> int:
    return 1 + max((r.offset for r in recs if r.topic == topic and r.partition == partition), default=-1)


def test_an_oppdrag_sent_friday_evening_is_stuck_only_after_an_hour_of_mondays_opening(
    fresh: tuple[Archive, list[InRecord]],
) -> None:
    archive, recs = fresh
    friday = at(2026, 11, 27, 20, 30)
    dp8 = _oppdrag(recs, "dp-8")
    copy = InRecord(
        dp8.topic, "dp-fri", dp8.value, (("original-key", b"dp-fri"),) + dp8.headers[1:], 0,
        _next_offset(recs, dp8.topic), friday,
    )  # fmt: skip
    ingest_all(archive, [*recs, copy])

    def stuck(now: int) -> list[str]:
        return [o["originalKey"] for o in queries.dashboard(archive, now)["stuck"] if o["timestamp"] == friday]

    assert stuck(at(2026, 11, 27, 21, 25)) == []  # under an hour, all of it open
    assert stuck(at(2026, 11, 30, 6, 20)) == []  # 58 hours on the clock, 50 minutes open
    assert stuck(at(2026, 11, 30, 6, 40)) == ["dp-fri"]
    (row,) = [o for o in queries.dashboard(archive, at(2026, 11, 30, 6, 40))["stuck"] if o["timestamp"] == friday]
    assert row["openMs"] == 70 * MIN and not row["openAtLeast"]


# ---------------------------------------------------------------------------------------------
# Pending and confirmed


def test_the_scenario_has_no_mismatch_and_no_double_payment(filled: Archive) -> None:
    d = queries.dashboard(filled, at(2030, 1, 7, 12, 0))
    assert d["mismatches"] == [] and d["doubles"] == []
    # the lost receipt: pending, but no receipt came, so it is stuck, not a mismatch
    assert [o["originalKey"] for o in d["stuck"]] == ["dp-8"]


def test_an_utbetaling_still_pending_long_after_its_oppdrags_receipt(fresh: tuple[Archive, list[InRecord]]) -> None:
    """The receipt of SAK-TAPT's Oppdrag reaches the topic but the pipeline never applies it: the
    utbetaling stays pending."""
    archive, recs = fresh
    dp8 = _oppdrag(recs, "dp-8")
    ingest_all(archive, recs)
    row = queries.record_at(archive, dp8.topic, dp8.partition, dp8.offset)
    assert row is not None
    t = at(2026, 12, 1, 10, 0)
    receipt = receipt_record(row, build_receipt(dp8.value or b"", "00", ""), TOPICS, t, "test")
    archive.ingest(
        [InRecord(receipt.topic, receipt.key, receipt.value, receipt.headers, 0, _next_offset(recs, receipt.topic), t)]
    )
    assert queries.dashboard(archive, t + 10 * MIN)["mismatches"] == []  # within the grace
    (m,) = queries.dashboard(archive, t + 20 * MIN)["mismatches"]
    assert (m["kind"], m["sakId"], m["originalKey"], m["receiptCode"]) == ("still-pending", "SAK-TAPT", "dp-8", "00")
    assert m["uid"] in (dp8.header("uids") or b"").decode() and m["oppdragId"] == row["id"]


def test_an_utbetaling_confirmed_without_an_accepted_receipt(fresh: tuple[Archive, list[InRecord]]) -> None:
    """The archive has SAK-VARSEL's confirmed utbetaling but not the 04 receipt that confirmed it."""
    archive, recs = fresh
    ingest_all(archive, [r for r in recs if not (r.topic == TOPICS.kvittering and r.key == "dp-6")])
    (m,) = queries.dashboard(archive, at(2030, 1, 7, 12, 0))["mismatches"]
    assert (m["kind"], m["sakId"], m["originalKey"], m["action"]) == (
        "confirmed-without-receipt", "SAK-VARSEL", "dp-6", "CREATE",
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Double payments


NS = "{http://www.trygdeetaten.no/skjema/oppdrag}"


def _later_oppdrag(first: bytes, *, chain: bool = False, stop_first: bool = False) -> tuple[bytes, str]:
    """A second Oppdrag for the sak of `first` (one NY line): the same line again under a new
    delytelseId and nøkkelAvstemming; chained to the first line, or after an opphør of it."""
    root = etree.fromstring(first)
    o110 = root.find("oppdrag-110")
    assert o110 is not None
    o110.find("kodeEndring").text = "ENDR"  # type: ignore[union-attr]
    o110.find("avstemming-115/nokkelAvstemming").text = "2025-08-20-10.00.00.000000"  # type: ignore[union-attr]
    (line,) = o110.findall("oppdrags-linje-150")
    old_id = line.findtext("delytelseId")
    line.find("delytelseId").text = "NYTT-KJEDE-1"  # type: ignore[union-attr]
    if chain:
        ref = etree.Element("refDelytelseId")
        ref.text = old_id
        line.find("delytelseId").addnext(ref)  # type: ignore[union-attr]
    if stop_first:
        opph = etree.fromstring(etree.tostring(line))
        opph.find("kodeEndringLinje").text = "ENDR"  # type: ignore[union-attr]
        opph.find("delytelseId").text = old_id  # type: ignore[union-attr]
        for name, value in (("kodeStatusLinje", "OPPH"), ("datoStatusFom", line.findtext("datoVedtakFom"))):
            el = etree.Element(name)
            el.text = value
            opph.find("kodeEndringLinje").addnext(el)  # type: ignore[union-attr]
        line.addprevious(opph)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), old_id or ""


def _with_later(recs: list[InRecord], archive: Archive, grade: str = "00", **kw: bool) -> list[dict]:
    dp6 = _oppdrag(recs, "dp-6")
    value, _ = _later_oppdrag(dp6.value or b"", **kw)
    ts = (dp6.timestamp_ms or 0) + 86_400_000
    headers = (("original-key", b"dp-x"),) + dp6.headers[1:]
    later = InRecord(dp6.topic, "dp-x", value, headers, 0, _next_offset(recs, dp6.topic), ts)
    ingest_all(archive, [*recs, later])
    row = queries.record_at(archive, later.topic, 0, later.offset)
    assert row is not None
    receipt = receipt_record(row, build_receipt(value, grade, "nei" if grade == "08" else ""), TOPICS, ts, "t")
    archive.ingest(
        [InRecord(receipt.topic, "dp-x", receipt.value, receipt.headers, 0, _next_offset(recs, receipt.topic), ts)]
    )
    with archive.engine.connect() as conn:
        return checks.double_payments(conn)


def test_two_accepted_oppdrag_paying_the_same_days_on_two_kjeder_are_a_suspected_double_payment(
    fresh: tuple[Archive, list[InRecord]],
) -> None:
    archive, recs = fresh
    (s,) = _with_later(recs, archive)
    assert (s["sakId"], s["fagområde"], s["klassekode"]) == ("SAK-VARSEL", "DP", "DAGPENGER")
    assert (s["first"]["originalKey"], s["later"]["originalKey"]) == ("dp-6", "dp-x")
    assert s["later"]["delytelseId"] == "NYTT-KJEDE-1" and s["fom"] <= s["tom"]
    assert queries.dashboard(archive, at(2030, 1, 7, 12, 0))["doubles"] == [s]


@pytest.mark.parametrize(
    "kw", [{"chain": True}, {"stop_first": True}, {"grade": "08"}], ids=["chained", "first-stopped", "rejected"]
)
def test_a_later_line_that_replaces_the_earlier_or_was_rejected_is_no_double_payment(
    fresh: tuple[Archive, list[InRecord]], kw: dict
) -> None:
    archive, recs = fresh
    assert _with_later(recs, archive, **kw) == []
