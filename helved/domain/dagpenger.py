"""The dagpenger contract `DpUtbetaling` (spec §3): validate a decoded JSON value, split it (§4).

`parse_request` takes the value an edge JSON decoder produced (dicts, lists, str, int, bool,
None) and either returns a `Request` or raises `RequestRejected` with the first broken rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
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


# Spec §3: dates exactly `YYYY-MM-DD` (ASCII digits; no week dates such as `2025-W02-1`, no
# ordinal or basic forms, all of which `date.fromisoformat` also reads), years 1900-9999.
MIN_YEAR = 1900
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_DATETIME_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T", re.ASCII)
# The longest date-time worth reading: `2025-08-18T09:30:00.123456+02:00:00.123456`.
_DATETIME_MAX_LEN = 42


@lru_cache(maxsize=65536)
def day_date(text: str) -> date | None:
    """`text` as a date when it is exactly `YYYY-MM-DD`, a real day, in years 1900-9999.

    Cached: every request carries the whole sak, so the same few hundred dates come again and
    again. Only 10-character texts are ever passed in, so the cache stays small."""
    if len(text) != 10 or _DATE.fullmatch(text) is None:
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:  # 2025-02-30
        return None
    return value if value.year >= MIN_YEAR else None


def _date(obj: Mapping[str, Any], name: str, where: str) -> date:
    text = _str(obj, name, where)
    value = day_date(text) if len(text) == 10 else None
    if value is None:
        raise bad_request(
            ErrorCode.INVALID_FIELD, f"{where}{name} must be a date YYYY-MM-DD in the years {MIN_YEAR}-9999"
        )
    return value


def parse_local_datetime(text: str) -> datetime:
    """ISO-8601 date-time; a trailing `Z` or offset is accepted and the local wall time kept."""
    cleaned = text[:-1] if text.endswith(("Z", "z")) else text
    value = datetime.fromisoformat(cleaned)
    return value.replace(tzinfo=None)


def _datetime(obj: Mapping[str, Any], name: str) -> datetime:
    """A date-time whose date is `YYYY-MM-DD` (as every date of the message) in the years
    1900-9999: its date is OS's `vedtakId` and, without a record timestamp, it is the
    avstemming key, which must be `yyyy-MM-dd-...` with four digits of year."""
    text = _str(obj, name)
    try:
        if not 16 <= len(text) <= _DATETIME_MAX_LEN or _DATETIME_DATE.match(text) is None:
            raise ValueError(name)
        value = parse_local_datetime(text)
    except ValueError:
        raise bad_request(ErrorCode.INVALID_FIELD, f"{name} must be a date-time YYYY-MM-DDTHH:MM:SS") from None
    if value.year < MIN_YEAR:
        raise bad_request(ErrorCode.INVALID_FIELD, f"{name} must be in the years {MIN_YEAR}-9999")
    return value


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
    read_date = day_date
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
            dato = read_date(dato_text)
            if dato is None:
                return None
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


_WEEKEND = ("Saturday", "Sunday")


def check_paid_days(groups: Mapping[tuple[str, str], list[DayTuple]]) -> None:
    """The two rules that keep an OK honest (spec §3), over the paid days of the message in
    group order (both readers build the same groups, so they report the same first day):

    - a `Dagpenger` day paid on a Saturday or Sunday is `WEEKEND_DAY_PAID`: typeSats DAG pays
      Monday-Friday only, so OS would never pay it while helved answered OK (ferietillegg, paid
      once, may fall on any day);
    - the same date paid twice for one stønadstype, in one or in two meldeperioder, is
      `DUPLICATE_DAY`.
    """
    seen: dict[str, set[date]] = {}
    for (_, typ), days in groups.items():
        dates = seen.setdefault(typ, set())
        weekdays_only = STØNADER[typ].periodetype is Periodetype.UKEDAG
        for day in days:
            dato = day[0]
            if weekdays_only and dato.weekday() >= 5:
                raise bad_request(
                    ErrorCode.WEEKEND_DAY_PAID,
                    f"{typ} day {dato} is a {_WEEKEND[dato.weekday() - 5]}: it is paid Monday-Friday only",
                )
            if dato in dates:
                raise bad_request(ErrorCode.DUPLICATE_DAY, f"{typ} day {dato} is paid twice")
            dates.add(dato)


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
    check_paid_days(groups)

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
