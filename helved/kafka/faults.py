"""Broker faults are loud: a broker that lost helved's topics, topics that changed under a
running process, or stored offsets beyond a partition's end end the process with one line.

helved's state outside the broker (Bytewax's recovery directory, the OS bridge's journal) holds
offsets into the broker's partitions. Both are only meaningful against the broker they were
written with. A broker that restarted without its data (Tansu keeps everything in memory), a
new cluster, or a topic deleted and created again, breaks that silently: the old offsets point
past the end of the new partitions (reading there waits forever on Tansu, and skips to the end
on Kafka), and producers would re-create the topics with the broker's default partition count.
So:

- `TopicWatcher`, a daemon thread in `helved run` and the OS bridge, looks at the metadata every
  `HELVED_TOPIC_WATCH_S` seconds (5; 0 turns it off). When a broker that *answers* reports a
  watched topic missing, with another partition count, or with another topic id than at start
  (deleted and created again), the process exits. A broker that does not answer is not this
  fault: librdkafka reconnects, and the process waits for it.
- `recovery_offsets_beyond_end` is what the Kafka source and the bridge call when a stored offset
  lies beyond the end of its partition (`helved.kafka.offsets.beyond_end`).

In `helved run` (`exit_on_broker_faults`) a fault prints one line to stderr and ends the process
at once with `EXIT_BROKER_FAULT` (3), from whatever thread found it: inside a Bytewax process an
exception may surface only as a worker panic, and unwinding through librdkafka handles of a
broker that is gone can hang. Elsewhere (tests, the bridge as a library) it raises `BrokerFault`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from confluent_kafka import KafkaError, KafkaException, TopicCollection

from helved.config import Settings
from helved.errors import HelvedError
from helved.kafka.admin import TopicMismatch, admin_client

log = logging.getLogger(__name__)

# Exit codes of `helved run` and `helved os-emulator` (README, "Running against Kafka").
EXIT_STARTUP = 1  # no broker at start, a topic with the wrong partition count, a bad recovery dir
EXIT_BROKER_FAULT = 3  # topics gone/changed/recreated while running, offsets beyond a partition's end
EXIT_FAILED = 4  # the dataflow (or the bridge) stopped on an error: undeliverable records, a panic

WATCH_ENV = "HELVED_TOPIC_WATCH_S"
DEFAULT_WATCH_S = 5.0

# What to do, for an operator reading the line.
START_OVER = "restore the broker's data, or start over with `helved topics ensure` and empty state"


class BrokerFault(HelvedError, RuntimeError):
    """The broker no longer holds what helved's state belongs to (module docstring)."""


def watch_interval_s(env: Mapping[str, str] = os.environ) -> float | None:
    """Seconds between the watcher's looks (`HELVED_TOPIC_WATCH_S`, default 5); None when 0."""
    raw = env.get(WATCH_ENV, "").strip()
    if not raw:
        return DEFAULT_WATCH_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{WATCH_ENV} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{WATCH_ENV} must not be negative, got {value:g}")
    return value or None


# ---------------------------------------------------------------------------------------------
# Ending the process


@dataclass(frozen=True, slots=True)
class _ExitContext:
    prog: str
    recovery_dir: Path | None


_exit_context: _ExitContext | None = None


def exit_on_broker_faults(prog: str, *, recovery_dir: Path | None = None) -> None:
    """From now on a broker fault in this process prints `"{prog}: …; exiting"` and exits with
    `EXIT_BROKER_FAULT` instead of raising. For service processes only (`helved run`)."""
    global _exit_context
    _exit_context = _ExitContext(prog, recovery_dir)


def die(line: str, code: int) -> NoReturn:
    """Write `line` to stderr and end the process now, from any thread, without unwinding."""
    try:
        sys.stderr.write(line.rstrip("\n") + "\n")
        sys.stderr.flush()
    finally:
        os._exit(code)


def broker_fault(message: str) -> NoReturn:
    """Report a broker fault: exit (see `exit_on_broker_faults`) or raise `BrokerFault`."""
    context = _exit_context
    if context is not None:
        die(f"{context.prog}: {message}; exiting", EXIT_BROKER_FAULT)
    raise BrokerFault(message)


def stopped_line(prog: str, exc: BaseException) -> str:
    """The one line for an error that stopped a service process."""
    return (
        f"{prog}: the dataflow stopped: {describe_error(exc)}; the next start resumes from the last snapshot; exiting"
    )


