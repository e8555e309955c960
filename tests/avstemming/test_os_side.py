"""OS's side: the bridge hands an avstemming id to OS once, at its AVSL; the emulator checks it
against what it received and answered (spec `avstemming.md` §6, issue 15)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from helved.avstemming import events, located, out_records
from helved.config import Topics
from helved.domain.avstemming import avstem
from helved.emulator.gateway import EmulatedOs
from helved.os.avstemming_relay import AvstemmingRelay
from helved.os.bridge import Journal, OsBridge
from helved.records import InRecord, OutRecord

from .helpers import IDENT, oppdrag

T = Topics()
DAY = date(2025, 8, 18)


def _day(gateway: EmulatedOs, lose_receipt_of: str | None = None) -> list[InRecord]:
    """Three Oppdrag handed to OS; the records helved has (its receipt of one may be lost)."""
    records: list[InRecord] = []
    for n, sak in enumerate(("A", "B", "C")):
        xml = oppdrag(sak=sak, key=f"2025-08-18-1{n}.00.00.000000", sats=(100 * (n + 1),)).encode()
        receipts = gateway.hand_over(xml)
        records.append(InRecord(T.oppdrag, sak, xml, offset=len(records)))
        if sak != lose_receipt_of:
            records += [InRecord(T.kvittering, sak, r, offset=len(records)) for r in receipts]
    return records


def _messages(records: list[InRecord]) -> list[OutRecord]:
    return out_records(avstem(events(located(records), T), DAY, DAY), T)


def _as_in(outs: list[OutRecord], first_offset: int = 0) -> list[InRecord]:
    return [InRecord(o.topic, o.key, o.value, partition=0, offset=first_offset + i) for i, o in enumerate(outs)]


def test_a_reconciliation_that_holds(tmp_path: Path) -> None:
    gateway = EmulatedOs()
    relay = AvstemmingRelay(tmp_path / "a.sqlite")
    (line,) = relay.process(_as_in(_messages(_day(gateway))), gateway)
    assert "reconciled, matches" in line and " DP 2025-08-18..2025-08-18" in line


def test_a_lost_receipt_shows_as_a_mismatch_without_an_ident(tmp_path: Path) -> None:
    gateway = EmulatedOs()
    relay = AvstemmingRelay(tmp_path / "a.sqlite")
    (line,) = relay.process(_as_in(_messages(_day(gateway, lose_receipt_of="B"))), gateway)
    assert "MISMATCH" in line
    assert "godkjent: helved 2/400, OS 3/600" in line and "mangler: helved 1/200, OS 0/0" in line
    assert IDENT not in line


def test_an_id_goes_to_os_once_across_restarts_and_a_start_resets_its_buffer(tmp_path: Path) -> None:
    gateway = EmulatedOs()
    msgs = _as_in(_messages(_day(gateway)))
    start, data, avsl = msgs
    relay = AvstemmingRelay(tmp_path / "a.sqlite")
    assert relay.process([start, data], gateway) == []
    relay.close()
    # Restart: the records after the last committed offset are read again, and a retry of the
    # run starts the id over; each message is buffered once.
    relay = AvstemmingRelay(tmp_path / "a.sqlite")
    again = _as_in([OutRecord(r.topic, r.key, r.value) for r in (start, data, avsl)], first_offset=10)
    (line,) = relay.process([data, *again], gateway)
    assert "reconciled, matches" in line
    assert len(gateway.avstemming.checked) == 1
    relay.close()
    relay = AvstemmingRelay(tmp_path / "a.sqlite")
    assert relay.process(_as_in([OutRecord(r.topic, r.key, r.value) for r in msgs], 20), gateway) == []
    assert relay.is_done(line.split()[1])


class _Sender:
    def __init__(self) -> None:
        self.sent: list[OutRecord] = []

    def send(self, record: OutRecord) -> None:
        self.sent.append(record)

    def flush_or_raise(self, timeout_s: float = 30.0) -> None:
        pass


def test_the_bridge_hands_the_oppdrag_of_a_batch_before_its_avstemming(tmp_path: Path) -> None:
    gateway = EmulatedOs()
    shadow = EmulatedOs()
    helved_side = _day(shadow)  # what helved will have: the same Oppdrag and receipts
    oppdrag_records = [r for r in helved_side if r.topic == T.oppdrag]
    journal = Journal(tmp_path / "bridge.sqlite")
    bridge = OsBridge(T, journal, gateway, _Sender(), relay=AvstemmingRelay(tmp_path / "a.sqlite"))
    batch = [*oppdrag_records, *_as_in(_messages(helved_side))]
    result = bridge.process([InRecord(r.topic, r.key, r.value, partition=0, offset=r.offset) for r in batch])
    assert result.handed_over == 3
    (line,) = result.avstemminger
    assert "reconciled, matches" in line
    assert journal.offsets()[(T.avstemming, 0)] == 3
    journal.close()
