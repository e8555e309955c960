"""Readers for the fields every sender contract shares (`domain.md` §3, `fagsystemer.md`).

Each takes a decoded JSON object (dicts, lists, str, int, bool, None) and either returns the
field's value or raises a 400 (`RequestRejected`) naming the field, so a sender can fix its
message. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from helved.domain.model import Periodetype
from helved.errors import ErrorCode, bad_request


def missing(name: str) -> Exception:
    return bad_request(ErrorCode.MISSING_FIELD, f"{name} is required")


def string(obj: Mapping[str, Any], name: str, where: str = "") -> str:
    if name not in obj or obj[name] is None:
        raise missing(where + name)
    value = obj[name]
    if not isinstance(value, str):
        raise bad_request(ErrorCode.INVALID_FIELD, f"{where}{name} must be a string")
    return value


def opt_string(obj: Mapping[str, Any], name: str, default: str) -> str:
    if obj.get(name) is None:
        return default
    return string(obj, name)


# OS's `Tsats` is a decimal of at most 13 digits.
MAX_AMOUNT = 9_999_999_999_999


def amount(obj: Mapping[str, Any], name: str, where: str) -> int:
    if name not in obj or obj[name] is None:
        raise missing(where + name)
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


def date_field(obj: Mapping[str, Any], name: str, where: str) -> date:
    text = string(obj, name, where)
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


def datetime_field(obj: Mapping[str, Any], name: str) -> datetime:
    """A date-time whose date is `YYYY-MM-DD` (as every date of the message) in the years
    1900-9999: its date is OS's `vedtakId` and, without a record timestamp, it is the
    avstemming key, which must be `yyyy-MM-dd-...` with four digits of year."""
    text = string(obj, name)
    try:
        if not 16 <= len(text) <= _DATETIME_MAX_LEN or _DATETIME_DATE.match(text) is None:
            raise ValueError(name)
        value = parse_local_datetime(text)
    except ValueError:
        raise bad_request(ErrorCode.INVALID_FIELD, f"{name} must be a date-time YYYY-MM-DDTHH:MM:SS") from None
    if value.year < MIN_YEAR:
        raise bad_request(ErrorCode.INVALID_FIELD, f"{name} must be in the years {MIN_YEAR}-9999")
    return value


def bounded(value: str, name: str, max_len: int, code: ErrorCode) -> str:
    if not 1 <= len(value) <= max_len:
        raise bad_request(code, f"{name} must be 1-{max_len} characters, was {len(value)}")
    # OS trims its fields: an id with surrounding spaces would come back as another id, and the
    # kvittering would match nothing. Control characters have no place in an id either.
    if value != value.strip() or not value.isprintable():  # every character printable
        raise bad_request(ErrorCode.INVALID_FIELD, f"{name} must not have surrounding spaces or control characters")
    return value


def ident_field(value: str) -> str:
    if len(value) != 11 or not value.isascii() or not value.isdigit():
        # Never echo the value: it is a person's identity number.
        raise bad_request(ErrorCode.INVALID_FIELD, "ident must be 11 digits")
    return value


def opt_bool(obj: Mapping[str, Any], name: str, default: bool = False, where: str = "") -> bool:
    """An optional JSON boolean (`dryrun`, `barnetillegg`, `feilregistrering`): missing or null
    is `default`; anything but `true`/`false` (a string, 0/1) is a 400."""
    value = obj.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad_request(ErrorCode.INVALID_FIELD, f"{where}{name} must be true or false")
    return value


def person_ident(obj: Mapping[str, Any], name: str) -> str:
    """The person's fødselsnummer under the sender's own field name (`ident`, `personident`):
    exactly 11 ASCII digits. The message names the field, never the value."""
    value = string(obj, name)
    if len(value) != 11 or not value.isascii() or not value.isdigit():
        raise bad_request(ErrorCode.INVALID_FIELD, f"{name} must be 11 digits")
    return value


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII | re.IGNORECASE)


def uuid_field(obj: Mapping[str, Any], name: str, where: str = "") -> str:
    """A client-given id that must be a UUID (settled rule 8), in its canonical text form.

    Only the standard 36-character form `8-4-4-4-12` hex digits is a UUID here (no braces, no
    `urn:uuid:`, no bare 32 digits); upper-case digits are accepted and the id is returned in
    lower case, so `ABC…` and `abc…` name the same payment chain."""
    value = string(obj, name, where)
    if len(value) != 36 or _UUID.fullmatch(value) is None:
        raise bad_request(ErrorCode.INVALID_FIELD, f"{where}{name} must be a UUID (8-4-4-4-12 hex digits)")
    return value.lower()


def opt_date_field(obj: Mapping[str, Any], name: str, where: str = "") -> date | None:
    """An optional date: missing or null is None, otherwise as `date_field`."""
    if obj.get(name) is None:
        return None
    return date_field(obj, name, where)


# OS's `Tenhet`: an enhet (tknr, or orgnr + avdeling) of 4-13 characters.
MIN_ENHET, MAX_ENHET = 4, 13


def enhet_field(obj: Mapping[str, Any], name: str, where: str = "") -> str | None:
    """An optional betalende enhet / kostnadssted (settled rule 7): missing or null is None,
    otherwise 4-13 characters, without surrounding spaces or control characters (OS trims
    what it echoes, so a padded enhet would come back as another)."""
    if obj.get(name) is None:
        return None
    value = string(obj, name, where)
    if not MIN_ENHET <= len(value) <= MAX_ENHET:
        raise bad_request(
            ErrorCode.INVALID_FIELD, f"{where}{name} must be {MIN_ENHET}-{MAX_ENHET} characters, was {len(value)}"
        )
    if value != value.strip() or not value.isprintable():  # every character printable
        raise bad_request(
            ErrorCode.INVALID_FIELD, f"{where}{name} must not have surrounding spaces or control characters"
        )
    return value


# An instant: `YYYY-MM-DDTHH:MM[:SS[.fraction]]` and an offset `Z` or `±HH:MM` (ISO-8601 extended
# form, as Java's `OffsetDateTime`/`Instant` write it; nanoseconds are cut to microseconds).
_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"  # date and time
    r"(Z|z|[+-][0-9]{2}:[0-9]{2})?",  # the offset: group 1, None when there is none
    re.ASCII,
)
OSLO = ZoneInfo("Europe/Oslo")


def instant_field(obj: Mapping[str, Any], name: str, zone: ZoneInfo = OSLO) -> datetime:
    """A date-time WITH an offset (valp's `besluttetTidspunkt`), as the wall time it was in
    `zone` (Europe/Oslo), without tzinfo like every other vedtakstidspunkt.

    Converting a given instant with the tz database is no clock read. A date-time without an
    offset names no instant and is a 400 (settled rule 10), as is one whose Oslo date falls
    outside the years 1900-9999 (its date becomes OS's `vedtakId`)."""
    text = string(obj, name)
    match = _INSTANT.fullmatch(text) if len(text) <= _DATETIME_MAX_LEN else None
    if match is None:
        raise bad_request(
            ErrorCode.INVALID_FIELD, f"{name} must be an instant YYYY-MM-DDTHH:MM:SS with an offset (Z or ±HH:MM)"
        )
    if match.group(1) is None:
        raise bad_request(
            ErrorCode.INVALID_FIELD, f"{name} must have an offset (Z or ±HH:MM): it names no instant without one"
        )
    cleaned = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        value = datetime.fromisoformat(cleaned).astimezone(zone).replace(tzinfo=None)
    except (ValueError, OverflowError):  # 2025-02-30, offset +25:00, or past year 9999 in Oslo
        raise bad_request(
            ErrorCode.INVALID_FIELD, f"{name} must be a real instant in the years {MIN_YEAR}-9999"
        ) from None
    if value.year < MIN_YEAR:
        raise bad_request(ErrorCode.INVALID_FIELD, f"{name} must be in the years {MIN_YEAR}-9999")
    return value


def list_field(obj: Mapping[str, Any], name: str, where: str = "") -> list[Any]:
    """A required JSON array (it may be empty): missing or null is `MISSING_FIELD`."""
    if name not in obj or obj[name] is None:
        raise missing(where + name)
    value = obj[name]
    if not isinstance(value, list):
        raise bad_request(ErrorCode.INVALID_FIELD, f"{where}{name} must be a list")
    return value


# The periodetyper a sender may choose (tilleggsstønader, historisk). DAG is refused: its typeSats
# DAG7 is not in OS's shipped schema.
SENDER_PERIODETYPER = (Periodetype.UKEDAG, Periodetype.MND, Periodetype.EN_GANG)


def periodetype_field(obj: Mapping[str, Any], name: str = "periodetype") -> Periodetype:
    """The message's periodetype: UKEDAG, MND or EN_GANG. An unknown constant is
    `INVALID_FIELD`; DAG, known but never allowed, is `PERIODETYPE_NOT_SUPPORTED`."""
    text = string(obj, name)
    if text == Periodetype.DAG.value:
        raise bad_request(
            ErrorCode.PERIODETYPE_NOT_SUPPORTED,
            f"{name} DAG is not supported (typeSats DAG7 is not in OS's schema); use UKEDAG, MND or EN_GANG",
        )
    for periodetype in SENDER_PERIODETYPER:
        if text == periodetype.value:
            return periodetype
    raise bad_request(ErrorCode.INVALID_FIELD, f"{name} must be one of UKEDAG, MND, EN_GANG")
