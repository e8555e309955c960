"""Grensesnittavstemming: the daily reconciliation report to OS (spec `avstemming.md`).

Pure functions only: the records come in already read (`SendtOppdrag`, `Svar`), the messages go
out as values (`Melding`) that `helved.oppdrag.avstemming` writes as XML. No clock: "today" is
always an argument.

The steps, in the order the command runs them:

1. **Selection and fold** (`avstem`): every Oppdrag once per identity (kodeFagomraade,
   fagsystemId, nokkelAvstemming; the first record wins), the last receipt per identity (file
   or offset order), the Oppdrag whose key falls in [`nokkel_fom(fom)`, `nokkel_tom(tom)`] as
   text. A receipt whose own key is in range but whose Oppdrag is not in the records is counted
   (`Resultat.receipts_without_oppdrag`), never made a row.
2. **Categories** (`kategori`): 00 godkjent, 04 varsel, 08/12 avvist, no receipt mangler. An
   Oppdrag's beløp is the sum of `sats` over all its lines (opphør lines included).
3. **Messages** (`meldinger`): per fagområde START, DATA…, AVSL. The details of the non-godkjent
   Oppdrag sorted by (nokkelAvstemming, fagsystemId), 70 per DATA; total, periode and grunnlag on
   the first DATA only; one DATA without details when there are none.
4. **The id** (`avstemming_id`): a permanent contract, deterministic from fagområde and range.

And the calendar of production runs: Norwegian working days (`is_working_day`), the next range
(`next_range`) and an explicit one (`check_explicit`).
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from helved.domain.ids import UID_NAMESPACE, encode_parts

DETAILS_PER_DATA = 70
KILDE_TYPE = "AVLEV"
AVSTEMMING_TYPE = "GRSN"
MOTTAKENDE_KOMPONENT = "OS"

# ---------------------------------------------------------------------------------------------
# Keys and ranges

_NOKKEL = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})-([0-9]{2})\.([0-9]{2})\.([0-9]{2})\.([0-9]{6})", re.ASCII)


def is_nokkel(text: str) -> bool:
    """True for a nokkelAvstemming `yyyy-MM-dd-HH.mm.ss.SSSSSS` naming a time that exists."""
    m = _NOKKEL.fullmatch(text)
    if m is None:
        return False
    try:
        y, mo, d, h, mi, sec, us = (int(g) for g in m.groups())
        datetime(y, mo, d, h, mi, sec, us)
    except ValueError:
        return False
    return True


def nokkel_fom(fom: date) -> str:
    """The first key of day `fom`: `2025-03-14-00.00.00.000000`."""
    return f"{fom.isoformat()}-00.00.00.000000"


def nokkel_tom(tom: date) -> str:
    """The last key of day `tom`: `2025-03-16-23.59.59.999999`."""
    return f"{tom.isoformat()}-23.59.59.999999"


def in_range(nokkel: str, fom: date, tom: date) -> bool:
    """The key is in [fom 00:00, tom+1 00:00) Oslo wall time: compared as fixed-width text."""
    return nokkel_fom(fom) <= nokkel <= nokkel_tom(tom)


def avstemming_id(fagområde: str, fom: date, tom: date) -> str:
    """22 characters: URL-safe base64, unpadded, of the 16 bytes of
    `uuid5(UID_NAMESPACE, encode_parts("avstemming/v1", fagområde, fom, tom))`, dates ISO.
    A permanent contract: one fagområde and range, one id, on every run."""
    parts = encode_parts("avstemming/v1", fagområde, fom.isoformat(), tom.isoformat())
    raw = uuid.uuid5(UID_NAMESPACE, parts.decode("utf-8")).bytes
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


# ---------------------------------------------------------------------------------------------
# The records, as read


@dataclass(frozen=True, slots=True)
class Identitet:
    """What makes an Oppdrag one Oppdrag: its fagområde, sak and avstemming key (all trimmed)."""

    fagområde: str
    fagsystem_id: str
    nokkel_avstemming: str


@dataclass(frozen=True, slots=True)
class SendtOppdrag:
    """An Oppdrag helved sent: what avstemming needs of it. `oppdrag_gjelder_id` is the person
    (an ident): it goes into the XML to OS and nowhere else."""

    identitet: Identitet
    tidspkt_melding: str
    oppdrag_gjelder_id: str
    beløp: int


@dataclass(frozen=True, slots=True)
class Svar:
    """A receipt from OS for the Oppdrag of `identitet`; alvorlighetsgrad is 00, 04, 08 or 12."""

    identitet: Identitet
    alvorlighetsgrad: str
    kode_melding: str | None = None
    beskr_melding: str | None = None


RECEIPT_CODES = frozenset({"00", "04", "08", "12"})


class Kategori(StrEnum):
    GODKJENT = "godkjent"
    VARSEL = "varsel"
    AVVIST = "avvist"
    MANGLER = "mangler"


class DetaljType(StrEnum):
    VARS = "VARS"
    AVVI = "AVVI"
    MANG = "MANG"


_DETALJ_TYPE = {Kategori.VARSEL: DetaljType.VARS, Kategori.AVVIST: DetaljType.AVVI, Kategori.MANGLER: DetaljType.MANG}


def kategori(svar: Svar | None) -> Kategori:
    """The category of an Oppdrag by its last receipt (none: mangler)."""
    if svar is None:
        return Kategori.MANGLER
    code = svar.alvorlighetsgrad
    if code == "00":
        return Kategori.GODKJENT
    if code == "04":
        return Kategori.VARSEL
    if code in ("08", "12"):
        return Kategori.AVVIST
    raise ValueError(f"alvorlighetsgrad {code!r} is not a receipt")


# ---------------------------------------------------------------------------------------------
# Sums


@dataclass(frozen=True, slots=True)
class Sum:
    antall: int = 0
    beløp: int = 0

    @property
    def fortegn(self) -> str:
        """T when the sum is ≥ 0, else F (the beløp is written signed)."""
        return "T" if self.beløp >= 0 else "F"

    def plus(self, beløp: int) -> Sum:
        return Sum(self.antall + 1, self.beløp + beløp)

    def __add__(self, other: Sum) -> Sum:
        return Sum(self.antall + other.antall, self.beløp + other.beløp)


@dataclass(frozen=True, slots=True)
class Grunnlag:
    godkjent: Sum = Sum()
    varsel: Sum = Sum()
    avvist: Sum = Sum()
    mangler: Sum = Sum()

    @property
    def total(self) -> Sum:
        return self.godkjent + self.varsel + self.avvist + self.mangler

    def get(self, k: Kategori) -> Sum:
        return getattr(self, k.value)  # type: ignore[no-any-return]

    def items(self) -> tuple[tuple[Kategori, Sum], ...]:
        return tuple((k, self.get(k)) for k in Kategori)


# ---------------------------------------------------------------------------------------------
# The messages


class Aksjon(StrEnum):
    START = "START"
    DATA = "DATA"
    AVSL = "AVSL"


@dataclass(frozen=True, slots=True)
class Detalj:
    """One non-godkjent Oppdrag. `offnr` is the person the Oppdrag concerns (an ident)."""

    detalj_type: DetaljType
    offnr: str
    transaksjon_nokkel: str
    melding_kode: str | None
    alvorlighetsgrad: str | None
    tekst_melding: str | None
    tidspunkt: str


@dataclass(frozen=True, slots=True)
class Melding:
    """One `avstemmingsdata`. `grunnlag` is set on the first DATA only (with total and periode)."""

    aksjon: Aksjon
    fagområde: str
    avstemming_id: str
    fom: date
    tom: date
    grunnlag: Grunnlag | None = None
    detaljer: tuple[Detalj, ...] = ()

    @property
    def nokkel_fom(self) -> str:
        return nokkel_fom(self.fom)

    @property
    def nokkel_tom(self) -> str:
        return nokkel_tom(self.tom)

    @property
    def dato_avstemt_fom(self) -> str:
        return self.fom.strftime("%Y%m%d") + "00"

    @property
    def dato_avstemt_tom(self) -> str:
        return self.tom.strftime("%Y%m%d") + "23"


@dataclass(frozen=True, slots=True)
class Rad:
    """One Oppdrag in range and its last receipt."""

    oppdrag: SendtOppdrag
    svar: Svar | None

    @property
    def kategori(self) -> Kategori:
        return kategori(self.svar)


@dataclass(frozen=True, slots=True)
class Avstemming:
    """The reconciliation of one fagområde over [fom, tom]."""

    fagområde: str
    avstemming_id: str
    fom: date
    tom: date
    grunnlag: Grunnlag
    meldinger: tuple[Melding, ...]


@dataclass(frozen=True, slots=True)
class Resultat:
    """Every fagområde with an Oppdrag in range, by ascending code; receipts in range whose
    Oppdrag is not in the records (ignored, reported)."""

    avstemminger: tuple[Avstemming, ...]
    receipts_without_oppdrag: int = 0


def _blank(text: str | None) -> str | None:
    if text is None:
        return None
    return text.strip() or None


def detalj(rad: Rad) -> Detalj:
    k = rad.kategori
    if k is Kategori.GODKJENT:
        raise ValueError("a godkjent Oppdrag has no detail")
    o, s = rad.oppdrag, rad.svar
    with_mmel = s is not None and k in (Kategori.VARSEL, Kategori.AVVIST)
    return Detalj(
        detalj_type=_DETALJ_TYPE[k],
        offnr=o.oppdrag_gjelder_id,
        transaksjon_nokkel=o.identitet.fagsystem_id,
        melding_kode=_blank(s.kode_melding) if with_mmel and s is not None else None,
        alvorlighetsgrad=_blank(s.alvorlighetsgrad) if with_mmel and s is not None else None,
        tekst_melding=_blank(s.beskr_melding) if with_mmel and s is not None else None,
        tidspunkt=o.tidspkt_melding,
    )


def grunnlag(rader: Iterable[Rad]) -> Grunnlag:
    sums = {k: Sum() for k in Kategori}
    for r in rader:
        sums[r.kategori] = sums[r.kategori].plus(r.oppdrag.beløp)
    return Grunnlag(
        godkjent=sums[Kategori.GODKJENT],
        varsel=sums[Kategori.VARSEL],
        avvist=sums[Kategori.AVVIST],
        mangler=sums[Kategori.MANGLER],
    )


def _chunks(items: Sequence[Detalj], size: int) -> list[tuple[Detalj, ...]]:
    if not items:
        return [()]
    return [tuple(items[i : i + size]) for i in range(0, len(items), size)]


def meldinger(fagområde: str, fom: date, tom: date, rader: Iterable[Rad]) -> Avstemming:
    """START, DATA… (70 details each, totals on the first), AVSL for one fagområde."""
    rows = sorted(rader, key=lambda r: (r.oppdrag.identitet.nokkel_avstemming, r.oppdrag.identitet.fagsystem_id))
    ident = avstemming_id(fagområde, fom, tom)
    g = grunnlag(rows)
    details = [detalj(r) for r in rows if r.kategori is not Kategori.GODKJENT]
    out = [Melding(Aksjon.START, fagområde, ident, fom, tom)]
    for n, chunk in enumerate(_chunks(details, DETAILS_PER_DATA)):
        out.append(Melding(Aksjon.DATA, fagområde, ident, fom, tom, g if n == 0 else None, chunk))
    out.append(Melding(Aksjon.AVSL, fagområde, ident, fom, tom))
    return Avstemming(fagområde, ident, fom, tom, g, tuple(out))


def avstem(records: Iterable[SendtOppdrag | Svar], fom: date, tom: date) -> Resultat:
    """The fold: records in file (or offset) order to the reconciliation of [fom, tom].

    An Oppdrag seen twice counts once (its first record); the last receipt of an identity wins,
    before or after its Oppdrag. Only the order of one Oppdrag's receipts matters."""
    if fom > tom:
        raise ValueError(f"fom {fom} is after tom {tom}")
    oppdrag: dict[Identitet, SendtOppdrag] = {}
    svar: dict[Identitet, Svar] = {}
    for rec in records:
        if isinstance(rec, SendtOppdrag):
            if in_range(rec.identitet.nokkel_avstemming, fom, tom):
                oppdrag.setdefault(rec.identitet, rec)
        elif rec.alvorlighetsgrad in RECEIPT_CODES:
            svar[rec.identitet] = rec
    orphans = sum(1 for i in svar if i not in oppdrag and in_range(i.nokkel_avstemming, fom, tom))
    per_fagområde: dict[str, list[Rad]] = {}
    for i, o in oppdrag.items():
        per_fagområde.setdefault(i.fagområde, []).append(Rad(o, svar.get(i)))
    avstemminger = tuple(meldinger(f, fom, tom, per_fagområde[f]) for f in sorted(per_fagområde))
    return Resultat(avstemminger, orphans)


