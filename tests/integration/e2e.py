"""Shared by the end-to-end tests: topic isolation, a status watcher, the crash scenario's inputs
and the comparison of a crashed run with the crash-free reference."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

from helved.config import Settings
from helved.demo import decision, meldeperiode
from helved.devstack import Stack, wait_until
from helved.kafka import EmbeddedBroker, ReliableProducer
from helved.kafka.consumer import read_all
from helved.kafka.partitioner import key_in_same_partition
from helved.os.bridge import HOS_OPPDRAG
from helved.records import InRecord, OutRecord
from helved.views.status import StatusLog

WAIT_S = 30.0


def fresh_settings(broker: EmbeddedBroker, name: str) -> Settings:
    return dataclasses.replace(
        Settings.from_env({}),
        bootstrap_servers=broker.bootstrap,
        topic_prefix=f"{name}-{uuid.uuid4().hex[:6]}.",
    )


class Watch:
    """Everything on some topics, read as it arrives (statuses deduplicated in `log`)."""

    def __init__(self, stack: Stack, topics: list[str]) -> None:
        from helved.kafka.consumer import Follower

        self.stack = stack
        self.follower = Follower(stack.settings, topics)
        self.topics = list(topics)
        self.records: list[InRecord] = []
        self.log = StatusLog()

    def pump(self) -> None:
        for rec in self.follower.poll(0.05):
            self.records.append(rec)
            if rec.topic == self.stack.settings.topics.status:
                self.log.add(rec)

    def until(self, predicate: Any, what: str, timeout_s: float = WAIT_S, *, check: bool = True) -> None:
        """Read until `predicate()`; with `check`, fail at once if a part of the stack stopped."""

        def done() -> bool:
            self.pump()
            return bool(predicate())

        wait_until(done, timeout_s, what, interval_s=0.0, check=self.stack.check if check else None)

    def all_final(self, keys: list[str]) -> bool:
        return all(self.log.final(k) is not None for k in keys)

    def sent_to_os(self, keys: list[str]) -> int:
        """How many of `keys` have their Oppdrag on the Oppdrag topic (which the watch must follow).
        Not the MOTTATT with lines: the sink produces a batch's statuses before its Oppdrag, so
        that status can be read while the Oppdrag is not yet written."""
        oppdrag = self.stack.settings.topics.oppdrag
        assert oppdrag in self.topics, "sent_to_os needs the watch to follow the Oppdrag topic"
        sent = {r.key for r in self.records if r.topic == oppdrag}
        return sum(1 for k in keys if k in sent)

    def oks(self, keys: list[str]) -> int:
        return sum(1 for k in keys if (self.log.final(k) or {}).get("status") == "OK")

    def close(self) -> None:
        self.follower.close()


def send(settings: Settings, records: list[OutRecord]) -> None:
    with ReliableProducer(settings) as producer:
        for r in records:
            producer.send(r)


# ---------------------------------------------------------------------------------------------
# Crashes: the inputs, and the comparison with the crash-free reference


def restart_inputs(settings: Settings, saker: int = 8) -> list[OutRecord]:
    """`saker` saker × (new, change, partial stop) in one partition per sak, plus 2 invalid ones."""
    topic = settings.topics.dagpenger
    out: list[OutRecord] = []
    ts = 1_755_502_200_000
    for n in range(saker):
        sak = f"R-{n}"
        first = f"r{n}-1"
        second = key_in_same_partition(f"r{n}-2", first, settings.partitions)
        third = key_in_same_partition(f"r{n}-3", first, settings.partitions)
        beløp = 500 + 100 * n
        msgs = [
            (first, decision(sak, "B-1", "2025-08-18T09:30:00", meldeperiode("2025-08-04", beløp))),
            (
                second,
                decision(
                    sak,
                    "B-2",
                    "2025-09-01T09:30:00",
                    meldeperiode("2025-08-04", beløp, changes={"2025-08-06": beløp // 2})
                    + meldeperiode("2025-08-18", beløp),
                ),
            ),
            (third, decision(sak, "B-3", "2025-09-02T09:30:00", meldeperiode("2025-08-18", beløp))),
        ]
        for i, (key, msg) in enumerate(msgs):
            out.append(OutRecord(topic, key, orjson.dumps(msg), (), ts + 1000 * (3 * n + i)))
    out.append(OutRecord(topic, "bad-1", b"{not json", (), ts + 50_000))
    out.append(OutRecord(topic, "bad-2", orjson.dumps(decision("R-x", "", "2025-08-18T09:30:00", [])), (), ts + 51_000))
    return out


def wave(inputs: list[OutRecord], step: int) -> list[OutRecord]:
    """The `step`-th decision (1, 2, 3) of every sak of `restart_inputs` (by position: the keys
    of later decisions are chosen for their partition and may end in any digit)."""
    saker = (len(inputs) - 2) // 3
    return [inputs[3 * n + step - 1] for n in range(saker)]


def _parts(recovery_dir: Path) -> list[sqlite3.Connection]:
    return [
        sqlite3.connect(f"file:{part}?mode=ro", uri=True, timeout=5)
        for part in sorted(recovery_dir.glob("part-*.sqlite3"))
    ]


def resume_epoch(recovery_dir: Path) -> int:
    """The epoch a cluster would resume from now: the lowest frontier any worker of the latest
    run has written to the recovery partitions (0 before every worker wrote one). Bytewax's
    `commits` table is its garbage collection mark (it lags by the backup interval), not this."""
    fronts: list[tuple[int, int, int]] = []
    for db in _parts(recovery_dir):
        with contextlib.closing(db):
            fronts.extend(db.execute("SELECT ex_num, worker_index, worker_frontier FROM fronts").fetchall())
    runs = executions_raw(recovery_dir)
    if not runs:
        return 0
    latest, workers, _ = max(runs)
    mine = {worker: frontier for ex, worker, frontier in fronts if ex == latest}
    return min(mine.values()) if len(mine) == workers else 0


def executions_raw(recovery_dir: Path) -> list[tuple[int, int, int]]:
    """(run number, total workers, resume epoch) of every run, in order."""
    runs: list[tuple[int, int, int]] = []
    for db in _parts(recovery_dir):
        with contextlib.closing(db):
            runs.extend(db.execute("SELECT ex_num, worker_count, resume_epoch FROM exs").fetchall())
    return sorted(runs)


def executions(recovery_dir: Path) -> list[tuple[int, int]]:
    """Every run Bytewax recorded in the recovery partitions, in order: (total workers, epoch
    it resumed from)."""
    return [(workers, epoch) for _, workers, epoch in executions_raw(recovery_dir)]


def wait_for_run(stack: Stack, number: int) -> None:
    """Until Bytewax has recorded run `number` (1 = the first) in the recovery partitions: a
    (re)started pipeline has resumed, rather than merely been launched."""
    wait_until(
        lambda: len(executions(stack.recovery_dir)) >= number,
        WAIT_S,
        f"run {number} of the pipeline resumed",
        check=stack.check,
    )


def wait_for_a_snapshot(stack: Stack) -> None:
    """Until every worker has written a snapshot taken after this call: what the flow has done
    so far survives a crash, and the next start resumes from there."""
    now = resume_epoch(stack.recovery_dir)
    wait_until(
        lambda: resume_epoch(stack.recovery_dir) >= now + 2,
        WAIT_S,
        "a snapshot written by every worker",
        check=stack.check,
    )


def wait_for_the_bridge(stack: Stack) -> None:
    """Until the bridge has handed over every distinct Oppdrag on the topic (the replayed
    outputs of the last restart settled)."""
    topics = stack.settings.topics
    wait_until(
        lambda: stack.handed_over == len({r.value for r in read_all(stack.settings, [topics.oppdrag])}),
        WAIT_S,
        "the bridge caught up",
        check=stack.check,
    )


def assert_as_without_crashes(stack: Stack, watch: Watch, inputs: list[OutRecord], *, saker: int = 8) -> list[InRecord]:
    """Everything the stack wrote compared with the same inputs through the flow in-process, OS
    answering at once, no crash: the same final statuses, the same Oppdrag each handed to OS
    exactly once, the same payments, and no record the crash-free run never produces. Returns
    the Oppdrag records read (replays included)."""
    from helved.emulator import OsEmulator
    from helved.emulator.replay import emulator_answer
    from helved.replay import replay_records

    topics = stack.settings.topics
    keys = [r.key for r in inputs if r.key is not None]
    everything = read_all(
        stack.settings,
        [
            topics.status,
            topics.oppdrag,
            topics.kvittering,
            topics.pending,
            topics.utbetalinger,
            topics.saker,
            topics.dlq,
        ],
    )
    replies = stack.os.replies

    reference_os = OsEmulator()
    in_records = [InRecord(r.topic, r.key, r.value, r.headers, 0, i, r.timestamp_ms) for i, r in enumerate(inputs)]
    reference = replay_records(in_records, emulator_answer(reference_os), topics)

    # 1. the same final status for every request
    final_ref = {}
    for rec in reference:
        if rec.topic == topics.status and rec.value:
            status = orjson.loads(rec.value)
            if status["status"] in ("OK", "FEILET"):
                final_ref[rec.key] = status
    assert {k: watch.log.final(k) for k in keys} == final_ref
    assert sorted(s["status"] for s in final_ref.values()).count("FEILET") == 2

    # 2. the same Oppdrag, each handed to OS exactly once
    oppdrag = [r for r in everything if r.topic == topics.oppdrag]
    assert {r.value for r in oppdrag} == {r.value for r in reference if r.topic == topics.oppdrag}
    assert len(replies) == len({r.value for r in oppdrag}) == 3 * saker, (len(replies), len({r.value for r in oppdrag}))
    assert not any(reply.replay for reply in replies)
    assert len({r.value for r in everything if r.topic == topics.kvittering}) == 3 * saker

    # 3. what OS pays is what the reference OS pays
    for n in range(saker):
        assert stack.os.paid("DP", f"R-{n}") == reference_os.paid("DP", f"R-{n}")

    # 4. nothing changed: every record is one the crash-free reference also produces for that
    #    key, and every key ends where the reference ends. Only two kinds of record are new:
    #    "MOTTATT, waiting" (after a restart a request may find its sak's Oppdrag in flight) and
    #    unmatched receipts on the DLQ (a receipt read before the replayed request, or twice).
    waiting = orjson.dumps({"status": "MOTTATT", "detaljer": None, "error": None, "simulering": False})
    produced: dict[tuple[str, str | None], list[bytes | None]] = defaultdict(list)
    for rec in reference:
        produced[(rec.topic, rec.key)].append(rec.value)
    last: dict[tuple[str, str | None], bytes | None] = {}
    for r in everything:
        where = (r.topic, r.key)
        if r.topic == topics.kvittering or (r.topic == topics.status and r.value in (HOS_OPPDRAG, waiting)):
            continue
        if r.topic == topics.dlq and (r.header("error") or b"").startswith(b"UNMATCHED_KVITTERING"):
            continue
        assert r.value in produced[where], f"{where}: a value the crash-free run never produced"
        last[where] = r.value
    for where, values in produced.items():
        if where[0] in (topics.utbetalinger, topics.saker, topics.pending, topics.oppdrag):
            assert last.get(where, b"missing") == values[-1], f"{where} does not end as in the crash-free run"
    return oppdrag
