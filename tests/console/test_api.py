"""The console's HTTP side through FastAPI's TestClient: who may see and do what, idents kept out
of lists and URLs, the security headers, the pages and the JSON API."""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterator

import pytest

with warnings.catch_warnings():  # Starlette >= 1.x prefers httpx2; httpx still works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from helved.console import queries, sample
from helved.console.actions import Actions, ArchivePublisher
from helved.console.api import create_app
from helved.console.archive import Archive
from helved.console.auth import Auth, Tokens

VIEWER, OPERATOR = "viewer-token-for-tests", "operator-token-for-tests"
IDENT = sample.IDENT
BASE = "http://testserver"


@pytest.fixture
def app(filled: Archive):  # type: ignore[no-untyped-def]
    return create_app(filled, Actions(filled, ArchivePublisher(filled)), Auth(Tokens(VIEWER, OPERATOR)))


@pytest.fixture
def anonymous(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url=BASE) as c:
        yield c


def signed_in(app, token: str, name: str) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    c = TestClient(app, base_url=BASE)
    r = c.post("/login", data={"token": token, "name": name, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = c.get("/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    return c, csrf.group(1)


@pytest.fixture
def operator(app) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    return signed_in(app, OPERATOR, "Z990001")


@pytest.fixture
def viewer(app) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    return signed_in(app, VIEWER, "Z990002")


def feilet_id(filled: Archive, key: str) -> int:
    return next(f["id"] for f in queries.dashboard(filled, 0)["feilet"] if f["originalKey"] == key)


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/messages", "/messages/1", "/sak/DAGPENGER/SAK-1", "/oppdrag/1", "/audit", "/docs"]
)
def test_pages_send_a_stranger_to_sign_in(anonymous: TestClient, path: str) -> None:
    r = anonymous.get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/dashboard"), ("GET", "/api/messages"), ("GET", "/api/messages/1"),
        ("GET", "/api/saker/DAGPENGER/SAK-1"), ("GET", "/api/oppdrag/1"), ("GET", "/api/audit"),
        ("GET", "/openapi.json"), ("POST", "/api/actions/mark-handled"), ("POST", "/actions/mark-handled"),
        ("POST", "/messages/1/reveal"), ("POST", "/messages"), ("POST", "/api/actions/resend"),
        ("POST", "/api/actions/resubmit"), ("POST", "/actions/resend"), ("POST", "/actions/resubmit"),
    ],
)  # fmt: skip
def test_calls_without_a_token_are_refused(anonymous: TestClient, method: str, path: str) -> None:
    r = anonymous.request(method, path, json={"recordId": 1, "reason": "x"} if path.startswith("/api") else None)
    assert r.status_code == 401
    bad = anonymous.request(method, path, headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401


def test_sign_in_needs_a_token_and_a_name_that_is_no_ident(anonymous: TestClient) -> None:
    assert anonymous.post("/login", data={"token": "wrong", "name": "Z1"}).status_code == 401
    assert anonymous.post("/login", data={"token": OPERATOR, "name": IDENT}).status_code == 401
    assert anonymous.post("/login", data={"token": OPERATOR, "name": ""}).status_code == 401
    r = anonymous.post(
        "/login", data={"token": OPERATOR, "name": "Z1", "next": "//evil.example/"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_every_response_carries_the_security_headers(anonymous: TestClient, operator: tuple[TestClient, str]) -> None:
    c, _ = operator
    for r in (
        anonymous.get("/login"),
        c.get("/"),
        c.get("/api/dashboard"),
        c.get("/sak/DAGPENGER/SAK-1"),
        anonymous.get("/api/audit"),
    ):
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src" not in csp and "default-src 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"


def test_idents_are_masked_in_every_list_and_never_accepted_in_urls(
    operator: tuple[TestClient, str], filled: Archive
) -> None:
    c, csrf = operator
    masked = IDENT[:6] + "*****"
    for path in (
        "/",
        "/api/dashboard",
        "/api/messages?size=500",
        "/api/saker/DAGPENGER/SAK-1",
        "/sak/DAGPENGER/SAK-1",
        "/messages",
        "/audit",
    ):
        r = c.get(path)
        assert r.status_code == 200 and IDENT not in r.text, path
    assert masked in c.get("/api/messages?kind=request").text
    oppdrag = queries.search(filled, queries.Search(kind="oppdrag", size=1))["items"][0]["id"]
    r = c.get(f"/oppdrag/{oppdrag}")
    assert r.status_code == 200 and IDENT not in r.text and masked in r.text  # its XML, masked
    r = c.get("/api/messages", params={"text": IDENT})
    assert r.status_code == 400 and "ident" in r.json()["detail"]
    assert c.get(f"/messages?key={IDENT}").status_code == 400
    # searching for an ident goes in a body, and the results stay masked
    found = c.post("/api/messages/search", json={"text": IDENT, "kind": "request"})
    assert found.status_code == 200 and found.json()["total"] > 0 and IDENT not in found.text
    page = c.post("/messages", data={"csrf": csrf, "text": IDENT, "kind": "request"})
    assert page.status_code == 200 and page.text.count(masked) > 0


def test_showing_idents_is_a_read_the_audit_log_keeps(operator: tuple[TestClient, str], filled: Archive) -> None:
    c, csrf = operator
    rid = queries.search(filled, queries.Search(kind="request", key="dp-1"))["items"][0]["id"]
    assert IDENT not in c.get(f"/messages/{rid}").text
    assert c.post(f"/messages/{rid}/reveal", data={"csrf": csrf, "reason": ""}).status_code == 400
    assert c.post(f"/messages/{rid}/reveal", data={"reason": "support case"}).status_code == 403  # no CSRF token
    r = c.post(f"/messages/{rid}/reveal", data={"csrf": csrf, "reason": "support case 42"})
    assert r.status_code == 200 and IDENT in r.text
    (entry,) = queries.audit_log(filled)["items"]
    assert (entry["action"], entry["who"], entry["reason"], entry["target"]["recordId"]) == (
        "read-ident",
        "Z990001",
        "support case 42",
        rid,
    )
    api = c.post(f"/api/messages/{rid}/reveal", json={"reason": "again"}, headers={"X-CSRF-Token": csrf})
    assert api.status_code == 200 and api.json()["body"].count(IDENT) >= 1
    assert queries.audit_log(filled)["total"] == 2


def test_a_viewer_reads_but_cannot_act(viewer: tuple[TestClient, str], filled: Archive) -> None:
    c, csrf = viewer
    page = c.get("/")
    assert page.status_code == 200 and "SAK-AVVIST" in page.text
    assert "/actions/mark-handled" not in page.text
    rid = feilet_id(filled, "dp-7")
    r = c.post("/actions/mark-handled", data={"csrf": csrf, "record": rid, "reason": "I would like to"})
    assert r.status_code == 403 and "only an operator" in r.text
    api = c.post(
        "/api/actions/mark-handled",
        json={"recordId": rid, "reason": "x"},
        headers={"Authorization": f"Bearer {VIEWER}"},
    )
    assert api.status_code == 403
    assert queries.audit_log(filled)["total"] == 0


def test_an_action_without_a_reason_or_token_or_from_elsewhere_is_refused(
    operator: tuple[TestClient, str], filled: Archive
) -> None:
    c, csrf = operator
    rid = feilet_id(filled, "dp-7")
    r = c.post("/actions/mark-handled", data={"csrf": csrf, "record": rid, "reason": "  "})
    assert r.status_code == 400 and "a reason is required" in r.text
    assert c.post("/actions/mark-handled", data={"record": rid, "reason": "x"}).status_code == 403
    assert c.post("/actions/mark-handled", data={"csrf": "forged", "record": rid, "reason": "x"}).status_code == 403
    evil = c.post(
        "/actions/mark-handled",
        data={"csrf": csrf, "record": rid, "reason": "x"},
        headers={"Origin": "http://evil.example"},
    )
    assert evil.status_code == 403
    assert (
        c.post("/api/actions/mark-handled", json={"recordId": rid, "reason": "x"}).status_code == 403
    )  # cookie, no CSRF header
    assert queries.audit_log(filled)["total"] == 0
    ok = c.post(
        "/actions/mark-handled",
        data={"csrf": csrf, "record": rid, "reason": "told the team", "next": "/"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/?done=handled"
    assert "SAK-AVVIST" not in c.get("/").text
    assert "told the team" in c.get("/audit").text


def test_the_api_acts_with_a_bearer_token(anonymous: TestClient, filled: Archive) -> None:
    h = {"Authorization": f"Bearer {OPERATOR}", "X-Helved-User": "Z990009"}
    stuck = anonymous.get("/api/dashboard", headers=h).json()["stuck"]
    assert [s["originalKey"] for s in stuck] == ["dp-8"]
    r = anonymous.post(
        "/api/actions/manual-receipt", json={"recordId": stuck[0]["id"], "code": "00", "reason": ""}, headers=h
    )
    assert r.status_code == 400
    r = anonymous.post(
        "/api/actions/manual-receipt",
        json={"recordId": stuck[0]["id"], "code": "00", "reason": "OS confirmed"},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["who"] == "Z990009"
    o = anonymous.get(f"/api/oppdrag/{stuck[0]['id']}", headers=h).json()
    assert o["inFlight"] is False and o["receipts"][0]["manual"] is True and o["receipts"][0]["code"] == "00"
    again = anonymous.post(
        "/api/actions/manual-receipt", json={"recordId": stuck[0]["id"], "code": "00", "reason": "x"}, headers=h
    )
    assert again.status_code == 409 and "not in flight" in again.json()["detail"]


def test_the_openapi_description_lists_the_api(operator: tuple[TestClient, str]) -> None:
    c, _ = operator
    paths = c.get("/openapi.json").json()["paths"]
    assert {"/api/dashboard", "/api/messages", "/api/saker/{fagsystem}/{sak_id}", "/api/oppdrag/{rid}", "/api/audit",
            "/api/actions/mark-handled", "/api/actions/manual-receipt", "/api/actions/resend",
            "/api/actions/resubmit"} <= set(paths)  # fmt: skip
    assert not any(p.startswith(("/sak/", "/login")) for p in paths)
    assert c.get("/docs").status_code == 200


def test_the_sak_page_of_a_sak_with_100_decisions(operator: tuple[TestClient, str]) -> None:
    c, _ = operator
    c.get("/sak/DAGPENGER/SAK-MANGE")  # warm
    times = []
    for _ in range(5):
        start = time.perf_counter()
        r = c.get("/sak/DAGPENGER/SAK-MANGE")
        times.append(time.perf_counter() - start)
    assert r.status_code == 200
    assert r.text.count('class="request"') == 100
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="periods"' in r.text
    print(f"\nsak page with 100 decisions: {min(times) * 1000:.0f} ms (best of 5), {len(r.content) / 1024:.0f} KiB")
    assert min(times) < 2.0


def test_logging_out_ends_the_session(operator: tuple[TestClient, str]) -> None:
    c, csrf = operator
    assert c.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert c.get("/", follow_redirects=False).status_code == 303


def test_an_operator_resends_an_oppdrag_in_flight_from_its_page(
    operator: tuple[TestClient, str], viewer: tuple[TestClient, str], filled: Archive
) -> None:
    (stuck,) = queries.dashboard(filled, 1_900_000_000_000)["stuck"]
    c, csrf = viewer
    assert "/actions/resend" not in c.get(f"/oppdrag/{stuck['id']}").text
    c, csrf = operator
    page = c.get(f"/oppdrag/{stuck['id']}").text
    assert 'action="/actions/resend"' in page
    next_ = f"/oppdrag/{stuck['id']}"
    refused = c.post("/actions/resend", data={"csrf": csrf, "record": stuck["id"], "reason": "", "next": next_})
    assert refused.status_code == 400 and "a reason is required" in refused.text
    ok = c.post(
        "/actions/resend",
        data={"csrf": csrf, "record": stuck["id"], "reason": "OS has no trace (INC-3)", "next": next_},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == f"{next_}?done=resend"
    shown = c.get(ok.headers["location"]).text
    assert "Resend asked" in shown and "OS has no trace (INC-3)" in shown
    again = c.post("/api/actions/resend", json={"recordId": stuck["id"], "reason": "x"}, headers={"X-CSRF-Token": csrf})
    assert again.status_code == 409 and "a resend was asked by Z990001" in again.json()["detail"]
    assert [e["action"] for e in queries.audit_log(filled)["items"]] == ["resend"]


def test_the_dashboard_shows_every_card(operator: tuple[TestClient, str]) -> None:
    c, _ = operator
    page = c.get("/").text
    for card in ("feilet", "stuck", "mismatches", "doubles", "requests", "recent", "avstemming", "archive"):
        assert f'id="{card}"' in page
    assert "over an hour inside OS's opening hours" in page
    assert page.count('class="recent-row"') == 12 and 'href="/sak/DAGPENGER/SAK-MANGE"' in page
