"""How far helved's consumers are: consumer lag, and whether the pipeline is ready.

**Consumer lag** (`ConsumerLag`): a consumer tells it the next offset of each partition it reads,
once per batch (`delivered`: a dict assignment, no broker call); one daemon thread per
`ConsumerLag` reads the partitions' high watermarks every `HELVED_LAG_INTERVAL_S` seconds
(default 10; 0 = off) with one lookup consumer (`get_watermark_offsets`, a ListOffsets round
trip per partition) and sets `helved_consumer_lag_records{topic, partition}` = high watermark -
next offset. Before a partition has delivered anything its position is where it started: the
resume offset from a snapshot or journal, or, reading from the beginning, the low watermark.
Each process exports the partitions it reads; `sum by (topic)` over the pods is a topic's lag.
Tansu answers the latest-offset lookup too low (`helved.kafka.offsets`), so on Tansu the lag is a
lower bound (never below 0); on Kafka it is exact up to the interval.

The pipeline's Kafka source (`helved.kafka.io`) shares one `ConsumerLag` per process
(`pipeline_lag`): every input topic and the intake topic. The OS bridge has its own.

**Readiness** (`Readiness`, `READINESS`): the pipeline is ready when it has resumed and its
consumers are assigned, not when the process merely runs. Bytewax lists a source's partitions on
each worker when it builds the dataflow, once the cluster has formed (a process waiting for its
peers lists nothing: tests/ops/test_progress.py), and builds a partition (its consumer assigned
at the resume offset) only after it has loaded the partition's state from the recovery
snapshots. So:

- ready when every input partition built in this process has returned from its first poll
  without an error (its consumer assigned at the resume offset), and every worker that listed a
  source's partitions has been given at least one of them -- or, for a worker Bytewax gives none
  of a source's partitions (more workers than partitions), `HELVED_READY_SETTLE_S` (30) seconds
  have passed since it listed them;
- not ready again while a partition built later has not polled yet.

It sets `helved_ready` and, when `HELVED_READY_FILE` names a file, creates that file while ready
and removes it while not (at start too: an emptyDir outlives a container restart), for an exec
readiness probe (`test -f`). A consumer error ends the process (`helved.kafka.faults`), so a
process that stops consuming does not stay ready.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from helved.metrics import METRICS

log = logging.getLogger(__name__)

LAG_ENV = "HELVED_LAG_INTERVAL_S"
DEFAULT_LAG_S = 10.0
READY_FILE_ENV = "HELVED_READY_FILE"
SETTLE_ENV = "HELVED_READY_SETTLE_S"
DEFAULT_SETTLE_S = 30.0

# The lookup consumer's own settings; connection settings come from the caller's config.
_LOOKUP_CONFIG: dict[str, Any] = {
    "group.id": "helved-lag",  # librdkafka wants one; never joined or committed
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "allow.auto.create.topics": False,
}
# Keys of a source's config that a lookup consumer must not inherit.
_NOT_INHERITED = ("stats_cb", "statistics.interval.ms", "group.id", "enable.partition.eof", "auto.offset.reset")

Partition = tuple[str, int]


def lag_interval_s(env: Mapping[str, str] = os.environ) -> float | None:
    """Seconds between watermark reads (`HELVED_LAG_INTERVAL_S`, default 10); None when 0."""
    raw = env.get(LAG_ENV, "").strip()
    if not raw:
        return DEFAULT_LAG_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{LAG_ENV} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{LAG_ENV} must not be negative, got {value:g}")
    return value or None


def lag_of(position: int, low: int, high: int) -> int | None:
    """Records after `position` (the next offset to read) in a partition from `low` to `high`;
    `OFFSET_BEGINNING` means the partition's start; other logical offsets are unknown (None)."""
    if position >= 0:
        return max(0, high - position)
    if position == OFFSET_BEGINNING:
        return max(0, high - max(low, 0))
    return None


