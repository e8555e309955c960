"""The closed loop: the real flow in-process, OS answering every Oppdrag it sends.

A Bytewax dataflow is acyclic, but OS's receipt for an Oppdrag must reach the flow before what
its sak does next (spec §5.2). The loop closes the cycle outside the engine, one worker's source
and sink sharing the loop's state (`bytewax-and-kafka.md`, "Closing a loop in one process"):

    next_batch ──► flow (intake, sak, encode) ──► take
        ▲  receipts first, then the next inputs          │
        └──── OS answers each Oppdrag (`Answer`) ◄───────┘

What every loop here shares: inputs are numbered per topic as one partition of that topic
would number them, when they are handed to the flow (`Offsets`); every output names the input
that caused it in its provenance headers (`provenance_pairs`, `cause_of`); OS's answers to an
Oppdrag go back in on the kvittering topic under the Oppdrag's key and time (`receipt_inputs`).
Three schedules use it:

- `Gate` (`helved replay`, the fuzz and property suites): one input at a time, the next only
  once an output caused by it has come out; receipts go before the next input.
- `helved.bench.inprocess.BenchLoop`: each sak one input at a time, many saker at once, on one
  or more workers.
- `Chunks` (the dataflow tests): each run of the flow reads one chunk of input to its end and
  resumes from the recovery snapshot of the run before; OS's receipts for a chunk's Oppdrag
  are the next chunk.

`run_loop` runs the flow over a `Gate` or a `BenchLoop` (any `Loop`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from bytewax.inputs import DynamicSource, StatelessSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSource, cluster_main, run_main

from helved.config import Topics
from helved.records import Headers, InRecord, OutRecord

from .wiring import build_flow

# OS: the receipts (kvittering values) for one Oppdrag record; none while it keeps it.
Answer = Callable[[OutRecord], list[bytes]]
# OS's side for one simulation request record: the records it produces (the dryrun answer, the
# final status).
Simulate = Callable[[OutRecord], list[OutRecord]]
# An input as its outputs name it in their provenance headers: (src-topic, src-offset).
InputId = tuple[bytes, bytes]

GATE_TIMEOUT_S = 30.0


# ---------------------------------------------------------------------------------------------
# What every loop shares


@dataclass
class Offsets:
    """Per topic, the next offset, as one partition of the topic would number its records."""

    taken: dict[str, int] = field(default_factory=dict)

    def take(self, topic: str) -> int:
        n = self.taken.get(topic, 0)
        self.taken[topic] = n + 1
        return n

    def number(self, rec: InRecord) -> InRecord:
        """`rec` at the next offset of its topic."""
        return replace(rec, offset=self.take(rec.topic))


def receipt_inputs(topics: Topics, oppdrag: OutRecord, kvitteringer: Iterable[bytes]) -> list[InRecord]:
    """OS's answers to an Oppdrag record as input records of the kvittering topic, under the
    Oppdrag's key and time (not numbered yet)."""
    return [InRecord(topics.kvittering, oppdrag.key, kv, (), 0, 0, oppdrag.timestamp_ms) for kv in kvitteringer]


def provenance_pairs(rec: OutRecord) -> set[InputId]:
    """Every (src-topic, src-offset) the record's headers name, each offset paired with the
    src-topic before it. A DLQ record keeps the input's own headers after helved's, and a
    receipt from the OS bridge carries the bridge's provenance (the Oppdrag it answers)."""
    pairs: set[InputId] = set()
    topic: bytes | None = None
    for name, value in rec.headers:
        if name == "src-topic":
            topic = value
        elif name == "src-offset" and topic is not None:
            pairs.add((topic, value))
    return pairs


def cause_of(rec: OutRecord) -> InputId:
    """The input that caused an output: the first (src-topic, src-offset) of its headers
    (helved's own provenance comes before any header an input brought)."""
    topic = offset = None
    for name, value in rec.headers:
        if name == "src-topic" and topic is None:
            topic = value
        elif name == "src-offset" and offset is None:
            offset = value
        if topic is not None and offset is not None:
            return topic, offset
    return topic or b"", offset or b""


def input_id(rec: InRecord) -> InputId:
    """How the outputs of `rec` name it."""
    return rec.topic.encode(), str(rec.offset).encode()


class Loop(Protocol):
    """Both ends of a closed loop: `next_batch` is what the flow reads next (`[]`: nothing
    yet; `StopIteration`: the end), `take` what it wrote. A loop that `shared` says is safe to
    share between worker threads guards itself."""

    def next_batch(self) -> list[InRecord]: ...

    def take(self, items: list[OutRecord]) -> None: ...


