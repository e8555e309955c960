"""The tiltakspenger contract (`fagsystemer.md`, TILTAKSPENGER): validate a decoded JSON value,
split it.

Tiltakspenger sends **the whole sak every time**: `perioder` lists every paid period of every
meldeperiode. One utbetaling per (meldeperiode, stønad after barnetillegg): `barnetillegg: true`
switches the stønad to its `_BARN` twin, which has its own klassekode and so its own chain. The
uid is derived like dagpenger's, `utbetaling_uid("TILTAKSPENGER", sakId, meldeperiode,
klassekode)`. A meldeperiode paid before and missing from the message is stopped by the diff
with the stønad it was confirmed with (`Request.whole_sak`; the model system used a placeholder
stønad and failed such stops).

`parse_request` takes the value an edge JSON decoder produced (dicts, lists, str, int, bool,
None) and either returns a `Request` or raises `RequestRejected` with the first broken rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from helved.domain.fields import (
    amount,
    bounded,
    date_field,
    datetime_field,
    enhet_field,
    missing,
    opt_bool,
    opt_string,
    person_ident,
    string,
)
from helved.domain.ids import utbetaling_uid
from helved.domain.model import Fagsystem, Periode, Periodetype, Request, SakKey, Source, Stønad, Utbetaling
from helved.domain.periods import check_days_paid_once, has_weekday, merge_perioder, validate_perioder
from helved.errors import ErrorCode, bad_request

from .contract import Contract

FAGSYSTEM = Fagsystem.TILTAKSPENGER
FAGOMRÅDE = "TILTPENG"
# A missing saksbehandler/beslutter is the fagområde code (at most 8 characters).
DEFAULT_ANSVARLIG = FAGOMRÅDE

# stønad -> (klassekode, klassekode of its `_BARN` twin), `fagsystemer.md` Codes.
_KLASSEKODER: tuple[tuple[str, str, str], ...] = (
    ("ARBEIDSFORBEREDENDE_TRENING", "TPTPAFT", "TPBTAF"),
    ("ARBEIDSRETTET_REHABILITERING", "TPTPARREHABAGDAG", "TPBTARREHABAGDAG"),
    ("ARBEIDSTRENING", "TPTPATT", "TPBTATTILT"),
    ("AVKLARING", "TPTPAAG", "TPBTAAGR"),
    ("DIGITAL_JOBBKLUBB", "TPTPDJB", "TPBTDJK"),
    ("ENKELTPLASS_AMO", "TPTPEPAMO", "TPBTEPAMO"),
    ("ENKELTPLASS_VGS_OG_HØYERE_YRKESFAG", "TPTPEPVGSHOU", "TPBTEPVGSHOY"),
    ("FORSØK_OPPLÆRING_LENGRE_VARIGHET", "TPTPFLV", "TPBTFLV"),
    ("GRUPPE_AMO", "TPTPGRAMO", "TPBTGRAMO"),
    ("GRUPPE_VGS_OG_HØYERE_YRKESFAG", "TPTPGRVGSHOY", "TPBTGRVGSHOY"),
    ("HØYERE_UTDANNING", "TPTPHOYUTD", "TPBTHOYUTD"),
    ("INDIVIDUELL_JOBBSTØTTE", "TPTPIPS", "TPBTIPS"),
    ("INDIVIDUELL_KARRIERESTØTTE_UNG", "TPTPIPSUNG", "TPBTIPSUNG"),
    ("JOBBKLUBB", "TPTPJK2009", "TPBTJK2009"),
    ("OPPFØLGING", "TPTPOPPFAG", "TPBTOPPFAGR"),
    ("UTVIDET_OPPFØLGING_I_NAV", "TPTPUAOPPF", "TPBTUAOPPFL"),
    ("UTVIDET_OPPFØLGING_I_OPPLÆRING", "TPTPUOPPFOPPL", "TPBTUOPPFOPPL"),
    ("ARBEIDSMARKEDSOPPLÆRING_AMO", "TPFORSAMOGRU", "TPFORSAMOGRUBT"),
    ("NORSKOPPLÆRING_GRUNNLEGGENDE_FERDIGHETER", "TPFORSAMOENK", "TPFORSAMOENKBT"),
    ("FAG_OG_YRKESOPPLÆRING", "TPFORSFAGGRU", "TPFORSFAGGRUBT"),
    ("STUDIESPESIALISERING", "TPFORSFAGENK", "TPFORSFAGENKBT"),
    ("FAGSKOLE", "TPFORSHOYUTD", "TPFORSHOYUTDBT"),
)

# The stønad a period names (`stønad`, the base names above) -> (its stønad, its `_BARN` twin).
STØNADER: Mapping[str, tuple[Stønad, Stønad]] = {
    name: (
        Stønad(name, base, FAGOMRÅDE, Periodetype.UKEDAG),
        Stønad(f"{name}_BARN", barn, FAGOMRÅDE, Periodetype.UKEDAG),
    )
    for name, base, barn in _KLASSEKODER
}


def _read_periode(raw: Any, i: int) -> tuple[str, Stønad, Periode]:
    """One entry of `perioder`, every field checked: its meldeperiode, stønad (after
    barnetillegg) and period. `beløp` 0 is a 400 (`ZERO_BELOP`): tiltakspenger never sends an
    unpaid period, unlike dagpenger and AAP, whose zeros are dropped. A UKEDAG period must contain
    a weekday (settled rule 6)."""
    where = f"perioder[{i}]."
    if not isinstance(raw, dict):
        raise bad_request(ErrorCode.INVALID_FIELD, f"perioder[{i}] must be an object")
    meldeperiode = string(raw, "meldeperiode", where)
    if not meldeperiode:
        raise bad_request(ErrorCode.INVALID_FIELD, f"{where}meldeperiode must not be empty")
    fom = date_field(raw, "fom", where)
    tom = date_field(raw, "tom", where)
    beløp = amount(raw, "beløp", where)
    name = string(raw, "stønad", where)
    if name not in STØNADER:
        raise bad_request(ErrorCode.INVALID_FIELD, f"{where}stønad must be one of {', '.join(STØNADER)}")
    barnetillegg = opt_bool(raw, "barnetillegg", False, where)
    enhet = enhet_field(raw, "betalendeEnhet", where)
    if tom < fom:
        raise bad_request(ErrorCode.TOM_BEFORE_FOM, f"perioder[{i}]: tom {tom} is before fom {fom}")
    if beløp == 0:
        raise bad_request(ErrorCode.ZERO_BELOP, f"perioder[{i}]: period {fom}..{tom} has beløp 0")
    stønad = STØNADER[name][1 if barnetillegg else 0]
    if not has_weekday(fom, tom):
        raise bad_request(
            ErrorCode.WEEKEND_DAY_PAID,
            f"perioder[{i}]: period {fom}..{tom} has no weekday: {stønad.name} is paid Monday-Friday only",
        )
    return meldeperiode, stønad, Periode(fom, tom, beløp, None, enhet)


def check_one_enhet(perioder: list[Periode]) -> None:
    """Settled rule 7, over the whole request: periods that name a betalende enhet all name the
    same one (an Oppdrag has one BOS enhet, so any of its lines may be paid from it). A period
    naming none names no other enhet; it is paid under the Oppdrag's."""
    first: str | None = None
    for p in perioder:
        if p.betalende_enhet is None:
            continue
        if first is None:
            first = p.betalende_enhet
        elif p.betalende_enhet != first:
            raise bad_request(
                ErrorCode.MIXED_ENHET,
                f"perioder name the betalende enheter {first} and {p.betalende_enhet}: one Oppdrag has one",
            )


