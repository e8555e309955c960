"""Europe/Oslo time: the one zone helved's dates and times are read in.

OS, the senders and avstemming all count days and hours as Oslo wall time. A record's timestamp
(milliseconds since the epoch, UTC) becomes Oslo wall time here and nowhere else.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Record timestamps outside these years are ignored as if missing (spec §11): they would write
# a malformed avstemming key, or not fit a datetime at all.
_FIRST_YEAR, _LAST_YEAR = 1900, 9999


def oslo_wall_time(timestamp_ms: int) -> datetime:
    """A record timestamp as Europe/Oslo wall time (no float rounding)."""
    return (EPOCH + timedelta(milliseconds=timestamp_ms)).astimezone(OSLO).replace(tzinfo=None)


def record_time(timestamp_ms: int | None) -> datetime | None:
    """A record's timestamp as Europe/Oslo wall time, or None when it has none we can use."""
    if timestamp_ms is None:
        return None
    try:
        t = oslo_wall_time(timestamp_ms)
    except (OverflowError, ValueError):
        return None
    return t if _FIRST_YEAR <= t.year <= _LAST_YEAR else None
