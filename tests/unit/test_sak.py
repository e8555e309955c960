"""Spec §5.1, §5.2, §7: one sak's state machine, without any engine."""

from __future__ import annotations

from dataclasses import replace

import pytest

from helved.domain.model import Kvittering, StatusKind
from helved.domain.sak import (
    ConfirmedOut,
    DeadLetter,
    OppdragOut,
    PendingCleared,
    PendingOut,
    SakerOut,
    SakState,
    StatusOut,
    on_receipt,
    on_request,
)
from helved.fagsystemer.dagpenger import parse_request
from tests.builders import days, dp


def request(*day_lists, key="k1", **kw):
    return parse_request(dp(*day_lists, **kw), original_key=key)


def receipt_for(out, grad="00", beskr=None) -> Kvittering:
    (o,) = [x for x in out if isinstance(x, OppdragOut)]
    return Kvittering(
        fagområde=o.oppdrag.fagområde,
        fagsystem_id=o.oppdrag.fagsystem_id,
        alvorlighetsgrad=grad,
        kode_melding=None,
        beskr_melding=beskr,
        delytelse_ids=o.oppdrag.delytelse_ids,
        henvisninger=frozenset(ln.henvisning for ln in o.oppdrag.linjer),
        linjer=o.oppdrag.line_fingerprints,
        nokkel_avstemming=o.oppdrag.nokkel_avstemming,
    )


def kinds(out):
    return [type(x).__name__ for x in out]


def statuses(out):
    return [(x.original_key, x.status) for x in out if isinstance(x, StatusOut)]


MP1 = days("mp1", "2025-08-04", "2025-08-08", 1000)
MP2 = days("mp2", "2025-08-18", "2025-08-22", 1000)


def test_first_request_sends_oppdrag_and_waits_for_the_receipt():
    state, out = on_request(None, request(MP1))
    assert kinds(out) == ["StatusOut", "OppdragOut", "PendingOut"]
    assert out[0].status is StatusKind.MOTTATT and out[0].oppdrag is not None
    assert state.in_flight is not None and state.confirmed == {} and state.seq == 1


def test_receipt_00_confirms_then_reports_ok_last():
    state, out = on_request(None, request(MP1))
    state, out2 = on_receipt(state, receipt_for(out))
    assert kinds(out2) == ["ConfirmedOut", "SakerOut", "PendingCleared", "StatusOut"]
    assert out2[-1].status is StatusKind.OK and out2[-1].error is None
    assert state.in_flight is None
    assert list(state.confirmed) == [out[2].utbetaling.uid]
    assert state.accepted == frozenset({"DP"})


def test_receipt_04_confirms_with_a_warning():
    state, out = on_request(None, request(MP1))
    state, out2 = on_receipt(state, receipt_for(out, "04", "Advarsel"))
    assert out2[-1].status is StatusKind.OK
    assert (out2[-1].error.status_code, out2[-1].error.msg) == (200, "Advarsel")
    assert state.confirmed


@pytest.mark.parametrize(("grad", "code"), [("08", 400), ("12", 500)])
def test_rejected_receipt_keeps_the_previous_state(grad, code):
    state, out = on_request(None, request(MP1))
    state1, out1 = on_receipt(state, receipt_for(out))
    state2, out2 = on_request(state1, request(MP1, MP2, behandling="B-2"))
    state3, out3 = on_receipt(state2, receipt_for(out2, grad, "Avvist"))
    assert kinds(out3) == ["PendingCleared", "StatusOut"]
    assert out3[-1].status is StatusKind.FEILET
    assert (out3[-1].error.status_code, out3[-1].error.msg) == (code, "Avvist")
    assert state3.confirmed == state1.confirmed and state3.accepted == state1.accepted
    assert state3.in_flight is None and state3.seq == 2


def test_rejected_first_oppdrag_leaves_the_sak_new_so_the_next_is_kodeendring_ny():
    state, out = on_request(None, request(MP1))
    first_ids = out[1].oppdrag.delytelse_ids
    state, _ = on_receipt(state, receipt_for(out, "08"))
    state, out = on_request(state, request(MP1))
    assert out[1].oppdrag.kode_endring == "NY"
    # ... and with fresh delytelseIds: a rejected Oppdrag's ids are never reused.
    assert out[1].oppdrag.delytelse_ids.isdisjoint(first_ids)