def fatal_error(exc: BaseException, code: int = EXIT_FAILED) -> None:
    """In a service process (`exit_on_broker_faults`), end it now with one line for an error
    about to stop its dataflow; elsewhere return, and the caller raises as usual.

    Why not let it propagate: Bytewax turns a Python exception inside a step into a Rust panic;
    with one worker `cli_main` then raises it, but with several workers in a process the panic
    aborts the process with "thread caused non-unwinding panic. aborting." and nothing else
    (seen with bytewax 0.21.1), so the reason would be lost.
    """
    context = _exit_context
    if context is None:
        return
    if isinstance(exc, BrokerFault):
        die(f"{context.prog}: {exc}; exiting", EXIT_BROKER_FAULT)
    die(stopped_line(context.prog, exc), code)


def describe_error(exc: BaseException) -> str:
    """The message of the innermost exception of `exc`'s chain (Bytewax wraps errors), on one
    line and at most 500 characters."""
    seen: set[int] = set()
    current = exc
    while id(current) not in seen and (current.__cause__ or current.__context__) is not None:
        seen.add(id(current))
        current = current.__cause__ or current.__context__  # type: ignore[assignment]
    text = " ".join(str(current).split()) or type(current).__name__
    return text if len(text) <= 500 else text[:500] + "..."


