"""`helved replay` as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from helved.cli import main
from helved.oppdrag.schema import oppdrag_schema, schema_errors
from tests.builders import TOPICS, days, dp, line

EXAMPLE = Path(__file__).resolve().parent.parent / "helved" / "examples" / "dagpenger.jsonl"
MP1 = days("mp1", "2025-08-04", "2025-08-08", 1000)
MP2 = days("mp2", "2025-08-18", "2025-08-22", 1000)


def run(tmp_path: Path, lines: list[str] | Path, *args: str) -> tuple[int, list[dict]]:
    if isinstance(lines, Path):
        src = lines
    else:
        src = tmp_path / "in.jsonl"
        src.write_text("\n".join(lines) + "\n")
    dst = tmp_path / "out.jsonl"
    code = main(["replay", str(src), "--out", str(dst), *args])
    out = [orjson.loads(x) for x in dst.read_bytes().splitlines()] if dst.exists() else []
    return code, out


def status_seq(out: list[dict], key: str | None = None) -> list[str]:
    return [r["value"]["status"] for r in out if r["topic"] == TOPICS.status and (key is None or r["key"] == key)]


def test_spec_example_gives_one_valid_oppdrag_and_the_whole_story(tmp_path):
    code, out = run(tmp_path, EXAMPLE)
    assert code == 0
    assert [r["topic"] for r in out] == [
        TOPICS.status,
        TOPICS.oppdrag,
        TOPICS.kvittering,  # the receipt played, right after the Oppdrag it answers
        TOPICS.pending,
        TOPICS.utbetalinger,
        TOPICS.saker,
        TOPICS.pending,
        TOPICS.status,
    ]
    assert status_seq(out) == ["MOTTATT", "OK"]
    (opp,) = [r for r in out if r["topic"] == TOPICS.oppdrag]
    assert schema_errors(oppdrag_schema(), opp["value"].encode()) == []
    assert opp["key"] == "dp-req-1" and opp["headers"]["fagsystem"] == "DAGPENGER"
    assert "<nokkelAvstemming>2025-08-18-09.30.00.000000</nokkelAvstemming>" in opp["value"]
    saker = [r for r in out if r["topic"] == TOPICS.saker][0]
    assert saker["key"] == '{"sakId":"SAK-17","fagsystem":"DAGPENGER"}'


def test_a_second_run_is_byte_identical(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    lines = [
        line(TOPICS.dagpenger, "k1", dp(MP1)),
        line(TOPICS.dagpenger, "k2", dp(MP1, MP2, behandling="B-2")),
        line(TOPICS.dagpenger, "k3", dp(MP2, behandling="B-3")),
        line(TOPICS.dagpenger, "bad", "{not json"),
    ]
    run(tmp_path / "a", lines)
    run(tmp_path / "b", lines)
    assert (tmp_path / "a" / "out.jsonl").read_bytes() == (tmp_path / "b" / "out.jsonl").read_bytes()


def test_receipt_codes_are_used_in_turn_and_the_last_repeats(tmp_path):
    lines = [line(TOPICS.dagpenger, f"k{i}", dp(MP1, behandling=f"B-{i}", sak=f"S{i}")) for i in range(4)]
    code, out = run(tmp_path, lines, "--kvittering", "00,08,04")
    assert code == 0
    finals = [status_seq(out, f"k{i}")[-1] for i in range(4)]
    assert finals == ["OK", "FEILET", "OK", "OK"]
    warn = [r["value"]["error"] for r in out if r["key"] == "k3" and r["topic"] == TOPICS.status][-1]
    assert warn["statusCode"] == 200 and warn["msg"]


def test_no_receipts_leaves_requests_waiting(tmp_path):
    lines = [line(TOPICS.dagpenger, "k1", dp(MP1)), line(TOPICS.dagpenger, "k2", dp(MP1, MP2))]
    code, out = run(tmp_path, lines, "--kvittering", "none")
    assert code == 0
    assert status_seq(out, "k1") == ["MOTTATT"]
    assert [r["value"]["detaljer"] for r in out if r["key"] == "k2"] == [None]  # waiting


def test_invalid_json_value_replays_as_feilet_and_dlq(tmp_path):
    code, out = run(tmp_path, [line(TOPICS.dagpenger, "bad", "{not json"), line(TOPICS.dagpenger, "k1", dp(MP1))])
    assert code == 0
    assert [r["topic"] for r in out[:2]] == [TOPICS.status, TOPICS.dlq]
    assert out[1]["value"] == "{not json"
    assert status_seq(out, "k1") == ["MOTTATT", "OK"]


def test_receipts_in_the_input_file_are_replayed_too(tmp_path):
    """A production incident: the request and OS's real receipt, both from the topics."""
    code, out = run(tmp_path, [line(TOPICS.dagpenger, "k1", dp(MP1))], "--kvittering", "none")
    opp = [r for r in out if r["topic"] == TOPICS.oppdrag][0]["value"]
    from helved.oppdrag.xml import echo_kvittering

    kv = echo_kvittering(opp.encode(), "00").decode()
    (tmp_path / "2").mkdir()
    code, out = run(
        tmp_path / "2",
        [line(TOPICS.dagpenger, "k1", dp(MP1)), line(TOPICS.kvittering, "k1", kv)],
        "--kvittering",
        "none",
    )
    assert status_seq(out, "k1") == ["MOTTATT", "OK"]