def test_second_request_after_ok_is_endr():
    state, out = on_request(None, request(MP1))
    state, _ = on_receipt(state, receipt_for(out))
    state, out = on_request(state, request(MP1, MP2, behandling="B-2"))
    assert out[1].oppdrag.kode_endring == "ENDR"


def test_request_while_in_flight_waits_and_is_diffed_after_the_receipt():
    state, out1 = on_request(None, request(MP1, key="k1"))
    state, out2 = on_request(state, request(MP1, MP2, key="k2", behandling="B-2"))
    assert statuses(out2) == [("k2", StatusKind.MOTTATT)] and out2[0].oppdrag is None
    assert len(state.waiting) == 1
    state, out3 = on_receipt(state, receipt_for(out1))
    # k1 OK first, then k2 processed against the new confirmed state: only mp2 is new.
    assert statuses(out3) == [("k1", StatusKind.OK), ("k2", StatusKind.MOTTATT)]
    (opp,) = [x for x in out3 if isinstance(x, OppdragOut)]
    assert opp.oppdrag.kode_endring == "ENDR"
    assert [ln.periode.fom.isoformat() for ln in opp.oppdrag.linjer] == ["2025-08-18"]
    assert state.waiting == () and state.in_flight is not None


def test_waiting_requests_that_send_nothing_are_answered_in_order():
    state, out1 = on_request(None, request(MP1, key="k1"))
    state, _ = on_request(state, request(MP1, key="k2"))
    state, _ = on_request(state, request(MP1, key="k3"))
    state, out = on_receipt(state, receipt_for(out1))
    assert statuses(out) == [("k1", StatusKind.OK), ("k2", StatusKind.OK), ("k3", StatusKind.OK)]
    assert state.in_flight is None and state.waiting == ()


def test_identical_resend_after_ok_is_ok_without_an_oppdrag():
    state, out = on_request(None, request(MP1))
    state, _ = on_receipt(state, receipt_for(out))
    state2, out2 = on_request(state, request(MP1))
    assert kinds(out2) == ["StatusOut"] and out2[0].status is StatusKind.OK
    assert state2 == state


def test_unmatched_receipt_changes_nothing_and_is_dead_lettered():
    state, out = on_request(None, request(MP1))
    good = receipt_for(out)
    for bad in (
        replace(good, delytelse_ids=frozenset({"other"})),
        replace(good, henvisninger=frozenset({"B-999"})),
        replace(good, fagsystem_id="SAK-2"),
        replace(good, linjer=frozenset({("x",) * 6})),
    ):
        state2, out2 = on_receipt(state, bad)
        assert state2 is state
        assert [x.reason for x in out2 if isinstance(x, DeadLetter)] == ["UNMATCHED_KVITTERING"]


def test_a_stale_receipt_of_an_earlier_opphør_does_not_confirm_a_later_one():
    """Two opphør-only Oppdrag on one chain share the tail's delytelseId (and here the
    behandlingId): only the lines' content tells their receipts apart."""
    state, out = on_request(None, request(days("mp1", "2025-08-04", "2025-08-15", 100), behandling="B-1"))
    state, _ = on_receipt(state, receipt_for(out))
    state, out_b = on_request(state, request(days("mp1", "2025-08-04", "2025-08-13", 100), behandling="B-2"))
    kv_b = receipt_for(out_b)
    state, _ = on_receipt(state, kv_b)
    state, out_c = on_request(state, request(days("mp1", "2025-08-04", "2025-08-06", 100), behandling="B-2"))
    assert kv_b.delytelse_ids == receipt_for(out_c).delytelse_ids  # the trap
    state2, out2 = on_receipt(state, kv_b)  # B's receipt delivered again
    assert state2 is state and [x.reason for x in out2] == ["UNMATCHED_KVITTERING"]


