"""The OS port: what helved asks of OS (Oppdragssystemet), in values this package owns.

    OsGateway.hand_over(oppdrag_xml)            -> list[bytes]       the kvitteringer known at once
    OsGateway.simulate_request(simulering_xml)  -> SimulationAnswer  OS's simulation service
    OsGateway.hand_over_avstemming(messages)    -> AvstemmingAnswer  one avstemming id, at its AVSL

Adapters implement it: the OS emulator (`helved.emulator.gateway.EmulatedOs`, a development and
test stand-in) today, an IBM MQ adapter later. Nothing here imports an adapter; the bridge
(`helved.os.bridge`), the dryrun answer (`helved.os.dryrun`) and the avstemming relay
(`helved.os.avstemming_relay`) speak only this port. Standard library only.

The field names follow OS's `mmel` (alvorlighetsgrad, kodeMelding, beskrMelding), as the
emulator's own answers do, so an `OsEmulator` handed straight to the dryrun answer in an
in-process test reads the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

# What OS pays: klassekode -> day -> amount. Whole kroner for what helved sends; a Decimal only
# where OS books a sats with øre.
Amount = int | Decimal
PaidMap = Mapping[str, Mapping[date, Amount]]

# alvorlighetsgrad: 00 OK, 04 OK with a warning, 08 functional rejection, 12 technical error.
ACCEPTED_GRADES = ("00", "04")


@dataclass(frozen=True, slots=True)
class Verdict:
    """OS's verdict on a document (its `mmel`)."""

    alvorlighetsgrad: str  # "00" | "04" | "08" | "12"
    kode_melding: str
    beskr_melding: str

    @property
    def accepted(self) -> bool:
        return self.alvorlighetsgrad in ACCEPTED_GRADES


def technical(kode: str, text: str) -> Verdict:
    """A technical rejection (12)."""
    return Verdict("12", kode, text)


# The verdict on bytes OS cannot read as XML (the dryrun answers it without asking OS).
NOT_XML = technical("B999999T", "Meldingen kan ikke leses som XML")


@dataclass(frozen=True, slots=True)
class SimulationAnswer:
    """What OS's simulation service says of a request: its verdict and what the sak is paid
    now (`before`) and would be paid after it (`after`; == before when it would be rejected).
    Nothing is booked."""

    verdict: Verdict
    before: PaidMap
    after: PaidMap


@dataclass(frozen=True, slots=True)
class AvstemmingAnswer:
    """What OS says of one avstemming id's messages (START, DATA…, AVSL).

    `line` is one line for the log and the relay's journal, never an ident. `holds`: whether
    OS's own sums match helved's grunnlag; None when OS takes the messages without checking
    them (OS answers nothing to an avstemming on its queue)."""

    avstemming_id: str
    line: str
    holds: bool | None = None


class OsGateway(Protocol):
    """Where Oppdrag, simulation requests and avstemminger go.

    The emulator answers at once. An MQ adapter would return `[]` from `hand_over` and let a
    receipt listener produce the receipts when OS sends them; it must keep them by content hash
    too, so that a copy of the Oppdrag gets them delivered again (`helved.os.bridge`)."""

    def hand_over(self, oppdrag_xml: bytes) -> list[bytes]:
        """Hand one Oppdrag to OS; the kvitteringer known at once (0, 1 or more)."""
        ...

    def simulate_request(self, simulering_xml: bytes) -> SimulationAnswer:
        """OS's simulation service: what the request would do to the sak, booking nothing.
        The caller hands it XML only (`helved.os.dryrun` answers other bytes itself)."""
        ...

    def hand_over_avstemming(self, messages: Sequence[bytes]) -> AvstemmingAnswer:
        """Hand one avstemming id's messages to OS, in order, as one transaction."""
        ...