def test_emulate_oppdrag_answers_with_the_emulators_verdict(tmp_path):
    lines = [
        line(TOPICS.dagpenger, "k1", dp(MP1)),
        line(TOPICS.dagpenger, "k2", dp(MP1, MP2, behandling="B-2")),
        line(TOPICS.dagpenger, "k3", dp(behandling="B-3")),
    ]
    code, out = run(tmp_path, lines, "--emulate-oppdrag")
    assert code == 0
    assert [status_seq(out, k)[-1] for k in ("k1", "k2", "k3")] == ["OK", "OK", "OK"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json\n", "line 1: not JSON"),
        ('{"key": "k", "value": {}}\n', "line 1: 'topic'"),
        (line(TOPICS.dagpenger, "k", {}) + "\n[1]\n", "line 2: expected a JSON object"),
        ('{"topic": "t", "key": 5, "value": 1}\n', "line 1: 'key'"),
        ('{"topic": "t", "key": "k"}\n', "line 1: 'value' is required"),
        ('{"topic": "t", "key": "k", "value": 1, "timestamp": "x"}\n', "line 1: 'timestamp'"),
        ('{"topic": "helved.kvittering.v1", "key": "k", "value": {"a": 1}}\n', "must be a string"),
    ],
)
def test_malformed_input_file_is_a_clear_error(tmp_path, capsys, content, message):
    src = tmp_path / "in.jsonl"
    src.write_text(content)
    code, _ = run(tmp_path, src)
    assert code == 2
    assert message in capsys.readouterr().err


def test_bad_receipt_code_is_refused(tmp_path, capsys):
    code, _ = run(tmp_path, EXAMPLE, "--kvittering", "00,99")
    assert code == 2 and "99" in capsys.readouterr().err


