"""The OS emulator behind the OS port: `EmulatedOs` implements `helved.os.port.OsGateway`.

This is the emulator's adapter, the one module where its answers become the port's values
(`answer_of`, `verdict_of`, `avstemming_answer_of`); production code reaches the emulator only
through the port. It lives with the emulator because it is a development and test stand-in for
OS: `helved os-emulator`, the dev stack, the demo and the tests run it; `helved sak --os-state`
reads its state.

`EmulatedOs(state_dir)` is the emulator as a service, whose state survives a restart
(`EmulatedOs()` keeps it in memory).

The emulator's state (ledger, answered documents, its random generator) is a function of its
seed, its faults and the documents it was handed, in order. So the service writes each document
to a journal (SQLite, `state_dir/os-emulator.sqlite`) *before* the emulator sees it, and a
restart rebuilds the emulator by handing it the journal again: the same ledger, the same
answers, the same random draws. The ledger itself holds read-only mappings and is not
picklable; replaying the journal needs nothing of it.

`EmulatedOs.open_read_only(dir)` rebuilds the same state next to a running service (SQLite's
WAL lets one process write while others read): `helved sak` uses it to show what OS pays.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import orjson

from helved.emulator import Faults, Ledger, LedgerLine, OsEmulator, PaidMap, Reply, Simulation, Verdict, paid
from helved.emulator.avstemming import AvstemmingDesk, Check
from helved.emulator.xml import Unparseable
from helved.errors import HelvedError
from helved.os import port

# The logger keeps the name it had as `helved.emulated_os`: log queries select on it.
log = logging.getLogger("helved.emulated_os")

DB_NAME = "os-emulator.sqlite"


class StateMismatch(HelvedError, ValueError):
    """The state directory was created with another seed or other faults."""


# ---------------------------------------------------------------------------------------------
# The emulator's answers as the port's values


def verdict_of(verdict: Verdict) -> port.Verdict:
    return port.Verdict(verdict.alvorlighetsgrad, verdict.kode_melding, verdict.beskr_melding)


def answer_of(simulation: Simulation) -> port.SimulationAnswer:
    return port.SimulationAnswer(verdict_of(simulation.verdict), simulation.before, simulation.after)


def avstemming_answer_of(check: Check) -> port.AvstemmingAnswer:
    return port.AvstemmingAnswer(check.avstemming_id, check.line(), None if check.duplicate else check.holds)


# ---------------------------------------------------------------------------------------------
# The service


def _faults_json(faults: Faults) -> bytes:
    return orjson.dumps(dataclasses.asdict(faults))


def _faults_from_json(raw: bytes) -> Faults:
    d = orjson.loads(raw)
    d["prefixes"] = tuple(d["prefixes"])
    return Faults(**d)


class EmulatedOs:
    """`helved.os.port.OsGateway` over an `OsEmulator`, durable in `state_dir` (or in memory
    when None)."""

    def __init__(
        self,
        state_dir: Path | None = None,
        faults: Faults | None = None,
        seed: int | None = None,
        *,
        keep_history: bool = False,
    ) -> None:
        self._lock = threading.Lock()
        self._history: dict[str, Ledger] | None = {} if keep_history else None
        self._db: sqlite3.Connection | None = None
        stored: tuple[Faults, int] | None = None
        documents: list[bytes] = []
        if state_dir is not None:
            state_dir.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(state_dir / DB_NAME, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(
                """
                CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
                CREATE TABLE IF NOT EXISTS handed (seq INTEGER PRIMARY KEY, document BLOB NOT NULL);
                """
            )
            stored = _read_meta(self._db)
            documents = _read_documents(self._db)
        if stored is not None:
            if (faults is not None and faults != stored[0]) or (seed is not None and seed != stored[1]):
                raise StateMismatch(
                    f"{state_dir} holds an OS emulator created with seed {stored[1]} and other "
                    "faults; use a fresh state directory or the same settings"
                )
            faults, seed = stored
        faults = faults if faults is not None else Faults()
        seed = seed if seed is not None else 0
        if self._db is not None and stored is None:
            self._db.executemany(
                "INSERT INTO meta (name, value) VALUES (?, ?)",
                [("faults", _faults_json(faults)), ("seed", str(seed).encode())],
            )
        self.emulator = OsEmulator(faults, seed)
        self.avstemming = AvstemmingDesk()
        self._rebuild(documents)

    @classmethod
    def open_read_only(cls, state_dir: Path) -> EmulatedOs:
        """The emulator's current state, rebuilt from a (possibly running) service's journal."""
        path = state_dir / DB_NAME
        if not path.exists():
            raise FileNotFoundError(f"no OS emulator state in {state_dir}")
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            stored = _read_meta(db)
            documents = _read_documents(db)
        finally:
            db.close()
        self = cls.__new__(cls)
        self._lock = threading.Lock()
        self._history = None
        self._db = None
        faults, seed = stored if stored is not None else (Faults(), 0)
        self.emulator = OsEmulator(faults, seed)
        self.avstemming = AvstemmingDesk()
        self._rebuild(documents)
        return self

    def _rebuild(self, documents: list[bytes]) -> None:
        for doc in documents:
            self.avstemming.receive(doc, self.emulator.respond(doc).verdict.alvorlighetsgrad)
            self._remember(doc)
        self.rebuilt_from = len(documents)
        if documents:
            log.info("OS emulator rebuilt from %d journaled Oppdrag", len(documents))

    # -- OsGateway -------------------------------------------------------------------------------

    def hand_over(self, oppdrag_xml: bytes) -> list[bytes]:
        """Journal the document, then let the emulator answer it (and wait out a delay fault)."""
        with self._lock:
            if self._db is not None:
                self._db.execute("INSERT INTO handed (document) VALUES (?)", (oppdrag_xml,))
            reply: Reply = self.emulator.respond(oppdrag_xml)
            self.avstemming.receive(oppdrag_xml, reply.verdict.alvorlighetsgrad)
            self._remember(oppdrag_xml)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        return list(reply.kvitteringer)

    def hand_over_avstemming(self, messages: Sequence[bytes]) -> port.AvstemmingAnswer:
        """One avstemming id's messages (START, DATA…, AVSL): checked against what OS received
        and answered in its range (`helved.emulator.avstemming`)."""
        with self._lock:
            return avstemming_answer_of(self.avstemming.check(list(messages)))

    # -- reading -----------------------------------------------------------------------------

    @property
    def replies(self) -> list[Reply]:
        """Every answer given, the rebuilt ones first."""
        return list(self.emulator.log)

    def _remember(self, document: bytes) -> None:
        if self._history is not None:
            self._history.setdefault(hashlib.sha256(document).hexdigest(), self.emulator.ledger)

    def simulate_request(self, simulering_xml: bytes) -> port.SimulationAnswer:
        """OS's simulation service over the current ledger; books and remembers nothing. Bytes
        that are not XML get a 12 (the dryrun answer never hands them over)."""
        with self._lock:
            try:
                return answer_of(self.emulator.simulate_request(simulering_xml))
            except Unparseable:
                return port.SimulationAnswer(port.NOT_XML, {}, {})

    def paid(self, fagomraade: str, fagsystem_id: str) -> PaidMap:
        """What the sak is paid now."""
        return self.emulator.paid(fagomraade, fagsystem_id)

    def paid_after(self, oppdrag_xml: bytes, fagomraade: str, fagsystem_id: str) -> PaidMap:
        """What the sak was paid right after this Oppdrag was handed over (`keep_history`
        only; the ledgers share their unchanged saker, but a long-running service should not
        keep them). Falls back to what it is paid now."""
        ledger = (self._history or {}).get(hashlib.sha256(oppdrag_xml).hexdigest())
        if ledger is None:
            return self.paid(fagomraade, fagsystem_id)
        return paid(ledger, fagomraade, fagsystem_id)

    def lines(self, fagomraade: str, fagsystem_id: str) -> tuple[LedgerLine, ...]:
        return self.emulator.lines(fagomraade, fagsystem_id)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _read_meta(db: sqlite3.Connection) -> tuple[Faults, int] | None:
    try:
        rows = dict(db.execute("SELECT name, value FROM meta").fetchall())
    except sqlite3.OperationalError:  # no table yet
        return None
    if not rows:
        return None
    return _faults_from_json(bytes(rows["faults"])), int(bytes(rows["seed"]).decode())


def _read_documents(db: sqlite3.Connection) -> list[bytes]:
    try:
        return [bytes(r[0]) for r in db.execute("SELECT document FROM handed ORDER BY seq")]
    except sqlite3.OperationalError:
        return []