class _LoopPartition(StatelessSourcePartition[InRecord]):
    def __init__(self, loop: Loop) -> None:
        self._loop = loop

    def next_batch(self) -> list[InRecord]:
        return self._loop.next_batch()


class LoopSource(DynamicSource[InRecord]):
    """The flow's input: the loop's next batches. One loop serves every worker of a process
    only if it says it may (`shared`)."""

    def __init__(self, loop: Loop) -> None:
        self._loop = loop

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _LoopPartition:
        if worker_count != 1 and not getattr(self._loop, "shared", False):
            raise RuntimeError(f"{type(self._loop).__name__} runs on one worker")
        return _LoopPartition(self._loop)


class _LoopSinkPartition(StatelessSinkPartition[OutRecord]):
    def __init__(self, loop: Loop) -> None:
        self._loop = loop

    def write_batch(self, items: list[OutRecord]) -> None:
        self._loop.take(items)


class LoopSink(DynamicSink[OutRecord]):
    """The flow's output: every batch to the loop."""

    def __init__(self, loop: Loop) -> None:
        self._loop = loop

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _LoopSinkPartition:
        return _LoopSinkPartition(self._loop)


def run_loop(
    loop: Loop,
    topics: Topics,
    *,
    epoch: timedelta = timedelta(seconds=10),
    workers: int = 1,
    recovery: Path | None = None,
) -> None:
    """The flow over `loop` until the loop ends its input: on this thread with one worker, on
    `workers` threads otherwise. With `recovery` (an initialised recovery directory) the flow
    snapshots every `epoch`."""
    flow = build_flow(LoopSource(loop), LoopSink(loop), topics)
    config = RecoveryConfig(recovery) if recovery is not None else None
    if workers == 1:
        run_main(flow, epoch_interval=epoch, recovery_config=config)
    else:
        cluster_main(flow, [], 0, epoch_interval=epoch, recovery_config=config, worker_count_per_proc=workers)


# ---------------------------------------------------------------------------------------------
# Gate: one input at a time (`helved replay`)


@dataclass
class Gate:
    """One input at a time: the next record only once an output caused by the last one came
    out (every input yields at least one, `helved.flow.intake`); OS's receipts go before the
    next record, as OS answers between two decisions. Single worker, one thread.

    `outputs` is everything in order: the flow's records, OS's answers to simulation requests
    (`simulate`), and each receipt right after the Oppdrag it answers, as the OS bridge would
    put it on the kvittering topic (so the output can feed `helved avstemming --records`).
    """

    topics: Topics
    answer: Answer
    queue: deque[InRecord]
    simulate: Simulate | None = None
    outputs: list[OutRecord] = field(default_factory=list)
    awaiting: tuple[str, int] | None = None
    since: float = 0.0
    offsets: Offsets = field(default_factory=Offsets)
    timeout_s: float = GATE_TIMEOUT_S
    # Set by Ctrl-C: the source ends the input, so the dataflow stops cleanly. (An exception
    # raised inside a source or sink called by Bytewax becomes a Rust panic on stderr.)
    interrupted: bool = False

    def next_batch(self) -> list[InRecord]:
        rec = self.next_record()
        return [] if rec is None else [rec]

    def next_record(self) -> InRecord | None:
        if self.interrupted:
            raise StopIteration
        if self.awaiting is not None:
            if time.monotonic() - self.since > self.timeout_s:
                raise RuntimeError(f"replay: no output for input {self.awaiting} (a bug: every input yields one)")
            return None
        if not self.queue:
            raise StopIteration
        rec = self.offsets.number(self.queue.popleft())
        self.awaiting = (rec.topic, rec.offset)
        self.since = time.monotonic()
        return rec

    def take(self, items: list[OutRecord]) -> None:
        receipts: list[InRecord] = []
        for item in items:
            self.outputs.append(item)
            if item.topic == self.topics.simuleringer and self.simulate is not None:
                self.outputs.extend(self.simulate(item))
            if item.topic == self.topics.oppdrag:
                for receipt in receipt_inputs(self.topics, item, self.answer(item)):
                    receipts.append(receipt)
                    self.outputs.append(
                        OutRecord(receipt.topic, receipt.key, receipt.value, bridge_headers(item), receipt.timestamp_ms)
                    )
            if self.awaiting is not None and self._caused_by_awaited(item):
                self.awaiting = None
        self.queue.extendleft(reversed(receipts))

    def _caused_by_awaited(self, item: OutRecord) -> bool:
        """The item names the awaited record as its source: any of its (src-topic, src-offset)
        pairs counts, not only the first (see `provenance_pairs`)."""
        assert self.awaiting is not None
        topic, offset = self.awaiting
        return (topic.encode(), str(offset).encode()) in provenance_pairs(item)


