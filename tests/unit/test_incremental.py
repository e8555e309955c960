"""The incremental reader of dagpenger's requests (`helved.flow.incremental`) against the full
path (`parse_request` over `orjson.loads`): on every message of every decision sequence it gives
the same `Request` (and so the same plan), or None (then the intake stage takes the full path).

The sequences are what dagpenger sends (the whole sak, one meldeperiode more or corrected each
time) and everything around it: reordered and moved days, days paid twice, weekend days,
malformed fields, another encoding, a run's text or the marker digits planted elsewhere in the
message, and several saker sharing one memo.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helved.bench.traffic import Profile, histories
from helved.domain.diff import plan_request
from helved.domain.model import Request, Utbetaling
from helved.errors import RequestRejected
from helved.fagsystemer.dagpenger import parse_request
from helved.flow import incremental
from helved.flow.incremental import Memo, parse_raw

FIRST_MONDAY = date(2024, 1, 1)
OFFSETS = (0, 1, 2, 3, 4, 7, 8, 9, 10, 11)


def full(raw: bytes) -> Request | None:
    try:
        return parse_request(orjson.loads(raw), original_key="k")
    except (RequestRejected, orjson.JSONDecodeError):
        return None


class Sak:
    """Confirmed state advanced as if OS accepted every plan, to compare plans too."""

    def __init__(self) -> None:
        self.confirmed: dict[str, Utbetaling] = {}
        self.seq = 0
        self.accepted: frozenset[str] = frozenset()

    def plan(self, req: Request) -> Any:
        try:
            return plan_request(req, self.confirmed, seq=self.seq, accepted=self.accepted)
        except RequestRejected as err:
            return err.code

    def accept(self, plan: Any) -> None:
        if isinstance(plan, str) or not plan.parts:
            return
        for u in plan.pending:
            self.confirmed[u.uid] = u
        self.seq += 1
        self.accepted = self.accepted | {p.oppdrag.fagområde for p in plan.parts}


def same(raw: bytes, memo: Memo, sak: Sak | None = None) -> Request | None:
    """The incremental reader gives the full path's Request (and plan), or None."""
    expected = full(raw)
    got = parse_raw(raw, original_key="k", memo=memo)
    if got is not None:
        assert expected is not None, "the incremental reader accepted what the full path rejects"
        assert got == expected
        assert got.utbetalinger == expected.utbetalinger  # every field, in order
        if sak is not None:
            plan = sak.plan(got)
            assert plan == sak.plan(expected)
            sak.accept(plan)
    elif expected is not None and sak is not None:
        sak.accept(sak.plan(expected))
    return got


# -- a sak's messages, built step by step ------------------------------------------------------


def _label(fom: date) -> str:
    return f"{fom.isoformat()}/{(fom + timedelta(days=13)).isoformat()}"


def _day(mp: str, dato: date, sats: int, beløp: int, typ: str = "Dagpenger") -> dict[str, Any]:
    return {"meldeperiode": mp, "dato": dato.isoformat(), "sats": sats, "utbetaltBeløp": beløp, "utbetalingstype": typ}


BREAKS: list[tuple[str, Any]] = [
    ("sats", "100"),
    ("sats", 100.0),
    ("sats", True),
    ("utbetaltBeløp", None),
    ("utbetaltBeløp", -1),
    ("utbetaltBeløp", 10**13),
    ("utbetaltBeløp", 1.0),
    ("dato", "2024-02-30"),
    ("dato", "2024-1-01"),
    ("meldeperiode", ""),
    ("meldeperiode", 7),
    ("utbetalingstype", "Tiltakspenger"),
]


