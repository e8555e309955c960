"""The model system's known bugs (`fagsystemer.md` names them) as regression tests helved must
never have, each through the real dataflow with the OS emulator answering, and each history
checked whole by the fagsystem oracle (`fagsystemer_oracle.check`: the statuses, the Oppdrag per
fagområde, what OS pays after every decision, the confirmed utbetalinger at the end) besides
the assertion the test is named for.

At the end: settled rule 8 on stops, and the bug the ledger property found (an AAP dryrun whose
only change is its avvent crashed the sak step; the input is
tests/property/repro/aap-avvent-only-dryrun.jsonl).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
import pytest

from helved.domain.model import Fagsystem
from helved.emulator import xml as emu_xml

from .fagsystemer_oracle import BASE_TS, TOPICS, Decision, Run, check, run

IDENT = "12345678910"
U1 = "11111111-2222-4333-8444-555555555501"
U2 = "11111111-2222-4333-8444-555555555502"
U3 = "11111111-2222-4333-8444-555555555503"
MP1 = "2025-08-04/2025-08-17"
MP2 = "2025-08-18/2025-08-31"


def decisions(fagsystem: Fagsystem, *msgs: dict[str, Any], invalid: dict[int, str] | None = None) -> list[Decision]:
    invalid = invalid or {}
    return [
        Decision(f"k{i}", fagsystem, m["sakId"], m, invalid.get(i), BASE_TS + 60_000 * i) for i, m in enumerate(msgs)
    ]


def proven(fagsystem: Fagsystem, *msgs: dict[str, Any], codes: dict[tuple[str, str], str] | None = None, **kw) -> Run:
    r = run(fagsystem, decisions(fagsystem, *msgs, **kw), codes or {})
    check(r)
    return r


def statuses(r: Run, key: str) -> list[dict[str, Any]]:
    return [orjson.loads(o.value) for o in r.outputs if o.topic == TOPICS.status and o.key == key and o.value]


def oppdrag_of(r: Run, key: str) -> list[Any]:
    return [emu_xml.parse_oppdrag(a.oppdrag) for a in r.answerer.answered if a.key == key]


def paid(r: Run, fagområde: str, sak: str) -> dict[str, dict[date, Any]]:
    return r.answerer.emulator.paid(fagområde, sak)


# -- messages ------------------------------------------------------------------------------------


def tp(perioder: list[dict[str, Any]], sak: str = "TP-1", n: int = 1, **kw: Any) -> dict[str, Any]:
    return {
        "sakId": sak,
        "behandlingId": f"B{n}",
        "personident": IDENT,
        "vedtakstidspunkt": "2025-08-20T10:00:00",
        "perioder": perioder,
        **kw,
    }


def tp_periode(mp: str, fom: str, tom: str, beløp: int, stønad: str, **kw: Any) -> dict[str, Any]:
    return {"meldeperiode": mp, "fom": fom, "tom": tom, "beløp": beløp, "stønad": stønad, **kw}


def aap(entries: list[dict[str, Any]], sak: str = "AAP-1", n: int = 1, **kw: Any) -> dict[str, Any]:
    return {
        "sakId": sak,
        "behandlingId": f"B{n}",
        "ident": IDENT,
        "vedtakstidspunktet": "2025-08-20T10:00:00",
        "utbetalinger": entries,
        **kw,
    }


def ts(utbetalinger: list[dict[str, Any]], periodetype: str = "MND", sak: str = "TS-1", n: int = 1) -> dict[str, Any]:
    return {
        "sakId": sak,
        "behandlingId": f"B{n}",
        "personident": IDENT,
        "vedtakstidspunkt": "2025-08-20T10:00:00",
        "periodetype": periodetype,
        "utbetalinger": utbetalinger,
    }


def historisk(
    perioder: list[dict[str, Any]], periodetype: str = "EN_GANG", uid: str = U3, n: int = 1
) -> dict[str, Any]:
    return {
        "id": uid,
        "sakId": "H-1",
        "behandlingId": f"B{n}",
        "personident": IDENT,
        "stønad": "PARYKK",
        "vedtakstidspunkt": "2025-08-20T10:00:00",
        "periodetype": periodetype,
        "perioder": perioder,
    }


def valp(belop: int, uid: str = U1, n: int = 1, **kw: Any) -> dict[str, Any]:
    return {
        "id": uid,
        "sakId": "V-1",
        "behandlingId": f"B{n}",
        "personIdent": IDENT,
        "periode": {"fom": "2025-08-01", "tom": "2025-08-31"},
        "belop": belop,
        "tilskuddstype": "SKOLEPENGER",
        "tiltakskode": "HOYERE_UTDANNING",
        "saksbehandler": "Z123456",
        "besluttetTidspunkt": "2025-08-20T08:00:00Z",
        **kw,
    }


def per(fom: str, tom: str, beløp: int, **kw: Any) -> dict[str, Any]:
    return {"fom": fom, "tom": tom, "beløp": beløp, **kw}


# -- tiltakspenger: a stop carries the stopped utbetaling's own stønad ----------------------------


@pytest.mark.parametrize(
    ("stønad", "barnetillegg", "klassekode"),
    [
        ("JOBBKLUBB", False, "TPTPJK2009"),
        ("ARBEIDSTRENING", False, "TPTPATT"),
        ("ARBEIDSTRENING", True, "TPBTATTILT"),
        ("AVKLARING", True, "TPBTAAGR"),
    ],
)
def test_a_tiltakspenger_meldeperiode_missing_from_the_next_decision_is_stopped_under_its_own_klassekode_and_os_accepts_it(
    stønad, barnetillegg, klassekode
):
    keep = tp_periode(MP1, "2025-08-04", "2025-08-15", 300, "JOBBKLUBB")
    gone = tp_periode(MP2, "2025-08-18", "2025-08-29", 250, stønad, barnetillegg=barnetillegg)
    r = proven(Fagsystem.TILTAKSPENGER, tp([keep, gone]), tp([keep], n=2))
    assert statuses(r, "k1")[-1]["status"] == "OK"
    (stop,) = oppdrag_of(r, "k1")
    (line,) = stop.linjer
    assert line.is_opphor and line.kode_klassifik == klassekode
    booked = {ln.delytelse_id: ln.kode_klassifik for ln in r.answerer.emulator.lines("TILTPENG", "TP-1")}
    assert booked[line.delytelse_id] == klassekode
    assert set(paid(r, "TILTPENG", "TP-1")) == {"TPTPJK2009"}


def test_a_tiltakspenger_meldeperiode_moved_to_another_stonad_stops_the_old_chain_under_the_old_klassekode():
    before = tp_periode(MP1, "2025-08-04", "2025-08-15", 300, "JOBBKLUBB")
    after = tp_periode(MP1, "2025-08-04", "2025-08-15", 300, "ARBEIDSTRENING")
    r = proven(Fagsystem.TILTAKSPENGER, tp([before]), tp([after], n=2))
    (o,) = oppdrag_of(r, "k1")
    assert {(ln.is_opphor, ln.kode_klassifik) for ln in o.linjer} == {(True, "TPTPJK2009"), (False, "TPTPATT")}
    assert set(paid(r, "TILTPENG", "TP-1")) == {"TPTPATT"}


def test_a_stop_oppdrag_carries_the_enhet_of_the_stopped_chain():
    p = tp_periode(MP1, "2025-08-04", "2025-08-15", 300, "JOBBKLUBB", betalendeEnhet="0315")
    r = proven(Fagsystem.TILTAKSPENGER, tp([p]), tp([], n=2))
    (xml,) = [a.oppdrag for a in r.answerer.answered if a.key == "k1"]
    assert b"<typeEnhet>BOS</typeEnhet><enhet>0315</enhet>" in xml
    assert b"<typeEnhet>BEH</typeEnhet><enhet>8020</enhet>" in xml


# -- tilleggsstønader: one Oppdrag per fagområde ---------------------------------------------------

TWO_FAGOMRÅDER = [
    {"id": U1, "stønad": "TILSYN_BARN_AAP", "perioder": [per("2025-08-01", "2025-09-30", 3000)]},
    {"id": U2, "stønad": "LÆREMIDLER_AAP", "perioder": [per("2025-08-01", "2025-08-31", 500)]},
]


def test_tilleggsstonader_over_two_fagomrader_gives_two_oppdrag_each_with_only_its_own_lines():
    r = proven(Fagsystem.TILLEGGSSTØNADER, ts(TWO_FAGOMRÅDER))
    sent = {o.fagomraade: o for o in oppdrag_of(r, "k0")}
    assert set(sent) == {"TILLSTPB", "TILLSTLM"}
    assert {ln.kode_klassifik for ln in sent["TILLSTPB"].linjer} == {"TSTBASISP4-OP"}
    assert {ln.kode_klassifik for ln in sent["TILLSTLM"].linjer} == {"TSLMASISP3-OP"}
    assert all(o.kode_endring == "NY" for o in sent.values())
    # MND: once per calendar month
    assert paid(r, "TILLSTPB", "TS-1") == {"TSTBASISP4-OP": {date(2025, 8, 1): 3000, date(2025, 9, 1): 3000}}
    assert paid(r, "TILLSTLM", "TS-1") == {"TSLMASISP3-OP": {date(2025, 8, 1): 500}}


def test_what_os_accepted_of_a_partly_rejected_tilleggsstonad_is_paid_and_the_next_decision_builds_on_it():
    change = [
        {"id": U1, "stønad": "TILSYN_BARN_AAP", "perioder": [per("2025-08-01", "2025-10-31", 3000)]},
        {"id": U2, "stønad": "LÆREMIDLER_AAP", "perioder": [per("2025-08-01", "2025-09-30", 500)]},
    ]
    r = proven(
        Fagsystem.TILLEGGSSTØNADER,
        ts(TWO_FAGOMRÅDER),
        ts(change, n=2),
        ts(change, n=3),
        codes={("k1", "TILLSTLM"): "08"},
    )
    s1 = statuses(r, "k1")[-1]
    assert s1["status"] == "FEILET" and s1["error"]["statusCode"] == 400 and "TILLSTLM" in s1["error"]["msg"]
    # the resend sends only what OS has not accepted yet: læremidler
    assert [o.fagomraade for o in oppdrag_of(r, "k2")] == ["TILLSTLM"]
    assert statuses(r, "k2")[-1]["status"] == "OK"
    assert len(paid(r, "TILLSTPB", "TS-1")["TSTBASISP4-OP"]) == 3


def test_a_tilleggsstonad_whose_only_oppdrag_is_rejected_by_os_on_a_new_fagomrade_is_sent_as_new_again():
    r = proven(
        Fagsystem.TILLEGGSSTØNADER,
        ts(TWO_FAGOMRÅDER),
        ts(TWO_FAGOMRÅDER, n=2),
        codes={("k0", "TILLSTPB"): "12"},
    )
    assert statuses(r, "k0")[-1]["error"]["statusCode"] == 500
    (again,) = oppdrag_of(r, "k1")
    assert again.fagomraade == "TILLSTPB" and again.kode_endring == "NY"


def test_bruk_fagomrade_tillst_pays_under_tillst_in_an_oppdrag_of_its_own():
    us = [
        {**TWO_FAGOMRÅDER[0], "brukFagområdeTillst": True},
        TWO_FAGOMRÅDER[1],
    ]
    r = proven(Fagsystem.TILLEGGSSTØNADER, ts(us))
    assert sorted(o.fagomraade for o in oppdrag_of(r, "k0")) == ["TILLST", "TILLSTLM"]
    assert paid(r, "TILLSTPB", "TS-1") == {}


# -- AAP/TP: nothing to pay is OK at once ------------------------------------------------------------

ZERO_AAP = [{"id": U1, "fom": "2025-08-04", "tom": "2025-08-08", "sats": 700, "utbetaltBeløp": 0}]
PAID_AAP = [{"id": U1, "fom": "2025-08-04", "tom": "2025-08-08", "sats": 700, "utbetaltBeløp": 700}]


@pytest.mark.parametrize(
    ("fagsystem", "msg"),
    [
        pytest.param(Fagsystem.AAP, aap([]), id="aap-no-entries"),
        pytest.param(Fagsystem.AAP, aap(ZERO_AAP), id="aap-all-zero"),
        pytest.param(Fagsystem.TILTAKSPENGER, tp([]), id="tp-no-perioder"),
        pytest.param(Fagsystem.TILLEGGSSTØNADER, ts([]), id="ts-no-utbetalinger"),
    ],
)
def test_a_first_decision_with_nothing_to_pay_is_ok_at_once_never_an_error(fagsystem, msg):
    r = proven(fagsystem, msg)
    assert [s["status"] for s in statuses(r, "k0")] == ["OK"]
    assert statuses(r, "k0")[0]["error"] is None
    assert r.answerer.answered == []


def test_aap_all_zero_after_everything_is_stopped_is_ok_at_once():
    r = proven(Fagsystem.AAP, aap(PAID_AAP), aap(ZERO_AAP, n=2), aap(ZERO_AAP, n=3), aap([], n=4))
    assert [len(oppdrag_of(r, f"k{i}")) for i in range(4)] == [1, 1, 0, 0]
    assert [s["status"] for s in statuses(r, "k2")] == ["OK"] and [s["status"] for s in statuses(r, "k3")] == ["OK"]
    assert paid(r, "AAP", "AAP-1") == {}


def test_tiltakspenger_empty_after_everything_is_stopped_is_ok_at_once():
    p = tp_periode(MP1, "2025-08-04", "2025-08-15", 300, "JOBBKLUBB")
    r = proven(Fagsystem.TILTAKSPENGER, tp([p]), tp([], n=2), tp([], n=3))
    assert [s["status"] for s in statuses(r, "k2")] == ["OK"] and oppdrag_of(r, "k2") == []


# -- EN_GANG periods are never merged ------------------------------------------------------------


def test_tilleggsstonader_en_gang_neighbours_at_one_amount_stay_two_lines_and_are_paid_twice():
    u = {
        "id": U1,
        "stønad": "LÆREMIDLER_AAP",
        "perioder": [per("2025-08-05", "2025-08-05", 900), per("2025-08-06", "2025-08-06", 900)],
    }
    r = proven(Fagsystem.TILLEGGSSTØNADER, ts([u], periodetype="EN_GANG"))
    (o,) = oppdrag_of(r, "k0")
    assert [(ln.dato_vedtak_fom, ln.type_sats) for ln in o.linjer] == [
        (date(2025, 8, 5), "ENG"),
        (date(2025, 8, 6), "ENG"),
    ]
    assert paid(r, "TILLSTLM", "TS-1") == {"TSLMASISP3-OP": {date(2025, 8, 5): 900, date(2025, 8, 6): 900}}


def test_historisk_en_gang_periods_that_touch_stay_two_lines_and_are_paid_twice():
    r = proven(
        Fagsystem.HISTORISK,
        historisk([per("2025-08-04", "2025-08-06", 1500), per("2025-08-07", "2025-08-08", 1500)]),
    )
    (o,) = oppdrag_of(r, "k0")
    assert len(o.linjer) == 2 and {ln.type_sats for ln in o.linjer} == {"ENG"}
    assert paid(r, "HELSREF", "H-1") == {"HTOHPAAV": {date(2025, 8, 4): 1500, date(2025, 8, 7): 1500}}


def test_adding_an_en_gang_neighbour_later_adds_one_line_and_keeps_the_first_paid():
    first = historisk([per("2025-08-05", "2025-08-05", 1000)])
    both = historisk([per("2025-08-05", "2025-08-05", 1000), per("2025-08-06", "2025-08-06", 1000)], n=2)
    r = proven(Fagsystem.HISTORISK, first, both)
    assert paid(r, "HELSREF", "H-1") == {"HTOHPAAV": {date(2025, 8, 5): 1000, date(2025, 8, 6): 1000}}


def test_mnd_periods_that_follow_each_other_at_one_amount_merge_and_are_paid_once_a_month():
    u = {
        "id": U1,
        "stønad": "TILSYN_BARN_AAP",
        "perioder": [per("2025-08-01", "2025-08-14", 3000), per("2025-08-15", "2025-09-30", 3000)],
    }
    r = proven(Fagsystem.TILLEGGSSTØNADER, ts([u]))
    (o,) = oppdrag_of(r, "k0")
    assert len(o.linjer) == 1
    assert paid(r, "TILLSTPB", "TS-1") == {"TSTBASISP4-OP": {date(2025, 8, 1): 3000, date(2025, 9, 1): 3000}}


# -- what OS's schema lacks, or would pay differently from what helved said ----------------------


@pytest.mark.parametrize(
    ("fagsystem", "msg"),
    [
        pytest.param(
            Fagsystem.TILLEGGSSTØNADER,
            ts([{"id": U1, "stønad": "TILSYN_BARN_AAP", "perioder": [per("2025-08-04", "2025-08-08", 100)]}], "DAG"),
            id="ts-dag",
        ),
        pytest.param(Fagsystem.HISTORISK, historisk([per("2025-08-04", "2025-08-08", 100)], "DAG"), id="historisk-dag"),
        pytest.param(
            Fagsystem.TILLEGGSSTØNADER,
            ts([{"id": U1, "stønad": "REISE_OPPSTART_AAP", "perioder": [per("2025-08-01", "2025-08-31", 100)]}]),
            id="ts-no-klassekode-yet",
        ),
        pytest.param(
            Fagsystem.TILLEGGSSTØNADER,
            ts([{"id": U1, "stønad": "FLYTTING_AAP", "perioder": [per("2025-08-01", "2025-08-31", 100)]}]),
            id="ts-flytting",
        ),
        pytest.param(
            Fagsystem.TILLEGGSSTØNADER,
            ts([{"id": U1, "stønad": "LÆREMIDLER_AAP", "perioder": [per("2025-08-09", "2025-08-10", 100)]}], "UKEDAG"),
            id="ts-ukedag-weekend-only",
        ),
        pytest.param(
            Fagsystem.AAP,
            aap([{"id": U1, "fom": "2025-08-09", "tom": "2025-08-10", "sats": 700, "utbetaltBeløp": 700}]),
            id="aap-weekend-only",
        ),
        pytest.param(
            Fagsystem.TILTAKSPENGER,
            tp([tp_periode(MP1, "2025-08-09", "2025-08-10", 300, "JOBBKLUBB")]),
            id="tp-weekend-only",
        ),
        pytest.param(
            Fagsystem.TILTAKSPENGER,
            tp([tp_periode(MP1, "2025-08-04", "2025-08-08", 0, "JOBBKLUBB")]),
            id="tp-beløp-0",
        ),
    ],
)
def test_a_decision_os_could_not_take_or_would_pay_differently_is_a_400_and_no_oppdrag(fagsystem, msg):
    """DAG (DAG7 is not in OS's schema), a stønad without a klassekode (never an empty
    kodeKlassifik), a UKEDAG period without a weekday (OS would pay nothing), TP beløp 0."""
    r = proven(fagsystem, msg, invalid={0: "spec"})
    (s,) = statuses(r, "k0")
    assert s["status"] == "FEILET" and s["error"]["statusCode"] == 400
    assert r.answerer.answered == []


@pytest.mark.parametrize(
    ("fagsystem", "msg", "fagområde"),
    [
        pytest.param(Fagsystem.AAP, aap(PAID_AAP), "AAP", id="aap"),
        pytest.param(
            Fagsystem.TILTAKSPENGER,
            tp([tp_periode(MP1, "2025-08-04", "2025-08-08", 300, "JOBBKLUBB")]),
            "TILTPENG",
            id="tiltakspenger",
        ),
        pytest.param(Fagsystem.TILLEGGSSTØNADER, ts(TWO_FAGOMRÅDER[:1]), "TILLSTPB", id="tilleggsstonader"),
        pytest.param(Fagsystem.HISTORISK, historisk([per("2025-08-05", "2025-08-05", 100)]), "HELSREF", id="historisk"),
    ],
)
def test_a_missing_saksbehandler_and_beslutter_default_to_the_fagomrade_code_within_8_characters(
    fagsystem, msg, fagområde
):
    r = proven(fagsystem, msg)
    (a,) = r.answerer.answered
    assert a.verdict.accepted
    xml = a.oppdrag
    assert f"<saksbehId>{fagområde}</saksbehId>".encode() in xml
    assert f"<attestantId>{fagområde}</attestantId>".encode() in xml
    assert len(fagområde) <= 8


# -- stops of the partial senders ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fagsystem", "pay", "stop", "fagområde", "sak"),
    [
        pytest.param(
            Fagsystem.TILLEGGSSTØNADER,
            ts(TWO_FAGOMRÅDER[1:]),
            ts([{**TWO_FAGOMRÅDER[1], "perioder": []}], n=2),
            "TILLSTLM",
            "TS-1",
            id="tilleggsstonader",
        ),
        pytest.param(
            Fagsystem.HISTORISK,
            historisk([per("2025-08-05", "2025-08-05", 100)]),
            historisk([], n=2),
            "HELSREF",
            "H-1",
            id="historisk",
        ),
        pytest.param(Fagsystem.VALP, valp(12000), valp(0, n=2), "TILSOPP", "V-1", id="valp"),
    ],
)
def test_a_stop_stops_a_second_stop_is_ok_without_an_oppdrag_and_a_stop_of_an_id_never_paid_is_a_404(
    fagsystem, pay, stop, fagområde, sak
):
    never = {**stop, "id": U2} if "id" in stop else ts([{**TWO_FAGOMRÅDER[0], "id": U3, "perioder": []}])
    r = proven(fagsystem, pay, stop, {**stop, "behandlingId": "B3"}, never)
    assert paid(r, fagområde, sak) == {}
    assert [len(oppdrag_of(r, f"k{i}")) for i in range(4)] == [1, 1, 0, 0]
    assert [s["status"] for s in statuses(r, "k2")] == ["OK"]
    assert statuses(r, "k3")[-1]["error"]["statusCode"] == 404


def test_a_valp_tilskudd_stopped_and_decided_again_is_paid_again_once():
    r = proven(Fagsystem.VALP, valp(12000), valp(0, n=2), valp(9000, n=3))
    assert paid(r, "TILSOPP", "V-1") == {"TTOHOYUDSKOLP": {date(2025, 8, 1): 9000}}


def test_a_tilleggsstonad_sent_again_with_another_stonad_is_a_400_locked_field():
    other = {**TWO_FAGOMRÅDER[0], "stønad": "TILSYN_BARN_ETTERLATTE"}
    r = run(Fagsystem.TILLEGGSSTØNADER, decisions(Fagsystem.TILLEGGSSTØNADER, ts(TWO_FAGOMRÅDER[:1]), ts([other], n=2)))
    s = statuses(r, "k1")[-1]
    assert s["status"] == "FEILET" and s["error"]["statusCode"] == 400 and oppdrag_of(r, "k1") == []


def test_aap_avvent_alone_is_a_change_and_the_same_avvent_again_is_not():
    avvent = {"fom": "2025-08-04", "tom": "2025-08-08", "årsak": "AVVENT_REFUSJONSKRAV", "feilregistrering": True}
    r = proven(Fagsystem.AAP, aap(PAID_AAP), aap(PAID_AAP, n=2, avvent=avvent), aap(PAID_AAP, n=3, avvent=avvent))
    (xml,) = [a.oppdrag for a in r.answerer.answered if a.key == "k1"]
    assert b"<kodeArsak>AVRK</kodeArsak>" in xml and b"<feilreg>J</feilreg>" in xml
    assert b"oppdrags-linje-150" not in xml
    assert oppdrag_of(r, "k2") == []


# -- settled rule 8 on stops ---------------------------------------------------------------------


def test_a_tilleggsstonad_stop_naming_another_stonad_than_the_paid_one_is_a_400():
    stop = ts([{"id": U1, "stønad": "TILSYN_BARN_ETTERLATTE", "perioder": []}], n=2)
    r = run(Fagsystem.TILLEGGSSTØNADER, decisions(Fagsystem.TILLEGGSSTØNADER, ts(TWO_FAGOMRÅDER[:1]), stop))
    s = statuses(r, "k1")[-1]
    assert s["status"] == "FEILET" and s["error"]["statusCode"] == 400
    assert oppdrag_of(r, "k1") == []


# -- found by the ledger property (test_fagsystemer_property) ----------------------------------


def test_an_aap_dryrun_whose_only_change_is_its_avvent_is_answered_and_the_pipeline_goes_on():
    """Settled rule 9 (an avvent alone is a change) meets domain.md §10 (a dryrun is simulated,
    changes nothing, and is answered with a final status `simulering: true`).
    `helved replay tests/property/repro/aap-avvent-only-dryrun.jsonl --out out.jsonl --emulate-oppdrag`
    """
    avvent = {"fom": "2025-08-04", "tom": "2025-08-17", "årsak": "AVVENT_AVREGNING"}
    r = run(
        Fagsystem.AAP,
        decisions(
            Fagsystem.AAP,
            aap(PAID_AAP),
            aap(PAID_AAP, n=2, avvent=avvent, dryrun=True),
            aap(PAID_AAP, n=3, avvent=avvent),  # the same avvent for real: an Oppdrag, no lines
        ),
    )
    check(r)
    finals = [s for s in statuses(r, "k1") if s["status"] in ("OK", "FEILET")]
    assert len(finals) == 1 and finals[0]["simulering"] is True and finals[0]["status"] == "OK"
    assert [len(oppdrag_of(r, f"k{i}")) for i in range(3)] == [1, 0, 1]
