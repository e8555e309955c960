"""Fuzzing the real dataflow (issue 12): no record stops the pipeline, and no OK is dishonest.

Each example is a history of three valid decisions on one sak, with OS (the emulator) answering,
run twice in-process: once as it is, once with one hostile record in it, while an Oppdrag is in
flight or after. Asserted:

- the flow never stops (every run ends, nothing raises);
- a hostile request gets exactly one FEILET status, a 400 under its own key, and exactly one DLQ
  record holding its bytes; a request without a key only the DLQ record; a hostile receipt
  exactly one DLQ record and no status; nothing else comes from it;
- everything else, the valid requests after it included, is byte for byte what the history
  without it gave;
- OS pays what the last decision says, day by day.

`HYPOTHESIS_PROFILE=long` runs the long profile (`tests/fuzz/profile.py`).
"""

from __future__ import annotations

import orjson
from hypothesis import event, given, note
from hypothesis import strategies as st

from helved.emulator import OsEmulator
from helved.errors import ErrorCode, ReceiptRejected
from helved.oppdrag.xml import parse_kvittering
from helved.records import InRecord, OutRecord
from tests.builders import TOPICS

from . import profile
from .harness import Scenario, canonical, caused_by, offset_of, run
from .strategies import (
    benign_receipt,
    expected_paid,
    hostile_receipt,
    hostile_request,
    ids,
    paid_days,
)

CODES = {c.value for c in ErrorCode}


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    sak = draw(ids)
    return Scenario(sak, (draw(paid_days(at_least_one=True)), draw(paid_days()), draw(paid_days())))


KEYS = st.one_of(st.text(min_size=1, max_size=40).map(lambda s: "hostile-" + s), st.sampled_from([None, ""]))
TIMESTAMPS = st.one_of(
    st.none(),
    st.integers(0, 4_102_444_800_000),  # 1970 .. 2100
    st.sampled_from([-1, -(2**63), 2**63 - 1, 253_402_300_800_000, -62_135_596_800_001]),  # outside 1..9999
)


def _dlq_value_is_the_input(dlq: OutRecord, value: bytes | None) -> None:
    if dlq.value is None and value is not None:  # too big to echo: said so, with a digest
        assert (dlq.header("value-dropped") or b"").startswith(str(len(value)).encode()), dlq.headers
    else:
        assert dlq.value == value


def _same_otherwise(reference: list[OutRecord], hostile: list[OutRecord], source: tuple[bytes, bytes]) -> None:
    want, got = canonical(reference), canonical(hostile, drop=source)
    assert len(got) == len(want), [o[0] for o in got]
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"output {i} differs"


@profile.for_test(weight=1.5)
@given(scenario=scenarios(), data=st.data())
def test_a_hostile_request_gets_one_feilet_and_one_dlq_record_and_changes_nothing(
    scenario: Scenario, data: st.DataObject
) -> None:
    reference, held = scenario.reference()
    sak = scenario.sak if data.draw(st.booleans()) else data.draw(ids)
    hostile = data.draw(hostile_request(sak, scenario.days[data.draw(st.integers(0, 2))]), label="hostile")
    key = data.draw(KEYS, label="key")
    note(f"hostile request: {hostile.why}; key {key!r}; {len(hostile.value or b'')} bytes")
    event(hostile.why)
    record = InRecord(TOPICS.dagpenger, key, hostile.value, (), 0, 0, data.draw(TIMESTAMPS, label="timestamp"))
    position = data.draw(st.integers(0, 1), label="position")
    records = scenario.records(held, record, position)
    result = run(records)  # 1. it ends

    source = offset_of(records, records.index(record))
    caused = caused_by(result.outputs, source)
    dlq = [o for o in caused if o.topic == TOPICS.dlq]
    statuses = [o for o in caused if o.topic == TOPICS.status]
    assert len(dlq) == 1 and dlq[0].key == key, caused
    _dlq_value_is_the_input(dlq[0], hostile.value)
    if key:  # 2. one FEILET 400 under its key, with a stable code; the DLQ says the same code
        assert len(statuses) == 1 and statuses[0].key == key, caused
        status = orjson.loads(statuses[0].value or b"")
        assert status["status"] == "FEILET" and status["error"]["statusCode"] == 400, status
        code = status["error"]["msg"].split(":")[0]
        assert code in CODES and status["error"]["doc"] == "docs/errors.md#" + code.lower()
        assert (dlq[0].header("error") or b"").startswith(code.encode())
        event(f"code {code}")
    else:  # no key: nobody to answer (spec §2)
        assert statuses == [] and (dlq[0].header("error") or b"").startswith(b"MISSING_KEY")
    assert len(caused) == len(dlq) + len(statuses), caused

    _same_otherwise(reference.outputs, result.outputs, source)  # 3. nothing else changed
    assert result.paid(scenario.sak) == expected_paid(scenario.days[2])  # 4. OS pays decision 3


