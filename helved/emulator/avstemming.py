"""OS's side of grensesnittavstemming: the emulator checks helved's report against its ledger.

`AvstemmingDesk` remembers every Oppdrag OS received and its own verdict on it (00/04/08/12),
by identity (kodeFagomraade, fagsystemId, nokkelAvstemming). When the bridge hands over one
avstemming id's messages (START, DATA…, AVSL), `check` compares helved's grunnlag with what OS
received in that fagområde and key range: per category antall/beløp, where OS's own view has no
mangler (it answered everything it received). A lost receipt shows as helved's mangler against
OS's godkjent; a lost Oppdrag as a total helved reports and OS never received.

The result is one line (`Check.line`): the id, the fagområde, the range and the differences,
never an ident. An id checked before is reported as such and not checked again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from helved.domain.avstemming import Identitet, Kategori, kategori
from helved.domain.avstemming import Svar as _Svar

log = logging.getLogger(__name__)

_CATEGORIES = tuple(k.value for k in Kategori)


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of checking one avstemming id."""

    avstemming_id: str
    fagområde: str
    nokkel_fom: str
    nokkel_tom: str
    differences: tuple[str, ...] = ()
    duplicate: bool = False

    @property
    def holds(self) -> bool:
        return not self.differences

    def line(self) -> str:
        head = f"avstemming {self.avstemming_id} {self.fagområde} {self.nokkel_fom[:10]}..{self.nokkel_tom[:10]}"
        if self.duplicate:
            return f"{head}: received before, not checked again"
        if self.holds:
            return f"{head}: reconciled, matches what OS received and answered"
        return f"{head}: MISMATCH: {'; '.join(self.differences)}"


class AvstemmingDesk:
    """What OS received (by identity, the first time) and its verdict; the ids it checked."""

    def __init__(self) -> None:
        self._received: dict[Identitet, tuple[int, str]] = {}
        self.checked: dict[str, Check] = {}

    def receive(self, oppdrag_xml: bytes, alvorlighetsgrad: str) -> None:
        """One Oppdrag handed to OS and OS's verdict on it."""
        from helved.oppdrag.avstemming import AvstemmingInputError, read_oppdrag

        try:
            o = read_oppdrag(oppdrag_xml)
        except AvstemmingInputError:
            return
        if o is not None:
            self._received.setdefault(o.identitet, (o.beløp, alvorlighetsgrad))

    def view(self, fagområde: str, nokkel_fom: str, nokkel_tom: str) -> dict[str, tuple[int, int]]:
        """OS's own sums per category over a fagområde and key range."""
        sums = {k: (0, 0) for k in _CATEGORIES}
        for i, (beløp, grad) in self._received.items():
            if i.fagområde != fagområde or not nokkel_fom <= i.nokkel_avstemming <= nokkel_tom:
                continue
            k = kategori(_Svar(i, grad)).value if grad in ("00", "04", "08", "12") else Kategori.AVVIST.value
            antall, total = sums[k]
            sums[k] = (antall + 1, total + beløp)
        return sums

    def check(self, messages: list[bytes]) -> Check:
        """Check one id's messages (START, DATA…, AVSL, in order) against what OS received."""
        from helved.oppdrag.avstemming import read_avstemming

        parsed = [read_avstemming(m) for m in messages]
        if not parsed:
            raise ValueError("no messages")
        first = parsed[0]
        ident, fagområde = str(first["id"]), str(first["fagområde"])
        fom, tom = str(first["nokkelFom"]), str(first["nokkelTom"])
        if ident in self.checked:
            return Check(ident, fagområde, fom, tom, duplicate=True)
        problems: list[str] = []
        kinds = [p["aksjon"] for p in parsed]
        if kinds[0] != "START" or kinds[-1] != "AVSL" or any(k != "DATA" for k in kinds[1:-1]) or len(kinds) < 3:
            problems.append(f"messages {'/'.join(str(k) for k in kinds)} are not START, DATA…, AVSL")
        if any(p["id"] != ident for p in parsed):
            problems.append("messages of another id among them")
        grunnlag = next((p["grunnlag"] for p in parsed if "grunnlag" in p), None)
        if not isinstance(grunnlag, dict):
            problems.append("no grunnlag")
            grunnlag = {k: (0, 0) for k in _CATEGORIES}
        ours = self.view(fagområde, fom, tom)
        for k in _CATEGORIES:
            theirs = grunnlag.get(k, (0, 0))
            if tuple(theirs) != ours[k]:
                problems.append(f"{k}: helved {theirs[0]}/{theirs[1]}, OS {ours[k][0]}/{ours[k][1]}")
        result = Check(ident, fagområde, fom, tom, tuple(problems))
        self.checked[ident] = result
        if result.holds:
            log.info("%s", result.line())
        else:
            log.warning("%s", result.line())
        return result
