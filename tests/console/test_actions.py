"""The read side and the operator actions over an archive of real helved output. The manual
receipt is checked against helved itself: fed back into the dataflow, it settles the Oppdrag."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
import pytest

from helved.config import Topics
from helved.console import queries, sample
from helved.console.actions import Actions, ArchivePublisher, Refused, User
from helved.console.archive import Archive, ingest_all
from helved.records import InRecord

TOPICS = Topics()
OPERATOR = User("Z990001", "operator")
VIEWER = User("Z990002", "viewer")
NOW = 1_900_000_000_000


def test_the_dashboard_shows_what_needs_an_operator(filled: Archive) -> None:
    d = queries.dashboard(filled, NOW)
    assert {f["originalKey"] for f in d["feilet"]} == {"dp-7", "dp-11", "dp-12"}
    assert {f["sakId"] for f in d["feilet"]} == {"SAK-AVVIST", None, "SAK-3"}
    assert [(o["originalKey"], o["sakId"]) for o in d["stuck"]] == [("dp-8", "SAK-TAPT")]
    assert d["requests"]["DAGPENGER"]["FEILET"] == 3
    assert d["requests"]["DAGPENGER"]["MOTTATT"] == 2  # the lost receipt and the one waiting behind it
    (dp,) = d["avstemming"]
    assert dp["fagområde"] == "DP" and dp["fom"] == dp["tom"] == "2025-08-18" and dp["antall"] > 0
    assert d["dlq"] == 2
    # "over an hour": nothing is stuck an hour after it was sent, measured at send time
    assert queries.dashboard(filled, d["stuck"][0]["timestamp"] + 60_000)["stuck"] == []


def test_the_sak_view_tells_the_whole_story(filled: Archive) -> None:
    s = queries.sak(filled, "SAK-2", "DAGPENGER")
    assert [r["originalKey"] for r in s["requests"]] == ["dp-4", "dp-5"]
    assert [r["final"] for r in s["requests"]] == ["OK", "OK"]
    assert all(o["receipts"] and o["receipts"][0]["code"] == "00" for r in s["requests"] for o in r["oppdrag"])
    actions = sorted(u["confirmed"]["action"] for u in s["utbetalinger"])
    assert actions == ["CREATE", "DELETE"]  # dp-5 stopped the first meldeperiode
    assert len(s["active"]) == 1
    many = queries.sak(filled, "SAK-MANGE", "DAGPENGER")
    assert len(many["requests"]) == 100


def test_search_filters_and_pages(filled: Archive) -> None:
    s = queries.search(filled, queries.Search(topics=(TOPICS.status,), status="FEILET"))
    assert s["total"] == 3
    assert queries.search(filled, queries.Search(sak="SAK-1", kind="oppdrag"))["total"] == 3
    assert queries.search(filled, queries.Search(text="WEEKEND_DAY_PAID"))["total"] >= 2
    assert queries.search(filled, queries.Search(text="100%_"))["total"] == 0  # LIKE wildcards are literal
    page1 = queries.search(filled, queries.Search(fagsystem="DAGPENGER", size=10))
    page2 = queries.search(filled, queries.Search(fagsystem="DAGPENGER", size=10, page=2))
    assert len(page1["items"]) == 10 and page1["total"] == page2["total"] > 20
    assert {r["id"] for r in page1["items"]}.isdisjoint(r["id"] for r in page2["items"])
    ts = page1["items"][0]["timestamp"]
    assert all(r["timestamp"] >= ts for r in queries.search(filled, queries.Search(from_ms=ts))["items"])


def _feilet(archive: Archive, key: str) -> dict:
    return next(f for f in queries.dashboard(archive, NOW)["feilet"] if f["originalKey"] == key)


def test_marking_a_feilet_handled_takes_it_off_the_dashboard_with_an_audit_entry(filled: Archive) -> None:
    actions = Actions(filled, ArchivePublisher(filled), clock=lambda: NOW)
    target = _feilet(filled, "dp-7")
    entry = actions.mark_handled(OPERATOR, target["id"], "  rejected by OS: sak closed, told the saksbehandler ")
    assert entry["reason"] == "rejected by OS: sak closed, told the saksbehandler"
    assert entry["target"] == {
        "topic": TOPICS.status, "partition": target["partition"], "offset": target["offset"],
        "key": "dp-7", "originalKey": "dp-7", "recordId": target["id"],
    }  # fmt: skip
    assert entry["who"] == "Z990001" and entry["sak"] == {"sakId": "SAK-AVVIST", "fagsystem": "DAGPENGER"}
    (published,) = actions.publisher.published  # type: ignore[attr-defined]
    assert published.topic == TOPICS.audit and orjson.loads(published.value) == entry
    assert "dp-7" not in {f["originalKey"] for f in queries.dashboard(filled, NOW)["feilet"]}
    log = queries.audit_log(filled)
    assert log["total"] == 1 and log["items"][0]["action"] == "mark-handled"
    with pytest.raises(Refused, match="already marked handled by Z990001"):
        actions.mark_handled(OPERATOR, target["id"], "again")


@pytest.mark.parametrize(
    ("user", "reason", "status", "message"),
    [
        (VIEWER, "a reason", 403, "only an operator"),
        (OPERATOR, "", 400, "a reason is required"),
        (OPERATOR, "   \n", 400, "a reason is required"),
        (OPERATOR, None, 400, "a reason is required"),
    ],
)
def test_an_action_needs_an_operator_and_a_reason(
    filled: Archive, user: User, reason: str | None, status: int, message: str
) -> None:
    actions = Actions(filled, ArchivePublisher(filled))
    target = _feilet(filled, "dp-12")
    with pytest.raises(Refused, match=message) as exc:
        actions.mark_handled(user, target["id"], reason)
    assert exc.value.status == status
    with pytest.raises(Refused, match=message):
        actions.manual_receipt(user, queries.in_flight(filled.engine.connect())[0]["id"], "00", reason)
    assert actions.publisher.published == []  # type: ignore[attr-defined]


def test_actions_that_make_no_sense_are_refused_with_the_reason(filled: Archive) -> None:
    actions = Actions(filled, ArchivePublisher(filled))
    ok_status = queries.search(filled, queries.Search(kind="status", status="OK", size=1))["items"][0]
    with pytest.raises(Refused, match="not a FEILET status"):
        actions.mark_handled(OPERATOR, ok_status["id"], "why not")
    answered = queries.search(filled, queries.Search(kind="oppdrag", key="dp-1"))["items"][0]
    with pytest.raises(Refused, match=r"not in flight: it has a receipt \(00\)"):
        actions.manual_receipt(OPERATOR, answered["id"], "00", "OS says so")
    with pytest.raises(Refused, match="not an Oppdrag"):
        actions.manual_receipt(OPERATOR, ok_status["id"], "00", "OS says so")
    stuck = queries.dashboard(filled, NOW)["stuck"][0]
    with pytest.raises(Refused, match="00 or 04"):
        actions.manual_receipt(OPERATOR, stuck["id"], "08", "OS says so")
    with pytest.raises(Refused, match="needs a text"):
        actions.manual_receipt(OPERATOR, stuck["id"], "04", "OS says so", "  ")
    with pytest.raises(Refused, match="no record 999999"):
        actions.mark_handled(OPERATOR, 999999, "x")
    assert actions.publisher.published == []  # type: ignore[attr-defined]


def test_a_manual_receipt_settles_the_oppdrag_in_helveds_own_dataflow(
    filled: Archive, scenario: sample.Scenario, topic_records: list[InRecord]
) -> None:
    actions = Actions(filled, ArchivePublisher(filled), clock=lambda: NOW)
    stuck = queries.dashboard(filled, NOW)["stuck"][0]
    assert stuck["originalKey"] == "dp-8"
    entry = actions.manual_receipt(
        OPERATOR, stuck["id"], "04", "OS booked it on 18 Aug (ticket 123)", "Behandlet manuelt"
    )
    assert entry["details"] == {"alvorlighetsgrad": "04", "beskrMelding": "Behandlet manuelt"}
    audit, receipt = actions.publisher.published  # type: ignore[attr-defined]
    assert audit.topic == TOPICS.audit and receipt.topic == TOPICS.kvittering and receipt.key == "dp-8"
    assert receipt.header("manual-receipt") == entry["id"].encode()
    assert receipt.header("sak") == b'{"sakId":"SAK-TAPT","fagsystem":"DAGPENGER"}'
    with pytest.raises(Refused, match="not in flight"):
        actions.manual_receipt(OPERATOR, stuck["id"], "00", "twice")

    # The pipeline reads the receipt from the kvittering topic: run helved's dataflow over the
    # same inputs followed by it, and archive what it adds.
    before = sample.outputs(scenario)
    after = sample.outputs(
        scenario, [InRecord(receipt.topic, receipt.key, receipt.value, receipt.headers, 0, 0, receipt.timestamp_ms)]
    )
    assert after[: len(before)] == before
    added = after[len(before) :]
    placer = sample.Placer()
    placer.records(topic_records)  # the positions after what is archived
    new = placer.records(added)
    ingest_all(filled, new)

    story = {r["originalKey"]: r for r in queries.sak(filled, "SAK-TAPT", "DAGPENGER")["requests"]}
    assert story["dp-8"]["final"] == "OK"
    assert [s["status"] for s in story["dp-9"]["statuses"]] == ["MOTTATT", "MOTTATT"]  # released, sent
    assert len(story["dp-9"]["oppdrag"]) == 1
    # dp-9's Oppdrag was built when the receipt released it (its record time is the receipt's,
    # NOW: a Sunday evening), and its own receipt is lost too in this scenario: OS is closed on
    # Sunday, so it is stuck only after an hour of Monday's opening hours (06-21 Oslo).
    assert queries.dashboard(filled, NOW)["stuck"] == []
    assert queries.dashboard(filled, NOW + 2 * queries.HOUR_MS)["stuck"] == []
    monday_0730 = int(datetime(2030, 3, 18, 7, 30, tzinfo=ZoneInfo("Europe/Oslo")).timestamp() * 1000)
    (dp9,) = queries.dashboard(filled, monday_0730)["stuck"]
    assert dp9["originalKey"] == "dp-9" and dp9["openMs"] == 90 * 60_000
    assert [e["action"] for e in queries.audit_log(filled)["items"]] == ["manual-receipt"]
