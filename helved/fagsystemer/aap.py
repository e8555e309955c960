"""The AAP contract (`fagsystemer.md`, AAP): validate a decoded JSON value, split it.

AAP sends **the whole sak every time**: `utbetalinger` lists every period of every meldekort, and
the entries with the same `id` form one utbetaling (one payment chain). An id that was paid before
and is missing from the message is stopped by the diff (`Request.whole_sak`).

The uid of an utbetaling is the sender's own `id`. It must be a UUID in the standard 8-4-4-4-12
form (settled rule 8); helved keeps it in lower case (`uuid_field`), so an id sent in upper case
once and in lower case later is the same chain.

`parse_request` takes the value an edge JSON decoder produced (dicts, lists, str, int, bool,
None) and either returns a `Request` or raises `RequestRejected` with the first broken rule.
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
    missing,
    opt_bool,
    opt_date_field,
    opt_string,
    person_ident,
    string,
    uuid_field,
)
from helved.domain.model import Avvent, Fagsystem, Periode, Periodetype, Request, SakKey, Source, Stønad, Utbetaling
from helved.domain.periods import check_days_paid_once, has_weekday, merge_perioder, validate_perioder
from helved.errors import ErrorCode, bad_request

from .contract import Contract

FAGSYSTEM = Fagsystem.AAP
FAGOMRÅDE = "AAP"
# A missing saksbehandler/beslutter is the fagområde code (at most 8 characters).
DEFAULT_ANSVARLIG = FAGOMRÅDE

STØNAD = Stønad("AAP_UNDER_ARBEIDSAVKLARING", "AAPOR", FAGOMRÅDE, Periodetype.UKEDAG)

# `avvent.årsak` as the sender names it -> OS's code on `avvent-118`.
AVVENT_ÅRSAKER: Mapping[str, str] = {
    "AVVENT_AVREGNING": "AVAV",
    "AVVENT_REFUSJONSKRAV": "AVRK",
}


def _read_entry(raw: Any, i: int) -> tuple[str, Periode]:
    """One entry of `utbetalinger`, every field checked (a zero entry too): its id and period.

    `sats` is the vedtakssats, `utbetaltBeløp` the beløp. A paid UKEDAG period must contain a
    weekday (settled rule 6): OS would pay nothing for a Saturday-Sunday while helved said OK.
    """
    where = f"utbetalinger[{i}]."
    if not isinstance(raw, dict):
        raise bad_request(ErrorCode.INVALID_FIELD, f"utbetalinger[{i}] must be an object")
    uid = uuid_field(raw, "id", where)
    fom = date_field(raw, "fom", where)
    tom = date_field(raw, "tom", where)
    sats = amount(raw, "sats", where)
    beløp = amount(raw, "utbetaltBeløp", where)
    if tom < fom:
        raise bad_request(ErrorCode.TOM_BEFORE_FOM, f"utbetalinger[{i}]: tom {tom} is before fom {fom}")
    if beløp and not has_weekday(fom, tom):
        raise bad_request(
            ErrorCode.WEEKEND_DAY_PAID,
            f"utbetalinger[{i}]: period {fom}..{tom} has no weekday: {STØNAD.name} is paid Monday-Friday only",
        )
    return uid, Periode(fom, tom, beløp, sats)


def read_avvent(value: Mapping[str, Any]) -> Avvent | None:
    """`avvent` (optional; null is none): `{fom, tom, overføres?, årsak?, feilregistrering?}`.

    `årsak` must be a key of `AVVENT_ÅRSAKER` and becomes OS's code; `feilregistrering` is an
    optional JSON boolean, false when missing (settled rule 9)."""
    raw = value.get("avvent")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise bad_request(ErrorCode.INVALID_FIELD, "avvent must be an object")
    where = "avvent."
    fom = date_field(raw, "fom", where)
    tom = date_field(raw, "tom", where)
    if tom < fom:
        raise bad_request(ErrorCode.TOM_BEFORE_FOM, f"avvent: tom {tom} is before fom {fom}")
    overføres = opt_date_field(raw, "overføres", where)
    årsak: str | None = None
    if raw.get("årsak") is not None:
        text = string(raw, "årsak", where)
        if text not in AVVENT_ÅRSAKER:
            raise bad_request(ErrorCode.INVALID_FIELD, f"avvent.årsak must be one of {', '.join(AVVENT_ÅRSAKER)}")
        årsak = AVVENT_ÅRSAKER[text]
    feilregistrering = opt_bool(raw, "feilregistrering", False, where)
    return Avvent(fom=fom, tom=tom, overføres=overføres, årsak=årsak, feilregistrering=feilregistrering)


def parse_request(
    value: Any,
    *,
    original_key: str | None,
    avstemming: datetime | None = None,
    source: Source | None = None,
) -> Request:
    """Validate a decoded AAP message and split it into utbetalinger (one per `id`).

    1. Read every field, every entry included (a malformed entry paid 0 is still a 400).
    2. Drop entries with `utbetaltBeløp` 0; group the rest by `id`.
    3. Merge each group's periods (settled rule 5: equal beløp and sats, the next day or the next
       weekday continues; overlapping periods are `OVERLAPPING_PERIODS`) and check them (§9).
    4. One day paid by two ids is `DUPLICATE_DAY`.

    No entry paid (an empty list, or only zeros) is a valid request with no utbetalinger: the diff
    stops whatever is active, or has nothing to send. `avstemming` is the record's timestamp as
    Europe/Oslo wall time; without one the vedtakstidspunkt is used.
    """
    if not isinstance(value, dict):
        raise bad_request(ErrorCode.INVALID_FIELD, "the message must be a JSON object")
    dryrun = opt_bool(value, "dryrun")
    sak_id = bounded(string(value, "sakId"), "sakId", 30, ErrorCode.SAKID_LENGTH)
    behandling_id = bounded(string(value, "behandlingId"), "behandlingId", 30, ErrorCode.BEHANDLINGID_LENGTH)
    ident = person_ident(value, "ident")
    vedtakstidspunkt = datetime_field(value, "vedtakstidspunktet")
    saksbehandler = bounded(
        opt_string(value, "saksbehandler", DEFAULT_ANSVARLIG), "saksbehandler", 8, ErrorCode.SAKSBEHANDLER_LENGTH
    )
    beslutter = bounded(opt_string(value, "beslutter", DEFAULT_ANSVARLIG), "beslutter", 8, ErrorCode.BESLUTTER_LENGTH)
    avvent = read_avvent(value)
    if value.get("utbetalinger") is None:
        raise missing("utbetalinger")
    entries = value["utbetalinger"]
    if not isinstance(entries, list):
        raise bad_request(ErrorCode.INVALID_FIELD, "utbetalinger must be a list")

    groups: dict[str, list[Periode]] = {}
    for i, raw in enumerate(entries):
        uid, periode = _read_entry(raw, i)
        if periode.beløp == 0:
            continue  # an entry paid 0 is not paid
        groups.setdefault(uid, []).append(periode)

    sak_key = SakKey(sak_id, FAGSYSTEM)
    utbetalinger: list[Utbetaling] = []
    for uid, perioder in groups.items():
        where = f"utbetaling {uid}"
        merged = merge_perioder(perioder, STØNAD.periodetype, where)
        validate_perioder(merged, STØNAD.periodetype, where)
        utbetalinger.append(
            Utbetaling(
                uid=uid,
                sak_id=sak_id,
                fagsystem=FAGSYSTEM,
                behandling_id=behandling_id,
                ident=ident,
                stønad=STØNAD,
                vedtakstidspunkt=vedtakstidspunkt,
                saksbehandler=saksbehandler,
                beslutter=beslutter,
                perioder=merged,
            )
        )
    check_days_paid_once(utbetalinger)
    # Split order as dagpenger's: first fom, klassekode, uid; independent of the message order.
    utbetalinger.sort(key=lambda u: (u.perioder[0].fom, u.stønad.klassekode, u.uid))
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
        avvent=avvent,
    )


CONTRACT = Contract(
    fagsystem=FAGSYSTEM,
    topic="aap.utbetaling.v1",
    dryrun_topic="helved.dryrun-aap.v1",
    parse=parse_request,
    fagområder=(FAGOMRÅDE,),
    stønadstyper={STØNAD.klassekode: STØNAD.name},
)
