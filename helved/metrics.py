"""helved's own Prometheus metrics (prometheus-client, the default registry).

Counted where every output passes once (`helved.flow.encode.record_of`: statuses,
Oppdrag, simulations and DLQ records, from the intake stage and the sak step alike) and where a
receipt is applied (the sak step). Label children are bound once per label value and cached,
so counting an output costs a dict lookup and an increment.

Served:

- `helved run` and `python -m bytewax.run`: on Bytewax's own dataflow API (`GET /metrics` on
  `BYTEWAX_DATAFLOW_API_PORT`, 3030, when `BYTEWAX_DATAFLOW_API_ENABLED=true`): Bytewax 0.21.1
  appends Python's default prometheus registry to its own `bytewax_*` metrics
  (`bytewax._metrics.generate_python_metrics`). Without the API, `helved run` serves them
  itself on `HELVED_METRICS_PORT`.
- `helved os-emulator` (the OS bridge): on `HELVED_METRICS_PORT` (default 9464; 0 = off).

Consumer lag and readiness are measured in `helved.kafka.progress`: the Kafka source remembers
the next offset of each partition per batch, and one thread per process reads the partitions'
high watermarks every `HELVED_LAG_INTERVAL_S` seconds (10; 0 = off). No broker call per record.

| metric | type | labels | what |
|---|---|---|---|
| `helved_statuses_total` | counter | fagsystem, status | statuses produced (MOTTATT, HOS_OPPDRAG, OK, FEILET) |
| `helved_requests_waiting_total` | counter | fagsystem | requests that had to wait behind an Oppdrag in flight |
| `helved_oppdrag_total` | counter | fagsystem | Oppdrag sent to OS |
| `helved_oppdrag_lines_total` | counter | fagsystem | their lines |
| `helved_simuleringer_total` | counter | fagsystem | simulation requests (dryrun) |
| `helved_dlq_total` | counter | reason | records written to the DLQ |
| `helved_kvitteringer_total` | counter | alvorlighetsgrad | receipts applied (matched to the Oppdrag in flight) |
| `helved_kvittering_latency_seconds` | histogram | | Oppdrag sent -> its receipt applied (this process) |
| `helved_oppdrag_in_flight` | gauge | | Oppdrag awaiting a receipt, in the saker this process owns |
| `helved_oppdrag_oldest_in_flight_timestamp_seconds` | gauge | | when the oldest of them was sent (0: none) |
| `helved_os_open` | gauge | | 1 inside OS's opening hours (06-21 Oslo, working days), for the alert rules |
| `helved_restored_states_total` | counter | | sak states restored from the changelog topic at start |
| `helved_restore_with_new_recovery_dir_total` | counter | | starts that found a new recovery directory while the changelog held history |
| `helved_bridge_oppdrag_total` | counter | | Oppdrag the OS bridge handed over |
| `helved_consumer_lag_records` | gauge | topic, partition | records after this process's position in a partition it consumes (high watermark - next offset), read every `HELVED_LAG_INTERVAL_S` |
| `helved_ready` | gauge | | 1 once the pipeline has resumed and polled every input partition it was given (`helved.kafka.progress`) |
| `helved_working_day` | gauge | | 1 on a Norwegian working day (Europe/Oslo date), for the alert rules |
| `helved_oslo_day_start_timestamp_seconds` | gauge | | Unix time of today's 00:00 Europe/Oslo, for the alert rules |
| `helved_avstemming_last_run_timestamp_seconds` | gauge | | when the last avstemming run was recorded on `helved.avstemt.v1` (the OS bridge; absent until it has read the topic) |
| `helved_avstemming_fagomrade_last_run_timestamp_seconds` | gauge | fagomrade | the same, per fagområde the run sent messages for |
| `helved_suspected_double_payments_total` | counter | | Oppdrag the OS bridge handed to OS again after a crash interrupted their first hand-over |
| `helved_suspected_double_payment_last_timestamp_seconds` | gauge | | when the last of them was handed over again, from the bridge's journal (0: never) |

Counters are per process and start at 0 (use `rate`/`increase`). After a crash the last epoch's
outputs are produced again, so they are counted again (at-least-once, like the outputs). Oppdrag
in flight across a restart are picked up when their sak is resumed (`resumed`), with the time
of the restart as their send time.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from helved.oslo import OSLO

log = logging.getLogger("helved.metrics")

PORT_ENV = "HELVED_METRICS_PORT"
DEFAULT_PORT = 9464


class Metrics:
    """helved's metrics in one registry (the default one unless given: tests pass their own)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.statuses = Counter(
            "helved_statuses", "Statuses produced, by fagsystem and status", ["fagsystem", "status"], registry=registry
        )
        self.waiting = Counter(
            "helved_requests_waiting",
            "Requests that waited behind an Oppdrag in flight",
            ["fagsystem"],
            registry=registry,
        )
        self.oppdrag = Counter("helved_oppdrag", "Oppdrag sent to OS", ["fagsystem"], registry=registry)
        self.lines = Counter(
            "helved_oppdrag_lines", "Lines of the Oppdrag sent to OS", ["fagsystem"], registry=registry
        )
        self.simuleringer = Counter(
            "helved_simuleringer", "Simulation requests (dryrun) sent to OS", ["fagsystem"], registry=registry
        )
        self.dlq = Counter("helved_dlq", "Records written to the DLQ, by reason", ["reason"], registry=registry)
        self.kvitteringer = Counter(
            "helved_kvitteringer", "Receipts applied, by alvorlighetsgrad", ["alvorlighetsgrad"], registry=registry
        )
        self.latency = Histogram(
            "helved_kvittering_latency_seconds",
            "Seconds from an Oppdrag sent to its receipt applied",
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 21600, 86400),
            registry=registry,
        )
        self.restored = Counter(
            "helved_restored_states", "Sak states restored from the changelog topic at start", registry=registry
        )
        self.restore_new_dir = Counter(
            "helved_restore_with_new_recovery_dir",
            "Starts with a new recovery directory while the changelog topic held history",
            registry=registry,
        )
        self.bridge_oppdrag = Counter(
            "helved_bridge_oppdrag", "Oppdrag the OS bridge handed over to OS", registry=registry
        )
        self.consumer_lag = Gauge(
            "helved_consumer_lag_records",
            "Records after this process's position in a partition it consumes (high watermark - next offset)",
            ["topic", "partition"],
            registry=registry,
        )
        self.ready = Gauge(
            "helved_ready",
            "1 once the pipeline has resumed and polled every input partition it was given",
            registry=registry,
        )
        self.suspected = Counter(
            "helved_suspected_double_payments",
            "Oppdrag handed to OS again after a crash interrupted their first hand-over",
            registry=registry,
        )
        self.suspected_last = Gauge(
            "helved_suspected_double_payment_last_timestamp_seconds",
            "Unix time the OS bridge last handed an Oppdrag over again after an interrupted hand-over (0: never)",
            registry=registry,
        )
        working_day = Gauge(
            "helved_working_day", "1 on a Norwegian working day (Europe/Oslo date), else 0", registry=registry
        )
        # Live operational gauges read at scrape time (alerting only, like helved_os_open below);
        # no record helved writes depends on them.
        working_day.set_function(lambda: float(working_day_at(datetime.now(OSLO))))
        day_start = Gauge(
            "helved_oslo_day_start_timestamp_seconds",
            "Unix time of today's 00:00 Europe/Oslo",
            registry=registry,
        )
        day_start.set_function(lambda: oslo_day_start(datetime.now(OSLO)))
        self._suspected_last = 0.0
        self._avstemming: tuple[float, dict[str, float]] | None = None
        registry.register(_AvstemmingRuns(self))
        self._lock = threading.Lock()
        self._in_flight: dict[str, float] = {}  # sak key -> when its Oppdrag was sent (epoch s)
        in_flight = Gauge("helved_oppdrag_in_flight", "Oppdrag awaiting a receipt (this process)", registry=registry)
        in_flight.set_function(lambda: len(self._in_flight))
        oldest = Gauge(
            "helved_oppdrag_oldest_in_flight_timestamp_seconds",
            "Unix time the oldest Oppdrag awaiting a receipt was sent (0: none)",
            registry=registry,
        )
        oldest.set_function(self._oldest)
        os_open = Gauge(
            "helved_os_open",
            "1 inside OS's opening hours (06-21 Europe/Oslo on Norwegian working days), else 0",
            registry=registry,
        )
        # A live operational gauge read at scrape time (alerting only); no output depends on it.
        os_open.set_function(lambda: float(os_open_at(datetime.now(OSLO))))
        self._children: dict[tuple[Any, ...], Any] = {}

    # -- cached label children -------------------------------------------------------------------

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _oldest(self) -> float:
        with self._lock:
            return min(self._in_flight.values(), default=0.0)

    # -- counting ----------------------------------------------------------------------------------

    def status(self, fagsystem: str, status: str, waiting: bool = False) -> None:
        self._child(self.statuses, fagsystem, status).inc()
        if waiting:
            self._child(self.waiting, fagsystem).inc()

    def oppdrag_sent(self, sak_key: str, fagsystem: str, lines: int) -> None:
        self._child(self.oppdrag, fagsystem).inc()
        self._child(self.lines, fagsystem).inc(lines)
        with self._lock:
            self._in_flight[sak_key] = time.time()

    def simulering(self, fagsystem: str) -> None:
        self._child(self.simuleringer, fagsystem).inc()

    def dead_letter(self, reason: str) -> None:
        self._child(self.dlq, reason).inc()

    def receipt_applied(self, sak_key: str, alvorlighetsgrad: str | None) -> None:
        self._child(self.kvitteringer, alvorlighetsgrad or "none").inc()
        with self._lock:
            sent = self._in_flight.pop(sak_key, None)
        if sent is not None:
            self.latency.observe(max(0.0, time.time() - sent))

    def resumed(self, sak_key: str) -> None:
        """A sak resumed from a snapshot with an Oppdrag in flight (sent before this start)."""
        with self._lock:
            self._in_flight.setdefault(sak_key, time.time())

    def restored_states(self, count: int, *, new_recovery_dir: bool) -> None:
        self.restored.inc(count)
        if new_recovery_dir and count:
            self.restore_new_dir.inc()

    def handed_over(self, count: int = 1) -> None:
        self.bridge_oppdrag.inc(count)

    def suspected_double_payment(self, at: float) -> None:
        """The OS bridge handed an Oppdrag over again after an interrupted hand-over, at `at`."""
        self.suspected.inc()
        self.suspected_seen(at)

    def suspected_seen(self, at: float) -> None:
        """The latest such hand-over the bridge's journal holds (at start, and after each)."""
        with self._lock:
            if at > self._suspected_last:
                self._suspected_last = at
                self.suspected_last.set(at)

    def avstemming_runs(self, last: float | None, by_fagomrade: dict[str, float]) -> None:
        """What `helved.avstemt.v1` says (the OS bridge, once it has read the topic to its end):
        when the last run was recorded (None: no run yet, exported as 0) and, per fagområde,
        the last run that sent messages for it."""
        with self._lock:
            self._avstemming = (last or 0.0, dict(by_fagomrade))

    def forget(self) -> None:
        """Drop what is in flight (tests; a process starting over)."""
        with self._lock:
            self._in_flight.clear()


