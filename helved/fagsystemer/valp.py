"""The valp contract (`fagsystemer.md`, VALP): validate one tilskudd per message.

    {dryrun?, id, sakId, behandlingId, personIdent, periode: {fom, tom}, belop, tilskuddstype,
     tiltakskode, kostnadssted?, saksbehandler, beslutter?, besluttetTidspunkt}

One message is one EN_GANG payment chain: uid = the sender's `id` (a UUID, in its canonical
lower-case `8-4-4-4-12` form, see `uuid_field`), one period `periode`
paid `belop` once; `belop` 0 asks to stop it (`Request.stops`) and is validated like any other
message (settled rule 10). Nothing else on the sak changes (`whole_sak=False`). The stønad is
`<TILTAKSKODE>_<TILSKUDDSTYPE>`, its klassekode from `KLASSEKODER`, fagområde TILSOPP;
`kostnadssted` is the betalende enhet. The vedtak time is `besluttetTidspunkt`, an instant with
an offset, as Europe/Oslo wall time.

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
    enhet_field,
    instant_field,
    missing,
    opt_bool,
    opt_string,
    person_ident,
    string,
    uuid_field,
)
from helved.domain.model import Fagsystem, Periode, Periodetype, Request, SakKey, Source, Stønad, Utbetaling
from helved.domain.periods import checked_perioder
from helved.errors import ErrorCode, bad_request

from .contract import Contract

FAGSYSTEM = Fagsystem.VALP
FAGOMRÅDE = "TILSOPP"
DEFAULT_ANSVARLIG = FAGOMRÅDE[:8]
PERIODETYPE = Periodetype.EN_GANG

TILSKUDDSTYPER = ("EKSAMENSGEBYR", "INTEGRERT_BOTILBUD", "SEMESTERAVGIFT", "SKOLEPENGER", "STUDIEREISE")
# tiltakskode -> the klassekoder of TILSKUDDSTYPER, in that order (the spec's Codes table).
_TABLE: Mapping[str, tuple[str, str, str, str, str]] = {
    "ENKELTPLASS_ARBEIDSMARKEDSOPPLAERING": (
        "TTOENKPAMOEKSGEB",
        "TTOENKPAMOINTBT",
        "TTOENKPAMOSEMAVG",
        "TTOENKPAMOSKOLP",
        "TTOENKPAMOSTUDR",
    ),
    "ENKELTPLASS_FAG_OG_YRKESOPPLAERING": (
        "TTOENKPFOYEKSGEB",
        "TTOENKPFOYINTBT",
        "TTOENKPFOYSEMAVG",
        "TTOENKPFOYSKOLP",
        "TTOENKPFOYSTUDR",
    ),
    "HOYERE_YRKESFAGLIG_UTDANNING": (
        "TTOFAGHOYUDEKSGE",
        "TTOFAGHOYUDINTBT",
        "TTOFAGHOYUDSEMAV",
        "TTOFAGHOYUDSKOLP",
        "TTOFAGHOYUDSTUDR",
    ),
    "FAG_OG_YRKESOPPLAERING": ("TTOFOYEKSGEB", "TTOFOYINTBOTIL", "TTOFOYSEMAVG", "TTOFOYSKOLP", "TTOFOYSTUDREIS"),
    "HOYERE_UTDANNING": (
        "TTOHOYUDEKSGEB",
        "TTOHOYUDINTBOTIL",
        "TTOHOYUDSEMAVG",
        "TTOHOYUDSKOLP",
        "TTOHOYUDSTUDREIS",
    ),
    "NORSKOPPLAERING_GRUNNLEGGENDE_FERDIGHETER_FOV": (
        "TTONOGFEKSGEB",
        "TTONOGFINTBOTIL",
        "TTONOGFSEMAVG",
        "TTONOGFSKOLP",
        "TTONOGFSTUDREIS",
    ),
    "STUDIESPESIALISERING": (
        "TTOSTUDSPEKSGEB",
        "TTOSTUDSPINTBT",
        "TTOSTUDSPSEMAVG",
        "TTOSTUDSPSKOLP",
        "TTOSTUDSPSTUDRS",
    ),
    "ARBEIDSMARKEDSOPPLAERING": (
        "TTOAAMOEKSGEB",
        "TTOAAMOINTBOTIL",
        "TTOAAMOSEMAVG",
        "TTOAAMOSKOLP",
        "TTOAAMOSTUDREIS",
    ),
}
TILTAKSKODER = tuple(_TABLE)

# (tiltakskode, tilskuddstype) -> klassekode
KLASSEKODER: Mapping[tuple[str, str], str] = {
    (tiltakskode, tilskuddstype): klassekode
    for tiltakskode, row in _TABLE.items()
    for tilskuddstype, klassekode in zip(TILSKUDDSTYPER, row, strict=True)
}


def stønad_for(tiltakskode: str, tilskuddstype: str) -> Stønad:
    """The stønad `<TILTAKSKODE>_<TILSKUDDSTYPE>` and its klassekode (a 400 for an unknown one)."""
    if tiltakskode not in _TABLE:
        raise bad_request(ErrorCode.INVALID_FIELD, f"tiltakskode {tiltakskode!r} is not a known tiltakskode")
    if tilskuddstype not in TILSKUDDSTYPER:
        raise bad_request(ErrorCode.INVALID_FIELD, f"tilskuddstype must be one of {', '.join(TILSKUDDSTYPER)}")
    klassekode = KLASSEKODER.get((tiltakskode, tilskuddstype))
    if klassekode is None:  # every known pair has one today; a gap in the table stays a 400
        raise bad_request(
            ErrorCode.INVALID_FIELD, f"tiltakskode {tiltakskode} has no klassekode for tilskuddstype {tilskuddstype}"
        )
    return Stønad(f"{tiltakskode}_{tilskuddstype}", klassekode, FAGOMRÅDE, PERIODETYPE)


# ---------------------------------------------------------------------------------------------


def parse_request(
    value: Any,
    *,
    original_key: str | None,
    avstemming: datetime | None = None,
    source: Source | None = None,
) -> Request:
    """Validate a valp message: one EN_GANG utbetaling (uid = `id`), or a stop of `id` when
    `belop` is 0 (its periode still checked: tom before fom, a year end crossed are 400s)."""
    if not isinstance(value, dict):
        raise bad_request(ErrorCode.INVALID_FIELD, "the message must be a JSON object")
    dryrun = opt_bool(value, "dryrun")
    uid = uuid_field(value, "id")
    sak_id = bounded(string(value, "sakId"), "sakId", 30, ErrorCode.SAKID_LENGTH)
    behandling_id = bounded(string(value, "behandlingId"), "behandlingId", 30, ErrorCode.BEHANDLINGID_LENGTH)
    ident = person_ident(value, "personIdent")
    if value.get("periode") is None:
        raise missing("periode")
    periode = value["periode"]
    if not isinstance(periode, dict):
        raise bad_request(ErrorCode.INVALID_FIELD, "periode must be an object")
    fom = date_field(periode, "fom", "periode.")
    tom = date_field(periode, "tom", "periode.")
    belop = amount(value, "belop", "")
    stønad = stønad_for(string(value, "tiltakskode"), string(value, "tilskuddstype"))
    kostnadssted = enhet_field(value, "kostnadssted")
    saksbehandler = bounded(string(value, "saksbehandler"), "saksbehandler", 8, ErrorCode.SAKSBEHANDLER_LENGTH)
    beslutter = bounded(opt_string(value, "beslutter", DEFAULT_ANSVARLIG), "beslutter", 8, ErrorCode.BESLUTTER_LENGTH)
    vedtakstidspunkt = instant_field(value, "besluttetTidspunkt")

    where = f"utbetaling ({stønad.name})"
    # A stop is checked like a payment (settled rule 10): the period rules with any beløp.
    perioder = checked_perioder((Periode(fom, tom, max(belop, 1), None, kostnadssted),), PERIODETYPE, where)
    utbetalinger: tuple[Utbetaling, ...] = ()
    stops: tuple[str, ...] = ()
    if belop == 0:
        stops = (uid,)
    else:
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
                perioder=perioder,
            ),
        )
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
    )


CONTRACT = Contract(
    fagsystem=FAGSYSTEM,
    topic="team-mulighetsrommet.tilskudd.utbetaling-v1",
    dryrun_topic="helved.dryrun-valp.v1",
    parse=parse_request,
    fagområder=(FAGOMRÅDE,),
    stønadstyper={
        klassekode: f"{tiltakskode}_{tilskuddstype}" for (tiltakskode, tilskuddstype), klassekode in KLASSEKODER.items()
    },
)
