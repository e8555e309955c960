"""Logs: HELVED_LOG_FORMAT=json gives one JSON object per line with ids and never an ident;
plain text stays the default. Whole runs (`helved replay`, `helved demo --once`) in both formats
are grepped for every ident their inputs use."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helved import logs
from tests.ops import scenario

ROOT = Path(__file__).resolve().parents[2]
ELEVEN_DIGITS = re.compile(r"(?<!\d)\d{11}(?!\d)")


def example_idents() -> set[str]:
    """Every `ident` in the example files and the scenario, plus the demo's."""
    from helved import demo

    found = set(scenario.IDENTS) | {demo.IDENT}
    for line in scenario.EXAMPLE.read_text().splitlines():
        found |= set(re.findall(r'"ident"\s*:\s*"(\d+)"', line))
    return found


def one_record(fmt: logging.Formatter, msg: str, *args: object, **extra: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(fmt)
    logger = logging.getLogger("helved.test-logs")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning(msg, *args, extra=extra)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_json_lines_carry_time_level_logger_message_and_the_ids():
    out = one_record(
        logs.JsonFormatter(),
        "kvittering %s[%d]@%d to the DLQ",
        "helved.kvittering.v1",
        2,
        7,
        sak='{"sakId":"S-1","fagsystem":"DAGPENGER"}',
        key="k-1",
        uid="u-1",
        topic="helved.kvittering.v1",
        partition=2,
        offset=7,
        ident="12345678910",
    )
    assert out.endswith("\n") and out.count("\n") == 1
    obj = json.loads(out)
    assert obj["level"] == "WARNING" and obj["logger"] == "helved.test-logs"
    assert obj["message"] == "kvittering helved.kvittering.v1[2]@7 to the DLQ"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", obj["time"])
    assert obj["sak"] == '{"sakId":"S-1","fagsystem":"DAGPENGER"}' and obj["key"] == "k-1" and obj["uid"] == "u-1"
    assert (obj["topic"], obj["partition"], obj["offset"]) == ("helved.kvittering.v1", 2, 7)
    assert "ident" not in obj and "12345678910" not in out


def test_both_formats_mask_eleven_digit_numbers_in_messages_and_tracebacks():
    try:
        raise ValueError("bad ident 01020312345")
    except ValueError:
        exc_info = sys.exc_info()
    for fmt in (logs.JsonFormatter(), logs.PlainFormatter()):
        record = logging.LogRecord("helved.x", logging.ERROR, __file__, 1, "for %s", ("12345678910",), exc_info)
        text = fmt.format(record)
        assert "12345678910" not in text and "01020312345" not in text and logs.MASK in text
    # Timestamps in ms (13 digits), offsets and amounts are left alone.
    assert logs.mask_idents("ts 1755502200000 offset 12 sum 1000") == "ts 1755502200000 offset 12 sum 1000"


def test_plain_is_the_default_and_json_is_chosen_by_the_environment():
    assert logs.log_format({}) == "plain"
    assert logs.log_format({"HELVED_LOG_FORMAT": "JSON"}) == "json"
    assert isinstance(logs.formatter("json"), logs.JsonFormatter)
    assert isinstance(logs.formatter("plain"), logs.PlainFormatter)


def run_helved(args: list[str], fmt: str, tmp_path: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELVED_")}
    env["HELVED_LOG_FORMAT"] = fmt
    env["HELVED_METRICS_PORT"] = "0"
    return subprocess.run(
        [sys.executable, "-m", "helved.cli", "-v", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def check_lines(text: str, fmt: str, idents: set[str], where: str) -> int:
    """No ident anywhere; in JSON, every line a log record or one of helved's own `helved ...:`
    lines. The number of log records."""
    for ident in idents:
        assert ident not in text, f"{where} ({fmt}) holds the ident {ident}"
    records = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        if fmt == "json":
            if line.startswith("{"):
                obj = json.loads(line)  # every JSON-format line parses
                assert {"time", "level", "logger", "message"} <= set(obj) and "ident" not in obj, line
                records += 1
            else:
                assert line.startswith("helved "), f"{where}: neither a JSON log line nor helved's own: {line!r}"
        else:
            records += bool(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \S+ ", line))
    return records


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_a_replay_logs_no_ident(tmp_path, fmt):
    idents = example_idents()
    src = scenario.write(tmp_path / "in.jsonl")
    for name, path, extra in (
        ("scenario", src, ["--kvittering", scenario.KVITTERING]),
        ("example", scenario.EXAMPLE, []),
    ):
        result = run_helved(["replay", str(path), "--out", str(tmp_path / f"{name}.jsonl"), *extra], fmt, tmp_path)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / f"{name}.jsonl").read_text().count("12345678910") >= 1  # the ident was there to leak
        records = check_lines(result.stderr, fmt, idents, f"replay {name} stderr")
        check_lines(result.stdout, fmt, idents, f"replay {name} stdout")
        if name == "scenario":
            assert records >= 3  # the rejected request, the request without a key, the receipt


@pytest.mark.integration
@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_a_demo_run_logs_no_ident(tmp_path, fmt):
    """The whole demo: the broker, `helved run` (its log file), the bridge, the examples."""
    workdir = tmp_path / "demo"
    result = run_helved(["demo", "--once", "--workdir", str(workdir), "--keep"], fmt, tmp_path, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    idents = example_idents()
    assert check_lines(result.stderr, fmt, idents, "demo stderr") >= 3
    check_lines(result.stdout, "plain", idents, "demo stdout")
    pipeline_log = (workdir / "pipeline.log").read_text()
    assert check_lines(pipeline_log, fmt, idents, "pipeline.log") >= 3