class Messages:
    """One sak's message as dagpenger would send it next, and the ways it may go wrong."""

    def __init__(self, data: st.DataObject, sak_id: str) -> None:
        self.data = data
        self.sak_id = sak_id
        self.days: list[dict[str, Any]] = []
        self.mps: list[str] = []
        self.n = 0

    def draw(self, strategy: st.SearchStrategy[Any]) -> Any:
        return self.data.draw(strategy)

    def add_meldeperiode(self) -> None:
        fom = FIRST_MONDAY + timedelta(days=14 * len(self.mps))
        label = _label(fom)
        sats = self.draw(st.sampled_from([500, 800, 1234]))
        amounts = self.draw(st.lists(st.sampled_from([0, sats, sats // 2]), min_size=10, max_size=10))
        new = [_day(label, fom + timedelta(days=o), sats, b) for o, b in zip(OFFSETS, amounts, strict=True)]
        at = self.draw(st.integers(0, len(self.days))) if self.draw(st.booleans()) else len(self.days)
        self.days[at:at] = new
        self.mps.append(label)

    def step(self) -> bytes:
        """Mutate the sak (or the message) in one drawn way, then encode the next message."""
        if not self.mps:
            self.add_meldeperiode()
        pool = BENIGN if self.draw(st.integers(0, 2)) else MUTATIONS  # most messages break no rule
        kinds = self.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
        top: dict[str, Any] = {}
        for kind in kinds:
            kind(self, top)
        front = top.pop("__front__", False)
        self.n += 1
        value = {
            "sakId": self.sak_id,
            "behandlingId": f"B-{self.n}",
            "ident": "12345678910",
            "vedtakstidspunktet": f"2025-01-{1 + self.n % 28:02d}T10:00:00",
            **top,
            "utbetalinger": self.days,
        }
        if front:  # a planted text before everything else
            value = {"note": value.pop("note"), **value}
        if self.draw(st.integers(0, 9)) == 0:
            return json.dumps(value, ensure_ascii=False).encode()  # another encoding: spaces
        return orjson.dumps(value)

    # the mutations: each takes the sak and this message's extra top-level fields

    def m_add(self, top: dict[str, Any]) -> None:
        self.add_meldeperiode()

    def m_nothing(self, top: dict[str, Any]) -> None:
        pass

    def m_correct(self, top: dict[str, Any]) -> None:
        if self.days:
            d = self.days[self.draw(st.integers(0, len(self.days) - 1))]
            sats = d.get("sats") if type(d.get("sats")) is int else 100
            d["utbetaltBeløp"] = self.draw(st.sampled_from([0, sats, sats // 3]))

    def m_stop(self, top: dict[str, Any]) -> None:
        mp = self.draw(st.sampled_from(self.mps))
        for d in self.days:
            if d.get("meldeperiode") == mp:
                d["utbetaltBeløp"] = 0

    def m_repay(self, top: dict[str, Any]) -> None:
        mp = self.draw(st.sampled_from(self.mps))
        for d in self.days:
            if d.get("meldeperiode") == mp and d.get("utbetalingstype") == "Dagpenger":
                d["utbetaltBeløp"] = d.get("sats")

    def m_ferie(self, top: dict[str, Any]) -> None:
        mp = self.draw(st.sampled_from(self.mps))
        dato = FIRST_MONDAY + timedelta(days=self.draw(st.integers(0, 14 * len(self.mps) + 20)))
        amount = self.draw(st.sampled_from([0, 700, 950]))
        self.days.append(_day(mp, dato, amount, amount, "DagpengerFerietillegg"))

    def m_duplicate(self, top: dict[str, Any]) -> None:
        if self.days:
            d = dict(self.draw(st.sampled_from(self.days)))
            d["utbetaltBeløp"] = d.get("utbetaltBeløp") or 5
            if self.draw(st.booleans()):
                d["meldeperiode"] = self.draw(st.sampled_from(self.mps))
            self.days.insert(self.draw(st.integers(0, len(self.days))), d)

    def m_weekend(self, top: dict[str, Any]) -> None:
        mp = self.draw(st.sampled_from(self.mps))
        saturday = date.fromisoformat(mp[:10]) + timedelta(days=5)
        self.days.insert(self.draw(st.integers(0, len(self.days))), _day(mp, saturday, 300, 300))

    def m_move(self, top: dict[str, Any]) -> None:
        if self.days:
            d = self.draw(st.sampled_from(self.days))
            d["meldeperiode"] = self.draw(st.sampled_from(self.mps))

    def m_swap(self, top: dict[str, Any]) -> None:
        if len(self.days) > 1:
            i = self.draw(st.integers(0, len(self.days) - 1))
            j = self.draw(st.integers(0, len(self.days) - 1))
            self.days[i], self.days[j] = self.days[j], self.days[i]

    def m_shuffle(self, top: dict[str, Any]) -> None:
        self.days[:] = self.draw(st.permutations(self.days))

    def m_drop(self, top: dict[str, Any]) -> None:
        mp = self.draw(st.sampled_from(self.mps))
        self.days[:] = [d for d in self.days if d.get("meldeperiode") != mp]

    def m_break(self, top: dict[str, Any]) -> None:
        if self.days:
            i = self.draw(st.integers(0, len(self.days) - 1))
            name, bad = self.draw(st.sampled_from(BREAKS))
            self.days[i] = {**self.days[i], name: bad}

    def m_missing_key(self, top: dict[str, Any]) -> None:
        if self.days:
            i = self.draw(st.integers(0, len(self.days) - 1))
            name = self.draw(st.sampled_from(sorted(self.days[i])))
            self.days[i] = {k: v for k, v in self.days[i].items() if k != name}

    def m_extra_key(self, top: dict[str, Any]) -> None:
        if self.days:
            i = self.draw(st.integers(0, len(self.days) - 1))
            self.days[i] = {**self.days[i], "kommentar": self.draw(st.sampled_from(["x", None, 1, [1, {"a": 2}]]))}

    def m_key_order(self, top: dict[str, Any]) -> None:
        if self.days:
            i = self.draw(st.integers(0, len(self.days) - 1))
            self.days[i] = dict(reversed(list(self.days[i].items())))

    def m_plant_run(self, top: dict[str, Any]) -> None:
        """Some of the days, verbatim, in another list of the message (first or last)."""
        if self.days:
            a = self.draw(st.integers(0, len(self.days) - 1))
            b = self.draw(st.integers(a + 1, len(self.days)))
            top["note"] = [dict(d) for d in self.days[a:b]]
            top["__front__"] = self.draw(st.booleans())

    def m_plant_marker(self, top: dict[str, Any]) -> None:
        """The marker digits, or a marker itself, elsewhere in the message."""
        where = self.draw(st.sampled_from(["number", "string", "label"]))
        if where == "number":
            top["x"] = -incremental._MARKER_BASE - self.draw(st.integers(0, 3))
        elif where == "string":
            top["x"] = "-" + incremental._MARKER_DIGITS.decode()
        elif self.days:
            self.days[0]["meldeperiode"] = f"{self.days[0].get('meldeperiode')}{incremental._MARKER_DIGITS.decode()}"

    def m_top(self, top: dict[str, Any]) -> None:
        kind = self.draw(st.sampled_from(["ident", "dryrun", "long", "missing", "list"]))
        if kind == "ident":
            top["ident"] = "10987654321"
        elif kind == "dryrun":
            top["dryrun"] = self.draw(st.sampled_from([True, False, None, "yes"]))
        elif kind == "long":
            top["behandlingId"] = "B" * 31
        elif kind == "missing":
            top["vedtakstidspunktet"] = None
        else:
            top["saksbehandler"] = ["Z"]


MUTATIONS = [
    Messages.m_add,
    Messages.m_add,
    Messages.m_add,
    Messages.m_nothing,
    Messages.m_correct,
    Messages.m_correct,
    Messages.m_stop,
    Messages.m_repay,
    Messages.m_ferie,
    Messages.m_duplicate,
    Messages.m_weekend,
    Messages.m_move,
    Messages.m_swap,
    Messages.m_shuffle,
    Messages.m_drop,
    Messages.m_break,
    Messages.m_missing_key,
    Messages.m_extra_key,
    Messages.m_key_order,
    Messages.m_plant_run,
    Messages.m_plant_marker,
    Messages.m_top,
]

BENIGN = [
    Messages.m_add,
    Messages.m_add,
    Messages.m_nothing,
    Messages.m_correct,
    Messages.m_stop,
    Messages.m_repay,
    Messages.m_drop,
    Messages.m_key_order,
    Messages.m_extra_key,
    Messages.m_plant_run,
]

SAK_IDS = ["SAK-1", "SAK-2", 'SAK"3', "SAKø4", "SAK\\5"]


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_incremental_and_full_path_give_the_same_request_and_plan(data: st.DataObject) -> None:
    memo = Memo(1 << 24)
    saker = {
        sak_id: (Messages(data, sak_id), Sak())
        for sak_id in data.draw(st.sets(st.sampled_from(SAK_IDS), min_size=1, max_size=3))
    }
    order = sorted(saker)
    for _ in range(data.draw(st.integers(1, 12))):
        sak_id = data.draw(st.sampled_from(order))
        messages, sak = saker[sak_id]
        raw = messages.step()
        same(raw, memo, sak)
        if data.draw(st.integers(0, 4)) == 0:  # the same bytes again (the intake topic's reread)
            same(raw, memo)


def test_the_bench_traffic_is_read_incrementally_and_identically() -> None:
    """Growing saker with corrections and stops: every message is read by the incremental
    reader, equal to the full path, and most of their days are never decoded."""
    memo = Memo(1 << 26)
    hs = histories(12, 5, profile=Profile(correction_share=0.4, stop_share=0.2))
    saker = [Sak() for _ in hs]
    total = 0
    for _ in range(25):
        for i, h in enumerate(hs):
            d = h.next_decision()
            assert d.record.value is not None
            total += d.days
            assert same(d.record.value, memo, saker[i]) is not None
    assert memo.found > 0
    assert memo.decoded < total / 5, (memo.decoded, total)


def test_a_memo_without_room_keeps_nothing_and_still_reads() -> None:
    memo = Memo(0)
    h = histories(1, 3)[0]
    for _ in range(5):
        raw = h.next_decision().record.value
        assert raw is not None
        assert same(raw, memo) is not None
    assert len(memo) == 0 and memo.size == 0 and memo.found == 0


def test_the_memo_drops_the_least_recently_read_saker_past_its_budget() -> None:
    hs = histories(6, 9)
    sizes = []
    probe = Memo(1 << 30)
    for h in hs:
        raw = h.next_decision().record.value
        assert raw is not None
        parse_raw(raw, original_key="k", memo=probe)
        sizes.append(probe.size - sum(sizes))
    memo = Memo(sum(sizes[-3:]))
    for h in histories(6, 9):
        raw = h.next_decision().record.value
        assert raw is not None
        parse_raw(raw, original_key="k", memo=memo)
        assert memo.size <= memo.budget
    assert len(memo) == 3


@pytest.mark.parametrize("nest", [lambda days: days, lambda days: {"a": [days]}])
def test_days_planted_before_the_days_are_never_taken_for_them(nest: Any) -> None:
    memo = Memo(1 << 20)
    h = histories(1, 4)[0]
    first = h.next_decision().record.value
    assert first is not None and same(first, memo) is not None
    value = orjson.loads(h.next_decision().record.value or b"")
    days = value["utbetalinger"][:10]
    planted = orjson.dumps({"note": nest(days), **value})
    text = orjson.dumps(days)[1:-1]
    assert planted.find(text) < planted.find(b'"utbetalinger"')
    same(planted, memo)  # the full path's Request, or None (the full path then decides)
    following = h.next_decision().record.value
    assert following is not None and same(following, memo) is not None


# -- each of the reader's checks, on a message made to need it ---------------------------------


def _sak_messages(n: int = 3) -> tuple[Memo, list[dict[str, Any]]]:
    """A memo that has read the first of `n` decisions of a sak, and those decisions' values."""
    h = histories(1, 11, profile=Profile(correction_share=0.0, stop_share=0.0, ferietillegg=False))[0]
    values = [orjson.loads(h.next_decision().record.value or b"") for _ in range(n)]
    memo = Memo(1 << 20)
    assert same(orjson.dumps(values[0]), memo) is not None
    return memo, values


def test_a_group_split_in_two_runs_is_read_as_one_group_then_and_after() -> None:
    memo, values = _sak_messages()
    value = values[1]
    days = value["utbetalinger"]
    days.append(days.pop(3))  # one day of the first meldeperiode moved to the end
    raw = orjson.dumps(value)
    assert same(raw, memo) is not None
    value["behandlingId"] = "B-again"
    assert same(orjson.dumps(value), memo) is not None  # both runs found, one group


def test_a_day_of_a_kept_run_elsewhere_is_not_read_as_a_group_of_its_own() -> None:
    memo, values = _sak_messages()
    value = values[1]
    days = value["utbetalinger"]
    later = date.fromisoformat(days[-1]["dato"]) + timedelta(days=14)  # a weekday no group pays
    days.append(dict(days[0], dato=later.isoformat()))  # the first meldeperiode, one day more, last
    raw = orjson.dumps(value)
    expected = full(raw)
    assert expected is not None and len(expected.utbetalinger) == 2
    same(raw, memo)


def test_a_kept_run_where_one_value_belongs_is_invalid_json_not_a_marker() -> None:
    memo, values = _sak_messages()
    run = orjson.dumps(values[0]["utbetalinger"][:10])[1:-1]
    raw = orjson.dumps(values[1])
    broken = b'{"note":' + run + b"," + raw[1:]  # two objects where one value belongs
    assert full(broken) is None
    assert same(broken, memo) is None


def test_a_marker_number_planted_among_the_days_is_not_taken_for_a_run() -> None:
    memo, values = _sak_messages()
    value = values[1]
    run_days = values[0]["utbetalinger"][:10]
    value["utbetalinger"] = [-incremental._MARKER_BASE, *value["utbetalinger"][10:]]
    value = {"note": [run_days], **value}  # the run's text nested before the days
    raw = orjson.dumps(value)
    assert full(raw) is None
    assert same(raw, memo) is None


def test_a_sak_is_never_read_with_another_saks_runs() -> None:
    memo, values = _sak_messages()
    other = dict(values[1], sakId="SAK-OTHER")
    assert same(orjson.dumps(other), memo) is not None  # its runs now kept, the same texts
    mine = {"note": {"sakId": "SAK-OTHER"}, **values[1]}  # found first: the other sak's memo
    assert _sak_id_of(orjson.dumps(mine)) == b"SAK-OTHER"
    same(orjson.dumps(mine), memo)


def _sak_id_of(raw: bytes) -> bytes | None:
    return incremental._sak_id_text(raw)


def test_a_kept_run_outside_the_days_is_never_read_as_days() -> None:
    """A run the memo keeps, planted where one value belongs (invalid JSON) and gone from the
    days: its marker decodes outside the list, so the message is not read incrementally."""
    memo, values = _sak_messages()
    assert same(orjson.dumps(values[1]), memo) is not None  # kept: meldeperioder 1 and 2
    value = values[2]
    first = orjson.dumps(value["utbetalinger"][:10])[1:-1]  # meldeperiode 1, several days
    value["utbetalinger"] = value["utbetalinger"][10:]  # meldeperiode 1 gone from the days
    planted = b'{"note":' + first + b"," + orjson.dumps(value)[1:]
    assert full(planted) is None
    assert same(planted, memo) is None


def test_new_groups_whose_paid_days_interleave_are_not_kept_as_runs() -> None:
    """Two new meldeperioder whose first-to-last paid days overlap (no day paid twice): the
    memo could not check a later group against them by bisection, so neither is kept."""
    memo = Memo(1 << 20)

    def message(n: int, *groups: tuple[str, list[str]]) -> bytes:
        days = [_day(mp, date.fromisoformat(d), 900, 900) for mp, ds in groups for d in ds]
        value = {"sakId": "SAK-9", "behandlingId": f"B-{n}", "ident": "12345678910"}
        return orjson.dumps({**value, "vedtakstidspunktet": "2024-02-01T10:00:00", "utbetalinger": days})

    a = ("A", ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"])
    x = ("X", ["2024-01-08", "2024-01-19"])
    y = ("Y", ["2024-01-10", "2024-01-11"])
    z = ("Z", ["2024-01-19"])  # paid by X too
    assert same(message(1, a), memo) is not None
    same(message(2, a, x, y), memo)
    raw = message(3, a, x, y, z)
    assert full(raw) is None  # DUPLICATE_DAY
    assert same(raw, memo) is None
