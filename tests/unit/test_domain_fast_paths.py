"""The fast paths of the request hot path give exactly what the plain definitions give."""

from __future__ import annotations

import base64
import uuid
from datetime import date, timedelta
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from helved.domain.ids import UID_NAMESPACE, delytelse_id, encode_parts, utbetaling_uid
from helved.domain.model import Periode, Periodetype
from helved.domain.periods import Day, continues, merge_days
from helved.errors import RequestRejected
from helved.fagsystemer.dagpenger import parse_request


def _no_surrogates(s: str) -> bool:
    return not any(0xD800 <= ord(c) <= 0xDFFF for c in s)


PART = st.text(max_size=20).filter(_no_surrogates)


@given(PART, PART, PART, PART)
def test_uid_is_uuid5_of_the_length_prefixed_parts(fagsystem, sak, meldeperiode, klassekode):
    name = encode_parts("uid/v1", fagsystem, sak, meldeperiode, klassekode).decode()
    assert utbetaling_uid(fagsystem, sak, meldeperiode, klassekode) == str(uuid.uuid5(UID_NAMESPACE, name))


@given(PART, PART, st.integers(0, 10**6), st.integers(0, 10**4))
def test_delytelse_id_is_base64_of_uuid5(fagsystem, sak, seq, index):
    name = encode_parts("delytelse/v1", fagsystem, sak, str(seq), str(index)).decode()
    expected = base64.b64encode(uuid.uuid5(UID_NAMESPACE, name).bytes).decode()
    assert delytelse_id(fagsystem, sak, seq, index) == expected


def _reference_merge(days: list[Day], periodetype: Periodetype) -> tuple[Periode, ...]:
    """The definition (spec §4.4), one day at a time."""
    out: list[Periode] = []
    for day in sorted(days, key=lambda d: d.dato):
        if out and periodetype is not Periodetype.EN_GANG:
            last = out[-1]
            if (last.beløp, last.vedtakssats, last.betalende_enhet) == (
                day.beløp,
                day.sats,
                day.betalende_enhet,
            ) and continues(last.tom, day.dato):
                out[-1] = Periode(last.fom, day.dato, last.beløp, last.vedtakssats, last.betalende_enhet)
                continue
        out.append(Periode(day.dato, day.dato, day.beløp, day.sats, day.betalende_enhet))
    return tuple(out)


DAYS = st.lists(
    st.builds(
        Day,
        st.integers(0, 40).map(lambda n: date(2025, 7, 28) + timedelta(days=n)),
        st.sampled_from([100, 200]),
        st.sampled_from([None, 100, 200]),
        st.sampled_from([None, "4819"]),
    ),
    max_size=30,
)


@settings(max_examples=500)
@given(DAYS, st.sampled_from(Periodetype))
def test_merge_days_merges_runs_as_the_definition_does(days, periodetype):
    assert merge_days(days, periodetype) == _reference_merge(days, periodetype)


ODD = st.sampled_from(
    [
        None,
        True,
        False,
        -1,
        10**13,
        1.5,
        0,
        "",
        "x",
        "1000",
        "2025-W32-1",
        "2025-8-4",
        "2025-02-30",
        [],
        {},
        "1899-12-29",
        "0001-01-01",
        "\uff12\uff10\uff12\uff15-08-04",
        "2025W321",
        "20250804",
    ]
)


@st.composite
def raw_days(draw):
    """A well-formed day, or one with a single thing wrong (a field odd or missing, or not a
    dict at all), so that lists of mostly good days with one bad one are common. Dates span
    three weeks, so weekend days and dates paid twice (spec §3) are common too."""
    day = {
        "meldeperiode": draw(st.sampled_from(["mp1", "mp2"])),
        "dato": (date(2025, 8, 1) + timedelta(days=draw(st.integers(0, 20)))).isoformat(),
        "sats": draw(st.sampled_from([1000, 700])),
        "utbetaltBeløp": draw(st.sampled_from([1000, 0])),
        "utbetalingstype": draw(st.sampled_from(["Dagpenger", "DagpengerFerietillegg"])),
    }
    what = draw(
        st.sampled_from(["good", "good", "good", "odd field", "missing field", "odd day", "no such date", "14 digits"])
    )
    if what == "no such date":  # 10 characters, not a date: an error even on a day paid 0
        day["dato"] = "2025-02-30"
    elif what == "14 digits":  # beyond OS's 13
        day[draw(st.sampled_from(["sats", "utbetaltBeløp"]))] = 10**13
    elif what == "odd field":
        day[draw(st.sampled_from(sorted(day)))] = draw(ODD)
    elif what == "missing field":
        del day[draw(st.sampled_from(sorted(day)))]
    elif what == "odd day":
        return draw(ODD)
    return day


@settings(max_examples=1000)
@given(st.lists(raw_days(), max_size=6))
def test_a_request_is_read_the_same_by_the_fast_and_the_checked_path(days_in):
    """The fast path accepts only what the checked path accepts, with the same result; anything
    else is reported by the checked path."""
    import helved.fagsystemer.dagpenger as dp

    msg = {
        "sakId": "S",
        "behandlingId": "B",
        "ident": "12345678910",
        "vedtakstidspunktet": "2025-08-18T09:30:00",
        "utbetalinger": days_in,
    }

    def outcome():
        try:
            return parse_request(msg, original_key="k")
        except RequestRejected as e:
            return (e.status_code, e.code, e.msg)

    fast = outcome()
    with patch.object(dp, "_fast_groups", lambda days: None):  # every day through `_read_day`
        assert outcome() == fast
