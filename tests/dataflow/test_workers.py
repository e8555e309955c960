"""Scale out: several workers, several processes and rescaling give the same results as one worker.

The reference is a one-worker run driven by `helved.flow.driver.Chunks`: each chunk of input ends with an
EOF, the flow runs to that EOF and the next run resumes from the recovery snapshot, and every
Oppdrag a chunk produced is answered by a kvittering in the next chunk. The reference's whole
input list (requests, the kvitteringer it fed, the EOF markers) is then replayed, unchanged, on
other cluster shapes. Running chunk by chunk keeps every receipt after the processing of its
Oppdrag's request whatever the worker count, as OS guarantees in production (a receipt is only
made once the Oppdrag is out). A run "gives the same results" when, for every sak, its records
are the same bytes in the same order, and the confirmed state (the compacted topics folded by
key) is the same; records of different saker may interleave differently.

`TestingSource` reads on one worker only; the keyed `sak` step and everything after it run on
the worker that owns the sak. A custom sink records which worker wrote each record, which
shows the saker spread over the workers, and every sak's records, receipts' effects included,
coming from one worker: receipts are routed to the worker that owns the sak.
"""

from __future__ import annotations

import multiprocessing
import re
import socket
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSource, cluster_main

from helved.flow import build_flow
from helved.flow.driver import Chunks, RecordingSink
from helved.oppdrag.xml import echo_kvittering
from helved.records import InRecord, OutRecord
from tests.builders import TOPICS, days, dp, request_record

MP1 = days("mp1", "2025-08-04", "2025-08-08", 1000)
MP2 = days("mp2", "2025-08-18", "2025-08-22", 1000)
MP3 = days("mp3", "2025-09-01", "2025-09-05", 1000)

Feed = list[Any]  # InRecord | TestingSource.EOF
Written = tuple[int, int, OutRecord]  # (run number, worker index, record)

# Records only the keyed `sak` step writes: they come from the worker that owns the sak.
SAK_STEP_TOPICS = frozenset({TOPICS.oppdrag, TOPICS.pending, TOPICS.utbetalinger, TOPICS.saker})

# A kvittering for a sak helved never sent anything for.
STRANGER = (
    b'<?xml version="1.0"?><oppdrag xmlns="http://www.trygdeetaten.no/skjema/oppdrag"><mmel>'
    b"<alvorlighetsgrad>00</alvorlighetsgrad></mmel><oppdrag-110><kodeFagomraade>DP</kodeFagomraade>"
    b"<fagsystemId>SAK-99</fagsystemId><avstemming-115><nokkelAvstemming>2025-08-18-09.30.00.000000"
    b"</nokkelAvstemming></avstemming-115></oppdrag-110></oppdrag>"
)


# ---------------------------------------------------------------------------------------------
# The flow, with a sink that remembers the worker (`RecordingSink`)


def _flow(feed: Feed, out: list[tuple[int, OutRecord]]) -> Dataflow:
    return build_flow(TestingSource(feed), RecordingSink(out), TOPICS)


def _recovery(path: Path, parts: int) -> Path:
    path.mkdir(parents=True)
    init_db_dir(path, parts)
    return path


def _eofs(feed: Feed) -> int:
    return sum(isinstance(item, TestingSource.EOF) for item in feed)


# ---------------------------------------------------------------------------------------------
# The scenario and the one-worker reference


def scenario() -> list[list[InRecord]]:
    """Chunks of requests for several saker. In a chunk a sak has its requests from one place
    only (the routing step, or the sak step), so its records come from one worker in order."""

    def req(msg: Any, key: str) -> InRecord:
        return request_record(msg, key=key)

    saker = [f"SAK-{n}" for n in range(1, 7)]
    first = [req(dp(MP1, sak=s), f"{s}/1") for s in saker]
    first += [req(b"garbage", "x1"), InRecord(TOPICS.kvittering, "x2", STRANGER, (), 0, 0, None)]
    second = [req(dp(MP1, MP2, sak=s, behandling="B-2"), f"{s}/2") for s in saker if s != "SAK-5"]
    second += [
        req(dp(MP1, MP2, MP3, sak="SAK-2", behandling="B-3"), "SAK-2/3"),  # waits behind SAK-2/2
        req(dp(MP1, MP2, sak="SAK-5", dryrun=True), "SAK-5/sim"),
        req(dp(MP1, sak="SAK-7", saksbehandler="dagpenger"), "SAK-7/1"),  # rejected by a rule
    ]
    third = [
        req(dp(MP2, sak="SAK-1", behandling="B-3"), "SAK-1/3"),  # stops mp1
        req(dp(MP1, MP2, sak="SAK-3", behandling="B-3"), "SAK-3/3"),  # again, after a rejection
        req(dp(MP1, MP2, sak="SAK-4", behandling="B-2"), "SAK-4/again"),  # no change
        req(dp(sak="SAK-6", behandling="B-3"), "SAK-6/3"),  # stops everything
        req(dp(MP1, MP3, sak="SAK-5", behandling="B-2"), "SAK-5/2"),
    ]
    return [first, second, third]


