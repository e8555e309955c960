"""The `scale` section of `helved bench`: a year of saker in one process (issue 18).

    100,000 saker x 20 confirmed utbetalinger restored and running; resident memory <= 1.5 GiB,
    no pause over 50 ms (GC included), resume from recovery in <= 60 s; the bytes per
    utbetaling in memory and in snapshots.

Three steps, each in a fresh process (spawned) so that each one's memory is its own:

1. **load**: the real dataflow (`build_flow` through `run_loop`, recovery on, epochs of
   `snapshot_s`, OS `echo`) takes every sak's first decision: `utbetalinger` meldeperioder at
   once (`Profile(window=utbetalinger)`: one dagpenger meldeperiode is one utbetaling), each
   answered 00 by OS, so every sak ends with `utbetalinger` confirmed utbetalinger and nothing
   in flight. The input's end closes the last epoch: its snapshot holds every sak.
2. **resume**: a new process starts the real dataflow on that recovery directory and hands it
   one request, the next decision of a restored sak (a correction of one of its meldeperioder),
   and nothing else until that request's outputs are out: the time from the parent starting
   the process to those outputs is the resume time. Its RSS then is the state's.
3. **running**, in the same process: the next decision of `running_requests` restored saker
   (a random sample, each sak one request at a time, its Oppdrag answered before its next),
   `running_batch` requests a poll, as fast as the flow takes them (the worst case for pauses:
   every epoch's snapshot holds every sak changed in it) or `running_rate` a second; epochs of
   `snapshot_s`, so snapshots happen meanwhile. What it records, from the first output on:
   - every garbage collection's duration by generation (`gc.callbacks`);
   - the lateness of a heartbeat thread that sleeps 1 ms at a time, and of each lateness the
     part the process spent running (its CPU time meanwhile): the longest time the process ran
     nothing else (a collection, a snapshot pickled without a pause, ...). Normal lateness is up
     to Python's switch interval (5 ms): a thread gets the GIL at the latest when the running
     one is asked to drop it. The rest of a lateness the process waited for a core: this
     machine is shared, and that is no pause of helved's;
   - the flow's time per poll of the source (the wall time from one poll to the next less the
     bench's own time in between: the OS answer and the loop's bookkeeping), and the polls in
     which Bytewax took an epoch's snapshot (`SakLogic.snapshot` was called) with how many
     saker each snapshot took: Bytewax writes a snapshot before the flow goes on, so the
     snapshot holds the flow up;
   - a full collection timed at the end, with the state as the process left it (frozen by
     `helved.flow.housekeeping`) and with its frozen objects put back into the collected
     generations (`gc.unfreeze`): what a gen2 collection costs over a year of saker.

Every request of the running phase must find its sak restored: a decision for a restored sak
is diffed against 20 confirmed utbetalinger, so its Oppdrag is `ENDR` with lines chained to the
restored tails (`refDelytelseId`); a sak that came back empty would send `NY` with all its
lines. The figures count both (`oppdrag_endr`, `oppdrag_ny`).

Bytes per utbetaling: in memory from the resumed process's RSS (after the resume, less its RSS
before the flow started) and from `tracemalloc` over a sample of saker read back from the
snapshots (the Python objects alone); in snapshots as Bytewax stored the latest state of every
sak (the pickled `SakState`) and as the recovery directory's files take on disk.

No figure here is asserted by a test; the targets are reported (`scale_targets`, `scale_rows`).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import random
import sqlite3
import tempfile
import threading
import time
import tracemalloc
from array import array
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bytewax.recovery import init_db_dir

from helved.config import Topics
from helved.domain.sak import SakState
from helved.flow.driver import Offsets, run_loop
from helved.flow.housekeeping import HOUSEKEEPING
from helved.flow.wiring import SakLogic
from helved.records import OutRecord

from .inprocess import BenchLoop, EchoOs
from .traffic import Decision, Profile, SakHistory

# The targets of issue 18, "a year of saker in one process".
TARGET_RSS_BYTES = 1.5 * 1024**3
TARGET_PAUSE_MS = 50.0
TARGET_RESUME_S = 60.0

HEARTBEAT_S = 0.001
SNAPSHOT_GAP_S = 0.05
LONG_MS = 20.0  # pauses listed one by one (when, what, how long)
LONG_POLL_MS = 100.0  # and polls
SNAPSHOT_STEP = "helved.sak."
ENDR = b"<kodeEndring>ENDR</kodeEndring>"
REF = b"<refDelytelseId>"
TRACEMALLOC_SAMPLE = 1000  # saker read back under tracemalloc


@dataclass(frozen=True)
class ScaleConfig:
    saker: int = 100_000
    utbetalinger: int = 20  # confirmed per sak: the first decision pays this many meldeperioder
    running_requests: int = 20_000
    seed: int = 1
    snapshot_s: float = 10.0  # the epoch, as in production; the running phase must span several
    batch: int = 256  # requests per poll while loading
    running_batch: int = 32  # requests per poll while running
    workdir: str | None = None  # where the recovery directory goes (a temporary one by default)
    # the flow's housekeeping (`helved.flow.housekeeping`), on as in production; off to measure
    # what it buys
    gc_freeze: bool = True
    malloc_trim: bool = True
    running_rate: float | None = None  # new requests a second while running; None: as fast as it goes


# Tiny, for tests: paced so that the running phase spans several (short) epochs whatever the machine.
SMOKE_SCALE = ScaleConfig(
    saker=24, utbetalinger=4, running_requests=24, snapshot_s=0.02, batch=8, running_batch=4, running_rate=200.0
)


# ---------------------------------------------------------------------------------------------
# Helpers


def proc_status() -> dict[str, int]:
    """VmRSS and VmHWM (peak) of this process in bytes, from /proc/self/status (0 elsewhere)."""
    out = {"VmRSS": 0, "VmHWM": 0}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in out:
                    out[key] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


def _quantiles(xs: array[float] | list[float]) -> dict[str, float]:
    """Count, max, p99, p50 and sum of `xs` (ms)."""
    if not xs:
        return {"count": 0, "max": 0.0, "p99": 0.0, "p50": 0.0, "sum": 0.0}
    s = sorted(xs)
    n = len(s)
    return {
        "count": n,
        "max": s[-1],
        "p99": s[min(n - 1, int(n * 0.99))],
        "p50": s[n // 2],
        "sum": float(sum(s)),
    }


def _over(xs: array[float] | list[float], limit: float) -> int:
    return sum(1 for x in xs if x > limit)


@dataclass(slots=True)
class LazySak:
    """A sak's decisions made on demand, holding nothing between them: 100,000 `SakHistory`
    objects with 20 meldeperioder each would hold gigabytes of message text. Decision k is made
    by replaying decisions 0..k-1 (every draw is a function of seed, sak and decision number)."""

    index: int
    seed: int
    topics: Topics
    profile: Profile
    decisions: int = 0  # decisions already handed out (to this process or to an earlier one)

    def next_decision(self) -> Decision:
        h = SakHistory(self.index, self.seed, self.topics, self.profile)
        for _ in range(self.decisions):
            h.next_decision()
        self.decisions += 1
        return h.next_decision()


# ---------------------------------------------------------------------------------------------
# Pauses


class PauseMeter:
    """Garbage collections by generation (`gc.callbacks`) and a heartbeat thread's lateness,
    in ms. `mark()` starts a new window (the running phase) and keeps what came before apart."""

    def __init__(self) -> None:
        self.gc_ms: tuple[array[float], array[float], array[float]] = (array("d"), array("d"), array("d"))
        # objects each collection found unreachable (in reference cycles) and freed
        self.gc_freed: tuple[array[int], array[int], array[int]] = (array("q"), array("q"), array("q"))
        self.beats: array[float] = array("d")
        # of each lateness, the part the process spent running (holding the interpreter): the
        # rest it waited for a core (a shared machine), which is no pause of its own
        self.held: array[float] = array("d")
        self.marks: tuple[int, int, int, int] | None = None  # lengths at `mark()`: gc 0/1/2, beats
        self._started = 0.0
        self.ignore = False  # set while the bench collects on purpose
        self.long: list[tuple[float, str, float]] = []  # (when, what, ms) of every pause > LONG_MS
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="pause-heartbeat", daemon=True)

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        if self.ignore:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            now = time.perf_counter()
            ms = (now - self._started) * 1e3
            self.gc_ms[info["generation"]].append(ms)
            self.gc_freed[info["generation"]].append(info["collected"])
            if ms > LONG_MS:
                self.long.append((self._started, f"gc gen{info['generation']}", ms))

    def _beat(self) -> None:
        clock, cpu, sleep, stop = time.perf_counter, time.process_time, time.sleep, self._stop
        beats, held = self.beats, self.held
        while not stop.is_set():
            t, c = clock(), cpu()
            sleep(HEARTBEAT_S)
            ms = (clock() - t - HEARTBEAT_S) * 1e3
            ran = (cpu() - c - HEARTBEAT_S) * 1e3  # what the process ran meanwhile, beyond the sleep
            if self.ignore:
                continue
            beats.append(ms)
            held.append(min(ms, max(ran, 0.0)))
            if ms > LONG_MS:
                self.long.append((t + HEARTBEAT_S, f"heartbeat late (the process ran {ran:.0f} ms of it)", ms))

    def start(self) -> None:
        gc.callbacks.append(self._gc)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)

    def mark(self) -> None:
        g0, g1, g2 = self.gc_ms
        self.marks = (len(g0), len(g1), len(g2), len(self.beats))  # `held` is as long as `beats`

    def window(self, running: bool) -> dict[str, Any]:
        m = self.marks or (0, 0, 0, 0)
        cut: Callable[[array[float], int], array[float]] = (lambda xs, i: xs[i:]) if running else (lambda xs, i: xs[:i])
        gens = [cut(xs, m[g]) for g, xs in enumerate(self.gc_ms)]
        freed = [sum(self.gc_freed[g][m[g] :] if running else self.gc_freed[g][: m[g]]) for g in range(3)]
        beats = cut(self.beats, m[3])
        held = cut(self.held, m[3])
        every_gc = [x for xs in gens for x in xs]
        return {
            "gc_ms": {f"gen{g}": _quantiles(xs) for g, xs in enumerate(gens)},
            "gc_ms_all": _quantiles(every_gc),
            "gc_over_limit": _over(every_gc, TARGET_PAUSE_MS),
            "gc_freed_objects": {f"gen{g}": n for g, n in enumerate(freed)},
            "heartbeat_late_ms": _quantiles(beats),
            "heartbeat_over_limit": _over(beats, TARGET_PAUSE_MS),
            "heartbeat_held_ms": _quantiles(held),
            "heartbeat_held_over_limit": _over(held, TARGET_PAUSE_MS),
        }


# ---------------------------------------------------------------------------------------------
# The loop: the bench's `BenchLoop` with the clocks this section needs


class ScaleLoop(BenchLoop):
    """`BenchLoop` (each sak one input at a time, receipts first) that also records:

    - with `probe`, the first poll hands out one request and the next polls nothing until its
      outputs are out (the resume time, `first_output_at`); with `rate`, no more new requests
      from then on than `rate` a second (receipts are never held back);
    - the flow's wall time per poll: from the end of one poll to the start of the next, less the
      bench's time in between (OS and the loop's bookkeeping in `take`);
    - Oppdrag by kodeEndring, lines chained to an earlier one, confirmed utbetalinger;
    - `at_end`, called once when every sak's requests are done (inside the flow: the state is
      still alive)."""

    probe: bool = False
    rate: float | None = None  # new requests per second from the first output on; None: no limit
    paced: int = 0  # new requests handed out after the probe's
    started_at: float = 0.0
    first_poll_at: float | None = None
    first_output_at: float | None = None
    at_first_output: Callable[[], None] | None = None
    at_end: Callable[[], None] | None = None
    snapshots_seen: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.oppdrag_endr = 0
        self.oppdrag_ny = 0
        self.chained_lines = 0
        self.confirmed = 0
        self.poll_ms: array[float] = array("d")
        self.poll_inputs: array[int] = array("i")
        self.snapshot_polls: list[tuple[float, float, int]] = []  # (ms, cpu ms, saker snapshotted)
        self._poll_end = 0.0
        self._poll_end_cpu = 0.0
        self._bench_s = 0.0  # the bench's time in `take` since the last poll ended
        self._bench_cpu_s = 0.0
        self.poll_cpu_ms: array[float] = array("d")
        self._handed = 0
        self._snapshots_at_poll = 0
        self._ended = False
        self._skip_gap = False
        # (first call, last call, calls) of each run of `SakLogic.snapshot` calls: an epoch's
        # snapshot (calls closer than `SNAPSHOT_GAP_S` to the previous one belong to it)
        self.snapshot_runs: list[list[float]] = []
        self.long_polls: list[tuple[float, str, float]] = []

    def snapshot_called(self) -> None:
        now = time.perf_counter()
        self.snapshots_seen += 1
        runs = self.snapshot_runs
        if runs and now - runs[-1][1] < SNAPSHOT_GAP_S:
            runs[-1][1] = now
            runs[-1][2] += 1
        else:
            runs.append([now, now, 1])

    def next_batch(self) -> list[Any]:
        now, now_cpu = time.perf_counter(), time.process_time()
        if self.first_poll_at is None:
            self.first_poll_at = now
        elif self._poll_end:
            ms = (now - self._poll_end - self._bench_s) * 1e3
            cpu_ms = (now_cpu - self._poll_end_cpu - self._bench_cpu_s) * 1e3
            if self._skip_gap:  # the poll before the first output: the resume, not a poll
                self._skip_gap = False
            elif self.first_output_at is not None:
                self.poll_ms.append(ms)
                self.poll_cpu_ms.append(cpu_ms)
                if ms > LONG_POLL_MS:
                    what = f"poll of {self._handed} inputs (the process ran {cpu_ms:.0f} ms of it)"
                    self.long_polls.append((self._poll_end, what, ms))
                self.poll_inputs.append(self._handed)
                if self.snapshots_seen != self._snapshots_at_poll:
                    self.snapshot_polls.append((ms, cpu_ms, self.snapshots_seen - self._snapshots_at_poll))
        self._snapshots_at_poll = self.snapshots_seen
        try:
            limit = self.batch
            if self.probe and self.first_output_at is None:  # one request, then its outputs
                limit = 0 if self._waiting else 1
            elif self.rate is not None and self.first_output_at is not None:
                allowed = int(self.rate * (now - self.first_output_at)) - self.paced
                limit = min(self.batch, len(self._receipts) + max(allowed, 0))
            if limit == 0 and not self._receipts:
                out: list[Any] = []
            else:
                batch, self.batch = self.batch, limit
                try:
                    out = super().next_batch()
                finally:
                    self.batch = batch
        finally:
            self._handed = 0
            self._bench_s = self._bench_cpu_s = 0.0
            self._poll_end, self._poll_end_cpu = time.perf_counter(), time.process_time()
        self.paced += sum(1 for r in out if r.topic != self.topics.kvittering)
        self._handed = len(out)
        return out

    def take(self, items: list[OutRecord]) -> None:
        t0, c0 = time.perf_counter(), time.process_time()
        for item in items:
            value = item.value
            if value is None:
                continue
            if item.topic == self.topics.oppdrag:
                if ENDR in value:
                    self.oppdrag_endr += 1
                else:
                    self.oppdrag_ny += 1
                self.chained_lines += value.count(REF)
            elif item.topic == self.topics.utbetalinger:
                self.confirmed += 1
        super().take(items)
        if self.first_output_at is None and items:
            self.first_output_at = time.perf_counter()
            self._skip_gap = True
            if self.at_first_output is not None:
                self.at_first_output()
        if not self._ended and self._drained() and not any(self._remaining) and self._phase == len(self.phases) - 1:
            self._ended = True
            if self.at_end is not None:
                self.at_end()
        self._bench_s += time.perf_counter() - t0
        self._bench_cpu_s += time.process_time() - c0


# ---------------------------------------------------------------------------------------------
# The steps (module-level: a spawned process must be able to import them)


def _profile(cfg: ScaleConfig) -> Profile:
    return Profile(window=cfg.utbetalinger)


def load_step(cfg: ScaleConfig, recovery: str) -> dict[str, Any]:
    """Every sak's first decision through the real dataflow with recovery on (a fresh process)."""
    topics = Topics()
    rdir = Path(recovery)
    init_db_dir(rdir, 1)
    HOUSEKEEPING.freeze, HOUSEKEEPING.trim = cfg.gc_freeze, cfg.malloc_trim
    saker = [LazySak(i, cfg.seed, topics, _profile(cfg)) for i in range(cfg.saker)]
    loop = ScaleLoop(topics, saker, [("load", 1)], EchoOs(), batch=cfg.batch)  # type: ignore[arg-type]
    t0, c0 = time.perf_counter(), time.process_time()
    run_loop(loop, topics, epoch=timedelta(seconds=cfg.snapshot_s), recovery=rdir)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    st = loop.stats[0]
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "excluded_cpu_s": {"generate": st.generate_cpu_s, "os": st.os_cpu_s, "loop": st.loop_cpu_s},
        "pipeline_cpu_s": st.pipeline_cpu_s,
        "us_per_request": st.pipeline_cpu_s / st.requests * 1e6 if st.requests else 0.0,
        **_counts(st, loop),
        "offsets": dict(loop._offsets.taken),
        "peak_rss_bytes": proc_status()["VmHWM"],
    }


