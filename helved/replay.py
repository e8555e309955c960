"""`helved replay`: the real dataflow, in-process, over records read from a JSONL file.

Each Oppdrag the flow produces is answered (by a fixed list of receipt codes, or by the OS
emulator) and the receipt is fed back on the kvittering topic *before* the next input record,
as OS would answer between two decisions. The loop is closed with a gate: the source hands out
the next record only when the sink has seen an output caused by the previous one (every input
yields at least one output, see `helved.pipeline`), and receipts go to the front of the queue.

File format, one JSON object a line:
    {"topic": str, "key": str|null, "value": ..., "headers": {str: str}, "timestamp": ms}
For JSON topics `value` is a JSON value (encoded as UTF-8 JSON) or a string (taken as the raw
bytes, so invalid JSON can be replayed); for XML topics a string.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from bytewax.inputs import DynamicSource, StatelessSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import run_main

from dataflows.helved_flow import build_flow
from helved.config import Topics
from helved.errors import InputFileError
from helved.oppdrag.xml import echo_kvittering
from helved.records import InRecord, OutRecord

# An answer to one Oppdrag record: zero or more kvittering values (bytes).
Answer = Callable[[OutRecord], list[bytes]]
# An answer to one simulation request record: the records OS's side produces (dryrun answer,
# final status).
Simulate = Callable[[OutRecord], list[OutRecord]]

GATE_TIMEOUT_S = 30.0

BESKR = {
    "04": "Oppdrag behandlet med varsel (replay)",
    "08": "Oppdraget er avvist (replay)",
    "12": "Teknisk feil i Oppdrag (replay)",
}


def xml_topics(topics: Topics) -> frozenset[str]:
    return frozenset({topics.oppdrag, topics.kvittering, topics.simuleringer})


# ---------------------------------------------------------------------------------------------
# The file format


def read_records(lines: Iterable[str], topics: Topics) -> list[InRecord]:
    """Parse replay input lines. Raises `InputFileError` naming the first bad line."""
    xml = xml_topics(topics)
    out: list[InRecord] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputFileError(f"line {n}: not JSON ({exc.msg})") from None
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
        if raw is None:
            value = None
        elif isinstance(raw, str):
            value = raw.encode("utf-8")
        elif topic in xml:
            raise InputFileError(f"line {n}: the value of XML topic {topic} must be a string")
        else:
            value = orjson.dumps(raw)
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
                headers=tuple((k, v.encode()) for k, v in headers_in.items()),
                timestamp_ms=ts,
            )
        )
    return out


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
    from helved.dryrun import answer_simulering
    from helved.emulator import OsEmulator

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
# The closed loop


@dataclass
class Loop:
    """Shared between the replay source and sink (single worker, one thread)."""

    topics: Topics
    answer: Answer
    queue: deque[InRecord]
    simulate: Simulate | None = None
    outputs: list[OutRecord] = field(default_factory=list)
    awaiting: tuple[str, int] | None = None
    since: float = 0.0
    offsets: dict[str, int] = field(default_factory=dict)

    def next_record(self) -> InRecord | None:
        if self.awaiting is not None:
            if time.monotonic() - self.since > GATE_TIMEOUT_S:
                raise RuntimeError(f"replay: no output for input {self.awaiting} (a bug: every input yields one)")
            return None
        if not self.queue:
            raise StopIteration
        rec = self.queue.popleft()
        offset = self.offsets.get(rec.topic, 0)
        self.offsets[rec.topic] = offset + 1
        rec = replace(rec, offset=offset)
        self.awaiting = (rec.topic, offset)
        self.since = time.monotonic()
        return rec

    def take(self, items: list[OutRecord]) -> None:
        receipts: list[InRecord] = []
        for item in items:
            self.outputs.append(item)
            if item.topic == self.topics.simuleringer and self.simulate is not None:
                self.outputs.extend(self.simulate(item))
            if item.topic == self.topics.oppdrag:
                for value in self.answer(item):
                    receipts.append(
                        InRecord(self.topics.kvittering, item.key, value, (), 0, 0, item.timestamp_ms)
                    )
            if self.awaiting is not None and self._caused_by_awaited(item):
                self.awaiting = None
        self.queue.extendleft(reversed(receipts))

    def _caused_by_awaited(self, item: OutRecord) -> bool:
        assert self.awaiting is not None
        topic, offset = self.awaiting
        return item.header("src-topic") == topic.encode() and item.header("src-offset") == str(offset).encode()


class _LoopPartition(StatelessSourcePartition[InRecord]):
    def __init__(self, loop: Loop) -> None:
        self._loop = loop

    def next_batch(self) -> list[InRecord]:
        rec = self._loop.next_record()
        return [] if rec is None else [rec]


class _LoopSource(DynamicSource[InRecord]):
    def __init__(self, loop: Loop) -> None:
        self._loop = loop

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _LoopPartition:
        if worker_count != 1:
            raise RuntimeError("helved replay runs on one worker")
        return _LoopPartition(self._loop)


class _LoopSinkPartition(StatelessSinkPartition[OutRecord]):
    def __init__(self, loop: Loop) -> None:
        self._loop = loop

    def write_batch(self, items: list[OutRecord]) -> None:
        self._loop.take(items)


class _LoopSink(DynamicSink[OutRecord]):
    def __init__(self, loop: Loop) -> None:
        self._loop = loop

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _LoopSinkPartition:
        return _LoopSinkPartition(self._loop)


def replay_records(
    records: list[InRecord], answer: Answer, topics: Topics | None = None, simulate: Simulate | None = None
) -> list[OutRecord]:
    """Run the dataflow over `records`, answering Oppdrag with `answer` and simulation requests
    with `simulate`; every output (and OS's dryrun answers), in order."""
    topics = topics or Topics()
    loop = Loop(topics, answer, deque(records), simulate)
    flow = build_flow(_LoopSource(loop), _LoopSink(loop), topics)
    run_main(flow, epoch_interval=timedelta(seconds=10))
    return loop.outputs


def replay_file(
    src: Path, dst: Path, answer: Answer, topics: Topics | None = None, simulate: Simulate | None = None
) -> list[OutRecord]:
    topics = topics or Topics()
    try:
        text = src.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read {src}: {exc}") from exc
    records = read_records(text.splitlines(), topics)
    outputs = replay_records(records, answer, topics, simulate)
    with dst.open("wb") as fh:
        for rec in outputs:
            fh.write(orjson.dumps(record_to_json(rec, topics)))
            fh.write(b"\n")
    return outputs


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                yield orjson.loads(line)
