"""Where a partition ends, and stored offsets that lie beyond it.

Tansu answers the latest-offset lookup (`get_watermark_offsets`, ListOffsets) too low: seen here
with 100 records produced in several batches over 3 partitions, high watermarks 34, 32, 31 where
fetching read 34, 33, 33 records. It never reads too high, and on Kafka it is exact. So the
watermark is a lower bound of the end: an offset at or below it is inside the partition; for
one above it, the end is found by fetching from the watermark to the partition-EOF event (a few
records at most). Asking Tansu for an offset past the end answers nothing at all (no record, no
EOF, no error): that is why a resume offset must be checked before it is used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

log = logging.getLogger(__name__)

# Settings of the short-lived consumer that looks for the end; connection settings come from
# the caller's config.
_LOOKUP_CONFIG: dict[str, Any] = {
    "group.id": "helved-end-offsets",  # librdkafka wants one; never joined or committed
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "enable.partition.eof": True,
    "allow.auto.create.topics": False,
    "fetch.wait.max.ms": 10,
}

# Consumer-only or Bytewax-only keys of a source's config that this consumer must not inherit.
_NOT_INHERITED = ("stats_cb", "statistics.interval.ms", "group.id", "enable.partition.eof")


def beyond_end(
    config: Mapping[str, Any], offsets: Mapping[tuple[str, int], int], timeout_s: float = 10.0
) -> list[tuple[str, int, int, int]]:
    """(topic, partition, offset, end) for each stored next-offset in `offsets` that lies beyond
    the end of its partition. An end not confirmed within `timeout_s` (no answer) is logged and
    not reported: only a broker that answers can prove an offset wrong."""
    wanted = {tp: o for tp, o in offsets.items() if o > 0}
    if not wanted:
        return []
    consumer = Consumer({**{k: v for k, v in config.items() if k not in _NOT_INHERITED}, **_LOOKUP_CONFIG})
    try:
        low_bounds: dict[tuple[str, int], int] = {}
        for (topic, partition), offset in wanted.items():
            try:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s)
            except KafkaException as exc:
                log.warning("no end offset for %s[%d]: %s; not checked", topic, partition, exc)
                continue
            if offset > high:
                low_bounds[(topic, partition)] = max(high, 0)
        if not low_bounds:
            return []
        ends = _ends_by_fetching(consumer, low_bounds, timeout_s)
    finally:
        consumer.close()
    out = []
    for tp, end in sorted(ends.items()):
        if wanted[tp] > end:
            out.append((tp[0], tp[1], wanted[tp], end))
    return out


def _ends_by_fetching(
    consumer: Consumer, start: dict[tuple[str, int], int], timeout_s: float
) -> dict[tuple[str, int], int]:
    """Read from each `start` offset to the partition-EOF event; the offset it reports is the
    end. Partitions without an EOF within `timeout_s` are left out (logged)."""
    consumer.assign([TopicPartition(t, p, o) for (t, p), o in start.items()])
    ends: dict[tuple[str, int], int] = {}
    deadline = time.monotonic() + timeout_s
    while len(ends) < len(start) and time.monotonic() < deadline:
        msg = consumer.poll(0.1)
        if msg is None:
            continue
        tp = (msg.topic() or "", msg.partition() or 0)
        error = msg.error()
        if error is None:
            ends.pop(tp, None)  # more records: the EOF is still to come
            continue
        if error.code() == KafkaError._PARTITION_EOF:
            ends[tp] = int(msg.offset() or 0)
        else:
            log.warning("looking for the end of %s[%d]: %s", tp[0], tp[1], error.str())
    for topic, partition in start.keys() - ends.keys():
        log.warning("no end found for %s[%d] within %g s; not checked", topic, partition, timeout_s)
    return ends
