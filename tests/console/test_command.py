"""`helved console` as a user runs it: tokens printed, pages and API served on loopback."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helved.cli import build_parser
from tests.console.conftest import free_port


def test_the_command_is_registered_with_its_options() -> None:
    args = build_parser().parse_args(["console", "--dsn", "x.sqlite", "--port", "9000"])
    assert (args.command, args.dsn, args.port, args.host) == ("console", "x.sqlite", 9000, "127.0.0.1")


@contextmanager
def console(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, dict[str, str]]]:
    """`helved console ...` in a subprocess: its URL and the tokens it printed."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HELVED_CONSOLE_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "helved.cli",
            "console",
            "--dsn",
            str(tmp_path / "c.sqlite"),
            "--port",
            str(port),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**environ, **(env or {})},
        cwd=tmp_path,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or ()], daemon=True).start()
    tokens: dict[str, str] = {}
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while len(tokens) < 2:
            assert proc.poll() is None, "".join(seen)
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no tokens printed: {''.join(seen)}") from None
            seen.append(line)
            for role in ("operator", "viewer"):
                if line.strip().startswith(f"{role} token:"):
                    tokens[role] = line.split(":", 1)[1].strip()
        url = f"http://127.0.0.1:{port}"
        assert any(url in line for line in seen)
        while True:  # uvicorn binds right after printing
            try:
                urllib.request.urlopen(url + "/login", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        yield url, tokens
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def get(url: str, token: str | None = None) -> int:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_helved_console_sample_prints_a_token_per_role_and_serves(tmp_path: Path) -> None:
    with console(tmp_path, "--sample") as (url, tokens):
        assert tokens["operator"] != tokens["viewer"] and len(tokens["operator"]) > 20
        assert get(url + "/api/dashboard") == 401
        assert get(url + "/api/dashboard", "wrong") == 401
        assert get(url + "/api/dashboard", tokens["viewer"]) == 200
        assert get(url + "/api/saker/DAGPENGER/SAK-MANGE", tokens["operator"]) == 200
