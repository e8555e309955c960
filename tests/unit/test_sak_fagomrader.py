"""`fagsystemer.md` settled rules 1, 3 and 9 in the sak's state machine: one Oppdrag per
(sak, fagområde), a request final only when every Oppdrag has its receipt, what OS accepted
confirmed per Oppdrag, and AAP's avvent compared like the periods. No engine, no parser: the
requests are built from domain values."""

from __future__ import annotations

from datetime import date, datetime

from helved.domain.model import (
    Avvent,
    Fagsystem,
    Kvittering,
    Oppdrag,
    Periode,
    Periodetype,
    Request,
    SakKey,
    StatusKind,
    Stønad,
    Utbetaling,
)
from helved.domain.sak import ConfirmedOut, OppdragOut, SakerOut, SakState, StatusOut, on_receipt, on_request
from helved.oppdrag.schema import oppdrag_schema, schema_errors
from helved.oppdrag.xml import oppdrag_xml, oppdrag_xml_reference

TS = SakKey("TS-1", Fagsystem.TILLEGGSSTØNADER)
IDENT = "12345678910"
BARN = Stønad("TILSYN_BARN_AAP", "TSTBASISP4-OP", "TILLSTPB", Periodetype.MND)
LÆREMIDLER = Stønad("LÆREMIDLER_AAP", "TSLMASISP3-OP", "TILLSTLM", Periodetype.MND)


def utb(uid: str, stønad: Stønad, beløp: int, fom: str = "2025-08-01", tom: str = "2025-08-31") -> Utbetaling:
    return Utbetaling(
        uid=uid,
        sak_id=TS.sak_id,
        fagsystem=TS.fagsystem,
        behandling_id="B1",
        ident=IDENT,
        stønad=stønad,
        vedtakstidspunkt=datetime(2025, 8, 1, 9),
        saksbehandler="S",
        beslutter="B",
        perioder=(Periode(date.fromisoformat(fom), date.fromisoformat(tom), beløp),),
    )


def ts_request(*utbetalinger: Utbetaling, key: str = "k1", stops: tuple[str, ...] = ()) -> Request:
    return Request(
        original_key=key,
        sak_key=TS,
        behandling_id="B1",
        ident=IDENT,
        vedtakstidspunkt=datetime(2025, 8, 1, 9),
        saksbehandler="S",
        beslutter="B",
        dryrun=False,
        utbetalinger=utbetalinger,
        whole_sak=False,
        stops=stops,
    )


def receipt(o: Oppdrag, grad: str = "00", beskr: str | None = None) -> Kvittering:
    return Kvittering(
        fagområde=o.fagområde,
        fagsystem_id=o.fagsystem_id,
        alvorlighetsgrad=grad,
        kode_melding=None,
        beskr_melding=beskr,
        delytelse_ids=o.delytelse_ids,
        henvisninger=frozenset(ln.henvisning for ln in o.linjer),
        linjer=o.line_fingerprints,
        nokkel_avstemming=o.nokkel_avstemming,
    )


def sent(out: list) -> list[Oppdrag]:
    return [x.oppdrag for x in out if isinstance(x, OppdragOut)]


def statuses(out: list) -> list[StatusOut]:
    return [x for x in out if isinstance(x, StatusOut)]


def two_fagområder() -> tuple[SakState, list[Oppdrag], list]:
    state, out = on_request(None, ts_request(utb("u-barn", BARN, 3000), utb("u-lm", LÆREMIDLER, 500)))
    return state, sent(out), out


def test_a_request_over_two_fagområder_sends_one_oppdrag_per_fagområde_with_one_mottatt_listing_all_lines():
    state, oppdrag, out = two_fagområder()
    assert [o.fagområde for o in oppdrag] == ["TILLSTLM", "TILLSTPB"]
    assert [o.kode_endring for o in oppdrag] == ["NY", "NY"]
    assert [{ln.klassekode for ln in o.linjer} for o in oppdrag] == [{"TSLMASISP3-OP"}, {"TSTBASISP4-OP"}]
    # delytelseIds are unique across the request's Oppdrag
    assert not oppdrag[0].delytelse_ids & oppdrag[1].delytelse_ids
    (mottatt,) = statuses(out)
    assert mottatt.status is StatusKind.MOTTATT
    assert {mottatt.oppdrag, *mottatt.more_oppdrag} == set(oppdrag)
    assert state.in_flight is not None and len(state.in_flight.sent) == 2


