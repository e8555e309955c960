"""The emulator as `helved replay`'s OS: each Oppdrag answered with the emulator's real verdict."""

from __future__ import annotations

from collections.abc import Callable

from helved.records import OutRecord

from . import Faults, OsEmulator


def emulator_answer(emulator: OsEmulator | None = None) -> Callable[[OutRecord], list[bytes]]:
    """An answer function for `helved.replay`: the emulator books the Oppdrag (or rejects it)
    and its kvittering(er) are fed back to the flow."""
    emu = emulator if emulator is not None else OsEmulator(Faults())

    def answer(rec: OutRecord) -> list[bytes]:
        if rec.value is None:
            return []
        return emu.handle(rec.value)

    return answer