class _AvstemmingRuns:
    """`helved_avstemming_*last_run_timestamp_seconds`, exported only once a process has read
    `helved.avstemt.v1` (`Metrics.avstemming_runs`): a process that has not (the pipeline, or
    the bridge while it starts) exports nothing rather than a 0 that would read as "never run"."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        known = self._metrics._avstemming
        if known is None:
            return
        last, by_fagomrade = known
        yield GaugeMetricFamily(
            "helved_avstemming_last_run_timestamp_seconds",
            "Unix time the last avstemming run was recorded on helved.avstemt.v1 (0: none)",
            value=last,
        )
        family = GaugeMetricFamily(
            "helved_avstemming_fagomrade_last_run_timestamp_seconds",
            "Unix time of the last avstemming run that sent messages for a fagområde",
            labels=["fagomrade"],
        )
        for fagomrade, at in sorted(by_fagomrade.items()):
            family.add_metric([fagomrade], at)
        yield family


def working_day_at(t: datetime) -> bool:
    """`t`'s Europe/Oslo date is a Norwegian working day (helved.domain.avstemming's calendar)."""
    from helved.domain.avstemming import is_working_day

    return is_working_day(t.astimezone(OSLO).date())


def oslo_day_start(t: datetime) -> float:
    """Unix time of 00:00 Europe/Oslo on `t`'s Oslo date."""
    local = t.astimezone(OSLO)
    return datetime(local.year, local.month, local.day, tzinfo=OSLO).timestamp()


