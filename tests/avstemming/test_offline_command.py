"""`helved avstemming --records FILE --fom D --tom D --out OUT` (spec `avstemming.md` §1)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from lxml import etree

from helved.cli import main
from helved.oppdrag.schema import avstemming_schema, schema_errors

from .helpers import IDENT, k_rec, o_rec, read_jsonl, rec, write_jsonl

DAY = "2025-08-18"


def _day() -> list[dict]:  # type: ignore[type-arg]
    return [
        rec("teamdagpenger.utbetaling.v1", None),
        {"topic": "helved.status.v1", "key": "k", "value": {"status": "OK"}, "headers": {}},
        o_rec(sak="A", sats=(1000, 500)),
        k_rec("00", sak="A", sats=(1000, 500)),
        o_rec(sak="B", key=f"{DAY}-10.00.00.000000", sats=(700,)),
        k_rec("04", "med varsel", "B110", sak="B", key=f"{DAY}-10.00.00.000000", sats=(700,)),
        o_rec(sak="C", key=f"{DAY}-11.00.00.000000", sats=(300,)),
        k_rec("08", "avvist", sak="C", key=f"{DAY}-11.00.00.000000", sats=(300,)),
        o_rec(sak="D", key=f"{DAY}-12.00.00.000000", sats=(200,), fagområde="AAP"),
        o_rec(sak="E", key="2025-08-19-00.00.00.000000", sats=(999,)),
    ]


def _run(tmp_path: Path, records: list, *extra: str, fom: str = DAY, tom: str = DAY) -> tuple[int, Path]:  # type: ignore[type-arg]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(src, records)
    code = main(["avstemming", "--records", str(src), "--fom", fom, "--tom", tom, "--out", str(out), *extra])
    return code, out


def test_a_replayed_day_gives_valid_messages_per_fagområde(tmp_path: Path) -> None:
    code, out = _run(tmp_path, _day())
    assert code == 0
    lines = read_jsonl(out)
    assert [(r["topic"], r["key"], r["headers"]) for r in lines] == [("helved.avstemming.v1", "AAP", {})] * 3 + [
        ("helved.avstemming.v1", "DP", {})
    ] * 3
    for r in lines:
        assert schema_errors(avstemming_schema(), r["value"].encode()) == []
    dp = etree.fromstring(lines[4]["value"].encode())
    assert [dp.findtext(f"grunnlag/{k}Antall") for k in ("godkjent", "varsel", "avvist", "mangler")] == [
        "1",
        "1",
        "1",
        "0",
    ]
    assert [dp.findtext(f"grunnlag/{k}Belop") for k in ("godkjent", "varsel", "avvist", "mangler")] == [
        "1500",
        "700",
        "300",
        "0",
    ]
    assert [d.findtext("avleverendeTransaksjonNokkel") for d in dp.findall("detalj")] == ["B", "C"]
    assert dp.findtext("detalj/meldingKode") == "B110" and dp.findtext("detalj/offnr") == IDENT
    aap = etree.fromstring(lines[1]["value"].encode())
    assert aap.findtext("grunnlag/manglerAntall") == "1" and aap.findtext("detalj/detaljType") == "MANG"
    assert len({etree.fromstring(r["value"].encode()).findtext("aksjon/avleverendeAvstemmingId") for r in lines}) == 2


def test_output_is_byte_identical_in_any_order_of_records_of_different_oppdrag(tmp_path: Path) -> None:
    _, out = _run(tmp_path, _day())
    first = out.read_bytes()
    day = _day()
    for seed in range(3):
        random.Random(seed).shuffle(day)
        (tmp_path / str(seed)).mkdir()
        _, again = _run(tmp_path / str(seed), day)
        assert again.read_bytes() == first


def test_no_oppdrag_in_range_gives_an_empty_out(tmp_path: Path) -> None:
    code, out = _run(tmp_path, _day(), fom="2025-08-10", tom="2025-08-12")
    assert code == 0 and out.read_bytes() == b""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fom", "2025-08-19", "--tom", "2025-08-18"], "is after --tom"),
        (["--fom", "2025-08-18"], "go together"),
        (["--fom", "18.08.2025", "--tom", "2025-08-18"], "not a date"),
        (["--fom", "2025-W34-1", "--tom", "2025-08-18"], "not a date"),
    ],
)
def test_bad_dates_exit_2_and_write_no_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(src, _day())
    assert main(["avstemming", "--records", str(src), "--out", str(out), *args]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_out_into_a_missing_directory_exits_2(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    write_jsonl(src, _day())
    assert (
        main(["avstemming", "--records", str(src), "--fom", DAY, "--tom", DAY, "--out", str(tmp_path / "no" / "o")])
        == 2
    )


def test_unreadable_input_exits_1_naming_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.jsonl"
    assert (
        main(["avstemming", "--records", str(tmp_path / "missing"), "--fom", DAY, "--tom", DAY, "--out", str(out)]) == 1
    )
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"topic":"helved.oppdrag.v1","key":null,"value":null}\n{not json\n')
    assert main(["avstemming", "--records", str(src), "--fom", DAY, "--tom", DAY, "--out", str(out)]) == 1
    assert "line 2" in capsys.readouterr().err
    assert not out.exists()


def test_a_key_in_another_format_exits_1_naming_the_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(tmp_path, [o_rec(sak="A"), o_rec(sak="B", key="2025-08-18 09:30")])
    assert code == 1 and not out.exists()
    err = capsys.readouterr().err
    assert "line 2" in err and "nokkelAvstemming" in err and err.count("\n") == 1 and IDENT not in err


def test_a_receipt_without_its_oppdrag_is_ignored_and_counted_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(tmp_path, [o_rec(sak="A"), k_rec("00", sak="LOST")])
    assert code == 0
    assert "1 receipt(s) in range without their Oppdrag" in capsys.readouterr().err
    data = etree.fromstring(read_jsonl(out)[1]["value"].encode())
    assert data.findtext("total/totalAntall") == "1" and data.findtext("grunnlag/manglerAntall") == "1"


def test_dryrun_prints_one_line_per_fagområde_and_never_an_ident(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.jsonl"
    write_jsonl(src, _day())
    assert main(["avstemming", "--records", str(src), "--fom", DAY, "--tom", DAY, "--dryrun"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("AAP ") and lines[1].startswith("DP ")
    assert "godkjent=1/1500 varsel=1/700 avvist=1/300 mangler=0/0 total=3/2500" in lines[1]
    assert "messages=3" in lines[1] and "id=" in lines[1]
    assert IDENT not in out
    assert not (tmp_path / "out.jsonl").exists()


def test_without_a_range_the_offline_command_takes_the_next_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(src, _day())
    # Tuesday 2025-08-19: the previous working day, Monday 18th.
    assert main(["avstemming", "--records", str(src), "--out", str(out), "--today", "2025-08-19"]) == 0
    assert len(read_jsonl(out)) == 6
    assert main(["avstemming", "--records", str(src), "--out", str(tmp_path / "o2"), "--today", "2025-08-16"]) == 0
    assert "weekend day or holiday" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()


@pytest.mark.parametrize(
    ("codes", "category"), [("00", "godkjent"), ("04", "varsel"), ("08", "avvist"), ("none", "mangler")]
)
def test_the_output_of_helved_replay_feeds_records(tmp_path: Path, codes: str, category: str) -> None:
    example = Path(__file__).resolve().parents[2] / "helved" / "examples" / "dagpenger.jsonl"
    replayed, out = tmp_path / "replayed.jsonl", tmp_path / "out.jsonl"
    assert main(["replay", str(example), "--out", str(replayed), "--kvittering", codes]) == 0
    assert main(["avstemming", "--records", str(replayed), "--fom", DAY, "--tom", DAY, "--out", str(out)]) == 0
    lines = read_jsonl(out)
    assert [r["key"] for r in lines] == ["DP"] * 3
    data = etree.fromstring(lines[1]["value"].encode())
    assert data.findtext(f"grunnlag/{category}Antall") == "1"
    assert data.findtext("total/totalAntall") == "1"
