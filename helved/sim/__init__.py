"""A seeded fault simulation of the whole pipeline, in-process (`helved simulate`).

In the spirit of TigerBeetle's VOPR and FoundationDB's simulation testing: the real dataflow
(`helved.flow.build_flow` with the intake link and the changelog, Bytewax recovery on
disk), the real OS bridge core (`helved.os.bridge.OsBridge` with its SQLite journal) and the OS
emulator as OS, over an in-memory broker (`memlog.MemoryLog`). One `random.Random(seed)` decides
everything the world does:

- **senders**: each sak sends whole-sak dagpenger decisions, keyed either by the sak (one
  partition, sent without waiting) or by each decision's own transaction key (any partition),
  waiting for the previous decision's final status before sending the next;
- **the pipeline** runs for a while and may **crash** in any output batch, after any number of
  its records reached the broker; the restart resumes from the last Bytewax snapshot, or, when the
  crash also **lost the recovery volume**, from an empty recovery directory and the changelog;
- **the OS bridge** may crash between handing an Oppdrag over and producing its receipts; OS
  (the emulator) answers 08/12 now and then, **duplicates** receipts, and the bridge's producer
  **delays** and **reorders** them; some seeds also **lose** receipts for good.

After the world has settled, the invariants (`check`) must hold for every sak:
1. OS pays exactly what the sak's last decision with final status OK says;
2. no decision's Oppdrag reached OS twice with different bytes;
3. every decision has one final status (OK or FEILET), consistent with OS's verdict, unless its
   sak is visibly waiting on a named Oppdrag whose receipt OS never sent;
4. the confirmed state on `helved.utbetalinger.v1` pays what OS pays.

A failing seed raises `SimulationFailure` naming the seed and the broken rule, and writes the
seed's input records as a `helved replay` file. Bytewax closes epochs on a wall-clock interval,
so where a crash lands relative to a snapshot can differ between two runs of one seed; the world's
own choices do not.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import orjson
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import run_main

from helved.config import Topics
from helved.domain.model import SakKey
from helved.emulator import Faults, OsEmulator, parse_oppdrag
from helved.emulator.avstemming import AvstemmingDesk
from helved.emulator.gateway import answer_of, avstemming_answer_of
from helved.emulator.ledger import paid as ledger_paid
from helved.errors import HelvedError
from helved.fagsystemer import dagpenger
from helved.flow import IntakeLink, build_flow
from helved.os.bridge import Journal, OsBridge
from helved.os.port import AvstemmingAnswer, SimulationAnswer
from helved.records import InRecord, OutRecord
from helved.sim.memlog import LogSink, LogSource, MemoryLog, SimulatedCrash
from helved.statelog import ChangelogStates

FIRST_MONDAY = date(2025, 1, 6)
WEEKDAYS = (0, 1, 2, 3, 4, 7, 8, 9, 10, 11)
START_MS = 1_736_150_400_000  # 2025-01-06T08:00Z: the simulated clock starts here


class SimulationFailure(HelvedError, AssertionError):
    """An invariant broke: the message names the seed, the rule and a replay file."""


@dataclass(frozen=True)
class World:
    """How hostile the world is (probabilities per opportunity)."""

    saker: int = 4
    decisions: int = 5
    partitions: int = 3
    crash_share: float = 0.5  # per pipeline run
    lose_volume_share: float = 0.3  # per crash: the recovery directory is gone too
    bridge_crash_share: float = 0.1  # per bridge step
    delay_share: float = 0.3  # per receipt: held back, released later, in any order
    faults: Faults = field(
        default_factory=lambda: Faults(reject_share=0.1, error_share=0.05, duplicate_share=0.15, prefix_share=0.2)
    )
    lose_receipts: bool = False  # some receipts never arrive (OS booked the Oppdrag)
    # The design under test; switch parts off to see the simulation catch what they prevent.
    intake_topic: bool = True  # the sak step reads the intake topic (False: the inputs directly)
    changelog: bool = True  # a lost recovery volume restores from the changelog
    # Bytewax epoch lengths to draw from (seconds). A 0 s epoch snapshots all the time; one
    # longer than a run snapshots only when the run reads to its end, so a crash replays the
    # whole run. Short non-zero epochs land wherever the wall clock puts them.
    epochs_s: tuple[float, ...] = (0.0, 0.005, 30.0, 30.0)


@dataclass
class Decision:
    sak: str
    index: int
    key: str
    behandling_id: str
    message: dict[str, Any]
    where: tuple[int, int] | None = None  # (partition, offset) on the request topic


@dataclass
class Sender:
    sak: str
    by_sak: bool  # key every decision by the sak (one partition) and send without waiting
    decisions: list[Decision]
    sent: int = 0


def _message(rng: random.Random, sak: str, n: int, periods: dict[int, int]) -> dict[str, Any]:
    days = []
    for k, amount in sorted(periods.items()):
        start = FIRST_MONDAY + timedelta(days=14 * k)
        label = f"{start.isoformat()}/{(start + timedelta(days=13)).isoformat()}"
        for off in WEEKDAYS:
            d = start + timedelta(days=off)
            days.append(
                {
                    "meldeperiode": label,
                    "dato": d.isoformat(),
                    "sats": 1000,
                    "utbetaltBeløp": amount,
                    "utbetalingstype": "Dagpenger",
                }
            )
    return {
        "sakId": sak,
        "behandlingId": f"B-{n}",
        "ident": "12345678910",
        "vedtakstidspunktet": f"2025-03-{1 + n:02d}T10:00:00",
        "saksbehandler": "Z123456",
        "beslutter": "Z654321",
        "utbetalinger": days,
    }


def _senders(rng: random.Random, world: World) -> list[Sender]:
    out = []
    for s in range(world.saker):
        sak = f"SIM-{s}"
        by_sak = rng.random() < 0.5
        periods: dict[int, int] = {}
        decisions = []
        for n in range(world.decisions):
            # a new meldeperiode, sometimes a correction or a stop of an earlier one
            periods[n] = rng.choice((1000, 800, 600))
            if n > 0 and rng.random() < 0.4:
                k = rng.randrange(n)
                if rng.random() < 0.5:
                    periods[k] = rng.choice((1000, 700, 0))
                else:
                    periods.pop(k, None)
            msg = _message(rng, sak, n, dict(periods))
            key = f"sak-{s}" if by_sak else f"tx-{s}-{n}"
            decisions.append(Decision(sak, n, key, msg["behandlingId"], msg))
        out.append(Sender(sak, by_sak, decisions))
    return out


def expected_paid(message: dict[str, Any]) -> dict[str, dict[date, int]]:
    """What OS should pay for a decision: its paid days (dagpenger's one daily klassekode)."""
    days = {date.fromisoformat(d["dato"]): d["utbetaltBeløp"] for d in message["utbetalinger"] if d["utbetaltBeløp"]}
    klassekode = dagpenger.STØNADER["Dagpenger"].klassekode
    return {klassekode: dict(sorted(days.items()))} if days else {}


# (sak, henvisning) of an Oppdrag as OS reads them; None where the Oppdrag leaves one out.
_Ident = tuple[str | None, str | None]


class _Gateway:
    """OS for the bridge (`helved.os.port.OsGateway`): the emulator, plus what the simulation
    needs to know afterwards."""

    def __init__(self, emulator: OsEmulator, rng: random.Random, lose: bool) -> None:
        self.emulator = emulator
        self.avstemming = AvstemmingDesk()
        self.rng = rng
        self.lose = lose
        self.handed: dict[_Ident, set[bytes]] = {}  # (sak, henvisning) -> Oppdrag bytes
        self.verdicts: dict[_Ident, str] = {}  # (sak, henvisning) -> alvorlighetsgrad
        self.lost: set[_Ident] = set()

    def hand_over(self, oppdrag_xml: bytes) -> list[bytes]:
        o = parse_oppdrag(oppdrag_xml)
        ident = (o.fagsystem_id, o.linjer[0].henvisning)
        self.handed.setdefault(ident, set()).add(oppdrag_xml)
        reply = self.emulator.respond(oppdrag_xml)
        self.avstemming.receive(oppdrag_xml, reply.verdict.alvorlighetsgrad)
        self.verdicts.setdefault(ident, reply.verdict.alvorlighetsgrad)
        receipts = list(reply.kvitteringer)
        if self.lose and reply.verdict.alvorlighetsgrad in ("00", "04") and self.rng.random() < 0.2:
            self.lost.add(ident)
            return []
        return receipts

    def simulate_request(self, simulering_xml: bytes) -> SimulationAnswer:
        return answer_of(self.emulator.simulate_request(simulering_xml))

    def hand_over_avstemming(self, messages: Sequence[bytes]) -> AvstemmingAnswer:
        """As the emulator's service answers (`helved.emulator.gateway.EmulatedOs`); the
        simulation's bridge reads no avstemming topic, so nothing calls it today."""
        return avstemming_answer_of(self.avstemming.check(list(messages)))


class _BridgeProducer:
    """The bridge's producer into the memory log: receipts may be held back (delayed,
    released later in any order); a crash loses what was not flushed, or part of it."""

    def __init__(self, log: MemoryLog, topics: Topics, rng: random.Random, world: World) -> None:
        self.log, self.topics, self.rng, self.world = log, topics, rng, world
        self.unflushed: list[OutRecord] = []
        self.held: list[OutRecord] = []
        self.crash_after: int | None = None

    def send(self, record: OutRecord) -> None:
        if self.crash_after is not None:
            if self.crash_after == 0:
                self.crash_after = None
                for r in self.unflushed[: self.rng.randint(0, len(self.unflushed))]:
                    self.log.append(r)
                self.unflushed = []
                raise SimulatedCrash("the OS bridge died")
            self.crash_after -= 1
        self.unflushed.append(record)

    def flush_or_raise(self, timeout_s: float = 30.0) -> None:
        for r in self.unflushed:
            if r.topic == self.topics.kvittering and self.rng.random() < self.world.delay_share:
                self.held.append(r)
            else:
                self.log.append(r)
        self.unflushed = []

    def release(self, everything: bool = False) -> int:
        self.rng.shuffle(self.held)
        n = len(self.held) if everything else self.rng.randint(0, len(self.held))
        for r in self.held[:n]:
            self.log.append(r)
        self.held = self.held[n:]
        return n


@dataclass
class Outcome:
    seed: int
    decisions: int
    crashes: int
    volumes_lost: int
    bridge_crashes: int
    oppdrag: int
    replay_file: Path | None = None
    notes: list[str] = field(default_factory=list)


class Simulation:
    def __init__(self, seed: int, workdir: Path, world: World = World()) -> None:
        self.seed = seed
        self.workdir = workdir
        self.world = world
        self.rng = random.Random(seed)
        self.topics = Topics()
        self.log = MemoryLog(world.partitions)
        self.log.create(*self.topics.all())
        self.recovery = workdir / "recovery"
        self._new_recovery_dir()
        self.senders = _senders(self.rng, world)
        self.gateway = _Gateway(OsEmulator(world.faults, seed=seed), self.rng, world.lose_receipts)
        self.producer = _BridgeProducer(self.log, self.topics, self.rng, world)
        self.journal = Journal(workdir / "bridge.sqlite")
        self.clock = START_MS
        self.crashes = self.volumes_lost = self.bridge_crashes = 0

    # -- the world -----------------------------------------------------------------------------

    def _new_recovery_dir(self) -> None:
        shutil.rmtree(self.recovery, ignore_errors=True)
        self.recovery.mkdir(parents=True)
        init_db_dir(self.recovery, 1)

    def _tick(self) -> int:
        self.clock += self.rng.randint(1, 5_000)
        return self.clock

    def _finals(self) -> dict[tuple[str, int], str]:
        """Per decision (sak, index): its first final status, attributed by provenance."""
        return final_statuses(self.log, self.topics, self.senders)

    def _can_send(self) -> bool:
        """Some sender has decisions left and is not stuck waiting for a final status that
        will never come (its previous decision's receipt was lost)."""
        for s in self.senders:
            if s.sent >= len(s.decisions):
                continue
            if not s.by_sak and s.sent > 0 and (s.sak, s.decisions[s.sent - 1].behandling_id) in self.gateway.lost:
                continue
            return True
        return False

    def _send(self, finals: dict[tuple[str, int], str]) -> bool:
        ready = []
        for s in self.senders:
            if s.sent >= len(s.decisions):
                continue
            if not s.by_sak and s.sent > 0 and (s.sak, s.sent - 1) not in finals:
                continue  # waits for the previous decision's final status
            ready.append(s)
        if not ready:
            return False
        s = self.rng.choice(ready)
        d = s.decisions[s.sent]
        rec = OutRecord(self.topics.dagpenger, d.key, orjson.dumps(d.message), (), self._tick())
        d.where = self.log.append(rec)
        s.sent += 1
        return True

    def _run_pipeline(self, may_crash: bool, actions: int) -> None:
        """One life of the pipeline process: the world acts `actions` times while it runs
        (senders send, the bridge answers, held receipts arrive), the flow snapshotting on its
        epoch; it may die in any output batch."""
        # The process dies in the first output batch after the world's action number `dies`.
        dies = self.rng.randint(0, actions) if may_crash and self.rng.random() < self.world.crash_share else None
        clock = _WorldClock(self, actions, may_crash)

        def plan(batch: list[OutRecord]) -> int | None:
            if dies is not None and clock.done >= dies:
                return self.rng.randint(0, len(batch))
            return None

        topics = self.topics
        restored = ChangelogStates.from_records((r.key, r.value) for r in self.log.records(topics.sak_state))
        link = IntakeLink(
            sink=LogSink(self.log, plan),
            read=lambda step_id, f: op.input(step_id, f, LogSource(self.log, [topics.intake], clock=clock)),
        )
        flow = build_flow(
            LogSource(self.log, [*topics.inputs(), topics.kvittering], clock=clock, ticks=True),
            LogSink(self.log, plan, last_topics=[topics.sak_state]),
            topics,
            link=link if self.world.intake_topic else None,
            restored=restored if self.world.changelog else None,
            changelog=True,
        )
        epoch = timedelta(seconds=self.rng.choice(self.world.epochs_s))
        try:
            with _quiet_stderr():
                run_main(flow, epoch_interval=epoch, recovery_config=RecoveryConfig(self.recovery))
        except Exception as exc:
            if "SimulatedCrash" not in f"{exc!r}{exc.__cause__!r}":
                raise
            self.crashes += 1
            if self.rng.random() < self.world.lose_volume_share:
                self.volumes_lost += 1
                self._new_recovery_dir()
                if self.rng.random() < 0.5:
                    self._expire_intake()

    def _expire_intake(self) -> None:
        """Retention deletes the start of the intake topic: each partition up to its first
        record whose sak's changelog state does not cover it (what a week's retention does to
        records applied long ago)."""
        states = ChangelogStates.from_records((r.key, r.value) for r in self.log.records(self.topics.sak_state))
        for p in range(self.log.partitions):
            records = self.log.read(self.topics.intake, p)
            upto = records[-1].offset + 1 if records else 0
            for rec in records:
                state = states.take(rec.key or "")
                src = (rec.header("intake-topic") or b"").decode(), int(rec.header("intake-partition") or 0)
                mark = state.applied.get(src) if state is not None else None
                if mark is None or int(rec.header("intake-offset") or 0) > mark:
                    upto = rec.offset
                    break
            self.log.truncate(self.topics.intake, p, upto)

    def _run_bridge(self, may_crash: bool) -> None:
        if may_crash and self.rng.random() < self.world.bridge_crash_share:
            self.producer.crash_after = self.rng.randint(0, 3)
        offsets = self.journal.offsets()
        records: list[InRecord] = []
        for topic in (self.topics.oppdrag, self.topics.simuleringer):
            for p in range(self.log.partitions):
                records.extend(self.log.read(topic, p, offsets.get((topic, p), 0)))
        bridge = OsBridge(self.topics, self.journal, self.gateway, self.producer)
        try:
            bridge.process(records)
        except SimulatedCrash:
            self.bridge_crashes += 1
        self.producer.crash_after = None

    def _size(self) -> int:
        return sum(len(p) for parts in self.log.topics.values() for p in parts) + len(self.producer.held)

    def act(self, may_crash: bool) -> bool:
        """One thing the world does while the pipeline runs; False if there was nothing."""
        action = self.rng.random()
        if action < 0.45:
            return self._send(self._finals())
        if action < 0.85:
            before = self._size()
            self._run_bridge(may_crash)
            return self._size() != before
        return self.producer.release(everything=not may_crash) > 0

    def run(self) -> Outcome:
        total = sum(len(s.decisions) for s in self.senders)
        lives = 0
        while self._can_send() or lives < 4:
            lives += 1
            if lives > total * 4:
                self._fail("the senders could not send every decision")
            self._run_pipeline(may_crash=True, actions=self.rng.randint(5, 40))
        # Settle: no more faults; every sender sends the rest, everything held arrives.
        for _ in range(total * 4 + 20):
            before = self._size()
            self._run_pipeline(may_crash=False, actions=20)
            self._run_bridge(may_crash=False)
            released = self.producer.release(everything=True)
            if not released and self._size() == before and not self._can_send():
                break
        else:
            self._fail("the world did not settle")
        self.check()
        return Outcome(
            self.seed,
            total,
            self.crashes,
            self.volumes_lost,
            self.bridge_crashes,
            len(self.log.records(self.topics.oppdrag)),
        )

    # -- the invariants ------------------------------------------------------------------------

    def check(self) -> None:
        finals = self._finals()
        states = ChangelogStates.from_records((r.key, r.value) for r in self.log.records(self.topics.sak_state))
        for ident, xmls in self.gateway.handed.items():
            if len(xmls) > 1:
                self._fail(f"rule 2: the Oppdrag of {ident} reached OS {len(xmls)} times with different bytes")
        for s in self.senders:
            self._check_sak(s, finals, states)

    def _check_sak(self, s: Sender, finals: dict[tuple[str, int], str], states: ChangelogStates) -> None:
        lost = {h for (sak, h) in self.gateway.lost if sak == s.sak}
        state = states.take(_sak_key(s.sak))
        expected: dict[str, dict[date, int]] = {}
        for d in s.decisions:
            final = finals.get((s.sak, d.index))
            verdict = self.gateway.verdicts.get((s.sak, d.behandling_id))
            if final is None:
                if not lost:
                    self._fail(f"rule 3: {s.sak} decision {d.index} ({d.key}) has no final status")
                continue
            if final == "OK":
                if verdict not in (None, "00", "04"):
                    self._fail(f"rule 3: {s.sak} decision {d.index} is OK but OS answered {verdict}")
                if verdict is None and expected_paid(d.message) != expected:
                    self._fail(
                        f"rule 3: {s.sak} decision {d.index} is OK without an Oppdrag, but it changes what OS pays"
                    )
                expected = expected_paid(d.message)
            elif final == "FEILET" and verdict in ("00", "04"):
                self._fail(f"rule 3: {s.sak} decision {d.index} FEILET but OS booked its Oppdrag")
        if lost:
            if state is None or state.in_flight is None or state.in_flight.behandling_id not in lost:
                self._fail(f"rule 3: {s.sak} lost a receipt but is not visibly waiting on that Oppdrag")
            return
        paid = self._os_pays(s.sak)
        if paid != expected:
            self._fail(f"rule 1: OS pays {_fmt(paid)} on {s.sak}; its last OK decision says {_fmt(expected)}")
        confirmed = confirmed_pays(self.log, self.topics, s.sak)
        if confirmed != paid:
            self._fail(f"rule 4: {s.sak}'s confirmed state pays {_fmt(confirmed)}, OS pays {_fmt(paid)}")

    def _os_pays(self, sak: str) -> dict[str, dict[date, int]]:
        got = ledger_paid(self.gateway.emulator.ledger, "DP", sak)
        return {k: {d: int(a) for d, a in sorted(v.items()) if a} for k, v in got.items() if any(v.values())}

    def _fail(self, msg: str) -> None:
        path = self.workdir / f"seed-{self.seed}.jsonl"
        write_inputs(self.log, self.topics, path)
        raise SimulationFailure(
            f"seed {self.seed}: {msg}\n  crashes {self.crashes}, volumes lost {self.volumes_lost}, "
            f"bridge crashes {self.bridge_crashes}\n  inputs as a replay file: {path}\n"
            f"  again: helved simulate --seed {self.seed}"
        )


class _WorldClock:
    """The world acting while one run of the flow polls its inputs: one action every few
    polls, `actions` in all; then the run ends once its inputs are read."""

    def __init__(self, sim: Simulation, actions: int, may_crash: bool) -> None:
        self.sim, self.actions, self.may_crash = sim, actions, may_crash
        self.done = 0

    def tick(self) -> None:
        if self.done < self.actions:
            self.done += 1
            self.sim.act(self.may_crash)

    @property
    def stopping(self) -> bool:
        return self.done >= self.actions


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Bytewax's Rust side prints a panic for every simulated crash: keep it off the terminal."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _sak_key(sak: str) -> str:
    return SakKey(sak, dagpenger.FAGSYSTEM).as_json_text()


def _fmt(p: dict[str, dict[date, int]]) -> str:
    parts = []
    for k, days in p.items():
        if days:
            parts.append(f"{k} {min(days)}..{max(days)} {len(days)} days {sum(days.values())}")
    return "; ".join(parts) or "nothing"


def final_statuses(log: MemoryLog, topics: Topics, senders: Iterable[Sender]) -> dict[tuple[str, int], str]:
    """Each decision's first final status. A status names its cause in its provenance headers:
    the request itself, or a receipt, whose henvisning names the decision."""
    by_place: dict[tuple[int, int], tuple[str, int]] = {}
    by_henvisning: dict[_Ident, tuple[str, int]] = {}
    for s in senders:
        for d in s.decisions:
            if d.where is not None:
                by_place[d.where] = (d.sak, d.index)
            by_henvisning[(d.sak, d.behandling_id)] = (d.sak, d.index)
    finals: dict[tuple[str, int], str] = {}
    for rec in log.records(topics.status):
        status = orjson.loads(rec.value or b"{}").get("status")
        if status not in ("OK", "FEILET") or orjson.loads(rec.value or b"{}").get("simulering"):
            continue
        topic = (rec.header("src-topic") or b"").decode()
        place = (int(rec.header("src-partition") or 0), int(rec.header("src-offset") or 0))
        decision = None
        if topic == topics.dagpenger:
            decision = by_place.get(place)
        elif topic == topics.kvittering:
            receipt = log.read(topics.kvittering, place[0], place[1])[0]
            o = parse_oppdrag(receipt.value or b"")
            decision = by_henvisning.get((o.fagsystem_id, o.linjer[0].henvisning))
        if decision is not None:
            finals.setdefault(decision, status)
    return finals


def confirmed_pays(log: MemoryLog, topics: Topics, sak: str) -> dict[str, dict[date, int]]:
    """What the confirmed utbetalinger of `sak` (last record per uid) pay, per klassekode and
    weekday."""
    last: dict[str, bytes | None] = {}
    for rec in log.records(topics.utbetalinger):
        if rec.key is not None:
            last[rec.key] = rec.value
    out: dict[str, dict[date, int]] = {}
    for value in last.values():
        if value is None:
            continue
        u = orjson.loads(value)
        if u["sakId"] != sak or u["action"] == "DELETE":
            continue
        days = out.setdefault(u["klassekode"], {})
        for p in u["perioder"]:
            d, tom = date.fromisoformat(p["fom"]), date.fromisoformat(p["tom"])
            while d <= tom:
                if d.weekday() < 5:
                    days[d] = days.get(d, 0) + p["beløp"]
                d += timedelta(days=1)
    return {k: dict(sorted(v.items())) for k, v in out.items() if v}


def write_inputs(log: MemoryLog, topics: Topics, path: Path) -> None:
    """The requests the senders sent, as a `helved replay` input file."""
    rows = []
    for rec in log.records(topics.dagpenger):
        rows.append(
            {
                "topic": rec.topic,
                "key": rec.key,
                "value": orjson.loads(rec.value or b"null"),
                "headers": {},
                "timestamp": rec.timestamp_ms,
            }
        )
    rows.sort(key=lambda r: r["timestamp"] or 0)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))


def simulate(seed: int, workdir: Path, world: World = World()) -> Outcome:
    """Run one seed in `workdir` (which it fills); raises `SimulationFailure`."""
    workdir.mkdir(parents=True, exist_ok=True)
    return Simulation(seed, workdir, world).run()


__all__ = ["Outcome", "SimulationFailure", "World", "simulate"]
