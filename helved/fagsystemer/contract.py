"""What helved needs to know of one sender (fagsystem): its topics, its parser, its codes.

A `Contract` is a plain value; the registry (`helved.fagsystemer`) holds one per fagsystem, and
the topics, the intake route, receipt routing, the dryrun answer and the CLI read it from there.
Adding a fagsystem is one module with one `Contract` and one line in the registry's table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from helved.domain.model import Fagsystem, Request, Source


class Parser(Protocol):
    """Validate a decoded JSON value (dicts, lists, str, int, bool, None) and split it into a
    `Request`, or raise `RequestRejected` (a 400 naming the first broken rule). Pure.

    `avstemming` is the record's timestamp as Europe/Oslo wall time (None when it has none);
    the Request carries it (its Oppdrag's avstemming time) and `source` (where the record was
    read: every output names it, and replays of it are recognised by it)."""

    def __call__(
        self, value: Any, *, original_key: str | None, avstemming: datetime | None = None, source: Source | None = None
    ) -> Request: ...


@dataclass(frozen=True, slots=True)
class Contract:
    fagsystem: Fagsystem
    # The sender's input topic and the topic its dryrun answers go to (names without a prefix).
    topic: str
    dryrun_topic: str
    parse: Parser
    # Every `kodeFagomraade` its Oppdrag are sent under: a receipt is routed by it.
    fagområder: tuple[str, ...]
    # klassekode -> the `stønadstype` a dryrun answer names for it.
    stønadstyper: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.fagområder:
            raise ValueError(f"{self.fagsystem}: a contract names at least one fagområde")
