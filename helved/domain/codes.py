"""Oppdrag's codes that tie fagområder to fagsystemer (spec `fagsystemer.md`)."""

from __future__ import annotations

from .model import Fagsystem

_FAGOMRÅDE_PREFIXES: tuple[tuple[str, Fagsystem], ...] = (
    ("DP", Fagsystem.DAGPENGER),
    ("AAP", Fagsystem.AAP),
    ("TILTPENG", Fagsystem.TILTAKSPENGER),
    ("TILLST", Fagsystem.TILLEGGSSTØNADER),
    ("HELSREF", Fagsystem.HISTORISK),
    ("TILSOPP", Fagsystem.VALP),
)


def fagsystem_for_fagområde(fagområde: str) -> Fagsystem:
    """The fagsystem that owns an Oppdrag's `kodeFagomraade` (TILLST and TILLSTxx alike)."""
    for code, fagsystem in _FAGOMRÅDE_PREFIXES:
        if fagområde == code or (code == "TILLST" and fagområde.startswith(code)):
            return fagsystem
    raise KeyError(fagområde)
