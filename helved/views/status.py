"""What a request's statuses look like: the statuses of `helved.status.v1` per original key
(replays dropped), its final status, and one line per status for people.

Shown by `helved status`, the demo, the latency measurement and the end-to-end tests.
"""

from __future__ import annotations

from typing import Any

import orjson

from helved.oslo import oslo_wall_time
from helved.records import InRecord

# The statuses that end a request (spec §8): its verdict.
FINAL = ("OK", "FEILET")


class StatusLog:
    """The statuses of `helved.status.v1` per original key, replays dropped.

    After a crash the pipeline produces the last epoch's outputs again, byte-identical and with
    the same provenance headers; a status already seen with the same value and provenance is a
    replay, not news.
    """

    def __init__(self) -> None:
        self._seen: set[tuple[bytes | None, ...]] = set()
        self.by_key: dict[str | None, list[dict[str, Any]]] = {}

    def add(self, rec: InRecord) -> dict[str, Any] | None:
        """The parsed status if `rec` is new, else None."""
        ident = (
            rec.value,
            rec.key.encode() if rec.key is not None else None,
            rec.header("src-topic"),
            rec.header("src-partition"),
            rec.header("src-offset"),
        )
        if ident in self._seen or rec.value is None:
            return None
        self._seen.add(ident)

        try:
            status = orjson.loads(rec.value)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(status, dict):
            return None
        self.by_key.setdefault(rec.key, []).append(status)
        return status

    def sequence(self, key: str | None) -> list[str]:
        return [s.get("status", "?") for s in self.by_key.get(key, [])]

    def final(self, key: str | None) -> dict[str, Any] | None:
        """The first OK or FEILET of `key`, if any.

        The first, not the last status: a request's verdict does not change, but after a
        pipeline restart its statuses may be produced again from another interleaving of
        requests and receipts (a "MOTTATT, waiting" that was not there before, then the same OK
        with the same provenance, which is dropped here as a replay).
        """
        for status in self.by_key.get(key) or []:
            if status.get("status") in FINAL:
                return status
        return None


def describe_status(status: dict[str, Any]) -> str:
    """One line for a status value (spec §8), without its status word."""
    detaljer = status.get("detaljer")
    error = status.get("error")
    parts: list[str] = []
    if status.get("status") == "MOTTATT" and detaljer is None:
        parts.append("waiting: an Oppdrag for this sak is in flight")
    if detaljer:
        linjer = detaljer.get("linjer") or []
        shown = [
            f"{ln['klassekode']} {ln['fom']}..{ln['tom']} " + ("stopped" if ln["beløp"] == 0 else f"{ln['beløp']}/day")
            for ln in linjer[:4]
        ]
        more = f" (+{len(linjer) - 4} more)" if len(linjer) > 4 else ""
        parts.append(f"{len(linjer)} line(s): " + ", ".join(shown) + more)
    if status.get("status") == "HOS_OPPDRAG":
        parts.append("handed over to OS")
    if status.get("status") == "OK" and not detaljer and not error:
        parts.append("done")
    if error:
        parts.append(f"{error.get('statusCode')} {error.get('msg')}")
    if status.get("simulering"):
        parts.append("(simulation)")
    return "; ".join(parts)


def status_line(timestamp_ms: int | None, status: dict[str, Any]) -> str:
    """`HH:MM:SS  STATUS       details`: one status as `helved status` prints it."""
    return f"{clock(timestamp_ms)}  {status.get('status', '?'):<11}  {describe_status(status)}"


def status_event(key: str, timestamp_ms: int | None, status: dict[str, Any]) -> dict[str, Any]:
    """One status as `helved status --json` prints it: the key and record time first."""
    return {"key": key, "timestamp": timestamp_ms, **status}


def clock(timestamp_ms: int | None) -> str:
    """A status record's time (Europe/Oslo), as the log shows it."""
    if timestamp_ms is None:
        return "--:--:--"
    return oslo_wall_time(timestamp_ms).strftime("%H:%M:%S")


def dlq_error(rec: InRecord) -> str:
    """Why a record is on the DLQ: its `error` header, a code repeated at the start of the
    message shown once (`CODE: CODE: text` -> `CODE: text`)."""
    error = (rec.header("error") or b"").decode(errors="replace")
    code, sep, rest = error.partition(": ")
    return rest if sep and rest.startswith(code + ":") else error