def parse_request(
    value: Any,
    *,
    original_key: str | None,
    avstemming: datetime | None = None,
    source: Source | None = None,
) -> Request:
    """Validate a decoded tiltakspenger message and split it into utbetalinger.

    1. Read every field of every period (`_read_periode`); betalende enheter must agree
       (`MIXED_ENHET`).
    2. Group the periods by (meldeperiode, klassekode): one utbetaling each, uid derived.
    3. Merge each group's periods (settled rule 5: equal beløp and betalende enhet, the next day or
       the next weekday continues; overlapping periods are `OVERLAPPING_PERIODS`) and check
       them (§9). There is no vedtakssats.
    4. One day paid by two meldeperioder for one klassekode is `DUPLICATE_DAY`.

    `perioder: []` is a valid request with no utbetalinger (the diff stops whatever is active,
    or has nothing to send). `avstemming` is the record's timestamp as Europe/Oslo wall time;
    without one the vedtakstidspunkt is used.
    """
    if not isinstance(value, dict):
        raise bad_request(ErrorCode.INVALID_FIELD, "the message must be a JSON object")
    dryrun = opt_bool(value, "dryrun")
    sak_id = bounded(string(value, "sakId"), "sakId", 30, ErrorCode.SAKID_LENGTH)
    behandling_id = bounded(string(value, "behandlingId"), "behandlingId", 30, ErrorCode.BEHANDLINGID_LENGTH)
    ident = person_ident(value, "personident")
    vedtakstidspunkt = datetime_field(value, "vedtakstidspunkt")
    saksbehandler = bounded(
        opt_string(value, "saksbehandler", DEFAULT_ANSVARLIG), "saksbehandler", 8, ErrorCode.SAKSBEHANDLER_LENGTH
    )
    beslutter = bounded(opt_string(value, "beslutter", DEFAULT_ANSVARLIG), "beslutter", 8, ErrorCode.BESLUTTER_LENGTH)
    if value.get("perioder") is None:
        raise missing("perioder")
    entries = value["perioder"]
    if not isinstance(entries, list):
        raise bad_request(ErrorCode.INVALID_FIELD, "perioder must be a list")

    read = [_read_periode(raw, i) for i, raw in enumerate(entries)]
    check_one_enhet([periode for _, _, periode in read])
    groups: dict[tuple[str, str], tuple[Stønad, list[Periode]]] = {}
    for meldeperiode, stønad, periode in read:
        groups.setdefault((meldeperiode, stønad.klassekode), (stønad, []))[1].append(periode)

    sak_key = SakKey(sak_id, FAGSYSTEM)
    utbetalinger: list[Utbetaling] = []
    for (meldeperiode, klassekode), (stønad, perioder) in groups.items():
        where = f"meldeperiode {meldeperiode} ({stønad.name})"
        merged = merge_perioder(perioder, stønad.periodetype, where)
        validate_perioder(merged, stønad.periodetype, where)
        utbetalinger.append(
            Utbetaling(
                uid=utbetaling_uid(FAGSYSTEM.value, sak_id, meldeperiode, klassekode),
                sak_id=sak_id,
                fagsystem=FAGSYSTEM,
                behandling_id=behandling_id,
                ident=ident,
                stønad=stønad,
                vedtakstidspunkt=vedtakstidspunkt,
                saksbehandler=saksbehandler,
                beslutter=beslutter,
                perioder=merged,
            )
        )
    check_days_paid_once(utbetalinger)
    # Split order as dagpenger's: first fom, klassekode, uid; independent of the message order.
    utbetalinger.sort(key=_split_order)
    return Request(
        original_key=original_key,
        sak_key=sak_key,
        behandling_id=behandling_id,
        ident=ident,
        vedtakstidspunkt=vedtakstidspunkt,
        saksbehandler=saksbehandler,
        beslutter=beslutter,
        dryrun=dryrun,
        utbetalinger=tuple(utbetalinger),
        whole_sak=True,
        avstemming=avstemming or vedtakstidspunkt,
        source=source,
    )


def _split_order(u: Utbetaling) -> tuple[date, str, str]:
    return (u.perioder[0].fom, u.stønad.klassekode, u.uid)


CONTRACT = Contract(
    fagsystem=FAGSYSTEM,
    topic="helved.utbetalinger-tp.v1",
    dryrun_topic="helved.dryrun-tp.v1",
    parse=parse_request,
    fagområder=(FAGOMRÅDE,),
    stønadstyper={s.klassekode: s.name for pair in STØNADER.values() for s in pair},
)