def test_console_script_runs_the_example(tmp_path):
    """The README's first command, as a newcomer types it."""
    dst = tmp_path / "out.jsonl"
    env = dict(os.environ)
    res = subprocess.run(
        [sys.executable, "-m", "helved.cli", "replay", str(EXAMPLE), "--out", str(dst)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert len(dst.read_text().splitlines()) == 8  # 7 records of the flow and the receipt played
    assert "12345678910" not in res.stderr  # no ident in logs


# -- the file format, exactly (issue 12) -------------------------------------------------------


def test_lines_end_at_newline_only(tmp_path):
    """U+2028, U+2029 and U+0085 are not line ends in JSONL: `str.splitlines` would cut there."""
    odd = "mp1\u2028\u2029\u0085\x1c"
    lines = [
        line(TOPICS.dagpenger, "k1", dp(days(odd, "2025-08-04", "2025-08-08", 1000))),
        line(TOPICS.dagpenger, "k2", dp(MP1, sak="SAK-2", behandling="B\u2028")),
    ]
    src = tmp_path / "in.jsonl"
    src.write_bytes(("\r\n".join(lines) + "\r\n").encode())  # CRLF is fine too
    code, out = run(tmp_path, src)
    assert code == 0
    assert status_seq(out, "k1") == ["MOTTATT", "OK"]
    assert status_seq(out, "k2") == ["FEILET"]  # a control character in an id
    (dlq,) = [r for r in out if r["topic"] == TOPICS.dlq]
    assert dlq["value"]["behandlingId"] == "B\u2028"  # written as read, and read back whole
    written = (tmp_path / "out.jsonl").read_bytes()
    assert "\u2028".encode() in written  # raw, inside its line
    assert len(written.split(b"\n")) == len(out) + 1


def _nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


@pytest.mark.parametrize("depth", [254, 300, 1023, 1024, 1025, 5000])
def test_a_value_nested_deeper_than_the_flow_reads_ends_as_feilet_and_dlq(tmp_path, depth):
    """orjson writes 254 levels and reads 1024: whatever the depth, the replay goes on, the
    request gets one FEILET and one DLQ record holding its bytes, and the next one is paid."""
    deep = f'{{"topic":"{TOPICS.dagpenger}","key":"deep","value":{{"sakId":{_nested(depth)}}},"headers":{{}}}}'
    src = tmp_path / "in.jsonl"
    src.write_text(deep + "\n" + line(TOPICS.dagpenger, "k1", dp(MP1)) + "\n")
    code, out = run(tmp_path, src)
    assert code == 0
    assert status_seq(out, "deep") == ["FEILET"]
    (dlq,) = [r for r in out if r["topic"] == TOPICS.dlq]
    value = dlq["value"]
    if isinstance(value, str):  # too deep to write as JSON: its raw text
        assert value.replace(" ", "") == f'{{"sakId":{_nested(depth)}}}'
    else:
        assert orjson.dumps(value) == b'{"sakId":%s}' % _nested(depth).encode()
    assert status_seq(out, "k1") == ["MOTTATT", "OK"]


def test_a_deep_value_is_read_back_as_the_same_bytes(tmp_path):
    """What `helved replay` writes, it reads: the output file is a valid input file."""
    from helved.replay import read_records, split_lines

    deep = f'{{"topic":"{TOPICS.dagpenger}","key":"deep","value":{_nested(600)}}}'
    src = tmp_path / "in.jsonl"
    src.write_text(deep + "\n")
    assert run(tmp_path, src)[0] == 0
    back = read_records(split_lines((tmp_path / "out.jsonl").read_bytes()), TOPICS)
    assert [r.value for r in back if r.topic == TOPICS.dlq] == [_nested(600).encode()]


def test_an_unmatched_receipt_with_the_bridges_provenance_neither_hangs_nor_crashes(tmp_path, monkeypatch):
    """The OS bridge's receipts carry `src-topic`/`src-offset` of the Oppdrag they answer; the
    DLQ record of one that matches nothing keeps them. The replay must still see its own."""
    import helved.replay

    monkeypatch.setattr(helved.replay, "GATE_TIMEOUT_S", 3.0)
    code, out = run(tmp_path, [line(TOPICS.dagpenger, "k1", dp(MP1))], "--kvittering", "none")
    opp = [r for r in out if r["topic"] == TOPICS.oppdrag][0]["value"]
    from helved.oppdrag.xml import echo_kvittering

    stale = echo_kvittering(opp.encode(), "00").decode().replace("<sats>1000</sats>", "<sats>999</sats>")
    bridge = {"src-topic": TOPICS.oppdrag, "src-partition": "2", "src-offset": "41", "fagsystem": "DAGPENGER"}
    lines = [
        line(TOPICS.dagpenger, "k1", dp(MP1)),
        orjson.dumps({"topic": TOPICS.kvittering, "key": "k1", "value": stale, "headers": bridge}).decode(),
        orjson.dumps(
            {
                "topic": TOPICS.kvittering,
                "key": "k1",
                "value": echo_kvittering(opp.encode(), "00").decode(),
                "headers": bridge,
            }
        ).decode(),
        line(TOPICS.dagpenger, "k2", dp(MP1, MP2, behandling="B-2")),
    ]
    (tmp_path / "2").mkdir()
    code, out = run(tmp_path / "2", lines, "--kvittering", "none")
    assert code == 0
    (dlq,) = [r for r in out if r["topic"] == TOPICS.dlq]
    assert dlq["headers"]["error"].startswith("UNMATCHED_KVITTERING")
    assert status_seq(out, "k1") == ["MOTTATT", "OK"]  # the real receipt after it still settles
    assert status_seq(out, "k2") == ["MOTTATT"]


def test_out_into_a_missing_directory_is_one_line(tmp_path, capsys):
    code = main(["replay", str(EXAMPLE), "--out", str(tmp_path / "nope" / "out.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "does not exist" in err