def os_open_at(t: datetime) -> bool:
    """OS's opening hours: 06-21 Europe/Oslo wall time on a Norwegian working day (the
    avstemming calendar's holidays, helved.domain.avstemming)."""
    from helved.domain.avstemming import is_working_day

    local = t.astimezone(OSLO)
    return 6 <= local.hour < 21 and is_working_day(local.date())


METRICS = Metrics()


# -- serving -------------------------------------------------------------------------------------


def port_from_env(env: dict[str, str] | None = None) -> int:
    """`HELVED_METRICS_PORT` (default 9464; 0 = off). ValueError when it is not a port."""
    text = (env if env is not None else os.environ).get(PORT_ENV, "").strip()
    if not text:
        return DEFAULT_PORT
    port = int(text) if text.isdigit() else -1
    if not 0 <= port <= 65535:
        raise ValueError(f"{PORT_ENV} must be a port number (0 turns metrics off), got {text!r}")
    return port


def bytewax_api_serves_metrics(env: dict[str, str] | None = None) -> bool:
    """True when Bytewax's dataflow API is on: it serves this registry on its /metrics."""
    return (env if env is not None else os.environ).get("BYTEWAX_DATAFLOW_API_ENABLED", "").lower() == "true"


def serve(port: int | None = None, addr: str = "0.0.0.0") -> int | None:
    """Serve the default registry on `port` (default `HELVED_METRICS_PORT`) in a daemon thread;
    the port, or None when turned off (0) or when the port is taken (a warning: several helved
    processes on one machine; metrics are never worth stopping a payment pipeline for)."""
    port = port_from_env() if port is None else port
    if port == 0:
        return None
    try:
        server, _thread = start_http_server(port, addr=addr)
    except OSError as exc:
        log.warning("metrics not served: port %d: %s (set %s, 0 = off)", port, exc.strerror or exc, PORT_ENV)
        return None
    return int(server.server_address[1])


def metrics_url(env: dict[str, str] | None = None) -> str:
    env = env if env is not None else dict(os.environ)
    if bytewax_api_serves_metrics(env):
        port = int(env.get("BYTEWAX_DATAFLOW_API_PORT", "3030"))
    else:
        port = port_from_env(env)
    return f"http://127.0.0.1:{port}/metrics"


def check(url: str | None = None, timeout_s: float = 3.0) -> bool:
    """True when `url` (default: where this container serves its metrics) answers 200."""
    try:
        with urllib.request.urlopen(url or metrics_url(), timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def main(argv: Iterable[str] | None = None) -> int:
    """`python -m helved.metrics --check`: the image's HEALTHCHECK."""
    parser = argparse.ArgumentParser(prog="python -m helved.metrics")
    parser.add_argument("--check", action="store_true", help="exit 0 if this container serves /metrics")
    parser.add_argument("--url", help="the URL to check (default: from the environment)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not args.check:
        parser.print_help()
        return 2
    ok = check(args.url)
    if not ok:
        print(f"helved metrics: {args.url or metrics_url()} does not answer", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
