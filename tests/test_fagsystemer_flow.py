"""Every fagsystem end to end through the real dataflow, in-process, with the OS emulator
answering: its topic, its parser, its Oppdrag, its receipt, its status under the sender's key,
and what OS pays (`fagsystemer.md`, settled rules 1-4, 11)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from helved.config import Topics
from helved.domain.model import Fagsystem
from helved.emulator import OsEmulator
from helved.emulator.replay import emulator_answer
from helved.records import InRecord, OutRecord
from helved.replay import os_stand_in, replay_records

TOPICS = Topics()
IDENT = "12345678910"
UUID1 = "6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
UUID2 = "7a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
UUID3 = "8b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e"


def record(fagsystem: Fagsystem, key: str, value: dict[str, Any], offset: int) -> InRecord:
    return InRecord(TOPICS.input(fagsystem), key, orjson.dumps(value), (), 0, offset, 1_756_000_000_000 + offset)


def run(records: list[InRecord], emulator: OsEmulator | None = None) -> tuple[list[OutRecord], OsEmulator]:
    emu = emulator or OsEmulator()
    out = replay_records(records, emulator_answer(emu), TOPICS)
    return out, emu


def statuses(out: list[OutRecord], key: str) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in out if r.topic == TOPICS.status and r.key == key and r.value]


def final(out: list[OutRecord], key: str) -> dict[str, Any]:
    return statuses(out, key)[-1]


def oppdrag(out: list[OutRecord], key: str) -> list[bytes]:
    return [r.value for r in out if r.topic == TOPICS.oppdrag and r.key == key and r.value]


def total(emu: OsEmulator, fagområde: str, sak: str) -> int:
    return sum(sum(days.values()) for days in emu.paid(fagområde, sak).values())


# -- one message per sender ---------------------------------------------------------------------


def aap(sak: str = "AAP-1", beløp: int = 700, **kw: Any) -> dict[str, Any]:
    return {
        "sakId": sak,
        "behandlingId": "B1",
        "ident": IDENT,
        "vedtakstidspunktet": "2025-08-20T10:00:00",
        "utbetalinger": [
            {"id": UUID1, "fom": "2025-08-04", "tom": "2025-08-08", "sats": 700, "utbetaltBeløp": beløp},
            {"id": UUID1, "fom": "2025-08-11", "tom": "2025-08-15", "sats": 700, "utbetaltBeløp": beløp},
        ],
        **kw,
    }


def tp(sak: str = "TP-1", **kw: Any) -> dict[str, Any]:
    return {
        "sakId": sak,
        "behandlingId": "B1",
        "personident": IDENT,
        "vedtakstidspunkt": "2025-08-20T10:00:00",
        "perioder": [
            {"meldeperiode": "M1", "fom": "2025-08-04", "tom": "2025-08-15", "beløp": 300, "stønad": "JOBBKLUBB"},
            {
                "meldeperiode": "M1",
                "fom": "2025-08-04",
                "tom": "2025-08-15",
                "beløp": 50,
                "stønad": "JOBBKLUBB",
                "barnetillegg": True,
            },
        ],
        **kw,
    }


def ts(sak: str = "TS-1", utbetalinger: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "sakId": sak,
        "behandlingId": "B1",
        "personident": IDENT,
        "vedtakstidspunkt": "2025-08-20T10:00:00",
        "periodetype": "MND",
        "utbetalinger": utbetalinger
        if utbetalinger is not None
        else [
            {
                "id": UUID1,
                "stønad": "TILSYN_BARN_AAP",
                "perioder": [{"fom": "2025-08-01", "tom": "2025-08-31", "beløp": 3000}],
            },
            {
                "id": UUID2,
                "stønad": "LÆREMIDLER_AAP",
                "perioder": [{"fom": "2025-08-01", "tom": "2025-08-31", "beløp": 500}],
            },
        ],
    }


def historisk(sak: str = "H-1", perioder: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": UUID3,
        "sakId": sak,
        "behandlingId": "B1",
        "personident": IDENT,
        "stønad": "PARYKK",
        "vedtakstidspunkt": "2025-08-20T10:00:00",
        "periodetype": "EN_GANG",
        "perioder": perioder if perioder is not None else [{"fom": "2025-08-01", "tom": "2025-08-01", "beløp": 4000}],
    }


def valp(sak: str = "V-1", belop: int = 12000) -> dict[str, Any]:
    return {
        "id": UUID2,
        "sakId": sak,
        "behandlingId": "B1",
        "personIdent": IDENT,
        "periode": {"fom": "2025-08-01", "tom": "2025-08-31"},
        "belop": belop,
        "tilskuddstype": "SKOLEPENGER",
        "tiltakskode": "HOYERE_UTDANNING",
        "kostnadssted": "0315",
        "saksbehandler": "Z123456",
        "besluttetTidspunkt": "2025-08-20T08:00:00Z",
    }


CASES = [
    pytest.param(Fagsystem.AAP, aap(), "AAP", "AAP-1", 7000, id="aap"),
    pytest.param(Fagsystem.TILTAKSPENGER, tp(), "TILTPENG", "TP-1", 3500, id="tiltakspenger"),
    pytest.param(Fagsystem.HISTORISK, historisk(), "HELSREF", "H-1", 4000, id="historisk"),
    pytest.param(Fagsystem.VALP, valp(), "TILSOPP", "V-1", 12000, id="valp"),
]


@pytest.mark.parametrize(("fagsystem", "message", "fagområde", "sak", "paid"), CASES)
def test_a_decision_on_the_senders_topic_is_paid_by_os_and_answered_ok_under_its_key(
    fagsystem, message, fagområde, sak, paid
):
    out, emu = run([record(fagsystem, "k1", message, 0)])
    assert [s["status"] for s in statuses(out, "k1")] == ["MOTTATT", "OK"]
    (xml,) = oppdrag(out, "k1")
    assert f"<kodeFagomraade>{fagområde}</kodeFagomraade>".encode() in xml
    assert total(emu, fagområde, sak) == paid
    status_headers = [dict(r.headers) for r in out if r.topic == TOPICS.status and r.key == "k1"]
    assert all(h["fagsystem"] == fagsystem.value.encode() for h in status_headers)


def test_historisk_is_paid_with_utbetfrekvens_eng():
    out, _ = run([record(Fagsystem.HISTORISK, "k1", historisk(), 0)])
    (xml,) = oppdrag(out, "k1")
    assert b"<utbetFrekvens>ENG</utbetFrekvens>" in xml and b"<typeSats>ENG</typeSats>" in xml


def test_valp_pays_under_its_kostnadssted_as_betalende_enhet():
    out, _ = run([record(Fagsystem.VALP, "k1", valp(), 0)])
    (xml,) = oppdrag(out, "k1")
    assert b"<typeEnhet>BOS</typeEnhet><enhet>0315</enhet>" in xml
    assert b"<typeEnhet>BEH</typeEnhet><enhet>8020</enhet>" in xml


def test_tilleggsstonader_over_two_fagomrader_sends_two_oppdrag_and_is_ok_when_both_are_confirmed():
    out, emu = run([record(Fagsystem.TILLEGGSSTØNADER, "k1", ts(), 0)])
    sent = oppdrag(out, "k1")
    assert len(sent) == 2
    assert {b"TILLSTPB" in x for x in sent} == {True, False}
    (mottatt, ok) = statuses(out, "k1")
    assert mottatt["status"] == "MOTTATT" and len(mottatt["detaljer"]["linjer"]) == 2
    assert ok["status"] == "OK"
    assert total(emu, "TILLSTPB", "TS-1") == 3000 and total(emu, "TILLSTLM", "TS-1") == 500
    # one state key (sakId, fagsystem) for both fagområder (settled rule 2)
    saker = [r for r in out if r.topic == TOPICS.saker]
    assert {r.key for r in saker} == {'{"sakId":"TS-1","fagsystem":"TILLEGGSSTØNADER"}'}
    assert sorted(orjson.loads(saker[-1].value)) == sorted([UUID1, UUID2])


def test_a_tilleggsstonad_touches_only_what_it_names_and_stops_what_it_names_with_empty_perioder():
    first = record(Fagsystem.TILLEGGSSTØNADER, "k1", ts(), 0)
    stop = record(
        Fagsystem.TILLEGGSSTØNADER,
        "k2",
        ts(utbetalinger=[{"id": UUID2, "stønad": "LÆREMIDLER_AAP", "perioder": []}]),
        1,
    )
    again = record(
        Fagsystem.TILLEGGSSTØNADER,
        "k3",
        ts(utbetalinger=[{"id": UUID2, "stønad": "LÆREMIDLER_AAP", "perioder": []}]),
        2,
    )
    out, emu = run([first, stop, again])
    assert final(out, "k2")["status"] == "OK" and len(oppdrag(out, "k2")) == 1
    assert total(emu, "TILLSTLM", "TS-1") == 0 and total(emu, "TILLSTPB", "TS-1") == 3000
    # a second stop of a stopped id is a no-op, OK, no Oppdrag (settled rule 4)
    assert [s["status"] for s in statuses(out, "k3")] == ["OK"] and oppdrag(out, "k3") == []


def test_stopping_an_utbetaling_never_paid_is_a_404():
    msg = ts(utbetalinger=[{"id": UUID3, "stønad": "LÆREMIDLER_AAP", "perioder": []}])
    out, _ = run([record(Fagsystem.TILLEGGSSTØNADER, "k1", msg, 0)])
    (s,) = statuses(out, "k1")
    assert s["status"] == "FEILET" and s["error"]["statusCode"] == 404


def test_aap_without_anything_to_pay_is_ok_at_once():
    out, _ = run([record(Fagsystem.AAP, "k1", aap(beløp=0), 0)])
    assert [s["status"] for s in statuses(out, "k1")] == ["OK"] and oppdrag(out, "k1") == []


def test_aap_avvent_alone_sends_an_oppdrag_without_lines():
    avvent = {"fom": "2025-08-04", "tom": "2025-08-15", "årsak": "AVVENT_AVREGNING"}
    out, emu = run([record(Fagsystem.AAP, "k1", aap(), 0), record(Fagsystem.AAP, "k2", aap(avvent=avvent), 1)])
    assert final(out, "k2")["status"] == "OK"
    (xml,) = oppdrag(out, "k2")
    assert b"<avvent-118>" in xml and b"<kodeArsak>AVAV</kodeArsak>" in xml and b"oppdrags-linje-150" not in xml
    assert total(emu, "AAP", "AAP-1") == 7000


def test_tiltakspenger_stops_a_missing_meldeperiode_with_its_own_stonad():
    out, emu = run(
        [record(Fagsystem.TILTAKSPENGER, "k1", tp(), 0), record(Fagsystem.TILTAKSPENGER, "k2", tp(perioder=[]), 1)]
    )
    assert final(out, "k2")["status"] == "OK"
    (xml,) = oppdrag(out, "k2")
    assert b"<kodeKlassifik>TPTPJK2009</kodeKlassifik>" in xml and b"<kodeKlassifik>TPBTJK2009</kodeKlassifik>" in xml
    assert total(emu, "TILTPENG", "TP-1") == 0


def test_a_rejected_receipt_for_one_fagomrade_fails_the_request_naming_it_and_confirms_the_other():
    emu = OsEmulator()
    answer = emulator_answer(emu)

    def reject_læremidler(rec: OutRecord) -> list[bytes]:
        receipts = answer(rec)
        if rec.value and b"<kodeFagomraade>TILLSTLM<" in rec.value:
            return [
                r.replace(b"<alvorlighetsgrad>00</alvorlighetsgrad>", b"<alvorlighetsgrad>08</alvorlighetsgrad>")
                for r in receipts
            ]
        return receipts

    out = replay_records([record(Fagsystem.TILLEGGSSTØNADER, "k1", ts(), 0)], reject_læremidler, TOPICS)
    s = final(out, "k1")
    assert s["status"] == "FEILET" and s["error"]["msg"].startswith("TILLSTLM: ")
    confirmed = [orjson.loads(r.value) for r in out if r.topic == TOPICS.utbetalinger and r.value]
    assert len(confirmed) == 1 and confirmed[0]["stønad"] == "TILSYN_BARN_AAP"


@pytest.mark.parametrize(
    ("fagsystem", "message", "dryrun_topic"),
    [
        pytest.param(Fagsystem.AAP, aap(dryrun=True), "helved.dryrun-aap.v1", id="aap"),
        pytest.param(Fagsystem.TILTAKSPENGER, tp(dryrun=True), "helved.dryrun-tp.v1", id="tiltakspenger"),
        pytest.param(Fagsystem.VALP, {**valp(), "dryrun": True}, "helved.dryrun-valp.v1", id="valp"),
    ],
)
def test_a_dryrun_is_answered_on_the_fagsystems_own_dryrun_topic(fagsystem, message, dryrun_topic):
    answer, simulate = os_stand_in(None, TOPICS)
    out = replay_records([record(fagsystem, "k1", message, 0)], answer, TOPICS, simulate)
    answers = [orjson.loads(r.value) for r in out if r.topic == dryrun_topic and r.key == "k1"]
    assert len(answers) == 1 and answers[0]["@type"] == "v2"
    assert [s["simulering"] for s in statuses(out, "k1")] == [True]
    assert oppdrag(out, "k1") == []


def test_a_request_on_an_input_topic_is_parsed_by_that_topics_fagsystem_only():
    # An AAP message on the dagpenger topic is not paid as dagpenger: it is a 400 there.
    out, _ = run([InRecord(TOPICS.dagpenger, "k1", orjson.dumps(aap()), (), 0, 0, 1_756_000_000_000)])
    (s,) = statuses(out, "k1")
    assert s["status"] == "FEILET" and s["error"]["statusCode"] == 400


def test_the_dates_of_a_valp_decision_are_its_besluttet_tidspunkt_in_oslo():
    out, _ = run([record(Fagsystem.VALP, "k1", valp(), 0)])
    (xml,) = oppdrag(out, "k1")
    assert b"<vedtakId>2025-08-20</vedtakId>" in xml
    assert date(2025, 8, 20)


# -- `helved replay` and `helved avstemming` over one decision of every other fagsystem -----------

EXAMPLES = Path(__file__).resolve().parent.parent / "helved" / "examples" / "fagsystemer.jsonl"


def test_replay_of_every_fagsystem_gives_schema_valid_oppdrag_each_confirmed_and_one_avstemming_per_fagomrade(
    tmp_path: Path,
) -> None:
    from helved.cli import main
    from helved.oppdrag.schema import oppdrag_schema, schema_errors

    out = tmp_path / "out.jsonl"
    assert main(["replay", str(EXAMPLES), "--emulate-oppdrag", "--out", str(out)]) == 0
    recs = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    inputs = [orjson.loads(line) for line in EXAMPLES.read_bytes().splitlines()]
    assert {r["topic"] for r in inputs} == {TOPICS.input(f) for f in Fagsystem} - {TOPICS.dagpenger}
    finals = {r["key"]: r["value"]["status"] for r in recs if r["topic"] == TOPICS.status}
    assert finals == {r["key"]: "OK" for r in inputs}
    xmls = [r["value"].encode() for r in recs if r["topic"] == TOPICS.oppdrag]
    assert len(xmls) == 6  # tilleggsstønader's decision spans two fagområder
    for xml in xmls:
        assert schema_errors(oppdrag_schema(), xml) == []
    receipts = [r for r in recs if r["topic"] == TOPICS.kvittering]
    assert len(receipts) == 6 and all(b"<alvorlighetsgrad>00<" in r["value"].encode() for r in receipts)

    # grensesnittavstemming of that day: one START/DATA/AVSL per fagområde, all godkjent
    avstemming = tmp_path / "avstemming.jsonl"
    args = ["avstemming", "--records", str(out), "--fom", "2025-08-20", "--tom", "2025-08-20", "--out", str(avstemming)]
    assert main(args) == 0
    messages = [orjson.loads(line) for line in avstemming.read_bytes().splitlines()]
    by_fagområde: dict[str, list[str]] = {}
    for m in messages:
        by_fagområde.setdefault(m["key"], []).append(m["value"])
    assert sorted(by_fagområde) == ["AAP", "HELSREF", "TILLSTLM", "TILLSTPB", "TILSOPP", "TILTPENG"]
    for values in by_fagområde.values():
        assert [v.split("<aksjonType>")[1][:4] for v in values] == ["STAR", "DATA", "AVSL"]
        assert "<godkjentAntall>1</godkjentAntall>" in values[1]
