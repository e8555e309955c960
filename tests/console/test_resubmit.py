"""Action (4): resubmit a corrected request from the DLQ. The console produces it to the sender's
input topic under the original key, marked, with an audit entry; helved's own dataflow then
reads it as any request. A DLQ record that is not a request is refused with the reason."""

from __future__ import annotations

import re
import warnings

import orjson
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from helved.config import Topics
from helved.console import queries, sample
from helved.console.actions import Actions, ArchivePublisher, Refused, User, changed_paths
from helved.console.api import create_app
from helved.console.archive import Archive, ingest_all
from helved.console.auth import Auth, Tokens
from helved.records import InRecord, OutRecord

TOPICS = Topics()
OPERATOR = User("Z990001", "operator")
VIEWER = User("Z990002", "viewer")
NOW = 1_900_000_000_000


def _dlq(archive: Archive, key: str | None) -> dict:
    items = queries.search(archive, queries.Search(kind="dlq", size=500))["items"]
    return next(r for r in items if r["key"] == key)


def _corrected_dp12(archive: Archive) -> bytes:
    """dp-12 paid a Saturday (9 Aug); the correction pays Friday 8 Aug."""
    value = orjson.loads(queries.record(archive, _dlq(archive, "dp-12")["id"])["body"])  # type: ignore[index]
    value["utbetalinger"][0]["dato"] = "2025-08-08"
    return orjson.dumps(value, option=orjson.OPT_INDENT_2)


def _as_read(recs: list[OutRecord], placer: sample.Placer) -> list[InRecord]:
    return placer.records(recs)


def test_a_corrected_request_goes_to_the_senders_topic_and_the_pipeline_answers_it(
    filled: Archive, scenario: sample.Scenario, topic_records: list[InRecord]
) -> None:
    publisher = ArchivePublisher(filled)
    actions = Actions(filled, publisher, clock=lambda: NOW)
    dlq = _dlq(filled, "dp-12")
    assert "dp-12" in {f["originalKey"] for f in queries.dashboard(filled, NOW)["feilet"]}

    entry = actions.resubmit(OPERATOR, dlq["id"], _corrected_dp12(filled), "  Saturday corrected to Friday (INC-9) ")
    assert entry["action"] == "resubmit" and entry["reason"] == "Saturday corrected to Friday (INC-9)"
    assert entry["target"]["topic"] == TOPICS.dlq and entry["target"]["key"] == "dp-12"
    assert entry["details"]["topic"] == TOPICS.dagpenger and entry["details"]["error"] == "WEEKEND_DAY_PAID"
    assert entry["details"]["changed"] == ["$.utbetalinger[0].dato"]
    audit, request = publisher.published
    assert audit.topic == TOPICS.audit and orjson.loads(audit.value or b"") == entry
    assert (request.topic, request.key) == (TOPICS.dagpenger, "dp-12")
    assert request.header("resubmission") == entry["id"].encode()
    assert request.header("resubmitted-from") == f"{TOPICS.dlq}:{dlq['partition']}:{dlq['offset']}".encode()
    assert request.header("resubmitted-by") == b"Z990001"
    assert orjson.loads(request.value or b"")["utbetalinger"][0]["dato"] == "2025-08-08"
    with pytest.raises(Refused, match="already resubmitted by Z990001"):
        actions.resubmit(OPERATOR, dlq["id"], _corrected_dp12(filled), "again")

    # helved's dataflow reads the resubmitted request from the sender's topic.
    resubmitted = InRecord(request.topic, request.key, request.value, request.headers, 0, 12, request.timestamp_ms)
    before = sample.outputs(scenario)
    added = sample.outputs(scenario, [resubmitted])[len(before) :]
    placer = sample.Placer()
    placer.records([*scenario.requests, *before])
    ingest_all(filled, placer.records(added))
    story = {r["originalKey"]: r for r in queries.sak(filled, "SAK-3", "DAGPENGER")["requests"]}
    dp12 = story["dp-12"]
    assert [s["status"] for s in dp12["statuses"]] == ["FEILET", "MOTTATT", "OK"]
    assert dp12["final"] == "OK" and len(dp12["resubmissions"]) == 1
    # the FEILET is superseded by the resubmission's statuses: off the dashboard
    assert "dp-12" not in {f["originalKey"] for f in queries.dashboard(filled, NOW)["feilet"]}