def test_a_receipt_with_another_avstemming_key_is_not_ours():
    state, out = on_request(None, request(MP1))
    state2, out2 = on_receipt(state, replace(receipt_for(out), nokkel_avstemming="2020-01-01-00.00.00.000000"))
    assert state2 is state and out2[0].reason == "UNMATCHED_KVITTERING"


def test_duplicate_receipt_never_confirms_twice():
    state, out = on_request(None, request(MP1))
    kv = receipt_for(out)
    state, _ = on_receipt(state, kv)
    state2, out2 = on_receipt(state, kv)
    assert state2 is state
    assert kinds(out2) == ["DeadLetter"]


def test_receipt_without_a_known_alvorlighetsgrad_changes_nothing():
    state, out = on_request(None, request(MP1))
    for grad in (None, "99"):
        state2, out2 = on_receipt(state, replace(receipt_for(out), alvorlighetsgrad=grad))
        assert state2 is state and out2[0].reason == "NOT_A_RECEIPT"


def test_receipt_for_an_unknown_sak_is_dead_lettered():
    _, out = on_request(None, request(MP1))
    state, out2 = on_receipt(None, receipt_for(out))
    assert state is None and kinds(out2) == ["DeadLetter"]


def test_stop_everything_then_recreate():
    state, out = on_request(None, request(MP1))
    state, _ = on_receipt(state, receipt_for(out))
    state, out = on_request(state, request(behandling="B-2"))  # nothing paid any more: stop
    opp = out[1].oppdrag
    assert [ln.kind.value for ln in opp.linjer] == ["OPPH"]
    state, out_ok = on_receipt(state, receipt_for(out))
    (saker,) = [x for x in out_ok if isinstance(x, SakerOut)]
    assert saker.uids == ()  # [] = has had payments, none active
    (conf,) = [x for x in out_ok if isinstance(x, ConfirmedOut)]
    assert conf.utbetaling.action.value == "DELETE"
    state, out = on_request(state, request(MP1, behandling="B-3"))
    (ny,) = out[1].oppdrag.linjer
    assert ny.ref_delytelse_id == opp.linjer[0].delytelse_id


def test_dryrun_never_waits_and_never_changes_state():
    state, out = on_request(None, request(MP1))
    state2, out2 = on_request(state, request(MP1, MP2, dryrun=True, key="sim"))
    assert state2 is state
    assert kinds(out2) == ["SimuleringOut"]
    # Diffed against the confirmed state (empty), not against the Oppdrag in flight.
    assert len(out2[0].oppdrag.linjer) == 2


def test_dryrun_without_changes_answers_ok_with_simulering_true():
    state, out = on_request(None, request(MP1))
    state, _ = on_receipt(state, receipt_for(out))
    state2, out2 = on_request(state, request(MP1, dryrun=True))
    assert state2 is state
    assert kinds(out2) == ["NoChangeOut", "StatusOut"]
    assert out2[1].status is StatusKind.OK and out2[1].simulering is True


def test_locked_field_violation_fails_the_request_and_keeps_the_state():
    state, out = on_request(None, request(MP1))
    state, _ = on_receipt(state, receipt_for(out))
    state2, out2 = on_request(state, request(MP1, ident="10987654321"))
    assert state2 == state
    assert out2[0].status is StatusKind.FEILET and out2[0].error.msg.startswith("IMMUTABLE_FIELD_IDENT")


def test_pending_outputs_cover_every_changed_uid():
    state, out = on_request(None, request(MP1, MP2))
    pend = [x.utbetaling.uid for x in out if isinstance(x, PendingOut)]
    assert len(pend) == 2
    _, out2 = on_receipt(state, receipt_for(out))
    assert [x.uid for x in out2 if isinstance(x, PendingCleared)] == pend


def test_state_is_picklable_and_equal_after_a_round_trip():
    import pickle

    state, out = on_request(None, request(MP1))
    state, _ = on_receipt(state, receipt_for(out))
    state, _ = on_request(state, request(MP1, MP2, behandling="B-2"))
    assert isinstance(state, SakState)
    assert pickle.loads(pickle.dumps(state)) == state
