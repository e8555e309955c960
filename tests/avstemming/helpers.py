"""Oppdrag and receipt XML for the avstemming tests, written by hand (OS's shapes)."""

from __future__ import annotations

from typing import Any

import orjson

NS = "http://www.trygdeetaten.no/skjema/oppdrag"
IDENT = "12345678910"


def nokkel(day: str, time: str = "09.30.00.000000") -> str:
    return f"{day}-{time}"


def _line(sats: int, opph: bool, n: int) -> str:
    status = "<kodeStatusLinje>OPPH</kodeStatusLinje><datoStatusFom>2025-08-04+02:00</datoStatusFom>" if opph else ""
    kode = "ENDR" if opph else "NY"
    return (
        f"<oppdrags-linje-150><kodeEndringLinje>{kode}</kodeEndringLinje>{status}"
        f"<vedtakId>2025-08-18</vedtakId><delytelseId>D{n}</delytelseId><kodeKlassifik>DAGPENGER</kodeKlassifik>"
        "<datoKlassifikFom>2025-08-04+02:00</datoKlassifikFom><datoVedtakFom>2025-08-04+02:00</datoVedtakFom>"
        f"<datoVedtakTom>2025-08-08+02:00</datoVedtakTom><sats>{sats}</sats><fradragTillegg>T</fradragTillegg>"
        "<typeSats>DAG</typeSats><brukKjoreplan>N</brukKjoreplan><saksbehId>Z123456</saksbehId>"
        f"<utbetalesTilId>{IDENT}</utbetalesTilId><henvisning>B-1</henvisning></oppdrags-linje-150>"
    )


def oppdrag(
    sak: str = "SAK-1",
    key: str = "2025-08-18-09.30.00.000000",
    sats: tuple[int, ...] = (1000,),
    fagområde: str = "DP",
    opph: tuple[int, ...] = (),
    ident: str = IDENT,
    mmel: str = "",
    pad: str = "",
) -> str:
    """An Oppdrag XML; `opph` marks the indexes of opphør lines; `mmel` makes it a receipt."""
    lines = "".join(_line(s, i in opph, i) for i, s in enumerate(sats))
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ns2:oppdrag xmlns:ns2="{NS}">{mmel}<oppdrag-110>'
        "<kodeAksjon>1</kodeAksjon><kodeEndring>NY</kodeEndring>"
        f"<kodeFagomraade>{pad}{fagområde}{pad}</kodeFagomraade><fagsystemId>{pad}{sak}{pad}</fagsystemId>"
        f"<utbetFrekvens>MND</utbetFrekvens><oppdragGjelderId>{ident}</oppdragGjelderId>"
        "<datoOppdragGjelderFom>2000-01-01+01:00</datoOppdragGjelderFom><saksbehId>Z123456</saksbehId>"
        f"<avstemming-115><kodeKomponent>{fagområde}</kodeKomponent><nokkelAvstemming>{pad}{key}{pad}</nokkelAvstemming>"
        f"<tidspktMelding>{key}</tidspktMelding></avstemming-115>"
        "<oppdrags-enhet-120><typeEnhet>BOS</typeEnhet><enhet>8020</enhet><datoEnhetFom>1970-01-01+01:00</datoEnhetFom></oppdrags-enhet-120>"
        f"{lines}</oppdrag-110></ns2:oppdrag>"
    )


def kvittering(code: str, beskr: str | None = None, kode: str | None = None, pad: str = "", **kw: Any) -> str:
    """The Oppdrag of `kw` echoed with a `mmel` (fields padded with `pad`, as OS does)."""
    parts = "<systemId>231-OPUR</systemId>"
    if kode is not None:
        parts += f"<kodeMelding>{pad}{kode}{pad}</kodeMelding>"
    parts += f"<alvorlighetsgrad>{pad}{code}{pad}</alvorlighetsgrad>"
    if beskr is not None:
        parts += f"<beskrMelding>{pad}{beskr}{pad}</beskrMelding>"
    return oppdrag(mmel=f"<mmel>{parts}</mmel>", pad=pad, **kw)


def rec(topic: str, value: str | None, key: str | None = "k") -> dict[str, Any]:
    return {"topic": topic, "key": key, "value": value, "headers": {}}


def o_rec(**kw: Any) -> dict[str, Any]:
    return rec("helved.oppdrag.v1", oppdrag(**kw))


def k_rec(code: str, beskr: str | None = None, kode: str | None = None, **kw: Any) -> dict[str, Any]:
    return rec("helved.kvittering.v1", kvittering(code, beskr, kode, **kw))


def write_jsonl(path: Any, records: list[dict[str, Any]]) -> None:
    with open(path, "wb") as fh:
        for r in records:
            fh.write(orjson.dumps(r) + b"\n")


def read_jsonl(path: Any) -> list[dict[str, Any]]:
    with open(path, "rb") as fh:
        return [orjson.loads(line) for line in fh if line.strip()]