def test_a_dlq_record_that_is_no_request_is_refused_with_the_reason(filled: Archive, scenario: sample.Scenario) -> None:
    """A receipt sent twice: the second matches nothing (UNMATCHED_KVITTERING) and goes to the
    DLQ; a request without a key goes there unanswered (MISSING_KEY)."""
    receipt = next(r for r in sample.outputs(scenario) if r.topic == TOPICS.kvittering and r.key == "dp-1")
    again = InRecord(receipt.topic, receipt.key, receipt.value, receipt.headers, 0, 900, receipt.timestamp_ms)
    keyless = InRecord(TOPICS.dagpenger, None, b'{"sakId": "SAK-9"}', (), 0, 901, 1_755_600_000_000)
    before = sample.outputs(scenario)
    added = sample.outputs(scenario, [again, keyless])[len(before) :]
    assert {r.header("error").decode().split(":")[0] for r in added if r.topic == TOPICS.dlq} == {  # type: ignore[union-attr]
        "UNMATCHED_KVITTERING", "MISSING_KEY",
    }  # fmt: skip
    placer = sample.Placer()
    placer.records([*scenario.requests, *before])
    ingest_all(filled, placer.records(added))
    actions = Actions(filled, ArchivePublisher(filled))
    value = b'{"sakId": "SAK-9"}'

    with pytest.raises(Refused, match=r"not a request: it is a receipt .*\(UNMATCHED_KVITTERING\)"):
        actions.resubmit(OPERATOR, _dlq(filled, "dp-1")["id"], value, "try it")
    with pytest.raises(Refused, match=r"a request without a key \(MISSING_KEY\)"):
        actions.resubmit(OPERATOR, _dlq(filled, None)["id"], value, "try it")
    ok_status = queries.search(filled, queries.Search(kind="status", status="OK", size=1))["items"][0]
    with pytest.raises(Refused, match="not a DLQ record"):
        actions.resubmit(OPERATOR, ok_status["id"], value, "try it")
    assert actions.publisher.published == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("user", "value", "reason", "message", "status"),
    [
        (VIEWER, b"{}", "x", "only an operator", 403),
        (OPERATOR, b"{}", " ", "a reason is required", 400),
        (OPERATOR, b"{not json", "x", "not JSON", 400),
        (OPERATOR, b"[1, 2]", "x", "not a JSON object", 400),
        (OPERATOR, b"", "x", "empty", 400),
    ],
)
def test_a_resubmission_needs_an_operator_a_reason_and_a_json_object(
    filled: Archive, user: User, value: bytes, reason: str, message: str, status: int
) -> None:
    actions = Actions(filled, ArchivePublisher(filled))
    with pytest.raises(Refused, match=message) as exc:
        actions.resubmit(user, _dlq(filled, "dp-12")["id"], value, reason)
    assert exc.value.status == status
    assert actions.publisher.published == []  # type: ignore[attr-defined]


def test_a_correction_the_sender_would_reject_again_is_refused_before_it_goes_out(filled: Archive) -> None:
    actions = Actions(filled, ArchivePublisher(filled))
    unchanged = queries.record(filled, _dlq(filled, "dp-12")["id"])["body"]  # type: ignore[index]
    with pytest.raises(Refused, match="DAGPENGER would reject the corrected request again: WEEKEND_DAY_PAID"):
        actions.resubmit(OPERATOR, _dlq(filled, "dp-12")["id"], unchanged, "as it was")
    # dp-11 was not JSON at all: its correction is the whole value
    fixed = sample.dp("SAK-3", "B-1", [sample.meldeperiode(sample.MP[0])])
    entry = actions.resubmit(OPERATOR, _dlq(filled, "dp-11")["id"], fixed, "the sender's JSON was cut off")
    assert entry["details"]["changed"] == ["$"] and entry["details"]["error"] == "INVALID_JSON"


def test_changed_paths_names_the_leaves_that_differ() -> None:
    a = {"x": 1, "l": [1, {"y": 2}], "gone": True}
    b = {"x": 1, "l": [1, {"y": 3}, 4], "new": None}
    assert changed_paths(a, b) == ["$.l[1].y", "$.l[2]", "$.gone", "$.new"]
    assert changed_paths(1, 1.0) == ["$"] and changed_paths({"a": 1}, {"a": 1}) == []


def test_the_dlq_page_resubmits_after_idents_are_shown_and_keeps_an_edit_that_was_refused(
    filled: Archive,
) -> None:
    publisher = ArchivePublisher(filled)
    app = create_app(filled, Actions(filled, publisher), Auth(Tokens("v-tok", "o-tok")))
    c = TestClient(app, base_url="http://testserver")
    c.post("/login", data={"token": "o-tok", "name": "Z990001", "next": "/"}, follow_redirects=False)
    rid = _dlq(filled, "dp-12")["id"]
    page = c.get(f"/messages/{rid}").text
    assert "show idents first" in page and "<textarea" not in page and sample.IDENT not in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    shown = c.post(f"/messages/{rid}/reveal", data={"csrf": csrf, "reason": "to correct it"}).text
    assert "<textarea" in shown and sample.IDENT in shown  # the editor holds the request as it is
    edited = _corrected_dp12(filled).decode()
    refused = c.post("/actions/resubmit", data={"csrf": csrf, "record": str(rid), "value": edited, "reason": ""})
    assert refused.status_code == 400 and "a reason is required" in refused.text
    assert "2025-08-08" in refused.text  # the edit is kept
    assert f'<pre class="value">{sample.IDENT}' not in refused.text and "123456*****" in refused.text
    done = c.post(
        "/actions/resubmit",
        data={"csrf": csrf, "record": str(rid), "value": edited, "reason": "Saturday to Friday"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/messages/{rid}?done=resubmitted"
    assert "went to the sender" in c.get(done.headers["location"]).text
    assert [r.topic for r in publisher.published] == [TOPICS.audit, TOPICS.audit, TOPICS.dagpenger]  # read, resubmit

    # and through the API, with a bearer token
    api = TestClient(app, base_url="http://testserver")
    r = api.post(
        "/api/actions/resubmit",
        json={"recordId": rid, "value": {"sakId": "SAK-3"}, "reason": "again"},
        headers={"Authorization": "Bearer o-tok"},
    )
    assert r.status_code == 409 and "already resubmitted" in r.json()["detail"]