def test_the_request_is_final_only_when_every_oppdrag_has_its_receipt():
    state, (lm, pb), _ = two_fagområder()
    state, out = on_receipt(state, receipt(pb))
    # what OS accepted is confirmed at once; the request is not final yet
    assert statuses(out) == [] and state is not None and set(state.confirmed) == {"u-barn"}
    assert state.in_flight is not None
    state, out = on_receipt(state, receipt(lm))
    assert state is not None and set(state.confirmed) == {"u-barn", "u-lm"}
    assert state.accepted == frozenset({"TILLSTLM", "TILLSTPB"})
    assert [s.status for s in statuses(out)] == [StatusKind.OK]
    # OK comes after the confirmed state and the sak's uid list
    kinds = [type(x) for x in out]
    assert kinds.index(StatusOut) > max(i for i, k in enumerate(kinds) if k in (ConfirmedOut, SakerOut))
    assert state.in_flight is None


def test_a_receipt_for_an_oppdrag_already_answered_is_not_ours():
    state, (lm, _pb), _ = two_fagområder()
    state, _ = on_receipt(state, receipt(lm))
    state, out = on_receipt(state, receipt(lm))
    assert [type(x).__name__ for x in out] == ["DeadLetter"]


def test_one_rejected_fagområde_fails_the_request_and_confirms_exactly_what_os_accepted():
    state, (lm, pb), _ = two_fagområder()
    state, _ = on_receipt(state, receipt(lm, "08", "Klassekode ugyldig"))
    state, out = on_receipt(state, receipt(pb))
    assert state is not None
    assert set(state.confirmed) == {"u-barn"}  # never the one OS rejected
    assert state.accepted == frozenset({"TILLSTPB"})
    (final,) = statuses(out)
    assert final.status is StatusKind.FEILET and final.error is not None
    assert final.error.status_code == 400
    assert final.error.msg == "TILLSTLM: Klassekode ugyldig"
    # the next request: ENDR where OS accepted, NY where it did not
    state, out = on_request(state, ts_request(utb("u-barn", BARN, 3100), utb("u-lm", LÆREMIDLER, 500), key="k2"))
    assert {o.fagområde: o.kode_endring for o in sent(out)} == {"TILLSTLM": "NY", "TILLSTPB": "ENDR"}


def test_a_technical_error_on_any_oppdrag_is_a_500():
    state, (lm, pb), _ = two_fagområder()
    state, _ = on_receipt(state, receipt(lm, "12", "Nede"))
    state, out = on_receipt(state, receipt(pb, "08", "Feil"))
    (final,) = statuses(out)
    assert final.error is not None and final.error.status_code == 500
    assert final.error.msg == "TILLSTLM: Nede; TILLSTPB: Feil"
    assert state is not None and state.confirmed == {}


def test_a_request_waiting_behind_several_oppdrag_is_released_when_the_last_is_answered():
    state, (lm, pb), _ = two_fagområder()
    state, out = on_request(state, ts_request(utb("u-lm", LÆREMIDLER, 600), key="k2"))
    assert [s.status for s in statuses(out)] == [StatusKind.MOTTATT] and sent(out) == []
    state, out = on_receipt(state, receipt(lm))
    assert statuses(out) == [] and sent(out) == []
    state, out = on_receipt(state, receipt(pb))
    assert [(s.original_key, s.status) for s in statuses(out)] == [("k1", StatusKind.OK), ("k2", StatusKind.MOTTATT)]
    assert [o.fagområde for o in sent(out)] == ["TILLSTLM"]


def test_every_oppdrag_of_a_plan_is_valid_against_os_schema_and_both_writers_agree():
    _, oppdrag, _ = two_fagområder()
    for o in oppdrag:
        assert oppdrag_xml(o) == oppdrag_xml_reference(o)
        assert schema_errors(oppdrag_schema(), oppdrag_xml(o)) == []


