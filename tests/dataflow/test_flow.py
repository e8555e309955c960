"""The real Bytewax dataflow, through TestingSource/TestingSink with recovery on."""

from __future__ import annotations

import orjson
import pytest

from helved.records import InRecord
from tests.builders import TOPICS, days, dp, request_record
from tests.dataflow.harness import (
    FlowHarness,
    answer_with,
    json_values,
    of_topic,
    statuses,
)

MP1 = days("mp1", "2025-08-04", "2025-08-08", 1000)
MP2 = days("mp2", "2025-08-18", "2025-08-22", 1000)


def spec_example() -> dict:
    return orjson.loads(open("helved/examples/dagpenger.jsonl").readline())["value"]


@pytest.fixture
def flow(tmp_path) -> FlowHarness:
    return FlowHarness(tmp_path)


def test_happy_path_spec_example(flow):
    out = flow.send(request_record(spec_example(), key="dp-req-1"))
    assert [o.topic for o in out] == [
        TOPICS.status,  # MOTTATT
        TOPICS.oppdrag,
        TOPICS.pending,
        TOPICS.utbetalinger,  # after the receipt: confirmed first ...
        TOPICS.saker,
        TOPICS.pending,  # tombstone: no longer pending
        TOPICS.status,  # ... then OK
    ]
    assert statuses(out) == ["MOTTATT", "OK"]
    (opp,) = of_topic(out, TOPICS.oppdrag)
    assert opp.key == "dp-req-1"
    assert opp.header("fagsystem") == b"DAGPENGER"
    assert opp.header("sak") == b'{"sakId":"SAK-17","fagsystem":"DAGPENGER"}'
    (utb,) = json_values(out, TOPICS.utbetalinger)
    assert opp.header("uids") == utb["uid"].encode()
    assert utb["perioder"] == [
        {"fom": "2025-08-04", "tom": "2025-08-05", "beløp": 1000, "vedtakssats": 1000, "betalendeEnhet": None},
        {"fom": "2025-08-06", "tom": "2025-08-06", "beløp": 700, "vedtakssats": 1000, "betalendeEnhet": None},
    ]
    (saker,) = of_topic(out, TOPICS.saker)
    assert orjson.loads(saker.value) == [utb["uid"]]
    for st in of_topic(out, TOPICS.status):
        assert st.key == "dp-req-1"
        assert st.header("fagsystem") == b"DAGPENGER" and st.header("original-key") == b"dp-req-1"
    mottatt = orjson.loads(of_topic(out, TOPICS.status)[0].value)
    assert mottatt["detaljer"]["linjer"] == [
        {
            "behandlingId": "B-3",
            "fom": "2025-08-04",
            "tom": "2025-08-05",
            "vedtakssats": 1000,
            "beløp": 1000,
            "klassekode": "DAGPENGER",
        },
        {
            "behandlingId": "B-3",
            "fom": "2025-08-06",
            "tom": "2025-08-06",
            "vedtakssats": 1000,
            "beløp": 700,
            "klassekode": "DAGPENGER",
        },
    ]


def test_second_request_is_endr_and_chained(flow):
    flow.send(request_record(dp(MP1), key="k1"))
    out = flow.send(request_record(dp(MP1, MP2, behandling="B-2"), key="k2"))
    assert statuses(out) == ["MOTTATT", "OK"]
    (opp,) = of_topic(out, TOPICS.oppdrag)
    assert b"<kodeEndring>ENDR</kodeEndring>" in opp.value
    assert opp.value.count(b"<oppdrags-linje-150>") == 1  # only the new meldeperiode


def test_idempotent_resend_is_ok_without_an_oppdrag(flow):
    flow.send(request_record(dp(MP1), key="k1"))
    out = flow.send(request_record(dp(MP1), key="k1"))
    assert statuses(out) == ["OK"]
    assert of_topic(out, TOPICS.oppdrag) == []


def test_stop_and_recreate(flow):
    flow.send(request_record(dp(MP1, MP2), key="k1"))
    out = flow.send(request_record(dp(MP2, behandling="B-2"), key="k2"))
    (opp,) = of_topic(out, TOPICS.oppdrag)
    assert b"<kodeStatusLinje>OPPH</kodeStatusLinje>" in opp.value
    stopped = [u for u in json_values(out, TOPICS.utbetalinger) if u["action"] == "DELETE"]
    assert len(stopped) == 1
    (saker,) = json_values(out, TOPICS.saker)
    assert len(saker) == 1 and stopped[0]["uid"] not in saker
    out = flow.send(request_record(dp(MP1, MP2, behandling="B-3"), key="k3"))
    (opp,) = of_topic(out, TOPICS.oppdrag)
    assert b"<refDelytelseId>" in opp.value and b"OPPH" not in opp.value
    (saker,) = json_values(out, TOPICS.saker)
    assert stopped[0]["uid"] in saker and len(saker) == 2


