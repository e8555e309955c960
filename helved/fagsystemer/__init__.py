"""The fagsystem registry: one `Contract` per sender, in one table.

Everything that differs between senders lives in the sender's own module (its topic, parser,
stønader and codes); everything else in helved reads this table:

- `helved.config.Topics` names the input and dryrun topics of every registered fagsystem;
- the intake stage routes a record by its topic (`by_topic`) and a receipt by its fagområde
  (`fagsystem_for_fagområde`);
- the dryrun answer goes to the fagsystem's own dryrun topic (`contract(f).dryrun_topic`);
- `helved send` and `helved sak` take the fagsystem by name.

`registered` adds or replaces a contract for the length of a `with` block (tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from helved.domain.model import Fagsystem

from . import aap, dagpenger, historisk, tilleggsstonader, tiltakspenger, valp
from .contract import Contract, Parser

__all__ = ["Contract", "Parser", "by_topic", "contract", "contracts", "fagsystem_for_fagområde", "registered"]

_REGISTRY: dict[Fagsystem, Contract] = {
    c.fagsystem: c
    for c in (
        dagpenger.CONTRACT,
        aap.CONTRACT,
        tiltakspenger.CONTRACT,
        tilleggsstonader.CONTRACT,
        historisk.CONTRACT,
        valp.CONTRACT,
    )
}


def contracts() -> tuple[Contract, ...]:
    """Every registered contract, in registration order."""
    return tuple(_REGISTRY.values())


def contract(fagsystem: Fagsystem) -> Contract:
    """The contract of `fagsystem` (KeyError when none is registered)."""
    return _REGISTRY[fagsystem]


def by_topic(topic: str, prefix: str = "") -> Contract | None:
    """The contract whose input topic is `topic` (with `prefix` prepended), if any."""
    for c in _REGISTRY.values():
        if prefix + c.topic == topic:
            return c
    return None


def fagsystem_for_fagområde(fagområde: str) -> Fagsystem:
    """The fagsystem that sends Oppdrag under `fagområde` (KeyError when none does)."""
    for c in _REGISTRY.values():
        if fagområde in c.fagområder:
            return c.fagsystem
    raise KeyError(fagområde)


@contextmanager
def registered(new: Contract) -> Iterator[Contract]:
    """`new` in the registry (replacing its fagsystem's contract) inside the block."""
    old = _REGISTRY.get(new.fagsystem)
    _REGISTRY[new.fagsystem] = new
    try:
        yield new
    finally:
        if old is None:
            del _REGISTRY[new.fagsystem]
        else:
            _REGISTRY[new.fagsystem] = old
