"""Issue 11 and the pipeline's own intake rules, without an engine: the per-partition marks
that drop the intake stage's replays, the avstemming time of a released request, the changelog
codec, the intake topic's record format, and the bounds on what one input may produce."""

from __future__ import annotations

import io
import pickle
from datetime import date, datetime, timedelta

import orjson
import pytest

from helved.domain.diff import MAX_LINJER
from helved.domain.model import Kvittering, Source
from helved.domain.sak import (
    OppdragOut,
    SakState,
    already_applied,
    mark_applied,
    on_receipt,
    on_request,
)
from helved.fagsystemer.dagpenger import parse_request
from helved.flow.apply import apply
from helved.flow.config import FlowConfig
from helved.flow.encode import DLQ_ERROR_LIMIT, DLQ_VALUE_LIMIT
from helved.flow.events import ReceiptEvent, RequestEvent
from helved.flow.intake import from_intake, intake, to_intake
from helved.oppdrag.simulering import simulering_xml
from helved.oppdrag.xml import oppdrag_xml
from helved.oslo import record_time
from helved.records import InRecord, OutRecord
from helved.statelog import (
    ChangelogStates,
    StateFormatError,
    decode_state,
    encode_state,
)
from tests.builders import TOPICS, day, days, dp, request_record

MESSAGE_LIMIT = 1_000_000  # the producer's message.max.bytes (librdkafka's and Kafka's default)
MP1 = days("mp1", "2025-08-04", "2025-08-08", 1000)
MP2 = days("mp2", "2025-08-18", "2025-08-22", 1000)


def _src(offset: int, partition: int = 0, topic: str = TOPICS.dagpenger) -> Source:
    return Source(topic, partition, offset, "k", None)


def _receipt(o: OppdragOut) -> Kvittering:
    return Kvittering(
        o.oppdrag.fagområde,
        o.oppdrag.fagsystem_id,
        "00",
        None,
        None,
        o.oppdrag.delytelse_ids,
        frozenset(ln.henvisning for ln in o.oppdrag.linjer),
        o.oppdrag.line_fingerprints,
        o.oppdrag.nokkel_avstemming,
    )


# -- marks -------------------------------------------------------------------------------------


def test_an_input_at_or_below_its_partitions_mark_is_a_replay() -> None:
    state = mark_applied(SakState(parse_request(dp(MP1), original_key="k").sak_key), _src(7, partition=1))
    assert already_applied(state, _src(7, partition=1))
    assert already_applied(state, _src(3, partition=1))
    assert not already_applied(state, _src(8, partition=1))
    assert not already_applied(state, _src(2, partition=0)), "marks are per partition"
    assert not already_applied(state, _src(2, partition=1, topic=TOPICS.kvittering)), "and per topic"
    assert not already_applied(None, _src(0))


def test_the_sak_step_drops_a_replayed_request_and_writes_its_state_to_the_changelog() -> None:
    config = FlowConfig(TOPICS, changelog=True)
    (item,) = intake(config, request_record(dp(MP1), key="k1", offset=5))
    key, event = item
    state, out = apply(config, None, event)
    assert [r.topic for r in out][-1] == TOPICS.sak_state, "the changelog record comes last"
    assert decode_state(out[-1].value) == state and state.applied == {(TOPICS.dagpenger, 0): 5}
    again, out2 = apply(config, state, event)
    assert again is state and out2 == [], "a replay of an applied input changes and emits nothing"
    (older,) = intake(config, request_record(dp(MP2, behandling="B-2"), key="k2", offset=4))
    assert apply(config, state, older[1]) == (state, [])


# -- nokkelAvstemming of a released request (spec §11) ----------------------------------------


def test_a_request_released_by_a_later_receipt_takes_the_receipts_time() -> None:
    first = parse_request(dp(MP1), original_key="k1", avstemming=datetime(2025, 8, 18, 10, 0))
    state, out = on_request(None, first)
    (oppdrag,) = [o for o in out if isinstance(o, OppdragOut)]
    second = parse_request(dp(MP1, MP2, behandling="B-2"), original_key="k2", avstemming=datetime(2025, 8, 18, 10, 1))
    state, _ = on_request(state, second)  # waits
    released_at = datetime(2025, 8, 18, 23, 59, 59, 123000)
    _, out = on_receipt(state, _receipt(oppdrag), None, released_at)
    (nxt,) = [o for o in out if isinstance(o, OppdragOut)]
    assert nxt.oppdrag.avstemming.replace(microsecond=123000) == released_at
    # Sent after its predecessor's receipt instead (no wait), with the later timestamp it would
    # then have, the request gets the same key: a crash replay cannot change the bytes.
    state2, _ = on_request(None, first)
    state2, _ = on_receipt(state2, _receipt(oppdrag), None, released_at)
    late = parse_request(dp(MP1, MP2, behandling="B-2"), original_key="k2", avstemming=released_at)
    _, out3 = on_request(state2, late)
    (direct,) = [o for o in out3 if isinstance(o, OppdragOut)]
    assert oppdrag_xml(direct.oppdrag) == oppdrag_xml(nxt.oppdrag)