def answer(seen: dict[str, int]) -> Callable[[OutRecord], list[bytes]]:
    """OS: SAK-3's second Oppdrag is rejected (08), SAK-4's get a warning (04), the rest 00."""

    def kvittering(rec: OutRecord) -> list[bytes]:
        assert rec.value is not None
        sak = _fagsystem_id(rec.value)
        n = seen[sak] = seen.get(sak, 0) + 1
        code = "08" if (sak, n) == ("SAK-3", 2) else "04" if sak == "SAK-4" else "00"
        return [echo_kvittering(rec.value, code, None if code == "00" else f"melding {code}")]

    return kvittering


@dataclass
class Reference:
    feed: Feed
    written: list[Written]

    @property
    def outputs(self) -> list[OutRecord]:
        return [rec for _, _, rec in self.written]


def run_reference(tmp: Path, chunks: Iterable[Sequence[InRecord]] | None = None) -> Reference:
    """One worker, OS answering between chunks until nothing is left to answer."""
    loop = Chunks(TOPICS, tmp / "reference", answer({}))
    for chunk in chunks if chunks is not None else scenario():
        loop.drive(chunk)
    return Reference(loop.feed, loop.written)


# ---------------------------------------------------------------------------------------------
# Other cluster shapes over the same input


def run_in_process(feed: Feed, recovery: Path, workers: int, runs: range, out: list[Written]) -> None:
    """Runs number `runs` (1-based: run n ends at the n-th EOF) with `workers` threads."""
    sink: list[tuple[int, OutRecord]] = []
    flow = _flow(feed, sink)
    for run in runs:
        before = len(sink)
        cluster_main(
            flow,
            [],
            0,
            epoch_interval=timedelta(0),
            recovery_config=RecoveryConfig(recovery),
            worker_count_per_proc=workers,
        )
        out.extend((run, w, rec) for w, rec in sink[before:])


def _process_main(
    feed: Feed, addresses: list[str], proc_id: int, workers: int, recovery: str, runs: range, queue: Any
) -> None:
    """One process of a cluster (the body of a pod); sends back what its workers wrote."""
    try:
        sink: list[tuple[int, OutRecord]] = []
        written: list[Written] = []
        flow = _flow(feed, sink)
        for run in runs:
            if proc_id:
                # Process 0 listens and the others connect; a connection refused costs Timely a
                # one-second retry, so let process 0 bind first.
                time.sleep(0.1)
            before = len(sink)
            cluster_main(
                flow,
                addresses,
                proc_id,
                epoch_interval=timedelta(0),
                recovery_config=RecoveryConfig(Path(recovery)),
                worker_count_per_proc=workers,
            )
            written.extend((run, w, rec) for w, rec in sink[before:])
        queue.put((proc_id, written, None))
    except BaseException as exc:
        queue.put((proc_id, [], repr(exc)))


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def run_processes(
    feed: Feed, recovery: Sequence[Path], workers: int, runs: range, out: list[Written], timeout_s: float = 120
) -> None:
    """One OS process per recovery directory (as one pod per volume), all on 127.0.0.1."""
    addresses = [f"127.0.0.1:{port}" for port in _free_ports(len(recovery))]
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_process_main, args=(feed, addresses, i, workers, str(d), runs, queue), daemon=True)
        for i, d in enumerate(recovery)
    ]
    for p in procs:
        p.start()
    results = []
    try:
        deadline = time.monotonic() + timeout_s
        for _ in procs:
            results.append(queue.get(timeout=max(1.0, deadline - time.monotonic())))
    finally:
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join()
    errors = [(i, err) for i, _, err in results if err]
    assert not errors, f"cluster processes failed: {errors}"
    merged: list[Written] = []
    for _, written, _ in sorted(results, key=lambda r: r[0]):
        merged.extend(written)
    # A stable sort by run keeps each worker's order; runs follow each other.
    out.extend(sorted(merged, key=lambda item: item[0]))


# ---------------------------------------------------------------------------------------------
# Comparing


def _fagsystem_id(xml: bytes) -> str:
    found = re.search(rb"<fagsystemId>([^<]*)</fagsystemId>", xml)
    return found.group(1).decode() if found else "-"