class ConsumerLag:
    """Positions of the partitions some consumers read, and their lag (module docstring).

    `track` a partition with where it starts, tell `delivered` the last offset of each batch,
    `forget` it when closed. `start()` runs `refresh()` every `interval_s` in a daemon thread;
    `refresh()` is one look (tests call it directly).
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        interval_s: float | None = DEFAULT_LAG_S,
        timeout_s: float = 5.0,
        gauge: Any = None,
    ) -> None:
        self._config = {**{k: v for k, v in config.items() if k not in _NOT_INHERITED}, **_LOOKUP_CONFIG}
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._gauge = gauge if gauge is not None else METRICS.consumer_lag
        self._positions: dict[Partition, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None

    @property
    def bootstrap(self) -> Any:
        """The broker this instance looks at (`bootstrap.servers`)."""
        return self._config.get("bootstrap.servers")

    # -- from the consumers ------------------------------------------------------------------------

    def track(self, topic: str, partition: int, start: int) -> None:
        """Read `topic[partition]` from `start` (an offset, or `OFFSET_BEGINNING`/`OFFSET_END`)."""
        with self._lock:
            self._positions[(topic, partition)] = start

    def delivered(self, topic: str, partition: int, offset: int) -> None:
        """The record at `offset` was delivered: the next one is `offset + 1`. Once per batch."""
        key = (topic, partition)
        if key in self._positions:  # not after `forget`
            self._positions[key] = offset + 1

    def forget(self, topic: str, partition: int) -> None:
        with self._lock:
            self._positions.pop((topic, partition), None)
        try:
            self._gauge.remove(topic, str(partition))
        except KeyError:
            pass

    def positions(self) -> dict[Partition, int]:
        return dict(self._positions)

    # -- the look ----------------------------------------------------------------------------------

    def refresh(self) -> dict[Partition, int]:
        """Read the high watermark of every tracked partition and set its lag; the lags set.
        A partition whose watermarks do not come within the timeout keeps its last value."""
        positions = self.positions()
        if not positions:  # every source closed: no consumer of ours lingers on the broker
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None
            return {}
        if self._consumer is None:
            self._consumer = Consumer(self._config)
        lags: dict[Partition, int] = {}
        for (topic, partition), position in sorted(positions.items()):
            try:
                low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=self._timeout_s, cached=False
                )
            except KafkaException as exc:
                log.debug("consumer lag: no watermarks for %s[%d]: %s", topic, partition, exc)
                continue
            # The position may have moved on while we asked: take the newest.
            position = self._positions.get((topic, partition), position)
            lag = lag_of(position, low, high)
            if lag is None or (topic, partition) not in self._positions:
                continue
            self._gauge.labels(topic, str(partition)).set(lag)
            lags[(topic, partition)] = lag
        return lags

    def start(self) -> ConsumerLag:
        if self._interval_s and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="helved-consumer-lag", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self._timeout_s * 2 + 1)
        for topic, partition in list(self.positions()):
            self.forget(topic, partition)
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def _run(self) -> None:
        assert self._interval_s
        while not self._stop.wait(self._interval_s):
            try:
                self.refresh()
            except Exception:  # never let the thread die quietly
                log.exception("consumer lag: the look failed; looking on")


_pipeline_lag: ConsumerLag | None = None
_pipeline_lock = threading.Lock()


def pipeline_lag(config: Mapping[str, Any]) -> ConsumerLag:
    """The one `ConsumerLag` of this process's Kafka sources (started on first use)."""
    global _pipeline_lag
    with _pipeline_lock:
        if _pipeline_lag is not None and _pipeline_lag.bootstrap != config.get("bootstrap.servers"):
            # Another broker (in-process flows of tests and tools, one after the other): the
            # old one's positions and consumer belong to a broker that may be gone.
            _pipeline_lag.stop()
            _pipeline_lag = None
        if _pipeline_lag is None:
            try:
                interval = lag_interval_s()
            except ValueError as exc:  # `helved run` refuses it up front; bytewax.run gets here
                log.warning("%s; measuring every %g s", exc, DEFAULT_LAG_S)
                interval = DEFAULT_LAG_S
            _pipeline_lag = ConsumerLag(config, interval_s=interval).start()
        return _pipeline_lag


