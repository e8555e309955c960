"""`openloop` section: the whole system over the broker at fixed arrival rates.

Unlike `broker` (a closed loop: each sak's next decision only once the previous one is final,
so it measures latency × saker, not capacity), decisions here arrive on a schedule: at rate R,
decision k is due at t0 + k/R whatever happened to the ones before. Processes, as in production
on one small machine:

    this process       load generator (a thread producing on schedule, with librdkafka's
                       default linger of 5 ms, as a sender's producer would) and the status reader
    helved run         the pipeline, recovery on (production snapshot interval), 1 process
    python -m helved.bench.osproc   the OS bridge with OS (`echo` or the emulator), own process
    tansu              the embedded broker

For each rate the decisions are made before the clock starts (generating traffic is not the
system's work): `duration_s` × R decisions over fresh saker, every sak getting one decision per
round (`per_sak` rounds, 4 by default), so a sak's decisions are `duration_s / per_sak` seconds
apart (2.5 s; a real sak's come 14 days apart) and its message grows as in the other sections.
Why so few per sak: a sak has at most one Oppdrag in flight, its next decision waits for the
receipt (spec), so decisions of one sak closer together than the round trip queue behind each
other and the curve would measure that queue, not the system: with 19 a sak, 1.9 s apart at
2,000/s offered, fewer decisions became final a second than at 1,000/s.

Latency of a decision: from the time it was *due* (not when it was sent: no coordinated
omission) to the moment its final status (OK or FEILET) is read from `helved.status.v1`.
A rate is *sustained* when every decision of it became final and none took a second or more
(a rate the system cannot take builds a queue: the window's last decisions wait ever longer).
`completed_per_s` is final statuses over the time from the first decision due to the last
final status.
CPU per process over each rate's window comes from `/proc` (`cores_busy`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .broker import _busy, _cpu_of, digest
from .traffic import histories

RATES = (100, 500, 1000, 2000)
SUSTAINED_MAX_S = 1.0
FINAL = (b'"status":"OK"', b'"status":"FEILET"')


@dataclass
class _Step:
    """One rate's decisions and what became of them."""

    rate: float
    records: list[tuple[str, bytes, int]]  # key, value, timestamp_ms, in the order they are due
    due: dict[str, float] = field(default_factory=dict)  # key -> perf_counter when due
    sent_late_ms: list[float] = field(default_factory=list)
    latency_s: dict[str, float] = field(default_factory=dict)
    statuses: list[bytes] = field(default_factory=list)
    t0: float = 0.0
    last_final: float = 0.0


def _make_step(rate: float, duration_s: float, per_sak: int, seed: int, first: int) -> tuple[_Step, int]:
    n = max(1, round(rate * duration_s))
    saker = max(1, math.ceil(n / per_sak))
    hs = histories(saker, seed, first=first)
    records: list[tuple[str, bytes, int]] = []
    while len(records) < n:
        for h in hs:
            if len(records) == n:
                break
            rec = h.next_decision().record
            assert rec.key is not None and rec.value is not None
            records.append((rec.key, rec.value, rec.timestamp_ms or 0))
    return _Step(rate, records), first + saker


def _send(step: _Step, producer: Any, topic: str, stop: threading.Event) -> None:
    """Produce each decision when it is due (sleeping until then), polling for deliveries."""
    from helved.records import OutRecord

    step.t0 = t0 = time.perf_counter() + 0.05
    interval = 1.0 / step.rate
    for k, (key, value, ts) in enumerate(step.records):
        if stop.is_set():
            return
        due = t0 + k * interval
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
            now = time.perf_counter()
        step.due[key] = due
        step.sent_late_ms.append((now - due) * 1000)
        producer.send(OutRecord(topic, key, value, (), ts))
    producer.flush_or_raise(60)


def _run_step(step: _Step, producer: Any, reader: Any, topics: Any, settle_s: float, check: Any) -> None:
    stop = threading.Event()
    failure: list[BaseException] = []

    def sender() -> None:
        try:
            _send(step, producer, topics.dagpenger, stop)
        except BaseException as exc:  # reported below
            failure.append(exc)

    keys = {key for key, _, _ in step.records}
    thread = threading.Thread(target=sender, name="openloop-sender", daemon=True)
    thread.start()
    end_of_window = time.perf_counter() + 0.05 + len(step.records) / step.rate
    deadline = end_of_window + settle_s
    try:
        while len(step.latency_s) < len(keys):
            check()
            if failure:
                raise failure[0]
            if time.perf_counter() > deadline:
                break
            now_records = reader.poll(0.005, 5000)
            now = time.perf_counter()
            for rec in now_records:
                key = rec.key
                if key not in keys or key in step.latency_s or rec.value is None:
                    continue
                value = rec.value
                if FINAL[0] in value or FINAL[1] in value:
                    due = step.due.get(key)
                    if due is None:  # read before the sender stamped it (cannot be final yet)
                        continue
                    step.latency_s[key] = now - due
                    step.statuses.append(key.encode() + b" " + value)
                    step.last_final = now
    finally:
        stop.set()
        thread.join(60)


