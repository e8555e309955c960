"""A new sender is one module and one registry line: a toy contract, registered here and nowhere
else, is read from its own topic, paid by OS, answered under its key and simulated on its own
dryrun topic, through the real dataflow. Nothing outside this file knows it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import orjson

from helved import fagsystemer
from helved.config import Topics
from helved.domain.fields import amount, ident_field, string
from helved.domain.model import Fagsystem, Periode, Periodetype, Request, SakKey, Source, Stønad, Utbetaling
from helved.emulator import OsEmulator
from helved.emulator.replay import emulator_answer
from helved.fagsystemer import Contract
from helved.records import InRecord
from helved.replay import os_stand_in, replay_records

TOY = Stønad("TOY", "TOYKODE", "TOYOMR", Periodetype.EN_GANG)


def parse_toy(
    value: Any, *, original_key: str | None, avstemming: datetime | None = None, source: Source | None = None
) -> Request:
    """`{"sak": str, "ident": str, "kroner": int, "dryrun"?: bool}`: one payment on 2025-08-01."""
    sak = SakKey(string(value, "sak"), Fagsystem.VALP)
    ident = ident_field(string(value, "ident"))
    when = datetime(2025, 8, 1, 12)
    u = Utbetaling(
        uid=f"toy-{sak.sak_id}",
        sak_id=sak.sak_id,
        fagsystem=sak.fagsystem,
        behandling_id="toy",
        ident=ident,
        stønad=TOY,
        vedtakstidspunkt=when,
        saksbehandler="TOY",
        beslutter="TOY",
        perioder=(Periode(date(2025, 8, 1), date(2025, 8, 1), amount(value, "kroner", "")),),
    )
    return Request(
        original_key,
        sak,
        "toy",
        ident,
        when,
        "TOY",
        "TOY",
        value.get("dryrun") is True,
        (u,),
        avstemming=avstemming,
        source=source,
    )


CONTRACT = Contract(
    fagsystem=Fagsystem.VALP,  # the toy stands in for one enum member while it is registered
    topic="toy.utbetaling.v1",
    dryrun_topic="helved.dryrun-toy.v1",
    parse=parse_toy,
    fagområder=("TOYOMR",),
    stønadstyper={"TOYKODE": "TOY"},
)


def rec(key: str, value: dict[str, Any], offset: int, topic: str = "toy.utbetaling.v1") -> InRecord:
    return InRecord(topic, key, orjson.dumps(value), (), 0, offset, 1_756_000_000_000)


def test_a_registered_toy_fagsystem_is_paid_end_to_end_and_answered_under_its_key():
    with fagsystemer.registered(CONTRACT):
        topics = Topics()
        assert topics.inputs()["toy.utbetaling.v1"] is Fagsystem.VALP
        assert "toy.utbetaling.v1" in topics.all() and "helved.dryrun-toy.v1" in topics.all()
        emu = OsEmulator()
        out = replay_records(
            [rec("t1", {"sak": "T-1", "ident": "12345678910", "kroner": 250}, 0)], emulator_answer(emu), topics
        )
        statuses = [orjson.loads(r.value)["status"] for r in out if r.topic == topics.status and r.key == "t1"]
        assert statuses == ["MOTTATT", "OK"]
        assert emu.paid("TOYOMR", "T-1") == {"TOYKODE": {date(2025, 8, 1): 250}}

        answer, simulate = os_stand_in(None, topics)
        dry = replay_records(
            [rec("t2", {"sak": "T-2", "ident": "12345678910", "kroner": 9, "dryrun": True}, 1)],
            answer,
            topics,
            simulate,
        )
        (sim,) = [orjson.loads(r.value) for r in dry if r.topic == "helved.dryrun-toy.v1"]
        assert sim["perioder"][0]["utbetalinger"][0]["stønadstype"] == "TOY"

        # invalid toy input: FEILET under its key, the raw record on the DLQ
        bad = replay_records([rec("t3", {"sak": "T-3", "ident": "nope", "kroner": 1}, 2)], answer, topics, simulate)
        assert [orjson.loads(r.value)["status"] for r in bad if r.topic == topics.status] == ["FEILET"]
        assert [r.key for r in bad if r.topic == topics.dlq] == ["t3"]
    # unregistered again: the topic is no input any more, and the real valp contract is back
    assert "toy.utbetaling.v1" not in Topics().inputs()
    assert fagsystemer.contract(Fagsystem.VALP).topic == "team-mulighetsrommet.tilskudd.utbetaling-v1"
    gone = replay_records(
        [rec("t4", {"sak": "T-4", "ident": "12345678910", "kroner": 1}, 3)], emulator_answer(OsEmulator()), Topics()
    )
    assert [r.topic for r in gone] == [Topics().dlq]
    assert dict(gone[0].headers)["error"].startswith(b"UNKNOWN_TOPIC")