def find_fault(exc: BaseException) -> BrokerFault | None:
    """The first `BrokerFault` along `exc`'s cause/context chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, BrokerFault):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def recovery_offsets_beyond_end(topic: str, partition: int, resume: int, end: int) -> NoReturn:
    """A Bytewax snapshot resumes `topic[partition]` at `resume`, past its `end`."""
    context = _exit_context
    where = "the recovery directory"
    if context is not None and context.recovery_dir is not None:
        where = f"recovery directory {context.recovery_dir}"
    broker_fault(
        f"{where} holds offsets beyond the end of topic {topic} partition {partition} "
        f"(resume at {resume}, end {end}): it belongs to another broker or the topic was "
        f"recreated; {START_OVER}"
    )


# ---------------------------------------------------------------------------------------------
# The watcher


@dataclass(frozen=True, slots=True)
class _Seen:
    partitions: dict[str, int]  # topic -> partition count, for topics that exist
    ids: dict[str, str] | None  # topic -> topic id, when the broker reports them


class TopicWatcher:
    """Watches that `topics` keep existing with `partitions` partitions and the topic ids they
    had at `start()`; calls `on_fault(message)` once (from its thread) when they do not.

    `state` names what belongs to the broker, for the message ("the recovery directory …").
    A fault is acted on only when a second look, a moment later, confirms it.
    """

    def __init__(
        self,
        settings: Settings,
        topics: Iterable[str],
        *,
        interval_s: float,
        on_fault: Callable[[str], None],
        state: str,
        timeout_s: float = 10.0,
    ) -> None:
        self._bootstrap = settings.bootstrap_servers
        self._admin = admin_client(settings.kafka_client_config())
        self._topics = tuple(topics)
        self._partitions = settings.partitions
        self._interval_s = interval_s
        self._on_fault = on_fault
        self._state = state
        self._timeout_s = timeout_s
        self._ids: dict[str, str] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> TopicWatcher:
        """Check that every topic is there as configured (raising `TopicMissing` or
        `TopicMismatch` if not, `BrokerUnavailable` without an answer), then watch."""
        from helved.kafka.admin import fetch_metadata
        from helved.kafka.consumer import TopicMissing  # late: helved.kafka.consumer imports this package

        metadata = fetch_metadata(self._admin, self._bootstrap, self._timeout_s)
        counts = {
            name: len(meta.partitions)
            for name, meta in metadata.topics.items()
            if meta.error is None and meta.partitions
        }
        missing = [t for t in self._topics if t not in counts]
        if missing:
            raise TopicMissing(f"topic {missing[0]} does not exist; run `helved topics ensure`")
        wrong = {t: counts[t] for t in self._topics if counts[t] != self._partitions}
        if wrong:
            found = ", ".join(f"{t} has {n}" for t, n in sorted(wrong.items()))
            raise TopicMismatch(f"topics exist with the wrong partition count (expected {self._partitions}): {found}")
        self._ids = self._topic_ids()
        self._thread = threading.Thread(target=self._run, name="helved-topic-watcher", daemon=True)
        self._thread.start()
        log.info(
            "watching %d topics on %s every %g s%s",
            len(self._topics),
            self._bootstrap,
            self._interval_s,
            "" if self._ids is not None else " (the broker reports no topic ids)",
        )
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self._timeout_s + 1)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                fault = self.check()
                if fault is not None and not self._stop.wait(min(self._interval_s, 1.0)):
                    fault = self.check()  # confirmed by a second answer, not one odd reply
                    if fault is not None and not self._stop.is_set():
                        self._on_fault(fault)
                        return
            except Exception:  # never let the watcher die quietly
                log.exception("the topic watcher failed; watching on")

    def check(self) -> str | None:
        """One look: what is wrong, or None (also when the broker does not answer)."""
        seen = self._look()
        if seen is None:
            return None
        gone = [t for t in self._topics if t not in seen.partitions]
        if gone:
            what = f"topic {gone[0]} is" if len(gone) == 1 else f"topics {_names(gone)} are"
            return (
                f"{what} gone from the broker at {self._bootstrap} (did the broker restart and "
                f"lose its data?); {self._state} belong to the old broker: {START_OVER}"
            )
        changed = {t: n for t, n in seen.partitions.items() if n != self._partitions}
        if changed:
            t, n = sorted(changed.items())[0]
            return (
                f"topic {t} now has {n} partitions on the broker at {self._bootstrap}, not "
                f"{self._partitions} (HELVED_PARTITIONS); partitions decide where every record "
                f"and sak goes: stop helved, then make the count match (docs/scale.md) or "
                f"{START_OVER}"
            )
        if self._ids is not None and seen.ids is not None:
            recreated = [t for t in self._topics if t in seen.ids and seen.ids[t] != self._ids.get(t)]
            if recreated:
                what = f"topic {recreated[0]} was" if len(recreated) == 1 else f"topics {_names(recreated)} were"
                return (
                    f"{what} deleted and created again on the broker at {self._bootstrap} (the "
                    f"topic id changed); {self._state} belong to the old topics: {START_OVER}"
                )
        return None

    def _look(self) -> _Seen | None:
        try:
            metadata = self._admin.list_topics(timeout=self._timeout_s)
        except KafkaException as exc:
            log.debug("topic watcher: no answer from %s: %s", self._bootstrap, exc)
            return None
        counts = {}
        for name in self._topics:
            meta = metadata.topics.get(name)
            if meta is None or meta.error is not None or not meta.partitions:
                if (
                    meta is not None
                    and meta.error is not None
                    and meta.error.code()
                    not in (
                        KafkaError.UNKNOWN_TOPIC_OR_PART,
                        KafkaError.UNKNOWN_TOPIC_ID,
                    )
                ):
                    log.debug("topic watcher: %s: %s", name, meta.error)
                    return None  # an answer, but not one that says the topic is gone
                continue
            counts[name] = len(meta.partitions)
        ids = self._topic_ids() if self._ids is not None and len(counts) == len(self._topics) else None
        return _Seen(counts, ids)

    def _topic_ids(self) -> dict[str, str] | None:
        """Topic ids (Kafka 2.8+, Tansu), or None when the broker does not answer with them."""
        try:
            futures = self._admin.describe_topics(TopicCollection(list(self._topics)), request_timeout=self._timeout_s)
            ids = {}
            for name, future in futures.items():
                topic_id = future.result(timeout=self._timeout_s).topic_id
                if topic_id is None:
                    return None
                ids[name] = str(topic_id)
            return ids
        except Exception as exc:
            log.debug("topic watcher: no topic ids from %s: %s", self._bootstrap, exc)
            return None


def _names(topics: list[str]) -> str:
    if len(topics) <= 3:
        return ", ".join(topics[:-1]) + " and " + topics[-1]
    return f"{', '.join(topics[:2])} and {len(topics) - 2} more"


def watch_broker(
    settings: Settings,
    prog: str,
    topics: Iterable[str],
    *,
    state: str,
    recovery_dir: Path | None = None,
    interval_s: float | None = None,
) -> TopicWatcher | None:
    """For a service process: broker faults end it (`exit_on_broker_faults`), and a
    `TopicWatcher` over `topics` runs every `interval_s` (default `HELVED_TOPIC_WATCH_S`;
    None when that is 0). Raises at once if a topic is missing or has the wrong count."""
    exit_on_broker_faults(prog, recovery_dir=recovery_dir)
    interval = watch_interval_s() if interval_s is None else interval_s
    if not interval:
        return None
    watcher = TopicWatcher(
        settings,
        topics,
        interval_s=interval,
        on_fault=lambda message: die(f"{prog}: {message}; exiting", EXIT_BROKER_FAULT),
        state=state,
    )
    return watcher.start()