def test_mixed_operations_in_one_oppdrag(flow):
    mp3 = days("mp3", "2025-09-01", "2025-09-05", 1000)
    flow.send(request_record(dp(MP1, MP2), key="k1"))
    changed = days("mp1", "2025-08-04", "2025-08-08", 900)
    out = flow.send(request_record(dp(changed, mp3, behandling="B-2"), key="k2"))
    (opp,) = of_topic(out, TOPICS.oppdrag)
    assert opp.value.count(b"<oppdrags-linje-150>") == 3  # update mp1, create mp3, stop mp2
    actions = sorted(u["action"] for u in json_values(out, TOPICS.utbetalinger))
    assert actions == ["CREATE", "DELETE", "UPDATE"]
    assert statuses(out) == ["MOTTATT", "OK"]


@pytest.mark.parametrize(
    ("code", "final", "error"),
    [
        ("00", "OK", None),
        ("04", "OK", {"statusCode": 200, "msg": "melding 04", "doc": None}),
        ("08", "FEILET", {"statusCode": 400, "msg": "melding 08", "doc": None}),
        ("12", "FEILET", {"statusCode": 500, "msg": "melding 12", "doc": None}),
    ],
)
def test_receipt_codes(tmp_path, code, final, error):
    flow = FlowHarness(tmp_path, answer_with(code))
    out = flow.send(request_record(dp(MP1), key="k1"))
    assert statuses(out) == ["MOTTATT", final]
    last = json_values(out, TOPICS.status)[-1]
    assert last["error"] == error
    confirmed = of_topic(out, TOPICS.utbetalinger)
    assert (len(confirmed) == 1) == (final == "OK")
    assert (len(of_topic(out, TOPICS.saker)) == 1) == (final == "OK")


def test_rejected_oppdrag_keeps_the_previous_state(tmp_path):
    flow = FlowHarness(tmp_path, answer_with("00", "08", "00"))
    flow.send(request_record(dp(MP1), key="k1"))
    flow.send(request_record(dp(MP1, MP2, behandling="B-2"), key="k2"))  # rejected by OS
    out = flow.send(request_record(dp(MP1, MP2, behandling="B-3"), key="k3"))
    # The same change is sent again: the rejected one never became the confirmed state.
    (opp,) = of_topic(out, TOPICS.oppdrag)
    assert opp.value.count(b"<oppdrags-linje-150>") == 1
    assert statuses(out) == ["MOTTATT", "OK"]


def test_request_waits_behind_an_oppdrag_in_flight(flow):
    out1 = flow.send(request_record(dp(MP1), key="k1"), answer=False)
    assert statuses(out1) == ["MOTTATT"]
    out2 = flow.send(request_record(dp(MP1, MP2, behandling="B-2"), key="k2"), answer=False)
    assert of_topic(out2, TOPICS.oppdrag) == []
    assert json_values(out2, TOPICS.status) == [
        {"status": "MOTTATT", "detaljer": None, "error": None, "simulering": False}
    ]
    # Another sak is not held up.
    other = flow.send(request_record(dp(MP1, sak="SAK-2"), key="other"))
    assert statuses(other) == ["MOTTATT", "OK"]
    # The receipt for k1 releases k2, which is diffed against the new confirmed state.
    (opp1,) = of_topic(out1, TOPICS.oppdrag)
    kv = flow.answer(opp1)[0]
    out3 = flow.send(InRecord(TOPICS.kvittering, "k1", kv, (), 0, 0, None))
    assert [(o.key, orjson.loads(o.value)["status"]) for o in of_topic(out3, TOPICS.status)] == [
        ("k1", "OK"),
        ("k2", "MOTTATT"),
        ("k2", "OK"),
    ]
    opp2 = [o for o in of_topic(out3, TOPICS.oppdrag) if o.key == "k2"][0]
    assert b"<kodeEndring>ENDR</kodeEndring>" in opp2.value
    assert opp2.value.count(b"<oppdrags-linje-150>") == 1


def test_poison_input_then_a_good_one(flow):
    bad = flow.send(request_record(b'{"sakId": "SAK-1", oops', key="bad"))
    assert [o.topic for o in bad] == [TOPICS.status, TOPICS.dlq]
    st = json_values(bad, TOPICS.status)[0]
    assert st["status"] == "FEILET" and st["error"]["statusCode"] == 400
    assert st["error"]["msg"].startswith("INVALID_JSON")
    (dlq,) = of_topic(bad, TOPICS.dlq)
    assert dlq.key == "bad" and dlq.value == b'{"sakId": "SAK-1", oops'
    assert dlq.header("error").startswith(b"INVALID_JSON")
    good = flow.send(request_record(dp(MP1), key="good"))
    assert statuses(good) == ["MOTTATT", "OK"]


