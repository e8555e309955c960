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
    if value != value.strip() or any(not ch.isprintable() for ch in value):
        raise bad_request(ErrorCode.INVALID_FIELD, f"{name} must not have surrounding spaces or control characters")
    return value


def ident_field(value: str) -> str:
    if len(value) != 11 or not value.isascii() or not value.isdigit():
        # Never echo the value: it is a person's identity number.
        raise bad_request(ErrorCode.INVALID_FIELD, "ident must be 11 digits")
    return value
