"""`helved replay`: the real dataflow, in-process, over records read from a JSONL file.

Each Oppdrag the flow produces is answered (by a fixed list of receipt codes, or by the OS
emulator) and the receipt is fed back on the kvittering topic *before* the next input record,
as OS would answer between two decisions. The loop is closed with a gate
(`helved.flow.driver.Gate`): the source hands out the next record only when the sink has seen an
output caused by the previous one (every input yields at least one output, see
`helved.flow.intake`), and receipts go to the front of the queue.

File format, one JSON object a line:
    {"topic": str, "key": str|null, "value": ..., "headers": {str: str}, "timestamp": ms}
For JSON topics `value` is a JSON value (encoded as UTF-8 JSON) or a string (taken as the raw
bytes, so invalid JSON can be replayed); for XML topics a string.

Lines end at `\n` and nowhere else: U+2028, U+2029, U+0085 or a lone `\r` inside a line are
part of it. A `value` nested deeper than the JSON encoder goes (orjson: 254 levels) or than the
decoder reads (1024) is taken as the raw bytes of its text in the line, so the flow meets it
as it would on the topic (too deep for its reader: INVALID_JSON, FEILET and DLQ) and the
replay never fails on it. Output values too deep to encode are written as their raw text (a
string: raw bytes, read back as the same bytes).
"""

from __future__ import annotations

import re
import signal
import threading
from collections import deque
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from helved.config import Topics
from helved.errors import InputFileError
from helved.flow.driver import GATE_TIMEOUT_S, Answer, Gate, Simulate, run_loop
from helved.oppdrag.xml import echo_kvittering
from helved.records import InRecord, OutRecord

BESKR = {
    "04": "Oppdrag behandlet med varsel (replay)",
    "08": "Oppdraget er avvist (replay)",
    "12": "Teknisk feil i Oppdrag (replay)",
}


def xml_topics(topics: Topics) -> frozenset[str]:
    return frozenset({topics.oppdrag, topics.kvittering, topics.simuleringer})


# ---------------------------------------------------------------------------------------------
# The file format


# JSON's own whitespace: a line of nothing else is blank (U+2028 and friends are not).
JSON_WHITESPACE = " \t\r\n"
_DEPTH_ERRORS = ("depth limit", "recursion limit")


def split_lines(data: bytes) -> list[bytes]:
    """The lines of a JSONL file: split at `\n` only (never at U+2028, U+2029, U+0085 or `\r`)."""
    return data.split(b"\n")


def read_records(lines: Iterable[str | bytes], topics: Topics) -> list[InRecord]:
    """Parse replay input lines. Raises `InputFileError` naming the first bad line."""
    xml = xml_topics(topics)
    out: list[InRecord] = []
    for n, line in enumerate(lines, start=1):
        raw_line = line.encode("utf-8", errors="surrogatepass") if isinstance(line, str) else line
        if not raw_line.strip(JSON_WHITESPACE.encode()):
            continue
        raw_value: bytes | None = None  # the value's own text, when it is too deep to re-encode
        try:
            obj = orjson.loads(raw_line)
        except orjson.JSONDecodeError as exc:
            if not any(e in exc.msg for e in _DEPTH_ERRORS):
                raise InputFileError(f"line {n}: not JSON ({exc.msg})") from None
            obj, raw_value = _shallow_object(raw_line, n)
        if not isinstance(obj, dict):
            raise InputFileError(f"line {n}: expected a JSON object")
        topic = obj.get("topic")
        if not isinstance(topic, str) or not topic:
            raise InputFileError(f"line {n}: 'topic' must be a non-empty string")
        key = obj.get("key")
        if key is not None and not isinstance(key, str):
            raise InputFileError(f"line {n}: 'key' must be a string or null")
        if "value" not in obj:
            raise InputFileError(f"line {n}: 'value' is required (null for a tombstone)")
        raw = obj["value"]
        value: bytes | None
        if raw_value is not None:
            if topic in xml:
                raise InputFileError(f"line {n}: the value of XML topic {topic} must be a string")
            value = raw_value
        elif raw is None:
            value = None
        elif isinstance(raw, str):
            value = raw.encode("utf-8", errors="surrogatepass")
        elif topic in xml:
            raise InputFileError(f"line {n}: the value of XML topic {topic} must be a string")
        else:
            try:
                value = orjson.dumps(raw)
            except orjson.JSONEncodeError:  # deeper than the encoder goes: the text as it is
                value = _shallow_object(raw_line, n)[1]
        headers_in = obj.get("headers") or {}
        if not isinstance(headers_in, dict) or not all(isinstance(v, str) for v in headers_in.values()):
            raise InputFileError(f"line {n}: 'headers' must map strings to strings")
        ts = obj.get("timestamp")
        if ts is not None and (isinstance(ts, bool) or not isinstance(ts, int)):
            raise InputFileError(f"line {n}: 'timestamp' must be an integer (ms) or absent")
        out.append(
            InRecord(
                topic=topic,
                key=key,
                value=value,
                headers=tuple((k, v.encode("utf-8", errors="surrogatepass")) for k, v in headers_in.items()),
                timestamp_ms=ts,
            )
        )
    return out