def snapshot_figures(recovery: Path) -> dict[str, Any]:
    """The latest snapshot of every sak as Bytewax stored it, and the directory's files."""
    saker = size = rows = 0
    for part in sorted(recovery.glob("*.sqlite3")):
        con = sqlite3.connect(part)
        try:
            n, b = con.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(ser_change)), 0) FROM snaps s "
                "WHERE step_id LIKE ? AND ser_change IS NOT NULL AND snap_epoch = "
                "(SELECT MAX(snap_epoch) FROM snaps t WHERE t.step_id = s.step_id AND t.state_key = s.state_key)",
                (SNAPSHOT_STEP + "%",),
            ).fetchone()
            (r,) = con.execute("SELECT COUNT(*) FROM snaps WHERE step_id LIKE ?", (SNAPSHOT_STEP + "%",)).fetchone()
        finally:
            con.close()
        saker, size, rows = saker + n, size + b, rows + r
    disk = sum(f.stat().st_size for f in recovery.iterdir() if f.is_file())
    return {"saker": saker, "bytes": size, "rows": rows, "disk_bytes": disk}


def _sample_states(recovery: Path, n: int) -> list[bytes]:
    out: list[bytes] = []
    for part in sorted(recovery.glob("*.sqlite3")):
        con = sqlite3.connect(part)
        try:
            rows = con.execute(
                "SELECT state_key, snap_epoch, ser_change FROM snaps WHERE step_id LIKE ? ORDER BY state_key LIMIT ?",
                (SNAPSHOT_STEP + "%", 4 * n),
            ).fetchall()
        finally:
            con.close()
        latest: dict[str, tuple[int, bytes | None]] = {}
        for key, epoch, ser in rows:
            if key not in latest or latest[key][0] < epoch:
                latest[key] = (epoch, ser)
        out += [ser for _, ser in latest.values() if ser is not None]
    return out[:n]