def _sak_of(rec: InRecord) -> str:
    if rec.topic == TOPICS.kvittering:
        return _fagsystem_id(rec.value or b"")
    try:
        value = orjson.loads(rec.value or b"")
    except orjson.JSONDecodeError:
        return "-"
    return value.get("sakId", "-") if isinstance(value, dict) else "-"


def _cause(rec: OutRecord) -> tuple[str, int, int]:
    topic, partition, offset = (rec.header(h) for h in ("src-topic", "src-partition", "src-offset"))
    assert topic is not None and partition is not None and offset is not None, rec
    return topic.decode(), int(partition), int(offset)


def by_sak(feed: Feed, written: Iterable[Written]) -> dict[str, list[OutRecord]]:
    """Every output record under the sak of the input that caused it, in the order written."""
    sak_of = {(r.topic, r.partition, r.offset): _sak_of(r) for r in feed if isinstance(r, InRecord)}
    groups: dict[str, list[OutRecord]] = defaultdict(list)
    for _, _, rec in written:
        groups[sak_of[_cause(rec)]].append(rec)
    return dict(groups)


def confirmed_state(written: Iterable[Written]) -> dict[tuple[str, str | None], bytes | None]:
    """The compacted topics as a consumer sees them in the end: the last value per key."""
    state: dict[tuple[str, str | None], bytes | None] = {}
    for _, _, rec in written:
        if rec.topic in (TOPICS.utbetalinger, TOPICS.saker, TOPICS.pending):
            state[(rec.topic, rec.key)] = rec.value
    return state


def owners(feed: Feed, written: Iterable[Written]) -> dict[str, set[int]]:
    """Per sak, the workers that wrote records only the `sak` step writes."""
    sak_of = {(r.topic, r.partition, r.offset): _sak_of(r) for r in feed if isinstance(r, InRecord)}
    found: dict[str, set[int]] = defaultdict(set)
    for _, worker, rec in written:
        if rec.topic in SAK_STEP_TOPICS:
            found[sak_of[_cause(rec)]].add(worker)
    return dict(found)


def assert_same_results(ref: Reference, written: list[Written]) -> None:
    got, want = by_sak(ref.feed, written), by_sak(ref.feed, ref.written)
    assert sorted(got) == sorted(want)
    for sak in want:
        assert got[sak] == want[sak], f"the records of {sak} differ"
    assert confirmed_state(written) == confirmed_state(ref.written)
    assert sorted(map(repr, (r for _, _, r in written))) == sorted(map(repr, ref.outputs))


def assert_receipts_reach_the_owner(feed: Feed, written: list[Written], workers: int) -> None:
    per_sak = owners(feed, written)
    for sak, ws in per_sak.items():
        assert len(ws) == 1, f"{sak} was handled by workers {sorted(ws)}"
    used = {w for ws in per_sak.values() for w in ws}
    assert len(used) >= 2, f"the saker all went to workers {sorted(used)} of {workers}"


# ---------------------------------------------------------------------------------------------
# The tests


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    ref = run_reference(tmp_path_factory.mktemp("workers"))
    outputs = ref.outputs
    statuses = defaultdict(list)
    for rec in outputs:
        if rec.topic == TOPICS.status and rec.value is not None:
            statuses[rec.key].append(orjson.loads(rec.value)["status"])
    # The scenario is not vacuous: several rounds of Oppdrag and receipts, a queued request,
    # a rejection by OS, a dryrun, an invalid record and a stray receipt.
    assert sum(r.topic == TOPICS.oppdrag for r in outputs) >= 12
    assert statuses["SAK-1/1"] == ["MOTTATT", "OK"]
    assert statuses["SAK-2/3"] == ["MOTTATT", "MOTTATT", "OK"]  # waits, then released by a receipt
    assert statuses["SAK-3/2"] == ["MOTTATT", "FEILET"] and statuses["SAK-3/3"] == ["MOTTATT", "OK"]
    assert statuses["SAK-4/again"] == ["OK"]
    assert statuses["x1"] == ["FEILET"] and statuses["SAK-7/1"] == ["FEILET"]
    assert any(r.topic == TOPICS.simuleringer for r in outputs)
    assert any((r.header("error") or b"").startswith(b"UNMATCHED_KVITTERING") for r in outputs)
    assert len({repr(r) for r in outputs}) == len(outputs), "clean EOF runs replay nothing"
    assert _eofs(ref.feed) >= 6
    return ref


def test_one_worker_again_gives_the_reference(reference, tmp_path):
    """The fixed input list stands in for OS: replayed on one worker it gives the same records."""
    out: list[Written] = []
    run_in_process(reference.feed, _recovery(tmp_path / "r", 1), 1, range(1, _eofs(reference.feed) + 1), out)
    assert [r for _, _, r in out] == reference.outputs


