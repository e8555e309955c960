"""The console in a real browser: headless Chromium from Debian's `chromium` package, driven by
Playwright (`executable_path`; no browser is ever downloaded), against `helved console`'s app on
uvicorn on loopback, over an archive of real helved output.

Skipped only when chromium is not installed and HELVED_REQUIRE_CHROMIUM is unset (CI sets it once
it has installed the package). With HELVED_CONSOLE_SCREENSHOTS=DIR the dashboard and a sak page
are saved there as PNG.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helved.console import sample
from helved.console.actions import Actions, ArchivePublisher
from helved.console.api import create_app
from helved.console.archive import Archive, ingest_all
from helved.console.auth import Auth, Tokens
from helved.records import InRecord
from tests.console.conftest import free_port

VIEWER, OPERATOR = "viewer-token-browser", "operator-token-browser"


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("HELVED_REQUIRE_CHROMIUM"):
            pytest.fail("HELVED_REQUIRE_CHROMIUM is set but chromium is not installed")
        pytest.skip("chromium is not installed (Debian's chromium package)")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


class Served:
    def __init__(self, archive: Archive, publisher: ArchivePublisher, url: str) -> None:
        self.archive, self.publisher, self.url = archive, publisher, url


@pytest.fixture
def served(filled: Archive) -> Iterator[Served]:
    import uvicorn

    publisher = ArchivePublisher(filled)
    app = create_app(filled, Actions(filled, publisher), Auth(Tokens(VIEWER, OPERATOR)))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_level="warning"))
    thread = threading.Thread(target=server.run, name="console-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Served(filled, publisher, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def sign_in(browser, url: str, token: str, name: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(url + "/")
    assert page.url.startswith(url + "/login")
    page.fill("input[name=token]", token)
    page.fill("input[name=name]", name)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
    return page


def screenshot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    folder = os.environ.get("HELVED_CONSOLE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_a_stranger_is_refused(browser, served: Served) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context()
    page = context.new_page()
    page.goto(served.url + "/sak/DAGPENGER/SAK-1")
    assert page.url.startswith(served.url + "/login")
    assert page.locator("text=SAK-1").count() == 0
    assert page.request.get(served.url + "/api/dashboard").status == 401
    page.fill("input[name=token]", "guess")
    page.fill("input[name=name]", "Z1")
    page.click("button[type=submit]")
    assert page.locator(".flash.error").is_visible()
    assert page.request.get(served.url + "/api/dashboard").status == 401
    context.close()


def test_an_operator_finds_a_feilet_and_sees_its_sak(browser, served: Served) -> None:  # type: ignore[no-untyped-def]
    page = sign_in(browser, served.url, OPERATOR, "Z990001")
    screenshot(page, "console-dashboard.png")
    row = page.locator("#feilet tr.feilet-row", has_text="SAK-AVVIST")
    assert row.count() == 1 and "avvist" in row.inner_text()
    row.locator("a.sak-link").click()
    page.wait_for_url(served.url + "/sak/DAGPENGER/SAK-AVVIST")
    periods, timeline = page.locator("svg.periods"), page.locator("svg.timeline")
    assert periods.is_visible() and timeline.is_visible()
    assert page.locator("svg.timeline g.request[data-final=FEILET]").count() == 1
    assert periods.locator("rect.bar").count() == 0  # rejected: nothing confirmed or pending
    page.goto(served.url + "/sak/DAGPENGER/SAK-2")
    assert page.locator("svg.periods rect.bar.confirmed").count() >= 1
    assert page.locator("svg.periods rect.bar.stopped").count() >= 1
    page.goto(served.url + "/sak/DAGPENGER/SAK-1")
    assert page.locator("svg.timeline g.request").count() == 4  # three decisions and a dryrun
    screenshot(page, "console-sak.png")
    start = time.perf_counter()
    page.goto(served.url + "/sak/DAGPENGER/SAK-MANGE")
    page.locator("svg.timeline").wait_for()
    print(f"\nsak page with 100 decisions in Chromium: {(time.perf_counter() - start) * 1000:.0f} ms to load")
    assert page.locator("svg.timeline g.request").count() == 100
    page.context.close()


def test_a_viewer_cannot_act(browser, served: Served) -> None:  # type: ignore[no-untyped-def]
    page = sign_in(browser, served.url, VIEWER, "Z990002")
    assert page.locator("#feilet tr.feilet-row").count() == 3
    assert page.locator("form[action='/actions/mark-handled']").count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    record = served.archive and _feilet_id(served.archive, "dp-7")
    r = page.request.post(
        served.url + "/actions/mark-handled",
        form={"csrf": csrf, "record": str(record), "reason": "I am only a viewer"},
        headers={"Origin": served.url},
    )
    assert r.status == 403 and "only an operator" in r.text()
    assert served.publisher.published == []
    page.context.close()


def _feilet_id(archive: Archive, key: str) -> int:
    from helved.console import queries

    return next(f["id"] for f in queries.dashboard(archive, 0)["feilet"] if f["originalKey"] == key)


def test_an_action_without_a_reason_is_refused_and_with_one_it_is_done(browser, served: Served) -> None:  # type: ignore[no-untyped-def]
    page = sign_in(browser, served.url, OPERATOR, "Z990001")
    row = page.locator("#feilet tr.feilet-row", has_text="SAK-AVVIST")
    row.locator("button", has_text="Handled").click()
    page.wait_for_load_state()
    assert "a reason is required" in page.locator(".flash.error").inner_text()
    assert served.publisher.published == []
    page.goto(served.url + "/")
    row = page.locator("#feilet tr.feilet-row", has_text="SAK-AVVIST")
    row.locator("input[name=reason]").fill("rejected: sak closed, saksbehandler told")
    row.locator("button", has_text="Handled").click()
    page.wait_for_url(served.url + "/?done=handled")
    assert page.locator("#feilet tr.feilet-row", has_text="SAK-AVVIST").count() == 0
    page.goto(served.url + "/audit")
    assert page.locator("tr.audit-row", has_text="rejected: sak closed").count() == 1
    page.context.close()


def test_a_manual_receipt_turns_the_request_ok(
    browser, served: Served, scenario: sample.Scenario, topic_records: list[InRecord]
) -> None:  # type: ignore[no-untyped-def]
    page = sign_in(browser, served.url, OPERATOR, "Z990001")
    page.locator("#stuck a", has_text="Oppdrag").click()
    page.locator("select[name=code]").select_option("00")
    page.locator("form[action='/actions/manual-receipt'] input[name=reason]").fill("OS booked it, receipt lost (INC-7)")
    page.locator("button", has_text="Add receipt").click()
    page.wait_for_url("**/oppdrag/*?done=receipt")
    assert "answered" in page.locator("h1").inner_text()
    (receipt,) = [r for r in served.publisher.published if r.topic == scenario.topics.kvittering]

    # helved's dataflow reads the receipt from the kvittering topic; what it adds is archived.
    added = sample.outputs(
        scenario, [InRecord(receipt.topic, receipt.key, receipt.value, receipt.headers, 0, 0, receipt.timestamp_ms)]
    )
    added = added[len(sample.outputs(scenario)) :]
    placer = sample.Placer()
    placer.records(topic_records)
    ingest_all(served.archive, placer.records(added))

    page.goto(served.url + "/sak/DAGPENGER/SAK-TAPT")
    first = page.locator("svg.timeline g.request").first
    assert first.get_attribute("data-final") == "OK"
    page.goto(served.url + "/audit")
    assert page.locator("tr.audit-row", has_text="manual-receipt").count() == 1
    page.context.close()


def test_the_dashboard_counts_open_hours_and_has_the_consistency_cards(browser, served: Served) -> None:  # type: ignore[no-untyped-def]
    page = sign_in(browser, served.url, VIEWER, "Z990002")
    stuck = page.locator("#stuck")
    assert "inside OS's opening hours" in stuck.locator("h2").inner_text()
    assert stuck.locator("tr.stuck-row").count() == 1 and " h" in stuck.locator("tr.stuck-row td").nth(1).inner_text()
    assert "agree with the receipts" in page.locator("#mismatches").inner_text()
    assert "None found." in page.locator("#doubles").inner_text()
    page.locator("#recent tr.recent-row").first.locator("a.sak-link").click()
    page.wait_for_url(served.url + "/sak/DAGPENGER/SAK-MANGE")
    page.context.close()


def test_an_operator_resubmits_a_corrected_request_from_the_dlq(browser, served: Served) -> None:  # type: ignore[no-untyped-def]
    page = sign_in(browser, served.url, OPERATOR, "Z990001")
    page.goto(served.url + "/messages?kind=dlq")
    page.locator("tr", has_text="WEEKEND_DAY_PAID").locator("a").first.click()
    assert "show idents first" in page.locator("#resubmit").inner_text()
    page.locator("form[action$='/reveal'] input[name=reason]").fill("to correct the Saturday")
    page.locator("button", has_text="Show idents").click()
    editor = page.locator("#resubmit textarea[name=value]")
    editor.fill(editor.input_value().replace("2025-08-09", "2025-08-08"))
    page.locator("#resubmit button", has_text="Resubmit").click()  # no reason: refused, the edit kept
    assert "a reason is required" in page.locator(".flash.error").inner_text()
    assert "2025-08-08" in page.locator("#resubmit textarea[name=value]").input_value()
    page.locator("#resubmit input[name=reason]").fill("Saturday paid by mistake: Friday (INC-9)")
    page.locator("#resubmit button", has_text="Resubmit").click()
    page.wait_for_url("**/messages/*?done=resubmitted")
    assert "went to the sender" in page.locator(".flash.ok").inner_text()
    (request,) = [r for r in served.publisher.published if r.topic != served.archive.topics.audit]
    assert request.topic == served.archive.topics.dagpenger and request.key == "dp-12"
    page.goto(served.url + "/audit")
    assert page.locator("tr.audit-row", has_text="resubmit").count() == 1
    page.context.close()


def test_an_operator_asks_the_bridge_to_resend_an_oppdrag(browser, served: Served) -> None:  # type: ignore[no-untyped-def]
    page = sign_in(browser, served.url, OPERATOR, "Z990001")
    page.locator("#stuck a", has_text="Oppdrag").click()
    page.locator("form[action='/actions/resend'] input[name=reason]").fill("OS has no trace of it (INC-11)")
    page.locator("button", has_text="Resend").click()
    page.wait_for_url("**/oppdrag/*?done=resend")
    assert "Resend asked" in page.locator(".flash.ok").inner_text()
    assert page.locator("td", has_text="OS has no trace of it (INC-11)").count() == 1
    (audit,) = served.publisher.published
    assert audit.header("action") == b"resend"
    page.context.close()