# Tokens of a JSON text that matter for finding where a value ends: strings (which may hold any
# bracket) and brackets. Everything else is skipped over.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)
_WS = re.compile(rb"[ \t\r\n]*")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_SCALAR_END = re.compile(rb"[ \t\r\n,}\]]")


def _shallow_object(line: bytes, n: int) -> tuple[dict[str, Any], bytes]:
    """A line whose `value` is too deep for orjson: its members, every one decoded but `value`,
    which is `None` in the dict and returned as the bytes of its text. Scans without recursion
    (brackets counted, strings skipped), so no depth can make it fail."""
    members: dict[str, Any] = {}
    raw_value = b""
    pos = _WS.match(line, 0).end()  # type: ignore[union-attr]
    if line[pos : pos + 1] != b"{":
        raise InputFileError(f"line {n}: expected a JSON object")
    pos = _WS.match(line, pos + 1).end()  # type: ignore[union-attr]
    while line[pos : pos + 1] != b"}":
        m = _STRING.match(line, pos)
        if m is None:
            raise InputFileError(f"line {n}: not JSON (a member name expected at {pos})")
        name = orjson.loads(m.group())
        pos = _WS.match(line, m.end()).end()  # type: ignore[union-attr]
        if line[pos : pos + 1] != b":":
            raise InputFileError(f"line {n}: not JSON (':' expected at {pos})")
        start = _WS.match(line, pos + 1).end()  # type: ignore[union-attr]
        end = _value_end(line, start, n)
        text = line[start:end]
        if name == "value":
            members[name], raw_value = None, text
        else:
            try:
                members[name] = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise InputFileError(f"line {n}: not JSON ({exc.msg})") from None
        pos = _WS.match(line, end).end()  # type: ignore[union-attr]
        if line[pos : pos + 1] == b",":
            pos = _WS.match(line, pos + 1).end()  # type: ignore[union-attr]
        elif line[pos : pos + 1] != b"}":
            raise InputFileError(f"line {n}: not JSON (',' or '}}' expected at {pos})")
    if line[pos + 1 :].strip(JSON_WHITESPACE.encode()):
        raise InputFileError(f"line {n}: not JSON (text after the object)")
    return members, raw_value


def _value_end(line: bytes, start: int, n: int) -> int:
    """Where the JSON value starting at `start` ends (exclusive)."""
    first = line[start : start + 1]
    if first == b'"':
        m = _STRING.match(line, start)
        if m is None:
            raise InputFileError(f"line {n}: not JSON (an unterminated string)")
        return m.end()
    if first not in (b"[", b"{"):
        m = _SCALAR_END.search(line, start)
        return m.start() if m is not None else len(line)
    depth = 0
    for m in _TOKENS.finditer(line, start):
        token = m.group()
        if token in (b"[", b"{"):
            depth += 1
        elif token in (b"]", b"}"):
            depth -= 1
            if depth == 0:
                return m.end()
    raise InputFileError(f"line {n}: not JSON (an unclosed {first.decode()})")


def record_to_json(rec: OutRecord, topics: Topics) -> dict[str, Any]:
    """An output record in the replay file shape (JSON topics decoded, XML as strings)."""
    value: Any = None
    if rec.value is not None:
        text = rec.value.decode("utf-8", errors="replace")
        value = text
        if rec.topic not in xml_topics(topics):
            try:
                value = orjson.loads(rec.value)
            except orjson.JSONDecodeError:
                value = text  # e.g. the raw bytes of an invalid request on the DLQ
    obj: dict[str, Any] = {
        "topic": rec.topic,
        "key": rec.key,
        "value": value,
        "headers": {k: v.decode("utf-8", errors="replace") for k, v in rec.headers},
    }
    if rec.timestamp_ms is not None:
        obj["timestamp"] = rec.timestamp_ms
    return obj


