"""A day of traffic across every fagsystem, through the real dataflow with OS (the emulator)
answering 00, 08 and 12 and one receipt lost: the grensesnittavstemming of that day, handed
to the emulator, reconciles with what it received and answered in every fagområde — except where
the receipt was lost, which shows as `mangler` (issue 15, `avstemming.md`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import orjson

from helved.avstemming import events, located, out_records
from helved.config import Topics
from helved.domain.avstemming import avstem
from helved.emulator import Faults
from helved.emulator.gateway import EmulatedOs
from helved.os.avstemming_relay import AvstemmingRelay
from helved.records import InRecord, OutRecord
from helved.replay import replay_records

T = Topics()
EXAMPLES = Path(__file__).resolve().parents[2] / "helved" / "examples" / "fagsystemer.jsonl"
DAY = date(2025, 8, 20)  # the examples' record timestamps are on 2025-08-20, Oslo time

# OS rejects these fagområder's Oppdrag: 08 (functional) and 12 (technical); the rest are 00.
VERDICT = {"TILTPENG": Faults(reject_share=1.0), "TILLSTLM": Faults(error_share=1.0)}


def _inputs() -> list[InRecord]:
    out = []
    for i, line in enumerate(EXAMPLES.read_bytes().splitlines()):
        r = orjson.loads(line)
        out.append(InRecord(r["topic"], r["key"], orjson.dumps(r["value"]), (), 0, i, r["timestamp"]))
    return out


_replayed: list[OutRecord] = []  # the last day's outputs, for the statuses


def _day(gateway: EmulatedOs, lose_receipt_in: str | None) -> list[InRecord]:
    """Every record of the day as helved has them: its Oppdrag and the receipts it got."""

    def answer(rec: OutRecord) -> list[bytes]:
        fagområde = (rec.value or b"").split(b"<kodeFagomraade>")[1].split(b"<")[0].decode()
        gateway.emulator.faults = VERDICT.get(fagområde, Faults())
        receipts = gateway.hand_over(rec.value or b"")
        return [] if fagområde == lose_receipt_in else receipts

    out = replay_records(_inputs(), answer, T)
    _replayed[:] = out
    return [
        InRecord(o.topic, o.key, o.value, o.headers, 0, i, o.timestamp_ms)
        for i, o in enumerate(out)
        if o.topic in (T.oppdrag, T.kvittering)
    ]


def _lines(tmp_path: Path, lose_receipt_in: str | None = None) -> dict[str, str]:
    gateway = EmulatedOs()
    records = _day(gateway, lose_receipt_in)
    messages = out_records(avstem(events(located(records), T), DAY, DAY), T)
    relay = AvstemmingRelay(tmp_path / "relay.sqlite")
    lines = relay.process([InRecord(m.topic, m.key, m.value, (), 0, i) for i, m in enumerate(messages)], gateway)
    return {line.split()[2]: line for line in lines}


def test_the_day_of_every_fagsystem_reconciles_in_every_fagomrade(tmp_path: Path) -> None:
    lines = _lines(tmp_path)
    assert sorted(lines) == ["AAP", "HELSREF", "TILLSTLM", "TILLSTPB", "TILSOPP", "TILTPENG"]
    for line in lines.values():
        assert "reconciled, matches" in line, line
    statuses = {r.key: orjson.loads(r.value)["status"] for r in _replayed if r.topic == T.status}
    assert statuses["tp-3001-1"] == "FEILET" and statuses["ts-4001-1"] == "FEILET"
    assert statuses["aap-2001-1"] == statuses["valp-6001-1"] == "OK"


def test_a_lost_receipt_in_one_fagomrade_shows_as_mangler_there_only(tmp_path: Path) -> None:
    lines = _lines(tmp_path, lose_receipt_in="HELSREF")
    assert "MISMATCH" in lines["HELSREF"] and "mangler: helved 1/" in lines["HELSREF"]
    assert all("reconciled, matches" in line for f, line in lines.items() if f != "HELSREF")
    assert not any("12345678910" in line for line in lines.values())
