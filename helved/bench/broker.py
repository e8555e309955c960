"""`broker` section: end to end over a Kafka broker, with `helved run` and the OS bridge.

The stack of `helved.devstack.Stack`: the embedded broker (or `HELVED_BOOTSTRAP_SERVERS`), the
topics, `helved run` as a child process with recovery (the production snapshot interval), and the
OS bridge with the emulator in a thread of this process. The bench plays dagpenger: it produces
each sak's first decision, and a sak's next decision as soon as the previous one's final status
(OK or FEILET) is read from `helved.status.v1`, so, as in `inprocess`, OS has answered every
Oppdrag of a sak before its next request. One warm-up decision (another sak) is sent and
answered first and not counted.

Figures: requests/s and Oppdrag lines/s over the wall time from the first timed send to the last
final status, the latency of each decision (acknowledged send -> final status read), this
process's peak RSS (bench, bridge, emulator) and that of the largest child (the pipeline or the
broker).

`processes` > 1 runs `helved run` as a Bytewax cluster of that many processes on loopback
(`HELVED_WORKERS` workers each). `outputs_digest` hashes the timed Oppdrag and final statuses
(sorted): runs of the same traffic with different shapes must give the same digest.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .traffic import SakHistory, histories

LINE_TAG = b"<oppdrags-linje-150>"
STALL_TIMEOUT_S = 120.0


BROKER_MODULES = ("helved.os.bridge", "helved.devstack", "helved.kafka.consumer", "helved.commands.run")


def broker_available() -> str | None:
    """None when the broker runner and the OS bridge can be imported, else why not."""
    for name in BROKER_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            return f"the broker runner or OS bridge is missing ({name}: {exc})"
    return None


@dataclass
class _Dagpenger:
    """Plays dagpenger against the stack: each sak's next decision once the previous is final."""

    producer: Any  # ReliableProducer
    follower: Any  # Follower
    stack: Any  # Stack
    hs: list[SakHistory]
    warm: SakHistory
    decisions: int
    log: Any = None  # StatusLog
    waiting: dict[str, tuple[int, float]] = field(default_factory=dict)  # key -> (sak, sent at)
    remaining: list[int] = field(default_factory=list)
    timed: set[str] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)
    outputs: list[bytes] = field(default_factory=list)  # timed Oppdrag and final statuses, for `digest`
    requests: int = 0
    oppdrag: int = 0
    lines: int = 0
    feilet: int = 0

    def __post_init__(self) -> None:
        from helved.views.status import StatusLog

        self.log = StatusLog()
        self.remaining = [self.decisions] * len(self.hs)
        self.topics = self.stack.settings.topics

    def send(self, i: int | None) -> None:
        """The next decision of sak `i` (None: the warm-up sak); its time is stamped at flush."""
        from helved.records import OutRecord

        h = self.warm if i is None else self.hs[i]
        rec = h.next_decision().record
        assert rec.key is not None
        self.producer.send(OutRecord(self.topics.dagpenger, rec.key, rec.value, (), rec.timestamp_ms))
        self.waiting[rec.key] = (-1 if i is None else i, 0.0)
        if i is not None:
            self.remaining[i] -= 1
            self.timed.add(rec.key)

    def flush(self) -> None:
        self.producer.flush_or_raise(30)
        now = time.perf_counter()
        for k, (i, at) in self.waiting.items():
            if at == 0.0:
                self.waiting[k] = (i, now)

    def drain(self, count: bool) -> None:
        """Read until every decision sent has its final status, sending each sak's next
        decision as soon as its previous one is final."""
        last = time.monotonic()
        while self.waiting:
            self.stack.check()
            got = self.follower.poll(0.01, 2000)
            if got:
                last = time.monotonic()
            elif time.monotonic() - last > STALL_TIMEOUT_S:
                raise TimeoutError(f"bench broker: no output for {STALL_TIMEOUT_S:g} s, {len(self.waiting)} waiting")
            nxt: list[int] = []
            for rec in got:
                if rec.topic == self.topics.oppdrag:
                    if count and rec.key in self.timed and rec.value is not None:
                        self.oppdrag += 1
                        self.lines += rec.value.count(LINE_TAG)
                        self.outputs.append(rec.value)
                    continue
                if self.log.add(rec) is None or rec.key not in self.waiting:
                    continue
                final = self.log.final(rec.key)
                if final is None:
                    continue
                i, at = self.waiting.pop(rec.key)
                if count:
                    self.outputs.append(rec.key.encode() + b" " + orjson.dumps(final, option=orjson.OPT_SORT_KEYS))
                    self.requests += 1
                    self.latencies.append(time.perf_counter() - at)
                    self.feilet += final.get("status") == "FEILET"
                if i >= 0 and self.remaining[i] > 0:
                    nxt.append(i)
            for i in nxt:
                self.send(i)
            if nxt:
                self.flush()


def cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) process `pid` has used so far; None off Linux or once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float | None:
    """Peak resident set size (VmHWM) of process `pid` in MiB; None off Linux or once gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cpu_of(pids: list[int]) -> list[float | None]:
    return [cpu_s(pid) for pid in pids]


def _busy(before: list[float | None], after: list[float | None], wall: float) -> list[float | None]:
    """Cores each process kept busy over `wall` seconds."""
    return [
        None if a is None or b is None or wall <= 0 else round((a - b) / wall, 3)
        for b, a in zip(before, after, strict=True)
    ]


def digest(outputs: list[bytes]) -> str:
    """SHA-256 over the outputs in sorted order: equal for two runs that wrote the same Oppdrag
    and final statuses, whatever order they arrived in."""
    h = hashlib.sha256()
    for value in sorted(outputs):
        h.update(len(value).to_bytes(8, "big"))
        h.update(value)
    return h.hexdigest()


def section_broker(cfg: Any, processes: int = 1) -> dict[str, Any]:
    from helved.config import Settings
    from helved.devstack import Stack
    from helved.kafka import ReliableProducer
    from helved.kafka.consumer import Follower

    settings = Settings.from_env()
    hs = histories(cfg.broker_saker, cfg.seed)
    (warm,) = histories(1, cfg.seed, first=cfg.broker_saker)
    with (
        tempfile.TemporaryDirectory(prefix="helved-bench-broker-") as tmp,
        Stack(settings, Path(tmp), snapshot_s=cfg.snapshot_s, processes=processes) as stack,
        ReliableProducer(stack.settings) as producer,
        Follower(stack.settings, [stack.settings.topics.status, stack.settings.topics.oppdrag]) as follower,
    ):
        dp = _Dagpenger(producer, follower, stack, hs, warm, cfg.broker_decisions)
        dp.send(None)  # warm-up: connections, partition assignment, the flow's first epoch
        dp.flush()
        dp.drain(count=False)
        pipelines = [p.pid for p in stack.pipelines]
        broker_pid = [stack.broker.pid] if stack.broker is not None else []
        cpu_before = _cpu_of(pipelines + broker_pid)
        own_before = time.process_time()
        started = time.perf_counter()
        for i in range(len(hs)):
            dp.send(i)
        dp.flush()
        dp.drain(count=True)
        wall = time.perf_counter() - started
        own_busy = (time.process_time() - own_before) / wall if wall > 0 else 0.0
        busy = _busy(cpu_before, _cpu_of(pipelines + broker_pid), wall)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ordered = sorted(dp.latencies)
    n = dp.requests
    return {
        "available": True,
        "processes": processes,
        "workers_per_process": settings.workers,
        "saker": len(hs),
        "decisions_per_sak": cfg.broker_decisions,
        "snapshot_s": cfg.snapshot_s,
        "requests": n,
        "oppdrag": dp.oppdrag,
        "lines": dp.lines,
        "feilet": dp.feilet,
        "wall_s": wall,
        "requests_per_s": n / wall if wall > 0 else 0.0,
        "lines_per_s": dp.lines / wall if wall > 0 else 0.0,
        "us_per_request": wall / n * 1e6 if n else 0.0,
        "latency_ms": {
            "median": statistics.median(ordered) * 1000 if ordered else 0.0,
            "p90": ordered[int(0.9 * (len(ordered) - 1))] * 1000 if ordered else 0.0,
            "max": ordered[-1] * 1000 if ordered else 0.0,
        },
        "peak_rss_mib": own,
        "children_peak_rss_mib": children,
        "bootstrap": "embedded" if settings.embedded_broker else "HELVED_BOOTSTRAP_SERVERS",
        "outputs_digest": digest(dp.outputs),
        # Cores kept busy during the timed phase: each pipeline process, the broker, and this
        # process (traffic, the OS bridge and the emulator). Where the time goes on a small machine.
        "cores_busy": {
            "pipeline": busy[: len(pipelines)],
            "broker": busy[len(pipelines)] if broker_pid else None,
            "bench_bridge_emulator": round(own_busy, 3),
            "machine": os.cpu_count(),
        },
    }


def section_drain(cfg: Any, processes: int = 1) -> dict[str, Any]:
    """The pipeline alone over the broker, CPU-bound: a backlog of `cfg.drain_saker` new saker
    (one decision each, `cfg.window` meldeperioder: about 100 days) is produced first, then
    `helved run` starts with `processes` processes and works it off. No OS bridge: every request
    ends in MOTTATT with its Oppdrag on `helved.oppdrag.v1`. The rate is taken from the first to
    the last status read (start-up excluded); `outputs_digest` covers the Oppdrag and statuses."""
    from helved.config import Settings
    from helved.devstack import Stack
    from helved.kafka import ReliableProducer
    from helved.kafka.consumer import Follower, read_all
    from helved.records import OutRecord

    from .traffic import Profile

    settings = Settings.from_env()
    hs = histories(cfg.drain_saker, cfg.seed, profile=Profile(window=cfg.window))
    with tempfile.TemporaryDirectory(prefix="helved-bench-drain-") as tmp:
        stack = Stack(settings, Path(tmp), snapshot_s=cfg.snapshot_s)
        try:
            stack.start_broker()
            topics = stack.settings.topics
            keys: set[str] = set()
            with ReliableProducer(stack.settings) as producer:
                for h in hs:
                    rec = h.next_decision().record
                    assert rec.key is not None
                    keys.add(rec.key)
                    producer.send(OutRecord(topics.dagpenger, rec.key, rec.value, (), rec.timestamp_ms))
                producer.flush_or_raise(60)
            seen: dict[str, bytes] = {}
            with Follower(stack.settings, [topics.status]) as follower:
                started = time.perf_counter()
                stack.start_pipelines(processes)
                pids = [p.pid for p in stack.pipelines]
                broker_pid = [stack.broker.pid] if stack.broker is not None else []
                first = last = 0.0
                cpu_first: list[float | None] = []
                stalled = time.monotonic()
                while len(seen) < len(keys):
                    stack.check()
                    got = follower.poll(0.05, 5000)
                    if got:
                        stalled = time.monotonic()
                    elif time.monotonic() - stalled > STALL_TIMEOUT_S:
                        raise TimeoutError(
                            f"bench drain: no status for {STALL_TIMEOUT_S:g} s, {len(seen)} of {len(keys)}"
                        )
                    for rec in got:
                        if rec.key in keys and rec.key not in seen and rec.value is not None:
                            seen[rec.key] = rec.value
                            if not first:
                                first = time.perf_counter()
                                cpu_first = _cpu_of(pids + broker_pid)
                    last = time.perf_counter()
                span = last - first
                busy = _busy(cpu_first, _cpu_of(pids + broker_pid), span)
                rss = [peak_rss_mib(pid) for pid in pids]
            # The sink produces a batch's statuses before its Oppdrag: the last Oppdrag may land a
            # moment after the last status was read.
            deadline = time.monotonic() + STALL_TIMEOUT_S
            while True:
                oppdrag = [r.value for r in read_all(stack.settings, [topics.oppdrag]) if r.value is not None]
                if len(oppdrag) >= len(seen) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            stack.stop()
    n = len(seen)
    outputs = oppdrag + [k.encode() + b" " + v for k, v in seen.items()]
    return {
        "available": True,
        "processes": processes,
        "workers_per_process": settings.workers,
        "requests": n,
        "oppdrag": len(oppdrag),
        "lines": sum(v.count(LINE_TAG) for v in oppdrag),
        "wall_s": span,
        "startup_s": first - started,
        "requests_per_s": (n - 1) / span if span > 0 else 0.0,
        # Each pipeline process's peak RSS: the state of every sak it owns, in memory.
        "pipeline_peak_rss_mib": rss,
        "outputs_digest": digest(outputs),
        "cores_busy": {
            "pipeline": busy[: len(pids)],
            "broker": busy[len(pids)] if broker_pid else None,
            "machine": os.cpu_count(),
        },
    }
