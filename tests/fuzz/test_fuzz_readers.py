"""Fuzzing every reader of untrusted input on its own, many examples a second: each raises its
one documented exception or returns, never anything else, and never computes for long.

    helved's receipt reader        parse_kvittering      -> Kvittering | ReceiptRejected
    helved's request reader        parse_request         -> Request | RequestRejected
    the emulator (OS)              OsEmulator.respond    -> a kvittering, always (12 for non-XML)
                                   OsEmulator.simulate   -> a Simulation | Unparseable
    `helved replay`'s file reader  read_records          -> records | InputFileError
"""

from __future__ import annotations

import time
from datetime import date

import orjson
from hypothesis import event, given
from hypothesis import strategies as st

from helved.domain.sak import OppdragOut, on_receipt, on_request
from helved.emulator import OsEmulator
from helved.emulator.xml import Unparseable
from helved.errors import InputFileError, ReceiptRejected, RequestRejected
from helved.fagsystemer.dagpenger import parse_request
from helved.oppdrag.xml import echo_kvittering, oppdrag_xml, parse_kvittering
from helved.replay import read_records, split_lines
from tests.builders import TOPICS

from . import profile
from .strategies import Mutated, decision, hostile_receipt, hostile_request, ids, paid_days

SLOW_S = 2.0


@st.composite
def sent_oppdrag(draw: st.DrawFn) -> bytes:
    """An Oppdrag helved built: a first one, or a change with opphør and chained lines."""
    sak = draw(ids)
    state, out = on_request(
        None, parse_request(decision(sak, "B-1", draw(paid_days(at_least_one=True))), original_key="k")
    )
    (first,) = [o.oppdrag for o in out if isinstance(o, OppdragOut)]
    if draw(st.booleans()):
        return oppdrag_xml(first)
    state, _ = on_receipt(state, parse_kvittering(echo_kvittering(oppdrag_xml(first), "00")))
    _, out = on_request(state, parse_request(decision(sak, "B-2", draw(paid_days())), original_key="k2"))
    second = [o.oppdrag for o in out if isinstance(o, OppdragOut)]
    return oppdrag_xml(second[0] if second else first)


def _quick(started: float) -> None:
    assert time.monotonic() - started < SLOW_S, "a reader must never compute for long"


@profile.for_test(weight=3)
@given(oppdrag=sent_oppdrag(), data=st.data())
def test_the_receipt_reader_raises_receipt_rejected_or_reads(oppdrag: bytes, data: st.DataObject) -> None:
    (real,) = OsEmulator().handle(oppdrag)
    mutated = data.draw(st.one_of(hostile_receipt(real), st.binary(max_size=200).map(lambda b: Mutated(b, "bytes"))))
    started = time.monotonic()
    try:
        parse_kvittering(mutated.value or b"")
        event("read")
    except ReceiptRejected as exc:
        event(exc.reason)
    _quick(started)


@profile.for_test(weight=3)
@given(data=st.data())
def test_the_request_reader_raises_request_rejected_or_reads(data: st.DataObject) -> None:
    hostile = data.draw(hostile_request(data.draw(ids), data.draw(paid_days())))
    started = time.monotonic()
    try:
        value = orjson.loads(hostile.value or b"")
    except orjson.JSONDecodeError:
        event("not JSON for the flow either")
        return
    try:
        parse_request(value, original_key="k")
        raise AssertionError(f"a hostile request was read: {hostile.why}")
    except RequestRejected as exc:
        assert exc.status_code == 400
        event(exc.code.value)
    _quick(started)


@profile.for_test(weight=2)
@given(oppdrag=sent_oppdrag(), data=st.data())
def test_the_emulator_answers_any_oppdrag_and_simulates_without_raising(oppdrag: bytes, data: st.DataObject) -> None:
    """OS's side must survive what OS's schema allows and what it does not: it answers 08/12."""
    mutated = data.draw(hostile_receipt(oppdrag)).value or b""  # the same mutations, on an Oppdrag
    emulator = OsEmulator()
    started = time.monotonic()
    (kv,) = emulator.handle(mutated)
    assert b"<alvorlighetsgrad>" in kv
    _quick(started)
    try:  # what a line pays is computed day by day: a line to 9999 takes a while, but ends
        emulator.simulate(mutated)
    except Unparseable:
        pass
    for klasse, days in emulator.paid("DP", "x").items():
        assert all(isinstance(d, date) for d in days), klasse


@profile.for_test(weight=2)
@given(st.lists(st.one_of(st.binary(max_size=60), st.text(max_size=60).map(str.encode)), max_size=5))
def test_the_replay_file_reader_raises_input_file_error_or_reads(lines: list[bytes]) -> None:
    data = b"\n".join(lines)
    try:
        records = read_records(split_lines(data), TOPICS)
    except InputFileError:
        event("rejected")
        return
    event(f"{len(records)} records")
    for rec in records:
        assert rec.value is None or isinstance(rec.value, bytes)
