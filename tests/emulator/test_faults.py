"""Fault injection: seeded, reproducible, and never booking what it rejects."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from lxml import etree

from helved.emulator import Faults, OsEmulator

from .fixtures import NS, SCHEMA, alvorlighetsgrad, delytelse_ids, local, mmel_raw, ny, oppdrag_xml

J = lambda d: date(2024, 6, d)  # noqa: E731


def stream(n: int = 40) -> list[bytes]:
    """n Oppdrag on n saker, each first sent, some resent."""
    out = []
    for i in range(n):
        d = J(3) + timedelta(days=i % 20)
        x = oppdrag_xml([ny(f"L{i}", d, d + timedelta(days=3), 100 + i)], sak=f"S{i}")
        out.append(x)
        if i % 3 == 0:
            out.append(x)
    return out


CHAOS = Faults(
    reject_share=0.15,
    error_share=0.1,
    delay_share=0.5,
    max_delay_s=3.0,
    drop_share=0.1,
    duplicate_share=0.2,
    prefix_share=0.3,
)


def run(seed: int, faults: Faults = CHAOS):
    emu = OsEmulator(faults, seed=seed)
    replies = [emu.respond(x) for x in stream()]
    return emu, [(r.kvitteringer, r.delay_s) for r in replies]


def test_same_seed_same_run() -> None:
    e1, r1 = run(7)
    e2, r2 = run(7)
    assert r1 == r2
    assert e1.ledger == e2.ledger


def test_other_seed_other_run() -> None:
    assert run(7)[1] != run(8)[1]


def test_every_fault_shows_up_in_a_chaotic_run() -> None:
    emu, replies = run(7)
    counts = [len(k) for k, _ in replies]
    assert 0 in counts and 1 in counts and 2 in counts
    assert any(d > 0 for _, d in replies) and all(0 <= d <= 3.0 for _, d in replies)
    grades = {alvorlighetsgrad(k[0]) for k, _ in replies if k}
    assert {"00", "08", "12"} <= grades
    prefixes = {etree.fromstring(k[0]).prefix for k, _ in replies if k}
    assert len(prefixes) > 1


def test_injected_rejections_book_nothing_and_are_not_remembered() -> None:
    xml = oppdrag_xml([ny("A1", J(3), J(14))])
    for faults, grade in ((Faults(reject_share=1.0), "08"), (Faults(error_share=1.0), "12")):
        emu = OsEmulator(faults, seed=1)
        r = emu.respond(xml)
        assert r.injected and alvorlighetsgrad(r.kvitteringer[0]) == grade
        assert emu.ledger.saker == {} and emu.seen == {}
        # the fault was transient: once it passes, the same Oppdrag is booked
        emu.faults = Faults()
        (k,) = emu.handle(xml)
        assert alvorlighetsgrad(k) == "00"
        assert emu.total("DP", "SAK-1") == {"DAGPENGER": 1000}


def test_dropped_receipt_is_booked_and_found_again_on_resend() -> None:
    xml = oppdrag_xml([ny("A1", J(3), J(14))])
    clean = OsEmulator().handle(xml)
    emu = OsEmulator(Faults(drop_share=1.0), seed=3)
    assert emu.handle(xml) == []
    assert emu.total("DP", "SAK-1") == {"DAGPENGER": 1000}  # OS booked it; the receipt got lost
    emu.faults = Faults()
    assert emu.handle(xml) == clean  # the replay gets the receipt it should have had
    assert emu.total("DP", "SAK-1") == {"DAGPENGER": 1000}  # and pays once


def test_duplicate_receipt() -> None:
    emu = OsEmulator(Faults(duplicate_share=1.0), seed=3)
    k = emu.handle(oppdrag_xml([ny("A1", J(3), J(14))]))
    assert len(k) == 2 and k[0] == k[1] and alvorlighetsgrad(k[0]) == "00"
    assert emu.total("DP", "SAK-1") == {"DAGPENGER": 1000}


def test_delay() -> None:
    emu = OsEmulator(Faults(delay_share=1.0, max_delay_s=2.5), seed=3)
    delays = [emu.respond(x).delay_s for x in stream(10)]
    assert all(0 <= d <= 2.5 for d in delays) and len(set(delays)) > 1
    assert OsEmulator().respond(stream(1)[0]).delay_s == 0.0


@pytest.mark.parametrize("target", ["os", "oppdrag", "", "ns2"])
@pytest.mark.parametrize("original", ["ns2", None])
def test_other_namespace_prefix(target: str, original: str | None) -> None:
    xml = oppdrag_xml([ny("A1", J(3), J(14)), ny("A2", J(17), J(21), ref="A1")], prefix=original)
    clean = OsEmulator().handle(xml)[0]
    emu = OsEmulator(Faults(prefix_share=1.0, prefixes=(target,)), seed=3)
    out = emu.handle(xml)
    if (target or None) == original:
        assert out == [clean]  # no other prefix to choose: sent unchanged
        return
    (k,) = out
    root = etree.fromstring(k)
    assert root.prefix == (target or None) != original
    assert etree.QName(root).namespace == NS
    assert all(etree.QName(c).namespace is None for c in root)  # children still unqualified
    assert SCHEMA.validate(root), SCHEMA.error_log
    assert mmel_raw(k) == mmel_raw(clean)
    assert delytelse_ids(k) == delytelse_ids(clean) == ["A1", "A2"]
    assert local(root[0]) == "mmel"
    # content is the same: resending it is a replay
    assert OsEmulator().handle(k) != [] and emu.respond(k).replay


def test_faults_are_validated() -> None:
    with pytest.raises(ValueError):
        Faults(reject_share=1.5)
    with pytest.raises(ValueError):
        Faults(reject_share=0.6, error_share=0.6)
