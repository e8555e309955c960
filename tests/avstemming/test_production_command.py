"""`helved avstemming` against a broker: the next range, once a day, recorded on
`helved.avstemt.v1` (spec `avstemming.md` §6)."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from lxml import etree

from helved.cli import main
from helved.config import Settings
from helved.kafka import ReliableProducer, ensure_topics
from helved.records import InRecord, OutRecord

from .helpers import IDENT, kvittering, oppdrag

pytestmark = pytest.mark.integration

MONDAY = "2025-08-18"


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    ensure_topics(settings, settings.topics)
    monkeypatch.setenv("HELVED_BOOTSTRAP_SERVERS", settings.bootstrap_servers)
    monkeypatch.setenv("HELVED_TOPIC_PREFIX", settings.topic_prefix)
    t = settings.topics
    with ReliableProducer(settings) as p:
        for sak, f, code in [("A", "DP", "00"), ("B", "DP", "08"), ("C", "AAP", None), ("D", "DP", "04")]:
            key = f"{MONDAY}-1{ord(sak) - 65}.00.00.000000"
            p.send(OutRecord(t.oppdrag, f"req-{sak}", oppdrag(sak=sak, fagområde=f, key=key).encode()))
            if code is not None:
                p.send(
                    OutRecord(
                        t.kvittering, f"req-{sak}", kvittering(code, "svar", sak=sak, fagområde=f, key=key).encode()
                    )
                )
        p.flush_or_raise()
    return settings


def _ids(records: list[InRecord]) -> list[tuple[str | None, str | None]]:
    out = []
    for r in records:
        assert r.value is not None
        root = etree.fromstring(r.value)
        out.append((root.findtext("aksjon/aksjonType"), root.findtext("aksjon/avleverendeAvstemmingId")))
    return out


def test_a_scheduled_run_sends_each_fagområde_and_records_the_run_once_a_day(
    env: Settings, read_topic: Callable[..., list[InRecord]], capsys: pytest.CaptureFixture[str]
) -> None:
    t = env.topics
    assert main(["avstemming", "--today", "2025-08-19"]) == 0
    sent = read_topic(t.avstemming)
    assert sorted((r.key, a) for r, (a, _) in zip(sent, _ids(sent), strict=True)) == sorted(
        [(f, a) for f in ("AAP", "DP") for a in ("START", "DATA", "AVSL")]
    )
    (run,) = read_topic(t.avstemt)
    assert run.key == "2025-08-18..2025-08-18"
    value = orjson.loads(run.value or b"")
    assert value["today"] == "2025-08-19" and value["scheduled"] is True
    assert value["fagområder"]["DP"]["antall"] == 3 and value["fagområder"]["AAP"]["beløp"] == 1000
    assert IDENT not in capsys.readouterr().out

    # Again the same day: refused, nothing sent.
    assert main(["avstemming", "--today", "2025-08-19"]) == 0
    assert "already reconciled today: 2025-08-18..2025-08-18" in capsys.readouterr().err
    # The same range again, explicitly: already sent, exit 0; an overlapping one: exit 1.
    assert main(["avstemming", "--today", "2025-08-20", "--fom", MONDAY, "--tom", MONDAY]) == 0
    err = capsys.readouterr().err
    assert "already sent 2025-08-18..2025-08-18" in err and value["fagområder"]["DP"]["id"] in err
    assert main(["avstemming", "--today", "2025-08-20", "--fom", "2025-08-17", "--tom", "2025-08-19"]) == 1
    assert "overlaps" in capsys.readouterr().err
    # A weekend day: refused.
    assert main(["avstemming", "--today", "2025-08-23"]) == 0
    assert "weekend day or holiday" in capsys.readouterr().err
    assert len(read_topic(t.avstemming)) == 6 and len(read_topic(t.avstemt)) == 1

    # The next working day continues where the last run ended.
    assert main(["avstemming", "--today", "2025-08-20", "--dryrun"]) == 0
    assert capsys.readouterr().out == ""  # nothing on the 19th
    assert main(["avstemming", "--today", "2025-08-20"]) == 0
    runs = [orjson.loads(r.value or b"") for r in read_topic(t.avstemt)]
    assert sorted((r["fom"], r["tom"]) for r in runs) == [(MONDAY, MONDAY), ("2025-08-19", "2025-08-19")]


def test_dryrun_prints_lines_and_sends_nothing(
    env: Settings, read_topic: Callable[..., list[InRecord]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["avstemming", "--today", "2025-08-19", "--dryrun"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["AAP", "DP"]
    assert "godkjent=1/1000 varsel=1/1000 avvist=1/1000 mangler=0/0" in lines[1]
    assert read_topic(env.topics.avstemming) == [] and read_topic(env.topics.avstemt) == []


def test_a_retry_after_a_crash_between_fagområder_sends_the_same_ids(
    env: Settings, read_topic: Callable[..., list[InRecord]], tmp_path
) -> None:
    # What the crashed run would have computed, and sent for its first fagområde only.
    out = tmp_path / "dry.jsonl"
    assert main(["avstemming", "--today", "2025-08-19", "--dryrun", "--out", str(out)]) == 0
    planned = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    with ReliableProducer(env) as p:
        for r in planned:
            if r["key"] == "AAP":
                p.send(OutRecord(env.topics.avstemming, r["key"], r["value"].encode()))
        p.flush_or_raise()
    assert main(["avstemming", "--today", "2025-08-19"]) == 0
    sent = read_topic(env.topics.avstemming)
    assert len(sent) == 9
    assert {i for _, i in _ids(sent)} == {
        i for _, i in _ids([InRecord("x", None, r["value"].encode()) for r in planned])
    }
