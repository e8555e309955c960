"""The real dataflow in-process, with recovery on, OS answering every Oppdrag: `inprocess` mode.

`helved replay`'s gate hands out one record at a time, which measures the gate, not the flow.
This loop keeps the one rule that matters, spec §5.2 seen from outside: **a sak gets its next
request only after every output of its previous one has come out, and after OS's receipt for
its Oppdrag has been fed back and processed.** Saker do not wait for each other, so each batch
the source hands out holds receipts (first) and requests of up to `batch` distinct idle saker.

    source.next_batch ──► flow (route, split, kvittering, sak, outputs) ──► sink.write_batch
          ▲  receipts first, then one request per idle sak                     │
          └──── OS (the emulator) answers each Oppdrag; its sak stays busy ◄────┘
                until the outputs caused by that receipt have come out

Outputs are matched to the input that caused them by the provenance headers every output
carries (`src-topic`, `src-offset`). The loop is one schedule of `helved.flow.driver`'s closed
loop (it runs through `run_loop`), and is shared by all workers of the process
(`cluster_main(..., worker_count_per_proc=2)` runs them as threads), guarded by one lock.

The work is split into phases (e.g. a warm-up history, then a timed decision): a phase starts
only when the one before it has fully drained, and each phase records its wall time and the
time spent outside the pipeline (generating traffic, the OS emulator) so that it can be taken
out of the pipeline's figures.
"""

from __future__ import annotations

import pickle
import sqlite3
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bytewax.recovery import init_db_dir

from helved.config import Topics
from helved.domain.sak import SakState
from helved.emulator import Faults, OsEmulator
from helved.flow.driver import (
    InputId,
    Offsets,
    cause_of,
    input_id,
    receipt_inputs,
    run_loop,
)
from helved.records import InRecord, OutRecord

from .traffic import SakHistory

SNAPSHOT_S = 10.0  # the production epoch (HELVED_SNAPSHOT_S's default)
STALL_TIMEOUT_S = 60.0
LINE_TAG = b"<oppdrags-linje-150>"


class BenchOs:
    """OS for the bench: the emulator books every Oppdrag and answers with its real verdict.

    A bench never replays, so the emulator's reply log and its content-hash map of earlier
    answers (kept for replays after a crash) are dropped after each answer: they would
    otherwise grow with every Oppdrag and be counted in the process's peak memory.
    """

    def __init__(self) -> None:
        self.emulator = OsEmulator(Faults())

    def __call__(self, oppdrag_xml: bytes) -> list[bytes]:
        out = self.emulator.handle(oppdrag_xml)
        self.emulator.log.clear()
        self.emulator.seen.clear()
        return out


class EchoOs:
    """OS at no cost: every Oppdrag accepted (00), the receipt being the Oppdrag with `mmel`
    inserted as the root's first child (the shape of OS's answer). For measurements where the
    emulator's own cost would blur the pipeline's (several workers share one interpreter lock,
    so its time cannot be taken out reliably)."""

    MMEL = b"<mmel><systemId>231-OPUR</systemId><alvorlighetsgrad>00</alvorlighetsgrad></mmel>"

    def __call__(self, oppdrag_xml: bytes) -> list[bytes]:
        head, sep, rest = oppdrag_xml.partition(b"<oppdrag-110>")
        if not sep:
            raise ValueError("not an Oppdrag")
        return [head + self.MMEL + sep + rest]


OS_KINDS: dict[str, Callable[[], Callable[[bytes], list[bytes]]]] = {"emulator": BenchOs, "echo": EchoOs}


@dataclass
class PhaseStats:
    name: str
    decisions_per_sak: int
    started: float = 0.0
    ended: float = 0.0
    cpu_started: float = 0.0  # process CPU time (all threads)
    cpu_ended: float = 0.0
    requests: int = 0
    meldeperioder: int = 0
    days: int = 0
    bytes_in: int = 0
    receipts: int = 0
    oppdrag: int = 0
    lines: int = 0
    outputs: int = 0
    feilet: int = 0
    waited: int = 0  # MOTTATT without detaljer: a request found its sak busy (should be 0)
    rejected_by_os: int = 0
    generate_s: float = 0.0
    os_s: float = 0.0
    generate_cpu_s: float = 0.0
    os_cpu_s: float = 0.0
    # The loop's own bookkeeping (handing out inputs, matching outputs to them, making receipt
    # records): the bench's work, not helved's, taken out like the traffic and OS.
    loop_s: float = 0.0
    loop_cpu_s: float = 0.0

    @property
    def wall_s(self) -> float:
        return self.ended - self.started

    @property
    def pipeline_s(self) -> float:
        """Wall time less the time spent generating traffic, in the OS emulator and in the
        loop's own bookkeeping."""
        return max(self.wall_s - self.generate_s - self.os_s - self.loop_s, 1e-9)

    @property
    def cpu_s(self) -> float:
        return self.cpu_ended - self.cpu_started

    @property
    def pipeline_cpu_s(self) -> float:
        """CPU time of the process (every thread) less that of generating traffic, of the OS
        emulator and of the loop's own bookkeeping: the per-core cost, unaffected by time
        spent descheduled."""
        return max(self.cpu_s - self.generate_cpu_s - self.os_cpu_s - self.loop_cpu_s, 1e-9)


