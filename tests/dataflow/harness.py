"""Drive the real dataflow with TestingSource/TestingSink and Bytewax recovery.

Each `send` appends records and an EOF to the source list and runs the flow until that EOF;
the next run resumes from the recovery snapshot, so every test here also exercises recovery.
OS is played by `answer`: each Oppdrag produced is answered by a kvittering fed in the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path

import orjson
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, run_main

from dataflows.helved_flow import build_flow
from helved.oppdrag.schema import oppdrag_schema, schema_errors
from helved.oppdrag.xml import echo_kvittering
from helved.records import InRecord, OutRecord
from tests.builders import TOPICS

Answer = Callable[[OutRecord], list[bytes]]


def answer_with(*codes: str) -> Answer:
    """Answer Oppdrag with these codes in turn; the last repeats."""
    given = 0

    def answer(rec: OutRecord) -> list[bytes]:
        nonlocal given
        code = codes[min(given, len(codes) - 1)]
        given += 1
        assert rec.value is not None
        return [echo_kvittering(rec.value, code, None if code == "00" else f"melding {code}")]

    return answer


class FlowHarness:
    def __init__(self, tmp: Path, answer: Answer | None = None) -> None:
        self.recovery = tmp / "recovery"
        if not self.recovery.exists():
            self.recovery.mkdir(parents=True)
            init_db_dir(self.recovery, 1)
        self.answer = answer or answer_with("00")
        self.inputs: list[object] = []
        self.outputs: list[OutRecord] = []
        self.offsets: dict[str, int] = {}
        self.handed_over: set[bytes] = set()
        self._build()

    def _build(self) -> None:
        self.flow = build_flow(TestingSource(self.inputs), TestingSink(self.outputs), TOPICS)

    def restart(self) -> None:
        """A new process: a new flow object over the same recovery directory and input list."""
        self._build()

    def _run(
        self, records: Iterable[InRecord | object], *, eof: bool = True, epoch: timedelta = timedelta(0)
    ) -> list[OutRecord]:
        before = len(self.outputs)
        self.inputs.extend(records)
        if eof:
            self.inputs.append(TestingSource.EOF())
        run_main(self.flow, epoch_interval=epoch, recovery_config=RecoveryConfig(self.recovery))
        new = self.outputs[before:]
        for rec in new:
            if rec.topic == TOPICS.oppdrag:
                assert rec.value is not None
                assert schema_errors(oppdrag_schema(), rec.value) == [], "every Oppdrag must validate"
        return new

    def _numbered(self, rec: InRecord) -> InRecord:
        offset = self.offsets.get(rec.topic, 0)
        self.offsets[rec.topic] = offset + 1
        return InRecord(rec.topic, rec.key, rec.value, rec.headers, 0, offset, rec.timestamp_ms)

    def send(self, rec: InRecord, *, answer: bool = True) -> list[OutRecord]:
        """Send one record; then feed OS's answers to any Oppdrag until none are left."""
        return self._drive([self._numbered(rec)], answer)

    def crash_then_resume(self, rec: InRecord) -> list[OutRecord]:
        """Read `rec`, die before reaching the end of input, start a new process that resumes
        from the last snapshot, then answer OS as usual. Returns everything produced.

        The restarted process sees the same input log with an end marker where the first one
        died. (Replacing the ABORT marker rather than skipping it avoids Bytewax's off-by-one
        when a triggered ABORT is passed over on resume.)
        """
        # A long epoch: the record's outputs are emitted, but no snapshot is taken before the crash.
        crashed = self._run([self._numbered(rec), TestingSource.ABORT()], eof=False, epoch=timedelta(seconds=60))
        assert isinstance(self.inputs[-1], TestingSource.ABORT)
        self.inputs[-1] = TestingSource.EOF()
        self.restart()
        resumed = self._run([], eof=False)
        return crashed + resumed + self._answer_all(crashed + resumed)

    def _drive(self, records: list[InRecord], answer: bool) -> list[OutRecord]:
        out = self._run(records)
        return out + (self._answer_all(out) if answer else [])

    def _hand_over(self, o: OutRecord) -> list[bytes]:
        """Like the OS bridge: a replayed (byte-identical) Oppdrag is never handed to OS twice."""
        assert o.value is not None
        if o.value in self.handed_over:
            return []
        self.handed_over.add(o.value)
        return self.answer(o)

    def _answer_all(self, out: list[OutRecord]) -> list[OutRecord]:
        """Play OS: answer every Oppdrag in `out`, and those the answers cause, until none."""
        produced: list[OutRecord] = []
        while True:
            receipts = [
                self._numbered(InRecord(TOPICS.kvittering, o.key, v, (), 0, 0, o.timestamp_ms))
                for o in out
                if o.topic == TOPICS.oppdrag
                for v in self._hand_over(o)
            ]
            if not receipts:
                return produced
            out = self._run(receipts)
            produced.extend(out)

    def send_raw(self, items: Iterable[InRecord | object]) -> list[OutRecord]:
        """Append items as they are (numbered records, ABORT markers) and run once."""
        return self._run(self._numbered(i) if isinstance(i, InRecord) else i for i in items)


def statuses(out: Iterable[OutRecord], key: str | None = None) -> list[str]:
    return [
        orjson.loads(o.value)["status"]
        for o in out
        if o.topic == TOPICS.status and (key is None or o.key == key) and o.value is not None
    ]


def of_topic(out: Iterable[OutRecord], topic: str) -> list[OutRecord]:
    return [o for o in out if o.topic == topic]


def json_values(out: Iterable[OutRecord], topic: str) -> list[object]:
    return [orjson.loads(o.value) if o.value is not None else None for o in out if o.topic == topic]
