"""Dryrun end to end (spec §10): simulated through the real flow and the emulator; nothing changes."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from helved.emulator import OsEmulator
from helved.os.dryrun import month_summary, simulation_result
from helved.records import OutRecord
from helved.replay import os_stand_in, read_records, replay_records
from tests.builders import TOPICS, day, days, dp, line, weekdays

MP1 = days("mp1", "2025-08-04", "2025-08-15", 1000)
MP2 = days("mp2", "2025-08-18", "2025-08-29", 1000)
LATER = 1767225600000  # 2026-01-01: August 2025 is paid out
EARLY = 1754006400000  # 2025-08-01: nothing paid out yet


def run(*lines_: str, emulator: bool = True) -> list[OutRecord]:
    answer, simulate = os_stand_in(None if emulator else ["00"])
    return replay_records(read_records(lines_, TOPICS), answer, TOPICS, simulate)


def by_key(out: list[OutRecord], key: str) -> list[tuple[str, object]]:
    xml = (TOPICS.oppdrag, TOPICS.simuleringer)
    return [
        (o.topic, orjson.loads(o.value)) for o in out if o.key == key and o.value is not None and o.topic not in xml
    ]


def answer_of(out, key):
    return [v for t, v in by_key(out, key) if t == TOPICS.dryrun_dp]


def final_status(out, key):
    return [v for t, v in by_key(out, key) if t == TOPICS.status][-1]


def test_dryrun_on_a_new_sak_pays_everything_new():
    out = run(line(TOPICS.dagpenger, "sim", dp(MP1, dryrun=True)))
    (res,) = answer_of(out, "sim")
    assert res["@type"] == "v2"
    (periode,) = res["perioder"]
    assert (periode["fom"], periode["tom"]) == ("2025-08-01", "2025-08-31")
    (u,) = periode["utbetalinger"]
    assert (u["tidligereUtbetalt"], u["nyttBeløp"], u["sakId"], u["stønadstype"]) == (0, 10000, "SAK-1", "DAGPENGER")
    assert u["posteringer"] == [
        {"fom": "2025-08-04", "tom": "2025-08-15", "beløp": 10000, "type": "YTEL", "klassekode": "DAGPENGER"}
    ]
    assert final_status(out, "sim") == {"status": "OK", "detaljer": None, "error": None, "simulering": True}
    assert [o for o in out if o.topic in (TOPICS.oppdrag, TOPICS.utbetalinger, TOPICS.saker, TOPICS.pending)] == []


def test_raising_past_payments_is_an_etterbetaling():
    higher = days("mp1", "2025-08-04", "2025-08-15", 1200)
    out = run(line(TOPICS.dagpenger, "k1", dp(MP1)), line(TOPICS.dagpenger, "sim", dp(higher, dryrun=True), ts=LATER))
    (res,) = answer_of(out, "sim")
    (u,) = res["perioder"][0]["utbetalinger"]
    assert (u["tidligereUtbetalt"], u["nyttBeløp"]) == (10000, 12000)
    assert [p["type"] for p in u["posteringer"]] == ["YTEL", "YTEL"]
    assert month_summary(res, date(2026, 1, 1)) == [
        {"month": "2025-08", "before": 10000, "after": 12000, "etterbetaling": 2000, "feilutbetaling": 0}
    ]


def test_lowering_past_payments_is_a_feilutbetaling_only_when_paid_out():
    lower = days("mp1", "2025-08-04", "2025-08-15", 700)
    out = run(
        line(TOPICS.dagpenger, "k1", dp(MP1)),
        line(TOPICS.dagpenger, "late", dp(lower, dryrun=True), ts=LATER),
        line(TOPICS.dagpenger, "early", dp(lower, dryrun=True), ts=EARLY),
    )
    (late,) = answer_of(out, "late")
    (u,) = late["perioder"][0]["utbetalinger"]
    assert [(p["type"], p["beløp"]) for p in u["posteringer"]] == [("YTEL", -10000), ("YTEL", 7000), ("FEIL", 3000)]
    (early,) = answer_of(out, "early")
    assert [p["type"] for p in early["perioder"][0]["utbetalinger"][0]["posteringer"]] == ["YTEL", "YTEL"]


def test_dryrun_of_a_stop_takes_everything_back():
    out = run(line(TOPICS.dagpenger, "k1", dp(MP1, MP2)), line(TOPICS.dagpenger, "sim", dp(MP2, dryrun=True)))
    (res,) = answer_of(out, "sim")
    (u,) = res["perioder"][0]["utbetalinger"]
    assert (u["tidligereUtbetalt"], u["nyttBeløp"]) == (20000, 10000)


def test_dryrun_without_change_is_ok_uten_endring():
    out = run(line(TOPICS.dagpenger, "k1", dp(MP1)), line(TOPICS.dagpenger, "sim", dp(MP1, dryrun=True)))
    (res,) = answer_of(out, "sim")
    assert res["@type"] == "info" and res["status"] == "OK_UTEN_ENDRING" and res["fagsystem"] == "DAGPENGER"
    assert final_status(out, "sim")["simulering"] is True


def test_invalid_dryrun_is_feilet_with_simulering_true():
    out = run(line(TOPICS.dagpenger, "sim", dp(MP1, dryrun=True, saksbehandler="dagpenger")))
    st = final_status(out, "sim")
    assert st["status"] == "FEILET" and st["simulering"] is True
    assert st["error"]["msg"].startswith("SAKSBEHANDLER_LENGTH")
    assert answer_of(out, "sim") == []


def test_dryrun_while_an_oppdrag_is_in_flight_neither_waits_nor_changes_anything():
    lines_ = [
        line(TOPICS.dagpenger, "k1", dp(MP1)),
        line(TOPICS.dagpenger, "sim", dp(MP1, MP2, dryrun=True)),
        line(TOPICS.dagpenger, "k2", dp(MP1, MP2, behandling="B-2")),
    ]
    answer, simulate = os_stand_in([])  # no receipts: k1 stays in flight
    out = replay_records(read_records(lines_, TOPICS), answer, TOPICS, simulate)
    # The dryrun was answered at once, against the confirmed state (empty), not the in-flight one.
    (res,) = answer_of(out, "sim")
    assert res["perioder"][0]["utbetalinger"][0]["nyttBeløp"] == 20000
    # k2 still waits behind k1 and nothing was confirmed.
    assert [v["status"] for t, v in by_key(out, "k2") if t == TOPICS.status] == ["MOTTATT"]
    assert [o for o in out if o.topic == TOPICS.utbetalinger] == []


def test_the_same_diff_as_a_real_request():
    """One diff (spec §12): the simulation lines equal the real Oppdrag's lines."""
    out = run(
        line(TOPICS.dagpenger, "k1", dp(MP1)),
        line(TOPICS.dagpenger, "sim", dp(MP2, dryrun=True)),
        line(TOPICS.dagpenger, "k2", dp(MP2)),
    )
    sim = [o.value for o in out if o.topic == TOPICS.simuleringer][0]
    real = [o.value for o in out if o.topic == TOPICS.oppdrag and o.key == "k2"][0]
    for tag in (b"<delytelseId>", b"<refDelytelseId>", b"<kodeStatusLinje>OPPH"):
        assert sim.count(tag) == real.count(tag)
    assert sim.split(b"<delytelseId>")[1].split(b"<")[0] == real.split(b"<delytelseId>")[1].split(b"<")[0]