# -- AAP's avvent (settled rule 9) ---------------------------------------------------------------

AAP = SakKey("AAP-1", Fagsystem.AAP)
AAPOR = Stønad("AAP_UNDER_ARBEIDSAVKLARING", "AAPOR", "AAP", Periodetype.UKEDAG)
AVVENT = Avvent(date(2025, 8, 4), date(2025, 8, 8), overføres=date(2025, 8, 20), årsak="AVAV")


def aap_request(avvent: Avvent | None, key: str = "a1", beløp: int = 800) -> Request:
    u = Utbetaling(
        uid="8c7c5b1e-0000-4000-8000-000000000001",
        sak_id=AAP.sak_id,
        fagsystem=AAP.fagsystem,
        behandling_id="B1",
        ident=IDENT,
        stønad=AAPOR,
        vedtakstidspunkt=datetime(2025, 8, 1, 9),
        saksbehandler="S",
        beslutter="B",
        perioder=(Periode(date(2025, 8, 4), date(2025, 8, 8), beløp, 800),),
    )
    return Request(key, AAP, "B1", IDENT, datetime(2025, 8, 1, 9), "S", "B", False, (u,), avvent=avvent)


def accepted_state(avvent: Avvent | None) -> SakState:
    state, out = on_request(None, aap_request(avvent))
    (o,) = sent(out)
    state2, _ = on_receipt(state, receipt(o))
    assert state2 is not None
    return state2


def test_an_avvent_goes_on_the_oppdrag_as_avvent_118_in_schema_order():
    _, out = on_request(None, aap_request(AVVENT))
    (o,) = sent(out)
    assert o.avvent == AVVENT
    xml = oppdrag_xml(o)
    assert xml == oppdrag_xml_reference(o)
    assert schema_errors(oppdrag_schema(), xml) == []
    assert (
        b"<avvent-118><datoAvventFom>2025-08-04+02:00</datoAvventFom><datoAvventTom>2025-08-08+02:00</datoAvventTom>"
        b"<kodeArsak>AVAV</kodeArsak><datoOverfores>2025-08-20+02:00</datoOverfores><feilreg>N</feilreg></avvent-118>"
    ) in xml


def test_a_request_whose_only_change_is_its_avvent_sends_an_oppdrag_with_the_avvent_and_no_lines():
    state = accepted_state(None)
    state, out = on_request(state, aap_request(AVVENT, key="a2"))
    (o,) = sent(out)
    assert o.linjer == () and o.avvent == AVVENT and o.kode_endring == "ENDR"
    assert schema_errors(oppdrag_schema(), oppdrag_xml(o)) == []
    state, out = on_receipt(state, receipt(o))
    assert state is not None and state.avvent == {"AAP": AVVENT}
    assert [s.status for s in statuses(out)] == [StatusKind.OK]


def test_the_same_avvent_again_is_no_change():
    state = accepted_state(AVVENT)
    _, out = on_request(state, aap_request(AVVENT, key="a2"))
    assert sent(out) == [] and [s.status for s in statuses(out)] == [StatusKind.OK]


def test_a_rejected_avvent_is_not_remembered_as_what_os_holds():
    state, out = on_request(accepted_state(None), aap_request(AVVENT, key="a2"))
    (o,) = sent(out)
    state, _ = on_receipt(state, receipt(o, "08", "Nei"))
    assert state is not None and state.avvent == {}
    _, out = on_request(state, aap_request(AVVENT, key="a3"))
    assert len(sent(out)) == 1  # still a change


def test_a_decision_at_the_last_instant_of_the_calendar_still_gets_unique_avstemming_keys():
    last = datetime(9999, 12, 31, 23, 59, 59, 999999)
    req = Request("k", AAP, "B1", IDENT, last, "S", "B", False, aap_request(None).utbetalinger, avstemming=last)
    from helved.domain.diff import plan_request

    keys = {plan_request(req, {}, seq=n, accepted=frozenset()).parts[0].oppdrag.nokkel_avstemming for n in range(3)}
    assert len(keys) == 3 and all(k.startswith("9999-12-31-23.59.59.") for k in keys)