def test_an_earlier_receipt_leaves_the_requests_own_time() -> None:
    first = parse_request(dp(MP1), original_key="k1", avstemming=datetime(2025, 8, 18, 10, 0))
    state, out = on_request(None, first)
    (oppdrag,) = [o for o in out if isinstance(o, OppdragOut)]
    second = parse_request(dp(MP1, MP2, behandling="B-2"), original_key="k2", avstemming=datetime(2025, 8, 18, 12, 0))
    state, _ = on_request(state, second)
    _, out = on_receipt(state, _receipt(oppdrag), None, datetime(2025, 8, 18, 11, 0))
    (nxt,) = [o for o in out if isinstance(o, OppdragOut)]
    assert nxt.oppdrag.avstemming.replace(microsecond=0) == datetime(2025, 8, 18, 12, 0)


@pytest.mark.parametrize("ms", [-(10**15), 10**15, -2_300_000_000_000, 253_402_300_800_000])
def test_timestamps_outside_1900_to_9999_are_ignored(ms: int) -> None:
    assert record_time(ms) is None


def test_a_timestamp_inside_the_range_is_oslo_wall_time() -> None:
    assert record_time(1_755_502_200_000) == datetime(2025, 8, 18, 9, 30)


# -- the changelog codec -----------------------------------------------------------------------


def test_a_sak_state_survives_the_changelog_codec() -> None:
    state, out = on_request(None, parse_request(dp(MP1), original_key="k1", source=_src(1)))
    state = mark_applied(state, _src(1))
    assert decode_state(encode_state(state)) == state
    restored = ChangelogStates.from_records([("a", encode_state(state)), ("b", encode_state(state)), ("b", None)])
    assert restored.take("a") == state and restored.take("b") is None
    assert "1 saker" in restored.summary() and "1 Oppdrag in flight" in restored.summary()


def test_changelog_states_are_checked_when_read_and_dropped_for_saker_the_snapshot_restored() -> None:
    state, _ = on_request(None, parse_request(dp(MP1), original_key="k1", source=_src(1)))
    good = encode_state(state)
    with pytest.raises(StateFormatError):  # a changelog that lies stops the start, not a sak later
        ChangelogStates.from_records([("a", good), ("b", b"\x02whatever")])
    key = state.sak_key.as_json_text()
    restored = ChangelogStates.from_records([(key, good), ("b", good)])
    assert restored.take(key) == state and restored.take(key) == state  # as often as asked
    # The sak step built from a recovery snapshot drops the changelog's copy of that sak.
    from helved.flow.wiring import SakLogic

    SakLogic(lambda s, e: (s, []), state, restored)
    assert restored.take(key) is None and len(restored) == 1
    assert restored.take("b") == state  # a sak the snapshot lacks still starts from the changelog


class _Evil:
    def __reduce__(self):  # what an attacker writing to the topic would send
        import os

        return (os.system, ("echo pwned",))


def test_a_changelog_record_that_names_other_code_is_refused() -> None:
    with pytest.raises(StateFormatError):
        decode_state(b"\x01" + pickle.dumps(_Evil()))
    with pytest.raises(StateFormatError):
        decode_state(b"\x01" + pickle.dumps(io.BytesIO(b"")))
    with pytest.raises(StateFormatError):
        decode_state(b"\x02whatever")
    with pytest.raises(StateFormatError):
        decode_state(b"\x01" + pickle.dumps({"not": "a state"}))


# -- the intake topic's records ----------------------------------------------------------------


def test_an_intake_record_reads_back_as_the_input_it_was() -> None:
    config = FlowConfig(TOPICS)
    rec = InRecord(
        TOPICS.dagpenger, "k1", orjson.dumps(dp(MP1)), (("traceparent", b"00-ab"),), 2, 41, 1_755_502_200_000
    )
    (item,) = intake(config, rec)
    out = to_intake(config.topics, item)
    assert out.topic == TOPICS.intake and out.key == item[0] and out.value == rec.value
    back = InRecord(out.topic, out.key, out.value, out.headers, 1, 9, out.timestamp_ms)
    (again,) = from_intake(config, back)
    assert again[0] == item[0]
    assert isinstance(again[1], RequestEvent) and again[1].request == item[1].request
    src = again[1].source
    assert (src.topic, src.partition, src.offset, src.key, src.timestamp_ms) == (
        TOPICS.dagpenger,
        2,
        41,
        "k1",
        rec.timestamp_ms,
    )
    assert src.headers == rec.headers


