"""Bytewax glue for the Kafka edge: topics in as `InRecord`s, `OutRecord`s out.

Kept thin on purpose: everything Kafka-specific beyond Bytewax's connector API lives in the
rest of `helved.kafka`, and the flow itself only sees `helved.records`. The production flow
(`helved.flow.get_flow`) reads its topics through `kafka_input` and writes through `KafkaOutSink`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any, ClassVar, Literal

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream, operator
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition
from confluent_kafka import KafkaError as ConfluentKafkaError

from helved.config import Settings
from helved.kafka.admin import LIBRDKAFKA_LOG, admin_client, fetch_metadata
from helved.kafka.consumer import to_in_record
from helved.kafka.producer import ReliableProducer
from helved.kafka.progress import READINESS, pipeline_lag
from helved.records import InRecord, OutRecord

log = logging.getLogger(__name__)

_OFFSETS = {"beginning": OFFSET_BEGINNING, "end": OFFSET_END}


class _WorkerConsumer:
    """One librdkafka consumer for every partition of one source that one worker owns.

    Bytewax's stock Kafka source builds a consumer per partition and polls each with a 1 ms
    timeout: with the pipeline's ~24 input partitions a round of the worker took ~24 ms when
    idle, every consumer sent its own fetch requests (Tansu answers a fetch only when its wait
    ends, so 24 consumers × 20 fetches/s kept the broker ~0.4 cores busy at 100 requests/s),
    and a record waited for the round and the fetch wait of its own consumer (decision → final
    status 190 ms median at 100 requests/s, `helved bench --sections openloop`). Here a worker's
    partitions of a source share one consumer: its fetches cover all of them, and a partition's
    `next_batch` never blocks (`consume(…, 0)`; Bytewax waits 1 ms before asking an empty
    partition again). What one consume returns for other partitions waits in their buffers,
    at most `cap` records in all (beyond that nothing is fetched from the queue until Bytewax
    has taken them), so memory stays bounded as before.

    Used from the worker's own thread only (Bytewax builds, polls and closes a partition on the
    worker that owns it), so no lock.
    """

    def __init__(self, config: dict[str, Any], batch_size: int) -> None:
        self._consumer = Consumer(config)
        self._batch_size = batch_size
        self._cap = max(4 * batch_size, 1000)
        self._buffers: dict[tuple[str, int], deque[Any]] = {}
        self._buffered = 0
        self._closed = False

    def add(self, topic: str, partition: int, offset: int) -> None:
        self._buffers[(topic, partition)] = deque()
        self._consumer.incremental_assign([TopicPartition(topic, partition, offset)])

    def take(self, tp: tuple[str, int]) -> list[Any]:
        """Up to `batch_size` messages (or errors) of partition `tp`, in offset order."""
        buf = self._buffers[tp]
        if not buf and self._buffered < self._cap:
            self._fill()
        n = min(len(buf), self._batch_size)
        self._buffered -= n
        return [buf.popleft() for _ in range(n)]

    def _fill(self) -> None:
        buffers = self._buffers
        got = self._consumer.consume(self._cap - self._buffered, 0)
        for msg in got:
            buf = buffers.get((msg.topic(), msg.partition()))  # type: ignore[arg-type]  # never None here
            if buf is not None:  # else: a partition closed since (its records are not needed)
                buf.append(msg)
                self._buffered += 1

    def remove(self, tp: tuple[str, int]) -> bool:
        """Forget `tp`; True when it was the last partition (the consumer is then closed)."""
        buf = self._buffers.pop(tp, None)
        if buf is not None:
            self._buffered -= len(buf)
            if not self._closed:
                self._consumer.incremental_unassign([TopicPartition(tp[0], tp[1])])
        if not self._buffers and not self._closed:
            self._closed = True
            self._consumer.close()
        return self._closed


class _SharedPartition(StatefulSourcePartition[InRecord, int]):
    """One topic partition read through its worker's `_WorkerConsumer`. The resume state is
    the offset of the next record to read (as Bytewax's own Kafka source keeps it, so
    snapshots written by either read the same)."""

    def __init__(self, owner: _WorkerConsumer, topic: str, partition: int, offset: int, release: Any) -> None:
        self._owner = owner
        self._tp = (topic, partition)
        self._offset = offset
        self._eof = False
        self._release = release
        owner.add(topic, partition, offset)

    def next_batch(self) -> list[InRecord]:
        if self._eof:
            raise StopIteration()
        out: list[InRecord] = []
        for msg in self._owner.take(self._tp):
            error = msg.error()
            if error is not None:
                if error.code() == ConfluentKafkaError._PARTITION_EOF:
                    self._eof = True  # emit this batch; StopIteration at the next call
                    continue
                raise RuntimeError(f"error consuming from {msg.topic()} partition {msg.partition()}: {error.str()}")
            out.append(to_in_record(msg))
        if out:
            self._offset = out[-1].offset + 1
        return out

    def snapshot(self) -> int:
        return self._offset

    def close(self) -> None:
        self._release(self._tp)


class _CheckedKafkaSource(FixedPartitionedSource[InRecord, int]):
    """The pipeline's Kafka source: partitions as Bytewax's `KafkaSource` lists them ("idx-topic",
    resume state the next offset), read through one consumer per worker (`_WorkerConsumer`),
    records as `InRecord`s. Its partition listing is bounded in time and never creates a topic,
    and it refuses to resume a partition from an offset beyond its end.

    The stock listing asks for each topic by name without a timeout: it hangs while the broker
    is down, and on brokers that auto-create topics (Tansu does, with 4 partitions) it creates a
    missing topic with the wrong partition count. Its consumers never ask for auto-creation
    either (`allow.auto.create.topics=false`, which Tansu honours), and an offset out of range
    is an error, not a silent jump (`auto.offset.reset=error`: Kafka's default, `latest`, would
    skip the unread records of a partition whose offsets no longer match the snapshot).
    """

    # Always, whatever the caller's tuning says.
    _FORCED: ClassVar[dict[str, Any]] = {"allow.auto.create.topics": False, "auto.offset.reset": "error"}

    def __init__(
        self,
        config: dict[str, Any],
        topics: list[str],
        timeout_s: float,
        *,
        tail: bool = True,
        starting_offset: int = OFFSET_BEGINNING,
        batch_size: int = 1000,
    ):
        self._config = {
            "group.id": "BYTEWAX_IGNORED",  # librdkafka wants one; assign() only, never committed
            "enable.auto.commit": False,
            "enable.partition.eof": not tail,
            **config,
            **self._FORCED,
        }
        self._topics = list(topics)
        self._timeout_s = timeout_s
        self._starting_offset = starting_offset
        self._batch_size = batch_size
        self._consumers: dict[int, _WorkerConsumer] = {}  # worker thread id -> its consumer
        self._lock = threading.Lock()  # workers of one process build their partitions at once

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _SharedPartition:
        """The partition, after checking that a resume offset from a snapshot is not beyond the
        partition's end: snapshots from another broker, or from before the topic was recreated,
        would otherwise wait forever (Tansu) or skip input (Kafka). Such a fault ends `helved
        run` with one line (`helved.kafka.faults`)."""
        if resume_state is not None and resume_state > 0:
            self._check_resume_offset(for_part, resume_state)
        idx, topic = for_part.split("-", 1)
        start = self._starting_offset if resume_state is None else resume_state
        thread = threading.get_ident()
        with self._lock:
            owner = self._consumers.get(thread)
            if owner is None:
                owner = self._consumers[thread] = _WorkerConsumer(self._config, self._batch_size)

        def release(tp: tuple[str, int]) -> None:
            with self._lock:
                if owner.remove(tp) and self._consumers.get(thread) is owner:
                    del self._consumers[thread]

        part = _SharedPartition(owner, topic, int(idx), start, release)
        self._instrument(part, for_part, topic, int(idx), start)
        return part

    def _instrument(self, part: Any, for_part: str, topic: str, partition: int, start: int) -> None:
        """Wrap the partition's `next_batch` and `close`:

        - a consumer error ends `helved run` with one line (`helved.kafka.faults.fatal_error`):
          in a Bytewax process with several workers the exception would otherwise abort the
          process without a word;
        - the offset of each batch's last record goes to the process's `ConsumerLag` (one dict
          assignment per batch; a thread reads the high watermarks, `helved.kafka.progress`);
        - the first poll that returns tells `READINESS` this partition resumed and polls.
        """
        from helved.kafka.faults import fatal_error

        lag = pipeline_lag(self._config)
        lag.track(topic, partition, start)
        READINESS.built(self, for_part)
        next_batch = part.next_batch
        close = part.close
        polled = False

        def reported() -> list[Any]:
            nonlocal polled
            try:
                batch = next_batch()
            except StopIteration:
                raise
            except Exception as exc:
                fatal_error(exc)
                raise
            if batch:
                lag.delivered(topic, partition, batch[-1].offset)
            if not polled:
                polled = True
                READINESS.polled(for_part)
            return batch

        def closed() -> None:
            lag.forget(topic, partition)
            READINESS.closed(for_part)
            close()

        part.next_batch = reported  # type: ignore[method-assign]
        part.close = closed  # type: ignore[method-assign]

    def _check_resume_offset(self, for_part: str, resume: int) -> None:
        from helved.kafka.faults import recovery_offsets_beyond_end
        from helved.kafka.offsets import beyond_end

        idx, topic = for_part.split("-", 1)
        for topic_, partition, offset, end in beyond_end(self._config, {(topic, int(idx)): resume}, self._timeout_s):
            recovery_offsets_beyond_end(topic_, partition, offset, end)

    def list_parts(self) -> list[str]:
        READINESS.listed(self)  # once per worker, as Bytewax builds the dataflow
        metadata = fetch_metadata(admin_client(self._config), self._config["bootstrap.servers"], self._timeout_s)
        parts: list[str] = []
        for topic in self._topics:
            meta = metadata.topics.get(topic)
            if meta is None or meta.error is not None or not meta.partitions:
                from helved.kafka.faults import EXIT_BROKER_FAULT, fatal_error

                reason = "does not exist" if meta is None else f"is unusable ({meta.error})"
                error = RuntimeError(f"input topic {topic} {reason}; run ensure_topics first")
                fatal_error(error, EXIT_BROKER_FAULT)  # in `helved run`: one line, exit 3
                raise error
            parts.extend(f"{idx}-{topic}" for idx in meta.partitions)
        return parts


# librdkafka prefetches up to `queued.max.messages.kbytes` (64 MiB by default) *per partition*:
# catching up on 6 input partitions a process held ~380 MiB of prefetched records on top of its
# state (measured with `helved bench --sections drain`, 8,000 saker). 16 MiB per partition is
# still more than one Bytewax batch of dagpenger messages (~12 KiB each) and bounds the pod's
# memory during a catch-up.
# Never auto-create a topic by reading it (librdkafka's consumer default, made explicit; the
# source forces it over any tuning, see `_CheckedKafkaSource`).
CONSUMER_DEFAULTS: dict[str, Any] = {
    "queued.max.messages.kbytes": 16 * 1024,
    "allow.auto.create.topics": False,
}


@operator
def kafka_input(
    step_id: str,
    flow: Dataflow,
    settings: Settings,
    topics: list[str],
    starting_offset: Literal["beginning", "end"] = "beginning",
    tail: bool = True,
    *,
    batch_size: int = 200,
    metadata_timeout_s: float = 30.0,
    consumer_config: dict[str, Any] | None = None,
) -> Stream[InRecord]:
    """Read `topics` as a stream of `InRecord`s; any consumer error stops the dataflow.

    Partitions are assigned by Bytewax (no consumer group); offsets live in the recovery
    snapshots, so without recovery every run starts at `starting_offset`. With `tail=False`
    the input ends at the end of every partition (batch replays, tests). The topics must exist
    (`helved.kafka.ensure_topics`); they are not auto-created. Removing a topic from `topics`
    breaks resuming from a snapshot. `consumer_config` adds librdkafka consumer tuning (for
    example `fetch.wait.max.ms`, which bounds the latency on brokers that do not wake a waiting
    fetch when data arrives, such as Tansu). `batch_size` is records per partition per read:
    200 instead of Bytewax's 1,000 halved the peak memory of a catch-up (8,000 saker: 535 ->
    257 MiB) at the same rate (docs/scale.md).
    """
    config: dict[str, Any] = {
        **CONSUMER_DEFAULTS,
        # Tansu does not wake a waiting fetch when a record arrives: there the wait is each
        # hop's latency (HELVED_FETCH_WAIT_MS; librdkafka's default is 500 ms).
        "fetch.wait.max.ms": settings.fetch_wait_ms,
        **(consumer_config or {}),  # tuning only: connection and security settings always win
        **settings.kafka_client_config(),
        "logger": LIBRDKAFKA_LOG,
    }
    source = _CheckedKafkaSource(
        config,
        list(topics),
        metadata_timeout_s,
        tail=tail,
        starting_offset=_OFFSETS[starting_offset],
        batch_size=batch_size,
    )
    if not _flow_started.is_set():  # the first source of this process's flow
        _flow_started.set()
        READINESS.reset()  # a stale ready file from the container's last life goes
        READINESS.start()
    return op.input("kafka", flow, source)


# Set by the first `kafka_input` of a process: its readiness starts from "not ready".
_flow_started = threading.Event()


class _KafkaOutPartition(StatelessSinkPartition[OutRecord]):
    def __init__(self, producer: ReliableProducer, flush_timeout_s: float, later: tuple[frozenset[str], ...]) -> None:
        self._producer = producer
        self._flush_timeout_s = flush_timeout_s
        self._later = later

    def _phase(self, record: OutRecord) -> int:
        for i, topics in enumerate(self._later, 1):
            if record.topic in topics:
                return i
        return 0

    def write_batch(self, items: list[OutRecord]) -> None:
        phases: list[list[OutRecord]] = [[] for _ in range(len(self._later) + 1)]
        for record in items:
            phases[self._phase(record)].append(record)
        # Bytewax treats a batch as written when this returns: deliver first. A phase is
        # produced only once the phases before it are acknowledged (see `KafkaOutSink`).
        for records in phases:
            if records:
                for record in records:
                    self._producer.send(record)
                self._producer.flush_or_raise(self._flush_timeout_s)

    def close(self) -> None:
        self._producer.close(self._flush_timeout_s)


class KafkaOutSink(DynamicSink[OutRecord]):
    """Write `OutRecord`s, each to its own `topic`, through a `ReliableProducer` per worker.

    A batch returns only when every record in it is acknowledged (`acks=all`); any delivery
    failure raises `DeliveryFailed` and stops the dataflow, so nothing is lost silently. After
    a crash the last epoch's output is produced again (at-least-once).

    `later` orders a batch in phases: records of `later[0]`'s topics are produced only once the
    rest of the batch is acknowledged, those of `later[1]` after that, and so on. The pipeline
    puts Oppdrag after the statuses (a request's MOTTATT is on the status topic before the bridge
    can answer its Oppdrag with HOS_OPPDRAG, spec §8) and the changelog last (it must never say a
    sak applied an event whose Oppdrag, statuses or state records were lost).
    """

    def __init__(
        self, settings: Settings, *, flush_timeout_s: float = 30.0, later: tuple[tuple[str, ...], ...] = ()
    ) -> None:
        self._settings = settings
        self._flush_timeout_s = flush_timeout_s
        self._later = tuple(frozenset(topics) for topics in later)

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _KafkaOutPartition:
        return _KafkaOutPartition(ReliableProducer(self._settings), self._flush_timeout_s, self._later)
