"""What a sak looks like: its confirmed utbetalinger, built from the records of the sak topic
(`helved.saker.v1`: the sak's active uids) and the utbetaling topic (`helved.utbetalinger.v1`:
each uid's last confirmed utbetaling), and the summary `helved sak` prints.

No ident is ever part of a view: utbetalinger are kept without theirs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from helved.domain.model import Fagsystem, SakKey
from helved.records import InRecord


def without_ident(value: Any) -> Any:
    """A JSON value with every `ident` field removed (recursively)."""
    if isinstance(value, dict):
        return {k: without_ident(v) for k, v in value.items() if k != "ident"}
    if isinstance(value, list):
        return [without_ident(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class ConfirmedSak:
    """A sak's confirmed state: its active uids (None: no confirmed utbetalinger) and the last
    confirmed utbetaling of each of its uids (JSON, without ident), stopped ones included."""

    sak_id: str
    fagsystem: str
    active: list[str] | None = None
    utbetalinger: dict[str, dict[str, Any]] = field(default_factory=dict)

    def fagområde(self, default: str) -> str:
        """The fagområde its utbetalinger are paid under (`default` when none says)."""
        found = next(
            (u.get("fagområde") for u in self.utbetalinger.values() if u.get("fagområde")),
            default,
        )
        return cast(str, found)


def confirmed_sak(
    records: Iterable[InRecord], *, saker_topic: str, utbetalinger_topic: str, sak_id: str, fagsystem: str
) -> ConfirmedSak:
    """The sak's confirmed state from the records of both topics, each partition in offset
    order (the last value of a key wins; a tombstone removes it)."""
    sak_key = SakKey(sak_id, Fagsystem(fagsystem)).as_json_text()
    active: list[str] | None = None
    utbetalinger: dict[str, dict[str, Any]] = {}
    for rec in records:
        if rec.topic == saker_topic and rec.key == sak_key:
            active = None if rec.value is None else orjson.loads(rec.value)
        elif rec.topic == utbetalinger_topic and rec.key is not None:
            if rec.value is None:
                utbetalinger.pop(rec.key, None)
                continue
            u = orjson.loads(rec.value)
            if u.get("sakId") == sak_id and u.get("fagsystem") == fagsystem:
                utbetalinger[rec.key] = without_ident(u)
    return ConfirmedSak(sak_id, fagsystem, active, utbetalinger)


def sak_json(sak: ConfirmedSak, os_pays: list[dict[str, Any]] | None) -> dict[str, Any]:
    """`helved sak --json`: the sak, its active uids, its utbetalinger and what OS pays."""
    return {
        "sakId": sak.sak_id,
        "fagsystem": sak.fagsystem,
        "activeUids": sak.active,
        "utbetalinger": list(sak.utbetalinger.values()),
        "osPays": os_pays,
    }


def sak_summary(sak: ConfirmedSak) -> list[str]:
    """The sak for people: a heading, then each utbetaling (active first, by stønad and uid)
    with its perioder."""
    active = sak.active
    if active is None:
        return [f"sak {sak.sak_id} ({sak.fagsystem}): no confirmed utbetalinger"]
    lines = [f"sak {sak.sak_id} ({sak.fagsystem}): {len(active)} active utbetaling(er), confirmed by OS"]
    for uid, u in sorted(
        sak.utbetalinger.items(), key=lambda kv: (kv[0] not in active, kv[1].get("stønad", ""), kv[0])
    ):
        state_word = "active" if uid in active else "stopped"
        lines.append(f"  {uid}  {u.get('stønad')}  behandling {u.get('behandlingId')}  {state_word}")
        for p in u.get("perioder") or []:
            sats = f" (sats {p['vedtakssats']})" if p.get("vedtakssats") is not None else ""
            lines.append(f"      {p['fom']}..{p['tom']}  {p['beløp']}/day{sats}")
    return lines