# ---------------------------------------------------------------------------------------------
# Readiness


class Readiness:
    """Whether this process's Kafka sources have resumed and polled (module docstring).

    Called from Bytewax's worker threads: `listed(source)` in `list_parts`, `built(source, part)`
    in `build_part`, `polled(part)` after a partition's first poll, `closed(part)` when Bytewax
    closes it. `ready()` is the verdict; `start()` keeps `helved_ready` and the ready file in
    step with it once a second.
    """

    def __init__(
        self,
        *,
        settle_s: float = DEFAULT_SETTLE_S,
        ready_file: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        gauge: Any = None,
    ) -> None:
        self._settle_s = settle_s
        self._file = ready_file
        self._clock = clock
        self._gauge = gauge if gauge is not None else METRICS.ready
        self._lock = threading.Lock()
        # (source, worker thread) -> when it listed the source's partitions, and whether any was built there
        self._listed: dict[tuple[int, int], float] = {}
        self._given: set[tuple[int, int]] = set()
        self._waiting: set[str] = set()  # built, first poll not returned yet
        self._polled: set[str] = set()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._last: bool | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Readiness:
        """`HELVED_READY_FILE` (unset: no file) and `HELVED_READY_SETTLE_S` (default 30)."""
        path = env.get(READY_FILE_ENV, "").strip()
        settle = env.get(SETTLE_ENV, "").strip()
        try:
            settle_s = float(settle) if settle else DEFAULT_SETTLE_S
        except ValueError:
            log.warning("%s=%r is not a number of seconds; using %g", SETTLE_ENV, settle, DEFAULT_SETTLE_S)
            settle_s = DEFAULT_SETTLE_S
        return cls(settle_s=settle_s, ready_file=Path(path) if path else None)

    def reset(self, ready_file: Path | None = None) -> None:
        """A new flow in this process: forget the last one, remove a stale ready file."""
        with self._lock:
            if ready_file is not None:
                self._file = ready_file
            self._listed.clear()
            self._given.clear()
            self._waiting.clear()
            self._polled.clear()
        self._publish(False)

    def listed(self, source: object) -> None:
        with self._lock:
            self._listed.setdefault((id(source), threading.get_ident()), self._clock())

    def built(self, source: object, part: str) -> None:
        with self._lock:
            self._given.add((id(source), threading.get_ident()))
            self._waiting.add(part)
            self._polled.discard(part)

    def polled(self, part: str) -> None:
        with self._lock:
            if part in self._waiting:
                self._waiting.discard(part)
                self._polled.add(part)

    def closed(self, part: str) -> None:
        with self._lock:
            self._waiting.discard(part)
            self._polled.discard(part)

    def ready(self) -> bool:
        with self._lock:
            if not self._listed or self._waiting:
                return False
            now = self._clock()
            return all(key in self._given or now - at >= self._settle_s for key, at in self._listed.items())

    def start(self) -> Readiness:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="helved-readiness", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> bool:
        """Publish the verdict now (the thread does this once a second); the verdict."""
        ready = self.ready()
        self._publish(ready)
        return ready

    def _publish(self, ready: bool) -> None:
        self._gauge.set(1.0 if ready else 0.0)
        if ready != self._last:
            if ready:
                log.info("ready: every input partition of this process resumed and polled")
            elif self._last:
                log.info("not ready: an input partition has not polled yet")
            self._last = ready
        if self._file is None:
            return
        try:
            if ready and not self._file.exists():
                tmp = self._file.with_name(self._file.name + ".tmp")
                tmp.write_text("ready\n")
                tmp.replace(self._file)
            elif not ready:
                self._file.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("ready file %s: %s", self._file, exc.strerror or exc)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.check()
            except Exception:
                log.exception("readiness: the check failed; checking on")


READINESS = Readiness.from_env()
