"""A sak's confirmed utbetalinger as `helved sak` shows them, from hand-made topic records."""

from __future__ import annotations

from typing import Any

import orjson

from helved.domain.model import Fagsystem, SakKey
from helved.records import InRecord
from helved.views.sak import (
    ConfirmedSak,
    confirmed_sak,
    sak_json,
    sak_summary,
    without_ident,
)

SAKER = "helved.saker.v1"
UTBETALINGER = "helved.utbetalinger.v1"


def saker(sak_id: str, uids: list[str] | None, fagsystem: Fagsystem = Fagsystem.DAGPENGER) -> InRecord:
    key = SakKey(sak_id, fagsystem).as_json_text()
    return InRecord(SAKER, key, None if uids is None else orjson.dumps(uids))


def utbetaling(uid: str, sak_id: str = "SAK-1", *, fagsystem: str = "DAGPENGER", **fields: Any) -> InRecord:
    value = {
        "uid": uid,
        "sakId": sak_id,
        "fagsystem": fagsystem,
        "behandlingId": "B-1",
        "ident": "12345678910",
        "stønad": "DAGPENGER",
        "fagområde": "DP",
        "perioder": [{"fom": "2025-08-04", "tom": "2025-08-08", "beløp": 1000, "vedtakssats": 1000}],
        **fields,
    }
    return InRecord(UTBETALINGER, uid, orjson.dumps(value))


def view(records: list[InRecord], sak_id: str = "SAK-1", fagsystem: str = "DAGPENGER") -> ConfirmedSak:
    return confirmed_sak(
        records, saker_topic=SAKER, utbetalinger_topic=UTBETALINGER, sak_id=sak_id, fagsystem=fagsystem
    )


def test_the_last_uid_list_of_the_sak_wins() -> None:
    sak = view([saker("SAK-1", ["u1"]), saker("SAK-1", ["u1", "u2"]), utbetaling("u1"), utbetaling("u2")])
    assert sak.active == ["u1", "u2"]
    assert list(sak.utbetalinger) == ["u1", "u2"]


def test_a_tombstone_removes_an_utbetaling_and_a_sak() -> None:
    sak = view([saker("SAK-1", ["u1"]), utbetaling("u1"), InRecord(UTBETALINGER, "u1", None), saker("SAK-1", None)])
    assert sak.active is None and sak.utbetalinger == {}


def test_other_saker_and_other_fagsystemer_are_left_out() -> None:
    records = [
        saker("SAK-1", ["u1"]),
        saker("SAK-1", ["x"], Fagsystem.AAP),
        saker("SAK-2", ["u2"]),
        utbetaling("u1"),
        utbetaling("u2", "SAK-2"),
        utbetaling("u3", fagsystem="AAP"),
        InRecord(UTBETALINGER, None, b"{}"),  # no key: not an utbetaling
    ]
    sak = view(records)
    assert sak.active == ["u1"] and list(sak.utbetalinger) == ["u1"]
    aap = view(records, fagsystem="AAP")
    assert aap.active == ["x"] and list(aap.utbetalinger) == ["u3"]


def test_no_ident_is_kept_at_any_depth() -> None:
    sak = view([saker("SAK-1", ["u1"]), utbetaling("u1", extra=[{"ident": "12345678910", "b": 1}])])
    assert "12345678910" not in orjson.dumps(sak_json(sak, None)).decode()
    assert sak.utbetalinger["u1"]["extra"] == [{"b": 1}]
    assert without_ident({"a": [{"ident": "x", "b": 1}], "ident": "x"}) == {"a": [{"b": 1}]}


def test_the_fagomrade_comes_from_the_utbetalinger_else_the_default() -> None:
    assert view([utbetaling("u1", fagområde="TILLST")]).fagområde("DP") == "TILLST"
    assert view([utbetaling("u1", fagområde=None)]).fagområde("DP") == "DP"
    assert view([]).fagområde("DP") == "DP"


def test_a_sak_without_confirmed_utbetalinger_says_so() -> None:
    assert sak_summary(view([])) == ["sak SAK-1 (DAGPENGER): no confirmed utbetalinger"]


def test_the_summary_lists_active_utbetalinger_first_then_stopped_ones_with_their_perioder() -> None:
    records = [
        saker("SAK-1", ["u2"]),
        utbetaling("u1", stønad="A"),
        utbetaling(
            "u2",
            stønad="B",
            behandlingId="B-2",
            perioder=[
                {"fom": "2025-08-04", "tom": "2025-08-08", "beløp": 700, "vedtakssats": 1000},
                {"fom": "2025-08-11", "tom": "2025-08-15", "beløp": 1200, "vedtakssats": None},
            ],
        ),
    ]
    assert sak_summary(view(records)) == [
        "sak SAK-1 (DAGPENGER): 1 active utbetaling(er), confirmed by OS",
        "  u2  B  behandling B-2  active",
        "      2025-08-04..2025-08-08  700/day (sats 1000)",
        "      2025-08-11..2025-08-15  1200/day",
        "  u1  A  behandling B-1  stopped",
        "      2025-08-04..2025-08-08  1000/day (sats 1000)",
    ]


def test_the_json_view_names_the_sak_its_active_uids_utbetalinger_and_what_os_pays() -> None:
    sak = view([saker("SAK-1", ["u1"]), utbetaling("u1")])
    out = sak_json(sak, [{"klassekode": "DPORAS"}])
    assert list(out) == ["sakId", "fagsystem", "activeUids", "utbetalinger", "osPays"]
    assert (out["sakId"], out["fagsystem"], out["activeUids"]) == ("SAK-1", "DAGPENGER", ["u1"])
    assert [u["uid"] for u in out["utbetalinger"]] == ["u1"] and out["osPays"] == [{"klassekode": "DPORAS"}]
    assert sak_json(view([]), None)["osPays"] is None
