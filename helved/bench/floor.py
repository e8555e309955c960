"""The per-message floor: what every request costs before any dataflow, state store or receipt.

Per request: decode, validate and split the record (`parse_raw`, the incremental reader the
intake stage uses, else `orjson.loads` + `parse_request` as the intake stage does), diff it against
the sak's confirmed state (`plan_request`, which builds the Oppdrag value) and serialise the
Oppdrag XML (`oppdrag_xml`). Nothing else: no statuses, no pending or confirmed records, no
receipt. The confirmed state is then advanced as if OS had accepted the Oppdrag, so the next
request of the sak is diffed as the pipeline would diff it. The pipeline cannot go below this.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

import orjson

from helved.domain.diff import plan_request
from helved.domain.model import LinjeKind, Oppdrag, Request, Utbetaling
from helved.errors import RequestRejected
from helved.fagsystemer.dagpenger import parse_request
from helved.flow.incremental import parse_raw
from helved.oppdrag.xml import oppdrag_xml
from helved.oslo import oslo_wall_time

from .traffic import Decision


@dataclass(slots=True)
class _Sak:
    confirmed: dict[str, Utbetaling] = field(default_factory=dict)
    seq: int = 0
    accepted: frozenset[str] = frozenset()


@dataclass(slots=True)
class FloorResult:
    requests: int = 0
    oppdrag: int = 0
    lines: int = 0
    meldeperioder: int = 0  # summed over the messages
    days: int = 0
    bytes_in: int = 0
    parse_s: float = 0.0
    diff_s: float = 0.0
    xml_s: float = 0.0
    cpu_s: float = 0.0  # thread CPU time of the timed chunks (parse + diff + xml + timing)
    rejected: int = 0
    actions: Counter[str] = field(default_factory=Counter)  # CREATE/UPDATE/DELETE per utbetaling
    line_kinds: Counter[str] = field(default_factory=Counter)  # NY (new chain), NY (chained), OPPH
    no_change: int = 0

    @property
    def seconds(self) -> float:
        """Wall time of parse + diff + xml."""
        return self.parse_s + self.diff_s + self.xml_s

    @property
    def cpu_share(self) -> float:
        """CPU time per wall second of the timed stages (1.0 on a quiet machine)."""
        return min(self.cpu_s / self.seconds, 1.0) if self.seconds > 0 and self.cpu_s > 0 else 1.0


def plan_all(decisions: Iterable[Decision]) -> Iterator[Oppdrag | None]:
    """The Oppdrag each decision produces (None: nothing to send), every one accepted by OS."""
    saker: dict[int, _Sak] = {}
    for d in decisions:
        rec = d.record
        assert rec.value is not None and rec.timestamp_ms is not None
        req = _parse(rec.value, rec.key, rec.timestamp_ms)
        sak = saker.setdefault(d.sak, _Sak())
        plan = plan_request(req, sak.confirmed, seq=sak.seq, accepted=sak.accepted)
        if plan.oppdrag is not None:
            _accept(sak, plan.oppdrag, plan.pending)
        yield plan.oppdrag


def _parse(value: bytes, key: str | None, timestamp_ms: int) -> Request:
    """What the intake stage does with a dagpenger record: the incremental reader, else the full
    path (which raises `RequestRejected` for a broken rule)."""
    at = oslo_wall_time(timestamp_ms)
    req = parse_raw(value, original_key=key, avstemming=at)
    if req is None:
        req = parse_request(orjson.loads(value), original_key=key, avstemming=at)
    return req


def _accept(sak: _Sak, oppdrag: Oppdrag, pending: tuple[Utbetaling, ...]) -> None:
    for u in pending:
        sak.confirmed[u.uid] = u
    sak.seq += 1
    sak.accepted = sak.accepted | {oppdrag.fagområde}


CHUNK = 500  # decisions generated ahead, untimed (bounded memory: messages grow with history)


def run_floor(
    decisions: Iterable[Decision], result: FloorResult | None = None, saker: dict[int, _Sak] | None = None
) -> FloorResult:
    """Time parse, diff and XML for every decision, in order. `saker` carries state between calls
    (a warm-up, then a timed call).

    Decisions are generated a chunk at a time outside the timed region. Each stage is timed
    with `perf_counter`; the chunk as a whole also with the thread's CPU time, so that
    `cpu_s` (the per-core figure) does not count time this process spent descheduled while
    other processes ran.
    """
    res = result or FloorResult()
    state = saker if saker is not None else {}
    it = iter(decisions)
    while chunk := list(islice(it, CHUNK)):
        cpu0 = time.thread_time()
        _run_chunk(chunk, res, state)
        res.cpu_s += time.thread_time() - cpu0
    return res


def _run_chunk(chunk: list[Decision], res: FloorResult, state: dict[int, _Sak]) -> None:
    clock = time.perf_counter
    for d in chunk:
        rec = d.record
        assert rec.value is not None and rec.timestamp_ms is not None
        sak = state.get(d.sak)
        if sak is None:
            sak = state[d.sak] = _Sak()
        t0 = clock()
        try:
            req = _parse(rec.value, rec.key, rec.timestamp_ms)
        except RequestRejected:
            res.parse_s += clock() - t0
            res.rejected += 1
            continue
        t1 = clock()
        try:
            plan = plan_request(req, sak.confirmed, seq=sak.seq, accepted=sak.accepted)
        except RequestRejected:
            res.diff_s += clock() - t1
            res.rejected += 1
            continue
        t2 = clock()
        if plan.oppdrag is not None:
            oppdrag_xml(plan.oppdrag)
        t3 = clock()
        res.parse_s += t1 - t0
        res.diff_s += t2 - t1
        res.xml_s += t3 - t2
        res.requests += 1
        res.meldeperioder += d.meldeperioder
        res.days += d.days
        res.bytes_in += len(rec.value)
        if plan.oppdrag is None:
            res.no_change += 1
            continue
        res.oppdrag += 1
        res.lines += len(plan.oppdrag.linjer)
        for u in plan.pending:
            res.actions[u.action.value if u.action else "?"] += 1
        for ln in plan.oppdrag.linjer:
            if ln.kind is LinjeKind.OPPH:
                res.line_kinds["OPPH"] += 1
            else:
                res.line_kinds["NY chained" if ln.ref_delytelse_id else "NY first"] += 1
        _accept(sak, plan.oppdrag, plan.pending)
