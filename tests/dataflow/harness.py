"""Drive the real dataflow with TestingSource and Bytewax recovery (`helved.flow.driver.Chunks`).

Each `send` appends records and an EOF to the source list and runs the flow until that EOF;
the next run resumes from the recovery snapshot, so every test here also exercises recovery.
OS is played by `answer`: each Oppdrag produced is answered by a kvittering fed in the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path

import orjson
from bytewax.testing import TestingSource

from helved.flow.driver import Chunks
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


class FlowHarness(Chunks):
    """`Chunks` over the test topics, every Oppdrag checked against OS's schema."""

    def __init__(self, tmp: Path, answer: Answer | None = None) -> None:
        super().__init__(TOPICS, tmp / "recovery", answer or answer_with("00"))

    def restart(self) -> None:
        """A new process: a new flow object over the same recovery directory and input list."""
        self.build()

    def run(self, items: Iterable[object], *, eof: bool = True, epoch: timedelta = timedelta(0)) -> list[OutRecord]:
        new = super().run(items, eof=eof, epoch=epoch)
        for rec in new:
            if rec.topic == TOPICS.oppdrag:
                assert rec.value is not None
                assert schema_errors(oppdrag_schema(), rec.value) == [], "every Oppdrag must validate"
        return new

    def send(self, rec: InRecord, *, answer: bool = True) -> list[OutRecord]:
        """Send one record; then feed OS's answers to any Oppdrag until none are left."""
        return self.drive([rec], answer=answer)

    def crash_then_resume(self, rec: InRecord) -> list[OutRecord]:
        """Read `rec`, die before reaching the end of input, start a new process that resumes
        from the last snapshot, then answer OS as usual. Returns everything produced.

        The restarted process sees the same input log with an end marker where the first one
        died. (Replacing the ABORT marker rather than skipping it avoids Bytewax's off-by-one
        when a triggered ABORT is passed over on resume.)
        """
        # A long epoch: the record's outputs are emitted, but no snapshot is taken before the crash.
        crashed = self.run([self.number(rec), TestingSource.ABORT()], eof=False, epoch=timedelta(seconds=60))
        assert isinstance(self.feed[-1], TestingSource.ABORT)
        self.feed[-1] = TestingSource.EOF()
        self.restart()
        resumed = self.run([], eof=False)
        return crashed + resumed + self.answer_all(crashed + resumed)

    def send_raw(self, items: Iterable[InRecord | object]) -> list[OutRecord]:
        """Append items as they are (numbered records, ABORT markers) and run once."""
        return self.run(self.number(i) if isinstance(i, InRecord) else i for i in items)


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