def _pct(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def section_openloop_cfg(cfg: Any, os_kind: str) -> dict[str, Any]:
    """`section_openloop` with the rates and step length of a `BenchConfig`."""
    return section_openloop(
        cfg, rates=tuple(float(r) for r in cfg.openloop_rates), duration_s=cfg.openloop_duration_s, os_kind=os_kind
    )


def section_openloop(
    cfg: Any,
    *,
    rates: tuple[float, ...] = RATES,
    duration_s: float = 10.0,
    per_sak: int = 4,
    os_kind: str = "echo",
    settle_s: float = 15.0,
) -> dict[str, Any]:
    from helved.config import Settings
    from helved.devstack import Stack, _die_with_parent
    from helved.kafka import ReliableProducer
    from helved.kafka.consumer import Follower
    from helved.startup import settings_env

    settings = Settings.from_env()
    out_steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="helved-bench-openloop-") as tmp:
        stack = Stack(settings, Path(tmp), snapshot_s=cfg.snapshot_s)
        osproc: subprocess.Popen[bytes] | None = None
        try:
            stack.start_broker()
            stack.start_pipelines(1)
            topics = stack.settings.topics
            env = {**os.environ, **settings_env(dataclasses.replace(stack.settings, recovery_dir=None))}
            with open(Path(tmp) / "os.log", "ab") as log_out:
                osproc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "helved.bench.osproc",
                        "--kind",
                        os_kind,
                        "--state-dir",
                        str(Path(tmp) / "os"),
                    ],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log_out,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
                )

            def check() -> None:
                stack.check()
                if osproc is not None and osproc.poll() is not None:
                    tail = (Path(tmp) / "os.log").read_text(errors="replace").splitlines()[-20:]
                    raise RuntimeError(f"the OS process exited with {osproc.returncode}:\n" + "\n".join(tail))

            pids = [p.pid for p in stack.pipelines] + [stack.broker.pid if stack.broker else 0, osproc.pid]
            with (
                ReliableProducer(stack.settings) as producer,
                Follower(stack.settings, [topics.status]) as reader,
            ):
                first = 0
                warm, first = _make_step(20, 1.0, per_sak, cfg.seed, 10_000_000)
                _run_step(warm, producer, reader, topics, 120.0, check)  # connections, first epoch
                if len(warm.latency_s) < len(warm.records):
                    raise TimeoutError("bench openloop: the warm-up decisions did not all become final")
                for rate in rates:
                    step, first = _make_step(rate, duration_s, per_sak, cfg.seed, first)
                    cpu_before = _cpu_of(pids)
                    own_before = time.process_time()
                    _run_step(step, producer, reader, topics, settle_s, check)
                    span = max(step.last_final - step.t0, 0.0)  # first decision due -> last final
                    busy = _busy(cpu_before, _cpu_of(pids), span)
                    own = (time.process_time() - own_before) / span if span > 0 else 0.0
                    out_steps.append(_figures(step, span, busy, own))
        finally:
            if osproc is not None and osproc.poll() is None:
                osproc.terminate()
                try:
                    osproc.wait(10)
                except subprocess.TimeoutExpired:
                    osproc.kill()
                    osproc.wait()
            stack.stop()
    return {
        "available": True,
        "os": os_kind,
        "duration_s": duration_s,
        "per_sak": per_sak,
        "snapshot_s": cfg.snapshot_s,
        "machine_cores": os.cpu_count(),
        "steps": out_steps,
        "max_sustained_per_s": max((s["offered_per_s"] for s in out_steps if s["sustained"]), default=0.0),
    }


def _figures(step: _Step, span: float, busy: list[float | None], own: float) -> dict[str, Any]:
    n = len(step.records)
    done = len(step.latency_s)
    ordered = sorted(step.latency_s.values())
    completed_per_s = done / span if span > 0 else 0.0
    # Kept up: every decision final, and none waited a second (a rate the system cannot take
    # builds a queue, and the latest decisions of the window wait ever longer).
    sustained = done == n and bool(ordered) and ordered[-1] < SUSTAINED_MAX_S
    late = sorted(step.sent_late_ms)
    return {
        "offered_per_s": step.rate,
        "decisions": n,
        "final": done,
        "completed_per_s": round(completed_per_s, 1),
        "sustained": sustained,
        "latency_ms": {
            "p50": round(_pct(ordered, 0.50), 1),
            "p90": round(_pct(ordered, 0.90), 1),
            "p99": round(_pct(ordered, 0.99), 1),
            "max": round(ordered[-1] * 1000, 1) if ordered else 0.0,
            "mean": round(statistics.fmean(ordered) * 1000, 1) if ordered else 0.0,
        },
        # How far behind schedule the generator itself produced (its own lateness is in the
        # latency too, since latency counts from when a decision was due).
        "sender_late_ms_p99": round(late[min(len(late) - 1, int(0.99 * len(late)))], 2) if late else 0.0,
        "cores_busy": {
            "pipeline": busy[0],
            "broker": busy[1],
            "os": busy[2],
            "load_generator": round(own, 3),
        },
        "outputs_digest": digest(step.statuses),
    }
