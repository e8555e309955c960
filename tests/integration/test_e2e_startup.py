"""Starting up against a broker that is not there: a clear error in bounded time, never a hang.
And the demo as a user runs it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def helved(*args: str, env: dict[str, str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "helved.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def test_helved_run_with_the_broker_down_fails_clearly(tmp_path: Path) -> None:
    env = {
        "HELVED_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}",
        "HELVED_RECOVERY_DIR": str(tmp_path / "r"),
    }
    started = time.monotonic()
    done = helved("run", "--broker-timeout", "2", env=env, timeout_s=30)
    assert done.returncode == 1
    assert re.search(r"helved run: no Kafka broker answered at '127\.0\.0\.1:\d+' within 2 s", done.stderr)
    assert time.monotonic() - started < 20
    assert not (tmp_path / "r").exists()  # nothing initialised for a broker that is not there


def test_helved_demo_with_the_broker_down_fails_clearly(tmp_path: Path) -> None:
    env = {"HELVED_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}"}
    done = helved("demo", "--once", "--workdir", str(tmp_path), "--broker-timeout", "2", env=env, timeout_s=60)
    assert done.returncode == 1
    assert "helved demo: no Kafka broker answered" in done.stderr


def test_the_commands_with_the_broker_down_fail_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from helved.cli import main

    monkeypatch.setenv("HELVED_BOOTSTRAP_SERVERS", f"127.0.0.1:{closed_port()}")
    decision = tmp_path / "d.json"
    decision.write_text("{}")
    for argv in (
        ["status", "k", "--broker-timeout", "1"],
        ["sak", "S", "--broker-timeout", "1"],
        ["send", str(decision), "--broker-timeout", "1"],
        ["topics", "ensure", "--broker-timeout", "1"],
    ):
        assert main(argv) == 1, argv
        assert "no Kafka broker answered" in capsys.readouterr().err


@pytest.mark.parametrize("processes", [1, 2])
def test_helved_demo_once_shows_statuses_and_payments(processes: int) -> None:
    done = helved("demo", "--once", "--processes", str(processes), env={"HELVED_BOOTSTRAP_SERVERS": ""}, timeout_s=90)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    if processes > 1:
        assert "a Bytewax cluster of 2 helved run processes" in out
    assert "embedded Kafka broker" in out
    assert re.search(r"dp-1001-1 +SAK-1001 +MOTTATT → HOS_OPPDRAG → OK", out)
    assert re.search(r"dp-1001-2\S* +SAK-1001 +MOTTATT → MOTTATT → HOS_OPPDRAG → OK", out)
    assert re.search(r"dp-1013-1 +SAK-1013 +FEILET\n", out)
    assert "OS now pays on SAK-1001" in out and "19000" in out
    assert "OS pays nothing on SAK-1005" in out
    # The dryrun: simulated over Kafka by the bridge's OS, shown per month; nothing changed.
    assert re.search(r"dp-1001-sim +SAK-1001 +OK\n", out)
    assert re.search(r"2025-08 +19000 +17000 +0 +2000", out)
    assert "19000" in out.split("What OS pays, per sak")[1]  # the dryrun paid nothing
    # Every other fagsystem: its request OK and what OS pays; TS over two fagområder.
    for key in ("aap-2001-1", "tp-3001-1", "hist-5001-1", "valp-6001-1"):
        assert re.search(rf"{key} +\S+ +MOTTATT → HOS_OPPDRAG → OK", out), key
    assert re.search(r"ts-4001-1 +TS-4001 +MOTTATT → HOS_OPPDRAG → HOS_OPPDRAG → OK", out)
    assert "OS now pays on TS-4001 (TILLSTPB)" in out and "OS now pays on TS-4001 (TILLSTLM)" in out
    # The day's avstemming (dry run), one row per fagområde, each confirmed by OS's check.
    table = out.split("Grensesnittavstemming of ")[1].split("\n\n")[0].splitlines()[2:]
    assert [row.split()[0] for row in table] == ["AAP", "DP", "HELSREF", "TILLSTLM", "TILLSTPB", "TILSOPP", "TILTPENG"]
    assert all(row.endswith("holds") for row in table), table
    assert re.search(r"DP +\S{22} +4/9700 +0/0 +0/0 +0/0 +holds", out)
    assert "12345678910" not in out + done.stderr


def test_helved_demo_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "helved.cli", "demo", "--workdir", str(tmp_path)],
        env={**os.environ, "HELVED_BOOTSTRAP_SERVERS": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Ctrl-C stops" in line or not line:
                break
        assert "Ctrl-C stops" in lines[-1], "".join(lines)
        pid = int(re.search(r"helved run \(pid (\d+)\)", "".join(lines)).group(1))  # type: ignore[union-attr]
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=20)
        assert proc.returncode == 130, rest  # README, "Exit codes": interrupted
        assert time.monotonic() - started < 2.5  # Ctrl-C stops within a second or two
        assert "helved demo: stopping" in rest and "Traceback" not in rest
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # the pipeline process is gone
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
