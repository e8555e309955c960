"""The dagpenger contract `DpUtbetaling` (spec §3): validate a decoded JSON value, split it (§4).

`parse_request` takes the value an edge JSON decoder produced (dicts, lists, str, int, bool,
None) and either returns a `Request` or raises `RequestRejected` with the first broken rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from helved.errors import ErrorCode, bad_request

from .ids import utbetaling_uid
from .model import Fagsystem, Periodetype, Request, SakKey, Source, Stønad, Utbetaling
from .periods import DayTuple, merge_day_tuples, validate_perioder

FAGOMRÅDE = "DP"
DEFAULT_ANSVARLIG = "DP"

STØNADER: Mapping[str, Stønad] = {
    "Dagpenger": Stønad("DAGPENGER", "DAGPENGER", FAGOMRÅDE, Periodetype.UKEDAG),
    "DagpengerFerietillegg": Stønad("DAGPENGERFERIE", "DAGPENGERFERIE", FAGOMRÅDE, Periodetype.EN_GANG),
}


# ---------------------------------------------------------------------------------------------
# Field readers: each raises a 400 naming the field, so a sender can fix its message.


def _missing(name: str) -> Exception:
    return bad_request(ErrorCode.MISSING_FIELD, f"{name} is required")


def _str(obj: Mapping[str, Any], name: str, where: str = "") -> str:
    if name not in obj or obj[name] is None:
        raise _missing(where + name)
    value = obj[name]
    if not isinstance(value, str):
        raise bad_request(ErrorCode.INVALID_FIELD, f"{where}{name} must be a string")
    return value


def _opt_str(obj: Mapping[str, Any], name: str, default: str) -> str:
    if obj.get(name) is None:
        return default
    return _str(obj, name)


# OS's `Tsats` is a decimal of at most 13 digits.
MAX_AMOUNT = 9_999_999_999_999


def _int(obj: Mapping[str, Any], name: str, where: str) -> int:
    if name not in obj or obj[name] is None:
        raise _missing(where + name)
    value = obj[name]
    # bool is an int in Python; money is never a bool, a float or a string.
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(ErrorCode.INVALID_FIELD, f"{where}{name} must be an integer")
    if value < 0:
        raise bad_request(ErrorCode.INVALID_FIELD, f"{where}{name} must not be negative")
    if value > MAX_AMOUNT:
        raise bad_request(ErrorCode.INVALID_FIELD, f"{where}{name} must be at most {MAX_AMOUNT} (13 digits)")
    return value


def _date(obj: Mapping[str, Any], name: str, where: str) -> date:
    text = _str(obj, name, where)
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise bad_request(ErrorCode.INVALID_FIELD, f"{where}{name} must be a date YYYY-MM-DD") from None


def parse_local_datetime(text: str) -> datetime:
    """ISO-8601 date-time; a trailing `Z` or offset is accepted and the local wall time kept."""
    cleaned = text[:-1] if text.endswith(("Z", "z")) else text
    value = datetime.fromisoformat(cleaned)
    return value.replace(tzinfo=None)


def _datetime(obj: Mapping[str, Any], name: str) -> datetime:
    text = _str(obj, name)
    try:
        if len(text) < 16 or "T" not in text:
            raise ValueError(text)
        return parse_local_datetime(text)
    except ValueError:
        raise bad_request(ErrorCode.INVALID_FIELD, f"{name} must be a date-time YYYY-MM-DDTHH:MM:SS") from None


def _bounded(value: str, name: str, max_len: int, code: ErrorCode) -> str:
    if not 1 <= len(value) <= max_len:
        raise bad_request(code, f"{name} must be 1-{max_len} characters, was {len(value)}")
    # OS trims its fields: an id with surrounding spaces would come back as another id, and the
    # kvittering would match nothing. Control characters have no place in an id either.
    if value != value.strip() or any(not ch.isprintable() for ch in value):
        raise bad_request(ErrorCode.INVALID_FIELD, f"{name} must not have surrounding spaces or control characters")
    return value


def _ident(value: str) -> str:
    if len(value) != 11 or not value.isascii() or not value.isdigit():
        # Never echo the value: it is a person's identity number.
        raise bad_request(ErrorCode.INVALID_FIELD, "ident must be 11 digits")
    return value


def _fast_groups(days_in: list[Any]) -> dict[tuple[str, str], list[DayTuple]] | None:
    """The paid days grouped by (meldeperiode, utbetalingstype) when every day is well-formed
    with exact types (as a JSON decoder gives them), else None: then the checked loop reads
    the days and reports the first broken rule.

    Accepts only what the checked loop accepts, with the same result (every day's date is
    parsed, paid or not); it exists because every request carries the whole sak's days.
    """
    groups: dict[tuple[str, str], list[DayTuple]] = {}
    fromisoformat = date.fromisoformat
    try:
        for raw in days_in:
            meldeperiode = raw["meldeperiode"]
            dato_text = raw["dato"]
            sats = raw["sats"]
            beløp = raw["utbetaltBeløp"]
            typ = raw["utbetalingstype"]
            if not (
                type(meldeperiode) is str
                and meldeperiode
                and type(dato_text) is str
                and len(dato_text) == 10
                and type(sats) is int
                and 0 <= sats <= MAX_AMOUNT
                and type(beløp) is int
                and 0 <= beløp <= MAX_AMOUNT
                and type(typ) is str
                and typ in STØNADER
            ):
                return None
            dato = fromisoformat(dato_text)
            if beløp == 0:
                continue  # §4.1: a day paid 0 is not paid
            group = groups.get((meldeperiode, typ))
            if group is None:
                group = groups[(meldeperiode, typ)] = []
            group.append((dato, beløp, sats, None))
    except (KeyError, TypeError, ValueError):
        return None
    return groups


def _read_day(raw: Any, i: int) -> tuple[str, date, int, int, str]:
    """One day of `utbetalinger`, every field checked: the first broken rule is a 400."""
    where = f"utbetalinger[{i}]."
    if not isinstance(raw, dict):
        raise bad_request(ErrorCode.INVALID_FIELD, f"utbetalinger[{i}] must be an object")
    meldeperiode = _str(raw, "meldeperiode", where)
    if not meldeperiode:
        raise bad_request(ErrorCode.INVALID_FIELD, f"{where}meldeperiode must not be empty")
    dato = _date(raw, "dato", where)
    sats = _int(raw, "sats", where)
    beløp = _int(raw, "utbetaltBeløp", where)
    typ = _str(raw, "utbetalingstype", where)
    if typ not in STØNADER:
        raise bad_request(ErrorCode.INVALID_FIELD, f"{where}utbetalingstype must be one of {', '.join(STØNADER)}")
    return meldeperiode, dato, sats, beløp, typ


# ---------------------------------------------------------------------------------------------


def parse_request(
    value: Any,
    *,
    original_key: str | None,
    avstemming: datetime | None = None,
    source: Source | None = None,
) -> Request:
    """Validate a decoded `DpUtbetaling` and split it into utbetalinger (spec §3, §4, §9).

    `avstemming` is the record's timestamp as Europe/Oslo wall time; without one the
    vedtakstidspunkt is used, so the Oppdrag still depends only on the input.
    """
    if not isinstance(value, dict):
        raise bad_request(ErrorCode.INVALID_FIELD, "the message must be a JSON object")
    dryrun = value.get("dryrun", False)
    if dryrun is None:
        dryrun = False
    if not isinstance(dryrun, bool):
        raise bad_request(ErrorCode.INVALID_FIELD, "dryrun must be true or false")
    sak_id = _bounded(_str(value, "sakId"), "sakId", 30, ErrorCode.SAKID_LENGTH)
    behandling_id = _bounded(_str(value, "behandlingId"), "behandlingId", 30, ErrorCode.BEHANDLINGID_LENGTH)
    ident = _ident(_str(value, "ident"))
    vedtakstidspunkt = _datetime(value, "vedtakstidspunktet")
    saksbehandler = _bounded(
        _opt_str(value, "saksbehandler", DEFAULT_ANSVARLIG), "saksbehandler", 8, ErrorCode.SAKSBEHANDLER_LENGTH
    )
    beslutter = _bounded(_opt_str(value, "beslutter", DEFAULT_ANSVARLIG), "beslutter", 8, ErrorCode.BESLUTTER_LENGTH)
    if "utbetalinger" not in value or value["utbetalinger"] is None:
        raise _missing("utbetalinger")
    days_in = value["utbetalinger"]
    if not isinstance(days_in, list):
        raise bad_request(ErrorCode.INVALID_FIELD, "utbetalinger must be a list")

    # Read every day first, so a malformed day is reported even when it is not paid.
    groups = _fast_groups(days_in)
    if groups is None:
        groups = {}
        for i, raw in enumerate(days_in):
            meldeperiode, dato, sats, beløp, typ = _read_day(raw, i)
            if beløp == 0:
                continue  # §4.1: a day paid 0 is not paid
            groups.setdefault((meldeperiode, typ), []).append((dato, beløp, sats, None))

    sak_key = SakKey(sak_id, Fagsystem.DAGPENGER)
    utbetalinger: list[Utbetaling] = []
    for (meldeperiode, typ), days in groups.items():
        stønad = STØNADER[typ]
        perioder = merge_day_tuples(days, stønad.periodetype)
        validate_perioder(perioder, stønad.periodetype, f"meldeperiode {meldeperiode} ({stønad.name})")
        utbetalinger.append(
            Utbetaling(
                uid=utbetaling_uid(sak_key.fagsystem.value, sak_id, meldeperiode, stønad.klassekode),
                sak_id=sak_id,
                fagsystem=sak_key.fagsystem,
                behandling_id=behandling_id,
                ident=ident,
                stønad=stønad,
                vedtakstidspunkt=vedtakstidspunkt,
                saksbehandler=saksbehandler,
                beslutter=beslutter,
                perioder=perioder,
            )
        )
    # Split order: by first paid day, then klassekode, then uid. Independent of how the sender
    # happened to order its days, so equal decisions give equal Oppdrag.
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
    )
