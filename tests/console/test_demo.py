"""`helved demo` starts the operator console beside the pipeline: a newcomer opens the printed URL
with the printed token and follows a request from the decision to what OS pays; an operator
resubmits the demo's invalid decision, corrected, from the DLQ and the real pipeline answers it
OK. Ctrl-C stops the console with the rest."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.console.test_browser import browser, sign_in  # noqa: F401  (a fixture, used by name)

OPERATOR, VIEWER = "o-demo-operator-token", "v-demo-viewer-token"


@dataclass
class Demo:
    proc: subprocess.Popen[str]
    url: str
    lines: list[str]
    printed: dict[str, str]


def _api(url: str, token: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status), json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _until(what: str, check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    workdir: Path = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELVED_CONSOLE_")}
    env.update(HELVED_CONSOLE_OPERATOR_TOKEN=OPERATOR, HELVED_CONSOLE_VIEWER_TOKEN=VIEWER, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "helved.cli", "demo", "--workdir", str(workdir / "w")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=workdir,
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or ()], daemon=True).start()
    printed: dict[str, str] = {}
    url = ""
    try:
        deadline = time.monotonic() + 120
        while not any("Ctrl-C stops" in line for line in seen):
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                assert proc.poll() is None, "the demo ended:\n" + "".join(seen)
                assert time.monotonic() < deadline, "the demo did not get going:\n" + "".join(seen)
                continue
            seen.append(line)
            if "operator console on " in line:
                url = line.split("operator console on ", 1)[1].split()[0].rstrip("/")
            for role in ("operator", "viewer"):
                if line.strip().startswith(f"{role} token:"):
                    printed[role] = line.split(":", 1)[1].strip()
        yield Demo(proc, url, seen, printed)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_the_demo_prints_the_consoles_url_and_tokens_and_it_tells_each_requests_story(demo: Demo) -> None:
    assert demo.url.startswith("http://127.0.0.1:") and demo.printed == {"operator": OPERATOR, "viewer": VIEWER}
    assert any(line.strip() == f"open {demo.url}/ (the console; a token above, any NAV ident as your name)"
               for line in demo.lines)  # fmt: skip
    # the fagsystems' output is as it was: every decision answered, what OS pays
    assert any("all 11 decisions answered" in line for line in demo.lines)
    assert any("OS now pays on SAK-1001" in line for line in demo.lines)

    def dashboard() -> dict[str, Any]:
        return _api(demo.url + "/api/dashboard", VIEWER)[1]

    def caught_up() -> bool:
        r = dashboard()["requests"]
        return r.get("DAGPENGER", {}).get("OK") == 5 and r.get("DAGPENGER", {}).get("FEILET") == 1 and len(r) == 6

    _until("the archive to hold every status", caught_up)
    d = dashboard()
    assert [f["originalKey"] for f in d["feilet"]] == ["dp-1013-1"] and d["dlq"] == 1
    assert d["stuck"] == [] and d["mismatches"] == [] and d["doubles"] == []

    status, sak = _api(demo.url + "/api/saker/DAGPENGER/SAK-1001", VIEWER)
    assert status == 200
    story = {r["originalKey"]: r for r in sak["requests"]}
    assert [story[k]["final"] for k in ("dp-1001-1", "dp-1001-2")] == ["OK", "OK"]
    assert all(o["receipts"][0]["code"] == "00" for k in ("dp-1001-1", "dp-1001-2") for o in story[k]["oppdrag"])
    paid = sorted((p["fom"], p["tom"]) for u in sak["utbetalinger"] for p in (u["confirmed"] or {}).get("perioder", []))
    assert paid[0][0] == "2025-08-04" and paid[-1][1] == "2025-08-29"  # what OS pays: 4 Aug .. 29 Aug

    # An operator corrects the invalid decision (saksbehandler longer than 8) and resubmits it.
    (dlq,) = _api(demo.url + "/api/messages?kind=dlq", VIEWER)[1]["items"]
    status, shown = _api(demo.url + f"/api/messages/{dlq['id']}/reveal", OPERATOR, {"reason": "to correct it"})
    assert status == 200
    value = json.loads(shown["body"])
    value["saksbehandler"] = "Z123456"
    status, entry = _api(
        demo.url + "/api/actions/resubmit", OPERATOR, {"recordId": dlq["id"], "value": value, "reason": "typo"}
    )
    assert status == 200 and entry["details"]["changed"] == ["$.saksbehandler"]

    def settled() -> Any:
        s = _api(demo.url + "/api/saker/DAGPENGER/SAK-1013", VIEWER)[1]
        return s if s["requests"] and s["requests"][0]["final"] == "OK" else None

    sak = _until("the resubmitted decision to be paid", settled)
    (req,) = sak["requests"]
    assert [s["status"] for s in req["statuses"]] == ["FEILET", "MOTTATT", "HOS_OPPDRAG", "OK"]
    assert len(req["resubmissions"]) == 1 and req["oppdrag"][0]["receipts"][0]["code"] == "00"
    assert "dp-1013-1" not in {f["originalKey"] for f in dashboard()["feilet"]}
    # every Oppdrag has its receipt: a resend makes no sense and is refused with the reason
    oppdrag_id = req["oppdrag"][0]["id"]
    status, refused = _api(demo.url + "/api/actions/resend", OPERATOR, {"recordId": oppdrag_id, "reason": "x"})
    assert status == 409 and "not in flight" in refused["detail"]


def test_a_newcomer_follows_a_request_in_the_browser(browser, demo: Demo) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    page = sign_in(browser, demo.url, VIEWER, "Z990003")
    page.locator("#recent tr.recent-row", has_text="dp-1001-2").locator("a.sak-link").click()
    page.wait_for_url(demo.url + "/sak/DAGPENGER/SAK-1001")
    assert page.locator("svg.timeline g.request[data-final=OK]").count() == 3  # two decisions, the dryrun
    assert page.locator("svg.periods rect.bar.confirmed").count() >= 2
    assert "2025-08-26..2025-08-29 1000" in page.locator("section", has_text="Utbetalinger").last.inner_text()
    page.context.close()


def test_ctrl_c_stops_the_console_with_the_demo(demo: Demo) -> None:
    port = int(demo.url.rsplit(":", 1)[1])
    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(timeout=30) == 130
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