@dataclass
class BenchLoop:
    """Each sak one input at a time, many saker at once (a `helved.flow.driver.Loop`)."""

    shared = True  # one loop for every worker thread: guarded by `lock`
    topics: Topics
    saker: list[SakHistory]
    phases: list[tuple[str, int]]  # (name, decisions per sak)
    answer: Callable[[bytes], list[bytes]]
    batch: int = 256
    stats: list[PhaseStats] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _receipts: deque[InRecord] = field(default_factory=deque)
    _ready: deque[int] = field(default_factory=deque)
    _remaining: list[int] = field(default_factory=list)
    _busy: list[int] = field(default_factory=list)
    _waiting: dict[InputId, int] = field(default_factory=dict)  # (src-topic, src-offset) -> sak
    _offsets: Offsets = field(default_factory=Offsets)
    _phase: int = -1
    _done: bool = False
    _last_progress: float = 0.0

    def __post_init__(self) -> None:
        self._remaining = [0] * len(self.saker)
        self._busy = [0] * len(self.saker)
        self._last_progress = time.monotonic()

    # -- phases --------------------------------------------------------------------------------

    def _end_phase(self) -> None:
        st = self.stats[self._phase]
        if not st.ended:
            st.ended = time.perf_counter()
            st.cpu_ended = time.process_time()

    def _start_next_phase(self) -> bool:
        if self._phase >= 0:
            self._end_phase()
        self._phase += 1
        if self._phase >= len(self.phases):
            self._done = True
            return False
        name, per_sak = self.phases[self._phase]
        self.stats.append(PhaseStats(name, per_sak, started=time.perf_counter(), cpu_started=time.process_time()))
        self._remaining = [per_sak] * len(self.saker)
        self._ready = deque(range(len(self.saker))) if per_sak > 0 else deque()
        return True

    def _drained(self) -> bool:
        return not self._ready and not self._waiting and not self._receipts

    # -- the source side -----------------------------------------------------------------------

    def next_batch(self) -> list[InRecord]:
        with self.lock:
            if self._done:
                raise StopIteration
            phase_over = self._phase < 0 or (self._drained() and not any(self._remaining))
            if phase_over and not self._start_next_phase():
                raise StopIteration
            out = list(self._receipts)
            self._receipts.clear()
            st = self.stats[self._phase]
            clock, cpu = time.perf_counter, time.thread_time
            start, start_cpu = clock(), cpu()
            generated, generated_cpu = 0.0, 0.0
            while len(out) < self.batch and self._ready:
                i = self._ready.popleft()
                t0, c0 = clock(), cpu()
                d = self.saker[i].next_decision()
                c1, t1 = cpu() - c0, clock() - t0
                generated, generated_cpu = generated + t1, generated_cpu + c1
                r = self._offsets.number(d.record)
                out.append(r)
                self._waiting[input_id(r)] = i
                self._busy[i] += 1
                self._remaining[i] -= 1
                st.requests += 1
                st.meldeperioder += d.meldeperioder
                st.days += d.days
                st.bytes_in += len(r.value) if r.value else 0
            st.generate_s += generated
            st.generate_cpu_s += generated_cpu
            st.loop_s += clock() - start - generated
            st.loop_cpu_s += cpu() - start_cpu - generated_cpu
            if out:
                self._last_progress = time.monotonic()
            elif time.monotonic() - self._last_progress > STALL_TIMEOUT_S:
                raise RuntimeError(
                    f"bench: no progress for {STALL_TIMEOUT_S} s with {len(self._waiting)} inputs in the flow"
                )
            return out

    # -- the sink side -------------------------------------------------------------------------

    def take(self, items: list[OutRecord]) -> None:
        with self.lock:
            st = self.stats[self._phase]
            done: dict[InputId, int] = {}
            clock, cpu = time.perf_counter, time.thread_time
            start, start_cpu = clock(), cpu()
            os_before, os_cpu_before = st.os_s, st.os_cpu_s
            for item in items:
                st.outputs += 1
                src = cause_of(item)
                i = done.get(src)
                if i is None:
                    i = self._waiting.get(src)
                    if i is None:
                        raise RuntimeError(f"bench: an output of an input not in the flow: {src}")
                    done[src] = i
                value = item.value
                if item.topic == self.topics.oppdrag and value is not None:
                    st.oppdrag += 1
                    st.lines += value.count(LINE_TAG)
                    t0, c0 = clock(), cpu()
                    kvitteringer = self.answer(value)
                    st.os_cpu_s += cpu() - c0
                    st.os_s += clock() - t0
                    for receipt in receipt_inputs(self.topics, item, kvitteringer):
                        receipt = self._offsets.number(receipt)
                        self._receipts.append(receipt)
                        self._waiting[input_id(receipt)] = i
                        self._busy[i] += 1
                        st.receipts += 1
                        if b"<alvorlighetsgrad>00" not in (receipt.value or b""):
                            st.rejected_by_os += 1
                elif item.topic == self.topics.status and value is not None:
                    if b'"FEILET"' in value:
                        st.feilet += 1
                    elif b'"MOTTATT","detaljer":null' in value:
                        st.waited += 1
            for src, i in done.items():
                del self._waiting[src]
                self._busy[i] -= 1
                if self._busy[i] == 0 and self._remaining[i] > 0:
                    self._ready.append(i)
            if done:
                self._last_progress = time.monotonic()
            st.loop_s += clock() - start - (st.os_s - os_before)
            st.loop_cpu_s += cpu() - start_cpu - (st.os_cpu_s - os_cpu_before)
            if self._drained() and not any(self._remaining):
                self._end_phase()


