"""Spec §5.3-5.5: which lines a request sends against the confirmed state."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest

from helved.domain.diff import UpdateLines, plan_request, update_lines
from helved.domain.model import Action, Fagsystem, LinjeKind, Periode, Request, SakKey, Tail, Utbetaling
from helved.errors import RequestRejected
from helved.fagsystemer.dagpenger import STØNADER


def P(fom: str, tom: str, beløp: int = 100, sats: int | None = None, enhet: str | None = None) -> Periode:
    return Periode(date.fromisoformat(fom), date.fromisoformat(tom), beløp, sats, enhet)


def J(day: int, month: int = 6) -> str:
    return f"2025-{month:02d}-{day:02d}"


# Every row of the update table in spec §5.4: prev, new, expected opphør date, expected new periods.
TABLE = [
    pytest.param([P(J(3), J(14), 100)], [P(J(3), J(14), 200)], None, [P(J(3), J(14), 200)], id="amount-changed"),
    pytest.param([P(J(3), J(14))], [P(J(7), J(14))], J(3), [P(J(7), J(14))], id="later-fom"),
    pytest.param(
        [P(J(1), J(7)), P(J(8), J(14))],
        [P(J(1), J(7)), P(J(8), J(14)), P(J(15), J(21), 300)],
        None,
        [P(J(15), J(21), 300)],
        id="period-appended",
    ),
    pytest.param([P(J(1), J(14))], [P(J(1), J(7))], J(8), [], id="tom-shortened"),
    pytest.param([P(J(1), J(7)), P(J(8), J(14), 200)], [P(J(1), J(7))], J(8), [], id="trailing-period-removed"),
    pytest.param(
        [P(J(1), J(14)), P(J(15), J(28), 200)],
        [P(J(1), J(7)), P(J(15), J(28), 200)],
        J(8),
        [P(J(15), J(28), 200)],
        id="gap-in-first-period",
    ),
    pytest.param(
        [P(J(1), J(28))],
        [P(J(1), J(14), 200), P(J(15), J(28))],
        None,
        [P(J(1), J(14), 200), P(J(15), J(28))],
        id="split-with-new-amount",
    ),
    pytest.param([P(J(1), J(28))], [P(J(1), J(14)), P(J(21), J(28))], J(15), [P(J(21), J(28))], id="hole-punched"),
    pytest.param(
        [P(J(3), J(3)), P(J(1, 7), J(1, 7)), P(J(1, 8), J(1, 8))],
        [P(J(1, 7), J(1, 7)), P(J(1, 8), J(1, 8))],
        J(3),
        [P(J(1, 7), J(1, 7)), P(J(1, 8), J(1, 8))],
        id="first-of-three-removed",
    ),
]


@pytest.mark.parametrize(("prev", "new", "opphør", "nye"), TABLE)
def test_update_table_of_spec_5_4(prev, new, opphør, nye):
    expected = UpdateLines(date.fromisoformat(opphør) if opphør else None, tuple(nye))
    assert update_lines(tuple(prev), tuple(new)) == expected


def test_equal_periods_send_nothing():
    assert update_lines((P(J(1), J(7)),), (P(J(1), J(7)),)) == UpdateLines(None, ())


def test_earlier_fom_replaces_from_the_new_fom_without_opphør():
    assert update_lines((P(J(5), J(7)),), (P(J(1), J(7)),)) == UpdateLines(None, (P(J(1), J(7)),))


def test_shortened_tom_followed_by_an_adjacent_period_needs_no_opphør():
    # The NY line from 4 Jun replaces the chain from 4 Jun on: an opphør from 4 Jun is redundant.
    assert update_lines((P(J(1), J(7)),), (P(J(1), J(3)), P(J(4), J(7), 200))) == UpdateLines(
        None, (P(J(4), J(7), 200),)
    )


def test_vedtakssats_change_alone_is_an_update_of_that_period():
    assert update_lines((P(J(1), J(7), 100, 100),), (P(J(1), J(7), 100, 120),)) == UpdateLines(
        None, (P(J(1), J(7), 100, 120),)
    )


# ---------------------------------------------------------------------------------------------
# Through plan_request: line kinds, chaining and the Oppdrag header.

DP = STØNADER["Dagpenger"]
SAK = SakKey("SAK-1", Fagsystem.DAGPENGER)
VEDTAK = datetime(2025, 8, 18, 9, 30)


def utb(uid: str, perioder, *, ident: str = "12345678910", stønad=DP, action=None, tail=None) -> Utbetaling:
    return Utbetaling(
        uid=uid,
        sak_id=SAK.sak_id,
        fagsystem=SAK.fagsystem,
        behandling_id="B-1",
        ident=ident,
        stønad=stønad,
        vedtakstidspunkt=VEDTAK,
        saksbehandler="Z1",
        beslutter="Z2",
        perioder=tuple(perioder),
        action=action,
        tail=tail,
    )


def confirmed(uid: str, perioder, tail_id: str = "TAIL", **kw) -> Utbetaling:
    return utb(uid, perioder, action=Action.CREATE, tail=Tail(tail_id, perioder[-1]), **kw)


def req(*utbetalinger: Utbetaling, whole_sak: bool = True, stops=(), ident: str = "12345678910") -> Request:
    return Request(
        original_key="k",
        sak_key=SAK,
        behandling_id="B-2",
        ident=ident,
        vedtakstidspunkt=VEDTAK,
        saksbehandler="Z1",
        beslutter="Z2",
        dryrun=False,
        utbetalinger=tuple(utbetalinger),
        whole_sak=whole_sak,
        stops=tuple(stops),
        avstemming=VEDTAK,
    )


def test_create_sends_chained_ny_lines_and_kodeendring_ny_on_a_new_sak():
    plan = plan_request(req(utb("u1", [P(J(2), J(6)), P(J(9), J(13), 200)])), {}, seq=0, accepted=frozenset())
    assert plan.oppdrag is not None
    lines = plan.oppdrag.linjer
    assert plan.oppdrag.kode_endring == "NY"
    assert [ln.kind for ln in lines] == [LinjeKind.NY, LinjeKind.NY]
    assert lines[0].ref_delytelse_id is None
    assert lines[1].ref_delytelse_id == lines[0].delytelse_id
    assert plan.pending[0].action is Action.CREATE
    assert plan.pending[0].tail == Tail(lines[1].delytelse_id, P(J(9), J(13), 200))


def test_update_chains_first_new_line_to_the_previous_tail_and_puts_opphør_first():
    prev = confirmed("u1", [P(J(1), J(28))], tail_id="OLD")
    plan = plan_request(
        req(utb("u1", [P(J(1), J(14)), P(J(21), J(28))])), {"u1": prev}, seq=3, accepted=frozenset({"DP"})
    )
    assert plan.oppdrag is not None
    opph, ny = plan.oppdrag.linjer
    assert plan.oppdrag.kode_endring == "ENDR"
    assert (opph.kind, opph.delytelse_id, opph.ref_delytelse_id, opph.opphør_fom) == (
        LinjeKind.OPPH,
        "OLD",
        None,
        date(2025, 6, 15),
    )
    assert opph.periode == prev.tail.periode  # the opphør carries the tail line's own data
    assert (ny.kind, ny.ref_delytelse_id, ny.periode) == (LinjeKind.NY, "OLD", P(J(21), J(28)))
    assert plan.pending[0].tail == Tail(ny.delytelse_id, P(J(21), J(28)))


def test_opphør_only_keeps_the_tail_so_a_second_opphør_targets_the_same_line():
    prev = confirmed("u1", [P(J(1), J(14))], tail_id="OLD")
    first = plan_request(req(utb("u1", [P(J(1), J(7))])), {"u1": prev}, seq=1, accepted=frozenset({"DP"}))
    after = first.pending[0]
    assert after.tail == prev.tail
    second = plan_request(req(utb("u1", [P(J(1), J(3))])), {"u1": after}, seq=2, accepted=frozenset({"DP"}))
    assert second.oppdrag is not None
    (opph,) = second.oppdrag.linjer
    assert (opph.delytelse_id, opph.periode, opph.opphør_fom) == ("OLD", P(J(1), J(14)), date(2025, 6, 4))


def test_uid_missing_from_a_whole_sak_request_is_stopped_from_its_earliest_fom():
    prev = confirmed("u1", [P(J(2), J(6)), P(J(9), J(13), 200)], tail_id="T1")
    keep = confirmed("u2", [P(J(16), J(20))], tail_id="T2")
    plan = plan_request(req(utb("u2", [P(J(16), J(20))])), {"u1": prev, "u2": keep}, seq=1, accepted=frozenset({"DP"}))
    assert plan.oppdrag is not None
    (opph,) = plan.oppdrag.linjer
    assert (opph.kind, opph.uid, opph.delytelse_id, opph.opphør_fom) == (LinjeKind.OPPH, "u1", "T1", date(2025, 6, 2))
    assert opph.klassekode == "DAGPENGER"  # stopped with its own stønad
    (stopped,) = plan.pending
    assert stopped.action is Action.DELETE and stopped.perioder == () and stopped.tail == prev.tail


def test_stopped_uid_that_comes_back_is_recreated_chained_to_its_old_tail():
    stopped = replace(confirmed("u1", [P(J(2), J(6))], tail_id="T1"), action=Action.DELETE, perioder=())
    plan = plan_request(req(utb("u1", [P(J(2), J(6))])), {"u1": stopped}, seq=2, accepted=frozenset({"DP"}))
    assert plan.oppdrag is not None
    (ny,) = plan.oppdrag.linjer
    assert (ny.kind, ny.ref_delytelse_id) == (LinjeKind.NY, "T1")
    assert plan.pending[0].action is Action.CREATE


def test_stopped_uid_still_missing_is_not_stopped_again():
    stopped = replace(confirmed("u1", [P(J(2), J(6))]), action=Action.DELETE, perioder=())
    assert plan_request(req(), {"u1": stopped}, seq=2, accepted=frozenset({"DP"})).oppdrag is None


def test_identical_request_sends_nothing():
    prev = confirmed("u1", [P(J(2), J(6))])
    plan = plan_request(req(utb("u1", [P(J(2), J(6))])), {"u1": prev}, seq=1, accepted=frozenset({"DP"}))
    assert plan.parts == () and plan.oppdrag is None and plan.pending == ()


def test_empty_request_on_a_sak_without_active_uids_sends_nothing():
    assert plan_request(req(), {}, seq=0, accepted=frozenset()).oppdrag is None


def test_mixed_operations_go_into_one_oppdrag_in_split_order():
    a = confirmed("a", [P(J(2), J(6))], tail_id="TA")
    b = confirmed("b", [P(J(9), J(13))], tail_id="TB")
    plan = plan_request(
        req(utb("a", [P(J(2), J(6), 300)]), utb("c", [P(J(16), J(20))])),
        {"a": a, "b": b},
        seq=5,
        accepted=frozenset({"DP"}),
    )
    assert plan.oppdrag is not None
    assert [(ln.uid, ln.kind) for ln in plan.oppdrag.linjer] == [
        ("a", LinjeKind.NY),
        ("c", LinjeKind.NY),
        ("b", LinjeKind.OPPH),
    ]
    assert [u.action for u in plan.pending] == [Action.UPDATE, Action.CREATE, Action.DELETE]
    ids = [ln.delytelse_id for ln in plan.oppdrag.linjer]
    assert len(set(ids)) == 3


def test_delytelse_ids_differ_between_oppdrag_of_the_same_sak_and_repeat_for_the_same_seq():
    r = req(utb("u1", [P(J(2), J(6))]))
    one = plan_request(r, {}, seq=0, accepted=frozenset())
    again = plan_request(r, {}, seq=0, accepted=frozenset())
    other = plan_request(r, {}, seq=1, accepted=frozenset())
    assert one == again
    assert one.oppdrag.linjer[0].delytelse_id != other.oppdrag.linjer[0].delytelse_id
    assert len(one.oppdrag.linjer[0].delytelse_id) <= 30


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"ident": "10987654321"}, "IMMUTABLE_FIELD_IDENT"),
        ({"stønad": STØNADER["DagpengerFerietillegg"]}, "IMMUTABLE_FIELD_STONAD"),
    ],
)
def test_locked_fields_cannot_change(change, code):
    prev = confirmed("u1", [P(J(2), J(6))])
    new = replace(utb("u1", [P(J(2), J(6), 200)]), **change)
    with pytest.raises(RequestRejected) as exc:
        plan_request(req(new, ident=new.ident), {"u1": prev}, seq=1, accepted=frozenset({"DP"}))
    assert (exc.value.status_code, exc.value.code.value) == (400, code)


def test_locked_sak_id_and_periodetype():
    prev = confirmed("u1", [P(J(2), J(6))])
    with pytest.raises(RequestRejected) as exc:
        plan_request(
            req(replace(utb("u1", [P(J(2), J(6))]), sak_id="OTHER")), {"u1": prev}, seq=1, accepted=frozenset()
        )
    assert exc.value.code.value == "IMMUTABLE_FIELD_SAKID"
    from helved.domain.model import Periodetype

    mnd = replace(DP, periodetype=Periodetype.MND)
    with pytest.raises(RequestRejected) as exc:
        plan_request(req(utb("u1", [P(J(2), J(6))], stønad=mnd)), {"u1": prev}, seq=1, accepted=frozenset())
    assert exc.value.code.value == "IMMUTABLE_FIELD_PERIODETYPE"


def test_stop_under_another_ident_is_a_locked_field_violation():
    prev = confirmed("u1", [P(J(2), J(6))])
    with pytest.raises(RequestRejected) as exc:
        plan_request(req(ident="10987654321"), {"u1": prev}, seq=1, accepted=frozenset({"DP"}))
    assert exc.value.code.value == "IMMUTABLE_FIELD_IDENT"


def test_explicit_stop_of_an_unknown_uid_is_404():
    with pytest.raises(RequestRejected) as exc:
        plan_request(req(whole_sak=False, stops=["nope"]), {}, seq=0, accepted=frozenset())
    assert (exc.value.status_code, exc.value.code.value) == (404, "UTBETALING_NOT_FOUND")


def test_explicit_stop_of_a_stopped_uid_is_a_no_op():
    stopped = replace(confirmed("u1", [P(J(2), J(6))]), action=Action.DELETE, perioder=())
    assert (
        plan_request(req(whole_sak=False, stops=["u1"]), {"u1": stopped}, seq=1, accepted=frozenset()).oppdrag is None
    )


def test_update_whose_only_change_is_betalende_enhet_is_409():
    prev = confirmed("u1", [P(J(2), J(6), enhet="4400")])
    with pytest.raises(RequestRejected) as exc:
        plan_request(req(utb("u1", [P(J(2), J(6), enhet="4401")])), {"u1": prev}, seq=1, accepted=frozenset())
    assert (exc.value.status_code, exc.value.code.value) == (409, "ONLY_BETALENDE_ENHET_CHANGED")


def test_betalende_enhet_reaches_the_oppdrag():
    plan = plan_request(req(utb("u1", [P(J(2), J(6), enhet="4400")])), {}, seq=0, accepted=frozenset())
    assert plan.oppdrag is not None and plan.oppdrag.betalende_enhet == "4400"