def test_a_receipt_goes_through_the_intake_topic_with_its_time() -> None:
    config = FlowConfig(TOPICS)
    (req,) = intake(config, request_record(dp(MP1)))
    _, out = apply(config, None, req[1])
    (oppdrag,) = [r for r in out if r.topic == TOPICS.oppdrag]
    from helved.oppdrag.xml import echo_kvittering

    receipt = InRecord(TOPICS.kvittering, None, echo_kvittering(oppdrag.value, "00", None), (), 1, 3, 1_755_502_260_000)
    (item,) = intake(config, receipt)
    written = to_intake(config.topics, item)
    (back,) = from_intake(config, InRecord(TOPICS.intake, written.key, written.value, written.headers, 0, 0, None))
    assert isinstance(back[1], ReceiptEvent) and back[1].sak_key == req[0]
    assert back[1].at == datetime(2025, 8, 18, 9, 31) and back[1].source.key is None


def test_a_foreign_record_on_the_intake_topic_goes_to_the_dlq() -> None:
    (dlq,) = from_intake(FlowConfig(TOPICS), InRecord(TOPICS.intake, "x", b"{}", (), 0, 0, None))
    assert isinstance(dlq, OutRecord) and dlq.topic == TOPICS.dlq
    assert dlq.header("error").startswith(b"NOT_AN_INTAKE_RECORD")


# -- intake rules and bounds (spec §2, §12) ----------------------------------------------------


@pytest.mark.parametrize("key", [None, ""])
def test_a_request_without_a_key_goes_to_the_dlq_unanswered(key: str | None) -> None:
    out = intake(FlowConfig(TOPICS), request_record(dp(MP1), key=key))
    assert [r.topic for r in out] == [TOPICS.dlq]
    assert out[0].header("error").startswith(b"MISSING_KEY")


def test_a_record_of_another_topic_is_never_read_as_a_request() -> None:
    rec = InRecord("teamaap.utbetaling.v1", "k1", orjson.dumps(dp(MP1)), (), 0, 0, None)
    out = intake(FlowConfig(TOPICS), rec)
    assert [r.topic for r in out] == [TOPICS.dlq]
    assert out[0].header("error").startswith(b"UNKNOWN_TOPIC")
    assert out[0].value == rec.value


def test_the_dlq_keeps_an_oversized_input_as_a_digest_and_bounds_its_error() -> None:
    huge = b'{"sakId": "' + b"x" * (DLQ_VALUE_LIMIT + 10) + b'"'
    out = intake(FlowConfig(TOPICS), request_record(huge))
    (dlq,) = [r for r in out if r.topic == TOPICS.dlq]
    assert dlq.value is None and b"sha256" in dlq.header("value-dropped")
    assert len(dlq.header("error")) <= DLQ_ERROR_LIMIT * 4
    assert sum(len(k) + len(v) for k, v in dlq.headers) < MESSAGE_LIMIT // 2
    assert dlq.headers[0][0] == "error" and dlq.headers[1][0] == "src-topic", "helved's headers first"


def _many_lines(n_meldeperioder: int, sak: str = "S" * 30, behandling: str = "B" * 30) -> dict:
    start = date(2021, 1, 4)
    entries = []
    for k in range(n_meldeperioder):
        fom = start + timedelta(days=14 * k)
        label = f"mp{k}"
        for i, off in enumerate((0, 1, 2, 3, 4, 7, 8, 9, 10, 11)):
            entries.append(day(label, fom + timedelta(days=off), 99_999_999 - (i % 2), sats=99_999_999))
    return dp(entries, sak=sak, behandling=behandling)


def test_a_request_whose_oppdrag_would_be_too_large_is_a_400() -> None:
    config = FlowConfig(TOPICS)
    (item,) = intake(config, request_record(_many_lines(MAX_LINJER // 10 + 1)))
    _, out = apply(config, None, item[1])
    assert [r.topic for r in out if r.topic != TOPICS.sak_state] == [TOPICS.status]
    status = orjson.loads(out[0].value)
    assert status["status"] == "FEILET" and status["error"]["statusCode"] == 400
    assert status["error"]["msg"].startswith("OPPDRAG_TOO_LARGE")


def test_the_largest_oppdrag_and_simulation_fit_in_one_message() -> None:
    request = parse_request(_many_lines(MAX_LINJER // 10), original_key="k" * 100)
    _, out = on_request(None, request)
    (o,) = [x for x in out if isinstance(x, OppdragOut)]
    assert len(o.oppdrag.linjer) == MAX_LINJER
    assert len(oppdrag_xml(o.oppdrag)) < MESSAGE_LIMIT * 0.9
    assert len(simulering_xml(o.oppdrag)) < MESSAGE_LIMIT * 0.9
