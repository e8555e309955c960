"""An in-memory, partitioned, append-only log with Kafka's shape, and Bytewax source and sink
over it: the broker of `helved simulate`.

It keeps what a Kafka broker keeps across a crash of the pipeline (every record acknowledged),
so a simulated crash is a Bytewax run that raises, and the restart is a new run of a new flow
over the same log and recovery directory. Records are partitioned as helved's producer does
(murmur2 of the key, Java-compatible), offsets are list indices, and the source's resume state is
the next offset, snapshotted by Bytewax like the real Kafka source's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from helved.errors import HelvedError
from helved.kafka.partitioner import partition_for
from helved.records import Headers, InRecord, OutRecord


@dataclass(frozen=True, slots=True)
class Stored:
    key: str | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int | None


@dataclass
class MemoryLog:
    """Topics of `partitions` partitions each; a topic must be created before it is used."""

    partitions: int
    topics: dict[str, list[list[Stored]]] = field(default_factory=dict)
    # (topic, partition) -> the first offset still kept (retention deleted what lies before)
    starts: dict[tuple[str, int], int] = field(default_factory=dict)
    _round_robin: int = 0

    def truncate(self, topic: str, partition: int, before: int) -> None:
        """Retention: records of the partition before offset `before` are gone."""
        key = (topic, partition)
        self.starts[key] = max(self.starts.get(key, 0), min(before, self.end(topic, partition)))

    def create(self, *names: str) -> None:
        for name in names:
            self.topics.setdefault(name, [[] for _ in range(self.partitions)])

    def append(self, rec: OutRecord, partition: int | None = None) -> tuple[int, int]:
        """Append `rec` (to its key's partition unless one is given); (partition, offset)."""
        parts = self.topics[rec.topic]  # KeyError: no auto-creation
        if partition is None:
            if rec.key is None:
                partition = self._round_robin % self.partitions
                self._round_robin += 1
            else:
                partition = partition_for(rec.key, self.partitions)
        parts[partition].append(Stored(rec.key, rec.value, rec.headers, rec.timestamp_ms))
        return partition, len(parts[partition]) - 1

    def read(self, topic: str, partition: int, offset: int = 0) -> list[InRecord]:
        offset = max(offset, self.starts.get((topic, partition), 0))
        return [
            InRecord(topic, s.key, s.value, s.headers, partition, offset + i, s.timestamp_ms)
            for i, s in enumerate(self.topics[topic][partition][offset:])
        ]

    def records(self, topic: str) -> list[InRecord]:
        """Every record of `topic`, partition by partition."""
        return [r for p in range(self.partitions) for r in self.read(topic, p)]

    def end(self, topic: str, partition: int) -> int:
        return len(self.topics[topic][partition])


class Clock(Protocol):
    """What a run of the flow lives in: `tick` lets the world act (called on every poll of
    the first partition), `stopping` says the run may end once its inputs are read."""

    def tick(self) -> None: ...

    @property
    def stopping(self) -> bool: ...


class _LogPartition(StatefulSourcePartition[InRecord, int]):
    def __init__(
        self, log: MemoryLog, topic: str, partition: int, offset: int, batch: int, clock: Clock | None
    ) -> None:
        self._log, self._topic, self._partition = log, topic, partition
        self._offset = offset
        self._batch = batch
        self._clock = clock

    def next_batch(self) -> list[InRecord]:
        if self._clock is not None:
            self._clock.tick()
        if self._offset >= self._log.end(self._topic, self._partition):
            # The end of the log ends this run's input once the world says so (without a
            # world: at once); the next run resumes at the snapshot's offset.
            if self._clock is None or self._clock.stopping:
                raise StopIteration
            return []
        out = self._log.read(self._topic, self._partition, self._offset)[: self._batch]
        if out:
            self._offset = out[-1].offset + 1
        return out

    def snapshot(self) -> int:
        return self._offset


class LogSource(FixedPartitionedSource[InRecord, int]):
    """Every partition of `topics`, read from the start (or the resumed offset) to the end."""

    def __init__(
        self, log: MemoryLog, topics: Iterable[str], batch: int = 50, clock: Clock | None = None, ticks: bool = False
    ) -> None:
        self._log = log
        self._topics = list(topics)
        self._batch = batch
        self._clock = clock
        self._ticks = ticks  # this source's first partition drives `clock.tick`

    def list_parts(self) -> list[str]:
        return [f"{p}-{t}" for t in self._topics for p in range(self._log.partitions)]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _LogPartition:
        p, topic = for_part.split("-", 1)
        clock = self._clock
        if clock is not None and not (self._ticks and for_part == self.list_parts()[0]):
            clock = _Passive(clock)
        return _LogPartition(self._log, topic, int(p), resume_state or 0, self._batch, clock)


class _Passive:
    """A clock seen by a partition that does not drive it."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def tick(self) -> None:
        pass

    @property
    def stopping(self) -> bool:
        return self._clock.stopping


class SimulatedCrash(HelvedError):
    """The process died here (raised out of a sink, ending the Bytewax run)."""


# Before writing a batch: how many of its records reach the broker before the process dies
# (None: all of them, no crash).
CrashPlan = Callable[[list[OutRecord]], int | None]


class _LogSinkPartition(StatelessSinkPartition[OutRecord]):
    def __init__(self, log: MemoryLog, crash: CrashPlan | None, last_topics: frozenset[str]) -> None:
        self._log, self._crash, self._last = log, crash, last_topics

    def write_batch(self, items: list[OutRecord]) -> None:
        # As the Kafka sink: the changelog (`last_topics`) only after the rest is acknowledged.
        ordered = [r for r in items if r.topic not in self._last] + [r for r in items if r.topic in self._last]
        reach = self._crash(ordered) if self._crash is not None else None
        for rec in ordered[: len(ordered) if reach is None else reach]:
            self._log.append(rec)
        if reach is not None:
            raise SimulatedCrash(f"died after writing {reach} of {len(ordered)} records")


class LogSink(DynamicSink[OutRecord]):
    def __init__(self, log: MemoryLog, crash: CrashPlan | None = None, last_topics: Iterable[str] = ()) -> None:
        self._log, self._crash, self._last = log, crash, frozenset(last_topics)

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _LogSinkPartition:
        return _LogSinkPartition(self._log, self._crash, self._last)
