"""The fold from Oppdrag and receipts to the messages (spec `avstemming.md` §2-§5)."""

from __future__ import annotations

import base64
import random
import uuid
from datetime import date

import pytest

from helved.domain.avstemming import (
    Aksjon,
    DetaljType,
    Identitet,
    Kategori,
    SendtOppdrag,
    Sum,
    Svar,
    avstem,
    avstemming_id,
    in_range,
    is_nokkel,
    nokkel_fom,
    nokkel_tom,
)
from helved.domain.ids import UID_NAMESPACE, encode_parts
from helved.oppdrag.avstemming import AvstemmingInputError, read_oppdrag, read_svar

from .helpers import IDENT, kvittering, oppdrag

FOM = TOM = date(2025, 8, 18)


def o(sak: str = "SAK-1", key: str = "2025-08-18-09.30.00.000000", beløp: int = 1000, f: str = "DP") -> SendtOppdrag:
    return SendtOppdrag(Identitet(f, sak, key), key, IDENT, beløp)


def s(code: str, sak: str = "SAK-1", key: str = "2025-08-18-09.30.00.000000", f: str = "DP", **kw: str) -> Svar:
    return Svar(Identitet(f, sak, key), code, kw.get("kode"), kw.get("beskr"))


def test_the_keys_of_a_range_cover_whole_days_as_text() -> None:
    assert nokkel_fom(date(2025, 3, 14)) == "2025-03-14-00.00.00.000000"
    assert nokkel_tom(date(2025, 3, 16)) == "2025-03-16-23.59.59.999999"
    assert in_range("2025-03-14-00.00.00.000000", date(2025, 3, 14), date(2025, 3, 16))
    assert in_range("2025-03-16-23.59.59.999999", date(2025, 3, 14), date(2025, 3, 16))
    assert not in_range("2025-03-17-00.00.00.000000", date(2025, 3, 14), date(2025, 3, 16))
    assert not in_range("2025-03-13-23.59.59.999999", date(2025, 3, 14), date(2025, 3, 16))


def test_dst_midnight_belongs_to_its_oslo_day() -> None:
    # 2025-03-31 00:00 Oslo is 2025-03-30 22:00 UTC: the key is Oslo wall time.
    r = avstem([o(key="2025-03-31-00.00.00.000000")], date(2025, 3, 31), date(2025, 3, 31))
    assert r.avstemminger[0].grunnlag.mangler == Sum(1, 1000)
    assert avstem([o(key="2025-03-31-00.00.00.000000")], date(2025, 3, 30), date(2025, 3, 30)).avstemminger == ()


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("2025-08-18-09.30.00.000000", True),
        ("2025-08-18T09:30:00", False),
        ("2025-13-18-09.30.00.000000", False),
        ("2025-08-18-09.30.00.00000", False),
        (" 2025-08-18-09.30.00.000000", False),
        ("٢٠٢٥-08-18-09.30.00.000000", False),
    ],
)
def test_a_key_has_one_format(text: str, ok: bool) -> None:
    assert is_nokkel(text) is ok


def test_the_id_is_22_url_safe_characters_of_uuid5_of_fagområde_and_range() -> None:
    expected = uuid.uuid5(UID_NAMESPACE, encode_parts("avstemming/v1", "DP", "2025-03-14", "2025-03-16").decode())
    got = avstemming_id("DP", date(2025, 3, 14), date(2025, 3, 16))
    assert got == base64.urlsafe_b64encode(expected.bytes).decode().rstrip("=")
    assert len(got) == 22 and "=" not in got
    assert got != avstemming_id("AAP", date(2025, 3, 14), date(2025, 3, 16))
    assert got != avstemming_id("DP", date(2025, 3, 14), date(2025, 3, 17))


