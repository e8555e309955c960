"""When avstemming last ran, for the alert `HelvedAvstemmingNotRun`: the OS bridge follows the
compacted `helved.avstemt.v1` (where `helved avstemming` records each run, one record per range)
and exports `helved_avstemming_last_run_timestamp_seconds` and, per fagområde the run sent
messages for, `helved_avstemming_fagomrade_last_run_timestamp_seconds{fagomrade}`.

A run's time is its record's timestamp (the producer's clock when the run was recorded); a record
without one counts from 00:00 Europe/Oslo of the run's `today`. The bridge exports nothing until
it has read the topic to its end, so a restart never reads as "never run". It reads the topic
from its beginning at every start: one small record per working day.

Served by the OS bridge because it is the long-running process that already serves metrics on
its own port and reads OS's topics; the avstemming CronJob's pods are gone before a scrape.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import date, datetime

import orjson

from helved.config import Settings
from helved.metrics import METRICS, Metrics
from helved.oslo import OSLO
from helved.records import InRecord

log = logging.getLogger("helved.bridge")


def run_times(latest: dict[str | None, InRecord]) -> tuple[float | None, dict[str, float]]:
    """(when the last run was recorded, None: no run; per fagområde, its last run that sent
    messages for it), from the last record per key of `helved.avstemt.v1` (tombstones left out)."""
    last: float | None = None
    by_fagomrade: dict[str, float] = {}
    for rec in latest.values():
        if rec.value is None:
            continue
        try:
            obj = orjson.loads(rec.value)
            today = date.fromisoformat(obj["today"])
            fagomrader = list(obj.get("fagområder") or {})
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.warning(
                "%s[%d]@%d is not an avstemming run record: %s; ignored",
                rec.topic,
                rec.partition,
                rec.offset,
                exc,
                extra={"topic": rec.topic, "partition": rec.partition, "offset": rec.offset},
            )
            continue
        at = rec.timestamp_ms / 1000 if rec.timestamp_ms else _midnight(today)
        last = at if last is None else max(last, at)
        for fagomrade in fagomrader:
            by_fagomrade[fagomrade] = max(by_fagomrade.get(fagomrade, at), at)
    return last, by_fagomrade


def _midnight(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=OSLO).timestamp()


class AvstemtWatch:
    """A daemon thread following `helved.avstemt.v1` into `metrics` (module docstring)."""

    def __init__(self, settings: Settings, *, metrics: Metrics | None = None, poll_s: float = 1.0) -> None:
        self._settings = settings
        self._metrics = metrics if metrics is not None else METRICS
        self._poll_s = poll_s
        self._connect_s = 5.0  # how long one attempt waits for the broker's metadata
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._latest: dict[str | None, InRecord] = {}
        self.caught_up = threading.Event()

    def start(self) -> AvstemtWatch:
        self._thread = threading.Thread(target=self._run, name="helved-avstemt-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the thread to stop; wait a moment for it (it is a daemon: a thread still waiting
        for a broker that is gone never holds the bridge's exit)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self._poll_s + 1)

    def _publish(self) -> None:
        last, by_fagomrade = run_times(self._latest)
        self._metrics.avstemming_runs(last, by_fagomrade)

    def _apply(self, records: Iterable[InRecord]) -> bool:
        changed = False
        for rec in records:
            self._latest[rec.key] = rec
            changed = True
        return changed

    def _run(self) -> None:
        from helved.kafka.consumer import Follower

        topic = self._settings.topics.avstemt
        while not self._stop.is_set():
            try:
                with Follower(self._settings, [topic], timeout_s=self._connect_s) as follower:
                    dirty = True  # something to publish once at the end
                    while not self._stop.is_set():
                        dirty = self._apply(follower.poll(self._poll_s)) or dirty
                        if follower.at_end and dirty:
                            self._publish()
                            dirty = False
                            if not self.caught_up.is_set():
                                log.info("read %s: %d avstemming run(s) recorded", topic, len(self._latest))
                                self.caught_up.set()
            except Exception as exc:  # a metric is never worth stopping the bridge for
                if self._stop.is_set():  # stopping (the broker may be going too): nothing to report
                    return
                log.warning("following %s: %s; trying again in 30 s", topic, exc)
                self._stop.wait(30)
