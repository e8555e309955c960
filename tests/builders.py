"""Small builders for test inputs: dagpenger messages, periods, records."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson

from helved.config import Topics
from helved.examples import dagpenger as examples
from helved.records import InRecord

IDENT = "12345678910"
TOPICS = Topics()


def d(text: str) -> date:
    return date.fromisoformat(text)


def weekdays(fom: str, tom: str) -> list[date]:
    return examples.weekdays(d(fom), d(tom))


day = examples.day


def days(
    meldeperiode: str, fom: str, tom: str, beløp: int, sats: int | None = None, typ: str = "Dagpenger"
) -> list[dict]:
    """One entry per weekday in [fom, tom]."""
    return [day(meldeperiode, x, beløp, sats, typ) for x in weekdays(fom, tom)]


def dp(
    *day_lists: list[dict],
    sak: str = "SAK-1",
    behandling: str = "B-1",
    ident: str = IDENT,
    vedtak: str = "2025-08-18T09:30:00",
    dryrun: bool | None = None,
    **extra: Any,
) -> dict:
    """A dagpenger decision (`helved.examples.dagpenger.decision`) with the tests' defaults."""
    if dryrun is not None:
        extra = {"dryrun": dryrun, **extra}
    return examples.decision(sak, behandling, vedtak, [x for lst in day_lists for x in lst], ident=ident, **extra)


def request_record(msg: Any, key: str | None = "k1", ts: int | None = 1755502200000, offset: int = 0) -> InRecord:
    value = msg if isinstance(msg, bytes) else orjson.dumps(msg)
    return InRecord(TOPICS.dagpenger, key, value, (), 0, offset, ts)


def line(topic: str, key: str | None, value: Any, ts: int | None = 1755502200000) -> str:
    obj: dict[str, Any] = {"topic": topic, "key": key, "value": value, "headers": {}}
    if ts is not None:
        obj["timestamp"] = ts
    return orjson.dumps(obj).decode()