def test_categories_by_last_receipt_and_amounts() -> None:
    r = avstem(
        [
            o("A", beløp=100),
            s("00", "A"),
            o("B", beløp=200),
            s("04", "B"),
            o("C", beløp=300),
            s("08", "C"),
            o("D", beløp=400),
            s("12", "D"),
            o("E", beløp=500),
        ],
        FOM,
        TOM,
    )
    (a,) = r.avstemminger
    g = a.grunnlag
    assert (g.godkjent, g.varsel, g.avvist, g.mangler) == (Sum(1, 100), Sum(1, 200), Sum(2, 700), Sum(1, 500))
    assert g.total == Sum(5, 1500) and g.total.fortegn == "T"
    data = [m for m in a.meldinger if m.aksjon is Aksjon.DATA]
    assert [d.detalj_type for d in data[0].detaljer] == [
        DetaljType.VARS,
        DetaljType.AVVI,
        DetaljType.AVVI,
        DetaljType.MANG,
    ]
    assert [d.transaksjon_nokkel for d in data[0].detaljer] == ["B", "C", "D", "E"]


def test_the_last_receipt_wins_and_may_come_before_its_oppdrag() -> None:
    r = avstem([s("12"), s("00"), o()], FOM, TOM)
    assert r.avstemminger[0].grunnlag.godkjent == Sum(1, 1000)
    r = avstem([o(), s("00"), s("08", beskr="avvist")], FOM, TOM)
    assert r.avstemminger[0].grunnlag.avvist == Sum(1, 1000)


def test_an_oppdrag_seen_twice_counts_once_its_first_record() -> None:
    r = avstem([o(beløp=1000), o(beløp=9999), s("00")], FOM, TOM)
    assert r.avstemminger[0].grunnlag.total == Sum(1, 1000)


def test_a_rejected_oppdrag_resent_counts_twice() -> None:
    r = avstem(
        [
            o(key="2025-08-18-09.30.00.000000"),
            s("08"),
            o(key="2025-08-18-10.00.00.000000"),
            s("00", key="2025-08-18-10.00.00.000000"),
        ],
        FOM,
        TOM,
    )
    g = r.avstemminger[0].grunnlag
    assert (g.avvist, g.godkjent) == (Sum(1, 1000), Sum(1, 1000))


def test_a_receipt_without_its_oppdrag_is_ignored_and_counted_when_in_range() -> None:
    r = avstem([s("00", "X"), s("00", "Y", key="2025-08-17-09.30.00.000000"), o()], FOM, TOM)
    assert r.receipts_without_oppdrag == 1
    assert r.avstemminger[0].grunnlag.total == Sum(1, 1000)


def test_out_of_range_oppdrag_are_left_out_and_none_in_range_gives_no_messages() -> None:
    assert (
        avstem([o(key="2025-08-17-23.59.59.999999"), o(key="2025-08-19-00.00.00.000000")], FOM, TOM).avstemminger == ()
    )


def test_fagområder_in_ascending_order_each_with_its_own_id_and_totals() -> None:
    r = avstem([o(f="TILTPENG"), o(f="TILLSTDR"), o(f="DP", beløp=7), o(f="TILLST"), o(f="AAP")], FOM, TOM)
    assert [a.fagområde for a in r.avstemminger] == ["AAP", "DP", "TILLST", "TILLSTDR", "TILTPENG"]
    assert len({a.avstemming_id for a in r.avstemminger}) == 5
    assert r.avstemminger[1].grunnlag.total == Sum(1, 7)


@pytest.mark.parametrize(("n", "datas"), [(0, 1), (1, 1), (70, 1), (71, 2), (140, 2), (141, 3)])
def test_details_come_in_chunks_of_70_with_totals_on_the_first_data_only(n: int, datas: int) -> None:
    records: list[SendtOppdrag | Svar] = [o(f"S{i:04d}") for i in range(n)]
    records += [o("GOOD"), s("00", "GOOD")]
    (a,) = avstem(records, FOM, TOM).avstemminger
    kinds = [m.aksjon for m in a.meldinger]
    assert kinds == [Aksjon.START] + [Aksjon.DATA] * datas + [Aksjon.AVSL]
    data = a.meldinger[1:-1]
    assert data[0].grunnlag is not None and all(m.grunnlag is None for m in data[1:])
    assert [len(m.detaljer) for m in data] == ([min(70, n - 70 * i) for i in range(datas)] if n else [0])
    assert sum(len(m.detaljer) for m in data) == n
    assert len({m.avstemming_id for m in a.meldinger}) == 1