def traced_bytes(recovery: Path, n: int = TRACEMALLOC_SAMPLE) -> dict[str, Any]:
    """The Python objects of `n` saker read back from their snapshots as Bytewax reads them
    (`pickle.loads`), measured by tracemalloc: bytes per utbetaling and per sak."""
    sers = _sample_states(recovery, n)
    gc.collect()
    tracemalloc.start()
    try:
        states = [pickle.loads(s) for s in sers]
        traced, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    states = [s for s in states if isinstance(s, SakState)]
    uids = sum(len(s.confirmed) for s in states)
    return {
        "saker": len(states),
        "utbetalinger": uids,
        "bytes": traced,
        "bytes_per_utbetaling": traced / uids if uids else 0.0,
        "bytes_per_sak": traced / len(states) if states else 0.0,
        "snapshot_bytes_per_utbetaling": sum(map(len, sers)) / uids if uids else 0.0,
    }


def _timed_collect() -> float:
    t0 = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - t0) * 1e3


def resume_step(cfg: ScaleConfig, recovery: str, offsets: dict[str, int], spawned_at: float) -> dict[str, Any]:
    """Resume the real dataflow from `recovery` in this (fresh) process, then run (steps 2, 3)."""
    # Wall clock, compared with the parent's `spawned_at`: the resume time spans two processes
    # (a measurement only; nothing the flow emits depends on it).
    entered = time.time()
    topics = Topics()
    rdir = Path(recovery)
    rng = random.Random(f"helved-bench-scale/{cfg.seed}")  # seeded: the same saker every run
    k = min(cfg.running_requests, cfg.saker)
    per_sak = max(1, cfg.running_requests // max(k, 1))
    picked = rng.sample(range(cfg.saker), k)
    saker = [LazySak(i, cfg.seed, topics, _profile(cfg), decisions=1) for i in picked]
    loop = ScaleLoop(topics, saker, [("running", per_sak)], EchoOs(), batch=cfg.running_batch)  # type: ignore[arg-type]
    loop.probe = True
    loop._offsets = Offsets(dict(offsets))  # Kafka's offsets go on: an earlier offset is a replay
    meter = PauseMeter()
    marks: dict[str, Any] = {}

    def excluded_cpu() -> float:
        st = loop.stats[-1]
        return st.generate_cpu_s + st.os_cpu_s + st.loop_cpu_s

    def first_output() -> None:
        marks["cpu"] = time.process_time() - excluded_cpu()
        marks["resumed"] = proc_status()
        marks["restored"] = HOUSEKEEPING.restored_total
        meter.mark()

    def at_end() -> None:  # the last request is done; the input has not ended yet
        marks["cpu"] = time.process_time() - excluded_cpu() - marks["cpu"]
        marks["end"] = proc_status()
        meter.ignore = True  # from here on the bench's own collections
        marks["frozen_end"] = gc.get_freeze_count()
        marks["collect_ms"] = _timed_collect()
        gc.unfreeze()
        marks["collect_unfrozen_ms"] = _timed_collect()
        marks["collect_unfrozen_objects"] = len(gc.get_objects())
        gc.freeze()

    loop.at_first_output, loop.at_end = first_output, at_end
    original_snapshot = SakLogic.snapshot

    def counted_snapshot(self: SakLogic) -> Any:
        loop.snapshot_called()
        return original_snapshot(self)

    SakLogic.snapshot = counted_snapshot  # type: ignore[method-assign]
    HOUSEKEEPING.freeze, HOUSEKEEPING.trim = cfg.gc_freeze, cfg.malloc_trim
    loop.rate = cfg.running_rate
    before = proc_status()
    meter.start()
    started = time.perf_counter()
    loop.started_at = started
    try:
        run_loop(loop, topics, epoch=timedelta(seconds=cfg.snapshot_s), recovery=rdir)
    finally:
        meter.stop()
        SakLogic.snapshot = original_snapshot  # type: ignore[method-assign]
    ended = time.perf_counter()
    st = loop.stats[0]
    first = loop.first_output_at or ended
    resumed = marks.get("resumed", before)
    utbetalinger = cfg.saker * cfg.utbetalinger
    out = {
        "resume": {
            "restored_saker": marks.get("restored", 0),  # sak states unpickled from the snapshot
            "seconds": (entered - spawned_at) + (first - started),
            "process_start_s": entered - spawned_at,
            "flow_start_to_first_poll_s": (loop.first_poll_at or started) - started,
            "flow_start_to_first_output_s": first - started,
            **meter.window(running=False),
        },
        "memory": {
            "rss_before_flow_bytes": before["VmRSS"],
            "rss_after_resume_bytes": resumed["VmRSS"],
            "peak_rss_after_resume_bytes": resumed["VmHWM"],
            "rss_end_bytes": marks.get("end", {}).get("VmRSS", 0),
            # the peak until the last request was done (resume included)
            "peak_rss_bytes": marks.get("end", {}).get("VmHWM", 0),
            # and with Bytewax's snapshot of every sak when the input ends
            "peak_rss_with_final_snapshot_bytes": proc_status()["VmHWM"],
            "rss_bytes_per_utbetaling": (resumed["VmRSS"] - before["VmRSS"]) / utbetalinger if utbetalinger else 0.0,
            "frozen_objects_end": marks.get("frozen_end", 0),
            "freezes": HOUSEKEEPING.freezes,
            "restore_end_ms": HOUSEKEEPING.restore_end_ms,
            "trims": HOUSEKEEPING.trims,
        },
        "running": {
            "wall_s": ended - first,
            "pipeline_cpu_s": marks.get("cpu", 0.0),
            "us_per_request": marks.get("cpu", 0.0) / st.requests * 1e6 if st.requests else 0.0,
            **_counts(st, loop),
            "oppdrag_endr": loop.oppdrag_endr,
            "oppdrag_ny": loop.oppdrag_ny,
            "chained_lines": loop.chained_lines,
            "batch": cfg.running_batch,
            "snapshot_calls": loop.snapshots_seen,
            "poll_ms": _quantiles(loop.poll_ms),
            "poll_cpu_ms": _quantiles(loop.poll_cpu_ms),
            "poll_ms_per_input": _quantiles(
                [ms / n for ms, n in zip(loop.poll_ms, loop.poll_inputs, strict=True) if n > 0]
            ),
            # the polls in which Bytewax took an epoch's snapshot: the flow's wall and CPU time,
            # and how many saker it snapshotted (those changed in the epoch)
            "snapshot_polls": [{"ms": ms, "cpu_ms": c, "saker": n} for ms, c, n in loop.snapshot_polls],
            # per run of snapshot calls: seconds from the first output, saker, ms from the first
            # call to the last (the pickling and writing come after); the last one is Bytewax's
            # snapshot of every sak when the input ends (a bench's end: production never ends
            # its input)
            "snapshot_runs": [
                {"at_s": a - first, "saker": int(n), "calls_ms": (b - a) * 1e3} for a, b, n in loop.snapshot_runs
            ],
            **meter.window(running=True),
            "long_pauses": [
                {"at_s": t - first, "what": what, "ms": ms}
                for t, what, ms in sorted(meter.long + loop.long_polls)
                if t >= first
            ],
            "full_collection_ms": marks.get("collect_ms", 0.0),
            "full_collection_unfrozen_ms": marks.get("collect_unfrozen_ms", 0.0),
            "gc_tracked_objects": marks.get("collect_unfrozen_objects", 0),
        },
    }
    out["traced"] = traced_bytes(rdir, min(TRACEMALLOC_SAMPLE, cfg.saker))
    return out


# ---------------------------------------------------------------------------------------------
# The section


def _counts(st: Any, loop: Any) -> dict[str, Any]:
    """What a phase did, counted: requests, Oppdrag, lines, receipts, confirmed utbetalinger and
    what went wrong."""
    return {
        "requests": st.requests,
        "oppdrag": st.oppdrag,
        "lines": st.lines,
        "receipts": st.receipts,
        "confirmed": loop.confirmed,
        "feilet": st.feilet,
        "waited": st.waited,
        "rejected_by_os": st.rejected_by_os,
    }


def _in_child(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def section_scale(
    saker: int = ScaleConfig.saker,
    utbetalinger: int = ScaleConfig.utbetalinger,
    running_requests: int = ScaleConfig.running_requests,
    seed: int = ScaleConfig.seed,
    snapshot_s: float = ScaleConfig.snapshot_s,
    *,
    batch: int = ScaleConfig.batch,
    running_batch: int = ScaleConfig.running_batch,
    running_rate: float | None = ScaleConfig.running_rate,
    gc_freeze: bool = ScaleConfig.gc_freeze,
    malloc_trim: bool = ScaleConfig.malloc_trim,
    workdir: str | None = None,
    progress: Callable[[str], None] = lambda msg: None,
) -> dict[str, Any]:
    """Load, resume in a fresh process, run; the figures as a plain dict (see the module).
    `SMOKE_SCALE` is a size for tests: `section_scale(**asdict(SMOKE_SCALE))`."""
    cfg = ScaleConfig(
        saker,
        utbetalinger,
        running_requests,
        seed,
        snapshot_s,
        batch,
        running_batch,
        workdir,
        gc_freeze=gc_freeze,
        malloc_trim=malloc_trim,
        running_rate=running_rate,
    )
    started = time.perf_counter()
    load_avg = [os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="helved-bench-scale-", dir=workdir) as tmp:
        recovery = Path(tmp) / "recovery"
        recovery.mkdir()
        progress(f"scale: loading {saker:,} saker x {utbetalinger} utbetalinger through the dataflow")
        load = _in_child(load_step, cfg, str(recovery))
        load_avg.append(os.getloadavg())
        snaps = snapshot_figures(recovery)
        progress("scale: resuming in a fresh process, then running")
        # The parent's wall clock at the spawn: the resume time includes starting the process.
        run = _in_child(resume_step, cfg, str(recovery), load["offsets"], time.time())
        load_avg.append(os.getloadavg())
    confirmed = load["confirmed"]
    res: dict[str, Any] = {
        "config": {
            "saker": saker,
            "utbetalinger_per_sak": utbetalinger,
            "running_requests": running_requests,
            "seed": seed,
            "snapshot_s": snapshot_s,
            "batch": batch,
            "running_batch": running_batch,
            "running_rate": running_rate,
            "gc_freeze": gc_freeze,
            "malloc_trim": malloc_trim,
        },
        "load": load,
        "snapshots": {
            **snaps,
            "bytes_per_utbetaling": snaps["bytes"] / confirmed if confirmed else 0.0,
            "disk_bytes_per_utbetaling": snaps["disk_bytes"] / confirmed if confirmed else 0.0,
        },
        **run,
        "utbetalinger": confirmed,
        # at start, after the load, at the end: the machine is shared, so this says how much
        "loadavg": [list(x) for x in load_avg],
        "seconds": time.perf_counter() - started,
    }
    res["targets"] = scale_targets(res)
    return res


# ---------------------------------------------------------------------------------------------
# Targets


def worst_pause_ms(res: dict[str, Any]) -> float:
    """The longest pause of the running phase: a garbage collection, or the time the process
    held the interpreter while the heartbeat thread waited for it (snapshots' pickling
    included). The heartbeat's lateness while the process itself waited for a core (a shared
    machine) is not counted: `heartbeat_late_ms` has it."""
    r = res["running"]
    return float(max(r["gc_ms_all"]["max"], r["heartbeat_held_ms"]["max"]))


def snapshot_block(res: dict[str, Any]) -> dict[str, Any]:
    """What epochs' snapshots cost the flow while running: each snapshot poll's time less a usual
    poll's. The longest, the smallest, each with how many saker that snapshot took (a snapshot
    takes every sak changed in its epoch; Bytewax's commit also scans every stored sak's row, a
    cost that follows the saker stored, not the traffic)."""
    r = res["running"]
    usual = r["poll_ms"]["p50"]
    polls = [(max(p["ms"] - usual, 0.0), p["saker"]) for p in r["snapshot_polls"]]
    if not polls:
        return {"snapshots": 0, "max_ms": 0.0, "max_saker": 0, "min_ms": 0.0, "min_saker": 0}
    worst, least = max(polls), min(polls)
    return {
        "snapshots": len(polls),
        "max_ms": worst[0],
        "max_saker": worst[1],
        "min_ms": least[0],
        "min_saker": least[1],
    }


def scale_targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets in the shape of `helved.bench.run.targets`."""
    mem, r, resume = res["memory"], res["running"], res["resume"]
    cfg = res["config"]
    peak = mem["peak_rss_bytes"]
    pause = worst_pause_ms(res)
    gen2 = r["gc_ms"]["gen2"]
    snaps = snapshot_block(res)
    rate = "as fast as it goes" if cfg["running_rate"] is None else f"{cfg['running_rate']:g} requests/s"
    return [
        {
            "target": f"{cfg['saker']:,} saker x {cfg['utbetalinger_per_sak']} utbetalinger restored and running: "
            "resident <= 1.5 GiB",
            "measured": peak / 1024**3,
            "unit": "GiB peak",
            "met": peak <= TARGET_RSS_BYTES,
            "how_far": f"{peak / TARGET_RSS_BYTES:.0%} of the limit; {mem['rss_after_resume_bytes'] / 1024**3:.2f} GiB "
            f"after the resume, {mem['rss_end_bytes'] / 1024**3:.2f} GiB after running",
        },
        {
            "target": "no pause over 50 ms (GC included), running",
            "measured": pause,
            "unit": "ms",
            "met": pause <= TARGET_PAUSE_MS,
            "how_far": f"gc max {r['gc_ms_all']['max']:.1f} ms (gen2 {gen2['count']}x, max {gen2['max']:.1f}); "
            f"interpreter held max {r['heartbeat_held_ms']['max']:.1f}, p99 {r['heartbeat_held_ms']['p99']:.1f} ms; "
            f"a full collection {r['full_collection_ms']:.0f} ms ({r['full_collection_unfrozen_ms']:,.0f} unfrozen)",
        },
        {
            "target": f"an epoch's snapshot holds the flow up <= 50 ms, running {rate}",
            "measured": snaps["max_ms"],
            "unit": "ms",
            "met": snaps["max_ms"] <= TARGET_PAUSE_MS,
            "how_far": f"{snaps['snapshots']} snapshots: {snaps['max_saker']:,} saker took {snaps['max_ms']:,.0f} ms, "
            f"{snaps['min_saker']:,} saker {snaps['min_ms']:,.0f} ms (beyond a usual poll)",
        },
        {
            "target": "resume from recovery <= 60 s",
            "measured": resume["seconds"],
            "unit": "s",
            "met": resume["seconds"] <= TARGET_RESUME_S,
            "how_far": f"{resume['seconds'] / TARGET_RESUME_S:.0%} of the limit",
        },
        {
            "target": "bytes per utbetaling in memory (reported)",
            "measured": mem["rss_bytes_per_utbetaling"],
            "unit": "bytes RSS",
            "met": True,
            "how_far": f"{res['traced']['bytes_per_utbetaling']:.0f} bytes of Python objects (tracemalloc)",
        },
        {
            "target": "bytes per utbetaling in snapshots (reported)",
            "measured": res["snapshots"]["bytes_per_utbetaling"],
            "unit": "bytes",
            "met": True,
            "how_far": f"{res['snapshots']['disk_bytes_per_utbetaling']:.0f} bytes on disk",
        },
    ]


def scale_rows(res: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The targets as text rows: target, measured, met, how far."""
    return [
        (t["target"], f"{t['measured']:,.2f} {t['unit']}", "met" if t["met"] else "NOT MET", t["how_far"])
        for t in res.get("targets") or scale_targets(res)
    ]