def test_simulation_result_is_pure_and_groups_by_month():
    before = {"DAGPENGER": {date(2025, 7, 31): 100, date(2025, 8, 1): 100}}
    after = {"DAGPENGER": {date(2025, 7, 31): 100, date(2025, 8, 1): 50}}
    res = simulation_result(
        before, after, fagsystem="DAGPENGER", sak_id="S", utbetales_til="x", request_date=date(2025, 9, 1)
    )
    assert [p["fom"] for p in res["perioder"]] == ["2025-08-01"]  # July unchanged


# -- the property: simulation == what OS pays after really sending it ----------------------

weeks = st.lists(
    st.tuples(st.integers(0, 5), st.integers(1, 10), st.sampled_from([500, 800, 1000, 1200])), min_size=0, max_size=4
)


def _decision(spec, behandling: str, dryrun: bool = False) -> dict:
    """Meldeperioder of 14 days from Monday 2 June 2025; the first spec per start wins."""
    lists, seen = [], set()
    for start, length, beløp in spec:
        if start in seen:
            continue
        seen.add(start)
        fom = date(2025, 6, 2) + timedelta(days=14 * start)
        ds = weekdays(fom.isoformat(), (fom + timedelta(days=13)).isoformat())[:length]
        lists.append([day(f"mp{start}", d, beløp) for d in ds])
    return dp(*lists, behandling=behandling, dryrun=dryrun)


def _monthly(paid: dict) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for per_day in paid.values():
        for d, amount in per_day.items():
            out[d.isoformat()[:7]] += amount
    return dict(out)


def _with_emulator(lines_: list[str]) -> tuple[list[OutRecord], OsEmulator]:
    """Replay with a fresh emulator as OS (receipts and simulations); return it for its ledger."""
    from helved.os.dryrun import answer_simulering

    emulator = OsEmulator()
    out = replay_records(
        read_records(lines_, TOPICS),
        lambda rec: emulator.handle(rec.value),
        TOPICS,
        lambda rec: answer_simulering(emulator, rec, TOPICS),
    )
    return out, emulator


@settings(max_examples=60, deadline=None, derandomize=True)
@given(first=weeks, second=weeks)
def test_simulated_nytt_beløp_equals_what_os_pays_after_sending_it(first, second):
    real_first = line(TOPICS.dagpenger, "k1", _decision(first, "B-1"))
    out, emulator = _with_emulator([real_first, line(TOPICS.dagpenger, "sim", _decision(second, "B-2", dryrun=True))])
    before = _monthly(emulator.paid("DP", "SAK-1"))
    (res,) = answer_of(out, "sim")

    _, sent = _with_emulator([real_first, line(TOPICS.dagpenger, "k2", _decision(second, "B-2"))])
    after = _monthly(sent.paid("DP", "SAK-1"))

    if res["@type"] == "info":
        assert after == before
        return
    for periode in res["perioder"]:
        month = periode["fom"][:7]
        assert sum(u["nyttBeløp"] for u in periode["utbetalinger"]) == after.get(month, 0)
        assert sum(u["tidligereUtbetalt"] for u in periode["utbetalinger"]) == before.get(month, 0)
    changed = {m for m in set(before) | set(after) if before.get(m, 0) != after.get(m, 0)}
    assert changed <= {p["fom"][:7] for p in res["perioder"]}
