"""The OS bridge's part of grensesnittavstemming: an id's messages go to OS once, at its AVSL.

OS takes one avstemming as one MQ transaction (START, DATA…, AVSL on the avstemming queue), so
the bridge buffers each id's messages from `helved.avstemming.v1` and hands them over when the
AVSL arrives; then the id is *done*, for good (spec `avstemming.md` §6):

1. A record that is not an avstemming message is skipped (logged by position only).
2. The id is done: the record is dropped (a rerun after a crash between fagområder sends
   the ids already handed over again; the model's partial-send FIXME).
3. START: the id's buffer is emptied (a new attempt of an id not yet handed over).
4. The record is buffered, keyed by its topic, partition and offset, so a record read again
   after a restart is buffered once.
5. AVSL: the buffer, in offset order, is handed to `gateway.hand_over_avstemming` (the port,
   `helved.os.port`), then the id is journaled as done with the answer's line and its buffer
   dropped, in one transaction. A stand-in OS without that method (a test fake, the simulator)
   takes no avstemming: the id is done all the same.

The buffer and the done ids live in SQLite (`state_dir/avstemming.sqlite`); the offsets stay
in the bridge's journal, committed after the batch. A crash between step 5's hand-over and its
journal write hands the id over again on restart: the OS emulator recognises an id it checked.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from helved.os.port import OsGateway
from helved.records import InRecord

# The logger keeps the name it had before the module moved into `helved.os`: log queries select on it.
log = logging.getLogger("helved.avstemming_relay")


class AvstemmingRelay:
    """Buffers avstemming messages per id; hands each id to OS once (module docstring)."""

    def __init__(self, path: Path | None = None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(":memory:" if path is None else path, isolation_level=None, check_same_thread=False)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS buffered (
                id TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
                "offset" INTEGER NOT NULL, value BLOB NOT NULL,
                PRIMARY KEY (topic, partition, "offset")
            );
            CREATE TABLE IF NOT EXISTS done (id TEXT PRIMARY KEY, result TEXT NOT NULL);
            """
        )

    def is_done(self, avstemming_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM done WHERE id = ?", (avstemming_id,)).fetchone() is not None

    def process(self, records: Iterable[InRecord], gateway: OsGateway) -> list[str]:
        """Steps 1-5 for each record, in order; one line per id handed over (never an avstemming_id)."""
        from helved.oppdrag.avstemming import read_avstemming

        lines: list[str] = []
        for rec in records:
            where = f"{rec.topic}[{rec.partition}]@{rec.offset}"
            try:
                m = read_avstemming(rec.value or b"")
            except ValueError as exc:
                log.warning("skip %s: not an avstemming message (%s)", where, exc)
                continue
            avstemming_id, aksjon = m.get("id"), m.get("aksjon")
            if not isinstance(avstemming_id, str) or not avstemming_id or aksjon not in ("START", "DATA", "AVSL"):
                log.warning("skip %s: an avstemming message without id or aksjonType", where)
                continue
            if self.is_done(avstemming_id):
                log.info("drop %s: avstemming %s was handed over before", where, avstemming_id)
                continue
            with self._tx():
                if aksjon == "START":
                    self._db.execute("DELETE FROM buffered WHERE id = ?", (avstemming_id,))
                self._db.execute(
                    'INSERT OR IGNORE INTO buffered (id, topic, partition, "offset", value) VALUES (?, ?, ?, ?, ?)',
                    (avstemming_id, rec.topic, rec.partition, rec.offset, rec.value),
                )
            if aksjon == "AVSL":
                lines.append(self._hand_over(avstemming_id, gateway))
        return lines

    def _hand_over(self, avstemming_id: str, gateway: OsGateway) -> str:
        rows = self._db.execute(
            'SELECT value FROM buffered WHERE id = ? ORDER BY partition, "offset"', (avstemming_id,)
        ).fetchall()
        messages = [bytes(r[0]) for r in rows]
        hand_over = getattr(gateway, "hand_over_avstemming", None)
        if hand_over is None:
            line = f"avstemming {avstemming_id}: {len(messages)} messages; this OS takes no avstemming"
        else:
            line = hand_over(messages).line
        with self._tx():
            self._db.execute("INSERT INTO done (id, result) VALUES (?, ?)", (avstemming_id, line))
            self._db.execute("DELETE FROM buffered WHERE id = ?", (avstemming_id,))
        log.info("%s", line)
        return line

    @contextmanager
    def _tx(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