def bridge_headers(oppdrag: OutRecord) -> Headers:
    """The headers of a receipt as the OS bridge writes it: those it copies from the Oppdrag it
    answers (never its provenance: the receipt is OS's, not the flow's)."""
    return tuple((k, v) for k, v in oppdrag.headers if k in ("original-key", "fagsystem", "sak", "uids"))


# ---------------------------------------------------------------------------------------------
# Chunks: a run of the flow per chunk of input, resumed from recovery (the dataflow tests)


class _RecordingPartition(StatelessSinkPartition[OutRecord]):
    def __init__(self, out: list[tuple[int, OutRecord]], worker: int) -> None:
        self._out = out
        self._worker = worker

    def write_batch(self, items: list[OutRecord]) -> None:
        self._out.extend((self._worker, item) for item in items)


class RecordingSink(DynamicSink[OutRecord]):
    """Like Bytewax's `TestingSink`, but each record comes with the index of the worker that
    wrote it. A sink partition writes what its own worker holds (outputs are not exchanged), so
    for a record of the `sak` step that is the worker owning the sak."""

    def __init__(self, out: list[tuple[int, OutRecord]]) -> None:
        self._out = out

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _RecordingPartition:
        return _RecordingPartition(self._out, worker_index)


class Chunks:
    """The flow in runs: each run reads the input list (`feed`) up to its next EOF marker,
    resuming from the recovery snapshot of the run before, so every chunk also exercises
    recovery. OS (`answer`) answers each Oppdrag a chunk produced; its receipts are the next
    chunk, until no Oppdrag is left unanswered. Inputs are numbered on partition 0.

    Like the OS bridge, an Oppdrag is handed to OS once: one replayed after a crash (the same
    bytes) is not answered again.
    """

    def __init__(self, topics: Topics, recovery: Path, answer: Answer) -> None:
        self.topics = topics
        self.recovery = recovery
        if not recovery.exists():
            recovery.mkdir(parents=True)
            init_db_dir(recovery, 1)
        self.answer = answer
        self.feed: list[Any] = []  # InRecord | TestingSource.EOF | TestingSource.ABORT
        self.written: list[tuple[int, int, OutRecord]] = []  # (run: EOFs in the feed, worker, record)
        self.offsets = Offsets()
        self.handed_over: set[bytes] = set()
        self._sink: list[tuple[int, OutRecord]] = []
        self.build()

    def build(self) -> None:
        """A new process: a new flow object over the same recovery directory and input list."""
        self.flow = build_flow(TestingSource(self.feed), RecordingSink(self._sink), self.topics)

    @property
    def outputs(self) -> list[OutRecord]:
        """Every record written, in order (a replayed epoch's again)."""
        return [rec for _, _, rec in self.written]

    @property
    def eofs(self) -> int:
        """The EOF markers in the feed: run n reads up to the n-th."""
        return sum(isinstance(item, TestingSource.EOF) for item in self.feed)

    def number(self, rec: InRecord) -> InRecord:
        return self.offsets.number(replace(rec, partition=0))

    def run(self, items: Iterable[Any], *, eof: bool = True, epoch: timedelta = timedelta(0)) -> list[OutRecord]:
        """Append `items` (and an EOF) to the feed and run the flow once; what it wrote."""
        before = len(self.written)
        self.feed.extend(items)
        if eof:
            self.feed.append(TestingSource.EOF())
        try:
            run_main(self.flow, epoch_interval=epoch, recovery_config=RecoveryConfig(self.recovery))
        finally:
            run = self.eofs
            self.written.extend((run, w, rec) for w, rec in self._sink)
            self._sink.clear()
        return [rec for _, _, rec in self.written[before:]]

    def drive(self, records: Iterable[InRecord], *, answer: bool = True) -> list[OutRecord]:
        """Number `records` and run them; then (with `answer`) let OS answer until done."""
        out = self.run([self.number(r) for r in records])
        return out + (self.answer_all(out) if answer else [])

    def answer_all(self, out: list[OutRecord]) -> list[OutRecord]:
        """Play OS: answer every Oppdrag in `out`, and those the answers cause, until none."""
        produced: list[OutRecord] = []
        while True:
            receipts = [self.number(r) for o in out if o.topic == self.topics.oppdrag for r in self._hand_over(o)]
            if not receipts:
                return produced
            out = self.run(receipts)
            produced.extend(out)

    def _hand_over(self, oppdrag: OutRecord) -> list[InRecord]:
        assert oppdrag.value is not None
        if oppdrag.value in self.handed_over:
            return []
        self.handed_over.add(oppdrag.value)
        return receipt_inputs(self.topics, oppdrag, self.answer(oppdrag))
