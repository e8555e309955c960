"""Drives the real dataflow in-process (`helved.replay.replay_records`) with the OS emulator as
OS, for the fuzzing suite: a history of valid decisions on one sak with one hostile record in it,
next to the same history without it.

The history: decision 1 (answered by OS at once), decision 2 (its Oppdrag handed to OS, whose
receipt comes later as an input record, so an Oppdrag is in flight), the hostile record (while
decision 2's Oppdrag is in flight, or after its receipt), the receipt, decision 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson

from helved.emulator import OsEmulator
from helved.flow.driver import provenance_pairs
from helved.os.dryrun import answer_simulering
from helved.records import InRecord, OutRecord
from helved.replay import replay_records
from tests.builders import TOPICS

from .strategies import decision

T0 = 1755502200000  # 2025-08-18T09:30:00+02:00


@dataclass
class Run:
    outputs: list[OutRecord]
    emulator: OsEmulator
    oppdrag: list[bytes] = field(default_factory=list)
    held_receipt: bytes | None = None

    def paid(self, sak: str) -> dict[str, dict[date, int]]:
        return {k: {d: int(v) for d, v in days.items()} for k, days in self.emulator.paid("DP", sak).items()}


def run(records: list[InRecord]) -> Run:
    """The flow over `records`; OS (the emulator) answers every Oppdrag at once but decision
    2's (the second request record), which it books without answering: its receipt is
    `Run.held_receipt`."""
    emulator = OsEmulator()
    result = Run([], emulator)

    def answer(rec: OutRecord) -> list[bytes]:
        assert rec.value is not None
        result.oppdrag.append(rec.value)
        kvitteringer = emulator.handle(rec.value)
        if (TOPICS.dagpenger.encode(), b"1") in provenance_pairs(rec):  # decision 2's
            (result.held_receipt,) = kvitteringer
            return []
        return kvitteringer

    def simulate(rec: OutRecord) -> list[OutRecord]:
        return answer_simulering(emulator, rec, TOPICS)

    result.outputs = replay_records(records, answer, TOPICS, simulate)
    return result


def request(sak: str, n: int, days: list[dict[str, Any]], key: str | None = None) -> InRecord:
    value = orjson.dumps(decision(sak, f"B-{n}", days, vedtak=f"2025-08-{17 + n:02d}T09:30:00"))
    return InRecord(TOPICS.dagpenger, key or f"req-{n}", value, (), 0, 0, T0 + 60_000 * n)


def receipt(value: bytes | None, key: str | None = "req-2", ts: int | None = T0 + 90_000) -> InRecord:
    return InRecord(TOPICS.kvittering, key, value, (), 0, 0, ts)


@dataclass(frozen=True)
class Scenario:
    """Three valid decisions on `sak` and, optionally, `hostile` at `position` (0: while
    decision 2's Oppdrag is in flight, 1: after its receipt)."""

    sak: str
    days: tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]

    def records(self, held_receipt: bytes | None, hostile: InRecord | None = None, position: int = 0) -> list[InRecord]:
        first = [request(self.sak, 1, self.days[0]), request(self.sak, 2, self.days[1])]
        middle: list[InRecord] = [receipt(held_receipt)] if held_receipt is not None else []
        if hostile is not None:
            middle.insert(min(position, len(middle)), hostile)
        return [*first, *middle, request(self.sak, 3, self.days[2])]

    def reference(self) -> tuple[Run, bytes | None]:
        """The history without a hostile record, and the held Oppdrag's receipt (None when
        decision 2 sent no Oppdrag)."""
        probe = run([request(self.sak, 1, self.days[0]), request(self.sak, 2, self.days[1])])
        held = probe.held_receipt
        return run(self.records(held)), held


def offset_of(records: list[InRecord], index: int) -> tuple[bytes, bytes]:
    """(src-topic, src-offset) the replay gives `records[index]`: offsets count per topic in
    reading order. On the kvittering topic OS's answer to decision 1's Oppdrag is read first
    (right after decision 1); decision 2's is the held receipt, an input record."""
    rec = records[index]
    offset = sum(r.topic == rec.topic for r in records[:index])
    if rec.topic == TOPICS.kvittering:
        offset += 1
    return rec.topic.encode(), str(offset).encode()


def caused_by(outputs: list[OutRecord], source: tuple[bytes, bytes]) -> list[OutRecord]:
    return [o for o in outputs if source in provenance_pairs(o)]


def canonical(outputs: list[OutRecord], drop: tuple[bytes, bytes] | None = None) -> list[tuple[Any, ...]]:
    """`outputs` without those caused by `drop`, their input offsets renumbered per topic in
    order of first appearance: two runs that differ by one input record compare equal when
    everything else happened alike."""
    ranks: dict[bytes, dict[bytes, int]] = {}
    out = []
    for o in outputs:
        if drop is not None and drop in provenance_pairs(o):
            continue
        headers = []
        topic = b""
        for name, value in o.headers:
            if name == "src-topic":
                topic = value
            elif name == "src-offset":
                seen = ranks.setdefault(topic, {})
                value = str(seen.setdefault(value, len(seen))).encode()
            headers.append((name, value))
        out.append((o.topic, o.key, o.value, tuple(headers), o.timestamp_ms))
    return out
