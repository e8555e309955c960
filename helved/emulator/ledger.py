"""The OS/UR emulator's ledger: what Oppdrag has booked, and what that pays.

Pure and independent of helved's own Oppdrag code: values in, values out, no I/O, no lxml.
`apply(ledger, oppdrag) -> (ledger, verdict)` never mutates its arguments.

Semantics (domain.md §5.4 "OS semantics", made precise here)
------------------------------------------------------------
The ledger holds, per sak key (kodeFagomraade, fagsystemId), every booked line by delytelseId,
the kjede (chain) it belongs to and the date from which it is stopped (`stopped_from`: the line
pays nothing on or after that date).

* A NY line without `refDelytelseId` starts a new kjede (the kjede is named after its first line).
* A NY line with `refDelytelseId` R joins R's kjede and **replaces the kjede from its
  datoVedtakFom F on**: every line already in that kjede gets `stopped_from = min(stopped_from, F)`.
  The new line itself is not stopped.
* An opphør line (kodeEndringLinje ENDR, kodeStatusLinje OPPH, datoStatusFom D) on delytelseId X
  stops X's whole kjede from D: every line in it gets `stopped_from = min(stopped_from, D)`.
  Lines chained into the kjede later are not affected.
* A line's effective range is [datoVedtakFom, min(datoVedtakTom, stopped_from - 1)] (empty when
  that is before datoVedtakFom).
* Lines of one Oppdrag are applied in document order against a working copy; the Oppdrag is
  committed only if every line passes (atomic).

What a line pays (`paid`), per kodeKlassifik and day, summed over lines:
* DAG   `sats` on every Monday-Friday of the effective range (no public holidays).
* DAG7  `sats` on every day of the effective range.
* ENG   `sats` once, on datoVedtakFom, if that day is still effective (not stopped/replaced).
* MND   `sats` once per calendar month touched by the effective range, booked on the first
        effective day of that month (no pro-rating).
Other typeSats values of the XSD (UKE, 14DB, AAR, AKTO) are rejected with 08: helved never sends
them and the emulator does not guess their meaning.

Rejections (alvorlighetsgrad 08; texts as OS words them where the issue gives the text)
* kodeEndring NY on a known sak: "Oppdraget finnes fra før"
* kodeEndring ENDR/UEND on an unknown sak: "OPPDRAGET/FAGSYSTEM-ID finnes ikke fra før"
* NY line whose delytelseId is already used on the sak (also earlier in the same Oppdrag):
  "DELYTELSE-ID finnes i oppdragsbasen fra før"
* refDelytelseId (or a refFagsystemId other than the sak's) to no line: "Referert vedtak/linje
  ikke funnet"
* opphør on an unknown delytelseId: "DELYTELSE-ID finnes ikke i oppdragsbasen"
* emulator-specific sanity rules (helved never triggers them): a missing oppdrag-110,
  fagsystemId, delytelseId, datoVedtakTom (except ENG) or datoStatusFom, tom before fom, a line
  change other than NY or ENDR+OPPH, an unsupported typeSats.
A sak becomes known when its first Oppdrag (kodeEndring NY) is accepted, even with no lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from types import MappingProxyType

Amount = int | Decimal
SakKey = tuple[str, str]  # (kodeFagomraade, fagsystemId), both trimmed
PaidMap = dict[str, dict[date, Amount]]  # kodeKlassifik -> day -> amount

SUPPORTED_TYPE_SATS = ("DAG", "DAG7", "ENG", "MND")

# ---------------------------------------------------------------------------------------------
# Input values: an Oppdrag as the emulator understands it (built by emulator.xml or by hand)


@dataclass(frozen=True, slots=True)
class OppdragLinje:
    kode_endring_linje: str  # NY | ENDR
    kode_klassifik: str
    dato_vedtak_fom: date
    dato_vedtak_tom: date | None
    sats: Amount
    type_sats: str
    delytelse_id: str | None = None
    ref_delytelse_id: str | None = None
    ref_fagsystem_id: str | None = None
    kode_status_linje: str | None = None  # OPPH on an opphør line
    dato_status_fom: date | None = None
    henvisning: str | None = None
    utbetales_til_id: str | None = None
    vedtak_id: str | None = None

    @property
    def is_opphor(self) -> bool:
        return self.kode_endring_linje == "ENDR" and self.kode_status_linje == "OPPH"


@dataclass(frozen=True, slots=True)
class Oppdrag:
    kode_endring: str | None  # NY | ENDR | UEND; None when oppdrag-110 is missing
    fagomraade: str | None
    fagsystem_id: str | None
    linjer: tuple[OppdragLinje, ...] = ()
    oppdrag_gjelder_id: str | None = None

    @property
    def sak_key(self) -> SakKey:
        return (self.fagomraade or "", self.fagsystem_id or "")


# ---------------------------------------------------------------------------------------------
# Verdicts: what goes into mmel


@dataclass(frozen=True, slots=True)
class Verdict:
    alvorlighetsgrad: str  # "00" | "04" | "08" | "12"
    kode_melding: str
    beskr_melding: str
    section_navn: str = "CA10-INPUTKONTROLL"
    program_id: str = "K231BB10"

    @property
    def accepted(self) -> bool:
        return self.alvorlighetsgrad in ("00", "04")


ACCEPTED = Verdict("00", "B110000I", "Oppdraget er mottatt og behandlet", "CA10-OPPDATERING")

NY_FINNES = "Oppdraget finnes fra før"
ENDR_FINNES_IKKE = "OPPDRAGET/FAGSYSTEM-ID finnes ikke fra før"
DELYTELSE_FINNES = "DELYTELSE-ID finnes i oppdragsbasen fra før"
REF_IKKE_FUNNET = "Referert vedtak/linje ikke funnet"
OPPH_FINNES_IKKE = "DELYTELSE-ID finnes ikke i oppdragsbasen"


def rejected(kode: str, text: str) -> Verdict:
    """A functional rejection (08)."""
    return Verdict("08", kode, text)


def technical(kode: str, text: str) -> Verdict:
    """A technical rejection (12)."""
    return Verdict("12", kode, text, "CA00-MQ-INPUT")


# ---------------------------------------------------------------------------------------------
# The ledger


@dataclass(frozen=True, slots=True)
class LedgerLine:
    delytelse_id: str
    kjede: str  # delytelseId of the kjede's first line
    kode_klassifik: str
    fom: date
    tom: date | None  # None only for ENG lines sent without datoVedtakTom
    sats: Amount
    type_sats: str
    ref_delytelse_id: str | None = None
    henvisning: str | None = None
    utbetales_til_id: str | None = None
    vedtak_id: str | None = None
    stopped_from: date | None = None  # pays nothing on or after this date

    @property
    def effective_tom(self) -> date | None:
        """Last effective day, or None when nothing of the line is effective."""
        tom = self.tom if self.tom is not None else self.fom
        if self.stopped_from is not None:
            if self.stopped_from <= self.fom:
                return None
            # stopped_from > fom >= date.min: the day before exists.
            tom = min(tom, self.stopped_from - timedelta(days=1))
        return tom if tom >= self.fom else None

    @property
    def effective(self) -> tuple[date, date] | None:
        """The effective range [fom, tom], or None when the line is wholly stopped/replaced."""
        tom = self.effective_tom
        return (self.fom, tom) if tom is not None else None

    def stop_from(self, d: date) -> LedgerLine:
        if self.stopped_from is not None and self.stopped_from <= d:
            return self
        return replace(self, stopped_from=d)


def _frozen(d: dict) -> Mapping:
    return MappingProxyType(d)


@dataclass(frozen=True, slots=True)
class Sak:
    fagomraade: str
    fagsystem_id: str
    lines: Mapping[str, LedgerLine]  # delytelseId -> line, in booking order
    kjeder: Mapping[str, tuple[str, ...]]  # kjede -> its delytelseIds, in booking order
    oppdrag_count: int = 0  # accepted Oppdrag


@dataclass(frozen=True, slots=True)
class Ledger:
    saker: Mapping[SakKey, Sak] = field(default_factory=lambda: _frozen({}))

    def sak(self, fagomraade: str, fagsystem_id: str) -> Sak | None:
        return self.saker.get((fagomraade, fagsystem_id))


EMPTY = Ledger()


def apply(ledger: Ledger, oppdrag: Oppdrag) -> tuple[Ledger, Verdict]:
    """Apply one Oppdrag atomically. On rejection the same ledger object is returned."""
    if oppdrag.kode_endring is None:
        return ledger, rejected("B110010F", "OPPDRAG-110 mangler")
    if not oppdrag.fagomraade or not oppdrag.fagsystem_id:
        return ledger, rejected("B110011F", "KODE-FAGOMRAADE/FAGSYSTEM-ID mangler")
    key = oppdrag.sak_key
    sak = ledger.saker.get(key)
    if oppdrag.kode_endring == "NY":
        if sak is not None:
            return ledger, rejected("B110001F", NY_FINNES)
        lines: dict[str, LedgerLine] = {}
        kjeder: dict[str, tuple[str, ...]] = {}
        count = 0
    else:  # ENDR, UEND
        if sak is None:
            return ledger, rejected("B110002F", ENDR_FINNES_IKKE)
        lines, kjeder, count = dict(sak.lines), dict(sak.kjeder), sak.oppdrag_count

    for linje in oppdrag.linjer:
        err = _apply_line(lines, kjeder, oppdrag.fagsystem_id, linje)
        if err is not None:
            return ledger, err

    new_sak = Sak(key[0], key[1], _frozen(lines), _frozen(kjeder), count + 1)
    saker = dict(ledger.saker)
    saker[key] = new_sak
    return Ledger(_frozen(saker)), ACCEPTED


def _apply_line(
    lines: dict[str, LedgerLine],
    kjeder: dict[str, tuple[str, ...]],
    fagsystem_id: str,
    linje: OppdragLinje,
) -> Verdict | None:
    """Apply one line to the working copy (mutated); return a rejection or None."""
    if linje.is_opphor:
        if linje.dato_status_fom is None:
            return rejected("B110012F", "DATO-STATUS-FOM mangler for opphør")
        target = lines.get(linje.delytelse_id or "")
        if target is None:
            return rejected("B110005F", OPPH_FINNES_IKKE)
        _stop_kjede(lines, kjeder, target.kjede, linje.dato_status_fom)
        return None

    if linje.kode_endring_linje != "NY" or linje.kode_status_linje is not None:
        return rejected(
            "B110013F",
            f"Linjeendring støttes ikke: kodeEndringLinje={linje.kode_endring_linje} "
            f"kodeStatusLinje={linje.kode_status_linje}",
        )
    if not linje.delytelse_id:
        return rejected("B110014F", "DELYTELSE-ID mangler")
    if linje.type_sats not in SUPPORTED_TYPE_SATS:
        return rejected("B110015F", f"TYPE-SATS støttes ikke: {linje.type_sats}")
    if linje.dato_vedtak_tom is None and linje.type_sats != "ENG":
        return rejected("B110016F", "DATO-VEDTAK-TOM mangler")
    if linje.dato_vedtak_tom is not None and linje.dato_vedtak_tom < linje.dato_vedtak_fom:
        return rejected("B110017F", "DATO-VEDTAK-TOM er før DATO-VEDTAK-FOM")
    if linje.delytelse_id in lines:
        return rejected("B110003F", DELYTELSE_FINNES)

    if linje.ref_delytelse_id:
        if linje.ref_fagsystem_id and linje.ref_fagsystem_id != fagsystem_id:
            return rejected("B110004F", REF_IKKE_FUNNET)
        ref = lines.get(linje.ref_delytelse_id)
        if ref is None:
            return rejected("B110004F", REF_IKKE_FUNNET)
        kjede = ref.kjede
        _stop_kjede(lines, kjeder, kjede, linje.dato_vedtak_fom)
    else:
        kjede = linje.delytelse_id

    lines[linje.delytelse_id] = LedgerLine(
        delytelse_id=linje.delytelse_id,
        kjede=kjede,
        kode_klassifik=linje.kode_klassifik,
        fom=linje.dato_vedtak_fom,
        tom=linje.dato_vedtak_tom,
        sats=linje.sats,
        type_sats=linje.type_sats,
        ref_delytelse_id=linje.ref_delytelse_id,
        henvisning=linje.henvisning,
        utbetales_til_id=linje.utbetales_til_id,
        vedtak_id=linje.vedtak_id,
    )
    kjeder[kjede] = kjeder.get(kjede, ()) + (linje.delytelse_id,)
    return None


def _stop_kjede(lines: dict[str, LedgerLine], kjeder: dict[str, tuple[str, ...]], kjede: str, d: date) -> None:
    for did in kjeder.get(kjede, ()):
        lines[did] = lines[did].stop_from(d)


# ---------------------------------------------------------------------------------------------
# Reading the ledger


def lines(ledger: Ledger, fagomraade: str, fagsystem_id: str) -> tuple[LedgerLine, ...]:
    """Every booked line of the sak in booking order (each knows its `effective` range)."""
    sak = ledger.sak(fagomraade, fagsystem_id)
    return tuple(sak.lines.values()) if sak else ()


def line_paid(line: LedgerLine) -> Iterable[tuple[date, Amount]]:
    """(day, amount) for every day the line pays."""
    rng = line.effective
    if rng is None or line.sats == 0:
        return
    fom, tom = rng
    ts = line.type_sats
    if ts == "ENG":
        yield fom, line.sats
    elif ts == "MND":
        # By month numbers, never `last day + 1`: that does not exist after 9999-12-31.
        d = fom
        while d <= tom:
            yield d, line.sats
            if d.year == date.max.year and d.month == 12:
                break
            d = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    elif ts in ("DAG", "DAG7"):
        # By ordinals: a range ending on 9999-12-31 has no day after it.
        for o in range(fom.toordinal(), tom.toordinal() + 1):
            d = date.fromordinal(o)
            if ts == "DAG7" or d.weekday() < 5:
                yield d, line.sats
    else:  # pragma: no cover - rejected by apply
        raise ValueError(f"unsupported typeSats {ts}")


def paid_lines(booked: Iterable[LedgerLine]) -> PaidMap:
    out: dict[str, dict[date, Amount]] = {}
    for line in booked:
        per_day = out.setdefault(line.kode_klassifik, {})
        for d, amount in line_paid(line):
            per_day[d] = per_day.get(d, 0) + amount
    return {k: dict(sorted(v.items())) for k, v in sorted(out.items()) if v}


def paid(ledger: Ledger, fagomraade: str, fagsystem_id: str) -> PaidMap:
    """kodeKlassifik -> day -> amount paid on that day, for one sak (days paying 0 left out)."""
    return paid_lines(lines(ledger, fagomraade, fagsystem_id))


@dataclass(frozen=True, slots=True)
class Simulation:
    """What an Oppdrag would do to its sak. Nothing is booked."""

    verdict: Verdict
    before: PaidMap
    after: PaidMap  # == before when the Oppdrag would be rejected

    @property
    def paid(self) -> PaidMap:
        return self.after


def simulate(ledger: Ledger, oppdrag: Oppdrag) -> Simulation:
    """Apply `oppdrag` to a copy and report what its sak would pay; `ledger` is untouched."""
    fo, fs = oppdrag.sak_key
    before = paid(ledger, fo, fs)
    after_ledger, verdict = apply(ledger, oppdrag)
    after = paid(after_ledger, fo, fs) if verdict.accepted else before
    return Simulation(verdict, before, after)
