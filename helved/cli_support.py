"""Shared by the `helved` commands that talk to a broker (send, status, sak, topics, os-emulator).

Human output never holds a person's ident; `--json` output neither (scripts get ids and
amounts, not fødselsnumre).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from helved.config import Settings

# Where the OS emulator service keeps its state (`helved os-emulator`, read by `helved sak`).
OS_STATE_ENV = "HELVED_OS_STATE_DIR"

FINAL = ("OK", "FEILET")


class CommandError(Exception):
    """A failure to report in one line, with the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def broker_settings(timeout_s: float = 10.0) -> Settings:
    """Settings from the environment, with a broker that answers (checked, bounded in time)."""
    from helved.kafka import BrokerUnavailable, check_broker

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise CommandError(str(exc), 2) from None
    if settings.embedded_broker:
        raise CommandError(
            "HELVED_BOOTSTRAP_SERVERS is not set: name the broker (`helved demo` prints the "
            "address of its embedded one)",
            2,
        )
    try:
        check_broker(settings, timeout_s=timeout_s)
    except BrokerUnavailable as exc:
        raise CommandError(str(exc)) from None
    return settings


def os_state_dir(given: str | None) -> Path | None:
    value = given or os.environ.get(OS_STATE_ENV, "").strip()
    return Path(value) if value else None


def report(prog: str, exc: CommandError) -> int:
    print(f"helved {prog}: {exc}", file=sys.stderr)
    return exc.code


def without_ident(value: Any) -> Any:
    """A JSON value with every `ident` field removed (recursively)."""
    if isinstance(value, dict):
        return {k: without_ident(v) for k, v in value.items() if k != "ident"}
    if isinstance(value, list):
        return [without_ident(v) for v in value]
    return value


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
            f"{ln['klassekode']} {ln['fom']}..{ln['tom']} "
            + ("stopped" if ln["beløp"] == 0 else f"{ln['beløp']}/day")
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