def record_line(rec: OutRecord, topics: Topics) -> bytes:
    """One line of the output file (without its `\n`). A JSON value too deep to be encoded
    again (the raw bytes of a deep request on the DLQ: orjson reads 1024 levels and writes 254)
    is written as its text, like invalid JSON: a string value stands for the raw bytes."""
    obj = record_to_json(rec, topics)
    try:
        return orjson.dumps(obj)
    except orjson.JSONEncodeError:
        assert rec.value is not None
        obj["value"] = rec.value.decode("utf-8", errors="replace")
        return orjson.dumps(obj)


# ---------------------------------------------------------------------------------------------
# Receipt answers


def fixed_codes(codes: list[str]) -> Answer:
    """Answer each Oppdrag with the next code of `codes`; the last code repeats. `[]`: never."""
    for c in codes:
        if c not in ("00", "04", "08", "12"):
            raise ValueError(f"receipt code {c!r} is not 00, 04, 08 or 12")
    given = 0

    def answer(rec: OutRecord) -> list[bytes]:
        nonlocal given
        if not codes or rec.value is None:
            return []
        code = codes[min(given, len(codes) - 1)]
        given += 1
        return [echo_kvittering(rec.value, code, BESKR.get(code))]

    return answer


def os_stand_in(codes: list[str] | None, topics: Topics | None = None) -> tuple[Answer, Simulate]:
    """OS's side of the replay: receipts for Oppdrag, answers for simulation requests.

    `codes=None`: the OS emulator's real verdicts. Otherwise the fixed codes; a shadow emulator
    books every Oppdrag a code accepts (00/04), so that dryruns see the payments the codes made.
    """
    from helved.emulator import OsEmulator
    from helved.os.dryrun import answer_simulering

    topics = topics or Topics()
    emulator = OsEmulator()

    def simulate(rec: OutRecord) -> list[OutRecord]:
        return answer_simulering(emulator, rec, topics)

    if codes is None:
        from helved.emulator.replay import emulator_answer

        return emulator_answer(emulator), simulate

    fixed = fixed_codes(codes)

    def shadowed(rec: OutRecord) -> list[bytes]:
        kvitteringer = fixed(rec)
        accepted = (b"<alvorlighetsgrad>00</", b"<alvorlighetsgrad>04</")
        if rec.value is not None and any(tag in kv for kv in kvitteringer for tag in accepted):
            emulator.handle(rec.value)
        return kvitteringer

    return shadowed, simulate


def parse_codes(text: str) -> list[str]:
    """`--kvittering` argument: `none`, or codes separated by commas (`00,08,00`)."""
    if text.strip().lower() == "none":
        return []
    codes = [c.strip() for c in text.split(",") if c.strip()]
    if not codes:
        raise ValueError("--kvittering needs at least one code, or 'none'")
    fixed_codes(codes)  # validates
    return codes


# ---------------------------------------------------------------------------------------------
# The closed loop (`helved.flow.driver.Gate`)


def replay_records(
    records: list[InRecord], answer: Answer, topics: Topics | None = None, simulate: Simulate | None = None
) -> list[OutRecord]:
    """Run the dataflow over `records`, answering Oppdrag with `answer` and simulation requests
    with `simulate`; every output (and OS's dryrun answers), in order."""
    topics = topics or Topics()
    loop = Gate(topics, answer, deque(records), simulate, timeout_s=GATE_TIMEOUT_S)
    handles_sigint = threading.current_thread() is threading.main_thread()
    if handles_sigint:

        def on_sigint(signum: int, frame: object) -> None:
            loop.interrupted = True

        previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        run_loop(loop, topics, epoch=timedelta(seconds=10))
    finally:
        if handles_sigint:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    if loop.interrupted:
        raise KeyboardInterrupt
    return loop.outputs


def replay_file(
    src: Path, dst: Path, answer: Answer, topics: Topics | None = None, simulate: Simulate | None = None
) -> list[OutRecord]:
    """Replay `src` into `dst`. `dst` is opened (an `OSError` when it cannot be) before the
    replay starts; `InputFileError` for an unreadable or malformed `src`."""
    topics = topics or Topics()
    try:
        data = src.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read {src}: {exc.strerror or exc}") from exc
    records = read_records(split_lines(data), topics)
    with dst.open("wb") as fh:
        outputs = replay_records(records, answer, topics, simulate)
        for rec in outputs:
            fh.write(record_line(rec, topics))
            fh.write(b"\n")
    return outputs