def test_rule_violation_is_feilet_under_the_senders_key_and_kept(flow):
    out = flow.send(request_record(dp(MP1, saksbehandler="dagpenger"), key="k9"))
    (st,) = of_topic(out, TOPICS.status)
    assert st.key == "k9"
    assert orjson.loads(st.value)["error"]["msg"].startswith("SAKSBEHANDLER_LENGTH")
    assert len(of_topic(out, TOPICS.dlq)) == 1


def test_a_bug_in_the_sak_step_is_feilet_500_and_the_flow_goes_on(flow, monkeypatch):
    import helved.flow.apply as sak_step

    real = sak_step.on_request

    def buggy(state, req):
        if req.sak_key.sak_id == "BOOM":
            raise ZeroDivisionError("bug")
        return real(state, req)

    monkeypatch.setattr(sak_step, "on_request", buggy)
    out = flow.send(request_record(dp(MP1, sak="BOOM"), key="boom"))
    st = json_values(out, TOPICS.status)[0]
    assert st["status"] == "FEILET" and st["error"]["statusCode"] == 500
    assert len(of_topic(out, TOPICS.dlq)) == 1
    assert statuses(flow.send(request_record(dp(MP1), key="next"))) == ["MOTTATT", "OK"]


def test_unmatched_and_unreadable_receipts_go_to_the_dlq(flow):
    flow.send(request_record(dp(MP1), key="k1"), answer=False)
    junk = flow.send(InRecord(TOPICS.kvittering, "x", b"<not-xml", (), 0, 0, None))
    assert [o.topic for o in junk] == [TOPICS.dlq]
    head = b'<?xml version="1.0"?><oppdrag xmlns="http://www.trygdeetaten.no/skjema/oppdrag"><mmel><alvorlighetsgrad>00</alvorlighetsgrad></mmel><oppdrag-110><kodeFagomraade>DP</kodeFagomraade><fagsystemId>SAK-1</fagsystemId>'
    stamp = b"<avstemming-115><nokkelAvstemming>2020-01-01-00.00.00.000000</nokkelAvstemming></avstemming-115>"
    stranger = head + stamp + b"</oppdrag-110></oppdrag>"
    out = flow.send(InRecord(TOPICS.kvittering, "x", stranger, (), 0, 0, None))
    assert [o.topic for o in out] == [TOPICS.dlq]
    assert out[0].header("error").startswith(b"UNMATCHED_KVITTERING")
    # Without avstemming-115 it is not a receipt at all (spec §7).
    out = flow.send(InRecord(TOPICS.kvittering, "x", head + b"</oppdrag-110></oppdrag>", (), 0, 0, None))
    assert [o.topic for o in out] == [TOPICS.dlq]
    assert out[0].header("error").startswith(b"NOT_A_RECEIPT")


def test_dryrun_sends_a_simulation_and_changes_nothing(flow):
    flow.send(request_record(dp(MP1), key="k1"))
    out = flow.send(request_record(dp(MP1, MP2, dryrun=True), key="sim"))
    assert [o.topic for o in out] == [TOPICS.simuleringer]
    # Nothing changed: the real request afterwards still sends mp2.
    out = flow.send(request_record(dp(MP1, MP2, behandling="B-2"), key="k2"))
    assert of_topic(out, TOPICS.oppdrag)[0].value.count(b"<oppdrags-linje-150>") == 1


def _dedupe(records):
    """Bytewax output is at-least-once: a replayed epoch repeats byte-identical records."""
    seen, out = set(), []
    for r in records:
        ident = (r.topic, r.key, r.value, r.headers)
        if ident not in seen:
            seen.add(ident)
            out.append(r)
    return out


def scenario():
    yield request_record(dp(MP1), key="a1")
    yield request_record(dp(MP1, sak="SAK-2"), key="b1")
    yield request_record(dp(MP1, MP2, behandling="B-2"), key="a2")
    yield request_record(b"garbage", key="x")
    yield request_record(dp(MP2, behandling="B-3"), key="a3")
    yield request_record(dp(sak="SAK-2", behandling="B-2"), key="b2")


def test_restart_from_recovery_mid_stream_gives_the_same_outputs(tmp_path):
    ref = FlowHarness(tmp_path / "ref")
    for rec in scenario():
        ref.send(rec)

    crashy = FlowHarness(tmp_path / "crashy")
    for i, rec in enumerate(scenario()):
        if i in (2, 4):
            crashy.crash_then_resume(rec)
        else:
            crashy.send(rec)
    assert len(crashy.outputs) > len(ref.outputs)  # the crashes did replay some outputs
    assert _dedupe(crashy.outputs) == ref.outputs
