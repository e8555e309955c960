"""The CLI as a user runs it, when things go wrong: one line on stderr saying what to do, the
documented exit code, never a traceback, and Ctrl-C ends every command within a second or two
with exit 130 (README, "Exit codes")."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from helved.config import Settings
from helved.kafka import ensure_topics
from tests.builders import days, dp

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "helved" / "examples" / "dagpenger.jsonl"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "HELVED_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "HELVED_TOPIC_PREFIX": settings.topic_prefix,
        **extra,
    }


def helved(*args: str, env: dict[str, str], timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "helved.cli", *args], env=env, capture_output=True, text=True, timeout=timeout_s
    )


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped by init is not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "zombie" not in status


def topic_names(settings: Settings) -> set[str]:
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    return set(admin.list_topics(timeout=10).topics)


@pytest.fixture
def decision(tmp_path: Path) -> Path:
    path = tmp_path / "decision.json"
    path.write_bytes(orjson.dumps(dp(days("mp1", "2025-08-04", "2025-08-08", 1000))))
    return path


# -- helved send ------------------------------------------------------------------------------


def test_send_with_a_wrong_topic_prefix_is_one_line_and_creates_nothing(settings: Settings, decision: Path) -> None:
    ensure_topics(settings, settings.topics)
    wrong = settings.topic_prefix.rstrip(".") + "-typo."
    done = helved("send", str(decision), env=env_for(settings, HELVED_TOPIC_PREFIX=wrong))
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert f"topic {wrong}teamdagpenger.utbetaling.v1 does not exist" in line and "helved topics ensure" in line
    assert done.stdout == ""
    time.sleep(0.5)
    assert not [t for t in topic_names(settings) if t.startswith(wrong)], "no topic may be auto-created"


def test_send_wait_without_a_status_topic_is_one_line_and_sends_nothing(settings: Settings, decision: Path) -> None:
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    for future in admin.create_topics([NewTopic(settings.topics.dagpenger, num_partitions=3)]).values():
        future.result(10)
    done = helved("send", str(decision), "--wait", "5", env=env_for(settings))
    assert done.returncode == 1
    assert f"topic {settings.topics.status} does not exist" in one_line(done.stderr)
    assert settings.topics.status not in topic_names(settings)


def test_send_wait_that_times_out_is_one_line_and_exit_3_as_status(settings: Settings, decision: Path) -> None:
    ensure_topics(settings, settings.topics)  # topics, but no pipeline: no status ever comes
    done = helved("send", str(decision), "--wait", "1", env=env_for(settings))
    assert done.returncode == 3
    assert "no final status for send-" in one_line(done.stderr)
    status = helved("status", "nobody", "--timeout", "1", env=env_for(settings))
    assert status.returncode == 3 and "no final status for nobody" in one_line(status.stderr)


# -- Ctrl-C -----------------------------------------------------------------------------------


def interrupt(
    argv: list[str], env: dict[str, str], after_s: float, *, group: bool = False
) -> tuple[int, float, str, str, int]:
    """Start `helved ARGV`, send SIGINT after `after_s` (to its process group, as a terminal
    does, with `group`); (exit code, seconds it took to end, stdout, stderr, process group)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "helved.cli", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        time.sleep(after_s)
        started = time.monotonic()
        if group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        return proc.returncode, time.monotonic() - started, out, err, proc.pid
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.parametrize(
    "argv", [["status", "k"], ["sak", "S"], ["topics", "check"], ["send", str(EXAMPLE), "--raw"], ["demo", "--once"]]
)
def test_ctrl_c_while_waiting_for_an_unreachable_broker_stops_at_once(argv: list[str]) -> None:
    """A metadata request blocks in C for its whole timeout (10 s), deaf to Python's handler."""
    env = {**os.environ, "HELVED_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}"}
    code, took, _, err, _ = interrupt(argv, env, 2.0)
    assert code == 130, err
    assert took < 2.5
    assert one_line(err) == f"helved {argv[0]}: interrupted"


@pytest.mark.parametrize("argv", [["status", "k"], ["send", "DECISION", "--wait", "60"]])
def test_ctrl_c_while_following_statuses_stops_at_once(settings: Settings, decision: Path, argv: list[str]) -> None:
    ensure_topics(settings, settings.topics)
    argv = [str(decision) if a == "DECISION" else a for a in argv]
    code, took, _, err, _ = interrupt(argv, env_for(settings), 2.0)
    assert (code, one_line(err)) == (130, f"helved {argv[0]}: interrupted")
    assert took < 2.0


@pytest.mark.parametrize("after_s", [0.3, 0.45, 0.6])
def test_ctrl_c_during_the_demos_start_up_stops_everything_at_once(tmp_path: Path, after_s: float) -> None:
    """A terminal's Ctrl-C reaches the demo and its embedded broker: the start-up is abandoned
    (its next metadata request would wait 30 s for the broker that just stopped)."""
    env = {**os.environ, "HELVED_BOOTSTRAP_SERVERS": ""}
    code, took, out, err, pgid = interrupt(["demo", "--workdir", str(tmp_path / "w")], env, after_s, group=True)
    assert code == 130, out + err
    assert took < 2.5
    assert one_line(err) == "helved demo: interrupted"
    time.sleep(0.2)
    for pid in map(int, re.findall(r"\(pid (\d+)\)", out)):  # the pipeline, when it got that far
        assert not alive(pid), out
    with pytest.raises(ProcessLookupError):  # the embedded broker shares the demo's group
        os.killpg(pgid, 0)


def test_ctrl_c_during_a_long_replay_is_one_line(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    with src.open("w") as fh:
        for i in range(3000):
            record = {
                "topic": "teamdagpenger.utbetaling.v1",
                "key": f"k{i}",
                "value": dp(days("mp", "2025-08-04", "2025-08-15", 1000), sak=f"S{i}"),
            }
            fh.write(orjson.dumps(record).decode() + "\n")
    code, took, _, err, _ = interrupt(["replay", str(src), "--out", str(tmp_path / "out.jsonl")], dict(os.environ), 2.5)
    assert (code, one_line(err)) == (130, "helved replay: interrupted")  # no Rust panic either
    assert took < 2.0