# ---------------------------------------------------------------------------------------------
# The calendar


def easter_sunday(year: int) -> date:
    """Easter Sunday of a Gregorian year (the anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


def holidays(year: int) -> frozenset[date]:
    """Norway's 12 public holidays of `year`, as the model's `Virkedager.kt`."""
    easter = easter_sunday(year)
    moving = (-3, -2, 0, 1, 39, 49, 50)  # Maundy Thursday .. Whit Monday
    fixed = (date(year, 1, 1), date(year, 5, 1), date(year, 5, 17), date(year, 12, 25), date(year, 12, 26))
    return frozenset((*fixed, *(easter + timedelta(days=n) for n in moving)))


def is_working_day(d: date) -> bool:
    """Monday to Friday, and not a Norwegian public holiday."""
    return d.weekday() < 5 and d not in holidays(d.year)


def previous_working_day(d: date) -> date:
    """The last working day before `d`."""
    d -= timedelta(days=1)
    while not is_working_day(d):
        d -= timedelta(days=1)
    return d


@dataclass(frozen=True, slots=True)
class Range:
    fom: date
    tom: date

    @property
    def key(self) -> str:
        """The run record's key on `helved.avstemt.v1`: `<fom>..<tom>`."""
        return f"{self.fom.isoformat()}..{self.tom.isoformat()}"

    def overlaps(self, other: Range) -> bool:
        return self.fom <= other.tom and other.fom <= self.tom