def test_details_sorted_by_key_then_sak_and_output_independent_of_the_order_of_oppdrag() -> None:
    records: list[SendtOppdrag | Svar] = []
    for i in range(150):
        key = f"2025-08-18-{i % 24:02d}.00.00.000000"
        records.append(o(f"S{(i * 37) % 150:03d}", key=key))
        if i % 3 == 0:
            records.append(s("08" if i % 2 else "04", f"S{(i * 37) % 150:03d}", key=key, kode="B1", beskr="nei"))
    base = avstem(records, FOM, TOM)
    details = [d for m in base.avstemminger[0].meldinger for d in m.detaljer]
    assert [(d.tidspunkt, d.transaksjon_nokkel) for d in details] == sorted(
        (d.tidspunkt, d.transaksjon_nokkel) for d in details
    )
    shuffled = list(records)
    random.Random(7).shuffle(shuffled)
    # Each Oppdrag has at most one receipt here, so any order gives the same messages.
    assert avstem(shuffled, FOM, TOM) == base


def test_varsel_and_avvist_details_carry_the_mmel_fields_and_mangler_none() -> None:
    r = avstem([o("A"), s("04", "A", kode="B110", beskr="varsel"), o("B"), s("08", "B", beskr="  "), o("C")], FOM, TOM)
    a, b, c = r.avstemminger[0].meldinger[1].detaljer
    assert (a.melding_kode, a.alvorlighetsgrad, a.tekst_melding) == ("B110", "04", "varsel")
    assert (b.melding_kode, b.alvorlighetsgrad, b.tekst_melding) == (None, "08", None)
    assert (c.melding_kode, c.alvorlighetsgrad, c.tekst_melding, c.detalj_type) == (None, None, None, DetaljType.MANG)
    assert a.offnr == IDENT and a.tidspunkt == "2025-08-18-09.30.00.000000"


def test_an_oppdrag_beløp_sums_sats_over_every_line_opphør_included() -> None:
    # The model's "can accumulate opphør": NY 200 + OPPH 200 = 400.
    read = read_oppdrag(oppdrag(sats=(200, 200), opph=(1,)).encode())
    assert read is not None and read.beløp == 400
    only_opph = read_oppdrag(oppdrag(sats=(300,), opph=(0,)).encode())
    assert only_opph is not None and only_opph.beløp == 300


def test_reading_trims_and_ignores_what_is_not_an_oppdrag_or_receipt() -> None:
    x = read_oppdrag(oppdrag(pad="  ").encode())
    assert x is not None and x.identitet == Identitet("DP", "SAK-1", "2025-08-18-09.30.00.000000")
    assert read_oppdrag(kvittering("00").encode()) is None  # has mmel
    assert read_oppdrag(b"not xml") is None and read_oppdrag(None) is None
    assert read_oppdrag(b"<oppdrag><oppdrag-110/></oppdrag>") is None  # no avstemming-115
    k = read_svar(kvittering("04", "med varsel", "B1", pad="   ").encode())
    assert k == Svar(Identitet("DP", "SAK-1", "2025-08-18-09.30.00.000000"), "04", "B1", "med varsel")
    assert read_svar(kvittering("99").encode()) is None
    assert read_svar(oppdrag().encode()) is None  # no mmel
    other_prefix = kvittering("00").replace("ns2:", "x:").replace("xmlns:ns2", "xmlns:x")
    assert read_svar(other_prefix.encode()) is not None


def test_a_key_in_another_format_is_an_error_naming_the_record() -> None:
    with pytest.raises(AvstemmingInputError, match=r"line 3.*nokkelAvstemming '2025-08-18T09:30:00'"):
        read_oppdrag(oppdrag(key="2025-08-18T09:30:00").encode(), "line 3")
    with pytest.raises(AvstemmingInputError, match="line 4"):
        read_svar(kvittering("00", key="yesterday").encode(), "line 4")


def test_categories_names() -> None:
    assert [k.value for k in Kategori] == ["godkjent", "varsel", "avvist", "mangler"]
