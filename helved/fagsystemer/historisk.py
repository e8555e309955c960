"""The historisk contract (`fagsystemer.md`, HISTORISK): validate one utbetaling per message.

    {dryrun?, id, sakId, behandlingId, personident, stønad, vedtakstidspunkt, periodetype,
     perioder: [{fom, tom, beløp}], saksbehandler?, beslutter?}

One message is one payment chain: uid = the sender's `id` (a UUID, in its canonical lower-case
`8-4-4-4-12` form, see `uuid_field`), `perioder: []` asks to stop
it (`Request.stops`). Nothing else on the sak changes (`whole_sak=False`). Every Oppdrag goes
to fagområde HELSREF with `utbetFrekvens` ENG, the only frequency OS has for it.

`parse_request` takes the value an edge JSON decoder produced and either returns a `Request`
or raises `RequestRejected` with the first broken rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from helved.domain.fields import (
    amount,
    bounded,
    date_field,
    datetime_field,
    list_field,
    opt_bool,
    opt_string,
    periodetype_field,
    person_ident,
    string,
    uuid_field,
)
from helved.domain.model import Fagsystem, Periode, Request, SakKey, Source, Stønad, Utbetaling
from helved.domain.periods import checked_perioder
from helved.errors import ErrorCode, bad_request

from .contract import Contract

FAGSYSTEM = Fagsystem.HISTORISK
FAGOMRÅDE = "HELSREF"
DEFAULT_ANSVARLIG = FAGOMRÅDE[:8]
UTBET_FREKVENS = "ENG"

# stønad -> klassekode, from the spec's Codes table (fagområde HELSREF).
KLASSEKODER: Mapping[str, str] = {
    "TILSKUDD_SMÅHJELPEMIDLER": "HJRIM",
    "REISEUTGIFTER": "HTRUTR",
    "ORTOPEDISK_PROTESE": "HTOHPR",
    "ORTOSE": "HTOHHÅ",
    "SPESIALSKO": "HTOHSKBA",
    "PARYKK": "HTOHPAAV",
    "ANSIKTSDEFEKTPROTESE": "HTOHAD",
    "BRYSTPROTESE": "HTOHBP",
    "ØYEPROTESE": "HTOHØP",
    "VANLIGE_SKO": "HTOHAS",
    "FOTSENG": "HTOHFTEN",
    "HØREAPPARAT_ANSKAFFELSE": "H-APP",
    "HØREAPPARAT_REPARASJON": "H-APPREP",
    "HØREAPPARAT_EGENBETALING": "H-APPEGENBET",
    "LEGEERKLÆRING_SPESIALIST": "LEGEERKLSPES",
    "LEGEERKLÆRING_ALLMENN": "LEGEERKLALM",
    "ARBEIDSPLASSVURDERING_FYSIOTERAPEUT": "ARBPLVURD",
    "OPPLÆRING_TILPASNING_KURS_SYN": "OPPLTILP-SYN",
    "OPPLÆRING_TILPASNING_KURS_HØRSEL": "OPPLTILP-HORSEL",
    "OPPLÆRING_TILPASNING_KURS_DØVBLIND": "OPPLTILP-DOVBLIND",
    "OPPLÆRING_TILPASNING_FOLKEHØGSKOLE": "OPPLTILP-FHSKOLE",
    "OPPLÆRING_TILPASNING_BRISKEBY": "OPPLTILP-BRISKEBY",
    "TINNITUSMASKERER": "HJTINNITUS",
    "HJELPEMIDLER_SELVSTENDIG_NÆRINGSDRIVENDE": "HJARBLIVSELVST",
    "HJELPEMIDLER_ARBEID_UTDANNING": "HJARBUTD",
    "HJELPEMIDLER_ATTFØRING": "HJATTF",
    "HJELPEMIDLER_GRUNNMØNSTER": "HJGRUNNM",
    "HJELPEMIDLER_ANNET": "HJANNET",
    "SEKSUALTEKNISKE_HJELPEMIDLER": "HJSEXTEKN",
    "REISE_OPPHOLD": "REOPPH",
    "REISE_OPPHOLD_BIL": "REOPPH-BIL",
    "REISE_OPPHOLD_HJELPEMIDLER": "REOPPH-HJ",
    "REISE_OPPHOLD_ORTOPEDISKE_HJELPEMIDLER": "REOPPH-ORT",
    "TAPT_ARBEIDSFORTJENESTE_LEDSAGER": "TAPTARBLEDS",
    "TAPT_ARBEIDSFORTJENESTE_LEDSAGER_IOP": "TAPTARBLEDS-IOP",
    "REPARASJON_HJELPEMIDLER_UTLAND": "HJREP",
    "SYNSHJELPEMIDLER": "HJSYN",
    "BOLIGTILSKUDD": "HJBOL",
    "FØRERHUND_VETERINÆR": "HJHUND",
    "ØREPROPPER": "HJPROPP",
    "BILTILSKUDD_GRUPPE_1": "HJBILGR1",
    "KJØREOPPLÆRING_GRUPPE_1": "HJBILOPPLGR1",
    "KJØREOPPLÆRING_GRUPPE_2": "HJBILOPPLGR2",
    "BILTILSKUDD_GRUPPE_2": "HJBILGR2",
    "DATAUTSTYR": "HJDATA",
    "SERVICEHUND_REISEUTGIFTER": "SEHUNDREIS",
    "SERVICEHUND_VETERINÆR": "SEHUNDVET",
    "APP_KOGNISJON": "HJAPPKOG",
    "APP_KOMMUNIKASJON": "HJAPPKOM",
    "APP_LESE_OG_SKRIVESTØTTE": "HJAPPLES",
    "APP_SYN": "HJAPPSYN",
    "BEHANDLINGSBRILLE_SATS_1": "HTBDBR",
    "BEHANDLINGSBRILLE_SATS_2": "HTBDBI",
    "BEHANDLINGSBRILLE_INDIVIDUELL": "HTBDIB",
    "KONTAKTLINSER_BEHANDLING": "HTBDKB",
    "REPARASJON_BEHANDLINGSBRILLE": "HTBDRB",
}


def _read_periode(raw: Any, where: str) -> Periode:
    if not isinstance(raw, dict):
        raise bad_request(ErrorCode.INVALID_FIELD, f"{where.rstrip('.')} must be an object")
    return Periode(date_field(raw, "fom", where), date_field(raw, "tom", where), amount(raw, "beløp", where))


# ---------------------------------------------------------------------------------------------


def parse_request(
    value: Any,
    *,
    original_key: str | None,
    avstemming: datetime | None = None,
    source: Source | None = None,
) -> Request:
    """Validate a historisk message: one utbetaling (uid = `id`, periods merged by settled
    rule 5), or a stop of `id` when `perioder` is empty."""
    if not isinstance(value, dict):
        raise bad_request(ErrorCode.INVALID_FIELD, "the message must be a JSON object")
    dryrun = opt_bool(value, "dryrun")
    uid = uuid_field(value, "id")
    sak_id = bounded(string(value, "sakId"), "sakId", 30, ErrorCode.SAKID_LENGTH)
    behandling_id = bounded(string(value, "behandlingId"), "behandlingId", 30, ErrorCode.BEHANDLINGID_LENGTH)
    ident = person_ident(value, "personident")
    name = string(value, "stønad")
    klassekode = KLASSEKODER.get(name)
    if klassekode is None:
        raise bad_request(ErrorCode.INVALID_FIELD, f"stønad {name!r} is not a known historisk stønad")
    vedtakstidspunkt = datetime_field(value, "vedtakstidspunkt")
    periodetype = periodetype_field(value, "periodetype")
    saksbehandler = bounded(
        opt_string(value, "saksbehandler", DEFAULT_ANSVARLIG), "saksbehandler", 8, ErrorCode.SAKSBEHANDLER_LENGTH
    )
    beslutter = bounded(opt_string(value, "beslutter", DEFAULT_ANSVARLIG), "beslutter", 8, ErrorCode.BESLUTTER_LENGTH)
    given = [_read_periode(p, f"perioder[{j}].") for j, p in enumerate(list_field(value, "perioder"))]

    stønad = Stønad(name, klassekode, FAGOMRÅDE, periodetype)
    utbetalinger: tuple[Utbetaling, ...] = ()
    stops: tuple[str, ...] = ()
    if given:
        utbetalinger = (
            Utbetaling(
                uid=uid,
                sak_id=sak_id,
                fagsystem=FAGSYSTEM,
                behandling_id=behandling_id,
                ident=ident,
                stønad=stønad,
                vedtakstidspunkt=vedtakstidspunkt,
                saksbehandler=saksbehandler,
                beslutter=beslutter,
                perioder=checked_perioder(given, periodetype, f"utbetaling ({name})"),
            ),
        )
    else:
        stops = (uid,)
    return Request(
        original_key=original_key,
        sak_key=SakKey(sak_id, FAGSYSTEM),
        behandling_id=behandling_id,
        ident=ident,
        vedtakstidspunkt=vedtakstidspunkt,
        saksbehandler=saksbehandler,
        beslutter=beslutter,
        dryrun=dryrun,
        utbetalinger=utbetalinger,
        whole_sak=False,
        stops=stops,
        stop_stønader=tuple((u, stønad) for u in stops),
        avstemming=avstemming or vedtakstidspunkt,
        source=source,
        utbet_frekvens=UTBET_FREKVENS,
    )


CONTRACT = Contract(
    fagsystem=FAGSYSTEM,
    topic="historisk.utbetaling.v1",
    dryrun_topic="helved.dryrun-historisk.v1",
    parse=parse_request,
    fagområder=(FAGOMRÅDE,),
    stønadstyper={klassekode: name for name, klassekode in KLASSEKODER.items()},
)