# ---------------------------------------------------------------------------------------------
# State size, read back from the recovery store


@dataclass(frozen=True, slots=True)
class StateSize:
    saker: int
    active_uids: int
    uids: int  # stopped ones included (kept so a stopped chain can be resumed)
    bytes: int  # pickled SakState, as snapshotted, summed over saker
    snapshot_rows: int  # snapshot rows left in the store (older epochs are pruned by Bytewax)
    pickle_s: float  # time to pickle every sak's latest state once (what one snapshot costs)

    @property
    def per_active_uid(self) -> float:
        return self.bytes / self.active_uids if self.active_uids else 0.0

    @property
    def pickle_us_per_sak(self) -> float:
        return self.pickle_s / self.saker * 1e6 if self.saker else 0.0


def state_size(recovery_dir: Path, step: str = "helved.sak.") -> StateSize:
    """The latest snapshot of every sak in the recovery store: its bytes as Bytewax stored them
    (a pickled `SakState`), and its uids."""
    latest: dict[str, tuple[int, bytes]] = {}
    rows_kept = 0
    for part in sorted(recovery_dir.glob("*.sqlite3")):
        con = sqlite3.connect(part)
        try:
            rows = con.execute(
                "SELECT state_key, snap_epoch, ser_change FROM snaps WHERE step_id LIKE ?", (step + "%",)
            ).fetchall()
        finally:
            con.close()
        rows_kept += len(rows)
        for key, epoch, ser in rows:
            if ser is not None and (key not in latest or latest[key][0] < epoch):
                latest[key] = (epoch, ser)
    saker = active = uids = size = 0
    states: list[SakState] = []
    for _, ser in latest.values():
        state = pickle.loads(ser)
        if not isinstance(state, SakState):
            continue
        states.append(state)
        saker += 1
        size += len(ser)
        active += len(state.active_uids)
        uids += len(state.confirmed)
    t0 = time.perf_counter()
    for state in states:
        pickle.dumps(state)
    return StateSize(saker, active, uids, size, rows_kept, time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------


@dataclass
class InprocessRun:
    phases: list[PhaseStats]
    state: StateSize
    workers: int
    snapshot_s: float
    os: str


def run_inprocess(
    saker: list[SakHistory],
    phases: list[tuple[str, int]],
    *,
    workers: int = 1,
    batch: int = 256,
    snapshot_s: float = SNAPSHOT_S,
    os: str = "emulator",
    topics: Topics | None = None,
) -> InprocessRun:
    """Run the real flow over the saker's decisions, phase by phase, with recovery on.
    `os` is "emulator" (real verdicts, its time taken out) or "echo" (accepts all, no cost)."""
    topics = topics or Topics()
    loop = BenchLoop(topics, saker, phases, OS_KINDS[os](), batch=batch)
    with tempfile.TemporaryDirectory(prefix="helved-bench-") as tmp:
        recovery = Path(tmp)
        init_db_dir(recovery, workers)
        run_loop(loop, topics, epoch=timedelta(seconds=snapshot_s), workers=workers, recovery=recovery)
        size = state_size(recovery)
    return InprocessRun(loop.stats, size, workers, snapshot_s, os)