@profile.for_test(weight=1.5)
@given(scenario=scenarios(), data=st.data())
def test_a_hostile_receipt_gets_one_dlq_record_and_changes_nothing(scenario: Scenario, data: st.DataObject) -> None:
    reference, held = scenario.reference()
    # OS's receipt of the Oppdrag in flight; without one (decision 2 changed nothing), the
    # receipt of decision 1's Oppdrag, stale by then.
    real = held if held is not None else OsEmulator().handle(reference.oppdrag[0])[0]
    mutated = data.draw(hostile_receipt(real), label="hostile")
    key = data.draw(st.one_of(st.just("req-2"), KEYS), label="key")
    note(f"hostile receipt: {mutated.why}")
    event(mutated.why.split(" ")[0] if mutated.why.startswith(("sats", "dato", "nokkel", "alvor")) else mutated.why)
    record = InRecord(TOPICS.kvittering, key, mutated.value, (), 0, 0, data.draw(TIMESTAMPS, label="timestamp"))
    records = scenario.records(held, record, data.draw(st.integers(0, 1), label="position"))
    result = run(records)

    source = offset_of(records, records.index(record))
    caused = caused_by(result.outputs, source)
    assert [o.topic for o in caused] == [TOPICS.dlq], caused  # no status, nothing confirmed
    assert caused[0].key == key
    _dlq_value_is_the_input(caused[0], mutated.value)
    reason = (caused[0].header("error") or b"").split(b":")[0]
    assert reason in (b"INVALID_XML", b"NOT_A_RECEIPT", b"UNMATCHED_KVITTERING"), caused[0].headers
    event(f"reason {reason.decode()}")
    _same_otherwise(reference.outputs, result.outputs, source)
    assert result.paid(scenario.sak) == expected_paid(scenario.days[2])


@profile.for_test(weight=0.5)
@given(scenario=scenarios(), data=st.data())
def test_the_receipt_as_os_may_write_it_another_time_is_the_same_receipt(
    scenario: Scenario, data: st.DataObject
) -> None:
    """Padding, another namespace prefix, decimals on whole amounts, elements helved does not
    read: what OS may change is tolerated (spec §7), the history is the same."""
    reference, held = scenario.reference()
    if held is None:
        return
    variant = data.draw(benign_receipt(held), label="variant")
    note(f"receipt variant: {variant.why}")
    assert variant.value is not None
    result = run(scenario.records(variant.value))
    assert canonical(result.outputs) == canonical(reference.outputs)
    assert result.paid(scenario.sak) == expected_paid(scenario.days[2])


@profile.for_test(weight=1.0)
@given(scenario=scenarios(), data=st.data())
def test_any_bytes_in_place_of_the_receipt_never_stop_the_flow(scenario: Scenario, data: st.DataObject) -> None:
    """Byte-level chaos on the real receipt, delivered instead of it: whatever it is, the flow
    goes on, the record is the receipt or one DLQ record, and decision 3 is then handled as it
    would be after the receipt or without it."""
    reference, held = scenario.reference()
    if held is None:
        return
    raw = bytearray(held)
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.integers(0, len(raw) - 1))
        how = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if how == "flip":
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        elif how == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=4))
        else:
            del raw[at : at + data.draw(st.integers(1, 8))]
    records = scenario.records(bytes(raw))
    result = run(records)  # it ends
    index = next(i for i, r in enumerate(records) if r.topic == TOPICS.kvittering)
    caused = caused_by(result.outputs, offset_of(records, index))
    dlq = [o for o in caused if o.topic == TOPICS.dlq]
    assert (len(dlq), len(caused)) == (1, 1) or dlq == [], caused  # one DLQ record, or taken
    try:
        same = parse_kvittering(bytes(raw)) == parse_kvittering(held)
    except ReceiptRejected:
        same = False
    event("read as the same receipt" if same else ("to the DLQ" if dlq else "taken as another receipt"))
    if same:  # OS's receipt with a change helved need not read: the history is the reference's
        assert canonical(result.outputs) == canonical(reference.outputs)
        assert result.paid(scenario.sak) == expected_paid(scenario.days[2])
