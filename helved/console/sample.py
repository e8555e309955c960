"""Real helved output for the console without a broker: requests run through helved's dataflow
in-process (`helved.replay.replay_records`), answered per sak as OS would (accept, warn, reject,
or lose the receipt), then reconciled by helved's own avstemming. Records get partitions the way
helved's producer places them and offsets per partition, as if read from the topics.

Used by the console's tests and by `helved console --sample` (a look without Kafka).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import orjson

from helved.config import Topics
from helved.records import InRecord, OutRecord

IDENT = "12345678910"
BASE_MS = 1755502200000  # 2025-08-18 09:30 Europe/Oslo
STEP_MS = 60_000

# Receipt behaviour per sak: "00", "04", "08", "12" or "lost" (OS booked it, the receipt never came).
ANSWERS = {"SAK-AVVIST": "08", "SAK-VARSEL": "04", "SAK-TAPT": "lost"}


def weekdays(fom: date, tom: date) -> list[date]:
    out = []
    while fom <= tom:
        if fom.weekday() < 5:
            out.append(fom)
        fom += timedelta(days=1)
    return out


def meldeperiode(start: date, beløp: int = 1000) -> list[dict[str, Any]]:
    """The paid weekdays of one 14-day meldeperiode from `start` (a Monday)."""
    mp = f"{start.isoformat()}/{(start + timedelta(days=13)).isoformat()}"
    return [
        {
            "meldeperiode": mp,
            "dato": d.isoformat(),
            "sats": 1000,
            "utbetaltBeløp": beløp,
            "utbetalingstype": "Dagpenger",
        }
        for d in weekdays(start, start + timedelta(days=11))
    ]


def dp(sak: str, behandling: str, periods: Sequence[list[dict[str, Any]]], *, dryrun: bool = False) -> bytes:
    msg: dict[str, Any] = {
        "sakId": sak,
        "behandlingId": behandling,
        "ident": IDENT,
        "vedtakstidspunktet": "2025-08-18T09:30:00",
        "saksbehandler": "Z123456",
        "beslutter": "Z654321",
        "utbetalinger": [d for p in periods for d in p],
    }
    if dryrun:
        msg["dryrun"] = True
    return orjson.dumps(msg)


MP = [date(2025, 8, 4) + timedelta(days=14 * i) for i in range(200)]


@dataclass
class Scenario:
    """The inputs (in order) and how OS answers each sak."""

    requests: list[InRecord] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=lambda: dict(ANSWERS))
    topics: Topics = field(default_factory=Topics)

    def add(self, key: str | None, value: bytes) -> None:
        ts = BASE_MS + STEP_MS * len(self.requests)
        self.requests.append(InRecord(self.topics.dagpenger, key, value, (), 0, 0, ts))


def standard(topics: Topics | None = None, *, decisions: int = 0) -> Scenario:
    """A morning's worth of saker: paid, updated and stopped, a warning, a rejection, a lost
    receipt (and a request waiting behind it), a dryrun, invalid input. `decisions` adds a sak
    `SAK-MANGE` with that many decisions (each one more meldeperiode, some corrections)."""
    s = Scenario(topics=topics or Topics())
    s.add("dp-1", dp("SAK-1", "B-1", [meldeperiode(MP[0])]))
    s.add("dp-2", dp("SAK-1", "B-2", [meldeperiode(MP[0]), meldeperiode(MP[1])]))
    s.add("dp-3", dp("SAK-1", "B-3", [meldeperiode(MP[0], 800), meldeperiode(MP[1])]))
    s.add("dp-4", dp("SAK-2", "B-1", [meldeperiode(MP[0]), meldeperiode(MP[1])]))
    s.add("dp-5", dp("SAK-2", "B-2", [meldeperiode(MP[1])]))  # stops the first meldeperiode
    s.add("dp-6", dp("SAK-VARSEL", "B-1", [meldeperiode(MP[0])]))
    s.add("dp-7", dp("SAK-AVVIST", "B-1", [meldeperiode(MP[0])]))
    s.add("dp-8", dp("SAK-TAPT", "B-1", [meldeperiode(MP[0])]))
    s.add("dp-9", dp("SAK-TAPT", "B-2", [meldeperiode(MP[0]), meldeperiode(MP[1])]))  # waits
    s.add(
        "dp-10", dp("SAK-1", "B-4", [meldeperiode(MP[0], 800), meldeperiode(MP[1]), meldeperiode(MP[2])], dryrun=True)
    )
    s.add("dp-11", b'{"sakId": "SAK-3", "behandlingId": ')  # not JSON: FEILET and DLQ
    s.add("dp-12", dp("SAK-3", "B-1", [[{**meldeperiode(MP[0])[0], "dato": "2025-08-09"}]]))  # a Saturday
    for i in range(decisions):
        n = i // 3 + 1  # every third decision adds a meldeperiode; the others correct the last
        periods = [meldeperiode(MP[j], 1000 if (j < n - 1 or i % 3 == 0) else 900 - 10 * (i % 3)) for j in range(n)]
        s.add(f"mange-{i + 1}", dp("SAK-MANGE", f"B-{i + 1}", periods))
    return s


def os_side(scenario: Scenario) -> tuple[Callable[[OutRecord], list[bytes]], Callable[[OutRecord], list[OutRecord]]]:
    """OS's answer to each Oppdrag, by its sak from `scenario.answers` (default 00), and to each
    simulation request: `helved replay`'s OS stand-in, whose emulated OS books what it accepts
    (and what it accepted but whose receipt was lost), so a dryrun sees what OS pays."""
    from helved.oppdrag.xml import echo_kvittering
    from helved.replay import BESKR, os_stand_in

    accept_and_book, simulate = os_stand_in(["00"], scenario.topics)

    def answer(rec: OutRecord) -> list[bytes]:
        if rec.value is None:
            return []
        sak = orjson.loads(rec.header("sak") or b"{}").get("sakId")
        code = scenario.answers.get(sak, "00")
        if code in ("00", "lost"):
            receipts = accept_and_book(rec)
            return [] if code == "lost" else receipts
        return [echo_kvittering(rec.value, code, BESKR.get(code))]

    return answer, simulate


def outputs(scenario: Scenario, extra: Sequence[InRecord] = ()) -> list[OutRecord]:
    """helved's outputs for the scenario's requests followed by `extra` input records (a manual
    receipt, say): the real dataflow, in-process."""
    from helved.replay import replay_records

    answer, simulate = os_side(scenario)
    return replay_records([*scenario.requests, *extra], answer, scenario.topics, simulate)


def avstemt(recs: Sequence[InRecord], topics: Topics, today: date = date(2025, 8, 19)) -> list[OutRecord]:
    """helved's grensesnittavstemming of `recs` for the day before `today`: the messages to OS
    and the run record, as `helved avstemming` produces them."""
    from helved.avstemming import events, located, out_records, run_value
    from helved.domain.avstemming import Range, avstem

    rng = Range(today - timedelta(days=1), today - timedelta(days=1))
    resultat = avstem(events(located(recs), topics), rng.fom, rng.tom)
    return [*out_records(resultat, topics), OutRecord(topics.avstemt, rng.key, run_value(today, rng, True, resultat))]


class Placer:
    """Partitions and offsets for records as helved's producer would place them."""

    def __init__(self, partitions: int = 3) -> None:
        self.partitions = partitions
        self.next: dict[tuple[str, int], int] = {}

    def place(self, topic: str, key: str | None, value: bytes | None, headers: Any, ts: int | None) -> InRecord:
        from helved.kafka.partitioner import partition_for

        p = 0 if key is None else partition_for(key, self.partitions)
        off = self.next.get((topic, p), 0)
        self.next[(topic, p)] = off + 1
        return InRecord(topic, key, value, tuple(headers), p, off, ts)

    def records(self, recs: Sequence[InRecord | OutRecord]) -> list[InRecord]:
        return [self.place(r.topic, r.key, r.value, r.headers, r.timestamp_ms) for r in recs]


def archive_records(scenario: Scenario, placer: Placer | None = None) -> list[InRecord]:
    """Everything the topics hold after the scenario: its requests, helved's outputs (Oppdrag,
    receipts, statuses, state...) and the day's avstemming, placed on partitions."""
    placer = placer or Placer()
    recs = placer.records(scenario.requests)
    outs = placer.records(outputs(scenario))
    return [*recs, *outs, *placer.records(avstemt(outs, scenario.topics))]
