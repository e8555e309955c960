"""Grensesnittavstemming between the records and the domain (spec `avstemming.md`).

The pure fold lives in `helved.domain.avstemming`, the XML in `helved.oppdrag.avstemming`; here
are the records around them, used by `helved avstemming`, the OS bridge and the demo:

- `read_records_file`: the replay file format (what `helved replay` writes) as `InRecord`s.
- `events`: Oppdrag and receipt records to the domain's `SendtOppdrag`/`Svar`, in order.
- `out_records`: the messages as records for `helved.avstemming.v1` (key = fagområde).
- `summary_line`, `run_value`, `parse_run`: the dryrun line, the run record and its reading.

Nothing here prints or logs a person's ident: the `offnr` of a detail is only in the XML.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from helved.config import Topics
from helved.domain.avstemming import (
    Avstemming,
    Kategori,
    Range,
    Resultat,
    Run,
    SendtOppdrag,
    Svar,
)
from helved.errors import InputFileError
from helved.oppdrag.avstemming import AvstemmingInputError, avstemming_xml, read_oppdrag, read_svar
from helved.records import InRecord, OutRecord

JSON_WHITESPACE = b" \t\r\n"


@dataclass(frozen=True, slots=True)
class Located:
    """A record and where it came from, for error messages: `file line N` or `topic[p]@offset`."""

    record: InRecord
    where: str


def read_records_file(path: Path, topics: Topics) -> list[Located]:
    """The records of a replay-format JSONL file that avstemming reads (the Oppdrag and
    kvittering topics; every line is checked to be a record). `InputFileError` naming the line
    for anything unreadable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    wanted = {topics.oppdrag, topics.kvittering}
    out: list[Located] = []
    for n, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip(JSON_WHITESPACE):
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if "depth" not in exc.msg and "recursion" not in exc.msg:
                raise InputFileError(f"{path} line {n}: not JSON ({exc.msg})") from None
            # A value deeper than orjson reads: only JSON topics hold such values, never ours;
            # the replay reader knows how to take the line apart.
            from helved.replay import read_records

            rec = read_records([line], topics)[0]
            if rec.topic in wanted:
                raise InputFileError(f"{path} line {n}: the value of {rec.topic} must be a string") from None
            continue
        if not isinstance(obj, dict):
            raise InputFileError(f"{path} line {n}: expected a JSON object")
        topic = obj.get("topic")
        if not isinstance(topic, str) or not topic:
            raise InputFileError(f"{path} line {n}: 'topic' must be a non-empty string")
        if topic not in wanted:
            continue
        key = obj.get("key")
        if key is not None and not isinstance(key, str):
            raise InputFileError(f"{path} line {n}: 'key' must be a string or null")
        value = obj.get("value")
        if value is not None and not isinstance(value, str):
            raise InputFileError(f"{path} line {n}: the value of {topic} must be a string (XML)")
        raw = None if value is None else value.encode("utf-8", errors="surrogatepass")
        out.append(Located(InRecord(topic, key, raw, offset=len(out)), f"{path} line {n}"))
    return out


def located(records: Iterable[InRecord]) -> list[Located]:
    """Records read from the broker, named by topic, partition and offset."""
    return [Located(r, f"{r.topic}[{r.partition}]@{r.offset}") for r in records]


def events(records: Iterable[Located], topics: Topics) -> Iterator[SendtOppdrag | Svar]:
    """The Oppdrag and receipts among `records`, in their order. Raises `AvstemmingInputError`
    naming the record for one avstemming cannot place (a key in another format)."""
    for loc in records:
        rec = loc.record
        what = f"{loc.where} ({rec.topic})"
        item: SendtOppdrag | Svar | None = None
        if rec.topic == topics.oppdrag:
            item = read_oppdrag(rec.value, what)
        elif rec.topic == topics.kvittering:
            item = read_svar(rec.value, what)
        if item is not None:
            yield item


def out_records(resultat: Resultat, topics: Topics) -> list[OutRecord]:
    """Every message, fagområder in ascending order, START, DATA…, AVSL each."""
    return [
        OutRecord(topics.avstemming, a.fagområde, avstemming_xml(m)) for a in resultat.avstemminger for m in a.meldinger
    ]


def record_line(rec: OutRecord) -> bytes:
    """`{"topic","key","value","headers":{}}` as one JSON line (without its newline)."""
    assert rec.value is not None
    return orjson.dumps({"topic": rec.topic, "key": rec.key, "value": rec.value.decode("utf-8"), "headers": {}})


def write_out(path: Path, records: Iterable[OutRecord]) -> None:
    with path.open("wb") as fh:
        for rec in records:
            fh.write(record_line(rec))
            fh.write(b"\n")


def summary_line(a: Avstemming) -> str:
    """One line of a fagområde's reconciliation: its id, messages, antall/beløp per category.
    Never an ident."""
    g = a.grunnlag
    sums = " ".join(f"{k.value}={g.get(k).antall}/{g.get(k).beløp}" for k in Kategori)
    total = g.total
    return (
        f"{a.fagområde} {a.fom.isoformat()}..{a.tom.isoformat()} id={a.avstemming_id} "
        f"messages={len(a.meldinger)} {sums} total={total.antall}/{total.beløp}"
    )


def summary_json(a: Avstemming) -> dict[str, Any]:
    g = a.grunnlag
    return {
        "fagområde": a.fagområde,
        "fom": a.fom.isoformat(),
        "tom": a.tom.isoformat(),
        "id": a.avstemming_id,
        "messages": len(a.meldinger),
        **{k.value: {"antall": g.get(k).antall, "beløp": g.get(k).beløp} for k in Kategori},
        "total": {"antall": g.total.antall, "beløp": g.total.beløp},
    }


def run_value(today: date, rng: Range, scheduled: bool, resultat: Resultat) -> bytes:
    """The run record's value on `helved.avstemt.v1` (key `Range.key`)."""
    return orjson.dumps(
        {
            "today": today.isoformat(),
            "fom": rng.fom.isoformat(),
            "tom": rng.tom.isoformat(),
            "scheduled": scheduled,
            "fagområder": {
                a.fagområde: {"id": a.avstemming_id, "antall": a.grunnlag.total.antall, "beløp": a.grunnlag.total.beløp}
                for a in resultat.avstemminger
            },
        }
    )


def parse_run(value: bytes) -> Run:
    """A run record's value; `ValueError` when it is not one."""
    try:
        obj = orjson.loads(value)
        fagområder = obj.get("fagområder") or {}
        return Run(
            today=date.fromisoformat(obj["today"]),
            range=Range(date.fromisoformat(obj["fom"]), date.fromisoformat(obj["tom"])),
            scheduled=bool(obj["scheduled"]),
            ids=tuple(str(v["id"]) for _, v in sorted(fagområder.items())),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a run record: {exc}") from None


def recorded_runs(records: Iterable[InRecord]) -> list[Run]:
    """The runs of a compacted `helved.avstemt.v1`: the last value per key, tombstones remove."""
    latest: dict[str | None, bytes | None] = {}
    for rec in records:
        latest[rec.key] = rec.value
    runs = []
    for value in latest.values():
        if value is None:
            continue
        runs.append(parse_run(value))
    return runs


__all__ = [
    "AvstemmingInputError",
    "Located",
    "events",
    "located",
    "out_records",
    "parse_run",
    "read_records_file",
    "recorded_runs",
    "run_value",
    "summary_json",
    "summary_line",
    "write_out",
]