@dataclass(frozen=True, slots=True)
class Run:
    """A recorded run (the value of a `helved.avstemt.v1` record)."""

    today: date
    range: Range
    scheduled: bool
    ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Refused:
    """No run, and why (one line for stderr). `exit_code` 0: not an error (refused, or already
    sent), 1: an explicit range that would reconcile a day twice."""

    reason: str
    exit_code: int = 0


@dataclass(frozen=True, slots=True)
class NothingToDo:
    reason: str


Decision = Range | Refused | NothingToDo


def next_range(today: date, runs: Iterable[Run]) -> Decision:
    """The scheduled run's range (spec §6): refused on a non-working day or when a scheduled
    run is recorded for today; else from the day after the greatest recorded tom (none: the
    previous working day) to yesterday. Nothing is skipped."""
    runs = list(runs)
    if not is_working_day(today):
        return Refused(f"{today.isoformat()} is a weekend day or holiday: no avstemming")
    for r in runs:
        if r.scheduled and r.today == today:
            return Refused(f"already reconciled today: {r.range.fom.isoformat()}..{r.range.tom.isoformat()}")
    last = max((r.range.tom for r in runs), default=None)
    fom = last + timedelta(days=1) if last is not None else previous_working_day(today)
    tom = today - timedelta(days=1)
    if fom > tom:
        return NothingToDo(f"nothing to do: every day up to {tom.isoformat()} is reconciled")
    return Range(fom, tom)


def check_explicit(today: date, wanted: Range, runs: Iterable[Run]) -> Decision:
    """An explicit range: tom before today; equal to a recorded range → already sent (exit 0);
    overlapping a recorded one → refused, exit 1 (a day is never reconciled twice)."""
    if wanted.fom > wanted.tom:
        raise ValueError("fom is after tom")
    if wanted.tom >= today:
        return Refused(f"--tom {wanted.tom.isoformat()} is not before today ({today.isoformat()})", 2)
    runs = sorted(runs, key=lambda r: (r.range.fom, r.range.tom))
    for r in runs:
        if r.range == wanted:
            ids = ", ".join(r.ids) if r.ids else "no messages"
            return Refused(f"already sent {wanted.key}: {ids}")
    for r in runs:
        if r.range.overlaps(wanted):
            return Refused(
                f"{wanted.key} overlaps the recorded range {r.range.key}: a day is never reconciled twice", 1
            )
    return wanted
