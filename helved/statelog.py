"""A sak's state as bytes, for the changelog topic `helved.sak-state.v1` (restore after a lost
recovery volume, as Kafka Streams restores a store from its changelog).

The value is pickle (the state is a tree of helved's frozen domain values; the same bytes Bytewax
keeps in its recovery snapshots), read back with an **allow-list unpickler**: only helved's domain
classes, dates and builtin containers can be named by a record, so a record written to the topic
by anyone else cannot run code. The first byte is the format version.
"""

from __future__ import annotations

import copyreg
import datetime
import io
import pickle
from collections.abc import Iterable
from typing import Any

from helved.domain import model, sak
from helved.domain.sak import SakState
from helved.errors import HelvedError

FORMAT_V1 = b"\x01"

_ALLOWED: dict[tuple[str, str], Any] = {
    ("datetime", "date"): datetime.date,
    ("datetime", "datetime"): datetime.datetime,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "set"): set,
}
for _module in (model, sak):
    for _name, _obj in vars(_module).items():
        if isinstance(_obj, type) and _obj.__module__ == _module.__name__:
            _ALLOWED[(_module.__name__, _name)] = _obj


class StateFormatError(HelvedError, ValueError):
    """Bytes that are not a sak state this version of helved wrote."""


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise StateFormatError(f"a sak state cannot hold {module}.{name}") from None


# The changelog's bytes stay what they were: each utbetaling by its fields (a recovery snapshot
# holds it as `unpack_utbetaling(...)` with its plain values, see `model.Utbetaling`).
_CHANGELOG_REDUCERS: dict[type, Any] = {**copyreg.dispatch_table, model.Utbetaling: model.utbetaling_by_fields}


def encode_state(state: SakState) -> bytes:
    buf = io.BytesIO()
    buf.write(FORMAT_V1)
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _CHANGELOG_REDUCERS
    pickler.dump(state)
    return buf.getvalue()


def decode_state(data: bytes) -> SakState:
    if not data.startswith(FORMAT_V1):
        raise StateFormatError("unknown sak state format")
    try:
        state = _AllowListUnpickler(io.BytesIO(data[1:])).load()
    except StateFormatError:
        raise
    except Exception as exc:  # a truncated or foreign record
        raise StateFormatError(f"unreadable sak state: {type(exc).__name__}") from exc
    if not isinstance(state, SakState):
        raise StateFormatError(f"not a sak state: {type(state).__name__}")
    return state


class ChangelogStates:
    """The last state of every sak on the changelog topic: where a sak starts when the
    recovery snapshot does not hold it (a lost recovery volume, or a sak the snapshot has not
    seen yet). Read once at start-up, before any input.

    Kept as the changelog's bytes, decoded when a sak is taken: decoded, the states of a year
    of saker are a second copy of the whole state beside the one Bytewax restores (~515 bytes
    per utbetaling, over 1 GiB at 100,000 saker of 20; `helved bench`, scale section). Every
    value is decoded once when read, so a changelog that lies still stops the start. A sak
    the snapshot restored is `discard`ed as its logic is built: after the resume only the
    saker the snapshot lacks are kept."""

    def __init__(self, raw: dict[str, bytes], counts: tuple[int, int, int] = (0, 0, 0)) -> None:
        self._raw = raw
        self._counts = counts  # utbetalinger, Oppdrag in flight, requests waiting (when read)

    @classmethod
    def from_records(cls, records: Iterable[tuple[str | None, bytes | None]]) -> ChangelogStates:
        """`(key, value)` in the topic's order; a tombstone forgets a sak. A value helved
        cannot read raises `StateFormatError`: a changelog that lies must stop the start."""
        latest: dict[str, bytes | None] = {}
        for key, value in records:
            if key is not None:
                latest[key] = value
        raw: dict[str, bytes] = {}
        utbetalinger = in_flight = waiting = 0
        for key, value in latest.items():
            if value is not None:
                state = decode_state(value)  # checked now, kept as bytes
                utbetalinger += len(state.confirmed)
                in_flight += state.in_flight is not None
                waiting += len(state.waiting)
                raw[key] = value
        return cls(raw, (utbetalinger, in_flight, waiting))

    def take(self, sak_key: str) -> SakState | None:
        """The sak's state from the changelog (decoded anew on every call), or None."""
        value = self._raw.get(sak_key)
        return None if value is None else decode_state(value)

    def discard(self, sak_key: str) -> None:
        """The sak is restored from the recovery snapshot: its changelog state is never needed."""
        self._raw.pop(sak_key, None)

    def __len__(self) -> int:
        return len(self._raw)

    def summary(self) -> str:
        """What was restored, in counts (never an ident)."""
        utbetalinger, in_flight, waiting = self._counts
        return (
            f"{len(self._raw)} saker, {utbetalinger} utbetalinger, "
            f"{in_flight} Oppdrag in flight, {waiting} requests waiting"
        )