@pytest.mark.parametrize("workers", [2, 3])
def test_several_workers_in_one_process(reference, tmp_path, workers):
    out: list[Written] = []
    run_in_process(
        reference.feed, _recovery(tmp_path / "r", workers), workers, range(1, _eofs(reference.feed) + 1), out
    )
    assert_same_results(reference, out)
    assert_receipts_reach_the_owner(reference.feed, out, workers)


def test_two_processes(reference, tmp_path):
    """Two OS processes with a worker each, talking over TCP on 127.0.0.1 (as two pods)."""
    recovery = _recovery(tmp_path / "r", 2)
    out: list[Written] = []
    run_processes(reference.feed, [recovery, recovery], 1, range(1, _eofs(reference.feed) + 1), out)
    assert_same_results(reference, out)
    assert_receipts_reach_the_owner(reference.feed, out, 2)


def _midway(ref: Reference) -> int:
    """A run after which Oppdrag are in flight: the state that moves holds pending Oppdrag."""
    with_oppdrag = sorted({run for run, _, rec in ref.written if rec.topic == TOPICS.oppdrag})
    run = with_oppdrag[len(with_oppdrag) // 2]
    assert any(rec.topic == TOPICS.pending and rec.value is not None for r, _, rec in ref.written if r == run)
    return run


@pytest.mark.parametrize(("before", "after"), [(1, 2), (2, 1), (3, 2)])
def test_rescale_from_the_same_recovery_directory(reference, tmp_path, before, after):
    """Stop with Oppdrag in flight, resume on another worker count from the same recovery
    partitions: each sak's state, pending Oppdrag included, moves to its new owner."""
    recovery = _recovery(tmp_path / "r", 3)
    cut, last = _midway(reference), _eofs(reference.feed)
    out: list[Written] = []
    run_in_process(reference.feed, recovery, before, range(1, cut + 1), out)
    run_in_process(reference.feed, recovery, after, range(cut + 1, last + 1), out)
    assert_same_results(reference, out)


def test_the_kubernetes_layout_then_scale_down(reference, tmp_path):
    """As `k8s/base` lays out recovery: every partition on pod 0's volume, an empty volume on
    pod 1. Two processes run, then the cluster shrinks to one process with two workers (pod 1
    and its volume are gone) and goes on from the same snapshots."""
    pod0 = _recovery(tmp_path / "pod-0", 4)
    pod1 = tmp_path / "pod-1"
    pod1.mkdir()
    cut, last = _midway(reference), _eofs(reference.feed)
    out: list[Written] = []
    run_processes(reference.feed, [pod0, pod1], 1, range(1, cut + 1), out)
    assert list(pod1.iterdir()) == []  # nothing is ever written on a volume without partitions
    run_in_process(reference.feed, pod0, 2, range(cut + 1, last + 1), out)
    assert_same_results(reference, out)


def realistic_chunks(saker: int, decisions: int) -> list[list[InRecord]]:
    """The benchmark's seeded dagpenger traffic (whole sak every time, corrections, stops,
    ferietillegg), one decision of every sak per chunk."""
    from helved.bench.traffic import histories

    hs = histories(saker, 7, TOPICS)
    return [[h.next_decision().record for h in hs] for _ in range(decisions)]


@pytest.mark.parametrize(("before", "after"), [(3, 3), (1, 3)])
def test_realistic_traffic_on_three_workers_and_after_rescaling(tmp_path, before, after):
    """Traffic shaped like production (many saker, realistic histories) instead of the hand-made
    scenario: three workers give the one-worker records per sak, from the start or after a stop
    and resume from one worker's snapshots."""
    ref = run_reference(tmp_path / "ref", realistic_chunks(saker=30, decisions=4))
    oppdrag = [r for r in ref.outputs if r.topic == TOPICS.oppdrag]
    assert len(oppdrag) >= 30 * 3, "the traffic is not vacuous: several Oppdrag per sak"
    assert any(b"<kodeStatusLinje>OPPH</kodeStatusLinje>" in (r.value or b"") for r in oppdrag)
    recovery = _recovery(tmp_path / "r", 3)
    cut, last = _midway(ref), _eofs(ref.feed)
    out: list[Written] = []
    run_in_process(ref.feed, recovery, before, range(1, cut + 1), out)
    run_in_process(ref.feed, recovery, after, range(cut + 1, last + 1), out)
    assert_same_results(ref, out)
    if before == after:
        assert_receipts_reach_the_owner(ref.feed, out, after)
